"""ARM's request throttling as Azure runs it since 2024: a token bucket per subscription (or tenant, for requests
without a subscription in their URL), per principal and per kind of request. Each request takes a token; the
bucket refills at a fixed rate up to its size; an empty bucket answers 429 SubscriptionRequestsThrottled with
Retry-After (the seconds until a token is back). Defaults (Microsoft, "Understand how Azure Resource Manager
throttles requests" and the 2024 announcement "Modernizing Azure Resource Manager Throttling"):

  reads    (GET, HEAD)             bucket 250, refill 25 per second
  writes   (PUT, PATCH, POST)      bucket 200, refill 10 per second
  deletes  (DELETE)                bucket 200, refill 10 per second

Every authenticated ARM response carries the remaining tokens of its bucket, as ARM does:
x-ms-ratelimit-remaining-subscription-reads / -writes / -deletes (tenant-level requests: -tenant-reads / -writes,
and -tenant-deletes [unverified: the docs name no tenant delete header]). Tenant-level POSTs (Resource Graph
queries) draw from the tenant's writes bucket [unverified; Resource Graph has its own quota besides].
Not modelled: the per-region split (the emulator is one region), the subscription-wide bucket of all principals
together (15 times the per-principal one) and resource providers' own limits.

Settings (`throttling:`): `enabled` (default false: the buckets count and the headers count down, but an empty
bucket lets the request through -- the emulator's own benchmark sends hundreds of reads a second by design),
and per kind `{bucket, refill_per_second}`. Settable at run time: Emulator.set_throttling, POST
/_emulator/throttling; reported by Emulator.throttling(), GET /_emulator/throttling.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

KINDS = ("reads", "writes", "deletes")
DEFAULT_LIMITS = {"reads": (250.0, 25.0), "writes": (200.0, 10.0), "deletes": (200.0, 10.0)}


def kind_of(method: str) -> str:
    """The bucket a request draws from, by its HTTP method (ARM counts POST actions as writes)."""
    method = method.upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


@dataclass
class Bucket:
    size: float
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


def _limit(kind: str, value: Any, current: tuple[float, float]) -> tuple[float, float]:
    if not isinstance(value, dict) or set(value) - {"bucket", "refill_per_second"}:
        raise ValueError(f"throttling {kind} must be a mapping with bucket and refill_per_second, not {value!r}")
    size, rate = value.get("bucket", current[0]), value.get("refill_per_second", current[1])
    for name, number in (("bucket", size), ("refill_per_second", rate)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:
            raise ValueError(f"throttling {kind}.{name} must be a number > 0, not {number!r}")
    return float(size), float(rate)


class RateLimits:
    """The token buckets of one scenario, keyed (scope, scope id, principal, kind). Thread-safe."""

    def __init__(self, spec: Any = None, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.enabled = False
        self.limits: dict[str, tuple[float, float]] = dict(DEFAULT_LIMITS)
        self._buckets: dict[tuple[str, str, str, str], Bucket] = {}
        self.configure(spec or {})

    def configure(self, spec: Any) -> None:
        """Apply `spec` ({enabled, reads, writes, deletes}; what it leaves out stays as it is) and refill every
        bucket. Bad values raise ValueError naming them, and change nothing."""
        if not isinstance(spec, dict):
            raise ValueError(f"throttling must be a mapping (enabled, reads, writes, deletes), not {spec!r}")
        unknown = sorted(set(spec) - {"enabled", *KINDS})
        if unknown:
            raise ValueError(f"unknown throttling setting(s) {', '.join(unknown)}; known: enabled, "
                             f"{', '.join(KINDS)}")
        enabled = spec.get("enabled", self.enabled)
        if not isinstance(enabled, bool):
            raise ValueError(f"throttling enabled must be true or false, not {enabled!r}")
        limits = {kind: _limit(kind, spec[kind], self.limits[kind]) if kind in spec else self.limits[kind]
                  for kind in KINDS}
        with self._lock:
            self.enabled, self.limits = enabled, limits
            self._buckets.clear()

    def refill(self) -> None:
        """Every bucket full again (the configuration kept)."""
        with self._lock:
            self._buckets.clear()

    def take(self, scope: str, scope_id: str, principal: str, kind: str) -> tuple[int, int | None]:
        """Take a token: (remaining tokens, None), or (0, Retry-After seconds) when the bucket is empty and
        throttling is enabled. With throttling off an empty bucket stays at 0 and the request goes through."""
        now = self._clock()
        key = (scope, scope_id.lower(), principal.lower(), kind)
        with self._lock:
            size, rate = self.limits[kind]
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(size, rate, size, now)
            bucket.refill(now)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return int(bucket.tokens), None
            if not self.enabled:
                return 0, None
            return 0, max(1, math.ceil((1 - bucket.tokens) / rate))

    def report(self) -> dict:
        now = self._clock()
        with self._lock:
            buckets = []
            for (scope, scope_id, principal, kind), bucket in sorted(self._buckets.items()):
                bucket.refill(now)
                buckets.append({"scope": scope, "id": scope_id, "principal": principal, "kind": kind,
                                "remaining": int(bucket.tokens)})
            return {"enabled": self.enabled,
                    "limits": {k: {"bucket": s, "refill_per_second": r} for k, (s, r) in self.limits.items()},
                    "buckets": buckets}
