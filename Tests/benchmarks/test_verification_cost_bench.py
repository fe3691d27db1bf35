"""What the isolation verification costs (issue 11): the ARM requests it adds to azure-vm-isolate and to azure-vm-get
of an isolated VM, read from the emulator's request log by path, and cross-checked against the same command where
the verification does less or nothing (a get of a VM that is not isolated; an isolation of a deallocated VM, whose
effective security rules are not asked for). Counts are asserted (the design's cost: per NIC one POST of
effectiveNetworkSecurityGroups and its Location polls, per VNet one POST per page of security admin rules, and for
get the isolation NSG's GET); times are recorded, never asserted. Run:

    python -m pytest Tests/benchmarks/test_verification_cost_bench.py --benchmark-only -s
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from Tests.e2e.support import instance, last_seq

SECTION = 'Verification cost: ARM requests the isolation verdict adds (default scenario, short timings)'
ROUNDS = 2
APPS = {'subscription_id': 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff', 'resource_group': 'soc-app-rg'}


def classify(log: list[dict]) -> dict[str, int]:
    """The ARM requests of a log slice, split into the verification's (by path) and the rest."""
    arm = [e for e in log if e['listener'] == 'arm' and '/_emulator' not in e['path']]
    paths = [(e['method'], e['path'].split('?')[0]) for e in arm]
    effective = sum(1 for m, p in paths if m == 'POST' and p.endswith('/effectiveNetworkSecurityGroups'))
    polls = sum(1 for m, p in paths if m == 'GET' and '/operationResults/' in p)   # their Location (the writes'
    admin = sum(1 for m, p in paths if m == 'POST' and p.endswith('/listNetworkManagerEffectiveSecurityAdminRules'))
    return {'total': len(arm), 'effective_posts': effective, 'effective_polls': polls, 'admin_pages': admin,
            'verification': effective + polls + admin}


def _measure(benchmark, emulator, command: str, args: dict, prepare: tuple = ()) -> tuple[dict, Any, float]:
    state: dict[str, Any] = {'times': []}

    def setup():
        emulator.reset()
        xsoar = instance(emulator, **({k: v for k, v in args.items() if k in APPS}))
        assert xsoar.run('azure-nsg-list', {}).ok   # token cached: what follows is ARM work only
        for cmd, cmd_args in prepare:
            assert xsoar.run(cmd, cmd_args).ok
        state['xsoar'] = xsoar
        state['seq'] = last_seq(emulator)

    def target():
        started = time.perf_counter()
        state['result'] = state['xsoar'].run(command, args)
        state['times'].append((time.perf_counter() - started) * 1000)

    benchmark.pedantic(target, setup=setup, rounds=ROUNDS, iterations=1)
    assert state['result'].ok, state['result'].errors
    return classify(emulator.request_log(state['seq'])), state['result'], statistics.median(state['times'])


def _plain(emulator, command: str, args: dict) -> tuple[dict, float]:
    """One run of the command on the VM as the scenario has it (not isolated: no verification)."""
    emulator.reset()
    xsoar = instance(emulator)
    assert xsoar.run('azure-nsg-list', {}).ok
    seq = last_seq(emulator)
    started = time.perf_counter()
    result = xsoar.run(command, args)
    took = (time.perf_counter() - started) * 1000
    assert result.ok, result.errors
    assert 'Verification' not in (result.context['AzureContainment.VM'][0] if isinstance(
        result.context['AzureContainment.VM'], list) else result.context['AzureContainment.VM'])
    return classify(emulator.request_log(seq)), took


def _verdict(result, key: str) -> str:
    value = result.context[key]
    return (value[0] if isinstance(value, list) else value)['Verification']['Verdict']


@pytest.mark.parametrize(('case', 'command', 'args', 'prepare', 'nics', 'key'), [
    ('isolate web-01 (2 NICs, running)', 'azure-vm-isolate', {'vm_name': 'web-01'}, (), 2,
     'AzureContainment.Isolation'),
    ('isolate app-01 (1 NIC, 2 pages of admin rules)', 'azure-vm-isolate', {'vm_name': 'app-01', **APPS}, (), 1,
     'AzureContainment.Isolation'),
    ('isolate db-01 (deallocated: no effective rules)', 'azure-vm-isolate', {'vm_name': 'db-01'}, (), 0,
     'AzureContainment.Isolation'),
    ('get web-01, isolated', 'azure-vm-get', {'vm_name': 'web-01'}, (('azure-vm-isolate', {'vm_name': 'web-01'}),),
     2, 'AzureContainment.VM'),
])
def test_verification_cost_bench(benchmark, emulator, figures, case, command, args, prepare, nics, key):
    counts, result, median_ms = _measure(benchmark, emulator, command, args, prepare)
    assert counts['effective_posts'] == nics   # one effective-rules read per NIC of a running VM, none otherwise
    assert counts['effective_polls'] >= nics   # each a long-running operation: at least one poll of its Location
    assert counts['admin_pages'] == (2 if 'app-01' in case else 1)   # pages of the VNet's admin rules
    extra = counts['verification']
    if command == 'azure-vm-get':
        # cross-check: the same get of the VM not isolated sends exactly the verification's requests fewer
        # (and the isolation NSG's GET, which only the verification needs)
        plain, plain_ms = _plain(emulator, command, args)
        assert counts['total'] - plain['total'] == extra + 1
        extra += 1
        median_ms = round(median_ms, 1)
        benchmark.extra_info['not_isolated_ms'] = round(plain_ms, 1)
    row = {'case': case, 'verdict': _verdict(result, key), 'ARM requests': counts['total'],
           'of them verification': extra, 'effective POSTs': counts['effective_posts'],
           'their polls': counts['effective_polls'], 'admin rule pages': counts['admin_pages'],
           'median ms': round(median_ms, 1)}
    benchmark.extra_info.update(row)
    figures.add(SECTION, row, note='requests by path in the emulator\'s log; "of them verification": per NIC the POST '
                                   'and its Location polls (the first after Retry-After), per VNet the admin-rule '
                                   'pages, for get also the isolation NSG read; the time includes the Retry-After '
                                   'waits of the effective-rules operations (1 s each here, 10 s in Azure, run in '
                                   'parallel for the NICs of one VM)')
    print(f'\n{case}: {row}')
