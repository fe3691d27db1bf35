"""The latency profile (latency.py): off by default; on, it sets how long each kind of operation runs (by the
resource type and action of its URL, so operations other providers add through Operations.start pick it up),
the Retry-After every 202, poll and busy 429 carries, and a network delay on every ARM and Entra ID request;
scaled, settable at run time, reported back."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

from Tests.azure_emulator.arm import ArmService
from Tests.azure_emulator.arm.models import Resource
from Tests.azure_emulator.arm.router import Call, Route
from Tests.azure_emulator.arm.routes import RG, ROUTES
from Tests.azure_emulator.http import Request, Response
from Tests.azure_emulator.identity import IdentityService
from Tests.azure_emulator.latency import PROFILES, Latency, operation_type
from Tests.azure_emulator.scenario import load_scenario

from .helpers import CV, NIC, NSG, RG_ID, VM, Arm, wait_until
from .test_arm_extension import BASE, call, follow
from .test_fault_kinds import RULE
from .test_server import ROOT, client_secret_token, control


def request(method: str, path: str, **query: str) -> Request:
    return Request(method, path, raw_path=path, query={k: [v] for k, v in query.items()})


# ---------------------------------------------------------------- which figure an operation takes
@pytest.mark.parametrize(("path", "expected"), [
    (f"{NSG}/web-nsg", ("Microsoft.Network/networkSecurityGroups", None)),
    (f"{NSG}/web-nsg/securityRules/r1", ("Microsoft.Network/networkSecurityGroups/securityRules", None)),
    (f"{VM}/web-01/deallocate", ("Microsoft.Compute/virtualMachines", "deallocate")),
    (f"{NIC}/nic0/effectiveNetworkSecurityGroups",
     ("Microsoft.Network/networkInterfaces", "effectiveNetworkSecurityGroups")),
    (f"{RG_ID}/providers/Microsoft.Compute/snapshots/s1", ("Microsoft.Compute/snapshots", None)),
    ("/providers/Microsoft.ResourceGraph/resources", ("Microsoft.ResourceGraph", "resources")),
    (RG_ID, ("", None)),
])
def test_operation_type_from_the_url(path, expected):
    assert operation_type(request("PUT", path)) == expected


def test_off_by_default_every_operation_keeps_its_own_duration():
    latency = Latency(load_scenario("default")["settings"]["latency"])
    assert not latency.enabled
    assert latency.operation_seconds(request("PUT", f"{NSG}/web-nsg/securityRules/r"), 0.3) == 0.3
    assert latency.retry_after(1) == 1
    assert latency.network_delay() == 0.0


def test_the_azure_profile_by_resource_type_and_action():
    latency = Latency({"profile": "azure"})
    seconds = {path: latency.operation_seconds(request("PUT", path), 0.3) for path in (
        f"{NSG}/web-nsg", f"{NSG}/web-nsg/securityRules/r", f"{NIC}/nic0",
        f"{RG_ID}/providers/Microsoft.Compute/snapshots/s1", f"{VM}/web-01/deallocate", f"{VM}/web-01/start",
        f"{NIC}/nic0/effectiveNetworkSecurityGroups", f"{RG_ID}/providers/Microsoft.Compute/disks/d1",
        f"{NIC}/nic0/someAction")}
    assert list(seconds.values()) == [4.0, 5.0, 4.0, 10.0, 45.0, 30.0, 5.0, 0.3, 0.3]   # the last two: not named
    skip = request("POST", f"{VM}/web-01/powerOff", skipShutdown="true")
    assert latency.operation_seconds(skip, 1.0) == 15.0                 # no graceful shutdown: half
    assert latency.operation_seconds(request("POST", f"{VM}/web-01/start"), 0.0) == 0.0    # nothing to do
    assert latency.retry_after(1) == 10
    assert latency.network_delay() == pytest.approx(0.1)


@pytest.mark.parametrize(("scale", "rule", "retry_after"), [(0.1, 0.5, 1), (0.25, 1.25, 3), (0.01, 0.05, 1),
                                                            (2.0, 10.0, 20)])
def test_scale_compresses_every_figure_and_retry_after_stays_whole_seconds(scale, rule, retry_after):
    latency = Latency({"profile": "azure", "scale": scale})
    assert latency.operation_seconds(request("PUT", f"{NSG}/n/securityRules/r"), 0.3) == pytest.approx(rule)
    assert latency.retry_after(1) == retry_after
    assert latency.network_delay() == pytest.approx(0.1 * scale)


def test_figures_given_override_the_profiles_and_tables_merge():
    latency = Latency({"profile": "azure", "rule_write_seconds": 1, "vm_power_seconds": {"start": 2},
                       "operation_seconds": {"Microsoft.Compute/disks": 7}})
    assert latency.figures["rule_write_seconds"] == 1.0
    assert latency.figures["vm_power_seconds"] == {**PROFILES["azure"]["vm_power_seconds"], "start": 2.0}
    assert latency.operation_seconds(request("PUT", f"{RG_ID}/providers/Microsoft.Compute/disks/d"), 0.3) == 7.0
    custom = Latency({"nsg_write_seconds": 2})                          # no profile: only what is named
    assert custom.operation_seconds(request("PUT", f"{NSG}/n"), 0.3) == 2.0
    assert custom.operation_seconds(request("PUT", f"{NSG}/n/securityRules/r"), 0.3) == 0.3
    assert custom.retry_after(1) == 1


@pytest.mark.parametrize(("spec", "message"), [
    ({"profile": "fast"}, "unknown latency profile 'fast'; known: azure"),
    ({"nsg_write": 1}, "unknown latency setting(s) nsg_write"),
    ({"profile": "azure", "scale": 0}, "latency scale must be a number > 0, not 0"),
    ({"rule_write_seconds": -1}, "latency rule_write_seconds must be a number of seconds >= 0, not -1"),
    ({"vm_power_seconds": {"hibernate": 3}}, "unknown action 'hibernate'"),
    ({"operation_seconds": ["x"]}, "latency operation_seconds must be a mapping"),
    ("azure", "latency must be a mapping"),
])
def test_bad_latency_settings_are_refused_naming_the_value(spec, message):
    latency = Latency({"profile": "azure"})
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        latency.configure(spec)
    assert latency.profile == "azure"                                   # unchanged


# ---------------------------------------------------------------- operations of other providers pick it up
@dataclass
class Snapshot(Resource):
    TYPE = "Microsoft.Compute/snapshots"
    PARAM = "snapshotName"


def put_snapshot(call: Call) -> Response:
    snapshot = call.arm.add(Snapshot({"id": call.resource_id(Snapshot), "name": call.name, "type": Snapshot.TYPE,
                                      "location": "eastus", "properties": {}}, call.sub, call.resource_group.name))
    op = call.arm.operations.start(call.request, provider="Microsoft.Compute", kind="put",
                                   name="PutSnapshotOperation", resource=snapshot, seconds=0.01)
    return call.render(snapshot, 201, call.arm.operations.headers(call.request, op, location=False))


@pytest.mark.parametrize(("latency", "status", "retry_after"), [(None, "Succeeded", "1"),
                                                                ({"snapshot_write_seconds": 30}, "InProgress", "1"),
                                                                ({"profile": "azure"}, "InProgress", "10")])
def test_a_snapshot_write_through_operations_start_takes_the_snapshot_figure(latency, status, retry_after):
    scenario = load_scenario({"settings": {"latency": latency}, "role_assignments": [
        {"principal": "soc-responder", "role": "Contributor", "scope": RG_ID}]})
    identity = IdentityService(scenario, scenario["settings"], lambda: BASE)
    # the stand-in row first: the route table now serves real snapshots too (their PUT needs a body, answers 202)
    arm = ArmService(scenario, identity, routes=(
        Route("PUT", f"{RG}/providers/Microsoft.Compute/snapshots/{{snapshotName}}", put_snapshot,
              "Microsoft.Compute/snapshots/write"), *ROUTES))
    r = call(arm, "PUT", f"{RG_ID}/providers/Microsoft.Compute/snapshots/s1", {})
    assert r.status == 201
    assert r.headers["Retry-After"] == retry_after
    time.sleep(0.05)
    polled = follow(arm, r.headers["Azure-AsyncOperation"])
    assert polled.body["status"] == status
    assert polled.headers.get("Retry-After") == (retry_after if status == "InProgress" else None)


# ---------------------------------------------------------------- over HTTPS, set at run time
def test_rule_and_nsg_writes_run_their_figure_with_the_profiles_retry_after(emulator):
    report = emulator.set_latency(rule_write_seconds=0.6, nsg_write_seconds=0.0, retry_after_seconds=3)
    assert (report["enabled"], report["effective"]["rule_write_seconds"], report["effective"]["retry_after_seconds"]) \
        == (True, 0.6, 3)
    arm = Arm(emulator)
    started = time.monotonic()
    r = arm.put(f"{NSG}/web-nsg/securityRules/slow", RULE)
    assert (r.status_code, r.headers["Retry-After"]) == (201, "3")
    poll = arm.get(r.headers["Azure-AsyncOperation"], api_version=None)
    assert (poll.json()["status"], poll.headers["Retry-After"]) == ("InProgress", "3")
    busy = arm.put(f"{NSG}/web-nsg/securityRules/other", RULE)          # the NSG is locked meanwhile
    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "3")
    assert arm.wait(r)["status"] == "Succeeded"
    assert time.monotonic() - started >= 0.6
    nsg = arm.put(f"{NSG}/edge-nsg", {"location": "eastus", "properties": {}})   # nsg_write_seconds 0: at once
    assert arm.get(nsg.headers["Azure-AsyncOperation"], api_version=None).json()["status"] == "Succeeded"


def test_vm_power_actions_take_their_figure(emulator):
    emulator.set_latency(vm_power_seconds={"deallocate": 0.6})
    arm = Arm(emulator)
    r = arm.post(f"{VM}/web-01/deallocate", api_version=CV)
    assert r.status_code == 202

    def power() -> str:
        return emulator.resource(f"{VM}/web-01")["properties"]["instanceView"]["statuses"][1]["code"]

    assert power() == "PowerState/deallocating"
    time.sleep(0.3)
    assert power() == "PowerState/deallocating"                         # longer than the emulator's own 0.3 s
    wait_until(lambda: power() == "PowerState/deallocated")


def test_network_delay_on_arm_and_entra_requests_not_on_the_control_surface(emulator):
    emulator.set_latency(network_delay_seconds=0.5)
    token = client_secret_token(emulator)
    assert Arm(emulator, token=token).get(f"{NSG}/web-nsg").status_code == 200
    login, arm_get = emulator.request_log()
    assert login["listener"] == "login"
    assert login["duration_ms"] >= 500
    assert arm_get["duration_ms"] >= 500
    with requests.Session() as session:
        session.get(f"{emulator.arm_url}/_emulator/info", verify=emulator.ca_bundle, timeout=10)   # warm
        started = time.monotonic()
        session.get(f"{emulator.arm_url}/_emulator/info", verify=emulator.ca_bundle, timeout=10)
        assert time.monotonic() - started < 0.5


def test_the_report_the_reset_and_the_benchmark_scenario(emulator):
    off = emulator.latency()
    assert off == {"enabled": False, "profile": None, "scale": 1.0, "figures": {}, "effective": {},
                   "defaults": {"lro_seconds": 0.3, "vm_transition_seconds": 1.0, "retry_after_seconds": 1}}
    on = emulator.set_latency("azure", scale=0.1)
    assert on["figures"] == PROFILES["azure"]
    assert on["effective"]["vm_power_seconds"]["deallocate"] == 4.5
    assert on["effective"]["retry_after_seconds"] == 1
    assert emulator.scenario["settings"]["latency"] == {"profile": "azure", "scale": 0.1}
    assert emulator.set_latency()["enabled"] is False
    emulator.set_latency("azure")
    emulator.reset()                                                    # back to the scenario's: off
    assert emulator.latency()["enabled"] is False
    emulator.reset("benchmark")
    assert (emulator.latency()["profile"], emulator.latency()["scale"]) == ("azure", 1.0)
    assert emulator.throttling()["enabled"] is True
    r = Arm(emulator).put(f"{NSG}/web-nsg/securityRules/x", RULE)
    assert r.headers["Retry-After"] == "10"


def test_latency_over_https(emulator):
    assert control(emulator, "GET", "latency").json()["enabled"] is False
    r = control(emulator, "POST", "latency", json={"profile": "azure", "scale": 0.5, "nic_write_seconds": 2})
    assert r.status_code == 200
    assert r.json()["effective"]["nic_write_seconds"] == 1.0
    assert emulator.latency()["profile"] == "azure"
    bad = control(emulator, "POST", "latency", json={"profile": "azure", "scale": -1})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "latency scale must be a number > 0, not -1"
    assert emulator.latency()["scale"] == 0.5                           # unchanged
    assert control(emulator, "DELETE", "latency", listener="login").json()["enabled"] is False
    assert control(emulator, "POST", "latency", json={}).json()["enabled"] is False


def test_standalone_flags_turn_on_the_profile_and_throttling_for_good(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "Tests.azure_emulator", "--ready-file", str(ready), "--latency",
                             "azure", "--latency-scale", "0.1", "--throttling"], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = json.loads(ready.read_text())

        def get(route: str) -> dict:
            return requests.get(f"{info['arm']}/_emulator/{route}", verify=info["ca_bundle"], timeout=10).json()

        assert (get("latency")["profile"], get("latency")["scale"], get("throttling")["enabled"]) == ("azure", 0.1, True)
        requests.post(f"{info['arm']}/_emulator/reset", json={}, verify=info["ca_bundle"], timeout=10)
        assert (get("latency")["profile"], get("throttling")["enabled"]) == ("azure", True)   # kept by a reset
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_another_providers_operation_takes_its_operation_seconds(emulator):
    """The NIC effective-rules action (arm/network, through Operations.start) picks up operation_seconds."""
    emulator.set_latency(operation_seconds={"Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups": 30},
                         retry_after_seconds=4)
    started = Arm(emulator).post(f"{NIC}/web-01-nic0/effectiveNetworkSecurityGroups")
    assert (started.status_code, started.headers["Retry-After"]) == (202, "4")
    result = Arm(emulator).get(started.headers["Location"], api_version=None)
    assert (result.status_code, result.headers["Retry-After"]) == (202, "4")   # still running
    emulator.set_latency()
    quick = Arm(emulator).post(f"{NIC}/web-01-nic0/effectiveNetworkSecurityGroups")
    assert Arm(emulator).wait(quick)["status"] == "Succeeded"                   # its own 0.3 s again
