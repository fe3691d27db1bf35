"""How a confidential client proves itself at the token endpoint: a secret (in the body, or HTTP Basic) or a client
assertion (a JWT signed with the app's registered certificate, identified by its SHA-1 `x5t` or SHA-256 `x5t#S256`
thumbprint, audience = the token endpoint, iss = sub = client id, valid now give or take 5 minutes)."""
from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING
from urllib.parse import unquote

import jwt

from ..http import Request
from . import errors
from .errors import JWT_BEARER
from .tokens import NO_CLAIM_CHECKS
from .wire import aad_timestamp

if TYPE_CHECKING:
    from .service import IdentityService

ASSERTION_SKEW_SECONDS = 300


def basic_auth(request: Request) -> tuple[str | None, str | None]:
    """(client id, secret) of an `Authorization: Basic` header (form-encoded, as RFC 6749 2.3.1 says)."""
    header = request.headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None, None
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, _, password = decoded.partition(":")
    return unquote(user.replace("+", " ")), unquote(password.replace("+", " "))


def authenticate(svc: IdentityService, request: Request, form: dict, app: dict, segment: str,
                 basic_secret: str | None, *, public_ok: bool) -> str:
    """The token's appidacr: '1' (secret) or '2' (certificate), or '0' for a public client where the grant allows
    one; raises the Entra error otherwise."""
    secret = form.get("client_secret") or basic_secret
    assertion = form.get("client_assertion")
    if secret:
        now = svc.clock()
        for entry in app["secrets"]:
            if hmac.compare_digest(entry["value"].encode(), secret.encode()):
                if entry["expires"] is not None and entry["expires"] <= now:
                    raise errors.secret_expired(app["client_id"])
                return "1"
        raise errors.invalid_secret(app["client_id"])
    if assertion:
        _verify_assertion(svc, request, form, app, segment, assertion)
        return "2"
    if public_ok and app.get("public_client"):
        return "0"
    raise errors.no_client_credential()


def _thumbprint_hex(encoded: str) -> str:
    padded = str(encoded) + "=" * (-len(str(encoded)) % 4)
    try:
        return base64.urlsafe_b64decode(padded).hex().upper()
    except (binascii.Error, ValueError):
        return str(encoded).upper()


def _verify_assertion(svc: IdentityService, request: Request, form: dict, app: dict, segment: str,
                      assertion: str) -> None:
    if form.get("client_assertion_type") != JWT_BEARER:
        raise errors.wrong_assertion_type()
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise errors.malformed_assertion() from None
    cert = None
    used = None
    if header.get("x5t#S256"):
        used = _thumbprint_hex(header["x5t#S256"])
        cert = next((c for c in app["certs"] if c["sha256"] == used), None)
    elif header.get("x5t"):
        used = _thumbprint_hex(header["x5t"])
        cert = next((c for c in app["certs"] if c["sha1"] == used), None)
    if cert is None:
        raise errors.assertion_key_not_found(used, app["client_id"])
    if header.get("alg") not in ("RS256", "PS256"):
        raise errors.assertion_algorithm(header.get("alg"))
    try:
        claims = jwt.decode(assertion, cert["public_key"], algorithms=["RS256", "PS256"], options=NO_CLAIM_CHECKS)
    except jwt.PyJWTError:
        raise errors.assertion_bad_signature(used) from None
    client_id = app["client_id"]
    if str(claims.get("iss", "")).lower() != client_id or str(claims.get("sub", "")).lower() != client_id:
        raise errors.assertion_subject_mismatch()
    base = svc.base(request)
    accepted = {f"{base}/{segment}/oauth2/v2.0/token".lower(), f"{base}/{app['tenant']}/oauth2/v2.0/token",
                f"{base}/{app['tenant']}/v2.0", f"{base}/{segment}/v2.0".lower()}
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if not any(str(a).lower().rstrip("/") in accepted for a in audiences):
        raise errors.assertion_audience_mismatch()
    now = svc.clock()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    too_early = isinstance(nbf, (int, float)) and nbf - ASSERTION_SKEW_SECONDS > now
    if not isinstance(exp, (int, float)) or exp + ASSERTION_SKEW_SECONDS < now or too_early:
        valid_from = aad_timestamp(nbf) if isinstance(nbf, (int, float)) else "unknown"
        valid_to = aad_timestamp(exp) if isinstance(exp, (int, float)) else "unknown"
        raise errors.assertion_out_of_time(aad_timestamp(now), valid_from, valid_to)
