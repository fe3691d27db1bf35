"""Scopes as the v2.0 endpoint reads them: resource scopes ("https://management.azure.com/.default") apart from the
OpenID Connect ones, and one resource per token."""
from __future__ import annotations

from . import errors

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_RESOURCE = "https://graph.microsoft.com/"
PUBLIC_ARM_SCOPE = "https://management.azure.com/.default"


def resource_of_scope(scope: str) -> tuple[str, str]:
    """(audience with a trailing "/", permission) for one resource scope.

    "https://management.azure.com/.default" -> ("https://management.azure.com/", ".default");
    "https://management.core.windows.net//.default" -> ("https://management.core.windows.net/", ".default");
    a bare permission such as "User.Read" belongs to Microsoft Graph.
    """
    if "/" not in scope:
        return GRAPH_RESOURCE, scope
    resource, _, permission = scope.rpartition("/")
    if not resource.endswith("/"):
        resource += "/"
    return resource, permission


def split_scopes(form_scope: str | None) -> tuple[list[str], set[str]]:
    """(resource scopes in order, OpenID Connect scopes lower-cased)."""
    words = (form_scope or "").split()
    resource_scopes = [w for w in words if w.lower() not in OIDC_SCOPES]
    oidc = {w.lower() for w in words if w.lower() in OIDC_SCOPES}
    return resource_scopes, oidc


def single_resource(resource_scopes: list[str], raw: str) -> tuple[str, list[str]]:
    """(audience, permissions) of scopes that must name one resource (AADSTS28000 otherwise); Graph's User.Read
    when they name none."""
    resources: dict[str, list[str]] = {}
    for scope in resource_scopes:
        resource, permission = resource_of_scope(scope)
        resources.setdefault(resource, []).append(permission)
    if len(resources) > 1:
        raise errors.several_resources(raw)
    if not resources:
        return GRAPH_RESOURCE, ["User.Read"]
    audience, permissions = next(iter(resources.items()))
    return audience, permissions
