"""Fault injection: matching requests (method, a substring of path + query, listener) fail.

Every fault matches by `method` (one, a comma list, or `write` = PUT, PATCH, POST, DELETE), `path_contains` and
`listener` (login / arm); it acts on the `nth` matching request (default 1: the next one) and on `count` requests
from there (default 1; None: every one until cleared or until `duration_seconds` have passed, when given).

Kinds that act on the request before the service sees it (`REQUEST_FAULTS`):
  429 / 500 / 503  the listener's error -- ARM's body on the ARM listener, Entra's on the login listener;
                   Retry-After: `retry_after` on 429 and 503 (any value: one longer than a client's retry budget
                   too); `error_code` replaces the code, and for the ARM 429 codes of ARM_429_CODES gives their
                   real message (SubscriptionRequestsThrottled, RetryableErrorDueToAnotherOperation,
                   AnotherOperationInProgress)
  reset            the connection is dropped (TCP reset)
  latency          the request waits `delay_seconds`, then is served
  redirect         `status` (301, 302, 307 or 308; default 307) with `Location: location`
  timeout          a read timeout: the request is accepted and never answered -- held `delay_seconds` (more than
                   the client's read timeout), then the connection is dropped; the service never sees it
  unreachable      the listener (default login: Entra ID) resets every connection while the fault lasts, at
                   connect (before TLS) and on open keep-alive connections; no method / path_contains
Kinds that act once the service has answered (`RESPONSE_FAULTS`):
  lost_response    the request IS applied, then its response is withheld `delay_seconds` and the connection
                   dropped: the client cannot know whether it landed
  hold             the nth matching request the service accepted (2xx) -- e.g. method=write, nth=3: the 3rd ARM
                   write -- is held after it was applied (state changed, operation started) and before its
                   response leaves, until released (Emulator.release_hold) or `delay_seconds` (default 60) pass;
                   then the response is sent (to a dead socket if the client was killed meanwhile). Other
                   requests are served meanwhile (each has its own handler thread; no lock is held).
  expire_tokens    once the nth matching request was served, every access token issued so far is expired
and one the ARM service consults when a request starts a long-running operation:
  lro_failed       that operation fails when it finishes (its changes rolled back), with `error_code`.
Held requests (hold, timeout, lost_response) are listed by `Holds` while they wait (Emulator.holds()).
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace

import jwt

from .arm import errors as arm_errors
from .http import PathTemplate, Request, Response
from .identity import errors as identity_errors

FAULT_KINDS = ("429", "500", "503", "reset", "latency", "redirect", "timeout", "unreachable", "lro_failed",
               "lost_response", "hold", "expire_tokens")
REQUEST_FAULTS = ("429", "500", "503", "reset", "latency", "redirect", "timeout", "unreachable")
RESPONSE_FAULTS = ("expire_tokens", "hold", "lost_response")
REDIRECT_STATUSES = (301, 302, 307, 308)
WRITE_METHODS = ("PUT", "PATCH", "POST", "DELETE")
LISTENERS = ("login", "arm")
DEFAULT_HOLD_SECONDS = 60.0
ARM_429_CODES = ("SubscriptionRequestsThrottled", "RetryableErrorDueToAnotherOperation", "AnotherOperationInProgress")


class ConnectionReset(Exception):
    """Raised for a `reset` fault (and a dropped held request): the server drops the connection with a TCP reset."""


def _methods(method: str | None) -> frozenset[str] | None:
    if not method:
        return None
    names = {m.strip().upper() for m in method.split(",") if m.strip()}
    return frozenset(WRITE_METHODS) | (names - {"WRITE"}) if "WRITE" in names else frozenset(names)


@dataclass
class Fault:
    id: int
    kind: str
    method: str | None = None
    path_contains: str | None = None
    count: int | None = 1          # None: every matching request until cleared / duration_seconds
    retry_after: int = 1
    delay_seconds: float = 0.0
    error_code: str | None = None
    listener: str | None = None
    status: int | None = None      # redirect
    location: str | None = None    # redirect
    nth: int = 1                   # the first matching request it acts on
    duration_seconds: float = 0.0  # 0: no time limit
    seen: int = 0                  # matching requests so far
    until: float | None = None     # wall-clock end (duration_seconds), None: none
    _methods: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._methods = _methods(self.method)

    def record(self) -> dict:
        out = asdict(self)
        out.pop("_methods", None)
        return out

    def matches(self, request: Request) -> bool:
        target = request.path + ("?" + request.raw_query if request.raw_query else "")
        return ((self._methods is None or request.method in self._methods)
                and (not self.listener or self.listener == request.listener)
                and (not self.path_contains or self.path_contains.lower() in target.lower()))

    def apply(self, request: Request, holds: Holds) -> Response | None:
        """What a request fault does: the response to send instead of the service's, or None to serve the
        request (latency, after the wait). Raises ConnectionReset for reset, timeout and unreachable."""
        if self.kind == "latency":
            time.sleep(self.delay_seconds)
            return None
        if self.kind in ("reset", "unreachable"):
            raise ConnectionReset()
        if self.kind == "timeout":
            holds.hold(self, request, None, "drop")
            raise ConnectionReset()
        if self.kind == "redirect":  # the same on both listeners
            return Response(self.status or 307, None, {"Location": self.location or ""})
        if request.listener == "login":
            return identity_errors.fault_response(self.kind, self.error_code, self.retry_after)
        if self.kind == "429":
            return _arm_429(request, self.error_code, self.retry_after).response()
        if self.kind == "503":
            return arm_errors.service_unavailable(self.retry_after, self.error_code).response()
        return arm_errors.internal_server_error(self.error_code).response()


# ---------------------------------------------------------------- ARM 429s in their real wording
def _segments(request: Request) -> list[str]:
    raw = (request.raw_path or request.path).split("?", 1)[0].strip("/")
    return [PathTemplate.decode(s) for s in raw.split("/")] if raw else []


def _actor(request: Request) -> str:
    """The object id the bearer token names (not verified: a fault answers before ARM checks the token)."""
    header = request.headers.get("Authorization") or ""
    try:
        claims = jwt.decode(header.partition(" ")[2], options={"verify_signature": False})
    except jwt.PyJWTError:
        return "unknown"
    return str(claims.get("oid") or "unknown")


def _top_resource(segs: list[str]) -> tuple[str, str]:
    """(id of the URL's top-level resource, the Network RP's name of a PUT on it)."""
    low = [s.lower() for s in segs]
    at = low.index("providers") if "providers" in low else len(segs)
    resource = "/" + "/".join(segs[:at + 4])
    names = {"networksecuritygroups": "PutNetworkSecurityGroupOperation", "networkinterfaces": "PutNicOperation"}
    name = names.get(low[at + 2] if len(low) > at + 2 else "", "PutOperation")
    if "securityrules" in low:
        name = "PutSecurityRuleOperation"
    return resource, name


def _arm_429(request: Request, code: str | None, retry_after: int) -> arm_errors.ArmError:
    segs = _segments(request)
    sub = segs[1] if len(segs) > 1 and segs[0].lower() == "subscriptions" else ""
    if code in (None, "SubscriptionRequestsThrottled"):
        kind = "reads" if request.method in ("GET", "HEAD") else "deletes" if request.method == "DELETE" \
            else "writes"
        return arm_errors.requests_throttled(kind, "subscription", sub, _actor(request), retry_after)
    if code == "RetryableErrorDueToAnotherOperation":
        resource, name = _top_resource(segs)
        return arm_errors.retryable_due_to_another_operation(resource, name, str(uuid.uuid4()), retry_after)
    if code == "AnotherOperationInProgress":
        status_url = (f"{request.base_url}/subscriptions/{sub}/providers/Microsoft.Network/locations/eastus/"
                      f"operations/{uuid.uuid4()}?api-version={request.arg('api-version')}")
        return arm_errors.another_operation_in_progress(status_url, retry_after)
    return arm_errors.throttled(retry_after, code)


# ---------------------------------------------------------------- held requests
@dataclass
class Hold:
    """A request held by a hold / timeout / lost_response fault."""

    id: int
    fault_id: int
    kind: str
    listener: str
    method: str
    path: str
    status: int | None      # the withheld response's status; None: the service never saw the request (timeout)
    then: str               # when the hold ends: "send" the response, or "drop" the connection
    timeout_seconds: float
    held_at: float          # wall clock
    state: str = "held"     # held | released (by release_hold) | expired (timeout_seconds passed)
    ended_at: float | None = None


class Holds:
    """The held requests since the last reset. Thread-safe; `hold` blocks the calling handler thread only."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holds: list[Hold] = []
        self._events: dict[int, threading.Event] = {}
        self._seq = 0

    def hold(self, fault: Fault, request: Request, status: int | None, then: str) -> Hold:
        """Hold until released or the fault's delay_seconds pass; returns the finished record."""
        event = threading.Event()
        with self._cond:
            self._seq += 1
            held = Hold(self._seq, fault.id, fault.kind, request.listener, request.method, request.path, status,
                        then, fault.delay_seconds, time.time())
            self._holds.append(held)
            self._events[held.id] = event
            self._cond.notify_all()
        released = event.wait(fault.delay_seconds)
        with self._cond:
            held.state, held.ended_at = ("released" if released else "expired"), time.time()
            self._events.pop(held.id, None)
            self._cond.notify_all()
        return held

    def records(self) -> list[dict]:
        with self._cond:
            return [asdict(h) for h in self._holds]

    def wait_for(self, timeout: float, fault_id: int | None = None) -> dict | None:
        """The first request still held (of fault `fault_id` when given), waiting up to `timeout` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while True:
                for held in self._holds:
                    if held.state == "held" and (fault_id is None or held.fault_id == fault_id):
                        return asdict(held)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def release(self, hold_id: int | None = None) -> int:
        """End one hold (or every one): its response goes out, or its connection is dropped. How many ended."""
        with self._cond:
            events = [e for i, e in self._events.items() if hold_id is None or i == hold_id]
        for event in events:
            event.set()
        return len(events)

    def clear(self) -> None:
        """End every hold and forget the records (a request still finishing updates only its own)."""
        self.release()
        with self._cond:
            self._holds = []


def _redirect_status(status: object) -> int:
    """307 when not given; the status as an int (JSON may carry "308") when it is one of REDIRECT_STATUSES."""
    if status is None:
        return 307
    value = status if isinstance(status, int) and not isinstance(status, bool) else \
        int(status) if isinstance(status, str) and status.strip().isdigit() else None
    if value not in REDIRECT_STATUSES:
        raise ValueError(f"redirect status {status!r} is not one of {', '.join(map(str, REDIRECT_STATUSES))}")
    return value


def _check(kind: str, *, method: str | None, path_contains: str | None, count: int | None, nth: int,
           delay_seconds: float, duration_seconds: float, listener: str | None, retry_after: int) -> None:
    """ValueError naming the bad value, for the values every kind shares and the ones some kinds need."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
    if count is not None and int(count) < 1:
        raise ValueError("count must be at least 1 (or null: every matching request)")
    if int(nth) < 1:
        raise ValueError(f"nth must be at least 1 (1: the next matching request), not {nth!r}")
    if float(delay_seconds) < 0 or float(duration_seconds) < 0 or int(retry_after) < 0:
        raise ValueError("delay_seconds, duration_seconds and retry_after must not be negative")
    if listener is not None and listener not in LISTENERS:
        raise ValueError(f"listener {listener!r} is not one of {', '.join(LISTENERS)}")
    if kind in ("timeout", "lost_response") and float(delay_seconds) <= 0:
        raise ValueError(f"a {kind} fault needs delay_seconds: how long the response is withheld before the "
                         f"connection is dropped (more than the client's read timeout)")
    if kind == "unreachable" and (method or path_contains):
        raise ValueError("an unreachable fault refuses whole connections: it takes a listener, not a method or "
                         "path_contains")


class Faults:
    """The pending faults, in the order they were injected. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self._seq = 0

    def inject(self, kind: str, *, method: str | None = None, path_contains: str | None = None,
               count: int | None = 1, retry_after: int = 1, delay_seconds: float = 0.0,
               error_code: str | None = None, listener: str | None = None, status: int | None = None,
               location: str | None = None, nth: int = 1, duration_seconds: float = 0.0) -> dict:
        """Add a fault (see the module docstring); returns its record. Bad values raise ValueError naming them."""
        kind = str(kind)
        _check(kind, method=method, path_contains=path_contains, count=count, nth=nth, delay_seconds=delay_seconds,
               duration_seconds=duration_seconds, listener=listener, retry_after=retry_after)
        if kind == "redirect":
            if not location:
                raise ValueError("a redirect fault needs the location to redirect to")
            status = _redirect_status(status)
        elif status is not None or location is not None:
            raise ValueError(f"status and location apply to redirect faults only, not to {kind!r}")
        if kind == "unreachable" and listener is None:
            listener = "login"
        if kind == "hold" and not delay_seconds:
            delay_seconds = DEFAULT_HOLD_SECONDS
        with self._lock:
            self._seq += 1
            fault = Fault(self._seq, kind, method.upper() if method else None, path_contains,
                          None if count is None else int(count), int(retry_after), float(delay_seconds), error_code,
                          listener, status, location, int(nth), float(duration_seconds),
                          until=time.time() + float(duration_seconds) if duration_seconds else None)
            self._pending.append(fault)
            return fault.record()

    def take(self, request: Request, kinds: tuple[str, ...], status: int | None = None) -> Fault | None:
        """The first pending fault of one of `kinds` that matches the request and whose turn it is (its nth match
        or later), used up once (a copy). `status`: the service's answer, for the kinds that act after it (hold
        takes only accepted requests: 2xx)."""
        now = time.time()
        with self._lock:
            self._pending = [f for f in self._pending if f.until is None or now < f.until]
            for fault in self._pending:
                if fault.kind not in kinds or not fault.matches(request):
                    continue
                if fault.kind == "hold" and not (status is not None and 200 <= status < 300):
                    continue
                fault.seen += 1
                if fault.seen < fault.nth:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._pending.remove(fault)
                return replace(fault)
        return None

    def refuses(self, listener: str) -> bool:
        """Whether a new connection to `listener` is to be reset (an unreachable fault), used up once."""
        return self.take(Request(method="", path="", listener=listener), ("unreachable",)) is not None

    def pending(self) -> list[dict]:
        now = time.time()
        with self._lock:
            return [f.record() for f in self._pending if f.until is None or now < f.until]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
