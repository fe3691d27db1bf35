"""azure-vm-find and azure-vm-snapshot end to end: the integration as XSOAR runs it, against the emulator's Azure
Resource Graph (its KQL subset, paging, quota, RBAC), managed disks and snapshots. Every test checks what Azure
holds afterwards and what was sent (the request log): one Resource Graph query per batch of values, no walk over VM
or NIC lists, no snapshot written twice.

The `forensics` scenario adds what finding and evidence meet: a private IP reused in a second subscription
(branch-01 at web-01's 10.0.1.4), a computer name that is another VM's name (jump-01 is "web-02"), a dual-stack NIC
with a public IPv6, unmanaged and ephemeral OS disks, an evidence resource group.
"""
from __future__ import annotations

import copy
import re

import pytest

from Tests.azure_emulator.scenario import load_scenario
from Tests.e2e.conftest import SUBSCRIPTION
from Tests.e2e.support import COMPUTE, arm_requests, arm_writes, instance, last_seq, network_state
from Tests.xsoar_local.harness import new_incident

GRAPH = '/providers/microsoft.resourcegraph/resources'
BRANCH_SUB = 'bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee'   # forensics: "SOC Branch", soc-responder reads it
EVIDENCE_RG = 'soc-evidence-rg'
WEB_01 = f'{COMPUTE}/virtualMachines/web-01'
INCIDENT = '4242'
POLL_CAP = 0.2   # seconds between polls (the emulator's snapshots take half a second)


def scenario(name: str = 'default', **settings) -> dict:
    """A scenario with some settings changed (graph_page_size=1000: one page per query, as in Azure)."""
    loaded = copy.deepcopy(load_scenario(name))
    loaded.setdefault('settings', {}).update(settings)
    return loaded


@pytest.fixture
def one_page(emulator):
    """The default scenario with Azure's Resource Graph page size: a request is a query."""
    emulator.reset(scenario(graph_page_size=1000))
    return emulator


@pytest.fixture
def forensics(emulator):
    emulator.reset(scenario('forensics', graph_page_size=1000))
    return emulator


def find(emu, **args):
    result = instance(emu).run('azure-vm-find', args)
    assert result.ok, result.errors
    items = result.context['AzureContainment.Find']
    return {i['Value']: i for i in (items if isinstance(items, list) else [items])}, result


def graph_posts(emu, seq):
    return [e for e in arm_requests(emu, seq) if e['method'] == 'POST' and e['path'].lower() == GRAPH]


def vm_ids(item):
    return sorted(v['ID'].lower() for v in item['VMs'])


# ------------------------------------------------------------------------------------------ azure-vm-find
@pytest.mark.parametrize(('args', 'value', 'vm', 'matched_by'), [
    ({'ip': '10.0.1.5'}, '10.0.1.5', 'web-01', 'PrivateIP'),
    ({'ip': '192.0.2.10'}, '192.0.2.10', 'web-01', 'PublicIP'),
    ({'hostname': 'WEB-02'}, 'WEB-02', 'web-02', 'VMName'),
    ({'hostname': 'SQLPROD01'}, 'SQLPROD01', 'db-01', 'ComputerName'),
])
def test_find_each_way_with_one_query_and_no_list_walk(one_page, args, value, vm, matched_by):
    seq = last_seq(one_page)
    items, result = find(one_page, **args)
    item = items[value]
    assert (item['Status'], item['MatchedBy'], item['Count']) == ('Found', matched_by, 1)
    assert [v['Name'] for v in item['VMs']] == [vm]
    found = result.context['AzureContainment.VM']
    found = found if isinstance(found, list) else [found]
    assert [v['Name'] for v in found] == [vm]
    requests = arm_requests(one_page, seq)
    assert [(e['method'], e['path'].lower()) for e in requests] == [('POST', GRAPH)]   # nothing but the query
    assert requests[0]['status'] == 200


def test_find_a_vm_with_every_field_of_vm_get(one_page):
    items, _ = find(one_page, ip='10.0.1.4')
    vm = items['10.0.1.4']['VMs'][0]
    get = instance(one_page).run('azure-vm-get', {'vm_name': 'web-01'}).context['AzureContainment.VM']
    get = get[0] if isinstance(get, list) else get
    for field in ('Name', 'ID', 'ResourceGroup', 'Location', 'Size', 'PowerState', 'Isolated'):
        assert vm[field] == get[field], field
    assert [(n['Name'], n['NSG'], n['PrivateIP']) for n in vm['NICs']] == [
        (n['Name'], n['NSG'], n['PrivateIP']) for n in get['NICs']]
    assert [n['PublicIP'] for n in vm['NICs']] == [None, '192.0.2.10']


def test_find_never_matches_a_part_of_a_value(one_page):
    seq = last_seq(one_page)
    items, result = find(one_page, ip='10.0.1.40,192.0.2.1', hostname='web,web-0,eb-01,web-01.contoso.com,sqlprod')
    assert {v: i['Status'] for v, i in items.items()} == dict.fromkeys(
        ['10.0.1.40', '192.0.2.1', 'web', 'web-0', 'eb-01', 'web-01.contoso.com', 'sqlprod'], 'NotFound')
    assert 'AzureContainment.VM' not in result.context
    assert len(graph_posts(one_page, seq)) == 1


def test_find_ambiguous_lists_every_candidate_and_chooses_none(forensics):
    items, result = find(forensics, hostname='web-02', ip='10.0.1.9')
    ambiguous = items['web-02']
    assert (ambiguous['Status'], ambiguous['Count'], ambiguous['MatchedBy']) == ('Ambiguous', 2,
                                                                                   'VMName, ComputerName')
    assert vm_ids(ambiguous) == sorted([f'{COMPUTE}/virtualMachines/web-02'.lower(),
                                        f'{COMPUTE}/virtualMachines/jump-01'.lower()])
    assert items['10.0.1.9']['Status'] == 'Found'
    found = result.context['AzureContainment.VM']
    assert [v['Name'] for v in (found if isinstance(found, list) else [found])] == ['jump-01']


def test_find_scope_all_searches_every_readable_subscription(forensics):
    items, _ = find(forensics, ip='10.0.1.4', hostname='branch-01')
    assert (items['10.0.1.4']['Status'], items['branch-01']['Status']) == ('Found', 'NotFound')
    seq = last_seq(forensics)
    items, _ = find(forensics, ip='10.0.1.4', hostname='branch-01,web-02', scope='all')
    assert items['10.0.1.4']['Status'] == 'Ambiguous'   # the same private address in both subscriptions
    assert {v['SubscriptionID'] for v in items['10.0.1.4']['VMs']} == {SUBSCRIPTION, BRANCH_SUB}
    assert (items['branch-01']['Status'], items['branch-01']['VMs'][0]['SubscriptionID']) == ('Found', BRANCH_SUB)
    assert items['web-02']['Count'] == 3   # web-02 in both subscriptions and jump-01's computer name
    requests = [(e['method'], e['path'].lower()) for e in arm_requests(forensics, seq)]
    assert requests[-1] == ('POST', GRAPH)   # one query for every subscription, after listing them (ARM pages)
    assert set(requests[:-1]) == {('GET', '/subscriptions')}


def test_find_ipv6_private_and_public_in_any_spelling(forensics):
    items, _ = find(forensics, ip='FD00:DB8:1:0:0:0:0:8,2001:0db8:0001::0008')
    assert (items['FD00:DB8:1:0:0:0:0:8']['Status'], items['FD00:DB8:1:0:0:0:0:8']['MatchedBy']) == ('Found',
                                                                                                    'PrivateIP')
    assert (items['2001:0db8:0001::0008']['Status'], items['2001:0db8:0001::0008']['MatchedBy']) == ('Found',
                                                                                                    'PublicIP')
    assert {i['VMs'][0]['Name'] for i in items.values()} == {'ephemeral-01'}


@pytest.mark.parametrize('args', [
    {'ip': "10.0.1.4' or name != 'x"},
    {'hostname': "web-01') | project id //"},
    {'hostname': 'web-01" or 1 == 1'},
    {'ip': '10.0.1.4', 'hostname': 'web-02 | take 1'},
])
def test_find_refuses_a_value_that_would_change_the_query_before_any_request(one_page, args):
    seq = last_seq(one_page)
    result = instance(one_page).run('azure-vm-find', args)
    assert not result.ok
    bad = args['hostname'] if 'hostname' in args else args['ip']
    assert repr(bad) in result.errors[0]
    assert 'Nothing was queried' in result.errors[0]
    assert arm_requests(one_page, seq) == []


def test_find_batches_values_one_query_per_hundred(one_page):
    values = [f'198.51.100.{n}' for n in range(1, 150)] + ['10.0.1.6']
    seq = last_seq(one_page)
    result = instance(one_page).run('azure-vm-find', {'ip': ','.join(values)}, )
    assert 'more than the 100 the instance allows' in result.errors[0]   # the instance's limit, by default
    assert arm_requests(one_page, seq) == []
    wide = instance(one_page)
    wide.params['max_find_values'] = '500'
    result = wide.run('azure-vm-find', {'ip': ','.join(values)})
    assert result.ok, result.errors
    items = result.context['AzureContainment.Find']
    assert len(items) == 150
    assert [i['VMs'][0]['Name'] for i in items if i['Status'] == 'Found'] == ['web-02']
    assert len(graph_posts(one_page, seq)) == 2


def test_find_follows_skip_token_pages(emulator):
    """The default scenario answers two rows a page: web-01, web-02 and db-01 are three rows (one per VM)."""
    seq = last_seq(emulator)
    items, result = find(emulator, hostname='web-01,web-02,db-01')
    assert {v: i['Status'] for v, i in items.items()} == dict.fromkeys(['web-01', 'web-02', 'db-01'], 'Found')
    assert [len(v['NICs']) for v in result.context['AzureContainment.VM']] == [2, 1, 1]
    assert len(graph_posts(emulator, seq)) == 2


def test_find_waits_for_the_graph_quota_instead_of_failing(emulator):
    emulator.reset(scenario(graph_page_size=1000, graph_quota=1, graph_quota_window_seconds=2))
    seq = last_seq(emulator)
    first, _ = find(emulator, ip='10.0.1.4')
    second, _ = find(emulator, ip='10.0.1.6')   # the quota is used up: Resource Graph answers 429 RateLimiting
    assert (first['10.0.1.4']['Status'], second['10.0.1.6']['Status']) == ('Found', 'Found')
    assert [e['status'] for e in graph_posts(emulator, seq)] == [200, 429, 200]   # waited for the reset, once


# ------------------------------------------------------------------------------------------ azure-vm-snapshot
def snapshot(emu, incident=INCIDENT, **args):
    runs = instance(emu).run_polling('azure-vm-snapshot', args, sleep=True, max_sleep=POLL_CAP,
                                     incident=new_incident(incident) if incident else None)
    final = runs[-1]
    items = final.context.get('AzureContainment.Snapshot') or []
    return runs, {i['DiskName']: i for i in (items if isinstance(items, list) else [items])}


def snapshots_in_azure(emu) -> dict[str, dict]:
    return {body['name']: body for rid, body in emu.state()['resources'].items() if '/microsoft.compute/snapshots/' in rid}


def snapshot_puts(emu, seq):
    return [w for w in arm_writes(emu, seq) if '/snapshots/' in w['path'].lower()]


def disk_ids(emu, vm: str) -> dict[str, str]:
    storage = emu.resource(f'{COMPUTE}/virtualMachines/{vm}')['properties']['storageProfile']
    disks = [storage['osDisk'], *storage.get('dataDisks', [])]
    return {d['name']: d['managedDisk']['id'] for d in disks if d.get('managedDisk')}


def test_snapshot_every_disk_of_a_running_vm_polling_to_the_end(emulator):
    seq = last_seq(emulator)
    runs, items = snapshot(emulator, vm_name='web-01')
    assert len(runs) > 1   # followed by XSOAR polling, not a wait in the command
    assert runs[0].scheduled is not None
    assert all(r.ok for r in runs)
    disks = disk_ids(emulator, 'web-01')
    assert {d: (i['DiskRole'], i['Lun'], i['Status'], i['ProvisioningState']) for d, i in items.items()} == {
        'web-01_DataDisk_0': ('Data', 0, 'Created', 'Succeeded'), 'web-01_DataDisk_1': ('Data', 1, 'Created', 'Succeeded'),
        next(d for d in disks if 'OsDisk' in d): ('OS', None, 'Created', 'Succeeded')}
    azure = snapshots_in_azure(emulator)
    assert len(azure) == 3
    for item in items.values():
        body = azure[item['Name']]
        disk = emulator.resource(item['DiskID'])
        assert body['properties']['incremental'] is True
        assert body['properties']['creationData']['sourceResourceId'].lower() == item['DiskID'].lower()
        assert body['location'] == disk['location']
        assert body['tags']['xsoar-incident-id'] == INCIDENT
        assert body['tags']['xsoar-source-vm'].lower() == WEB_01.lower()
        assert body['tags']['xsoar-source-disk'].lower() == item['DiskID'].lower()
        assert body['tags']['xsoar-source-power-state'] == 'running'
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00', body['tags']['xsoar-snapshot-time'])
        assert item['Name'].startswith(f'xsoar-inc{INCIDENT}-')
    assert len(snapshot_puts(emulator, seq)) == 3
    assert 'crash-consistent' in runs[-1].readable
    writes_of_polls = [w for w in arm_writes(emulator, seq) if w['method'] != 'PUT' or '/snapshots/' not in w['path']]
    assert writes_of_polls == []   # the polls only read


def test_snapshot_repeat_in_the_same_incident_makes_no_duplicate(emulator):
    snapshot(emulator, vm_name='web-01')
    before = snapshots_in_azure(emulator)
    seq = last_seq(emulator)
    runs, items = snapshot(emulator, vm_name='web-01')
    assert len(runs) == 1   # everything was there and succeeded
    assert {i['Status'] for i in items.values()} == {'AlreadyExists'}
    assert arm_writes(emulator, seq) == []
    assert snapshots_in_azure(emulator).keys() == before.keys()
    runs, _ = snapshot(emulator, incident='4343', vm_name='web-01', disks='os')   # another incident: new evidence
    assert len(snapshots_in_azure(emulator)) == 4


@pytest.mark.parametrize(('disks', 'roles'), [('os', ['OS']), ('data', ['Data', 'Data'])])
def test_snapshot_only_the_os_or_the_data_disks(emulator, disks, roles):
    seq = last_seq(emulator)
    _, items = snapshot(emulator, vm_name='web-01', disks=disks)
    assert sorted(i['DiskRole'] for i in items.values()) == roles
    assert len(snapshot_puts(emulator, seq)) == len(roles) == len(snapshots_in_azure(emulator))


def test_snapshot_into_the_evidence_resource_group(forensics):
    _, items = snapshot(forensics, vm_name='web-02', target_resource_group=EVIDENCE_RG)
    (item,) = items.values()
    assert (item['Status'], item['ResourceGroup']) == ('Created', EVIDENCE_RG)
    (body,) = snapshots_in_azure(forensics).values()
    assert f'/resourcegroups/{EVIDENCE_RG}/' in body['id'].lower()


def test_snapshot_of_a_deallocated_vm(emulator):
    runs, items = snapshot(emulator, vm_name='db-01')
    (item,) = items.values()
    assert (item['Status'], item['SourcePowerState']) == ('Created', 'deallocated')
    assert 'crash-consistent' not in runs[-1].readable


@pytest.mark.parametrize(('vm', 'fragment'), [('legacy-01', 'an unmanaged disk'), ('ephemeral-01', 'an ephemeral OS disk')])
def test_snapshot_a_disk_that_cannot_be_snapshotted_is_named(forensics, vm, fragment):
    seq = last_seq(forensics)
    runs, items = snapshot(forensics, vm_name=vm)
    (item,) = items.values()
    assert item['Status'] == 'NotSupported'
    assert fragment in item['Message']
    assert runs[-1].ok   # a clear message, not an error: there was nothing else to take
    assert snapshot_puts(forensics, seq) == []


def test_snapshot_outside_an_incident_and_without_polling(emulator):
    runs, items = snapshot(emulator, incident=None, vm_name='web-02', polling='false')
    assert len(runs) == 1
    (item,) = items.values()
    assert (item['Status'], item['ProvisioningState'], item['IncidentID']) == ('Created', 'Succeeded', None)
    assert re.fullmatch(r'xsoar-t\d{12}-web-02.*', item['Name'])
    assert next(iter(snapshots_in_azure(emulator).values()))['tags']['xsoar-incident-id'] == 'none'


def test_snapshot_feeds_on_find_and_leaves_the_network_alone(emulator):
    before = network_state(emulator)
    items, result = find(emulator, ip='10.0.1.6')
    vm_id = items['10.0.1.6']['VMs'][0]['ID']
    _, snaps = snapshot(emulator, vm_id=vm_id)
    assert [i['VMID'] for i in snaps.values()] == [vm_id]
    after = {rid: body for rid, body in network_state(emulator).items() if '/microsoft.compute/snapshots/' not in rid}
    assert after == before
