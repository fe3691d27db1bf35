"""Crash at the n-th write: the count of accepted ARM writes, and holding the n-th one after it was applied and
before its response leaves -- while every other request is served -- until it is released (the response then
goes to whoever is still listening, a dead socket after a SIGKILL) or its hold times out. Python API and the
control surface, with the client in this process and in another one."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest
import requests

from .helpers import CV, NSG, VM, Arm, wait_until
from .test_fault_kinds import RULE
from .test_server import control

CHILD = """
import json, sys, requests
url, token, ca, body = sys.argv[1:5]
r = requests.put(url, params={"api-version": "2024-05-01"}, json=json.loads(body), verify=ca, timeout=60,
                 headers={"Authorization": "Bearer " + token})
print(r.status_code)
"""


def rule_url(name: str) -> str:
    return f"{NSG}/web-nsg/securityRules/{name}"


def in_background(call) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["response"] = call()
        except requests.exceptions.RequestException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def a_command(arm: Arm) -> None:
    """Four writes (rule PUT, rule DELETE, VM power action, NSG tags PATCH) among reads and one refused write."""
    arm.wait(arm.put(rule_url("c1"), RULE))             # (its operation polled: the NSG is free again)
    arm.get(rule_url("c1"))
    arm.put(rule_url("bad name!"), RULE)                 # 400: refused, not a write that landed
    arm.delete(rule_url("allow-ssh-admin"))
    arm.post(f"{VM}/web-02/powerOff", api_version=CV)
    arm.get(f"{NSG}/edge-nsg")
    arm.patch(f"{NSG}/edge-nsg", {"tags": {"x": "1"}})


def test_writes_are_counted_in_order_and_only_when_accepted(fast):
    a_command(Arm(fast))
    writes = fast.writes()
    assert [(w["n"], w["method"], w["path"], w["status"]) for w in writes] == [
        (1, "PUT", rule_url("c1"), 201), (2, "DELETE", rule_url("allow-ssh-admin"), 202),
        (3, "POST", f"{VM}/web-02/powerOff", 202), (4, "PATCH", f"{NSG}/edge-nsg", 200)]
    assert fast.writes(since=2) == writes[2:]
    over_https = control(fast, "GET", "writes", params={"since": 3}).json()
    assert over_https["count"] == 4
    assert [w["n"] for w in over_https["value"]] == [4]
    assert control(fast, "DELETE", "writes").status_code == 204
    assert fast.writes() == []
    assert Arm(fast).put(f"{NSG}/edge-nsg/securityRules/after", RULE).status_code == 201
    assert [w["n"] for w in fast.writes()] == [1]                        # counted from 1 again
    fast.reset()
    assert fast.writes() == []


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_hold_the_nth_write_of_a_command_after_it_was_applied(fast, n):
    """Run once, count the writes, then hold each n: the held one is the n-th of the count, already applied."""
    a_command(Arm(fast))
    expected = fast.writes()[n - 1]
    fast.reset()
    arm = Arm(fast)
    fault = fast.hold_write(n)
    thread, out = in_background(lambda: a_command(arm))
    held = fast.wait_for_hold(timeout=10, fault_id=fault["id"])
    assert (held["method"], held["path"], held["status"], held["state"], held["then"]) == \
        (expected["method"], expected["path"], expected["status"], "held", "send")
    assert len(fast.writes()) == n                                       # nothing after it yet
    assert fast.writes()[-1]["path"] == expected["path"]                 # counted: it was applied
    state = fast.state()["resources"]
    if expected["method"] == "PUT":
        assert rule_url("c1").lower() in state
    elif expected["method"] == "DELETE":
        assert rule_url("allow-ssh-admin").lower() not in state
    elif expected["method"] == "POST":
        assert fast.resource(f"{VM}/web-02")["properties"]["instanceView"]["statuses"][1]["code"] in \
            ("PowerState/stopping", "PowerState/stopped")
    else:
        assert fast.resource(f"{NSG}/edge-nsg")["tags"] == {"x": "1"}
    assert thread.is_alive()                                             # its client still waits for the answer
    assert fast.release_hold(held["id"]) == 1
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert "error" not in out
    assert len(fast.writes()) == 4
    assert [h["state"] for h in fast.holds()] == ["released"]


def test_other_requests_are_served_while_a_write_is_held(fast):
    arm = Arm(fast)
    fast.hold_write(1, path_contains="/securityRules/held")
    thread, out = in_background(lambda: arm.put(rule_url("held"), RULE))
    fast.wait_for_hold(timeout=10)
    other = Arm(fast)
    assert other.get(f"{NSG}/web-nsg").status_code == 200
    assert other.put(f"{NSG}/edge-nsg/securityRules/free", RULE).status_code == 201     # another write, too
    assert other.get(rule_url("held")).status_code == 200                               # the held one is there
    assert len(fast.holds()) == 1
    fast.release_hold()
    thread.join(timeout=10)
    assert out["response"].status_code == 201


def test_a_hold_nobody_releases_times_out_and_the_response_goes_out(fast):
    fast.hold_write(1, timeout_seconds=0.3)
    r = Arm(fast).put(rule_url("late"), RULE)
    assert r.status_code == 201
    [held] = fast.holds()
    assert held["state"] == "expired"
    assert held["ended_at"] - held["held_at"] >= 0.3


def test_refused_writes_do_not_count_towards_n(fast):
    fast.hold_write(1)
    arm = Arm(fast)
    assert arm.put(rule_url("bad name!"), RULE).status_code == 400      # refused: not held
    thread, out = in_background(lambda: arm.put(rule_url("good"), RULE))
    assert fast.wait_for_hold(timeout=10)["path"] == rule_url("good")
    fast.release_hold()
    thread.join(timeout=10)
    assert out["response"].status_code == 201


def test_wait_for_hold_times_out_when_nothing_is_held(fast):
    with pytest.raises(TimeoutError, match="no request was held within 0.1 s"):
        fast.wait_for_hold(timeout=0.1)


def test_crash_a_client_process_at_its_held_write_over_the_control_surface(fast):
    """The integration runs in a subprocess: the test holds its write over HTTPS, SIGKILLs it while held, then
    releases the response into the dead socket; the write stays applied and the emulator carries on."""
    r = control(fast, "POST", "holds", json={"n": 1, "path_contains": "/securityRules/", "timeout_seconds": 30})
    assert r.status_code == 201
    assert (r.json()["kind"], r.json()["nth"], r.json()["method"]) == ("hold", 1, "WRITE")
    token = fast.token()
    child = subprocess.Popen([sys.executable, "-c", CHILD, f"{fast.arm_url}{rule_url('crash')}", token,
                              fast.ca_bundle, json.dumps(RULE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        held = control(fast, "GET", "holds", params={"wait": 20}).json()["value"]
        assert [(h["state"], h["path"], h["status"]) for h in held] == [("held", rule_url("crash"), 201)]
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    released = control(fast, "POST", "holds/release", json={"id": held[0]["id"]})
    assert released.json() == {"released": 1}
    wait_until(lambda: control(fast, "GET", "holds").json()["value"][0]["state"] != "held")
    assert fast.resource(f"{NSG}/web-nsg/securityRules/crash") is not None   # applied before the crash
    assert Arm(fast).get(rule_url("crash")).status_code == 200
    assert control(fast, "DELETE", "holds").status_code == 204
    assert control(fast, "POST", "holds/release", json={}).json() == {"released": 0}


def test_reset_and_stop_end_every_hold(fast):
    fast.hold_write(1, timeout_seconds=30)
    thread, out = in_background(lambda: Arm(fast).put(rule_url("r"), RULE))
    fast.wait_for_hold(timeout=10)
    fast.reset()
    thread.join(timeout=10)
    assert out["response"].status_code == 201
    assert fast.holds() == []
