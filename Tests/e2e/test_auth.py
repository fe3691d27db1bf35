"""Authentication end to end: every mode, through main() under Tests/xsoar_local, against the emulator; caching
(request-log counts) and test-module's permission check."""
from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from Tests.e2e.conftest import REDIRECT_URI, TENANT, cred, last_seq


def login_requests(emu, since: int = 0) -> list[dict]:
    return [r for r in emu.request_log(since) if r['listener'] == 'login']


def entry_contents(res) -> list:
    return [e.get('Contents') for e in res.entries]


def sign_in(emu, login_url: str) -> str:
    """What the user does in a browser: open the login URL; returns the redirect URL (with code=...)."""
    response = requests.get(login_url, allow_redirects=False, verify=emu.ca_bundle, timeout=10)
    assert response.status_code in (302, 303), response.text[:300]
    return response.headers['Location']


def login_url_of(res) -> str:
    match = re.search(r'\((https://[^)\s]+/oauth2/v2\.0/authorize\?[^)\s]+)\)', res.readable)
    assert match, res.readable
    return match.group(1)


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def pkce_verifiers(inst) -> dict:
    """{identity key: stored PKCE code_verifier} from the instance's integration context."""
    slots = inst.integration_context.get('azure_containment_auth') or {}
    return {key: slot['pkce_verifier'] for key, slot in slots.items() if slot.get('pkce_verifier')}


# --- every mode ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('mode', ['secret', 'certificate', 'managed_identity', 'managed_identity_user', 'xsoar_app'])
def test_mode_test_module_ok_then_steady_state(emu, make_instance, mode):
    inst = make_instance(mode=mode)
    res = inst.run('test-module')
    assert res.ok, res.errors
    assert entry_contents(res) == ['ok']
    assert login_requests(emu), 'the first run must get a token'
    mark = last_seq(emu)
    for command, args in (('azure-vm-list', {'limit': '5'}), ('test-module', {})):
        again = inst.run(command, args)
        assert again.ok, again.errors
    assert login_requests(emu, mark) == [], 'second and third commands must make zero Entra ID requests'
    assert [r for r in emu.request_log(mark) if r['listener'] == 'arm'], 'ARM was called'


def test_secret_mode_one_discovery_and_one_token_request(emu, make_instance):
    inst = make_instance()
    assert inst.run('test-module').ok
    paths = [r['path'] for r in login_requests(emu)]
    assert len(paths) == 2, paths
    assert paths[0].endswith('/v2.0/.well-known/openid-configuration')
    assert paths[1].endswith('/oauth2/v2.0/token')


def test_certificate_mode_uses_the_registered_certificate(emu, make_instance):
    inst = make_instance(mode='certificate')
    res = inst.run('azure-containment-auth-test')
    assert res.ok, res.errors
    assert 'client credentials with a certificate' in res.readable
    token_calls = [r for r in login_requests(emu) if r['path'].endswith('/token')]
    assert token_calls
    assert token_calls[0]['status'] == 200
    assert token_calls[0]['client'] == emu.credentials['soc-responder']['client_id']


def test_auth_code_flow(emu, make_instance, make_params):
    inst = make_instance(mode='auth_code')
    res = inst.run('azure-containment-generate-login-url')
    assert res.ok, res.errors
    url = login_url_of(res)
    assert url.startswith(f'{emu.login_url}/{TENANT}/oauth2/v2.0/authorize?')
    assert 'offline_access' in url
    assert re.search(r'user_impersonation', url)
    assert 'redirect_uri=https%3A%2F%2Flocalhost%2Fauthcode' in url
    redirect = sign_in(emu, url)
    assert redirect.startswith(REDIRECT_URI)
    assert 'session_state=' in redirect
    inst.params['auth_code'] = cred(redirect)        # the whole redirect URL pasted: cleaned by the integration

    mark = last_seq(emu)
    test = inst.run('test-module')
    assert test.errors
    assert 'AuthCodeNotRedeemed' in test.errors[0]
    assert '!azure-containment-auth-test' in test.errors[0]
    assert 'save the instance' in test.errors[0]
    assert [r for r in login_requests(emu, mark) if r['path'].endswith('/token')] == [], 'code must not be burnt'

    auth = inst.run('azure-containment-auth-test')
    assert auth.ok, auth.errors
    assert 'authorization code on behalf of a user' in auth.readable
    mark = last_seq(emu)
    assert entry_contents(inst.run('test-module')) == ['ok']
    assert inst.run('azure-vm-list').ok
    assert login_requests(emu, mark) == []
    # Once the access token expires, the cached refresh token is used (the code is never sent again).
    emu.expire_all_tokens()
    mark = last_seq(emu)
    assert inst.run('azure-vm-list').ok
    assert [r['status'] for r in login_requests(emu, mark) if r['path'].endswith('/token')] == [200]


def test_auth_code_only_code_and_session_state_pasted(emu, make_instance):
    inst = make_instance(mode='auth_code')
    redirect = sign_in(emu, login_url_of(inst.run('azure-containment-generate-login-url')))
    inst.params['auth_code'] = cred(redirect.split('code=', 1)[1])     # "<code>&session_state=..."
    assert inst.run('azure-containment-auth-test').ok


def test_auth_code_malformed_refused_before_any_request(emu, make_instance):
    inst = make_instance(mode='auth_code', auth_code=cred('this is not a code'))
    mark = last_seq(emu)
    res = inst.run('azure-containment-auth-test')
    assert res.errors
    assert 'InvalidAuthCode' in res.errors[0]
    assert 'azure-containment-generate-login-url' in res.errors[0]
    assert [r for r in login_requests(emu, mark) if r['path'].endswith('/token')] == []


def test_generate_login_url_other_clouds(make_instance):
    for cloud, host in (('Worldwide', 'https://login.microsoftonline.com'),
                        ('US Government', 'https://login.microsoftonline.us'),
                        ('China', 'https://login.partner.microsoftonline.cn')):
        inst = make_instance(mode='auth_code', azure_cloud=cloud)
        url = login_url_of(inst.run('azure-containment-generate-login-url'))
        assert url.startswith(f'{host}/{TENANT}/oauth2/v2.0/authorize?')
        arm = {'Worldwide': 'management.azure.com', 'US Government': 'management.usgovcloudapi.net',
               'China': 'management.chinacloudapi.cn'}[cloud]
        assert f'https%3A%2F%2F{arm}%2Fuser_impersonation' in url


# --- PKCE (RFC 7636, S256) on the authorization-code flow -------------------------------------------------------

def test_auth_code_pkce_login_url_sign_in_paste_auth_test(emu, make_instance):
    inst = make_instance(mode='auth_code')
    res = inst.run('azure-containment-generate-login-url')
    assert res.ok, res.errors
    url = login_url_of(res)
    query = query_of(url)
    [verifier] = pkce_verifiers(inst).values()
    assert 43 <= len(verifier) <= 128
    assert query['code_challenge'] == base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).decode().rstrip('=')
    assert query['code_challenge_method'] == 'S256'
    assert query['state']
    assert verifier not in res.readable
    assert verifier not in str(res.entries)
    assert verifier not in '\n'.join(res.logs)
    inst.params['auth_code'] = cred(sign_in(emu, url))
    mark = last_seq(emu)
    auth = inst.run('azure-containment-auth-test')
    # The emulator refuses a code signed in with a code_challenge unless the matching code_verifier comes with it.
    assert auth.ok, auth.errors
    assert [r['status'] for r in login_requests(emu, mark) if r['path'].endswith('/token')] == [200]
    assert pkce_verifiers(inst) == {}, 'the verifier of a redeemed code is not kept'
    assert verifier not in auth.readable
    assert verifier not in '\n'.join(auth.logs)
    assert entry_contents(inst.run('test-module')) == ['ok']


def test_auth_code_from_a_login_url_whose_verifier_was_replaced_fails_with_501481(emu, make_instance):
    inst = make_instance(mode='auth_code')
    first_url = login_url_of(inst.run('azure-containment-generate-login-url'))
    first_redirect = sign_in(emu, first_url)
    second_url = login_url_of(inst.run('azure-containment-generate-login-url'))     # replaces the verifier
    assert query_of(second_url)['code_challenge'] != query_of(first_url)['code_challenge']
    inst.params['auth_code'] = cred(first_redirect)
    res = inst.run('azure-containment-auth-test')
    assert len(res.errors) == 1, res.entries
    text = res.errors[0]
    assert text.startswith('Failed to execute azure-containment-auth-test. ')
    assert 'AADSTS501481' in text
    assert 'The Code_Verifier does not match the code_challenge' in text
    assert 'run !azure-containment-generate-login-url again, sign in with that new URL' in text
    assert 'Trace ID' not in text
    for verifier in pkce_verifiers(inst).values():
        assert verifier not in text
    # The fix the message gives: a new login URL, sign in with it, paste its code.
    inst.params['auth_code'] = cred(sign_in(emu, login_url_of(inst.run('azure-containment-generate-login-url'))))
    assert inst.run('azure-containment-auth-test').ok


def test_auth_code_from_a_login_url_without_pkce_still_redeems(emu, make_instance):
    """An instance whose login URL was generated before PKCE: no verifier stored, no code_challenge at sign-in."""
    inst = make_instance(mode='auth_code')
    url = login_url_of(inst.run('azure-containment-generate-login-url'))
    base, query = url.split('?', 1)[0], query_of(url)
    old_url = f"{base}?{urlencode({k: v for k, v in query.items() if not k.startswith('code_challenge')})}"
    inst.integration_context = {}                                   # as stored by the pre-PKCE version
    inst.params['auth_code'] = cred(sign_in(emu, old_url))
    assert inst.run('azure-containment-auth-test').ok


def test_auth_reset_forgets_the_verifier(emu, make_instance):
    inst = make_instance(mode='auth_code')
    assert inst.run('azure-containment-generate-login-url').ok
    assert pkce_verifiers(inst)
    assert inst.run('azure-containment-auth-reset').ok
    assert pkce_verifiers(inst) == {}


# --- caching --------------------------------------------------------------------------------------------------------

def test_cache_keyed_by_identity(emu, make_instance, make_params):
    inst = make_instance()
    assert inst.run('test-module').ok
    inst.params = make_params(app='soc-reader')      # same instance, another app: never reuses the first token
    mark = last_seq(emu)
    res = inst.run('azure-vm-list')
    assert res.ok, res.errors
    token_calls = [r for r in login_requests(emu, mark) if r['path'].endswith('/token')]
    assert [r['client'] for r in token_calls] == [emu.credentials['soc-reader']['client_id']]
    arm_clients = {r['client'] for r in emu.request_log(mark) if r['listener'] == 'arm'}
    assert arm_clients == {emu.credentials['soc-reader']['object_id']} or \
        arm_clients == {emu.credentials['soc-reader']['client_id']}


def test_context_writes_keep_other_keys(make_instance):
    inst = make_instance()
    inst.integration_context = {'someone_else': {'x': 1}}
    assert inst.run('test-module').ok
    context = inst.integration_context
    assert context['someone_else'] == {'x': 1}
    assert 'azure_containment_auth' in context


def test_expired_token_refreshed_once(emu, make_instance):
    inst = make_instance()
    assert inst.run('test-module').ok
    emu.expire_all_tokens()
    mark = last_seq(emu)
    res = inst.run('azure-vm-list')
    assert res.ok, res.errors
    arm = [r['status'] for r in emu.request_log(mark) if r['listener'] == 'arm']
    assert arm[:2] == [401, 200]
    assert len([r for r in login_requests(emu, mark) if r['path'].endswith('/token')]) == 1


def test_auth_reset_clears_everything(emu, make_instance):
    inst = make_instance()
    assert inst.run('test-module').ok
    inst.integration_context = {**inst.integration_context, 'containment_state': {'keep': True}}
    res = inst.run('azure-containment-auth-reset')
    assert res.ok
    assert 'Enterprise applications' in res.readable
    assert 'auth-test' in res.readable
    assert inst.integration_context == {'containment_state': {'keep': True}}
    mark = last_seq(emu)
    assert inst.run('test-module').ok
    assert len([r for r in login_requests(emu, mark) if r['path'].endswith('/token')]) == 1


# --- permissions --------------------------------------------------------------------------------------------------

def test_test_module_with_reader_names_missing_write_actions(make_instance):
    res = make_instance(app='soc-reader').run('test-module')
    assert len(res.errors) == 1
    text = res.errors[0]
    for action, role in (('Microsoft.Network/networkSecurityGroups/write', 'Network Contributor'),
                         ('Microsoft.Network/networkSecurityGroups/securityRules/write', 'Network Contributor'),
                         ('Microsoft.Network/networkInterfaces/write', 'Network Contributor'),
                         ('Microsoft.Network/networkSecurityGroups/join/action', 'Network Contributor'),
                         ('Microsoft.Compute/virtualMachines/start/action', 'Virtual Machine Contributor'),
                         ('Microsoft.Compute/virtualMachines/deallocate/action', 'Virtual Machine Contributor')):
        assert f'{action} (granted by the built-in role "{role}")' in text
    assert 'Microsoft.Network/networkSecurityGroups/read (' not in text     # Reader may read
    assert 'Access control (IAM)' in text


def test_auth_test_readable(make_instance):
    res = make_instance().run('azure-containment-auth-test')
    assert res.ok
    assert 'Permissions: all' in res.readable
    assert 'Virtual machines: listed' in res.readable
