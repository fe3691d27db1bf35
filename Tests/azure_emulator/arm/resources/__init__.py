"""Microsoft.Resources: subscriptions and resource groups (models.py, responses.py)."""
