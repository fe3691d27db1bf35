"""Azure Resource Manager: subscriptions, resource groups, VMs, NICs, NSGs and their rules, virtual networks.

What it reproduces (from Azure's REST specs and observed behaviour):
- `api-version` is required on every call (400 MissingApiVersionParameter / InvalidApiVersionParameter); any
  well-formed YYYY-MM-DD[-preview] value is accepted.
- Bearer tokens are checked by the identity service (signature, audience, expiry) -> 401 with ARM's codes.
- RBAC per caller object id from role assignments (built-in + custom roles, `*` wildcards) at subscription or
  resource-group scope -> 403 AuthorizationFailed; NIC writes that link an NSG or subnet also need its
  `join/action` -> 403 LinkedAuthorizationFailed.
- Network writes (NSG, security rule, NIC PUT/DELETE) are long-running: the PUT answers 201/200 with
  provisioningState Updating and an Azure-AsyncOperation URL; DELETE answers 202 with Azure-AsyncOperation and
  Location. While such a write runs (settings.lro_seconds) the NSG (with its rules) or NIC is locked: another
  write gets 429 RetryableErrorDueToAnotherOperation with Retry-After.
- VM start/powerOff/deallocate/restart answer 202 with Azure-AsyncOperation + Location (monitor=true) +
  Retry-After; the power state passes through starting/stopping/deallocating for settings.vm_transition_seconds.
  powerOff or restart of a deallocated VM is 409 OperationNotAllowed; a newer action preempts a running one.
- NSG PUT replaces securityRules entirely; defaultSecurityRules are always present; etags change on every write
  and If-Match is ignored (as Azure does for NSGs and rules); rules and NSG share one etag.
- Security-rule validation: priority range, SecurityRuleConflict (same priority and direction), 1000 rules per
  NSG, 4000 prefixes per NSG and side, singular/plural prefix fields exclusive, no IPv4/IPv6 mix in one rule,
  description up to 140 characters, resource names (80 chars, word characters, '.', '-', '_').
"""
from __future__ import annotations

import copy
import ipaddress
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from typing import Any
from collections.abc import Callable
from urllib.parse import unquote

from ..http import Request, Response
from ..scenario import resolved_assignments
from .lro import Operation, Operations, now_iso
from . import errors as E
from .authorization.rbac import RoleModel
from .errors import ArmError

PUBLIC_AUDIENCES = {
    "https://management.azure.com", "https://management.azure.com/",
    "https://management.core.windows.net", "https://management.core.windows.net/",
}
SUPPORTED_VERSIONS = "2025-05-01, 2025-01-01, 2024-07-01, 2024-05-01, 2024-03-01, 2023-11-01, 2023-09-01"
API_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
NAME_RE = re.compile(r"\w(?:[\w.\-]{0,78}\w)?")
SERVICE_TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)?")
PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
VNET_TYPE = "Microsoft.Network/virtualNetworks"
VM_TYPE = "Microsoft.Compute/virtualMachines"
KIND_TYPES = {"nsg": NSG_TYPE, "nic": NIC_TYPE, "vnet": VNET_TYPE, "vm": VM_TYPE}
TYPE_KINDS = {rtype.lower(): kind for kind, rtype in KIND_TYPES.items()}
DESCRIPTION_MAX = 140

DEFAULT_RULES = [
    ("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny", "Deny all inbound traffic"),
    ("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny", "Deny all outbound traffic"),
]

POWER_DISPLAY = {"starting": "VM starting", "running": "VM running", "stopping": "VM stopping",
                 "stopped": "VM stopped", "deallocating": "VM deallocating", "deallocated": "VM deallocated"}


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def _copy_but(body: dict, child_key: str) -> dict:
    """A deep copy of a resource body, except properties[child_key] (left None, in its place): the caller renders
    those children itself, so they are not copied twice."""
    return copy.deepcopy({**body, "properties": {**body["properties"], child_key: None}})


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Rec:
    """One top-level resource and its runtime state."""

    kind: str                      # rg | vnet | nsg | nic | vm
    body: dict
    sub: str = ""
    rg: str = ""
    busy_until: float = 0.0        # a Network write is in progress until then (monotonic clock)
    busy_op: str = ""
    busy_name: str = ""
    deleting: bool = False
    rule_busy: dict = field(default_factory=dict)   # lower rule name -> busy_until
    power: str = "running"         # VMs: the settled power state
    hibernated: bool = False
    trans: dict | None = None      # VMs: {"code", "target", "until", "op"} while an action runs


class ArmService:
    """The ARM listener's service. Thread-safe: one lock around each request."""

    def __init__(self, scenario: dict, identity: Any, *, lro_fault: Callable[[Request], dict | None] | None = None,
                 login_url: Callable[[], str] | None = None):
        self.identity = identity
        self.lro_fault = lro_fault or (lambda request: None)
        self.login_url = login_url or (lambda: "")
        self.lock = threading.RLock()
        self.load(scenario)

    # ------------------------------------------------------------------ scenario -> state
    def load(self, scenario: dict) -> None:
        with self.lock:
            self.scenario = scenario
            self.settings = scenario["settings"]
            self.roles = RoleModel(scenario.get("custom_roles", []), resolved_assignments(scenario))
            self.subs: dict[str, dict] = {}
            self.res: dict[str, Rec] = {}
            self.operations = Operations(self.res, self.settings, self.lro_fault)
            self.users = {u["object_id"].lower(): u["upn"] for u in scenario.get("users", [])}
            for sub in scenario.get("subscriptions", []):
                self._load_subscription(sub)

    def _load_subscription(self, sub: dict) -> None:
        sid = sub["id"]
        self.subs[sid.lower()] = {
            "id": f"/subscriptions/{sid}", "authorizationSource": "RoleBased", "subscriptionId": sid,
            "tenantId": sub["tenant"], "displayName": sub.get("display_name", sid), "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}}
        for rg in sub.get("resource_groups", []):
            rg_id = f"/subscriptions/{sid}/resourceGroups/{rg['name']}"
            loc = rg.get("location", "eastus")
            self.res[rg_id.lower()] = Rec("rg", {
                "id": rg_id, "name": rg["name"], "type": "Microsoft.Resources/resourceGroups", "location": loc,
                "tags": rg.get("tags", {}), "properties": {"provisioningState": "Succeeded"}}, sid, rg["name"])
            prefix = f"{rg_id}/providers"
            for nsg in rg.get("network_security_groups", []):
                nsg_id = f"{prefix}/{NSG_TYPE}/{nsg['name']}"
                rules = [self._rule_body(nsg_id, r["name"], self._scenario_rule(r))
                         for r in nsg.get("security_rules", [])]
                etag = _etag()
                for r in rules:
                    r["etag"] = etag
                self.res[nsg_id.lower()] = Rec("nsg", {
                    "name": nsg["name"], "id": nsg_id, "etag": etag, "type": NSG_TYPE,
                    "location": nsg.get("location", loc), "tags": nsg.get("tags", {}),
                    "properties": {"resourceGuid": str(uuid.uuid4()),
                                   "flushConnection": bool(nsg.get("flush_connection", False)),
                                   "securityRules": rules}}, sid, rg["name"])
            for vnet in rg.get("virtual_networks", []):
                vnet_id = f"{prefix}/{VNET_TYPE}/{vnet['name']}"
                subnets = []
                for sn in vnet.get("subnets", []):
                    sprops: dict[str, Any] = {"addressPrefix": sn["address_prefix"]}
                    if sn.get("network_security_group"):
                        sprops["networkSecurityGroup"] = {"id": f"{prefix}/{NSG_TYPE}/{sn['network_security_group']}"}
                    subnets.append({"name": sn["name"], "id": f"{vnet_id}/subnets/{sn['name']}", "etag": _etag(),
                                    "type": f"{VNET_TYPE}/subnets", "properties": sprops})
                self.res[vnet_id.lower()] = Rec("vnet", {
                    "name": vnet["name"], "id": vnet_id, "etag": _etag(), "type": VNET_TYPE,
                    "location": vnet.get("location", loc), "tags": vnet.get("tags", {}),
                    "properties": {"resourceGuid": str(uuid.uuid4()),
                                   "addressSpace": {"addressPrefixes": list(vnet.get("address_prefixes", []))},
                                   "subnets": subnets, "virtualNetworkPeerings": [],
                                   "enableDdosProtection": False}}, sid, rg["name"])
            for i, nic in enumerate(rg.get("network_interfaces", [])):
                nic_id = f"{prefix}/{NIC_TYPE}/{nic['name']}"
                vnet_name, subnet_name = nic["subnet"].split("/")
                ipconf = {"name": "ipconfig1", "id": f"{nic_id}/ipConfigurations/ipconfig1",
                          "type": f"{NIC_TYPE}/ipConfigurations",
                          "properties": {"privateIPAddress": nic.get("private_ip"),
                                         "privateIPAllocationMethod": "Static" if nic.get("private_ip") else "Dynamic",
                                         "subnet": {"id": f"{prefix}/{VNET_TYPE}/{vnet_name}/subnets/{subnet_name}"},
                                         "primary": True, "privateIPAddressVersion": "IPv4"}}
                props: dict[str, Any] = {
                    "resourceGuid": str(uuid.uuid4()), "ipConfigurations": [ipconf],
                    "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                    "macAddress": f"00-0D-3A-{len(self.res) % 256:02X}-{i % 256:02X}-{(len(self.res) * 7) % 256:02X}",
                    "enableAcceleratedNetworking": False, "vnetEncryptionSupported": False,
                    "enableIPForwarding": False, "disableTcpStateTracking": False, "hostedWorkloads": [],
                    "tapConfigurations": [], "nicType": "Standard", "allowPort25Out": True, "auxiliaryMode": "None",
                    "auxiliarySku": "None"}
                if nic.get("network_security_group"):
                    props["networkSecurityGroup"] = {"id": f"{prefix}/{NSG_TYPE}/{nic['network_security_group']}"}
                etag = _etag()
                ipconf["etag"] = etag
                self.res[nic_id.lower()] = Rec("nic", {
                    "name": nic["name"], "id": nic_id, "etag": etag, "type": NIC_TYPE,
                    "location": nic.get("location", loc), "tags": nic.get("tags", {}), "kind": "Regular",
                    "properties": props}, sid, rg["name"])
            for vm in rg.get("virtual_machines", []):
                vm_id = f"{prefix}/{VM_TYPE}/{vm['name']}"
                nic_refs = []
                for j, nic_name in enumerate(vm.get("network_interfaces", [])):
                    nic_id = f"{prefix}/{NIC_TYPE}/{nic_name}"
                    nic_refs.append({"id": nic_id, "properties": {"primary": j == 0}})
                    nic_rec = self.res.get(nic_id.lower())
                    if nic_rec is not None:
                        nic_rec.body["properties"]["virtualMachine"] = {"id": vm_id}
                        nic_rec.body["properties"]["primary"] = j == 0
                rec = Rec("vm", {
                    "name": vm["name"], "id": vm_id, "type": VM_TYPE, "location": vm.get("location", loc),
                    "tags": vm.get("tags", {}),
                    "properties": {
                        "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower())),
                        "hardwareProfile": {"vmSize": vm.get("size", "Standard_B2s")},
                        "storageProfile": {
                            "imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                               "sku": "22_04-lts-gen2", "version": "latest",
                                               "exactVersion": "22.04.202401010"},
                            "osDisk": {"osType": "Linux", "name": f"{vm['name']}_OsDisk_1",
                                       "createOption": "FromImage", "caching": "ReadWrite",
                                       "managedDisk": {"storageAccountType": "Premium_LRS",
                                                       "id": f"{rg_id}/providers/Microsoft.Compute/disks/"
                                                             f"{vm['name']}_OsDisk_1"},
                                       "deleteOption": "Delete", "diskSizeGB": 30},
                            "dataDisks": []},
                        "osProfile": {"computerName": vm["name"], "adminUsername": "azureuser",
                                      "linuxConfiguration": {"disablePasswordAuthentication": True,
                                                             "provisionVMAgent": True},
                                      "secrets": [], "allowExtensionOperations": True},
                        "networkProfile": {"networkInterfaces": nic_refs},
                        "timeCreated": "2024-01-01T00:00:00.0000000+00:00"}},
                    sid, rg["name"], power=vm.get("power_state", "running"))
                self.res[vm_id.lower()] = rec

    @staticmethod
    def _scenario_rule(rule: dict) -> dict:
        props = {_camel(k): v for k, v in rule.items() if k != "name"}
        props.setdefault("sourcePortRange", "*")
        return props

    @staticmethod
    def _rule_body(nsg_id: str, name: str, props: dict) -> dict:
        p = dict(props)
        for plural in ("sourcePortRanges", "destinationPortRanges", "sourceAddressPrefixes",
                       "destinationAddressPrefixes"):
            p.setdefault(plural, [])
        return {"name": name, "id": f"{nsg_id}/securityRules/{name}", "etag": "",
                "type": f"{NSG_TYPE}/securityRules", "properties": p}

    # ------------------------------------------------------------------ time, operations, snapshots
    def settle(self) -> None:
        """Finish every operation whose time has come (success or injected failure)."""
        with self.lock:
            self.operations.settle()

    def _retry_after(self) -> str:
        return str(self.operations.retry_after)

    # ------------------------------------------------------------------ entry point
    def audiences(self, request: Request) -> set[str]:
        return PUBLIC_AUDIENCES | {request.base_url, request.base_url + "/"}

    def handle(self, request: Request) -> Response:
        start_headers = {"x-ms-request-id": str(uuid.uuid4()),
                         "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id")
                         or str(uuid.uuid4())}
        start_headers["x-ms-routing-request-id"] = (
            f"EASTUS:{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}:{start_headers['x-ms-request-id']}")
        try:
            response = self._handle(request)
        except ArmError as err:
            response = err.response()
        for key, value in start_headers.items():
            response.headers.setdefault(key, value)
        if request.method in ("PUT", "PATCH", "POST", "DELETE"):
            response.headers.setdefault("x-ms-ratelimit-remaining-subscription-writes", "1199")
        else:
            response.headers.setdefault("x-ms-ratelimit-remaining-subscription-reads", "11999")
        return response

    def _handle(self, request: Request) -> Response:
        claims = self._authenticate(request)
        self._check_api_version(request)
        self.settle()
        with self.lock:
            return self._route(request, claims)

    def _authenticate(self, request: Request) -> dict:
        if self.identity is None:
            raise E.no_identity_service(self.login_url())
        header = request.headers.get("Authorization")
        try:
            claims = self.identity.verify_bearer(header, self.audiences(request))
        except Exception as exc:  # TokenRejected(code, message) from identity.py
            code = getattr(exc, "code", None)
            if code is None:
                raise
            raise E.authentication(code, getattr(exc, "message", str(exc)), self.login_url()) from None
        request.client = claims.get("appid") or claims.get("oid")
        return claims

    @staticmethod
    def _check_api_version(request: Request) -> None:
        value = request.arg("api-version")
        if value is None:
            raise E.missing_api_version()
        match = API_VERSION_RE.match(value)
        valid = False
        if match:
            try:
                date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
                valid = True
            except ValueError:
                valid = False
        if not valid:
            raise E.invalid_api_version(value, SUPPORTED_VERSIONS)

    # ------------------------------------------------------------------ routing
    @staticmethod
    def _segments(request: Request) -> list[str]:
        raw = (request.raw_path or request.path).split("?", 1)[0]
        return [unquote(s) for s in raw.strip("/").split("/")] if raw.strip("/") else []

    def _route(self, request: Request, claims: dict) -> Response:
        seg = self._segments(request)
        low = [s.lower() for s in seg]
        m = request.method
        if not seg or low[0] != "subscriptions":
            raise E.unknown_path(request.path)
        if len(seg) == 1:
            return self._only(m, "GET") or self._list_subscriptions(request, claims)
        sub = seg[1]
        sub_rec = self._subscription(sub, claims)
        sub = sub_rec["subscriptionId"]
        rest, rest_l = seg[2:], low[2:]
        if not rest:
            return self._only(m, "GET") or self._get_subscription(claims, sub_rec)
        if rest_l[0] == "providers":
            return self._route_provider(request, claims, sub, None, rest[1:], rest_l[1:])
        if rest_l[0] == "resourcegroups":
            if len(rest) == 1:
                return self._only(m, "GET") or self._list_rgs(request, claims, sub)
            rg = rest[1]
            if len(rest) == 2:
                return self._only(m, "GET") or self._get_rg(claims, sub, rg)
            if rest_l[2] == "providers" and len(rest) >= 5:
                return self._route_provider(request, claims, sub, rg, rest[3:], rest_l[3:])
        raise E.invalid_request_uri(request.path)

    @staticmethod
    def _only(method: str, *allowed: str) -> Response | None:
        if method in allowed:
            return None
        raise E.method_not_allowed(method)

    def _route_provider(self, request: Request, claims: dict, sub: str, rg: str | None, seg: list[str],
                        low: list[str]) -> Response:
        m = request.method
        if len(low) < 2:
            raise E.invalid_request_uri(request.path)
        ns, rtype = low[0], low[1]
        scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
        if ns == "microsoft.authorization" and rtype == "permissions" and len(low) == 2:
            self._only(m, "GET")
            if rg:
                self._rg_rec(sub, rg)
            return Response(200, {"value": self.roles.permissions(claims.get("oid"), scope)})
        if rtype == "locations" and rg is None and len(low) == 5 and low[3] in ("operations", "operationresults"):
            self._only(m, "GET")
            return self._operation(request, seg[4], low[3] == "operationresults", ns)
        kind = TYPE_KINDS.get(f"{ns}/{rtype}")
        if kind is None:
            raise E.invalid_resource_type(seg[1], seg[0], request.arg('api-version'))
        if len(seg) == 2:
            self._only(m, "GET")
            return self._list(request, claims, sub, rg, kind)
        if rg is None:
            raise E.invalid_request_uri(request.path)
        name, tail, tail_l = seg[2], seg[3:], low[3:]
        handler = getattr(self, f"_{kind}_route")
        return handler(request, claims, sub, rg, name, tail, tail_l)

    # ------------------------------------------------------------------ access checks
    def _client_name(self, claims: dict) -> str:
        if claims.get("idtyp") == "user" or claims.get("upn"):
            return claims.get("upn") or self.users.get(str(claims.get("oid")).lower()) or claims.get("oid", "")
        return claims.get("appid") or claims.get("oid", "")

    def _authorize(self, claims: dict, action: str, scope: str) -> None:
        if not self.roles.allowed(claims.get("oid"), action, scope):
            raise E.authorization_failed(self._client_name(claims), claims.get("oid", ""), action, scope)

    def _linked(self, claims: dict, action: str, scope: str, linked_action: str, linked_scope: str) -> None:
        if not self.roles.allowed(claims.get("oid"), linked_action, linked_scope):
            raise E.linked_authorization_failed(self._client_name(claims), claims.get("oid", ""), action, scope,
                                                linked_action, linked_scope)

    def _subscription(self, sub: str, claims: dict) -> dict:
        rec = self.subs.get(sub.lower())
        if rec is None:
            raise E.subscription_not_found(sub)
        tid = claims.get("tid")
        if tid and tid.lower() != rec["tenantId"].lower():
            raise E.wrong_token_tenant(tid, rec["tenantId"], self.login_url())
        return rec

    def _rg_rec(self, sub: str, rg: str) -> Rec:
        rec = self.res.get(f"/subscriptions/{sub}/resourcegroups/{rg}".lower())
        if rec is None:
            raise E.resource_group_not_found(rg)
        return rec

    def _resource(self, sub: str, rg: str, rtype: str, name: str) -> Rec:
        rg_name = self._rg_rec(sub, rg).body["name"]
        rec = self.res.get(f"/subscriptions/{sub}/resourcegroups/{rg}/providers/{rtype}/{name}".lower())
        if rec is None:
            raise E.resource_not_found(f"{rtype}/{name}", rg_name)
        return rec

    def _authorized(self, claims: dict, sub: str, rg: str, rtype: str, name: str, action: str) -> Rec:
        """The resource once the caller may do `{rtype}/{action}` on it (RBAC is checked before existence)."""
        self._authorize(claims, f"{rtype}/{action}", self._rid(sub, rg, rtype, name))
        return self._resource(sub, rg, rtype, name)

    def _rid(self, sub: str, rg: str, rtype: str, name: str) -> str:
        rg_rec = self.res.get(f"/subscriptions/{sub}/resourcegroups/{rg}".lower())
        rg_name = rg_rec.body["name"] if rg_rec else rg
        return f"/subscriptions/{sub}/resourceGroups/{rg_name}/providers/{rtype}/{name}"

    @staticmethod
    def _json_body(request: Request) -> dict:
        try:
            body = request.json()
        except ValueError as exc:
            raise E.invalid_request_content(str(exc)) from None
        if not isinstance(body, dict):
            raise E.invalid_request_content("The request body must be a JSON object.")
        return body

    @staticmethod
    def _check_name(name: str) -> None:
        if not NAME_RE.fullmatch(name):
            raise E.invalid_resource_name(name)

    def _check_not_busy(self, rec: Rec, op_name: str) -> None:
        if time.monotonic() < rec.busy_until or rec.deleting:
            raise E.another_operation(rec.body["id"], op_name, rec.busy_name or "PutOperation", rec.busy_op,
                                      int(self._retry_after()))

    # ------------------------------------------------------------------ paging
    def _page(self, request: Request, items: list[dict]) -> Response:
        size = max(1, int(self.settings.get("page_size", 2)))
        try:
            skip = max(0, int(request.arg("$skiptoken", "0") or 0))
        except ValueError:
            raise E.invalid_skip_token() from None
        body: dict[str, Any] = {"value": items[skip:skip + size]}
        if skip + size < len(items):
            extra = "".join(f"&{k}={v[0]}" for k, v in request.query.items()
                            if k not in ("api-version", "$skiptoken") and v)
            body["nextLink"] = (f"{request.base_url}{request.raw_path.split('?', 1)[0]}"
                                f"?api-version={request.arg('api-version')}{extra}&$skiptoken={skip + size}")
        return Response(200, body)

    # ------------------------------------------------------------------ subscriptions, resource groups
    def _list_subscriptions(self, request: Request, claims: dict) -> Response:
        tid = (claims.get("tid") or "").lower()
        subs = [copy.deepcopy(s) for s in self.subs.values()
                if (not tid or s["tenantId"].lower() == tid)
                and self.roles.has_any_assignment_under(claims.get("oid"), s["id"])]
        response = self._page(request, subs)
        response.body["count"] = {"type": "Total", "value": len(subs)}
        return response

    def _get_subscription(self, claims: dict, sub_rec: dict) -> Response:
        if not self.roles.has_any_assignment_under(claims.get("oid"), sub_rec["id"]):
            raise E.authorization_failed(self._client_name(claims), claims.get("oid", ""),
                                         "Microsoft.Resources/subscriptions/read", sub_rec["id"])
        return Response(200, copy.deepcopy(sub_rec))

    def _list_rgs(self, request: Request, claims: dict, sub: str) -> Response:
        action = "Microsoft.Resources/subscriptions/resourceGroups/read"
        rgs = [copy.deepcopy(r.body) for r in self.res.values() if r.kind == "rg" and r.sub.lower() == sub.lower()
               and self.roles.allowed(claims.get("oid"), action, r.body["id"])]
        if not rgs and not self.roles.allowed(claims.get("oid"), action, f"/subscriptions/{sub}"):
            self._authorize(claims, action, f"/subscriptions/{sub}")
        return self._page(request, rgs)

    def _get_rg(self, claims: dict, sub: str, rg: str) -> Response:
        self._authorize(claims, "Microsoft.Resources/subscriptions/resourceGroups/read",
                        f"/subscriptions/{sub}/resourceGroups/{rg}")
        return Response(200, copy.deepcopy(self._rg_rec(sub, rg).body))

    # ------------------------------------------------------------------ lists
    def _list(self, request: Request, claims: dict, sub: str, rg: str | None, kind: str) -> Response:
        rtype = KIND_TYPES[kind]
        scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
        self._authorize(claims, f"{rtype}/read", scope)
        if rg:
            self._rg_rec(sub, rg)
        # statusOnly=true on the subscription-wide VM list returns each VM with its instance view (power state).
        status_only = kind == "vm" and not rg and (request.arg("statusOnly") or "").lower() == "true"
        expand = (request.arg("$expand") or "").lower() == "instanceview" or status_only
        items = []
        for rec in self.res.values():
            if rec.kind != kind or rec.sub.lower() != sub.lower() or (rg and rec.rg.lower() != rg.lower()):
                continue
            items.append(self._render(rec, expand=expand))
        items.sort(key=lambda b: b["id"].lower())
        return self._page(request, items)

    def _render(self, rec: Rec, *, expand: bool = False) -> dict:
        return {"nsg": self._render_nsg, "nic": self._render_nic, "vnet": self._render_vnet,
                "rg": lambda r: copy.deepcopy(r.body),
                "vm": lambda r: self._render_vm(r, expand)}[rec.kind](rec)

    def state(self) -> dict:
        """Every resource as GET returns it (VMs with their instance view), keyed by lower-cased id."""
        self.settle()
        with self.lock:
            out: dict[str, dict] = {}
            for sub in self.subs.values():
                out[sub["id"].lower()] = copy.deepcopy(sub)
            for key, rec in self.res.items():
                body = self._render(rec, expand=True)
                out[key] = body
                if rec.kind == "nsg":
                    for rule in body["properties"]["securityRules"]:
                        out[rule["id"].lower()] = rule
                if rec.kind == "vnet":
                    for subnet in body["properties"]["subnets"]:
                        out[subnet["id"].lower()] = subnet
            return {"resources": out}

    # ------------------------------------------------------------------ NSGs
    def _nsg_state(self, rec: Rec) -> str:
        if rec.deleting:
            return "Deleting"
        return "Updating" if time.monotonic() < rec.busy_until else "Succeeded"

    def _render_rule(self, rec: Rec, rule: dict, now: float | None = None) -> dict:
        now = time.monotonic() if now is None else now
        body = copy.deepcopy(rule)
        body["etag"] = rec.body["etag"]
        busy = rec.rule_busy.get(rule["name"].lower(), 0.0) > now
        body["properties"]["provisioningState"] = "Updating" if busy else "Succeeded"
        return body

    def _default_rules(self, rec: Rec) -> list[dict]:
        nsg_id = rec.body["id"]
        return [{"name": n, "id": f"{nsg_id}/defaultSecurityRules/{n}", "etag": rec.body["etag"],
                 "type": f"{NSG_TYPE}/defaultSecurityRules",
                 "properties": {"provisioningState": "Succeeded", "description": desc, "protocol": "*",
                                "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": src,
                                "destinationAddressPrefix": dst, "access": access, "priority": prio,
                                "direction": direction, "sourcePortRanges": [], "destinationPortRanges": [],
                                "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}
                for n, direction, prio, src, dst, access, desc in DEFAULT_RULES]

    def _render_nsg(self, rec: Rec) -> dict:
        body = _copy_but(rec.body, "securityRules")
        nsg_l = rec.body["id"].lower()
        props = body["properties"]
        props["provisioningState"] = self._nsg_state(rec)
        now = time.monotonic()
        props["securityRules"] = [self._render_rule(rec, r, now) for r in rec.body["properties"]["securityRules"]]
        props["defaultSecurityRules"] = self._default_rules(rec)
        nics, subnets = [], []
        for other in self.res.values():
            if other.kind == "nic":
                ref = (other.body["properties"].get("networkSecurityGroup") or {}).get("id", "")
                if ref.lower() == nsg_l:
                    nics.append({"id": other.body["id"]})
            elif other.kind == "vnet":
                for sn in other.body["properties"]["subnets"]:
                    if (sn["properties"].get("networkSecurityGroup") or {}).get("id", "").lower() == nsg_l:
                        subnets.append({"id": sn["id"]})
        if nics:
            props["networkInterfaces"] = nics
        if subnets:
            props["subnets"] = subnets
        ordered = {k: props.pop(k) for k in ("provisioningState", "resourceGuid", "flushConnection") if k in props}
        ordered.update(props)
        body["properties"] = ordered
        return body

    def _nsg_route(self, request: Request, claims: dict, sub: str, rg: str, name: str, tail: list[str],
                   tail_l: list[str]) -> Response:
        m = request.method
        nsg_id = self._rid(sub, rg, NSG_TYPE, name)
        if not tail:
            if m == "GET":
                return Response(200, self._render_nsg(self._authorized(claims, sub, rg, NSG_TYPE, name, "read")))
            if m == "PUT":
                return self._put_nsg(request, claims, sub, rg, name)
            if m == "DELETE":
                return self._delete_nsg(request, claims, sub, rg, name)
            if m == "PATCH":
                return self._patch_nsg(request, claims, sub, rg, name)
            self._only(m)
        if tail_l[0] == "securityrules":
            if len(tail) == 1:
                self._only(m, "GET")
                rec = self._authorized(claims, sub, rg, NSG_TYPE, name, "securityRules/read")
                now = time.monotonic()
                return self._page(request, [self._render_rule(rec, r, now)
                                            for r in rec.body["properties"]["securityRules"]])
            if len(tail) == 2:
                return self._rule_route(request, claims, sub, rg, name, tail[1])
        if tail_l[0] == "defaultsecurityrules" and len(tail) in (1, 2):
            self._only(m, "GET")
            rules = self._default_rules(self._authorized(claims, sub, rg, NSG_TYPE, name, "defaultSecurityRules/read"))
            if len(tail) == 1:
                return self._page(request, rules)
            for rule in rules:
                if rule["name"].lower() == tail_l[1]:
                    return Response(200, rule)
            raise E.child_not_found(f"{nsg_id}/defaultSecurityRules/{tail[1]}")
        raise E.invalid_request_uri(request.path)

    # --- rule validation
    def _validate_rule(self, nsg_id: str, name: str, props: Any) -> dict:
        rule_id = f"{nsg_id}/securityRules/{name}"
        self._check_name(name)
        if not isinstance(props, dict):
            raise E.invalid_request_content(f"Security rule {name} has no properties.")
        out = {k: v for k, v in props.items() if k not in ("provisioningState",)}
        protocol = props.get("protocol")
        if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
            raise E.rule_invalid_value(rule_id, "Protocol", protocol, "Allowed values: Tcp, Udp, Icmp, Esp, Ah, *.")
        out["protocol"] = PROTOCOLS[protocol.lower()]
        access = props.get("access")
        if not isinstance(access, str) or access.lower() not in ("allow", "deny"):
            raise E.rule_invalid_value(rule_id, "Access", access, "Allowed values: Allow, Deny.")
        out["access"] = access.capitalize()
        direction = props.get("direction")
        if not isinstance(direction, str) or direction.lower() not in ("inbound", "outbound"):
            raise E.rule_invalid_value(rule_id, "Direction", direction, "Allowed values: Inbound, Outbound.")
        out["direction"] = direction.capitalize()
        priority = props.get("priority")
        lo, hi = int(self.settings["rule_priority_min"]), int(self.settings["rule_priority_max"])
        if isinstance(priority, bool) or not isinstance(priority, int) or not lo <= priority <= hi:
            raise E.rule_invalid_value(rule_id, "Priority", priority, f"Allowed range {lo}-{hi}.")
        description = props.get("description")
        if description is not None and len(str(description)) > DESCRIPTION_MAX:
            raise E.rule_description_too_long(rule_id, len(str(description)), DESCRIPTION_MAX)
        for side in ("source", "destination"):
            single, plural = props.get(f"{side}PortRange"), props.get(f"{side}PortRanges") or []
            for value in ([single] if single not in (None, "") else []) + list(plural):
                if not self._valid_port(value):
                    raise E.rule_invalid_port_range(value)
        families = set()
        for side in ("source", "destination"):
            cap = side.capitalize()
            single, plural = props.get(f"{side}AddressPrefix"), props.get(f"{side}AddressPrefixes") or []
            if not isinstance(plural, list):
                raise E.invalid_request_content(f"{side}AddressPrefixes must be an array.")
            if single not in (None, "") and plural:
                raise E.rule_prefix_fields_together(rule_id, cap)
            for value in plural:
                if not isinstance(value, str) or self._prefix_family(value) is None:
                    if isinstance(value, str) and (value == "*" or SERVICE_TAG_RE.fullmatch(value)):
                        raise E.rule_tag_in_prefix_list(rule_id, cap, value)
                    raise E.rule_invalid_address_prefix(rule_id, value)
                families.add(self._prefix_family(value))
            if single not in (None, ""):
                family = self._prefix_family(single) if isinstance(single, str) else None
                if family is None and not (isinstance(single, str) and (single == "*" or
                                                                        SERVICE_TAG_RE.fullmatch(single))):
                    raise E.rule_invalid_address_prefix(rule_id, single)
                if family:
                    families.add(family)
        if len(families) > 1:
            raise E.mixed_address_families(rule_id)
        return out

    @staticmethod
    def _valid_port(value: Any) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):
            return 0 <= value <= 65535
        if not isinstance(value, str):
            return False
        if value == "*":
            return True
        parts = value.split("-")
        if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
            return False
        nums = [int(p) for p in parts]
        return all(0 <= n <= 65535 for n in nums) and nums[0] <= nums[-1]

    @staticmethod
    def _prefix_family(value: str) -> str | None:
        try:
            net = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return None
        return f"IPv{net.version}"

    def _check_rule_set(self, nsg_id: str, rules: list[dict], changed: set[str]) -> None:
        """Conflicts (same priority + direction) and NSG-wide limits over the whole rule set."""
        seen: dict[tuple, str] = {}
        ordered = sorted(rules, key=lambda r: (r["name"].lower() in changed, r["name"].lower()))
        for rule in ordered:
            key = (rule["properties"]["priority"], rule["properties"]["direction"])
            if key in seen:
                raise E.rule_conflict(rule['name'], seen[key])
            seen[key] = rule["name"]
        limit = int(self.settings["max_rules_per_nsg"])
        if len(rules) > limit:
            raise E.rule_count_limit(limit)
        max_prefixes = int(self.settings["max_prefixes_per_nsg_side"])
        for side, label in (("source", "SourceAddressPrefixes"), ("destination", "DestinationAddressPrefixes")):
            total = 0
            for rule in rules:
                p = rule["properties"]
                plural = p.get(f"{side}AddressPrefixes") or []
                single = p.get(f"{side}AddressPrefix")
                total += len(plural) if plural else (1 if isinstance(single, str) and self._prefix_family(single)
                                                     else 0)
            if total > max_prefixes:
                raise E.prefixes_per_group_limit(nsg_id, total, label, max_prefixes)

    def _start_network_write(self, request: Request, rec: Rec, op_name: str, kind: str, snapshot: dict,
                             rule_name: str | None = None, removes: bool = False) -> Operation:
        seconds = float(self.settings.get("lro_seconds", 0.3))
        op = self.operations.start_locked(request, rec, provider="Microsoft.Network", kind=kind, name=op_name,
                                          seconds=seconds, snapshot=snapshot, removes=removes)
        if rule_name:
            rec.rule_busy[rule_name.lower()] = op.until
        return op

    def _put_nsg(self, request: Request, claims: dict, sub: str, rg: str, name: str) -> Response:
        nsg_id = self._rid(sub, rg, NSG_TYPE, name)
        self._authorize(claims, f"{NSG_TYPE}/write", nsg_id)
        rg_rec = self._rg_rec(sub, rg)
        self._check_name(name)
        body = self._json_body(request)
        existing = self.res.get(nsg_id.lower())
        if existing is not None:
            self._check_not_busy(existing, "PutNetworkSecurityGroupOperation")
            name = existing.body["name"]
            nsg_id = existing.body["id"]
        location = body.get("location") or (existing.body["location"] if existing else None)
        if not location:
            raise E.location_required()
        if existing is not None and location.replace(" ", "").lower() != existing.body["location"].lower():
            raise E.invalid_resource_location(name, existing.body['location'], rg_rec.body['name'], location)
        props = body.get("properties") or {}
        rules, names = [], set()
        for raw in props.get("securityRules") or []:
            rname = raw.get("name") if isinstance(raw, dict) else None
            if not rname:
                raise E.invalid_request_content("A security rule has no name.")
            if rname.lower() in names:
                raise E.duplicate_resource_name(nsg_id, rname)
            names.add(rname.lower())
            rules.append(self._rule_body(nsg_id, rname, self._validate_rule(nsg_id, rname, raw.get("properties"))))
        self._check_rule_set(nsg_id, rules, names)
        snapshot = self.operations.snapshot(nsg_id)
        etag = _etag()
        new_body = {"name": name, "id": nsg_id, "etag": etag, "type": NSG_TYPE, "location": location.lower()}
        if body.get("tags") is not None:
            new_body["tags"] = dict(body["tags"])
        new_body["properties"] = {
            "resourceGuid": existing.body["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
            "flushConnection": bool(props.get("flushConnection", False)), "securityRules": rules}
        if existing is None:
            existing = Rec("nsg", new_body, sub, rg_rec.body["name"])
            self.res[nsg_id.lower()] = existing
            status = 201
        else:
            existing.body = new_body
            existing.rule_busy = {}
            status = 200
        op = self._start_network_write(request, existing, "PutNetworkSecurityGroupOperation", "put", snapshot)
        for r in rules:
            existing.rule_busy[r["name"].lower()] = op.until
        return Response(status, self._render_nsg(existing), self.operations.headers(request, op, location=False))

    def _delete_nsg(self, request: Request, claims: dict, sub: str, rg: str, name: str) -> Response:
        nsg_id = self._rid(sub, rg, NSG_TYPE, name)
        self._authorize(claims, f"{NSG_TYPE}/delete", nsg_id)
        self._rg_rec(sub, rg)
        rec = self.res.get(nsg_id.lower())
        if rec is None:
            return Response(204)
        self._check_not_busy(rec, "DeleteNetworkSecurityGroupOperation")
        props = self._render_nsg(rec)["properties"]
        users = [x["id"] for x in props.get("networkInterfaces", []) + props.get("subnets", [])]
        if users:
            raise E.nsg_in_use(rec.body['id'], users)
        snapshot = self.operations.snapshot(nsg_id)
        op = self._start_network_write(request, rec, "DeleteNetworkSecurityGroupOperation", "delete", snapshot,
                                       removes=True)
        return Response(202, None, self.operations.headers(request, op, location=True))

    def _patch_nsg(self, request: Request, claims: dict, sub: str, rg: str, name: str) -> Response:
        rec = self._authorized(claims, sub, rg, NSG_TYPE, name, "write")
        body = self._json_body(request)
        self._check_not_busy(rec, "UpdateNetworkSecurityGroupTagsOperation")
        rec.body["tags"] = dict(body.get("tags") or {})
        rec.body["etag"] = _etag()
        return Response(200, self._render_nsg(rec))

    # --- security rules
    def _rule_route(self, request: Request, claims: dict, sub: str, rg: str, nsg: str, rule: str) -> Response:
        m = request.method
        nsg_id = self._rid(sub, rg, NSG_TYPE, nsg)
        rule_id = f"{nsg_id}/securityRules/{rule}"
        action = {"GET": "read", "PUT": "write", "DELETE": "delete"}.get(m)
        if action is None:
            self._only(m)
        self._authorize(claims, f"{NSG_TYPE}/securityRules/{action}", rule_id)
        rec = self._resource(sub, rg, NSG_TYPE, nsg)
        nsg_id = rec.body["id"]
        rules = rec.body["properties"]["securityRules"]
        current = next((r for r in rules if r["name"].lower() == rule.lower()), None)
        if m == "GET":
            if current is None:
                raise E.child_not_found(f"{nsg_id}/securityRules/{rule}")
            return Response(200, self._render_rule(rec, current))
        if m == "DELETE":
            if current is None:
                return Response(204)
            self._check_not_busy(rec, "DeleteSecurityRuleOperation")
            snapshot = self.operations.snapshot(nsg_id)
            rec.body["properties"]["securityRules"] = [r for r in rules if r is not current]
            rec.body["etag"] = _etag()
            op = self._start_network_write(request, rec, "DeleteSecurityRuleOperation", "delete", snapshot)
            return Response(202, None, self.operations.headers(request, op, location=True))
        # PUT
        body = self._json_body(request)
        self._check_not_busy(rec, "PutSecurityRuleOperation")
        name = current["name"] if current else rule
        props = self._validate_rule(nsg_id, name, body.get("properties"))
        new_rule = self._rule_body(nsg_id, name, props)
        new_rules = [*rules, new_rule] if current is None else [new_rule if r is current else r for r in rules]
        self._check_rule_set(nsg_id, new_rules, {name.lower()})
        snapshot = self.operations.snapshot(nsg_id)
        rec.body["properties"]["securityRules"] = new_rules
        rec.body["etag"] = _etag()
        op = self._start_network_write(request, rec, "PutSecurityRuleOperation", "put", snapshot, rule_name=name)
        return Response(200 if current else 201, self._render_rule(rec, new_rule),
                        self.operations.headers(request, op, location=False))

    # ------------------------------------------------------------------ virtual networks / subnets
    def _render_vnet(self, rec: Rec) -> dict:
        body = _copy_but(rec.body, "subnets")
        body["properties"]["provisioningState"] = "Succeeded"
        body["properties"]["subnets"] = [self._render_subnet(rec, sn) for sn in rec.body["properties"]["subnets"]]
        return body

    def _render_subnet(self, vnet: Rec, subnet: dict) -> dict:
        body = copy.deepcopy(subnet)
        body["properties"]["provisioningState"] = "Succeeded"
        sid = subnet["id"].lower()
        confs = []
        for other in self.res.values():
            if other.kind == "nic":
                for ipc in other.body["properties"].get("ipConfigurations", []):
                    if ((ipc.get("properties") or {}).get("subnet") or {}).get("id", "").lower() == sid:
                        confs.append({"id": ipc["id"]})
        if confs:
            body["properties"]["ipConfigurations"] = confs
        return body

    def _vnet_route(self, request: Request, claims: dict, sub: str, rg: str, name: str, tail: list[str],
                    tail_l: list[str]) -> Response:
        self._only(request.method, "GET")
        if not tail:
            return Response(200, self._render_vnet(self._authorized(claims, sub, rg, VNET_TYPE, name, "read")))
        if tail_l[0] == "subnets" and len(tail) in (1, 2):
            rec = self._authorized(claims, sub, rg, VNET_TYPE, name, "subnets/read")
            subnets = [self._render_subnet(rec, sn) for sn in rec.body["properties"]["subnets"]]
            if len(tail) == 1:
                return self._page(request, subnets)
            for sn in subnets:
                if sn["name"].lower() == tail_l[1]:
                    return Response(200, sn)
            raise E.child_not_found(f"{rec.body['id']}/subnets/{tail[1]}")
        raise E.invalid_request_uri(request.path)

    # ------------------------------------------------------------------ network interfaces
    NIC_READONLY = ("resourceGuid", "macAddress", "virtualMachine", "primary", "vnetEncryptionSupported",
                    "hostedWorkloads", "tapConfigurations", "privateEndpoint", "dscpConfiguration")

    def _render_nic(self, rec: Rec) -> dict:
        body = copy.deepcopy(rec.body)
        state = "Updating" if time.monotonic() < rec.busy_until else "Succeeded"
        body["properties"] = {"provisioningState": state, **body["properties"]}
        for ipc in body["properties"].get("ipConfigurations", []):
            ipc["etag"] = body["etag"]
            ipc.setdefault("properties", {})["provisioningState"] = state
        return body

    def _nic_route(self, request: Request, claims: dict, sub: str, rg: str, name: str, tail: list[str],
                   tail_l: list[str]) -> Response:
        if tail:
            raise E.invalid_request_uri(request.path)
        if request.method == "GET":
            return Response(200, self._render_nic(self._authorized(claims, sub, rg, NIC_TYPE, name, "read")))
        self._only(request.method, "PUT")
        return self._put_nic(request, claims, sub, rg, name)

    def _find_subnet(self, subnet_id: str) -> dict | None:
        parent = subnet_id.lower().rsplit("/subnets/", 1)
        if len(parent) != 2:
            return None
        vnet = self.res.get(parent[0])
        if vnet is None or vnet.kind != "vnet":
            return None
        return next((sn for sn in vnet.body["properties"]["subnets"] if sn["id"].lower() == subnet_id.lower()), None)

    def _put_nic(self, request: Request, claims: dict, sub: str, rg: str, name: str) -> Response:
        nic_id = self._rid(sub, rg, NIC_TYPE, name)
        action = f"{NIC_TYPE}/write"
        self._authorize(claims, action, nic_id)
        rg_rec = self._rg_rec(sub, rg)
        self._check_name(name)
        body = self._json_body(request)
        existing = self.res.get(nic_id.lower())
        if existing is not None:
            self._check_not_busy(existing, "PutNicOperation")
            nic_id, name = existing.body["id"], existing.body["name"]
        location = body.get("location") or (existing.body["location"] if existing else None)
        if not location:
            raise E.location_required()
        props = copy.deepcopy(body.get("properties") or {})
        props.pop("provisioningState", None)
        ipconfs = props.get("ipConfigurations")
        if not isinstance(ipconfs, list) or not ipconfs:
            raise E.nic_without_ip_configuration(nic_id)
        linked: list[tuple[str, str]] = []
        nsg_ref = props.get("networkSecurityGroup")
        if nsg_ref:
            ref_id = (nsg_ref or {}).get("id") or ""
            nsg = self.res.get(ref_id.lower())
            if nsg is None or nsg.kind != "nsg":
                raise E.invalid_resource_reference(ref_id, nic_id)
            linked.append((f"{NSG_TYPE}/join/action", nsg.body["id"]))
            props["networkSecurityGroup"] = {"id": nsg.body["id"]}
        for i, ipc in enumerate(ipconfs):
            if not isinstance(ipc, dict) or not ipc.get("name"):
                raise E.invalid_request_content("Every IP configuration needs a name.")
            ipc.pop("etag", None)
            ipc["id"] = f"{nic_id}/ipConfigurations/{ipc['name']}"
            ipc["type"] = f"{NIC_TYPE}/ipConfigurations"
            ip_props = ipc.setdefault("properties", {})
            ip_props.pop("provisioningState", None)
            subnet_id = (ip_props.get("subnet") or {}).get("id") or ""
            subnet = self._find_subnet(subnet_id)
            if subnet is None:
                raise E.invalid_resource_reference(subnet_id, nic_id)
            ip_props["subnet"] = {"id": subnet["id"]}
            ip_props.setdefault("privateIPAddressVersion", "IPv4")
            ip_props.setdefault("privateIPAllocationMethod", "Dynamic")
            ip_props.setdefault("primary", i == 0)
            if not ip_props.get("privateIPAddress"):
                ip_props["privateIPAddress"] = f"10.0.{200 + len(self.res) % 50}.{4 + i}"
            linked.append((f"{VNET_TYPE}/subnets/join/action", subnet["id"]))
        for linked_action, linked_scope in linked:
            self._linked(claims, action, nic_id, linked_action, linked_scope)
        if nsg_ref:
            nsg = self.res[props["networkSecurityGroup"]["id"].lower()]
            if nsg.deleting or time.monotonic() < nsg.busy_until:
                raise E.referenced_not_provisioned(nic_id, nsg.body["id"], self._nsg_state(nsg),
                                                   int(self._retry_after()))
        if existing is not None:
            for key in self.NIC_READONLY:
                if key in existing.body["properties"]:
                    props[key] = copy.deepcopy(existing.body["properties"][key])
                else:
                    props.pop(key, None)
        else:
            props.update({"resourceGuid": str(uuid.uuid4()),
                          "macAddress": "00-0D-3A-%02X-00-01" % (len(self.res) % 256),
                          "vnetEncryptionSupported": False, "hostedWorkloads": [], "tapConfigurations": []})
            props.pop("virtualMachine", None)
            props.pop("primary", None)
        snapshot = self.operations.snapshot(nic_id)
        new_body = {k: v for k, v in body.items() if k not in ("id", "name", "type", "etag", "properties")}
        new_body.update({"name": name, "id": nic_id, "etag": _etag(), "type": NIC_TYPE, "location": location,
                         "properties": props})
        if existing is None:
            existing = Rec("nic", new_body, sub, rg_rec.body["name"])
            self.res[nic_id.lower()] = existing
            status = 201
        else:
            existing.body = new_body
            status = 200
        op = self._start_network_write(request, existing, "PutNicOperation", "put", snapshot)
        return Response(status, self._render_nic(existing), self.operations.headers(request, op, location=False))

    # ------------------------------------------------------------------ virtual machines
    def _vm_power(self, rec: Rec) -> tuple[str, bool]:
        """(power code, transitioning)."""
        if rec.trans is not None:
            if time.monotonic() < rec.trans["until"]:
                return rec.trans["code"], True
            op = self.operations.get(rec.trans["op"])
            if op is not None and op.running:
                self.operations.finish(op)
            rec.trans = None
        return rec.power, False

    def _instance_view(self, rec: Rec) -> dict:
        code, moving = self._vm_power(rec)
        now = now_iso()
        statuses = [{"code": f"ProvisioningState/{'updating' if moving else 'succeeded'}", "level": "Info",
                     "displayStatus": "Updating" if moving else "Provisioning succeeded", "time": now},
                    {"code": f"PowerState/{code}", "level": "Info", "displayStatus": POWER_DISPLAY[code]}]
        if rec.hibernated and code == "deallocated":
            statuses.append({"code": "HibernationState/Hibernated", "level": "Info",
                             "displayStatus": "VM hibernated"})
        view = {"computerName": rec.body["name"], "osName": "ubuntu", "osVersion": "22.04",
                "hyperVGeneration": "V2", "statuses": statuses}
        if code == "running":
            view["vmAgent"] = {"vmAgentVersion": "2.10.0.8", "statuses": [
                {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
                 "message": "Guest Agent is running", "time": now}]}
        return view

    def _render_vm(self, rec: Rec, expand: bool) -> dict:
        body = copy.deepcopy(rec.body)
        _, moving = self._vm_power(rec)
        props = {"provisioningState": "Updating" if moving else "Succeeded", **body["properties"]}
        if expand:
            props["instanceView"] = self._instance_view(rec)
        body["properties"] = props
        return body

    def _vm_route(self, request: Request, claims: dict, sub: str, rg: str, name: str, tail: list[str],
                  tail_l: list[str]) -> Response:
        m = request.method
        vm_id = self._rid(sub, rg, VM_TYPE, name)
        if not tail:
            self._only(m, "GET")
            self._authorize(claims, f"{VM_TYPE}/read", vm_id)
            expand = request.arg("$expand")
            if expand is not None and expand.lower() not in ("instanceview", "userdata"):
                raise E.invalid_parameter("$expand", expand, ("instanceView", "userData"))
            rec = self._resource(sub, rg, VM_TYPE, name)
            return Response(200, self._render_vm(rec, (expand or "").lower() == "instanceview"))
        if len(tail) == 1 and tail_l[0] == "instanceview":
            self._only(m, "GET")
            rec = self._authorized(claims, sub, rg, VM_TYPE, name, "instanceView/read")
            return Response(200, self._instance_view(rec))
        actions = {"start": "start", "poweroff": "powerOff", "deallocate": "deallocate", "restart": "restart"}
        if len(tail) == 1 and tail_l[0] in actions:
            self._only(m, "POST")
            verb = actions[tail_l[0]]
            return self._vm_action(request, self._authorized(claims, sub, rg, VM_TYPE, name, f"{verb}/action"), verb)
        raise E.invalid_request_uri(request.path)

    def _vm_action(self, request: Request, rec: Rec, verb: str) -> Response:
        code, moving = self._vm_power(rec)
        target = rec.trans["target"] if moving else rec.power
        name = rec.body["name"]
        seconds = float(self.settings.get("vm_transition_seconds", 1.0))
        flag = (request.arg("skipShutdown") or request.arg("hibernate") or "false").lower() == "true"
        if verb == "powerOff" and target == "deallocated":
            raise E.operation_not_allowed("powerOff", name, "deallocated or marked to be deallocated")
        if verb == "restart" and target in ("deallocated", "stopped"):
            why = "deallocated or marked to be deallocated" if target == "deallocated" else "not running"
            raise E.operation_not_allowed("restart", name, why)
        plan = {"start": ("starting", "running"), "powerOff": ("stopping", "stopped"),
                "deallocate": ("deallocating", "deallocated"), "restart": ("starting", "running")}[verb]
        noop = verb != "restart" and not moving and rec.power == plan[1]
        if verb == "powerOff" and flag:
            seconds /= 2  # skipShutdown: no graceful guest shutdown
        if noop:
            seconds = 0.0
        if moving:  # a newer action preempts the one in progress
            old = self.operations.get(rec.trans["op"])
            if old is not None:
                self.operations.preempt(old)
        before = (rec.power, rec.hibernated)
        op = self.operations.start(request, provider="Microsoft.Compute", kind="action", name=verb, resource=rec,
                                   seconds=seconds)
        hibernate = verb == "deallocate" and flag

        def done(rec=rec, target=plan[1], op=op) -> None:
            if rec.trans is not None and rec.trans.get("op") == op.id:
                rec.trans = None
            rec.power, rec.hibernated = target, hibernate

        def undo(rec=rec, op=op) -> None:
            if rec.trans is not None and rec.trans.get("op") == op.id:
                rec.trans = None
            rec.power, rec.hibernated = before

        op.on_success, op.on_failure = done, undo
        if seconds > 0:
            rec.trans = {"code": plan[0], "target": plan[1], "until": op.until, "op": op.id}
        else:
            self.operations.finish(op)
        return Response(202, None, self.operations.headers(request, op, location=True))

    # ------------------------------------------------------------------ operation status
    def _operation(self, request: Request, op_id: str, is_result: bool, ns: str) -> Response:
        op = self.operations.get(op_id)
        if op is None or op.provider.lower() != ns:
            raise E.operation_not_found(op_id)
        monitor = (request.arg("monitor") or "").lower() == "true"
        running = op.status == "InProgress"
        retry = {"Retry-After": self._retry_after()} if running else {}
        if is_result or monitor:  # the Location protocol
            if running:
                location = request.base_url + request.raw_path + (f"?{request.raw_query}" if request.raw_query else "")
                return Response(202, None, {"Location": location, **retry})
            if op.status == "Failed":
                return Response(op.error.status if op.error else 500,
                                {"error": op.error.operation_error() if op.error else {}})
            if op.kind == "delete":
                return Response(204)
            if op.kind == "put":
                rec = self.res.get(op.resource_id.lower())
                if rec is not None:
                    return Response(200, self._render(rec))
            return Response(200)
        body: dict[str, Any] = {"name": op.id, "status": op.status, "startTime": op.start}
        if op.provider == "Microsoft.Network":
            body["id"] = (f"/subscriptions/{op.sub}/providers/Microsoft.Network/locations/{op.location}/"
                          f"operations/{op.id}")
        if op.end:
            body["endTime"] = op.end
        if op.error:
            body["error"] = op.error.operation_error()
        return Response(200, body, retry)

