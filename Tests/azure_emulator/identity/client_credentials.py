"""The client_credentials grant: an app's own token, for one resource's `/.default` scope."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..http import Request, Response
from . import errors
from .scopes import single_resource, split_scopes
from .wire import no_store_headers

if TYPE_CHECKING:
    from .service import IdentityService


def grant(svc: IdentityService, request: Request, form: dict, app: dict, appidacr: str) -> Response:  # noqa: ARG001
    raw = form.get("scope")
    if not raw:
        raise errors.missing_parameter("scope")
    resource_scopes, _ = split_scopes(raw)
    audience, permissions = single_resource(resource_scopes, raw)
    if not resource_scopes or permissions != [".default"]:
        raise errors.not_a_default_scope(raw)
    token, lifetime = svc.app_token(app, audience, appidacr)
    body = {"token_type": "Bearer", "scope": resource_scopes[0], "expires_in": lifetime, "ext_expires_in": lifetime,
            "access_token": token}
    return Response(200, body, no_store_headers(str(uuid.uuid4())))
