"""Every row of the error table end to end: the integration's error entry keeps the original code and names the
fix. Through main() under Tests/xsoar_local, against the emulator."""
from __future__ import annotations

import base64

import pytest
import requests

from Tests.azure_emulator.scenario import load_scenario

from Tests.e2e.conftest import cred, last_seq
from Tests.e2e.test_auth import login_requests, login_url_of, sign_in

OTHER_GUID = '99999999-8888-7777-6666-555555555555'


def single_error(res) -> str:
    assert len(res.errors) == 1, res.entries
    return res.errors[0]


def assert_no_request(emu, mark):
    assert emu.request_log(mark) == [], 'refused before any request'


# --- Entra ID rows -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('app', 'overrides', 'code', 'fix'), [
    ('soc-responder', {'enc_key': cred('5ec7e7a1-0000-4000-8000-000000000001')}, 'AADSTS7000215',
     'copy the secret Value (not the Secret ID'),
    ('soc-responder', {'enc_key': cred('wrong-secret-value')}, 'AADSTS7000215', 'into Key and save the instance'),
    ('soc-expired', {}, 'AADSTS7000222', 'create a new client secret'),
    ('soc-responder', {'auth_id': cred(OTHER_GUID)}, 'AADSTS700016', 'Application (client) ID'),
    ('soc-responder', {'tenant_id': cred(OTHER_GUID)}, 'AADSTS90002', 'Directory (tenant) ID'),
])
def test_entra_id_rows(emu, make_instance, make_params, app, overrides, code, fix):
    res = make_instance(params=make_params(app=app, **overrides)).run('test-module')
    text = single_error(res)
    assert code in text
    assert fix in text
    assert 'Fix:' in text


def test_7000218_missing_credential_refused_before_any_request(emu, make_instance, make_params):
    """An empty Key would get AADSTS7000218 from Entra ID; the integration names the empty field first."""
    mark = last_seq(emu)
    text = single_error(make_instance(params=make_params(enc_key=cred(''))).run('test-module'))
    assert '"Key"' in text
    assert 'MissingParam' in text
    assert_no_request(emu, mark)


def signed_in_instance(emu, make_instance, app='soc-responder', **overrides):
    inst = make_instance(app=app, mode='auth_code', **overrides)
    redirect = sign_in(emu, login_url_of(inst.run('azure-containment-generate-login-url')))
    inst.params['auth_code'] = cred(redirect)
    return inst


def test_54005_code_already_redeemed(emu, make_instance):
    inst = signed_in_instance(emu, make_instance)
    assert inst.run('azure-containment-auth-test').ok
    assert inst.run('azure-containment-auth-reset').ok          # forget the session, keep the used code
    text = single_error(inst.run('azure-containment-auth-test'))
    assert 'AADSTS54005' in text
    assert 'azure-containment-generate-login-url' in text
    assert 'azure-containment-auth-reset' in text


def test_70008_code_expired(emu, make_instance):
    inst = signed_in_instance(emu, make_instance)
    emu.identity.expire_auth_codes()
    text = single_error(inst.run('azure-containment-auth-test'))
    assert 'AADSTS70008' in text
    assert 'expired' in text
    assert 'azure-containment-generate-login-url' in text


def test_700082_refresh_token_expired(emu, make_instance):
    inst = signed_in_instance(emu, make_instance)
    assert inst.run('azure-containment-auth-test').ok
    emu.identity.expire_refresh_tokens()
    emu.expire_all_tokens()
    text = single_error(inst.run('azure-vm-list'))
    assert 'AADSTS700082' in text
    assert 'azure-containment-auth-reset' in text


def test_50011_redirect_uri_mismatch(emu, make_instance):
    inst = make_instance(mode='auth_code', redirect_uri='https://not-registered.example/cb')
    url = login_url_of(inst.run('azure-containment-generate-login-url'))
    page = requests.get(url, allow_redirects=False, verify=emu.ca_bundle, timeout=10)
    assert 'AADSTS50011' in page.text          # shown on the sign-in page, not redirected
    # The user pastes what the page shows into "Authorization code": the integration explains it.
    shown = page.text[page.text.index('AADSTS50011'):][:400]
    inst.params['auth_code'] = cred(shown)
    text = single_error(inst.run('azure-containment-auth-test'))
    assert 'AADSTS50011' in text
    assert '"Application redirect URI"' in text
    assert 'Redirect URIs' in text


def test_500112_redirect_uri_changed_between_sign_in_and_redeem(emu, make_instance):
    inst = signed_in_instance(emu, make_instance)
    inst.params['redirect_uri'] = 'https://oproxy.demisto.ninja/authcode'      # also registered, but not used
    text = single_error(inst.run('azure-containment-auth-test'))
    assert 'AADSTS500112' in text
    assert '"Application redirect URI"' in text


def test_65001_consent_missing(emu, make_instance):
    inst = signed_in_instance(emu, make_instance, app='soc-unconsented')
    text = single_error(inst.run('azure-containment-auth-test'))
    assert 'AADSTS65001' in text
    assert 'Grant admin consent' in text


# --- input checks before any request --------------------------------------------------------------------------------

@pytest.mark.parametrize(('overrides', 'field'), [
    ({'auth_id': cred('0a0a0a0a-1111-2222-3333')}, 'ID (Application ID)'),
    ({'tenant_id': cred('11111111-2222-3333-4444-55555555555Z')}, 'Token (tenant ID)'),
    ({'subscription_id': 'aaaaaaaa-bbbb-cccc-dddd'}, 'Subscription ID'),
])
def test_invalid_guid_refused_before_any_request(emu, make_instance, make_params, overrides, field):
    mark = last_seq(emu)
    text = single_error(make_instance(params=make_params(**overrides)).run('test-module'))
    assert 'InvalidGuid' in text
    assert f'{field} must be a GUID' in text
    assert 'Fix:' in text
    assert_no_request(emu, mark)


def test_missing_subscription_names_display_name(emu, make_instance, make_params):
    params = make_params()
    del params['subscription_id']
    text = single_error(make_instance(params=params).run('azure-vm-list'))
    assert '"Subscription ID"' in text


def test_unknown_command(make_instance):
    res = make_instance().run('azure-does-not-exist')
    assert [e['Contents'] for e in res.entries] == ["Command 'azure-does-not-exist' is not implemented"]
    assert res.entries[0]['Type'] == 4


# --- network rows -------------------------------------------------------------------------------------------------

def test_host_unreachable_names_host_and_proxy(make_instance, make_params):
    text = single_error(make_instance(params=make_params(azure_ad_endpoint='https://127.0.0.1:9')).run('test-module'))
    assert 'HostUnreachable' in text
    assert 'https://127.0.0.1:9' in text
    assert 'Use system proxy settings' in text


def test_tls_failure_names_host_and_insecure(emu, make_instance, make_params, monkeypatch):
    monkeypatch.delenv('REQUESTS_CA_BUNDLE', raising=False)
    monkeypatch.delenv('CURL_CA_BUNDLE', raising=False)
    from Tests.xsoar_local.harness import XsoarInstance
    inst = XsoarInstance(make_params(), env={'REQUESTS_CA_BUNDLE': None, 'CURL_CA_BUNDLE': None})
    text = single_error(inst.run('test-module'))
    assert 'TlsFailure' in text
    assert emu.login_url in text
    assert 'Trust any certificate (not secure)' in text
    assert 'Use system proxy settings' in text
    insecure = XsoarInstance(make_params(insecure=True), env={'REQUESTS_CA_BUNDLE': None, 'CURL_CA_BUNDLE': None})
    assert insecure.run('test-module').ok                    # the suggested setting works


# --- ARM rows -----------------------------------------------------------------------------------------------------

def test_subscription_not_found(make_instance, make_params):
    text = single_error(make_instance(params=make_params(subscription_id=OTHER_GUID)).run('test-module'))
    assert 'SubscriptionNotFound' in text
    assert '"Subscription ID"' in text


def test_resource_group_not_found(make_instance, make_params):
    text = single_error(make_instance(params=make_params(resource_group='no-such-rg')).run('test-module'))
    assert 'ResourceGroupNotFound' in text
    assert 'resource group' in text.lower()
    assert 'Fix:' in text


def test_resource_not_found(make_instance):
    text = single_error(make_instance().run('azure-vm-get', {'vm_name': 'ghost-vm'}))
    assert ('ResourceNotFound' in text or 'NotFound' in text)
    assert 'Fix:' in text


def test_authorization_failed_names_action_and_role(make_instance):
    text = single_error(make_instance(app='soc-reader').run(
        'azure-nsg-block-ip', {'ip': '203.0.113.7', 'nsg_name': 'edge-nsg'}))
    assert 'AuthorizationFailed' in text
    assert 'Microsoft.Network/networkSecurityGroups' in text
    assert '"Network Contributor"' in text
    assert 'Access control (IAM)' in text


def test_linked_authorization_failed(emu, make_instance):
    scenario = load_scenario('default')
    scenario['custom_roles'] = [{'name': 'NIC Writer Without Join', 'actions': [
        'Microsoft.Compute/virtualMachines/read', 'Microsoft.Network/*/read',
        'Microsoft.Network/networkSecurityGroups/write', 'Microsoft.Network/networkSecurityGroups/securityRules/*',
        'Microsoft.Network/networkInterfaces/write']}]
    scenario['role_assignments'] = [a for a in scenario['role_assignments'] if a['principal'] != 'soc-responder'] + [
        {'principal': 'soc-responder', 'role': 'NIC Writer Without Join',
         'scope': '/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'}]
    emu.reset(scenario)
    text = single_error(make_instance().run('azure-vm-isolate', {'vm_name': 'web-02'}))
    assert 'LinkedAuthorizationFailed' in text
    assert 'join/action' in text
    assert '"Network Contributor"' in text


def test_invalid_token_audience(emu, make_instance, make_params):
    # The ARM endpoint named by another host name: the token is minted for that audience, which ARM refuses.
    port = emu.arm_url.rsplit(':', 1)[1]
    text = single_error(make_instance(params=make_params(arm_endpoint=f'https://localhost:{port}')).run('test-module'))
    assert 'InvalidAuthenticationTokenAudience' in text
    assert '"Azure cloud"' in text


def test_expired_token_even_after_refresh(emu, make_instance):
    scenario = load_scenario('default')
    scenario.setdefault('settings', {})['token_lifetime_seconds'] = -120   # every token is born expired
    emu.reset(scenario)
    text = single_error(make_instance().run('azure-vm-list'))
    assert 'ExpiredAuthenticationToken' in text
    assert 'clock' in text


@pytest.mark.parametrize('code', ['SubscriptionRequestsThrottled', 'RetryableErrorDueToAnotherOperation'])
def test_throttling_with_long_retry_after(emu, make_instance, code):
    inst = make_instance()
    assert inst.run('test-module').ok
    emu.inject_fault('429', path_contains='/virtualMachines', count=5, retry_after=120, error_code=code)
    text = single_error(inst.run('azure-vm-list'))
    assert code in text
    assert 'retry' in text.lower()
    assert 'Fix:' in text


def test_throttling_retried_within_bounds(emu, make_instance):
    inst = make_instance()
    assert inst.run('test-module').ok
    emu.inject_fault('429', path_contains='/virtualMachines', count=2, retry_after=1)
    mark = last_seq(emu)
    assert inst.run('azure-vm-list').ok
    statuses = [r['status'] for r in emu.request_log(mark) if '/virtualMachines' in r['path']]
    assert statuses[:3] == [429, 429, 200]


# --- managed identity and Cortex XSOAR app rows --------------------------------------------------------------------

def test_managed_identity_unknown_user_identity(make_instance, make_params):
    inst = make_instance(mode='managed_identity_user',
                         params=make_params(mode='managed_identity_user',
                                            managed_identities_client_id=cred(OTHER_GUID)))
    text = single_error(inst.run('test-module'))
    assert 'ManagedIdentityFailed' in text
    assert 'Managed identity client ID' in text


def test_managed_identity_endpoint_unreachable(make_instance, make_params):
    inst = make_instance(mode='managed_identity', params=make_params(mode='managed_identity'),
                         env={'AZURE_POD_IDENTITY_AUTHORITY_HOST': 'https://127.0.0.1:9'})
    text = single_error(inst.run('test-module'))
    assert 'ManagedIdentityFailed' in text
    assert 'runs in Azure' in text
    assert '127.0.0.1:9' in text


def test_xsoar_app_wrong_key_then_backoff_then_reset(emu, make_instance, make_params):
    wrong_key = base64.b64encode(b'w' * 32).decode()
    inst = make_instance(mode='xsoar_app', params=make_params(mode='xsoar_app', enc_key=cred(wrong_key)))
    first = single_error(inst.run('test-module'))
    assert 'XsoarAppTokenFailed' in first
    assert 'Invalid key' in first
    assert 'encryption key' in first
    assert 'next attempt waits until' in first
    assert 'in 10 s' in first
    mark = last_seq(emu)
    second = single_error(inst.run('test-module'))
    assert 'XsoarAppBackoff' in second
    assert 'azure-containment-auth-reset' in second
    assert [r for r in login_requests(emu, mark) if r['path'].endswith('/obtain-token')] == []
    assert inst.run('azure-containment-auth-reset').ok
    third = single_error(inst.run('test-module'))
    assert 'XsoarAppTokenFailed' in third
    assert len([r for r in login_requests(emu, mark) if r['path'].endswith('/obtain-token')]) == 1
    inst.params['enc_key'] = cred(make_params(mode='xsoar_app')['enc_key']['password'])   # the right key
    assert inst.run('test-module').ok                              # a corrected Key is tried at once


def test_xsoar_app_unknown_registration(make_instance, make_params):
    inst = make_instance(mode='xsoar_app', params=make_params(mode='xsoar_app', auth_id=cred(OTHER_GUID)))
    text = single_error(inst.run('test-module'))
    assert 'XsoarAppTokenFailed' in text
    assert 'Unknown registration ID' in text
    assert 'Registration ID' in text


def test_xsoar_app_malformed_key(emu, make_instance, make_params):
    mark = last_seq(emu)
    inst = make_instance(mode='xsoar_app', params=make_params(mode='xsoar_app', enc_key=cred('not-base64!')))
    text = single_error(inst.run('test-module'))
    assert 'InvalidEncryptionKey' in text
    assert 'consent page' in text
    assert_no_request(emu, mark)
