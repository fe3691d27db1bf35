"""The emulator's own HTTPS surface under /_emulator/ (both listeners), mirroring the Python API:

GET    /_emulator/info                  URLs and CA bundle (no credentials)
GET    /_emulator/log?since=N           {"value": [log entries]}
DELETE /_emulator/log                   clear the request log
GET    /_emulator/state                 {"resources": {...}}
GET    /_emulator/resource?id=ID        one resource as GET returns it (404 if absent)
POST   /_emulator/reset                 {"scenario": name | dict | null}
POST   /_emulator/scenario              {"scenario": name | dict}  (load another scenario)
GET    /_emulator/faults                pending faults
POST   /_emulator/faults                {"kind", "method", "path_contains", "listener", "count", "nth",
                                         "duration_seconds", "retry_after", "delay_seconds", "error_code",
                                         "status", "location"}
                                        (kinds: 429 500 503 reset latency redirect timeout unreachable lro_failed
                                         lost_response hold expire_tokens; see Emulator.inject_fault)
DELETE /_emulator/faults                drop pending faults
POST   /_emulator/expire-tokens         every access token issued so far is expired
GET    /_emulator/writes?since=N        {"count": accepted ARM writes since the reset, "value": [{n, method, path,
                                         status, time}]}
DELETE /_emulator/writes                start counting again
POST   /_emulator/holds                 {"n", "path_contains", "method", "timeout_seconds"}: hold the n-th accepted
                                        ARM write (Emulator.hold_write); 201 with the fault record
GET    /_emulator/holds?wait=S&fault_id=N  {"value": [held requests]}; with wait, first waits up to S seconds
                                        until a request is held (of that fault)
POST   /_emulator/holds/release         {"id": N | null}: end that hold (null: every one); {"released": count}
DELETE /_emulator/holds                 end every hold
GET    /_emulator/latency               the latency profile in force (Emulator.latency)
POST   /_emulator/latency               {"profile", "scale", figures...}; {} or {"profile": null}: off
DELETE /_emulator/latency               off
GET    /_emulator/throttling            ARM's token buckets (Emulator.throttling)
POST   /_emulator/throttling            {"enabled", "reads" | "writes" | "deletes": {"bucket", "refill_per_second"}}
DELETE /_emulator/throttling            every bucket full again
Requests to the control surface are not written to the request log, take no throttling token and get no
network delay.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .http import Request, Response

if TYPE_CHECKING:
    from .server import Emulator


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": {"code": "EmulatorControlError", "message": message}})


class ControlSurface:
    def __init__(self, emulator: Emulator):
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        route = request.path[len("/_emulator"):].strip("/").lower()
        method = request.method
        emu = self.emulator
        try:
            body: Any = request.json() if request.body else {}
        except ValueError:
            return _error(400, "The body must be JSON.")
        body = body or {}
        try:
            if route == "info" and method == "GET":
                info = emu.info()
                info.pop("credentials", None)
                return Response(200, info)
            if route == "log":
                if method == "GET":
                    return Response(200, {"value": emu.request_log(int(request.arg("since", "0") or 0))})
                if method == "DELETE":
                    emu.clear_log()
                    return Response(204)
            if route == "state" and method == "GET":
                return Response(200, emu.state())
            if route == "resource" and method == "GET":
                found = emu.resource(request.arg("id") or "")
                return Response(200, found) if found is not None else _error(404, "No such resource.")
            if route in ("reset", "scenario") and method == "POST":
                scenario = body.get("scenario")
                if route == "scenario" and scenario is None:
                    return _error(400, "Give the scenario to load.")
                emu.reset(scenario)
                return Response(200, {"status": "reset"})
            if route == "faults":
                if method == "GET":
                    return Response(200, {"value": emu.faults()})
                if method == "DELETE":
                    emu.clear_faults()
                    return Response(204)
                if method == "POST":
                    allowed = {"method", "path_contains", "count", "retry_after", "delay_seconds", "error_code",
                               "listener", "status", "location", "nth", "duration_seconds"}
                    fault = emu.inject_fault(str(body.get("kind")), **{k: v for k, v in body.items() if k in allowed})
                    return Response(201, fault)
            if route == "expire-tokens" and method == "POST":
                emu.expire_all_tokens()
                return Response(200, {"status": "expired"})
            answer = self._timing(route, method, body, request) or self._holds(route, method, body, request)
            if answer is not None:
                return answer
        except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
            return _error(400, str(exc))
        return _error(404, f"No control endpoint {method} /_emulator/{route}.")

    def _timing(self, route: str, method: str, body: dict, request: Request) -> Response | None:  # noqa: ARG002
        """latency and throttling."""
        emu = self.emulator
        if route == "latency":
            if method == "GET":
                return Response(200, emu.latency())
            if method == "DELETE":
                return Response(200, emu.set_latency())
            if method == "POST":
                spec = dict(body)
                return Response(200, emu.set_latency(spec.pop("profile", None), scale=spec.pop("scale", 1.0),
                                                      **spec))
        if route == "throttling":
            if method == "GET":
                return Response(200, emu.throttling())
            if method == "DELETE":
                return Response(200, emu.set_throttling())
            if method == "POST":
                return Response(200, emu.set_throttling(**body))
        return None

    def _holds(self, route: str, method: str, body: dict, request: Request) -> Response | None:
        """writes and holds."""
        emu = self.emulator
        if route == "writes":
            if method == "GET":
                return Response(200, {"count": len(emu.writes()),
                                      "value": emu.writes(int(request.arg("since", "0") or 0))})
            if method == "DELETE":
                emu.clear_writes()
                return Response(204)
        if route == "holds":
            if method == "GET":
                wait, fault_id = request.arg("wait"), request.arg("fault_id")
                return Response(200, {"value": emu.holds(min(float(wait or 0), 300.0),
                                                         int(fault_id) if fault_id else None)})
            if method == "POST":
                allowed = {"path_contains", "method", "timeout_seconds"}
                return Response(201, emu.hold_write(int(body.get("n", 1)),
                                                    **{k: v for k, v in body.items() if k in allowed}))
            if method == "DELETE":
                emu.release_hold()
                return Response(204)
        if route == "holds/release" and method == "POST":
            hold_id = body.get("id")
            return Response(200, {"released": emu.release_hold(None if hold_id is None else int(hold_id))})
        return None
