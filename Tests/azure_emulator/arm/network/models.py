"""Microsoft.Network models: network security groups with their security rules (and the rules' validation),
network interfaces, virtual networks with their subnets.

What Azure does that the models reproduce:
- An NSG and its rules share one etag, new on every write; If-Match is ignored. defaultSecurityRules are always
  there. An NSG lists the NICs and subnets that use it (read-only `networkInterfaces` / `subnets`).
- Security-rule validation: priority range, protocol / access / direction values, description up to 140
  characters, port ranges 0-65535, the singular and plural prefix fields exclusive, no service tag or '*' in a
  plural prefix list, no IPv4/IPv6 mix in one rule; over the NSG: no two rules with the same priority and
  direction (SecurityRuleConflict), 1000 rules, 4000 prefixes per side.
- A subnet lists the NIC IP configurations in it (read-only `ipConfigurations`).
What Azure enforces is read back by effective.py (a NIC's effective security rules) and managers.py (Virtual
Network Manager security admin rules).
"""
from __future__ import annotations

import copy
import ipaddress
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..models import Resource, camel, check_name, new_etag
from ..resources.models import ResourceGroup

if TYPE_CHECKING:
    from ..store import ArmStore

NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
VNET_TYPE = "Microsoft.Network/virtualNetworks"

SERVICE_TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)?")
PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
DESCRIPTION_MAX = 140
PLURAL_FIELDS = ("sourcePortRanges", "destinationPortRanges", "sourceAddressPrefixes", "destinationAddressPrefixes")

# name, direction, priority, source, destination, access, description (Azure's six default rules)
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


def _ref(body: dict, key: str) -> str:
    """The lower-cased id in body["properties"][key]["id"] ("" when absent)."""
    return ((body.get("properties") or {}).get(key) or {}).get("id", "").lower()


# ---------------------------------------------------------------- security rules
def rule_body(nsg_id: str, name: str, props: dict) -> dict:
    """A security rule as stored (its etag is the NSG's, set when rendered)."""
    p = dict(props)
    for plural in PLURAL_FIELDS:
        p.setdefault(plural, [])
    return {"name": name, "id": f"{nsg_id}/securityRules/{name}", "etag": "", "type": f"{NSG_TYPE}/securityRules",
            "properties": p}


def prefix_family(value: str) -> str | None:
    """"IPv4" / "IPv6" for an address or CIDR prefix, None for anything else (service tags, '*')."""
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    return f"IPv{net.version}"


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


def _is_tag(value: Any) -> bool:
    return isinstance(value, str) and (value == "*" or SERVICE_TAG_RE.fullmatch(value) is not None)


def _choice(rule_id: str, field_name: str, value: Any, choices: tuple[str, ...], allowed: str) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise E.rule_invalid_value(rule_id, field_name, value, allowed)
    return value.capitalize()


def validate_rule(nsg_id: str, name: str, props: Any, settings: dict) -> dict:
    """The rule's properties as stored (values normalised), or the ARM error for the first invalid one."""
    rule_id = f"{nsg_id}/securityRules/{name}"
    check_name(name)
    if not isinstance(props, dict):
        raise E.invalid_request_content(f"Security rule {name} has no properties.")
    out = {k: v for k, v in props.items() if k != "provisioningState"}
    protocol = props.get("protocol")
    if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
        raise E.rule_invalid_value(rule_id, "Protocol", protocol, "Allowed values: Tcp, Udp, Icmp, Esp, Ah, *.")
    out["protocol"] = PROTOCOLS[protocol.lower()]
    out["access"] = _choice(rule_id, "Access", props.get("access"), ("allow", "deny"), "Allowed values: Allow, Deny.")
    out["direction"] = _choice(rule_id, "Direction", props.get("direction"), ("inbound", "outbound"),
                               "Allowed values: Inbound, Outbound.")
    priority = props.get("priority")
    lo, hi = int(settings["rule_priority_min"]), int(settings["rule_priority_max"])
    if isinstance(priority, bool) or not isinstance(priority, int) or not lo <= priority <= hi:
        raise E.rule_invalid_value(rule_id, "Priority", priority, f"Allowed range {lo}-{hi}.")
    description = props.get("description")
    if description is not None and len(str(description)) > DESCRIPTION_MAX:
        raise E.rule_description_too_long(rule_id, len(str(description)), DESCRIPTION_MAX)
    for side in ("source", "destination"):
        single, plural = props.get(f"{side}PortRange"), props.get(f"{side}PortRanges") or []
        for value in ([single] if single not in (None, "") else []) + list(plural):
            if not _valid_port(value):
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
            family = prefix_family(value) if isinstance(value, str) else None
            if family is None:
                if _is_tag(value):
                    raise E.rule_tag_in_prefix_list(rule_id, cap, value)
                raise E.rule_invalid_address_prefix(rule_id, value)
            families.add(family)
        if single not in (None, ""):
            family = prefix_family(single) if isinstance(single, str) else None
            if family is None and not _is_tag(single):
                raise E.rule_invalid_address_prefix(rule_id, single)
            if family:
                families.add(family)
    if len(families) > 1:
        raise E.mixed_address_families(rule_id)
    return out


def check_rule_set(nsg_id: str, rules: list[dict], changed: set[str], settings: dict) -> None:
    """Conflicts (same priority + direction; the changed rule is named first) and NSG-wide limits."""
    seen: dict[tuple, str] = {}
    for rule in sorted(rules, key=lambda r: (r["name"].lower() in changed, r["name"].lower())):
        key = (rule["properties"]["priority"], rule["properties"]["direction"])
        if key in seen:
            raise E.rule_conflict(rule["name"], seen[key])
        seen[key] = rule["name"]
    limit = int(settings["max_rules_per_nsg"])
    if len(rules) > limit:
        raise E.rule_count_limit(limit)
    max_prefixes = int(settings["max_prefixes_per_nsg_side"])
    for side, label in (("source", "SourceAddressPrefixes"), ("destination", "DestinationAddressPrefixes")):
        total = 0
        for rule in rules:
            p = rule["properties"]
            plural = p.get(f"{side}AddressPrefixes") or []
            single = p.get(f"{side}AddressPrefix")
            total += len(plural) if plural else (1 if isinstance(single, str) and prefix_family(single) else 0)
        if total > max_prefixes:
            raise E.prefixes_per_group_limit(nsg_id, total, label, max_prefixes)


# ---------------------------------------------------------------- network security groups
@dataclass
class NetworkSecurityGroup(Resource):
    TYPE = NSG_TYPE
    PARAM = "networkSecurityGroupName"
    CHILDREN = ("securityRules",)

    rule_busy: dict[str, float] = field(default_factory=dict)   # lower rule name -> its write runs until then

    @property
    def rules(self) -> list[dict]:
        return self.body["properties"]["securityRules"]

    def rule(self, name: str) -> dict | None:
        return next((r for r in self.rules if r["name"].lower() == name.lower()), None)

    def render_rule(self, rule: dict, now: float | None = None) -> dict:
        now = time.monotonic() if now is None else now
        body = copy.deepcopy(rule)
        body["etag"] = self.body["etag"]
        busy = self.rule_busy.get(rule["name"].lower(), 0.0) > now
        body["properties"]["provisioningState"] = "Updating" if busy else "Succeeded"
        return body

    def render_rules(self) -> list[dict]:
        now = time.monotonic()
        return [self.render_rule(r, now) for r in self.rules]

    def default_rules(self) -> list[dict]:
        return [{"name": n, "id": f"{self.id}/defaultSecurityRules/{n}", "etag": self.body["etag"],
                 "type": f"{NSG_TYPE}/defaultSecurityRules",
                 "properties": {"provisioningState": "Succeeded", "description": desc, "protocol": "*",
                                "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": src,
                                "destinationAddressPrefix": dst, "access": access, "priority": prio,
                                "direction": direction, "sourcePortRanges": [], "destinationPortRanges": [],
                                "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}
                for n, direction, prio, src, dst, access, desc in DEFAULT_RULES]

    def users(self, arm: ArmStore) -> tuple[list[str], list[str]]:
        """(ids of the NICs, ids of the subnets) this NSG is attached to."""
        mine = self.id.lower()
        nics = [nic.id for nic in arm.all_of(NetworkInterface) if _ref(nic.body, "networkSecurityGroup") == mine]
        subnets = [sn["id"] for vnet in arm.all_of(VirtualNetwork) for sn in vnet.subnets
                   if _ref(sn, "networkSecurityGroup") == mine]
        return nics, subnets

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = self.copy_without("securityRules")
        props = body["properties"]
        props["provisioningState"] = self.provisioning_state()
        props["securityRules"] = self.render_rules()
        props["defaultSecurityRules"] = self.default_rules()
        nics, subnets = self.users(arm)
        if nics:
            props["networkInterfaces"] = [{"id": i} for i in nics]
        if subnets:
            props["subnets"] = [{"id": i} for i in subnets]
        ordered = {k: props.pop(k) for k in ("provisioningState", "resourceGuid", "flushConnection") if k in props}
        ordered.update(props)
        body["properties"] = ordered
        return body

    @classmethod
    def from_scenario(cls, rg: ResourceGroup, spec: dict) -> NetworkSecurityGroup:
        nsg_id = f"{rg.providers}/{NSG_TYPE}/{spec['name']}"
        etag = new_etag()
        rules = []
        for r in spec.get("security_rules", []):
            props = {camel(k): v for k, v in r.items() if k != "name"}
            props.setdefault("sourcePortRange", "*")
            rules.append(dict(rule_body(nsg_id, r["name"], props), etag=etag))
        return cls({"name": spec["name"], "id": nsg_id, "etag": etag, "type": NSG_TYPE,
                    "location": spec.get("location", rg.location), "tags": spec.get("tags", {}),
                    "properties": {"resourceGuid": str(uuid.uuid4()),
                                   "flushConnection": bool(spec.get("flush_connection", False)),
                                   "securityRules": rules}}, rg.sub, rg.name)


# ---------------------------------------------------------------- virtual networks and subnets
@dataclass
class VirtualNetwork(Resource):
    TYPE = VNET_TYPE
    PARAM = "virtualNetworkName"
    CHILDREN = ("subnets",)

    @property
    def subnets(self) -> list[dict]:
        return self.body["properties"]["subnets"]

    def render_subnet(self, arm: ArmStore, subnet: dict) -> dict:
        body = copy.deepcopy(subnet)
        body["properties"]["provisioningState"] = "Succeeded"
        mine = subnet["id"].lower()
        confs = [{"id": ipc["id"]} for nic in arm.all_of(NetworkInterface) for ipc in nic.ip_configurations
                 if _ref(ipc, "subnet") == mine]
        if confs:
            body["properties"]["ipConfigurations"] = confs
        return body

    def render_subnets(self, arm: ArmStore) -> list[dict]:
        return [self.render_subnet(arm, sn) for sn in self.subnets]

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = self.copy_without("subnets")
        body["properties"]["provisioningState"] = "Succeeded"
        body["properties"]["subnets"] = self.render_subnets(arm)
        return body

    @classmethod
    def from_scenario(cls, rg: ResourceGroup, spec: dict) -> VirtualNetwork:
        vnet_id = f"{rg.providers}/{VNET_TYPE}/{spec['name']}"
        subnets = []
        for sn in spec.get("subnets", []):
            sprops: dict[str, Any] = {"addressPrefix": sn["address_prefix"]}
            if sn.get("network_security_group"):
                sprops["networkSecurityGroup"] = {"id": f"{rg.providers}/{NSG_TYPE}/{sn['network_security_group']}"}
            subnets.append({"name": sn["name"], "id": f"{vnet_id}/subnets/{sn['name']}", "etag": new_etag(),
                            "type": f"{VNET_TYPE}/subnets", "properties": sprops})
        return cls({"name": spec["name"], "id": vnet_id, "etag": new_etag(), "type": VNET_TYPE,
                    "location": spec.get("location", rg.location), "tags": spec.get("tags", {}),
                    "properties": {"resourceGuid": str(uuid.uuid4()),
                                   "addressSpace": {"addressPrefixes": list(spec.get("address_prefixes", []))},
                                   "subnets": subnets, "virtualNetworkPeerings": [], "enableDdosProtection": False}},
                   rg.sub, rg.name)


def find_subnet(arm: ArmStore, subnet_id: str) -> dict | None:
    """The stored subnet with this id, or None."""
    parent = subnet_id.lower().rsplit("/subnets/", 1)
    if len(parent) != 2:
        return None
    vnet = arm.get(parent[0], VirtualNetwork)
    if vnet is None:
        return None
    return next((sn for sn in vnet.subnets if sn["id"].lower() == subnet_id.lower()), None)


# ---------------------------------------------------------------- network interfaces
@dataclass
class NetworkInterface(Resource):
    TYPE = NIC_TYPE
    PARAM = "networkInterfaceName"
    # set by Azure, never by a PUT: kept from the stored NIC (or absent on a new one)
    READONLY = ("resourceGuid", "macAddress", "virtualMachine", "primary", "vnetEncryptionSupported",
                "hostedWorkloads", "tapConfigurations", "privateEndpoint", "dscpConfiguration")

    @property
    def ip_configurations(self) -> list[dict]:
        return self.body["properties"].get("ipConfigurations", [])

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = copy.deepcopy(self.body)
        state = self.provisioning_state()
        body["properties"] = {"provisioningState": state, **body["properties"]}
        for ipc in body["properties"].get("ipConfigurations", []):
            ipc["etag"] = body["etag"]
            ipc.setdefault("properties", {})["provisioningState"] = state
        return body

    @classmethod
    def from_scenario(cls, rg: ResourceGroup, spec: dict, index: int, count: int) -> NetworkInterface:
        """`index`: the NIC's position in its group; `count`: resources loaded so far (both vary the MAC)."""
        nic_id = f"{rg.providers}/{NIC_TYPE}/{spec['name']}"
        vnet_name, subnet_name = spec["subnet"].split("/")
        etag = new_etag()
        ipconf = {"name": "ipconfig1", "id": f"{nic_id}/ipConfigurations/ipconfig1", "etag": etag,
                  "type": f"{NIC_TYPE}/ipConfigurations",
                  "properties": {"privateIPAddress": spec.get("private_ip"),
                                 "privateIPAllocationMethod": "Static" if spec.get("private_ip") else "Dynamic",
                                 "subnet": {"id": f"{rg.providers}/{VNET_TYPE}/{vnet_name}/subnets/{subnet_name}"},
                                 "primary": True, "privateIPAddressVersion": "IPv4"}}
        props: dict[str, Any] = {
            "resourceGuid": str(uuid.uuid4()), "ipConfigurations": [ipconf],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "macAddress": f"00-0D-3A-{count % 256:02X}-{index % 256:02X}-{(count * 7) % 256:02X}",
            "enableAcceleratedNetworking": False, "vnetEncryptionSupported": False, "enableIPForwarding": False,
            "disableTcpStateTracking": False, "hostedWorkloads": [], "tapConfigurations": [], "nicType": "Standard",
            "allowPort25Out": True, "auxiliaryMode": "None", "auxiliarySku": "None"}
        if spec.get("network_security_group"):
            props["networkSecurityGroup"] = {"id": f"{rg.providers}/{NSG_TYPE}/{spec['network_security_group']}"}
        return cls({"name": spec["name"], "id": nic_id, "etag": etag, "type": NIC_TYPE,
                    "location": spec.get("location", rg.location), "tags": spec.get("tags", {}), "kind": "Regular",
                    "properties": props}, rg.sub, rg.name)


def load_resource_group(arm: ArmStore, rg: ResourceGroup, spec: dict) -> None:
    """The scenario's network_security_groups, virtual_networks and network_interfaces of one resource group."""
    for nsg in spec.get("network_security_groups", []):
        arm.add(NetworkSecurityGroup.from_scenario(rg, nsg))
    for vnet in spec.get("virtual_networks", []):
        arm.add(VirtualNetwork.from_scenario(rg, vnet))
    for i, nic in enumerate(spec.get("network_interfaces", [])):
        arm.add(NetworkInterface.from_scenario(rg, nic, i, len(arm.resources)))

