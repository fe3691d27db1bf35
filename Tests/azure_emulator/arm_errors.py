"""ARM error bodies and messages, worded as Azure Resource Manager words them.

Body shape (ARM CloudError): {"error": {"code", "message", "details": [...]}}. Messages marked [unverified] in
the comments are plausible reconstructions; the rest follow observed responses.
"""
from __future__ import annotations

from .http import Response

RESOURCE_NOT_FOUND_SUFFIX = " For more details please go to https://aka.ms/ARMResourceNotFoundFix"

NAME_RULES = ("The name can be up to 80 characters long. It must begin with a word character, and it must end "
              "with a word character or with '_'. The name may contain word characters or '.', '-', '_'.")


class ArmError(Exception):
    """An ARM error answer. `response()` gives the HTTP response with ARM's body."""

    def __init__(self, status: int, code: str, message: str, *, details: list | None = None,
                 headers: dict | None = None, target: str | None = None, gateway: bool = False):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.details = details if details is not None else []
        self.headers = dict(headers or {})
        self.target = target
        if gateway:  # ARM itself (not the resource provider) rejected the request
            self.headers["x-ms-failure-cause"] = "gateway"

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return Response(self.status, self.body(), dict(self.headers))


def missing_api_version() -> ArmError:
    return ArmError(400, "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.", gateway=True)


def invalid_api_version(value: str, supported: str) -> ArmError:
    return ArmError(400, "InvalidApiVersionParameter",
                    f"The api-version '{value}' is invalid. The supported versions are '{supported}'.", gateway=True)


def authentication(code: str, message: str, login_url: str = "") -> ArmError:
    challenge = f'Bearer authorization_uri="{login_url}", error="invalid_token", error_description="{message}"'
    return ArmError(401, code, message, headers={"WWW-Authenticate": challenge}, gateway=True)


def authorization_failed(client: str, oid: str, action: str, scope: str) -> ArmError:
    return ArmError(403, "AuthorizationFailed",
                    f"The client '{client}' with object id '{oid}' does not have authorization to perform action "
                    f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                    f"please refresh your credentials.", gateway=True)


def linked_authorization_failed(client: str, oid: str, action: str, scope: str, linked_action: str,
                                linked_scope: str) -> ArmError:
    return ArmError(403, "LinkedAuthorizationFailed",
                    f"The client '{client}' with object id '{oid}' has permission to perform action '{action}' on "
                    f"scope '{scope}'; however, it does not have permission to perform action(s) '{linked_action}' "
                    f"on the linked scope(s) '{linked_scope}' (respectively) or the linked scope(s) are invalid.",
                    gateway=True)


def subscription_not_found(sub: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.", gateway=True)


def resource_group_not_found(rg: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.", gateway=True)


def resource_not_found(type_path: str, rg: str) -> ArmError:
    # type_path like "Microsoft.Network/networkSecurityGroups/web-nsg"
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{type_path}' under resource group '{rg}' was not found."
                    + RESOURCE_NOT_FOUND_SUFFIX, gateway=True)


def invalid_request_uri(path: str) -> ArmError:
    return ArmError(404, "InvalidRequestUri", f"The request URI '{path}' is not valid.", gateway=True)


def child_not_found(resource_id: str) -> ArmError:
    # Network RP answer for a missing child resource (security rule, subnet) [unverified wording]
    return ArmError(404, "NotFound", f"Resource {resource_id} not found.")


def invalid_resource_name(name: str) -> ArmError:
    return ArmError(400, "InvalidResourceName", f"Resource name {name} is invalid. {NAME_RULES}")


def invalid_request_content(detail: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{detail}'.", gateway=True)


def another_operation(resource_id: str, op_name: str, other_op: str, other_id: str, retry_after: int) -> ArmError:
    # Network RP: the resource is locked by a write still in progress [unverified wording]
    return ArmError(429, "RetryableErrorDueToAnotherOperation",
                    f"Operation {op_name} on resource {resource_id} cannot be performed now because another "
                    f"operation {other_op} ({other_id}) is in progress on this resource. Retry the request after "
                    f"the current operation completes.", headers={"Retry-After": str(retry_after)})


def referenced_not_provisioned(resource_id: str, referenced_id: str, state: str, retry_after: int) -> ArmError:
    detail = {"code": "ReferencedResourceNotProvisioned",
              "message": f"Cannot proceed with operation because resource {referenced_id} used by resource "
                         f"{resource_id} is not in Succeeded state. Resource is in {state} state and the last "
                         f"operation that updated/is updating the resource is PutNetworkSecurityGroupOperation."}
    return ArmError(429, "RetryableError", "A retryable error occurred.", details=[detail],
                    headers={"Retry-After": str(retry_after)})


def operation_not_allowed(message: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed", message)

