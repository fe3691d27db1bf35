"""Microsoft.Authorization: role definitions and assignments (rbac.py), the permissions endpoint (responses.py)."""
