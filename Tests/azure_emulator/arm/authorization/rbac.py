"""Azure RBAC as ARM evaluates it: role definitions, role assignments at a scope, action matching with wildcards.

The built-in role definitions below follow Microsoft's published definitions (Azure built-in roles reference):
Reader grants `*/read`; Virtual Machine Contributor manages VMs but only *joins* networks (it can attach an NSG
or subnet it does not own, never edit one) and reads and writes managed disks but no snapshots; Disk Snapshot
Contributor manages snapshots (not disks: reading the source disk takes another role, Virtual Machine Contributor
or Reader); Network Contributor manages everything under `Microsoft.Network/*`.
Actions match case-insensitively and `*` matches any run of characters, including '/'. A role grants an action
when one of its `actions` matches and none of its `notActions` does. Assignments apply to their scope and every
scope below it (subscription -> resource group -> resource).
"""
from __future__ import annotations

import re
from functools import lru_cache

BUILTIN_ROLES: dict[str, dict] = {
    "Reader": {
        "id": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "actions": ["*/read"],
        "notActions": [],
        "dataActions": [],
        "notDataActions": [],
    },
    "Contributor": {
        "id": "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "actions": ["*"],
        "notActions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        "dataActions": [],
        "notDataActions": [],
    },
    "Owner": {
        "id": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
        "actions": ["*"],
        "notActions": [],
        "dataActions": [],
        "notDataActions": [],
    },
    "Virtual Machine Contributor": {
        "id": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        "actions": [
            "Microsoft.Authorization/*/read",
            "Microsoft.Compute/availabilitySets/*",
            "Microsoft.Compute/locations/*",
            "Microsoft.Compute/virtualMachines/*",
            "Microsoft.Compute/virtualMachineScaleSets/*",
            "Microsoft.Compute/cloudServices/*",
            "Microsoft.Compute/disks/write",
            "Microsoft.Compute/disks/read",
            "Microsoft.Compute/disks/delete",
            "Microsoft.DevTestLab/schedules/*",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
            "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
            "Microsoft.Network/loadBalancers/probes/join/action",
            "Microsoft.Network/loadBalancers/read",
            "Microsoft.Network/locations/*",
            "Microsoft.Network/networkInterfaces/*",
            "Microsoft.Network/networkSecurityGroups/join/action",
            "Microsoft.Network/networkSecurityGroups/read",
            "Microsoft.Network/publicIPAddresses/join/action",
            "Microsoft.Network/publicIPAddresses/read",
            "Microsoft.Network/virtualNetworks/read",
            "Microsoft.Network/virtualNetworks/subnets/join/action",
            "Microsoft.RecoveryServices/locations/*",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
            "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
            "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
            "Microsoft.RecoveryServices/Vaults/read",
            "Microsoft.RecoveryServices/Vaults/usages/read",
            "Microsoft.RecoveryServices/Vaults/write",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.SerialConsole/serialPorts/connect/action",
            "Microsoft.SqlVirtualMachine/*",
            "Microsoft.Storage/storageAccounts/listKeys/action",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Support/*",
        ],
        "notActions": [],
        "dataActions": [],
        "notDataActions": [],
    },
    "Disk Snapshot Contributor": {
        "id": "7efff54f-a5b4-42b5-a1c5-5411624893ce",
        "actions": [
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Compute/snapshots/delete",
            "Microsoft.Compute/snapshots/write",
            "Microsoft.Compute/snapshots/read",
            "Microsoft.Compute/snapshots/beginGetAccess/action",
            "Microsoft.Compute/snapshots/endGetAccess/action",
            "Microsoft.Compute/disks/beginGetAccess/action",
            "Microsoft.Storage/storageAccounts/listkeys/action",
            "Microsoft.Storage/storageAccounts/write",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Storage/storageAccounts/delete",
        ],
        "notActions": [],
        "dataActions": [],
        "notDataActions": [],
    },
    "Network Contributor": {
        "id": "4d97b98b-1d4f-4787-a291-c67834d212e7",
        "actions": [
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Network/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
        ],
        "notActions": [],
        "dataActions": [],
        "notDataActions": [],
    },
}


@lru_cache(maxsize=4096)
def _pattern(action_pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in action_pattern.split("*")), re.IGNORECASE)


def action_matches(pattern: str, action: str) -> bool:
    """True when `action` (e.g. Microsoft.Network/networkSecurityGroups/write) matches `pattern` (may hold *)."""
    return _pattern(pattern).fullmatch(action) is not None


def scope_contains(outer: str, inner: str) -> bool:
    """True when `inner` is `outer` or lies below it (path-segment prefix, case-insensitive)."""
    o = outer.rstrip("/").lower()
    i = inner.rstrip("/").lower()
    return o in ("", i) or i.startswith(o + "/")


class RoleModel:
    """Role definitions (built-in + the scenario's custom roles) and role assignments keyed by principal oid."""

    def __init__(self, custom_roles: list[dict], assignments: list[dict]):
        self.roles: dict[str, dict] = {name.lower(): dict(body, roleName=name) for name, body in BUILTIN_ROLES.items()}
        for role in custom_roles or []:
            name = role.get("name") or role.get("roleName")
            if not isinstance(name, str) or not name:
                raise ValueError(f"scenario: custom role without a name (name or roleName): {role!r}")
            self.roles[name.lower()] = {
                "roleName": name,
                "id": role.get("id", ""),
                "actions": list(role.get("actions") or []),
                "notActions": list(role.get("not_actions") or role.get("notActions") or []),
                "dataActions": list(role.get("data_actions") or role.get("dataActions") or []),
                "notDataActions": list(role.get("not_data_actions") or role.get("notDataActions") or []),
            }
        # principal oid (lower-cased once here) -> its assignments [{"principal_id": oid, "role": name, "scope": path}]
        self.assignments: dict[str, list[dict]] = {}
        for a in assignments:
            self.assignments.setdefault(a["principal_id"].lower(), []).append(a)

    def role(self, name: str) -> dict:
        try:
            return self.roles[name.lower()]
        except KeyError:
            raise ValueError(f"scenario: unknown role {name!r} (not built in, not in custom_roles)") from None

    def applicable(self, principal_id: str | None, scope: str) -> list[dict]:
        """The role definitions assigned to the principal at `scope` or above."""
        if not principal_id:
            return []
        return [self.role(a["role"]) for a in self.assignments.get(principal_id.lower(), [])
                if scope_contains(a["scope"], scope)]

    def has_any_assignment_under(self, principal_id: str | None, scope: str) -> bool:
        """True when the principal holds a role at `scope`, above it or below it (ARM lists such subscriptions)."""
        if not principal_id:
            return False
        return any(scope_contains(a["scope"], scope) or scope_contains(scope, a["scope"])
                   for a in self.assignments.get(principal_id.lower(), []))

    @staticmethod
    def grants(role: dict, action: str) -> bool:
        return any(action_matches(p, action) for p in role["actions"]) and \
            not any(action_matches(p, action) for p in role["notActions"])

    def allowed(self, principal_id: str | None, action: str, scope: str) -> bool:
        return any(self.grants(role, action) for role in self.applicable(principal_id, scope))

    def granting_scopes(self, principal_id: str | None, action: str) -> list[str]:
        """The scopes of the principal's assignments whose role grants `action` (it is allowed at each of them and
        below): one pass over the assignments, for callers that check many resources (Resource Graph)."""
        if not principal_id:
            return []
        return [a["scope"] for a in self.assignments.get(principal_id.lower(), [])
                if self.grants(self.role(a["role"]), action)]

    def permissions(self, principal_id: str | None, scope: str) -> list[dict]:
        """What GET .../providers/Microsoft.Authorization/permissions returns: one entry per applicable role."""
        return [{"actions": list(r["actions"]), "notActions": list(r["notActions"]),
                 "dataActions": list(r["dataActions"]), "notDataActions": list(r["notDataActions"])}
                for r in self.applicable(principal_id, scope)]
