"""Resource Graph's tables, built from the ARM store for one caller: Resources (every resource but subscriptions and
resource groups) and ResourceContainers (subscriptions and resource groups).

A row has Resource Graph's columns: id, name, type (lower case, as Resource Graph stores it), tenantId, kind,
location, resourceGroup (lower case), subscriptionId, managedBy, sku, plan, properties, tags, identity, zones,
extendedLocation. `properties` is the resource's as GET returns it, with what Resource Graph adds: a VM's
`extended.instanceView.powerState`, a public IP's `ipConfiguration`, a disk's `diskState`. Subscription rows are
named by their display name. Read-only back-references that ARM computes by scanning other resources (a subnet's
ipConfigurations, an NSG's networkInterfaces) are left out of the rows [emulator simplification].

RBAC: a row is there only when the caller may read it (the read action of its type, e.g.
Microsoft.Compute/virtualMachines/read, over its id, as ARM would check a GET), its subscription is among those
asked for and belongs to the token's tenant. A subscription row needs a role assignment at, above or below it (as
GET /subscriptions lists), a resource group row Microsoft.Resources/subscriptions/resourceGroups/read.
The rows share the store's dicts (no copy: queries never change them); responses.py copies the page it answers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..authorization.rbac import scope_contains
from ..compute.disks import Disk
from ..compute.models import POWER_DISPLAY, VirtualMachine
from ..models import Resource
from ..network.public_ips import PublicIPAddress, public_ip_references
from ..resources.models import ResourceGroup, Subscription
from .evaluator import Table

if TYPE_CHECKING:
    from ..store import ArmStore

COLUMNS = ["id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId", "managedBy",
           "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"]
SUBSCRIPTION_TYPE = "microsoft.resources/subscriptions"
GROUP_TYPE = "microsoft.resources/subscriptions/resourcegroups"
GROUP_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"


class Scope:
    """What one caller may see: the subscriptions in reach and, per action, the scopes that grant it."""

    def __init__(self, arm: ArmStore, oid: str | None, tenant: str | None, subscriptions: list[str] | None):
        self.arm, self.oid = arm, oid
        wanted = {s.lower() for s in subscriptions} if subscriptions else None
        self.subscriptions: dict[str, Subscription] = {
            key: sub for key, sub in arm.subscriptions.items()
            if (wanted is None or key in wanted) and (not tenant or sub.tenant_id.lower() == tenant.lower())
            and arm.roles.has_any_assignment_under(oid, sub.id)}
        self._granting: dict[str, list[str]] = {}

    def may(self, action: str, scope: str) -> bool:
        if action not in self._granting:
            self._granting[action] = self.arm.roles.granting_scopes(self.oid, action)
        return any(scope_contains(granted, scope) for granted in self._granting[action])

    def reads(self, resource: Resource) -> bool:
        return resource.sub.lower() in self.subscriptions and self.may(f"{resource.TYPE}/read", resource.id)


def _row(resource: Resource, tenant: str, properties: Any, rtype: str | None = None) -> dict:
    body = resource.body
    return {"id": resource.id, "name": resource.name, "type": rtype or resource.TYPE.lower(), "tenantId": tenant,
            "kind": body.get("kind", ""), "location": body.get("location", ""), "resourceGroup": resource.rg.lower(),
            "subscriptionId": resource.sub, "managedBy": body.get("managedBy", ""), "sku": body.get("sku"),
            "plan": body.get("plan"), "properties": properties, "tags": body.get("tags") or {},
            "identity": body.get("identity"), "zones": body.get("zones"),
            "extendedLocation": body.get("extendedLocation")}


def _properties(arm: ArmStore, resource: Resource, public_ips: dict[str, str]) -> Any:
    props = resource.body.get("properties") or {}
    if isinstance(resource, VirtualMachine):
        power, moving = resource.power_state(arm.operations)
        return {**props, "provisioningState": "Updating" if moving else "Succeeded",
                "extended": {"instanceView": {"computerName": resource.computer_name, "powerState": {
                    "code": f"PowerState/{power}", "level": "Info", "displayStatus": POWER_DISPLAY[power]}}}}
    if isinstance(resource, Disk):
        return {**props, "provisioningState": "Succeeded", "diskState": resource.disk_state(arm)}
    extra: dict[str, Any] = {"provisioningState": resource.provisioning_state()}
    if isinstance(resource, PublicIPAddress) and resource.id.lower() in public_ips:
        extra["ipConfiguration"] = {"id": public_ips[resource.id.lower()]}
    return {**props, **extra}


def resources_table(scope: Scope) -> Table:
    arm = scope.arm
    public_ips = public_ip_references(arm)
    rows = []
    for key in sorted(arm.resources):
        resource = arm.resources[key]
        if isinstance(resource, ResourceGroup) or not scope.reads(resource):
            continue
        tenant = scope.subscriptions[resource.sub.lower()].tenant_id
        rows.append(_row(resource, tenant, _properties(arm, resource, public_ips)))
    return Table(list(COLUMNS), rows)


def containers_table(scope: Scope) -> Table:
    arm = scope.arm
    rows = []
    for key, sub in sorted(scope.subscriptions.items()):
        body = sub.body
        rows.append({"id": sub.id, "name": body["displayName"], "type": SUBSCRIPTION_TYPE,
                     "tenantId": sub.tenant_id, "kind": "", "location": "", "resourceGroup": "",
                     "subscriptionId": sub.subscription_id, "managedBy": "", "sku": None, "plan": None,
                     "properties": {"state": body["state"], "subscriptionPolicies": body["subscriptionPolicies"],
                                    "managementGroupAncestorsChain": []},
                     "tags": {}, "identity": None, "zones": None, "extendedLocation": None})
        for group in arm.in_scope(ResourceGroup, key):
            if scope.may(GROUP_READ, group.id):
                rows.append(_row(group, sub.tenant_id, {"provisioningState": "Succeeded"}, GROUP_TYPE))
    return Table(list(COLUMNS), rows)


TABLES = {"Resources": resources_table, "ResourceContainers": containers_table}
