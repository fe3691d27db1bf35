"""Azure emulator: Entra ID + Resource Manager over TLS on loopback. `from Tests.azure_emulator import Emulator`."""
from .server import Emulator

__all__ = ["Emulator"]
