"""Microsoft.Authorization request handling: what the caller may do at a scope (GET .../permissions).

Spec followed: specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/
authorization-RoleDefinitionsCalls.json, which defines the read at two scopes: Permissions_ListForResourceGroup
(.../resourcegroups/{rg}/providers/Microsoft.Authorization/permissions) and Permissions_ListForResource
(.../resourcegroups/{rg}/providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}/
providers/Microsoft.Authorization/permissions; parentResourcePath holds '/' and may be empty, which the SDKs send as
'//'). ARM also answers the subscription scope, /subscriptions/{s}/providers/Microsoft.Authorization/permissions,
although no spec defines it: Microsoft's "Use Resource Manager authentication API to access subscriptions" shows
it answering 200 with the caller's permissions, and azure-rest-api-specs issue #19473 ("not in the swagger file,
but it can be called") asks for it to be specified. The emulator serves it the same way.
The answer lists one entry per role the caller holds at the scope or above it; a resource-scope read does not check
that the resource exists [unverified: ARM's answer for a missing resource is not documented].
"""
from __future__ import annotations

from ...http import Response
from ..router import Call


def list_permissions(call: Call) -> Response:
    """One entry per role the caller holds at the subscription, resource group or resource, or above it."""
    params = call.params
    scope = f"/subscriptions/{call.sub}"
    if call.rg:
        scope += f"/resourceGroups/{call.resource_group.name}"
    if "resourceName" in params:
        parent = f"/{params['parentResourceType']}/{params['parentResourceName']}" \
            if "parentResourceType" in params else ""
        scope += (f"/providers/{params['resourceProviderNamespace']}{parent}/{params['resourceType']}/"
                  f"{params['resourceName']}")
    return Response(200, {"value": call.arm.roles.permissions(call.oid, scope)})
