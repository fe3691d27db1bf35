"""The pack's playbooks and its test playbook run end to end as XSOAR runs them (Tests/xsoar_local/playbooks: every
task, condition, answer and command through the integration) against the emulator's default scenario, for every
branch that matters; each run checks what Azure holds afterwards and the playbook's outputs.

A new run is one ``case(id, inputs, answers, status, *expectations)`` entry in the table of its playbook; the
expectations below (``isolated``, ``released``, ``blocked``, ``ran``, ``no_writes``, ...) cover what the runs check.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from Tests.e2e.clock import run_at
from Tests.e2e.support import (COMPUTE, NET, arm_requests, arm_writes, instance, last_seq,
                                                network_state, pack_rules)
from Tests.xsoar_local.harness import REPO_ROOT
from Tests.xsoar_local.playbooks.engine import PlaybookResult, run_playbook

PACK = os.path.join(REPO_ROOT, 'Packs', 'AzureContainment')
TEST_PLAYBOOK = os.path.join(PACK, 'TestPlaybooks', 'playbook-AzureContainment_Test.yml')
BLOCK_IPS = os.path.join(PACK, 'Playbooks', 'playbook-Azure_Containment_-_Block_Attacker_IPs.yml')
ISOLATE_VM = os.path.join(PACK, 'Playbooks', 'playbook-Azure_Containment_-_Isolate_VM.yml')
CONTAIN_HOST = os.path.join(PACK, 'Playbooks', 'playbook-Azure_Containment_-_Contain_Host.yml')
EXPIRE_BLOCKS = os.path.join(PACK, 'Playbooks', 'playbook-Azure_Containment_-_Expire_Blocks.yml')
INCIDENT = '4242'
WAIT_CAP = 0.2  # seconds: the emulator's VM transitions take one second (XSOAR would poll every 30 s)

APPROVE = 'Approve isolating the virtual machine?'
RELEASE = 'Release the virtual machine from isolation?'
REVIEW = 'Review the allow rules that shadow the block'
UNATTACHED = 'attached to no subnet and no network interface'   # edge-nsg protects nothing: every item says so


def play(emu, path: str, inputs: dict | None = None, answers: dict | None = None) -> PlaybookResult:
    """Run a playbook with the instance the containment tests use (client secret, default NSG edge-nsg)."""
    return run_playbook(instance(emu), path, inputs, answers, INCIDENT, wait_cap=WAIT_CAP)


# ------------------------------------------------------------------------------------------ Azure's state
def nic_nsg(emu, nic: str) -> str | None:
    group = (emu.resource(f'{NET}/networkInterfaces/{nic}')['properties'].get('networkSecurityGroup') or {})
    return group['id'].rsplit('/', 1)[-1] if group.get('id') else None


def power_state(emu, vm: str) -> str:
    statuses = emu.resource(f'{COMPUTE}/virtualMachines/{vm}')['properties']['instanceView']['statuses']
    return next(s['code'].split('/', 1)[1] for s in statuses if s['code'].startswith('PowerState/'))


def single(value):
    """A context key holding one object holds it alone (XSOAR's context), not as a list of one."""
    assert not isinstance(value, list), value
    return value


def check_run(emu, path: str, inputs: dict, answers: dict, status: str, expectations: tuple) -> None:
    """Run the playbook and check the status it ends in and every expectation."""
    before, seq = network_state(emu), last_seq(emu)
    result = play(emu, path, inputs, answers)
    assert result.status == status, [(t.name, t.status, t.error) for t in result.tasks]
    for expect in expectations:
        expect(emu, result, before, seq)


def case(run_id: str, inputs: dict, answers: dict, status: str, *expectations):
    """One playbook run of a table: its inputs, its analyst's answers, the status it must end in, what must hold."""
    return pytest.param(inputs, answers, status, expectations, id=run_id)


# ------------------------------------------------------------------------------------------ expectations
# Each takes (emu, result, before, seq): the emulator, the playbook result, the network state and the request-log
# position from before the run.
def ran(*names):
    def check(_emu, result, _before, _seq):
        assert set(names) <= set(result.ran()), result.ran()
    return check


def not_run(*names):
    def check(_emu, result, _before, _seq):
        assert not set(names) & set(result.ran()), result.ran()
    return check


def waiting_at(name):
    def check(_emu, result, _before, _seq):
        assert [t.name for t in result.waiting] == [name]
    return check


def failed_at(name, fragment):
    def check(_emu, result, _before, _seq):
        assert [t.name for t in result.errors] == [name]
        assert fragment in result.errors[0].error
    return check


def unchanged(emu, _result, before, _seq):
    assert network_state(emu) == before


def no_requests(emu, _result, _before, seq):
    assert arm_requests(emu, seq) == []


def no_writes(emu, _result, _before, seq):
    assert arm_writes(emu, seq) == []


def isolated(vm='web-01', nics=('web-01-nic0', 'web-01-nic1'), power='running'):
    def check(emu, result, _before, _seq):
        assert {nic: nic_nsg(emu, nic) for nic in nics} == dict.fromkeys(nics, f'xsoar-isolation-{vm}')
        assert power_state(emu, vm) == power
        assert nic_nsg(emu, 'web-02-nic0') == 'web-nsg'  # the neighbour on the shared NSG is untouched
        record = single(result.outputs['AzureContainment.Isolation'])
        assert record['Status'] == 'Isolated'
        assert record['IsolationNSG'].endswith(f'/xsoar-isolation-{vm}')
        assert {n['Name'] for n in record['NICs']} == set(nics)
    return check


def without_snapshots(state: dict) -> dict:
    return {rid: body for rid, body in state.items() if '/microsoft.compute/snapshots/' not in rid}


def released(vm='web-01', power='running', evidence=False):
    """`evidence`: the run took snapshots, which stay after the release (everything else is as before)."""
    def check(emu, result, before, _seq):
        state = network_state(emu)
        if evidence:
            assert without_snapshots(state) != state   # the snapshots are kept ...
            state = without_snapshots(state)           # ... and the rest is exactly as before
        assert state == before  # original NSGs back, isolation NSG gone, power state as before
        assert power_state(emu, vm) == power
        assert emu.resource(f'{NET}/networkSecurityGroups/xsoar-isolation-{vm}') is None
        assert single(result.outputs['AzureContainment.Isolation'])['Status'] == 'Released'
    return check


def azure_changes(emu, seq) -> list[dict]:
    """The writes after `seq`, without Resource Graph queries (POSTs that read)."""
    return [w for w in arm_writes(emu, seq) if not w['path'].lower().startswith('/providers/microsoft.resourcegraph/')]


def no_azure_change(emu, _result, _before, seq):
    assert azure_changes(emu, seq) == []


def snapshotted(vm='web-01', disks=3):
    """Every disk of the VM has its snapshot of this incident, written before any NIC or power change."""
    def check(emu, result, _before, seq):
        snaps = [b for rid, b in emu.state()['resources'].items() if '/microsoft.compute/snapshots/' in rid
                 and b['tags'].get('xsoar-source-vm', '').lower().endswith(f'/virtualmachines/{vm}')]
        assert len(snaps) == disks
        assert all(b['tags']['xsoar-incident-id'] == INCIDENT and b['properties']['incremental'] for b in snaps)
        writes = [w['path'].lower() for w in azure_changes(emu, seq)]
        last_snapshot = max(i for i, path in enumerate(writes) if f'/snapshots/xsoar-inc{INCIDENT}-{vm}_' in path)
        first_change = min(i for i, path in enumerate(writes) if f'/networkinterfaces/{vm}-' in path
                           or f'/virtualmachines/{vm}/' in path or f'/xsoar-isolation-{vm}' in path)
        assert last_snapshot < first_change   # the evidence first
        items = result.outputs['AzureContainment.Snapshot']
        assert {i['Status'] for i in (items if isinstance(items, list) else [items])} == {'Created'}
    return check


def powered(*actions, vm='web-01'):
    def check(emu, result, _before, seq):
        posts = [w['path'].rsplit('/', 1)[-1] for w in arm_writes(emu, seq) if w['method'] == 'POST']
        assert posts == list(actions)
        if actions:
            assert single(result.outputs['AzureContainment.VM.PowerState']) == power_state(emu, vm)
    return check


def blocked(nsg, prefixes, directions=('Inbound', 'Outbound'), priority=100, status='Blocked', warning=None,
            expires='never'):
    def check(emu, result, _before, _seq):
        rules = pack_rules(emu, nsg)
        assert sorted(r['properties']['direction'] for r in rules) == sorted(directions)
        for rule in rules:
            props = rule['properties']
            side = 'sourceAddressPrefixes' if props['direction'] == 'Inbound' else 'destinationAddressPrefixes'
            assert sorted(props[side]) == sorted(prefixes)
            assert (props['access'], props['priority']) == ('Deny', priority)
            # the audit record (this incident, the time, the expiry), then the playbook's default text: the incident ID
            assert re.fullmatch(rf'\[AzureContainment\] inc:{INCIDENT} at:\d{{8}}T\d{{6}}Z exp:{expires} {INCIDENT}',
                                props['description']), props['description']
        items = result.outputs['AzureContainment.BlockedIP']
        items = items if isinstance(items, list) else [items]
        assert sorted((i['IP'], i['Direction']) for i in items) == sorted((p, d) for p in prefixes for d in directions)
        assert {i['Status'] for i in items} == {status}
        if warning:
            assert all(warning in (i.get('Warning') or '') for i in items)
        else:
            assert not any(i.get('Warning') for i in items)
        names = result.outputs['AzureContainment.NSGRule.Name']  # the rules this run wrote
        written = sorted(r['name'] for r in rules) if status == 'Blocked' else []
        assert sorted(names if isinstance(names, list) else [names] if names else []) == written
    return check


def expires_after(**delta):
    """Every BlockedIP output expires `delta` after its block time, rounded up to the whole minute."""
    def check(_emu, result, _before, _seq):
        items = result.outputs['AzureContainment.BlockedIP']
        for item in items if isinstance(items, list) else [items]:
            at = datetime.strptime(item['BlockedAt'], '%Y-%m-%dT%H:%M:%SZ')
            end = datetime.strptime(item['ExpiresAt'], '%Y-%m-%dT%H:%M:%SZ')
            assert timedelta(**delta) <= end - at < timedelta(**delta) + timedelta(minutes=1)
            assert item['IncidentID'] == INCIDENT
    return check


# ------------------------------------------------------------------------------------------ the test playbook
def test_the_test_playbook_runs_green(emulator):
    before = network_state(emulator)
    seq = last_seq(emulator)
    result = play(emulator, TEST_PLAYBOOK)
    assert result.ok, [(t.name, t.error) for t in result.errors]
    verified = [t for t in result.tasks if t.name.startswith('Verify ')]
    assert [t.status for t in verified] == ['done'] * 6
    writes = [(w['method'], w['path'].rsplit('/', 2)[-2]) for w in arm_writes(emulator, seq)]
    assert ('PUT', 'securityRules') in writes       # blocked ...
    assert ('DELETE', 'securityRules') in writes    # ... and unblocked
    assert ('PUT', 'networkSecurityGroups') in writes     # isolated ...
    assert ('DELETE', 'networkSecurityGroups') in writes  # ... and released
    assert network_state(emulator) == before        # every change undone
    assert single(result.context['AzureContainment']['Isolation'])['Status'] == 'Released'


def test_the_test_playbook_through_the_command_line(emulator, tmp_path):
    """``python -m Tests.xsoar_local playbook`` in a process of its own, as a person runs it."""
    params = tmp_path / 'instance.yml'
    params.write_text(yaml.safe_dump({**instance(emulator).params, '_env': {'REQUESTS_CA_BUNDLE': emulator.ca_bundle}}),
                      encoding='utf-8')
    completed = subprocess.run(  # noqa: S603 - our own runner
        [sys.executable, '-m', 'Tests.xsoar_local', 'playbook', TEST_PLAYBOOK, '--params', str(params), '--json',
         '--incident', INCIDENT, '--poll-interval', str(WAIT_CAP)],
        cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True, text=True, timeout=300,
        check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads(completed.stdout)
    assert document['status'] == 'completed'
    assert document['incident']['id'] == INCIDENT
    assert "Playbook 'AzureContainment_Test': completed" in completed.stderr
    assert '[16] Verify AzureContainment.Isolation.Status  (script)' in completed.stderr


# ------------------------------------------------------------------------------------------ Block Attacker IPs
BLOCK = 'Block the IP addresses in the network security group'
BLOCK_RUNS = [
    case('block-both-ways', {'IP': '203.0.113.7,198.51.100.0/24', 'NSGName': 'edge-nsg'}, {}, 'completed',
         blocked('edge-nsg', ['203.0.113.7', '198.51.100.0/24'], warning=UNATTACHED), not_run(REVIEW)),
    case('default-nsg-inbound', {'IP': '203.0.113.7', 'Direction': 'Inbound'}, {}, 'completed',
         blocked('edge-nsg', ['203.0.113.7'], ('Inbound',), warning=UNATTACHED),
         not_run(REVIEW)),  # the instance's default NSG
    case('shadowing-allow-rule-stops-for-review', {'IP': '203.0.113.7', 'NSGName': 'web-nsg', 'Direction': 'Inbound'},
         {}, 'waiting', blocked('web-nsg', ['203.0.113.7'], ('Inbound',), priority=101, warning="'allow-https-in'"),
         waiting_at(REVIEW)),
    case('shadowing-reviewed', {'IP': '203.0.113.7', 'NSGName': 'web-nsg', 'Direction': 'Inbound'}, {REVIEW: 'done'},
         'completed', blocked('web-nsg', ['203.0.113.7'], ('Inbound',), priority=101, warning='is evaluated before'),
         ran(REVIEW, 'Done')),
    case('block-for-24-hours', {'IP': '203.0.113.7', 'NSGName': 'edge-nsg', 'ExpiresIn': '24 hours'}, {},
         'completed', blocked('edge-nsg', ['203.0.113.7'], expires=r'\d{8}T\d{4}00Z', warning=UNATTACHED),
         expires_after(hours=24)),
    case('no-addresses', {}, {}, 'completed', ran('Done'), not_run(BLOCK), no_requests),
    case('refused-address', {'IP': '203.0.113.7,*', 'NSGName': 'edge-nsg'}, {}, 'failed',
         failed_at(BLOCK, "'*' (would match every address)"), no_writes, unchanged),
]


@pytest.mark.parametrize(('inputs', 'answers', 'status', 'expectations'), BLOCK_RUNS)
def test_block_attacker_ips(emulator, inputs, answers, status, expectations):
    check_run(emulator, BLOCK_IPS, inputs, answers, status, expectations)


def test_blocking_again_writes_nothing_and_the_release_restores_the_nsg(emulator):
    before = network_state(emulator)
    inputs = {'IP': '203.0.113.7', 'NSGName': 'edge-nsg'}
    assert play(emulator, BLOCK_IPS, inputs).ok
    seq = last_seq(emulator)
    again = play(emulator, BLOCK_IPS, inputs)
    assert again.ok
    blocked('edge-nsg', ['203.0.113.7'], status='AlreadyBlocked', warning=UNATTACHED)(emulator, again, before, seq)
    no_writes(emulator, again, before, seq)
    release = instance(emulator).run('azure-nsg-unblock-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg'})
    assert release.ok
    assert network_state(emulator) == before


# ------------------------------------------------------------------------------------------ Expire Blocks
def test_expire_blocks_removes_exactly_what_expired_on_the_nsgs_given(emulator, tmp_path):
    """Blocks written two hours ago (a child process with its clock set back, Tests/e2e/clock.py) expire now."""
    before = network_state(emulator)
    writer = instance(emulator, state_file=str(tmp_path / 'context.json'))
    ago = datetime.now(UTC) - timedelta(hours=2)
    for ip, nsg, expires in [('203.0.113.7', 'edge-nsg', '1 hour'), ('198.51.100.8', 'edge-nsg', '7 days'),
                             ('203.0.113.9', 'db-subnet-nsg', '30 minutes')]:
        assert run_at(writer, ago, 'azure-nsg-block-ip', {'ip': ip, 'nsg_name': nsg, 'expires_in': expires}).ok
    seq = last_seq(emulator)
    dry = play(emulator, EXPIRE_BLOCKS, {'NSGNames': 'edge-nsg,db-subnet-nsg', 'DryRun': 'true'})
    assert dry.ok, [(t.name, t.error) for t in dry.errors]
    items = dry.outputs['AzureContainment.BlockedIP']
    assert sorted((i['IP'], i['NSG'], i['Status']) for i in items) == [
        ('203.0.113.7', 'edge-nsg', 'Expired'), ('203.0.113.7', 'edge-nsg', 'Expired'),
        ('203.0.113.9', 'db-subnet-nsg', 'Expired'), ('203.0.113.9', 'db-subnet-nsg', 'Expired')]
    assert arm_writes(emulator, seq) == []
    done = play(emulator, EXPIRE_BLOCKS, {'NSGNames': 'edge-nsg,db-subnet-nsg'})
    assert done.ok, [(t.name, t.error) for t in done.errors]
    assert sorted((i['IP'], i['Direction'], i['Status']) for i in done.outputs['AzureContainment.BlockedIP']) == [
        (ip, d, 'Unblocked') for ip in ('203.0.113.7', '203.0.113.9') for d in ('Inbound', 'Outbound')]
    assert not pack_rules(emulator, 'db-subnet-nsg')
    assert sorted(p for r in pack_rules(emulator, 'edge-nsg') for p in (
        r['properties'].get('sourceAddressPrefixes') or r['properties'].get('destinationAddressPrefixes'))) == [
        '198.51.100.8', '198.51.100.8']                       # the 7-day block stays
    seq = last_seq(emulator)
    again = play(emulator, EXPIRE_BLOCKS, {})                  # the instance's default NSG: nothing left to expire
    assert again.ok
    assert arm_writes(emulator, seq) == []
    assert instance(emulator).run('azure-nsg-unblock-ip', {'ip': '198.51.100.8', 'nsg_name': 'edge-nsg'}).ok
    assert network_state(emulator) == before


# ------------------------------------------------------------------------------------------ Isolate VM
DEALLOCATE, START = 'Deallocate the virtual machine', 'Start the virtual machine'
SNAPSHOT = 'Snapshot the disks of the virtual machine'
BYPASS_REVIEW = 'Review the isolation bypass'
# app-01 (subscription SOC Apps): its VNet's network manager has an AlwaysAllow admin rule (vendor RDP from the
# Internet) that no NSG can close, so its isolation is verified Bypassed.
APP_01 = ('/subscriptions/bbbbbbbb-cccc-dddd-eeee-ffffffffffff/resourceGroups/soc-app-rg/providers/Microsoft.Compute/'
          'virtualMachines/app-01')
APP_ISOLATION = {'VMID': APP_01, 'RequireApproval': 'false', 'Snapshot': 'False', 'WaitForRelease': 'False'}


def verdict(expected, rule=None):
    """The isolation's verification verdict in the playbook's outputs (and the bypass rule it names)."""
    def check(_emu, result, _before, _seq):
        found = single(result.outputs['AzureContainment.Isolation'])['Verification']
        assert found['Verdict'] == expected, found
        if rule:
            assert rule in [b['Rule'] for b in found['Bypasses']], found['Bypasses']
    return check
ISOLATE_RUNS = [
    case('approved-isolated-awaiting-release', {'VMName': 'web-01'}, {APPROVE: 'Yes'}, 'waiting',
         isolated(), waiting_at(RELEASE), powered()),
    case('approved-released', {'VMName': 'web-01', 'Snapshot': 'False'}, {APPROVE: 'Yes', RELEASE: 'Yes'},
         'completed', released(), powered(), not_run(DEALLOCATE, START, SNAPSHOT)),
    case('approval-refused', {'VMName': 'web-01'}, {APPROVE: 'No'}, 'completed',
         ran('Done'), not_run('Isolate the virtual machine'), no_requests),
    case('no-approval-kept-isolated', {'VMName': 'web-01', 'RequireApproval': 'false'}, {RELEASE: 'No'}, 'completed',
         isolated(), not_run(APPROVE, BYPASS_REVIEW), powered(), verdict('Verified')),
    case('bypassed-stops-for-review', APP_ISOLATION, {}, 'waiting', waiting_at(BYPASS_REVIEW),
         verdict('Bypassed', 'always-allow-vendor-rdp'), not_run(DEALLOCATE)),
    case('bypass-reviewed', APP_ISOLATION, {BYPASS_REVIEW: 'done'}, 'completed', ran(BYPASS_REVIEW, 'Done'),
         verdict('Bypassed', 'always-allow-vendor-rdp')),
    case('deallocated-released-started', {'VMName': 'web-01', 'RequireApproval': 'False', 'Deallocate': 'True',
                                          'Snapshot': 'false'},
         {RELEASE: 'Yes'}, 'completed', released(), powered('deallocate', 'start'), ran(DEALLOCATE, START)),
    case('by-id-deallocated-kept-isolated',
         {'VMID': f'{COMPUTE}/virtualMachines/web-01', 'RequireApproval': 'False', 'Deallocate': 'true'},
         {RELEASE: 'No'}, 'completed', isolated(power='deallocated'), powered('deallocate'),
         not_run('Release the virtual machine')),
    case('no-vm-given', {}, {}, 'completed', ran('Done'), not_run(APPROVE), no_requests),
    case('vm-not-found', {'VMName': 'no-such-vm', 'RequireApproval': 'false'}, {}, 'failed',
         failed_at('Isolate the virtual machine', 'no-such-vm'), no_writes, unchanged),
    # the evidence branch (Snapshot, default on)
    case('snapshot-then-isolate', {'VMName': 'web-01', 'RequireApproval': 'false'}, {RELEASE: 'No'}, 'completed',
         snapshotted(), isolated(), powered()),
    case('snapshot-isolate-deallocate', {'VMName': 'web-01', 'RequireApproval': 'false', 'Deallocate': 'true'},
         {RELEASE: 'No'}, 'completed', snapshotted(), isolated(power='deallocated'), powered('deallocate')),
    case('snapshot-kept-after-release', {'VMName': 'web-02'}, {APPROVE: 'Yes', RELEASE: 'Yes'}, 'completed',
         snapshotted(vm='web-02', disks=1), released(vm='web-02', evidence=True)),
    case('no-release-wait', {'VMName': 'web-01', 'RequireApproval': 'false', 'WaitForRelease': 'False'}, {},
         'completed', snapshotted(), isolated(), not_run(RELEASE)),
]


@pytest.mark.parametrize(('inputs', 'answers', 'status', 'expectations'), ISOLATE_RUNS)
def test_isolate_vm(emulator, inputs, answers, status, expectations):
    check_run(emulator, ISOLATE_VM, inputs, answers, status, expectations)


def test_isolate_vm_contains_even_when_the_snapshot_fails(emulator):
    """Evidence must not cost the containment: every snapshot's creation fails in Azure (the operation ends Failed
    and Azure removes the snapshot), the VM is isolated all the same."""
    emulator.inject_fault('lro_failed', method='PUT', path_contains='/snapshots/', count=None)
    seq = last_seq(emulator)
    result = play(emulator, ISOLATE_VM, {'VMName': 'web-02', 'RequireApproval': 'false'}, {RELEASE: 'No'})
    assert result.status == 'completed', [(t.name, t.status, t.error) for t in result.tasks]
    snapshot_task = next(t for t in result.tasks if t.name == SNAPSHOT)
    assert snapshot_task.status == 'error'   # shown in the war room ...
    assert nic_nsg(emulator, 'web-02-nic0') == 'xsoar-isolation-web-02'   # ... and the VM is contained
    assert single(result.outputs['AzureContainment.Isolation'])['Status'] == 'Isolated'
    assert {nic_nsg(emulator, n) for n in ('web-01-nic0', 'web-01-nic1')} == {'web-nsg'}
    after = network_state(emulator)
    assert without_snapshots(after) == after   # no snapshot came to exist
    assert 'was not created' in snapshot_task.error
    assert [w['method'] for w in azure_changes(emulator, seq) if '/snapshots/' in w['path']] == ['PUT']   # once


# ------------------------------------------------------------------------------------------ Contain Host
CHOOSE = 'Choose the VMs for the ambiguous and not-found values'
CONTAINABLE = {'web-01': ('web-01-nic0', 'web-01-nic1'), 'web-02': ('web-02-nic0',), 'db-01': ('db-01-nic0',)}


def contained(*vms, scenario_vms=CONTAINABLE):
    """Exactly `vms` are isolated (and snapshotted first); every other VM's NICs are as they were."""
    def check(emu, result, _before, seq):
        for vm, nics in scenario_vms.items():
            on_isolation = {nic_nsg(emu, nic) == f'xsoar-isolation-{vm}' for nic in nics}
            assert on_isolation == {vm in vms}, vm
        for vm in vms:
            snapshotted(vm=vm, disks=3 if vm == 'web-01' else 1)(emu, result, _before, seq)
        if vms:
            records = result.outputs['AzureContainment.Isolation']
            records = records if isinstance(records, list) else [records]
            assert sorted(r['VM'] for r in records if r['Status'] == 'Isolated') == sorted(vms)
    return check


def outcomes(**expected):
    """The generic isolation result of each value: EndpointName -> Result (Brand AzureContainment)."""
    def check(_emu, result, _before, _seq):
        items = result.outputs['IsolateEndpointResults']
        items = items if isinstance(items, list) else [items]
        got = {i['EndpointName']: i['Results'] for i in items}
        assert {k: [r['Result'] for r in v] for k, v in got.items()} == {k: [v] for k, v in expected.items()}
        assert all(r['Brand'] == 'AzureContainment' and r['Message'] for v in got.values() for r in v)
    return check


def found_as(**statuses):
    def check(_emu, result, _before, _seq):
        items = result.outputs['AzureContainment.Find']
        items = items if isinstance(items, list) else [items]
        assert {i['Value']: i['Status'] for i in items} == statuses
    return check


FORENSIC_VMS = {**CONTAINABLE, 'jump-01': ('jump-01-nic0',)}
CONTAIN_RUNS = [
    pytest.param('default', {'IP': '10.0.1.4', 'Hostname': 'web-02', 'RequireApproval': 'false'}, {}, 'completed',
                 (found_as(**{'10.0.1.4': 'Found', 'web-02': 'Found'}), contained('web-01', 'web-02'),
                  outcomes(**{'10.0.1.4': 'Success', 'web-02': 'Success'}), not_run(CHOOSE)), id='found'),
    pytest.param('default', {'IP': '10.0.1.6'}, {APPROVE: 'Yes'}, 'completed',
                 (contained('web-02'), outcomes(**{'10.0.1.6': 'Success'})), id='found-approved'),
    pytest.param('default', {'IP': '10.0.1.6'}, {APPROVE: 'No'}, 'completed',
                 (contained(), outcomes(**{'10.0.1.6': 'Fail'}), no_azure_change), id='found-approval-refused'),
    pytest.param('default', {'IP': '203.0.113.99', 'Hostname': 'web'}, {}, 'waiting',
                 (found_as(**{'203.0.113.99': 'NotFound', 'web': 'NotFound'}), contained(), no_azure_change,
                  outcomes(**{'203.0.113.99': 'Fail', 'web': 'Fail'}), waiting_at(CHOOSE)), id='not-found'),
    pytest.param('forensics', {'Hostname': 'web-02'}, {CHOOSE: 'done'}, 'completed',
                 (found_as(**{'web-02': 'Ambiguous'}), contained(scenario_vms=FORENSIC_VMS), no_azure_change,
                  outcomes(**{'web-02': 'Fail'}), ran(CHOOSE)), id='ambiguous-reviewed'),
    pytest.param('forensics', {'IP': '10.0.1.6,203.0.113.99', 'Hostname': 'web-02', 'RequireApproval': 'false'}, {},
                 'waiting', (found_as(**{'10.0.1.6': 'Found', '203.0.113.99': 'NotFound', 'web-02': 'Ambiguous'}),
                             contained('web-02', scenario_vms=FORENSIC_VMS), waiting_at(CHOOSE),
                             outcomes(**{'10.0.1.6': 'Success', '203.0.113.99': 'Fail', 'web-02': 'Fail'})),
                 id='found-ambiguous-not-found'),
    pytest.param('default', {}, {}, 'completed', (ran('Done'), no_requests), id='no-values'),
]


@pytest.mark.parametrize(('scenario', 'inputs', 'answers', 'status', 'expectations'), CONTAIN_RUNS)
def test_contain_host(emulator, scenario, inputs, answers, status, expectations):
    if scenario != 'default':
        emulator.reset(scenario)
    check_run(emulator, CONTAIN_HOST, inputs, answers, status, expectations)
