"""The emulator core: TLS listeners, request log, control surface (Python and HTTPS), faults, token expiry, reset,
scenario loading and the standalone command."""
from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from Tests.azure_emulator import Emulator
from Tests.azure_emulator.scenario import load_scenario

from .helpers import FAST, NSG, SUB, TENANT, VM, Arm, error_of

ROOT = Path(__file__).resolve().parents[3]


def control(emu, method, route, listener="arm", **kwargs):
    base = emu.arm_url if listener == "arm" else emu.login_url
    return requests.request(method, f"{base}/_emulator/{route}", verify=emu.ca_bundle, timeout=10, **kwargs)


def client_secret_token(emu, app="soc-responder"):
    creds = emu.credentials[app]
    r = requests.post(f"{emu.login_url}/{TENANT}/oauth2/v2.0/token", verify=emu.ca_bundle, timeout=10, data={
        "client_id": creds["client_id"], "client_secret": creds["secret"], "grant_type": "client_credentials",
        "scope": f"{emu.arm_url}/.default"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


# ---------------------------------------------------------------- TLS and listeners
def test_two_tls_listeners_with_the_emulator_ca(emulator):
    assert emulator.login_url.startswith("https://127.0.0.1:")
    assert emulator.arm_url.startswith("https://127.0.0.1:")
    assert emulator.login_url != emulator.arm_url
    pem = Path(emulator.ca_bundle).read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(requests.exceptions.SSLError):   # the system trust store does not know the emulator CA
        requests.get(f"{emulator.arm_url}/_emulator/info", verify=True, timeout=10)
    port = int(emulator.arm_url.rsplit(":", 1)[1])
    r = requests.get(f"https://localhost:{port}/_emulator/info", verify=emulator.ca_bundle, timeout=10)
    assert r.status_code == 200   # the certificate names localhost too
    ctx = ssl.create_default_context(cafile=emulator.ca_bundle)
    import socket
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")


def test_endpoint_properties(emulator):
    assert emulator.oproxy_url == f"{emulator.login_url}/obtain-token"
    assert emulator.imds_host == emulator.login_url
    assert emulator.identity_endpoint.startswith(emulator.login_url)
    assert emulator.identity_header
    creds = emulator.credentials["soc-responder"]
    assert creds["client_id"] == "0a0a0a0a-1111-2222-3333-444444444444"
    assert len(creds["certificate_thumbprint"]) == 40
    assert creds["certificate_thumbprint"].isupper()


def test_login_paths_go_to_identity_and_arm_paths_to_arm(emulator):
    token = client_secret_token(emulator)
    r = requests.get(f"{emulator.arm_url}/subscriptions/{SUB}?api-version=2022-12-01", verify=emulator.ca_bundle,
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200
    r = requests.get(f"{emulator.login_url}/subscriptions/{SUB}?api-version=2022-12-01", verify=emulator.ca_bundle,
                     timeout=10)
    assert r.status_code == 404
    r = requests.get(f"{emulator.arm_url}/{TENANT}/v2.0/.well-known/openid-configuration",
                     verify=emulator.ca_bundle, timeout=10)
    # ARM, not the identity service, answers: its 401 for a request without a bearer token
    assert r.status_code == 401
    assert error_of(r)["code"] == "AuthenticationFailed"


# ---------------------------------------------------------------- request log
def test_request_log_entries(emulator):
    token = client_secret_token(emulator)
    Arm(emulator, token=token).get(f"{NSG}/web-nsg")
    Arm(emulator, token=token).get(f"{NSG}/ghost")
    control(emulator, "GET", "state")  # control requests are not logged
    log = emulator.request_log()
    assert [(e["listener"], e["method"], e["status"]) for e in log] == [
        ("login", "POST", 200), ("arm", "GET", 200), ("arm", "GET", 404)]
    login, arm_ok, _ = log
    assert set(arm_ok) == {"seq", "time", "listener", "method", "path", "query", "status", "duration_ms", "client"}
    assert login["path"] == f"/{TENANT}/oauth2/v2.0/token"
    assert login["client"] == "0a0a0a0a-1111-2222-3333-444444444444"
    assert arm_ok["client"] == "0a0a0a0a-1111-2222-3333-444444444444"
    assert arm_ok["path"] == f"{NSG}/web-nsg"
    assert arm_ok["query"] == {"api-version": "2024-05-01"}
    assert arm_ok["duration_ms"] >= 0
    assert log[0]["seq"] < log[1]["seq"] < log[2]["seq"]
    assert "demo-responder-secret" not in json.dumps(log)
    assert token not in json.dumps(log)
    assert emulator.request_log(since=arm_ok["seq"]) == [log[2]]
    over_https = control(emulator, "GET", "log", listener="login", params={"since": login["seq"]}).json()["value"]
    assert [e["seq"] for e in over_https] == [arm_ok["seq"], log[2]["seq"]]
    assert control(emulator, "DELETE", "log").status_code == 204
    assert emulator.request_log() == []


def test_secret_query_values_are_masked_in_the_log(emulator):
    requests.get(f"{emulator.login_url}/{TENANT}/oauth2/v2.0/authorize", params={
        "client_id": "0a0a0a0a-1111-2222-3333-444444444444", "code": "sensitive-code", "response_type": "code",
        "redirect_uri": "https://localhost/authcode", "scope": "openid"},
        verify=emulator.ca_bundle, timeout=10, allow_redirects=False)
    entry = emulator.request_log()[-1]
    assert entry["query"]["code"] == "***"
    assert "sensitive-code" not in json.dumps(entry)


# ---------------------------------------------------------------- state and resources
def test_state_and_resource(emulator):
    state = emulator.state()["resources"]
    assert f"{NSG}/web-nsg".lower() in state
    assert f"{NSG}/web-nsg/securityRules/allow-https-in".lower() in state
    assert f"/subscriptions/{SUB}" in state
    vm = emulator.resource(f"{VM}/WEB-01")
    assert vm["name"] == "web-01"
    assert vm["properties"]["instanceView"]["statuses"][1]["code"] == "PowerState/running"
    assert emulator.resource(f"{NSG}/nope") is None
    over_https = control(emulator, "GET", "resource", params={"id": f"{NSG}/web-nsg"}).json()
    assert over_https["name"] == "web-nsg"
    assert control(emulator, "GET", "resource", params={"id": f"{NSG}/nope"}).status_code == 404
    assert control(emulator, "GET", "state", listener="login").json()["resources"].keys() == state.keys()


# ---------------------------------------------------------------- faults
def test_fault_429_with_retry_after_for_next_n_matching(emulator):
    arm = Arm(emulator)
    emulator.inject_fault("429", method="GET", path_contains="web-nsg", count=2, retry_after=7)
    assert arm.get(f"{NSG}/edge-nsg").status_code == 200          # does not match
    put = arm.put(f"{NSG}/web-nsg/securityRules/x", {})           # method does not match: the ARM validation runs
    assert put.status_code == 400
    assert "Retry-After" not in put.headers
    assert [f["count"] for f in emulator.faults()] == [2]         # neither request used up the fault
    for _ in range(2):
        r = arm.get(f"{NSG}/web-nsg")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "7"
        assert error_of(r)["code"] == "SubscriptionRequestsThrottled"
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert emulator.faults() == []


@pytest.mark.parametrize(("kind", "code"), [("500", "InternalServerError"), ("503", "ServiceUnavailable")])
def test_fault_5xx(emulator, kind, code):
    emulator.inject_fault(kind, path_contains="/virtualMachines")
    r = Arm(emulator).get(VM)
    assert r.status_code == int(kind)
    assert error_of(r)["code"] == code
    emulator.inject_fault(kind, error_code="Custom", listener="arm")
    assert error_of(Arm(emulator).get(VM))["code"] == "Custom"


def test_fault_on_the_login_listener_has_entra_shape(emulator):
    emulator.inject_fault("503", path_contains="/oauth2/v2.0/token")
    creds = emulator.credentials["soc-responder"]
    r = requests.post(f"{emulator.login_url}/{TENANT}/oauth2/v2.0/token", verify=emulator.ca_bundle, timeout=10,
                      data={"client_id": creds["client_id"], "client_secret": creds["secret"],
                            "grant_type": "client_credentials", "scope": f"{emulator.arm_url}/.default"})
    assert r.status_code == 503
    assert r.json()["error"] == "temporarily_unavailable"
    assert r.json()["error_description"].startswith("AADSTS")


def test_fault_connection_reset(emulator):
    arm = Arm(emulator)
    emulator.inject_fault("reset", path_contains="web-nsg")
    with pytest.raises(requests.exceptions.ConnectionError):
        arm.get(f"{NSG}/web-nsg")
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert [e["status"] for e in emulator.request_log()] == [0, 200]


def test_fault_latency(emulator):
    emulator.inject_fault("latency", delay_seconds=0.2, path_contains="edge-nsg")
    assert Arm(emulator).get(f"{NSG}/edge-nsg").status_code == 200
    assert emulator.request_log()[-1]["duration_ms"] >= 200
    assert emulator.faults() == []


def test_fault_failed_network_operation_rolls_back(fast):
    arm = Arm(fast)
    fast.inject_fault("lro_failed", path_contains="/securityRules/block", error_code="InternalServerError")
    assert arm.get(f"{NSG}/web-nsg/securityRules/block").status_code == 404   # GETs do not consume it
    r = arm.put(f"{NSG}/web-nsg/securityRules/block", {"properties": {
        "protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 150, "sourceAddressPrefix": "1.2.3.4",
        "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}})
    assert r.status_code == 201
    final = arm.wait(r)
    assert final["status"] == "Failed"
    assert final["error"]["code"] == "InternalServerError"
    assert arm.get(f"{NSG}/web-nsg/securityRules/block").status_code == 404
    assert arm.get(f"{NSG}/web-nsg").json()["properties"]["provisioningState"] == "Succeeded"


def test_faults_over_https_and_bad_kinds(emulator):
    r = control(emulator, "POST", "faults", json={"kind": "500", "path_contains": "/subscriptions", "count": 3})
    assert r.status_code == 201
    assert r.json()["count"] == 3
    assert control(emulator, "GET", "faults").json()["value"][0]["kind"] == "500"
    assert control(emulator, "DELETE", "faults").status_code == 204
    assert emulator.faults() == []
    bad = control(emulator, "POST", "faults", json={"kind": "teapot"})
    assert bad.status_code == 400
    assert "unknown fault kind" in bad.json()["error"]["message"]
    with pytest.raises(ValueError, match="count must be at least 1"):
        emulator.inject_fault("429", count=0)


def test_fault_redirect_on_arm_defaults_to_307_with_the_location(emulator):
    arm = Arm(emulator)
    fault = emulator.inject_fault("redirect", method="GET", path_contains="web-nsg",
                                  location="https://elsewhere.example/subscriptions")
    assert (fault["status"], fault["location"]) == (307, "https://elsewhere.example/subscriptions")
    assert arm.get(f"{NSG}/edge-nsg").status_code == 200                   # does not match
    r = arm.session.get(f"{emulator.arm_url}{NSG}/web-nsg", params={"api-version": "2024-05-01"},
                        headers={"Authorization": f"Bearer {arm.token}"}, verify=emulator.ca_bundle, timeout=10,
                        allow_redirects=False)
    assert r.status_code == 307
    assert r.headers["Location"] == "https://elsewhere.example/subscriptions"
    assert r.content == b""
    assert "x-ms-request-id" not in r.headers                               # ARM never saw the request
    assert [e["status"] for e in emulator.request_log()] == [200, 307]
    assert emulator.faults() == []
    assert arm.get(f"{NSG}/web-nsg").status_code == 200


@pytest.mark.parametrize("status", [301, 302, 308])
def test_fault_redirect_on_the_login_listener(emulator, status):
    emulator.inject_fault("redirect", listener="login", path_contains="/oauth2/v2.0/token", status=status,
                          location="/somewhere-else")
    issued = emulator.identity.stats["tokens_issued"]
    creds = emulator.credentials["soc-responder"]
    r = requests.post(f"{emulator.login_url}/{TENANT}/oauth2/v2.0/token", verify=emulator.ca_bundle, timeout=10,
                      allow_redirects=False, data={"client_id": creds["client_id"], "client_secret": creds["secret"],
                                                   "grant_type": "client_credentials",
                                                   "scope": f"{emulator.arm_url}/.default"})
    assert r.status_code == status
    assert r.headers["Location"] == "/somewhere-else"
    assert r.content == b""
    assert emulator.identity.stats["tokens_issued"] == issued             # no token was minted
    assert emulator.request_log()[-1]["status"] == status
    assert client_secret_token(emulator)                                    # the next request is served


def test_fault_redirect_is_followed_by_a_real_client(emulator):
    target = f"{emulator.login_url}/_emulator/info"
    emulator.inject_fault("redirect", listener="arm", path_contains="/_probe", location=target)
    r = requests.get(f"{emulator.arm_url}/_probe", verify=emulator.ca_bundle, timeout=10)
    assert [h.status_code for h in r.history] == [307]
    assert r.url == target
    assert r.status_code == 200
    assert r.json()["login"] == emulator.login_url


def test_fault_redirect_over_https_and_bad_values(emulator):
    r = control(emulator, "POST", "faults", json={"kind": "redirect", "status": 308, "location": "https://x.example/",
                                                  "path_contains": "/subscriptions"})
    assert r.status_code == 201
    assert (r.json()["kind"], r.json()["status"], r.json()["location"]) == ("redirect", 308, "https://x.example/")
    assert control(emulator, "GET", "faults").json()["value"][0]["status"] == 308
    r = requests.get(f"{emulator.arm_url}/subscriptions/{SUB}", verify=emulator.ca_bundle, timeout=10,
                     allow_redirects=False)
    assert r.status_code == 308
    assert r.headers["Location"] == "https://x.example/"
    no_location = control(emulator, "POST", "faults", json={"kind": "redirect"})
    assert no_location.status_code == 400
    assert "needs the location" in no_location.json()["error"]["message"]
    with pytest.raises(ValueError, match=r"redirect status 303 is not one of 301, 302, 307, 308"):
        emulator.inject_fault("redirect", status=303, location="https://x.example/")
    with pytest.raises(ValueError, match=r"redirect status 'soon' is not one of"):
        emulator.inject_fault("redirect", status="soon", location="https://x.example/")
    with pytest.raises(ValueError, match=r"apply to redirect faults only, not to '500'"):
        emulator.inject_fault("500", location="https://x.example/")
    assert emulator.faults() == []


# ---------------------------------------------------------------- tokens and reset
def test_expire_all_tokens(emulator):
    arm = Arm(emulator)
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    emulator.expire_all_tokens()
    r = arm.get(f"{NSG}/web-nsg")
    assert r.status_code == 401
    assert error_of(r)["code"] == "ExpiredAuthenticationToken"
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 200   # a new token works
    other = Arm(emulator)
    assert control(emulator, "POST", "expire-tokens", listener="login").status_code == 200
    assert other.get(f"{NSG}/web-nsg").status_code == 401


def test_reset_restores_state_and_keeps_tokens(emulator):
    arm = Arm(emulator)
    emulator.reset(FAST)
    arm.wait(arm.delete(f"{NSG}/web-nsg/securityRules/allow-https-in"))
    emulator.inject_fault("500")
    emulator.reset()
    assert emulator.faults() == []
    assert emulator.request_log() == []
    assert arm.get(f"{NSG}/web-nsg/securityRules/allow-https-in").status_code == 200   # same token still valid
    r = control(emulator, "POST", "reset", json={"scenario": {"settings": {"page_size": 10}}})
    assert r.status_code == 200
    assert "nextLink" not in Arm(emulator).get(NSG).json()


def test_reset_after_expiry_and_with_another_directory(emulator):
    arm = Arm(emulator)
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    identity = emulator.identity
    emulator.expire_all_tokens()
    assert arm.get(f"{NSG}/web-nsg").status_code == 401
    emulator.reset()   # a reset starts clean: the token is valid again
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    scenario = load_scenario("default")
    scenario["apps"] = [a for a in scenario["apps"] if a["name"] != "soc-reader"]
    emulator.reset(scenario)   # another directory: same service, same signing key, tokens kept
    assert emulator.identity is identity
    assert emulator.arm.identity is identity
    assert "soc-reader" not in emulator.credentials
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    emulator.reset(emulator.initial_scenario)
    assert "soc-reader" in emulator.credentials


def test_load_scenario_over_https(emulator):
    scenario = load_scenario("default")
    scenario["subscriptions"][0]["resource_groups"][0]["network_security_groups"].append(
        {"name": "extra-nsg", "security_rules": []})
    assert control(emulator, "POST", "scenario", json={"scenario": scenario}).status_code == 200
    assert Arm(emulator).get(f"{NSG}/extra-nsg").status_code == 200
    assert control(emulator, "POST", "scenario", json={"scenario": "no-such"}).status_code == 400


def test_scenario_loader_variants(tmp_path):
    default = load_scenario("default")
    assert default["settings"]["page_size"] == 2
    assert default["settings"]["max_rules_per_nsg"] == 1000
    assert load_scenario({"settings": {"lro_seconds": 9}})["settings"]["lro_seconds"] == 9
    assert load_scenario({"settings": {"lro_seconds": 9}})["apps"] == default["apps"]
    path = tmp_path / "mine.yaml"
    path.write_text("settings: {page_size: 5}\ntenants: []\nsubscriptions: []\n")
    assert load_scenario(str(path))["settings"]["page_size"] == 5
    with pytest.raises(FileNotFoundError):
        load_scenario("no-such-scenario")


def test_context_manager_and_dict_scenario():
    with Emulator({"settings": {"page_size": 1}}) as emu:
        page = Arm(emu).get(NSG).json()
        assert len(page["value"]) == 1
        assert "nextLink" in page
        ca = emu.ca_bundle
        assert os.path.exists(ca)
    assert not os.path.exists(ca)


# ---------------------------------------------------------------- standalone
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_standalone_ready_file_and_clean_stop(tmp_path, sig):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "Tests.azure_emulator", "--scenario", "default",
                             "--ready-file", str(ready)], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert set(info) >= {"login", "arm", "ca_bundle", "imds_host", "identity_endpoint", "identity_header",
                             "oproxy_url", "credentials"}
        creds = info["credentials"]["soc-reader"]
        token = requests.post(f"{info['login']}/{TENANT}/oauth2/v2.0/token", verify=info["ca_bundle"], timeout=10,
                              data={"client_id": creds["client_id"], "client_secret": creds["secret"],
                                    "grant_type": "client_credentials",
                                    "scope": "https://management.azure.com/.default"}).json()["access_token"]
        r = requests.get(f"{info['arm']}{NSG}/web-nsg?api-version=2024-05-01", verify=info["ca_bundle"],
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["name"] == "web-nsg"
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
