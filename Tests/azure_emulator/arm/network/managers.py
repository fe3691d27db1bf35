"""Azure Virtual Network Manager: network managers with their network groups (static members: virtual networks) and
security admin configurations (rule collections of admin rules), loaded from the scenario; and what
POST .../virtualNetworks/{virtualNetworkName}/listNetworkManagerEffectiveSecurityAdminRules answers
(ListNetworkManagerEffectiveSecurityAdminRules; followed: specification/network/resource-manager/Microsoft.Network/
stable/2024-05-01/networkManagerEffectiveConfiguration.json as azure-mgmt-network 33.1.0 models it:
QueryRequestOptions, NetworkManagerEffectiveSecurityAdminRulesListResult, EffectiveSecurityAdminRule).

What Azure does that this reproduces:
- Admin rules are evaluated before any NSG: Deny drops the flow, Allow hands it on to the NSGs, AlwaysAllow admits it
  whatever the NSGs say. A NIC's effective security rules do not include them (effective.py).
- A rule collection applies to network groups; a VNet gets every rule of every collection that applies to a group
  it is a member of, from every network manager.
- The read is a plain POST answered 200 (not long-running): body {"skipToken"}, optional `$top`; the answer is
  {"value": [...], "skipToken"} with skipToken only while more follow.
- An item: kind "Custom", id (the admin rule's resource id), configurationDescription, ruleCollectionDescription,
  ruleCollectionAppliesToGroups [{networkGroupId}], ruleGroups (the collection's groups the VNet is in: {id,
  properties}), properties {description, protocol (Tcp Udp Icmp Esp Ah Any), sources / destinations
  [{addressPrefix, addressPrefixType IPPrefix | ServiceTag}], sourcePortRanges, destinationPortRanges, access
  (Allow Deny AlwaysAllow), priority (1-4096), direction, provisioningState, resourceGuid}.
Not modelled: deployment (commit) per region (a configuration in the scenario counts as deployed everywhere),
default rule collections (kind Default), conditional (Azure Policy) group membership, management-group scopes.
[unverified]: the order of the items (by priority, then id) and the skipToken's format (opaque here).
"""
from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..models import Resource, new_etag
from ..resources.models import ResourceGroup
from .effective import is_service_tag
from .models import SERVICE_TAG_RE, VNET_TYPE, _valid_port, prefix_family

if TYPE_CHECKING:
    from ..store import ArmStore

NETWORK_MANAGER_TYPE = "Microsoft.Network/networkManagers"
ADMIN_ACCESS = ("Allow", "Deny", "AlwaysAllow")
ADMIN_PROTOCOLS = ("Tcp", "Udp", "Icmp", "Esp", "Ah", "Any")
DIRECTIONS = ("Inbound", "Outbound")


def _choice(where: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise ValueError(f"scenario: {where}: {key} {value!r} is not one of {', '.join(allowed)}")


def _address_items(where: str, key: str, values: Any) -> list[dict]:
    """Scenario addresses (IP prefixes, '*' or service tags) as AddressPrefixItems."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"scenario: {where}: {key} must be a non-empty list of IP prefixes or service tags")
    items = []
    for value in values:
        if not isinstance(value, str) or (value != "*" and prefix_family(value) is None
                                          and not SERVICE_TAG_RE.fullmatch(value)):
            raise ValueError(f"scenario: {where}: {key} value {value!r} is neither an IP prefix nor a service tag")
        items.append({"addressPrefix": value, "addressPrefixType": "ServiceTag" if is_service_tag(value) else "IPPrefix"})
    return items


def _ports(where: str, key: str, values: Any) -> list[str]:
    if values is None:
        return ["0-65535"]
    if not isinstance(values, list) or not all(_valid_port(v) for v in values):
        raise ValueError(f"scenario: {where}: {key} must be a list of ports or ranges (0-65535)")
    return [str(v) for v in values]


def admin_rule_properties(where: str, spec: dict) -> dict:
    """An admin rule of the scenario as ARM stores its properties (AdminPropertiesFormat), or ValueError."""
    priority = spec.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 4096:
        raise ValueError(f"scenario: {where}: priority {priority!r} is not an integer from 1 to 4096")
    return {"description": str(spec.get("description", "")),
            "protocol": _choice(where, "protocol", spec.get("protocol"), ADMIN_PROTOCOLS),
            "sources": _address_items(where, "sources", spec.get("sources", ["*"])),
            "destinations": _address_items(where, "destinations", spec.get("destinations", ["*"])),
            "sourcePortRanges": _ports(where, "source_port_ranges", spec.get("source_port_ranges")),
            "destinationPortRanges": _ports(where, "destination_port_ranges", spec.get("destination_port_ranges")),
            "access": _choice(where, "access", spec.get("access"), ADMIN_ACCESS),
            "priority": priority,
            "direction": _choice(where, "direction", spec.get("direction"), DIRECTIONS),
            "provisioningState": "Succeeded", "resourceGuid": str(uuid.uuid4())}


@dataclass
class NetworkGroup:
    id: str
    description: str
    members: set[str]            # lower-cased ids of the member virtual networks
    resource_guid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def render(self) -> dict:
        return {"id": self.id, "properties": {"description": self.description, "memberType": "VirtualNetwork",
                                              "provisioningState": "Succeeded", "resourceGuid": self.resource_guid}}


@dataclass
class RuleCollection:
    id: str
    description: str
    configuration_description: str
    applies_to: list[NetworkGroup]
    rules: list[tuple[str, dict]]    # (the admin rule's id, its properties)


@dataclass
class NetworkManager(Resource):
    TYPE = NETWORK_MANAGER_TYPE
    PARAM = "networkManagerName"

    collections: list[RuleCollection] = field(default_factory=list)

    @classmethod
    def from_scenario(cls, rg: ResourceGroup, spec: dict) -> NetworkManager:
        manager_id = f"{rg.providers}/{NETWORK_MANAGER_TYPE}/{spec['name']}"
        groups: dict[str, NetworkGroup] = {}
        for group in spec.get("network_groups", []):
            members = {(m if m.startswith("/") else f"{rg.providers}/{VNET_TYPE}/{m}").lower()
                       for m in group.get("members", [])}
            groups[group["name"].lower()] = NetworkGroup(f"{manager_id}/networkGroups/{group['name']}",
                                                         str(group.get("description", "")), members)
        collections = []
        for config in spec.get("security_admin_configurations", []):
            config_id = f"{manager_id}/securityAdminConfigurations/{config['name']}"
            for coll in config.get("rule_collections", []):
                coll_id = f"{config_id}/ruleCollections/{coll['name']}"
                applies_to = []
                for name in coll.get("applies_to", []):
                    if name.lower() not in groups:
                        raise ValueError(f"scenario: rule collection {coll_id}: no network group {name!r} in "
                                         f"{spec['name']}")
                    applies_to.append(groups[name.lower()])
                rules = [(f"{coll_id}/rules/{r['name']}", admin_rule_properties(f"{coll_id}/rules/{r['name']}", r))
                         for r in coll.get("rules", [])]
                collections.append(RuleCollection(coll_id, str(coll.get("description", "")),
                                                  str(config.get("description", "")), applies_to, rules))
        subscriptions = sorted({m.split("/")[2] for g in groups.values() for m in g.members} | {rg.sub.lower()})
        body = {"name": spec["name"], "id": manager_id, "etag": new_etag(), "type": NETWORK_MANAGER_TYPE,
                "location": spec.get("location", rg.location), "tags": spec.get("tags", {}),
                "properties": {"description": str(spec.get("description", "")),
                               "networkManagerScopes": {"managementGroups": [],
                                                        "subscriptions": [f"/subscriptions/{s}" for s in subscriptions]},
                               "networkManagerScopeAccesses": ["SecurityAdmin"], "provisioningState": "Succeeded",
                               "resourceGuid": str(uuid.uuid4())}}
        return cls(body, rg.sub, rg.name, collections=collections)

    def effective_rules(self, vnet_id: str) -> list[dict]:
        """This manager's admin rules that apply to the VNet, as listNetworkManagerEffectiveSecurityAdminRules
        shows them."""
        out = []
        for coll in self.collections:
            groups = [g for g in coll.applies_to if vnet_id.lower() in g.members]
            if not groups:
                continue
            for rule_id, props in coll.rules:
                out.append({"id": rule_id, "kind": "Custom",
                            "configurationDescription": coll.configuration_description,
                            "ruleCollectionDescription": coll.description,
                            "ruleCollectionAppliesToGroups": [{"networkGroupId": g.id} for g in coll.applies_to],
                            "ruleGroups": [g.render() for g in groups],
                            "properties": {**props, "sourcePortRanges": list(props["sourcePortRanges"]),
                                           "destinationPortRanges": list(props["destinationPortRanges"]),
                                           "sources": [dict(s) for s in props["sources"]],
                                           "destinations": [dict(d) for d in props["destinations"]]}})
        return out


def effective_admin_rules(arm: ArmStore, vnet_id: str) -> list[dict]:
    """Every admin rule of every network manager that applies to the VNet, by priority."""
    found = [rule for manager in arm.all_of(NetworkManager) for rule in manager.effective_rules(vnet_id)]
    return sorted(found, key=lambda r: (r["properties"]["priority"], r["id"].lower()))


def skip_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def offset_of(token: Any) -> int:
    """The position a skipToken of ours stands for; InvalidSkipToken for anything else."""
    if token in (None, ""):
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(str(token).encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise E.invalid_skip_token()


def load_resource_group(arm: ArmStore, rg: ResourceGroup, spec: dict) -> None:
    """The scenario's network_managers of one resource group."""
    for manager in spec.get("network_managers", []):
        arm.add(NetworkManager.from_scenario(rg, manager))
