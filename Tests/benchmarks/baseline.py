"""The baselines the benchmarks compare the pack with: a small ARM client that works the way raw rule-CRUD
integrations make users work (Cortex XSOAR's Azure Network Security Groups pack: azure-nsg-security-rule-create
takes a rule name, a priority and an address, one rule per call), driven against the emulator like the pack.

- block: one deny rule per address, each named after its address and given the next free priority, written one
  after another (ARM runs one write at a time on an NSG: a second write meanwhile gets 429);
- isolation: the isolation NSG, then the VM's NICs one by one.
Each write waits for its long-running operation as ARM asks: Retry-After seconds, then a poll of the
Azure-AsyncOperation URL, again until it is done; a 429 is sent again after its Retry-After. The counts it keeps are
what it sent (the benchmarks also count the emulator's log).
"""
from __future__ import annotations

import time
from typing import Any

import requests

NETWORK_API = '2024-05-01'
COMPUTE_API = '2024-07-01'
MAX_BUSY_RETRIES = 50


class BaselineClient:
    def __init__(self, emulator: Any, app: str = 'soc-responder'):
        creds = emulator.credentials[app]
        self.arm_url = emulator.arm_url.rstrip('/')
        self.session = requests.Session()
        self.verify = emulator.ca_bundle   # per request: requests lets REQUESTS_CA_BUNDLE win over Session.verify
        token = self.session.post(f"{emulator.login_url.rstrip('/')}/{creds['tenant_id']}/oauth2/v2.0/token", data={
            'grant_type': 'client_credentials', 'client_id': creds['client_id'], 'client_secret': creds['secret'],
            'scope': f'{self.arm_url}/.default'}, timeout=30, verify=self.verify)
        token.raise_for_status()
        self.session.headers['Authorization'] = f"Bearer {token.json()['access_token']}"
        self.sent = {'reads': 0, 'writes': 0, 'polls': 0, 'busy': 0}

    def close(self) -> None:
        self.session.close()

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _send(self, method: str, url: str, body: dict | None = None, api: str = NETWORK_API) -> requests.Response:
        if not url.startswith('https://'):
            url = f'{self.arm_url}{url}'
        params = None if 'api-version=' in url else {'api-version': api}
        for _ in range(MAX_BUSY_RETRIES):
            response = self.session.request(method, url, params=params, json=body, timeout=60, verify=self.verify)
            self.sent['reads' if method == 'GET' else 'writes'] += 1
            if response.status_code != 429:
                response.raise_for_status()
                return response
            self.sent['busy'] += 1
            time.sleep(float(response.headers.get('Retry-After') or 1))
        raise RuntimeError(f'{method} {url}: still 429 after {MAX_BUSY_RETRIES} tries')

    def write(self, method: str, path: str, body: dict | None = None) -> None:
        """One write and its long-running operation, to the end."""
        response = self._send(method, path, body)
        url = response.headers.get('Azure-AsyncOperation')
        while url:
            time.sleep(float(response.headers.get('Retry-After') or 1))
            response = self.session.get(url, timeout=60, verify=self.verify)
            self.sent['polls'] += 1
            response.raise_for_status()
            status = (response.json() or {}).get('status')
            if status in ('Succeeded', 'Failed', 'Canceled'):
                if status != 'Succeeded':
                    raise RuntimeError(f'{method} {path}: operation {status}')
                return

    # -- block ---------------------------------------------------------------------------------------------
    def block(self, nsg_path: str, addresses: list[str], direction: str = 'Inbound') -> list[str]:
        """One deny rule per address: name block-<address>, the next priority no rule of that direction uses.
        Returns the rule names written."""
        rules = self._send('GET', nsg_path).json()['properties'].get('securityRules') or []
        used = {r['properties']['priority'] for r in rules if r['properties']['direction'] == direction}
        priority, names = 100, []
        side = 'source' if direction == 'Inbound' else 'destination'
        other = 'destination' if side == 'source' else 'source'
        for address in addresses:
            while priority in used:
                priority += 1
            name = 'block-' + address.replace('.', '-').replace(':', '-').replace('/', '_')
            self.write('PUT', f'{nsg_path}/securityRules/{name}', {'properties': {
                'access': 'Deny', 'direction': direction, 'priority': priority, 'protocol': '*',
                f'{side}AddressPrefix': address, f'{other}AddressPrefix': '*', 'sourcePortRange': '*',
                'destinationPortRange': '*', 'description': 'blocked by the baseline'}})
            used.add(priority)
            names.append(name)
        return names

    # -- isolation -----------------------------------------------------------------------------------------
    def isolate(self, rg_path: str, vm_name: str) -> None:
        """A deny-all NSG for the VM, then each NIC moved to it, one after another."""
        vm = self._send('GET', f'{rg_path}/providers/Microsoft.Compute/virtualMachines/{vm_name}', api=COMPUTE_API)
        refs = vm.json()['properties']['networkProfile']['networkInterfaces']
        nics = [self._send('GET', ref['id']).json() for ref in refs]
        nsg_path = f'{rg_path}/providers/Microsoft.Network/networkSecurityGroups/baseline-isolation-{vm_name}'
        deny = [{'name': f'deny-all-{d.lower()}', 'properties': {
            'access': 'Deny', 'direction': d, 'priority': 4096, 'protocol': '*', 'sourceAddressPrefix': '*',
            'destinationAddressPrefix': '*', 'sourcePortRange': '*', 'destinationPortRange': '*'}}
            for d in ('Inbound', 'Outbound')]
        self.write('PUT', nsg_path, {'location': vm.json()['location'], 'properties': {'securityRules': deny}})
        nsg_id = nsg_path
        for nic in nics:
            body = {k: v for k, v in nic.items() if k != 'etag'}
            body['properties'] = dict(nic['properties'], networkSecurityGroup={'id': nsg_id})
            self.write('PUT', nic['id'], body)

    # -- find ----------------------------------------------------------------------------------------------
    def list_all(self, path: str, api: str = NETWORK_API) -> list[dict]:
        """Every item of an ARM list, following nextLink."""
        items: list[dict] = []
        url: str | None = path
        while url:
            page = self._send('GET', url, api=api).json()
            items += page.get('value') or []
            url = page.get('nextLink')
        return items

    def find_by_walk(self, subscription_id: str, addresses: list[str]) -> dict[str, list[str]]:
        """The walk peers do to find the VM of an address: every NIC and every public IP of the subscription, paged
        (cost grows with the estate, not with the number of addresses). Returns address -> the VM IDs holding it."""
        sub = f'/subscriptions/{subscription_id}/providers/Microsoft.Network'
        nics = self.list_all(f'{sub}/networkInterfaces')
        pips = {p['id'].lower(): (p.get('properties') or {}).get('ipAddress')
                for p in self.list_all(f'{sub}/publicIPAddresses')}
        wanted = set(addresses)
        found: dict[str, list[str]] = {a: [] for a in addresses}
        for nic in nics:
            props = nic.get('properties') or {}
            vm = (props.get('virtualMachine') or {}).get('id')
            for config in props.get('ipConfigurations') or []:
                cprops = config.get('properties') or {}
                held = {str(cprops.get('privateIPAddress')),
                        str(pips.get(str((cprops.get('publicIPAddress') or {}).get('id')).lower()))}
                for address in held & wanted:
                    if vm and vm not in found[address]:
                        found[address].append(vm)
        return found
