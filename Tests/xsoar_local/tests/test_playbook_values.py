"""The parts of the playbook runner that need no integration: DT paths and ${...}, the incident context (XSOAR's
merge rules, private sub-playbook layers), every condition operator and transformer, simple/complex values with
filters, and the built-in scripts."""
import pytest

from Tests.xsoar_local.playbooks.context import IncidentContext
from Tests.xsoar_local.playbooks.dt import UnsupportedConstruct, interpolate, lookup_in, parse_path, to_text, walk
from Tests.xsoar_local.playbooks.operators import OPERATORS, TRANSFORMERS, OperatorError
from Tests.xsoar_local.playbooks.scripts import SCRIPTS, ScriptError
from Tests.xsoar_local.playbooks.values import (Scope, check_groups, check_value, evaluate_groups, incident_view,
                                                resolve)

CONTEXT = {
    'URLScan': {'Certificates': [{'Name': 'www.a', 'Issuer': 'G3'}, {'Name': '*.b'}, {'Name': 'www.c'}]},
    'IP': {'Address': '8.8.8.8', 'Geo': {'Country': 'US'}},
    'Check v1.2': {'Answers': {'0': 'yes'}},
    'Lists': [{'Tags': ['a', 'b']}, {'Tags': ['c']}],
}


# --------------------------------------------------------------------------------------------------------- DT
@pytest.mark.parametrize(('path', 'expected'), [
    ('IP.Geo.Country', 'US'),
    ('URLScan.Certificates.Name', ['www.a', '*.b', 'www.c']),     # a key of every item of an array
    ('URLScan.Certificates.[0].Name', 'www.a'),                   # indexes start at 0
    ('URLScan.Certificates.[1:2].Name', ['*.b', 'www.c']),        # a range includes both ends
    ('URLScan.Certificates.[1:].Name', ['*.b', 'www.c']),
    ('URLScan.Certificates.Issuer', ['G3']),                      # items without the key are left out
    ('Lists.Tags', ['a', 'b', 'c']),                              # arrays taken from every item: one flat list
    ('IP.[0].Address', '8.8.8.8'),                                # one object stored alone is an array of one
    ('Check v1.2.Answers.0', 'yes'),                              # a key containing dots
    ('IP.Missing', None),
    ('URLScan.Certificates.[7]', None),
])
def test_walk(path, expected):
    assert walk(CONTEXT, path) == expected


@pytest.mark.parametrize('path', ["DBotScore.Vendor(val == 'urlscan.io')", 'MaxMind.Organization=val.toLowerCase()',
                                  'A..B', 'A.[-1]', 'A.[x]', '', '.'])
def test_dt_beyond_plain_paths_is_refused(path):
    with pytest.raises(UnsupportedConstruct):
        parse_path(path)


def test_interpolate_keeps_the_type_of_a_whole_expression_and_writes_text_inside_a_longer_one():
    lookup = lookup_in(CONTEXT)
    assert interpolate('${URLScan.Certificates.Name}', lookup) == ['www.a', '*.b', 'www.c']
    assert interpolate(' ${IP.Geo} ', lookup) == {'Country': 'US'}
    assert interpolate('IPs: ${IP.Address}, names ${URLScan.Certificates.Name}, none [${Nope}]', lookup) == \
        'IPs: 8.8.8.8, names www.a,*.b,www.c, none []'
    assert interpolate('no expression', lookup) == 'no expression'
    assert to_text({'b': 1, 'a': True}) == '{"a": true, "b": 1}'
    assert to_text(False) == 'false'


# ---------------------------------------------------------------------------------------------------- context
def test_merge_keys_objects_by_their_key_fields_and_adds_others():
    context = IncidentContext()
    context.merge({'A.B(val.ID && val.ID == obj.ID)': [{'ID': 1, 'v': 'old'}]})
    assert context.view() == {'A': {'B': {'ID': 1, 'v': 'old'}}}  # one object is stored as that object
    context.merge({'A.B(val.ID && val.ID == obj.ID)': [{'ID': 2}, {'ID': 1, 'v': 'new'}], 'C': 'x'})
    context.merge({'C': 'y', 'A.D': {'k': 1}})
    assert context.view() == {'A': {'B': [{'ID': 1, 'v': 'new'}, {'ID': 2}], 'D': {'k': 1}}, 'C': ['x', 'y']}
    context.merge({'A.B(val.ID && val.ID == obj.ID)': {'ID': None, 'v': 'no key'}})  # an unset key never matches
    assert len(context.view()['A']['B']) == 3
    context.merge({'E': []})
    assert 'E' not in context.view()


def test_writing_under_a_value_that_is_not_an_object_is_an_error():
    context = IncidentContext({'A': 'text'})
    with pytest.raises(ValueError, match='A holds str'):
        context.merge({'A.B': 1})


def test_private_layer_reads_the_parent_and_writes_only_itself():
    parent = IncidentContext({'Keep': 1, 'A': {'B': [{'ID': 1}]}})
    child = IncidentContext(parent=parent)
    child.merge({'A.B(val.ID && val.ID == obj.ID)': {'ID': 2}, 'New': 'n'})
    assert child.view() == {'Keep': 1, 'A': {'B': [{'ID': 1}, {'ID': 2}]}, 'New': 'n'}
    assert parent.view() == {'Keep': 1, 'A': {'B': [{'ID': 1}]}}
    assert child.own_value('A.B') == [{'ID': 1}, {'ID': 2}]  # copied from the parent before it was changed
    assert child.own_value('Keep') is None                   # never written here
    assert child.delete('Keep')
    assert 'Keep' not in child.view()
    assert parent.view()['Keep'] == 1
    assert child.root() is parent


def test_delete_set_clear_and_set_key():
    context = IncidentContext({'A': {'B': [1, 2, 3], 'C': 'c'}, 'D': 'd'})
    assert context.delete('A.B', 1)
    assert context.view()['A']['B'] == [1, 3]
    assert not context.delete('A.B', 5)
    assert context.delete('A.C')
    assert not context.delete('A.X')
    assert not context.delete('Nope')
    context.set('X.Y', [1])
    assert context.view()['X'] == {'Y': [1]}
    context.set_key('Task v1.0', {'Answers': {'0': 'a'}})
    assert context.view()['Task v1.0'] == {'Answers': {'0': 'a'}}
    assert context.delete('Task v1.0')
    context.set_key('Task v1.0', {'Answers': {'0': 'a'}})
    assert context.delete('T', None) is False
    context.clear(['A.B', 'Missing'])
    assert context.view() == {'A': {'B': [1, 3]}}


# -------------------------------------------------------------------------------------------------- operators
OPERATOR_CASES = [
    # (operator, left, right, ignorecase, expected)
    ('isExists', '', None, False, True), ('isExists', None, None, False, False),
    ('isExists', False, None, False, True), ('isNotExists', None, None, False, True),
    ('isEmpty', [], None, False, True), ('isEmpty', ['', None], None, False, True), ('isEmpty', 'x', None, False, False),
    ('isNotEmpty', {'a': 1}, None, False, True), ('isNotEmpty', '', None, False, False),
    ('containsGeneral', ['a', 'b'], 'b', False, True), ('containsGeneral', 'abc', 'B', True, True),
    ('containsGeneral', {'k': 1}, 'k', False, True), ('containsGeneral', None, 'a', False, False),
    ('notContainsGeneral', ['a'], 'b', False, True), ('notContainsGeneral', ['a'], 'a', False, False),
    ('in', 'b', ['a', 'b'], False, True), ('in', 'bc', 'abcd', False, True), ('in', 'x', None, False, False),
    ('notIn', 'x', ['a'], False, True), ('notIn', ['a', 'b'], ['a', 'b'], False, False),
    ('hasLength', ['a', 'b'], '2', False, True), ('hasLength', 'one', 1, False, True),
    ('isEqualString', 'True', 'true', True, True), ('isEqualString', 'True', 'true', False, False),
    ('isEqualString', ['a', 'b', 'c'], 'b', False, True),           # one item of a list suffices
    ('isEqualString', None, '', False, True), ('isEqualString', 5, '5', False, True),
    ('isEqualString', 'b', ['a', 'b'], False, True),                # any value of a list on the right
    ('isNotEqualString', 'a', ['a', 'b'], False, False), ('isNotEqualString', ['a', 'c'], 'a', False, True),
    ('containsString', 'is evaluated before the block', 'before', False, True),
    ('notContainsString', 'abc', 'x', False, True), ('notContainsString', 'abc', 'B', True, False),
    ('startWith', 'xsoar-block', 'xsoar', False, True), ('notStartWith', 'abc', 'b', False, True),
    ('endWith', 'abc', 'BC', True, True), ('notEndWith', 'abc', 'c', False, False),
    ('inList', 'b', 'a, b ,c', False, True), ('inList', 'B', 'a,b', False, False), ('inList', 'B', ['a', 'b'], True, True),
    ('notInList', 'x', 'a,b', False, True),
    ('match', 'web-01', r'^web-\d+$', False, True), ('match', 'WEB-01', '^web', True, True),
    ('match', 'db', '^web', False, False),
    ('stringHasLength', 'abc', '3', False, True),
    ('isEqualNumber', '10', 10, False, True), ('isNotEqualNumber', 1, '2', False, True),
    ('greaterThan', ['1', '5'], '4', False, True), ('greaterThanOrEqual', 4, '4', False, True),
    ('lessThan', '3.5', 4, False, True), ('lessThanOrEqual', 5, 4, False, False), ('greaterThan', None, 1, False, False),
    ('isTrue', 'TRUE', None, False, True), ('isTrue', True, None, False, True), ('isTrue', 'yes', None, False, False),
    ('isFalse', ['true', 'false'], None, False, True), ('isFalse', 0, None, False, False),
    ('isAfter', '2024-05-02T00:00:00Z', '2024-05-01T23:59:59+00:00', False, True),
    ('isBefore', '2024-05-01', '2024-05-01T00:00:01Z', False, True),
]


@pytest.mark.parametrize(('name', 'left', 'right', 'ignorecase', 'expected'), OPERATOR_CASES)
def test_operator(name, left, right, ignorecase, expected):
    assert OPERATORS[name].test(left, right, ignorecase) is expected


def test_every_operator_has_a_case():
    assert {case[0] for case in OPERATOR_CASES} == set(OPERATORS)


@pytest.mark.parametrize(('name', 'left', 'right', 'message'), [
    ('isEqualString', {'some': 'object'}, 'a', 'as a string'),   # the docs' example: an object Equals a string
    ('greaterThan', 'abc', 1, 'as a number'),
    ('isEqualNumber', True, 1, 'as a number'),
    ('isAfter', 'yesterday', '2024-05-01', 'as a date'),
    ('match', 'a', '(', 'not a valid regular expression'),
])
def test_operator_cast_failure_is_an_error(name, left, right, message):
    with pytest.raises(OperatorError, match=message):
        OPERATORS[name].test(left, right, False)


TRANSFORMER_CASES = [
    ('uniq', ['a', 'b', 'a', {'x': 1}, {'x': 1}], {}, ['a', 'b', {'x': 1}]), ('uniq', 'a', {}, 'a'),
    ('count', ['a', 'b'], {}, 2), ('count', None, {}, 0), ('count', 'a', {}, 1),
    ('join', ['a', 'b'], {'separator': ';'}, 'a;b'), ('join', ['a', 1], {}, 'a,1'),
    ('FirstArrayElement', ['a', 'b'], {}, 'a'), ('FirstArrayElement', [], {}, None),
    ('LastArrayElement', ['a', 'b'], {}, 'b'), ('LastArrayElement', 'a', {}, 'a'),
    ('atIndex', ['a', 'b'], {'index': '1'}, 'b'), ('atIndex', ['a'], {'index': 3}, None),
    ('append', ['a'], {'item': ['b', 'c']}, ['a', 'b', 'c']), ('append', None, {'item': 'x'}, ['x']),
    ('Stringify', {'a': 1}, {}, '{"a": 1}'), ('Stringify', 'text', {}, 'text'),
    ('getField', [{'k': 1}, {'k': 2}, {'j': 3}], {'field': 'k'}, [1, 2, None]),
    ('getField', {'a': {'b': 2}}, {'field': 'a.b'}, 2),
    ('split', 'a,b', {}, ['a', 'b']), ('split', ['a|b', 'c'], {'delimiter': '|'}, ['a', 'b', 'c']),
    ('splitAndTrim', ' a , b', {}, ['a', 'b']),
    ('toLowerCase', ['A', 'B'], {}, ['a', 'b']), ('toUpperCase', 'a', {}, 'A'), ('toUpperCase', None, {}, None),
    ('concat', ['a', 'b'], {'prefix': '<', 'suffix': '>'}, ['<a>', '<b>']),
    ('replace', 'a-b-c', {'toReplace': '-', 'replaceWith': '+', 'limit': '1'}, 'a+b-c'),
    ('replace', 'a-b', {'toReplace': '-'}, 'ab'),
]


@pytest.mark.parametrize(('name', 'value', 'args', 'expected'), TRANSFORMER_CASES)
def test_transformer(name, value, args, expected):
    assert TRANSFORMERS[name].apply(value, args) == expected


def test_every_transformer_has_a_case():
    assert {case[0] for case in TRANSFORMER_CASES} == set(TRANSFORMERS)


def test_transformer_cast_failure_is_an_error():
    with pytest.raises(OperatorError, match='as a string'):
        TRANSFORMERS['toUpperCase'].apply([{'a': 1}], {})


# ----------------------------------------------------------------------------------------------------- values
def scope(context=None, inputs=None, incident=None):
    return Scope(IncidentContext(context), inputs or {}, incident_view(incident or {'id': '7', 'CustomFields': {
        'sourceIP': '192.0.2.1'}}))


BLOCKED = {'AzureContainment': {'BlockedIP': [
    {'IP': '192.0.2.1', 'Status': 'Blocked', 'Warning': 'rule x is evaluated before the block'},
    {'IP': '192.0.2.2', 'Status': 'AlreadyBlocked'},
    {'IP': '192.0.2.3', 'Status': 'Invalid', 'Warning': 'is evaluated before the block'},
    {'IP': '192.0.2.4', 'Status': 'AlreadyBlocked', 'Warning': 'it is evaluated before the block too'},
]}}
SHADOWED = {'complex': {
    'root': 'AzureContainment.BlockedIP',
    'filters': [
        [{'operator': 'isEqualString', 'left': {'value': {'simple': 'AzureContainment.BlockedIP.Status'},
                                                'iscontext': True}, 'right': {'value': {'simple': 'Blocked'}}},
         {'operator': 'isEqualString', 'left': {'value': {'simple': 'AzureContainment.BlockedIP.Status'},
                                                'iscontext': True}, 'right': {'value': {'simple': 'AlreadyBlocked'}}}],
        [{'operator': 'containsString', 'left': {'value': {'simple': 'AzureContainment.BlockedIP.Warning'},
                                                 'iscontext': True},
          'right': {'value': {'simple': 'is evaluated before the block'}}}]],
    'accessor': 'IP',
    'transformers': [{'operator': 'join', 'args': {'separator': {'value': {'simple': ' '}}}}],
}}


def test_complex_filters_items_of_the_root_then_takes_the_accessor_then_transforms():
    assert resolve(SHADOWED, scope(BLOCKED)) == '192.0.2.1 192.0.2.4'


def test_filter_paths_outside_the_root_read_the_whole_context():
    spec = {'complex': {'root': 'Items', 'filters': [[{
        'operator': 'isEqualString', 'left': {'value': {'simple': 'Items.Owner'}, 'iscontext': True},
        'right': {'value': {'simple': 'Wanted'}, 'iscontext': True}}]], 'accessor': 'Name'}}
    data = {'Items': [{'Name': 'a', 'Owner': 'me'}, {'Name': 'b', 'Owner': 'you'}], 'Wanted': 'you'}
    assert resolve(spec, scope(data)) == ['b']


def test_simple_values_inputs_and_incident():
    s = scope({'A': {'B': ['x', 'y']}}, inputs={'IP': '203.0.113.7'})
    assert resolve({'simple': '${inputs.IP}'}, s) == '203.0.113.7'
    assert resolve({'simple': '${A.B}'}, s) == ['x', 'y']
    assert resolve({'simple': 'incident ${incident.id} from ${incident.sourceip}'}, s) == 'incident 7 from 192.0.2.1'
    assert resolve({'complex': {'root': 'incident', 'accessor': 'id'}}, s) == '7'
    assert resolve({'complex': {'root': 'inputs.IP', 'transformers': [{'operator': 'split'}]}}, s) == ['203.0.113.7']
    assert resolve({}, s) is None
    assert resolve({'simple': 'literal'}, s) == 'literal'


def test_condition_groups_are_and_of_or():
    s = scope({'A': 'a', 'B': 'b'})

    def equals(path, value):
        return {'operator': 'isEqualString', 'left': {'value': {'simple': path}, 'iscontext': True},
                'right': {'value': {'simple': value}}}
    assert evaluate_groups([[equals('A', 'a')], [equals('B', 'x'), equals('B', 'b')]], s)
    assert not evaluate_groups([[equals('A', 'a')], [equals('B', 'x')]], s)
    assert evaluate_groups([[{'operator': 'isNotEmpty', 'left': {'value': {'complex': {'root': 'A'}},
                                                                  'iscontext': True}}]], s)


@pytest.mark.parametrize(('spec', 'message'), [
    ({'simple': '${A(val.x == 1)}'}, 'selectors and mutators'),
    ({'simple': 'a', 'complex': {'root': 'A'}}, 'both simple and complex'),
    ({'complex': {'accessor': 'x'}}, 'without root'),
    ({'complex': {'root': 'A', 'sort': 'x'}}, "'sort' not implemented"),
    ({'complex': {'root': 'A', 'transformers': [{'operator': 'DateToString'}]}}, "'DateToString' is not implemented"),
    ({'complex': {'root': 'A', 'transformers': [{'operator': 'atIndex'}]}}, 'argument index is required'),
    ({'complex': {'root': 'A', 'transformers': [{'operator': 'join', 'args': {'sep': {}}}]}}, 'sep not implemented'),
    ({'complex': {'root': 'A', 'filters': [[{'operator': 'isIdenticalIncident', 'left': {}}]]}},
     "'isIdenticalIncident' is not implemented"),
    ({'complex': {'root': 'A', 'filters': [[{'operator': 'isEqualString', 'left': {'value': {'simple': 'A'}}}]]}},
     'no right side'),
    ({'complex': {'root': 'A', 'filters': [[]]}}, 'non-empty lists'),
    ({'value': 'x'}, "'value' not implemented"),
])
def test_values_the_runner_does_not_implement_are_refused(spec, message):
    with pytest.raises(UnsupportedConstruct, match=message):
        check_value(spec, 'here')


def test_checks_pass_for_the_constructs_implemented():
    check_value(SHADOWED, 'here')
    check_value({'simple': '${inputs.IP} and ${incident.id}'}, 'here')
    check_groups([[{'operator': 'isTrue', 'left': {'value': {'simple': 'x'}, 'iscontext': True}}]], 'here')


# ---------------------------------------------------------------------------------------------------- scripts
def run_script(name, context, **args):
    return SCRIPTS[name].run(args, context)


def test_print():
    assert run_script('Print', IncidentContext(), value=['a', 'b']) == 'a,b'


def test_set_parses_json_replaces_and_appends():
    context = IncidentContext({'K': 'old'})
    assert run_script('Set', context, key='K', value='["a", "b"]') == 'Key K set'
    assert context.view()['K'] == ['a', 'b']
    run_script('Set', context, key='N.Count', value='5')
    run_script('Set', context, key='T', value='5', stringify='true')
    run_script('Set', context, key='Plain', value='not json')
    assert (context.view()['N'], context.view()['T'], context.view()['Plain']) == ({'Count': 5}, '5', 'not json')
    run_script('Set', context, key='K', value='c', append='true')
    assert context.view()['K'] == ['a', 'b', 'c']
    run_script('Set', context, key='D(val.ID == obj.ID)', value='{"ID": 1, "v": 1}', append='true')
    run_script('Set', context, key='D(val.ID == obj.ID)', value='{"ID": 1, "v": 2}', append='true')
    assert context.view()['D'] == {'ID': 1, 'v': 2}


def test_set_and_handle_empty():
    context = IncidentContext({'K': 'old'})
    assert run_script('SetAndHandleEmpty', context, key='K', value='') == 'value is None'
    assert run_script('SetAndHandleEmpty', context, key='K', value=[]) == 'value is None'
    assert context.view()['K'] == 'old'
    run_script('SetAndHandleEmpty', context, key='K', value='new')  # adds unless append=false
    assert context.view()['K'] == ['old', 'new']
    run_script('SetAndHandleEmpty', context, key='K', value='only', append='false')
    assert context.view()['K'] == 'only'
    run_script('SetAndHandleEmpty', context, key='E', value=None, force='true')
    assert context.view()['E'] == ''


def test_delete_context():
    root = IncidentContext({'A': {'B': [1, 2]}, 'C': 'c', 'URL': {'Data': 'x', 'Other': 'y'}})
    child = IncidentContext(parent=root)
    child.set('Mine', 'm')
    assert run_script('DeleteContext', child, key='A.B', index='0') == 'Item 0 of A.B deleted'
    assert root.view()['A'] == {'B': 2}  # subplaybook not given: the incident's context (one item left: stored alone)
    assert run_script('DeleteContext', child, key='Mine', subplaybook='yes') == 'Key Mine deleted'
    assert 'Mine' not in child.view()
    assert run_script('DeleteContext', child, key='Nope') == 'Key Nope was not in context'
    assert run_script('DeleteContext', root, all='yes', keysToKeep='URL.Data') == 'Context cleared (kept URL.Data)'
    assert root.view() == {'URL': {'Data': 'x'}}
    with pytest.raises(ScriptError, match='key=<context path> or all=yes'):
        run_script('DeleteContext', root)
    with pytest.raises(ScriptError, match='index must be a number'):
        run_script('DeleteContext', root, key='URL', index='x')


def test_verify_context():
    context = IncidentContext({'VM': [{'Name': 'a', 'ID': 1}, {'Name': 'b', 'ID': 2}], 'S': {'Status': 'Blocked'},
                               'J': {'a': [1, 2]}})
    assert run_script('VerifyContext', context, path='VM', fields='Name, ID') == 'Context path VM verified'
    assert run_script('VerifyContext', context, path='S.Status', expectedValue='Blocked')
    assert run_script('VerifyContext', context, path='J', expectedValue='{"a": [1, 2]}')
    with pytest.raises(ScriptError, match='Path Nope is not in context'):
        run_script('VerifyContext', context, path='Nope')
    with pytest.raises(ScriptError, match='Field PowerState is missing from'):
        run_script('VerifyContext', context, path='VM', fields='Name,PowerState')
    with pytest.raises(ScriptError, match='is not equal to expected value. Found: "Blocked", expected: "Released"'):
        run_script('VerifyContext', context, path='S.Status', expectedValue='Released')
    with pytest.raises(ScriptError, match=r'Found: \["a", "b"\]'):
        run_script('VerifyContext', context, path='VM.Name', expectedValue='a')
