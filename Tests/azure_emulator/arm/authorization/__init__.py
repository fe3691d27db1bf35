"""Microsoft.Authorization: role definitions and assignments (rbac.py)."""
