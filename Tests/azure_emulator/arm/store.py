"""What ARM holds for one scenario: subscriptions, every resource by lower-cased id, the long-running operations,
the role model. Loaded from the scenario by each provider's loader, in LOADERS order.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..http import Request
from ..latency import Latency
from ..scenario import resolved_assignments
from . import errors as E
from .authorization.rbac import RoleModel
from .compute import models as compute
from .lro import Operations
from .models import Resource
from .network import models as network
from .network import managers as network_managers
from .network import public_ips
from .resourcegraph.quota import GraphQuota
from .resources.models import ResourceGroup, Subscription
from .throttling import RateLimits

if TYPE_CHECKING:
    from ..faults import Fault

R = TypeVar("R", bound=Resource)

# Per resource group, in this order (the MAC addresses of NICs count what was loaded before them; VMs link NICs;
# public IPs link themselves into the NICs' IP configurations; VMs load their disks).
LOADERS: tuple[Callable[[ArmStore, ResourceGroup, dict], None], ...] = (
    network.load_resource_group,
    network_managers.load_resource_group,
    public_ips.load_resource_group,
    compute.load_resource_group,
)


class ArmStore:
    def __init__(self, scenario: dict, lro_fault: Callable[[Request], Fault | None] | None = None):
        self.scenario = scenario
        self.settings: dict = scenario["settings"]
        self.roles = RoleModel(scenario.get("custom_roles", []), resolved_assignments(scenario))
        self.users = {u["object_id"].lower(): u["upn"] for u in scenario.get("users", [])}
        self.subscriptions: dict[str, Subscription] = {}
        self.resources: dict[str, Resource] = {}
        self.latency = Latency(self.settings.get("latency"))         # how long operations take (latency.py)
        self.limits = RateLimits(self.settings.get("throttling"))    # ARM's token buckets (throttling.py)
        self.operations = Operations(self.resources, self.settings, lro_fault, self.latency)
        self.graph_quota = GraphQuota(self.settings)   # Resource Graph's per-user query quota
        for sub_spec in scenario.get("subscriptions", []):
            sub = Subscription.from_scenario(sub_spec)
            self.subscriptions[sub.subscription_id.lower()] = sub
            for rg_spec in sub_spec.get("resource_groups", []):
                rg = self.add(ResourceGroup.from_scenario(sub, rg_spec))
                for load in LOADERS:
                    load(self, rg, rg_spec)

    @property
    def retry_after(self) -> int:
        """Retry-After (seconds) of 202s, status polls and 429s."""
        return self.operations.retry_after

    # ------------------------------------------------------------------ lookups
    def add(self, resource: R) -> R:
        self.resources[resource.id.lower()] = resource
        return resource

    def get(self, resource_id: str, cls: type[R]) -> R | None:
        """The resource with this id if it is a `cls`."""
        found = self.resources.get(resource_id.lower())
        return found if isinstance(found, cls) else None

    def all_of(self, cls: type[R]) -> list[R]:
        return [r for r in self.resources.values() if isinstance(r, cls)]

    def in_scope(self, cls: type[R], sub: str, rg: str | None = None) -> list[R]:
        """The `cls` resources of a subscription, or of one of its resource groups; sorted by id, as ARM lists."""
        found = [r for r in self.all_of(cls) if r.sub.lower() == sub.lower() and (not rg or r.rg.lower() == rg.lower())]
        return sorted(found, key=lambda r: r.id.lower())

    def subscription(self, sub: str) -> Subscription:
        found = self.subscriptions.get(sub.lower())
        if found is None:
            raise E.subscription_not_found(sub)
        return found

    def resource_group(self, sub: str, rg: str) -> ResourceGroup:
        found = self.get(f"/subscriptions/{sub}/resourceGroups/{rg}", ResourceGroup)
        if found is None:
            raise E.resource_group_not_found(rg)
        return found

    def resource(self, cls: type[R], sub: str, rg: str, name: str) -> R:
        """The `cls` named `name` in the resource group, or ResourceGroupNotFound / ResourceNotFound."""
        group = self.resource_group(sub, rg)
        found = self.get(f"{group.providers}/{cls.TYPE}/{name}", cls)
        if found is None:
            raise E.resource_not_found(f"{cls.TYPE}/{name}", group.name)
        return found

    def resource_id(self, sub: str, rg: str, rtype: str, name: str) -> str:
        """The id a resource of `rtype` named `name` has (or gets): the group's name as stored when it exists."""
        group = self.get(f"/subscriptions/{sub}/resourceGroups/{rg}", ResourceGroup)
        return f"/subscriptions/{sub}/resourceGroups/{group.name if group else rg}/providers/{rtype}/{name}"

    # ------------------------------------------------------------------ the emulator's view
    def state(self) -> dict:
        """Every subscription and resource as GET returns it (VMs with their instance view), and the child
        resources (rules, subnets) on their own, keyed by lower-cased id."""
        out: dict[str, dict] = {sub.id.lower(): sub.render() for sub in self.subscriptions.values()}
        for key, resource in self.resources.items():
            body = resource.render(self, expand=True)
            out[key] = body
            for child_key in resource.CHILDREN:
                for child in body["properties"][child_key]:
                    out[child["id"].lower()] = child
        return {"resources": out}
