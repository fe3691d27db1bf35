"""The emulator core: two HTTPS listeners on loopback (Entra ID "login" and Resource Manager "arm"), a CA made at
start, the request log, dispatch (control surface, injected faults, then the identity or the ARM service). See
`Emulator` for the Python API; faults.py for the fault kinds, control.py for the HTTPS control surface.
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
from .faults import REQUEST_FAULTS, ConnectionReset, Fault, Faults
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
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
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
                     count: int = 1, retry_after: int = 1, delay_seconds: float = 0.0,
                     error_code: str | None = None, listener: str | None = None, status: int | None = None,
                     location: str | None = None) -> dict:
        """Make the next `count` matching requests (method, a substring of path + query, listener) fail: kinds
        429 500 503 reset latency redirect lro_failed (see faults.py). Returns the fault record."""
        return self._faults.inject(kind, method=method, path_contains=path_contains, count=count,
                                   retry_after=retry_after, delay_seconds=delay_seconds, error_code=error_code,
                                   listener=listener, status=status, location=location)

    def faults(self) -> list[dict]:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def expire_all_tokens(self) -> None:
        self.identity.expire_all_tokens()

    def reset(self, scenario: Any = None) -> None:
        """Back to the scenario's initial state (a new scenario when given); log and faults cleared. Tokens
        issued before stay valid (the signing key is kept) unless they were expired with expire_all_tokens."""
        if scenario is not None:
            self._scenario_source = copy.deepcopy(scenario)
        new = load_scenario(self._scenario_source)
        self.scenario = new
        # the same IdentityService (ARM holds it too): new directory and settings, same signing key, issued
        # tokens still valid, earlier expire_all_tokens() forgotten
        self.identity.reset(new, new.get("settings"))
        self.arm.load(new)
        self.clear_faults()
        self.clear_log()

    # ------------------------------------------------------------------ dispatch
    def _take_lro_fault(self, request: Request) -> Fault | None:
        return self._faults.take(request, ("lro_failed",))

    def _dispatch(self, request: Request) -> tuple[Response, bool]:
        """(response, whether to log it). Raises ConnectionReset for an injected connection reset."""
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            return self.control.handle(request), False
        try:
            fault = self._faults.take(request, REQUEST_FAULTS)
            injected = fault.apply(request) if fault is not None else None
            if injected is not None:
                return injected, True
            if request.listener == "login":
                response = self.identity.handle(request)
                if request.client is None:
                    request.client = self._login_client(request)
                if response is None:
                    response = identity_errors.no_endpoint(request.path)
                return response, True
            return self.arm.handle(request), True
        except ConnectionReset:
            raise
        except Exception as exc:  # an emulator bug: answer like a 500 so the client shows it, and print it
            traceback.print_exc()
            return Response(500, {"error": {"code": "InternalServerError",
                                            "message": f"Emulator error: {type(exc).__name__}"}}), True

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
