"""Microsoft.Resources: subscriptions and resource groups, loaded from the scenario's `subscriptions`."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from ..models import Resource

RG_TYPE = "Microsoft.Resources/resourceGroups"


@dataclass
class Subscription:
    body: dict

    @property
    def id(self) -> str:
        return self.body["id"]

    @property
    def subscription_id(self) -> str:
        return self.body["subscriptionId"]

    @property
    def tenant_id(self) -> str:
        return self.body["tenantId"]

    def render(self) -> dict:
        return copy.deepcopy(self.body)

    @classmethod
    def from_scenario(cls, spec: dict) -> Subscription:
        sid = spec["id"]
        return cls({
            "id": f"/subscriptions/{sid}", "authorizationSource": "RoleBased", "subscriptionId": sid,
            "tenantId": spec["tenant"], "displayName": spec.get("display_name", sid), "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"}})


@dataclass
class ResourceGroup(Resource):
    TYPE = RG_TYPE
    PARAM = "resourceGroupName"

    @classmethod
    def from_scenario(cls, sub: Subscription, spec: dict) -> ResourceGroup:
        rg_id = f"{sub.id}/resourceGroups/{spec['name']}"
        return cls({"id": rg_id, "name": spec["name"], "type": RG_TYPE, "location": spec.get("location", "eastus"),
                    "tags": spec.get("tags", {}), "properties": {"provisioningState": "Succeeded"}},
                   sub.subscription_id, spec["name"])

    @property
    def providers(self) -> str:
        """The prefix of the ids of the resources in this group: /subscriptions/../resourceGroups/../providers."""
        return f"{self.id}/providers"
