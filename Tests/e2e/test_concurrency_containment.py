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
ARM_RETRIES = 4  # the integration's ARM_MAX_RETRIES: how often a failed read is sent again


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


def test_a_rollback_keeps_the_rules_a_parallel_block_of_the_same_address_relies_on(emulator, tmp_path):
    """Run A (its own process) writes the inbound rule; its outbound write is held in Azure (applied, not yet
    answered). Meanwhile run B blocks the same address for the same incident: both rules already hold it, so B
    writes nothing and reports it blocked. Then A fails (the NSG cannot be read any more) and rolls back. A
    rollback that deleted A's rules would leave B's reported block missing from Azure; both rules must stay."""
    xsoar = instance(emulator, state_file=str(tmp_path / 'context.json'))
    assert xsoar.run('azure-nsg-list', {}).ok
    args = {'ip': '203.0.113.77', 'nsg_name': 'edge-nsg'}
    hold = emulator.hold_write(1, path_contains='/securityRules/xsoar-block-out-', timeout_seconds=120)
    with ThreadPoolExecutor(max_workers=1) as pool:
        run_a = pool.submit(xsoar.run_in_subprocess, 'azure-nsg-block-ip', args, False, 400)
        emulator.wait_for_hold(60, hold['id'])
        run_b = xsoar.run('azure-nsg-block-ip', args)
        # A's next read of the NSG and its retries fail (503, Retry-After 0 for speed); its rollback's read works
        emulator.inject_fault('503', method='GET', path_contains='/networkSecurityGroups/edge-nsg',
                              count=ARM_RETRIES + 1, retry_after=0)
        emulator.release_hold()
        a = run_a.result()
    emulator.clear_faults()
    assert run_b.ok, run_b.errors
    assert {i['Status'] for i in blocked_items(run_b)} == {'AlreadyBlocked'}
    assert not a.ok
    rules = _prefixes_by_direction(emulator, 'edge-nsg')
    assert rules == {'Inbound': ['203.0.113.77'], 'Outbound': ['203.0.113.77']}   # B's block is in Azure
    assert 'Kept the rule(s) xsoar-block-in-v4-' in a.errors[0]
    assert 'another block of this instance holds the same addresses' in a.errors[0]
    assert xsoar.run('azure-nsg-unblock-ip', args).ok
    assert pack_rules(emulator, 'edge-nsg') == []
