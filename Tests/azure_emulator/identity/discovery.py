"""OpenID Connect discovery, the JWKS and instance discovery.

MSAL needs `authorization_endpoint` and `token_endpoint` from the discovery document and takes the tenant from the
first path segment of the latter. `/common/discovery/instance` answers a client that does not switch instance
discovery off.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..http import Request, Response

if TYPE_CHECKING:
    from .service import IdentityService


def openid_configuration(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:
    """/{tenant}/v2.0/.well-known/openid-configuration (and the v1 path): the field set Entra serves."""
    segment = params["tenant"]
    tid = svc.directory.tenant_of(segment)
    issuer_tenant = tid or "{tenantid}"
    tid = tid or segment.lower()
    base = svc.base(request)
    oauth = f"{base}/{tid}/oauth2/v2.0"
    doc = {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
            "tid", "ver", "at_hash", "c_hash", "email",
        ],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return Response(200, doc, {"Cache-Control": "max-age=86400, private", "Access-Control-Allow-Origin": "*"})


def keys(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:
    """/{tenant}/discovery/v2.0/keys: the token signing key."""
    svc.directory.tenant_of(params["tenant"])
    return Response(200, {"keys": [svc.tokens.jwk(f"{svc.base(request)}/{{tenantid}}/v2.0")]})


def instance_discovery(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:  # noqa: ARG001
    base = svc.base(request)
    host = urlsplit(base).netloc
    endpoint = request.arg("authorization_endpoint") or ""
    tenant = "common"
    if endpoint:
        segments = [p for p in urlsplit(endpoint).path.split("/") if p]
        if segments:
            tenant = segments[0]
    return Response(200, {
        "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": request.arg("api-version") or "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })
