"""The Entra ID side of the emulator: its state (directory, signing key, codes, refresh tokens) and its route table.

Endpoints, each in its module (handlers take the service, the request and the path's template values):
  discovery.py           /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys,
                         /common/discovery/instance
  token_endpoint.py      POST /{tenant}/oauth2/v2.0/token, by grant: client_credentials.py (secret or assertion:
                         client_auth.py), authorization_code.py (+ PKCE), refresh_token.py
  authorization_code.py  /{tenant}/oauth2/v2.0/authorize
  managed_identity.py    the instance metadata service and App Service identity endpoints
  xsoar.py               the Cortex XSOAR application token service
Beside them: directory.py (the scenario's tenants, apps, users, identities), tokens.py (minting, bearer
verification for ARM), scopes.py, errors.py (every error, in its service's shape), wire.py (formats).
What it reproduces comes from public Entra ID docs, recorded responses and the MSAL Python 1.39 source.
Nothing here logs or echoes a secret, a key or a token.
"""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable

from ..http import PathTemplate, Request, Response
from . import authorization_code, discovery, managed_identity, token_endpoint, xsoar
from .authorization_code import AuthCode
from .directory import Directory, GeneratedCertificates
from .errors import IdentityError
from .refresh_token import RefreshGrant
from .tokens import TokenIssuer

DEFAULTS = {
    "token_lifetime_seconds": 3599,
    "auth_code_lifetime_seconds": 600,
    "refresh_token_inactivity_seconds": 90 * 24 * 3600,
    "managed_identity_token_lifetime_seconds": 86399,
    "oproxy_max_skew_seconds": 600,
}

Handler = Callable[["IdentityService", Request, dict[str, str]], Response]
ROUTES: tuple[tuple[PathTemplate, Handler], ...] = tuple((PathTemplate(t), h) for t, h in (
    (xsoar.OPROXY_PATH, xsoar.obtain_token),
    (managed_identity.IMDS_PATH, managed_identity.imds),
    (managed_identity.APP_SERVICE_PATH, managed_identity.app_service),
    ("/common/discovery/instance", discovery.instance_discovery),
    ("/{tenant}/v2.0/.well-known/openid-configuration", discovery.openid_configuration),
    ("/{tenant}/.well-known/openid-configuration", discovery.openid_configuration),
    ("/{tenant}/discovery/v2.0/keys", discovery.keys),
    ("/{tenant}/discovery/keys", discovery.keys),
    ("/{tenant}/oauth2/v2.0/token", token_endpoint.token),
    ("/{tenant}/oauth2/v2.0/authorize", authorization_code.authorize),
))


class IdentityService:
    """Entra ID for one scenario. Thread-safe; the server calls `handle` from many threads."""

    imds_path = managed_identity.IMDS_PATH
    app_service_path = managed_identity.APP_SERVICE_PATH
    oproxy_path = xsoar.OPROXY_PATH

    def __init__(self, scenario: dict, settings: dict | None = None,
                 base_url_provider: Callable[[], str] | None = None):
        self._base_url_provider = base_url_provider or (lambda: "")
        self.clock: Callable[[], float] = time.time  # tests may replace it to move time forward
        self.lock = threading.Lock()
        # the value App Service puts in IDENTITY_HEADER; clients must echo it in X-IDENTITY-HEADER
        self.identity_header = secrets.token_hex(16)
        self.tokens = TokenIssuer(self.now)
        self._generated: GeneratedCertificates = {}  # generated app certificates, kept across reloads
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        self.oproxy_refresh: dict[str, str] = {}
        self.reload(scenario, settings)

    def reload(self, scenario: dict, settings: dict | None = None) -> None:
        """Load (another) scenario's directory. The signing key, the generated certificates of apps that are still
        there, and every token, code and refresh token already issued stay valid (Emulator.reset uses this)."""
        scenario = scenario or {}
        merged = dict(DEFAULTS)
        merged.update(settings or scenario.get("settings") or {})
        self.scenario, self.settings = scenario, merged
        self.directory = Directory(scenario, self._generated)

    def reset(self, scenario: dict, settings: dict | None = None) -> None:
        """What Emulator.reset needs: `reload` the scenario's directory (signing key, generated certificates and
        every token, code and refresh token already issued are kept) and forget earlier `expire_all_tokens` calls,
        so a reset starts with every issued access token valid again until its own `exp`."""
        self.tokens.forget_expiry()
        self.reload(scenario, settings)

    @property
    def credentials(self) -> dict[str, dict]:
        """App name -> client_id, tenant_id, object_id, secret, redirect_uri, certificate_thumbprint,
        private_key_pem, certificate_pem (what a client of the emulator configures)."""
        return self.directory.credentials

    @property
    def stats(self) -> dict[str, int]:
        return self.tokens.stats

    def now(self) -> float:
        """The service's time: `clock` looked up on each call, so a test's replacement counts everywhere."""
        return self.clock()

    def base(self, request: Request | None = None) -> str:
        """The login listener's URL (what issuers and endpoints name)."""
        base = self._base_url_provider() or (request.base_url if request else "")
        return base.rstrip("/")

    # ------------------------------------------------------------------ routing
    def handle(self, request: Request) -> Response | None:
        """The response for an identity path, or None when the path is not Entra ID's."""
        segments = [p for p in request.path.split("/") if p]
        for template, handler in ROUTES:
            params = template.match(segments)
            if params is not None:
                try:
                    return handler(self, request, params)
                except IdentityError as err:
                    return err.response(request, self.clock, self.base(request))
        return None

    # ------------------------------------------------------------------ access tokens, with their lifetimes
    def app_token(self, app: dict, audience: str, appidacr: str = "1", *, lifetime: int | None = None,
                  issued_at: float | None = None) -> tuple[str, int]:
        lifetime = int(self.settings["token_lifetime_seconds"] if lifetime is None else lifetime)
        return self.tokens.access_token(tenant=app["tenant"], audience=audience, oid=app["object_id"],
                                        appid=app["client_id"], idtyp="app", appidacr=appidacr, lifetime=lifetime,
                                        issued_at=issued_at), lifetime

    def user_token(self, app: dict | None, user: dict, audience: str, *, scp: str, appidacr: str = "1",
                   lifetime: int | None = None, issued_at: float | None = None) -> tuple[str, int]:
        lifetime = int(self.settings["token_lifetime_seconds"] if lifetime is None else lifetime)
        return self.tokens.access_token(
            tenant=user["tenant"], audience=audience, oid=str(user["object_id"]),
            appid=app["client_id"] if app else str(uuid.uuid4()), idtyp="user", appidacr=appidacr, upn=user["upn"],
            name=user.get("display_name"), scp=scp, lifetime=lifetime, issued_at=issued_at), lifetime

    def mi_token(self, identity: dict, audience: str, *, lifetime: int | None = None,
                 issued_at: float | None = None) -> tuple[str, int]:
        if lifetime is None:
            lifetime = int(self.settings["managed_identity_token_lifetime_seconds"])
        extra = {"xms_mirid": identity["resource_id"]} if identity.get("resource_id") else None
        return self.tokens.access_token(tenant=identity["tenant"], audience=audience, oid=str(identity["object_id"]),
                                        appid=str(identity["client_id"]), idtyp="app", appidacr="2",
                                        lifetime=lifetime, extra=extra, issued_at=issued_at), lifetime

    def registration_token(self, reg: dict, audience: str, *, lifetime: int | None = None,
                           issued_at: float | None = None) -> tuple[str, int]:
        lifetime = int(self.settings["token_lifetime_seconds"] if lifetime is None else lifetime)
        return self.tokens.access_token(
            tenant=str(reg["tenant"]).lower(), audience=audience, oid=str(reg["object_id"]),
            appid=str(reg.get("client_id") or reg["registration_id"]), idtyp="app", lifetime=lifetime,
            issued_at=issued_at), lifetime

    def mint_access_token(self, principal: str, audience: str, *, lifetime: int | None = None,
                          issued_at: float | None = None, scp: str | None = None) -> str:
        """A signed access token for a scenario principal (app / user / managed identity name, client id, upn
        or object id; or an XSOAR registration id / object id), for tests. `issued_at` in the past with a short
        `lifetime` gives an already-expired token."""
        kind, entry = self.directory.principal(principal)
        if kind == "app":
            return self.app_token(entry, audience, lifetime=lifetime, issued_at=issued_at)[0]
        if kind == "user":
            app = next((a for a in self.directory.apps.values() if a["tenant"] == entry["tenant"]), None)
            return self.user_token(app, entry, audience, scp=scp or "user_impersonation", lifetime=lifetime,
                                   issued_at=issued_at)[0]
        if kind == "managed_identity":
            return self.mi_token(entry, audience, lifetime=lifetime, issued_at=issued_at)[0]
        return self.registration_token(entry, audience, lifetime=lifetime, issued_at=issued_at)[0]

    # ------------------------------------------------------------------ test controls
    def expire_all_tokens(self) -> None:
        """Every access token issued until now is expired from now on (ARM answers ExpiredAuthenticationToken)."""
        self.tokens.expire_all()

    def expire_refresh_tokens(self) -> None:
        """Make every refresh token look unused for longer than the inactivity limit (-> AADSTS700082)."""
        limit = float(self.settings["refresh_token_inactivity_seconds"])
        with self.lock:
            for entry in self.refresh_tokens.values():
                entry.last_used = min(entry.last_used, self.clock() - limit - 1)

    def expire_auth_codes(self) -> None:
        """Make every outstanding authorization code expired (-> AADSTS70008 at redemption)."""
        with self.lock:
            for entry in self.codes.values():
                entry.expires = min(entry.expires, self.clock() - 1)

    def verify_bearer(self, authorization_header: str | None, audiences: set[str]) -> dict:
        """The claims of a valid bearer token for one of `audiences` (a trailing "/" is ignored), or TokenRejected
        with ARM's code and message."""
        return self.tokens.verify_bearer(authorization_header, audiences)
