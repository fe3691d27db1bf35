"""Polling commands keep their whole state in their ScheduledCommand arguments: every poll here runs in a fresh
process (python -m Tests.xsoar_local run, like an engine that restarted between polls) with only the arguments the
previous run scheduled, and the command still finishes -- writing nothing twice."""
from __future__ import annotations

import time

import pytest

from Tests.reliability.scenarios import INCIDENT, VM, azure_state, run_instance
from Tests.xsoar_local.harness import new_incident

MAX_POLLS = 30


def _follow_in_fresh_processes(emu, command: str, args: dict) -> tuple[list, list[dict]]:
    inst = run_instance(emu)
    inst.incident = new_incident(INCIDENT)
    emu.clear_writes()
    runs = [inst.run_in_subprocess(command, args)]
    while runs[-1].scheduled and len(runs) < MAX_POLLS:
        scheduled = runs[-1].scheduled
        assert scheduled['command'] == command
        time.sleep(0.3)   # XSOAR waits next_run_in_seconds; the emulator's operations take about a second
        inst.integration_context = {}   # a new engine: nothing but the scheduled arguments (and Azure) carries over
        runs.append(inst.run_in_subprocess(scheduled['command'], scheduled['args']))
    return runs, emu.writes()


def _vm_power_state(emu) -> str:
    vm = next(body for rid, body in azure_state(emu).items() if rid.endswith(f'/virtualmachines/{VM}'))
    statuses = ((vm.get('properties') or {}).get('instanceView') or {}).get('statuses') or []
    return next(s['code'] for s in statuses if s['code'].startswith('PowerState/'))


@pytest.mark.parametrize(('action', 'final'), [('deallocate', 'PowerState/deallocated')])
def test_power_finishes_from_its_arguments_alone(emu, action, final):
    runs, writes = _follow_in_fresh_processes(emu, 'azure-vm-power',
                                              {'vm_name': VM, 'action': action, 'interval_in_seconds': '10'})
    assert len(runs) > 1, 'the first run already finished: nothing was polled'
    assert all(r.ok for r in runs), [r.errors for r in runs]
    assert runs[-1].scheduled is None
    assert [w['method'] for w in writes] == ['POST']   # the polls only read
    assert _vm_power_state(emu) == final
    vm = runs[-1].context['AzureContainment.VM']
    assert (vm[0] if isinstance(vm, list) else vm)['PowerState'] == final.split('/')[1]


def test_snapshot_finishes_from_its_arguments_alone(emu):
    runs, writes = _follow_in_fresh_processes(emu, 'azure-vm-snapshot', {'vm_name': VM, 'interval_in_seconds': '10'})
    assert len(runs) > 1, 'the first run already finished: nothing was polled'
    assert all(r.ok for r in runs), [r.errors for r in runs]
    assert runs[-1].scheduled is None
    assert [w['method'] for w in writes] == ['PUT'] * 3   # one per disk, none by the polls
    items = runs[-1].context['AzureContainment.Snapshot']
    assert sorted(i['Status'] for i in items) == ['Created'] * 3
    assert {i['ProvisioningState'] for i in items} == {'Succeeded'}
