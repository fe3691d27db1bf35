"""POST /{tenant}/oauth2/v2.0/token (form-encoded): the tenant, the client and its credential, then the grant.

Grants: client_credentials (client_credentials.py), authorization_code (authorization_code.py), refresh_token
(refresh_token.py). The tenant aliases common / organizations serve the delegated grants only.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..http import Request, Response
from . import authorization_code, client_auth, client_credentials, errors, refresh_token

if TYPE_CHECKING:
    from .service import IdentityService

Grant = Callable[["IdentityService", Request, dict, dict, str], Response]
GRANTS: dict[str, Grant] = {
    "client_credentials": client_credentials.grant,
    "authorization_code": authorization_code.redeem,
    "refresh_token": refresh_token.redeem,
}


def token(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:
    if request.method.upper() != "POST":
        raise errors.only_post(request.method.upper())
    segment = params["tenant"]
    form = request.form()
    basic_id, basic_secret = client_auth.basic_auth(request)
    if basic_id and not form.get("client_id"):
        form["client_id"] = basic_id
    tid = svc.directory.tenant_of(segment)
    grant = form.get("grant_type")
    if not grant:
        raise errors.missing_parameter("grant_type")
    if grant not in GRANTS:
        raise errors.unsupported_grant_type(grant)
    client_id = (form.get("client_id") or "").strip().lower()
    if not client_id:
        raise errors.missing_parameter("client_id")
    if tid is None and grant == "client_credentials":  # common / organizations
        raise errors.no_tenant_information()
    app = svc.directory.app_for(tid, client_id, segment)
    appidacr = client_auth.authenticate(svc, request, form, app, segment, basic_secret,
                                        public_ok=grant != "client_credentials")
    return GRANTS[grant](svc, request, form, app, appidacr)
