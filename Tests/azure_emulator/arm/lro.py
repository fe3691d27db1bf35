"""Long-running operations as ARM runs them, for every resource provider.

A write that takes time answers at once (201/200 for PUT, 202 for DELETE and POST actions) with an
`Azure-AsyncOperation` status URL (and for DELETE / actions a `Location` result URL) and `Retry-After`; the
operation finishes `seconds` later, when the next request arrives (`Operations.settle`). The status URL answers
{"status": "InProgress" | "Succeeded" | "Failed", ...}; the result URL answers 202 while running, then the
outcome (204 for a delete, the resource for a put, an action's `result` or an empty 200, the error for a failure).

URL shapes differ by provider, as in Azure: Microsoft.Network gives `.../operations/{id}` and
`.../operationResults/{id}`; Microsoft.Compute gives `.../operations/{id}?p=...` and the same URL with
`&monitor=true` as the result URL.

An operation created while an `lro_failed` fault matches the request fails when it finishes: the resources it
changed go back to the snapshot taken before the change. Every operation of every provider is created by
`Operations.start`, so a rule about writes (duration, injected failure) lives in one place: with the latency
profile on (latency.py), its duration is the profile's figure for the request's resource type and action (NSG,
rule, NIC, snapshot writes, VM power actions, ...) instead of the handler's, and Retry-After -- on the initial
answer, on every poll of a running operation and on the Network RP's busy 429s -- is the profile's.
"""
from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..http import Request, Response
from ..latency import Latency
from . import errors as E
from .errors import ArmError

if TYPE_CHECKING:
    from ..faults import Fault
    from .router import Call
    from .store import Resource


def now_iso() -> str:
    """ARM's timestamps: 2024-01-01T00:00:00.0000000Z (seven fractional digits)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


@dataclass
class Operation:
    id: str
    provider: str                  # Microsoft.Network | Microsoft.Compute: the shape of the status URLs
    kind: str                      # put | delete | action: what the result URL answers once done
    name: str                      # what the operation does (PutSecurityRuleOperation, deallocate, ...)
    sub: str
    location: str
    resource_id: str
    start: str
    until: float                   # monotonic time when it finishes
    status: str = "InProgress"
    end: str = ""
    error: ArmError | None = None
    fail_with: ArmError | None = None  # set at start by an injected lro_failed fault
    snapshot: dict[str, Resource | None] | None = None  # lower id -> copy (None: did not exist), for rollback
    result: Any = None             # an action's outcome, answered by the result URL once it succeeded
    on_success: Callable[[], None] | None = None
    on_failure: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        return self.status == "InProgress"


class Operations:
    """The long-running operations of one scenario and the resources they change (lower-cased id -> Resource)."""

    def __init__(self, resources: dict[str, Resource], settings: dict,
                 fault: Callable[[Request], Fault | None] | None = None, latency: Latency | None = None):
        self.resources = resources
        self.settings = settings
        self.fault = fault or (lambda request: None)
        self.latency = latency or Latency()
        self.by_id: dict[str, Operation] = {}

    @property
    def retry_after(self) -> int:
        """Retry-After (seconds) of 202s, polls of running operations and busy 429s: the latency profile's when
        it names one, else settings.retry_after_seconds."""
        return self.latency.retry_after(int(self.settings.get("retry_after_seconds", 1)))

    def get(self, operation_id: str) -> Operation | None:
        return self.by_id.get(operation_id) or self.by_id.get(operation_id.lower())

    def snapshot(self, *ids: str) -> dict[str, Resource | None]:
        """Copies of these resources as they are now, to restore if the operation fails."""
        return {i.lower(): copy.deepcopy(self.resources.get(i.lower())) for i in ids}

    def start(self, request: Request, *, provider: str, kind: str, name: str, resource: Resource, seconds: float,
              snapshot: dict[str, Resource | None] | None = None) -> Operation:
        """A new operation of `seconds` (or the latency profile's figure for the request, latency.py)."""
        fault = self.fault(request)
        seconds = self.latency.operation_seconds(request, seconds)
        op = Operation(id=str(uuid.uuid4()), provider=provider, kind=kind, name=name, sub=resource.sub,
                       location=resource.location, resource_id=resource.id, start=now_iso(),
                       until=time.monotonic() + max(0.0, seconds), snapshot=snapshot)
        if fault is not None:
            op.fail_with = E.operation_failed(fault.error_code)
        self.by_id[op.id] = op
        return op

    def start_locked(self, request: Request, resource: Resource, *, provider: str, kind: str, name: str,
                     seconds: float, snapshot: dict[str, Resource | None], removes: bool = False) -> Operation:
        """A write that locks `resource` until it finishes (Network RP style: another write meanwhile gets 429,
        see Resource.check_not_busy). `removes`: the resource is deleted when the operation succeeds."""
        op = self.start(request, provider=provider, kind=kind, name=name, resource=resource, seconds=seconds,
                        snapshot=snapshot)
        resource.busy_until, resource.busy_op, resource.busy_name = op.until, op.id, name
        if removes:
            resource.deleting = True
            key = resource.id.lower()

            def remove() -> None:
                self.resources.pop(key, None)

            op.on_success = remove
        return op

    def finish(self, op: Operation) -> None:
        op.end = now_iso()
        if op.fail_with:
            op.status = "Failed"
            op.error = op.fail_with
            if op.snapshot is not None:
                for key, old in op.snapshot.items():
                    if old is None:
                        self.resources.pop(key, None)
                    else:
                        self.resources[key] = old
            if op.on_failure:
                op.on_failure()
        else:
            op.status = "Succeeded"
            if op.on_success:
                op.on_success()

    def preempt(self, op: Operation) -> None:
        """A newer operation on the same resource took over (VM power actions): this one fails as it stands."""
        if op.running:
            op.status, op.end, op.error = "Failed", now_iso(), E.operation_preempted()

    def settle(self) -> None:
        """Finish every operation whose time has come (success, or the injected failure)."""
        now = time.monotonic()
        for op in list(self.by_id.values()):
            if op.running and now >= op.until:
                self.finish(op)

    # ------------------------------------------------------------------ what the client is told
    def urls(self, request: Request, op: Operation) -> tuple[str, str]:
        """(status URL, result URL) of `op`, on the listener that received `request`."""
        version = request.arg("api-version")
        base = f"{request.base_url}/subscriptions/{op.sub}/providers/{op.provider}/locations/{op.location}"
        if op.provider == "Microsoft.Compute":
            status = f"{base}/operations/{op.id}?p={uuid.uuid5(uuid.NAMESPACE_OID, op.id)}&api-version={version}"
            return status, status + "&monitor=true"
        return (f"{base}/operations/{op.id}?api-version={version}",
                f"{base}/operationResults/{op.id}?api-version={version}")

    def headers(self, request: Request, op: Operation, *, location: bool) -> dict[str, str]:
        """Azure-AsyncOperation and Retry-After, plus Location (the result URL) when `location`."""
        status_url, result_url = self.urls(request, op)
        headers = {"Azure-AsyncOperation": status_url, "Retry-After": str(self.retry_after)}
        if location:
            headers["Location"] = result_url
        return headers


# ---------------------------------------------------------------- the status and result endpoints
def _operation(call: Call) -> Operation:
    op_id = call.params["operationId"]
    op = call.arm.operations.get(op_id)
    if op is None or op.provider.lower() != call.params["namespace"].lower():
        raise E.operation_not_found(op_id)
    return op


def get_operation_status(call: Call) -> Response:
    """GET .../locations/{location}/operations/{operationId}; with monitor=true (Compute's Location URL) it answers
    as the result URL does."""
    if (call.request.arg("monitor") or "").lower() == "true":
        return get_operation_result(call)
    op = _operation(call)
    operations = call.arm.operations
    body: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": op.start}
    if op.provider == "Microsoft.Network":
        body["id"] = f"/subscriptions/{op.sub}/providers/Microsoft.Network/locations/{op.location}/operations/{op.id}"
    if op.end:
        body["endTime"] = op.end
    if op.error:
        body["error"] = op.error.operation_error()
    return Response(200, body, {"Retry-After": str(operations.retry_after)} if op.running else {})


def get_operation_result(call: Call) -> Response:
    """GET .../locations/{location}/operationResults/{operationId} (the Location protocol)."""
    op = _operation(call)
    request = call.request
    if op.running:
        location = request.base_url + request.raw_path + (f"?{request.raw_query}" if request.raw_query else "")
        return Response(202, None, {"Location": location, "Retry-After": str(call.arm.operations.retry_after)})
    if op.error is not None:
        return Response(op.error.status, {"error": op.error.operation_error()})
    if op.result is not None:
        return Response(200, op.result)
    if op.kind == "delete":
        return Response(204)
    if op.kind == "put":
        resource = call.arm.resources.get(op.resource_id.lower())
        if resource is not None:
            return Response(200, resource.render(call.arm))
    return Response(200)
