"""Helpers for the emulator's own tests: a tiny ARM client over HTTPS with the emulator CA and a bearer token."""
from __future__ import annotations

import time

import requests

SUB = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "11111111-2222-3333-4444-555555555555"
RG = "soc-demo-rg"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NET = f"{RG_ID}/providers/Microsoft.Network"
NSG = f"{NET}/networkSecurityGroups"
NIC = f"{NET}/networkInterfaces"
VM = f"{RG_ID}/providers/Microsoft.Compute/virtualMachines"
NV = "2024-05-01"
CV = "2024-07-01"
RESPONDER_OID = "0a0a0a0a-aaaa-bbbb-cccc-000000000001"
READER_OID = "0b0b0b0b-aaaa-bbbb-cccc-000000000002"
READER_ID = "0b0b0b0b-1111-2222-3333-444444444444"
FAST = {"settings": {"lro_seconds": 0.05, "vm_transition_seconds": 0.1}}
# SOC Apps: the application landing zone with app-01 behind the platform team's Network Manager admin rules.
APP_SUB = "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
APP_RG = "soc-app-rg"
APP_NET = f"/subscriptions/{APP_SUB}/resourceGroups/{APP_RG}/providers/Microsoft.Network"
APP_VM = f"/subscriptions/{APP_SUB}/resourceGroups/{APP_RG}/providers/Microsoft.Compute/virtualMachines"
AVNM = f"{APP_NET}/networkManagers/platform-avnm"


class Arm:
    """requests against the emulator's ARM listener as one principal (verify= per call: REQUESTS_CA_BUNDLE in the
    environment would otherwise override a session's verify)."""

    def __init__(self, emu, principal: str | None = "soc-responder", token: str | None = None):
        self.emu = emu
        self.token = token or (emu.token(principal) if principal else None)
        self.session = requests.Session()

    def request(self, method: str, path: str, *, api_version: str | None = NV, params: dict | None = None,
                json=None, headers: dict | None = None, auth: bool = True,
                timeout: float | tuple[float, float] = 30) -> requests.Response:
        query = dict(params or {})
        if api_version is not None:
            query.setdefault("api-version", api_version)
        hdrs = dict(headers or {})
        if auth and self.token:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        url = path if path.startswith("https://") else self.emu.arm_url + path
        return self.session.request(method, url, params=query, json=json, headers=hdrs, verify=self.emu.ca_bundle,
                                    timeout=timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, json=body, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, json=body, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def poll(self, url: str, timeout: float = 15.0) -> dict:
        """Follow an Azure-AsyncOperation URL until the status is terminal; returns the last body."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.get(url, api_version=None)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["status"] != "InProgress":
                return body
            assert r.headers["Retry-After"].isdigit()
            assert time.monotonic() < deadline, "operation did not finish"
            time.sleep(0.05)

    def wait(self, response: requests.Response, timeout: float = 15.0) -> dict:
        return self.poll(response.headers["Azure-AsyncOperation"], timeout)


def wait_until(predicate, timeout: float = 10.0) -> None:
    """Until predicate() is true (polled every 20 ms); fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


