"""Helpers of the integration benchmarks (no tests here): the standalone emulator driven over its HTTPS control
surface, request-log counting and long-running-operation analysis, generated inputs (IP lists, a scenario with
many VMs, the Azure-like scenario with multi-NIC VMs). The figures, targets and charts are in report.py."""
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
from Tests.e2e.test_parallel_nics import add_multi_nic_vm

ROOT = Path(__file__).resolve().parents[2]
OIDC_SUFFIX = '/.well-known/openid-configuration'


class StandaloneEmulator:
    """`python -m Tests.azure_emulator --ready-file PATH` in a child process. Offers the attributes that the e2e
    helpers read from an Emulator (login_url, arm_url, ca_bundle, credentials, oproxy_url, imds_host,
    identity_endpoint, identity_header) and the control operations the benchmarks need, over /_emulator/...
    The integration under measurement then shares no interpreter (GIL, heap) with the emulator."""

    def __init__(self, workdir: Path, scenario: str = 'default', extra_args: tuple[str, ...] = ()):
        self.workdir = Path(workdir)
        self.scenario = scenario
        self.extra_args = tuple(extra_args)   # e.g. ('--latency', 'azure', '--latency-scale', '0.1')
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None
        self._session = requests.Session()

    def start(self, timeout: float = 30) -> StandaloneEmulator:
        ready = self.workdir / 'emulator-ready.json'
        started = time.perf_counter()
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, '-m', 'Tests.azure_emulator', '--scenario', self.scenario, '--ready-file', str(ready),
             *self.extra_args],
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

    def state(self) -> dict:
        return self._control('GET', 'state').json()

    def resource(self, resource_id: str) -> dict | None:
        """One resource as GET returns it, or None (what Tests.e2e.support's nsg_rules / pack_rules read)."""
        response = self._session.get(f'{self.arm_url}/_emulator/resource', params={'id': resource_id}, timeout=30,
                                     verify=self.ca_bundle)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def latency(self) -> dict:
        """The latency profile in force: enabled, profile, scale, figures, effective (scaled), defaults."""
        return self._control('GET', 'latency').json()

    def throttling(self) -> dict:
        """ARM's token buckets: enabled, the limits per kind, the remaining tokens per bucket."""
        return self._control('GET', 'throttling').json()

    def writes(self, since: int = 0) -> list[dict]:
        """The ARM writes accepted (2xx) since the last reset: [{n, method, path, status, time}]."""
        return self._control('GET', 'writes', params={'since': since}).json()['value']

    def inject_fault(self, kind: str, **spec: Any) -> dict:
        return self._control('POST', 'faults', json={'kind': kind, **spec}).json()


VERIFICATION_POSTS = ('/effectiveNetworkSecurityGroups', '/listNetworkManagerEffectiveSecurityAdminRules')


def count_requests(log: list[dict]) -> dict[str, int]:
    """Entra ID (login listener) and ARM requests of a request-log slice: login, oidc (discovery), token, other
    login; ARM read (GET), write (PUT/PATCH/POST/DELETE), poll (GET of an operation status URL), verify (the
    read-only POSTs of the isolation verification: effective security rules, effective security admin rules)."""
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
        elif entry['method'] == 'POST' and path.split('?')[0].endswith(VERIFICATION_POSTS):
            counts['arm_verify'] += 1   # the verification's reads: POSTs that change nothing
        else:
            counts['arm_write'] += 1
    for key in ('login', 'oidc', 'token', 'arm_read', 'arm_write', 'arm_poll', 'arm_verify'):
        counts.setdefault(key, 0)
    return dict(counts)


def operation_id(entry: dict) -> str | None:
    """The long-running operation a logged GET polls (.../operations/{id} or .../operationResults/{id}), or None."""
    parts = entry['path'].rstrip('/').split('/')
    for marker in ('operations', 'operationResults'):
        if marker in parts[:-1] and entry['method'] == 'GET' and entry['listener'] == 'arm':
            return parts[parts.index(marker) + 1].lower()
    return None


def lro_writes(log: list[dict]) -> list[dict]:
    """The ARM writes of a log slice that started a long-running operation (accepted: 200, 201 or 202)."""
    return [e for e in log if e['listener'] == 'arm' and '/_emulator' not in e['path']
            and e['method'] in ('PUT', 'PATCH', 'POST', 'DELETE') and e['status'] in (200, 201, 202)]


def polls_by_operation(log: list[dict]) -> dict[str, int]:
    """Operation ID -> how many times it was polled, in the order the operations were first polled."""
    polls: dict[str, int] = {}
    for entry in log:
        op = operation_id(entry)
        if op is not None:
            polls[op] = polls.get(op, 0) + 1
    return polls


def write_kind(entry: dict) -> tuple[str, str | None]:
    """(resource type, action) of a logged write, as the emulator's latency profile matches it: the type after the
    last `providers` segment ("Microsoft.Network/networkSecurityGroups/securityRules"), and the trailing action of a
    POST ("deallocate")."""
    segments = entry['path'].strip('/').split('/')
    lowered = [s.lower() for s in segments]
    at = len(lowered) - 1 - lowered[::-1].index('providers')
    namespace, pairs = segments[at + 1], segments[at + 2:]
    action = pairs.pop() if len(pairs) % 2 else None
    return '/'.join([namespace, *pairs[0::2]]), action


def simulated_seconds(entry: dict, effective: dict) -> float | None:
    """How long the emulator's latency profile (`effective`: the scaled figures of GET /_emulator/latency) makes
    the operation a logged write starts; None when the profile names no figure for it."""
    kind, action = write_kind(entry)
    kind = kind.lower()
    figures = {'microsoft.network/networksecuritygroups': 'nsg_write_seconds',
               'microsoft.network/networksecuritygroups/securityrules': 'rule_write_seconds',
               'microsoft.network/networkinterfaces': 'nic_write_seconds',
               'microsoft.compute/snapshots': 'snapshot_write_seconds'}
    if action is None and kind in figures:
        return effective.get(figures[kind])
    if action is not None and kind == 'microsoft.compute/virtualmachines':
        power = {k.lower(): v for k, v in (effective.get('vm_power_seconds') or {}).items()}
        return power.get(action.lower())
    others = {k.lower(): v for k, v in (effective.get('operation_seconds') or {}).items()}
    return others.get(f'{kind}/{action.lower()}' if action else kind)


def lro_poll_excess(log: list[dict], effective: dict) -> list[dict]:
    """For each long-running operation of a log slice written by one client at a time: its write, how often it was
    polled, the simulated duration and `excess` = polls - duration / Retry-After (Retry-After: effective
    retry_after_seconds). Writes and operations are paired in order (the n-th accepted write started the n-th
    operation first polled); writes answered at once (never polled) are left out. Parallel writes of one kind (the
    NICs of a VM) have the same duration, so their order among themselves does not matter."""
    retry_after = float(effective.get('retry_after_seconds') or 1)
    polled = list(polls_by_operation(log).items())
    writes = [w for w in lro_writes(log) if simulated_seconds(w, effective)]
    rows = []
    for write, (op, polls) in zip(writes, polled, strict=False):
        seconds = float(simulated_seconds(write, effective) or 0)
        kind, action = write_kind(write)
        rows.append({'operation': op, 'write': f"{write['method']} {kind.split('/', 1)[-1]}{'/' + action if action else ''}",
                     'polls': polls, 'seconds': seconds, 'excess': round(polls - seconds / retry_after, 3)})
    return rows


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


LATENCY_SCALE = 0.1      # see azure_like_scenario
ISOLATION_NIC_COUNTS = (1, 2, 4, 8)


def isolation_vm(nics: int) -> str:
    return f'iso-{nics}nic'


def azure_like_scenario(scale: float = LATENCY_SCALE, nic_counts: tuple[int, ...] = ISOLATION_NIC_COUNTS) -> dict:
    """The emulator's `benchmark` scenario (the default one, the `azure` latency profile, ARM's throttling) at
    `scale`, plus one running VM `iso-<n>nic` per count with n NICs on web-nsg in web-subnet.

    Why 0.1: every duration of the profile and its Retry-After are multiplied by the same factor, and 0.1 is the
    smallest one that keeps ARM's Retry-After of 10 s a whole second (HTTP sends whole seconds; below 0.1 it stays
    at 1 s while the operations shrink). So every duration / Retry-After ratio, and with it the number of polls and
    of Retry-After waits of each step, is Azure's; a measured wall time is about ten times shorter than in Azure
    (CPU and the emulator's own work, milliseconds, are not compressed). ARM's token buckets are not compressed."""
    subscriptions = copy.deepcopy(load_scenario('default')['subscriptions'])
    for count in nic_counts:
        add_multi_nic_vm(subscriptions[0]['resource_groups'][0], isolation_vm(count), count, 100 + 10 * count)
    return {'extends': 'benchmark', 'settings': {'latency': {'profile': 'azure', 'scale': scale}},
            'subscriptions': subscriptions}


def timing_ms(benchmark) -> dict[str, float]:
    """Mean / min / max of a finished pedantic benchmark in ms ({} when benchmarks are disabled)."""
    stats = getattr(getattr(benchmark, 'stats', None), 'stats', None)
    if stats is None:
        return {}
    return {'mean_ms': round(stats.mean * 1000, 1), 'min_ms': round(stats.min * 1000, 1),
            'max_ms': round(stats.max * 1000, 1)}


def write_params_file(path: Path, params: dict, env: dict) -> None:
    """An instance params file for `python -m Tests.xsoar_local run ... --params FILE` (`_env` = its environment)."""
    import yaml
    path.write_text(yaml.safe_dump({**params, '_env': env}), encoding='utf-8')
    os.chmod(path, 0o600)
