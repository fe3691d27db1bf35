"""Azure Resource Manager, emulated (see service.py)."""
from .service import ArmService

__all__ = ["ArmService"]
