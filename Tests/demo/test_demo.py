"""The demo: runs end to end against the emulator and exits 0; fails clearly and always stops the emulator."""
import io
import os
import subprocess
import sys

import pytest

from Tests.demo import demo
from Tests.xsoar_local.harness import REPO_ROOT


class FakeEmulator:
    """Stands in for Tests.azure_emulator.Emulator where the demo's own control flow is under test."""
    instances: list = []

    def __init__(self, scenario='default', start_error=None):
        self.login_url = 'http://127.0.0.1:1'  # not https: the integration refuses it before any request
        self.arm_url = 'https://127.0.0.1:2'
        self.ca_bundle = '/nonexistent/ca.pem'
        self.credentials = {'soc-responder': {'client_id': '0a0a0a0a-1111-2222-3333-444444444444',
                                              'tenant_id': '11111111-2222-3333-4444-555555555555',
                                              'secret': 'fake-secret'}}
        self.start_error = start_error
        self.stopped = False
        FakeEmulator.instances.append(self)

    def start(self):
        if self.start_error:
            raise self.start_error

    def stop(self):
        self.stopped = True

    def state(self):
        return {'resources': {}}


@pytest.fixture(autouse=True)
def fresh_fake_emulators(monkeypatch):
    """Each test sees only the FakeEmulators it created: a leftover stopped one from an earlier test must not make
    `instances[-1].stopped` pass."""
    monkeypatch.setattr(FakeEmulator, 'instances', [])


def test_demo_runs_end_to_end_and_exits_zero():
    completed = subprocess.run([sys.executable, '-m', 'Tests.demo', '--no-color'], cwd=REPO_ROOT,
                               env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True, text=True,
                               timeout=120, check=False)
    out = completed.stdout
    assert completed.returncode == 0, out[-3000:] + completed.stderr[-3000:]
    web01 = '/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/resourceGroups/soc-demo-rg/providers/' \
            'Microsoft.Compute/virtualMachines/web-01'
    web01_id = web01
    # From the alert's address to the VM: every command after the find takes the VM by the ID the find returned.
    for command in ('!test-module', '!azure-vm-find ip=10.0.1.4', f'!azure-vm-snapshot vm_id={web01} ',
                    '!azure-nsg-block-ip ip=203.0.113.7,203.0.113.66 nsg_name=web-nsg expires_in=24 hours',
                    '!azure-nsg-block-list nsg_name=web-nsg',
                    f'!azure-vm-isolate vm_id={web01}', '!azure-vm-get vm_name=web-02',
                    f'!azure-vm-power vm_id={web01} action=deallocate', f'!azure-vm-get vm_id={web01}',
                    '!azure-vm-unisolate vm_name=web-01', '!azure-nsg-unblock-ip', 'action=start'):
        assert command in out
    commands = [line for line in out.splitlines() if line.startswith('>>> !')]
    assert [c.split()[1] for c in commands[:6]] == ['!test-module', '!azure-vm-find', '!azure-vm-snapshot',
                                                    '!azure-nsg-block-ip', '!azure-nsg-block-list',
                                                    '!azure-vm-isolate']
    lines = out.splitlines()
    assert '`10.0.1.4` | Found  | PrivateIP | web-01 (soc-demo-rg)' in lines
    # The block's audit record lives in Azure (the rule description) and block-list reads it back.
    assert sum(1 for line in lines if line.startswith('Description') and ' inc:1042 at:' in line) == 2
    assert sum(1 for line in lines if line.split() == ['IncidentID', '1042']) == 4
    # The evidence stays: named from the incident, taken before isolation, still there after the release.
    snapshot_rows = [i for i, line in enumerate(lines) if line.startswith('  Snapshot xsoar-inc1042-web-01_')]
    assert len(snapshot_rows) == 3
    for row in snapshot_rows:
        assert [line.split() for line in lines[row + 1:row + 4]] == [
            ['before', '(absent)'], ['contained', 'Succeeded', 'incremental'],
            ['released', 'Succeeded', 'incremental']]
    assert 'ok' in lines
    assert '  NIC web-02-nic0: NSG web-nsg  (unchanged)' in lines
    # The block goes on web-nsg, where it protects web-01 and web-02, and the release takes exactly it away again.
    assert 'Note: NSG web-nsg protects 0 subnet(s) and 3 network interface(s) (web-01-nic0, web-01-nic1, ' \
           'web-02-nic0).' in lines
    nsg = lines.index('  NSG web-nsg')
    before, contained, released = (line.split(None, 1) for line in lines[nsg + 1:nsg + 4])
    assert before == ['before', '2 rule(s): allow-https-in(Allow Inbound 100), allow-ssh-admin(Allow Inbound 110)']
    assert released == ['released', before[1]]
    assert contained[1].startswith('4 rule(s): ')
    assert 'xsoar-block-out-v4-' in contained[1]
    assert '  NSG edge-nsg: 0 rule(s)  (unchanged)' in lines
    web01 = lines.index('  VM web-01')
    assert [line.split() for line in lines[web01 + 1:web01 + 4]] == [
        ['before', 'running'], ['contained', 'deallocated'], ['released', 'running']]
    # The verdicts, read from what the emulator's Azure enforces: web-01 Verified, app-01 Bypassed by the admin rule.
    isolate_web01, isolate_app01 = (out.index(f'!azure-vm-isolate {args}') for args in (
        f'vm_id={web01_id}', 'vm_name=app-01 subscription_id=bbbbbbbb-cccc-dddd-eeee-ffffffffffff'))
    assert out.index('Verification: Verified', isolate_web01) < isolate_app01
    assert out.index('Verification: Bypassed', isolate_app01) < out.index('!azure-vm-power', isolate_app01)
    assert 'always-allow-vendor-rdp' in out[isolate_app01:]
    assert '!azure-vm-unisolate vm_name=app-01' in out
    app_nic = lines.index('  NIC app-01-nic0')
    assert [line.split() for line in lines[app_nic + 1:app_nic + 4]] == [
        ['before', 'NSG', '-'], ['contained', 'NSG', 'xsoar-isolation-app-01'], ['released', 'NSG', '-']]
    assert 'Emulator stopped.' in lines
    assert 'demo-responder-secret' not in out
    assert 'demo-responder-secret' not in completed.stderr


def test_demo_failure_is_reported_and_emulator_stopped(monkeypatch):
    monkeypatch.delenv(demo.SECRET_ENV, raising=False)  # the demo sets it; removed again after the test
    monkeypatch.setattr(demo, '_load_emulator_class', lambda: FakeEmulator)
    stream = io.StringIO()
    assert demo.run_demo(color=False, stream=stream) == 1
    out = stream.getvalue()
    assert 'ERROR: Failed to execute test-module.' in out
    assert 'Demo failed: test-module returned an error entry' in out
    assert len(FakeEmulator.instances) == 1
    assert FakeEmulator.instances[0].stopped
    assert 'Emulator stopped.' in out.splitlines()
    assert 'fake-secret' not in out


def test_ctrl_c_stops_the_emulator(monkeypatch):
    monkeypatch.setattr(demo, '_load_emulator_class',
                        lambda: lambda scenario: FakeEmulator(scenario, start_error=KeyboardInterrupt()))
    stream = io.StringIO()
    assert demo.run_demo(color=False, stream=stream) == 130
    assert 'Demo interrupted.' in stream.getvalue()
    assert len(FakeEmulator.instances) == 1
    assert FakeEmulator.instances[0].stopped
    assert 'Emulator stopped.' in stream.getvalue().splitlines()


def test_missing_emulator_fails_clearly(monkeypatch):
    def missing():
        raise demo.DemoFailure('the demo needs Tests.azure_emulator.Emulator (the emulator issue), which is not '
                               'available yet: test')
    monkeypatch.setattr(demo, '_load_emulator_class', missing)
    stream = io.StringIO()
    assert demo.run_demo(color=False, stream=stream) == 1
    assert 'Demo failed: the demo needs Tests.azure_emulator.Emulator' in stream.getvalue()
    assert 'Emulator stopped.' not in stream.getvalue()  # nothing was started, so nothing is stopped


def test_summarize_reads_nsgs_nics_and_power_states():
    base = '/subscriptions/s/resourcegroups/rg/providers/'
    state = {'resources': {
        base + 'microsoft.network/networksecuritygroups/edge-nsg': {
            'name': 'edge-nsg', 'properties': {'securityRules': [
                {'name': 'r1', 'properties': {'access': 'Deny', 'direction': 'Inbound', 'priority': 100}}]}},
        base + 'microsoft.network/networksecuritygroups/edge-nsg/securityrules/r1': {'name': 'r1'},
        base + 'microsoft.network/networkinterfaces/nic0': {
            'name': 'nic0', 'properties': {'networkSecurityGroup': {'id': base + 'x/networkSecurityGroups/web-nsg'}}},
        base + 'microsoft.compute/virtualmachines/vm1': {
            'name': 'vm1', 'properties': {'instanceView': {'statuses': [{'code': 'PowerState/deallocated'}]}}},
    }}
    assert demo.summarize(state) == {'NSG edge-nsg': '1 rule(s): r1(Deny Inbound 100)', 'NIC nic0': 'NSG web-nsg',
                                     'VM vm1': 'deallocated'}
