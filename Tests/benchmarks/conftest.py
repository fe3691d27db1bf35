"""Benchmarks (pytest-benchmark). They only run with --benchmark-only (tox -e bench):

    python -m pytest Tests/benchmarks --benchmark-only

Without it they are deselected, so a plain `pytest` over the repository never runs them. Fixtures:
standalone  one `python -m Tests.azure_emulator` child process for the session, default scenario, short timings
            (see support.StandaloneEmulator)
azure_like  another one with Azure-shaped timings: support.azure_like_scenario (the `azure` latency profile at
            support.LATENCY_SCALE, ARM's throttling, VMs with 1, 2, 4 and 8 NICs)
figures     the session's report (plugin.py, report.py): tables, targets and chart series, written to out/bench/
            and printed at the end of the session
"""
from __future__ import annotations

from pathlib import Path

import pytest

from Tests.benchmarks.plugin import figures, pytest_sessionfinish, pytest_sessionstart  # noqa: F401 - hooks
from Tests.benchmarks.plugin import pytest_terminal_summary as report_summary
from Tests.benchmarks.plugin import REPORT
from Tests.benchmarks.support import LATENCY_SCALE, StandaloneEmulator, azure_like_scenario

HERE = Path(__file__).resolve().parent


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
def azure_like(tmp_path_factory):
    emulator = StandaloneEmulator(tmp_path_factory.mktemp('azure-like-emulator'), scenario='benchmark',
                                  extra_args=('--latency', 'azure', '--latency-scale', str(LATENCY_SCALE),
                                              '--throttling')).start()
    try:
        emulator.reset(azure_like_scenario())
        REPORT.info['emulator'] = {'latency': emulator.latency(), 'throttling': emulator.throttling()}
        yield emulator
    finally:
        emulator.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    deselected = getattr(config, '_benchmarks_deselected', 0)
    if deselected:
        terminalreporter.write_line(f'{deselected} benchmarks in Tests/benchmarks deselected: run them with '
                                    f'`pytest Tests/benchmarks --benchmark-only` (tox -e bench)')
    report_summary(terminalreporter, exitstatus, config)
