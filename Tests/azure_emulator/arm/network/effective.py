"""Effective security rules of a network interface: what Microsoft.Network answers to
POST .../networkInterfaces/{networkInterfaceName}/effectiveNetworkSecurityGroups
(NetworkInterfaces_ListEffectiveNetworkSecurityGroups, EffectiveNetworkSecurityGroupListResult; followed:
specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json, with the shapes
ARM is seen to answer in Microsoft's troubleshooting articles and recorded responses).

What Azure does that this reproduces:
- One entry per NSG association: the NIC's own NSG (association.networkInterface) first, then the NSG of the subnet
  the NIC's IP configurations are in (association.subnet). A NIC with no NSG on it or on its subnet: value [].
- An entry lists the NSG's own rules, named "securityRules/<name>", then its six default rules,
  "defaultSecurityRules/<name>", in ARM's effective form: protocol "*" is "All"; a port "*" is "0-65535" and a
  single port p is "p-p"; an address "*" is "0.0.0.0/0" and a bare address gets its /32 (/128). With one value the
  singular and the plural field both carry it; with several only the plural one does.
- A service tag stays as written and `expandedSourceAddressPrefix` / `expandedDestinationAddressPrefix` list its
  prefixes (absent for plain prefixes); `tagMap` maps every tag the entry's rules name to its prefixes.
  VirtualNetwork is the NIC's VNet address space plus 168.63.129.16/32, as ARM shows it (peerings are not modelled);
  the other tags come from the scenario's `service_tags` over DEFAULT_SERVICE_TAGS (Internet: the public IPv4 space).
  A tag neither defines expands to [].
- Not listed, as in Azure: the platform's own allowance of traffic to 168.63.129.16 and 169.254.169.254 (DNS, DHCP,
  IMDS, health probes), which no NSG filters unless a rule names AzurePlatformDNS / AzurePlatformIMDS /
  AzurePlatformLKM; and Virtual Network Manager security admin rules, which are evaluated before the NSGs
  (managers.py).
[unverified]: the order of entries and of rules within one (own rules by direction, then priority), the absence of
the singular fields for multi-valued rules, and the prefixes of AzurePlatformDNS / IMDS / LKM (Microsoft publishes
none for them; 168.63.129.16, 169.254.169.254 and the global KMS address 23.102.135.246 are used).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .models import NetworkInterface, NetworkSecurityGroup, VirtualNetwork, _ref, find_subnet

if TYPE_CHECKING:
    from ..store import ArmStore

PLATFORM_VIP = "168.63.129.16/32"   # the host's virtual IP: DNS, DHCP, health probes, the VM agent's channel
IMDS = "169.254.169.254/32"
# Not public address space: what the Internet tag leaves out.
NON_PUBLIC_V4 = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                 "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4")


@lru_cache(maxsize=1)
def public_ipv4() -> tuple[str, ...]:
    """The public IPv4 space as CIDR blocks: 0.0.0.0/0 without the private, shared, loopback, link-local, multicast
    and reserved ranges."""
    blocks = [ipaddress.IPv4Network("0.0.0.0/0")]
    for excluded in map(ipaddress.IPv4Network, NON_PUBLIC_V4):
        kept: list[ipaddress.IPv4Network] = []
        for block in blocks:
            if excluded.subnet_of(block):
                kept.extend(block.address_exclude(excluded))
            elif not block.subnet_of(excluded):
                kept.append(block)
        blocks = kept
    return tuple(str(b) for b in sorted(blocks))


def default_service_tags() -> dict[str, list[str]]:
    """The tags every scenario knows (its `service_tags` may replace them or add others)."""
    return {"Internet": list(public_ipv4()), "AzureLoadBalancer": [PLATFORM_VIP],
            "AzurePlatformDNS": [PLATFORM_VIP], "AzurePlatformIMDS": [IMDS], "AzurePlatformLKM": ["23.102.135.246/32"]}


def service_tags(arm: ArmStore, vnet: VirtualNetwork | None) -> dict[str, tuple[str, list[str]]]:
    """lower-cased tag -> (its name, its prefixes): the defaults, the scenario's, and VirtualNetwork for `vnet`."""
    table = {**default_service_tags(), **(arm.scenario.get("service_tags") or {})}
    if vnet is not None:
        table["VirtualNetwork"] = [*vnet.body["properties"]["addressSpace"]["addressPrefixes"], PLATFORM_VIP]
    return {name.lower(): (name, list(prefixes)) for name, prefixes in table.items()}


def is_service_tag(value: str) -> bool:
    """A prefix field value that is neither '*' nor an address or CIDR prefix."""
    if value == "*":
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return True
    return False


# ---------------------------------------------------------------- one rule in its effective form
def _port_range(value: Any) -> str:
    text = str(value).strip()
    if text == "*":
        return "0-65535"
    return text if "-" in text else f"{text}-{text}"


def _address(value: str) -> str:
    if value == "*":
        return "0.0.0.0/0"
    if is_service_tag(value) or "/" in value:
        return value
    return f"{value}/{ipaddress.ip_address(value).max_prefixlen}"


FIELDS = {"PortRange": "PortRanges", "AddressPrefix": "AddressPrefixes"}   # singular -> plural


def _sides(props: dict, field: str, convert: Callable[[Any], str]) -> dict[str, list[str]]:
    """side -> the values of `field` (PortRange / AddressPrefix) in effective form: the plural field's values, else
    the singular one's, else '*'."""
    out = {}
    for side in ("source", "destination"):
        values = list(props.get(f"{side}{FIELDS[field]}") or [])
        if not values:
            one = props.get(f"{side}{field}")
            values = [one] if one not in (None, "") else ["*"]
        out[side] = [convert(v) for v in values]
    return out


def _put_both(out: dict, field: str, by_side: dict[str, list[str]]) -> None:
    """The singular field of each side when it has one value, then the plural field of each side."""
    for side, values in by_side.items():
        if len(values) == 1:
            out[f"{side}{field}"] = values[0]
    for side, values in by_side.items():
        out[f"{side}{FIELDS[field]}"] = values


def effective_rule(kind: str, rule: dict, tags: dict[str, tuple[str, list[str]]], used: dict[str, list[str]]) -> dict:
    """A stored security rule (`kind`: securityRules / defaultSecurityRules) as effective rules show it; the tags
    it names are added to `used` (name -> prefixes) for the entry's tagMap."""
    props = rule["properties"]
    out: dict[str, Any] = {"name": f"{kind}/{rule['name']}",
                           "protocol": "All" if props["protocol"] == "*" else props["protocol"]}
    _put_both(out, "PortRange", _sides(props, "PortRange", _port_range))
    prefixes = _sides(props, "AddressPrefix", _address)
    _put_both(out, "AddressPrefix", prefixes)
    for side, values in prefixes.items():
        if len(values) == 1 and is_service_tag(values[0]):
            name, expanded = tags.get(values[0].lower(), (values[0], []))
            used[name] = expanded
            out[f"expanded{side.capitalize()}AddressPrefix"] = list(expanded)
    out.update(access=props["access"], priority=props["priority"], direction=props["direction"])
    return out


def _entry(arm: ArmStore, nsg: NetworkSecurityGroup, association: dict, vnet: VirtualNetwork | None) -> dict:
    tags = service_tags(arm, vnet)
    used: dict[str, list[str]] = {}
    own = sorted(nsg.rules, key=lambda r: (r["properties"]["direction"] != "Inbound", r["properties"]["priority"]))
    rules = [effective_rule("securityRules", r, tags, used) for r in own]
    rules += [effective_rule("defaultSecurityRules", r, tags, used) for r in nsg.default_rules()]
    return {"networkSecurityGroup": {"id": nsg.id}, "association": association, "effectiveSecurityRules": rules,
            "tagMap": used}


def effective_security_groups(arm: ArmStore, nic: NetworkInterface) -> dict:
    """The EffectiveNetworkSecurityGroupListResult of `nic` as its NSGs stand now."""
    entries = []
    subnets: list[dict] = []
    for ipc in nic.ip_configurations:
        subnet = find_subnet(arm, _ref(ipc, "subnet"))
        if subnet is not None and all(s["id"].lower() != subnet["id"].lower() for s in subnets):
            subnets.append(subnet)
    vnet = arm.get(subnets[0]["id"].rsplit("/subnets/", 1)[0], VirtualNetwork) if subnets else None
    nic_nsg = arm.get(_ref(nic.body, "networkSecurityGroup"), NetworkSecurityGroup)
    if nic_nsg is not None:
        entries.append(_entry(arm, nic_nsg, {"networkInterface": {"id": nic.id}}, vnet))
    for subnet in subnets:
        subnet_nsg = arm.get(_ref(subnet, "networkSecurityGroup"), NetworkSecurityGroup)
        if subnet_nsg is not None:
            entries.append(_entry(arm, subnet_nsg, {"subnet": {"id": subnet["id"]}}, vnet))
    return {"value": entries}
