"""Containment you can prove, end to end: the isolation verdict read from what the emulator's Azure enforces (effective
security rules of each NIC, Virtual Network Manager security admin rules of its VNet), the platform-service deny
rules of the isolation NSG, and what a block protects. Every verdict and every kind of bypass, asserted by the rule it
names and by what the emulator holds."""
from __future__ import annotations

import pytest

from Tests.azure_emulator.scenario import load_scenario
from Tests.e2e.support import NET, arm_requests, azure_change, blocked_items, instance, last_seq, nsg_rules

APP_SUB = 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff'
APP_RG = 'soc-app-rg'
APP_NET = f'/subscriptions/{APP_SUB}/resourceGroups/{APP_RG}/providers/Microsoft.Network'
PLATFORM = {'xsoar-isolation-deny-platform-dns': ('AzurePlatformDNS', '*', '53', 4093),
            'xsoar-isolation-deny-platform-imds': ('AzurePlatformIMDS', 'Tcp', '80', 4094),
            'xsoar-isolation-deny-platform-lkm': ('AzurePlatformLKM', 'Tcp', '1688', 4095)}
EFFECTIVE_ACTION = 'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action'
ADMIN_ACTION = 'Microsoft.Network/virtualNetworks/listNetworkManagerEffectiveSecurityAdminRules/action'


@pytest.fixture
def xsoar(emulator):
    return instance(emulator)


@pytest.fixture
def apps(emulator):
    """An instance in subscription SOC Apps (app-01 behind the AlwaysAllow admin rule of platform-avnm)."""
    return instance(emulator, subscription_id=APP_SUB, resource_group=APP_RG)


def one(value):
    return value[0] if isinstance(value, list) else value


def verification(result, key='AzureContainment.Isolation') -> dict:
    return one(result.context[key])['Verification']


def check(found: dict, name: str) -> dict:
    return next(c for c in found['Checks'] if c['Name'] == name)


def bypass_rules(found: dict) -> dict[str, dict]:
    return {b['Rule']: b for b in found['Bypasses']}


def platform_rules(emu, nsg: str) -> dict:
    return {r['name']: (r['properties']['destinationAddressPrefix'], r['properties']['protocol'],
                        r['properties']['destinationPortRange'], r['properties']['priority'])
            for r in nsg_rules(emu, nsg) if r['properties']['direction'] == 'Outbound'
            and r['properties']['access'] == 'Deny' and r['name'] != 'xsoar-isolation-deny-all-out'}


def effective_posts(emu, seq: int) -> list[str]:
    return [e['path'].split('?')[0].rsplit('/', 2)[-2] for e in arm_requests(emu, seq)
            if e['method'] == 'POST' and e['path'].split('?')[0].endswith('/effectiveNetworkSecurityGroups')]


# ---- Verified, and the platform services ----

def test_isolation_denies_the_platform_services_and_is_verified(emulator, xsoar):
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-isolate', {'vm_name': 'web-01', 'allow_ip': '198.51.100.0/24'})
    assert res.ok, res.errors
    assert platform_rules(emulator, 'xsoar-isolation-web-01') == PLATFORM   # what the emulator holds
    found = verification(res)
    assert found['Verdict'] == 'Verified'
    assert found['Bypasses'] == []
    assert check(found, 'Platform services')['Result'] == 'Passed'
    for nic in ('web-01-nic0', 'web-01-nic1'):
        assert check(found, f'Effective security rules of {nic}')['Result'] == 'Passed'
    assert check(found, 'Security admin rules of VNet soc-vnet')['Result'] == 'Passed'
    assert sorted(effective_posts(emulator, seq)) == ['web-01-nic0', 'web-01-nic1']   # one read per NIC
    assert 'What stays reachable' in res.readable
    assert 'WireServer 168.63.129.16' in res.readable
    assert 'Verification: Verified' in res.readable
    get = xsoar.run('azure-vm-get', {'vm_name': 'web-01'})   # the same verdict when read again
    assert verification(get, 'AzureContainment.VM')['Verdict'] == 'Verified'
    assert xsoar.run('azure-vm-unisolate', {'vm_name': 'web-01'}).ok   # the variant the pack writes is its own


def test_platform_services_stay_denied_when_alert_data_asks_unless_the_admin_allows_it(emulator, xsoar):
    """allow_platform_services comes from alert data: an instance whose admin did not check
    allow_platform_services_on_request refuses it with an error entry and sends nothing to Azure."""
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-isolate', {'vm_name': 'web-02', 'allow_platform_services': 'true'})
    assert not res.ok
    assert len(res.errors) == 1
    assert "allow_platform_services is 'true'" in res.errors[0]
    assert 'Let an isolation leave the Azure platform services open on request' in res.errors[0]
    assert 'Nothing was changed' in res.errors[0]
    assert arm_requests(emulator, seq) == []
    assert emulator.resource(f'{NET}/networkSecurityGroups/xsoar-isolation-web-02') is None


def test_platform_services_left_open_on_request_still_verified(emulator):
    xsoar = instance(emulator, allow_platform_services_on_request=True)
    res = xsoar.run('azure-vm-isolate', {'vm_name': 'web-02', 'allow_platform_services': 'true'})
    assert res.ok, res.errors
    assert platform_rules(emulator, 'xsoar-isolation-web-02') == {}   # no platform deny rule in Azure
    assert {r['name'] for r in nsg_rules(emulator, 'xsoar-isolation-web-02')} == {
        'xsoar-isolation-deny-all-in', 'xsoar-isolation-deny-all-out'}
    found = verification(res)
    assert found['Verdict'] == 'Verified'
    platform = check(found, 'Platform services')
    assert platform['Result'] == 'LeftOpen'
    assert 'on request' in platform['Detail']
    assert 'left open on request (allow_platform_services=true)' in res.readable
    get = xsoar.run('azure-vm-get', {'vm_name': 'web-02'})
    assert check(verification(get, 'AzureContainment.VM'), 'Platform services')['Result'] == 'LeftOpen'
    again = xsoar.run('azure-vm-isolate', {'vm_name': 'web-02'})   # default again: the deny rules are written
    assert again.ok, again.errors
    assert platform_rules(emulator, 'xsoar-isolation-web-02') == PLATFORM
    release = xsoar.run('azure-vm-unisolate', {'vm_name': 'web-02'})
    assert release.ok, release.errors
    assert emulator.resource(f'{NET}/networkSecurityGroups/xsoar-isolation-web-02') is None


def test_only_some_platform_rules_is_not_the_packs_isolation_nsg(emulator, xsoar):
    """The ownership check accepts the two variants the pack writes and nothing else: with one platform rule
    removed, unisolate refuses to touch the NSG."""
    assert xsoar.run('azure-vm-isolate', {'vm_name': 'web-02'}).ok
    azure_change(emulator, 'DELETE',
                 f'{NET}/networkSecurityGroups/xsoar-isolation-web-02/securityRules/xsoar-isolation-deny-platform-lkm')
    res = xsoar.run('azure-vm-unisolate', {'vm_name': 'web-02'})
    assert not res.ok
    assert 'only some of the platform deny rules' in res.errors[0]
    nic = emulator.resource(f'{NET}/networkInterfaces/web-02-nic0')
    assert nic['properties']['networkSecurityGroup']['id'].endswith('/xsoar-isolation-web-02')   # nothing changed


# ---- Bypassed ----

def test_always_allow_admin_rule_bypasses_the_isolation(emulator, apps):
    res = apps.run('azure-vm-isolate', {'vm_name': 'app-01', 'allow_ip': '198.51.100.0/24'})
    assert res.ok, res.errors   # a warning in the entry, not an error
    found = verification(res)
    assert found['Verdict'] == 'Bypassed'
    admin = bypass_rules(found)['always-allow-vendor-rdp']
    assert (admin['Source'], admin['Direction']) == ('SecurityAdminRule', 'Inbound')
    assert 'platform-avnm' in admin['Detail']
    assert 'Internet' in admin['Detail']
    assert '3389' in admin['Detail']
    assert check(found, 'Security admin rules of VNet app-vnet')['Result'] == 'Bypassed'
    assert check(found, 'Effective security rules of app-01-nic0')['Result'] == 'Passed'   # the NSGs hold
    assert 'always-allow-vendor-rdp' in one(res.context['AzureContainment.Isolation'])['Warning']
    # the forensic allow is blocked by the subnet NSG (it admits only HTTPS): a note names that rule
    forensic = check(found, 'Forensic access to app-01-nic0')
    assert forensic['Result'] == 'Note'
    assert 'app-subnet-nsg/DenyAllInBound' in forensic['Detail']
    nic = emulator.resource(f'{APP_NET}/networkInterfaces/app-01-nic0')
    assert nic['properties']['networkSecurityGroup']['id'].endswith('/xsoar-isolation-app-01')   # still isolated
    get = apps.run('azure-vm-get', {'vm_name': 'app-01'})
    assert get.ok
    assert 'always-allow-vendor-rdp' in bypass_rules(verification(get, 'AzureContainment.VM'))


def test_allow_rule_added_to_the_isolation_nsg_is_an_effective_bypass(emulator, xsoar):
    assert xsoar.run('azure-vm-isolate', {'vm_name': 'web-02'}).ok
    azure_change(emulator, 'PUT', f'{NET}/networkSecurityGroups/xsoar-isolation-web-02/securityRules/backdoor', {
        'properties': {'priority': 200, 'direction': 'Inbound', 'access': 'Allow', 'protocol': 'Tcp',
                       'sourceAddressPrefix': 'Internet', 'sourcePortRange': '*', 'destinationAddressPrefix': '*',
                       'destinationPortRange': '8080'}})
    res = xsoar.run('azure-vm-get', {'vm_name': 'web-02'})
    assert res.ok, res.errors
    found = verification(res, 'AzureContainment.VM')
    assert found['Verdict'] == 'Bypassed'
    backdoor = bypass_rules(found)['xsoar-isolation-web-02/backdoor']
    assert (backdoor['Source'], backdoor['Direction']) == ('EffectiveSecurityRule', 'Inbound')
    assert '8080' in backdoor['Detail']
    assert 'web-02-nic0' in backdoor['Detail']
    assert 'backdoor' in one(res.context['AzureContainment.VM'])['Warning']


def test_nic_put_back_on_a_shared_nsg_is_an_effective_bypass(emulator, xsoar):
    """Someone moved one NIC of the isolated web-01 back onto web-nsg: its allow rules and Azure's defaults admit
    traffic again, named one by one; the other NIC is still verified."""
    assert xsoar.run('azure-vm-isolate', {'vm_name': 'web-01'}).ok
    nic = azure_change(emulator, 'GET', f'{NET}/networkInterfaces/web-01-nic1')
    nic['properties']['networkSecurityGroup'] = {'id': f'{NET}/networkSecurityGroups/web-nsg'}
    azure_change(emulator, 'PUT', f'{NET}/networkInterfaces/web-01-nic1', {k: v for k, v in nic.items() if k != 'etag'})
    res = xsoar.run('azure-vm-get', {'vm_name': 'web-01'})
    found = verification(res, 'AzureContainment.VM')
    assert found['Verdict'] == 'Bypassed'
    rules = bypass_rules(found)
    assert rules['web-nsg/allow-https-in']['Direction'] == 'Inbound'
    assert 'web-01-nic1' in rules['web-nsg/allow-https-in']['Detail']
    assert 'web-nsg/AllowInternetOutBound' in rules
    assert {b['Rule'] for b in found['Bypasses'] if b['Source'] == 'PlatformService'} == {
        'AzurePlatformDNS', 'AzurePlatformIMDS', 'AzurePlatformLKM'}   # web-nsg does not deny them
    assert check(found, 'Effective security rules of web-01-nic0')['Result'] == 'Passed'
    assert check(found, 'Effective security rules of web-01-nic1')['Result'] == 'Bypassed'


# ---- Unverifiable ----

def test_vm_not_running_is_unverifiable_without_asking(emulator, xsoar):
    seq = last_seq(emulator)
    res = xsoar.run('azure-vm-isolate', {'vm_name': 'db-01'})   # deallocated in the scenario
    assert res.ok, res.errors
    found = verification(res)
    assert found['Verdict'] == 'Unverifiable'
    nic = check(found, 'Effective security rules of db-01-nic0')
    assert nic['Result'] == 'Unverifiable'
    assert 'not running' in nic['Detail']
    assert 'deallocated' in nic['Detail']
    assert effective_posts(emulator, seq) == []   # Azure would refuse it: not even asked
    assert check(found, 'Security admin rules of VNet soc-vnet')['Result'] == 'Passed'   # still read


def test_missing_permission_is_unverifiable_naming_the_action(emulator):
    """An identity that may isolate but lacks the two read actions: containment works, the verdict names them."""
    scenario = load_scenario(emulator.initial_scenario)
    scenario['custom_roles'] = [{'name': 'Containment Only', 'actions': [
        'Microsoft.Compute/virtualMachines/*', 'Microsoft.Network/networkSecurityGroups/*',
        'Microsoft.Network/networkInterfaces/read', 'Microsoft.Network/networkInterfaces/write',
        'Microsoft.Network/virtualNetworks/read', 'Microsoft.Network/virtualNetworks/subnets/read',
        'Microsoft.Network/virtualNetworks/subnets/join/action']}]
    scenario['role_assignments'].append({'principal': 'soc-reader', 'role': 'Containment Only',
                                         'scope': '/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'})
    emulator.reset(scenario)
    res = instance(emulator, app='soc-reader').run('azure-vm-isolate', {'vm_name': 'web-02'})
    assert res.ok, res.errors
    nic = emulator.resource(f'{NET}/networkInterfaces/web-02-nic0')
    assert nic['properties']['networkSecurityGroup']['id'].endswith('/xsoar-isolation-web-02')   # contained
    found = verification(res)
    assert found['Verdict'] == 'Unverifiable'
    effective = check(found, 'Effective security rules of web-02-nic0')
    assert effective['Result'] == 'Unverifiable'
    assert EFFECTIVE_ACTION in effective['Detail']
    admin = check(found, 'Security admin rules of VNet soc-vnet')
    assert admin['Result'] == 'Unverifiable'
    assert ADMIN_ACTION in admin['Detail']


# ---- block: what the NSG protects ----

def test_block_on_an_unattached_nsg_warns(emulator, xsoar):
    res = xsoar.run('azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg'})
    assert res.ok, res.errors
    items = blocked_items(res)
    assert {i['Status'] for i in items} == {'Blocked'}
    for item in items:
        assert (item['ProtectedSubnetCount'], item['ProtectedNICCount']) == (0, 0)
        assert 'attached to no subnet and no network interface' in item['Warning']
    assert 'edge\\-nsg protects 0 subnet' in res.readable


def test_block_says_what_it_protects(emulator, xsoar):
    res = xsoar.run('azure-nsg-block-ip', {'ip': '192.0.2.44', 'nsg_name': 'web-nsg', 'direction': 'Outbound'})
    assert res.ok, res.errors
    [item] = blocked_items(res)
    assert item['ProtectedNICCount'] == 3
    assert sorted(item['ProtectedNICs']) == ['web-01-nic0', 'web-01-nic1', 'web-02-nic0']
    assert item['ProtectedSubnetCount'] == 0
    assert not item.get('Warning')


def test_always_allow_admin_rule_shadows_a_block(emulator, apps):
    # a public address (the Internet tag has no documentation ranges in it)
    res = apps.run('azure-nsg-block-ip', {'ip': '20.30.40.50', 'nsg_name': 'app-subnet-nsg'})
    assert res.ok, res.errors
    items = {i['Direction']: i for i in blocked_items(res)}
    assert items['Inbound']['ProtectedSubnets'] == ['app-subnet']
    assert items['Inbound']['ProtectedSubnetCount'] == 1
    warning = items['Inbound']['Warning']
    assert 'always-allow-vendor-rdp' in warning
    assert 'is evaluated before the block' in warning   # what the Block Attacker IPs playbook stops for
    assert 'allow-https-in' in warning   # the NSG's own shadowing allow rule, as before
    assert 'always-allow-vendor-rdp' not in (items['Outbound'].get('Warning') or '')   # an inbound admin rule
