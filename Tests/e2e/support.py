"""Shared helpers of the containment end-to-end tests (no tests here): an XSOAR instance pointed at the emulator
(conftest.build_params: Custom cloud, a client secret, the emulator's CA) and a comparable view of the emulator's
state and request log."""
from __future__ import annotations

import copy
import importlib.util
import os
import time
from types import ModuleType

from collections.abc import Callable

import requests

from Tests.azure_emulator.scenario import load_scenario
from Tests.e2e.conftest import RESOURCE_GROUP, SUBSCRIPTION, build_params
from Tests.e2e.conftest import last_seq  # noqa: F401 - the containment tests and benchmarks import it from here
from Tests.xsoar_local.harness import XsoarInstance

NET = f'/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Network'
COMPUTE = f'/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Compute'
VOLATILE = {'etag', 'time', 'resourceGuid'}   # change on every write or read, carry no configuration


def instance(emu, state_file: str | None = None, app: str = 'soc-responder', **overrides) -> XsoarInstance:
    """An instance with app's client secret, the default resource group and edge-nsg as its default NSG; `overrides`
    are further instance params (e.g. the safety limits max_ips_per_call, allow_internal_block)."""
    return XsoarInstance(build_params(emu, app, **{'default_nsg_name': 'edge-nsg', **overrides}),
                         state_file=state_file, env={'REQUESTS_CA_BUNDLE': emu.ca_bundle})


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def network_state(emu) -> dict:
    """Every Microsoft.Network resource as GET returns it, minus etags/timestamps; the VMs' configuration (power
    state included) without the instance view's timestamps. Lists of references are sorted."""
    state = {}
    for rid, raw in copy.deepcopy(emu.state()['resources']).items():
        body = _strip(raw)
        props = body.get('properties') or {}
        for key in ('networkInterfaces', 'subnets'):
            if isinstance(props.get(key), list):
                props[key] = sorted(props[key], key=lambda ref: str(ref.get('id', '')).lower())
        state[rid] = body
    return state


def nsg_rules(emu, nsg: str) -> list[dict]:
    body = emu.resource(f'{NET}/networkSecurityGroups/{nsg}')
    return _strip((body.get('properties') or {}).get('securityRules') or [])


def pack_rules(emu, nsg: str) -> list[dict]:
    return [r for r in nsg_rules(emu, nsg) if r['name'].startswith('xsoar-block-')]


def arm_requests(emu, since: int = 0) -> list[dict]:
    """The ARM requests logged after `since` (the emulator's control calls excluded)."""
    return [e for e in emu.request_log(since) if e['listener'] == 'arm' and '/_emulator' not in e['path']]


READ_ONLY_POSTS = ('/effectiveNetworkSecurityGroups', '/listNetworkManagerEffectiveSecurityAdminRules')


def arm_writes(emu, since: int = 0) -> list[dict]:
    """The state-changing ARM requests after `since`: the verification's reads are POSTs (effective security rules,
    effective security admin rules) but change nothing, so they are left out."""
    return [e for e in arm_requests(emu, since) if e['method'] in ('PUT', 'DELETE', 'POST', 'PATCH')
            and not e['path'].split('?')[0].endswith(READ_ONLY_POSTS)]


def blocked_items(result) -> list[dict]:
    items = result.context.get('AzureContainment.BlockedIP') or []
    return items if isinstance(items, list) else [items]


def load_changed_scenario(emu, change: Callable[[dict], None]) -> None:
    """Reset `emu` to its initial scenario after `change(resource_group)` edited the default resource group of it
    (an Azure that already holds something, e.g. a look-alike rule or a planted tag). The `emulator` fixture resets
    to the initial scenario before the next test."""
    scenario = load_scenario(emu.initial_scenario)
    change(scenario['subscriptions'][0]['resource_groups'][0])
    emu.reset(scenario)


def named(items: list[dict], name: str) -> dict:
    """The scenario item called `name` (an NSG, NIC or VM of a resource group)."""
    return next(item for item in items if item['name'] == name)


NETWORK_API = '2024-05-01'


def azure_change(emu, method: str, path: str, body: dict | None = None, app: str = 'soc-responder') -> dict:
    """Someone else changes Azure (a person in the portal, a script): one ARM request with `app`'s own token, not
    through the integration, followed to the end of its long-running operation. Returns the response body."""
    creds = emu.credentials[app]
    token = requests.post(f"{emu.login_url}/{creds['tenant_id']}/oauth2/v2.0/token", verify=emu.ca_bundle, data={
        'grant_type': 'client_credentials', 'client_id': creds['client_id'], 'client_secret': creds['secret'],
        'scope': f'{emu.arm_url}/.default'}, timeout=30).json()['access_token']
    headers = {'Authorization': f'Bearer {token}'}
    response = requests.request(method, f'{emu.arm_url}{path}', params={'api-version': NETWORK_API}, json=body,
                                headers=headers, verify=emu.ca_bundle, timeout=30)
    assert response.status_code < 300, (response.status_code, response.text)
    operation = response.headers.get('Azure-AsyncOperation') or response.headers.get('Location')
    deadline = time.monotonic() + 30
    while operation and time.monotonic() < deadline:
        status = requests.get(operation, headers=headers, verify=emu.ca_bundle, timeout=30)
        if status.status_code != 202 and (status.json() if status.content else {}).get('status') != 'InProgress':
            break
        time.sleep(0.1)
    return response.json() if response.content else {}


def change_tags(emu, resource_path: str, change: Callable[[dict], None]) -> None:
    """Edit the tags of a NIC (read it, change its tags, write it back) the way a tag writer would."""
    body = azure_change(emu, 'GET', resource_path)
    body['tags'] = dict(body.get('tags') or {})
    change(body['tags'])
    azure_change(emu, 'PUT', resource_path, {k: v for k, v in body.items() if k != 'etag'})


def load_fake_arm(module_name: str) -> ModuleType:
    """The unit tests' in-memory ARM (test_data/fake_arm.py next to the integration), loaded as its own module:
    the property tests run many examples through the integration's real client on it."""
    import AzureContainment   # the integration, on pytest's pythonpath (as XSOAR imports it: a top-level module)
    path = os.path.join(os.path.dirname(AzureContainment.__file__), 'test_data', 'fake_arm.py')
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
