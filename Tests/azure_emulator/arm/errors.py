"""Every error Azure Resource Manager answers in the emulator, built here and nowhere else: one factory per ARM
error code (a code whose wording depends on the situation takes that situation as arguments).

Body shape (ARM's CloudError): {"error": {"code", "message"[, "target"], "details": [...]}}. `gateway=True` marks an
error ARM itself gives (not the resource provider): such answers carry `x-ms-failure-cause: gateway`. Wordings
marked [unverified] are plausible reconstructions; the rest follow the REST specs' examples and observed responses.
A long-running operation that fails reports `{"code", "message"}` of its error in the operation status
(`ArmError.operation_error`), with the error's status on the operation's result URL.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..http import Response

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
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        error["details"] = self.details
        return {"error": error}

    def response(self) -> Response:
        return Response(self.status, self.body(), dict(self.headers))

    def operation_error(self) -> dict:
        """The error as a failed long-running operation's status reports it."""
        return {"code": self.code, "message": self.message}


def _retry_after(seconds: int) -> dict:
    return {"Retry-After": str(seconds)}


# ---------------------------------------------------------------- the front door: URL, api-version, authentication
def unknown_path(path: str) -> ArmError:
    """A path outside /subscriptions (ARM's own answer; the empty path is NotFound)."""
    return ArmError(404, "InvalidRequestUri" if path.strip("/") else "NotFound",
                    f"The request URI '{path}' is not valid for Azure Resource Manager.", gateway=True)


def invalid_request_uri(path: str) -> ArmError:
    return ArmError(404, "InvalidRequestUri", f"The request URI '{path}' is not valid.", gateway=True)


def method_not_allowed(method: str) -> ArmError:
    return ArmError(405, "HttpMethodNotAllowed", f"The HTTP method '{method}' is not supported for this resource.",
                    gateway=True)


def invalid_resource_type(resource_type: str, namespace: str, api_version: str | None) -> ArmError:
    return ArmError(400, "InvalidResourceType", f"The resource type '{resource_type}' could not be found in the "
                    f"namespace '{namespace}' for api version '{api_version}'.", gateway=True)


def missing_api_version() -> ArmError:
    return ArmError(400, "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.", gateway=True)


def invalid_api_version(value: str, supported: str) -> ArmError:
    return ArmError(400, "InvalidApiVersionParameter",
                    f"The api-version '{value}' is invalid. The supported versions are '{supported}'.", gateway=True)


def authentication(code: str, message: str, login_url: str = "") -> ArmError:
    """401 with the bearer challenge; `code` is one of the identity service's TokenRejected codes
    (AuthenticationFailed, InvalidAuthenticationToken, ExpiredAuthenticationToken, ...)."""
    challenge = f'Bearer authorization_uri="{login_url}", error="invalid_token", error_description="{message}"'
    return ArmError(401, code, message, headers={"WWW-Authenticate": challenge}, gateway=True)


def no_identity_service(login_url: str) -> ArmError:
    return authentication("AuthenticationFailed",
                          "Authentication failed. No identity service is available in this emulator.", login_url)


def wrong_token_tenant(token_tenant: str, subscription_tenant: str, login_url: str) -> ArmError:
    return authentication(
        "InvalidAuthenticationTokenTenant",
        f"The access token is from the wrong issuer 'https://sts.windows.net/{token_tenant}/'. It must match the "
        f"tenant 'https://sts.windows.net/{subscription_tenant}/' associated with this subscription. Please use "
        f"the authority (URL) 'https://login.windows.net/{subscription_tenant}' to get the token.", login_url)


# ---------------------------------------------------------------- RBAC
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


# ---------------------------------------------------------------- not found
def subscription_not_found(sub: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.", gateway=True)


def resource_group_not_found(rg: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.", gateway=True)


def resource_not_found(type_path: str, rg: str) -> ArmError:
    # type_path like "Microsoft.Network/networkSecurityGroups/web-nsg"
    return ArmError(404, "ResourceNotFound",
                    f"The Resource '{type_path}' under resource group '{rg}' was not found."
                    + RESOURCE_NOT_FOUND_SUFFIX, gateway=True)


def child_not_found(resource_id: str) -> ArmError:
    # Network RP answer for a missing child resource (security rule, subnet) [unverified wording]
    return ArmError(404, "NotFound", f"Resource {resource_id} not found.")


def operation_not_found(operation_id: str) -> ArmError:
    return ArmError(404, "NotFound", f"The operation '{operation_id}' could not be found.")


# ---------------------------------------------------------------- request content
def invalid_request_content(detail: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{detail}'.", gateway=True)


def invalid_skip_token() -> ArmError:
    return ArmError(400, "InvalidSkipToken", "The provided $skiptoken is not valid.")


def invalid_parameter(name: str, value: str, allowed: tuple[str, ...]) -> ArmError:
    listed = ", ".join(f"'{a}'" for a in allowed)
    return ArmError(400, "InvalidParameter", f"The value '{value}' of parameter '{name}' is not valid. "
                    f"Allowed values are {listed}.", target=name)


def invalid_resource_name(name: str) -> ArmError:
    return ArmError(400, "InvalidResourceName", f"Resource name {name} is invalid. {NAME_RULES}")


def location_required() -> ArmError:
    return ArmError(400, "LocationRequired", "The location property is required for this definition.")


def invalid_resource_location(name: str, location: str, rg: str, requested: str) -> ArmError:
    return ArmError(400, "InvalidResourceLocation",
                    f"The resource '{name}' already exists in location '{location}' in resource group '{rg}'. A "
                    f"resource with the same name cannot be created in location '{requested}'. Please select a new "
                    f"resource name.", gateway=True)


def duplicate_resource_name(resource_id: str, child: str) -> ArmError:
    return ArmError(400, "DuplicateResourceName",
                    f"Resource {resource_id} has two child resources with the same name ({child}).")


def invalid_resource_reference(referenced_id: str, resource_id: str) -> ArmError:
    return ArmError(400, "InvalidResourceReference",
                    f"Resource {referenced_id} referenced by resource {resource_id} was not found. Please make sure "
                    f"that the referenced resource exists, and that both resources are in the same region.")


# ---------------------------------------------------------------- network security rules
def rule_invalid_value(rule_id: str, field: str, value: Any, allowed: str) -> ArmError:
    """SecurityRuleInvalidProtocol / Access / Direction / Priority: `allowed` ends the message."""
    return ArmError(400, f"SecurityRuleInvalid{field}",
                    f"Security rule {rule_id} has invalid {field}. Value provided: {value}. {allowed}")


def rule_description_too_long(rule_id: str, length: int, limit: int) -> ArmError:
    return ArmError(400, "SecurityRuleDescriptionTooLong",   # [unverified code]
                    f"Security rule {rule_id} has a description of {length} characters. "
                    f"The description is restricted to {limit} characters.")


def rule_invalid_port_range(value: Any) -> ArmError:
    return ArmError(400, "SecurityRuleInvalidPortRange",
                    f"Security rule has invalid Port range. Value provided: {value}. Value should be an integer OR "
                    f"integer range with '-' delimiter. Valid range 0-65535.")


def rule_invalid_address_prefix(rule_id: str, value: Any) -> ArmError:
    return ArmError(400, "SecurityRuleInvalidAddressPrefix",
                    f"Security rule {rule_id} has invalid Address prefix. Value provided: {value}")


def rule_prefix_fields_together(rule_id: str, side: str) -> ArmError:
    """SecurityRuleParameterContainsUnsupportedValue: the singular and the plural prefix field both given."""
    return ArmError(400, "SecurityRuleParameterContainsUnsupportedValue",   # [unverified wording]
                    f"Security rule parameter {side}AddressPrefix for rule with Id {rule_id} cannot be specified "
                    f"together with {side}AddressPrefixes. Use one of them.")


def rule_tag_in_prefix_list(rule_id: str, side: str, value: str) -> ArmError:
    """SecurityRuleParameterContainsUnsupportedValue: a service tag or '*' inside the plural prefix list."""
    return ArmError(400, "SecurityRuleParameterContainsUnsupportedValue",
                    f"Security rule parameter {side}AddressPrefixes for rule with Id {rule_id} cannot specify "
                    f"existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system tags. Unsupported value "
                    f"used: {value}.")


def mixed_address_families(resource_id: str) -> ArmError:
    return ArmError(400, "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
                    f"Resource {resource_id} contains IP addresses or prefixes that belong to different address "
                    f"families. All IP addresses or prefixes in the resource should belong to the same address "
                    f"family.")


def rule_conflict(rule: str, other: str) -> ArmError:
    return ArmError(400, "SecurityRuleConflict",
                    f"Security rule {rule} conflicts with rule {other}. Rules cannot have the same Priority and "
                    f"Direction. To learn more, see aka.ms/nsgrules.")


def rule_count_limit(limit: int) -> ArmError:
    return ArmError(400, "SecurityRuleCountLimitReached",
                    f"A security group cannot have more than {limit} security rules.")


def prefixes_per_group_limit(nsg_id: str, total: int, label: str, limit: int) -> ArmError:
    return ArmError(400, "SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached",
                    f"Network security group {nsg_id} has {total} {label}. A security group cannot have more than "
                    f"{limit} {label} as per the limit MaxSecurityRuleAddressesOrPortsPerSecurityGroup.")


# ---------------------------------------------------------------- network security groups and interfaces
def nsg_in_use(nsg_id: str, users: list[str]) -> ArmError:
    return ArmError(400, "InUseNetworkSecurityGroupCannotBeDeleted",
                    f"Network security group {nsg_id} cannot be deleted because it is in use by the following "
                    f"resources: {', '.join(users)}. In order to delete the Network security group, remove the "
                    f"association with the resource(s). To learn how to do this, see aka.ms/deletensg.")


def nic_without_ip_configuration(nic_id: str) -> ArmError:
    return ArmError(400, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",   # [unverified code]
                    f"Network interface {nic_id} must have at least one IP configuration.")


# ---------------------------------------------------------------- effective rules and admin rules (reads)
def nic_not_attached_to_running_vm(nic_id: str) -> ArmError:
    """POST .../effectiveNetworkSecurityGroups of a NIC that no running VM uses (a recorded Azure answer)."""
    return ArmError(400, "NicMustBeAttachedToRunningVmToGetEffectiveSecurityGroups",
                    f"A network interface must be attached to a running virtual machine to get effective security "
                    f"groups. The network interface {nic_id} is not attached to a running virtual machine.")


def invalid_top(value: str) -> ArmError:
    return ArmError(400, "InvalidParameter",   # [unverified wording]
                    f"The value '{value}' of query parameter '$top' is not valid. It must be a positive integer.",
                    target="$top")


# ---------------------------------------------------------------- conflicts with running operations
def another_operation(resource_id: str, op_name: str, other_op: str, other_id: str, retry_after: int) -> ArmError:
    # Network RP: the resource is locked by a write still in progress [unverified wording]
    return ArmError(429, "RetryableErrorDueToAnotherOperation",
                    f"Operation {op_name} on resource {resource_id} cannot be performed now because another "
                    f"operation {other_op} ({other_id}) is in progress on this resource. Retry the request after "
                    f"the current operation completes.", headers=_retry_after(retry_after))


def referenced_not_provisioned(resource_id: str, referenced_id: str, state: str, retry_after: int) -> ArmError:
    detail = {"code": "ReferencedResourceNotProvisioned",
              "message": f"Cannot proceed with operation because resource {referenced_id} used by resource "
                         f"{resource_id} is not in Succeeded state. Resource is in {state} state and the last "
                         f"operation that updated/is updating the resource is PutNetworkSecurityGroupOperation."}
    return ArmError(429, "RetryableError", "A retryable error occurred.", details=[detail],
                    headers=_retry_after(retry_after))


def operation_not_allowed(operation: str, vm: str, reason: str) -> ArmError:
    return ArmError(409, "OperationNotAllowed",
                    f"Operation '{operation}' is not allowed on VM '{vm}' since the VM is {reason}.")


# ---------------------------------------------------------------- failed long-running operations
def operation_preempted() -> ArmError:
    return ArmError(409, "OperationPreempted", "Operation execution has been preempted by a more recent operation.")


def operation_failed(code: str | None = None) -> ArmError:
    """An injected failure of a long-running operation (fault kind lro_failed; `code` from the fault)."""
    return ArmError(500, code or "InternalServerError",
                    "An error occurred while processing the long-running operation. Retry the operation; if the "
                    "problem persists, contact support.")


# ---------------------------------------------------------------- transient failures (injected faults)
def throttled(retry_after: int, code: str | None = None) -> ArmError:
    return ArmError(429, code or "SubscriptionRequestsThrottled",
                    f"Number of requests exceeded the limit. Please try again after '{retry_after}' seconds. Refer to "
                    f"https://aka.ms/arm-throttling", headers=_retry_after(retry_after))


def internal_server_error(code: str | None = None) -> ArmError:
    return ArmError(500, code or "InternalServerError", "Encountered internal server error. Please retry the request.")


def service_unavailable(retry_after: int, code: str | None = None) -> ArmError:
    return ArmError(503, code or "ServiceUnavailable",
                    "The service is temporarily unavailable. Please retry the request.",
                    headers=_retry_after(retry_after))


# ---------------------------------------------------------------- ARM's token-bucket throttling (arm/throttling.py)
def requests_throttled(kind: str, scope: str, scope_id: str, actor: str, retry_after: int) -> ArmError:
    """ARM's own 429 when a principal's bucket is empty. `kind` reads/writes/deletes, `scope` subscription or
    tenant. Wording as observed: "Number of 'read' requests for subscription '<id>' actor '<oid>' exceeded. Please
    try again after '10' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for
    additional information." (the tenant-scope code and wording are [unverified])."""
    code = "SubscriptionRequestsThrottled" if scope == "subscription" else "TenantRequestsThrottled"
    return ArmError(429, code,
                    f"Number of '{kind.rstrip('s')}' requests for {scope} '{scope_id}' actor '{actor}' exceeded. "
                    f"Please try again after '{retry_after}' seconds after additional tokens are available. Refer "
                    f"to https://aka.ms/arm-throttling for additional information.",
                    headers=_retry_after(retry_after), gateway=True)


# ---------------------------------------------------------------- 429s of a resource provider, by code (fault kind 429)
def retryable_due_to_another_operation(resource_id: str, other_op: str, other_id: str, retry_after: int) -> ArmError:
    """Network RP: the resource is locked by another operation. Wording as observed (Azure/azure-sdk-for-python#556,
    cloudfoundry/bosh-azure-cpi-release#179): "Operation PutSecurityRuleOperation (<id>) is updating resource
    <resource id>. The call can be retried in 14 seconds." The code at the top level, as ARM's throttling doc names
    it (older answers wrapped it as a detail of RetryableError)."""
    return ArmError(429, "RetryableErrorDueToAnotherOperation",
                    f"Operation {other_op} ({other_id}) is updating resource {resource_id}. The call can be retried "
                    f"in {retry_after} seconds.", headers=_retry_after(retry_after))


def another_operation_in_progress(status_url: str, retry_after: int, status: int = 429) -> ArmError:
    """Network RP: "Another operation on this or dependent resource is in progress. To retrieve status of the
    operation use uri: <status URL>" (observed; its initial HTTP status varies: 409 or 429)."""
    return ArmError(status, "AnotherOperationInProgress",
                    f"Another operation on this or dependent resource is in progress. To retrieve status of the "
                    f"operation use uri: {status_url}", headers=_retry_after(retry_after))


# ---------------------------------------------------------------- tags (ARM's rules for every resource)
def invalid_tags_count(count: int, limit: int) -> ArmError:
    return ArmError(400, "InvalidTags", f"Too many tags specified. Requested tag count - '{count}'. Maximum number "
                    f"of tags allowed - '{limit}'.", gateway=True)


def invalid_tag_name_empty() -> ArmError:
    return ArmError(400, "InvalidTagName", "The tag name must be non-null, non-empty and non-whitespace only. "
                    "Please provide an actual value.", gateway=True)


def invalid_tag_name_characters(names: list[str]) -> ArmError:
    return ArmError(400, "InvalidTagNameCharacters", f"The tag names '{', '.join(names)}' have reserved characters "
                    "'<,>,%,&,\\,?,/' or control characters.", gateway=True)


def invalid_tag_name_length(names: list[str], limit: int) -> ArmError:
    return ArmError(400, "InvalidTagName", f"Tag key too large. Following tag name '{', '.join(names)}' exceeded the "
                    f"maximum length. Maximum allowed length for tag name - '{limit}' characters.", gateway=True)


def invalid_tag_value_length(values: list[str], limit: int) -> ArmError:
    return ArmError(400, "InvalidTagValueLength", f"Tag value too large. Following tag value '{', '.join(values)}' "
                    f"exceeded the maximum length. Maximum allowed length for tag value - '{limit}' characters.",
                    gateway=True)


# ---------------------------------------------------------------- Microsoft.Compute disks and snapshots
def missing_parameter(name: str) -> ArmError:
    return ArmError(400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", target=name)


def entity_not_found() -> ArmError:
    """Compute's answer for a source it cannot find in the request's region: a missing source disk, or one in
    another region than the snapshot (Compute looks the source up in the snapshot's location)."""
    return ArmError(404, "NotFound", "The entity was not found in this Azure location.")


def property_change_not_allowed(name: str) -> ArmError:
    return ArmError(409, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.", target=name)


def disk_operation_in_progress(kind: str, name: str) -> ArmError:
    # [unverified wording] a write to a snapshot whose creation or deletion still runs
    return ArmError(409, "OperationNotAllowed", f"An operation is in progress on the {kind} '{name}'; retry after it "
                    "completes.")


# ---------------------------------------------------------------- Azure Resource Graph (its own shape: BadRequest etc.
# with a support line as message and the reasons as details)
GRAPH_INVALID_QUERY = ("Query is invalid. Please refer to the documentation for the Azure Resource Graph service and "
                       "fix the error before retrying.")


def _graph_support_line(correlation_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return f"Please provide below info when asking for support: timestamp = {stamp}, correlationId = {correlation_id}."


def graph_invalid_query(correlation_id: str, detail: dict) -> ArmError:
    """400 for a query Resource Graph cannot run: InvalidQuery, then the reason (ParserFailure with line,
    characterPositionInLine and token; InvalidQueryLanguage for KQL beyond what it evaluates; SemanticError)."""
    return ArmError(400, "BadRequest", _graph_support_line(correlation_id),
                    details=[{"code": "InvalidQuery", "message": GRAPH_INVALID_QUERY}, detail])


def graph_bad_request(correlation_id: str, code: str, message: str) -> ArmError:
    """400 for a request body or option Resource Graph refuses [unverified detail codes]."""
    return ArmError(400, "BadRequest", _graph_support_line(correlation_id),
                    details=[{"code": code, "message": message}])


def graph_rate_limited(correlation_id: str, headers: dict) -> ArmError:
    return ArmError(429, "RateLimiting", _graph_support_line(correlation_id), headers=headers, details=[
        {"code": "RateLimiting", "message": "Client application has been throttled and should not attempt to repeat "
                                            "the request until an amount of time has elapsed. Please see "
                                            "https://aka.ms/resourcegraph-throttling for help."}])
