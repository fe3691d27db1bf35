"""Microsoft.Network: NSGs and security rules, network interfaces, virtual networks (models.py, responses.py)."""
