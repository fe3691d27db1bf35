"""Shared helpers of the containment end-to-end tests (no tests here): an XSOAR instance pointed at the emulator
(Custom cloud, soc-responder's client secret, the emulator's CA) and a comparable view of the emulator's state."""
from __future__ import annotations

import copy

from Tests.xsoar_local.harness import XsoarInstance

SUB = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
RG = 'soc-demo-rg'
NET = f'/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network'
COMPUTE = f'/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute'
VOLATILE = {'etag', 'time', 'resourceGuid'}   # change on every write or read, carry no configuration


def instance_params(emu, app: str = 'soc-responder') -> dict:
    cred = emu.credentials[app]
    return {'self_deployed': True, 'auth_type': 'Client Credentials', 'azure_cloud': 'Custom',
            'azure_ad_endpoint': emu.login_url, 'arm_endpoint': emu.arm_url,
            'auth_id': {'identifier': '', 'password': cred['client_id']},
            'tenant_id': {'identifier': '', 'password': cred['tenant_id']},
            'enc_key': {'identifier': '', 'password': cred['secret']},
            'subscription_id': SUB, 'resource_group': RG, 'default_nsg_name': 'edge-nsg'}


def instance(emu, state_file: str | None = None, app: str = 'soc-responder') -> XsoarInstance:
    return XsoarInstance(instance_params(emu, app), state_file=state_file, env={'REQUESTS_CA_BUNDLE': emu.ca_bundle})


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
    for rid, body in copy.deepcopy(emu.state()['resources']).items():
        body = _strip(body)
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


def arm_writes(emu, since: int = 0) -> list[dict]:
    return [e for e in emu.request_log(since) if e['listener'] == 'arm' and e['method'] in ('PUT', 'DELETE', 'POST',
                                                                                              'PATCH')
            and '/_emulator' not in e['path']]


def last_seq(emu) -> int:
    log = emu.request_log()
    return log[-1]['seq'] if log else 0


def blocked_items(result) -> list[dict]:
    items = result.context.get('AzureContainment.BlockedIP') or []
    return items if isinstance(items, list) else [items]
