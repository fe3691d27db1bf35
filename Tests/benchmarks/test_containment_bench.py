"""Containment benchmarks (pytest-benchmark): each command through main() against the emulator, and the ARM
requests it costs (reads, writes, long-running-operation polls), recorded in the benchmark's extra_info and printed.
Time is measured, never asserted; the request counts are the design's cost contract (O(1) writes per direction
for any number of IPs, zero writes when nothing changes) and are asserted. Run:

    python -m pytest Tests/benchmarks/test_containment_bench.py --benchmark-only -s
"""
from __future__ import annotations

from typing import Any

import pytest

from Tests.benchmarks.support import count_requests
from Tests.e2e.support import instance, last_seq

MANY_IPS = ','.join(f'203.0.113.{i}' for i in range(1, 51))


def _count(emulator, since):
    """support.count_requests of the log after `since` (ARM part), plus the ARM DELETEs."""
    log = emulator.request_log(since)
    counts = {k: v for k, v in count_requests(log).items() if k.startswith('arm_')}
    counts['arm_delete'] = sum(1 for e in log if e['listener'] == 'arm' and e['method'] == 'DELETE')
    return counts


def _bench(benchmark, emulator, command, args, prepare=()):
    state: dict[str, Any] = {}

    def setup():
        emulator.reset()
        xsoar = instance(emulator)
        assert xsoar.run('azure-nsg-list', {}).ok  # token cached: the counts below are ARM work only
        for cmd, cmd_args in prepare:
            assert xsoar.run(cmd, cmd_args).ok
        state['xsoar'] = xsoar
        state['seq'] = last_seq(emulator)

    def target():
        state['result'] = state['xsoar'].run(command, args)

    benchmark.pedantic(target, setup=setup, rounds=2, iterations=1)   # 2: tox -e bench stays under 6 minutes
    assert state['result'].ok, state['result'].errors
    counts = _count(emulator, state['seq'])
    benchmark.extra_info.update({'command': command, **counts})
    print(f'\n{command} {args if len(str(args)) < 80 else "(50 IPs)"}: ARM requests {counts}')
    return counts


def test_bench_block_50_ips_both_directions(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-nsg-block-ip', {'ip': MANY_IPS, 'nsg_name': 'edge-nsg'})
    assert counts['arm_write'] == 2  # one rule per direction for 50 IPs


def test_bench_block_already_blocked(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-nsg-block-ip', {'ip': MANY_IPS, 'nsg_name': 'edge-nsg'},
                    prepare=[('azure-nsg-block-ip', {'ip': MANY_IPS, 'nsg_name': 'edge-nsg'})])
    assert counts['arm_write'] == 0


def test_bench_unblock_50_ips(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-nsg-unblock-ip', {'ip': MANY_IPS, 'nsg_name': 'edge-nsg'},
                    prepare=[('azure-nsg-block-ip', {'ip': MANY_IPS, 'nsg_name': 'edge-nsg'})])
    assert counts['arm_write'] == 2
    assert counts['arm_delete'] == 2


def test_bench_isolate_web_01(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-vm-isolate', {'vm_name': 'web-01'})
    assert counts['arm_write'] == 3  # the isolation NSG + two NICs


def test_bench_isolate_again(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-vm-isolate', {'vm_name': 'web-01'},
                    prepare=[('azure-vm-isolate', {'vm_name': 'web-01'})])
    assert counts['arm_write'] == 0


def test_bench_unisolate_web_01(benchmark, emulator):
    counts = _bench(benchmark, emulator, 'azure-vm-unisolate', {'vm_name': 'web-01'},
                    prepare=[('azure-vm-isolate', {'vm_name': 'web-01'})])
    assert counts['arm_write'] == 3  # two NICs + deleting the isolation NSG


@pytest.mark.parametrize(('command', 'args'), [
    ('azure-vm-power', {'vm_name': 'web-01', 'action': 'off'}),
    ('azure-vm-get', {'vm_name': 'web-01'}),
    ('azure-vm-list', {}),
    ('azure-nsg-list', {}),
    ('azure-nsg-rule-list', {'nsg_name': 'web-nsg'}),
])
def test_bench_other_commands(benchmark, emulator, command, args):
    counts = _bench(benchmark, emulator, command, args)
    assert counts['arm_write'] == (1 if command == 'azure-vm-power' else 0)
