"""The official SDK (azure-core's retry policy and LRO poller, unmodified) under the latency profile and ARM's
throttling: it waits the Retry-After the emulator answers, so the wire shapes are what azure-core expects."""
from __future__ import annotations

from .helpers import NSG, RG
from .test_sdk import rule, sdk  # noqa: F401 - sdk is the fixture


def test_sdk_retries_an_empty_buckets_429_after_its_retry_after(emulator, sdk):  # noqa: F811
    network, _ = sdk
    emulator.set_throttling(enabled=True, reads={"bucket": 1, "refill_per_second": 2})
    assert network.network_security_groups.get(RG, "web-nsg").name == "web-nsg"
    assert network.network_security_groups.get(RG, "web-nsg").name == "web-nsg"   # throttled once, then served
    statuses = [e["status"] for e in emulator.request_log() if e["path"] == f"{NSG}/web-nsg"]
    assert statuses == [200, 429, 200]


def test_sdk_poller_waits_the_profiles_retry_after(emulator, sdk):  # noqa: F811
    network, _ = sdk
    emulator.set_latency(rule_write_seconds=0.4, retry_after_seconds=1)
    created = network.security_rules.begin_create_or_update(RG, "web-nsg", "sdk-slow", rule(170, "198.51.100.3"))
    assert created.result().provisioning_state == "Succeeded"
    polls = [e["time"] for e in emulator.request_log() if "/operations/" in e["path"]]
    assert len(polls) == 2              # azure-core polls at once, then one Retry-After later the write is done
    assert polls[1] - polls[0] >= 1.0
