"""Azure Containment: contain threats in Microsoft Azure from Cortex XSOAR.

Block attacker IPs with NSG deny rules, isolate VMs behind a dedicated deny-all NSG, and power VMs on or off;
every action reversible, safe to repeat and correct when many incidents act at once.
"""
import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401,F403

from CommonServerUserPython import *  # noqa: F401,F403

''' CONSTANTS '''
# SECTION 1 (auth/client owner): api-versions, cloud endpoint table, error-hint table.
# SECTION 1b (containment owner): managed-resource naming (rule prefix, isolation NSG naming, tags).

''' TOKEN ACQUISITION '''
# SECTION 2 (auth/client owner): one class hiding MSAL and the Cortex XSOAR application mode.

''' ARM CLIENT '''
# SECTION 3 (auth/client owner): AzureClient - requests.Session, retries, LRO poller, ARM error -> message.
#
# Interface the containment commands rely on (see the docstrings in the real class):
#   client.subscription_id / client.resource_group / client.default_nsg_name   instance defaults
#   client.scope(subscription_id=None, resource_group=None) -> (sub, rg)        args override defaults
#   client.arm_request(method, path, *, api_version, params=None, body=None,
#                      retry_busy=True) -> requests.Response                     raises AzureApiError
#   client.arm_json(method, path, ...) -> dict                                   same, parsed body ({} if none)
#   client.list_pages(path, *, api_version, params=None, limit=None) -> list    follows nextLink
#   client.operation_status(response_or_url) -> dict {status, retry_after, url}  one LRO poll
#   client.wait_for_operation(response, timeout) -> dict                        polls until terminal
#   AzureApiError(DemistoException): .status, .code, .message, .retry_after

''' HELPERS '''
# SECTION 4 (containment owner): resource-ID parsing, name validation, IP normalisation, priority choice.

''' COMMANDS '''
# SECTION 5a (auth/client owner): test-module, azure-containment-generate-login-url / -auth-test / -auth-reset.
# SECTION 5b (containment owner): block/unblock, isolate/unisolate, power, get/list commands.

''' MAIN '''


def main() -> None:  # pragma: no cover - replaced by the auth/client owner
    return_error('Not configured yet: authentication has not landed.')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()
