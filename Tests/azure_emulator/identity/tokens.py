"""Token minting and bearer verification.

Access tokens are RS256 JWTs shaped like the v1 tokens ARM receives: aud (the resource with a trailing "/"),
iss (https://sts.windows.net/{tid}/), tid, oid, sub, appid, appidacr, idtyp ("app"/"user"), upn and scp for
users, iat, nbf, exp, uti, ver "1.0". ID tokens are v2.0. One signing key per emulator, published in the JWKS.
`expire_all` makes every token issued so far expired from then on (ARM then answers ExpiredAuthenticationToken).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Callable
from typing import Any

import jwt
from jwt.types import Options
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import errors
from .wire import b64url, b64url_int

# the signature only: the callers check the claims themselves, to answer with Entra's / ARM's own errors
NO_CLAIM_CHECKS: Options = {"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                            "verify_iss": False}


def self_signed(common_name: str, key_size: int = 2048) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert


class TokenIssuer:
    """The emulated Entra ID's signing key and the access tokens issued with it. Thread-safe."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._lock = threading.Lock()
        self._signing_key, self._signing_cert = self_signed("emulated-entra-token-signing")
        self.kid = b64url(self._signing_cert.fingerprint(hashes.SHA1()))
        self._public_key = self._signing_key.public_key()
        self._issued: dict[str, int] = {}  # uti -> issue sequence number, for expire_all
        self._sequence = 0
        self._expired_through = 0  # tokens with a sequence number up to this one are expired ...
        self._expired_at: float | None = None  # ... since this time
        self.stats = {"tokens_issued": 0}

    def jwk(self, issuer: str) -> dict:
        """The signing key as the JWKS publishes it."""
        numbers = self._public_key.public_numbers()
        der = self._signing_cert.public_bytes(serialization.Encoding.DER)
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": b64url_int(numbers.n),
                "e": b64url_int(numbers.e), "x5c": [base64.b64encode(der).decode("ascii")], "issuer": issuer}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._signing_key, algorithm="RS256",
                          headers={"typ": "JWT", "x5t": self.kid, "kid": self.kid})

    def access_token(self, *, tenant: str, audience: str, oid: str, appid: str, idtyp: str, lifetime: int,
                     appidacr: str = "1", upn: str | None = None, name: str | None = None, scp: str | None = None,
                     extra: dict | None = None, issued_at: float | None = None) -> str:
        now = self._clock() if issued_at is None else issued_at
        uti = b64url(secrets.token_bytes(16))
        claims: dict[str, Any] = {
            "aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "iat": int(now), "nbf": int(now),
            "exp": int(now) + lifetime, "appid": appid, "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant}/", "idtyp": idtyp, "oid": oid, "sub": oid, "tid": tenant,
            "uti": uti, "ver": "1.0",
        }
        if upn:
            claims.update({"upn": upn, "unique_name": upn, "name": name or upn.split("@")[0], "amr": ["pwd"]})
        if scp:
            claims["scp"] = scp
        claims.update(extra or {})
        token = self.sign(claims)
        with self._lock:
            self._sequence += 1
            self._issued[uti] = self._sequence
            self.stats["tokens_issued"] += 1
        return token

    def id_token(self, *, issuer: str, app: dict, user: dict, lifetime: int, nonce: str | None) -> str:
        now = int(self._clock())
        claims = {
            "aud": app["client_id"], "iss": issuer, "iat": now, "nbf": now, "exp": now + lifetime,
            "name": user.get("display_name") or user["upn"].split("@")[0], "oid": str(user["object_id"]),
            "preferred_username": user["upn"],
            "sub": b64url(hashlib.sha256(f"{user['object_id']}:{app['client_id']}".encode()).digest()[:24]),
            "tid": user["tenant"], "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return self.sign(claims)

    # ------------------------------------------------------------------ expiry
    def expire_all(self) -> None:
        with self._lock:
            self._expired_through = self._sequence
            self._expired_at = self._clock()

    def forget_expiry(self) -> None:
        """Undo expire_all: every token is valid again until its own exp."""
        with self._lock:
            self._expired_through = 0
            self._expired_at = None

    # ------------------------------------------------------------------ verification (ARM's side)
    def verify_bearer(self, authorization_header: str | None, audiences: set[str]) -> dict:
        """The claims of a valid bearer token for one of `audiences` (a trailing "/" is ignored), or TokenRejected
        with ARM's code and message."""
        if not authorization_header or not authorization_header.strip():
            raise errors.no_authorization_header()
        scheme, _, token = authorization_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise errors.malformed_authorization_header()
        try:
            claims = jwt.decode(token, self._public_key, algorithms=["RS256"], options=NO_CLAIM_CHECKS)
        except jwt.PyJWTError:
            raise errors.invalid_token() from None
        if not isinstance(claims.get("exp"), int) or not claims.get("aud"):
            raise errors.invalid_token()
        now = self._clock()
        expiry = float(claims["exp"])
        with self._lock:
            issued = self._issued.get(str(claims.get("uti")))
            if issued is not None and issued <= self._expired_through and self._expired_at is not None:
                expiry = min(expiry, self._expired_at)
        if expiry <= now:
            raise errors.expired_token(expiry, now)
        if str(claims["aud"]).rstrip("/") not in {a.rstrip("/") for a in audiences}:
            raise errors.wrong_audience(claims["aud"], audiences)
        return claims
