"""The target mechanism itself: a benchmark session whose target is missed exits non-zero and says so, one whose
target is met exits 0, and results.json records both. Each case is a separate pytest session (a child process)
running a one-test benchmark file with the session hooks of plugin.py. Run:

    python -m pytest Tests/benchmarks/test_targets_bench.py --benchmark-only
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from Tests.benchmarks.support import ROOT

INNER = '''
def test_one_target(benchmark, figures):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    figures.target('cold_start_overhead_ms', {value}, 50, '<')
'''


def _session(tmp_path, value: float) -> tuple[int, str, dict]:
    case = tmp_path / f'case-{value:g}'
    case.mkdir()
    (case / 'test_inner.py').write_text(INNER.format(value=value), encoding='utf-8')
    env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_OUT=str(case / 'out'), BENCH_DOCS='0')
    done = subprocess.run(  # noqa: S603 - pytest on a file this test wrote
        [sys.executable, '-m', 'pytest', 'test_inner.py', '--benchmark-only', '-p', 'Tests.benchmarks.plugin',
         '-p', 'no:cacheprovider', '-q'], cwd=case, env=env, capture_output=True, text=True, timeout=120, check=False)
    results = json.loads((case / 'out' / 'results.json').read_text(encoding='utf-8'))
    return done.returncode, done.stdout, results


def test_missed_target_fails_the_session(benchmark, tmp_path):
    outcomes: dict[str, tuple[int, str, dict]] = {}

    def both():
        outcomes['missed'] = _session(tmp_path, 80)
        outcomes['met'] = _session(tmp_path, 20)

    benchmark.pedantic(both, rounds=1, iterations=1)
    code, out, results = outcomes['missed']
    assert code == 1, out
    assert '1 target(s) missed: cold_start_overhead_ms = 80 (must be < 50)' in out
    assert results['targets'] == [{'name': 'cold_start_overhead_ms', 'value': 80.0, 'limit': 50.0, 'note': '',
                                   'met': False, 'op': '<'}]
    code, out, results = outcomes['met']
    assert code == 0, out
    assert [t['met'] for t in results['targets']] == [True]
    assert 'every target measured here is met (1)' in out
