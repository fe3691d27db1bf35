"""Fixtures of the end-to-end tests: the integration run as XSOAR runs it (Tests/xsoar_local) against the emulator.

emu            the running default emulator, reset to its initial scenario before each test
ca_env         REQUESTS_CA_BUNDLE = the emulator CA (set in this process; also returned as a dict for env=)
make_params    make_params(app="soc-responder", mode="secret", **overrides) -> XSOAR params for the Custom cloud
               pointing at the emulator. mode: secret | certificate | auth_code | managed_identity |
               managed_identity_user | xsoar_app. Type 9 params are {'identifier': '', 'password': value}.
make_instance  make_instance(params=None, env=None, **make_params_kwargs) -> XsoarInstance with the CA env (and
               the managed-identity env vars for the managed identity modes); build_instance(emu, ...) without
               the fixture.
"""
from __future__ import annotations

import pytest

from Tests.xsoar_local.harness import XsoarInstance

TENANT = '11111111-2222-3333-4444-555555555555'
SUBSCRIPTION = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
RESOURCE_GROUP = 'soc-demo-rg'
REDIRECT_URI = 'https://localhost/authcode'
# From the default scenario (Tests/azure_emulator/scenarios/default.yaml).
USER_IDENTITY_CLIENT_ID = '0f0f0f0f-2222-3333-4444-555555555555'
XSOAR_REGISTRATION_ID = '7a7a7a7a-1111-2222-3333-444444444444'
XSOAR_KEY = 'ZGVtby14c29hci1hcHAta2V5LTMyLWJ5dGVzLWxvbmc='
MODES = ('secret', 'certificate', 'auth_code', 'managed_identity', 'managed_identity_user', 'xsoar_app')


def cred(value: str) -> dict:
    """A type 9 (credentials) param value as XSOAR passes it."""
    return {'identifier': '', 'password': value, 'credentials': {}}


@pytest.fixture
def emu(emulator):  # `emulator` comes from Tests.azure_emulator.fixtures (a plugin of the root conftest.py)
    return emulator


@pytest.fixture
def ca_env(emu, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', emu.ca_bundle)
    return {'REQUESTS_CA_BUNDLE': emu.ca_bundle}


def build_params(emu, app: str = 'soc-responder', mode: str = 'secret', **overrides) -> dict:
    if mode not in MODES:
        raise ValueError(f'unknown mode {mode!r}; one of {MODES}')
    creds = emu.credentials.get(app) or {}
    params: dict = {
        'azure_cloud': 'Custom', 'azure_ad_endpoint': emu.login_url, 'arm_endpoint': emu.arm_url,
        'subscription_id': SUBSCRIPTION, 'resource_group': RESOURCE_GROUP, 'self_deployed': True,
        'auth_type': 'Client Credentials', 'insecure': False, 'proxy': False,
        'token_retrieval_url': 'https://oproxy.demisto.ninja/obtain-token',
    }
    if mode in ('secret', 'certificate', 'auth_code'):
        params['auth_id'] = cred(creds.get('client_id', ''))
        params['tenant_id'] = cred(creds.get('tenant_id', TENANT))
    if mode == 'secret':
        params['enc_key'] = cred(creds.get('secret', ''))
    elif mode == 'certificate':
        params['certificate_thumbprint'] = cred(creds['certificate_thumbprint'])
        # XSOAR's single-line credential field flattens the PEM's line breaks into spaces.
        params['private_key'] = cred(creds['private_key_pem'].strip().replace('\n', ' '))
    elif mode == 'auth_code':
        params.update(auth_type='Authorization Code', enc_key=cred(creds.get('secret', '')),
                      redirect_uri=REDIRECT_URI, auth_code=cred(''))
    elif mode == 'managed_identity':
        params.update(auth_type='Managed Identity')
    elif mode == 'managed_identity_user':
        params.update(auth_type='Managed Identity', managed_identities_client_id=cred(USER_IDENTITY_CLIENT_ID))
    elif mode == 'xsoar_app':
        params.update(self_deployed=False, auth_id=cred(XSOAR_REGISTRATION_ID), tenant_id=cred(TENANT),
                      enc_key=cred(XSOAR_KEY), token_retrieval_url=emu.oproxy_url)
    params.update(overrides)
    return params


def last_seq(emu) -> int:
    """The sequence number of the emulator's last logged request (0 when none): what came after it is new."""
    log = emu.request_log()
    return log[-1]['seq'] if log else 0


def mode_env(emu, mode: str) -> dict:
    """Environment of a managed-identity engine: IMDS for the system identity, App Service for the user one."""
    unset = {'IDENTITY_ENDPOINT': None, 'IDENTITY_HEADER': None, 'MSI_ENDPOINT': None, 'MSI_SECRET': None,
             'IMDS_ENDPOINT': None, 'AZURE_POD_IDENTITY_AUTHORITY_HOST': None}
    if mode == 'managed_identity':
        return {**unset, 'AZURE_POD_IDENTITY_AUTHORITY_HOST': emu.imds_host}
    if mode == 'managed_identity_user':
        return {**unset, 'IDENTITY_ENDPOINT': emu.identity_endpoint, 'IDENTITY_HEADER': emu.identity_header}
    return {}


@pytest.fixture
def make_params(emu):
    def factory(app: str = 'soc-responder', mode: str = 'secret', **overrides) -> dict:
        return build_params(emu, app, mode, **overrides)
    return factory


def build_instance(emu, params: dict | None = None, env: dict | None = None, mode: str = 'secret',
                   **kwargs) -> XsoarInstance:
    """An XsoarInstance for `emu`: `params` (default build_params(emu, mode=mode, **kwargs)), the emulator's CA and
    the managed-identity environment of `mode`, then `env`. Works with any emulator object (the benchmarks' too)."""
    if params is None:
        params = build_params(emu, mode=mode, **kwargs)
    return XsoarInstance(params, env={'REQUESTS_CA_BUNDLE': emu.ca_bundle, **mode_env(emu, mode), **(env or {})})


@pytest.fixture
def make_instance(emu, ca_env):
    def factory(params: dict | None = None, env: dict | None = None, **kwargs) -> XsoarInstance:
        return build_instance(emu, params, {**ca_env, **(env or {})}, **kwargs)
    return factory
