"""Azure Containment: contain threats in Microsoft Azure from Cortex XSOAR.

Block attacker IPs with NSG deny rules, isolate VMs behind a dedicated deny-all NSG, and power VMs on or off;
every action reversible, safe to repeat and correct when many incidents act at once.
"""
import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401,F403

from CommonServerUserPython import *  # noqa: F401,F403

import base64
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import msal
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

''' CONSTANTS '''
# SECTION 1 (auth/client owner): api-versions, cloud endpoint table, error-hint table.
NETWORK_API_VERSION = '2024-05-01'
COMPUTE_API_VERSION = '2024-07-01'
AUTHORIZATION_API_VERSION = '2022-04-01'
RESOURCES_API_VERSION = '2022-09-01'

# Authentication modes (the integration context cache is keyed by mode, cloud, tenant and client).
MODE_SECRET = 'client_secret'
MODE_CERTIFICATE = 'certificate'
MODE_AUTH_CODE = 'authorization_code'
MODE_MANAGED_IDENTITY = 'managed_identity'
MODE_XSOAR_APP = 'xsoar_app'
AUTH_TYPE_CLIENT_CREDENTIALS = 'Client Credentials'
AUTH_TYPE_AUTH_CODE = 'Authorization Code'
AUTH_TYPE_MANAGED_IDENTITY = 'Managed Identity'

# Instance param defaults: each equals the `defaultvalue` of the param in AzureContainment.yml.
DEFAULT_AUTH_TYPE = AUTH_TYPE_CLIENT_CREDENTIALS
DEFAULT_CLOUD = 'Worldwide'
DEFAULT_TOKEN_RETRIEVAL_URL = 'https://oproxy.demisto.ninja/obtain-token'
XSOAR_APP_NAME = 'ms-azure-compute'   # Cortex XSOAR's own multi-tenant Azure Compute application

# Login host, ARM endpoint and scope always come from the same row: a token for one cloud is useless in another.
# The China login host is the current one (login.chinacloudapi.cn is its older alias).
CLOUDS: dict[str, dict[str, str]] = {
    'Worldwide': {'login': 'https://login.microsoftonline.com', 'arm': 'https://management.azure.com'},
    'US Government': {'login': 'https://login.microsoftonline.us', 'arm': 'https://management.usgovcloudapi.net'},
    'China': {'login': 'https://login.partner.microsoftonline.cn', 'arm': 'https://management.chinacloudapi.cn'},
}
CUSTOM_CLOUD = 'Custom'

# Token reuse and request limits.
TOKEN_REFRESH_MARGIN_SECONDS = 300      # a cached access token is replaced this long before it expires
HTTP_TIMEOUT = (10, 60)                 # (connect, read) seconds for every request
ARM_MAX_RETRIES = 4                     # 429/5xx retries of one ARM request (after the first attempt)
ARM_MAX_RETRY_WAIT_SECONDS = 30         # a Retry-After longer than this is not waited for: the error says when
ARM_DEFAULT_RETRY_SECONDS = 2           # back-off base when a 429/5xx carries no Retry-After
LRO_DEFAULT_POLL_SECONDS = 5            # poll interval when an operation status carries no Retry-After
XSOAR_APP_BACKOFF_BASE_SECONDS = 10     # Cortex XSOAR app mode: wait after the first failure, doubled each time
XSOAR_APP_BACKOFF_MAX_SECONDS = 3600
CTX_AUTH_KEY = 'azure_containment_auth'  # the only integration-context key the authentication code writes

GUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
DOMAIN_RE = re.compile(r'^(?=.{4,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$')
AUTH_CODE_RE = re.compile(r'^[A-Za-z0-9._\-~+/=]{8,}$')
RESOURCE_GROUP_RE = re.compile(r'^[-\w._()]{0,89}[-\w_()]$')

# Every action a command of this pack performs, and the built-in role that grants it (test-module checks them).
REQUIRED_ACTIONS: dict[str, str] = {
    'Microsoft.Compute/virtualMachines/read': 'Virtual Machine Contributor',
    'Microsoft.Compute/virtualMachines/start/action': 'Virtual Machine Contributor',
    'Microsoft.Compute/virtualMachines/powerOff/action': 'Virtual Machine Contributor',
    'Microsoft.Compute/virtualMachines/deallocate/action': 'Virtual Machine Contributor',
    'Microsoft.Compute/virtualMachines/restart/action': 'Virtual Machine Contributor',
    'Microsoft.Network/networkSecurityGroups/read': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/write': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/delete': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/join/action': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/securityRules/read': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/securityRules/write': 'Network Contributor',
    'Microsoft.Network/networkSecurityGroups/securityRules/delete': 'Network Contributor',
    'Microsoft.Network/networkInterfaces/read': 'Network Contributor',
    'Microsoft.Network/networkInterfaces/write': 'Network Contributor',
    'Microsoft.Network/virtualNetworks/subnets/read': 'Network Contributor',
}

_RESET_STEP = ('run !azure-containment-generate-login-url, sign in, paste the new code (or the whole redirect URL) '
               'into "Authorization code", save the instance, then run !azure-containment-auth-reset and '
               '!azure-containment-auth-test')

# One table: error code -> what is wrong and which setup step fixes it. format_error() always appends the code and
# the service's own text. {placeholders} are filled from the error when known.
ERROR_HINTS: dict[str, str] = {
    # Entra ID (AADSTS codes from the token endpoint)
    'AADSTS7000215': 'Key is not a valid client secret of this app: it is most likely the secret ID instead of the '
                     'secret value, or mistyped. Fix: in Entra ID > App registrations > your app > Certificates & '
                     'secrets, copy the secret Value (not the Secret ID; create a new secret if the value is no '
                     'longer shown) into Key and save the instance.',
    'AADSTS7000222': 'The client secret in Key has expired. Fix: create a new client secret in Entra ID > App '
                     'registrations > your app > Certificates & secrets, paste its Value into Key and save the '
                     'instance (or switch to certificate authentication).',
    'AADSTS7000218': 'No client credential was sent: Key (client secret) or Certificate thumbprint + Private key is '
                     'empty. Fix: fill in Key, or both certificate fields, and save the instance.',
    'AADSTS700016': 'Entra ID has no application with this ID in this tenant. Fix: check that ID is the '
                    'Application (client) ID and Token the Directory (tenant) ID from the app registration\'s '
                    'Overview page, that the app is consented in that tenant, and that "Azure cloud" is the cloud '
                    'the app is registered in.',
    'AADSTS90002': 'The tenant in Token was not found. Fix: copy the Directory (tenant) ID from Entra ID > Overview '
                   'into Token, and check that "Azure cloud" is the cloud of that tenant.',
    'AADSTS70008': 'The authorization code (or refresh token) has expired. Fix: ' + _RESET_STEP + '.',
    'AADSTS54005': 'The authorization code was already redeemed; a code works only once. Fix: ' + _RESET_STEP + '.',
    'AADSTS700082': 'The refresh token expired because it was not used for too long. Fix: ' + _RESET_STEP + '.',
    'AADSTS50011': 'The redirect URI does not match the app registration. Fix: set "Application redirect URI" to '
                   'exactly one of the Redirect URIs in Entra ID > App registrations > your app > Authentication '
                   '(Web platform), then generate a new login URL and code.',
    'AADSTS65001': 'Nobody has consented to this app yet. Fix: an administrator grants consent (Entra ID > App '
                   'registrations > your app > API permissions: Azure Service Management user_impersonation > Grant '
                   'admin consent), or the user accepts the consent prompt of the URL from '
                   '!azure-containment-generate-login-url; then paste the new code and run '
                   '!azure-containment-auth-test.',
    'AuthorityNotFound': 'Entra ID could not load the tenant\'s configuration at {host}: Token (tenant ID) is wrong '
                         'or "Azure cloud" points to another cloud than the tenant\'s. Fix: copy the Directory '
                         '(tenant) ID into Token and pick the matching "Azure cloud" (for Custom, check "Entra ID '
                         '(Azure AD) endpoint").',
    'EntraIdError': 'Entra ID refused the token request. Fix: check ID, Token and Key against the app registration '
                    'and "Azure cloud", then run !azure-containment-auth-test.',
    # Authentication modes and input checks (raised before any request)
    'InvalidGuid': '{field} must be a GUID such as 00000000-0000-0000-0000-000000000000 (the value given is not). '
                   'Fix: {where}',
    'MissingParam': 'The instance parameter "{field}" is required for {mode}. Fix: {where}',
    'InvalidAuthCode': 'The authorization code is malformed: {detail}. Fix: paste only the value of code= from the '
                       'redirect URL (or the whole redirect URL) into "Authorization code"; or ' + _RESET_STEP + '.',
    'AuthCodeNotRedeemed': 'Authorization code mode: the Test button does not redeem the one-time code (an unsaved '
                           'instance would lose the result). Fix: save the instance, then run '
                           '!azure-containment-auth-test in the War Room.',
    'SignInRequired': 'No usable signed-in session is cached for this user. Fix: ' + _RESET_STEP + '.',
    'InvalidCertificate': 'The certificate settings are not usable: {detail}. Fix: put the SHA-1 thumbprint of the '
                          'certificate uploaded to the app registration (Certificates & secrets) into Certificate '
                          'thumbprint and its PEM private key (-----BEGIN PRIVATE KEY-----...) into Private key.',
    'InvalidEncryptionKey': 'Key is not a valid Cortex XSOAR application encryption key (base64 of 16, 24 or 32 '
                            'bytes). Fix: copy the Key exactly as shown on the consent page of the Cortex XSOAR '
                            'Azure Compute application, or check "Use a self-deployed Azure application".',
    'XsoarAppTokenFailed': 'The Cortex XSOAR token service ({host}) did not issue a token: {detail}. Fix: ID must be '
                           'the Registration ID, Token the tenant ID and Key the encryption key shown on the consent '
                           'page of the Cortex XSOAR Azure Compute application (redo the consent if unsure). {retry}',
    'XsoarAppBackoff': 'The previous {failures} request(s) to the Cortex XSOAR token service failed, so the next '
                       'attempt waits until {until} (in {seconds} s). Fix: correct ID / Token / Key, or run '
                       '!azure-containment-auth-reset to try again at once.',
    'ManagedIdentityFailed': 'No managed identity token: {detail}. Fix: managed identities work only on an engine '
                             'that runs in Azure with a system-assigned identity, or with the user-assigned identity '
                             'whose client ID is in "Managed identity client ID"; also give that identity a role '
                             'on the subscription.',
    'HostUnreachable': 'Cannot connect to {host} ({detail}). Fix: check DNS, firewall and the "Azure cloud" / '
                       'endpoint settings; if the engine reaches the internet through a proxy, check "Use system '
                       'proxy settings".',
    'TlsFailure': 'TLS verification of {host} failed ({detail}). Fix: if a TLS-inspecting proxy is in between, '
                  'check "Use system proxy settings" and trust its CA on the engine; as a last resort check "Trust '
                  'any certificate (not secure)".',
    # Azure Resource Manager
    'AuthorizationFailed': 'This identity lacks permission for {action} on {scope}. Fix: in Access control (IAM) of '
                           'the subscription or resource group assign the built-in role "{role}" (or a custom role '
                           'that includes this action) to the app / identity, wait a few minutes, then run '
                           '!azure-containment-auth-test.',
    'LinkedAuthorizationFailed': 'Attaching a network security group to a NIC also needs '
                                 'Microsoft.Network/networkSecurityGroups/join/action on the NSG. Fix: assign the '
                                 'built-in role "Network Contributor" to the app / identity on the subscription or '
                                 'resource group of the NSG.',
    'SubscriptionNotFound': 'The subscription was not found, or this identity has no role on it. Fix: check '
                            '"Subscription ID" (Azure portal > Subscriptions), that it belongs to the tenant in '
                            'Token and the selected "Azure cloud", and that the app has a role on it.',
    'InvalidSubscriptionId': 'The subscription ID is malformed. Fix: copy the Subscription ID (a GUID) from Azure '
                             'portal > Subscriptions.',
    'ResourceGroupNotFound': 'The resource group was not found in this subscription. Fix: check "Default '
                             'resource group" '
                             'in the instance or the resource_group argument.',
    'ResourceNotFound': 'The resource was not found. Fix: check the name and the resource_group / subscription_id '
                        'arguments (or the instance defaults).',
    'NotFound': 'The resource was not found. Fix: check the name and the resource_group / subscription_id arguments.',
    'InvalidAuthenticationTokenAudience': 'The token was issued for another Azure cloud or resource than this ARM '
                                          'endpoint. Fix: make "Azure cloud" (for Custom: "Entra ID (Azure AD) '
                                          'endpoint" and '
                                          '"Resource Manager endpoint") match, then run !azure-containment-auth-reset.',
    'ExpiredAuthenticationToken': 'Azure Resource Manager says the access token has expired, even after one '
                                  'refresh. Fix: check the clock of the XSOAR server / engine, then run '
                                  '!azure-containment-auth-reset.',
    'InvalidAuthenticationToken': 'Azure Resource Manager rejected the access token, even after one refresh. Fix: '
                                  'check that "Azure cloud" matches the tenant, then run '
                                  '!azure-containment-auth-reset.',
    'AuthenticationFailed': 'Azure Resource Manager could not authenticate the request. Fix: run '
                            '!azure-containment-auth-reset and !azure-containment-auth-test.',
    'RetryableErrorDueToAnotherOperation': 'Another operation on the same resource was still running after the '
                                           'retries. Fix: run the command again in a minute.',
    'RetryableError': 'A resource this change depends on is still being updated. Fix: run the command again in a '
                      'minute.',
    'AnotherOperationInProgress': 'Another operation on this resource is in progress. Fix: run the command again '
                                  'when it has finished.',
    'SecurityRuleConflict': 'Another rule of this NSG already uses that priority and direction (usually a parallel '
                            'change). Fix: run the command again; it takes the next free priority.',
    'SubscriptionRequestsThrottled': 'Azure is throttling this identity\'s requests{retry_after}. Fix: wait, and run '
                                     'fewer commands in parallel.',
    'TooManyRequests': 'Azure is throttling requests{retry_after}. Fix: wait, and run fewer commands in parallel.',
    'ServerError': 'Azure Resource Manager failed (HTTP {status}) after the retries. Fix: run the command again '
                   'later; check https://status.azure.com if it persists.',
    'OperationTimeout': 'The operation did not finish within {seconds} s. Fix: check its state with '
                        '!azure-vm-get and run the command again if needed.',
}

# HTTP status -> the code used when an ARM error body carries none.
_STATUS_CODES = {401: 'AuthenticationFailed', 403: 'AuthorizationFailed', 404: 'NotFound', 429: 'TooManyRequests'}


def role_for_action(action: str) -> str:
    """The built-in role that grants `action` (case-insensitive): the table, then a rule by provider."""
    for known, role in REQUIRED_ACTIONS.items():
        if known.lower() == (action or '').lower():
            return role
    lowered = (action or '').lower()
    if lowered.endswith('/read'):
        return 'Reader'
    if lowered.startswith('microsoft.compute/'):
        return 'Virtual Machine Contributor'
    if lowered.startswith('microsoft.network/'):
        return 'Network Contributor'
    return 'Contributor'


def format_error(code: str, original: str = '', **fields: Any) -> str:
    """The friendly text for `code`: what is wrong and which setup step fixes it, then the code and the original
    text, e.g. "Key is not a valid client secret ... (AADSTS7000215: Invalid client secret provided...)"."""
    template = ERROR_HINTS.get(code)
    if template is None:
        return f'{code}: {original}' if original else code

    class _Defaults(dict):
        def __missing__(self, key: str) -> str:
            return '' if key in ('retry', 'retry_after') else 'unknown'

    text = template.format_map(_Defaults({k: v for k, v in fields.items() if v is not None}))
    original = (original or '').strip()
    return f'{text} ({code}: {original})' if original else f'{text} ({code})'

# SECTION 1b (containment owner): managed-resource naming (rule prefix, isolation NSG naming, tags).

''' TOKEN ACQUISITION '''
# SECTION 2 (auth/client owner): one class hiding MSAL and the Cortex XSOAR application mode.


class AzureAuthError(DemistoException):
    """Authentication failed or cannot start. `.message` is already the friendly text (it keeps `.code`)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


def credential_value(value: Any) -> str:
    """The secret of a type 9 (credentials) param: its `password`; a plain string is accepted as is."""
    if isinstance(value, dict):
        value = value.get('password') or ''
    return str(value or '').strip()


def host_of(url: str) -> str:
    parsed = urlparse(url or '')
    return f'{parsed.scheme}://{parsed.netloc}' if parsed.netloc else (url or '')


def first_line(text: str, limit: int = 300) -> str:
    line = (text or '').replace('\r', '\n').split('\n')[0].strip()
    return line[:limit]


def connection_error(exc: Exception, url: str) -> tuple[str, str]:
    """(code, friendly message) for a failed connection: TlsFailure or HostUnreachable, naming the host."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or 'CERTIFICATE_VERIFY_FAILED' in text:
        detail = 'certificate verify failed' if 'CERTIFICATE_VERIFY_FAILED' in text else type(exc).__name__
        return 'TlsFailure', format_error('TlsFailure', host=host_of(url), detail=detail)
    if isinstance(exc, requests.exceptions.Timeout):
        detail = 'timed out'
    elif 'Name or service not known' in text or 'nodename nor servname' in text or 'getaddrinfo' in text:
        detail = 'host name not resolved'
    elif 'Connection refused' in text:
        detail = 'connection refused'
    elif 'reset' in text.lower() or 'aborted' in text.lower():
        detail = 'connection reset'
    else:
        detail = type(exc).__name__
    return 'HostUnreachable', format_error('HostUnreachable', host=host_of(url), detail=detail)


def require_guid(value: str, field: str, where: str) -> str:
    """`value` when it is a GUID, else an AzureAuthError naming the field (no request is made)."""
    if not GUID_RE.match(value or ''):
        raise AzureAuthError('InvalidGuid', format_error('InvalidGuid', field=field, where=where))
    return value


def validate_tenant(value: str) -> str:
    """A tenant is a GUID or a verified domain name (contoso.onmicrosoft.com); anything else is refused."""
    if GUID_RE.match(value or '') or (DOMAIN_RE.match(value or '') and not re.match(r'^[0-9a-fA-F-]+$', value)):
        return value
    raise AzureAuthError('InvalidGuid', format_error(
        'InvalidGuid', field='Token (tenant ID)',
        where='copy the Directory (tenant) ID from Entra ID > Overview (or the app registration\'s Overview).'))


def clean_auth_code(raw: str) -> str:
    """The bare one-time code from what a user pasted: the code itself, `code=...`, a code followed by
    `&session_state=...`/`&state=...`, or the whole redirect URL. Anything else raises InvalidAuthCode."""
    text = (raw or '').strip()
    if not text:
        raise AzureAuthError('InvalidAuthCode', format_error('InvalidAuthCode', detail='it is empty'))
    query = ''
    if text.lower().startswith(('http://', 'https://')):
        parsed = urlparse(text)
        query = parsed.query or parsed.fragment
    elif '=' in text.split('&')[0] and text.split('&')[0].split('=')[0].lower() in ('code', '?code'):
        query = text.lstrip('?')
    elif '&' in text:
        query = 'code=' + text
    if query:
        values = parse_qs(query, keep_blank_values=True)
        if 'error' in values:
            reason = first_line((values.get('error_description') or values['error'])[0], 200)
            detail = f'the sign-in returned an error ({reason})'
            raise AzureAuthError('InvalidAuthCode', format_error('InvalidAuthCode', detail=detail))
        codes = values.get('code') or []
        if len(codes) != 1 or not codes[0]:
            raise AzureAuthError('InvalidAuthCode',
                                 format_error('InvalidAuthCode', detail='no code= value found in it'))
        text = codes[0]
    if not AUTH_CODE_RE.match(text):
        raise AzureAuthError('InvalidAuthCode', format_error(
            'InvalidAuthCode', detail='it contains spaces or characters a code never has, or is too short'))
    return text


def rebuild_pem(text: str) -> str:
    """A PEM private key from the Private key param: XSOAR's single-line fields often turn its line breaks into
    spaces, so the base64 body is re-wrapped at 64 characters between its BEGIN/END lines."""
    match = re.search(r'-----BEGIN ([A-Z0-9 ]+?)-----(.*?)-----END \1-----', text or '', re.DOTALL)
    if not match:
        raise AzureAuthError('InvalidCertificate', format_error(
            'InvalidCertificate', detail='Private key has no -----BEGIN ... PRIVATE KEY----- block'))
    label, body = match.group(1), re.sub(r'\s+', '', match.group(2))
    if 'PRIVATE KEY' not in label or 'ENCRYPTED' in label:
        raise AzureAuthError('InvalidCertificate', format_error(
            'InvalidCertificate', detail=f'Private key holds a "{label}" block, not an unencrypted private key'))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '\n'.join([f'-----BEGIN {label}-----', *lines, f'-----END {label}-----', ''])


def normalize_thumbprint(text: str) -> str:
    value = re.sub(r'[\s:]', '', text or '').upper()
    if not re.fullmatch(r'[0-9A-F]{40}', value):
        raise AzureAuthError('InvalidCertificate', format_error(
            'InvalidCertificate', detail='Certificate thumbprint is not a SHA-1 thumbprint (40 hex digits)'))
    return value


# --- integration-context store: {CTX_AUTH_KEY: {identity key: {msal_cache, http_cache, access_token, ...}}} ---

def auth_store_read(identity_key: str) -> dict:
    context = get_integration_context() or {}
    return dict(((context.get(CTX_AUTH_KEY) or {}).get(identity_key)) or {})


def auth_store_update(identity_key: str, updates: dict, remove: tuple = ()) -> None:
    """Merge `updates` into this identity's slot (re-read just before writing); other keys are kept."""
    context = dict(get_integration_context() or {})
    store = dict(context.get(CTX_AUTH_KEY) or {})
    slot = dict(store.get(identity_key) or {})
    slot.update(updates)
    for key in remove:
        slot.pop(key, None)
    store[identity_key] = slot
    context[CTX_AUTH_KEY] = store
    set_integration_context(context)


def auth_store_clear() -> int:
    """Forget every identity's tokens, MSAL caches and back-off; returns how many identities were cached."""
    context = dict(get_integration_context() or {})
    count = len(context.pop(CTX_AUTH_KEY, None) or {})
    set_integration_context(context)
    return count


class _CachedResponse:
    """A discovery response restored from the integration context, shaped as MSAL's http cache expects."""

    def __init__(self, status_code: int, text: str, headers: dict):
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise requests.HTTPError(f'HTTP Error: {self.status_code}')


_HTTP_CACHE_INDEX = '_index_'   # the key under which MSAL's expiring mapping keeps its (heap, timestamps) index


def http_cache_load(data: dict | None) -> dict:
    """MSAL's http_cache mapping rebuilt from its JSON form (only unexpired successful GETs are stored)."""
    mapping: dict = {}
    sequence: list = []
    timestamps: dict = {}
    now = int(time.time())
    for key, item in ((data or {}).get('entries') or {}).items():
        if item.get('expires_at', 0) <= now:
            continue
        mapping[key] = _CachedResponse(item['status_code'], item['text'], dict(item.get('headers') or {}))
        sequence.append([item['expires_at'], item['created_at'], key])
        timestamps[key] = [item['expires_at'], item['created_at']]
    if timestamps:
        sequence.sort()
        mapping[_HTTP_CACHE_INDEX] = (sequence, timestamps)
    return mapping


def http_cache_dump(mapping: dict) -> dict:
    """The JSON form of MSAL's http_cache: successful GETs (discovery documents) only, never a POST (token)."""
    index = mapping.get(_HTTP_CACHE_INDEX)
    entries = {}
    for key, stamps in ((index[1] if index else None) or {}).items():
        value = mapping.get(key)
        status = getattr(value, 'status_code', 0)
        if not str(key).startswith('GET ') or not 200 <= status < 300:
            continue
        headers = {k: v for k, v in dict(getattr(value, 'headers', {}) or {}).items() if k.lower() == 'content-type'}
        entries[key] = {'status_code': status, 'text': value.text, 'headers': headers,
                        'expires_at': stamps[0], 'created_at': stamps[1]}
    return {'entries': entries}


class AzureTokenProvider:
    """Access tokens for Azure Resource Manager in every mode, cached in the integration context.

    Modes: client secret, certificate, authorization code (delegated), managed identity (all through MSAL), and the
    Cortex XSOAR application (XSOAR's token service). MSAL gets our requests.Session as its http_client and an
    http_cache plus a SerializableTokenCache persisted per identity, so in steady state a command makes no Entra ID
    request at all. The cache slot is keyed by mode, cloud, tenant and client.
    """

    def __init__(self, *, mode: str, login_url: str, arm_url: str, tenant_id: str, client_id: str,
                 session: requests.Session, custom_cloud: bool = False, client_secret: str = '',
                 certificate_thumbprint: str = '', private_key: str = '', auth_code: str = '', redirect_uri: str = '',
                 enc_key: str = '', token_retrieval_url: str = DEFAULT_TOKEN_RETRIEVAL_URL,
                 app_name: str = XSOAR_APP_NAME):
        self.mode = mode
        self.login_url = login_url.rstrip('/')
        self.arm_url = arm_url.rstrip('/')
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.session = session
        self.custom_cloud = custom_cloud
        self.client_secret = client_secret
        self.certificate_thumbprint = certificate_thumbprint
        self.private_key = private_key
        self.raw_auth_code = auth_code
        self.redirect_uri = redirect_uri
        self.enc_key = enc_key
        self.token_retrieval_url = token_retrieval_url
        self.app_name = app_name
        self.last_source = ''
        for value in (client_secret, private_key, auth_code, enc_key):
            if value:
                add_sensitive_log_strs(value)

    @property
    def identity_key(self) -> str:
        return '|'.join([self.mode, self.login_url, self.arm_url, (self.tenant_id or '').lower(),
                         (self.client_id or 'system-assigned').lower()])

    @property
    def scopes(self) -> list[str]:
        if self.mode == MODE_AUTH_CODE:
            return [f'{self.arm_url}/user_impersonation']
        return [f'{self.arm_url}/.default']

    # -- public ------------------------------------------------------------------------------------------------

    def get_token(self, *, force_refresh: bool = False, allow_redeem: bool = True) -> str:
        """A valid ARM access token. force_refresh drops the cached access token first (after ARM said 401).
        allow_redeem=False (test-module) refuses to redeem a one-time authorization code."""
        if self.mode == MODE_XSOAR_APP:
            return self._xsoar_app_token(force_refresh)
        return self._msal_token(force_refresh, allow_redeem)

    def has_cached_sign_in(self) -> bool:
        """Auth-code mode: a refresh token for this identity is cached (the code was redeemed before)."""
        cache = msal.SerializableTokenCache()
        serialized = auth_store_read(self.identity_key).get('msal_cache')
        if serialized:
            cache.deserialize(serialized)
        return bool(list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)))

    def authorize_url(self) -> str:
        """The sign-in URL of the auth-code flow for this cloud, tenant, client and redirect URI."""
        query = urlencode({
            'client_id': self.client_id, 'response_type': 'code', 'redirect_uri': self.redirect_uri,
            'response_mode': 'query', 'scope': f'offline_access {self.arm_url}/user_impersonation',
            'state': secrets.token_urlsafe(16),
        })
        return f'{self.login_url}/{self.tenant_id}/oauth2/v2.0/authorize?{query}'

    # -- MSAL modes --------------------------------------------------------------------------------------------

    def _msal_token(self, force_refresh: bool, allow_redeem: bool) -> str:
        slot = auth_store_read(self.identity_key)
        cache = msal.SerializableTokenCache()
        if slot.get('msal_cache'):
            cache.deserialize(slot['msal_cache'])
        for kind in (msal.TokenCache.CredentialType.ACCESS_TOKEN, msal.TokenCache.CredentialType.REFRESH_TOKEN):
            for item in cache.search(kind):
                if item.get('secret'):
                    add_sensitive_log_strs(item['secret'])
        http_cache = http_cache_load(slot.get('http_cache'))
        before = http_cache_dump(http_cache)
        if force_refresh:
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        try:
            result = self._msal_acquire(cache, http_cache, allow_redeem)
        finally:
            updates: dict = {}
            if cache.has_state_changed:
                updates['msal_cache'] = cache.serialize()
            after = http_cache_dump(http_cache)
            if after != before:
                updates['http_cache'] = after
            if updates:
                auth_store_update(self.identity_key, updates)
        return self._token_from_result(result)

    def _msal_acquire(self, cache: Any, http_cache: dict, allow_redeem: bool) -> dict:
        target = self.login_url
        try:
            if self.mode == MODE_MANAGED_IDENTITY:
                target = os.environ.get('IDENTITY_ENDPOINT') or os.environ.get(
                    'AZURE_POD_IDENTITY_AUTHORITY_HOST') or 'http://169.254.169.254'
                identity = (msal.UserAssignedManagedIdentity(client_id=self.client_id) if self.client_id
                            else msal.SystemAssignedManagedIdentity())
                mi_app = msal.ManagedIdentityClient(identity, http_client=self.session, token_cache=cache,
                                                    http_cache=http_cache)
                return mi_app.acquire_token_for_client(resource=f'{self.arm_url}/')
            app = self._confidential_app(cache, http_cache)
            if self.mode != MODE_AUTH_CODE:
                return app.acquire_token_for_client(self.scopes)
            accounts = app.get_accounts()
            if accounts:
                result = app.acquire_token_silent_with_error(self.scopes, account=accounts[0])
                if result:
                    return result
                raise AzureAuthError('SignInRequired', format_error('SignInRequired'))
            if not allow_redeem:
                raise AzureAuthError('AuthCodeNotRedeemed', format_error('AuthCodeNotRedeemed'))
            code = clean_auth_code(self.raw_auth_code)
            add_sensitive_log_strs(code)
            if not self.redirect_uri:
                raise AzureAuthError('MissingParam', format_error(
                    'MissingParam', field='Application redirect URI', mode='the Authorization Code mode',
                    where='enter the redirect URI registered for the app (Authentication > Web).'))
            return app.acquire_token_by_authorization_code(code, self.scopes, redirect_uri=self.redirect_uri)
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            code, message = connection_error(exc, target)
            if self.mode == MODE_MANAGED_IDENTITY:
                raise AzureAuthError('ManagedIdentityFailed', format_error(
                    'ManagedIdentityFailed', original=message, detail='the managed identity endpoint is unreachable'))
            raise AzureAuthError(code, message) from None
        except msal.ManagedIdentityError as exc:
            raise AzureAuthError('ManagedIdentityFailed', format_error(
                'ManagedIdentityFailed', original=first_line(str(exc)), detail='MSAL refused the identity')) from None
        except ValueError as exc:
            text = str(exc)
            if 'authority' in text.lower() or 'OIDC Discovery' in text:
                raise AzureAuthError('AuthorityNotFound', format_error(
                    'AuthorityNotFound', original=first_line(text, 200), host=f'{self.login_url}/{self.tenant_id}')
                ) from None
            if self.mode in (MODE_CERTIFICATE, MODE_AUTH_CODE) and self.private_key:
                raise AzureAuthError('InvalidCertificate', format_error(
                    'InvalidCertificate', detail='MSAL could not load the private key')) from None
            raise

    def _confidential_app(self, cache: Any, http_cache: dict) -> Any:
        credential: Any = self.client_secret
        if self.mode == MODE_CERTIFICATE or (self.mode == MODE_AUTH_CODE and not self.client_secret
                                             and self.private_key):
            thumbprint = normalize_thumbprint(self.certificate_thumbprint)
            pem = rebuild_pem(self.private_key)
            add_sensitive_log_strs(pem)
            try:
                from cryptography.hazmat.primitives import serialization
                serialization.load_pem_private_key(pem.encode(), password=None)
            except (ValueError, TypeError):
                raise AzureAuthError('InvalidCertificate', format_error(
                    'InvalidCertificate', detail='Private key is not a readable unencrypted PEM private key')) from None
            credential = {'thumbprint': thumbprint, 'private_key': pem}
        kwargs: dict = {'authority': f'{self.login_url}/{self.tenant_id}', 'token_cache': cache,
                        'http_client': self.session, 'http_cache': http_cache}
        if self.custom_cloud:
            kwargs['instance_discovery'] = False
        return msal.ConfidentialClientApplication(self.client_id, client_credential=credential, **kwargs)

    def _token_from_result(self, result: dict | None) -> str:
        result = result or {}
        if result.get('access_token'):
            add_sensitive_log_strs(result['access_token'])
            if result.get('refresh_token'):
                add_sensitive_log_strs(result['refresh_token'])
            self.last_source = result.get('token_source') or 'identity_provider'
            return result['access_token']
        description = str(result.get('error_description') or '')
        codes = result.get('error_codes') or []
        match = re.search(r'AADSTS\d+', description)
        code = f'AADSTS{codes[0]}' if codes else (match.group(0) if match else '')
        text = re.sub(r'^AADSTS\d+:\s*', '', first_line(description))
        if self.mode == MODE_MANAGED_IDENTITY:
            raise AzureAuthError('ManagedIdentityFailed', format_error(
                'ManagedIdentityFailed', original=f'{result.get("error") or "error"}: {text}'.strip(': '),
                detail='the managed identity endpoint refused the request'))
        if code in ERROR_HINTS:
            raise AzureAuthError(code, format_error(code, text))
        original = ' '.join(part for part in (str(result.get('error') or ''), code, text) if part)
        raise AzureAuthError('EntraIdError', format_error('EntraIdError', original))

    # -- Cortex XSOAR application mode --------------------------------------------------------------------------

    def _aes_key(self) -> bytes:
        try:
            key = base64.b64decode(self.enc_key, validate=True)
        except (ValueError, TypeError):
            key = b''
        if len(key) not in (16, 24, 32):
            raise AzureAuthError('InvalidEncryptionKey', format_error('InvalidEncryptionKey'))
        return key

    def _fingerprint(self) -> str:
        material = f'{self.client_id}|{self.tenant_id}|{self.enc_key}|{self.token_retrieval_url}'
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def _xsoar_app_token(self, force_refresh: bool) -> str:
        slot = auth_store_read(self.identity_key)
        now = time.time()
        token = slot.get('access_token')
        if token:
            add_sensitive_log_strs(token)
        if token and not force_refresh and slot.get('expires_on', 0) - TOKEN_REFRESH_MARGIN_SECONDS > now:
            self.last_source = 'cache'
            return token
        key = self._aes_key()
        fingerprint = self._fingerprint()
        backoff = slot.get('backoff') or {}
        if backoff.get('fingerprint') == fingerprint and backoff.get('next_attempt', 0) > now:
            until = datetime.fromtimestamp(backoff['next_attempt'], UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
            raise AzureAuthError('XsoarAppBackoff', format_error(
                'XsoarAppBackoff', backoff.get('last_error', ''), failures=backoff.get('failures', 1), until=until,
                seconds=int(backoff['next_attempt'] - now + 0.999)))
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, f'{int(time.time())}:{self.tenant_id}'.encode(), None)
        encrypted = base64.b64encode(nonce + sealed).decode()
        add_sensitive_log_strs(encrypted)
        body = {'app_name': self.app_name, 'registration_id': self.client_id, 'encrypted_token': encrypted,
                'scope': self.scopes[0]}
        detail = ''
        try:
            response = self.session.post(self.token_retrieval_url, json=body)
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            if response.ok and isinstance(payload, dict) and payload.get('access_token'):
                token = payload['access_token']
                add_sensitive_log_strs(token)
                if payload.get('refresh_token'):
                    add_sensitive_log_strs(payload['refresh_token'])
                expires_in = int(payload.get('expires_in') or 3599)
                auth_store_update(self.identity_key, {'access_token': token, 'expires_on': int(now) + expires_in},
                                  remove=('backoff',))
                self.last_source = 'identity_provider'
                return token
            if isinstance(payload, dict):
                for name in ('title', 'detail', 'error_description', 'message', 'error'):
                    if isinstance(payload.get(name), str) and payload[name]:
                        detail = first_line(payload[name], 200)
                        break
            detail = f'HTTP {response.status_code}' + (f': {detail}' if detail else '')
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            detail = connection_error(exc, self.token_retrieval_url)[1]
        failures = (backoff.get('failures', 0) if backoff.get('fingerprint') == fingerprint else 0) + 1
        wait = min(XSOAR_APP_BACKOFF_BASE_SECONDS * 2 ** (failures - 1), XSOAR_APP_BACKOFF_MAX_SECONDS)
        next_attempt = int(now) + wait
        auth_store_update(self.identity_key, {'backoff': {
            'fingerprint': fingerprint, 'failures': failures, 'next_attempt': next_attempt, 'last_error': detail}})
        until = datetime.fromtimestamp(next_attempt, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
        raise AzureAuthError('XsoarAppTokenFailed', format_error(
            'XsoarAppTokenFailed', detail, host=host_of(self.token_retrieval_url), detail='the request was refused',
            retry=f'Because of the failure the next attempt waits until {until} (in {wait} s); '
                  f'!azure-containment-auth-reset lifts the wait.'))


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


class AzureApiError(DemistoException):
    """An ARM request failed. `.message` is the friendly text (what is wrong, the fix, the original code and text);
    `.status` the HTTP status (0 = no response), `.code` ARM's error code, `.retry_after` seconds or None."""

    def __init__(self, message: str, *, status: int = 0, code: str = '', retry_after: int | None = None,
                 details: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.details = details

    def __str__(self) -> str:
        return self.message


class AzureSession(requests.Session):
    """The one HTTP session (ARM, and Entra ID through MSAL): verify and timeout applied to every request, proxies
    from handle_proxy(), urllib3 retries only for connections that failed before a response."""

    def __init__(self, *, verify: bool = True, proxies: dict | None = None):
        super().__init__()
        self.default_verify = verify
        if proxies:
            self.proxies.update(proxies)
        retry = Retry(total=3, connect=3, read=2, status=0, other=0, backoff_factor=0.5, raise_on_status=False,
                      allowed_methods=frozenset({'GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'}))
        adapter = HTTPAdapter(max_retries=retry)
        self.mount('https://', adapter)
        self.mount('http://', adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get('verify') is None:
            kwargs['verify'] = self.default_verify
        if kwargs.get('timeout') is None:
            kwargs['timeout'] = HTTP_TIMEOUT
        return super().request(method, url, *args, **kwargs)


def parse_retry_after(value: Any) -> int | None:
    """Retry-After in whole seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if value in (None, ''):
        return None
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        pass
    try:
        from email.utils import parsedate_to_datetime
        return max(0, int(parsedate_to_datetime(str(value)).timestamp() - time.time() + 0.999))
    except (TypeError, ValueError, IndexError):
        return None


def arm_error_message(status: int, code: str, message: str, retry_after: int | None = None) -> str:
    """The friendly text for an ARM error code (AuthorizationFailed names the action and the role granting it)."""
    if code == 'AuthorizationFailed':
        action = re.search(r"action '([^']+)'", message or '')
        scope = re.search(r"scope '([^']+)'", message or '')
        action_name = action.group(1) if action else 'the requested action'
        return format_error(code, message, action=action_name, scope=scope.group(1) if scope else 'this scope',
                            role=role_for_action(action_name) if action else 'Network Contributor / Virtual Machine '
                                                                                  'Contributor')
    if code in ERROR_HINTS:
        return format_error(code, message, status=status, retry_after=f' (retry after {retry_after} s)'
                            if retry_after else '')
    if status == 429:
        return format_error('TooManyRequests', f'{code}: {message}' if code else message,
                            retry_after=f' (retry after {retry_after} s)' if retry_after else '')
    if status >= 500:
        return format_error('ServerError', f'{code}: {message}' if code else message, status=status)
    return f'Azure Resource Manager returned HTTP {status} {code}: {message}'.strip()


class AzureClient:
    """Azure Resource Manager over one requests.Session, authenticated by an AzureTokenProvider."""

    def __init__(self, *, token_provider: AzureTokenProvider, arm_url: str, subscription_id: str = '',
                 resource_group: str = '', default_nsg_name: str = '', session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.token_provider = token_provider
        self.arm_url = arm_url.rstrip('/')
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.default_nsg_name = default_nsg_name
        self.session = session or token_provider.session
        self._sleep = sleep

    # -- scope -------------------------------------------------------------------------------------------------

    def scope(self, subscription_id: str | None = None, resource_group: str | None = None) -> tuple[str, str]:
        """(subscription, resource group): the arguments when given, else the instance defaults. The subscription
        must be a GUID; the resource group ('' when none) must be a valid name. Raises DemistoException."""
        sub = (subscription_id or self.subscription_id or '').strip()
        rg = (resource_group or self.resource_group or '').strip()
        if not sub:
            raise DemistoException('No subscription: set "Subscription ID" in the instance or pass subscription_id.')
        require_guid(sub, 'Subscription ID', 'copy the Subscription ID from Azure portal > Subscriptions.')
        if rg and not RESOURCE_GROUP_RE.match(rg):
            raise DemistoException(f'Resource group name "{rg}" is invalid: 1-90 letters, digits, "_", "-", ".", '
                                   '"(" or ")", not ending with ".".')
        return sub, rg

    # -- requests ----------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(('https://', 'http://')):
            if host_of(path).lower() != host_of(self.arm_url).lower():
                raise AzureApiError(f'Refusing to send the access token to {host_of(path)}: it is not the ARM '
                                    f'endpoint {self.arm_url}.', code='ForeignHost')
            return path
        if not path.startswith('/'):
            path = '/' + path
        return self.arm_url + path

    def arm_request(self, method: str, path: str, *, api_version: str | None = None, params: dict | None = None,
                    body: Any = None, retry_busy: bool = True) -> requests.Response:
        """One ARM call. `path` is "/subscriptions/..." (or a full ARM URL such as a nextLink or an operation URL,
        which keeps its own api-version). 429/5xx are retried honouring Retry-After (at most ARM_MAX_RETRIES
        times, never waiting longer than ARM_MAX_RETRY_WAIT_SECONDS) unless retry_busy=False. A 401 with an
        expired or invalid token refreshes the token once. Errors raise AzureApiError."""
        url = self._url(path)
        query = dict(params or {})
        if api_version and 'api-version' not in parse_qs(urlparse(url).query):
            query['api-version'] = api_version
        attempt = 0
        refreshed = False
        while True:
            token = self.token_provider.get_token(force_refresh=False)
            headers = {'Authorization': f'Bearer {token}', 'Accept': 'application/json'}
            try:
                response = self.session.request(method, url, params=query or None, headers=headers,
                                                json=body if body is not None else None)
            except (requests.exceptions.SSLError, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout) as exc:
                code, message = connection_error(exc, url)
                raise AzureApiError(message, code=code) from None
            status = response.status_code
            if status < 400:
                return response
            code, message, details = self._error_parts(response)
            if status == 401 and not refreshed and code in ('ExpiredAuthenticationToken', 'InvalidAuthenticationToken'):
                refreshed = True
                self.token_provider.get_token(force_refresh=True)
                continue
            retry_after = parse_retry_after(response.headers.get('Retry-After'))
            if (status == 429 or status >= 500) and retry_busy and attempt < ARM_MAX_RETRIES:
                wait = retry_after if retry_after is not None else ARM_DEFAULT_RETRY_SECONDS * 2 ** attempt
                if wait <= ARM_MAX_RETRY_WAIT_SECONDS:
                    attempt += 1
                    demisto.debug(f'ARM {method} {urlparse(url).path} -> {status} {code}; retry {attempt} in {wait} s')
                    self._sleep(wait)
                    continue
            raise AzureApiError(arm_error_message(status, code, message, retry_after), status=status, code=code,
                                retry_after=retry_after, details=details)

    @staticmethod
    def _error_parts(response: requests.Response) -> tuple[str, str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get('error') if isinstance(payload, dict) and isinstance(payload.get('error'), dict) \
            else payload if isinstance(payload, dict) else {}
        code = str(error.get('code') or '') or _STATUS_CODES.get(response.status_code, '')
        if not code and response.status_code >= 500:
            code = 'ServerError'
        message = str(error.get('message') or '') or (response.text or '')[:300] or response.reason or ''
        return code, first_line(message, 600), error.get('details')

    def arm_json(self, method: str, path: str, **kwargs: Any) -> dict:
        """arm_request, then the parsed JSON body ({} when the body is empty)."""
        response = self.arm_request(method, path, **kwargs)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {}

    def list_pages(self, path: str, *, api_version: str, params: dict | None = None,
                   limit: int | None = None) -> list[dict]:
        """Every item of a list call, following nextLink; stops once `limit` items are collected."""
        items: list[dict] = []
        url: str | None = path
        first = True
        while url:
            page = self.arm_json('GET', url, api_version=api_version, params=params if first else None)
            first = False
            items.extend(page.get('value') or [])
            if limit and len(items) >= limit:
                return items[:limit]
            url = page.get('nextLink')
        return items

    # -- long-running operations -------------------------------------------------------------------------------

    @staticmethod
    def operation_url(response: requests.Response) -> str | None:
        return response.headers.get('Azure-AsyncOperation') or response.headers.get('Location')

    def operation_status(self, response_or_url: Any) -> dict:
        """One poll of a long-running operation. Accepts the initial response (uses Azure-AsyncOperation, else
        Location) or an operation URL. Returns {"status": InProgress|Succeeded|Failed|Canceled, "retry_after": int,
        "url": the URL polled, "error": {code, message} or None, "body": the final body (Location style)}."""
        if isinstance(response_or_url, requests.Response):
            url = self.operation_url(response_or_url)
            if not url:
                return {'status': 'Succeeded', 'retry_after': 0, 'url': None, 'error': None,
                        'body': _json_or_empty(response_or_url)}
        else:
            url = str(response_or_url)
        try:
            response = self.arm_request('GET', url)
        except AzureApiError as exc:
            if exc.status and exc.status < 500 and exc.status != 429:
                return {'status': 'Failed', 'retry_after': 0, 'url': url,
                        'error': {'code': exc.code, 'message': exc.message}, 'body': None}
            raise
        retry_after = parse_retry_after(response.headers.get('Retry-After'))
        payload = _json_or_empty(response)
        if isinstance(payload, dict) and isinstance(payload.get('status'), str):
            status = payload['status']
            normalized = {'succeeded': 'Succeeded', 'failed': 'Failed', 'canceled': 'Canceled',
                          'cancelled': 'Canceled'}.get(status.lower(), 'InProgress')
            error = payload.get('error')
            if normalized in ('Failed', 'Canceled') and isinstance(error, dict):
                error = {'code': error.get('code'), 'message': arm_error_message(
                    0, str(error.get('code') or ''), str(error.get('message') or ''))}
            return {'status': normalized, 'retry_after': retry_after or LRO_DEFAULT_POLL_SECONDS, 'url': url,
                    'error': error if normalized in ('Failed', 'Canceled') else None, 'body': payload}
        if response.status_code == 202:
            return {'status': 'InProgress', 'retry_after': retry_after or LRO_DEFAULT_POLL_SECONDS, 'url': url,
                    'error': None, 'body': None}
        return {'status': 'Succeeded', 'retry_after': 0, 'url': url, 'error': None, 'body': payload}

    def wait_for_operation(self, response: requests.Response, timeout_seconds: float) -> dict:
        """Poll until the operation of `response` is terminal (sleeping Retry-After between polls) and return the
        final status dict (see operation_status). Raises AzureApiError OperationTimeout after timeout_seconds."""
        deadline = time.monotonic() + float(timeout_seconds)
        url = self.operation_url(response)
        if not url:
            return self.operation_status(response)
        while True:
            status = self.operation_status(url)
            if status['status'] != 'InProgress':
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AzureApiError(format_error('OperationTimeout', seconds=int(timeout_seconds)),
                                    code='OperationTimeout')
            self._sleep(max(0.0, min(float(status['retry_after']), remaining)))


def _json_or_empty(response: requests.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}


''' HELPERS '''
# SECTION 4 (containment owner): resource-ID parsing, name validation, IP normalisation, priority choice.

''' COMMANDS '''
# SECTION 5a (auth/client owner): test-module, azure-containment-generate-login-url / -auth-test / -auth-reset.


def action_granted(action: str, permissions: list[dict]) -> bool:
    """Whether one of the permission entries grants `action` (wildcards, case-insensitive) without excluding it."""
    lowered = action.lower()
    for entry in permissions:
        allowed = any(fnmatchcase(lowered, str(p).lower()) for p in entry.get('actions') or [])
        denied = any(fnmatchcase(lowered, str(p).lower()) for p in entry.get('notActions') or [])
        if allowed and not denied:
            return True
    return False


def missing_actions(client: AzureClient) -> tuple[str, list[str]]:
    """(scope checked, the REQUIRED_ACTIONS this identity lacks there) from Microsoft.Authorization/permissions."""
    sub, rg = client.scope()
    scope = f'/subscriptions/{sub}' + (f'/resourceGroups/{rg}' if rg else '')
    permissions = client.list_pages(f'{scope}/providers/Microsoft.Authorization/permissions',
                                    api_version=AUTHORIZATION_API_VERSION)
    return scope, [action for action in REQUIRED_ACTIONS if not action_granted(action, permissions)]


def run_connection_checks(client: AzureClient, allow_redeem: bool) -> list[str]:
    """Token, VM list and permission checks shared by test-module and auth-test; raises with the fix on failure,
    returns the lines describing what was checked."""
    provider = client.token_provider
    provider.get_token(allow_redeem=allow_redeem)
    source = 'the cache' if provider.last_source == 'cache' else 'the identity provider'
    lines = [f'Token: acquired ({MODE_LABELS.get(provider.mode, provider.mode)}, from {source}).']
    sub, rg = client.scope()
    path = (f'/subscriptions/{sub}' + (f'/resourceGroups/{rg}' if rg else '')
            + '/providers/Microsoft.Compute/virtualMachines')
    client.list_pages(path, api_version=COMPUTE_API_VERSION, limit=1)
    lines.append(f'Virtual machines: listed in subscription {sub}' + (f', resource group {rg}.' if rg else '.'))
    scope, missing = missing_actions(client)
    if missing:
        roles = sorted({REQUIRED_ACTIONS[action] for action in missing})
        listing = '\n'.join(f'- {action} (granted by the built-in role "{REQUIRED_ACTIONS[action]}")'
                            for action in missing)
        raise DemistoException(
            f'Authentication works, but this identity lacks {len(missing)} permission(s) the commands need on '
            f'{scope} (AuthorizationFailed):\n{listing}\nFix: in Access control (IAM) of the subscription or '
            f'resource group assign {" and ".join(repr(r) for r in roles)} to the app / identity, then run '
            '!azure-containment-auth-test.')
    lines.append(f'Permissions: all {len(REQUIRED_ACTIONS)} actions the commands need are granted on {scope}.')
    return lines


MODE_LABELS = {
    MODE_SECRET: 'client credentials with a client secret', MODE_CERTIFICATE: 'client credentials with a certificate',
    MODE_AUTH_CODE: 'authorization code on behalf of a user', MODE_MANAGED_IDENTITY: 'managed identity',
    MODE_XSOAR_APP: 'Cortex XSOAR application',
}


def test_module(client: AzureClient, args: dict) -> str:
    """The Test button: 'ok' when a token is obtained, VMs can be listed and every needed action is granted. In
    auth-code mode a code not yet redeemed is left alone (the instance may not be saved yet)."""
    provider = client.token_provider
    if provider.mode == MODE_AUTH_CODE and not provider.has_cached_sign_in():
        raise AzureAuthError('AuthCodeNotRedeemed', format_error('AuthCodeNotRedeemed'))
    run_connection_checks(client, allow_redeem=False)
    return 'ok'


def auth_test_command(client: AzureClient, args: dict) -> CommandResults:
    """azure-containment-auth-test: the test-module checks, redeeming the authorization code when needed."""
    lines = run_connection_checks(client, allow_redeem=True)
    return CommandResults(readable_output='### Azure Containment: authentication test passed\n'
                                          + '\n'.join(f'- {line}' for line in lines))


def generate_login_url_command(client: AzureClient, args: dict) -> CommandResults:
    """azure-containment-generate-login-url: the sign-in URL of the authorization-code flow."""
    provider = client.token_provider
    if not provider.redirect_uri:
        raise AzureAuthError('MissingParam', format_error(
            'MissingParam', field='Application redirect URI', mode='the Authorization Code mode',
            where='enter the redirect URI registered for the app (Entra ID > App registrations > Authentication).'))
    url = provider.authorize_url()
    readable = (
        '### Authorization instructions\n'
        f'1. Open this link and sign in with the user the pack acts for:\n[{url}]({url})\n'
        f'2. After consenting you are redirected to {provider.redirect_uri}?code=...: copy the code value '
        '(or the whole redirect URL) into the instance\'s "Authorization code" field and save the instance.\n'
        '3. Run !azure-containment-auth-reset (if a previous sign-in is cached), then !azure-containment-auth-test.'
    )
    return CommandResults(readable_output=readable)


def auth_reset_command(client: AzureClient | None, args: dict) -> CommandResults:
    """azure-containment-auth-reset: forget every cached token, MSAL cache and back-off."""
    count = auth_store_clear()
    readable = (
        f'### Authentication state cleared\nRemoved the cached access and refresh tokens, MSAL token and discovery '
        f'caches and any retry back-off ({count} cached identit{"y" if count == 1 else "ies"}).\n'
        '- Next: run !azure-containment-auth-test (authorization-code mode: first '
        '!azure-containment-generate-login-url, sign in, paste the new code into "Authorization code" and save).\n'
        '- To also revoke what was granted in Entra ID: Entra ID > Enterprise applications > the app > Permissions '
        '(review / revoke admin consent) or Users and groups; a user can remove the app at '
        'https://myapps.microsoft.com; '
        'for a self-deployed app delete its client secret or certificate under App registrations > Certificates & '
        'secrets; "Revoke sessions" on the user invalidates its refresh tokens.'
    )
    return CommandResults(readable_output=readable)


# SECTION 5b (containment owner): block/unblock, isolate/unisolate, power, get/list commands.

''' MAIN '''

# Display names of the instance params, as in AzureContainment.yml, for "missing param" errors.
PARAM_DISPLAY = {
    'auth_id': 'ID', 'tenant_id': 'Token', 'enc_key': 'Key', 'subscription_id': 'Subscription ID',
    'certificate_thumbprint': 'Certificate thumbprint', 'private_key': 'Private key',
    'auth_code': 'Authorization code', 'redirect_uri': 'Application redirect URI',
    'managed_identities_client_id': 'Managed identity client ID', 'resource_group': 'Default resource group',
    'azure_ad_endpoint': 'Entra ID (Azure AD) endpoint', 'arm_endpoint': 'Resource Manager endpoint',
}


def _missing(name: str, mode: str) -> AzureAuthError:
    return AzureAuthError('MissingParam', format_error(
        'MissingParam', field=PARAM_DISPLAY.get(name, name), mode=mode,
        where=f'fill in "{PARAM_DISPLAY.get(name, name)}" in the instance settings and save.'))


def _flag(value: Any, default: bool = False) -> bool:
    if value is None or value == '':
        return default
    return argToBoolean(value)


def build_client(params: dict) -> AzureClient:
    """The client for the instance params; every check that needs no request happens here (missing params,
    GUID formats, cloud endpoints)."""
    cloud_name = params.get('azure_cloud') or DEFAULT_CLOUD
    custom = cloud_name == CUSTOM_CLOUD
    if custom:
        login_url = (params.get('azure_ad_endpoint') or '').strip().rstrip('/')
        arm_url = (params.get('arm_endpoint') or '').strip().rstrip('/')
        for name, value in (('azure_ad_endpoint', login_url), ('arm_endpoint', arm_url)):
            if not value:
                raise _missing(name, 'the Custom cloud')
            if not value.lower().startswith('https://'):
                raise DemistoException(f'"{PARAM_DISPLAY[name]}" must be an https:// URL (the Custom cloud).')
    elif cloud_name in CLOUDS:
        login_url, arm_url = CLOUDS[cloud_name]['login'], CLOUDS[cloud_name]['arm']
    else:
        raise DemistoException(f'Unknown "Azure cloud" {cloud_name!r}: pick one of '
                               f'{", ".join([*CLOUDS, CUSTOM_CLOUD])}.')

    subscription_id = (params.get('subscription_id') or '').strip()
    if not subscription_id:
        raise _missing('subscription_id', 'every command')
    require_guid(subscription_id, 'Subscription ID', 'copy the Subscription ID from Azure portal > Subscriptions.')

    auth_type = params.get('auth_type') or DEFAULT_AUTH_TYPE
    self_deployed = _flag(params.get('self_deployed'))
    client_id = credential_value(params.get('auth_id'))
    tenant_id = credential_value(params.get('tenant_id'))
    enc_key = credential_value(params.get('enc_key'))
    thumbprint = credential_value(params.get('certificate_thumbprint'))
    private_key = credential_value(params.get('private_key'))
    if auth_type == AUTH_TYPE_MANAGED_IDENTITY:
        mode = MODE_MANAGED_IDENTITY
        client_id = credential_value(params.get('managed_identities_client_id'))
        if client_id:
            require_guid(client_id, 'Managed identity client ID',
                         'copy the Client ID of the user-assigned identity (or leave it empty for the system one).')
    else:
        if not self_deployed:
            mode = MODE_XSOAR_APP
        elif auth_type == AUTH_TYPE_AUTH_CODE:
            mode = MODE_AUTH_CODE
        else:
            mode = MODE_CERTIFICATE if (thumbprint or private_key) else MODE_SECRET
        label = MODE_LABELS[mode]
        if not client_id:
            raise _missing('auth_id', label)
        if not tenant_id:
            raise _missing('tenant_id', label)
        require_guid(client_id, 'ID (Registration ID)' if mode == MODE_XSOAR_APP else 'ID (Application ID)',
                     'copy the Registration ID from the consent page.' if mode == MODE_XSOAR_APP else
                     'copy the Application (client) ID from Entra ID > App registrations > your app > Overview.')
        validate_tenant(tenant_id)
        if mode == MODE_CERTIFICATE:
            if not thumbprint:
                raise _missing('certificate_thumbprint', label)
            if not private_key:
                raise _missing('private_key', label)
        elif mode == MODE_AUTH_CODE:
            if not enc_key and not (thumbprint and private_key):
                raise _missing('enc_key', label)
        elif not enc_key:
            raise _missing('enc_key', label)

    verify = not _flag(params.get('insecure'))
    proxies = handle_proxy()
    session = AzureSession(verify=verify, proxies=proxies)
    provider = AzureTokenProvider(
        mode=mode, login_url=login_url, arm_url=arm_url, tenant_id=tenant_id, client_id=client_id,
        session=session, custom_cloud=custom,
        client_secret=enc_key if mode in (MODE_SECRET, MODE_AUTH_CODE) else '',
        certificate_thumbprint=thumbprint, private_key=private_key,
        auth_code=credential_value(params.get('auth_code')), redirect_uri=(params.get('redirect_uri') or '').strip(),
        enc_key=enc_key if mode == MODE_XSOAR_APP else '',
        token_retrieval_url=(params.get('token_retrieval_url') or '').strip() or DEFAULT_TOKEN_RETRIEVAL_URL,
    )
    return AzureClient(token_provider=provider, arm_url=arm_url, subscription_id=subscription_id,
                       resource_group=(params.get('resource_group') or '').strip(),
                       default_nsg_name=(params.get('default_nsg_name') or '').strip(), session=session)


def main() -> None:
    command = demisto.command()
    commands: dict[str, Callable] = {
        'test-module': test_module,
        'azure-containment-generate-login-url': generate_login_url_command,
        'azure-containment-auth-test': auth_test_command,
        'azure-containment-auth-reset': auth_reset_command,
        'azure-nsg-block-ip': nsg_block_ip_command,
        'azure-nsg-unblock-ip': nsg_unblock_ip_command,
        'azure-vm-isolate': vm_isolate_command,
        'azure-vm-unisolate': vm_unisolate_command,
        'azure-vm-power': vm_power_command,
        'azure-vm-get': vm_get_command,
        'azure-vm-list': vm_list_command,
        'azure-nsg-list': nsg_list_command,
        'azure-nsg-rule-list': nsg_rule_list_command,
    }
    if command not in commands:
        return_error(f"Command '{command}' is not implemented")
        return
    demisto.debug(f'Azure Containment: running {command}')
    try:
        try:
            client = build_client(demisto.params())
        except DemistoException:
            if command != 'azure-containment-auth-reset':   # clearing the caches must work even when params are bad
                raise
            client = None
        return_results(commands[command](client, demisto.args()))
    except Exception as exc:  # noqa: BLE001 - every failure becomes one error entry with the mapped text, no traceback
        message = getattr(exc, 'message', None) if isinstance(exc, DemistoException) else None
        if not isinstance(message, str) or not message:
            message = f'{type(exc).__name__}: {exc}'
        demisto.debug(f'Azure Containment: {command} failed with {type(exc).__name__}')
        return_error(f'Failed to execute {command}. {message}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()
