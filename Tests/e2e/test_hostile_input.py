"""Issue 9 end to end: alert data (every command argument) is hostile. The integration runs through main() under
Tests/xsoar_local against the emulator; each test asserts what Azure holds afterwards and what was sent (the
emulator's request log): refused input sends nothing, a look-alike rule or a forged record is never acted on, a
changed credential is used at once, a redirect is never followed (the emulator's `redirect` fault).
"""
from __future__ import annotations

import pytest

from Tests.e2e.conftest import cred
from Tests.e2e.support import (COMPUTE, NET, arm_requests, arm_writes, azure_change, blocked_items, change_tags,
                               instance, last_seq, load_changed_scenario, named, network_state, nsg_rules,
                               pack_rules)

ORIGINAL_TAG = 'xsoar-original-nsg'


@pytest.fixture
def xsoar(emulator):
    return instance(emulator)


def isolation_of(res) -> dict:
    out = res.context['AzureContainment.Isolation']
    return out[0] if isinstance(out, list) else out


# ---- block: the admin's limits, refused before any request ----

@pytest.mark.parametrize(('ip', 'fragments'), [
    ('0.0.0.0/1,128.0.0.0/1,::/1,8000::/1', ["'0.0.0.0/1' (contains the unspecified address 0.0.0.0",
                                             "'128.0.0.0/1' (contains multicast (224.0.0.0/4)",
                                             "'8000::/1' (contains multicast (ff00::/8)"]),
    ('1.2.3.4/1', ["'1.2.3.4/1' (", 'is wider than /16, the widest IPv4 block this instance allows (instance param '
                                    'min_block_prefix_v4)']),
    ('10.0.0.0/8', ['is private address space (RFC 1918, 10.0.0.0/8); refused unless the instance param '
                    'allow_internal_block is checked']),
    ('168.63.129.16', ['is the Azure platform address 168.63.129.16']),
    ('168.63.0.0/16', ['contains the Azure platform address 168.63.129.16']),
    ('169.254.169.254', ['is the Azure platform address 169.254.169.254']),
    ('127.0.0.1', ['is loopback (127.0.0.0/8)']),
    ('224.0.0.251', ['is multicast (224.0.0.0/4)']),
])
def test_block_refuses_what_the_policy_refuses_and_sends_nothing(emulator, xsoar, ip, fragments):
    before = network_state(emulator)
    seq = last_seq(emulator)
    res = xsoar.run('azure-nsg-block-ip', {'ip': f'203.0.113.7,{ip}', 'nsg_name': 'edge-nsg'})
    assert len(res.errors) == 1
    for fragment in fragments:
        assert fragment in res.errors[0]
    assert 'Nothing was changed' in res.errors[0]
    refused = sorted({i['IP'] for i in blocked_items(res)})
    assert refused == sorted(ip.split(','))
    assert {i['Status'] for i in blocked_items(res)} == {'Invalid'}
    assert arm_requests(emulator, seq) == []
    assert network_state(emulator) == before


def test_5000_addresses_are_refused_listing_20_and_a_count(emulator, xsoar):
    seq = last_seq(emulator)
    ips = ','.join(f'10.{i // 250}.{i % 250}.9' for i in range(5000))
    res = xsoar.run('azure-nsg-block-ip', {'ip': ips, 'nsg_name': 'edge-nsg'})
    text = res.errors[0]
    assert 'ip has 5000 values: at most 1000 are accepted per call (instance param max_ips_per_call).' in text
    assert text.count("(is private address space") == 20          # in the message (the table has its own escaping)
    assert 'and 4980 more (5000 refused in all)' in text
    assert len(text) < 12_000                                       # was about 65 KB before issue 9
    assert len(blocked_items(res)) == 40
    assert arm_requests(emulator, seq) == []


def test_ipv4_mapped_address_is_blocked_as_ipv4(emulator, xsoar):
    res = xsoar.run('azure-nsg-block-ip', {'ip': '::ffff:203.0.113.50', 'nsg_name': 'edge-nsg'})
    assert res.ok, res.errors
    assert {(i['IP'], i['Status']) for i in blocked_items(res)} == {('203.0.113.50', 'Blocked')}
    rules = pack_rules(emulator, 'edge-nsg')
    assert sorted(r['name'][:len('xsoar-block-in-v4')] for r in rules) == ['xsoar-block-in-v4', 'xsoar-block-out-v']
    assert sorted(p for r in rules for p in r['properties'].get('sourceAddressPrefixes') or []
                  + r['properties'].get('destinationAddressPrefixes') or []) == ['203.0.113.50', '203.0.113.50']


def test_the_admin_widens_the_policy_with_instance_params(emulator):
    strict, relaxed = instance(emulator), instance(emulator, allow_internal_block=True, min_block_prefix_v4='8')
    seq = last_seq(emulator)
    assert not strict.run('azure-nsg-block-ip', {'ip': '10.20.0.0/16,11.0.0.0/8', 'nsg_name': 'edge-nsg'}).ok
    assert arm_requests(emulator, seq) == []
    res = relaxed.run('azure-nsg-block-ip', {'ip': '10.20.0.0/16,11.0.0.0/8', 'nsg_name': 'edge-nsg',
                                             'direction': 'Inbound'})
    assert res.ok, res.errors
    assert sorted(pack_rules(emulator, 'edge-nsg')[0]['properties']['sourceAddressPrefixes']) == [
        '10.20.0.0/16', '11.0.0.0/8']
    res = relaxed.run('azure-nsg-block-ip', {'ip': '169.254.0.0/16', 'nsg_name': 'edge-nsg'})
    assert 'contains the Azure platform address 169.254.169.254' in res.errors[0]   # whatever the params


# ---- ownership is content ----

LOOKALIKE = {'name': 'xsoar-block-in-v4-0123456789', 'direction': 'Inbound', 'access': 'Allow', 'protocol': '*',
             'priority': 300, 'description': '[AzureContainment] looks like ours',
             'source_address_prefixes': ['203.0.113.0/24'], 'destination_address_prefix': '*',
             'source_port_range': '*', 'destination_port_range': '*'}


def test_a_lookalike_rule_is_tampered_never_counted_never_edited(emulator, xsoar):
    load_changed_scenario(emulator, lambda rg: named(rg['network_security_groups'], 'edge-nsg')['security_rules']
                          .append(dict(LOOKALIKE)))
    lookalike = nsg_rules(emulator, 'edge-nsg')
    res = xsoar.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg', 'direction': 'Inbound'})
    assert res.ok, res.errors
    item = blocked_items(res)[0]
    assert item['Status'] == 'Tampered'
    assert "Rule 'xsoar-block-in-v4-0123456789' carries the pack's name or marker" in item['Warning']
    assert "its access is 'Allow', not 'Deny'" in item['Warning']
    own = [r for r in nsg_rules(emulator, 'edge-nsg') if r['name'] != LOOKALIKE['name']]
    assert [r['name'] for r in own] == [item['Rule']]
    assert own[0]['properties']['access'] == 'Deny'
    seq = last_seq(emulator)
    res = xsoar.run('azure-nsg-unblock-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg', 'direction': 'Inbound'})
    assert blocked_items(res)[0]['Status'] == 'Tampered'
    assert not [w for w in arm_writes(emulator, seq) if LOOKALIKE['name'] in w['path']]
    assert nsg_rules(emulator, 'edge-nsg') == lookalike


# ---- isolate: forensic limits, forensic rules shown ----

@pytest.mark.parametrize(('args', 'fragment'), [
    ({'allow_ip': '0.0.0.0/1,128.0.0.0/1', 'allow_ports': '0-65535'}, 'is wider than /24'),
    ({'allow_ip': '198.51.100.10', 'allow_ports': '0-65535'}, 'allow_ports opens 65536 TCP ports'),
    ({'allow_ip': ','.join(f'198.51.100.{i}' for i in range(20, 31))}, 'allow_ip has 11 values: at most 10'),
    ({'allow_ip': '2001:db8::/48'}, 'is wider than /64'),
])
def test_forensic_access_beyond_the_limits_is_refused_before_any_request(emulator, xsoar, args, fragment):
    before = network_state(emulator)
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-isolate', {'vm_name': 'web-01', **args})
    assert fragment in res.errors[0]
    assert arm_requests(emulator, seq) == []
    assert network_state(emulator) == before


def test_forensic_rules_are_in_the_readable_the_context_and_the_dry_run(emulator, xsoar):
    args = {'vm_name': 'web-01', 'allow_ip': '198.51.100.10,10.20.30.0/24', 'allow_ports': '22,5985-5986'}
    expected = [{'Name': 'xsoar-forensic-allow-in-v4', 'Priority': 100, 'Protocol': 'Tcp',
                 'SourceAddressPrefixes': ['10.20.30.0/24', '198.51.100.10'],
                 'DestinationPortRanges': ['22', '5985-5986']}]
    before = network_state(emulator)
    dry = xsoar.run('azure-vm-isolate', {**args, 'dry_run': 'true'})
    assert network_state(emulator) == before
    done = xsoar.run('azure-vm-isolate', args)
    for res, status in ((dry, 'WouldIsolate'), (done, 'Isolated')):
        assert isolation_of(res)['Status'] == status
        assert isolation_of(res)['ForensicRules'] == expected
        assert '| xsoar-forensic-allow-in-v4 | 100 | Tcp | 10.20.30.0/24, 198.51.100.10 | 22, 5985-5986 |' in res.readable
    rules = {r['name']: r['properties'] for r in nsg_rules(emulator, 'xsoar-isolation-web-01')}
    assert rules['xsoar-forensic-allow-in-v4']['destinationPortRanges'] == ['22', '5985-5986']


# ---- unisolate: trust only the pack's record ----

def test_a_vm_that_was_never_isolated_is_never_changed(emulator, xsoar):
    planted = f'{NET}/networkSecurityGroups/edge-nsg'
    load_changed_scenario(emulator, lambda rg: named(rg['network_interfaces'], 'web-02-nic0').update(
        tags={ORIGINAL_TAG: planted}))
    before = network_state(emulator)
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-unisolate', {'vm_name': 'web-02'})
    assert res.ok, res.errors
    assert isolation_of(res)['Status'] == 'NotIsolated'
    assert 'web-02-nic0 carries the tag xsoar-original-nsg' in isolation_of(res)['Warning']
    assert arm_writes(emulator, seq) == []
    assert network_state(emulator) == before
    assert xsoar.run('azure-vm-get', {'vm_name': 'web-02'}).context['AzureContainment.VM'][0]['Isolated'] is False


def test_a_nic_tag_edited_after_isolation_is_refused_then_healed_by_isolate(emulator, xsoar):
    before = network_state(emulator)
    assert xsoar.run('azure-vm-isolate', {'vm_name': 'web-01'}).ok
    change_tags(emulator, f'{NET}/networkInterfaces/web-01-nic1',
                lambda tags: tags.update({ORIGINAL_TAG: f'{NET}/networkSecurityGroups/edge-nsg'}))
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-unisolate', {'vm_name': 'web-01'})
    assert 'web-01-nic1: the records of its original NSG disagree' in res.errors[0]
    assert 'nothing was changed' in res.errors[0]
    assert arm_writes(emulator, seq) == []
    for nic in ('web-01-nic0', 'web-01-nic1'):   # both still isolated
        body = emulator.resource(f'{NET}/networkInterfaces/{nic}')
        assert body['properties']['networkSecurityGroup']['id'].lower().endswith('/xsoar-isolation-web-01')
    healed = xsoar.run('azure-vm-isolate', {'vm_name': 'web-01'})
    assert isolation_of(healed)['Status'] == 'Isolated'
    tag = emulator.resource(f'{NET}/networkInterfaces/web-01-nic1')['tags'][ORIGINAL_TAG]
    assert tag.lower() == f'{NET}/networkSecurityGroups/web-nsg'.lower()
    assert xsoar.run('azure-vm-unisolate', {'vm_name': 'web-01'}).ok
    assert network_state(emulator) == before


def test_a_tampered_isolation_nsg_is_refused(emulator, xsoar):
    assert xsoar.run('azure-vm-isolate', {'vm_name': 'web-01'}).ok
    azure_change(emulator, 'PUT', f'{NET}/networkSecurityGroups/xsoar-isolation-web-01/securityRules/let-me-in',
                 {'properties': {'direction': 'Inbound', 'access': 'Allow', 'protocol': '*', 'priority': 200,
                                 'sourceAddressPrefix': '*', 'sourcePortRange': '*',
                                 'destinationAddressPrefix': '*', 'destinationPortRange': '*'}})
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-unisolate', {'vm_name': 'web-01'})
    assert "is not what the pack writes (rule 'let-me-in' is not one the pack writes)" in res.errors[0]
    assert arm_writes(emulator, seq) == []


def test_a_deleted_original_nsg_fails_safe_and_detaches_on_request(emulator, xsoar):
    def solo(rg: dict) -> None:
        rg['network_security_groups'].append({'name': 'solo-nsg', 'security_rules': []})
        named(rg['network_interfaces'], 'db-01-nic0')['network_security_group'] = 'solo-nsg'
    load_changed_scenario(emulator, solo)
    vm_id = f'{COMPUTE}/virtualMachines/db-01'
    assert xsoar.run('azure-vm-isolate', {'vm_id': vm_id}).ok
    azure_change(emulator, 'DELETE', f'{NET}/networkSecurityGroups/solo-nsg')
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-unisolate', {'vm_id': vm_id})
    assert 'db-01-nic0: its original NSG solo-nsg' in res.errors[0]
    assert 'detach_missing_original=true' in res.errors[0]
    assert arm_writes(emulator, seq) == []
    res = xsoar.run('azure-vm-unisolate', {'vm_id': vm_id, 'detach_missing_original': 'true'})
    assert res.ok, res.errors
    assert isolation_of(res)['Status'] == 'Released'
    nic = emulator.resource(f'{NET}/networkInterfaces/db-01-nic0')
    assert 'networkSecurityGroup' not in nic['properties'] or not nic['properties']['networkSecurityGroup']
    assert ORIGINAL_TAG not in (nic.get('tags') or {})
    assert emulator.resource(f'{NET}/networkSecurityGroups/xsoar-isolation-db-01') is None


# ---- the token cache follows the credential ----

def test_a_changed_key_takes_effect_at_once_and_test_checks_it(emulator, make_params):
    good = make_params()
    first = instance(emulator)
    first.params = good
    assert first.run('test-module').ok
    seq = last_seq(emulator)
    assert first.run('test-module').ok
    assert not [e for e in emulator.request_log(seq) if e['path'].endswith('/oauth2/v2.0/token')]   # cached
    first.params = {**good, 'enc_key': cred('a-wrong-key-typed-by-the-admin')}
    seq = last_seq(emulator)
    res = first.run('test-module')
    assert 'AADSTS7000215' in res.errors[0]
    assert [e for e in emulator.request_log(seq) if e['path'].endswith('/oauth2/v2.0/token')]
    assert 'a-wrong-key-typed-by-the-admin' not in str(first.integration_context)
    first.params = good
    seq = last_seq(emulator)
    assert first.run('test-module').ok
    assert [e for e in emulator.request_log(seq) if e['path'].endswith('/oauth2/v2.0/token')]
    assert len(first.integration_context['azure_containment_auth']) == 1


# ---- state and output ----

def test_a_far_future_lease_does_not_block_unblock_for_ever(emulator, xsoar):
    assert xsoar.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg'}).ok
    key = f'{NET}/networkSecurityGroups/edge-nsg'.lower()
    xsoar.integration_context = {**xsoar.integration_context,
                                 'azure_containment_leases': {key: {'owner': 'ghost', 'expires': 9.9e12}}}
    res = xsoar.run('azure-nsg-unblock-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg'})
    assert res.ok, res.errors
    assert pack_rules(emulator, 'edge-nsg') == []
    assert 'azure_containment_leases' not in xsoar.integration_context


def test_a_lookalike_unicode_name_says_so_and_limit_below_one_is_refused(emulator, xsoar):
    res = xsoar.run('azure-vm-get', {'vm_name': 'w\u0435b-01'})
    assert 'U+0435 CYRILLIC SMALL LETTER IE' in res.errors[0]
    assert 'a different resource' in res.errors[0]
    seq = last_seq(emulator)
    for limit in ('0', '-1'):
        res = xsoar.run('azure-vm-list', {'limit': limit})
        assert f"Invalid limit '{limit}': expected a whole number of at least 1" in res.errors[0]
    assert arm_requests(emulator, seq) == []


def test_without_a_default_resource_group_permissions_are_reported_unchecked(emulator):
    no_rg = instance(emulator, resource_group='')
    seq = last_seq(emulator)
    assert no_rg.run('test-module').ok
    res = no_rg.run('azure-containment-auth-test')
    assert 'Permissions: NOT checked' in res.readable
    assert not [e for e in arm_requests(emulator, seq) if 'Microsoft.Authorization' in e['path']]


# ---- no redirect is ever followed ----

@pytest.mark.parametrize(('mode', 'method', 'path', 'status', 'command'), [
    ('secret', 'POST', '/oauth2/v2.0/token', 307, 'test-module'),
    ('secret', 'GET', '/.well-known/openid-configuration', 301, 'test-module'),
    ('certificate', 'POST', '/oauth2/v2.0/token', 308, 'test-module'),
    ('managed_identity', 'GET', '/metadata/identity/oauth2/token', 307, 'test-module'),
    ('xsoar_app', 'POST', '/obtain-token', 308, 'test-module'),
    ('secret', 'GET', '/providers/Microsoft.Compute/virtualMachines', 302, 'azure-vm-list'),
])
def test_a_redirect_is_an_error_naming_its_host_and_nothing_is_resent(emulator, make_instance, mode, method, path,
                                                                      status, command):
    # The target is the emulator's other listener, so a request that followed the redirect would be in its log.
    arm_side = path.startswith('/providers')
    target = f"{emulator.login_url if arm_side else emulator.arm_url}/redirect-target/steal"
    emulator.inject_fault('redirect', method=method, path_contains=path, status=status, location=target,
                          listener='arm' if arm_side else 'login')
    before = network_state(emulator)
    seq = last_seq(emulator)
    res = make_instance(mode=mode).run(command)
    assert len(res.errors) == 1
    host = target.split('/redirect-target', 1)[0]
    assert f'answered HTTP {status} with a redirect to {host}.' in res.errors[0]
    assert 'never follows a redirect' in res.errors[0]
    log = emulator.request_log(seq)
    assert not [e for e in log if 'redirect-target' in e['path']]
    assert len([e for e in log if e['method'] == method and path in e['path']]) == 1   # sent once, not re-sent
    assert network_state(emulator) == before


def test_a_redirected_write_is_not_resent_and_nothing_changes(emulator, xsoar):
    target = f'{emulator.login_url}/redirect-target/rule'
    emulator.inject_fault('redirect', method='PUT', path_contains='/securityRules/', status=307, location=target)
    before = network_state(emulator)
    seq = last_seq(emulator)
    res = xsoar.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg', 'direction': 'Inbound'})
    assert 'redirect to https://' in res.errors[0]
    writes = arm_writes(emulator, seq)
    assert [w['method'] for w in writes] == ['PUT']
    assert not [e for e in emulator.request_log(seq) if 'redirect-target' in e['path']]
    assert network_state(emulator) == before
