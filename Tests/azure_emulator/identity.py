"""The Entra ID side of the emulator: discovery, the v2.0 token and authorize endpoints, managed identity
endpoints, the Cortex XSOAR application token service, and bearer-token verification for the ARM side.

What it reproduces (from public Entra ID docs, recorded responses and the MSAL Python 1.39 source):

* OIDC discovery at `/{tenant}/v2.0/.well-known/openid-configuration` with the field set Entra serves; MSAL
  needs `authorization_endpoint` and `token_endpoint` and takes the tenant from the first path segment of the
  latter. The JWKS is at `/{tenant}/discovery/v2.0/keys`. `/common/discovery/instance` answers instance
  discovery in case a client does not switch it off.
* The token endpoint (form-encoded POST): client_credentials with a secret (in the body, or HTTP Basic) or a
  client assertion (a JWT signed with the app's registered certificate, identified by its SHA-1 `x5t` or
  SHA-256 `x5t#S256` thumbprint, audience = the token endpoint, iss = sub = client id); authorization_code
  (one-time codes bound to the client, the redirect URI, the scopes and the PKCE challenge); refresh_token
  (a new refresh token on each use; an unused one expires after a period of inactivity).
* Errors with Entra's HTTP status and JSON shape: `error`, `error_description` beginning with
  "AADSTSnnnn: " and ending with Trace ID / Correlation ID / Timestamp lines (CRLF separated), `error_codes`,
  `timestamp` ("YYYY-MM-DD hh:mm:ssZ"), `trace_id`, `correlation_id`, `error_uri`. `invalid_client` is 401,
  everything else 400.
* Access tokens are RS256 JWTs shaped like the v1 tokens ARM receives: aud (the resource with a trailing "/"),
  iss (https://sts.windows.net/{tid}/), tid, oid, sub, appid, appidacr, idtyp ("app"/"user"), upn and scp for
  users, iat, nbf, exp, uti, ver "1.0".
* Managed identity: the instance metadata service form (GET /metadata/identity/oauth2/token, api-version
  2018-02-01, header `Metadata: true`, selectors client_id / object_id / msi_res_id; numbers as strings) and the
  App Service form (GET {IDENTITY_ENDPOINT}, api-version 2019-08-01, header X-IDENTITY-HEADER, selectors
  client_id / object_id / mi_res_id / principal_id; expires_on as epoch seconds in a string), as MSAL's
  ManagedIdentityClient calls them.
* The Cortex XSOAR application token service (POST /obtain-token, JSON): the caller proves it holds the
  registration's key by sending base64(12-byte nonce + AES-GCM(ciphertext+tag) of "<epoch>:<tenant id>");
  errors are JSON {"title", "detail"}.

Nothing here logs or echoes a secret, a key or a token.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from .http import Request, Response

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"
OPROXY_PATH = "/obtain-token"

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_RESOURCE = "https://graph.microsoft.com/"
PUBLIC_ARM_SCOPE = "https://management.azure.com/.default"
CERT_DOCS = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"
TENANT_ALIASES = ("common", "organizations", "consumers")

DEFAULTS = {
    "token_lifetime_seconds": 3599,
    "auth_code_lifetime_seconds": 600,
    "refresh_token_inactivity_seconds": 90 * 24 * 3600,
    "managed_identity_token_lifetime_seconds": 86399,
    "oproxy_max_skew_seconds": 600,
}


class TokenRejected(Exception):
    """A bearer token ARM must refuse. `code` is ARM's error code; ARM answers 401 with it and `message`."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _AadError(Exception):
    """An Entra ID error to turn into its JSON body (raised inside the token endpoint)."""

    def __init__(self, status: int, error: str, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _aad_timestamp(ts: float) -> str:
    """Entra's timestamp format: "2023-05-06 06:03:00Z"."""
    return _utc(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def dotnet_utc(ts: float) -> str:
    """ARM's (.NET invariant culture) rendering of a UTC time: "1/18/2023 5:10:42 PM"."""
    moment = _utc(ts)
    hour12 = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return f"{moment.month}/{moment.day}/{moment.year} {hour12}:{moment.minute:02d}:{moment.second:02d} {suffix}"


def _parse_expiry(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    text = str(value).strip().replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _make_self_signed(common_name: str, key_size: int = 2048) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
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


def resource_of_scope(scope: str) -> tuple[str, str]:
    """(audience with a trailing "/", permission) for one resource scope.

    "https://management.azure.com/.default" -> ("https://management.azure.com/", ".default");
    "https://management.core.windows.net//.default" -> ("https://management.core.windows.net/", ".default");
    a bare permission such as "User.Read" belongs to Microsoft Graph.
    """
    if "/" not in scope:
        return GRAPH_RESOURCE, scope
    resource, _, permission = scope.rpartition("/")
    if not resource.endswith("/"):
        resource += "/"
    return resource, permission


class IdentityService:
    """Entra ID for one scenario. Thread-safe; the server calls `handle` from many threads."""

    imds_path = IMDS_PATH
    app_service_path = APP_SERVICE_PATH
    oproxy_path = OPROXY_PATH

    def __init__(self, scenario: dict, settings: dict | None = None,
                 base_url_provider: Callable[[], str] | None = None):
        self._base_url_provider = base_url_provider or (lambda: "")
        self.clock: Callable[[], float] = time.time  # tests may replace it to move time forward
        self._lock = threading.Lock()
        # the value App Service puts in IDENTITY_HEADER; clients must echo it in X-IDENTITY-HEADER
        self.identity_header = secrets.token_hex(16)

        self._signing_key, self._signing_cert = _make_self_signed("emulated-entra-token-signing")
        self._kid = _b64url(self._signing_cert.fingerprint(hashes.SHA1()))
        self._public_key = self._signing_key.public_key()
        self._generated: dict[tuple[str, str, int], tuple] = {}  # generated app certificates, kept across reloads

        self._codes: dict[str, dict] = {}
        self._refresh_tokens: dict[str, dict] = {}
        self._oproxy_refresh: dict[str, str] = {}
        self._issued: dict[str, int] = {}  # uti -> issue sequence number, for expire_all_tokens
        self._sequence = 0
        self._expired_through = 0  # tokens with a sequence number up to this one are expired ...
        self._expired_at: float | None = None  # ... since this time
        self.stats = {"tokens_issued": 0}
        self.reload(scenario, settings)

    def reload(self, scenario: dict, settings: dict | None = None) -> None:
        """Load (another) scenario's directory. The signing key, the generated certificates of apps that are still
        there, and every token, code and refresh token already issued stay valid (Emulator.reset uses this)."""
        scenario = scenario or {}
        merged = dict(DEFAULTS)
        merged.update(settings or scenario.get("settings") or {})
        tenants: dict[str, dict] = {}
        names: dict[str, str] = {}
        for tenant in scenario.get("tenants") or []:
            tid = str(tenant["id"]).lower()
            tenants[tid] = tenant
            if tenant.get("name"):
                names[str(tenant["name"]).lower()] = tid
        self.scenario, self.settings, self.tenants, self._tenant_names = scenario, merged, tenants, names
        self.apps: dict[tuple[str, str], dict] = {}  # (tenant id, client id) -> normalised app
        self.credentials: dict[str, dict] = {}
        for app in scenario.get("apps") or []:
            self._load_app(app)
        self.users = [dict(u, tenant=str(u["tenant"]).lower()) for u in scenario.get("users") or []]
        self.managed_identities = []
        for identity in scenario.get("managed_identities") or []:
            entry = dict(identity, tenant=str(identity["tenant"]).lower())
            entry.setdefault("resource_id", self._default_mi_resource_id(entry))
            self.managed_identities.append(entry)
        self.registrations = {str(r["registration_id"]).lower(): r for r in scenario.get("xsoar_registrations") or []}

    # ------------------------------------------------------------------ scenario
    def _load_app(self, app: dict) -> None:
        tid = str(app["tenant"]).lower()
        entry = dict(app)
        entry["tenant"] = tid
        entry["client_id"] = str(app["client_id"]).lower()
        entry.setdefault("object_id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"app:{entry['client_id']}")))
        entry["secrets"] = [
            {"value": str(s["value"]), "secret_id": str(s.get("secret_id") or ""),
             "expires": _parse_expiry(s.get("expires"))}
            for s in app.get("secrets") or []
        ]
        certs = []
        generated = None
        for index, spec in enumerate(app.get("certificates") or []):
            if spec.get("generate"):
                cache_key = (tid, entry["client_id"], index)
                if cache_key not in self._generated:
                    label = f"{entry.get('name', entry['client_id'])}-client-cert"
                    self._generated[cache_key] = _make_self_signed(label)
                key, cert = self._generated[cache_key]
                generated = generated or (key, cert)
            elif spec.get("certificate_pem"):
                key, cert = None, x509.load_pem_x509_certificate(str(spec["certificate_pem"]).encode())
            else:
                continue
            certs.append({
                "cert": cert,
                "public_key": cert.public_key(),
                "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
                "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
            })
        entry["certs"] = certs
        self.apps[(tid, entry["client_id"])] = entry
        creds: dict[str, Any] = {
            "client_id": entry["client_id"],
            "tenant_id": tid,
            "object_id": entry["object_id"],
            "secret": entry["secrets"][0]["value"] if entry["secrets"] else None,
            "redirect_uri": (app.get("redirect_uris") or [None])[0],
            "certificate_thumbprint": None,
            "private_key_pem": None,
            "certificate_pem": None,
        }
        if generated:
            key, cert = generated
            creds["certificate_thumbprint"] = cert.fingerprint(hashes.SHA1()).hex().upper()
            creds["private_key_pem"] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            creds["certificate_pem"] = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.credentials[str(app.get("name") or entry["client_id"])] = creds

    def _default_mi_resource_id(self, identity: dict) -> str | None:
        if identity.get("kind") != "user":
            return None
        for sub in self.scenario.get("subscriptions") or []:
            if str(sub.get("tenant", "")).lower() == identity["tenant"]:
                groups = sub.get("resource_groups") or [{"name": "identities"}]
                return (f"/subscriptions/{sub['id']}/resourcegroups/{groups[0]['name']}/providers/"
                        f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity['name']}")
        return None

    def _resolve_tenant(self, segment: str) -> str | None:
        key = segment.lower()
        if key in self.tenants:
            return key
        return self._tenant_names.get(key)

    def _tenant_of(self, segment: str) -> str | None:
        """The tenant id a path segment names; None for common / organizations / consumers; invalid_tenant else."""
        if segment.lower() in TENANT_ALIASES:
            return None
        tid = self._resolve_tenant(segment)
        if tid is None:
            raise self._tenant_not_found(segment)
        return tid

    def _app_for(self, tid: str | None, client_id: str, segment: str) -> dict:
        """The app `client_id` in tenant `tid` (any tenant that has it when None), or AADSTS700016."""
        if tid is None:
            tid = next((t for (t, c) in self.apps if c == client_id), None)
        app = self.apps.get((tid, client_id)) if tid else None
        if app is None:
            raise _AadError(400, "unauthorized_client", 700016, (
                f"Application with identifier '{client_id}' was not found in the directory '{segment}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant."))
        return app

    def _base(self, request: Request | None = None) -> str:
        base = self._base_url_provider() or (request.base_url if request else "")
        return base.rstrip("/")

    # ------------------------------------------------------------------ routing
    def handle(self, request: Request) -> Response | None:
        """The response for an identity path, or None when the path is not Entra ID's."""
        try:
            return self._route(request)
        except _AadError as err:
            return self._error_response(request, err.status, err.error, err.code, err.message)

    def _route(self, request: Request) -> Response | None:
        path = request.path
        lowered = path.lower()
        if lowered == OPROXY_PATH:
            return self._oproxy(request)
        if lowered == IMDS_PATH:
            return self._imds(request)
        if lowered.rstrip("/") == APP_SERVICE_PATH:
            return self._app_service(request)
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2:
            return None
        tenant_segment, rest = parts[0], "/".join(parts[1:]).lower()
        if tenant_segment.lower() == "common" and rest == "discovery/instance":
            return self._instance_discovery(request)
        if rest in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            return self._discovery(request, tenant_segment, v2=rest.startswith("v2.0"))
        if rest in ("discovery/v2.0/keys", "discovery/keys"):
            return self._jwks(request, tenant_segment)
        if rest == "oauth2/v2.0/token":
            return self._token_endpoint(request, tenant_segment)
        if rest == "oauth2/v2.0/authorize":
            return self._authorize(request, tenant_segment)
        return None

    # ------------------------------------------------------------------ errors
    def _error_response(self, request: Request, status: int, error: str, code: int, message: str,
                        extra: dict | None = None) -> Response:
        now = self.clock()
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        stamp = _aad_timestamp(now)
        description = (f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                       f"\r\nTimestamp: {stamp}")
        body = {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self._base(request)}/error?code={code}",
        }
        body.update(extra or {})
        return Response(status, body, self._no_store_headers(trace_id, correlation_id))

    @staticmethod
    def _no_store_headers(trace_id: str, correlation_id: str | None = None) -> dict[str, str]:
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id}
        if correlation_id:
            headers["client-request-id"] = correlation_id
        return headers

    def _tenant_not_found(self, segment: str) -> _AadError:
        return _AadError(400, "invalid_tenant", 90002, (
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into "
            "the correct cloud. Check with your subscription administrator, this may happen if there are no "
            "active subscriptions for the tenant."))

    def _html_error(self, request: Request, code: int, message: str, status: int = 400) -> Response:
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        stamp = _aad_timestamp(self.clock())
        page = (
            "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
            "<div id=\"login\"><h1>Sign in</h1><h2>Sorry, but we're having trouble signing you in.</h2>"
            f"<p id=\"error\">AADSTS{code}: {html.escape(message)}</p>"
            f"<table><tr><td>Request Id:</td><td>{trace_id}</td></tr>"
            f"<tr><td>Correlation Id:</td><td>{correlation_id}</td></tr>"
            f"<tr><td>Timestamp:</td><td>{stamp}</td></tr></table></div></body></html>"
        )
        return Response(status, page, {"Content-Type": "text/html; charset=utf-8", "x-ms-request-id": trace_id})

    # ------------------------------------------------------------------ discovery
    def _discovery(self, request: Request, segment: str, v2: bool = True) -> Response:
        tid = self._tenant_of(segment)
        issuer_tenant = tid or "{tenantid}"
        tid = tid or segment.lower()
        base = self._base(request)
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

    def _jwks(self, request: Request, segment: str) -> Response:
        self._tenant_of(segment)
        numbers = self._public_key.public_numbers()
        der = self._signing_cert.public_bytes(serialization.Encoding.DER)
        key = {
            "kty": "RSA", "use": "sig", "kid": self._kid, "x5t": self._kid,
            "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e),
            "x5c": [base64.b64encode(der).decode("ascii")],
            "issuer": f"{self._base(request)}/{{tenantid}}/v2.0",
        }
        return Response(200, {"keys": [key]})

    def _instance_discovery(self, request: Request) -> Response:
        host = urlsplit(self._base(request)).netloc
        endpoint = request.arg("authorization_endpoint") or ""
        tenant = "common"
        if endpoint:
            segments = [p for p in urlsplit(endpoint).path.split("/") if p]
            if segments:
                tenant = segments[0]
        return Response(200, {
            "tenant_discovery_endpoint": f"{self._base(request)}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": request.arg("api-version") or "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })

    # ------------------------------------------------------------------ access tokens
    def _sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._signing_key, algorithm="RS256",
                          headers={"typ": "JWT", "x5t": self._kid, "kid": self._kid})

    def _issue_access_token(self, *, tenant: str, audience: str, oid: str, appid: str, idtyp: str,
                            appidacr: str = "1", upn: str | None = None, name: str | None = None,
                            scp: str | None = None, lifetime: int | None = None, extra: dict | None = None,
                            issued_at: float | None = None) -> tuple[str, int]:
        now = self.clock() if issued_at is None else issued_at
        lifetime = int(self.settings["token_lifetime_seconds"] if lifetime is None else lifetime)
        uti = _b64url(secrets.token_bytes(16))
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + lifetime,
            "appid": appid,
            "appidacr": appidacr,
            "idp": f"https://sts.windows.net/{tenant}/",
            "idtyp": idtyp,
            "oid": oid,
            "sub": oid,
            "tid": tenant,
            "uti": uti,
            "ver": "1.0",
        }
        if upn:
            claims.update({"upn": upn, "unique_name": upn, "name": name or upn.split("@")[0], "amr": ["pwd"]})
        if scp:
            claims["scp"] = scp
        claims.update(extra or {})
        token = self._sign(claims)
        with self._lock:
            self._sequence += 1
            self._issued[uti] = self._sequence
            self.stats["tokens_issued"] += 1
        return token, lifetime

    def mint_access_token(self, principal: str, audience: str, *, lifetime: int | None = None,
                          issued_at: float | None = None, scp: str | None = None) -> str:
        """A signed access token for a scenario principal (app / user / managed identity name, client id, upn
        or object id; or an XSOAR registration id / object id), for tests. `issued_at` in the past with a short
        `lifetime` gives an already-expired token."""
        key = str(principal).lower()
        for app in self.apps.values():
            if key in (str(app.get("name", "")).lower(), app["client_id"], str(app["object_id"]).lower()):
                return self._issue_access_token(tenant=app["tenant"], audience=audience, oid=app["object_id"],
                                                appid=app["client_id"], idtyp="app", lifetime=lifetime,
                                                issued_at=issued_at)[0]
        for user in self.users:
            if key in (str(user["upn"]).lower(), str(user["object_id"]).lower()):
                app = next((a for a in self.apps.values() if a["tenant"] == user["tenant"]), None)
                return self._issue_access_token(
                    tenant=user["tenant"], audience=audience, oid=user["object_id"],
                    appid=app["client_id"] if app else str(uuid.uuid4()), idtyp="user", upn=user["upn"],
                    name=user.get("display_name"), scp=scp or "user_impersonation", lifetime=lifetime,
                    issued_at=issued_at)[0]
        for identity in self.managed_identities:
            if key in (str(identity["name"]).lower(), str(identity["client_id"]).lower(),
                       str(identity["object_id"]).lower()):
                return self._mi_token(identity, audience, lifetime=lifetime, issued_at=issued_at)[0]
        for reg in self.registrations.values():
            if key in (str(reg["registration_id"]).lower(), str(reg["object_id"]).lower()):
                return self._registration_token(reg, audience, lifetime=lifetime, issued_at=issued_at)[0]
        raise KeyError(f"no principal named {principal!r} in the scenario")

    def _mi_token(self, identity: dict, audience: str, lifetime: int | None = None,
                  issued_at: float | None = None) -> tuple[str, int]:
        extra = {"xms_mirid": identity["resource_id"]} if identity.get("resource_id") else None
        if lifetime is None:
            lifetime = int(self.settings["managed_identity_token_lifetime_seconds"])
        return self._issue_access_token(tenant=identity["tenant"], audience=audience, oid=str(identity["object_id"]),
                                        appid=str(identity["client_id"]), idtyp="app", appidacr="2",
                                        lifetime=lifetime, extra=extra, issued_at=issued_at)

    def _registration_token(self, reg: dict, audience: str, lifetime: int | None = None,
                            issued_at: float | None = None) -> tuple[str, int]:
        return self._issue_access_token(
            tenant=str(reg["tenant"]).lower(), audience=audience, oid=str(reg["object_id"]),
            appid=str(reg.get("client_id") or reg["registration_id"]), idtyp="app", lifetime=lifetime,
            issued_at=issued_at)

    def reset(self, scenario: dict, settings: dict | None = None) -> None:
        """What Emulator.reset needs: `reload` the scenario's directory (signing key, generated certificates and
        every token, code and refresh token already issued are kept) and forget earlier `expire_all_tokens` calls,
        so a reset starts with every issued access token valid again until its own `exp`."""
        with self._lock:
            self._expired_through = 0
            self._expired_at = None
        self.reload(scenario, settings)

    def expire_all_tokens(self) -> None:
        """Every access token issued until now is expired from now on (ARM answers ExpiredAuthenticationToken)."""
        with self._lock:
            self._expired_through = self._sequence
            self._expired_at = self.clock()

    def expire_refresh_tokens(self) -> None:
        """Make every refresh token look unused for longer than the inactivity limit (-> AADSTS700082)."""
        limit = float(self.settings["refresh_token_inactivity_seconds"])
        with self._lock:
            for entry in self._refresh_tokens.values():
                entry["last_used"] = min(entry["last_used"], self.clock() - limit - 1)

    def verify_bearer(self, authorization_header: str | None, audiences: set[str]) -> dict:
        """The claims of a valid bearer token for one of `audiences` (a trailing "/" is ignored), or TokenRejected
        with ARM's code and message."""
        if not authorization_header or not authorization_header.strip():
            raise TokenRejected("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        scheme, _, token = authorization_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejected("AuthenticationFailed",
                                "Authentication failed. The 'Authorization' header is provided in an invalid format.")
        try:
            claims = jwt.decode(token, self._public_key, algorithms=["RS256"],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_iss": False})
        except jwt.PyJWTError:
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.") from None
        if not isinstance(claims.get("exp"), int) or not claims.get("aud"):
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")
        now = self.clock()
        expiry = float(claims["exp"])
        with self._lock:
            issued = self._issued.get(str(claims.get("uti")))
            if issued is not None and issued <= self._expired_through and self._expired_at is not None:
                expiry = min(expiry, self._expired_at)
        if expiry <= now:
            raise TokenRejected("ExpiredAuthenticationToken",
                                f"The access token expiry UTC time '{dotnet_utc(expiry)}' is earlier than current UTC "
                                f"time '{dotnet_utc(now)}'.")
        allowed = {a.rstrip("/") for a in audiences}
        if str(claims["aud"]).rstrip("/") not in allowed:
            listed = ",".join(f"'{a}'" for a in sorted(audiences))
            raise TokenRejected("InvalidAuthenticationTokenAudience",
                                f"The access token has been obtained for wrong audience or resource "
                                f"'{claims['aud']}'. It should exactly match with one of the allowed audiences "
                                f"{listed}.")
        return claims

    # ------------------------------------------------------------------ token endpoint
    def _token_endpoint(self, request: Request, segment: str) -> Response:
        if request.method.upper() != "POST":
            return self._error_response(request, 400, "invalid_request", 900561, (
                f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method.upper()} request."))
        return self._token(request, segment)

    @staticmethod
    def _missing(name: str) -> _AadError:
        return _AadError(400, "invalid_request", 900144,
                         f"The request body must contain the following parameter: '{name}'.")

    def _token(self, request: Request, segment: str) -> Response:
        form = request.form()
        basic_id, basic_secret = self._basic_auth(request)
        if basic_id and not form.get("client_id"):
            form["client_id"] = basic_id
        tid = self._tenant_of(segment)
        grant = form.get("grant_type")
        if not grant:
            raise self._missing("grant_type")
        if grant not in ("client_credentials", "authorization_code", "refresh_token"):
            raise _AadError(400, "unsupported_grant_type", 70003,
                            f"The app requested an unsupported grant type '{grant}'.")
        client_id = (form.get("client_id") or "").strip().lower()
        if not client_id:
            raise self._missing("client_id")
        if tid is None and grant == "client_credentials":  # common / organizations
            raise _AadError(400, "invalid_request", 50059, (
                "No tenant-identifying information found in either the request or implied by any provided "
                "credentials."))
        app = self._app_for(tid, client_id, segment)
        appidacr = self._authenticate_client(request, form, app, segment, basic_secret,
                                             public_ok=grant != "client_credentials")
        if grant == "client_credentials":
            return self._client_credentials(request, form, app, appidacr)
        if grant == "authorization_code":
            return self._redeem_code(request, form, app, appidacr)
        return self._redeem_refresh_token(request, form, app, appidacr)

    @staticmethod
    def _basic_auth(request: Request) -> tuple[str | None, str | None]:
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

    def _authenticate_client(self, request: Request, form: dict, app: dict, segment: str,
                             basic_secret: str | None, public_ok: bool) -> str:
        """'1' (secret) or '2' (certificate), or '0' for a public client; raises the Entra error otherwise."""
        secret = form.get("client_secret") or basic_secret
        assertion = form.get("client_assertion")
        if secret:
            now = self.clock()
            for entry in app["secrets"]:
                if hmac.compare_digest(entry["value"].encode(), secret.encode()):
                    if entry["expires"] is not None and entry["expires"] <= now:
                        raise _AadError(401, "invalid_client", 7000222, (
                            f"The provided client secret keys for app '{app['client_id']}' are expired. Visit the "
                            "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
                            "consider using certificate credentials for added security: https://aka.ms/certCreds."))
                    return "1"
            raise _AadError(401, "invalid_client", 7000215, (
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{app['client_id']}'."))
        if assertion:
            self._verify_assertion(request, form, app, segment, assertion)
            return "2"
        if public_ok and app.get("public_client"):
            return "0"
        raise _AadError(401, "invalid_client", 7000218,
                        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    def _verify_assertion(self, request: Request, form: dict, app: dict, segment: str, assertion: str) -> None:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _AadError(400, "invalid_request", 7000216, (
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant "
                f"type; client_assertion_type must be '{JWT_BEARER}'."))
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise _AadError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from None
        cert = None
        used = None
        if header.get("x5t#S256"):
            used = self._thumb_hex(header["x5t#S256"])
            cert = next((c for c in app["certs"] if c["sha256"] == used), None)
        elif header.get("x5t"):
            used = self._thumb_hex(header["x5t"])
            cert = next((c for c in app["certs"] if c["sha1"] == used), None)
        if cert is None:
            raise _AadError(401, "invalid_client", 700027, (
                "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of "
                f"key used by client: '{used}', Please visit the Azure Portal, Graph Explorer or directly use MS "
                f"Graph to see configured keys for app Id '{app['client_id']}'. Review the documentation at "
                "https://docs.microsoft.com/en-us/graph/deployer-credentials .]"))
        if header.get("alg") not in ("RS256", "PS256"):
            raise _AadError(401, "invalid_client", 5002738, f"Invalid JWT token. '{header.get('alg')}' is not a "
                            "supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'")
        try:
            claims = jwt.decode(assertion, cert["public_key"], algorithms=["RS256", "PS256"],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_iss": False})
        except jwt.PyJWTError:
            raise _AadError(401, "invalid_client", 700027, (
                "Client assertion failed signature validation. [Reason - The provided signature value did not "
                f"match the expected signature value., Thumbprint of key used by client: '{used}', Found key "
                f"'Start=..., End=...'] Review the documentation at {CERT_DOCS} .")) from None
        client_id = app["client_id"]
        if str(claims.get("iss", "")).lower() != client_id or str(claims.get("sub", "")).lower() != client_id:
            raise _AadError(401, "invalid_client", 700021, (
                f"Client assertion application identifier doesn't match 'client_id' parameter. Review the "
                f"documentation at {CERT_DOCS} ."))
        base = self._base(request)
        accepted = {f"{base}/{segment}/oauth2/v2.0/token".lower(), f"{base}/{app['tenant']}/oauth2/v2.0/token",
                    f"{base}/{app['tenant']}/v2.0", f"{base}/{segment}/v2.0".lower()}
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(str(a).lower().rstrip("/") in accepted for a in audiences):
            raise _AadError(401, "invalid_client", 700212, (
                "Client assertion audience claim does not match Realm issuer. Review the documentation at "
                f"{CERT_DOCS} ."))
        now = self.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        skew = 300
        too_early = isinstance(nbf, (int, float)) and nbf - skew > now
        if not isinstance(exp, (int, float)) or exp + skew < now or too_early:
            valid_from = _aad_timestamp(nbf) if isinstance(nbf, (int, float)) else "unknown"
            valid_to = _aad_timestamp(exp) if isinstance(exp, (int, float)) else "unknown"
            raise _AadError(401, "invalid_client", 700024, (
                f"Client assertion is not within its valid time range. Current time: {_aad_timestamp(now)}, "
                f"assertion valid from {valid_from}, expiry time of assertion {valid_to}. Review the "
                f"documentation at {CERT_DOCS} ."))

    @staticmethod
    def _thumb_hex(encoded: str) -> str:
        padded = str(encoded) + "=" * (-len(str(encoded)) % 4)
        try:
            return base64.urlsafe_b64decode(padded).hex().upper()
        except (binascii.Error, ValueError):
            return str(encoded).upper()

    @staticmethod
    def _scopes(form_scope: str | None) -> tuple[list[str], set[str]]:
        words = (form_scope or "").split()
        resource_scopes = [w for w in words if w.lower() not in OIDC_SCOPES]
        oidc = {w.lower() for w in words if w.lower() in OIDC_SCOPES}
        return resource_scopes, oidc

    def _single_resource(self, resource_scopes: list[str], raw: str) -> tuple[str, list[str]]:
        resources = {}
        for scope in resource_scopes:
            resource, permission = resource_of_scope(scope)
            resources.setdefault(resource, []).append(permission)
        if len(resources) > 1:
            raise _AadError(400, "invalid_scope", 28000, (
                "Provided value for the input parameter scope is not valid because it contains more than one "
                f"resource. Scope {raw} is not valid."))
        if not resources:
            return GRAPH_RESOURCE, ["User.Read"]
        audience, permissions = next(iter(resources.items()))
        return audience, permissions

    def _client_credentials(self, request: Request, form: dict, app: dict, appidacr: str) -> Response:
        raw = form.get("scope")
        if not raw:
            raise self._missing("scope")
        resource_scopes, _ = self._scopes(raw)
        audience, permissions = self._single_resource(resource_scopes, raw)
        if not resource_scopes or permissions != [".default"]:
            raise _AadError(400, "invalid_scope", 1002012, (
                f"The provided value for scope {raw} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI)."))
        token, lifetime = self._issue_access_token(tenant=app["tenant"], audience=audience, oid=app["object_id"],
                                                   appid=app["client_id"], idtyp="app", appidacr=appidacr)
        body = {"token_type": "Bearer", "scope": resource_scopes[0], "expires_in": lifetime,
                "ext_expires_in": lifetime, "access_token": token}
        return Response(200, body, self._no_store_headers(str(uuid.uuid4())))

    def _delegated_response(self, request: Request, form: dict, app: dict, user: dict, appidacr: str,
                            resource_scopes: list[str], oidc: set[str], nonce: str | None) -> Response:
        raw = " ".join(resource_scopes)
        audience, permissions = self._single_resource(resource_scopes, raw)
        scp = " ".join(sorted({"user_impersonation" if p == ".default" else p for p in permissions}))
        token, lifetime = self._issue_access_token(
            tenant=user["tenant"], audience=audience, oid=str(user["object_id"]), appid=app["client_id"],
            idtyp="user", appidacr=appidacr, upn=user["upn"], name=user.get("display_name"), scp=scp)
        granted = [f"{audience}{p}" for p in permissions] or [f"{audience}user_impersonation"]
        granted += sorted(oidc)
        body: dict[str, Any] = {"token_type": "Bearer", "scope": " ".join(granted), "expires_in": lifetime,
                                "ext_expires_in": lifetime, "access_token": token}
        if "offline_access" in oidc:
            refresh = "1.AR" + _b64url(secrets.token_bytes(48))
            now = self.clock()
            with self._lock:
                self._refresh_tokens[refresh] = {"client_id": app["client_id"], "tenant": app["tenant"],
                                                 "user": user, "oidc": set(oidc), "issued": now, "last_used": now}
            body["refresh_token"] = refresh
        if "openid" in oidc:
            body["id_token"] = self._id_token(request, app, user, nonce)
        if form.get("client_info") == "1":
            body["client_info"] = self._client_info(user)
        return Response(200, body, self._no_store_headers(str(uuid.uuid4())))

    def _id_token(self, request: Request, app: dict, user: dict, nonce: str | None) -> str:
        now = int(self.clock())
        claims = {
            "aud": app["client_id"], "iss": f"{self._base(request)}/{user['tenant']}/v2.0", "iat": now, "nbf": now,
            "exp": now + int(self.settings["token_lifetime_seconds"]), "name": user.get("display_name") or
            user["upn"].split("@")[0], "oid": str(user["object_id"]), "preferred_username": user["upn"],
            "sub": _b64url(hashlib.sha256(f"{user['object_id']}:{app['client_id']}".encode()).digest()[:24]),
            "tid": user["tenant"], "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return self._sign(claims)

    @staticmethod
    def _client_info(user: dict) -> str:
        return _b64url(json.dumps({"uid": str(user["object_id"]), "utid": user["tenant"]}).encode())

    def _redeem_code(self, request: Request, form: dict, app: dict, appidacr: str) -> Response:
        code = form.get("code")
        if not code:
            raise self._missing("code")
        now = self.clock()
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or entry["client_id"] != app["client_id"]:
                entry = None
            elif not entry["redeemed"] and entry["expires"] > now:
                entry["redeemed"] = True
                entry["fresh"] = True
            else:
                entry["fresh"] = False
        if entry is None:
            raise _AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if entry["expires"] <= now:
            raise _AadError(400, "invalid_grant", 70008, (
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource."))
        if not entry["fresh"]:
            raise _AadError(400, "invalid_grant", 54005, (
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
                "existing refresh token."))
        if form.get("redirect_uri") != entry["redirect_uri"]:
            raise _AadError(400, "invalid_grant", 500112, (
                f"The reply address '{form.get('redirect_uri') or ''}' does not match the reply address "
                f"'{entry['redirect_uri']}' provided when requesting Authorization code."))
        challenge = entry.get("code_challenge")
        if challenge:
            verifier = form.get("code_verifier") or ""
            if entry.get("code_challenge_method", "plain").upper() == "S256":
                computed = _b64url(hashlib.sha256(verifier.encode()).digest())
            else:
                computed = verifier
            if not verifier or not hmac.compare_digest(computed, challenge):
                # Entra ID's answer when the verifier is missing or is not the one the challenge was made from.
                raise _AadError(400, "invalid_grant", 501481, (
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request."))
        resource_scopes, oidc = self._scopes(form.get("scope"))
        if not resource_scopes and not oidc:
            resource_scopes, oidc = list(entry["resource_scopes"]), set(entry["oidc"])
        code_audiences = {resource_of_scope(s)[0] for s in entry["resource_scopes"]}
        if any(resource_of_scope(s)[0] not in code_audiences for s in resource_scopes):
            raise _AadError(400, "invalid_grant", 70000, (
                "The request was denied because one or more scopes requested are unauthorized or expired. The user "
                "must first sign in and grant the client application access to the requested scope."))
        oidc &= set(entry["oidc"]) | {"openid", "profile"}
        if not app.get("consented", True):
            raise self._no_consent(app)
        return self._delegated_response(request, form, app, entry["user"], appidacr, resource_scopes or
                                        list(entry["resource_scopes"]), oidc, entry.get("nonce"))

    @staticmethod
    def _no_consent(app: dict) -> _AadError:
        return _AadError(400, "invalid_grant", 65001, (
            f"The user or administrator has not consented to use the application with ID '{app['client_id']}' "
            f"named '{app.get('name', app['client_id'])}'. Send an interactive authorization request for this user "
            "and resource."))

    def _redeem_refresh_token(self, request: Request, form: dict, app: dict, appidacr: str) -> Response:
        refresh = form.get("refresh_token")
        if not refresh:
            raise self._missing("refresh_token")
        now = self.clock()
        with self._lock:
            entry = self._refresh_tokens.get(refresh)
            stale = entry is not None and now - entry["last_used"] > float(
                self.settings["refresh_token_inactivity_seconds"])
            if entry is not None and not stale and entry["client_id"] == app["client_id"]:
                entry["last_used"] = now
        if entry is None:
            raise _AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if entry["client_id"] != app["client_id"]:
            raise _AadError(400, "invalid_grant", 700005, (
                "Provided Authorization Code is intended to use against other tenant or application, thus "
                "rejected."))
        if stale:
            issued = _utc(entry["issued"]).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            idle = dt.timedelta(seconds=int(now - entry["last_used"]))
            raise _AadError(400, "invalid_grant", 700082, (
                f"The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive "
                f"for {idle}."))
        if not app.get("consented", True):
            raise self._no_consent(app)
        resource_scopes, oidc = self._scopes(form.get("scope"))
        if not resource_scopes:
            resource_scopes = ["https://management.azure.com/user_impersonation"]
        oidc = (oidc & (entry["oidc"] | {"openid", "profile"})) | ({"offline_access"} & entry["oidc"])
        return self._delegated_response(request, form, app, entry["user"], appidacr, resource_scopes, oidc, None)

    # ------------------------------------------------------------------ authorize
    def _authorize(self, request: Request, segment: str) -> Response:
        params = {k: v[0] for k, v in request.query.items() if v}
        if request.method.upper() == "POST" and request.body:
            params.update(request.form())
        client_id = (params.get("client_id") or "").lower()
        try:
            tid = self._tenant_of(segment)
            if not client_id:
                raise self._missing("client_id")
            app = self._app_for(tid, client_id, segment)
        except _AadError as err:  # the sign-in page shows these; there is no trusted redirect URI yet
            return self._html_error(request, err.code, err.message)
        redirect_uri = params.get("redirect_uri") or ""
        if redirect_uri not in (app.get("redirect_uris") or []):
            return self._html_error(request, 50011, (
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
                f"configured for the application '{app['client_id']}'. Make sure the redirect URI sent in the request "
                "matches one added to your application in the Azure portal. Navigate to "
                "https://aka.ms/redirectUriMismatchError to learn more about how to fix this."))
        response_mode = (params.get("response_mode") or "query").lower()
        state = params.get("state")

        def fail(error: str, code: int, message: str) -> Response:
            trace = str(uuid.uuid4())
            desc = (f"AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {uuid.uuid4()}\r\n"
                    f"Timestamp: {_aad_timestamp(self.clock())}")
            values = {"error": error, "error_description": desc}
            if state is not None:
                values["state"] = state
            return self._redirect(redirect_uri, values, response_mode)

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", 700054, (
                f"response_type '{params.get('response_type') or ''}' is not enabled for the application."))
        if not params.get("scope"):
            return fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
        method = params.get("code_challenge_method") or ("plain" if params.get("code_challenge") else None)
        if method and method.upper() not in ("S256", "PLAIN"):
            return fail("invalid_request", 501491, "Invalid code_challenge_method.")
        users = [u for u in self.users if u["tenant"] == app["tenant"]]
        hint = (params.get("login_hint") or "").lower()
        user = next((u for u in users if u["upn"].lower() == hint), None) if hint else (users[0] if users else None)
        if user is None:
            return self._html_error(request, 50034, (
                f"The user account {{EmailHidden}} does not exist in the '{app['tenant']}' directory. To sign into "
                "this application, the account must be added to the directory."))
        if not app.get("consented", True) and (params.get("prompt") or "").lower() == "none":
            return fail("consent_required", 65001, self._no_consent(app).message)
        resource_scopes, oidc = self._scopes(params.get("scope"))
        code = "1.AR" + _b64url(secrets.token_bytes(96))
        with self._lock:
            self._codes[code] = {
                "client_id": app["client_id"], "redirect_uri": redirect_uri, "resource_scopes": resource_scopes,
                "oidc": oidc, "code_challenge": params.get("code_challenge"), "code_challenge_method": method,
                "nonce": params.get("nonce"), "user": user, "redeemed": False,
                "expires": self.clock() + float(self.settings["auth_code_lifetime_seconds"]),
            }
        values = {"code": code}
        if params.get("client_info") == "1":
            values["client_info"] = self._client_info(user)
        if state is not None:
            values["state"] = state
        values["session_state"] = str(uuid.uuid4())
        return self._redirect(redirect_uri, values, response_mode)

    @staticmethod
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

    def expire_auth_codes(self) -> None:
        """Make every outstanding authorization code expired (-> AADSTS70008 at redemption)."""
        with self._lock:
            for entry in self._codes.values():
                entry["expires"] = min(entry["expires"], self.clock() - 1)

    # ------------------------------------------------------------------ managed identity
    def _find_identity(self, selectors: dict[str, str | None]) -> dict | None:
        chosen = {k: v.lower() for k, v in selectors.items() if v}
        if not chosen:
            return next((i for i in self.managed_identities if i.get("kind") == "system"), None)
        for identity in self.managed_identities:
            for key, value in chosen.items():
                field_value = str(identity.get(key) or "").lower()
                if field_value and field_value == value:
                    return identity
        return None

    def _imds(self, request: Request) -> Response:
        def bad(description: str, status: int = 400, error: str = "invalid_request") -> Response:
            return Response(status, {"error": error, "error_description": description})

        if request.method.upper() != "GET":
            return bad("Only GET is supported", 405, "method_not_allowed")
        if (request.headers.get("Metadata") or "").lower() != "true":
            return bad("Required metadata header not specified")
        if not request.arg("api-version"):
            return bad("Required query variable 'api-version' is missing")
        resource = request.arg("resource")
        if not resource:
            return bad("Required query variable 'resource' is missing")
        identity = self._find_identity({"client_id": request.arg("client_id"), "object_id": request.arg("object_id"),
                                        "resource_id": request.arg("msi_res_id") or request.arg("mi_res_id")})
        if identity is None:
            return bad("Identity not found")
        audience = resource if resource.endswith("/") else resource + "/"
        token, lifetime = self._mi_token(identity, audience)
        now = int(self.clock())
        return Response(200, {
            "access_token": token, "client_id": str(identity["client_id"]), "expires_in": str(lifetime),
            "expires_on": str(now + lifetime), "ext_expires_in": str(lifetime), "not_before": str(now),
            "resource": resource, "token_type": "Bearer",
        })

    def _app_service(self, request: Request) -> Response:
        def bad(status: int, message: str) -> Response:
            return Response(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})

        supplied = request.headers.get("X-IDENTITY-HEADER")
        if not supplied:
            return bad(400, "The 'X-IDENTITY-HEADER' header is required.")
        if not hmac.compare_digest(supplied.encode(), self.identity_header.encode()):
            return bad(401, "The request is not authorized: the X-IDENTITY-HEADER value is not valid.")
        if not request.arg("api-version"):
            return bad(400, "The 'api-version' query parameter is required.")
        resource = request.arg("resource")
        if not resource:
            return bad(400, "The 'resource' query parameter is required.")
        identity = self._find_identity({"client_id": request.arg("client_id"),
                                        "object_id": request.arg("object_id") or request.arg("principal_id"),
                                        "resource_id": request.arg("mi_res_id")})
        if identity is None:
            return bad(400, "No managed identity found for the specified ClientId/ResourceId/PrincipalId.")
        audience = resource if resource.endswith("/") else resource + "/"
        token, lifetime = self._mi_token(identity, audience)
        return Response(200, {
            "access_token": token, "expires_on": str(int(self.clock()) + lifetime), "resource": resource,
            "token_type": "Bearer", "client_id": str(identity["client_id"]),
        })

    # ------------------------------------------------------------------ Cortex XSOAR application mode
    def _oproxy(self, request: Request) -> Response:
        def problem(status: int, title: str, detail: str) -> Response:
            return Response(status, {"title": title, "detail": detail, "status": status},
                            {"Content-Type": "application/problem+json"})

        if request.method.upper() != "POST":
            return problem(405, "Method Not Allowed", "Use POST with a JSON body.")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "Bad Request", "The request body must be a JSON object.")
        for name in ("app_name", "registration_id", "encrypted_token"):
            if not body.get(name):
                return problem(400, "Bad Request", f"Missing required field '{name}'.")
        reg = self.registrations.get(str(body["registration_id"]).lower())
        if reg is None:
            return problem(404, "Unknown registration ID", (
                "The registration ID (the instance's ID field) is not registered with the Cortex XSOAR token "
                "service. Generate a new ID, Token and Key in the Cortex XSOAR application's sign-in page."))
        if str(body["app_name"]) != str(reg["app_name"]):
            return problem(400, "Application mismatch", (
                f"The app_name '{body['app_name']}' does not match the application of this registration."))
        try:
            blob = base64.b64decode(str(body["encrypted_token"]), validate=True)
            key = base64.b64decode(str(reg["key"]))
            if len(blob) < 12 + 16:
                raise ValueError("too short")
            plain = AESGCM(key).decrypt(blob[:12], blob[12:], None).decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return problem(401, "Invalid key or encrypted token", (
                "Could not decrypt the encrypted token: the Key does not belong to this registration ID."))
        epoch_text, _, tenant = plain.partition(":")
        try:
            epoch = int(epoch_text)
        except ValueError:
            return problem(400, "Malformed encrypted token",
                           "The encrypted token is not of the form '<epoch seconds>:<tenant id>'.")
        if tenant.strip().lower() != str(reg["tenant"]).lower():
            return problem(401, "Tenant mismatch", "The Token (tenant ID) does not match this registration.")
        skew = abs(self.clock() - epoch)
        if skew > float(self.settings["oproxy_max_skew_seconds"]):
            return problem(401, "Stale encrypted token", (
                "The encrypted token timestamp is more than 10 minutes away from the token service's time; check the "
                "clock of the Cortex XSOAR server."))
        scope = body.get("scope") or ""
        if not scope and body.get("resource"):
            scope = str(body["resource"]).rstrip("/") + "/.default"
        scope = str(scope or PUBLIC_ARM_SCOPE).split()[0]
        audience, _ = resource_of_scope(scope)
        token, lifetime = self._registration_token(reg, audience)
        refresh = _b64url(secrets.token_bytes(32))
        with self._lock:
            self._oproxy_refresh[refresh] = str(reg["registration_id"]).lower()
        return Response(200, {"access_token": token, "expires_in": lifetime, "refresh_token": refresh})


def encrypt_xsoar_token(key_b64: str, tenant_id: str, epoch: int | None = None) -> str:
    """What Cortex XSOAR sends as `encrypted_token`: base64(nonce(12) + AES-GCM(ciphertext + tag)) of
    "<epoch>:<tenant>" under the registration key (no associated data). For tests and the local runner."""
    nonce = secrets.token_bytes(12)
    text = f"{int(time.time()) if epoch is None else int(epoch)}:{tenant_id}".encode()
    return base64.b64encode(nonce + AESGCM(base64.b64decode(key_b64)).encrypt(nonce, text, None)).decode()


__all__ = [
    "APP_SERVICE_PATH",
    "IMDS_PATH",
    "OPROXY_PATH",
    "IdentityService",
    "TokenRejected",
    "dotnet_utc",
    "encrypt_xsoar_token",
    "resource_of_scope",
]
