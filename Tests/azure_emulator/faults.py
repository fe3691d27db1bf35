"""Fault injection: the next `count` requests that match (method, a substring of path + query, listener) fail.

Kinds that act on the request itself, before the service sees it (`REQUEST_FAULTS`):
  429 / 500 / 503  the listener's error -- ARM's body on the ARM listener, Entra's on the login listener;
                   Retry-After on 429 and 503; `error_code` replaces the code
  reset            the connection is dropped (TCP reset)
  latency          the request waits `delay_seconds`, then is served
  redirect         `status` (301, 302, 307 or 308; default 307) with `Location: location`
and one the ARM service consults when a request starts a long-running operation:
  lro_failed       that operation fails when it finishes (its changes rolled back), with `error_code`.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from .arm import errors as arm_errors
from .http import Request, Response
from .identity import errors as identity_errors

FAULT_KINDS = ("429", "500", "503", "reset", "latency", "redirect", "lro_failed")
REQUEST_FAULTS = ("429", "500", "503", "reset", "latency", "redirect")
REDIRECT_STATUSES = (301, 302, 307, 308)


class ConnectionReset(Exception):
    """Raised for a `reset` fault: the server drops the connection with a TCP reset."""


@dataclass
class Fault:
    id: int
    kind: str
    method: str | None = None
    path_contains: str | None = None
    count: int = 1
    retry_after: int = 1
    delay_seconds: float = 0.0
    error_code: str | None = None
    listener: str | None = None
    status: int | None = None      # redirect
    location: str | None = None    # redirect

    def matches(self, request: Request) -> bool:
        target = request.path + ("?" + request.raw_query if request.raw_query else "")
        return ((not self.method or self.method == request.method)
                and (not self.listener or self.listener == request.listener)
                and (not self.path_contains or self.path_contains.lower() in target.lower()))

    def apply(self, request: Request) -> Response | None:
        """What a request fault does: the response to send instead of the service's, or None to serve the
        request (latency, after the wait). Raises ConnectionReset for `reset`."""
        if self.kind == "latency":
            time.sleep(self.delay_seconds)
            return None
        if self.kind == "reset":
            raise ConnectionReset()
        if self.kind == "redirect":  # the same on both listeners
            return Response(self.status or 307, None, {"Location": self.location or ""})
        if request.listener == "login":
            return identity_errors.fault_response(self.kind, self.error_code, self.retry_after)
        if self.kind == "429":
            return arm_errors.throttled(self.retry_after, self.error_code).response()
        if self.kind == "503":
            return arm_errors.service_unavailable(self.retry_after, self.error_code).response()
        return arm_errors.internal_server_error(self.error_code).response()


def _redirect_status(status: object) -> int:
    """307 when not given; the status as an int (JSON may carry "308") when it is one of REDIRECT_STATUSES."""
    if status is None:
        return 307
    value = status if isinstance(status, int) and not isinstance(status, bool) else \
        int(status) if isinstance(status, str) and status.strip().isdigit() else None
    if value not in REDIRECT_STATUSES:
        raise ValueError(f"redirect status {status!r} is not one of {', '.join(map(str, REDIRECT_STATUSES))}")
    return value


class Faults:
    """The pending faults, in the order they were injected. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self._seq = 0

    def inject(self, kind: str, *, method: str | None = None, path_contains: str | None = None, count: int = 1,
               retry_after: int = 1, delay_seconds: float = 0.0, error_code: str | None = None,
               listener: str | None = None, status: int | None = None, location: str | None = None) -> dict:
        """Add a fault (see the module docstring); returns its record. Bad values raise ValueError naming them."""
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        if int(count) < 1:
            raise ValueError("count must be at least 1")
        if kind == "redirect":
            if not location:
                raise ValueError("a redirect fault needs the location to redirect to")
            status = _redirect_status(status)
        elif status is not None or location is not None:
            raise ValueError(f"status and location apply to redirect faults only, not to {kind!r}")
        with self._lock:
            self._seq += 1
            fault = Fault(self._seq, kind, method.upper() if method else None, path_contains, int(count),
                          int(retry_after), float(delay_seconds), error_code, listener, status, location)
            self._pending.append(fault)
            return asdict(fault)

    def take(self, request: Request, kinds: tuple[str, ...]) -> Fault | None:
        """The first pending fault of one of `kinds` that matches the request, used up once (a copy)."""
        with self._lock:
            for fault in self._pending:
                if fault.kind in kinds and fault.matches(request):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._pending.remove(fault)
                    return Fault(**asdict(fault))
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
