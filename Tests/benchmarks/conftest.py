"""Benchmarks (pytest-benchmark). They only run with --benchmark-only (tox -e bench):

    python -m pytest Tests/benchmarks --benchmark-only

Without it they are deselected, so a plain `pytest` over the repository never runs them. Fixtures:
standalone  one `python -m Tests.azure_emulator` child process for the session (see support.StandaloneEmulator)
figures     support.Figures; rows added there are printed as tables at the end of the session
"""
from __future__ import annotations

from pathlib import Path

import pytest

from Tests.benchmarks.support import Figures, StandaloneEmulator

HERE = Path(__file__).resolve().parent
FIGURES = Figures()


def pytest_collection_modifyitems(config, items):
    if config.getoption('benchmark_only', False):
        return
    keep: list = []
    dropped: list = []
    for item in items:
        (dropped if HERE in Path(str(item.path)).resolve().parents else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config._benchmarks_deselected = len(dropped)


@pytest.fixture(scope='session')
def standalone(tmp_path_factory):
    emulator = StandaloneEmulator(tmp_path_factory.mktemp('standalone-emulator')).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope='session')
def figures():
    return FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    deselected = getattr(config, '_benchmarks_deselected', 0)
    if deselected:
        terminalreporter.write_line(f'{deselected} benchmarks in Tests/benchmarks deselected: run them with '
                                    f'`pytest Tests/benchmarks --benchmark-only` (tox -e bench)')
    if FIGURES.sections:
        terminalreporter.section('Azure Containment integration benchmarks: summary')
        for line in FIGURES.render():
            terminalreporter.write_line(line)
