"""What the reliability tests run: every Azure-changing command (its setup, arguments, the write a fault hits, its
reverse) and every fault, and a comparable view of the Azure state they leave (no tests here)."""
from __future__ import annotations

import copy
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from Tests.e2e.clock import run_at
from Tests.e2e.support import COMPUTE, NET, instance

INCIDENT = '4711'   # every run happens in this incident: snapshot names derive from it, not from the clock
IP = '203.0.113.7'
VM = 'web-01'       # two NICs on web-nsg, an OS disk and two data disks (scenarios/default.yaml)
ISOLATION_NSG = f'{NET}/networkSecurityGroups/xsoar-isolation-{VM}'.lower()
# Quick runs: a read timeout in 1 s (the emulator's timeout fault holds a request 3 s).
FAST_PARAMS = {'request_timeout': '1'}


@dataclass(frozen=True)
class Command:
    """An Azure-changing command as the reliability tests run it."""
    key: str                       # row label: the command and what it does
    command: str
    args: dict
    target: tuple[str, str]        # (method, path substring) of the write a fault hits: the command's last one
    alone: tuple[str, str]         # a write the command makes with no other request in flight (the token expiry)
    setup: tuple[tuple[str, dict], ...] = ()   # commands run first (the state the command starts from)
    reverse: tuple[str, dict] | None = None    # the command that undoes it
    polling: bool = False
    setup_at: datetime | None = None           # the setup runs with the clock at this time (Tests/e2e/clock.py)


def _power(action: str) -> dict:
    return {'vm_name': VM, 'action': action, 'interval_in_seconds': '10'}


COMMANDS: tuple[Command, ...] = (
    Command('azure-nsg-block-ip', 'azure-nsg-block-ip', {'ip': IP, 'nsg_name': 'edge-nsg'},
            ('PUT', '/securityRules/xsoar-block-out-'), ('PUT', '/securityRules/xsoar-block-in-'),
            reverse=('azure-nsg-unblock-ip', {'ip': IP, 'nsg_name': 'edge-nsg'})),
    Command('azure-nsg-unblock-ip', 'azure-nsg-unblock-ip', {'ip': IP, 'nsg_name': 'edge-nsg'},
            ('DELETE', '/securityRules/xsoar-block-out-'), ('DELETE', '/securityRules/xsoar-block-in-'),
            setup=(('azure-nsg-block-ip', {'ip': IP, 'nsg_name': 'edge-nsg'}),),
            reverse=('azure-nsg-block-ip', {'ip': IP, 'nsg_name': 'edge-nsg'})),
    # Blocks of 1 hour taken on 2026-01-01 (a controlled clock): expired now, so the expiry removes both rules.
    Command('azure-nsg-block-expire', 'azure-nsg-block-expire', {'nsg_name': 'edge-nsg'},
            ('DELETE', '/securityRules/xsoar-block-out-'), ('DELETE', '/securityRules/xsoar-block-in-'),
            setup=(('azure-nsg-block-ip', {'ip': IP, 'nsg_name': 'edge-nsg', 'expires_in': '1 hour'}),),
            setup_at=datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)),
    Command('azure-vm-isolate', 'azure-vm-isolate', {'vm_name': VM}, ('PUT', f'/networkInterfaces/{VM}-nic1'),
            ('PUT', f'/networkSecurityGroups/xsoar-isolation-{VM}'), reverse=('azure-vm-unisolate', {'vm_name': VM})),
    Command('azure-vm-unisolate', 'azure-vm-unisolate', {'vm_name': VM},
            ('DELETE', f'/networkSecurityGroups/xsoar-isolation-{VM}'),
            ('DELETE', f'/networkSecurityGroups/xsoar-isolation-{VM}'),
            setup=(('azure-vm-isolate', {'vm_name': VM}),), reverse=('azure-vm-isolate', {'vm_name': VM})),
    Command('azure-vm-power deallocate', 'azure-vm-power', _power('deallocate'), ('POST', f'/{VM}/deallocate'),
            ('POST', f'/{VM}/deallocate'), reverse=('azure-vm-power', _power('start')), polling=True),
    Command('azure-vm-snapshot', 'azure-vm-snapshot', {'vm_name': VM, 'interval_in_seconds': '10'},
            ('PUT', f'/snapshots/xsoar-inc{INCIDENT}-{VM}_DataDisk_1'),
            ('PUT', f'/snapshots/xsoar-inc{INCIDENT}-{VM}_DataDisk_0'), polling=True),   # disks one after another
)


@dataclass(frozen=True)
class Fault:
    """A fault of the emulator, aimed at a command's target write (`at_target`) or at something else."""
    key: str
    kind: str
    spec: dict = field(default_factory=dict)
    at_target: bool = True          # False: spec says where (e.g. the login listener)
    at_alone_write: bool = False    # hits Command.alone instead of the target
    cold_token: bool = False        # the instance holds no cached token (Entra ID is needed)
    params: dict = field(default_factory=dict)
    recovers: bool = True           # the command succeeds (Azure fully applied); False: a clear error, Azure unchanged


FAULTS: tuple[Fault, ...] = (
    Fault('429 Retry-After 1 s', '429', {'retry_after': 1}),
    Fault('429 RetryableErrorDueToAnotherOperation', '429',
          {'retry_after': 1, 'error_code': 'RetryableErrorDueToAnotherOperation'}),
    Fault('500', '500'),
    Fault('503 Retry-After 1 s', '503', {'retry_after': 1}),
    Fault('connection reset', 'reset'),
    Fault('read timeout', 'timeout', {'delay_seconds': 3}),
    Fault('long-running operation ends Failed', 'lro_failed', {'error_code': 'InternalServerError'}, recovers=False),
    # Right after a write the command makes alone: after one of the parallel NIC writes, the other NIC's requests
    # would meet the expiry too, or not, and the count of retries would vary from run to run.
    Fault('token expires mid-command', 'expire_tokens', at_alone_write=True),
    Fault('Entra ID unreachable', 'unreachable', {'listener': 'login', 'count': None, 'duration_seconds': 120},
          at_target=False, cold_token=True, recovers=False),
    Fault('Retry-After 600 s, beyond the retry budget', '429', {'retry_after': 600}, recovers=False),
)


# The full run (tox -e reliability, RELIABILITY=full) runs every cell and every crash point; the default run (tox)
# a sample that still meets each fault, each command and each rollback path: every fault once or more, every command
# twice or more, and a fault it cannot ride out on every command that rolls back (block, unblock, expire, isolate,
# unisolate, snapshot); and a crash at the first write of every command, the crash that leaves the most to finish.
FULL = os.environ.get('RELIABILITY', '').strip().lower() == 'full'
SAMPLE_CELLS: tuple[tuple[str, str], ...] = (
    ('azure-nsg-block-ip', '429 Retry-After 1 s'),
    ('azure-nsg-block-ip', 'long-running operation ends Failed'),
    ('azure-nsg-unblock-ip', '429 RetryableErrorDueToAnotherOperation'),
    ('azure-nsg-unblock-ip', 'Retry-After 600 s, beyond the retry budget'),
    ('azure-nsg-block-expire', '500'),
    ('azure-nsg-block-expire', 'long-running operation ends Failed'),
    ('azure-vm-isolate', '500'),
    ('azure-vm-isolate', 'long-running operation ends Failed'),
    ('azure-vm-unisolate', '503 Retry-After 1 s'),
    ('azure-vm-unisolate', 'long-running operation ends Failed'),
    ('azure-vm-power deallocate', 'connection reset'),
    ('azure-vm-power deallocate', 'token expires mid-command'),
    ('azure-vm-snapshot', 'read timeout'),
    ('azure-vm-snapshot', 'Entra ID unreachable'),
    ('azure-vm-snapshot', 'Retry-After 600 s, beyond the retry budget'),
)
SAMPLE_CRASH_WRITE = 1


# -- the Azure state, comparable -------------------------------------------------------------------------------

VOLATILE = {'etag', 'time', 'resourceGuid', 'timeCreated', 'provisioningState', 'uniqueId'}
ISO_TIME = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?|\b\d{8}T\d{4,6}Z\b')   # + the audit's


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return ISO_TIME.sub('<time>', value)
    return value


def azure_state(emu) -> dict:
    """Every resource of the emulator without what changes on each write or read (etags, times, provisioning
    states), lists of references sorted, VMs' power state kept: equal states are the same containment."""
    state = {}
    for rid, raw in copy.deepcopy(emu.state()['resources']).items():
        body = _clean(raw)
        props = body.get('properties') or {}
        for key in ('networkInterfaces', 'subnets', 'securityRules'):
            if isinstance(props.get(key), list):
                props[key] = sorted(props[key], key=lambda ref: str(ref.get('id') or ref.get('name') or '').lower())
        state[rid.lower()] = body
    return state


def difference(a: dict, b: dict) -> list[str]:
    """The resource IDs whose state differs (added, removed or changed), sorted: short, readable."""
    return sorted(short_id(rid) for rid in set(a) | set(b) if a.get(rid) != b.get(rid))


def short_id(rid: str) -> str:
    parts = rid.strip('/').split('/')
    return '/'.join(parts[-2:]) if len(parts) >= 2 else rid


_STATE_DIR = tempfile.TemporaryDirectory(prefix='reliability-')


def run_instance(emu, state_file: str | None = None, **params: Any):
    """An instance of the soc-responder app with quick timeouts and a state file of its own (the integration
    context, which child processes share)."""
    if state_file is None:
        handle, state_file = tempfile.mkstemp(suffix='.state.json', dir=_STATE_DIR.name)
        os.close(handle)
        os.unlink(state_file)   # the store creates it
    return instance(emu, state_file=state_file, **{**FAST_PARAMS, **params})


def run_setup(emu, cmd: Command, inst) -> None:  # noqa: ARG001 - emu: the Azure the setup changes
    for name, args in cmd.setup:
        if cmd.setup_at is not None:
            results = [run_at(inst, cmd.setup_at, name, args)]
        else:
            results = inst.run_polling(name, args, sleep=True, max_sleep=0.2, incident=None)
        assert results[-1].ok, (name, results[-1].errors)


__all__ = ['COMMANDS', 'COMPUTE', 'FAULTS', 'INCIDENT', 'ISOLATION_NSG', 'NET', 'Command', 'Fault', 'azure_state',
           'difference', 'run_instance', 'run_setup']
