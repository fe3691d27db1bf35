"""The playbook engine on a throwaway integration (tests/tiny): the task flow (branches, joins, skipped branches),
command arguments, the incident, polling, answers for manual tasks, manual conditions and data collection, error
handling and retries, sub-playbooks (inputs, outputs, private or shared context, loops) and every load-time
refusal."""
import copy
import glob
import os

import pytest

from Tests.xsoar_local.harness import XsoarInstance, new_incident
from Tests.xsoar_local.playbooks.engine import Observer, run_playbook
from Tests.xsoar_local.playbooks.model import IntegrationSpec, PlaybookLoader, PlaybookLoadError, default_search_dirs
from Tests.xsoar_local.tests import playbook_yaml as pb
from Tests.xsoar_local.tests.test_harness import PARAMS, TINY


@pytest.fixture
def inst():
    return XsoarInstance(PARAMS, integration=TINY)


class Recorder(Observer):
    def __init__(self):
        self.events = []

    def task_started(self, record):
        self.events.append(('start', record.name))

    def command_run(self, record, index, result):
        self.events.append(('run', record.name, index))

    def task_finished(self, record):
        self.events.append(('end', record.name, record.status))


def run(inst, tmp_path, document, *subs, inputs=None, answers=None, incident='1', observer=None):
    for sub in subs:
        pb.write(tmp_path, sub)
    path = pb.write(tmp_path, document)
    return run_playbook(inst, path, inputs, answers, incident, search_dirs=[str(tmp_path)], wait_cap=0,
                        observer=observer)


def echo(task_id, name, nxt=None, value=None, **fields):
    args = {'name': pb.simple(name)}
    if value is not None:
        args['value'] = value if isinstance(value, dict) else pb.simple(value)
    return pb.command(task_id, f'echo {name}', 'tiny-echo', args, nxt, **fields)


def names(result, key='Tiny.Echo'):
    items = result.context
    for part in key.split('.'):
        items = (items or {}).get(part)
    items = items if isinstance(items, list) else [items] if items else []
    return [i['Name'] for i in items]


# ------------------------------------------------------------------------------------------------ commands
def test_command_arguments_are_resolved_defaults_applied_and_blank_ones_left_out(inst, tmp_path):
    doc = pb.playbook('Args', [
        pb.start('1'),
        pb.script('1', 'set list', 'Set', {'key': pb.simple('Data.List'), 'value': pb.simple('["p", "q"]')}, '2'),
        pb.command('2', 'args', 'tiny-args', {'a': pb.simple('${inputs.IP}'), 'b': pb.ctx('inputs.Missing'),
                                              'items': pb.ctx('Data.List')}, '3'),
        pb.title('3', 'Done'),
    ], inputs={'IP': pb.simple('203.0.113.7'), 'Missing': {}})
    result = run(inst, tmp_path, doc)
    assert result.ok, result.errors
    assert result.context['Tiny']['Args'] == {'a': '203.0.113.7', 'items': ['p', 'q'], 'with_default': 'the-default'}
    assert result.task('args').detail == '!tiny-args a=203.0.113.7 items=p,q with_default=the-default'
    assert result.ran() == ['set list', 'args', 'Done']
    overridden = run(inst, tmp_path, doc, inputs={'IP': '198.51.100.1'})
    assert overridden.context['Tiny']['Args']['a'] == '198.51.100.1'


def test_commands_run_in_the_incident_of_the_playbook_run(inst, tmp_path):
    doc = pb.playbook('Incident', [
        pb.start('1'),
        pb.command('1', 'incident', 'tiny-incident', {}, '2'),
        echo('2', 'id', value='${incident.id}'),
    ])
    result = run(inst, tmp_path, doc)
    assert result.context['Tiny']['Incident'] == {'ID': '1', 'Name': 'Local incident 1'}
    assert result.context['Tiny']['Echo']['Value'] == '1'
    assert result.incident['playbookId'] == 'Incident'
    other = run(inst, tmp_path, doc, incident=new_incident('555', name='Phishing 555'))
    assert other.context['Tiny']['Incident'] == {'ID': '555', 'Name': 'Phishing 555'}
    assert other.context['Tiny']['Echo']['Value'] == '555'


def test_polling_is_followed_until_the_command_schedules_nothing(inst, tmp_path):
    doc = pb.playbook('Poll', [pb.start('1'), pb.command('1', 'poll', 'tiny-poll', {'remaining': pb.simple('2')})])
    recorder = Recorder()
    result = run(inst, tmp_path, doc, observer=recorder)
    assert result.ok
    assert result.context['Tiny']['Poll'] == {'Done': True}
    assert [e for e in recorder.events if e[0] == 'run'] == [('run', 'poll', 0), ('run', 'poll', 1), ('run', 'poll', 2)]
    assert len(result.task('poll').entries) == 3


# ---------------------------------------------------------------------------------------------------- flow
def branching(n):
    return pb.playbook('Branch', [
        pb.start('1'),
        pb.conditional('1', 'big?', {'big': [[pb.condition('greaterThan', 'inputs.N', '5')]]},
                       {'big': '2', '#default#': '3'}),
        echo('2', 'big', '4'),
        echo('3', 'small', '4'),
        pb.title('4', 'Joined', '5'),
        echo('5', 'after'),
    ], inputs={'N': pb.simple(n)})


@pytest.mark.parametrize(('n', 'taken', 'ran'), [('9', 'big', 'echo big'), ('1', '#default#', 'echo small')])
def test_a_condition_takes_one_branch_and_the_branches_join(inst, tmp_path, n, taken, ran):
    result = run(inst, tmp_path, branching(n))
    assert result.ok
    assert result.ran() == ['big?', ran, 'Joined', 'echo after']
    assert result.task('big?').branch == taken
    assert names(result) == [ran.split()[1], 'after']


def test_parallel_branches_all_run_before_the_join(inst, tmp_path):
    doc = pb.playbook('Parallel', [
        pb.start('1'),
        pb.title('1', 'Fan out', ['2', '3']),
        echo('2', 'left', '4'),
        echo('3', 'right', '5'),
        echo('5', 'right again', '4'),
        pb.title('4', 'Join', '6'),
        echo('6', 'last'),
    ])
    result = run(inst, tmp_path, doc)
    assert result.ran() == ['Fan out', 'echo left', 'echo right', 'echo right again', 'Join', 'echo last']


def test_a_condition_error_fails_the_task(inst, tmp_path):
    doc = pb.playbook('Cast', [
        pb.start('1'),
        pb.conditional('1', 'number?', {'yes': [[pb.condition('greaterThan', 'inputs.N', '5')]]},
                       {'yes': '2', '#default#': '2'}),
        echo('2', 'never'),
    ], inputs={'N': pb.simple('abc')})
    result = run(inst, tmp_path, doc)
    assert result.status == 'failed'
    assert result.errors[0].error == 'cannot compare "abc" as a number'
    assert result.ran() == ['number?']


# ------------------------------------------------------------------------------------------------- answers
def approval():
    return pb.playbook('Approval', [
        pb.start('1'),
        pb.manual('1', 'Review it', '2'),
        pb.choice('2', 'Approve?', {'Yes': '3', 'No': '4'}),
        echo('3', 'approved'),
        echo('4', 'rejected'),
    ])


def test_a_manual_task_without_an_answer_waits_and_nothing_after_it_runs(inst, tmp_path):
    result = run(inst, tmp_path, approval())
    assert result.status == 'waiting'
    assert not result.ok
    assert [t.name for t in result.waiting] == ['Review it']
    assert result.waiting[0].detail == "waiting for an analyst: --answer 'Review it=done'"
    assert 'Tiny' not in result.context


@pytest.mark.parametrize(('answer', 'ran'), [('yes', 'echo approved'), ('No', 'echo rejected')])
def test_answers_complete_manual_tasks_and_pick_branches(inst, tmp_path, answer, ran):
    result = run(inst, tmp_path, approval(), answers={'Review it': 'done', 'Approve?': answer})
    assert result.ok
    assert result.ran() == ['Review it', 'Approve?', ran]
    assert result.task('Approve?').branch == answer.capitalize()


def test_a_top_level_task_id_names_it_too(inst, tmp_path):
    result = run(inst, tmp_path, approval(), answers={'1': 'done', '2': 'Yes'})
    assert result.ran()[-1] == 'echo approved'


@pytest.mark.parametrize(('answers', 'message'), [
    ({'Review it': 'yes'}, "is a manual task: answer it with done, not 'yes'"),
    ({'Approve?': 'maybe'}, "offers Yes, No, not 'maybe'"),
    ({'Aprove?': 'Yes'}, "no manual task, manual condition or data collection task of that name"),
    ({'echo approved': 'done'}, 'no manual task'),
])
def test_answers_that_fit_no_task_are_refused_before_anything_runs(inst, tmp_path, answers, message):
    with pytest.raises(ValueError, match=message):
        run(inst, tmp_path, approval(), answers=answers)


def survey():
    return pb.playbook('Survey', [
        pb.start('1'),
        pb.collection('1', 'Collect v1.0', [
            {'id': 'q0', 'label': 'Reason', 'type': 'shortText', 'required': True, 'options': []},
            {'id': 'q1', 'label': 'Severity', 'type': 'singleSelect', 'required': False,
             'options': ['Low', 'High']},
            {'id': 'q2', 'label': 'Hosts', 'type': 'number', 'required': False, 'options': []},
        ], '2'),
        echo('2', 'severity', value='${Collect v1.0.Answers.1}'),
    ])


def test_data_collection_answers_go_to_the_context(inst, tmp_path):
    result = run(inst, tmp_path, survey(), answers={'Collect v1.0': '["phishing", "High", "3"]'})
    assert result.ok
    assert result.context['Collect v1.0'] == {'Answers': {'0': 'phishing', '1': 'High', '2': '3'}}
    assert result.context['Tiny']['Echo']['Value'] == 'High'


@pytest.mark.parametrize(('answer', 'message'), [
    ('["a", "High"]', 'asks 3 question'),
    ('["", "High", ""]', "question 'Reason' is required"),
    ('["a", "Medium", ""]', "offers Low, High, not Medium"),
    ('["a", "Low", "many"]', 'expects a number'),
    ('[1, 2', 'must be a JSON list'),
])
def test_data_collection_answers_are_checked(inst, tmp_path, answer, message):
    with pytest.raises(ValueError, match=message):
        run(inst, tmp_path, survey(), answers={'Collect v1.0': answer})


# ------------------------------------------------------------------------------------------ errors, retries
def failing(**fields):
    return pb.playbook('Failing', [
        pb.start('1'),
        pb.title('1', 'Fan out', ['2', '5']),
        pb.command('2', 'fail', 'tiny-fail', {}, {'#none#': '3', **({'#error#': '4'} if 'continueonerrortype' in
                                                                     fields else {})}, **fields),
        echo('3', 'after the failure'),
        echo('4', 'error path'),
        echo('5', 'other branch'),
    ])


def test_an_unhandled_error_fails_the_playbook_and_stops_only_its_branch(inst, tmp_path):
    result = run(inst, tmp_path, failing())
    assert result.status == 'failed'
    assert [t.name for t in result.errors] == ['fail']
    assert result.errors[0].error.endswith('the secret <XX_REPLACED> was refused')
    assert names(result) == ['other branch']


def test_continue_on_error_goes_on_along_the_normal_branch(inst, tmp_path):
    result = run(inst, tmp_path, failing(continueonerror=True))
    assert result.ok
    assert result.task('fail').status == 'error'
    assert result.task('fail').handled
    assert sorted(names(result)) == ['after the failure', 'other branch']


def test_an_error_path_is_taken_instead_of_the_normal_branch(inst, tmp_path):
    result = run(inst, tmp_path, failing(continueonerror=True, continueonerrortype='errorPath'))
    assert result.ok
    assert result.task('fail').branch == '#error#'
    assert sorted(names(result)) == ['error path', 'other branch']


def flaky(retries):
    args = {'key': pb.simple(f'k{retries}'), 'succeed_on': pb.simple('3'), 'retry-count': pb.simple(str(retries)),
            'retry-interval': pb.simple('5')}
    return pb.playbook('Flaky', [pb.start('1'), pb.command('1', 'flaky', 'tiny-flaky', args)])


def test_retry_count_retries_a_failed_command(inst, tmp_path):
    result = run(inst, tmp_path, flaky(2))
    assert result.ok
    assert result.context['Tiny']['Flaky'] == {'Attempts': 3}
    assert result.task('flaky').detail.endswith('(attempt 3)')
    failed = run(inst, tmp_path, flaky(1))
    assert failed.errors[0].error.endswith('attempt 2 failed (after 2 attempts)')


def test_the_context_of_an_error_entry_is_kept(inst, tmp_path):
    doc = pb.playbook('Invalid', [
        pb.start('1'),
        pb.command('1', 'invalid', 'tiny-invalid', {'value': pb.simple('*')}, '2', continueonerror=True),
        pb.conditional('2', 'invalid?', {'yes': [[pb.condition('isNotEmpty', 'Tiny.Invalid.Value')]]},
                       {'yes': '3'}),
        echo('3', 'saw the invalid item'),
    ])
    result = run(inst, tmp_path, doc)
    assert result.context['Tiny']['Invalid'] == {'Value': '*'}
    assert names(result) == ['saw the invalid item']


def test_a_failing_script_fails_the_task(inst, tmp_path):
    doc = pb.playbook('Verify', [pb.start('1'), pb.script('1', 'verify', 'VerifyContext', {'path': pb.simple('Nope')})])
    result = run(inst, tmp_path, doc)
    assert result.status == 'failed'
    assert result.errors[0].error == 'Path Nope is not in context.'
    assert result.errors[0].entries[0]['Type'] == 4


def test_notes_and_tags_mark_the_entries(inst, tmp_path):
    doc = pb.playbook('Note', [pb.start('1'), pb.command('1', 'echo', 'tiny-echo', {'name': pb.simple('n')},
                                                         note=True)])
    doc['tasks']['1']['task']['tags'] = ['evidence']
    entry = run(inst, tmp_path, doc).task('echo').entries[0]
    assert (entry['Note'], entry['Tags']) == (True, ['evidence'])


def test_a_task_whose_integration_is_not_here_is_skipped_with_skipunavailable(inst, tmp_path):
    doc = pb.playbook('Skip', [pb.start('1'), pb.command('1', 'other', 'other-cmd', {}, '2', brand='Other',
                                                         skipunavailable=True), echo('2', 'next')])
    result = run(inst, tmp_path, doc)
    assert result.ok
    assert result.task('other').status == 'skipped'
    assert 'Other|||other-cmd is not available here' in result.task('other').detail
    assert names(result) == ['next']


# -------------------------------------------------------------------------------------------- sub-playbooks
CHILD = pb.playbook('Child', [
    pb.start('1'),
    echo('1', 'child', '2', value=pb.ctx('inputs.Name')),
    pb.command('2', 'items', 'tiny-items', {'items': pb.simple('[{"ID": "internal"}]')}),
], inputs={'Name': pb.simple('default name'), 'Extra': pb.simple('default extra')}, outputs=['Tiny.Echo',
                                                                                            'Tiny.Echo.Name'])


def parent(separate=True, inputs=None, loop=None, **fields):
    return pb.playbook('Parent', [
        pb.start('1'),
        echo('1', 'parent before', '2'),
        pb.subplaybook('2', 'call child', 'Child', inputs, '3', separate=separate, loop=loop, **fields),
        echo('3', 'parent after'),
    ], outputs=['Tiny.Echo'])


def test_a_private_sub_playbook_returns_only_its_outputs(inst, tmp_path):
    result = run(inst, tmp_path, parent(inputs={'Name': pb.simple('given')}), CHILD)
    assert result.ok, result.errors
    assert names(result) == ['parent before', 'child', 'parent after']
    child_echo = result.context['Tiny']['Echo'][1]
    assert child_echo['Value'] == 'given'
    assert 'Item' not in result.context['Tiny']  # not an output of the child
    assert [(t.name, t.depth) for t in result.tasks if t.kind != 'start'] == [
        ('echo parent before', 0), ('call child', 0), ('echo child', 1), ('items', 1), ('echo parent after', 0)]
    assert result.outputs['Tiny.Echo'] == result.context['Tiny']['Echo']


def test_input_defaults_apply_when_the_task_does_not_give_them(inst, tmp_path):
    result = run(inst, tmp_path, parent(), CHILD)
    assert result.context['Tiny']['Echo'][1]['Value'] == 'default name'


def test_a_shared_sub_playbook_writes_to_the_parents_context(inst, tmp_path):
    result = run(inst, tmp_path, parent(separate=False), CHILD)
    assert result.context['Tiny']['Item'] == {'ID': 'internal'}


def test_a_waiting_sub_playbook_makes_the_parent_wait(inst, tmp_path):
    child = copy.deepcopy(CHILD)
    child['tasks']['2'] = pb.manual('2', 'Look at it')
    result = run(inst, tmp_path, parent(), child)
    assert result.status == 'waiting'
    assert [t.name for t in result.waiting] == ['call child', 'Look at it']  # in the order the tasks started
    assert 'parent after' not in names(result)
    answered = run(inst, tmp_path, parent(), child, answers={'Look at it': 'done'})
    assert answered.ok


def test_a_failing_sub_playbook_fails_its_task(inst, tmp_path):
    child = copy.deepcopy(CHILD)
    child['tasks']['2'] = pb.command('2', 'fail', 'tiny-fail')
    result = run(inst, tmp_path, parent(), child)
    assert result.status == 'failed'
    assert [t.name for t in result.errors] == ['call child', 'fail']
    assert result.task('call child').error == "sub-playbook 'Child' failed"
    handled = run(inst, tmp_path, parent(continueonerror=True), child)
    assert handled.ok
    assert names(handled)[-1] == 'parent after'


def test_for_each_runs_the_sub_playbook_once_per_item(inst, tmp_path):
    child = pb.playbook('Child', [pb.start('1'), echo('1', '${inputs.Name}', value=pb.ctx('inputs.Extra'))],
                        inputs={'Name': {}, 'Extra': pb.simple('default extra')}, outputs=['Tiny.Echo'])
    doc = parent(inputs={'Name': pb.ctx('Names'), 'Extra': pb.simple('x')}, loop={'forEach': True})
    doc['tasks']['0']['nexttasks'] = {'#none#': ['9']}
    doc['tasks']['9'] = pb.script('9', 'names', 'Set', {'key': pb.simple('Names'), 'value': pb.simple('["a","b","c"]')},
                                  '1')
    result = run(inst, tmp_path, doc, child)
    assert result.ok, result.errors
    assert names(result) == ['parent before', 'a', 'b', 'c', 'parent after']
    # item i of every list input; a single value only in the first iteration (the others get no value)
    assert [e.get('Value') for e in result.context['Tiny']['Echo'][1:4]] == ['x', None, None]
    assert result.task('call child').detail == "sub-playbook 'Child', 3 iteration(s)"


def counting_child():
    return pb.playbook('Child', [
        pb.start('1'),
        pb.script('1', 'count', 'SetAndHandleEmpty', {'key': pb.simple('Count'), 'value': pb.simple('x')}),
    ], inputs={'Name': {}}, outputs=['Count'])


@pytest.mark.parametrize(('length', 'maximum', 'iterations'), [('3', 100, 3), ('99', 4, 4)])
def test_a_condition_loop_runs_until_its_exit_condition_or_its_maximum(inst, tmp_path, length, maximum, iterations):
    loop = {'builtincondition': [[pb.condition('hasLength', 'Count', length)]], 'max': maximum, 'wait': 30}
    result = run(inst, tmp_path, parent(loop=loop), counting_child())
    assert result.ok, result.errors
    assert result.context['Count'] == ['x'] * iterations
    assert result.task('call child').detail == f"sub-playbook 'Child', {iterations} iteration(s)"


def test_a_required_input_without_value_fails_the_playbook(inst, tmp_path):
    doc = pb.playbook('Required', [pb.start('1'), echo('1', 'never')], inputs={'IP': {}}, required=('IP',))
    result = run(inst, tmp_path, doc)
    assert result.status == 'failed'
    assert result.errors[0].error == 'required input(s) without a value: IP'
    assert run(inst, tmp_path, doc, inputs={'IP': '1.2.3.4'}).ok


def test_an_unknown_input_is_refused(inst, tmp_path):
    with pytest.raises(ValueError, match="has no input 'IPs' \\(its inputs: IP\\)"):
        run(inst, tmp_path, pb.playbook('In', [pb.start(None)], inputs={'IP': {}}), inputs={'IPs': 'x'})


# ----------------------------------------------------------------------------------------- load-time refusals
def base():
    return pb.playbook('Base', [pb.start('1'), echo('1', 'one', '2'), pb.title('2', 'end')], inputs={'A': {}})


def edit_task(key, value, task_id='1'):
    def edit(doc):
        doc['tasks'][task_id][key] = value
    return edit


def edit_body(key, value, task_id='1'):
    def edit(doc):
        doc['tasks'][task_id]['task'][key] = value
    return edit


def add_task(raw):
    def edit(doc):
        doc['tasks'][raw['id']] = raw
        doc['tasks']['2']['nexttasks'] = {'#none#': [raw['id']]}
    return edit


REFUSALS = [
    (add_task(pb.task('3', 'section', 'x')), "task 3 'x': task type 'section' is not implemented"),
    (edit_body('script', 'Builtin|||closeInvestigation'), "XSOAR's built-in command 'closeInvestigation'"),
    (edit_body('script', '|||tiny-nope'), 'tiny-nope is not a command of the integration Tiny'),
    (edit_body('script', 'Other|||tiny-echo'), 'Other|||tiny-echo is not a command of the integration Tiny'),
    (edit_task('scriptarguments', {'name': pb.simple('x'), 'nope': pb.simple('y')}), "tiny-echo has no argument 'nope'"),
    (edit_task('scriptarguments', {}), 'tiny-echo: the required argument name is not given'),
    (edit_task('scriptarguments', {'name': pb.simple('${A(val.x)}')}), 'selectors and mutators'),
    (edit_task('scriptarguments', {'name': pb.simple('x'), 'using': pb.simple('inst')}),
     'the task argument using is not implemented'),
    (edit_task('scriptarguments', {'name': pb.ctx('A', transformers=[{'operator': 'toTitle'}])}),
     "'toTitle' is not implemented"),
    (add_task(pb.script('3', 's', 'GetIncidentsByQuery')), "the script 'GetIncidentsByQuery' is not implemented"),
    (add_task(pb.script('3', 's', 'Print', {'text': pb.simple('x')})), "Print has no argument 'text'"),
    (add_task(pb.script('3', 's', 'Print')), 'Print: the required argument value is not given'),
    (edit_task('timertriggers', [{'fieldname': 'sla', 'action': 'start'}]), 'timers (timertriggers) is not implemented'),
    (edit_task('fieldMapping', [{'incidentfield': 'x', 'output': {}}]), 'field mapping (fieldMapping)'),
    (edit_task('scriptarguments:xsoar', {}), 'marketplace-specific fields are not implemented'),
    (edit_task('frobnicate', True), "'frobnicate' is not implemented"),
    (edit_body('clonedfromx', 'y'), 'task.clonedfromx is not implemented'),
    (edit_task('nexttasks', {'#none#': ['1']}), 'the tasks loop back (1 -> 1)'),
    (edit_task('nexttasks', {'#none#': ['7']}), "leads to task '7', which does not exist"),
    (edit_task('continueonerrortype', 'errorPath'), 'continueonerrortype errorPath without continueonerror'),
    (edit_task('nexttasks', {'#none#': ['2'], '#error#': ['2']}), 'an error path needs both'),
    (edit_task('loop', {'forEach': True}), 'loops are implemented for sub-playbook tasks only'),
    (edit_task('separatecontext', True), 'separatecontext only applies to sub-playbook tasks'),
    (edit_task('conditions', [{'label': 'yes', 'condition': []}]), 'conditions on a regular task is not implemented'),
    (edit_task('message', {'to': 'x'}), 'message on a regular task is not implemented'),
    (add_task(pb.conditional('3', 'c', {'yes': [[pb.condition('isTrue', 'A')]]}, {'yes': '2'},
                             message={'replyOptions': ['Yes']})), 'both conditions and a message'),
    (add_task(pb.conditional('3', 'c', {'yes': [[pb.condition('isTrue', 'A')]]}, {'yes': '2', 'maybe': '2'})),
     "branch 'maybe' is never taken"),
    (add_task(pb.conditional('3', 'c', {'yes': [[pb.condition('isSameAs', 'A', 'x')]]}, {'yes': '2'})),
     "operator 'isSameAs' is not implemented"),
    (add_task(pb.task('3', 'condition', 'auto', None, {'scriptName': 'IsIPInRanges'})),
     'decided by a script ("choose automation") are not implemented'),
    (add_task(pb.choice('3', 'c', {'#default#': '2'})), 'a manual condition without branches'),
    (add_task(pb.collection('3', 'c', [{'label': 'q', 'type': 'grid'}])), "answer type 'grid' is not implemented"),
    (add_task(pb.collection('3', 'c', [{'label': 'q', 'fieldassociated': 'severity'}])), 'a field-based question'),
    (add_task(pb.subplaybook('3', 'sub', 'Nowhere')), "sub-playbook 'Nowhere' not found"),
    (add_task(pb.subplaybook('3', 'sub', 'Base')), "calls itself through Base -> Base"),
    (edit_task('scriptarguments', {'name': pb.simple('x'), 'retry-count': pb.simple('many')}),
     "retry-count must be a number, got 'many'"),
    (lambda doc: doc['inputs'][0].update(playbookInputQuery={'query': 'type:IP'}), 'indicator query'),
    (lambda doc: doc.update(starttaskid='9'), "starttaskid '9' is not a task"),
    (lambda doc: doc.update(issilent=True), 'silent playbooks'),
    (lambda doc: doc.update(frobnicate=1), "playbook 'Base': 'frobnicate' is not implemented"),
    (lambda doc: doc['tasks']['2'].update(scriptarguments={'x': pb.simple('y')}),
     'scriptarguments on a task that runs nothing'),
]


@pytest.mark.parametrize(('edit', 'message'), REFUSALS)
def test_what_is_not_implemented_is_refused_at_load_time(inst, tmp_path, edit, message):
    doc = base()
    edit(doc)
    with pytest.raises(PlaybookLoadError) as refused:
        run(inst, tmp_path, doc)
    assert message in str(refused.value)
    assert "playbook 'Base'" in str(refused.value)


def test_sub_playbook_refusals_name_the_sub_playbook(inst, tmp_path):
    child = copy.deepcopy(CHILD)
    child['tasks']['2']['timertriggers'] = [{'fieldname': 'x', 'action': 'start'}]
    with pytest.raises(PlaybookLoadError) as refused:
        run(inst, tmp_path, parent(inputs={'Nope': pb.simple('x')}, loop={'scriptId': 'X', 'forEach': True}), child)
    problems = refused.value.problems
    assert "playbook 'Child' task 2 'items': timers (timertriggers) is not implemented" in problems
    assert any("sub-playbook 'Child' has no input 'Nope'" in p for p in problems)
    assert any('loops exiting on an automation (scriptId) are not implemented' in p for p in problems)


def test_every_playbook_of_the_pack_loads():
    loader = PlaybookLoader(IntegrationSpec.from_integration(), default_search_dirs())
    paths = [p for d in default_search_dirs() for p in glob.glob(os.path.join(d, '*.yml'))]
    assert len(paths) >= 3  # Block Attacker IPs, Isolate VM, the test playbook
    for path in paths:
        assert loader.load(path).tasks
