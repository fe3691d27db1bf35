"""The authorization-code flow: the authorize endpoint (the sign-in, simulated: the scenario's user signs in at
once) and the authorization_code grant that redeems its one-time code, bound to the client, the redirect URI,
the scopes and the PKCE challenge (S256 or plain).

Errors before the redirect URI is known to be the app's show on the sign-in page; after, they go to the redirect
URI (query, fragment or form_post, as response_mode asks).
"""
from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from ..http import Request, Response
from . import errors
from .errors import AadError
from .refresh_token import user_token_response
from .scopes import resource_of_scope, split_scopes
from .wire import b64url, client_info

if TYPE_CHECKING:
    from .service import IdentityService


@dataclass
class AuthCode:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    resource_scopes: list[str]
    oidc: set[str]
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    user: dict
    expires: float
    redeemed: bool = False


def authorize(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:
    """GET (or POST) /{tenant}/oauth2/v2.0/authorize."""
    segment = params["tenant"]
    query = {k: v[0] for k, v in request.query.items() if v}
    if request.method.upper() == "POST" and request.body:
        query.update(request.form())
    client_id = (query.get("client_id") or "").lower()
    try:  # the sign-in page shows these: there is no trusted redirect URI yet
        tid = svc.directory.tenant_of(segment)
        if not client_id:
            raise errors.missing_parameter("client_id")
        app = svc.directory.app_for(tid, client_id, segment)
        redirect_uri = query.get("redirect_uri") or ""
        if redirect_uri not in (app.get("redirect_uris") or []):
            raise errors.redirect_uri_mismatch(redirect_uri, app["client_id"])
    except AadError as err:
        return err.page(request, svc.clock)
    response_mode = (query.get("response_mode") or "query").lower()
    state = {"state": query["state"]} if "state" in query else {}

    def fail(err: AadError) -> Response:  # the redirect URI is the app's now: errors go there
        return _redirect(redirect_uri, {**err.redirect_values(svc.clock), **state}, response_mode)

    if query.get("response_type") != "code":
        return fail(errors.unsupported_response_type(query.get("response_type") or ""))
    if not query.get("scope"):
        return fail(errors.missing_parameter("scope"))
    method = query.get("code_challenge_method") or ("plain" if query.get("code_challenge") else None)
    if method and method.upper() not in ("S256", "PLAIN"):
        return fail(errors.invalid_code_challenge_method())
    users = svc.directory.users_of(app["tenant"])
    hint = (query.get("login_hint") or "").lower()
    user = next((u for u in users if u["upn"].lower() == hint), None) if hint else (users[0] if users else None)
    if user is None:
        return errors.user_not_found(app["tenant"]).page(request, svc.clock)
    if not app.get("consented", True) and (query.get("prompt") or "").lower() == "none":
        return fail(errors.consent_required(app))
    resource_scopes, oidc = split_scopes(query.get("scope"))
    code = "1.AR" + b64url(secrets.token_bytes(96))
    with svc.lock:
        svc.codes[code] = AuthCode(app["client_id"], redirect_uri, resource_scopes, oidc, query.get("code_challenge"),
                                   method, query.get("nonce"), user,
                                   svc.clock() + float(svc.settings["auth_code_lifetime_seconds"]))
    values = {"code": code}
    if query.get("client_info") == "1":
        values["client_info"] = client_info(user)
    return _redirect(redirect_uri, {**values, **state, "session_state": str(uuid.uuid4())}, response_mode)


def _redirect(redirect_uri: str, values: dict[str, str], response_mode: str) -> Response:
    if response_mode == "form_post":
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                         for k, v in values.items())
        page = (f"<html><head><title>Working...</title></head><body><form method=\"POST\" name=\"hiddenform\" "
                f"action=\"{html.escape(redirect_uri)}\">{fields}<noscript><p>Script is disabled. Click Submit "
                "to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form><script "
                "language=\"javascript\">document.forms[0].submit();</script></body></html>")
        return Response(200, page, {"Cache-Control": "no-store, no-cache"})
    encoded = urlencode(values, quote_via=quote)
    if response_mode == "fragment":
        location = f"{redirect_uri}#{encoded}"
    else:
        location = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{encoded}"
    return Response(302, None, {"Location": location, "Cache-Control": "no-store, no-cache"})


def _pkce_matches(code: AuthCode, verifier: str) -> bool:
    if (code.code_challenge_method or "plain").upper() == "S256":
        computed = b64url(hashlib.sha256(verifier.encode()).digest())
    else:
        computed = verifier
    return bool(verifier) and hmac.compare_digest(computed, code.code_challenge or "")


def redeem(svc: IdentityService, request: Request, form: dict, app: dict, appidacr: str) -> Response:
    """The authorization_code grant."""
    code = form.get("code")
    if not code:
        raise errors.missing_parameter("code")
    now = svc.clock()
    with svc.lock:
        entry = svc.codes.get(code)
        if entry is not None and entry.client_id != app["client_id"]:
            entry = None
        fresh = entry is not None and not entry.redeemed and entry.expires > now
        if entry is not None and fresh:
            entry.redeemed = True
    if entry is None:
        raise errors.malformed_grant()
    if entry.expires <= now:
        raise errors.code_expired()
    if not fresh:
        raise errors.code_redeemed()
    if form.get("redirect_uri") != entry.redirect_uri:
        raise errors.reply_address_mismatch(form.get("redirect_uri") or "", entry.redirect_uri)
    if entry.code_challenge and not _pkce_matches(entry, form.get("code_verifier") or ""):
        raise errors.code_verifier_mismatch()
    resource_scopes, oidc = split_scopes(form.get("scope"))
    if not resource_scopes and not oidc:
        resource_scopes, oidc = list(entry.resource_scopes), set(entry.oidc)
    code_audiences = {resource_of_scope(s)[0] for s in entry.resource_scopes}
    if any(resource_of_scope(s)[0] not in code_audiences for s in resource_scopes):
        raise errors.scope_not_granted()
    oidc &= set(entry.oidc) | {"openid", "profile"}
    if not app.get("consented", True):
        raise errors.no_consent(app)
    return user_token_response(svc, request, form, app, entry.user, appidacr,
                               resource_scopes or list(entry.resource_scopes), oidc, entry.nonce)
