"""The Cortex XSOAR application token service (POST /obtain-token, JSON), for instances not self-deployed.

The caller proves it holds the registration's key by sending `encrypted_token`: base64(12-byte nonce +
AES-GCM(ciphertext + tag)) of "<epoch>:<tenant id>", within 10 minutes of the service's clock. The answer is an
access token for the registration's app (and a refresh token); errors are application/problem+json.
"""
from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..http import Request, Response
from . import errors
from .scopes import PUBLIC_ARM_SCOPE, resource_of_scope
from .wire import b64url

if TYPE_CHECKING:
    from .service import IdentityService

OPROXY_PATH = "/obtain-token"
NONCE_BYTES, TAG_BYTES = 12, 16


def obtain_token(svc: IdentityService, request: Request, params: dict[str, str]) -> Response:  # noqa: ARG001
    if request.method.upper() != "POST":
        raise errors.oproxy_only_post()
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise errors.oproxy_not_json()
    for name in ("app_name", "registration_id", "encrypted_token"):
        if not body.get(name):
            raise errors.oproxy_missing(name)
    reg = svc.directory.registrations.get(str(body["registration_id"]).lower())
    if reg is None:
        raise errors.oproxy_unknown_registration()
    if str(body["app_name"]) != str(reg["app_name"]):
        raise errors.oproxy_app_mismatch(str(body["app_name"]))
    try:
        blob = base64.b64decode(str(body["encrypted_token"]), validate=True)
        key = base64.b64decode(str(reg["key"]))
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise ValueError("too short")
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], None).decode("utf-8")
    except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
        raise errors.oproxy_cannot_decrypt() from None
    epoch_text, _, tenant = plain.partition(":")
    try:
        epoch = int(epoch_text)
    except ValueError:
        raise errors.oproxy_malformed_token() from None
    if tenant.strip().lower() != str(reg["tenant"]).lower():
        raise errors.oproxy_tenant_mismatch()
    if abs(svc.clock() - epoch) > float(svc.settings["oproxy_max_skew_seconds"]):
        raise errors.oproxy_stale_token()
    scope = body.get("scope") or ""
    if not scope and body.get("resource"):
        scope = str(body["resource"]).rstrip("/") + "/.default"
    audience, _ = resource_of_scope(str(scope or PUBLIC_ARM_SCOPE).split()[0])
    token, lifetime = svc.registration_token(reg, audience)
    refresh = b64url(secrets.token_bytes(32))
    with svc.lock:
        svc.oproxy_refresh[refresh] = str(reg["registration_id"]).lower()
    return Response(200, {"access_token": token, "expires_in": lifetime, "refresh_token": refresh})


def encrypt_xsoar_token(key_b64: str, tenant_id: str, epoch: int | None = None) -> str:
    """What Cortex XSOAR sends as `encrypted_token`: base64(nonce(12) + AES-GCM(ciphertext + tag)) of
    "<epoch>:<tenant>" under the registration key (no associated data). For tests and the local runner."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    text = f"{int(time.time()) if epoch is None else int(epoch)}:{tenant_id}".encode()
    return base64.b64encode(nonce + AESGCM(base64.b64decode(key_b64)).encrypt(nonce, text, None)).decode()
