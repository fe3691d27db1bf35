"""The emulator core: two HTTPS listeners on loopback (Entra ID "login" and Resource Manager "arm"), a CA made at
start, the request log, dispatch (control surface, the latency profile's network delay, injected faults, then the
identity or the ARM service, then the faults that act on its answer), the count of accepted ARM writes and the
held requests. See `Emulator` for the Python API; faults.py for the fault kinds, latency.py for the latency
profile, arm/throttling.py for ARM's token buckets, control.py for the HTTPS control surface.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import trustme

from .arm import ArmService
from .control import ControlSurface
from .faults import REQUEST_FAULTS, RESPONSE_FAULTS, WRITE_METHODS, ConnectionReset, Fault, Faults, Holds
from .http import Headers, Request, Response
from .identity import IdentityService
from .identity import errors as identity_errors
from .scenario import load_scenario

SENSITIVE_QUERY = {"code", "client_secret", "client_assertion", "refresh_token", "access_token", "assertion",
                   "password", "id_token", "session_state", "client_info"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, context: ssl.SSLContext, emulator: Emulator, listener: str):
        super().__init__(address, _Handler)
        # the TLS handshake runs in the handler thread (first read), never in the accept loop
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.emulator = emulator
        self.listener = listener
        self.base_url = f"https://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address):  # noqa: ARG002 - quiet on client disconnects / bad TLS
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        traceback.print_exc()


def _reset_connection(connection: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a clean FIN: the client sees ECONNRESET."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AzureEmulator/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end after this
    wbufsize = 64 * 1024  # status line, headers and body leave in one write (no Nagle / delayed-ACK stall)
    server: _Server

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        if self.server.emulator._faults.refuses(self.server.listener):  # an unreachable fault: reset at connect
            self.close_connection = True
            _reset_connection(self.connection)
            return
        super().handle()

    def log_message(self, format, *args):  # noqa: A002 - the request log replaces the stderr access log
        return

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        started = time.perf_counter()
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        raw_path, _, raw_query = target.partition("?")
        request = Request(
            method=self.command.upper(), path=unquote(raw_path), raw_path=raw_path,
            query=parse_qs(raw_query, keep_blank_values=True), headers=Headers(dict(self.headers.items())),
            body=self._read_body(), base_url=self.server.base_url, client_address=self.client_address[0],
            raw_query=raw_query, listener=self.server.listener)
        emulator = self.server.emulator
        try:
            response, logged = emulator._dispatch(request)
        except ConnectionReset:
            emulator._log(request, 0, started)
            self.close_connection = True
            _reset_connection(self.connection)
            return
        data, headers = response.encoded()
        if logged:  # before the answer leaves, so a client that got it always finds it in the log
            emulator._log(request, response.status, started)
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not any(k.lower() == "content-length" for k in headers):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command.upper() != "HEAD" and data:
            self.wfile.write(data)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815 - http.server's names


class Emulator:
    """Entra ID + Azure Resource Manager over TLS on 127.0.0.1, loaded from a scenario.

    emu = Emulator(scenario="default")   # a name under scenarios/, a path, or a dict (see scenario.py)
    emu.start(); ...; emu.stop()         # or: with Emulator() as emu: ...
    """

    def __init__(self, scenario: Any = "default", *, port_login: int = 0, port_arm: int = 0):
        self.initial_scenario = copy.deepcopy(scenario)
        self._scenario_source = self.initial_scenario  # never mutated: reset replaces it, load_scenario copies it
        self.scenario = load_scenario(scenario)
        self._ports = {"login": port_login, "arm": port_arm}
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._tmpdir: str | None = None
        self._log_lock = threading.Lock()
        self._log_entries: list[dict] = []
        self._seq = 0
        self._faults = Faults()
        self._holds = Holds()
        self._writes_lock = threading.Lock()
        self._writes: list[dict] = []
        self.login_url = ""
        self.arm_url = ""
        self.ca_bundle = ""
        self.identity = IdentityService(self.scenario, self.scenario.get("settings"), lambda: self.login_url)
        self.arm = ArmService(self.scenario, self.identity, lro_fault=self._take_lro_fault,
                              login_url=lambda: self.login_url)
        self.control = ControlSurface(self)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        if self._servers:
            return self
        self._tmpdir = tempfile.mkdtemp(prefix="azure-emulator-")
        ca = trustme.CA(organization_name="Azure Emulator Test CA")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_bundle = os.path.join(self._tmpdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        cert.configure_cert(context)
        for listener in ("login", "arm"):
            server = _Server(("127.0.0.1", self._ports[listener]), context, self, listener)
            self._servers[listener] = server
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=f"azure-emulator-{listener}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.login_url = self._servers["login"].base_url
        self.arm_url = self._servers["arm"].base_url
        return self

    def stop(self) -> None:
        self._holds.release()  # held requests end now (their responses go out or their connections drop)
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    # ------------------------------------------------------------------ endpoints for clients
    @property
    def imds_host(self) -> str:
        return self.login_url

    @property
    def identity_endpoint(self) -> str:
        return f"{self.login_url}{self.identity.app_service_path}"

    @property
    def identity_header(self) -> str:
        return self.identity.identity_header

    @property
    def oproxy_url(self) -> str:
        return f"{self.login_url}{self.identity.oproxy_path}"

    @property
    def credentials(self) -> dict:
        return self.identity.credentials

    def info(self) -> dict:
        """What the standalone ready file holds."""
        return {"login": self.login_url, "arm": self.arm_url, "ca_bundle": self.ca_bundle,
                "imds_host": self.imds_host, "identity_endpoint": self.identity_endpoint,
                "identity_header": self.identity_header, "oproxy_url": self.oproxy_url,
                "credentials": self.credentials}

    def token(self, principal: str = "soc-responder", *, audience: str | None = None, **kwargs) -> str:
        """An access token for a scenario principal (tests); audience defaults to this ARM listener."""
        return self.identity.mint_access_token(principal, audience or self.arm_url + "/", **kwargs)

    # ------------------------------------------------------------------ control API
    def request_log(self, since: int = 0) -> list[dict]:
        with self._log_lock:
            return [dict(e, query=dict(e["query"])) for e in self._log_entries if e["seq"] > since]

    def clear_log(self) -> None:
        with self._log_lock:
            self._log_entries.clear()

    def state(self) -> dict:
        return self.arm.state()

    def resource(self, resource_id: str) -> dict | None:
        key = "/" + resource_id.strip().strip("/").lower()
        return self.arm.state()["resources"].get(key)

    def inject_fault(self, kind: str, *, method: str | None = None, path_contains: str | None = None,
                     count: int | None = 1, retry_after: int = 1, delay_seconds: float = 0.0,
                     error_code: str | None = None, listener: str | None = None, status: int | None = None,
                     location: str | None = None, nth: int = 1, duration_seconds: float = 0.0) -> dict:
        """Make matching requests (method -- one, a comma list or "write" --, a substring of path + query,
        listener) fail, from the `nth` match on, `count` of them (None: all, for `duration_seconds` when given):
        kinds 429 500 503 reset latency redirect timeout unreachable lro_failed lost_response hold expire_tokens
        (see faults.py). Returns the fault record."""
        return self._faults.inject(kind, method=method, path_contains=path_contains, count=count,
                                   retry_after=retry_after, delay_seconds=delay_seconds, error_code=error_code,
                                   listener=listener, status=status, location=location, nth=nth,
                                   duration_seconds=duration_seconds)

    def faults(self) -> list[dict]:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def expire_all_tokens(self) -> None:
        self.identity.expire_all_tokens()

    # ------------------------------------------------------------------ held requests and the count of writes
    def hold_write(self, n: int = 1, *, path_contains: str | None = None, method: str = "write",
                   timeout_seconds: float = 60.0) -> dict:
        """Hold the n-th ARM write accepted from now on (PUT, PATCH, POST, DELETE answered 2xx: applied, its
        operation started) before its response leaves, until release_hold or `timeout_seconds`; then the
        response is sent. The fault record (its id names the hold in holds() / wait_for_hold)."""
        return self.inject_fault("hold", method=method, path_contains=path_contains, listener="arm", nth=n,
                                 delay_seconds=timeout_seconds)

    def holds(self, wait: float = 0.0, fault_id: int | None = None) -> list[dict]:
        """The requests held since the last reset (hold, timeout, lost_response faults): id, fault_id, kind,
        listener, method, path, status (of the withheld response), then (send / drop), timeout_seconds,
        held_at, state (held / released / expired), ended_at. `wait`: first wait up to that many seconds until
        a request is held (of fault `fault_id`, when given)."""
        if wait:
            self._holds.wait_for(wait, fault_id)
        return self._holds.records()

    def wait_for_hold(self, timeout: float = 30.0, fault_id: int | None = None) -> dict:
        """The first request still held (of that fault, when given), waiting up to `timeout` seconds for one;
        TimeoutError when none came."""
        found = self._holds.wait_for(timeout, fault_id)
        if found is None:
            raise TimeoutError(f"no request was held within {timeout} s")
        return found

    def release_hold(self, hold_id: int | None = None) -> int:
        """End a hold (every hold when no id): the response goes out (hold) or the connection drops (timeout,
        lost_response). Returns how many ended."""
        return self._holds.release(hold_id)

    def writes(self, since: int = 0) -> list[dict]:
        """The ARM writes accepted since the last reset (PUT, PATCH, POST, DELETE answered 2xx -- held and lost
        responses included), numbered from 1 in the order they were answered: {n, method, path, status, time}.
        Run a command once, count them, then hold (crash at) each n in turn."""
        with self._writes_lock:
            return [dict(w) for w in self._writes if w["n"] > since]

    def clear_writes(self) -> None:
        with self._writes_lock:
            self._writes.clear()

    # ------------------------------------------------------------------ latency profile and throttling
    def latency(self) -> dict:
        """The latency profile in force (latency.py): enabled, profile, scale, figures, effective (scaled),
        defaults (the scenario's own timings, where the profile names nothing)."""
        return self.arm.latency_report()

    def set_latency(self, profile: str | None = None, *, scale: float = 1.0, **figures) -> dict:
        """Turn the latency profile on (`profile` "azure" and/or figures, times `scale`) or, with neither, off.
        Until the next reset, which goes back to the scenario's. Returns the report (latency())."""
        spec = {"profile": profile, "scale": scale, **figures} if profile is not None or figures else None
        return self.arm.configure_latency(spec)

    def throttling(self) -> dict:
        """ARM's token buckets (arm/throttling.py): enabled, limits per kind, remaining per bucket."""
        return self.arm.store.limits.report()

    def set_throttling(self, enabled: bool | None = None, **limits) -> dict:
        """Change throttling: `enabled`, and per kind reads / writes / deletes {bucket, refill_per_second};
        every bucket refilled. Until the next reset. Returns the report (throttling())."""
        spec = dict(limits)
        if enabled is not None:
            spec["enabled"] = enabled
        return self.arm.configure_throttling(spec)

    def reset(self, scenario: Any = None) -> None:
        """Back to the scenario's initial state (a new scenario when given); log, faults, holds and the count of
        writes cleared, latency and throttling as the scenario sets them. Tokens issued before stay valid (the
        signing key is kept) unless they were expired with expire_all_tokens."""
        if scenario is not None:
            self._scenario_source = copy.deepcopy(scenario)
        new = load_scenario(self._scenario_source)
        self.scenario = new
        # the same IdentityService (ARM holds it too): new directory and settings, same signing key, issued
        # tokens still valid, earlier expire_all_tokens() forgotten
        self.identity.reset(new, new.get("settings"))
        self.arm.load(new)
        self.clear_faults()
        self._holds.clear()
        self.clear_writes()
        self.clear_log()

    # ------------------------------------------------------------------ dispatch
    def _take_lro_fault(self, request: Request) -> Fault | None:
        return self._faults.take(request, ("lro_failed",))

    def _dispatch(self, request: Request) -> tuple[Response, bool]:
        """(response, whether to log it). Raises ConnectionReset for an injected connection reset or a dropped
        held request."""
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            return self.control.handle(request), False
        try:
            delay = self.arm.latency.network_delay()
            if delay:
                time.sleep(delay)
            fault = self._faults.take(request, REQUEST_FAULTS)
            injected = fault.apply(request, self._holds) if fault is not None else None
            if injected is not None:
                return injected, True
            if request.listener == "login":
                response = self.identity.handle(request)
                if request.client is None:
                    request.client = self._login_client(request)
                if response is None:
                    response = identity_errors.no_endpoint(request.path)
            else:
                response = self.arm.handle(request)
            self._answered(request, response.status)
            return response, True
        except ConnectionReset:
            raise
        except Exception as exc:  # an emulator bug: answer like a 500 so the client shows it, and print it
            traceback.print_exc()
            return Response(500, {"error": {"code": "InternalServerError",
                                            "message": f"Emulator error: {type(exc).__name__}"}}), True

    def _answered(self, request: Request, status: int) -> None:
        """After the service answered: count an accepted ARM write, then the faults that act on the answer
        (expire_tokens, hold, lost_response -- the last raises ConnectionReset once its hold ends)."""
        if request.listener == "arm" and request.method in WRITE_METHODS and 200 <= status < 300:
            with self._writes_lock:
                self._writes.append({"n": len(self._writes) + 1, "method": request.method, "path": request.path,
                                     "status": status, "time": time.time()})
        for kind in RESPONSE_FAULTS:  # at most one of each kind per request, in this order
            fault = self._faults.take(request, (kind,), status)
            if fault is None:
                continue
            if kind == "expire_tokens":
                self.identity.expire_all_tokens()
            elif kind == "hold":
                self._holds.hold(fault, request, status, "send")
            else:
                self._holds.hold(fault, request, status, "drop")
                raise ConnectionReset()

    @staticmethod
    def _login_client(request: Request) -> str | None:
        client = request.arg("client_id")
        if client is None and request.body and "form" in (request.headers.get("Content-Type") or ""):
            try:
                client = request.form().get("client_id")
            except (UnicodeDecodeError, ValueError):
                client = None
        return client

    def _log(self, request: Request, status: int, started: float) -> None:
        query = {k: ("***" if k.lower() in SENSITIVE_QUERY else v[0]) for k, v in request.query.items() if v}
        entry = {"time": time.time(), "listener": request.listener, "method": request.method,
                 "path": request.path, "query": query, "status": status,
                 "duration_ms": round((time.perf_counter() - started) * 1000, 3), "client": request.client}
        with self._log_lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._log_entries.append(entry)


def write_ready_file(path: str, info: dict) -> None:
    """Write `info` as JSON atomically (readers never see half a file)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, path)
