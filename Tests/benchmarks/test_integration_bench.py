"""Integration benchmarks (pytest-benchmark) against a standalone emulator (`python -m Tests.azure_emulator`, a child
process, so the integration measured here shares no interpreter with it):

(a) cold start: fresh `python -m Tests.xsoar_local run ...` processes (test-module, then a read command) with an
    empty state file (1 OIDC discovery + 1 token request) and with a state file holding the caches (0 Entra ID
    requests); wall time per process. The overhead of the integration itself: test-module in a fresh process from
    a warm state minus the same process running a stub with the integration's imports that does nothing (target
    cold_start_overhead_ms), and where that time goes (in-process: compiling the source, the rest).
(b) steady state: Entra ID requests per command for every auth mode of the e2e tests (asserted 0; target
    entra_requests_per_command).
(c) memory: tracemalloc peak of blocking 1000 IPs in one call and of azure-vm-list over 200 VMs, with baselines.
(d) blocking 1, 10, 100, 1000 IPs: ARM requests (writes asserted O(1) per direction and address family) and time.

Times are measured and printed, never asserted; request counts are deterministic and asserted. Run:

    python -m pytest Tests/benchmarks/test_integration_bench.py --benchmark-only

A summary table is printed at the end of the session (Tests/benchmarks/conftest.py).
"""
from __future__ import annotations

import ast
import json
import os
import resource
import statistics
import shutil
import subprocess
import sys
import time
import tracemalloc

import demistomock  # the stand-in the integration imports (pytest pythonpath: Tests/xsoar_local)
import pytest

from Tests.benchmarks.support import ROOT, count_requests, many_ips, many_vms_scenario, timing_ms, write_params_file
from Tests.e2e.conftest import MODES, build_instance, build_params, cred, last_seq
from Tests.e2e.test_auth import login_url_of, sign_in
from Tests.xsoar_local.harness import XsoarInstance

# The emulated long-running operations complete at once in (c) and (d), with Retry-After 0, so the time is the
# integration's and the emulator's work; with the default scenario (0.3 s operations, Retry-After 1 s) every write
# adds about a second of waiting (see test_containment_bench.py), with Azure-shaped timings (azure_like) more.
INSTANT_LRO = {'settings': {'lro_seconds': 0, 'retry_after_seconds': 0}}


def warm_up(emu, inst: XsoarInstance, mode: str) -> None:
    """Get a first token (the auth-code mode signs in and redeems the code, as a user does)."""
    if mode == 'auth_code':
        redirect = sign_in(emu, login_url_of(inst.run('azure-containment-generate-login-url')))
        inst.params['auth_code'] = cred(redirect)
        result = inst.run('azure-containment-auth-test')
    else:
        result = inst.run('test-module')
    assert result.ok, result.errors


# ----------------------------------------------------------------------------------------------- (a) cold start
COLD_COMMANDS: tuple[tuple[str, list[str]], ...] = (('test-module', []), ('azure-vm-list', ['limit=5']))


def run_cli(params_file, state_file, command: str, args: list[str], integration=None) -> float:
    """One fresh process: python -m Tests.xsoar_local run <command> ... --params --state --json [--integration].
    Its wall time."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get('PYTHONPATH')) if p))
    cli = [sys.executable, '-m', 'Tests.xsoar_local', 'run', command, *args, '--params', str(params_file),
           '--state', str(state_file), '--json', *(['--integration', str(integration)] if integration else [])]
    started = time.perf_counter()
    done = subprocess.run(cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, (done.stdout[-1500:], done.stderr[-1500:])
    assert json.loads(done.stdout)['ok']
    return elapsed


@pytest.mark.parametrize('state', ['empty', 'cached'])
def test_cold_start(benchmark, standalone, figures, tmp_path, state):
    standalone.reset('default')
    params_file, state_file, warmed = tmp_path / 'params.yml', tmp_path / 'state.json', tmp_path / 'warmed.json'
    write_params_file(params_file, build_params(standalone), {'REQUESTS_CA_BUNDLE': standalone.ca_bundle})
    if state == 'cached':
        run_cli(params_file, state_file, 'test-module', [])
        shutil.copy(state_file, warmed)
    rounds = []

    def setup():
        state_file.unlink(missing_ok=True)
        if state == 'cached':
            shutil.copy(warmed, state_file)

    def one_run():
        this = {}
        for command, args in COLD_COMMANDS:
            seq = last_seq(standalone)
            seconds = run_cli(params_file, state_file, command, args)
            this[command] = (seconds, count_requests(standalone.request_log(seq)))
        rounds.append(this)

    benchmark.pedantic(one_run, setup=setup, rounds=3, iterations=1)
    for this in rounds:
        first, read = this['test-module'][1], this['azure-vm-list'][1]
        if state == 'empty':
            assert (first['oidc'], first['token'], first['login']) == (1, 1, 2), first
        else:
            assert first['login'] == 0, first
        assert read['login'] == 0, read   # the state file written by the first process holds the token
    for command, args in COLD_COMMANDS:
        times = [this[command][0] * 1000 for this in rounds]
        counts = rounds[-1][command][1]
        figures.add('(a) cold start: one fresh `python -m Tests.xsoar_local run` process per command', {
            'state file': state, 'command': ' '.join([command, *args]), 'rounds': len(times),
            'mean ms': sum(times) / len(times), 'min ms': min(times), 'max ms': max(times),
            'OIDC': counts['oidc'], 'token': counts['token'], 'ARM req': counts['arm_read'] + counts['arm_write']},
            note='secret mode; "empty" = no state file, "cached" = the state file a first test-module left')


INTEGRATION = ROOT / 'Packs' / 'AzureContainment' / 'Integrations' / 'AzureContainment' / 'AzureContainment.py'
OVERHEAD_PAIRS = 12


def stub_integration(path) -> None:
    """The integration's own import statements and a main() that only answers: a process running it imports what
    the integration imports and does nothing else."""
    source = INTEGRATION.read_text(encoding='utf-8')
    imports = [ast.get_source_segment(source, node) for node in ast.parse(source).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    path.write_text('\n'.join(str(i) for i in imports) + "\n\n\ndef main():\n    demisto.results('ok')\n",
                    encoding='utf-8')


def test_cold_start_overhead(benchmark, standalone, figures, tmp_path):
    """Pairs of fresh processes from the same warm state (token cached): test-module with the integration, then
    the runner with the stub. The overhead is the difference of the fastest of each (other processes on the
    machine only ever add time, so the minimum is the truest cost; the medians are shown too). Then, in this
    process (libraries imported), where the integration's time goes: compiling its source (XSOAR compiles the
    script on every run too), and loading the module plus main() for test-module."""
    standalone.reset('default')
    params_file, state_file, warmed = tmp_path / 'params.yml', tmp_path / 'state.json', tmp_path / 'warmed.json'
    stub = tmp_path / 'ImportsOnly.py'
    stub_integration(stub)
    write_params_file(params_file, build_params(standalone), {'REQUESTS_CA_BUNDLE': standalone.ca_bundle})
    run_cli(params_file, state_file, 'test-module', [])
    shutil.copy(state_file, warmed)
    full: list[float] = []
    stubbed: list[float] = []
    full_cpu: list[float] = []
    stubbed_cpu: list[float] = []

    def timed(integration=None) -> tuple[float, float]:
        """(wall ms, CPU ms of the child: user + system) of one fresh test-module process."""
        shutil.copy(warmed, state_file)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = run_cli(params_file, state_file, 'test-module', [], integration=integration) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000

    def one_pair():
        for walls, cpus, integration in ((full, full_cpu, None), (stubbed, stubbed_cpu, stub)):
            wall, cpu = timed(integration)
            walls.append(wall)
            cpus.append(cpu)

    benchmark.pedantic(one_pair, rounds=OVERHEAD_PAIRS, iterations=1)
    overhead = min(full) - min(stubbed)
    inst = build_instance(standalone)
    warm_up(standalone, inst, 'secret')
    source = INTEGRATION.read_text(encoding='utf-8')
    compile_ms = min(_timed_ms(lambda: compile(source, str(INTEGRATION), 'exec')) for _ in range(5))
    run_ms = min(inst.run('test-module').duration_seconds * 1000 for _ in range(5))
    benchmark.extra_info.update({'overhead_ms': round(overhead, 1), 'compile_ms': round(compile_ms, 1)})
    figures.add('(a) cold start overhead of the integration: test-module from a warm state', {
        'processes': f'{OVERHEAD_PAIRS} + {OVERHEAD_PAIRS}', 'test-module min ms': min(full),
        'imports-only min ms': min(stubbed), 'overhead ms (min - min)': overhead,
        'overhead ms (median - median)': statistics.median(full) - statistics.median(stubbed),
        'CPU overhead ms (min - min)': min(full_cpu) - min(stubbed_cpu),
        'in-process: compile ms': compile_ms, 'in-process: module + main() ms': run_ms - compile_ms},
        note='imports-only: the same runner process with a stub that has the integration\'s import statements and a '
             'main() that does nothing; the target is the wall-time difference of the fastest of each; CPU: the '
             "processes' own user + system time, which other load on the machine hardly changes (it leaves out "
             "waiting for the emulator's answers); in-process: one more run in this process (libraries loaded), "
             'fastest of 5; the emulator answers at once here (no latency profile)')
    figures.target('cold_start_overhead_ms', round(overhead, 1), 50, '<',
                   'fresh test-module process from a warm state minus the imports-only process')


def _timed_ms(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


# -------------------------------------------------------------------------------------- (b) steady state per mode
STEADY_COMMANDS: tuple[tuple[str, dict[str, str]], ...] = (
    ('test-module', {}),
    ('azure-vm-get', {'vm_name': 'web-01'}),
    ('azure-vm-list', {}),
    ('azure-nsg-list', {}),
    ('azure-nsg-rule-list', {'nsg_name': 'web-nsg'}),
    ('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg', 'dry_run': 'true'}),
)


@pytest.mark.parametrize('mode', MODES)
def test_steady_state_entra_requests(benchmark, standalone, figures, mode):
    standalone.reset('default')
    inst = build_instance(standalone, mode=mode)
    seq = last_seq(standalone)
    warm_up(standalone, inst, mode)
    warm = count_requests(standalone.request_log(seq))
    per_command: dict[str, list] = {command: [] for command, _ in STEADY_COMMANDS}

    def one_round():
        for command, args in STEADY_COMMANDS:
            before = last_seq(standalone)
            started = time.perf_counter()
            result = inst.run(command, args)
            elapsed = time.perf_counter() - started
            assert result.ok, (command, result.errors)
            per_command[command].append((elapsed, count_requests(standalone.request_log(before))))

    benchmark.pedantic(one_round, rounds=3, iterations=1)
    row = {'mode': mode, 'warm-up Entra ID': f"{warm['login']} ({warm['oidc']} OIDC, {warm['token']} token)"}
    entra = {command: sum(counts['login'] for _, counts in runs) / len(runs) for command, runs in per_command.items()}
    figures.target('entra_requests_per_command', max(entra.values()), 0, '=', 'steady state, every auth mode')
    for command, runs in per_command.items():
        assert entra[command] == 0, f'{mode}: {command} made Entra ID requests in steady state'
        row[f'{command.replace("azure-", "")} ms'] = sum(t for t, _ in runs) * 1000 / len(runs)
    row['Entra ID req/cmd'] = max(entra.values())
    figures.add('(b) steady state: Entra ID requests per command (asserted 0) and mean ms per command', row,
                note=f'{len(STEADY_COMMANDS)} commands x 3 rounds per mode, in-process runs; '
                     'block-ip with dry_run=true')


# -------------------------------------------------------------------------------------------------- (c) memory
def _block_args(count: int, families: str = 'v4') -> dict:
    ips = many_ips(count - count // 2) + many_ips(count // 2, 'v6') if families == 'v4+v6' else many_ips(count)
    return {'ip': ','.join(ips), 'nsg_name': 'edge-nsg'}


MEMORY_CASES = {
    'block 1 IP': (INSTANT_LRO, 'azure-nsg-block-ip', _block_args(1)),
    'block 1000 IPs': (INSTANT_LRO, 'azure-nsg-block-ip', _block_args(1000)),
    'vm-list 3 VMs': (many_vms_scenario(0), 'azure-vm-list', {'limit': '250'}),
    'vm-list 203 VMs': (many_vms_scenario(200), 'azure-vm-list', {'limit': '250'}),
}


@pytest.mark.parametrize('case', list(MEMORY_CASES))
def test_memory_peak(benchmark, standalone, figures, monkeypatch, case):
    """Two peaks per run: loading the integration (compiling its source: the harness, like XSOAR, starts every
    command with a fresh module) and the command itself (from main()'s first demisto.command() call on, after
    tracemalloc.reset_peak())."""
    scenario, command, args = MEMORY_CASES[case]
    standalone.reset(scenario)
    inst = build_instance(standalone)
    warm_up(standalone, inst, 'secret')
    load_peaks, at_main, command_peaks, results = [], [], [], []
    real_command = demistomock.command
    probed = {'this run': False}

    def command_probe():
        if not probed['this run']:   # the first call of a run: main() has begun, the module is loaded
            probed['this run'] = True
            current, peak = tracemalloc.get_traced_memory()
            load_peaks.append(peak)
            at_main.append(current)
            tracemalloc.reset_peak()
        return real_command()

    def setup():
        standalone.reset()

    def traced_run():
        monkeypatch.setattr(demistomock, 'command', command_probe)
        probed['this run'] = False
        tracemalloc.start()
        try:
            results.append(inst.run(command, args))
        finally:
            command_peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            monkeypatch.setattr(demistomock, 'command', real_command)

    benchmark.pedantic(traced_run, setup=setup, rounds=2, iterations=1)
    result = results[-1]
    assert result.ok, result.errors
    assert len(load_peaks) == len(command_peaks) == 2
    if command == 'azure-vm-list':
        vms = result.context['AzureContainment.VM']
        assert len(vms if isinstance(vms, list) else [vms]) == int(case.split()[1])
    else:
        assert {item['Status'] for item in result.context['AzureContainment.BlockedIP']} == {'Blocked'}
    figures.add('(c) memory: tracemalloc peaks of one in-process run', {
        'case': case, 'module load peak KiB': max(load_peaks) / 1024, 'at main() KiB': max(at_main) / 1024,
        'command peak KiB': max(command_peaks) / 1024, **timing_ms(benchmark)},
        note='at main() = traced memory held when main() starts, command peak = highest from there on; libraries '
             'already imported; times include tracemalloc overhead; vm-list pages of 50; emulated LROs end at once')


# ------------------------------------------------------------------------------------- (d) blocking N addresses
@pytest.mark.parametrize(('count', 'families'), [(1, 'v4'), (10, 'v4'), (100, 'v4'), (1000, 'v4'), (1000, 'v4+v6')])
def test_block_scaling(benchmark, standalone, figures, count, families):
    standalone.reset(INSTANT_LRO)
    inst = build_instance(standalone)
    warm_up(standalone, inst, 'secret')
    args = _block_args(count, families)
    marks: list[int] = []
    counts: list[dict] = []
    results: list = []

    def setup():
        if marks:
            counts.append(count_requests(standalone.request_log(marks[-1])))
        standalone.reset()
        marks.append(last_seq(standalone))

    def block():
        results.append(inst.run('azure-nsg-block-ip', args))

    benchmark.pedantic(block, setup=setup, rounds=3, iterations=1)
    counts.append(count_requests(standalone.request_log(marks[-1])))
    assert all(r.ok for r in results), results[-1].errors
    blocked = results[-1].context['AzureContainment.BlockedIP']
    assert len(blocked) == 2 * count
    assert {b['Status'] for b in blocked} == {'Blocked'}
    n_families = len(families.split('+'))
    for c in counts:   # one rule write per direction (2) and family, whatever the number of addresses
        assert c['arm_write'] == 2 * n_families, c
        assert c['login'] == 0, c
    assert len({tuple(sorted(c.items())) for c in counts}) == 1, counts   # deterministic
    c = counts[-1]
    figures.add('(d) azure-nsg-block-ip, direction Both: ARM requests and time per call', {
        'addresses': count, 'families': families, 'ARM reads': c['arm_read'], 'ARM writes': c['arm_write'],
        'LRO polls': c['arm_poll'], **timing_ms(benchmark)},
        note='in-process runs, 3 rounds each on a fresh edge-nsg; emulated LROs complete at once')
