"""Microsoft.Compute: virtual machines and their power actions (models.py, responses.py)."""
