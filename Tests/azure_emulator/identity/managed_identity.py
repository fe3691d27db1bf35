"""Managed identity, in the two forms MSAL's ManagedIdentityClient calls:

* the instance metadata service: GET /metadata/identity/oauth2/token, api-version 2018-02-01, header
  `Metadata: true`, selectors client_id / object_id / msi_res_id; numbers as strings;
* App Service: GET {IDENTITY_ENDPOINT}, api-version 2019-08-01, header X-IDENTITY-HEADER (the value the platform
  puts in IDENTITY_HEADER), selectors client_id / object_id / mi_res_id / principal_id; expires_on as epoch
  seconds in a string.
Without a selector, the system-assigned identity answers.
"""
from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..http import Request, Response
from . import errors
from .errors import IdentityError

if TYPE_CHECKING:
    from .service import IdentityService

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"


def _token(svc: IdentityService, request: Request, selectors: dict[str, str | None],
           missing: Callable[[str], IdentityError], not_found: Callable[[], IdentityError]) -> tuple[dict, str, str, int]:
    """(identity, resource, token, lifetime) for the query's api-version, resource and identity selectors; the
    endpoint's own errors (`missing(parameter)`, `not_found()`) otherwise."""
    if not request.arg("api-version"):
        raise missing("api-version")
    resource = request.arg("resource")
    if not resource:
        raise missing("resource")
    identity = svc.directory.find_identity(selectors)
    if identity is None:
        raise not_found()
    token, lifetime = svc.mi_token(identity, resource if resource.endswith("/") else resource + "/")
    return identity, resource, token, lifetime


def imds(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:  # noqa: ARG001
    if request.method.upper() != "GET":
        raise errors.imds_only_get()
    if (request.headers.get("Metadata") or "").lower() != "true":
        raise errors.imds_no_metadata_header()
    identity, resource, token, lifetime = _token(
        svc, request, {"client_id": request.arg("client_id"), "object_id": request.arg("object_id"),
                       "resource_id": request.arg("msi_res_id") or request.arg("mi_res_id")},
        errors.imds_missing, errors.imds_identity_not_found)
    now = int(svc.clock())
    return Response(200, {
        "access_token": token, "client_id": str(identity["client_id"]), "expires_in": str(lifetime),
        "expires_on": str(now + lifetime), "ext_expires_in": str(lifetime), "not_before": str(now),
        "resource": resource, "token_type": "Bearer",
    })


def app_service(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:  # noqa: ARG001
    supplied = request.headers.get("X-IDENTITY-HEADER")
    if not supplied:
        raise errors.app_service_no_header()
    if not hmac.compare_digest(supplied.encode(), svc.identity_header.encode()):
        raise errors.app_service_wrong_header()
    identity, resource, token, lifetime = _token(
        svc, request, {"client_id": request.arg("client_id"),
                       "object_id": request.arg("object_id") or request.arg("principal_id"),
                       "resource_id": request.arg("mi_res_id")},
        errors.app_service_missing, errors.app_service_identity_not_found)
    return Response(200, {
        "access_token": token, "expires_on": str(int(svc.clock()) + lifetime), "resource": resource,
        "token_type": "Bearer", "client_id": str(identity["client_id"]),
    })
