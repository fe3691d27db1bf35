"""The emulator's own HTTPS surface under /_emulator/ (both listeners), mirroring the Python API:

GET    /_emulator/info                  URLs and CA bundle (no credentials)
GET    /_emulator/log?since=N           {"value": [log entries]}
DELETE /_emulator/log                   clear the request log
GET    /_emulator/state                 {"resources": {...}}
GET    /_emulator/resource?id=ID        one resource as GET returns it (404 if absent)
POST   /_emulator/reset                 {"scenario": name | dict | null}
POST   /_emulator/scenario              {"scenario": name | dict}  (load another scenario)
GET    /_emulator/faults                pending faults
POST   /_emulator/faults                {"kind", "method", "path_contains", "listener", "count",
                                         "retry_after", "delay_seconds", "error_code", "status", "location"}
                                        (kinds: 429 500 503 reset latency redirect lro_failed; see
                                         Emulator.inject_fault)
DELETE /_emulator/faults                drop pending faults
POST   /_emulator/expire-tokens         every access token issued so far is expired
Requests to the control surface are not written to the request log.
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
                               "listener", "status", "location"}
                    fault = emu.inject_fault(str(body.get("kind")), **{k: v for k, v in body.items() if k in allowed})
                    return Response(201, fault)
            if route == "expire-tokens" and method == "POST":
                emu.expire_all_tokens()
                return Response(200, {"status": "expired"})
        except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
            return _error(400, str(exc))
        return _error(404, f"No control endpoint {method} /_emulator/{route}.")
