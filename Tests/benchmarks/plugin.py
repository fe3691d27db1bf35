"""The benchmark session's pytest hooks and the `figures` fixture (the conftest imports them; a session elsewhere
loads them with `-p Tests.benchmarks.plugin`, as the test of the target mechanism does).

figures     the session's report.Report: tables (`figures.add(section, row, note)`), targets
            (`figures.target(name, value, limit, op)`), chart series (`figures.series[name] = ...`)
At the end of the session the report is written (report.py: out/bench/ or $BENCH_OUT; the committed copy in
Tests/benchmarks/results/ and the README block only on a complete run, and never with BENCH_DOCS=0) and printed;
a target that is missed, or on a complete run not measured, makes the session exit 1.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from Tests.benchmarks.report import ROOT, TARGETS, Report, machine_info

REPORT = Report()


@pytest.fixture(scope='session')
def figures() -> Report:
    return REPORT


def pytest_sessionstart(session) -> None:  # noqa: ARG001
    REPORT.info['machine'] = machine_info()


def _benchmarks(config) -> list[dict]:
    """Every pytest-benchmark result of the session: name, rounds, mean / min / max ms, extra_info."""
    bench_session = getattr(config, '_benchmarksession', None)
    rows = []
    for bench in getattr(bench_session, 'benchmarks', None) or []:
        stats = bench.stats
        if not stats or not stats.rounds:
            continue
        rows.append({'name': bench.name, 'rounds': stats.rounds, 'mean_ms': round(stats.mean * 1000, 1),
                     'min_ms': round(stats.min * 1000, 1), 'max_ms': round(stats.max * 1000, 1),
                     'extra_info': dict(bench.extra_info)})
    return rows


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ARG001
    if not (REPORT.sections or REPORT.targets):
        return   # nothing measured (benchmarks deselected)
    complete = all(name in REPORT.targets for name in TARGETS)
    out_dir = Path(os.environ.get('BENCH_OUT') or ROOT / 'out' / 'bench')
    docs = complete and os.environ.get('BENCH_DOCS', '1') != '0'
    REPORT.info['written'] = [str(p) for p in REPORT.write(out_dir, _benchmarks(session.config), docs)]
    REPORT.info['missed'] = REPORT.missed(complete)
    if REPORT.info['missed'] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not (REPORT.sections or REPORT.targets):
        return
    terminalreporter.section('Azure Containment benchmarks: summary')
    for line in REPORT.render():
        terminalreporter.write_line(line)
    for path in REPORT.info.get('written', []):
        terminalreporter.write_line(f'wrote {path}')
    missed = REPORT.info.get('missed') or []
    if missed:
        terminalreporter.write_line(f"{len(missed)} target(s) missed: {'; '.join(missed)}", red=True, bold=True)
    elif REPORT.targets:
        terminalreporter.write_line(f'every target measured here is met ({len(REPORT.targets)})', green=True)
