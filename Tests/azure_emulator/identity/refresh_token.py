"""Refresh tokens: the token answer of a delegated (user) grant, which issues one when offline_access was asked
for, and the refresh_token grant, which redeems one (a new refresh token on each use; an unused one expires after
settings.refresh_token_inactivity_seconds: AADSTS700082)."""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..http import Request, Response
from . import errors
from .scopes import single_resource, split_scopes
from .wire import b64url, client_info, no_store_headers, utc

if TYPE_CHECKING:
    from .service import IdentityService

DEFAULT_DELEGATED_SCOPE = "https://management.azure.com/user_impersonation"


@dataclass
class RefreshGrant:
    """What a refresh token stands for."""

    client_id: str
    tenant: str
    user: dict
    oidc: set[str]
    issued: float
    last_used: float


def user_token_response(svc: IdentityService, request: Request, form: dict, app: dict, user: dict, appidacr: str,
                        resource_scopes: list[str], oidc: set[str], nonce: str | None) -> Response:
    """An access token for the user (+ refresh token with offline_access, ID token with openid, client_info)."""
    audience, permissions = single_resource(resource_scopes, " ".join(resource_scopes))
    scp = " ".join(sorted({"user_impersonation" if p == ".default" else p for p in permissions}))
    token, lifetime = svc.user_token(app, user, audience, appidacr=appidacr, scp=scp)
    granted = [f"{audience}{p}" for p in permissions] or [f"{audience}user_impersonation"]
    granted += sorted(oidc)
    body: dict[str, Any] = {"token_type": "Bearer", "scope": " ".join(granted), "expires_in": lifetime,
                            "ext_expires_in": lifetime, "access_token": token}
    if "offline_access" in oidc:
        refresh = "1.AR" + b64url(secrets.token_bytes(48))
        now = svc.clock()
        with svc.lock:
            svc.refresh_tokens[refresh] = RefreshGrant(app["client_id"], app["tenant"], user, set(oidc), now, now)
        body["refresh_token"] = refresh
    if "openid" in oidc:
        body["id_token"] = svc.tokens.id_token(issuer=f"{svc.base(request)}/{user['tenant']}/v2.0", app=app, user=user,
                                               lifetime=int(svc.settings["token_lifetime_seconds"]), nonce=nonce)
    if form.get("client_info") == "1":
        body["client_info"] = client_info(user)
    return Response(200, body, no_store_headers(str(uuid.uuid4())))


def redeem(svc: IdentityService, request: Request, form: dict, app: dict, appidacr: str) -> Response:
    """The refresh_token grant."""
    refresh = form.get("refresh_token")
    if not refresh:
        raise errors.missing_parameter("refresh_token")
    now = svc.clock()
    with svc.lock:
        entry = svc.refresh_tokens.get(refresh)
        stale = entry is not None and now - entry.last_used > float(svc.settings["refresh_token_inactivity_seconds"])
        if entry is not None and not stale and entry.client_id == app["client_id"]:
            entry.last_used = now
    if entry is None:
        raise errors.malformed_grant()
    if entry.client_id != app["client_id"]:
        raise errors.grant_for_other_client()
    if stale:
        issued = utc(entry.issued).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        raise errors.refresh_token_inactive(issued, str(dt.timedelta(seconds=int(now - entry.last_used))))
    if not app.get("consented", True):
        raise errors.no_consent(app)
    resource_scopes, oidc = split_scopes(form.get("scope"))
    if not resource_scopes:
        resource_scopes = [DEFAULT_DELEGATED_SCOPE]
    oidc = (oidc & (entry.oidc | {"openid", "profile"})) | ({"offline_access"} & entry.oidc)
    return user_token_response(svc, request, form, app, entry.user, appidacr, resource_scopes, oidc, None)
