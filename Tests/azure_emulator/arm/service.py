"""Azure Resource Manager's front door: what every ARM request goes through before its handler.

1. The bearer token, checked by the identity service (signature, audience, expiry) -> 401 with ARM's codes and
   a WWW-Authenticate challenge.
2. Throttling (throttling.py): the principal's token bucket for the subscription (or tenant) and the kind of
   request (reads / writes / deletes) gives a token, or, empty and enabled, 429 SubscriptionRequestsThrottled
   with Retry-After.
3. `api-version`, required on every call (400 MissingApiVersionParameter / InvalidApiVersionParameter); any
   well-formed YYYY-MM-DD[-preview] value is accepted.
4. Long-running operations whose time has come finish (lro.py).
5. The path: under /subscriptions/{id} the subscription must exist (404 SubscriptionNotFound) and belong to the
   token's tenant (401 InvalidAuthenticationTokenTenant); then the route table (routes.py, router.py), which also
   serves tenant-level paths (/providers/...) when a row names one.
Every answer carries x-ms-request-id, x-ms-correlation-request-id (the client's, when it sent one) and
x-ms-routing-request-id; every authenticated one x-ms-ratelimit-remaining-subscription-reads / -writes / -deletes
(-tenant-... without a subscription in the URL): the tokens left in its bucket, as ARM's do.

Layout of the package (after moto's: per resource provider, models apart from request handling):
  service.py  this front door          routes.py  the route table      router.py  rows, matching, Call
  errors.py   every ARM error          lro.py     long-running ops     store.py   what ARM holds; models.py base
  throttling.py  ARM's token buckets
  resources/ (subscriptions, groups)   network/   compute/             authorization/ (RBAC, permissions)
each provider with models.py (state, validation, rendering) and responses.py (handlers).
"""
from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ..http import Request, Response
from ..identity import IdentityService, TokenRejected
from . import errors as E
from .errors import ArmError
from .router import Route, Router, segments
from .routes import ROUTES
from .store import ArmStore
from .throttling import kind_of

if TYPE_CHECKING:
    from ..faults import Fault

PUBLIC_AUDIENCES = {
    "https://management.azure.com", "https://management.azure.com/",
    "https://management.core.windows.net", "https://management.core.windows.net/",
}
SUPPORTED_VERSIONS = "2025-05-01, 2025-01-01, 2024-07-01, 2024-05-01, 2024-03-01, 2023-11-01, 2023-09-01"
API_VERSION_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")

ROUTER = Router(ROUTES)


class ArmService:
    """The ARM listener's service. Thread-safe: one lock around each request."""

    def __init__(self, scenario: dict, identity: IdentityService | None, *,
                 lro_fault: Callable[[Request], Fault | None] | None = None,
                 login_url: Callable[[], str] | None = None, routes: Sequence[Route] = ROUTES):
        """`routes`: the route table (routes.ROUTES; tests may add rows of their own)."""
        self.identity = identity
        self.router = ROUTER if routes is ROUTES else Router(routes)
        self.lro_fault = lro_fault or (lambda request: None)
        self.login_url = login_url or (lambda: "")
        self.lock = threading.RLock()
        self.load(scenario)

    def load(self, scenario: dict) -> None:
        with self.lock:
            self.store = ArmStore(scenario, self.lro_fault)

    def settle(self) -> None:
        """Finish every operation whose time has come (success or injected failure)."""
        with self.lock:
            self.store.operations.settle()

    @property
    def latency(self):
        """The latency profile in force (latency.py): the server asks it for the network delay."""
        return self.store.latency

    def latency_report(self) -> dict:
        with self.lock:
            return self.store.latency.report(self.store.settings)

    def configure_latency(self, spec: dict | None) -> dict:
        """Replace the latency settings (None: off) until the next load; the report."""
        with self.lock:
            self.store.latency.configure(spec)
            self.store.settings["latency"] = spec
            return self.store.latency.report(self.store.settings)

    def configure_throttling(self, spec: dict) -> dict:
        """Change throttling (enabled, limits per kind; every bucket refilled) until the next load; the report."""
        with self.lock:
            self.store.limits.configure(spec)
            self.store.settings["throttling"] = {**(self.store.settings.get("throttling") or {}), **spec}
        return self.store.limits.report()

    def state(self) -> dict:
        """Every resource as GET returns it (VMs with their instance view), keyed by lower-cased id."""
        self.settle()
        with self.lock:
            return self.store.state()

    # ------------------------------------------------------------------ entry point
    @staticmethod
    def audiences(request: Request) -> set[str]:
        return PUBLIC_AUDIENCES | {request.base_url, request.base_url + "/"}

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        headers = {"x-ms-request-id": request_id,
                   "x-ms-correlation-request-id": request.headers.get("x-ms-correlation-request-id")
                   or str(uuid.uuid4()),
                   "x-ms-routing-request-id": f"EASTUS:{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}:{request_id}"}
        try:
            response = self._handle(request, headers)
        except ArmError as err:
            response = err.response()
        for key, value in headers.items():
            response.headers.setdefault(key, value)
        return response

    def _handle(self, request: Request, headers: dict[str, str]) -> Response:
        claims = self._authenticate(request)
        self._throttle(request, claims, headers)
        self._check_api_version(request)
        self.settle()
        with self.lock:
            store = self.store
            segs = segments(request)
            subscription = None
            if len(segs) > 1 and segs[0].lower() == "subscriptions":
                subscription = store.subscription(segs[1])
                tid = claims.get("tid")
                if tid and tid.lower() != subscription.tenant_id.lower():
                    raise E.wrong_token_tenant(tid, subscription.tenant_id, self.login_url())
            return self.router.dispatch(store, request, claims, subscription, segs)

    def _authenticate(self, request: Request) -> dict:
        if self.identity is None:
            raise E.no_identity_service(self.login_url())
        try:
            claims = self.identity.verify_bearer(request.headers.get("Authorization"), self.audiences(request))
        except TokenRejected as exc:
            raise E.authentication(exc.code, exc.message, self.login_url()) from None
        request.client = claims.get("appid") or claims.get("oid")
        return claims

    def _throttle(self, request: Request, claims: dict, headers: dict[str, str]) -> None:
        """Take a token from the principal's bucket; its remaining count goes into `headers`. Raises 429
        SubscriptionRequestsThrottled (TenantRequestsThrottled) when the bucket is empty and throttling is on."""
        segs = segments(request)
        if len(segs) > 1 and segs[0].lower() == "subscriptions":
            scope, scope_id = "subscription", segs[1]
        else:
            scope, scope_id = "tenant", str(claims.get("tid") or "")
        actor = str(claims.get("oid") or claims.get("appid") or "")
        kind = kind_of(request.method)
        remaining, retry_after = self.store.limits.take(scope, scope_id, actor, kind)
        headers[f"x-ms-ratelimit-remaining-{scope}-{kind}"] = str(remaining)
        if retry_after is not None:
            raise E.requests_throttled(kind, scope, scope_id, actor, retry_after)

    @staticmethod
    def _check_api_version(request: Request) -> None:
        value = request.arg("api-version")
        if value is None:
            raise E.missing_api_version()
        match = API_VERSION_RE.match(value)
        if match is None or not _is_date(match.group(1), match.group(2), match.group(3)):
            raise E.invalid_api_version(value, SUPPORTED_VERSIONS)


def _is_date(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True
