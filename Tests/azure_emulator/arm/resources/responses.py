"""Microsoft.Resources request handling: subscriptions and resource groups.

ARM lists (and shows) a subscription to a caller holding any role assignment at, above or below it; the
resource-group list shows the groups the caller may read.
"""
from __future__ import annotations

from ...http import Response
from .. import errors as E
from ..router import Call
from .models import ResourceGroup

RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"


def list_subscriptions(call: Call) -> Response:
    tid = (call.claims.get("tid") or "").lower()
    subs = [s.render() for s in call.arm.subscriptions.values()
            if (not tid or s.tenant_id.lower() == tid) and call.arm.roles.has_any_assignment_under(call.oid, s.id)]
    response = call.page(subs)
    response.body["count"] = {"type": "Total", "value": len(subs)}
    return response


def get_subscription(call: Call) -> Response:
    sub = call.subscription
    assert sub is not None
    if not call.arm.roles.has_any_assignment_under(call.oid, sub.id):
        raise E.authorization_failed(call.client_name(), call.claims.get("oid", ""),
                                     "Microsoft.Resources/subscriptions/read", sub.id)
    return Response(200, sub.render())


def list_resource_groups(call: Call) -> Response:
    scope = f"/subscriptions/{call.sub}"
    groups = [g.render(call.arm) for g in call.arm.all_of(ResourceGroup)
              if g.sub.lower() == call.sub.lower() and call.arm.roles.allowed(call.oid, RG_READ, g.id)]
    if not groups:  # none readable: 403 unless the caller may read them all (there are none)
        call.authorize(RG_READ, scope)
    return call.page(groups)


def get_resource_group(call: Call) -> Response:
    return call.render(call.resource_group)
