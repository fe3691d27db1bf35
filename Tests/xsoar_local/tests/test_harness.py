"""The harness runs an integration like XSOAR: fresh module per run, entries/logs/context collected, integration
context persisted (also across processes, with versioned conflicts), polling followed, unified YAML supported.
Uses a throwaway integration (tests/tiny/TinyIntegration.py), not the pack's."""
import json
import multiprocessing
import os

import pytest
import yaml

from Tests.xsoar_local.harness import FileContextStore, XsoarInstance, merge_entry_context, new_incident

TINY = os.path.join(os.path.dirname(__file__), 'tiny', 'TinyIntegration.py')
PARAMS = {'secret': {'identifier': '', 'password': 'TopSecret-123'}, 'subscription_id': 'sub-1'}
STRIPPED_LINES = ('import demistomock as demisto', 'from CommonServerPython import *',
                  'from CommonServerUserPython import *')


def unified_yaml(tmp_path) -> str:
    """A unified YAML the way prepare-content writes it: the import lines stripped, code in script.script."""
    with open(TINY, encoding='utf-8') as handle:
        lines = [line for line in handle.read().splitlines() if not line.startswith(STRIPPED_LINES)]
    document = {'commonfields': {'id': 'Tiny', 'version': -1}, 'name': 'Tiny',
                'script': {'type': 'python', 'subtype': 'python3', 'script': '\n'.join(lines) + '\n',
                           'commands': [{'name': 'tiny-echo'}]}}
    path = tmp_path / 'integration-Tiny.yml'
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding='utf-8')
    return str(path)


@pytest.fixture
def inst():
    return XsoarInstance(PARAMS, integration=TINY)


def test_test_module_returns_ok(inst):
    res = inst.run('test-module')
    assert res.ok
    assert res.entries == [{'Type': 1, 'ContentsFormat': 'text', 'Contents': 'ok'}]
    assert res.readable == 'ok'
    assert res.exit_code == 0


def test_entries_context_and_readable(inst):
    res = inst.run('tiny-echo', {'name': 'a', 'value': 'x|y'})
    assert res.ok
    assert res.entries[0]['EntryContext'] == {'Tiny.Echo(val.Name && val.Name == obj.Name)':
                                              {'Name': 'a', 'Value': 'x|y'}}
    assert res.context == {'Tiny.Echo': [{'Name': 'a', 'Value': 'x|y'}]}
    assert '| a | x\\|y |' in res.readable
    assert res.scheduled is None


def test_error_entry_is_masked_and_run_exits_zero(inst):
    res = inst.run('tiny-fail')
    assert not res.ok
    assert res.exit_code == 0  # return_error -> sys.exit(0), like XSOAR
    assert res.errors == ['Failed to execute tiny-fail command.\nError:\nthe secret <XX_REPLACED> was refused']
    assert all('TopSecret-123' not in line for line in res.logs)
    assert any('<XX_REPLACED>' in line for line in res.logs)


def test_crash_becomes_error_entry_with_masked_traceback(inst):
    res = inst.run('tiny-crash')
    assert not res.ok
    assert res.errors[0].startswith('Failed to execute tiny-crash command.')
    res = inst.run('tiny-uncaught')
    assert res.errors == ['Script failed to run: RuntimeError: uncaught with <XX_REPLACED>']
    assert res.exit_code == 1
    assert 'Traceback' in res.traceback
    assert 'TopSecret-123' not in res.traceback
    assert all('TopSecret-123' not in line for line in res.logs)
    res = XsoarInstance(PARAMS, integration=TINY).run('tiny-exit')
    assert res.exit_code == 3
    assert res.errors == ['Script exited with code 3']


def test_unknown_command(inst):
    res = inst.run('nope')
    assert res.errors == ["Failed to execute nope command.\nError:\nCommand 'nope' is not implemented"]


def test_every_run_gets_a_fresh_module(inst):
    assert [inst.run('tiny-module-state').readable for _ in range(3)] == ['imports=1'] * 3


def test_env_is_applied_and_restored(monkeypatch):
    monkeypatch.delenv('TINY_VAR', raising=False)
    inst = XsoarInstance(PARAMS, integration=TINY, env={'TINY_VAR': 'set'})
    assert inst.run('tiny-env').readable == 'TINY_VAR=set'
    assert 'TINY_VAR' not in os.environ


def test_stdout_goes_to_logs(inst, capsys):
    res = inst.run('tiny-print')
    assert res.readable == 'printed'
    assert 'printed line' in res.logs
    assert 'printed line' not in capsys.readouterr().out


def test_integration_context_persists_between_runs_in_memory(inst):
    for expected in (1, 2, 3):
        assert inst.run('tiny-counter').readable == f'count={expected}'
    assert inst.integration_context == {'count': 3}
    assert inst.integration_context_version == 3
    assert XsoarInstance(PARAMS, integration=TINY).integration_context == {}  # another instance


def test_integration_context_persists_in_state_file(tmp_path):
    state = str(tmp_path / 'state.json')
    XsoarInstance(PARAMS, integration=TINY, state_file=state).run('tiny-counter')
    res = XsoarInstance(PARAMS, integration=TINY, state_file=state).run('tiny-counter')
    assert res.readable == 'count=2'
    assert res.integration_context == {'count': 2}
    with open(state, encoding='utf-8') as handle:
        assert json.load(handle) == {'context': {'count': 2}, 'version': 2}


def test_file_store_versioned_conflict(tmp_path):
    store = FileContextStore(str(tmp_path / 's.json'))
    assert store.read() == ({}, 0)
    assert store.write({'a': 1}, 0) == 1
    with pytest.raises(ValueError, match='version conflict'):
        store.write({'a': 2}, 0)
    assert store.read() == ({'a': 1}, 1)


def _count_in_process(state_file: str, runs: int) -> None:
    inst = XsoarInstance(PARAMS, integration=TINY, state_file=state_file)
    for _ in range(runs):
        assert inst.run('tiny-counter').ok


def test_parallel_processes_sharing_a_state_file_lose_no_update(tmp_path):
    state = str(tmp_path / 'shared.json')
    ctx = multiprocessing.get_context('fork')
    workers = [ctx.Process(target=_count_in_process, args=(state, 10)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert FileContextStore(state).read()[0] == {'count': 40}


def test_run_polling_follows_scheduled_command(inst):
    runs = inst.run_polling('tiny-poll', {'remaining': '2'}, sleep=False)
    assert [r.args for r in runs] == [{'remaining': '2'}, {'remaining': '1'}, {'remaining': '0'}]
    assert runs[0].scheduled == {'command': 'tiny-poll', 'args': {'remaining': '1'}, 'next_run_in_seconds': 10,
                                 'timeout_in_seconds': 600}
    assert runs[-1].scheduled is None
    assert runs[-1].context == {'Tiny.Poll': [{'Done': True}]}


def test_run_polling_times_out_on_the_schedule_clock(inst):
    runs = inst.run_polling('tiny-poll', {'remaining': '100', 'timeout': '25'}, sleep=False)
    assert len(runs) == 4  # runs at t=0, 10, 20; the next one (t=30) is past the 25 s timeout
    assert runs[-1].timed_out
    assert not runs[-1].ok
    assert 'timed out after 25 seconds' in runs[-1].errors[0]


def test_run_polling_sleeps_the_capped_interval(inst, mocker):
    slept = mocker.patch('Tests.xsoar_local.harness.time.sleep')
    inst.run_polling('tiny-poll', {'remaining': '2'}, sleep=True, max_sleep=0.5)
    assert [c.args[0] for c in slept.call_args_list] == [0.5, 0.5]
    slept.reset_mock()
    inst.run_polling('tiny-poll', {'remaining': '1'}, sleep=True)
    assert [c.args[0] for c in slept.call_args_list] == [10.0]


def test_unified_yaml_runs_like_the_source(tmp_path):
    inst = XsoarInstance(PARAMS, integration=unified_yaml(tmp_path))
    assert inst.run('test-module').readable == 'ok'
    res = inst.run('tiny-echo', {'name': 'b', 'value': '1'})
    assert res.context == {'Tiny.Echo': [{'Name': 'b', 'Value': '1'}]}
    assert inst.run('tiny-fail').errors[0].endswith('the secret <XX_REPLACED> was refused')


def test_yaml_without_script_is_refused(tmp_path):
    path = tmp_path / 'x.yml'
    path.write_text('name: x\nscript:\n  script: "-"\n', encoding='utf-8')
    with pytest.raises(ValueError, match='unified YAML'):
        XsoarInstance({}, integration=str(path)).run('test-module')


def test_merge_entry_context_replaces_by_key_and_appends_without():
    entries: list[dict] = [
        {'EntryContext': {'A(val.ID && val.ID == obj.ID)': [{'ID': 1, 'v': 'old'}, {'ID': 2}]}},
        {'EntryContext': {'A(val.ID && val.ID == obj.ID)': {'ID': 1, 'v': 'new'}, 'B': {'x': 1}}},
        {'EntryContext': {'B': {'x': 1}}},
        {'Type': 4, 'EntryContext': None},
    ]
    assert merge_entry_context(entries) == {'A': [{'ID': 1, 'v': 'new'}, {'ID': 2}], 'B': [{'x': 1}, {'x': 1}]}


def test_run_in_subprocess_matches_in_process_and_shares_context(tmp_path):
    state = str(tmp_path / 'state.json')
    inst = XsoarInstance(PARAMS, integration=TINY, state_file=state, env={'TINY_VAR': 'child'})
    res = inst.run_in_subprocess('tiny-echo', {'name': 'c', 'value': ['1', '2']})
    assert res.ok
    assert res.process_exit_code == 0
    assert res.context == {'Tiny.Echo': [{'Name': 'c', 'Value': '["1", "2"]'}]}
    assert inst.run_in_subprocess('tiny-env').readable == 'TINY_VAR=child'
    inst.run('tiny-counter')
    res = inst.run_in_subprocess('tiny-counter')
    assert res.readable == 'count=2'
    assert res.integration_context == {'count': 2}
    failed = inst.run_in_subprocess('tiny-fail')
    assert failed.process_exit_code == 1
    assert not failed.ok


def test_run_in_subprocess_without_state_file_hands_context_over():
    inst = XsoarInstance(PARAMS, integration=TINY)
    inst.run('tiny-counter')
    assert inst.run_in_subprocess('tiny-counter').readable == 'count=2'
    assert inst.integration_context == {'count': 2}


def test_in_process_runs_from_threads_take_turns_and_lose_nothing():
    from concurrent.futures import ThreadPoolExecutor
    inst = XsoarInstance(PARAMS, integration=TINY)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: inst.run('tiny-echo', {'name': f'n{i}', 'value': str(i)}), range(12)))
    assert [r.context['Tiny.Echo'][0]['Name'] for r in results] == [f'n{i}' for i in range(12)]
    assert all(len(r.entries) == 1 for r in results)


def test_runs_happen_outside_an_incident_unless_one_is_given():
    assert XsoarInstance(PARAMS, integration=TINY).run('tiny-incident').readable == "incident='' playground=True"
    inst = XsoarInstance(PARAMS, integration=TINY, incident='1234')
    assert inst.incident is not None
    assert inst.incident['name'] == 'Local incident 1234'
    assert inst.run('tiny-incident').readable == "incident='1234' playground=False"
    other = new_incident('77', name='Other', playbook_id='Some Playbook')
    assert inst.run('tiny-incident', incident=other).readable == "incident='77' playground=False"
    assert inst.run_polling('tiny-incident', incident=other)[0].readable == "incident='77' playground=False"
    assert inst.run_in_subprocess('tiny-incident').readable == "incident='1234' playground=False"


def test_new_incident_fields():
    from datetime import UTC, datetime
    incident = new_incident(' 9 ', playbook_id='PB', created=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert incident['id'] == '9'
    assert incident['investigationId'] == '9'
    assert incident['created'] == '2024-05-01T12:00:00Z'
    assert incident['playbookId'] == 'PB'
    assert incident['isPlayground'] is False
    with pytest.raises(ValueError, match='cannot be empty'):
        new_incident('  ')
