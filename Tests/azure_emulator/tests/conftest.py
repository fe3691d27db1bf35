"""Fixtures for the emulator's own tests."""
from __future__ import annotations

import pytest

from .helpers import FAST, Arm


@pytest.fixture
def arm(emulator):
    return Arm(emulator)


@pytest.fixture
def reader(emulator):
    return Arm(emulator, "soc-reader")


@pytest.fixture
def fast(emulator):
    """The default scenario with short long-running operations."""
    emulator.reset(FAST)
    return emulator
