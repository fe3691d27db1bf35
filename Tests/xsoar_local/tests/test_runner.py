"""The CLI runner (python -m Tests.xsoar_local run ...): argument parsing, params files with env:/file:
references, context persistence between runs, polling follow-up, the unified YAML path, exit codes, output."""
import io
import json
import os
import subprocess
import sys

import pytest

from Tests.xsoar_local.harness import REPO_ROOT
from Tests.xsoar_local.runner import (ParamsFileError, Style, build_parser, default_state_path, load_params, main,
                                      parse_answers, parse_command_args, render_markdown)
from Tests.xsoar_local.tests import playbook_yaml as pb
from Tests.xsoar_local.tests.test_harness import TINY, unified_yaml

PARAMS_YAML = """
subscription_id: sub-1
secret:
  identifier: ''
  password: env:TINY_SECRET
_env:
  TINY_VAR: from-params-file
"""


@pytest.fixture
def params_file(tmp_path, monkeypatch):
    monkeypatch.setenv('TINY_SECRET', 'Hush-456')
    path = tmp_path / 'instance.yml'
    path.write_text(PARAMS_YAML, encoding='utf-8')
    return str(path)


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------------------------- argument parsing
def test_parse_command_args():
    assert parse_command_args(['ip=1.2.3.4,5.6.7.8', 'description=a=b', 'empty=']) == {
        'ip': '1.2.3.4,5.6.7.8', 'description': 'a=b', 'empty': ''}
    with pytest.raises(ValueError, match='name=value'):
        parse_command_args(['justaword'])
    with pytest.raises(ValueError, match='twice'):
        parse_command_args(['a=1', 'a=2'])


def test_parser_options():
    options = build_parser().parse_args(['run', 'azure-vm-get', 'vm_name=web-01', '--params', 'p.yml', '--json',
                                         '--state', 's.json', '--integration', 'x.yml', '--no-poll'])
    assert (options.command, options.arguments, options.params, options.state, options.integration) == (
        'azure-vm-get', ['vm_name=web-01'], 'p.yml', 's.json', 'x.yml')
    assert options.json
    assert options.no_poll
    assert options.color is None
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(['run', 'test-module'])  # --params is required
    assert exited.value.code == 2


def test_bad_argument_is_a_usage_error(params_file):
    code, _out, err = cli('run', 'tiny-echo', 'oops', '--params', params_file, '--integration', TINY)
    assert code == 2
    assert "'oops' is not of the form name=value" in err


# -------------------------------------------------------------------------------------------------- params file
def test_params_file_env_and_file_references(tmp_path, monkeypatch):
    monkeypatch.setenv('MY_SECRET', 's3')
    (tmp_path / 'key.pem').write_text('PEM', encoding='utf-8')
    path = tmp_path / 'p.yml'
    path.write_text('a: env:MY_SECRET\nb: {identifier: x, password: "file:key.pem"}\nc: [1, "env:MY_SECRET"]\n'
                    'd: plain\n_env: {CA: /ca.pem}\n', encoding='utf-8')
    params, env = load_params(str(path))
    assert params == {'a': 's3', 'b': {'identifier': 'x', 'password': 'PEM'}, 'c': [1, 's3'], 'd': 'plain'}
    assert env == {'CA': '/ca.pem'}


def test_missing_environment_variable_names_it(params_file, monkeypatch):
    monkeypatch.delenv('TINY_SECRET')
    code, out, err = cli('run', 'test-module', '--params', params_file, '--integration', TINY)
    assert code == 2
    assert 'secret.password refers to the environment variable TINY_SECRET, which is not set' in err
    assert out == ''


def test_missing_params_file(tmp_path):
    code, _out, err = cli('run', 'test-module', '--params', str(tmp_path / 'none.yml'), '--integration', TINY)
    assert code == 2
    assert 'cannot read the params file' in err


# ------------------------------------------------------------------------------------------- output, exit codes
def test_ok_run_prints_entry_and_exits_zero(params_file):
    code, out, err = cli('run', 'test-module', '--params', params_file, '--integration', TINY)
    assert code == 0, err
    assert out.splitlines()[0] == '>>> !test-module'
    assert 'ok' in out.splitlines()
    assert '\033[' not in out  # not a terminal: no colours


def test_error_entry_exits_one_and_is_red_with_color(params_file):
    code, out, _err = cli('run', 'tiny-fail', '--params', params_file, '--integration', TINY, '--color')
    assert code == 1
    assert '\033[31mERROR: Failed to execute tiny-fail command.' in out
    assert 'Hush-456' not in out
    assert '<XX_REPLACED>' in out


def test_json_output_is_pure_json_with_context(params_file):
    code, out, err = cli('run', 'tiny-echo', 'name=n1', 'value=v1', '--params', params_file, '--integration', TINY,
                         '--json')
    assert code == 0
    document = json.loads(out)
    assert document['ok'] is True
    assert document['context'] == {'Tiny.Echo': [{'Name': 'n1', 'Value': 'v1'}]}
    assert document['runs'][0]['entries'][0]['EntryContext']
    assert 'integration_context' not in document['runs'][0]  # may hold tokens: never printed
    assert '>>> !tiny-echo name=n1 value=v1' in err  # the rendering went to stderr


def test_params_file_env_section_reaches_the_integration(params_file):
    code, out, _err = cli('run', 'tiny-env', '--params', params_file, '--integration', TINY)
    assert code == 0
    assert 'TINY_VAR=from-params-file' in out


# ------------------------------------------------------------------------------------------ context persistence
def test_context_persists_between_runs_in_state_file(params_file, tmp_path):
    state = str(tmp_path / 'my-state.json')
    assert cli('run', 'tiny-counter', '--params', params_file, '--integration', TINY, '--state', state)[0] == 0
    code, out, _err = cli('run', 'tiny-counter', '--params', params_file, '--integration', TINY, '--state', state)
    assert code == 0
    assert 'count=2' in out
    with open(state, encoding='utf-8') as handle:
        assert json.load(handle)['context'] == {'count': 2}


def test_default_state_file_sits_next_to_the_params_file(params_file):
    cli('run', 'tiny-counter', '--params', params_file, '--integration', TINY)
    cli('run', 'tiny-counter', '--params', params_file, '--integration', TINY)
    assert default_state_path(params_file) == params_file[:-len('.yml')] + '.state.json'
    with open(default_state_path(params_file), encoding='utf-8') as handle:
        assert json.load(handle)['context'] == {'count': 2}


def test_no_state_keeps_nothing(params_file):
    for _ in range(2):  # the run must really happen (a failed run would also leave no file), and start from {}
        code, out, err = cli('run', 'tiny-counter', '--params', params_file, '--integration', TINY, '--no-state')
        assert code == 0, err
        assert 'count=1' in out.splitlines()
    assert not os.path.exists(default_state_path(params_file))


def test_incident_option(params_file):
    code, out, _err = cli('run', 'tiny-incident', '--params', params_file, '--integration', TINY)
    assert code == 0
    assert "incident='' playground=True" in out.splitlines()
    code, out, _err = cli('run', 'tiny-incident', '--params', params_file, '--integration', TINY, '--incident', '88')
    assert code == 0
    assert "incident='88' playground=False" in out.splitlines()
    code, _out, err = cli('run', 'tiny-incident', '--params', params_file, '--integration', TINY, '--incident', ' ')
    assert code == 2
    assert 'error: --incident: an incident ID cannot be empty' in err


# -------------------------------------------------------------------------------------------------------- polling
def test_polling_is_followed_with_progress_lines(params_file):
    code, out, err = cli('run', 'tiny-poll', 'remaining=2', '--params', params_file, '--integration', TINY,
                         '--poll-interval', '0', '--json')
    assert code == 0
    document = json.loads(out)
    assert [r['args'] for r in document['runs']] == [{'remaining': '2'}, {'remaining': '1'}, {'remaining': '0'}]
    assert document['context']['Tiny.Poll'] == [{'Done': True}]
    progress = [line for line in err.splitlines() if line.startswith('polling tiny-poll')]
    assert progress == ['polling tiny-poll: run 1 done, next in 0s - still 2 to go',
                        'polling tiny-poll: run 2 done, next in 0s - still 1 to go']
    assert 'done' in err.splitlines()


def test_no_poll_runs_once_and_shows_the_schedule(params_file):
    code, out, err = cli('run', 'tiny-poll', 'remaining=2', '--params', params_file, '--integration', TINY,
                         '--no-poll', '--json')
    assert code == 0
    document = json.loads(out)
    assert len(document['runs']) == 1
    assert document['runs'][0]['scheduled'] == {'command': 'tiny-poll', 'args': {'remaining': '1'},
                                                'next_run_in_seconds': 10, 'timeout_in_seconds': 600}
    assert 'scheduled (not followed, --no-poll): !tiny-poll {"remaining": "1"} in 10s' in err


def test_polling_timeout_exits_one(params_file):
    code, out, _err = cli('run', 'tiny-poll', 'remaining=50', '--params', params_file, '--integration', TINY,
                          '--poll-interval', '0', '--poll-timeout', '30')
    assert code == 1
    assert 'ERROR: Polling of tiny-poll timed out after 30 seconds' in out


# --------------------------------------------------------------------------------------------------- unified YAML
def test_unified_yaml_path(params_file, tmp_path):
    path = unified_yaml(tmp_path)
    code, out, _err = cli('run', 'tiny-echo', 'name=y', 'value=1', '--params', params_file, '--integration', path,
                          '--json')
    assert code == 0
    assert json.loads(out)['context'] == {'Tiny.Echo': [{'Name': 'y', 'Value': '1'}]}
    code, _out, err = cli('run', 'test-module', '--params', params_file, '--integration', str(tmp_path / 'no.yml'))
    assert code == 2
    assert 'no such integration file' in err


# ------------------------------------------------------------------------------------------------ as a process
def test_module_entry_point_exit_codes(params_file):
    base = [sys.executable, '-m', 'Tests.xsoar_local', 'run']
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    ok = subprocess.run([*base, 'test-module', '--params', params_file, '--integration', TINY], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    assert 'ok' in ok.stdout.splitlines()
    failed = subprocess.run([*base, 'tiny-fail', '--params', params_file, '--integration', TINY], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert 'ERROR:' in failed.stdout


# -------------------------------------------------------------------------------------------------------- playbook
def review_playbook(tmp_path):
    return pb.write(tmp_path, pb.playbook('Review', [
        pb.start('1'),
        pb.command('1', 'Echo the input', 'tiny-echo', {'name': pb.simple('${inputs.Who}'),
                                                         'value': pb.simple('${incident.id}')}, '2'),
        pb.choice('2', 'Approve?', {'Yes': '3', 'No': '4'}),
        pb.script('3', 'Say yes', 'Print', {'value': pb.simple('approved by ${inputs.Who}')}),
        pb.title('4', 'Rejected'),
    ], inputs={'Who': pb.simple('nobody')}, outputs=['Tiny.Echo', 'Tiny.Echo.Name']))


def test_parse_answers():
    assert parse_answers(['Approve?=Yes', '4=a=b']) == {'Approve?': 'Yes', '4': 'a=b'}
    with pytest.raises(ValueError, match='not of the form TASK=VALUE'):
        parse_answers(['Approve?'])
    with pytest.raises(ValueError, match='given twice'):
        parse_answers(['a=1', 'a=2'])


def test_playbook_prints_each_task_then_outputs_and_context_and_exits_zero_when_completed(params_file, tmp_path):
    code, out, err = cli('playbook', review_playbook(tmp_path), '--params', params_file, '--integration', TINY,
                         '--input', 'Who=alice', '--answer', 'Approve?=yes', '--incident', '31')
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:4] == ['[1] Echo the input  (command)', '  !tiny-echo name=alice value=31', '    Echo',
                         '    name  | value']  # tiny-echo's table shows the args
    assert '[2] Approve?  (choice)' in lines
    assert "  the analyst chose 'Yes' (--answer)" in lines
    assert '  -> Yes' in lines
    assert '  !Print value=approved by alice' in lines
    assert '    approved by alice' in lines
    assert "Playbook 'Review': completed (3 task(s) ran, incident 31)" in lines
    outputs = out[out.index('Playbook outputs'):out.index('\nContext')]
    assert '"Name": "alice"' in outputs
    assert 'Tiny.Echo.Name' not in outputs  # contained in Tiny.Echo
    assert json.loads(out[out.index('\nContext\n') + len('\nContext\n'):]) == {
        'Tiny': {'Echo': {'Name': 'alice', 'Value': '31'}}}


def test_playbook_waiting_for_an_answer_exits_one_and_says_how_to_answer(params_file, tmp_path):
    code, out, _err = cli('playbook', review_playbook(tmp_path), '--params', params_file, '--integration', TINY)
    assert code == 1
    assert "Playbook 'Review': waiting (2 task(s) ran, incident 1)" in out
    assert "  waiting: [2] Approve?: waiting for an analyst: --answer 'Approve?=Yes|No'" in out


def test_playbook_json_output(params_file, tmp_path):
    code, out, err = cli('playbook', review_playbook(tmp_path), '--params', params_file, '--integration', TINY,
                         '--answer', '2=No', '--json')
    assert code == 0
    document = json.loads(out)
    assert (document['status'], document['ok'], document['incident']['id']) == ('completed', True, '1')
    assert [(t['name'], t['status'], t['branch']) for t in document['tasks']] == [
        ('', 'done', '#none#'), ('Echo the input', 'done', '#none#'), ('Approve?', 'done', 'No'),
        ('Rejected', 'done', '#none#')]
    assert document['outputs']['Tiny.Echo.Name'] == 'nobody'
    assert '[4] Rejected  (title)' in err


@pytest.mark.parametrize(('extra', 'message'), [
    (['--answer', 'Aprove?=Yes'], "--answer 'Aprove?': no manual task"),
    (['--answer', 'Approve?=maybe'], "offers Yes, No, not 'maybe'"),
    (['--input', 'Whom=x'], "'Review' has no input 'Whom'"),
    (['--input', 'bad'], "'bad' is not of the form name=value"),
    (['--answer', 'bad'], "--answer 'bad' is not of the form TASK=VALUE"),
    (['--incident', ''], '--incident: an incident ID cannot be empty'),
])
def test_playbook_usage_errors_exit_two(params_file, tmp_path, extra, message):
    code, out, err = cli('playbook', review_playbook(tmp_path), '--params', params_file, '--integration', TINY,
                         *extra)
    assert code == 2
    assert message in err
    assert out == ''


def test_playbook_that_cannot_run_locally_exits_two_naming_the_task(params_file, tmp_path):
    path = pb.write(tmp_path, pb.playbook('Timed', [pb.start('1'), pb.command(
        '1', 'Close it', 'closeInvestigation', {}, brand='Builtin')]))
    code, out, err = cli('playbook', path, '--params', params_file, '--integration', TINY)
    assert code == 2
    assert "playbook 'Timed' task 1 'Close it': XSOAR's built-in command 'closeInvestigation' is not implemented" in err
    assert out == ''


def test_quiet_tasks_show_only_their_errors(params_file, tmp_path):
    document = pb.playbook('Quiet', [pb.start('1'), pb.script('1', 'Say', 'Print', {'value': pb.simple('hidden')}, '2',
                                                               quietmode=1),
                                     pb.command('2', 'Loud', 'tiny-echo', {'name': pb.simple('shown')}, quietmode=2)])
    document['quiet'] = True
    document['tasks']['2']['quietmode'] = 2
    code, out, _err = cli('playbook', pb.write(tmp_path, document), '--params', params_file, '--integration', TINY)
    assert code == 0
    assert 'hidden' not in out.split('Playbook outputs')[0]
    assert '  !Print (arguments not shown)' in out
    assert '  (quiet mode: entries other than errors not shown)' in out
    assert '  !tiny-echo name=shown' in out


def test_playbook_failure_exits_one(params_file, tmp_path):
    path = pb.write(tmp_path, pb.playbook('Fails', [pb.start('1'), pb.command('1', 'Fail', 'tiny-fail')]))
    code, out, _err = cli('playbook', path, '--params', params_file, '--integration', TINY)
    assert code == 1
    assert 'ERROR: Failed to execute tiny-fail command.' in out
    assert '(the playbook stops here)' in out
    assert "Playbook 'Fails': failed" in out
    assert 'Hush-456' not in out


def test_playbook_sub_playbooks_from_another_folder(params_file, tmp_path):
    elsewhere = tmp_path / 'library'
    elsewhere.mkdir()
    pb.write(elsewhere, pb.playbook('Lib', [pb.start('1'), pb.command('1', 'Echo', 'tiny-echo',
                                                                      {'name': pb.simple('from lib')})],
                                    outputs=['Tiny.Echo']))
    main_dir = tmp_path / 'main'
    main_dir.mkdir()
    path = pb.write(main_dir, pb.playbook('Caller', [pb.start('1'), pb.subplaybook('1', 'Call lib', 'Lib')]))
    code, _out, err = cli('playbook', path, '--params', params_file, '--integration', TINY)
    assert code == 2
    assert "sub-playbook 'Lib' not found" in err
    code, out, err = cli('playbook', path, '--params', params_file, '--integration', TINY,
                         '--playbooks-dir', str(elsewhere))
    assert code == 0, err
    assert '  [1] Echo  (command)' in out  # the sub-playbook's tasks, one level in


# ------------------------------------------------------------------------------------------------------ rendering
def test_render_markdown_table_and_wide_fallback():
    md = '### Blocked\n|IP|Status|\n|---|---|\n| 1.2.3.4 | Blocked |\n| a\\|b | x<br>y |\n**done**'
    assert render_markdown(md, Style(False), width=80).splitlines() == [
        'Blocked', 'IP      | Status', '--------+--------', '1.2.3.4 | Blocked', 'a|b     | x / y', 'done']
    wide = render_markdown('|Name|Description|\n|---|---|\n| n | ' + 'x' * 50 + ' |', Style(False), width=30)
    assert wide.splitlines() == ['Name         n', 'Description  ' + 'x' * 50]


def test_render_markdown_undoes_backslash_escapes_outside_code_spans():
    # What tableToMarkdown / md_escape write so that alert text stays inert, as a markdown viewer shows it.
    md = ('Warning: NSG edge\\-nsg is attached to nothing\\: \\(none\\)\n|Name|Detail|\n|---|---|\n'
          '| web\\-01 | a \\*b\\* `c\\-d` |')
    assert render_markdown(md, Style(False), width=80).splitlines() == [
        'Warning: NSG edge-nsg is attached to nothing: (none)', 'Name   | Detail', '-------+-------------',
        'web-01 | a *b* `c\\-d`']


def test_real_azure_example_takes_every_secret_from_the_environment(monkeypatch):
    example = os.path.join(REPO_ROOT, 'Tests', 'xsoar_local', 'examples', 'real-azure.example.yml')
    for name in ('AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_CLIENT_SECRET'):
        monkeypatch.setenv(name, f'value-of-{name}')
    params, env = load_params(example)
    assert params['enc_key'] == {'identifier': '', 'password': 'value-of-AZURE_CLIENT_SECRET'}
    assert params['auth_id']['password'] == 'value-of-AZURE_CLIENT_ID'
    assert params['azure_cloud'] == 'Worldwide'
    assert env == {}
    monkeypatch.delenv('AZURE_CLIENT_SECRET')
    with pytest.raises(ParamsFileError, match='AZURE_CLIENT_SECRET, which is not set'):
        load_params(example)
