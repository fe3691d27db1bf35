"""Microsoft.Network public IP addresses: the model, its scenario loader, its handlers, and the reference a NIC's
IP configuration holds to one (`properties.publicIPAddress.id`).

Spec followed: specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/publicIpAddress.json
(PublicIPAddress: sku {name Basic | Standard, tier Regional}, properties publicIPAllocationMethod,
publicIPAddressVersion IPv4 | IPv6, ipAddress, idleTimeoutInMinutes, ipConfiguration {id} read-only).

What Azure does that this reproduces:
- A NIC's GET shows only the id of its public IP; the address itself is on the public IP resource, whose
  read-only `ipConfiguration` names the NIC IP configuration that holds it.
- Linking a public IP in a NIC PUT needs `Microsoft.Network/publicIPAddresses/join/action` on it (403
  LinkedAuthorizationFailed otherwise) and the public IP must exist (400 InvalidResourceReference).

Scenario: a resource group's `public_ip_addresses: [{name, ip_address, version (IPv4), sku (Standard)}]`; a NIC
names one with `public_ip`, and may add IP configurations with `extra_ip_configurations: [{name, private_ip,
version, public_ip}]` (an IPv6 configuration beside ipconfig1, for instance).
"""
from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...http import Response
from .. import errors as E
from ..models import Resource, new_etag
from ..resources.models import ResourceGroup
from .models import NIC_TYPE, NetworkInterface

if TYPE_CHECKING:
    from ..router import Call
    from ..store import ArmStore

PIP_TYPE = "Microsoft.Network/publicIPAddresses"
PIP_JOIN = f"{PIP_TYPE}/join/action"


@dataclass
class PublicIPAddress(Resource):
    TYPE = PIP_TYPE
    PARAM = "publicIpAddressName"

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = copy.deepcopy(self.body)
        props = {"provisioningState": self.provisioning_state(), **body["properties"]}
        holder = ip_configuration_of(arm, self.id)
        if holder:
            props["ipConfiguration"] = {"id": holder}
        body["properties"] = props
        return body

    @classmethod
    def from_scenario(cls, rg: ResourceGroup, spec: dict) -> PublicIPAddress:
        pip_id = f"{rg.providers}/{PIP_TYPE}/{spec['name']}"
        sku = spec.get("sku", "Standard")
        return cls({"name": spec["name"], "id": pip_id, "etag": new_etag(), "type": PIP_TYPE,
                    "location": spec.get("location", rg.location), "tags": spec.get("tags", {}),
                    "sku": {"name": sku, "tier": "Regional"},
                    "properties": {"resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, pip_id.lower())),
                                   "ipAddress": spec["ip_address"],
                                   "publicIPAddressVersion": spec.get("version", "IPv4"),
                                   "publicIPAllocationMethod": "Static" if sku == "Standard" else "Dynamic",
                                   "idleTimeoutInMinutes": 4, "ipTags": []}}, rg.sub, rg.name)


def public_ip_references(arm: ArmStore) -> dict[str, str]:
    """Lower-cased public IP id -> the id of the NIC IP configuration that holds it (one pass over the NICs)."""
    found: dict[str, str] = {}
    for nic in arm.all_of(NetworkInterface):
        for ipc in nic.ip_configurations:
            ref = ((ipc.get("properties") or {}).get("publicIPAddress") or {}).get("id")
            if ref:
                found[ref.lower()] = ipc["id"]
    return found


def ip_configuration_of(arm: ArmStore, pip_id: str) -> str | None:
    return public_ip_references(arm).get(pip_id.lower())


def link_in_put(arm: ArmStore, nic_id: str, ip_props: dict) -> tuple[str, str] | None:
    """A NIC PUT's IP configuration properties naming a public IP: the reference normalised, and the linked
    action to check over it (None when the configuration names none)."""
    ref = ip_props.get("publicIPAddress")
    if not ref:
        return None
    ref_id = (ref.get("id") if isinstance(ref, dict) else "") or ""
    pip = arm.get(ref_id, PublicIPAddress)
    if pip is None:
        raise E.invalid_resource_reference(ref_id, nic_id)
    ip_props["publicIPAddress"] = {"id": pip.id}
    return PIP_JOIN, pip.id


# ---------------------------------------------------------------- scenario
def _ip_configuration(nic: NetworkInterface, rg: ResourceGroup, spec: dict, subnet_id: str) -> dict:
    name = spec["name"]
    props: dict[str, Any] = {"privateIPAddress": spec.get("private_ip"),
                             "privateIPAllocationMethod": "Static" if spec.get("private_ip") else "Dynamic",
                             "subnet": {"id": subnet_id}, "primary": False,
                             "privateIPAddressVersion": spec.get("version", "IPv4")}
    if spec.get("public_ip"):
        props["publicIPAddress"] = {"id": f"{rg.providers}/{PIP_TYPE}/{spec['public_ip']}"}
    return {"name": name, "id": f"{nic.id}/ipConfigurations/{name}", "etag": nic.body["etag"],
            "type": f"{NIC_TYPE}/ipConfigurations", "properties": props}


def load_resource_group(arm: ArmStore, rg: ResourceGroup, spec: dict) -> None:
    """The scenario's public_ip_addresses of one resource group, and the NICs' references to them (after the
    network loader, before the VMs)."""
    for pip in spec.get("public_ip_addresses", []):
        arm.add(PublicIPAddress.from_scenario(rg, pip))
    for nic_spec in spec.get("network_interfaces", []):
        nic = arm.get(f"{rg.providers}/{NIC_TYPE}/{nic_spec['name']}", NetworkInterface)
        if nic is None:
            continue
        first = nic.ip_configurations[0]
        if nic_spec.get("public_ip"):
            first["properties"]["publicIPAddress"] = {"id": f"{rg.providers}/{PIP_TYPE}/{nic_spec['public_ip']}"}
        subnet_id = first["properties"]["subnet"]["id"]
        for extra in nic_spec.get("extra_ip_configurations", []):
            nic.ip_configurations.append(_ip_configuration(nic, rg, extra, subnet_id))


# ---------------------------------------------------------------- handlers
def get_public_ip(call: Call) -> Response:
    return call.render(call.resource(PublicIPAddress))
