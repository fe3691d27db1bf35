"""Behaviour of the demistomock / CommonServerPython stand-ins: entry shapes, exit on return_error, masking,
versioned integration context, argument helpers, polling fields, proxy handling."""
import os

import pytest

import CommonServerPython as csp
import demistomock as demisto
from CommonServerPython import (
    CommandResults,
    DemistoException,
    EntryFormat,
    EntryType,
    ScheduledCommand,
    add_sensitive_log_strs,
    arg_to_number,
    argToBoolean,
    argToList,
    get_integration_context,
    handle_proxy,
    pascalToSpace,
    return_error,
    return_results,
    set_integration_context,
    string_to_table_header,
    tableToMarkdown,
    underscoreToCamelCase,
)


# ------------------------------------------------------------------------------------------------ demistomock
def test_reset_sets_params_args_command_and_returns_copies():
    demisto._reset(params={'subscription_id': 'sub', 'enc_key': {'identifier': '', 'password': 'p'}},
                   args={'ip': '203.0.113.7'}, command='azure-nsg-block-ip')
    assert demisto.command() == 'azure-nsg-block-ip'
    assert demisto.args() == {'ip': '203.0.113.7'}
    params = demisto.params()
    assert params['enc_key']['password'] == 'p'
    params['subscription_id'] = 'changed'
    assert demisto.params()['subscription_id'] == 'sub'
    assert demisto.getParam('subscription_id') == 'sub'
    assert demisto.getArg('ip') == '203.0.113.7'


def test_functions_are_patchable_with_pytest_mock(mocker):
    mocker.patch.object(demisto, 'params', return_value={'proxy': True})
    mocker.patch.dict(os.environ, {'HTTPS_PROXY': 'proxy.local:3128', 'HTTP_PROXY': 'http://proxy.local:3128'})
    assert handle_proxy() == {'http': 'http://proxy.local:3128', 'https': 'http://proxy.local:3128'}


def test_results_string_becomes_text_note():
    demisto.results('ok')
    assert demisto._entries == [{'Type': 1, 'ContentsFormat': 'text', 'Contents': 'ok'}]


def test_logs_are_recorded_with_level_and_formatting():
    demisto.debug('a %s b', 'x')
    demisto.info('plain')
    demisto.error('bad')
    assert demisto._logs == [('debug', 'a x b'), ('info', 'plain'), ('error', 'bad')]


def test_integration_context_roundtrip_and_versions():
    assert demisto.getIntegrationContext() == {}
    assert demisto.getIntegrationContextVersioned() == {'context': {}, 'version': 0}
    demisto.setIntegrationContext({'a': 1})
    ctx = demisto.getIntegrationContextVersioned()
    assert ctx == {'context': {'a': 1}, 'version': 1}
    demisto.setIntegrationContextVersioned({'a': 2}, version=1)
    assert demisto.getIntegrationContextVersioned() == {'context': {'a': 2}, 'version': 2}


def test_versioned_write_with_stale_version_conflicts_and_writes_nothing():
    demisto.setIntegrationContext({'token': 'first'})
    stale = demisto.getIntegrationContextVersioned()['version']
    demisto.setIntegrationContextVersioned({'token': 'second'}, version=stale)  # another run wins
    with pytest.raises(ValueError, match='version'):
        demisto.setIntegrationContextVersioned({'token': 'third'}, version=stale)
    assert demisto.getIntegrationContext() == {'token': 'second'}


def test_integration_context_is_a_copy():
    demisto.setIntegrationContext({'nested': {'k': 1}})
    got = demisto.getIntegrationContext()
    got['nested']['k'] = 99
    assert demisto.getIntegrationContext() == {'nested': {'k': 1}}


def test_version_and_instance():
    assert demisto.demistoVersion()['version'] == '8.9.0'
    demisto._reset(instance_name='my_instance')
    assert demisto.integrationInstance() == 'my_instance'
    assert demisto.callingContext['context']['IntegrationInstance'] == 'my_instance'


# -------------------------------------------------------------------------------------------- CommandResults
def test_incident_outside_an_incident_is_the_playground():
    incident = demisto.incident()
    assert incident['id'] == ''
    assert incident['name'] == ''
    assert incident['isPlayground'] is True
    assert incident['created'] == '0001-01-01T00:00:00Z'
    assert demisto.incidents() == [incident]


def test_incident_inside_an_incident_is_a_copy():
    demisto._reset(incident={'id': '42', 'name': 'Phish', 'created': '2024-05-01T10:00:00Z', 'isPlayground': False})
    incident = demisto.incident()
    assert (incident['id'], incident['name'], incident['created']) == ('42', 'Phish', '2024-05-01T10:00:00Z')
    incident['id'] = 'changed'
    assert demisto.incident()['id'] == '42'
    demisto._reset()  # the next run outside an incident sees the playground again
    assert demisto.incident()['id'] == ''


def test_command_results_entry_with_key_field():
    outputs = [{'IP': '203.0.113.7', 'Status': 'Blocked'}]
    entry = CommandResults(outputs_prefix='AzureContainment.BlockedIP', outputs_key_field='IP', outputs=outputs,
                           readable_output='### Blocked', raw_response={'raw': 1}).to_context()
    assert entry == {
        'Type': EntryType.NOTE,
        'ContentsFormat': EntryFormat.JSON,
        'Contents': {'raw': 1},
        'HumanReadable': '### Blocked',
        'EntryContext': {'AzureContainment.BlockedIP(val.IP && val.IP == obj.IP)': outputs},
        'IndicatorTimeline': [],
        'IgnoreAutoExtract': False,
        'Note': False,
        'Relationships': [],
    }


def test_command_results_multiple_key_fields_and_no_key_field():
    entry = CommandResults(outputs_prefix='A.B', outputs_key_field=['IP', 'NSG'], outputs={'IP': 1}).to_context()
    assert list(entry['EntryContext']) == ['A.B(val.IP && val.IP == obj.IP && val.NSG && val.NSG == obj.NSG)']
    entry = CommandResults(outputs_prefix='A.B', outputs={'IP': 1}).to_context()
    assert entry['EntryContext'] == {'A.B': {'IP': 1}}


def test_command_results_defaults_contents_to_outputs_and_readable_to_a_table():
    entry = CommandResults(outputs_prefix='A', outputs={'Name': 'x'}).to_context()
    assert entry['Contents'] == {'Name': 'x'}
    assert entry['HumanReadable'].startswith('### Results\n|Name|')


def test_command_results_text_only():
    entry = CommandResults(readable_output='done', ignore_auto_extract=True).to_context()
    assert entry['ContentsFormat'] == EntryFormat.TEXT
    assert entry['Contents'] is None
    assert entry['EntryContext'] == {}
    assert entry['IgnoreAutoExtract'] is True


def test_command_results_list_without_prefix_is_rejected():
    with pytest.raises(ValueError, match='outputs_prefix'):
        CommandResults(outputs=[{'a': 1}])


def test_command_results_with_scheduled_command_has_polling_fields():
    sc = ScheduledCommand(command='azure-vm-power', next_run_in_seconds=30, args={'vm_name': 'web-01'},
                          timeout_in_seconds=600)
    entry = CommandResults(readable_output='waiting', scheduled_command=sc).to_context()
    assert entry['PollingCommand'] == 'azure-vm-power'
    assert entry['NextRun'] == '30'
    assert entry['Timeout'] == '600'
    assert entry['PollingArgs'] == {'vm_name': 'web-01'}
    assert entry['PollingItemsRemaining'] == 0


# ------------------------------------------------------------------------------------------- ScheduledCommand
def test_scheduled_command_refuses_interval_below_minimum():
    with pytest.raises(ValueError, match='at least 10'):
        ScheduledCommand(command='x', next_run_in_seconds=5)


def test_scheduled_command_not_supported_on_old_server():
    demisto._reset(version={'version': '6.1.0', 'buildNumber': '1'})
    assert ScheduledCommand.supports_polling() is False
    with pytest.raises(DemistoException, match='6.2.0'):
        ScheduledCommand.raise_error_if_not_supported()
    with pytest.raises(DemistoException):
        ScheduledCommand(command='x', next_run_in_seconds=10)
    demisto._reset(version={'version': '6.2.0', 'buildNumber': '1'})
    assert ScheduledCommand.supports_polling() is True


# -------------------------------------------------------------------------------- return_results / return_error
def test_return_results_accepts_command_results_list_str_dict_none():
    return_results(CommandResults(readable_output='one'))
    return_results([CommandResults(readable_output='two'), 'three'])
    return_results({'Type': 1, 'ContentsFormat': 'text', 'Contents': 'four'})
    return_results(None)
    assert [e.get('HumanReadable') or e['Contents'] for e in demisto._entries] == ['one', 'two', 'three', 'four']


def test_return_error_posts_error_entry_then_exits_zero():
    demisto._reset(command='azure-vm-get')
    with pytest.raises(SystemExit) as exited:
        return_error('VM not found', outputs={'X': 1})
    assert exited.value.code == 0
    assert demisto._entries == [{'Type': 4, 'ContentsFormat': 'text', 'Contents': 'VM not found',
                                 'EntryContext': {'X': 1}}]
    assert ('error', 'VM not found') in demisto._logs


def test_return_error_logs_traceback_when_error_given():
    try:
        raise KeyError('boom')
    except KeyError as exc:
        with pytest.raises(SystemExit):
            return_error('Failed', error=exc)
    assert any('Traceback' in line and 'boom' in line for level, line in demisto._logs if level == 'error')


def test_return_error_raises_for_fetch_incidents():
    demisto._reset(command='fetch-incidents')
    with pytest.raises(Exception, match='nope'):
        return_error('nope')
    assert demisto._entries == []


def test_sensitive_strings_masked_in_logs_and_error_entries_only_after_registration():
    demisto.debug('before s3cr3t-value')
    add_sensitive_log_strs('s3cr3t-value')
    add_sensitive_log_strs('')  # ignored
    demisto.debug('token=%s', 's3cr3t-value')
    demisto.info('info s3cr3t-value')
    demisto.error('error s3cr3t-value')
    with pytest.raises(SystemExit):
        return_error('AADSTS7000215: bad secret s3cr3t-value')
    assert demisto._logs[0] == ('debug', 'before s3cr3t-value')
    assert all('s3cr3t-value' not in line for _, line in demisto._logs[1:])
    assert demisto._logs[1] == ('debug', 'token=<XX_REPLACED>')
    assert demisto._entries[-1]['Contents'] == 'AADSTS7000215: bad secret <XX_REPLACED>'


def test_longer_secret_masked_whole():
    add_sensitive_log_strs('abc')
    add_sensitive_log_strs('abcdef')
    demisto.info('x abcdef y abc')
    assert demisto._logs[-1] == ('info', 'x <XX_REPLACED> y <XX_REPLACED>')


# ------------------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(('value', 'expected'), [
    (None, []), ('', []), ([], []), ('a', ['a']), ('a, b ,c', ['a', 'b', 'c']), (['x', 'y'], ['x', 'y']),
    ('["1.2.3.4", "5.6.7.8"]', ['1.2.3.4', '5.6.7.8']), (5, [5]),
])
def test_arg_to_list(value, expected):
    assert argToList(value) == expected


def test_arg_to_list_separator_and_transform():
    assert argToList('1;2', separator=';', transform=int) == [1, 2]


@pytest.mark.parametrize(('value', 'expected'), [
    (True, True), (False, False), ('true', True), ('TRUE', True), ('yes', True), ('false', False), ('No', False)])
def test_arg_to_boolean(value, expected):
    assert argToBoolean(value) is expected


@pytest.mark.parametrize('value', ['maybe', '1', 1, None])
def test_arg_to_boolean_invalid(value):
    with pytest.raises(ValueError, match='boolean'):
        argToBoolean(value)


@pytest.mark.parametrize(('value', 'expected'), [('30', 30), (' 7 ', 7), ('3.9', 3), (12, 12), (2.5, 2), (None, None),
                                             ('', None)])
def test_arg_to_number(value, expected):
    assert arg_to_number(value) == expected


def test_arg_to_number_errors_name_the_argument():
    with pytest.raises(ValueError, match='Invalid number: "limit"="abc"'):
        arg_to_number('abc', arg_name='limit')
    with pytest.raises(ValueError, match='"abc" is not a valid number'):
        arg_to_number('abc')
    with pytest.raises(ValueError, match='Missing "limit"'):
        arg_to_number(None, arg_name='limit', required=True)
    with pytest.raises(ValueError, match='Missing required argument'):
        arg_to_number('', required=True)


# ---------------------------------------------------------------------------------------------- tableToMarkdown
def test_table_to_markdown_headers_order_and_escaping():
    md = tableToMarkdown('Blocked IPs', [{'IP': '1.2.3.4', 'Rule': 'a|b', 'Tags': ['x', 'y'], 'Note': 'l1\nl2'}],
                         headers=['IP', 'Rule', 'Tags', 'Note'])
    assert md == ('### Blocked IPs\n'
                  '|IP|Rule|Tags|Note|\n'
                  '|---|---|---|---|\n'
                  '| 1.2.3.4 | a\\|b | x, y | l1<br>l2 |\n')


def test_table_to_markdown_empty_and_sorted_union_headers_and_remove_null():
    assert tableToMarkdown('T', []) == '### T\n**No entries.**\n'
    md = tableToMarkdown('T', [{'b': 1, 'a': None}, {'c': True}], removeNull=True)
    assert md.splitlines()[1] == '|b|c|'
    assert md.splitlines()[3] == '| 1 |  |'
    assert md.splitlines()[4] == '|  | true |'


def test_table_to_markdown_header_transform_dict_row_and_metadata():
    md = tableToMarkdown('VM', {'PowerState': 'running', 'vm_name': 'web-01'}, headerTransform=pascalToSpace,
                         metadata='subscription x')
    assert md.splitlines()[:3] == ['### VM', 'subscription x', '|Power State|vm name|']


def test_table_to_markdown_list_of_values_and_url_keys():
    md = tableToMarkdown('IPs', ['1.1.1.1', '2.2.2.2'], headers='IP')
    assert md.splitlines()[1:] == ['|IP|', '|---|', '| 1.1.1.1 |', '| 2.2.2.2 |']
    md = tableToMarkdown('', [{'u': 'https://x'}], url_keys=['u'])
    assert md.splitlines()[-1] == '| [https://x](https://x) |'


def test_string_helpers():
    assert pascalToSpace('ProvisioningState') == 'Provisioning State'
    assert pascalToSpace('VMName') == 'VM Name'
    assert underscoreToCamelCase('resource_group') == 'ResourceGroup'
    assert underscoreToCamelCase('resource_group', upper_camel=False) == 'resourceGroup'
    assert string_to_table_header('nsg_name') == 'Nsg Name'


# ---------------------------------------------------------------------------------------- integration context
def test_get_set_integration_context_with_version_conflict():
    set_integration_context({'cache': 'a'})
    versioned = get_integration_context(with_version=True)
    assert versioned == {'context': {'cache': 'a'}, 'version': 1}
    assert get_integration_context() == {'cache': 'a'}
    set_integration_context({'cache': 'b'}, version=versioned['version'])
    with pytest.raises(ValueError):  # noqa: PT011 - XSOAR raises a plain ValueError; the integration catches that
        set_integration_context({'cache': 'c'}, version=versioned['version'])
    assert get_integration_context() == {'cache': 'b'}


def test_unversioned_server_uses_plain_context(mocker):
    demisto._reset(version={'version': '5.5.0', 'buildNumber': '1'})
    spy = mocker.spy(demisto, 'setIntegrationContext')
    set_integration_context({'k': 1})
    spy.assert_called_once_with({'k': 1})
    assert get_integration_context() == {'k': 1}


# -------------------------------------------------------------------------------------------------- handle_proxy
def test_handle_proxy_off_removes_proxy_env(mocker):
    mocker.patch.dict(os.environ, {'HTTPS_PROXY': 'http://p:1', 'http_proxy': 'http://p:1'})
    demisto._reset(params={'proxy': False})
    assert handle_proxy() == {}
    assert 'HTTPS_PROXY' not in os.environ
    assert 'http_proxy' not in os.environ


def test_handle_proxy_insecure_drops_ca_bundle(mocker):
    mocker.patch.dict(os.environ, {'REQUESTS_CA_BUNDLE': '/x.pem'})
    demisto._reset(params={'insecure': False})
    handle_proxy()
    assert os.environ['REQUESTS_CA_BUNDLE'] == '/x.pem'
    demisto._reset(params={'insecure': True})
    handle_proxy()
    assert 'REQUESTS_CA_BUNDLE' not in os.environ


def test_demisto_exception_keeps_message_and_cause():
    cause = RuntimeError('x')
    exc = DemistoException('Azure said no', exception=cause, res={'status': 403})
    assert str(exc) == 'Azure said no'
    assert exc.message == 'Azure said no'
    assert exc.exception is cause
    assert exc.res == {'status': 403}


def test_star_import_exports_demisto_and_api():
    namespace: dict = {}
    exec('from CommonServerPython import *', namespace)  # noqa: S102 - the integration's own import line
    for name in ('demisto', 'CommandResults', 'return_error', 'ScheduledCommand', 'json', 'DemistoException'):
        assert name in namespace
    assert namespace['demisto'] is demisto
    assert csp.demisto is demisto
