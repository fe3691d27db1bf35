"""azure-vm-find against the `large` scenario (2,000 VMs in two subscriptions, plus the default scenario's): the
ARM requests and time for 1 and 100 values, in the instance's subscription and over every subscription
(scope=all), side by side with the walk peers do (every NIC and public IP of the subscription, paged:
baseline.BaselineClient.find_by_walk) in the same run. The request counts are the design's cost contract (one
Resource Graph query per batch of up to 100 values, whatever the estate's size) and are asserted; times are
recorded, never asserted. Run:

    python -m pytest Tests/benchmarks/test_find_bench.py --benchmark-only -s
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from Tests.benchmarks.baseline import BaselineClient
from Tests.benchmarks.support import StandaloneEmulator
from Tests.e2e.support import instance, last_seq

SUB_A = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'   # "SOC Demo": the instance's subscription
GRAPH_PATH = '/providers/Microsoft.ResourceGraph/resources'
SECTION = 'azure-vm-find on 2,000 VMs (large scenario): Resource Graph against the NIC / public IP walk'
ROUNDS = 3


def private_ips(count: int) -> list[str]:
    """`count` private IPs of fleet-a VMs, spread over its ten resource groups (large.py's address plan)."""
    if count > 100:
        raise ValueError('the fleet-a plan used here has 100 spread addresses')
    return [f'10.{10 + g}.0.{n + 4}' for n in range(0, 100, 10) for g in range(10)][:count]


@pytest.fixture(scope='module')
def large(tmp_path_factory):
    emulator = StandaloneEmulator(tmp_path_factory.mktemp('large-emulator'), scenario='large').start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _arm_requests(log: list[dict]) -> dict[str, int]:
    arm = [e for e in log if e['listener'] == 'arm']
    return {'graph': sum(1 for e in arm if e['path'].split('?')[0].rstrip('/').lower() == GRAPH_PATH.lower()),
            'other': sum(1 for e in arm if e['path'].split('?')[0].rstrip('/').lower() != GRAPH_PATH.lower())}


def _run_find(large, xsoar, args: dict) -> tuple[list[float], dict[str, int], Any]:
    times, counts, result = [], {}, None
    for _ in range(ROUNDS):
        seq = last_seq(large)
        started = time.perf_counter()
        result = xsoar.run('azure-vm-find', args)
        times.append((time.perf_counter() - started) * 1000)
        counts = _arm_requests(large.request_log(seq))
    assert result is not None
    assert result.ok, result.errors
    return times, counts, result


@pytest.mark.parametrize(('values', 'scope'), [(1, 'subscription'), (100, 'subscription'), (1, 'all'),
                                               (100, 'all')])
def test_find_cost_on_2000_vms(benchmark, large, figures, values, scope):
    xsoar = instance(large, max_find_values='100')
    assert xsoar.run('azure-nsg-list', {}).ok   # token cached: the counts below are the find's ARM work only
    ips = private_ips(values)
    state: dict[str, Any] = {}

    def target():
        state['times'], state['counts'], state['result'] = _run_find(large, xsoar, {'ip': ','.join(ips),
                                                                                   'scope': scope})

    benchmark.pedantic(target, rounds=1, iterations=1)
    items = state['result'].context['AzureContainment.Find']
    statuses = {item['Status'] for item in items}
    assert len(items) == values
    # Each fleet-a address exists once per subscription (the two estates share address spaces): the instance's
    # subscription finds it, every subscription makes it ambiguous -- never a guess.
    assert statuses == ({'Found'} if scope == 'subscription' else {'Ambiguous'})
    counts = state['counts']
    # One Resource Graph query per batch of 100 values; scope=all reads the subscription list first.
    assert counts['graph'] == 1
    assert counts['other'] == (1 if scope == 'all' else 0)

    walk_ms: float | None = None
    walk_requests: int | None = None
    if scope == 'subscription':
        baseline = BaselineClient(large)
        try:
            before = baseline.sent['reads']
            started = time.perf_counter()
            walked = baseline.find_by_walk(SUB_A, ips)
            walk_ms = (time.perf_counter() - started) * 1000
            walk_requests = baseline.sent['reads'] - before
        finally:
            baseline.close()
        assert all(len(vms) == 1 for vms in walked.values())   # the same answer, by walking
    pack_ms = statistics.median(state['times'])
    benchmark.extra_info.update({'values': values, 'scope': scope, 'graph_requests': counts['graph'],
                                 'other_arm_requests': counts['other'], 'median_ms': round(pack_ms, 1),
                                 'walk_requests': walk_requests, 'walk_ms': None if walk_ms is None else
                                 round(walk_ms, 1)})
    figures.add(SECTION, {
        'values': values, 'scope': scope, 'pack ARM requests': counts['graph'] + counts['other'],
        'pack median ms': round(pack_ms, 1),
        'walk ARM requests': '-' if walk_requests is None else walk_requests,
        'walk ms': '-' if walk_ms is None else round(walk_ms, 1),
    }, note=f'median of {ROUNDS} runs of the command through main(); the walk lists every NIC and public IP of '
            'the instance\'s subscription (pages of 100), once, as peers do; no latency profile')
