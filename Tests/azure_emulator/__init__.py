"""Azure emulator: Entra ID + Resource Manager over TLS on loopback. `from Tests.azure_emulator import Emulator`.

Layout and how to add a resource type, an operation, an endpoint or a fault kind: README.md in this folder.
"""
from .server import Emulator

__all__ = ["Emulator"]
