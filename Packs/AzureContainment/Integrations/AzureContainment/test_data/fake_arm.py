"""An in-memory Azure Resource Manager (and the two Entra ID endpoints a client-secret login uses) behind a requests
transport adapter, for the containment unit tests (no network).

The real AzureClient runs on it - its session, credential (MSAL), retries, long-running operation polling and ARM
error parsing - because only HTTP is replaced: `FakeArm.client()` builds the client from instance params with
build_client() and mounts this adapter on its session for the fake's two hosts. The fake keeps the Azure semantics
the tests rely on: every request needs the token the fake issued and an api-version; security rule PUT/DELETE,
NSG and NIC writes and VM power actions are long-running operations (201/202 with Azure-AsyncOperation, polled to
Succeeded); 400 SecurityRuleConflict for a duplicate priority in one direction; Azure's rule, priority and
description limits; address families that may not mix in one rule; NSG PUT as a full replace; NIC PUT that keeps
whatever body it is given; NSG DELETE refused while a NIC uses it; nextLink paging. Every error is an ARM error
body with x-ms-request-id and x-ms-correlation-request-id. Faults (any status and code, 429 with Retry-After) are
injected per (method, path fragment); `before_write` lets a test act as a parallel writer just before a write
lands.
"""
from __future__ import annotations

import contextlib
import copy
import ipaddress
import itertools
import json
import re
import threading
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter

import AzureContainment

SUB = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'
TENANT = '11111111-2222-3333-4444-555555555555'
CLIENT_ID = '0a0a0a0a-1111-2222-3333-444444444444'
RG = 'soc-demo-rg'
RG_ID = f'/subscriptions/{SUB}/resourceGroups/{RG}'
NET = f'{RG_ID}/providers/Microsoft.Network'
COMPUTE = f'{RG_ID}/providers/Microsoft.Compute'
ARM = 'https://arm.fake.test'
LOGIN = 'https://login.fake.test'
TOKEN = 'fake-arm-access-token'   # the only token the fake issues and accepts
PARAMS = {'azure_cloud': 'Custom', 'azure_ad_endpoint': LOGIN, 'arm_endpoint': ARM, 'subscription_id': SUB,
          'resource_group': RG, 'default_nsg_name': 'edge-nsg', 'self_deployed': True,
          'auth_type': 'Client Credentials', 'auth_id': {'password': CLIENT_ID}, 'tenant_id': {'password': TENANT},
          'enc_key': {'password': 'fake-arm-client-secret'}}


class ArmFault(Exception):
    """An ARM error answer, raised inside the fake and sent as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(f'{status} {code}: {message}')
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class Answer:
    """What a route answers: a status, a JSON body (None: no body) and headers."""

    def __init__(self, status: int, body: Any = None, headers: dict | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def _rule(name: str, direction: str, access: str, priority: int, source: str, port: str, protocol: str = 'Tcp'):
    return {'name': name, 'properties': {
        'direction': direction, 'access': access, 'protocol': protocol, 'priority': priority,
        'sourceAddressPrefix': source, 'sourcePortRange': '*', 'destinationAddressPrefix': '*',
        'destinationPortRange': port}}


class FakeArm(BaseAdapter):
    """The default scenario in memory: web-nsg (allow-https-in from * at 100, allow-ssh-admin at 110), edge-nsg,
    db-subnet-nsg on db-subnet; VMs web-01 (two NICs on web-nsg), web-02 (web-nsg), db-01 (no NIC NSG).

    `log` holds (method, path) of every ARM request (operation polls included, Entra ID requests in `login_log`),
    `slept` every wait of the clients made by client()."""

    def __init__(self, page_size: int = 2):
        super().__init__()
        self.page_size = page_size
        self.resources: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self.login_log: list[tuple[str, str]] = []
        self.slept: list[float] = []
        self.faults: list[dict] = []
        self.before_write = None          # callable(method, path) run just before a write is applied
        self.operations: dict[str, list[str]] = {}   # operation URL -> the states its next polls report
        self._lock = threading.RLock()    # parallel NIC writes send from several threads: one request at a time
        self._ids = itertools.count(1)
        self._build()

    # -- the client under test -------------------------------------------------------------------------------

    def client(self, **param_overrides: Any) -> AzureContainment.AzureClient:
        """The integration's real client for this fake's instance params, its HTTP answered by this fake."""
        client = AzureContainment.build_client({**PARAMS, **param_overrides})
        for host in (ARM, LOGIN):
            client.session.mount(host, self)
        client.sleep = self.slept.append
        return client

    # -- scenario --------------------------------------------------------------------------------------------

    def _put(self, resource_id: str, body: dict) -> None:
        self.resources[resource_id.lower()] = body

    def _build(self) -> None:
        self._put(f'{NET}/virtualNetworks/soc-vnet', {'id': f'{NET}/virtualNetworks/soc-vnet', 'name': 'soc-vnet'})
        for subnet, nsg in (('web-subnet', None), ('db-subnet', 'db-subnet-nsg')):
            sid = f'{NET}/virtualNetworks/soc-vnet/subnets/{subnet}'
            body: dict = {'id': sid, 'name': subnet, 'properties': {'addressPrefix': '10.0.0.0/24'}}
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
               retry_after: int | None = 0, skip: int = 0) -> None:
        """The next `count` requests of `method` whose path contains `path_contains` (after the first `skip` of
        them) are answered with this ARM error (and Retry-After, when not None)."""
        self.faults.append({'method': method, 'path': path_contains, 'status': status, 'code': code,
                            'count': count, 'retry_after': retry_after, 'skip': skip})

    def add_rule(self, nsg: str, name: str, properties: dict) -> None:
        self._store_rule(f'{NET}/networkSecurityGroups/{nsg}', name, properties)

    # -- HTTP ------------------------------------------------------------------------------------------------

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> requests.Response:
        with self._lock:
            return self._send(request)

    def _send(self, request: requests.PreparedRequest) -> requests.Response:
        url = urlsplit(str(request.url))
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        method = str(request.method)
        try:
            if f'{url.scheme}://{url.netloc}' == LOGIN:
                answer = self._login(method, url.path, request)
            else:
                body = json.loads(request.body) if request.body else None
                answer = self._arm(method, url.path, params, body, request)
        except ArmFault as fault:
            headers = {} if fault.retry_after is None else {'Retry-After': str(fault.retry_after)}
            answer = Answer(fault.status, {'error': {'code': fault.code, 'message': fault.message}}, headers)
        return self._response(request, answer)

    def close(self) -> None:
        """Nothing to release: no connections."""

    @staticmethod
    def _response(request: requests.PreparedRequest, answer: Answer) -> requests.Response:
        response = requests.Response()
        response.status_code = answer.status
        response.reason = {200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content'}.get(answer.status, 'Error')
        response._content = b'' if answer.body is None else json.dumps(answer.body).encode()
        response.headers.update({'x-ms-request-id': str(uuid.uuid4()),
                                 'x-ms-correlation-request-id': str(uuid.uuid4()), **answer.headers})
        if answer.body is not None:
            response.headers['Content-Type'] = 'application/json; charset=utf-8'
        response.url = str(request.url)
        response.request = request
        return response

    def _login(self, method: str, path: str, request: requests.PreparedRequest) -> Answer:
        """OIDC discovery and the client-credentials token request of the fake's tenant."""
        self.login_log.append((method, path))
        if method == 'GET' and path == f'/{TENANT}/v2.0/.well-known/openid-configuration':
            return Answer(200, {'token_endpoint': f'{LOGIN}/{TENANT}/oauth2/v2.0/token', 'issuer':
                                f'{LOGIN}/{TENANT}/v2.0', 'authorization_endpoint':
                                f'{LOGIN}/{TENANT}/oauth2/v2.0/authorize'})
        if method == 'POST' and path == f'/{TENANT}/oauth2/v2.0/token':
            return Answer(200, {'token_type': 'Bearer', 'expires_in': 3599, 'access_token': TOKEN})
        return Answer(404, {'error': 'not_found', 'error_description': f'{method} {path}'})

    def _arm(self, method: str, path: str, params: dict, body: Any, request: requests.PreparedRequest) -> Answer:
        assert 'api-version' in params, f'no api-version on {method} {path}'
        assert '..' not in path.split('/'), path
        assert '#' not in path, path
        self.log.append((method, path))
        if request.headers.get('Authorization') != f'Bearer {TOKEN}':
            raise ArmFault(401, 'InvalidAuthenticationToken', 'The access token is invalid.')
        for fault in self.faults:
            if fault['count'] > 0 and fault['method'] == method and fault['path'] in path:
                if fault['skip'] > 0:
                    fault['skip'] -= 1
                    continue
                fault['count'] -= 1
                raise ArmFault(fault['status'], fault['code'], 'injected', fault['retry_after'])
        if method in ('PUT', 'DELETE', 'POST') and self.before_write:
            hook, self.before_write = self.before_write, None
            hook(method, path)
        if '/operations/' in path:
            return self._operation(str(request.url))
        return self._route(method, path, params, copy.deepcopy(body))

    # -- long-running operations -------------------------------------------------------------------------------

    def _started(self, status: int, body: Any, provider: str, states: tuple[str, ...] = ('InProgress', 'Succeeded'),
                 location: bool = False) -> Answer:
        """The first answer of a long-running operation: its status URL polls `states` one by one."""
        api = AzureContainment.COMPUTE_API_VERSION if provider == 'Microsoft.Compute' else \
            AzureContainment.NETWORK_API_VERSION
        url = (f'{ARM}/subscriptions/{SUB}/providers/{provider}/locations/eastus/operations/op{next(self._ids)}'
               f'?api-version={api}')
        self.operations.setdefault(url, list(states))
        headers = {'Azure-AsyncOperation': url, 'Retry-After': '1'}
        if location:
            headers['Location'] = url + '&monitor=true'
        return Answer(status, body, headers)

    def _operation(self, url: str) -> Answer:
        states = self.operations.get(url)
        if states is None:
            raise ArmFault(404, 'NotFound', f'Operation {url} not found.')
        state = states.pop(0) if len(states) > 1 else states[0]
        if state == 'Failed':
            return Answer(200, {'status': 'Failed', 'error': {'code': 'OperationNotAllowed',
                                                              'message': 'The operation failed in the fake.'}})
        return Answer(200, {'status': state}, {'Retry-After': '1'} if state == 'InProgress' else {})

    # -- routing ---------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict, body: Any) -> Answer:
        low = path.lower()
        m = re.fullmatch(r'(.*/networksecuritygroups/[^/]+)/securityrules/([^/]+)', low)
        if m:
            nsg = self.resources.get(m.group(1))
            if nsg is None:
                raise ArmFault(404, 'ResourceNotFound', f'NSG {m.group(1)} not found')
            name = path.rsplit('/', 1)[1]
            if method == 'PUT':
                self._store_rule(m.group(1), name, body['properties'])
                return self._started(201, self._find_rule(m.group(1), name), 'Microsoft.Network')
            if method == 'DELETE':
                before = len(nsg['properties']['securityRules'])
                nsg['properties']['securityRules'] = [r for r in nsg['properties']['securityRules']
                                                      if r['name'] != name]
                if len(nsg['properties']['securityRules']) == before:
                    return Answer(204)
                return self._started(202, None, 'Microsoft.Network', location=True)
            return Answer(200, self._find_rule(m.group(1), name))
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
                raise ArmFault(404, 'ResourceNotFound', 'VM not found')
            vm['power'] = {'start': 'running', 'poweroff': 'stopped', 'deallocate': 'deallocated',
                           'restart': 'running'}[m.group(2)]
            return self._started(202, None, 'Microsoft.Compute', location=True)
        resource = self.resources.get(low)
        if method == 'GET':
            if resource is None:
                raise ArmFault(404, 'ResourceNotFound', f'The Resource {path} was not found.')
            return Answer(200, self._view(low, params.get('$expand') == 'instanceView'))
        if method == 'PUT':
            return self._put_resource(low, path, resource, body)
        if method == 'DELETE':
            if resource is None:
                return Answer(204)
            users = [k for k, v in self.resources.items() if '/networkinterfaces/' in k and
                     (((v.get('properties') or {}).get('networkSecurityGroup') or {}).get('id') or '').lower() == low]
            if users:
                raise ArmFault(400, 'InUseNetworkSecurityGroupCannotBeDeleted', f'used by {users}')
            del self.resources[low]
            return self._started(202, None, 'Microsoft.Network', location=True)
        raise ArmFault(405, 'MethodNotAllowed', f'{method} {path}')

    def _put_resource(self, low: str, path: str, resource: dict | None, body: dict) -> Answer:
        """NSG PUT replaces the whole NSG (its rules included); any other PUT stores the body as given."""
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
                    raise ArmFault(400, 'InvalidResourceReference', f'{nsg} not found')
            self.resources[low] = body
        return self._started(201 if resource is None else 200, self._view(low), 'Microsoft.Network')

    def _page(self, items: list, path: str, params: dict) -> Answer:
        start = int(params.get('skip', 0)) if params else 0
        page = items[start:start + self.page_size]
        body: dict = {'value': copy.deepcopy(page)}
        if start + self.page_size < len(items):
            query = ''.join(f'&{k}={v}' for k, v in params.items() if k != 'skip')
            body['nextLink'] = f'{ARM}{path}?skip={start + self.page_size}{query}'
        return Answer(200, body)

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
            raise ArmFault(400, 'InvalidResourceName', f'Resource name {name} is invalid.')

    def _find_rule(self, nsg_key: str, name: str) -> dict:
        for rule in self.resources[nsg_key.lower()]['properties']['securityRules']:
            if rule['name'] == name:
                return copy.deepcopy(rule)
        raise ArmFault(404, 'NotFound', f'rule {name} not found')

    def _store_rule(self, nsg_key: str, name: str, properties: dict) -> None:
        self._validate_name(name)
        nsg = self.resources[nsg_key.lower()]
        rules = nsg['properties']['securityRules']
        props = dict(properties)
        props.pop('provisioningState', None)
        for side in ('source', 'destination'):
            if props.get(f'{side}AddressPrefix') and props.get(f'{side}AddressPrefixes'):
                raise ArmFault(400, 'InvalidRequestFormat', 'singular and plural prefixes are exclusive')
        families = set()
        for side in ('source', 'destination'):
            for text in (props.get(f'{side}AddressPrefixes') or []) + [props.get(f'{side}AddressPrefix') or '*']:
                with contextlib.suppress(ValueError):
                    families.add(ipaddress.ip_network(text, strict=False).version)
        if len(families) > 1:
            raise ArmFault(400, 'ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies', name)
        if not 100 <= int(props['priority']) <= 4096:
            raise ArmFault(400, 'SecurityRuleInvalidPriority', name)
        if len(props.get('description') or '') > 140:
            raise ArmFault(400, 'SecurityRuleDescriptionTooLong', name)
        for rule in rules:
            other = rule['properties']
            if rule['name'] != name and other['direction'] == props['direction'] and \
                    other['priority'] == props['priority']:
                raise ArmFault(400, 'SecurityRuleConflict', f"Security rule {name} conflicts with rule "
                               f"{rule['name']}. Rules cannot have the same Priority and Direction.")
        if not any(r['name'] == name for r in rules) and len(rules) >= 1000:
            raise ArmFault(400, 'SecurityRulesLimitReached', 'limit')
        props['provisioningState'] = 'Succeeded'
        new = {'id': f"{nsg['id']}/securityRules/{name}", 'name': name, 'properties': props}
        for index, rule in enumerate(rules):
            if rule['name'] == name:
                rules[index] = new
                return
        rules.append(new)
