"""Every error the emulated Entra ID answers, built here and nowhere else.

* `AadError` (one factory per AADSTS code below): the token endpoint answers it as Entra's JSON -- `error`,
  `error_description` beginning with "AADSTSnnnn: " and ending with Trace ID / Correlation ID / Timestamp lines
  (CRLF separated), `error_codes`, `timestamp` ("YYYY-MM-DD hh:mm:ssZ"), `trace_id`, `correlation_id`,
  `error_uri`; `invalid_client` is 401, everything else 400. The authorize endpoint shows the same error on its
  sign-in page (before the redirect URI is trusted) or sends it to the redirect URI (`redirect_values`).
* `ImdsError`, `AppServiceError`, `TokenServiceProblem`: the managed identity endpoints' and the Cortex XSOAR token
  service's own shapes.
* `TokenRejected`: a bearer token ARM must refuse, with ARM's code (ARM answers 401 with it).
An error never carries a secret, a key or a token.
"""
from __future__ import annotations

import html
import time
import uuid
from collections.abc import Callable

from ..http import Request, Response
from .wire import aad_timestamp, dotnet_utc, no_store_headers

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERT_DOCS = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials"
ZERO_ID = "00000000-0000-0000-0000-000000000000"


class IdentityError(Exception):
    """An error an identity endpoint answers; `response` renders it."""

    def response(self, request: Request, clock: Callable[[], float], base: str) -> Response:
        raise NotImplementedError


class AadError(IdentityError):
    def __init__(self, status: int, error: str, code: int, message: str):
        super().__init__(message)
        self.status, self.error, self.code, self.message = status, error, code, message

    def description(self, trace_id: str, correlation_id: str, stamp: str) -> str:
        return (f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}"
                f"\r\nTimestamp: {stamp}")

    def response(self, request: Request, clock: Callable[[], float], base: str) -> Response:
        """Entra's JSON error (the token endpoint)."""
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        stamp = aad_timestamp(clock())
        body = {"error": self.error, "error_description": self.description(trace_id, correlation_id, stamp),
                "error_codes": [self.code], "timestamp": stamp, "trace_id": trace_id,
                "correlation_id": correlation_id, "error_uri": f"{base}/error?code={self.code}"}
        return Response(self.status, body, no_store_headers(trace_id, correlation_id))

    def page(self, request: Request, clock: Callable[[], float]) -> Response:
        """The sign-in page's error (authorize, while the redirect URI is not trusted yet)."""
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        page = (
            "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>"
            "<div id=\"login\"><h1>Sign in</h1><h2>Sorry, but we're having trouble signing you in.</h2>"
            f"<p id=\"error\">AADSTS{self.code}: {html.escape(self.message)}</p>"
            f"<table><tr><td>Request Id:</td><td>{trace_id}</td></tr>"
            f"<tr><td>Correlation Id:</td><td>{correlation_id}</td></tr>"
            f"<tr><td>Timestamp:</td><td>{aad_timestamp(clock())}</td></tr></table></div></body></html>"
        )
        return Response(400, page, {"Content-Type": "text/html; charset=utf-8", "x-ms-request-id": trace_id})

    def redirect_values(self, clock: Callable[[], float]) -> dict[str, str]:
        """The error as the authorize endpoint sends it to the redirect URI."""
        stamp = aad_timestamp(clock())
        return {"error": self.error, "error_description": self.description(str(uuid.uuid4()), str(uuid.uuid4()), stamp)}


def _invalid_request(code: int, message: str) -> AadError:
    return AadError(400, "invalid_request", code, message)


def _invalid_client(code: int, message: str) -> AadError:
    return AadError(401, "invalid_client", code, message)


def _invalid_grant(code: int, message: str) -> AadError:
    return AadError(400, "invalid_grant", code, message)


# ---------------------------------------------------------------- requests, tenants, applications
def only_post(method: str) -> AadError:
    return _invalid_request(900561, f"The endpoint only accepts POST, OPTIONS requests. Received a {method} request.")


def missing_parameter(name: str) -> AadError:
    return _invalid_request(900144, f"The request body must contain the following parameter: '{name}'.")


def unsupported_grant_type(grant: str) -> AadError:
    return AadError(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


def no_tenant_information() -> AadError:
    return _invalid_request(50059, "No tenant-identifying information found in either the request or implied by any "
                                   "provided credentials.")


def tenant_not_found(segment: str) -> AadError:
    return AadError(400, "invalid_tenant", 90002, (
        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant."))


def app_not_found(client_id: str, segment: str) -> AadError:
    return AadError(400, "unauthorized_client", 700016, (
        f"Application with identifier '{client_id}' was not found in the directory '{segment}'. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user in "
        "the tenant. You may have sent your authentication request to the wrong tenant."))


def no_consent(app: dict) -> AadError:
    return _invalid_grant(65001, (
        f"The user or administrator has not consented to use the application with ID '{app['client_id']}' named "
        f"'{app.get('name', app['client_id'])}'. Send an interactive authorization request for this user and "
        "resource."))


# ---------------------------------------------------------------- client authentication: secrets
def secret_expired(client_id: str) -> AadError:
    return _invalid_client(7000222, (
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new "
        "keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
        "security: https://aka.ms/certCreds."))


def invalid_secret(client_id: str) -> AadError:
    return _invalid_client(7000215, (
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not "
        f"the client secret ID, for a secret added to app '{client_id}'."))


def no_client_credential() -> AadError:
    return _invalid_client(7000218,
                           "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")


# ---------------------------------------------------------------- client authentication: assertions (certificates)
def wrong_assertion_type() -> AadError:
    return _invalid_request(7000216, (
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type; "
        f"client_assertion_type must be '{JWT_BEARER}'."))


def malformed_assertion() -> AadError:
    return _invalid_client(50027, "JWT token is invalid or malformed.")


def assertion_key_not_found(thumbprint: str | None, client_id: str) -> AadError:
    return _invalid_client(700027, (
        "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by "
        f"client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
        f"configured keys for app Id '{client_id}'. Review the documentation at "
        "https://docs.microsoft.com/en-us/graph/deployer-credentials .]"))


def assertion_bad_signature(thumbprint: str | None) -> AadError:
    return _invalid_client(700027, (
        "Client assertion failed signature validation. [Reason - The provided signature value did not match the "
        f"expected signature value., Thumbprint of key used by client: '{thumbprint}', Found key "
        f"'Start=..., End=...'] Review the documentation at {CERT_DOCS} ."))


def assertion_algorithm(alg: object) -> AadError:
    return _invalid_client(5002738, f"Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported "
                                    "signing algorithms are: 'RS256, PS256'")


def assertion_subject_mismatch() -> AadError:
    return _invalid_client(700021, ("Client assertion application identifier doesn't match 'client_id' parameter. "
                                    f"Review the documentation at {CERT_DOCS} ."))


def assertion_audience_mismatch() -> AadError:
    return _invalid_client(700212, ("Client assertion audience claim does not match Realm issuer. Review the "
                                    f"documentation at {CERT_DOCS} ."))


def assertion_out_of_time(now: str, valid_from: str, valid_to: str) -> AadError:
    return _invalid_client(700024, (
        f"Client assertion is not within its valid time range. Current time: {now}, assertion valid from "
        f"{valid_from}, expiry time of assertion {valid_to}. Review the documentation at {CERT_DOCS} ."))


# ---------------------------------------------------------------- scopes
def several_resources(raw: str) -> AadError:
    return AadError(400, "invalid_scope", 28000, (
        "Provided value for the input parameter scope is not valid because it contains more than one resource. "
        f"Scope {raw} is not valid."))


def not_a_default_scope(raw: str) -> AadError:
    return AadError(400, "invalid_scope", 1002012, (
        f"The provided value for scope {raw} is not valid. Client credential flows must have a scope value with "
        "/.default suffixed to the resource identifier (application ID URI)."))


# ---------------------------------------------------------------- authorization codes and refresh tokens
def malformed_grant() -> AadError:
    return _invalid_grant(9002313, "Invalid request. Request is malformed or invalid.")


def code_expired() -> AadError:
    return _invalid_grant(70008, (
        "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
        "authorization request for this user and resource."))


def code_redeemed() -> AadError:
    return _invalid_grant(54005, ("OAuth2 Authorization code was already redeemed, please retry with a new valid code "
                                  "or use an existing refresh token."))


def reply_address_mismatch(given: str, expected: str) -> AadError:
    return _invalid_grant(500112, (f"The reply address '{given}' does not match the reply address '{expected}' "
                                   "provided when requesting Authorization code."))


def code_verifier_mismatch() -> AadError:
    # Entra ID's answer when the verifier is missing or is not the one the challenge was made from.
    return _invalid_grant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization "
                                  "request.")


def scope_not_granted() -> AadError:
    return _invalid_grant(70000, (
        "The request was denied because one or more scopes requested are unauthorized or expired. The user must "
        "first sign in and grant the client application access to the requested scope."))


def grant_for_other_client() -> AadError:
    return _invalid_grant(700005, ("Provided Authorization Code is intended to use against other tenant or "
                                   "application, thus rejected."))


def refresh_token_inactive(issued: str, idle: str) -> AadError:
    return _invalid_grant(700082, (f"The refresh token has expired due to inactivity. The token was issued on {issued} "
                                   f"and was inactive for {idle}."))


# ---------------------------------------------------------------- the sign-in page (authorize)
def redirect_uri_mismatch(redirect_uri: str, client_id: str) -> AadError:
    return _invalid_request(50011, (
        f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured "
        f"for the application '{client_id}'. Make sure the redirect URI sent in the request matches one added to "
        "your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
        "about how to fix this."))


def user_not_found(tenant: str) -> AadError:
    return _invalid_request(50034, (
        f"The user account {{EmailHidden}} does not exist in the '{tenant}' directory. To sign into this application, "
        "the account must be added to the directory."))


def unsupported_response_type(response_type: str) -> AadError:
    return AadError(400, "unsupported_response_type", 700054,
                    f"response_type '{response_type}' is not enabled for the application.")


def invalid_code_challenge_method() -> AadError:
    return _invalid_request(501491, "Invalid code_challenge_method.")


def consent_required(app: dict) -> AadError:
    return AadError(400, "consent_required", 65001, no_consent(app).message)


# ---------------------------------------------------------------- transient failures (injected faults)
def fault_response(kind: str, code: str | None, retry_after: int) -> Response:
    """A 429 / 500 / 503 of Entra ID (fault injection): the JSON error, zero ids, Retry-After for 429 and 503."""
    error, number, text = {
        "429": ("temporarily_unavailable", 50196, "The server is throttling this client. Retry later."),
        "500": ("server_error", 90033, "A transient error has occurred. Please try again."),
        "503": ("temporarily_unavailable", 90033, "A transient error has occurred. Please try again."),
    }[kind]
    headers = {"Retry-After": str(retry_after)} if kind in ("429", "503") else {}
    return Response(int(kind), {"error": code or error, "error_description": f"AADSTS{number}: {text}",
                                "error_codes": [number], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                                "trace_id": ZERO_ID, "correlation_id": ZERO_ID}, headers)


def no_endpoint(path: str) -> Response:
    return Response(404, {"error": "not_found", "error_description": f"No Entra ID endpoint at {path}."})


# ---------------------------------------------------------------- managed identity endpoints
class ImdsError(IdentityError):
    """The instance metadata service's error: {"error", "error_description"}."""

    def __init__(self, description: str, status: int = 400, error: str = "invalid_request"):
        super().__init__(description)
        self.description, self.status, self.error = description, status, error

    def response(self, request: Request, clock: Callable[[], float], base: str) -> Response:  # noqa: ARG002
        return Response(self.status, {"error": self.error, "error_description": self.description})


def imds_only_get() -> ImdsError:
    return ImdsError("Only GET is supported", 405, "method_not_allowed")


def imds_no_metadata_header() -> ImdsError:
    return ImdsError("Required metadata header not specified")


def imds_missing(name: str) -> ImdsError:
    return ImdsError(f"Required query variable '{name}' is missing")


def imds_identity_not_found() -> ImdsError:
    return ImdsError("Identity not found")


class AppServiceError(IdentityError):
    """App Service's identity endpoint error: {"statusCode", "message", "correlationId"}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message

    def response(self, request: Request, clock: Callable[[], float], base: str) -> Response:  # noqa: ARG002
        return Response(self.status, {"statusCode": self.status, "message": self.message,
                                      "correlationId": str(uuid.uuid4())})


def app_service_no_header() -> AppServiceError:
    return AppServiceError(400, "The 'X-IDENTITY-HEADER' header is required.")


def app_service_wrong_header() -> AppServiceError:
    return AppServiceError(401, "The request is not authorized: the X-IDENTITY-HEADER value is not valid.")


def app_service_missing(name: str) -> AppServiceError:
    return AppServiceError(400, f"The '{name}' query parameter is required.")


def app_service_identity_not_found() -> AppServiceError:
    return AppServiceError(400, "No managed identity found for the specified ClientId/ResourceId/PrincipalId.")


# ---------------------------------------------------------------- the Cortex XSOAR application token service
class TokenServiceProblem(IdentityError):
    """The token service's errors: application/problem+json {"title", "detail", "status"}."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail

    def response(self, request: Request, clock: Callable[[], float], base: str) -> Response:  # noqa: ARG002
        return Response(self.status, {"title": self.title, "detail": self.detail, "status": self.status},
                        {"Content-Type": "application/problem+json"})


def oproxy_only_post() -> TokenServiceProblem:
    return TokenServiceProblem(405, "Method Not Allowed", "Use POST with a JSON body.")


def oproxy_not_json() -> TokenServiceProblem:
    return TokenServiceProblem(400, "Bad Request", "The request body must be a JSON object.")


def oproxy_missing(name: str) -> TokenServiceProblem:
    return TokenServiceProblem(400, "Bad Request", f"Missing required field '{name}'.")


def oproxy_unknown_registration() -> TokenServiceProblem:
    return TokenServiceProblem(404, "Unknown registration ID", (
        "The registration ID (the instance's ID field) is not registered with the Cortex XSOAR token service. "
        "Generate a new ID, Token and Key in the Cortex XSOAR application's sign-in page."))


def oproxy_app_mismatch(app_name: str) -> TokenServiceProblem:
    return TokenServiceProblem(400, "Application mismatch",
                               f"The app_name '{app_name}' does not match the application of this registration.")


def oproxy_cannot_decrypt() -> TokenServiceProblem:
    return TokenServiceProblem(401, "Invalid key or encrypted token", (
        "Could not decrypt the encrypted token: the Key does not belong to this registration ID."))


def oproxy_malformed_token() -> TokenServiceProblem:
    return TokenServiceProblem(400, "Malformed encrypted token",
                               "The encrypted token is not of the form '<epoch seconds>:<tenant id>'.")


def oproxy_tenant_mismatch() -> TokenServiceProblem:
    return TokenServiceProblem(401, "Tenant mismatch", "The Token (tenant ID) does not match this registration.")


def oproxy_stale_token() -> TokenServiceProblem:
    return TokenServiceProblem(401, "Stale encrypted token", (
        "The encrypted token timestamp is more than 10 minutes away from the token service's time; check the clock "
        "of the Cortex XSOAR server."))


# ---------------------------------------------------------------- bearer tokens ARM refuses
class TokenRejected(Exception):
    """A bearer token ARM must refuse. `code` is ARM's error code; ARM answers 401 with it and `message`."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def no_authorization_header() -> TokenRejected:
    return TokenRejected("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")


def malformed_authorization_header() -> TokenRejected:
    return TokenRejected("AuthenticationFailed",
                         "Authentication failed. The 'Authorization' header is provided in an invalid format.")


def invalid_token() -> TokenRejected:
    return TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")


def expired_token(expiry: float, now: float) -> TokenRejected:
    return TokenRejected("ExpiredAuthenticationToken", f"The access token expiry UTC time '{dotnet_utc(expiry)}' is "
                                                       f"earlier than current UTC time '{dotnet_utc(now)}'.")


def wrong_audience(audience: object, audiences: set[str]) -> TokenRejected:
    listed = ",".join(f"'{a}'" for a in sorted(audiences))
    return TokenRejected("InvalidAuthenticationTokenAudience",
                         f"The access token has been obtained for wrong audience or resource '{audience}'. It should "
                         f"exactly match with one of the allowed audiences {listed}.")
