"""Microsoft.Network request handling: NSGs, security rules, default rules, virtual networks and subnets, NICs.

Every Network write (NSG PUT/DELETE, rule PUT/DELETE, NIC PUT) is long-running and locks what it changes (the NSG
with its rules, or the NIC) for settings.lro_seconds: PUT answers 201/200 with provisioningState Updating and an
Azure-AsyncOperation URL, DELETE answers 202 with Azure-AsyncOperation and Location; another write meanwhile gets
429 RetryableErrorDueToAnotherOperation. An NSG PUT replaces its rules entirely. A NIC PUT keeps the read-only
properties Azure sets, and linking an NSG, a subnet or a public IP (public_ips.py) needs its join/action
(LinkedAuthorizationFailed), on every PUT that names it, changed or not.
Two reads are POSTs: a NIC's effective security rules (long-running: 202, the result on the Location URL; only for
a NIC of a running VM, effective.py) and a VNet's effective Network Manager security admin rules (a plain 200, paged
with skipToken, managers.py).
"""
from __future__ import annotations

import copy
import uuid
from typing import Any

from ...http import Response
from .. import errors as E
from ..lro import Operation
from ..models import check_name, new_etag
from ..router import Call
from ..compute.models import VirtualMachine
from .effective import effective_security_groups
from .managers import effective_admin_rules, offset_of, skip_token
from . import public_ips
from .models import (NIC_TYPE, NSG_TYPE, VNET_TYPE, NetworkInterface, NetworkSecurityGroup, VirtualNetwork,
                     check_rule_set, find_subnet, rule_body, validate_rule)

NSG_JOIN = f"{NSG_TYPE}/join/action"
SUBNET_JOIN = f"{VNET_TYPE}/subnets/join/action"


def _start_write(call: Call, resource: NetworkSecurityGroup | NetworkInterface, name: str, kind: str,
                 snapshot: dict, *, removes: bool = False) -> Operation:
    seconds = float(call.arm.settings.get("lro_seconds", 0.3))
    return call.arm.operations.start_locked(call.request, resource, provider="Microsoft.Network", kind=kind,
                                            name=name, seconds=seconds, snapshot=snapshot, removes=removes)


def _accepted(call: Call, op: Operation) -> Response:
    """202 of a long-running delete."""
    return Response(202, None, call.arm.operations.headers(call.request, op, location=True))


def _location(body: dict, existing: NetworkSecurityGroup | NetworkInterface | None) -> str:
    location = body.get("location") or (existing.location if existing else None)
    if not location:
        raise E.location_required()
    return location


# ---------------------------------------------------------------- network security groups
def get_nsg(call: Call) -> Response:
    return call.render(call.resource(NetworkSecurityGroup))


def put_nsg(call: Call) -> Response:
    nsg_id, name = call.resource_id(NetworkSecurityGroup), call.name
    check_name(name)
    body = call.json_body()
    existing = call.arm.get(nsg_id, NetworkSecurityGroup)
    if existing is not None:
        existing.check_not_busy("PutNetworkSecurityGroupOperation", call.arm.retry_after)
        nsg_id, name = existing.id, existing.name
    location = _location(body, existing)
    if existing is not None and location.replace(" ", "").lower() != existing.location.lower():
        raise E.invalid_resource_location(name, existing.location, call.resource_group.name, location)
    props = body.get("properties") or {}
    rules, names = [], set()
    for raw in props.get("securityRules") or []:
        rule_name = raw.get("name") if isinstance(raw, dict) else None
        if not rule_name:
            raise E.invalid_request_content("A security rule has no name.")
        if rule_name.lower() in names:
            raise E.duplicate_resource_name(nsg_id, rule_name)
        names.add(rule_name.lower())
        rules.append(rule_body(nsg_id, rule_name, validate_rule(nsg_id, rule_name, raw.get("properties"),
                                                                call.arm.settings)))
    check_rule_set(nsg_id, rules, names, call.arm.settings)
    snapshot = call.arm.operations.snapshot(nsg_id)
    new_body: dict[str, Any] = {"name": name, "id": nsg_id, "etag": new_etag(), "type": NSG_TYPE, "location": location.lower()}
    if body.get("tags") is not None:
        new_body["tags"] = dict(body["tags"])
    new_body["properties"] = {
        "resourceGuid": existing.body["properties"]["resourceGuid"] if existing else str(uuid.uuid4()),
        "flushConnection": bool(props.get("flushConnection", False)), "securityRules": rules}
    if existing is None:
        nsg = call.arm.add(NetworkSecurityGroup(new_body, call.sub, call.resource_group.name))
    else:
        nsg = existing
        nsg.body, nsg.rule_busy = new_body, {}
    op = _start_write(call, nsg, "PutNetworkSecurityGroupOperation", "put", snapshot)
    for rule in rules:
        nsg.rule_busy[rule["name"].lower()] = op.until
    return call.render(nsg, 201 if existing is None else 200,
                       call.arm.operations.headers(call.request, op, location=False))


def delete_nsg(call: Call) -> Response:
    nsg = call.arm.get(call.resource_id(NetworkSecurityGroup), NetworkSecurityGroup)
    if nsg is None:
        return Response(204)
    nsg.check_not_busy("DeleteNetworkSecurityGroupOperation", call.arm.retry_after)
    nics, subnets = nsg.users(call.arm)
    if nics or subnets:
        raise E.nsg_in_use(nsg.id, nics + subnets)
    snapshot = call.arm.operations.snapshot(nsg.id)
    return _accepted(call, _start_write(call, nsg, "DeleteNetworkSecurityGroupOperation", "delete", snapshot,
                                        removes=True))


def patch_nsg(call: Call) -> Response:
    """PATCH updates the tags only (UpdateTags)."""
    nsg = call.resource(NetworkSecurityGroup)
    body = call.json_body()
    nsg.check_not_busy("UpdateNetworkSecurityGroupTagsOperation", call.arm.retry_after)
    nsg.body["tags"] = dict(body.get("tags") or {})
    nsg.body["etag"] = new_etag()
    return call.render(nsg)


# ---------------------------------------------------------------- security rules
def list_rules(call: Call) -> Response:
    return call.page(call.resource(NetworkSecurityGroup).render_rules())


def get_rule(call: Call) -> Response:
    nsg = call.resource(NetworkSecurityGroup)
    rule = nsg.rule(call.name)
    if rule is None:
        raise E.child_not_found(f"{nsg.id}/securityRules/{call.name}")
    return Response(200, nsg.render_rule(rule))


def put_rule(call: Call) -> Response:
    nsg = call.resource(NetworkSecurityGroup)
    current = nsg.rule(call.name)
    body = call.json_body()
    nsg.check_not_busy("PutSecurityRuleOperation", call.arm.retry_after)
    name = current["name"] if current else call.name
    new_rule = rule_body(nsg.id, name, validate_rule(nsg.id, name, body.get("properties"), call.arm.settings))
    rules = [*nsg.rules, new_rule] if current is None else [new_rule if r is current else r for r in nsg.rules]
    check_rule_set(nsg.id, rules, {name.lower()}, call.arm.settings)
    snapshot = call.arm.operations.snapshot(nsg.id)
    nsg.body["properties"]["securityRules"] = rules
    nsg.body["etag"] = new_etag()
    op = _start_write(call, nsg, "PutSecurityRuleOperation", "put", snapshot)
    nsg.rule_busy[name.lower()] = op.until
    return Response(200 if current else 201, nsg.render_rule(new_rule),
                    call.arm.operations.headers(call.request, op, location=False))


def delete_rule(call: Call) -> Response:
    nsg = call.resource(NetworkSecurityGroup)
    current = nsg.rule(call.name)
    if current is None:
        return Response(204)
    nsg.check_not_busy("DeleteSecurityRuleOperation", call.arm.retry_after)
    snapshot = call.arm.operations.snapshot(nsg.id)
    nsg.body["properties"]["securityRules"] = [r for r in nsg.rules if r is not current]
    nsg.body["etag"] = new_etag()
    return _accepted(call, _start_write(call, nsg, "DeleteSecurityRuleOperation", "delete", snapshot))


def list_default_rules(call: Call) -> Response:
    return call.page(call.resource(NetworkSecurityGroup).default_rules())


def get_default_rule(call: Call) -> Response:
    for rule in call.resource(NetworkSecurityGroup).default_rules():
        if rule["name"].lower() == call.name.lower():
            return Response(200, rule)
    raise E.child_not_found(f"{call.resource_id(NetworkSecurityGroup)}/defaultSecurityRules/{call.name}")


# ---------------------------------------------------------------- virtual networks and subnets
def get_vnet(call: Call) -> Response:
    return call.render(call.resource(VirtualNetwork))


def list_subnets(call: Call) -> Response:
    return call.page(call.resource(VirtualNetwork).render_subnets(call.arm))


def get_subnet(call: Call) -> Response:
    vnet = call.resource(VirtualNetwork)
    for subnet in vnet.render_subnets(call.arm):
        if subnet["name"].lower() == call.name.lower():
            return Response(200, subnet)
    raise E.child_not_found(f"{vnet.id}/subnets/{call.name}")


def list_effective_admin_rules(call: Call) -> Response:
    """POST .../virtualNetworks/{virtualNetworkName}/listNetworkManagerEffectiveSecurityAdminRules: 200 with a page of
    the VNet's effective admin rules (`$top` or settings.page_size of them) and skipToken while more follow. The
    body is required, as in the spec ({} for the first page) [unverified: ARM's answer to a missing body]."""
    vnet = call.resource(VirtualNetwork)
    body = call.json_body()
    top = call.request.arg("$top")
    if top is not None and (not top.isdigit() or int(top) < 1):
        raise E.invalid_top(top)
    size = int(top) if top is not None else max(1, int(call.arm.settings.get("page_size", 2)))
    start = offset_of(body.get("skipToken"))
    rules = effective_admin_rules(call.arm, vnet.id)
    page: dict[str, Any] = {"value": rules[start:start + size]}
    if start + size < len(rules):
        page["skipToken"] = skip_token(start + size)
    return Response(200, page)


# ---------------------------------------------------------------- network interfaces
def get_nic(call: Call) -> Response:
    return call.render(call.resource(NetworkInterface))


def list_effective_nsgs(call: Call) -> Response:
    """POST .../networkInterfaces/{networkInterfaceName}/effectiveNetworkSecurityGroups: 202 with Location (the
    result), Azure-AsyncOperation and Retry-After; the rules are computed when the operation finishes (after
    settings.lro_seconds), from the NSGs as they stand then. 400 NicMustBeAttachedToRunningVmToGetEffectiveSecurity
    Groups at once when no running VM uses the NIC (a VM starting, stopping, stopped or deallocated does not count)."""
    arm = call.arm
    nic = call.resource(NetworkInterface)
    vm = arm.get(((nic.body["properties"].get("virtualMachine") or {}).get("id") or ""), VirtualMachine)
    if vm is None or vm.power_state(arm.operations) != ("running", False):
        raise E.nic_not_attached_to_running_vm(nic.id)
    op = arm.operations.start(call.request, provider="Microsoft.Network", kind="action",
                              name="GetEffectiveNetworkSecurityGroupsOperation", resource=nic,
                              seconds=float(arm.settings.get("lro_seconds", 0.3)))

    def compute() -> None:
        current = arm.get(nic.id, NetworkInterface)
        op.result = effective_security_groups(arm, current or nic)

    op.on_success = compute
    return Response(202, None, arm.operations.headers(call.request, op, location=True))


def put_nic(call: Call) -> Response:
    arm = call.arm
    nic_id, name = call.resource_id(NetworkInterface), call.name
    check_name(name)
    body = call.json_body()
    existing = arm.get(nic_id, NetworkInterface)
    if existing is not None:
        existing.check_not_busy("PutNicOperation", arm.retry_after)
        nic_id, name = existing.id, existing.name
    location = _location(body, existing)
    props = copy.deepcopy(body.get("properties") or {})
    props.pop("provisioningState", None)
    ipconfs = props.get("ipConfigurations")
    if not isinstance(ipconfs, list) or not ipconfs:
        raise E.nic_without_ip_configuration(nic_id)
    linked: list[tuple[str, str]] = []
    nsg = None
    if props.get("networkSecurityGroup"):
        ref_id = props["networkSecurityGroup"].get("id") or ""
        nsg = arm.get(ref_id, NetworkSecurityGroup)
        if nsg is None:
            raise E.invalid_resource_reference(ref_id, nic_id)
        linked.append((NSG_JOIN, nsg.id))
        props["networkSecurityGroup"] = {"id": nsg.id}
    for i, ipc in enumerate(ipconfs):
        if not isinstance(ipc, dict) or not ipc.get("name"):
            raise E.invalid_request_content("Every IP configuration needs a name.")
        ipc.pop("etag", None)
        ipc["id"] = f"{nic_id}/ipConfigurations/{ipc['name']}"
        ipc["type"] = f"{NIC_TYPE}/ipConfigurations"
        ip_props = ipc.setdefault("properties", {})
        ip_props.pop("provisioningState", None)
        subnet_id = (ip_props.get("subnet") or {}).get("id") or ""
        subnet = find_subnet(arm, subnet_id)
        if subnet is None:
            raise E.invalid_resource_reference(subnet_id, nic_id)
        ip_props["subnet"] = {"id": subnet["id"]}
        ip_props.setdefault("privateIPAddressVersion", "IPv4")
        ip_props.setdefault("privateIPAllocationMethod", "Dynamic")
        ip_props.setdefault("primary", i == 0)
        if not ip_props.get("privateIPAddress"):
            ip_props["privateIPAddress"] = f"10.0.{200 + len(arm.resources) % 50}.{4 + i}"
        linked.append((SUBNET_JOIN, subnet["id"]))
        public_ip = public_ips.link_in_put(arm, nic_id, ip_props)
        if public_ip is not None:
            linked.append(public_ip)
    for linked_action, linked_scope in linked:
        call.authorize_linked(linked_action, linked_scope)
    if nsg is not None and nsg.busy():
        raise E.referenced_not_provisioned(nic_id, nsg.id, nsg.provisioning_state(), arm.retry_after)
    if existing is not None:
        for key in NetworkInterface.READONLY:
            if key in existing.body["properties"]:
                props[key] = copy.deepcopy(existing.body["properties"][key])
            else:
                props.pop(key, None)
    else:
        props.update({"resourceGuid": str(uuid.uuid4()), "macAddress": "00-0D-3A-%02X-00-01" % (len(arm.resources) % 256),
                      "vnetEncryptionSupported": False, "hostedWorkloads": [], "tapConfigurations": []})
        props.pop("virtualMachine", None)
        props.pop("primary", None)
    snapshot = arm.operations.snapshot(nic_id)
    new_body = {k: v for k, v in body.items() if k not in ("id", "name", "type", "etag", "properties")}
    new_body.update({"name": name, "id": nic_id, "etag": new_etag(), "type": NIC_TYPE, "location": location,
                     "properties": props})
    if existing is None:
        nic = arm.add(NetworkInterface(new_body, call.sub, call.resource_group.name))
    else:
        nic = existing
        nic.body = new_body
    op = _start_write(call, nic, "PutNicOperation", "put", snapshot)
    return call.render(nic, 201 if existing is None else 200, arm.operations.headers(call.request, op, location=False))
