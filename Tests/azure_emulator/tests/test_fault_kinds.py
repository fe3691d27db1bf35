"""The fault kinds of the reliability matrix (faults.py), each over real HTTPS: ARM 429 codes with their real
wording, Retry-After beyond a retry budget, read timeouts (the request not applied / applied and its response
lost), the token expiring mid-command, Entra ID unreachable; and the matching they share (nth, count, duration,
method aliases) with its control-surface shapes."""
from __future__ import annotations

import threading
import time

import msal
import pytest
import requests

from .helpers import NIC, NSG, RESPONDER_OID, SUB, TENANT, Arm, error_of, wait_until
from .test_server import client_secret_token, control

RULE = {"properties": {"protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 150,
                       "sourceAddressPrefix": "198.51.100.9", "sourcePortRange": "*",
                       "destinationAddressPrefix": "*", "destinationPortRange": "*"}}


def rule_exists(emu, name):
    return emu.resource(f"{NSG}/web-nsg/securityRules/{name}") is not None


# ---------------------------------------------------------------- 429 codes and Retry-After
def test_429_default_is_arms_throttling_answer_with_subscription_and_actor(emulator):
    emulator.inject_fault("429", method="PUT", retry_after=17)
    r = Arm(emulator).put(f"{NSG}/web-nsg/securityRules/x", RULE)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "17"
    assert r.headers["x-ms-failure-cause"] == "gateway"
    error = error_of(r)
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert error["message"] == (
        f"Number of 'write' requests for subscription '{SUB}' actor '{RESPONDER_OID}' exceeded. Please try again "
        f"after '17' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for "
        f"additional information.")
    assert not rule_exists(emulator, "x")


def test_429_retryable_due_to_another_operation_has_the_network_rps_wording(emulator):
    emulator.inject_fault("429", path_contains="/securityRules/", error_code="RetryableErrorDueToAnotherOperation",
                          retry_after=14)
    r = Arm(emulator).put(f"{NSG}/web-nsg/securityRules/x", RULE)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "14"
    error = error_of(r)
    assert error["code"] == "RetryableErrorDueToAnotherOperation"
    assert error["message"].startswith("Operation PutSecurityRuleOperation (")
    assert error["message"].endswith(f") is updating resource {NSG}/web-nsg. The call can be retried in 14 "
                                     f"seconds.")
    assert not rule_exists(emulator, "x")
    emulator.inject_fault("429", path_contains="networkInterfaces", error_code="RetryableErrorDueToAnotherOperation")
    nic = error_of(Arm(emulator).get(f"{NIC}/web-01-nic0"))
    assert nic["message"].startswith("Operation PutNicOperation (")


def test_429_another_operation_in_progress_and_any_other_code(emulator):
    emulator.inject_fault("429", error_code="AnotherOperationInProgress", retry_after=3)
    r = Arm(emulator).get(f"{NSG}/web-nsg")
    error = error_of(r)
    assert (r.status_code, r.headers["Retry-After"], error["code"]) == (429, "3", "AnotherOperationInProgress")
    assert error["message"].startswith("Another operation on this or dependent resource is in progress. To "
                                       f"retrieve status of the operation use uri: {emulator.arm_url}/subscriptions/")
    emulator.inject_fault("429", error_code="TooManyRequests", retry_after=2)
    r = Arm(emulator).get(f"{NSG}/web-nsg")
    assert (error_of(r)["code"], r.headers["Retry-After"]) == ("TooManyRequests", "2")


@pytest.mark.parametrize(("kind", "listener"), [("429", "arm"), ("503", "arm"), ("429", "login"), ("503", "login")])
def test_retry_after_longer_than_any_retry_budget(emulator, kind, listener):
    """An hour's Retry-After, on every matching request of the count, on both listeners."""
    emulator.inject_fault(kind, listener=listener, count=3, retry_after=3600)
    creds = emulator.credentials["soc-responder"]
    for _ in range(3):
        if listener == "arm":
            r = Arm(emulator, token=emulator.token()).get(f"{NSG}/web-nsg")
        else:
            r = requests.post(f"{emulator.login_url}/{TENANT}/oauth2/v2.0/token", verify=emulator.ca_bundle,
                              timeout=10, data={"client_id": creds["client_id"], "client_secret": creds["secret"],
                                                "grant_type": "client_credentials",
                                                "scope": f"{emulator.arm_url}/.default"})
        assert r.status_code == int(kind)
        assert r.headers["Retry-After"] == "3600"
    assert emulator.faults() == []
    assert client_secret_token(emulator)


# ---------------------------------------------------------------- read timeouts
def test_timeout_holds_the_request_unapplied_then_drops_the_connection(emulator):
    arm = Arm(emulator)
    emulator.inject_fault("timeout", method="PUT", path_contains="/securityRules/", delay_seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        arm.put(f"{NSG}/web-nsg/securityRules/slow", RULE, timeout=(5, 0.5))
    [held] = emulator.holds()
    assert (held["kind"], held["method"], held["status"], held["then"], held["state"]) == \
        ("timeout", "PUT", None, "drop", "held")
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 200      # everything else is served meanwhile
    assert not rule_exists(emulator, "slow")                            # the service never saw it
    assert emulator.writes() == []
    assert emulator.release_hold(held["id"]) == 1
    def logged() -> list[int]:
        return [e["status"] for e in emulator.request_log() if e["path"].endswith("/slow")]

    wait_until(logged)
    assert logged() == [0]                                              # no answer was sent
    assert emulator.holds()[0]["state"] == "released"
    assert not rule_exists(emulator, "slow")


def test_timeout_without_a_client_timeout_ends_in_a_dropped_connection(emulator):
    emulator.inject_fault("timeout", path_contains="web-nsg", delay_seconds=0.3)
    with pytest.raises(requests.exceptions.ConnectionError):
        Arm(emulator).get(f"{NSG}/web-nsg")
    assert emulator.holds()[0]["state"] == "expired"
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 200


def test_lost_response_applies_the_write_then_withholds_the_answer(fast):
    arm = Arm(fast)
    fast.inject_fault("lost_response", method="PUT", path_contains="/securityRules/lost", delay_seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        arm.put(f"{NSG}/web-nsg/securityRules/lost", RULE, timeout=(5, 0.5))
    assert rule_exists(fast, "lost")                                    # it landed: the client cannot know
    [held] = fast.holds()
    assert (held["kind"], held["status"], held["then"]) == ("lost_response", 201, "drop")
    assert [(w["method"], w["path"]) for w in fast.writes()] == [("PUT", f"{NSG}/web-nsg/securityRules/lost")]
    fast.release_hold()
    wait_until(lambda: fast.resource(f"{NSG}/web-nsg")["properties"]["provisioningState"] == "Succeeded")
    again = Arm(fast).put(f"{NSG}/web-nsg/securityRules/lost", RULE)
    assert again.status_code == 200                                     # a retry finds it there: 200, not 201


def test_lost_response_seen_by_a_patient_client_is_a_dropped_connection(fast):
    fast.inject_fault("lost_response", method="DELETE", delay_seconds=0.2)
    with pytest.raises(requests.exceptions.ConnectionError):
        Arm(fast).delete(f"{NSG}/web-nsg/securityRules/allow-ssh-admin")
    assert not rule_exists(fast, "allow-ssh-admin")
    assert fast.holds()[0]["state"] == "expired"


def test_timeout_and_lost_response_need_a_delay():
    from Tests.azure_emulator.faults import Faults
    for kind in ("timeout", "lost_response"):
        with pytest.raises(ValueError, match=f"a {kind} fault needs delay_seconds"):
            Faults().inject(kind)


# ---------------------------------------------------------------- the token expiring mid-command
def test_expire_tokens_after_the_nth_matching_request(emulator):
    arm = Arm(emulator, token=client_secret_token(emulator))
    fault = emulator.inject_fault("expire_tokens", method="GET", path_contains="/networkSecurityGroups/", nth=2)
    assert fault["nth"] == 2
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert arm.get(f"{NSG}/edge-nsg").status_code == 200               # the 2nd is served, then tokens expire
    r = arm.get(f"{NSG}/web-nsg")
    assert r.status_code == 401
    assert error_of(r)["code"] == "ExpiredAuthenticationToken"
    assert emulator.faults() == []
    assert Arm(emulator, token=client_secret_token(emulator)).get(f"{NSG}/web-nsg").status_code == 200


# ---------------------------------------------------------------- Entra ID unreachable
def token_request(emu, session=None):
    creds = emu.credentials["soc-responder"]
    return (session or requests).post(
        f"{emu.login_url}/{TENANT}/oauth2/v2.0/token", verify=emu.ca_bundle, timeout=10,
        data={"client_id": creds["client_id"], "client_secret": creds["secret"], "grant_type": "client_credentials",
              "scope": f"{emu.arm_url}/.default"})


def test_unreachable_login_listener_resets_new_and_open_connections(emulator):
    session = requests.Session()
    assert token_request(emulator, session).status_code == 200         # a keep-alive connection is open
    fault = emulator.inject_fault("unreachable", count=None)
    assert (fault["listener"], fault["count"]) == ("login", None)
    for _ in range(3):
        with pytest.raises(requests.exceptions.ConnectionError):
            token_request(emulator)                                     # new connections: reset before TLS
    with pytest.raises(requests.exceptions.ConnectionError):
        token_request(emulator, session)                                # the open one: reset on its request
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 200      # ARM is reachable
    assert control(emulator, "GET", "faults").json()["value"][0]["kind"] == "unreachable"
    emulator.clear_faults()
    assert token_request(emulator).status_code == 200


def test_unreachable_as_msal_sees_it_and_for_a_duration(emulator, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would override MSAL's verify= (requests#3829)
        monkeypatch.delenv(name, raising=False)
    emulator.inject_fault("unreachable", count=None, duration_seconds=0.6)
    creds = emulator.credentials["soc-responder"]
    with pytest.raises(requests.exceptions.ConnectionError):
        msal.ConfidentialClientApplication(
            creds["client_id"], client_credential=creds["secret"], authority=f"{emulator.login_url}/{TENANT}",
            instance_discovery=False, verify=emulator.ca_bundle)
    time.sleep(0.7)
    assert emulator.faults() == []                                      # the fault lasted its duration
    app = msal.ConfidentialClientApplication(
        creds["client_id"], client_credential=creds["secret"], authority=f"{emulator.login_url}/{TENANT}",
        instance_discovery=False, verify=emulator.ca_bundle)
    assert "access_token" in app.acquire_token_for_client([f"{emulator.arm_url}/.default"])


def test_unreachable_takes_a_listener_not_a_path(emulator):
    with pytest.raises(ValueError, match="refuses whole connections"):
        emulator.inject_fault("unreachable", path_contains="/token")
    with pytest.raises(ValueError, match="listener 'entra' is not one of login, arm"):
        emulator.inject_fault("unreachable", listener="entra")


# ---------------------------------------------------------------- matching shared by every kind
def test_nth_count_and_the_write_alias(fast):
    arm = Arm(fast)
    fast.inject_fault("500", method="write", nth=2, count=2)
    assert arm.get(f"{NSG}/web-nsg").status_code == 200                 # not a write
    assert arm.put(f"{NSG}/web-nsg/securityRules/a", RULE).status_code == 201   # 1st write: passes
    assert arm.delete(f"{NSG}/web-nsg/securityRules/a").status_code == 500      # 2nd and 3rd: fail
    assert arm.post(f"{NSG}/web-nsg").status_code == 500
    assert fast.faults() == []
    fast.inject_fault("503", method="PUT,DELETE", count=None)
    assert arm.delete(f"{NSG}/web-nsg/securityRules/a").status_code == 503
    assert arm.put(f"{NSG}/web-nsg/securityRules/b", RULE).status_code == 503
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert fast.faults()[0]["seen"] == 2


def test_a_fault_for_a_duration_ends_by_itself(emulator):
    emulator.inject_fault("500", count=None, duration_seconds=0.3, path_contains="web-nsg")
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 500
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 500
    time.sleep(0.35)
    assert Arm(emulator).get(f"{NSG}/web-nsg").status_code == 200
    assert emulator.faults() == []


def test_new_fault_fields_over_https_and_their_bad_values(emulator):
    r = control(emulator, "POST", "faults", json={"kind": "expire_tokens", "nth": 3, "count": None,
                                                  "duration_seconds": 60, "listener": "arm"})
    assert r.status_code == 201
    record = r.json()
    assert {k: record[k] for k in ("kind", "nth", "count", "duration_seconds", "seen")} == \
        {"kind": "expire_tokens", "nth": 3, "count": None, "duration_seconds": 60.0, "seen": 0}
    assert record["until"] > time.time()
    for body, message in (({"kind": "500", "nth": 0}, "nth must be at least 1"),
                          ({"kind": "500", "count": 0}, "count must be at least 1"),
                          ({"kind": "timeout"}, "a timeout fault needs delay_seconds"),
                          ({"kind": "500", "duration_seconds": -1}, "must not be negative")):
        bad = control(emulator, "POST", "faults", json=body)
        assert bad.status_code == 400
        assert message in bad.json()["error"]["message"]


def test_other_requests_are_served_while_a_timeout_holds_one(emulator):
    emulator.inject_fault("timeout", path_contains="edge-nsg", delay_seconds=30)
    outcome: dict = {}

    def slow() -> None:
        try:
            Arm(emulator).get(f"{NSG}/edge-nsg")
        except requests.exceptions.ConnectionError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    emulator.wait_for_hold(timeout=10)
    assert [Arm(emulator).get(f"{NSG}/web-nsg").status_code for _ in range(5)] == [200] * 5
    emulator.release_hold()
    thread.join(timeout=10)
    assert isinstance(outcome.get("error"), requests.exceptions.ConnectionError)

