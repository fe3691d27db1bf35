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

For azure-vm-find and azure-vm-snapshot it also answers: the subscription list; Azure Resource Graph (POST
/providers/Microsoft.ResourceGraph/resources), which does not evaluate KQL but reads the value lists out of the
query the integration builds and answers the rows that query asks for (one per matching VM, its IP configurations
as parallel lists; paged by $skipToken, with the quota headers in `graph_quota`); managed disks; and snapshots
(PUT as a long-running operation that checks the source disk, the region rule and the target resource group; it reads
'Creating' for `snapshot_creating_reads` GETs, then 'Succeeded'; one named in `failing_snapshots` disappears, as a
snapshot whose creation failed does).
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
OTHER_SUB = 'bbbbbbbb-cccc-dddd-eeee-ffffffffffff'   # a second subscription the identity reads (scope=all)
RESOURCE_GROUPS = {f'{SUB}/{RG}', f'{SUB}/evidence-rg', f'{OTHER_SUB}/branch-rg'}   # lower case: sub/rg
PARAMS = {'azure_cloud': 'Custom', 'azure_ad_endpoint': LOGIN, 'arm_endpoint': ARM, 'subscription_id': SUB,
          'resource_group': RG, 'default_nsg_name': 'edge-nsg', 'self_deployed': True,
          'auth_type': 'Client Credentials', 'auth_id': {'password': CLIENT_ID}, 'tenant_id': {'password': TENANT},
          'enc_key': {'password': 'fake-arm-client-secret'}}


class ArmFault(Exception):
    """An ARM error answer, raised inside the fake and sent as {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None,
                 headers: dict | None = None, details: list | None = None):
        super().__init__(f'{status} {code}: {message}')
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or {}
        self.details = details


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


READ_ONLY_POSTS = ('/effectiveNetworkSecurityGroups', '/listNetworkManagerEffectiveSecurityAdminRules')
DEFAULT_RULES = [  # Azure's default rules as effective rules show them (protocol All, ports 0-65535)
    {'name': 'defaultSecurityRules/AllowVnetInBound', 'protocol': 'All', 'sourcePortRange': '0-65535',
     'destinationPortRange': '0-65535', 'sourceAddressPrefix': 'VirtualNetwork',
     'expandedSourceAddressPrefix': ['10.0.0.0/16', '168.63.129.16/32'], 'destinationAddressPrefix': 'VirtualNetwork',
     'expandedDestinationAddressPrefix': ['10.0.0.0/16', '168.63.129.16/32'], 'access': 'Allow', 'priority': 65000,
     'direction': 'Inbound'},
    {'name': 'defaultSecurityRules/DenyAllInBound', 'protocol': 'All', 'sourcePortRange': '0-65535',
     'destinationPortRange': '0-65535', 'sourceAddressPrefix': '0.0.0.0/0', 'destinationAddressPrefix': '0.0.0.0/0',
     'access': 'Deny', 'priority': 65500, 'direction': 'Inbound'},
    {'name': 'defaultSecurityRules/AllowInternetOutBound', 'protocol': 'All', 'sourcePortRange': '0-65535',
     'destinationPortRange': '0-65535', 'sourceAddressPrefix': '0.0.0.0/0', 'destinationAddressPrefix': 'Internet',
     'expandedDestinationAddressPrefix': ['1.0.0.0/8', '203.0.113.0/24'], 'access': 'Allow', 'priority': 65001,
     'direction': 'Outbound'},
    {'name': 'defaultSecurityRules/DenyAllOutBound', 'protocol': 'All', 'sourcePortRange': '0-65535',
     'destinationPortRange': '0-65535', 'sourceAddressPrefix': '0.0.0.0/0', 'destinationAddressPrefix': '0.0.0.0/0',
     'access': 'Deny', 'priority': 65500, 'direction': 'Outbound'}]


def effective_form(rule: dict) -> dict:
    """A stored security rule as effective rules show it (a simplified version of Azure's form)."""
    p = rule['properties']
    out = {'name': f"securityRules/{rule['name']}", 'protocol': 'All' if p.get('protocol') == '*' else p.get('protocol'),
           'access': p.get('access'), 'priority': p.get('priority'), 'direction': p.get('direction')}
    for side in ('source', 'destination'):
        for one, many in (('AddressPrefix', 'AddressPrefixes'), ('PortRange', 'PortRanges')):
            if p.get(f'{side}{many}'):
                out[f'{side}{many}'] = list(p[f'{side}{many}'])
            else:
                value = p.get(f'{side}{one}') or '*'
                if value == '*':
                    value = '0-65535' if one == 'PortRange' else '0.0.0.0/0'
                out[f'{side}{one}'] = value
    tags = {'AzurePlatformDNS': ['168.63.129.16/32'], 'AzurePlatformIMDS': ['169.254.169.254/32'],
            'AzurePlatformLKM': ['23.102.135.246/32'], 'Internet': ['1.0.0.0/8', '203.0.113.0/24']}
    for side in ('source', 'destination'):
        if out.get(f'{side}AddressPrefix') in tags:
            out[f'expanded{side.capitalize()}AddressPrefix'] = tags[out[f'{side}AddressPrefix']]
    return out


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
        self.operation_resources: dict[str, str] = {}  # operation URL -> the resource (lower-case ID) it writes
        self.graph_queries: list[dict] = []          # the body of every Resource Graph request
        self.graph_quota: list[tuple[int, str]] = []  # (remaining, resets-after) for the next Graph answers
        self.snapshot_creating_reads = 1             # GETs of a new snapshot that still read 'Creating'
        self.failing_snapshots: set[str] = set()     # snapshot names whose creation fails (they vanish)
        self.admin_rules: dict[str, list[dict]] = {}   # VNet ID (lower case) -> its effective security admin rules
        self.admin_page_size = 2
        self.effective_results: dict[str, dict] = {}   # Location URL -> the effective NSGs it answers
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
        pip = f'{NET}/publicIPAddresses/web-01-pip'
        self._put(pip, {'id': pip, 'name': 'web-01-pip', 'location': 'eastus',
                        'properties': {'ipAddress': '203.0.113.50', 'publicIPAllocationMethod': 'Static'}})
        self.nic('web-01-nic0')['properties']['ipConfigurations'][0]['properties']['publicIPAddress'] = {'id': pip}
        for name, nics_of, state, computer, data_disks in (
                ('web-01', ['web-01-nic0', 'web-01-nic1'], 'running', 'web01', 2),
                ('web-02', ['web-02-nic0'], 'running', 'websrv02', 0),
                ('db-01', ['db-01-nic0'], 'deallocated', 'db-01', 0)):
            self.add_vm(name, nics_of, state, computer, data_disks)

    def add_vm(self, name: str, nics: list[str], power: str = 'running', computer: str | None = None,
               data_disks: int = 0, sub: str = SUB, rg: str = RG, os_disk: dict | None = None) -> str:
        """A VM with managed disks {name}-osdisk and {name}-data{lun} (their disk resources too), or the given
        osDisk entry of its storage profile; returns its ID."""
        compute = f'/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute'
        net = f'/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network'

        def disk(disk_name: str, **extra: Any) -> dict:
            did = f'{compute}/disks/{disk_name}'
            self._put(did, {'id': did, 'name': disk_name, 'location': 'eastus', 'type': 'Microsoft.Compute/disks',
                            'properties': {'diskSizeGB': 32, 'diskState': 'Attached', 'provisioningState': 'Succeeded'}})
            return {'name': disk_name, 'managedDisk': {'id': did}, **extra}
        vid = f'{compute}/virtualMachines/{name}'
        storage = {'osDisk': os_disk if os_disk is not None else disk(f'{name}-osdisk', osType='Linux'),
                   'dataDisks': [disk(f'{name}-data{lun}', lun=lun) for lun in range(data_disks)]}
        self._put(vid, {'id': vid, 'name': name, 'location': 'eastus', 'power': power, 'properties': {
            'hardwareProfile': {'vmSize': 'Standard_B2s'}, 'provisioningState': 'Succeeded', 'storageProfile': storage,
            'osProfile': {'computerName': computer or name},
            'networkProfile': {'networkInterfaces': [{'id': f'{net}/networkInterfaces/{n}'} for n in nics]}}})
        return vid

    def add_nic(self, name: str, ips: list[str], sub: str = SUB, rg: str = RG, public: str | None = None) -> str:
        """A NIC with one IP configuration per private address (the first with the public address, when given)."""
        net = f'/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network'
        configs = []
        for index, ip in enumerate(ips):
            config: dict = {'name': f'ipconfig{index + 1}', 'properties': {
                'privateIPAddress': ip, 'subnet': {'id': f'{NET}/virtualNetworks/soc-vnet/subnets/web-subnet'}}}
            if public and index == 0:
                pid = f'{net}/publicIPAddresses/{name}-pip'
                self._put(pid, {'id': pid, 'name': f'{name}-pip', 'properties': {'ipAddress': public}})
                config['properties']['publicIPAddress'] = {'id': pid}
            configs.append(config)
        nid = f'{net}/networkInterfaces/{name}'
        self._put(nid, {'id': nid, 'name': name, 'location': 'eastus', 'tags': {},
                        'properties': {'ipConfigurations': configs}})
        return nid

    # -- helpers for tests -----------------------------------------------------------------------------------

    def nsg(self, name: str) -> dict:
        return self.resources[f'{NET}/networkSecurityGroups/{name}'.lower()]

    def rules(self, name: str) -> list[dict]:
        return self.nsg(name)['properties']['securityRules']

    def nic(self, name: str) -> dict:
        return self.resources[f'{NET}/networkInterfaces/{name}'.lower()]

    def disk_snapshots(self) -> dict[str, dict]:
        """The snapshots Azure holds: name -> resource."""
        return {v['name']: v for k, v in self.resources.items() if '/providers/microsoft.compute/snapshots/' in k}

    def writes(self) -> list[tuple[str, str]]:
        """The state-changing requests (the read-only POSTs of the verification excluded)."""
        return [entry for entry in self.log if entry[0] in ('PUT', 'DELETE', 'POST', 'PATCH')
                and not entry[1].endswith(READ_ONLY_POSTS)]

    def snapshot(self) -> dict:
        state = copy.deepcopy(self.resources)
        for body in state.values():
            for rule in (body.get('properties') or {}).get('securityRules') or []:
                rule.pop('etag', None)
            body.pop('etag', None)
        return state

    def inject(self, method: str, path_contains: str, status: int, code: str, count: int = 1,
               retry_after: int | None = 0, skip: int = 0, headers: dict | None = None) -> None:
        """The next `count` requests of `method` whose path contains `path_contains` (after the first `skip` of
        them) are answered with this ARM error (and Retry-After, when not None, and `headers`)."""
        self.faults.append({'method': method, 'path': path_contains, 'status': status, 'code': code,
                            'count': count, 'retry_after': retry_after, 'skip': skip, 'headers': headers or {}})

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
            error: dict = {'code': fault.code, 'message': fault.message}
            if fault.details:
                error['details'] = fault.details
            answer = Answer(fault.status, {'error': error}, {**headers, **fault.headers})
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
                raise ArmFault(fault['status'], fault['code'], 'injected', fault['retry_after'], fault['headers'])
        if method in ('PUT', 'DELETE', 'POST') and self.before_write:
            hook, self.before_write = self.before_write, None
            hook(method, path)
        if '/operationresults/' in path.lower():
            result = self.effective_results.get(str(request.url).split('?')[0])
            if result is None:
                raise ArmFault(404, 'NotFound', f'Operation {request.url} not found.')
            return Answer(200, copy.deepcopy(result))
        if '/operations/' in path:
            return self._operation(str(request.url))
        return self._route(method, path, params, copy.deepcopy(body))

    # -- long-running operations -------------------------------------------------------------------------------

    def _started(self, status: int, body: Any, provider: str, states: tuple[str, ...] = ('InProgress', 'Succeeded'),
                 location: bool = False, resource: str | None = None) -> Answer:
        """The first answer of a long-running operation: its status URL polls `states` one by one."""
        api = AzureContainment.COMPUTE_API_VERSION if provider == 'Microsoft.Compute' else \
            AzureContainment.NETWORK_API_VERSION
        url = (f'{ARM}/subscriptions/{SUB}/providers/{provider}/locations/eastus/operations/op{next(self._ids)}'
               f'?api-version={api}')
        self.operations.setdefault(url, list(states))
        if resource:
            self.operation_resources[url] = resource
        headers = {'Azure-AsyncOperation': url, 'Retry-After': '1'}
        if location:
            headers['Location'] = url + '&monitor=true'
        return Answer(status, body, headers)

    def _operation(self, url: str) -> Answer:
        states = self.operations.get(url)
        if states is None:
            raise ArmFault(404, 'NotFound', f'Operation {url} not found.')
        state = states.pop(0) if len(states) > 1 else states[0]
        resource = self.resources.get(self.operation_resources.get(url, ''))
        if state == 'Succeeded' and resource is not None and 'creating_reads' in resource:
            resource['creating_reads'] = 0   # a snapshot whose operation succeeded reads Succeeded
        if state == 'Failed':
            return Answer(200, {'status': 'Failed', 'error': {'code': 'OperationNotAllowed',
                                                              'message': 'The operation failed in the fake.'}})
        return Answer(200, {'status': state}, {'Retry-After': '1'} if state == 'InProgress' else {})

    # -- routing ---------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict, body: Any) -> Answer:
        low = path.lower()
        if low == '/providers/microsoft.resourcegraph/resources' and method == 'POST':
            return self._graph(body)
        if low == '/subscriptions' and method == 'GET':
            return self._page([{'id': f'/subscriptions/{s}', 'subscriptionId': s, 'state': 'Enabled'}
                               for s in (SUB, OTHER_SUB)], path, params)
        if '/providers/microsoft.compute/snapshots/' in low:
            return self._snapshot(method, low, path, body)
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
        if low.endswith('/effectivenetworksecuritygroups') and method == 'POST':
            return self._effective(low.rsplit('/', 1)[0])
        if low.endswith('/listnetworkmanagereffectivesecurityadminrules') and method == 'POST':
            rules = self.admin_rules.get(low.rsplit('/', 1)[0], [])
            start = int((body or {}).get('skipToken') or 0)
            page: dict = {'value': copy.deepcopy(rules[start:start + self.admin_page_size])}
            if start + self.admin_page_size < len(rules):
                page['skipToken'] = str(start + self.admin_page_size)
            return Answer(200, page)
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

    # -- Resource Graph, disks and snapshots ---------------------------------------------------------------------

    def _graph(self, body: dict) -> Answer:
        """The rows of the integration's find query: its value lists are read out of the query text."""
        assert set(body) == {'subscriptions', 'query', 'options'}, body
        self.graph_queries.append(copy.deepcopy(body))
        query, options = body['query'], body['options']
        assert options.get('resultFormat') == 'objectArray', options
        assert 1 <= options['$top'] <= 1000, options

        def values(column: str) -> set[str]:
            match = re.search(rf"{column} in~ \(([^)]*)\)", query)
            return {v.strip().strip("'").lower() for v in match.group(1).split(',')} if match else set()
        ips, names = values('privateIp'), values('vmName')
        scopes = tuple(f'/subscriptions/{s}/'.lower() for s in body['subscriptions'])
        rows = []
        for key, vm in self.resources.items():
            if '/providers/microsoft.compute/virtualmachines/' not in key or not key.startswith(scopes):
                continue
            configs = self._graph_rows(vm)
            computer = str(((vm.get('properties') or {}).get('osProfile') or {}).get('computerName') or '')
            if (vm['name'].lower() in names or computer.lower() in names
                    or any(c['privateIp'].lower() in ips or c['publicIp'].lower() in ips for c in configs)):
                rows.append(self._graph_vm_row(vm, configs))
        rows.sort(key=lambda r: r['id'])
        start = int(str(options.get('$skipToken') or 'rows:0').split(':')[1])
        page = rows[start:start + options['$top']]
        answer: dict = {'totalRecords': len(rows), 'count': len(page), 'data': page, 'resultTruncated': 'false'}
        if start + len(page) < len(rows):
            answer['$skipToken'] = f'rows:{start + len(page)}'
        remaining, resets = self.graph_quota.pop(0) if self.graph_quota else (14, '00:00:05')
        return Answer(200, answer, {'x-ms-user-quota-remaining': str(remaining),
                                    'x-ms-user-quota-resets-after': resets})

    def _graph_rows(self, vm: dict) -> list[dict]:
        """One row per IP configuration of the VM's NICs, with the columns the find query folds per VM."""
        props = vm.get('properties') or {}
        rows = []
        for ref in (props.get('networkProfile') or {}).get('networkInterfaces') or []:
            nic = self.resources.get(ref['id'].lower())
            if nic is None:
                continue
            nic_props = nic.get('properties') or {}
            for config in nic_props.get('ipConfigurations') or []:
                config_props = config.get('properties') or {}
                public = self.resources.get(str((config_props.get('publicIPAddress') or {}).get('id') or '').lower())
                subnet = self.resources.get(str((config_props.get('subnet') or {}).get('id') or '').lower())
                rows.append({'id': nic['id'], 'name': nic['name'], 'nicTags': json.dumps(nic.get('tags') or {}),
                             'nicNsg': (nic_props.get('networkSecurityGroup') or {}).get('id') or '',
                             'subnetNsg': (((subnet or {}).get('properties') or {}).get('networkSecurityGroup')
                                           or {}).get('id') or '',
                             'privateIp': config_props.get('privateIPAddress') or '',
                             'publicIp': ((public or {}).get('properties') or {}).get('ipAddress') or ''})
        return rows

    def _graph_vm_row(self, vm: dict, configs: list[dict]) -> dict:
        """The VM's row as the find query answers it: the VM's columns and its configurations as parallel lists."""
        props = vm.get('properties') or {}
        power = vm.get('power')
        row = {'vmId': vm['id'].lower(), 'vmResourceId': vm['id'], 'vmName': vm['name'],
               'computerName': (props.get('osProfile') or {}).get('computerName') or '',
               'vmLocation': vm.get('location'), 'vmSubscription': vm['id'].split('/')[2],
               'vmSize': (props.get('hardwareProfile') or {}).get('vmSize') or '',
               'powerState': f'PowerState/{power}' if power else '', 'provisioningState': props.get('provisioningState'),
               'hits': ['true'], 'id': vm['id']}
        for name, column in AzureContainment.FIND_NIC_LISTS.items():
            row[name] = [config[column] for config in configs]
        return row

    def _snapshot(self, method: str, low: str, path: str, body: Any) -> Answer:
        snapshot = self.resources.get(low)
        if method == 'GET':
            if snapshot is not None and snapshot['name'] in self.failing_snapshots:
                del self.resources[low]   # its creation failed: Azure does not keep it
                snapshot = None
            if snapshot is None:
                raise ArmFault(404, 'ResourceNotFound', f"The Resource 'Microsoft.Compute/snapshots/"
                                                        f"{path.rsplit('/', 1)[1]}' was not found.")
            view = copy.deepcopy(snapshot)
            reads = view.pop('creating_reads')
            view['properties']['provisioningState'] = 'Creating' if reads > 0 else 'Succeeded'
            snapshot['creating_reads'] = max(0, reads - 1)
            return Answer(200, view)
        if method != 'PUT':
            raise ArmFault(405, 'MethodNotAllowed', f'{method} {path}')
        parts = path.split('/')
        if f'{parts[2]}/{parts[4]}'.lower() not in RESOURCE_GROUPS:
            raise ArmFault(404, 'ResourceGroupNotFound', f"Resource group '{parts[4]}' could not be found.")
        self._validate_name(parts[-1])
        source = str(((body.get('properties') or {}).get('creationData') or {}).get('sourceResourceId') or '')
        disk = self.resources.get(source.lower())
        if disk is None:
            raise ArmFault(404, 'NotFound', f'Source disk {source} not found.')
        if (body.get('properties') or {}).get('incremental') and body.get('location') != disk['location']:
            raise ArmFault(400, 'BadRequest', 'An incremental snapshot must be in the region of its source disk.')
        stored = {'id': path, 'name': parts[-1], 'type': 'Microsoft.Compute/snapshots', 'location': body['location'],
                  'tags': dict(body.get('tags') or {}), 'creating_reads': self.snapshot_creating_reads,
                  'properties': {**copy.deepcopy(body['properties']), 'timeCreated': '2025-01-31T12:00:00+00:00',
                                 'diskSizeGB': 32}}
        self.resources[low] = stored
        view = copy.deepcopy(stored)
        del view['creating_reads']
        view['properties']['provisioningState'] = 'Creating'
        return self._started(202 if snapshot is None else 200, view, 'Microsoft.Compute', resource=low)

    def _effective(self, nic_key: str) -> Answer:
        """POST effectiveNetworkSecurityGroups: 400 unless a running VM uses the NIC, else 202 + Location whose
        result lists the NIC's NSG, then its subnet's, each with its rules and Azure's default rules."""
        nic = self.resources.get(nic_key)
        if nic is None:
            raise ArmFault(404, 'ResourceNotFound', f'NIC {nic_key} not found')
        vms = [v for v in self.resources.values() if '/virtualMachines/' in v.get('id', '') and any(
            ref['id'].lower() == nic_key for ref in v['properties']['networkProfile']['networkInterfaces'])]
        if not vms or vms[0].get('power') != 'running':
            raise ArmFault(400, 'NicMustBeAttachedToRunningVmToGetEffectiveSecurityGroups',
                           'Network interface must be attached to a running VM.')
        entries = []
        nsg_id = ((nic.get('properties') or {}).get('networkSecurityGroup') or {}).get('id')
        subnet_id = nic['properties']['ipConfigurations'][0]['properties']['subnet']['id']
        subnet_nsg = ((self.resources.get(subnet_id.lower(), {}).get('properties') or {}).get('networkSecurityGroup')
                      or {}).get('id')
        for ref, association in ((nsg_id, {'networkInterface': {'id': nic['id']}}),
                                 (subnet_nsg, {'subnet': {'id': subnet_id}})):
            nsg = self.resources.get(str(ref).lower()) if ref else None
            if nsg is not None:
                rules = [effective_form(r) for r in nsg['properties']['securityRules']]
                entries.append({'networkSecurityGroup': {'id': nsg['id']}, 'association': association,
                                'effectiveSecurityRules': rules + copy.deepcopy(DEFAULT_RULES)})
        url = f'{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operationResults/op{next(self._ids)}'
        self.operations[url] = ['result']
        self.effective_results[url] = {'value': entries}
        return Answer(202, None, {'Location': url + f'?api-version={AzureContainment.NETWORK_API_VERSION}',
                                  'Retry-After': '1'})

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
