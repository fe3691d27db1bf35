"""Entra ID, emulated (see service.py for the layout). `from Tests.azure_emulator.identity import IdentityService`."""
from .errors import TokenRejected
from .managed_identity import APP_SERVICE_PATH, IMDS_PATH
from .scopes import resource_of_scope
from .service import IdentityService
from .wire import dotnet_utc
from .xsoar import OPROXY_PATH, encrypt_xsoar_token

__all__ = [
    "APP_SERVICE_PATH",
    "IMDS_PATH",
    "OPROXY_PATH",
    "IdentityService",
    "TokenRejected",
    "dotnet_utc",
    "encrypt_xsoar_token",
    "resource_of_scope",
]
