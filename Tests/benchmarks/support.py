"""Helpers of the integration benchmarks (no tests here): the standalone emulator driven over its HTTPS control
surface, request-log counting, generated inputs (IP lists, a scenario with many VMs) and the figures that the
benchmarks' conftest prints as a summary table at the end of the session."""
from __future__ import annotations

import collections
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from Tests.azure_emulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
OIDC_SUFFIX = '/.well-known/openid-configuration'


class StandaloneEmulator:
    """`python -m Tests.azure_emulator --ready-file PATH` in a child process. Offers the attributes that the e2e
    helpers read from an Emulator (login_url, arm_url, ca_bundle, credentials, oproxy_url, imds_host,
    identity_endpoint, identity_header) and the control operations the benchmarks need, over /_emulator/...
    The integration under measurement then shares no interpreter (GIL, heap) with the emulator."""

    def __init__(self, workdir: Path, scenario: str = 'default'):
        self.workdir = Path(workdir)
        self.scenario = scenario
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self._session = requests.Session()

    def start(self, timeout: float = 30) -> StandaloneEmulator:
        ready = self.workdir / 'emulator-ready.json'
        started = time.perf_counter()
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, '-m', 'Tests.azure_emulator', '--scenario', self.scenario, '--ready-file', str(ready)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f'the standalone emulator exited with {self.proc.returncode}')
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError('the standalone emulator did not write its ready file in time')
            time.sleep(0.01)
        self.startup_seconds = time.perf_counter() - started
        info = json.loads(ready.read_text(encoding='utf-8'))
        self.login_url, self.arm_url, self.ca_bundle = info['login'], info['arm'], info['ca_bundle']
        self.imds_host, self.oproxy_url = info['imds_host'], info['oproxy_url']
        self.identity_endpoint, self.identity_header = info['identity_endpoint'], info['identity_header']
        self.credentials = info['credentials']
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._session.close()

    def _control(self, method: str, route: str, **kwargs) -> requests.Response:
        response = self._session.request(method, f'{self.arm_url}/_emulator/{route}', timeout=30,
                                         verify=self.ca_bundle, **kwargs)
        response.raise_for_status()
        return response

    def reset(self, scenario: Any = None) -> None:
        """Back to the scenario's initial state (another one when given: a name or a dict laid over the default);
        the request log is cleared, issued tokens stay valid."""
        self._control('POST', 'reset', json={'scenario': scenario} if scenario is not None else {})

    def request_log(self, since: int = 0) -> list[dict]:
        return self._control('GET', 'log', params={'since': since}).json()['value']


def count_requests(log: list[dict]) -> dict[str, int]:
    """Entra ID (login listener) and ARM requests of a request-log slice: login, oidc (discovery), token, other
    login; ARM read (GET), write (PUT/PATCH/POST/DELETE), poll (GET of an operation status URL)."""
    counts: collections.Counter = collections.Counter()
    for entry in log:
        path = entry['path']
        if '/_emulator' in path:
            continue
        if entry['listener'] == 'login':
            counts['login'] += 1
            if path.endswith(OIDC_SUFFIX):
                counts['oidc'] += 1
            elif path.endswith(('/token', '/obtain-token')):
                counts['token'] += 1
        elif entry['method'] == 'GET' and ('/operations/' in path or '/operationResults/' in path):
            counts['arm_poll'] += 1
        elif entry['method'] == 'GET':
            counts['arm_read'] += 1
        else:
            counts['arm_write'] += 1
    for key in ('login', 'oidc', 'token', 'arm_read', 'arm_write', 'arm_poll'):
        counts.setdefault(key, 0)
    return dict(counts)


def many_ips(count: int, family: str = 'v4') -> list[str]:
    """`count` distinct host addresses: IPv4 from 198.18.0.0/15 (reserved for benchmarking, RFC 2544), IPv6 from
    2001:db8::/32 (documentation)."""
    if family == 'v6':
        return [f'2001:db8:be::{i + 1:x}' for i in range(count)]
    return [f'198.18.{i // 250}.{i % 250 + 1}' for i in range(count)]


def many_vms_scenario(count: int, page_size: int = 50) -> dict:
    """A scenario dict laid over the default: the default resource group plus `count` running VMs `bench-vm-NNN`,
    one NIC each in web-subnet (no NIC NSG), and `page_size` items per ARM list page."""
    subscriptions = copy.deepcopy(load_scenario('default')['subscriptions'])
    group = subscriptions[0]['resource_groups'][0]
    for i in range(count):
        nic = f'bench-vm-{i:03d}-nic0'
        group['network_interfaces'].append(
            {'name': nic, 'subnet': 'soc-vnet/web-subnet', 'private_ip': f'10.0.1.{10 + i % 240}'})
        group['virtual_machines'].append(
            {'name': f'bench-vm-{i:03d}', 'size': 'Standard_B1s', 'power_state': 'running',
             'network_interfaces': [nic]})
    return {'settings': {'page_size': page_size}, 'subscriptions': subscriptions}


def timing_ms(benchmark) -> dict[str, float]:
    """Mean / min / max of a finished pedantic benchmark in ms ({} when benchmarks are disabled)."""
    stats = getattr(getattr(benchmark, 'stats', None), 'stats', None)
    if stats is None:
        return {}
    return {'mean_ms': round(stats.mean * 1000, 1), 'min_ms': round(stats.min * 1000, 1),
            'max_ms': round(stats.max * 1000, 1)}


class Figures:
    """Rows of named sections, printed as one table per section by the conftest at the end of the session."""

    def __init__(self) -> None:
        self.sections: dict[str, list[dict]] = collections.OrderedDict()
        self.notes: dict[str, str] = {}

    def add(self, section: str, row: dict, note: str | None = None) -> None:
        self.sections.setdefault(section, []).append(dict(row))
        if note:
            self.notes[section] = note

    def render(self) -> list[str]:
        lines: list[str] = []
        for section, rows in self.sections.items():
            columns: list[str] = []
            for row in rows:
                columns += [c for c in row if c not in columns]
            cells = [[_cell(row.get(c)) for c in columns] for row in rows]
            widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
            lines.append('')
            lines.append(section)
            if section in self.notes:
                lines.append(f'  ({self.notes[section]})')
            lines.append('  ' + ' | '.join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
            lines.append('  ' + '-+-'.join('-' * w for w in widths))
            for r in cells:
                lines.append('  ' + ' | '.join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True)))
        return lines


def _cell(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:,.1f}'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'{value:,}'
    return str(value)


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(',', '').replace('.', '', 1).lstrip('-').isdigit()


def write_params_file(path: Path, params: dict, env: dict) -> None:
    """An instance params file for `python -m Tests.xsoar_local run ... --params FILE` (`_env` = its environment)."""
    import yaml
    path.write_text(yaml.safe_dump({**params, '_env': env}), encoding='utf-8')
    os.chmod(path, 0o600)
