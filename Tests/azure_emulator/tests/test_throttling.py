"""ARM's token-bucket throttling (arm/throttling.py): every authenticated ARM answer carries the remaining tokens
of its bucket (per subscription or tenant, principal and kind); with throttling on an empty bucket answers 429
SubscriptionRequestsThrottled with ARM's message and Retry-After, and refills at its rate. Off by default."""
from __future__ import annotations

import time

import pytest

from Tests.azure_emulator.arm.throttling import RateLimits, kind_of

from .helpers import CV, NSG, READER_OID, RESPONDER_OID, SUB, VM, Arm, error_of
from .test_fault_kinds import RULE
from .test_server import control

HEADER = "x-ms-ratelimit-remaining-subscription-"
APPS_SUB = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"   # the default scenario's second subscription, SOC Apps


def rule(priority: int) -> dict:
    return {"properties": {**RULE["properties"], "priority": priority}}


def test_defaults_are_arms_and_off(emulator):
    assert emulator.throttling() == {"enabled": False, "buckets": [], "limits": {
        "reads": {"bucket": 250.0, "refill_per_second": 25.0},
        "writes": {"bucket": 200.0, "refill_per_second": 10.0},
        "deletes": {"bucket": 200.0, "refill_per_second": 10.0}}}


@pytest.mark.parametrize(("method", "kind"), [("GET", "reads"), ("HEAD", "reads"), ("PUT", "writes"),
                                              ("PATCH", "writes"), ("POST", "writes"), ("DELETE", "deletes")])
def test_kind_of_a_request(method, kind):
    assert kind_of(method) == kind


def test_headers_count_down_per_kind_and_principal(fast):
    arm = Arm(fast)
    reads = [int(arm.get(f"{NSG}/web-nsg").headers[f"{HEADER}reads"]) for _ in range(3)]
    assert reads[1:] == [reads[0] - 1, reads[0] - 2]                    # refill (25/s) is slower than this
    assert reads[0] >= 248
    put = arm.put(f"{NSG}/edge-nsg/securityRules/a", RULE)
    assert put.headers[f"{HEADER}writes"] == "199"
    assert f"{HEADER}reads" not in put.headers
    arm.wait(put)
    delete = arm.delete(f"{NSG}/edge-nsg/securityRules/a")
    assert delete.headers[f"{HEADER}deletes"] == "199"
    assert arm.post(f"{VM}/web-02/restart", api_version=CV).headers[f"{HEADER}writes"] == "198"
    assert Arm(fast, "soc-reader").get(f"{NSG}/web-nsg").headers[f"{HEADER}reads"] == "249"   # its own bucket
    tenant = arm.get("/subscriptions", api_version="2022-12-01")
    assert tenant.headers["x-ms-ratelimit-remaining-tenant-reads"] == "249"
    buckets = {(b["scope"], b["principal"], b["kind"]): b["remaining"] for b in fast.throttling()["buckets"]}
    assert buckets[("subscription", RESPONDER_OID, "writes")] == 198
    assert buckets[("subscription", READER_OID, "reads")] >= 249
    assert Arm(fast, principal=None).get(f"{NSG}/web-nsg").status_code == 401   # no principal, no bucket:
    assert len(fast.throttling()["buckets"]) == len(buckets)


def test_an_empty_bucket_answers_429_with_arms_message_and_retry_after(fast):
    fast.reset({"settings": {"lro_seconds": 0}})                        # no NSG stays busy between the writes
    fast.set_throttling(enabled=True, writes={"bucket": 3, "refill_per_second": 0.5})
    arm = Arm(fast)
    remaining = [arm.put(f"{NSG}/edge-nsg/securityRules/r{i}", rule(150 + i)) for i in range(3)]
    assert [(r.status_code, r.headers[f"{HEADER}writes"]) for r in remaining] == [(201, "2"), (201, "1"),
                                                                                   (201, "0")]
    throttled = arm.put(f"{NSG}/web-nsg/securityRules/r3", RULE)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"                      # a token back in 1 / 0.5 s
    assert throttled.headers[f"{HEADER}writes"] == "0"
    assert throttled.headers["x-ms-failure-cause"] == "gateway"
    error = error_of(throttled)
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert error["message"] == (
        f"Number of 'write' requests for subscription '{SUB}' actor '{RESPONDER_OID}' exceeded. Please try again "
        f"after '2' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for "
        f"additional information.")
    assert fast.resource(f"{NSG}/web-nsg/securityRules/r3") is None     # refused: nothing written
    assert fast.writes()[-1]["path"].endswith("/r2")                    # and not counted as a write
    assert arm.get(f"{NSG}/web-nsg").status_code == 200                 # reads have their own bucket
    assert Arm(fast, "soc-reader").put(f"{NSG}/web-nsg/securityRules/r3", RULE).status_code == 403  # own bucket


def test_the_bucket_refills_at_its_rate(fast):
    fast.set_throttling(enabled=True, reads={"bucket": 2, "refill_per_second": 5})
    arm = Arm(fast)
    assert [arm.get(f"{NSG}/web-nsg").status_code for _ in range(3)] == [200, 200, 429]
    throttled = arm.get(f"{NSG}/web-nsg")
    assert throttled.headers["Retry-After"] == "1"
    assert "'read' requests" in error_of(throttled)["message"]
    time.sleep(0.25)                                                    # 1 token back after 0.2 s
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert arm.get(f"{NSG}/web-nsg").status_code == 429


def test_off_the_bucket_still_counts_but_lets_requests_through(fast):
    fast.set_throttling(reads={"bucket": 1, "refill_per_second": 0.01})
    arm = Arm(fast)
    answers = [arm.get(f"{NSG}/web-nsg") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers[f"{HEADER}reads"] for r in answers] == ["0", "0", "0"]


def test_rate_limits_unit_clock_and_bad_settings():
    now = [0.0]
    limits = RateLimits({"enabled": True, "deletes": {"bucket": 1, "refill_per_second": 2}}, clock=lambda: now[0])
    assert limits.take("subscription", SUB, RESPONDER_OID, "deletes") == (0, None)
    assert limits.take("subscription", SUB, RESPONDER_OID, "deletes") == (0, 1)
    assert limits.take("subscription", SUB.upper(), RESPONDER_OID.upper(), "deletes") == (0, 1)   # ids any case
    now[0] = 0.5
    assert limits.take("subscription", SUB, RESPONDER_OID, "deletes") == (0, None)
    assert limits.take("tenant", "t", RESPONDER_OID, "deletes") == (0, None)   # another scope, another bucket
    for spec, message in (({"enabled": "yes"}, "throttling enabled must be true or false, not 'yes'"),
                          ({"writes": {"bucket": 0}}, "throttling writes.bucket must be a number > 0, not 0"),
                          ({"reads": {"size": 5}}, "throttling reads must be a mapping with bucket and refill"),
                          ({"burst": 1}, "unknown throttling setting(s) burst")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            limits.configure(spec)
    assert limits.enabled is True


def test_throttling_over_https_and_reset(emulator):
    r = control(emulator, "POST", "throttling", json={"enabled": True, "writes": {"bucket": 1}})
    assert r.status_code == 200
    assert r.json()["limits"]["writes"] == {"bucket": 1.0, "refill_per_second": 10.0}
    arm = Arm(emulator)
    assert arm.put(f"{NSG}/edge-nsg/securityRules/one", RULE).status_code == 201
    assert arm.put(f"{NSG}/web-nsg/securityRules/two", RULE).status_code == 429
    [bucket] = [b for b in control(emulator, "GET", "throttling").json()["buckets"] if b["kind"] == "writes"]
    assert (bucket["scope"], bucket["id"], bucket["principal"]) == ("subscription", SUB, RESPONDER_OID)
    assert control(emulator, "DELETE", "throttling").json()["buckets"] == []   # every bucket full again
    bad = control(emulator, "POST", "throttling", json={"enabled": 1})
    assert bad.status_code == 400
    assert "throttling enabled must be true or false" in bad.json()["error"]["message"]
    emulator.reset()
    assert emulator.throttling()["enabled"] is False
    assert emulator.throttling()["limits"]["writes"]["bucket"] == 200.0


def test_each_subscription_has_its_own_buckets(emulator):
    emulator.set_throttling(enabled=True, reads={"bucket": 1, "refill_per_second": 0.01})
    arm = Arm(emulator)
    assert arm.get(f"{NSG}/web-nsg").status_code == 200
    assert arm.get(f"{NSG}/web-nsg").status_code == 429                 # SOC Demo's reads bucket is empty
    apps = arm.get(f"/subscriptions/{APPS_SUB}/resourceGroups/soc-app-rg", api_version="2021-04-01")
    assert apps.status_code == 200                                      # SOC Apps' is full
    assert apps.headers[f"{HEADER}reads"] == "0"
    throttled = arm.get(f"/subscriptions/{APPS_SUB}", api_version="2022-12-01")
    assert f"for subscription '{APPS_SUB}'" in error_of(throttled)["message"]
