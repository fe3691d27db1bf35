"""The one-command demo: one incident contained and released in the embedded Azure emulator.

    python -m Tests.demo [--step] [--keep DIR] [--color/--no-color]

1. starts the Azure emulator (Tests.azure_emulator.Emulator, the default scenario: subscription "SOC Demo",
   resource group soc-demo-rg, VMs web-01 / web-02 behind the shared web-nsg, an empty edge-nsg);
2. writes an integration instance for it, as a user would save one in XSOAR: Custom cloud with the emulator's
   Entra ID and ARM URLs, client credentials of the soc-responder app (its secret read from an environment
   variable, not written in the file), and the emulator's CA for the integration's process;
3. runs incident 1042 through the local XSOAR harness, printing every war-room entry. The alert names only an
   address: 10.0.1.4 beaconing to two attacker IPs. Test -> find the VM holding 10.0.1.4 (web-01) -> snapshot
   its disks before anything changes (polling followed) -> block the two attacker IPs on edge-nsg for 24 hours
   -> list what is blocked (since / until when, for which incident) -> isolate the VM found (web-nsg and web-02
   untouched; its verdict, read from what Azure enforces: Verified) -> isolate app-01 of subscription SOC Apps
   (verdict Bypassed: an AlwaysAllow security admin rule) -> deallocate web-01 (polling followed) -> show it ->
   release: unisolate both, unblock, start. Every step after the find takes the VM by the ID the find put in the
   context;
4. prints a before / contained / released summary of the Azure state read from the emulator.

Exits 0 when every step did what it should; stops the emulator on exit, on Ctrl-C and on error.
Polling waits are shortened to about a second (the emulator's VM transitions last one second; XSOAR would wait
the command's interval, 30 s by default).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from Tests.xsoar_local.harness import REPO_ROOT, RunResult, XsoarInstance
from Tests.xsoar_local.runner import Printer, Style, load_params

SCENARIO_FILE = os.path.join(REPO_ROOT, 'Tests', 'azure_emulator', 'scenarios', 'default.yaml')
ATTACKER_IPS = ['203.0.113.7', '203.0.113.66']
ALERT_HOST_IP = '10.0.1.4'     # the private address of web-01-nic0: all the alert knows of the host
INCIDENT_ID = '1042'
BLOCK_FOR = '24 hours'
EDGE_NSG = 'edge-nsg'          # the instance's default NSG (attached to nothing in the scenario)
SHARED_NSG = 'web-nsg'         # web-01's and web-02's NSG: the block goes here, where it protects them
TARGET_VM = 'web-01'
NEIGHBOUR_VM = 'web-02'
BYPASSED_VM = 'app-01'         # subscription SOC Apps: its VNet's network manager has an AlwaysAllow admin rule
APPS = {'vm_name': BYPASSED_VM, 'subscription_id': 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff', 'resource_group': 'soc-app-rg'}
ADMIN_RULE = 'always-allow-vendor-rdp'
APP = 'soc-responder'
SECRET_ENV = 'AZURE_CONTAINMENT_DEMO_CLIENT_SECRET'
POLL_WAIT_SECONDS = 1.0


class DemoFailure(Exception):
    """A step did not do what the demo expects."""


# ---------------------------------------------------------------------------------------------------------------
# Azure state summary (from emu.state())
# ---------------------------------------------------------------------------------------------------------------
def _find_power_state(body: Any) -> str | None:
    """'running' / 'deallocated' / ... from any PowerState/x status code inside a VM body, if there is one."""
    if isinstance(body, dict):
        code = body.get('code')
        if isinstance(code, str) and code.startswith('PowerState/'):
            return code.split('/', 1)[1]
        for value in body.values():
            found = _find_power_state(value)
            if found:
                return found
    elif isinstance(body, list):
        for value in body:
            found = _find_power_state(value)
            if found:
                return found
    return None


def _name(resource_id: str | None) -> str:
    return resource_id.rstrip('/').split('/')[-1] if resource_id else '-'


def summarize(state: dict) -> dict[str, str]:
    """{'NSG edge-nsg': 'rules: ...', 'NIC web-01-nic0': 'NSG web-nsg', 'VM web-01': 'running'} from a state."""
    rows: dict[str, str] = {}
    for resource_id, body in sorted((state or {}).get('resources', {}).items()):
        kind = resource_id.split('/providers/')[-1].split('/')
        props = (body or {}).get('properties') or {}
        name = (body or {}).get('name') or kind[-1]
        if len(kind) == 3 and kind[1].lower() == 'networksecuritygroups':
            rules = props.get('securityRules') or []
            shown = ', '.join(f'{r.get("name")}({(r.get("properties") or {}).get("access", "?")} '
                              f'{(r.get("properties") or {}).get("direction", "?")} '
                              f'{(r.get("properties") or {}).get("priority", "?")})' for r in rules)
            flush = ' flushConnection' if props.get('flushConnection') else ''
            rows[f'NSG {name}'] = f'{len(rules)} rule(s){flush}' + (f': {shown}' if shown else '')
        elif len(kind) == 3 and kind[1].lower() == 'networkinterfaces':
            nsg = _name((props.get('networkSecurityGroup') or {}).get('id'))
            rows[f'NIC {name}'] = f'NSG {nsg}'
        elif len(kind) == 3 and kind[1].lower() == 'snapshots':
            incremental = ' incremental' if props.get('incremental') else ''
            rows[f'Snapshot {name}'] = f'{props.get("provisioningState") or "?"}{incremental}'
        elif len(kind) == 3 and kind[1].lower() == 'virtualmachines':
            rows[f'VM {name}'] = _find_power_state(body) or (props.get('provisioningState') or '?')
    return rows


def print_summary(stream, style: Style, snapshots: list[tuple[str, dict[str, str]]]) -> None:
    keys: list[str] = []
    for _label, rows in snapshots:
        keys.extend(k for k in rows if k not in keys)
    stream.write(style.bold('Azure state (read from the emulator)') + '\n')
    for key in keys:
        values = [rows.get(key, '(absent)') for _label, rows in snapshots]
        if all(v == values[0] for v in values):
            stream.write(f'  {key}: {values[0]}' + style.dim('  (unchanged)') + '\n')
            continue
        stream.write(f'  {style.bold(key)}\n')
        for (label, _rows), value in zip(snapshots, values, strict=True):
            stream.write(f'      {label:<10} {value}\n')
    stream.flush()


# ---------------------------------------------------------------------------------------------------------------
# The walk-through
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Step:
    title: str
    command: str
    args: dict | Callable[[], dict]    # a callable: args that come from an earlier step's context
    poll: bool = False
    check: Callable[[RunResult, Any], None] | None = None
    contained_view: bool = False       # the summary's "contained" column is read right after this step

    def resolved_args(self) -> dict:
        return self.args() if callable(self.args) else self.args


def write_instance(emu: Any, directory: str) -> str:
    """The instance file for the emulator; the client secret is referenced as env:<SECRET_ENV>."""
    with open(SCENARIO_FILE, encoding='utf-8') as handle:
        scenario = yaml.safe_load(handle)
    subscription = scenario['subscriptions'][0]
    creds = emu.credentials[APP]
    os.environ[SECRET_ENV] = creds['secret']
    instance = {
        'azure_cloud': 'Custom',
        'azure_ad_endpoint': emu.login_url,
        'arm_endpoint': emu.arm_url,
        'self_deployed': True,
        'auth_type': 'Client Credentials',
        'auth_id': {'identifier': '', 'password': creds['client_id']},
        'tenant_id': {'identifier': '', 'password': creds['tenant_id']},
        'enc_key': {'identifier': '', 'password': f'env:{SECRET_ENV}'},
        'subscription_id': subscription['id'],
        'resource_group': subscription['resource_groups'][0]['name'],
        'default_nsg_name': EDGE_NSG,
        'insecure': False,
        'proxy': False,
        '_env': {'REQUESTS_CA_BUNDLE': emu.ca_bundle},
    }
    path = os.path.join(directory, 'demo-instance.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('# Azure Containment instance for the local emulator (written by python -m Tests.demo).\n')
        yaml.safe_dump(instance, handle, sort_keys=False)
    return path


def _resource(emu: Any, kind: str, name: str) -> dict | None:
    for resource_id, body in emu.state().get('resources', {}).items():
        if resource_id.endswith(f'/{kind}/{name}'.lower()):
            return body
    return None


def _nsg_rules(emu: Any, nsg: str) -> Any:
    """What isolation must never change on a shared NSG: its rules (NIC/subnet back-references may change)."""
    props = (_resource(emu, 'networksecuritygroups', nsg) or {}).get('properties') or {}

    def content(rules: Any) -> list:   # a rule as written: etags change with every write to the NSG
        return sorted(((r.get('name'), {k: v for k, v in (r.get('properties') or {}).items()
                                        if k != 'provisioningState'}) for r in rules or []), key=lambda r: str(r[0]))
    return content(props.get('securityRules')), content(props.get('defaultSecurityRules')), \
        props.get('flushConnection')


def _nic_nsg(emu: Any, nic: str) -> str:
    body = _resource(emu, 'networkinterfaces', nic) or {}
    return _name(((body.get('properties') or {}).get('networkSecurityGroup') or {}).get('id'))


def build_steps(emu: Any, web_nsg_before: Any, web02_before: str) -> list[Step]:
    # web-nsg's rules as the block left them: what isolation must then leave alone
    blocked_rules: dict[str, Any] = {}

    def expect_context(path: str, field: str, allowed: set) -> Callable[[RunResult, Any], None]:
        def check(result: RunResult, _emu: Any) -> None:
            values = {str(item.get(field)) for item in result.context.get(path, []) if isinstance(item, dict)}
            if not values or not values <= allowed:
                raise DemoFailure(f'expected {path}.{field} in {sorted(allowed)}, got {sorted(values) or "nothing"}')
        return check

    def isolated_only_web01(result: RunResult, emu_: Any) -> None:
        expect_context('AzureContainment.Isolation', 'Status', {'Isolated', 'AlreadyIsolated'})(result, emu_)
        if _nsg_rules(emu_, SHARED_NSG) != blocked_rules.get(SHARED_NSG):
            raise DemoFailure(f'the rules of {SHARED_NSG} changed: isolation must never edit a shared NSG')
        if _nic_nsg(emu_, 'web-02-nic0') != web02_before:
            raise DemoFailure(f'{NEIGHBOUR_VM} lost its NSG {web02_before}')
        for nic in ('web-01-nic0', 'web-01-nic1'):
            if _nic_nsg(emu_, nic).lower() == SHARED_NSG:
                raise DemoFailure(f'{nic} is still on {SHARED_NSG}')
        expect_verdict('Verified')(result, emu_)

    def expect_verdict(verdict: str, rule: str | None = None) -> Callable[[RunResult, Any], None]:
        """The isolation's verification (read from what Azure enforces) says `verdict`, naming `rule`."""
        def check(result: RunResult, _emu: Any) -> None:
            items = [item for item in result.context.get('AzureContainment.Isolation', []) if isinstance(item, dict)]
            found = [item.get('Verification') or {} for item in items]
            rules = [b.get('Rule') for v in found for b in v.get('Bypasses') or []]
            if [v.get('Verdict') for v in found] != [verdict] or (rule and rule not in rules):
                raise DemoFailure(f'expected the verdict {verdict}' + (f' naming {rule}' if rule else '')
                                  + f', got {found}')
        return check

    found: dict[str, str] = {}

    def found_web01(result: RunResult, _emu: Any) -> None:
        items = [item for item in result.context.get('AzureContainment.Find', []) if isinstance(item, dict)]
        vms = [vm for item in items if item.get('Status') == 'Found' for vm in item.get('VMs') or []]
        if len(items) != 1 or len(vms) != 1 or vms[0].get('Name') != TARGET_VM:
            raise DemoFailure(f'expected {ALERT_HOST_IP} to be found on {TARGET_VM} alone, got {items}')
        found['vm_id'] = vms[0]['ID']

    def by_found_id(**extra: str) -> Callable[[], dict]:
        def args() -> dict:
            if 'vm_id' not in found:
                raise DemoFailure('no VM ID from the find step')
            return {'vm_id': found['vm_id'], **extra}
        return args

    def snapshots_taken(result: RunResult, emu_: Any) -> None:
        items = [item for item in result.context.get('AzureContainment.Snapshot', []) if isinstance(item, dict)]
        roles = sorted(str(item.get('DiskRole')) for item in items)
        states = {str(item.get('ProvisioningState')) for item in items}
        if roles != ['Data', 'Data', 'OS'] or states != {'Succeeded'}:
            raise DemoFailure(f'expected 3 succeeded snapshots (OS + 2 data disks), got {roles} {sorted(states)}')
        held = [rid for rid in emu_.state().get('resources', {}) if '/providers/microsoft.compute/snapshots/' in rid]
        if len(held) != 3:
            raise DemoFailure(f'the emulator holds {len(held)} snapshots, expected 3')

    def blocked(result: RunResult, emu_: Any) -> None:
        expect_context('AzureContainment.BlockedIP', 'Status', {'Blocked', 'AlreadyBlocked'})(result, emu_)
        blocked_rules[SHARED_NSG] = _nsg_rules(emu_, SHARED_NSG)

    def unblocked(result: RunResult, emu_: Any) -> None:
        expect_context('AzureContainment.BlockedIP', 'Status', {'Unblocked', 'NotBlocked'})(result, emu_)
        if _nsg_rules(emu_, SHARED_NSG) != web_nsg_before:
            raise DemoFailure(f'{SHARED_NSG} is not back to its rules before the incident')

    def blocked_for_a_day(result: RunResult, _emu: Any) -> None:
        items = [item for item in result.context.get('AzureContainment.BlockedIP', []) if isinstance(item, dict)]
        listed = sorted((item.get('IP'), item.get('Direction')) for item in items)
        expected = sorted((ip, direction) for ip in ATTACKER_IPS for direction in ('Inbound', 'Outbound'))
        if listed != expected:
            raise DemoFailure(f'block-list shows {listed}, expected {expected}')
        for item in items:
            blocked = datetime.fromisoformat(str(item.get('BlockedAt')).replace('Z', '+00:00'))
            expires = datetime.fromisoformat(str(item.get('ExpiresAt')).replace('Z', '+00:00'))
            lasts = (expires - blocked).total_seconds()
            if item.get('Status') != 'Active' or item.get('IncidentID') != INCIDENT_ID or not 86400 <= lasts <= 86460:
                raise DemoFailure(f'expected an active 24-hour block of incident {INCIDENT_ID}, got {item}')

    def neighbour_untouched(result: RunResult, emu_: Any) -> None:
        if _nic_nsg(emu_, 'web-02-nic0') != web02_before:
            raise DemoFailure(f'{NEIGHBOUR_VM} lost its NSG {web02_before}')

    def released(result: RunResult, emu_: Any) -> None:
        expect_context('AzureContainment.Isolation', 'Status', {'Released', 'NotIsolated'})(result, emu_)
        for nic in ('web-01-nic0', 'web-01-nic1'):
            if _nic_nsg(emu_, nic).lower() != SHARED_NSG:
                raise DemoFailure(f'{nic} is on {_nic_nsg(emu_, nic)}, not back on {SHARED_NSG}')

    ips = ','.join(ATTACKER_IPS)
    return [
        Step('Test the instance (the Test button)', 'test-module', {}),
        Step(f'The alert names only {ALERT_HOST_IP}: find the VM', 'azure-vm-find', {'ip': ALERT_HOST_IP},
             check=found_web01),
        Step(f'Keep the evidence first: snapshot every disk of {TARGET_VM} (polling followed)', 'azure-vm-snapshot',
             by_found_id(interval_in_seconds='10'), poll=True, check=snapshots_taken),
        Step(f'Block the two attacker IPs on {SHARED_NSG} (web-01 and web-02) for 24 hours', 'azure-nsg-block-ip',
             {'ip': ips, 'nsg_name': SHARED_NSG, 'expires_in': BLOCK_FOR}, check=blocked),
        Step(f'What the pack blocks on {SHARED_NSG}: since when, until when, for which incident',
             'azure-nsg-block-list', {'nsg_name': SHARED_NSG}, check=blocked_for_a_day),
        Step(f'Isolate {TARGET_VM} (its NICs move to a dedicated deny-all NSG)', 'azure-vm-isolate',
             by_found_id(), check=isolated_only_web01),
        Step(f'{NEIGHBOUR_VM} shares {SHARED_NSG}: still reachable, untouched', 'azure-vm-get',
             {'vm_name': NEIGHBOUR_VM}, check=neighbour_untouched),
        Step(f'{BYPASSED_VM} (subscription SOC Apps) is behind an AlwaysAllow security admin rule: isolate it, '
             'the verdict says Bypassed', 'azure-vm-isolate', APPS, check=expect_verdict('Bypassed', ADMIN_RULE)),
        Step(f'Deallocate {TARGET_VM} (polling followed)', 'azure-vm-power',
             by_found_id(action='deallocate', interval_in_seconds='10'), poll=True,
             check=expect_context('AzureContainment.VM', 'PowerState', {'deallocated', 'VM deallocated'})),
        Step(f'Show {TARGET_VM}', 'azure-vm-get', by_found_id(), contained_view=True),
        Step(f'Release: unisolate {TARGET_VM}', 'azure-vm-unisolate', {'vm_name': TARGET_VM}, check=released),
        Step(f'Release: unisolate {BYPASSED_VM}', 'azure-vm-unisolate', APPS,
             check=expect_context('AzureContainment.Isolation', 'Status', {'Released'})),
        Step(f'Release: unblock the attacker IPs on {SHARED_NSG}', 'azure-nsg-unblock-ip',
             {'ip': ips, 'nsg_name': SHARED_NSG}, check=unblocked),
        Step(f'Release: start {TARGET_VM} (polling followed)', 'azure-vm-power',
             {'vm_name': TARGET_VM, 'action': 'start', 'interval_in_seconds': '10'}, poll=True,
             check=expect_context('AzureContainment.VM', 'PowerState', {'running', 'VM running'})),
    ]


def run_step(index: int, total: int, step: Step, inst: XsoarInstance, emu: Any, printer: Printer,
             style: Style) -> None:
    out = printer.stream
    out.write('\n' + style.bold(f'[{index}/{total}] {step.title}') + '\n')
    args = step.resolved_args()
    printer.header(step.command, args)
    if step.poll:
        def on_run(run_index: int, result: RunResult) -> None:
            if run_index == 0 or not result.scheduled:
                if run_index:
                    printer.done()
                printer.entries(result)
            if result.scheduled:
                printer.progress(f'polling {result.scheduled["command"]}: run {run_index + 1}, next check in '
                                 f'{result.scheduled["next_run_in_seconds"]}s (demo: waiting {POLL_WAIT_SECONDS:g}s)')

        runs = inst.run_polling(step.command, args, sleep=True, max_sleep=POLL_WAIT_SECONDS, on_run=on_run)
        printer.done()
        if runs[-1].timed_out:
            printer.entries(runs[-1])
        result = runs[-1]
    else:
        result = inst.run(step.command, args)
        printer.entries(result)
    if not result.ok:
        raise DemoFailure(f'{step.command} returned an error entry: {result.errors[0].splitlines()[0]}')
    if step.check:
        step.check(result, emu)


def _load_emulator_class():
    try:
        from Tests.azure_emulator import Emulator
    except ImportError as exc:
        raise DemoFailure('the demo needs Tests.azure_emulator.Emulator (the emulator issue), which is not '
                          f'available yet: {exc}') from None
    return Emulator


def run_demo(step_mode: bool = False, keep_dir: str | None = None, color: bool | None = None,
             stream=None) -> int:
    """The demo; returns the exit code (0: every step did what it should)."""
    stream = stream or sys.stdout
    style = Style(stream.isatty() if color is None else color)
    printer = Printer(stream, style, live=stream.isatty())
    started = time.monotonic()
    emu = None
    temp_dir = None

    def on_sigterm(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        emulator_class = _load_emulator_class()
        stream.write(style.bold('Azure Containment demo: one incident, contained and released, in the local '
                                'Azure emulator') + '\n')
        emu = emulator_class(scenario='default')
        emu.start()
        stream.write(f'Emulator: Entra ID {emu.login_url}, ARM {emu.arm_url}\n')
        if keep_dir:
            directory = keep_dir
            os.makedirs(directory, exist_ok=True)
        else:  # removed at the end: the state file caches access tokens
            temp_dir = tempfile.TemporaryDirectory(prefix='azure-containment-demo-')
            directory = temp_dir.name
        instance_file = write_instance(emu, directory)
        params, env = load_params(instance_file)
        state_file = os.path.join(directory, 'demo-instance.state.json')
        if os.path.exists(state_file):
            os.remove(state_file)
        inst = XsoarInstance(params, state_file=state_file, env=env, incident=INCIDENT_ID)
        stream.write(f'Instance: {instance_file} (client secret from ${SECRET_ENV}), context in {state_file}\n')
        # The emulator lives only as long as the demo: by hand means during a --step pause, from another shell.
        stream.write(f'Same commands by hand (during a --step pause, from another shell, with {SECRET_ENV} set to '
                     f"the soc-responder secret of the default scenario): python -m Tests.xsoar_local run "
                     f'<command> [name=value ...] --params {instance_file}\n')

        before_state = emu.state()
        web_nsg_before = _nsg_rules(emu, SHARED_NSG)
        web02_before = _nic_nsg(emu, 'web-02-nic0')
        steps = build_steps(emu, web_nsg_before, web02_before)
        snapshots = [('before', summarize(before_state))]
        for index, step in enumerate(steps, 1):
            if step_mode:
                stream.write(style.dim(f'-- press Enter for step {index}: {step.title} --'))
                stream.flush()
                sys.stdin.readline()
            run_step(index, len(steps), step, inst, emu, printer, style)
            if step.contained_view:
                snapshots.append(('contained', summarize(emu.state())))
        snapshots.append(('released', summarize(emu.state())))
        stream.write('\n')
        print_summary(stream, style, snapshots)
        stream.write(style.green(f'\nDemo complete: {len(steps)} steps, every entry as expected, '
                                 f'{time.monotonic() - started:.1f} s.') + '\n')
        return 0
    except DemoFailure as exc:
        printer.done()
        stream.write(style.red(f'\nDemo failed: {exc}') + '\n')
        return 1
    except KeyboardInterrupt:
        printer.done()
        stream.write('\nDemo interrupted.\n')
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if emu is not None:
            try:
                emu.stop()
                stream.write(style.dim('Emulator stopped.') + '\n')
            except Exception as exc:  # noqa: BLE001 - report, never hide the demo's own outcome
                stream.write(f'(stopping the emulator failed: {exc})\n')
        if temp_dir is not None:
            temp_dir.cleanup()
        stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m Tests.demo',
                                     description='Contain and release one incident in the local Azure emulator.')
    parser.add_argument('--step', action='store_true', help='pause before each command (press Enter)')
    parser.add_argument('--keep', metavar='DIR', help='write the instance and state files to DIR and keep them')
    color = parser.add_mutually_exclusive_group()
    color.add_argument('--color', dest='color', action='store_true', default=None)
    color.add_argument('--no-color', dest='color', action='store_false')
    options = parser.parse_args(argv)
    return run_demo(step_mode=options.step, keep_dir=options.keep, color=options.color)
