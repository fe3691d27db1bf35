"""The reliability room's fixtures and the matrix file: each fault-matrix test saves its cell; when a run has every
cell (a complete run, in one process or across xdist workers), the controller writes out/reliability/fault-matrix.md
at the end of the session."""
from __future__ import annotations

import shutil

import pytest

from Tests.reliability import matrix


def _controller(config) -> bool:
    return not hasattr(config, 'workerinput')


def pytest_configure(config):
    if _controller(config):   # cells of an earlier run never make this run's matrix
        shutil.rmtree(matrix.CELLS_DIR, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):  # noqa: ARG001
    if _controller(session.config):
        cells = matrix.load_cells()
        if cells is not None:
            matrix.write_matrix(cells)


@pytest.fixture
def emu(emulator):   # `emulator` comes from Tests.azure_emulator.fixtures (a plugin of the root conftest.py)
    return emulator
