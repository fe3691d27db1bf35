"""Concurrency, as XSOAR runs it: many separate processes (python -m Tests.xsoar_local run ...) of one instance,
sharing one state file (the integration context), acting on the same NSG of the emulator at once. ARM answers the
parallel rule writes with 429 RetryableErrorDueToAnotherOperation / 400 SecurityRuleConflict; every call must
still succeed, every IP must end up blocked exactly once, and one unblock per IP must remove them all. Unblocks that
edit one shared rule take turns through the per-NSG lease in the integration context (ARM ignores ETags there)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from Tests.e2e.support import blocked_items, instance, network_state, pack_rules

PARALLEL = 12
UNBLOCKERS = 6   # processes editing one multi-prefix rule; with the lease they run one after another


def _run_all(xsoar, calls):
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(xsoar.run_in_subprocess, command, args, False, 400) for command, args in calls]
        return [f.result() for f in futures]


def _prefixes_by_direction(emulator, nsg):
    found: dict[str, list] = {'Inbound': [], 'Outbound': []}
    for rule in pack_rules(emulator, nsg):
        p = rule['properties']
        found[p['direction']] += p.get('sourceAddressPrefixes' if p['direction'] == 'Inbound'
                                       else 'destinationAddressPrefixes') or []
    return found


def test_parallel_blocks_then_parallel_unblocks(emulator, tmp_path):
    before = network_state(emulator)
    xsoar = instance(emulator, state_file=str(tmp_path / 'context.json'))
    assert xsoar.run('azure-nsg-list', {}).ok  # warm the shared token cache once, as a running instance would be
    ips = [f'203.0.113.{10 + i}' for i in range(PARALLEL)]
    results = _run_all(xsoar, [('azure-nsg-block-ip', {'ip': ip, 'nsg_name': 'edge-nsg',
                                                        'description': f'INC-{i}'}) for i, ip in enumerate(ips)])
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok]
    assert all({i['Status'] for i in blocked_items(r)} == {'Blocked'} for r in results)
    found = _prefixes_by_direction(emulator, 'edge-nsg')
    for direction in ('Inbound', 'Outbound'):
        assert sorted(found[direction]) == sorted(ips), direction  # every IP, each exactly once: no duplicate
    priorities = [(r['properties']['direction'], r['properties']['priority']) for r in pack_rules(emulator,
                                                                                                  'edge-nsg')]
    assert len(priorities) == len(set(priorities)) == 2 * PARALLEL
    results = _run_all(xsoar, [('azure-nsg-unblock-ip', {'ip': ip, 'nsg_name': 'edge-nsg'}) for ip in ips])
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok]
    assert all({i['Status'] for i in blocked_items(r)} == {'Unblocked'} for r in results)
    assert pack_rules(emulator, 'edge-nsg') == []
    assert network_state(emulator) == before


def test_identical_parallel_blocks_write_one_rule(emulator, tmp_path):
    xsoar = instance(emulator, state_file=str(tmp_path / 'context.json'))
    assert xsoar.run('azure-nsg-list', {}).ok
    calls = [('azure-nsg-block-ip', {'ip': '198.51.100.0/24,203.0.113.99', 'nsg_name': 'edge-nsg'})] * 10
    results = _run_all(xsoar, calls)
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok]
    statuses = {i['Status'] for r in results for i in blocked_items(r)}
    assert statuses <= {'Blocked', 'AlreadyBlocked'}
    rules = pack_rules(emulator, 'edge-nsg')
    assert len(rules) == 2  # one per direction: same content, same deterministic name, never duplicated
    found = _prefixes_by_direction(emulator, 'edge-nsg')
    assert found == {'Inbound': ['198.51.100.0/24', '203.0.113.99'], 'Outbound': ['198.51.100.0/24', '203.0.113.99']}


def test_parallel_unblocks_of_one_multi_prefix_rule(emulator, tmp_path):
    """Each process removes a different IP from the same pack rule. ARM ignores ETags on rule PUTs, so without the
    per-NSG lease a stale PUT could put back an IP another process had already removed and verified."""
    xsoar = instance(emulator, state_file=str(tmp_path / 'context.json'))
    ips = [f'203.0.113.{50 + i}' for i in range(UNBLOCKERS)]
    kept = '198.51.100.77'
    block = xsoar.run('azure-nsg-block-ip', {'ip': ','.join([*ips, kept]), 'nsg_name': 'edge-nsg',
                                             'direction': 'Inbound'})
    assert block.ok, block.errors
    assert len(pack_rules(emulator, 'edge-nsg')) == 1  # one rule holds every prefix
    # The first rule PUT to arrive is slow (as on a busy ARM): without the lease, the others read the same rule,
    # remove their IPs and verify meanwhile, then the slow PUT lands with the rule as it was read and puts their
    # IPs back. With the lease the others wait until the slow PUT has landed and read the rule after it.
    emulator.inject_fault('latency', method='PUT', path_contains='/securityRules/', count=1, delay_seconds=8.0)
    results = _run_all(xsoar, [('azure-nsg-unblock-ip', {'ip': ip, 'nsg_name': 'edge-nsg', 'direction': 'Inbound'})
                               for ip in ips])
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok]
    assert [[i['Status'] for i in blocked_items(r)] for r in results] == [['Unblocked']] * UNBLOCKERS
    assert _prefixes_by_direction(emulator, 'edge-nsg') == {'Inbound': [kept], 'Outbound': []}
    assert 'azure_containment_leases' not in xsoar.integration_context  # every lease was released
