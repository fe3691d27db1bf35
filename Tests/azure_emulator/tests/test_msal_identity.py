"""The emulator's Entra ID side against clients nobody here wrote: MSAL 1.39 (unmodified) and azure-identity.

Each test talks HTTPS to the running emulator (its own CA, loopback only) with instance discovery off, as the
integration does, and checks the tokens it gets with the emulator's own bearer verification (what ARM uses).
"""
from __future__ import annotations

import html
import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests

from Tests.azure_emulator import Emulator
from Tests.azure_emulator.identity import encrypt_xsoar_token

TENANT = "11111111-2222-3333-4444-555555555555"
ARM_SCOPE = "https://management.azure.com/.default"
ARM_AUDIENCES = {"https://management.azure.com/", "https://management.core.windows.net/"}
REDIRECT = "https://localhost/authcode"


@pytest.fixture(scope="module")
def target():
    """A running emulator of its own (this module expires tokens, so it does not share the session one)."""
    with Emulator(scenario="default") as emu:
        yield emu


@pytest.fixture(autouse=True)
def no_ca_env(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's own `verify` (requests#3829), and
    this machine sets both to the system bundle; clear them so verify=<emulator CA> is what counts."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def session(target):
    with requests.Session() as s:
        s.verify = target.ca_bundle
        yield s


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def confidential(target, name, credential, **kwargs):
    creds = target.credentials[name]
    return msal.ConfidentialClientApplication(
        creds["client_id"], client_credential=credential, authority=f"{target.login_url}/{TENANT}",
        instance_discovery=False, verify=target.ca_bundle, **kwargs)


# ---------------------------------------------------------------- ConfidentialClientApplication
def test_msal_client_secret(target):
    creds = target.credentials["soc-responder"]
    app = confidential(target, "soc-responder", creds["secret"])
    result = app.acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result.get("error_description")
    assert result["token_type"] == "Bearer"
    assert result["token_source"] == "identity_provider"
    claims = target.identity.verify_bearer(f"Bearer {result['access_token']}", ARM_AUDIENCES)
    assert claims["appid"] == creds["client_id"]
    assert claims["idtyp"] == "app"
    again = app.acquire_token_for_client([ARM_SCOPE])
    assert again["token_source"] == "cache"
    assert again["access_token"] == result["access_token"]


def test_msal_wrong_secret_gets_7000215(target):
    app = confidential(target, "soc-responder", "wrong-value")
    result = app.acquire_token_for_client([ARM_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: ")


def test_msal_unknown_tenant_fails_at_discovery(target):
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(
            target.credentials["soc-responder"]["client_id"], client_credential="x",
            authority=f"{target.login_url}/99999999-0000-0000-0000-000000000000", instance_discovery=False,
            verify=target.ca_bundle)


def test_msal_certificate_sha1_thumbprint(target):
    creds = target.credentials["soc-responder"]
    app = confidential(target, "soc-responder",
                       {"private_key": creds["private_key_pem"], "thumbprint": creds["certificate_thumbprint"]})
    result = app.acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result.get("error_description")
    claims = claims_of(result["access_token"])
    assert claims["appidacr"] == "2"
    assert claims["appid"] == creds["client_id"]


def test_msal_certificate_public_certificate_sha256(target):
    creds = target.credentials["soc-responder"]
    app = confidential(target, "soc-responder",
                       {"private_key": creds["private_key_pem"], "public_certificate": creds["certificate_pem"]})
    result = app.acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result.get("error_description")
    assert claims_of(result["access_token"])["appidacr"] == "2"


def test_msal_auth_code_flow_then_refresh(target, session):
    creds = target.credentials["soc-responder"]
    app = confidential(target, "soc-responder", creds["secret"])
    scopes = ["https://management.azure.com/user_impersonation"]
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT)
    redirect = session.get(flow["auth_uri"], allow_redirects=False)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    auth_response = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result.get("error_description")
    assert result["refresh_token"]
    assert result["id_token_claims"]["preferred_username"] == "analyst@soc-demo.example"
    claims = target.identity.verify_bearer(f"Bearer {result['access_token']}", ARM_AUDIENCES)
    assert claims["idtyp"] == "user"
    assert claims["upn"] == "analyst@soc-demo.example"
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == ["analyst@soc-demo.example"]
    assert accounts[0]["home_account_id"] == f"{claims['oid']}.{TENANT}"  # from client_info
    cached = app.acquire_token_silent(scopes, account=accounts[0])
    assert cached["token_source"] == "cache"
    refreshed = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != result["access_token"]
    assert target.identity.verify_bearer(f"Bearer {refreshed['access_token']}", ARM_AUDIENCES)["upn"]
    # the code is single-use: a replay gets AADSTS54005
    replay = app.acquire_token_by_authorization_code(auth_response["code"], scopes, redirect_uri=REDIRECT)
    assert replay["error"] == "invalid_grant"
    assert replay["error_codes"] == [54005]


def test_msal_auth_code_unconsented_app_gets_65001(target, session):
    creds = target.credentials["soc-unconsented"]
    app = confidential(target, "soc-unconsented", creds["secret"])
    flow = app.initiate_auth_code_flow(["https://management.azure.com/user_impersonation"], redirect_uri=REDIRECT)
    location = session.get(flow["auth_uri"], allow_redirects=False).headers["Location"]
    auth_response = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [65001]


def test_msal_auth_code_redirect_mismatch_is_not_redirected(target, session):
    app = confidential(target, "soc-responder", target.credentials["soc-responder"]["secret"])
    flow = app.initiate_auth_code_flow(["https://management.azure.com/user_impersonation"],
                                       redirect_uri="https://attacker.example/cb")
    page = session.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "AADSTS50011" in page.text


# ---------------------------------------------------------------- ManagedIdentityClient
@pytest.fixture
def mi_env(monkeypatch):
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
                 "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("identity", "oid"), [
    (msal.SystemAssignedManagedIdentity(), "0f0f0f0f-aaaa-bbbb-cccc-000000000006"),
    (msal.UserAssignedManagedIdentity(client_id="0f0f0f0f-2222-3333-4444-555555555555"),
     "0f0f0f0f-aaaa-bbbb-cccc-000000000007"),
    (msal.UserAssignedManagedIdentity(object_id="0f0f0f0f-aaaa-bbbb-cccc-000000000007"),
     "0f0f0f0f-aaaa-bbbb-cccc-000000000007"),
], ids=["system", "user-client-id", "user-object-id"])
@pytest.mark.parametrize("form", ["imds", "app-service"])
def test_msal_managed_identity(target, session, mi_env, identity, oid, form):
    if form == "imds":
        mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", target.imds_host)
        assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.DEFAULT_TO_VM
    else:
        mi_env.setenv("IDENTITY_ENDPOINT", target.identity_endpoint)
        mi_env.setenv("IDENTITY_HEADER", target.identity_header)
        assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.APP_SERVICE
    client = msal.ManagedIdentityClient(identity, http_client=session, token_cache=msal.TokenCache())
    result = client.acquire_token_for_client(resource="https://management.azure.com")
    assert "access_token" in result, result
    assert 3000 < result["expires_in"] <= 86400
    claims = target.identity.verify_bearer(f"Bearer {result['access_token']}", ARM_AUDIENCES)
    assert claims["oid"] == oid
    assert client.acquire_token_for_client(resource="https://management.azure.com")["token_source"] == "cache"


def test_msal_managed_identity_unknown_user_identity(target, session, mi_env):
    mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", target.imds_host)
    client = msal.ManagedIdentityClient(
        msal.UserAssignedManagedIdentity(client_id="99999999-2222-3333-4444-555555555555"), http_client=session,
        token_cache=msal.TokenCache())
    result = client.acquire_token_for_client(resource="https://management.azure.com")
    assert "access_token" not in result
    assert result["error"] == "invalid_request"


# ---------------------------------------------------------------- azure-identity
def test_azure_identity_client_secret_credential(target):
    from azure.identity import ClientSecretCredential

    creds = target.credentials["soc-responder"]
    credential = ClientSecretCredential(TENANT, creds["client_id"], creds["secret"], authority=target.login_url,
                                        disable_instance_discovery=True, connection_verify=target.ca_bundle)
    token = credential.get_token(ARM_SCOPE)
    claims = target.identity.verify_bearer(f"Bearer {token.token}", ARM_AUDIENCES)
    assert claims["appid"] == creds["client_id"]
    assert token.expires_on > claims["iat"]


def test_azure_identity_certificate_credential(target):
    from azure.identity import CertificateCredential

    creds = target.credentials["soc-responder"]
    pem = (creds["private_key_pem"] + creds["certificate_pem"]).encode()
    credential = CertificateCredential(TENANT, creds["client_id"], certificate_data=pem, authority=target.login_url,
                                       disable_instance_discovery=True, connection_verify=target.ca_bundle)
    token = credential.get_token(ARM_SCOPE)
    claims = target.identity.verify_bearer(f"Bearer {token.token}", ARM_AUDIENCES)
    assert claims["appidacr"] == "2"


def test_azure_identity_wrong_secret_raises_with_aadsts(target):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    creds = target.credentials["soc-reader"]
    credential = ClientSecretCredential(TENANT, creds["client_id"], "not-it", authority=target.login_url,
                                        disable_instance_discovery=True, connection_verify=target.ca_bundle)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(ARM_SCOPE)


# ---------------------------------------------------------------- a token from MSAL works on ARM
def test_msal_token_accepted_by_arm(target, session):
    creds = target.credentials["soc-responder"]
    app = confidential(target, "soc-responder", creds["secret"])
    token = app.acquire_token_for_client([ARM_SCOPE])["access_token"]
    sub = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    ok = session.get(f"{target.arm_url}/subscriptions/{sub}/resourceGroups/soc-demo-rg",
                     params={"api-version": "2022-09-01"}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "soc-demo-rg"
    target.expire_all_tokens()
    expired = session.get(f"{target.arm_url}/subscriptions/{sub}/resourceGroups/soc-demo-rg",
                          params={"api-version": "2022-09-01"}, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_msal_auth_code_flow_form_post(target, session):
    app = confidential(target, "soc-responder", target.credentials["soc-responder"]["secret"])
    flow = app.initiate_auth_code_flow(["https://management.azure.com/user_impersonation"], redirect_uri=REDIRECT,
                                       response_mode="form_post", login_hint="analyst@soc-demo.example")
    page = session.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200
    assert f'action="{REDIRECT}"' in page.text
    fields = {k: html.unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)}
    assert set(fields) >= {"code", "state", "session_state", "client_info"}
    result = app.acquire_token_by_auth_code_flow(flow, fields)
    assert "access_token" in result, result.get("error_description")
    assert claims_of(result["access_token"])["upn"] == "analyst@soc-demo.example"


def test_xsoar_app_token_over_https_works_on_arm(target, session):
    reg = target.scenario["xsoar_registrations"][0]
    body = {"app_name": reg["app_name"], "registration_id": reg["registration_id"],
            "encrypted_token": encrypt_xsoar_token(reg["key"], TENANT), "scope": ARM_SCOPE}
    answer = session.post(target.oproxy_url, json=body)
    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "expires_in", "refresh_token"}
    token = answer.json()["access_token"]
    sub = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    ok = session.get(f"{target.arm_url}/subscriptions/{sub}/resourceGroups/soc-demo-rg",
                     params={"api-version": "2022-09-01"}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    stale = dict(body, encrypted_token=encrypt_xsoar_token(reg["key"], TENANT, int(time.time()) - 3600))
    refused = session.post(target.oproxy_url, json=stale)
    assert refused.status_code == 401
    assert "10 minutes" in refused.json()["detail"]


def test_msal_oidc_authority_issuer_matches(target):
    creds = target.credentials["soc-reader"]
    app = msal.ConfidentialClientApplication(creds["client_id"], client_credential=creds["secret"],
                                             oidc_authority=f"{target.login_url}/{TENANT}/v2.0",
                                             verify=target.ca_bundle)
    result = app.acquire_token_for_client([ARM_SCOPE])
    assert "access_token" in result, result.get("error_description")
    assert claims_of(result["access_token"])["appid"] == creds["client_id"]
