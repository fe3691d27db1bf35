"""Microsoft.Authorization request handling: what the caller may do at a scope (GET .../permissions)."""
from __future__ import annotations

from ...http import Response
from ..router import Call


def list_permissions(call: Call) -> Response:
    """One entry per role the caller holds at the subscription or resource group, or above it."""
    scope = f"/subscriptions/{call.sub}" + (f"/resourceGroups/{call.rg}" if call.rg else "")
    return Response(200, {"value": call.arm.roles.permissions(call.oid, scope)})
