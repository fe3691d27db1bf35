"""Blocks that end on time and leave a trail, end to end: azure-nsg-block-ip expires_in, azure-nsg-block-list and
azure-nsg-block-expire run as XSOAR runs them, each in a process of its own whose clock the test sets
(Tests/e2e/clock.py: freezegun in the child, started from an environment variable; the integration has no test
hook), against the emulator. Every check is on what Azure holds afterwards (the rules, their descriptions, tags)
and on the requests the integration sent. The expiry and the incident live in Azure only: the runs share nothing
else (several checks use a fresh integration context on purpose)."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from Tests.e2e.clock import run_at
from Tests.e2e.support import (NET, arm_writes, blocked_items, instance, last_seq, load_changed_scenario, named,
                               network_state, nsg_rules, pack_rules)
from Tests.xsoar_local.harness import XsoarInstance

NSG = 'edge-nsg'
AUDIT = re.compile(r'\[AzureContainment\] inc:(?P<inc>[A-Za-z0-9_-]+) at:(?P<at>\d{8}T\d{6}Z) '
                   r'exp:(?P<exp>\d{8}T\d{6}Z|never) (?P<text>.*)')


@pytest.fixture
def t0() -> datetime:
    """A whole minute of today (the clocks of the runs are set relative to it)."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def xsoar_in(emu, tmp_path, incident: str | None = None, state: str = 'context.json') -> XsoarInstance:
    inst = instance(emu, state_file=str(tmp_path / state))
    if incident is not None:
        inst = XsoarInstance(inst.params, state_file=inst.state_file, env=inst.env, incident=incident)
    return inst


def audit_of(rule: dict) -> re.Match:
    """The audit record of a pack rule's description (the test fails when it is not in the format)."""
    match = AUDIT.fullmatch(rule['properties']['description'])
    assert match, rule['properties']['description']
    return match


def iso(value: datetime) -> str:
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


def stamp(value: datetime) -> str:
    return value.strftime('%Y%m%dT%H%M%SZ')


def ok(result):
    assert result.ok, result.errors
    return result


def holders(emu, address: str, direction: str = 'Inbound') -> list[dict]:
    """The pack rules of `direction` whose own side holds `address`."""
    side = 'sourceAddressPrefixes' if direction == 'Inbound' else 'destinationAddressPrefixes'
    return [r for r in pack_rules(emu, NSG) if r['properties']['direction'] == direction
            and address in (r['properties'].get(side) or [])]


def first(value):
    return value[0] if isinstance(value, list) else value


def by_ip(result) -> dict[tuple[str, str], dict]:
    return {(i['IP'], i['Direction']): i for i in blocked_items(result)}


# ------------------------------------------------------------------------------------------ expiry to the minute
def test_expiry_is_honoured_to_the_minute_and_survives_a_reset(emulator, tmp_path, t0):
    before = network_state(emulator)
    xsoar = xsoar_in(emulator, tmp_path, incident='501')
    res = ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound',
                                                      'expires_in': '1 hour', 'description': 'brute force'}))
    item = by_ip(res)[('203.0.113.7', 'Inbound')]
    assert item['Status'] == 'Blocked'
    expires = datetime.strptime(item['ExpiresAt'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)
    blocked_at = datetime.strptime(item['BlockedAt'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)
    assert t0 <= blocked_at < t0 + timedelta(minutes=1)
    assert expires == t0 + timedelta(hours=1) + (timedelta(minutes=1) if blocked_at > t0 else timedelta(0))
    assert item['IncidentID'] == '501'
    (rule,) = holders(emulator, '203.0.113.7')
    audit = AUDIT.fullmatch(rule['properties']['description'])
    assert audit
    assert audit.group('inc', 'at', 'exp', 'text') == ('501', stamp(blocked_at), stamp(expires), 'brute force')

    # A fresh integration context (an instance reset, another engine): the expiry is read back from Azure.
    fresh = xsoar_in(emulator, tmp_path, state='reset.json')
    listed = by_ip(ok(run_at(fresh, expires - timedelta(seconds=30), 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert listed[('203.0.113.7', 'Inbound')]['Status'] == 'Active'
    assert listed[('203.0.113.7', 'Inbound')]['ExpiresAt'] == iso(expires)
    assert listed[('203.0.113.7', 'Inbound')]['IncidentID'] == '501'
    seq = last_seq(emulator)
    early = ok(run_at(fresh, expires - timedelta(seconds=30), 'azure-nsg-block-expire', {'nsg_name': NSG}))
    assert blocked_items(early) == []
    assert arm_writes(emulator, seq) == []                       # half a minute early: nothing removed
    assert holders(emulator, '203.0.113.7') == [rule]
    listed = by_ip(ok(run_at(fresh, expires, 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert listed[('203.0.113.7', 'Inbound')]['Status'] == 'Expired'
    seq = last_seq(emulator)
    dry = ok(run_at(fresh, expires, 'azure-nsg-block-expire', {'nsg_name': NSG, 'dry_run': 'true'}))
    assert [(i['IP'], i['Status']) for i in blocked_items(dry)] == [('203.0.113.7', 'Expired')]
    assert arm_writes(emulator, seq) == []
    done = ok(run_at(fresh, expires, 'azure-nsg-block-expire', {'nsg_name': NSG}))
    assert [(i['IP'], i['Direction'], i['Status'], i['Rule'], i['ExpiresAt'], i['IncidentID'])
            for i in blocked_items(done)] == [('203.0.113.7', 'Inbound', 'Unblocked', rule['name'], iso(expires), '501')]
    assert [(w['method'], w['path'].rsplit('/', 1)[-1]) for w in arm_writes(emulator, seq)] == [
        ('DELETE', rule['name'])]
    assert network_state(emulator) == before


# ------------------------------------------------------------------------------------------ the latest expiry wins
def test_one_hour_then_permanent_stays_blocked_after_the_hour(emulator, tmp_path, t0):
    first = xsoar_in(emulator, tmp_path, incident='601')
    second = xsoar_in(emulator, tmp_path, incident='602')
    ok(run_at(first, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound',
                                                'expires_in': '1 hour'}))
    seq = last_seq(emulator)
    res = ok(run_at(second, t0 + timedelta(minutes=5), 'azure-nsg-block-ip',
                    {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound'}))
    item = by_ip(res)[('203.0.113.7', 'Inbound')]
    assert (item['Status'], item['ExpiresAt'], item['IncidentID']) == ('Blocked', None, '602')
    assert [w['method'] for w in arm_writes(emulator, seq)] == ['PUT']     # one write: the permanent rule
    assert len(holders(emulator, '203.0.113.7')) == 2
    seq = last_seq(emulator)
    again = ok(run_at(first, t0 + timedelta(minutes=10), 'azure-nsg-block-ip',
                      {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound', 'expires_in': '30 days'}))
    assert by_ip(again)[('203.0.113.7', 'Inbound')]['Status'] == 'AlreadyBlocked'   # permanent outlives 30 days
    assert arm_writes(emulator, seq) == []

    later = t0 + timedelta(hours=2)
    res = ok(run_at(first, later, 'azure-nsg-block-expire', {'nsg_name': NSG}))
    assert blocked_items(res) == []                 # its 1-hour rule is gone, the address is still blocked
    (left,) = holders(emulator, '203.0.113.7')
    assert audit_of(left).group('inc', 'exp') == ('602', 'never')
    listed = by_ip(ok(run_at(first, later, 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert listed[('203.0.113.7', 'Inbound')]['Status'] == 'Active'
    assert listed[('203.0.113.7', 'Inbound')]['ExpiresAt'] is None
    assert listed[('203.0.113.7', 'Inbound')]['IncidentID'] == '602'


def test_seven_days_then_one_hour_keeps_the_seven_days(emulator, tmp_path, t0):
    before = network_state(emulator)
    week = xsoar_in(emulator, tmp_path, incident='701')
    hour = xsoar_in(emulator, tmp_path, incident='702')
    res = ok(run_at(week, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7,198.51.100.0/24', 'nsg_name': NSG,
                                                     'expires_in': '7 days'}))
    week_end = by_ip(res)[('203.0.113.7', 'Inbound')]['ExpiresAt']
    seq = last_seq(emulator)
    res = ok(run_at(hour, t0 + timedelta(minutes=1), 'azure-nsg-block-ip',
                    {'ip': '203.0.113.7,198.51.100.0/24', 'nsg_name': NSG, 'expires_in': '1 hour'}))
    assert {(i['Status'], i['ExpiresAt'], i['IncidentID']) for i in blocked_items(res)} == {
        ('AlreadyBlocked', week_end, '701')}
    assert arm_writes(emulator, seq) == []          # already blocked at least as long: zero writes
    ok(run_at(hour, t0 + timedelta(hours=2), 'azure-nsg-block-expire', {'nsg_name': NSG}))
    listed = by_ip(ok(run_at(hour, t0 + timedelta(hours=2), 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert {(k, i['Status'], i['ExpiresAt']) for k, i in listed.items()} == {
        (key, 'Active', week_end) for key in [('203.0.113.7', 'Inbound'), ('203.0.113.7', 'Outbound'),
                                              ('198.51.100.0/24', 'Inbound'), ('198.51.100.0/24', 'Outbound')]}
    end = datetime.strptime(week_end, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)
    res = ok(run_at(hour, end, 'azure-nsg-block-expire', {'nsg_name': NSG}))
    assert {(i['IP'], i['Direction'], i['Status']) for i in blocked_items(res)} == {
        (ip, d, 'Unblocked') for ip in ('203.0.113.7', '198.51.100.0/24') for d in ('Inbound', 'Outbound')}
    assert network_state(emulator) == before


def test_an_extension_costs_one_write_per_direction(emulator, tmp_path, t0):
    xsoar = xsoar_in(emulator, tmp_path, incident='801')
    ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7,203.0.113.8,2001:db8::7', 'nsg_name': NSG,
                                                'expires_in': '1 hour'}))
    seq = last_seq(emulator)
    res = ok(run_at(xsoar, t0 + timedelta(minutes=1), 'azure-nsg-block-ip',
                    {'ip': '203.0.113.7,203.0.113.8,203.0.113.9', 'nsg_name': NSG, 'expires_in': '7 days'}))
    assert {i['Status'] for i in blocked_items(res)} == {'Blocked'}
    puts = arm_writes(emulator, seq)
    assert [w['method'] for w in puts] == ['PUT', 'PUT']          # Inbound and Outbound IPv4: one rule each
    ok(run_at(xsoar, t0 + timedelta(hours=1, minutes=2), 'azure-nsg-block-expire', {'nsg_name': NSG}))
    listed = by_ip(ok(run_at(xsoar, t0 + timedelta(hours=1, minutes=2), 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert sorted(listed) == sorted((ip, d) for ip in ('203.0.113.7', '203.0.113.8', '203.0.113.9')
                                    for d in ('Inbound', 'Outbound'))   # 2001:db8::7 expired, the rest extended


# ------------------------------------------------------------------------------------------ expire under parallel blocks
def test_expire_alongside_parallel_blocks_in_separate_processes_loses_nothing(emulator, tmp_path, t0):
    xsoar = xsoar_in(emulator, tmp_path, incident='901')
    expiring = [f'203.0.113.{i}' for i in range(10, 16)]
    for ip in expiring:        # six 1-hour rules, one per call
        ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': ip, 'nsg_name': NSG, 'direction': 'Inbound',
                                                    'expires_in': '1 hour'}))
    extended = expiring[:2]
    fresh = [f'198.51.100.{i}' for i in range(20, 26)]
    then = t0 + timedelta(hours=1, minutes=5)
    calls = [('azure-nsg-block-expire', {'nsg_name': NSG}), ('azure-nsg-block-expire', {'nsg_name': NSG})]
    calls += [('azure-nsg-block-ip', {'ip': ip, 'nsg_name': NSG, 'direction': 'Inbound',
                                      'expires_in': '7 days' if i % 2 else ''}) for i, ip in enumerate(fresh)]
    calls += [('azure-nsg-block-ip', {'ip': ip, 'nsg_name': NSG, 'direction': 'Inbound', 'expires_in': '7 days'})
              for ip in extended]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(lambda call: run_at(xsoar, then, call[0], call[1], 400), calls))
    assert all(r.ok for r in results), [r.errors for r in results if not r.ok]
    removed = [i['IP'] for r in results[:2] for i in blocked_items(r)]
    assert len(removed) == len(set(removed))                       # no address reported twice
    assert set(expiring) - set(extended) <= set(removed) <= set(expiring)
    assert all({i['Status'] for i in blocked_items(r)} == {'Blocked'} for r in results[2:])
    # What Azure holds: every new and every extended address, each in exactly one rule; nothing expired is left.
    rules = pack_rules(emulator, NSG)
    held = [p for r in rules for p in r['properties']['sourceAddressPrefixes']]
    assert sorted(held) == sorted(fresh + extended)
    assert all(audit_of(r).group('exp') != stamp(t0 + timedelta(hours=1))
               for r in rules)
    seq = last_seq(emulator)
    assert blocked_items(ok(run_at(xsoar, then, 'azure-nsg-block-expire', {'nsg_name': NSG}))) == []
    assert arm_writes(emulator, seq) == []
    listed = by_ip(ok(run_at(xsoar, then, 'azure-nsg-block-list', {'nsg_name': NSG})))
    assert sorted(ip for ip, _ in listed) == sorted(fresh + extended)
    assert {i['Status'] for i in listed.values()} == {'Active'}


# ------------------------------------------------------------------------------------------ block-list
FOREIGN = {'name': 'deny-bad-actors', 'direction': 'Inbound', 'access': 'Deny', 'protocol': '*', 'priority': 400,
           'description': 'made by the network team', 'source_address_prefixes': ['198.51.100.9'],
           'destination_address_prefix': '*', 'source_port_range': '*', 'destination_port_range': '*'}
TAMPERED_TCP = {**FOREIGN, 'name': 'xsoar-block-in-v4-0123456789', 'protocol': 'Tcp', 'priority': 410,
                'description': '[AzureContainment] inc:42 at:20260101T000000Z exp:never planted',
                'source_address_prefixes': ['203.0.113.50']}
# A block written by version 1.0.0 (marker + text, no audit record): still the pack's, permanent, no incident.
V1_BLOCK = {**FOREIGN, 'name': 'xsoar-block-in-v4-abcdefabcd', 'priority': 420,
            'description': '[AzureContainment] blocked by Cortex XSOAR', 'source_address_prefixes': ['203.0.113.51']}


def test_block_list_on_an_nsg_with_foreign_and_tampered_rules(emulator, tmp_path, t0):
    load_changed_scenario(emulator, lambda rg: named(rg['network_security_groups'], NSG)['security_rules'].extend(
        [dict(FOREIGN), dict(TAMPERED_TCP), dict(V1_BLOCK)]))
    xsoar = xsoar_in(emulator, tmp_path, incident='1001')
    ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound',
                                                'expires_in': '1 hour'}))
    ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.50', 'nsg_name': NSG, 'direction': 'Inbound'}))
    seq = last_seq(emulator)
    res = ok(run_at(xsoar, t0 + timedelta(minutes=1), 'azure-nsg-block-list', {'nsg_name': NSG}))
    items = by_ip(res)
    assert sorted(items) == [('203.0.113.50', 'Inbound'), ('203.0.113.51', 'Inbound'), ('203.0.113.7', 'Inbound')]
    assert items[('203.0.113.7', 'Inbound')]['Status'] == 'Active'
    assert items[('203.0.113.7', 'Inbound')]['IncidentID'] == '1001'
    tcp = items[('203.0.113.50', 'Inbound')]
    assert tcp['Status'] == 'Tampered'
    own = [r['name'] for r in holders(emulator, '203.0.113.50') if r['name'] != TAMPERED_TCP['name']]
    assert [tcp['Rule']] == own                                                   # the pack's own block ...
    assert "Rule 'xsoar-block-in-v4-0123456789'" in tcp['Warning']                # ... next to the look-alike
    assert "its protocol is 'Tcp'" in tcp['Warning']
    old = items[('203.0.113.51', 'Inbound')]
    assert (old['Status'], old['Rule'], old['Priority']) == ('Active', V1_BLOCK['name'], 420)
    assert (old['BlockedAt'], old['ExpiresAt'], old['IncidentID']) == (None, None, None)
    assert arm_writes(emulator, seq) == []                                        # read-only
    assert '198.51.100.9' not in res.readable                                    # a foreign rule is not the pack's
    page = ok(run_at(xsoar, t0 + timedelta(hours=2), 'azure-nsg-block-list',
                     {'nsg_name': NSG, 'ip': '203.0.113.0/24', 'limit': '1'}))
    assert [(i['IP'], i['Status']) for i in blocked_items(page)] == [('203.0.113.7', 'Expired')]
    assert 'Showing 1 of 3 addresses' in page.readable
    ok(run_at(xsoar, t0 + timedelta(hours=2), 'azure-nsg-block-expire', {'nsg_name': NSG}))
    names = {r['name'] for r in nsg_rules(emulator, NSG)}
    assert {FOREIGN['name'], TAMPERED_TCP['name']} <= names                      # never touched
    assert not holders(emulator, '203.0.113.7')
    # After an upgrade, expire never removes what 1.0.0 blocked (it is permanent); unblock still does.
    ok(run_at(xsoar, t0 + timedelta(days=400), 'azure-nsg-block-expire', {'nsg_name': NSG}))
    assert [r['name'] for r in holders(emulator, '203.0.113.51')] == [V1_BLOCK['name']]
    ok(run_at(xsoar, t0 + timedelta(days=400), 'azure-nsg-unblock-ip', {'ip': '203.0.113.51', 'nsg_name': NSG,
                                                                      'direction': 'Inbound'}))
    assert holders(emulator, '203.0.113.51') == []
    assert {FOREIGN['name'], TAMPERED_TCP['name']} <= {r['name'] for r in nsg_rules(emulator, NSG)}


def test_block_list_and_expire_refuse_bad_input_before_any_request(emulator, tmp_path, t0):
    xsoar = xsoar_in(emulator, tmp_path)
    seq = last_seq(emulator)
    for command, args, expected in [
            ('azure-nsg-block-ip', {'ip': '203.0.113.7', 'expires_in': '0 hours'}, 'at least one minute'),
            ('azure-nsg-block-ip', {'ip': '203.0.113.7', 'expires_in': '-1 days'}, "Invalid expires_in '-1 days'"),
            ('azure-nsg-block-ip', {'ip': '203.0.113.7', 'expires_in': 'tomorrow'}, "Invalid expires_in 'tomorrow'"),
            ('azure-nsg-block-ip', {'ip': '203.0.113.7', 'expires_in': '99999 weeks'}, 'at most 3650 days'),
            ('azure-nsg-block-list', {'nsg_name': 'edge-nsg,bad/name'}, "Invalid nsg_name 'bad/name'"),
            ('azure-nsg-block-list', {'ip': 'not-an-ip'}, 'not-an-ip'),
            ('azure-nsg-block-expire', {'dry_run': 'maybe'}, "Invalid dry_run 'maybe'")]:
        res = xsoar.run(command, args)
        assert not res.ok
        assert expected in res.errors[0]
    strict = instance(emulator, max_block_days='7')
    res = strict.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'expires_in': '8 days'})
    assert 'at most 7 days (instance param max_block_days' in res.errors[0]
    assert arm_writes(emulator, seq) == []


# ------------------------------------------------------------------------------------------ the audit trail
def test_the_description_limit_keeps_the_audit_record_whole(emulator, tmp_path, t0):
    xsoar = xsoar_in(emulator, tmp_path, incident='90210')
    text = 'Analyst note: ' + 'credential stuffing from a residential proxy network, see the ticket ' * 4
    res = ok(run_at(xsoar, t0, 'azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound',
                                                      'expires_in': '7 days', 'description': text}))
    (rule,) = holders(emulator, '203.0.113.7')
    description = rule['properties']['description']
    assert len(description) == 140
    audit = AUDIT.fullmatch(description)
    assert audit
    assert audit.group('inc') == '90210'
    assert audit.group('exp') == stamp(datetime.strptime(blocked_items(res)[0]['ExpiresAt'], '%Y-%m-%dT%H:%M:%SZ'))
    assert audit.group('text').endswith('...')
    assert text.startswith(audit.group('text')[:-3])                 # the user's text, cut; the audit part whole
    assert '140 characters' in res.readable
    listed = by_ip(ok(run_at(xsoar_in(emulator, tmp_path, state='other.json'), t0, 'azure-nsg-block-list',
                             {'nsg_name': NSG})))
    assert listed[('203.0.113.7', 'Inbound')]['IncidentID'] == '90210'
    assert listed[('203.0.113.7', 'Inbound')]['ExpiresAt'] == blocked_items(res)[0]['ExpiresAt']


def test_the_incident_id_is_recorded_on_rules_isolation_nsgs_and_snapshots(emulator, tmp_path):
    xsoar = xsoar_in(emulator, tmp_path, incident='777')
    started = datetime.now(UTC).replace(microsecond=0)
    block = ok(xsoar.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': NSG, 'direction': 'Inbound'}))
    assert blocked_items(block)[0]['IncidentID'] == '777'
    (rule,) = holders(emulator, '203.0.113.7')
    assert audit_of(rule).group('inc') == '777'
    snap = xsoar.run_polling('azure-vm-snapshot', {'vm_name': 'web-01', 'disks': 'os'})[-1]
    assert snap.ok, snap.errors
    iso_res = ok(xsoar.run('azure-vm-isolate', {'vm_name': 'web-01'}))
    isolation = first(iso_res.context['AzureContainment.Isolation'])
    assert isolation['IncidentID'] == '777'
    assert started <= datetime.strptime(isolation['IsolatedAt'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)
    tags = emulator.resource(f'{NET}/networkSecurityGroups/xsoar-isolation-web-01')['tags']
    assert tags['xsoar-incident-id'] == '777'
    assert tags['xsoar-isolated-at'] == isolation['IsolatedAt']
    snapshots = [r for rid, r in emulator.state()['resources'].items() if '/snapshots/' in rid.lower()]
    assert snapshots
    assert all(s['tags']['xsoar-incident-id'] == '777' and s['tags']['xsoar-snapshot-time'] for s in snapshots)
    items = snap.context['AzureContainment.Snapshot']
    assert {i['IncidentID'] for i in (items if isinstance(items, list) else [items])} == {'777'}
    # A repeat from another incident finds the isolation as wanted: no write, the first incident stays recorded.
    other = xsoar_in(emulator, tmp_path, incident='778')
    again = ok(other.run('azure-vm-isolate', {'vm_name': 'web-01'}))
    assert first(again.context['AzureContainment.Isolation'])['IncidentID'] == '777'
    # Outside an incident (the Playground) the record says none.
    ok(xsoar_in(emulator, tmp_path).run('azure-nsg-block-ip', {'ip': '203.0.113.8', 'nsg_name': NSG,
                                                               'direction': 'Inbound'}))
    assert audit_of(holders(emulator, '203.0.113.8')[0]).group('inc') == 'none'
