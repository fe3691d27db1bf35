"""The machinery of the declarative route table (routes.py): rows, matching, and the Call a handler receives.

A row is (method, URL template as the REST specs write it, handler, RBAC action[, linked actions]).
Matching goes by path segments: literal segments match case-insensitively, `{name}` matches one segment (decoded
once; "%2F" inside a name stays part of the name). Before the handler runs, the router
- checks the row's RBAC action over the row's scope, the URL up to its last template variable (a list's scope is
  its subscription or resource group, an action's the resource): 403 AuthorizationFailed;
- then, when the template has {resourceGroupName}, that the group exists: 404 ResourceGroupNotFound.
RBAC comes before existence, as in ARM: a caller without access learns nothing about what exists.
A path no row matches is 405 HttpMethodNotAllowed when rows match it with other methods; outside /subscriptions
404 InvalidRequestUri "not valid for Azure Resource Manager"; 400 InvalidResourceType when it names a provider type
no row serves; else 404 InvalidRequestUri.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..http import PathTemplate, Request, Response
from . import errors as E
from .models import Resource
from .resources.models import ResourceGroup, Subscription
from .store import ArmStore, R

Handler = Callable[["Call"], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    action: str | None            # RBAC action the router checks; None: the handler checks what applies itself
    linked: tuple[str, ...] = ()  # linked actions the handler may check (join/action on referenced resources)
    path: PathTemplate = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", PathTemplate(self.template))

    def provider_type(self) -> str | None:
        """"namespace/type" (lower case) this row serves, when its template names both literally."""
        parts = [p.lower() for p in self.path.parts]
        for i, part in enumerate(parts[:-2]):
            if part == "providers" and not PathTemplate.is_variable(parts[i + 1]) and \
                    not PathTemplate.is_variable(parts[i + 2]):
                return f"{parts[i + 1]}/{parts[i + 2]}"
        return None


@dataclass
class Call:
    """One routed ARM request: what a handler needs."""

    arm: ArmStore
    request: Request
    claims: dict
    route: Route
    params: dict[str, str]
    subscription: Subscription | None = None
    group: ResourceGroup | None = None   # set by the router when the template has {resourceGroupName}
    scope: str = ""                      # the RBAC scope of the row

    @property
    def sub(self) -> str:
        """The subscription id as stored (the URL's may differ in case)."""
        assert self.subscription is not None, "the route has no {subscriptionId}"
        return self.subscription.subscription_id

    @property
    def rg(self) -> str | None:
        return self.params.get("resourceGroupName")

    @property
    def resource_group(self) -> ResourceGroup:
        assert self.group is not None, "the route has no {resourceGroupName}"
        return self.group

    @property
    def name(self) -> str:
        """The value of the template's last variable: the name of the resource the URL ends with."""
        return self.params[self.route.path.variables[-1]]

    @property
    def oid(self) -> str | None:
        return self.claims.get("oid")

    # ------------------------------------------------------------------ RBAC
    def client_name(self) -> str:
        """The caller as ARM names it in 403 messages: a user's upn, an app's client id."""
        claims = self.claims
        if claims.get("idtyp") == "user" or claims.get("upn"):
            return claims.get("upn") or self.arm.users.get(str(claims.get("oid")).lower()) or claims.get("oid", "")
        return claims.get("appid") or claims.get("oid", "")

    def authorize(self, action: str, scope: str) -> None:
        if not self.arm.roles.allowed(self.oid, action, scope):
            raise E.authorization_failed(self.client_name(), self.claims.get("oid", ""), action, scope)

    def authorize_linked(self, linked_action: str, linked_scope: str) -> None:
        """A linked action (join/action) over a resource the request refers to: 403 LinkedAuthorizationFailed."""
        assert self.route.action is not None, "a linked check needs the route's own action"
        assert linked_action in self.route.linked, f"{linked_action} is not among the route's linked actions"
        if not self.arm.roles.allowed(self.oid, linked_action, linked_scope):
            raise E.linked_authorization_failed(self.client_name(), self.claims.get("oid", ""), self.route.action,
                                                self.scope, linked_action, linked_scope)

    # ------------------------------------------------------------------ lookups
    def resource(self, cls: type[R]) -> R:
        """The `cls` the URL names (its template variable is cls.PARAM) in the URL's resource group."""
        return self.arm.resource(cls, self.sub, self.resource_group.name, self.params[cls.PARAM])

    def resource_id(self, cls: type[Resource]) -> str:
        """The id of the `cls` the URL names, whether it exists or not (PUT creates it with this id)."""
        return self.arm.resource_id(self.sub, self.resource_group.name, cls.TYPE, self.params[cls.PARAM])

    # ------------------------------------------------------------------ request and response helpers
    def json_body(self) -> dict:
        try:
            body = self.request.json()
        except ValueError as exc:
            raise E.invalid_request_content(str(exc)) from None
        if not isinstance(body, dict):
            raise E.invalid_request_content("The request body must be a JSON object.")
        return body

    def page(self, items: list[dict]) -> Response:
        """One page of a list (settings.page_size items) with nextLink to the next (query parameters kept)."""
        request = self.request
        size = max(1, int(self.arm.settings.get("page_size", 2)))
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

    def render(self, resource: Resource, status: int = 200, headers: dict | None = None, *,
               expand: bool = False) -> Response:
        return Response(status, resource.render(self.arm, expand=expand), headers or {})


def list_of(cls: type[Resource]) -> Handler:
    """The handler of a plain list of `cls` (subscription-wide, or in the URL's resource group)."""

    def handler(call: Call) -> Response:
        found = call.arm.in_scope(cls, call.sub, call.rg)
        return call.page([r.render(call.arm) for r in found])

    handler.__name__ = f"list_{cls.__name__}"
    return handler


def segments(request: Request) -> list[str]:
    """The path's segments, each decoded once (so a "%2F" in a name does not split it)."""
    raw = (request.raw_path or request.path).split("?", 1)[0].strip("/")
    return [PathTemplate.decode(s) for s in raw.split("/")] if raw else []


class Router:
    def __init__(self, routes: Sequence[Route]):
        self.routes = tuple(routes)
        self.provider_types = {t for t in (r.provider_type() for r in self.routes) if t}

    def match(self, request: Request, segs: list[str]) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self.routes:
            params = route.path.match(segs)
            if params is None:
                continue
            if route.method == request.method:
                return route, params
            allowed = True
        if allowed:
            raise E.method_not_allowed(request.method)
        raise self._no_route(request, segs)

    def _no_route(self, request: Request, segs: list[str]) -> E.ArmError:
        low = [s.lower() for s in segs]
        if low[:1] != ["subscriptions"]:
            return E.unknown_path(request.path)
        # where "providers" stands: /subscriptions/{id}/providers/... or .../resourceGroups/{name}/providers/...
        at = None
        if low[2:3] == ["providers"]:
            at = 2
        elif low[2:3] == ["resourcegroups"] and low[4:5] == ["providers"]:
            at = 4
        if at is not None and len(segs) >= at + 3 and f"{low[at + 1]}/{low[at + 2]}" not in self.provider_types:
            return E.invalid_resource_type(segs[at + 2], segs[at + 1], request.arg("api-version"))
        return E.invalid_request_uri(request.path)

    def dispatch(self, arm: ArmStore, request: Request, claims: dict, subscription: Subscription | None,
                 segs: list[str]) -> Response:
        route, params = self.match(request, segs)
        call = Call(arm, request, claims, route, params, subscription)
        if route.action is not None:
            call.scope = self.scope(call)
            call.authorize(route.action, call.scope)
        if "resourceGroupName" in params:
            call.group = arm.resource_group(call.sub, params["resourceGroupName"])
        return route.handler(call)

    @staticmethod
    def scope(call: Call) -> str:
        """The URL up to its last template variable, with the subscription id and the group's name as stored."""
        route = call.route
        last = route.path.variables[-1] if route.path.variables else None
        values = dict(call.params)
        if call.subscription is not None:
            values["subscriptionId"] = call.sub
        if "resourceGroupName" in values:
            group = call.arm.get(f"/subscriptions/{call.sub}/resourceGroups/{values['resourceGroupName']}",
                                 ResourceGroup)
            if group is not None:
                values["resourceGroupName"] = group.name
        return route.path.render(values, through=last)
