"""Repository-wide pytest configuration: the Azure emulator fixtures (`emulator_session`, `emulator`)."""
pytest_plugins = ["Tests.azure_emulator.fixtures"]
