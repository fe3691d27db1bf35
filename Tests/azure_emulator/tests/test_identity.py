"""Unit tests of the emulator's Entra ID service, driven with plain Request objects (no sockets)."""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from Tests.azure_emulator.http import Headers, Request
from Tests.azure_emulator.identity import IdentityService, TokenRejected, dotnet_utc, encrypt_xsoar_token

BASE = "https://127.0.0.1:4443"
TENANT = "11111111-2222-3333-4444-555555555555"
RESPONDER = "0a0a0a0a-1111-2222-3333-444444444444"
READER = "0b0b0b0b-1111-2222-3333-444444444444"
EXPIRED = "0c0c0c0c-1111-2222-3333-444444444444"
UNCONSENTED = "0d0d0d0d-1111-2222-3333-444444444444"
ARM = "https://management.azure.com/.default"
REDIRECT = "https://localhost/authcode"
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "default.yaml"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def scenario():
    return yaml.safe_load(SCENARIO.read_text())


@pytest.fixture
def svc(scenario):
    service = IdentityService(scenario, scenario.get("settings"), lambda: BASE)
    service.clock = Clock()
    return service


def token_request(svc, form, tenant=TENANT, headers=None, method="POST"):
    return svc.handle(Request(method, f"/{tenant}/oauth2/v2.0/token", body=urlencode(form).encode(),
                              headers=Headers(headers or {}), base_url=BASE))


def secret_form(client_id=RESPONDER, secret="demo-responder-secret", scope=ARM):
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope,
            "client_info": "1"}


def assert_aad_error(resp, status, error, code, *, forbidden=()):
    """The full Entra ID error shape, and no secret echoed back."""
    assert resp.status == status, resp.body
    body = resp.body
    assert body["error"] == error
    assert body["error_codes"] == [code]
    desc = body["error_description"]
    assert desc.startswith(f"AADSTS{code}: ")
    lines = desc.split("\r\n")
    assert lines[-3] == f"Trace ID: {body['trace_id']}"
    assert lines[-2] == f"Correlation ID: {body['correlation_id']}"
    assert lines[-1] == f"Timestamp: {body['timestamp']}"
    assert TIMESTAMP.match(body["timestamp"])
    uuid.UUID(body["trace_id"])
    uuid.UUID(body["correlation_id"])
    assert body["error_uri"].endswith(f"/error?code={code}")
    dumped = json.dumps(body)
    for secret in forbidden:
        assert secret not in dumped
    return desc


# ---------------------------------------------------------------- discovery
def test_discovery_document_fields_and_endpoints(svc):
    resp = svc.handle(Request("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration", base_url=BASE))
    assert resp.status == 200
    doc = resp.body
    assert doc["token_endpoint"] == f"{BASE}/{TENANT}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{BASE}/{TENANT}/oauth2/v2.0/authorize"
    assert doc["device_authorization_endpoint"] == f"{BASE}/{TENANT}/oauth2/v2.0/devicecode"
    assert doc["jwks_uri"] == f"{BASE}/{TENANT}/discovery/v2.0/keys"
    assert doc["issuer"] == f"{BASE}/{TENANT}/v2.0"
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_post", "private_key_jwt",
                                                            "client_secret_basic"]
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["scopes_supported"] == ["openid", "profile", "email", "offline_access"]
    assert doc["request_uri_parameter_supported"] is False
    assert doc["cloud_instance_name"] == "microsoftonline.com"
    for name in ("userinfo_endpoint", "end_session_endpoint", "claims_supported", "kerberos_endpoint",
                 "tenant_region_scope", "cloud_graph_host_name", "msgraph_host", "rbac_url",
                 "http_logout_supported", "frontchannel_logout_supported", "response_types_supported"):
        assert name in doc


def test_discovery_by_domain_name_and_common(svc):
    doc = svc.handle(Request("GET", "/soc-demo.example/v2.0/.well-known/openid-configuration")).body
    assert doc["token_endpoint"] == f"{BASE}/{TENANT}/oauth2/v2.0/token"  # the tenant GUID, as Entra answers
    common = svc.handle(Request("GET", "/common/v2.0/.well-known/openid-configuration")).body
    assert common["issuer"] == f"{BASE}/{{tenantid}}/v2.0"
    assert common["token_endpoint"] == f"{BASE}/common/oauth2/v2.0/token"


def test_discovery_unknown_tenant_is_aadsts90002(svc):
    resp = svc.handle(Request("GET", "/99999999-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration"))
    desc = assert_aad_error(resp, 400, "invalid_tenant", 90002)
    assert "Tenant '99999999-0000-0000-0000-000000000000' not found" in desc


def test_jwks_verifies_issued_tokens(svc):
    keys = svc.handle(Request("GET", f"/{TENANT}/discovery/v2.0/keys")).body["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["use"] == "sig"
    token = token_request(svc, secret_form()).body["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
    public = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="https://management.azure.com/")
    assert claims["appid"] == RESPONDER


def test_instance_discovery(svc):
    resp = svc.handle(Request("GET", "/common/discovery/instance", query={
        "api-version": ["1.1"], "authorization_endpoint": [f"{BASE}/{TENANT}/oauth2/v2.0/authorize"]}))
    assert resp.status == 200
    assert resp.body["tenant_discovery_endpoint"] == f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration"
    assert resp.body["metadata"][0]["aliases"] == ["127.0.0.1:4443"]


def test_non_identity_paths_are_not_handled(svc):
    assert svc.handle(Request("GET", "/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")) is None
    assert svc.handle(Request("GET", "/")) is None


# ---------------------------------------------------------------- client credentials
def test_client_credentials_with_secret(svc):
    resp = token_request(svc, secret_form())
    assert resp.status == 200
    body = resp.body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["ext_expires_in"] == 3599
    assert body["scope"] == ARM
    assert "refresh_token" not in body
    assert "id_token" not in body
    assert "client_info" not in body
    assert resp.headers["Cache-Control"].startswith("no-store")
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["tid"] == TENANT
    assert claims["oid"] == "0a0a0a0a-aaaa-bbbb-cccc-000000000001"
    assert claims["appid"] == RESPONDER
    assert claims["idtyp"] == "app"
    assert claims["appidacr"] == "1"
    assert claims["iss"] == f"https://sts.windows.net/{TENANT}/"
    assert claims["exp"] - claims["iat"] == 3599
    assert claims["nbf"] == claims["iat"]
    assert "upn" not in claims
    assert "scp" not in claims


@pytest.mark.parametrize(("scope", "audience"), [
    ("https://management.core.windows.net//.default", "https://management.core.windows.net/"),
    ("https://127.0.0.1:5555/.default", "https://127.0.0.1:5555/"),
])
def test_scope_to_audience(svc, scope, audience):
    token = token_request(svc, secret_form(scope=scope)).body["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == audience


def test_client_secret_basic(svc):
    basic = base64.b64encode(f"{READER}:demo-reader-secret".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": ARM}
    resp = token_request(svc, form, headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200
    assert jwt.decode(resp.body["access_token"], options={"verify_signature": False})["appid"] == READER


def test_wrong_secret_is_7000215(svc):
    desc = assert_aad_error(token_request(svc, secret_form(secret="not-the-secret")), 401, "invalid_client",
                            7000215, forbidden=["not-the-secret", "demo-responder-secret"])
    assert f"for a secret added to app '{RESPONDER}'" in desc


def test_secret_id_instead_of_value_is_7000215(svc):
    resp = token_request(svc, secret_form(secret="5ec7e7a1-0000-4000-8000-000000000001"))
    desc = assert_aad_error(resp, 401, "invalid_client", 7000215)
    assert "not the client secret ID" in desc


def test_expired_secret_is_7000222(svc):
    resp = token_request(svc, secret_form(client_id=EXPIRED, secret="demo-expired-secret"))
    desc = assert_aad_error(resp, 401, "invalid_client", 7000222, forbidden=["demo-expired-secret"])
    assert f"client secret keys for app '{EXPIRED}' are expired" in desc


def test_no_credential_is_7000218(svc):
    form = secret_form()
    del form["client_secret"]
    desc = assert_aad_error(token_request(svc, form), 401, "invalid_client", 7000218)
    assert "'client_assertion' or 'client_secret'" in desc


def test_unknown_client_is_700016(svc):
    other = "12345678-1234-1234-1234-123456789012"
    desc = assert_aad_error(token_request(svc, secret_form(client_id=other)), 400, "unauthorized_client", 700016)
    assert f"Application with identifier '{other}' was not found in the directory '{TENANT}'" in desc


def test_unknown_tenant_on_token_is_90002(svc):
    resp = token_request(svc, secret_form(), tenant="nosuch.example")
    assert_aad_error(resp, 400, "invalid_tenant", 90002)


def test_missing_scope_and_non_default_scope(svc):
    form = secret_form()
    del form["scope"]
    assert "'scope'" in assert_aad_error(token_request(svc, form), 400, "invalid_request", 900144)
    resp = token_request(svc, secret_form(scope="https://management.azure.com/user_impersonation"))
    assert "/.default" in assert_aad_error(resp, 400, "invalid_scope", 1002012)


def test_get_on_token_endpoint_and_unsupported_grant(svc):
    assert_aad_error(token_request(svc, {}, method="GET"), 400, "invalid_request", 900561)
    form = dict(secret_form(), grant_type="password")
    assert_aad_error(token_request(svc, form), 400, "unsupported_grant_type", 70003)


def test_client_request_id_becomes_correlation_id(svc):
    cid = str(uuid.uuid4())
    resp = token_request(svc, secret_form(secret="x"), headers={"client-request-id": cid})
    assert resp.body["correlation_id"] == cid


# ---------------------------------------------------------------- client assertion (certificate)
def make_assertion(svc, *, key_pem=None, thumbprint=None, sha256=False, alg=None, aud=None, iss=RESPONDER,
                   sub=None, exp_delta=600):
    creds = svc.credentials["soc-responder"]
    key = serialization.load_pem_private_key((key_pem or creds["private_key_pem"]).encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate(creds["certificate_pem"].encode())
    if sha256:
        headers = {"x5t#S256": base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).decode().rstrip("=")}
    else:
        digest = bytes.fromhex(thumbprint or creds["certificate_thumbprint"])
        headers = {"x5t": base64.urlsafe_b64encode(digest).decode().rstrip("=")}
    now = int(svc.clock())
    claims = {"aud": aud or f"{BASE}/{TENANT}/oauth2/v2.0/token", "iss": iss, "sub": sub or iss,
              "iat": now, "nbf": now, "exp": now + exp_delta, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=alg or ("PS256" if sha256 else "RS256"), headers=headers)


def assertion_form(assertion, client_id=RESPONDER):
    return {"grant_type": "client_credentials", "client_id": client_id, "scope": ARM, "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}


def test_credentials_expose_generated_certificate(svc):
    creds = svc.credentials["soc-responder"]
    cert = x509.load_pem_x509_certificate(creds["certificate_pem"].encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert creds["certificate_thumbprint"] == hashlib.sha1(der).hexdigest().upper()
    key = serialization.load_pem_private_key(creds["private_key_pem"].encode(), None)
    public = cert.public_key()
    assert isinstance(key, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    assert key.public_key().public_numbers() == public.public_numbers()
    assert creds["client_id"] == RESPONDER
    assert creds["tenant_id"] == TENANT
    assert creds["secret"] == "demo-responder-secret"
    assert svc.credentials["soc-reader"]["certificate_thumbprint"] is None


@pytest.mark.parametrize("sha256", [False, True], ids=["x5t-RS256", "x5t#S256-PS256"])
def test_client_assertion_accepted(svc, sha256):
    resp = token_request(svc, assertion_form(make_assertion(svc, sha256=sha256)))
    assert resp.status == 200, resp.body
    claims = jwt.decode(resp.body["access_token"], options={"verify_signature": False})
    assert claims["appid"] == RESPONDER
    assert claims["appidacr"] == "2"


def test_client_assertion_signed_with_another_key_is_700027(svc):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    resp = token_request(svc, assertion_form(make_assertion(svc, key_pem=other)))
    assert "signature validation" in assert_aad_error(resp, 401, "invalid_client", 700027)


def test_client_assertion_unknown_thumbprint_is_700027(svc):
    resp = token_request(svc, assertion_form(make_assertion(svc, thumbprint="AB" * 20)))
    assert "The key was not found" in assert_aad_error(resp, 401, "invalid_client", 700027)


def test_client_assertion_wrong_audience(svc):
    resp = token_request(svc, assertion_form(make_assertion(svc, aud="https://login.example/other/token")))
    assert "audience" in assert_aad_error(resp, 401, "invalid_client", 700212)


def test_client_assertion_issuer_must_be_client_id(svc):
    resp = token_request(svc, assertion_form(make_assertion(svc, iss=READER)))
    assert "doesn't match 'client_id'" in assert_aad_error(resp, 401, "invalid_client", 700021)


def test_client_assertion_expired(svc):
    resp = token_request(svc, assertion_form(make_assertion(svc, exp_delta=-3600)))
    assert "valid time range" in assert_aad_error(resp, 401, "invalid_client", 700024)


# ---------------------------------------------------------------- authorize + authorization code
def pkce():
    verifier = base64.urlsafe_b64encode(uuid.uuid4().bytes * 3).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize(svc, client_id=RESPONDER, redirect_uri=REDIRECT, scope=None, challenge=None, **extra):
    query = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
             "scope": scope or "https://management.azure.com/user_impersonation offline_access openid profile",
             "state": "st-123", "client_info": "1", "nonce": "n-1"}
    if challenge:
        query.update(code_challenge=challenge, code_challenge_method="S256")
    query.update(extra)
    return svc.handle(Request("GET", f"/{TENANT}/oauth2/v2.0/authorize", query={k: [v] for k, v in query.items()}))


def code_of(resp):
    assert resp.status == 302, resp.body
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


def redeem(svc, code, client_id=RESPONDER, secret="demo-responder-secret", redirect_uri=REDIRECT, verifier=None,
           scope="https://management.azure.com/user_impersonation offline_access openid profile"):
    form = {"grant_type": "authorization_code", "client_id": client_id, "client_secret": secret, "code": code,
            "redirect_uri": redirect_uri, "scope": scope, "client_info": "1"}
    if verifier:
        form["code_verifier"] = verifier
    return token_request(svc, form)


def test_authorize_redirects_with_code_state_session_state_client_info(svc):
    resp = authorize(svc)
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    values = code_of(resp)
    assert values["state"] == "st-123"
    assert values["code"]
    uuid.UUID(values["session_state"])
    info = json.loads(base64.urlsafe_b64decode(values["client_info"] + "=="))
    assert info == {"uid": "0e0e0e0e-aaaa-bbbb-cccc-000000000005", "utid": TENANT}


def test_authorize_response_modes(svc):
    fragment = authorize(svc, response_mode="fragment")
    assert fragment.status == 302
    assert "#code=" in fragment.headers["Location"]
    posted = authorize(svc, response_mode="form_post")
    assert posted.status == 200
    assert 'name="code"' in posted.body
    assert f'action="{REDIRECT}"' in posted.body


def test_authorize_unregistered_redirect_uri_is_an_html_50011_page(svc):
    resp = authorize(svc, redirect_uri="https://evil.example/cb")
    assert resp.status == 400
    assert "Location" not in resp.headers
    page = html.unescape(resp.body)
    assert "AADSTS50011: The redirect URI 'https://evil.example/cb' specified in the request does not match" in page
    assert resp.encoded()[1]["Content-Type"].startswith("text/html")


def test_authorize_unknown_client_and_tenant_pages(svc):
    resp = authorize(svc, client_id="12345678-1234-1234-1234-123456789012")
    assert resp.status == 400
    assert "AADSTS700016" in resp.body
    bad = svc.handle(Request("GET", "/nosuch/oauth2/v2.0/authorize", query={"client_id": [RESPONDER]}))
    assert bad.status == 400
    assert "AADSTS90002" in bad.body


def test_authorize_bad_response_type_redirects_with_error(svc):
    values = code_of(authorize(svc, response_type="token"))
    assert values["error"] == "unsupported_response_type"
    assert values["state"] == "st-123"


def test_auth_code_redeemed_once_with_refresh_and_id_token(svc):
    verifier, challenge = pkce()
    code = code_of(authorize(svc, challenge=challenge))["code"]
    resp = redeem(svc, code, verifier=verifier)
    assert resp.status == 200, resp.body
    body = resp.body
    assert body["refresh_token"]
    assert body["id_token"]
    assert body["client_info"]
    assert "https://management.azure.com/user_impersonation" in body["scope"].split()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["idtyp"] == "user"
    assert claims["upn"] == "analyst@soc-demo.example"
    assert claims["oid"] == "0e0e0e0e-aaaa-bbbb-cccc-000000000005"
    assert claims["scp"] == "user_impersonation"
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["appid"] == RESPONDER
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_claims["aud"] == RESPONDER
    assert id_claims["nonce"] == "n-1"
    assert id_claims["preferred_username"] == "analyst@soc-demo.example"
    again = redeem(svc, code, verifier=verifier)
    assert "already redeemed" in assert_aad_error(again, 400, "invalid_grant", 54005)


def test_no_refresh_token_without_offline_access(svc):
    scope = "https://management.azure.com/user_impersonation"
    code = code_of(authorize(svc, scope=scope))["code"]
    body = redeem(svc, code, scope=scope).body
    assert "refresh_token" not in body
    assert "id_token" not in body


def test_auth_code_expired_is_70008(svc):
    code = code_of(authorize(svc))["code"]
    svc.clock.now += 601
    assert "expired due to inactivity" in assert_aad_error(redeem(svc, code), 400, "invalid_grant", 70008)


def test_auth_code_bound_to_redirect_uri_client_and_pkce(svc):
    verifier, challenge = pkce()
    code = code_of(authorize(svc, challenge=challenge))["code"]
    wrong = redeem(svc, code, redirect_uri="https://oproxy.demisto.ninja/authcode", verifier=verifier)
    assert_aad_error(wrong, 400, "invalid_grant", 500112)
    code = code_of(authorize(svc, challenge=challenge))["code"]
    assert_aad_error(redeem(svc, code, verifier="x" * 43), 400, "invalid_grant", 501481)
    code = code_of(authorize(svc, challenge=challenge))["code"]
    other = redeem(svc, code, client_id=READER, secret="demo-reader-secret", verifier=verifier)
    assert_aad_error(other, 400, "invalid_grant", 9002313)
    code = code_of(authorize(svc))["code"]
    assert_aad_error(redeem(svc, code, scope="https://graph.microsoft.com/User.Read"), 400, "invalid_grant", 70000)


def test_pkce_wrong_or_missing_verifier_is_501481_and_right_one_redeems(svc):
    verifier, challenge = pkce()
    other_verifier, _ = pkce()
    for wrong in (other_verifier, None):
        code = code_of(authorize(svc, challenge=challenge))["code"]
        text = assert_aad_error(redeem(svc, code, verifier=wrong), 400, "invalid_grant", 501481)
        assert "The Code_Verifier does not match the code_challenge supplied in the authorization request." in text
    code = code_of(authorize(svc, challenge=challenge))["code"]
    ok = redeem(svc, code, verifier=verifier)
    assert ok.status == 200
    assert ok.body["access_token"]
    # A code requested without a challenge (no PKCE) still redeems without a verifier, as for confidential clients.
    assert redeem(svc, code_of(authorize(svc))["code"]).status == 200


def test_unconsented_app_fails_at_redemption_with_65001(svc):
    code = code_of(authorize(svc, client_id=UNCONSENTED))["code"]
    resp = redeem(svc, code, client_id=UNCONSENTED, secret="demo-unconsented-secret")
    desc = assert_aad_error(resp, 400, "invalid_grant", 65001)
    assert f"application with ID '{UNCONSENTED}' named 'soc-unconsented'" in desc
    values = code_of(authorize(svc, client_id=UNCONSENTED, prompt="none"))
    assert values["error"] == "consent_required"
    assert values["error_description"].startswith("AADSTS65001: ")


def test_login_hint_unknown_user(svc):
    resp = authorize(svc, login_hint="nobody@soc-demo.example")
    assert resp.status == 400
    assert "AADSTS50034" in resp.body


# ---------------------------------------------------------------- refresh tokens
def refresh(svc, token, client_id=RESPONDER, secret="demo-responder-secret",
            scope="https://management.azure.com/user_impersonation offline_access openid profile"):
    return token_request(svc, {"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret,
                               "refresh_token": token, "scope": scope, "client_info": "1"})


def first_refresh_token(svc):
    return redeem(svc, code_of(authorize(svc))["code"]).body["refresh_token"]


def test_refresh_token_rotates_and_keeps_user(svc):
    rt = first_refresh_token(svc)
    svc.clock.now += 3000
    resp = refresh(svc, rt)
    assert resp.status == 200, resp.body
    assert resp.body["refresh_token"]
    assert resp.body["refresh_token"] != rt
    claims = jwt.decode(resp.body["access_token"], options={"verify_signature": False})
    assert claims["upn"] == "analyst@soc-demo.example"
    assert claims["iat"] >= int(svc.clock.now) - 1
    second = refresh(svc, resp.body["refresh_token"])
    assert second.status == 200


def test_refresh_token_inactivity_is_700082(svc):
    rt = first_refresh_token(svc)
    svc.clock.now += 90 * 24 * 3600 + 10
    desc = assert_aad_error(refresh(svc, rt), 400, "invalid_grant", 700082)
    assert "expired due to inactivity" in desc
    assert "was inactive for" in desc
    rt = first_refresh_token(svc)
    svc.expire_refresh_tokens()
    assert_aad_error(refresh(svc, rt), 400, "invalid_grant", 700082)


def test_refresh_token_wrong_client_and_garbage(svc):
    rt = first_refresh_token(svc)
    assert_aad_error(refresh(svc, rt, client_id=READER, secret="demo-reader-secret"), 400, "invalid_grant", 700005)
    assert_aad_error(refresh(svc, "garbage"), 400, "invalid_grant", 9002313)


# ---------------------------------------------------------------- verify_bearer
AUDIENCES = {"https://management.azure.com/", "https://management.core.windows.net/"}


def test_verify_bearer_accepts_with_or_without_trailing_slash(svc):
    token = token_request(svc, secret_form(scope="https://management.azure.com/.default")).body["access_token"]
    assert svc.verify_bearer(f"Bearer {token}", AUDIENCES)["appid"] == RESPONDER
    assert svc.verify_bearer(f"Bearer {token}", {"https://management.azure.com"})["oid"]


def test_verify_bearer_rejections(svc):
    with pytest.raises(TokenRejected) as missing:
        svc.verify_bearer(None, AUDIENCES)
    assert missing.value.code == "AuthenticationFailed"
    assert "'Authorization' header is missing" in missing.value.message
    with pytest.raises(TokenRejected) as scheme:
        svc.verify_bearer("Basic abc", AUDIENCES)
    assert scheme.value.code == "AuthenticationFailed"
    with pytest.raises(TokenRejected) as malformed:
        svc.verify_bearer("Bearer not.a.jwt", AUDIENCES)
    assert malformed.value.code == "InvalidAuthenticationToken"
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"aud": "https://management.azure.com/", "exp": int(time.time()) + 60}, forged_key, "RS256")
    with pytest.raises(TokenRejected) as bad_sig:
        svc.verify_bearer(f"Bearer {forged}", AUDIENCES)
    assert bad_sig.value.code == "InvalidAuthenticationToken"
    graph = token_request(svc, secret_form(scope="https://graph.microsoft.com/.default")).body["access_token"]
    with pytest.raises(TokenRejected) as aud:
        svc.verify_bearer(f"Bearer {graph}", AUDIENCES)
    assert aud.value.code == "InvalidAuthenticationTokenAudience"
    assert aud.value.message.startswith("The access token has been obtained for wrong audience or resource "
                                        "'https://graph.microsoft.com/'. It should exactly match with one of the "
                                        "allowed audiences ")


def test_verify_bearer_expiry_message_format(svc):
    token = token_request(svc, secret_form()).body["access_token"]
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    svc.clock.now = exp + 100
    with pytest.raises(TokenRejected) as err:
        svc.verify_bearer(f"Bearer {token}", AUDIENCES)
    assert err.value.code == "ExpiredAuthenticationToken"
    assert err.value.message == (f"The access token expiry UTC time '{dotnet_utc(exp)}' is earlier than current UTC "
                                 f"time '{dotnet_utc(exp + 100)}'.")
    assert re.match(r"^The access token expiry UTC time '\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d [AP]M'",
                    err.value.message)


def test_expire_all_tokens(svc):
    old = token_request(svc, secret_form()).body["access_token"]
    svc.expire_all_tokens()
    with pytest.raises(TokenRejected) as err:
        svc.verify_bearer(f"Bearer {old}", AUDIENCES)
    assert err.value.code == "ExpiredAuthenticationToken"
    new = token_request(svc, secret_form()).body["access_token"]  # same (frozen) clock, still valid
    assert svc.verify_bearer(f"Bearer {new}", AUDIENCES)["appid"] == RESPONDER


def test_reset_forgets_expiry_and_keeps_tokens_and_keys(svc, scenario):
    old = token_request(svc, secret_form()).body["access_token"]
    thumbprint = svc.credentials["soc-responder"]["certificate_thumbprint"]
    svc.expire_all_tokens()
    svc.reset(scenario, {"token_lifetime_seconds": 60})
    assert svc.verify_bearer(f"Bearer {old}", AUDIENCES)["appid"] == RESPONDER   # valid again until its own exp
    assert svc.settings["token_lifetime_seconds"] == 60
    assert svc.credentials["soc-responder"]["certificate_thumbprint"] == thumbprint
    assert token_request(svc, secret_form()).body["expires_in"] == 60
    svc.expire_all_tokens()   # and expiry still works after a reset
    with pytest.raises(TokenRejected) as err:
        svc.verify_bearer(f"Bearer {old}", AUDIENCES)
    assert err.value.code == "ExpiredAuthenticationToken"


def test_dotnet_utc():
    assert dotnet_utc(1674062442) == "1/18/2023 5:20:42 PM"
    assert dotnet_utc(1674000000) == "1/18/2023 12:00:00 AM"


def test_mint_access_token_for_each_kind_of_principal(svc):
    aud = "https://management.azure.com/"
    expected = {"soc-reader": "0b0b0b0b-aaaa-bbbb-cccc-000000000002",
                "analyst@soc-demo.example": "0e0e0e0e-aaaa-bbbb-cccc-000000000005",
                "engine-user-identity": "0f0f0f0f-aaaa-bbbb-cccc-000000000007",
                "7a7a7a7a-aaaa-bbbb-cccc-000000000008": "7a7a7a7a-aaaa-bbbb-cccc-000000000008",
                "0a0a0a0a-aaaa-bbbb-cccc-000000000001": "0a0a0a0a-aaaa-bbbb-cccc-000000000001"}
    for principal, oid in expected.items():
        claims = svc.verify_bearer(f"Bearer {svc.mint_access_token(principal, aud)}", AUDIENCES)
        assert claims["oid"] == oid
    expired = svc.mint_access_token("soc-reader", aud, issued_at=svc.clock() - 7200, lifetime=60)
    with pytest.raises(TokenRejected):
        svc.verify_bearer(f"Bearer {expired}", AUDIENCES)
    with pytest.raises(KeyError):
        svc.mint_access_token("nobody", aud)


# ---------------------------------------------------------------- managed identity
def imds(svc, headers=None, **query):
    query.setdefault("api-version", "2018-02-01")
    query.setdefault("resource", "https://management.azure.com/")
    return svc.handle(Request("GET", "/metadata/identity/oauth2/token", query={k: [v] for k, v in query.items()},
                              headers=Headers({"Metadata": "true"} if headers is None else headers)))


def test_imds_requires_metadata_header(svc):
    resp = imds(svc, headers={})
    assert resp.status == 400
    assert resp.body == {"error": "invalid_request", "error_description": "Required metadata header not specified"}


def test_imds_system_assigned(svc):
    resp = imds(svc)
    assert resp.status == 200
    body = resp.body
    assert all(isinstance(body[k], str) for k in ("expires_in", "expires_on", "not_before", "ext_expires_in"))
    assert int(body["expires_on"]) - int(body["not_before"]) == int(body["expires_in"])
    assert body["resource"] == "https://management.azure.com/"
    assert body["token_type"] == "Bearer"
    claims = svc.verify_bearer(f"Bearer {body['access_token']}", AUDIENCES)
    assert claims["oid"] == "0f0f0f0f-aaaa-bbbb-cccc-000000000006"
    assert claims["idtyp"] == "app"


@pytest.mark.parametrize("selector", [
    {"client_id": "0f0f0f0f-2222-3333-4444-555555555555"},
    {"object_id": "0f0f0f0f-aaaa-bbbb-cccc-000000000007"},
    {"msi_res_id": "/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/resourcegroups/soc-demo-rg/providers/"
                   "Microsoft.ManagedIdentity/userAssignedIdentities/engine-user-identity"},
])
def test_imds_user_assigned(svc, selector):
    resp = imds(svc, **selector)
    assert resp.status == 200, resp.body
    claims = jwt.decode(resp.body["access_token"], options={"verify_signature": False})
    assert claims["oid"] == "0f0f0f0f-aaaa-bbbb-cccc-000000000007"
    assert claims["appid"] == "0f0f0f0f-2222-3333-4444-555555555555"


def test_imds_unknown_identity_and_missing_resource(svc):
    resp = imds(svc, client_id="99999999-2222-3333-4444-555555555555")
    assert resp.status == 400
    assert resp.body["error_description"] == "Identity not found"
    resp = svc.handle(Request("GET", "/metadata/identity/oauth2/token", query={"api-version": ["2018-02-01"]},
                              headers=Headers({"Metadata": "true"})))
    assert resp.status == 400
    assert "resource" in resp.body["error_description"]


def app_service(svc, header=True, **query):
    query.setdefault("api-version", "2019-08-01")
    query.setdefault("resource", "https://management.azure.com")
    headers = {"X-IDENTITY-HEADER": svc.identity_header} if header is True else ({"X-IDENTITY-HEADER": header}
                                                                                   if header else {})
    return svc.handle(Request("GET", "/msi/token", query={k: [v] for k, v in query.items()}, headers=Headers(headers)))


def test_app_service_identity(svc):
    resp = app_service(svc)
    assert resp.status == 200
    assert isinstance(resp.body["expires_on"], str)
    assert int(resp.body["expires_on"]) > svc.clock()
    assert "expires_in" not in resp.body
    claims = jwt.decode(resp.body["access_token"], options={"verify_signature": False})
    assert claims["oid"] == "0f0f0f0f-aaaa-bbbb-cccc-000000000006"
    assert claims["aud"] == "https://management.azure.com/"
    user = app_service(svc, client_id="0f0f0f0f-2222-3333-4444-555555555555")
    assert jwt.decode(user.body["access_token"], options={"verify_signature": False})["oid"].endswith("007")


def test_app_service_header_checks(svc):
    assert app_service(svc, header=None).status == 400
    wrong = app_service(svc, header="wrong")
    assert wrong.status == 401
    assert wrong.body["statusCode"] == 401
    assert "access_token" not in wrong.body
    unknown = app_service(svc, object_id="99999999-aaaa-bbbb-cccc-000000000007")
    assert unknown.status == 400
    assert unknown.body["message"]


# ---------------------------------------------------------------- Cortex XSOAR application mode
REG = "7a7a7a7a-1111-2222-3333-444444444444"
KEY = "ZGVtby14c29hci1hcHAta2V5LTMyLWJ5dGVzLWxvbmc="


def oproxy(svc, **body):
    payload = {"app_name": "ms-azure-compute", "registration_id": REG,
               "encrypted_token": encrypt_xsoar_token(KEY, TENANT, int(svc.clock())), "scope": ARM}
    payload.update(body)
    return svc.handle(Request("POST", "/obtain-token", body=json.dumps(payload).encode()))


def test_oproxy_issues_token_for_the_registration_principal(svc):
    resp = oproxy(svc)
    assert resp.status == 200
    assert set(resp.body) == {"access_token", "expires_in", "refresh_token"}
    claims = svc.verify_bearer(f"Bearer {resp.body['access_token']}", AUDIENCES)
    assert claims["oid"] == "7a7a7a7a-aaaa-bbbb-cccc-000000000008"
    assert claims["tid"] == TENANT
    by_resource = oproxy(svc, scope=None, resource="https://management.core.windows.net/")
    assert jwt.decode(by_resource.body["access_token"], options={"verify_signature": False})["aud"] == \
        "https://management.core.windows.net/"


def test_oproxy_errors(svc):
    wrong_key = base64.b64encode(b"k" * 32).decode()
    cases = {
        "wrong key": (oproxy(svc, encrypted_token=encrypt_xsoar_token(wrong_key, TENANT, int(svc.clock()))), 401),
        "stale": (oproxy(svc, encrypted_token=encrypt_xsoar_token(KEY, TENANT, int(svc.clock()) - 601)), 401),
        "future": (oproxy(svc, encrypted_token=encrypt_xsoar_token(KEY, TENANT, int(svc.clock()) + 601)), 401),
        "wrong tenant": (oproxy(svc, encrypted_token=encrypt_xsoar_token(KEY, "other", int(svc.clock()))), 401),
        "unknown registration": (oproxy(svc, registration_id=str(uuid.uuid4())), 404),
        "wrong app": (oproxy(svc, app_name="ms-graph-mail"), 400),
        "garbage": (oproxy(svc, encrypted_token="!!!"), 401),
        "missing field": (oproxy(svc, registration_id=""), 400),
    }
    for name, (resp, status) in cases.items():
        assert resp.status == status, name
        assert set(resp.body) >= {"title", "detail"}, name
        assert resp.body["detail"], name
        assert "access_token" not in resp.body, name
        assert KEY not in json.dumps(resp.body), name
    assert oproxy(svc, encrypted_token=encrypt_xsoar_token(KEY, TENANT, int(svc.clock()) - 590)).status == 200


def test_reload_keeps_signing_key_certificates_and_tokens(svc, scenario):
    token = token_request(svc, secret_form()).body["access_token"]
    rt = first_refresh_token(svc)
    thumbprint = svc.credentials["soc-responder"]["certificate_thumbprint"]
    svc.reload(scenario)
    assert svc.verify_bearer(f"Bearer {token}", AUDIENCES)["appid"] == RESPONDER
    assert svc.credentials["soc-responder"]["certificate_thumbprint"] == thumbprint
    assert token_request(svc, assertion_form(make_assertion(svc))).status == 200
    assert refresh(svc, rt).status == 200
    smaller = dict(scenario, apps=[a for a in scenario["apps"] if a["name"] != "soc-reader"])
    svc.reload(smaller)
    assert "soc-reader" not in svc.credentials
    assert_aad_error(token_request(svc, secret_form(READER, "demo-reader-secret")), 400, "unauthorized_client", 700016)
