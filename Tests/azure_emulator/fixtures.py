"""pytest fixtures (registered as a plugin by the repository's root conftest.py).

emulator_session: one running default emulator for the whole session.
emulator:         the same emulator, reset to its initial scenario before each test (log and faults cleared).
"""
from __future__ import annotations

import pytest

from .server import Emulator


@pytest.fixture(scope="session")
def emulator_session():
    emu = Emulator("default").start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator(emulator_session):
    emulator_session.reset(emulator_session.initial_scenario)
    return emulator_session
