"""An in-memory stand-in for the integration's ARM client, for the containment unit tests (no network).

It implements the client interface the containment commands use (arm_request, arm_json, list_pages (the real one),
operation_status, wait_for_operation, subscription_id/resource_group/default_nsg_name) and keeps just enough
Azure semantics to make the tests meaningful: security rule PUT/DELETE on the NSG's rule list, 400
SecurityRuleConflict for a duplicate priority in one direction, Azure's rule and prefix limits, address families
that may not mix in one rule, NSG PUT as a full replace, NIC PUT that keeps whatever body it is given, NSG DELETE
refused while a NIC uses it, VM power actions as long-running operations, nextLink paging. Faults are injected
per (method, path fragment); `before_write` lets a test act as a parallel writer just before a write lands.
"""
from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import re
from typing import Any

import AzureContainment
import contextlib

SUB = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
RG = 'soc-demo-rg'
RG_ID = f'/subscriptions/{SUB}/resourceGroups/{RG}'
NET = f'{RG_ID}/providers/Microsoft.Network'
COMPUTE = f'{RG_ID}/providers/Microsoft.Compute'
ARM = 'https://arm.fake.test'


def FakeApiError(status: int, code: str, message: str, retry_after: int | None = None) -> Exception:  # noqa: N802
    """The integration's own typed error for an ARM answer (this fake skips HTTP)."""
    return AzureContainment.arm_error(status, code, message, retry_after=retry_after)


class FakeResponse:
    def __init__(self, status_code: int, body: Any = None, headers: dict | None = None):
        self.status_code = status_code
        self._body = body
        self.headers = headers or {}
        self.content = json.dumps(body).encode() if body is not None else b''

    def json(self) -> Any:
        return copy.deepcopy(self._body)


def _rule(name: str, direction: str, access: str, priority: int, source: str, port: str, protocol: str = 'Tcp'):
    return {'name': name, 'properties': {
        'direction': direction, 'access': access, 'protocol': protocol, 'priority': priority,
        'sourceAddressPrefix': source, 'sourcePortRange': '*', 'destinationAddressPrefix': '*',
        'destinationPortRange': port}}


class FakeArm:
    """The default scenario in memory: web-nsg (allow-https-in from * at 100, allow-ssh-admin at 110), edge-nsg,
    db-subnet-nsg on db-subnet; VMs web-01 (two NICs on web-nsg), web-02 (web-nsg), db-01 (no NIC NSG)."""

    def __init__(self, page_size: int = 2):
        self.subscription_id = SUB
        self.resource_group = RG
        self.default_nsg_name = 'edge-nsg'
        self.arm_url = ARM
        self.page_size = page_size
        self.resources: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self.faults: list[dict] = []
        self.before_write = None          # callable(method, path) run just before a write is applied
        self.operations: dict[str, list[str]] = {}
        self._ids = itertools.count(1)
        self._build()

    # -- scenario --------------------------------------------------------------------------------------------

    def _put(self, resource_id: str, body: dict) -> None:
        self.resources[resource_id.lower()] = body

    def _build(self) -> None:
        self._put(f'{NET}/virtualNetworks/soc-vnet', {'id': f'{NET}/virtualNetworks/soc-vnet', 'name': 'soc-vnet'})
        for subnet, nsg in (('web-subnet', None), ('db-subnet', 'db-subnet-nsg')):
            sid = f'{NET}/virtualNetworks/soc-vnet/subnets/{subnet}'
            body = {'id': sid, 'name': subnet, 'properties': {'addressPrefix': '10.0.0.0/24'}}
            if nsg:
                body['properties']['networkSecurityGroup'] = {'id': f'{NET}/networkSecurityGroups/{nsg}'}
            self._put(sid, body)
        web_rules = [_rule('allow-https-in', 'Inbound', 'Allow', 100, '*', '443'),
                     _rule('allow-ssh-admin', 'Inbound', 'Allow', 110, '198.51.100.0/24', '22')]
        for name, rules in (('web-nsg', web_rules), ('edge-nsg', []), ('db-subnet-nsg', [])):
            nid = f'{NET}/networkSecurityGroups/{name}'
            self._put(nid, {'id': nid, 'name': name, 'location': 'eastus', 'type': 'Microsoft.Network/'
                            'networkSecurityGroups', 'properties': {'securityRules': [], 'flushConnection': False}})
            for rule in rules:
                self._store_rule(nid, rule['name'], rule['properties'])
        nics = {'web-01-nic0': ('web-subnet', '10.0.1.4', 'web-nsg'),
                'web-01-nic1': ('web-subnet', '10.0.1.5', 'web-nsg'),
                'web-02-nic0': ('web-subnet', '10.0.1.6', 'web-nsg'),
                'db-01-nic0': ('db-subnet', '10.0.2.4', None)}
        for name, (subnet, ip, nsg) in nics.items():
            nid = f'{NET}/networkInterfaces/{name}'
            body = {'id': nid, 'name': name, 'location': 'eastus', 'tags': {}, 'properties': {
                'enableAcceleratedNetworking': False, 'ipConfigurations': [{'name': 'ipconfig1', 'properties': {
                    'privateIPAddress': ip, 'privateIPAllocationMethod': 'Dynamic', 'primary': True,
                    'subnet': {'id': f'{NET}/virtualNetworks/soc-vnet/subnets/{subnet}'}}}]}}
            if nsg:
                body['properties']['networkSecurityGroup'] = {'id': f'{NET}/networkSecurityGroups/{nsg}'}
            self._put(nid, body)
        for name, nics_of, state in (('web-01', ['web-01-nic0', 'web-01-nic1'], 'running'),
                                     ('web-02', ['web-02-nic0'], 'running'), ('db-01', ['db-01-nic0'], 'deallocated')):
            vid = f'{COMPUTE}/virtualMachines/{name}'
            self._put(vid, {'id': vid, 'name': name, 'location': 'eastus', 'power': state, 'properties': {
                'hardwareProfile': {'vmSize': 'Standard_B2s'}, 'provisioningState': 'Succeeded',
                'networkProfile': {'networkInterfaces': [{'id': f'{NET}/networkInterfaces/{n}'} for n in nics_of]}}})

    # -- helpers for tests -----------------------------------------------------------------------------------

    def nsg(self, name: str) -> dict:
        return self.resources[f'{NET}/networkSecurityGroups/{name}'.lower()]

    def rules(self, name: str) -> list[dict]:
        return self.nsg(name)['properties']['securityRules']

    def nic(self, name: str) -> dict:
        return self.resources[f'{NET}/networkInterfaces/{name}'.lower()]

    def writes(self) -> list[tuple[str, str]]:
        return [entry for entry in self.log if entry[0] in ('PUT', 'DELETE', 'POST', 'PATCH')]

    def snapshot(self) -> dict:
        state = copy.deepcopy(self.resources)
        for body in state.values():
            for rule in (body.get('properties') or {}).get('securityRules') or []:
                rule.pop('etag', None)
            body.pop('etag', None)
        return state

    def inject(self, method: str, path_contains: str, status: int, code: str, count: int = 1,
               retry_after: int | None = 0) -> None:
        self.faults.append({'method': method, 'path': path_contains, 'status': status, 'code': code,
                            'count': count, 'retry_after': retry_after})

    def add_rule(self, nsg: str, name: str, properties: dict) -> None:
        self._store_rule(f'{NET}/networkSecurityGroups/{nsg}', name, properties)

    # -- the client interface ------------------------------------------------------------------------------

    def arm_json(self, method: str, path: str, **kwargs: Any) -> dict:
        response = self.arm_request(method, path, **kwargs)
        return response.json() or {}

    list_pages = AzureContainment.AzureClient.list_pages  # the real paging, over this fake's arm_json

    def wait_for_operation(self, response: FakeResponse, timeout_seconds: float) -> dict:
        url = response.headers.get('Azure-AsyncOperation')
        if url and url in self.operations:
            while self.operations[url] and self.operations[url][0] == 'InProgress':
                self.operations[url].pop(0)
            return self.operation_status(url)
        return {'status': 'Succeeded', 'retry_after': 0, 'error': None}

    def operation_status(self, url: Any) -> dict:
        assert str(url).startswith(ARM), url
        self.log.append(('GET', str(url)))
        states = self.operations.get(str(url)) or ['Succeeded']
        state = states.pop(0) if len(states) > 1 else states[0]
        if state == 'Failed':
            return {'status': 'Failed', 'retry_after': 0,
                    'error': FakeApiError(0, 'OperationNotAllowed', 'The operation failed in the fake.')}
        return {'status': state, 'retry_after': 1, 'error': None}

    def arm_request(self, method: str, path: str, *, api_version: str | None = None, params: dict | None = None,
                    body: Any = None, retry_busy: bool = True) -> FakeResponse:
        assert api_version or path.startswith(ARM), f'no api-version on {method} {path}'
        if not path.startswith(ARM):
            assert '?' not in path, path
            assert '#' not in path, path
            assert '..' not in path.split('/'), path
        self.log.append((method, path))
        for fault in self.faults:
            if fault['count'] > 0 and fault['method'] == method and fault['path'] in path:
                fault['count'] -= 1
                raise FakeApiError(fault['status'], fault['code'], 'injected', fault['retry_after'])
        if method in ('PUT', 'DELETE', 'POST') and self.before_write:
            hook, self.before_write = self.before_write, None
            hook(method, path)
        return self._route(method, path, params or {}, copy.deepcopy(body))

    # -- routing ---------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict, body: Any) -> FakeResponse:
        if path.startswith(ARM):
            path = path[len(ARM):]
        if '?' in path:  # a nextLink carries the query of the first page
            path, query = path.split('?', 1)
            params = dict(params, **dict(pair.split('=', 1) for pair in query.split('&')))
        low = path.lower()
        m = re.fullmatch(r'(.*/networksecuritygroups/[^/]+)/securityrules/([^/]+)', low)
        if m:
            nsg = self.resources.get(m.group(1))
            if nsg is None:
                raise FakeApiError(404, 'ResourceNotFound', f'NSG {m.group(1)} not found')
            name = path.rsplit('/', 1)[1]
            if method == 'PUT':
                self._store_rule(m.group(1), name, body['properties'])
                return FakeResponse(201, self._find_rule(m.group(1), name))
            if method == 'DELETE':
                before = len(nsg['properties']['securityRules'])
                nsg['properties']['securityRules'] = [r for r in nsg['properties']['securityRules']
                                                      if r['name'] != name]
                return FakeResponse(200 if len(nsg['properties']['securityRules']) < before else 204)
            return FakeResponse(200, self._find_rule(m.group(1), name))
        if re.fullmatch(r'.*/networksecuritygroups/[^/]+/securityrules', low):
            return self._page(self.resources[low.rsplit('/', 1)[0]]['properties']['securityRules'], path, params)
        if low.endswith(('/networksecuritygroups', '/virtualmachines', '/networkinterfaces')):
            kind = low.rsplit('/', 1)[1]
            scope = low.split('/providers/')[0] + '/'  # a resource group or, for a list-all, the subscription
            status_only = kind == 'virtualmachines' and params.get('statusOnly') == 'true'
            items = [self._view(k, instance_view=status_only) for k in self.resources
                     if f'/{kind}/' in k and k.startswith(scope)]
            return self._page(items, path, params)
        m = re.fullmatch(r'(.*/virtualmachines/[^/]+)/(start|poweroff|deallocate|restart)', low)
        if m and method == 'POST':
            vm = self.resources.get(m.group(1))
            if vm is None:
                raise FakeApiError(404, 'ResourceNotFound', 'VM not found')
            vm['power'] = {'start': 'running', 'poweroff': 'stopped', 'deallocate': 'deallocated',
                           'restart': 'running'}[m.group(2)]
            url = f'{ARM}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/' \
                  f'op{next(self._ids)}'
            self.operations.setdefault(url, ['InProgress', 'Succeeded'])
            return FakeResponse(202, None, {'Azure-AsyncOperation': url, 'Location': url + '&monitor=true'})
        resource = self.resources.get(low)
        if method == 'GET':
            if resource is None:
                raise FakeApiError(404, 'ResourceNotFound', f'The Resource {path} was not found.')
            return FakeResponse(200, self._view(low, params.get('$expand') == 'instanceView'))
        if method == 'PUT':
            self._validate_name(path.rsplit('/', 1)[1])
            body = dict(body)
            body['id'] = resource['id'] if resource else path
            body['name'] = path.rsplit('/', 1)[1]
            if '/networksecuritygroups/' in low:
                rules = (body.get('properties') or {}).pop('securityRules', []) or []
                body.setdefault('properties', {})['securityRules'] = []
                self.resources[low] = body
                for rule in rules:
                    self._store_rule(low, rule['name'], rule['properties'])
            else:
                if '/networkinterfaces/' in low:
                    nsg = ((body.get('properties') or {}).get('networkSecurityGroup') or {}).get('id')
                    if nsg and nsg.lower() not in self.resources:
                        raise FakeApiError(400, 'InvalidResourceReference', f'{nsg} not found')
                self.resources[low] = body
            return FakeResponse(201 if resource is None else 200, self._view(low))
        if method == 'DELETE':
            if resource is None:
                return FakeResponse(204)
            users = [k for k, v in self.resources.items() if '/networkinterfaces/' in k and
                     (((v.get('properties') or {}).get('networkSecurityGroup') or {}).get('id') or '').lower() == low]
            if users:
                raise FakeApiError(400, 'InUseNetworkSecurityGroupCannotBeDeleted', f'used by {users}')
            del self.resources[low]
            return FakeResponse(202, None, {'Azure-AsyncOperation': f'{ARM}/operations/op{next(self._ids)}'})
        raise FakeApiError(405, 'MethodNotAllowed', f'{method} {path}')

    def _page(self, items: list, path: str, params: dict) -> FakeResponse:
        start = int(params.get('skip', 0)) if params else 0
        page = items[start:start + self.page_size]
        body = {'value': copy.deepcopy(page)}
        if start + self.page_size < len(items):
            query = ''.join(f'&{k}={v}' for k, v in params.items() if k != 'skip')
            body['nextLink'] = f'{ARM}{path}?skip={start + self.page_size}{query}'
        return FakeResponse(200, body)

    def _view(self, key: str, instance_view: bool = False) -> dict:
        body = copy.deepcopy(self.resources[key])
        if '/networksecuritygroups/' in key:
            body['properties']['networkInterfaces'] = [
                {'id': v['id']} for v in self.resources.values() if '/networkInterfaces/' in v['id'] and
                (((v.get('properties') or {}).get('networkSecurityGroup') or {}).get('id') or '').lower() == key]
        if '/virtualmachines/' in key:
            power = body.pop('power')
            if instance_view:
                body['properties']['instanceView'] = {'statuses': [
                    {'code': 'ProvisioningState/succeeded'}, {'code': f'PowerState/{power}'}]}
        return body

    @staticmethod
    def _validate_name(name: str) -> None:
        if not re.fullmatch(r'\w(?:[\w.-]{0,78}\w)?', name):
            raise FakeApiError(400, 'InvalidResourceName', f'Resource name {name} is invalid.')

    def _find_rule(self, nsg_key: str, name: str) -> dict:
        for rule in self.resources[nsg_key.lower()]['properties']['securityRules']:
            if rule['name'] == name:
                return copy.deepcopy(rule)
        raise FakeApiError(404, 'NotFound', f'rule {name} not found')

    def _store_rule(self, nsg_key: str, name: str, properties: dict) -> None:
        self._validate_name(name)
        nsg = self.resources[nsg_key.lower()]
        rules = nsg['properties']['securityRules']
        props = dict(properties)
        props.pop('provisioningState', None)
        for side in ('source', 'destination'):
            if props.get(f'{side}AddressPrefix') and props.get(f'{side}AddressPrefixes'):
                raise FakeApiError(400, 'InvalidRequestFormat', 'singular and plural prefixes are exclusive')
        families = set()
        for side in ('source', 'destination'):
            for text in (props.get(f'{side}AddressPrefixes') or []) + [props.get(f'{side}AddressPrefix') or '*']:
                with contextlib.suppress(ValueError):
                    families.add(ipaddress.ip_network(text, strict=False).version)
        if len(families) > 1:
            raise FakeApiError(400, 'ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies', name)
        if not 100 <= int(props['priority']) <= 4096:
            raise FakeApiError(400, 'SecurityRuleInvalidPriority', name)
        if len(props.get('description') or '') > 140:
            raise FakeApiError(400, 'SecurityRuleDescriptionTooLong', name)
        for rule in rules:
            other = rule['properties']
            if rule['name'] != name and other['direction'] == props['direction'] and \
                    other['priority'] == props['priority']:
                raise FakeApiError(400, 'SecurityRuleConflict', f"Security rule {name} conflicts with rule "
                                   f"{rule['name']}. Rules cannot have the same Priority and Direction.")
        if not any(r['name'] == name for r in rules) and len(rules) >= 1000:
            raise FakeApiError(400, 'SecurityRulesLimitReached', 'limit')
        props['provisioningState'] = 'Succeeded'
        new = {'id': f"{nsg['id']}/securityRules/{name}", 'name': name, 'properties': props}
        for index, rule in enumerate(rules):
            if rule['name'] == name:
                rules[index] = new
                return
        rules.append(new)
