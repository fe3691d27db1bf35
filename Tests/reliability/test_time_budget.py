"""The time budget (instance param time_budget): a command never waits past it; when a wait would, the error says
which writes were done and what was not, and the command's rollback leaves Azure unchanged."""
from __future__ import annotations

from Tests.reliability.scenarios import INCIDENT, IP, VM, azure_state, run_instance
from Tests.xsoar_local.harness import new_incident


def _instance(emu, **params):
    inst = run_instance(emu, **params)
    inst.incident = new_incident(INCIDENT)
    return inst


def _attempts(emu, since_writes: int, path: str) -> int:
    return sum(1 for e in emu.request_log() if e['seq'] > since_writes and path in e['path'] and e['method'] != 'GET')


def test_block_stops_at_the_budget_says_what_was_done_and_rolls_back(emu):
    inst = _instance(emu, time_budget='10')
    inst.run('azure-vm-list', {})   # a token in the cache: the budget goes to the block
    before = azure_state(emu)
    # The second direction is throttled for 9 s: with at least 1 s spent on the first direction, waiting would end
    # past the 10 s budget, so the command does not wait.
    emu.inject_fault('429', method='PUT', path_contains='/securityRules/xsoar-block-out-', retry_after=9, count=5)
    seq = emu.request_log()[-1]['seq']
    result = inst.run('azure-nsg-block-ip', {'ip': IP, 'nsg_name': 'edge-nsg'})
    assert not result.ok
    error = ' '.join(result.errors)
    assert 'The time budget of 10 s (instance param time_budget) ran out while waiting' in error
    assert 'Done in Azure: PUT securityRules/xsoar-block-in-v4-' in error
    assert 'Not done:' in error
    assert 'run the same command again' in error
    assert 'Rolled back: the rule(s) this call had written (xsoar-block-in-v4-' in error
    assert _attempts(emu, seq, '/securityRules/xsoar-block-out-') == 1   # not sent again: no wait past the budget
    assert azure_state(emu) == before


def test_isolation_stops_at_the_budget_and_rolls_back(emu):
    inst = _instance(emu, time_budget='10')
    inst.run('azure-vm-list', {})
    before = azure_state(emu)
    emu.inject_fault('503', method='PUT', path_contains=f'/networkInterfaces/{VM}-nic1', retry_after=9, count=5)
    result = inst.run('azure-vm-isolate', {'vm_name': VM})
    assert not result.ok
    error = ' '.join(result.errors)
    assert 'time budget of 10 s' in error
    assert 'Rolled back' in error
    isolation = result.context['AzureContainment.Isolation']
    assert (isolation[0] if isinstance(isolation, list) else isolation)['Status'] == 'RolledBack'
    assert azure_state(emu) == before


def test_budget_and_request_timeout_are_checked_params(emu):
    for name, value in (('time_budget', '5'), ('time_budget', 'soon'), ('request_timeout', '0')):
        result = _instance(emu, **{name: value}).run('azure-vm-list', {})
        assert not result.ok
        assert f'({name}) must be a whole number' in ' '.join(result.errors)
