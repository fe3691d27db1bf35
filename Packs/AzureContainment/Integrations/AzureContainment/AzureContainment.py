"""Azure Containment: contain threats in Microsoft Azure from Cortex XSOAR.

Block attacker IPs with NSG deny rules, isolate VMs behind a dedicated deny-all NSG, and power VMs on or off;
every action reversible, safe to repeat and correct when many incidents act at once.
"""
import demistomock as demisto
from CommonServerPython import *

from CommonServerUserPython import *

import base64
import copy
import functools
import hashlib
import ipaddress
import json
import logging
import os
import random
import re
import secrets
import threading
import time
import traceback
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import msal
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


''' CONSTANTS '''

NETWORK_API_VERSION = '2024-05-01'
COMPUTE_API_VERSION = '2024-07-01'
AUTHORIZATION_API_VERSION = '2022-04-01'

# Authentication modes (the integration context cache is keyed by mode, cloud, tenant and client).
MODE_SECRET = 'client_secret'
MODE_CERTIFICATE = 'certificate'
MODE_AUTH_CODE = 'authorization_code'
MODE_MANAGED_IDENTITY = 'managed_identity'
MODE_XSOAR_APP = 'xsoar_app'
AUTH_TYPE_CLIENT_CREDENTIALS = 'Client Credentials'
AUTH_TYPE_AUTH_CODE = 'Authorization Code'
AUTH_TYPE_MANAGED_IDENTITY = 'Managed Identity'

MODE_LABELS = {
    MODE_SECRET: 'client credentials with a client secret', MODE_CERTIFICATE: 'client credentials with a certificate',
    MODE_AUTH_CODE: 'authorization code on behalf of a user', MODE_MANAGED_IDENTITY: 'managed identity',
    MODE_XSOAR_APP: 'Cortex XSOAR application',
}

# Instance param defaults: each equals the `defaultvalue` of the param in AzureContainment.yml.
DEFAULT_AUTH_TYPE = AUTH_TYPE_CLIENT_CREDENTIALS
DEFAULT_CLOUD = 'Worldwide'
DEFAULT_TOKEN_RETRIEVAL_URL = 'https://oproxy.demisto.ninja/obtain-token'
DEFAULT_MIN_BLOCK_PREFIX_V4 = 16        # no IPv4 block wider than /16 (65,536 addresses) unless the admin allows it
DEFAULT_MIN_BLOCK_PREFIX_V6 = 32        # no IPv6 block wider than /32 (an ISP-sized allocation)
DEFAULT_MAX_IPS_PER_CALL = 1000         # a quarter of an NSG's 4,000-prefix budget per side
DEFAULT_ALLOW_INTERNAL_BLOCK = False
DEFAULT_PLATFORM_SERVICES_ON_REQUEST = False   # instance param allow_platform_services_on_request
DEFAULT_MAX_BLOCK_DAYS = 3650           # instance param max_block_days: the longest expires_in (10 years: no limit)
XSOAR_APP_NAME = 'ms-azure-compute'   # Cortex XSOAR's own multi-tenant Azure Compute application

# Login host, ARM endpoint and scope always come from the same row: a token for one cloud is useless in another.
# The China login host is the current one (login.chinacloudapi.cn is its older alias).
CLOUDS: dict[str, dict[str, str]] = {
    'Worldwide': {'login': 'https://login.microsoftonline.com', 'arm': 'https://management.azure.com'},
    'US Government': {'login': 'https://login.microsoftonline.us', 'arm': 'https://management.usgovcloudapi.net'},
    'China': {'login': 'https://login.partner.microsoftonline.cn', 'arm': 'https://management.chinacloudapi.cn'},
}
CUSTOM_CLOUD = 'Custom'

# Display names of the instance params, as in AzureContainment.yml, for "missing param" errors.
PARAM_DISPLAY = {
    'auth_id': 'ID', 'tenant_id': 'Token', 'enc_key': 'Key', 'subscription_id': 'Subscription ID',
    'certificate_thumbprint': 'Certificate thumbprint', 'private_key': 'Private key',
    'auth_code': 'Authorization code', 'redirect_uri': 'Application redirect URI',
    'managed_identities_client_id': 'Managed identity client ID', 'resource_group': 'Default resource group',
    'azure_ad_endpoint': 'Entra ID (Azure AD) endpoint', 'arm_endpoint': 'Resource Manager endpoint',
    'token_retrieval_url': 'Token retrieval URL', 'min_block_prefix_v4': 'Widest IPv4 block (prefix length)',
    'min_block_prefix_v6': 'Widest IPv6 block (prefix length)', 'max_ips_per_call': 'Most addresses per call',
    'allow_internal_block': 'Allow blocking internal address space', 'max_block_days': 'Longest expiring block (days)',
    'allow_platform_services_on_request': 'Let an isolation leave the Azure platform services open on request',
    'time_budget': 'Time budget of a command (seconds)', 'request_timeout': 'Request timeout (seconds)',
}

# Token reuse and request limits.
TOKEN_REFRESH_MARGIN_SECONDS = 300      # a cached access token is replaced this long before it expires
CLIENT_ASSERTION_LIFETIME = 600         # seconds a certificate client assertion (signed JWT) is valid
HTTP_CONNECT_TIMEOUT = 10               # connect seconds of every request (the read timeout: request_timeout)
DEFAULT_REQUEST_TIMEOUT = 60            # instance param request_timeout: read timeout of one request (1-600 s)
# Instance param time_budget: the most a command (one run: a polling command's first run or one of its polls) waits
# in all, requests and pauses together. XSOAR ends a command that runs longer than its timeout (the docker command
# timeout, 5 minutes by default) and then nobody learns what was done: the budget ends first, with an error saying
# what was done and what was not. 240 s + ROLLBACK_RESERVE_SECONDS = 270 s, leaving 30 s of the 300 s for the
# process start, the token and the entries.
DEFAULT_TIME_BUDGET = 240
ROLLBACK_RESERVE_SECONDS = 30           # what a rollback may still spend after the budget ran out
ARM_MAX_RETRIES = 4                     # 429/5xx retries of one ARM request (after the first attempt)
ARM_MAX_RETRY_WAIT_SECONDS = 30         # a Retry-After longer than this is not waited for: the error says when
ARM_DEFAULT_RETRY_SECONDS = 2           # back-off base when a 429/5xx carries no Retry-After
LRO_DEFAULT_POLL_SECONDS = 5            # poll interval when an operation status carries no Retry-After
XSOAR_APP_BACKOFF_BASE_SECONDS = 10     # Cortex XSOAR app mode: wait after the first failure, doubled each time
XSOAR_APP_BACKOFF_MAX_SECONDS = 3600
CTX_AUTH_KEY = 'azure_containment_auth'  # the only integration-context key the authentication code writes
CTX_LEASES_KEY = 'azure_containment_leases'  # {NSG resource ID (lower case): {owner, expires}}, see NsgLease
CONTEXT_WRITE_ATTEMPTS = 50             # compare-and-set rounds on the integration context before giving up
PKCE_VERIFIER_KEY = 'pkce_verifier'     # auth-code mode: the PKCE code_verifier of the last login URL (in the slot)
PKCE_VERIFIER_BYTES = 48                # secrets.token_urlsafe(48) = 64 characters (RFC 7636: 43-128)
LEASE_TTL_SECONDS = 60                  # a lease nobody renews lapses after this (a crashed run)
LEASE_WAIT_SECONDS = 120                # how long a run waits for another run's lease on the same NSG
LEASE_MAX_AHEAD_SECONDS = 2 * LEASE_TTL_SECONDS   # a lease expiring later than this is impossible: ignored, cleaned
CTX_CLAIMS_KEY = 'azure_containment_block_claims'   # {NSG ID/rule (lower case): {relied, deleted}}, see BlockClaims
CLAIM_MARGIN_SECONDS = 60               # beyond a run's budget and rollback reserve: clock and engine slack

# Patterns are strings, compiled on first use by re's own cache (re.fullmatch(GUID_RE, text)): XSOAR executes the
# whole module on every command and most commands need two or three of them (compiling all cost ~6 ms a run).
GUID_RE = r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}'
DOMAIN_RE = r'^(?=.{4,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$'
AUTH_CODE_RE = r'^[A-Za-z0-9._\-~+/=]{8,}$'
RESOURCE_GROUP_RE = r'[-\w.()]{0,89}[-\w()]'   # Azure: 1-90 characters, not ending with '.'

RESOURCE_NAME_RE = r'\w(?:[\w.-]{0,78}\w)?'   # Azure: 1-80, starts with a word char, ends with one (or _)
RESOURCE_TYPE_RE = r'[A-Za-z][A-Za-z0-9.]{0,99}'
SERVICE_TAG_RE = r'[A-Za-z][A-Za-z0-9.\-]*'
RESOURCE_NAME_RULES = ("an Azure resource name is 1-80 characters, begins and ends with a letter, digit or '_', and "
               "contains only letters, digits, '.', '-' and '_' (no '/', '?', '#', '%' or spaces)")

PACK_RULE_PREFIX = 'xsoar-block-'          # every deny rule the pack writes has a name starting with this ...
PACK_MARKER = '[AzureContainment]'         # ... AND a description starting with this; rules lacking either are foreign
RULE_DESCRIPTION_MAX = 140                 # Azure: a security rule description holds at most 140 characters
ISOLATION_NSG_PREFIX = 'xsoar-isolation-'  # + VM name = the VM's dedicated isolation NSG (same RG and location)
ISOLATION_VM_TAG = 'xsoar-isolated-vm'     # tag on the isolation NSG: resource ID of the VM it isolates
ORIGINAL_NSG_TAG = 'xsoar-original-nsg'    # tag on an isolated NIC: its original NSG ID, or NO_NSG
NO_NSG = 'none'
FORENSIC_RULE_PREFIX = 'xsoar-forensic-allow-in'  # + '-v4' / '-v6', priorities 100 / 101
ISOLATION_DENY_IN = 'xsoar-isolation-deny-all-in'
ISOLATION_DENY_OUT = 'xsoar-isolation-deny-all-out'
DEFAULT_FORENSIC_PORTS = ['22', '3389']
ISOLATION_TAG_INCIDENT = 'xsoar-incident-id'   # tag on the isolation NSG: the incident of the run that wrote it
ISOLATION_TAG_TIME = 'xsoar-isolated-at'        # ... and that run's UTC time (ISO 8601)
ISOLATION_RECORD_TAG_PREFIX = 'xsoar-nic-'  # + hash of a NIC ID: tag on the isolation NSG recording its original
AZURE_MAX_TAGS = 50                        # Azure: tags per resource
AZURE_TAG_VALUE_MAX = 256                  # Azure: characters per tag value
BLOCK_RULE_NAME_RE = r'xsoar-block-(in|out)-(v4|v6)-[0-9a-f]{10}'

# Address policy. Command arguments come from alert data: what an alert may block or open is bounded here and by the
# admin's instance params, never by an argument. Block targets that are refused whatever the params: blocking them
# breaks every VM behind the NSG or means nothing (why, per class). A range is refused when it overlaps a class
# (contains some of it, or lies inside it): a deny rule on 168.63.0.0/16 denies 168.63.129.16 as surely as naming it.
ALWAYS_REFUSED: tuple[tuple[str, str], ...] = (
    ('0.0.0.0/32', 'the unspecified address 0.0.0.0'),
    ('::/128', 'the unspecified address ::'),
    ('127.0.0.0/8', 'loopback (127.0.0.0/8)'),
    ('::1/128', 'the loopback address ::1'),
    ('224.0.0.0/4', 'multicast (224.0.0.0/4)'),
    ('ff00::/8', 'multicast (ff00::/8)'),
    ('255.255.255.255/32', 'the broadcast address 255.255.255.255'),
    ('240.0.0.0/4', 'reserved (240.0.0.0/4)'),
    ('168.63.129.16/32', 'the Azure platform address 168.63.129.16 (DNS, DHCP, VM agent and health probes of every '
                         'VM)'),
    ('169.254.169.254/32', 'the Azure platform address 169.254.169.254 (instance metadata and managed-identity '
                           'tokens)'),
    ('::/96', 'IPv4-compatible IPv6 (::/96, deprecated by RFC 4291)'),
    ('::ffff:0:0/96', 'IPv4-mapped IPv6 (::ffff:0:0/96); give the IPv4 addresses instead'),
)
# Internal address space: blocking it cuts the VNet's own traffic (VM to VM, gateways, on-premises links), which
# an alert about lateral movement may call for but only the admin may allow (allow_internal_block). Documentation
# ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are not internal and stay allowed.
INTERNAL_RANGES: tuple[tuple[str, str], ...] = (
    ('10.0.0.0/8', 'private address space (RFC 1918, 10.0.0.0/8)'),
    ('172.16.0.0/12', 'private address space (RFC 1918, 172.16.0.0/12)'),
    ('192.168.0.0/16', 'private address space (RFC 1918, 192.168.0.0/16)'),
    ('100.64.0.0/10', 'shared address space (RFC 6598, carrier-grade NAT, 100.64.0.0/10)'),
    ('169.254.0.0/16', 'link-local (169.254.0.0/16)'),
    ('fc00::/7', 'unique local IPv6 (fc00::/7)'),
    ('fe80::/10', 'link-local IPv6 (fe80::/10)'),
)
IPV4_MAPPED = ipaddress.IPv6Network('::ffff:0:0/96')
# Forensic access during isolation is an opening in a deny-all NSG, so its limits are fixed by the pack: each source
# at most a /24 (IPv4) or /64 (IPv6), at most 10 sources, at most 100 TCP ports in the union of allow_ports.
FORENSIC_MIN_PREFIX = {'v4': 24, 'v6': 64}
FORENSIC_MAX_SOURCES = 10
FORENSIC_MAX_PORTS = 100
MAX_LISTED_ITEMS = 20                      # a refusal lists at most this many bad items, then a count
DEFAULT_LIMIT = 50                         # the `limit` argument of the list commands
PRIORITY_MIN = 100                         # Azure accepts user rule priorities 100..4096, unique per direction
PRIORITY_MAX = 4096
MAX_RULES_PER_NSG = 1000                   # Azure: security rules per NSG
MAX_PREFIXES_PER_SIDE = 4000               # Azure: IPs/ranges across all rules, source and destination separately
CONSOLIDATE_THRESHOLD = 20                 # pack rules per direction and family before they are merged into one
MAX_WRITE_ATTEMPTS = 15                    # re-read and retry rounds when parallel writers contend for an NSG
BACKOFF_CAP_SECONDS = 8.0
NETWORK_LRO_TIMEOUT = 300
NIC_WRITE_PARALLELISM = 8                  # NICs of one VM written at once (each its own resource: ARM runs them together)
# ARM answers parallel writes on one NSG/NIC with 429 RetryableErrorDueToAnotherOperation and a duplicate
# priority in one direction with 400 SecurityRuleConflict: both mean "re-read and try again". These codes make an
# ArmConflict whatever the status (arm_error), 429 an ArmThrottled, 5xx an ArmServerError: all RetryableError.
ARM_CONTENTION_CODES = frozenset({'RetryableErrorDueToAnotherOperation', 'RetryableError', 'SecurityRuleConflict',
                                  'AnotherOperationInProgress', 'ReferencedResourceNotProvisioned', 'Conflict'})
TOKEN_REFRESH_CODES = frozenset({'ExpiredAuthenticationToken', 'InvalidAuthenticationToken'})  # 401: refresh once
POWER_ACTIONS = {'start': 'start', 'on': 'start', 'deallocate': 'deallocate', 'off': 'deallocate',
                 'poweroff': 'poweroff', 'restart': 'restart'}
POWER_TARGET_STATE = {'start': 'running', 'deallocate': 'deallocated', 'poweroff': 'stopped', 'restart': None}
POWER_ENDPOINT = {'start': 'start', 'deallocate': 'deallocate', 'poweroff': 'powerOff', 'restart': 'restart'}

# azure-vm-find: Azure Resource Graph (POST {arm}/providers/Microsoft.ResourceGraph/resources, api-version 2022-10-01:
# {"subscriptions", "query" (KQL), "options": {"$top", "$skipToken", "resultFormat"}} -> {"data", "$skipToken"?,
# "resultTruncated", ...}). It answers only what the identity may read; its own quota comes in the headers
# x-ms-user-quota-remaining (queries left) and x-ms-user-quota-resets-after (hh:mm:ss until the window resets).
RESOURCE_GRAPH_API_VERSION = '2022-10-01'
RESOURCE_GRAPH_PATH = '/providers/Microsoft.ResourceGraph/resources'
SUBSCRIPTIONS_API_VERSION = '2022-12-01'
RESOURCE_GRAPH_PAGE_ROWS = 1000            # Resource Graph: $top is at most 1000 rows a page
RESOURCE_GRAPH_MAX_PAGES = 20              # 20,000 rows for one batch is no longer "a host": refuse rather than guess
RESOURCE_GRAPH_MAX_SUBSCRIPTIONS = 1000    # Resource Graph evaluates at most 1000 subscriptions per query: batches
FIND_VALUES_PER_QUERY = 100                # values (addresses and names) per query; more values, more batches
DEFAULT_MAX_FIND_VALUES = 100              # instance param max_find_values: values one azure-vm-find call may look up
DEFAULT_FIND_LIMIT = 50                    # the limit argument: candidate VMs listed per value
FIND_SCOPES = ('subscription', 'all')
# A value goes into the query only when it is an IP address (in canonical form) or a name made of these characters:
# no quote, backslash, space or operator can reach the KQL text.
FIND_NAME_RE = r'[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?'
KQL_SAFE_LITERAL_RE = r'[A-Za-z0-9_.:-]+'

# azure-vm-snapshot: incremental snapshots of managed disks (Microsoft.Compute/snapshots of the disk resource
# provider, its own api-versions), named xsoar-<key>-<disk>-<hash of the disk ID> where <key> is inc<incident ID>
# (a repeat in the same incident finds the snapshot instead of making another) or, outside an incident, t<UTC minute>.
DISK_API_VERSION = '2023-10-02'
SNAPSHOT_NAME_PREFIX = 'xsoar-'
SNAPSHOT_KEY_RE = r'inc[A-Za-z0-9_-]{1,32}|t\d{12}'
SNAPSHOT_DISKS = ('all', 'os', 'data')
SNAPSHOT_TAG_INCIDENT = 'xsoar-incident-id'      # the XSOAR incident ID, or NO_INCIDENT
SNAPSHOT_TAG_VM = 'xsoar-source-vm'              # resource ID of the VM the disk belonged to
SNAPSHOT_TAG_DISK = 'xsoar-source-disk'          # resource ID of the disk
SNAPSHOT_TAG_TIME = 'xsoar-snapshot-time'        # UTC time of the run that took it (ISO 8601)
SNAPSHOT_TAG_POWER = 'xsoar-source-power-state'  # the VM's power state then (running: crash-consistent)
NO_INCIDENT = 'none'
TAG_VALUE_MAX = 256                              # Azure: characters in a tag value
SNAPSHOT_DONE_STATES = ('succeeded', 'failed', 'canceled')

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

# Actions only some commands need: test-module still says ok without them (auth-test names them), so an identity
# without them keeps every other command. Action -> (the built-in role that grants it, what needs it).
OPTIONAL_ACTIONS: dict[str, tuple[str, str]] = {
    'Microsoft.Compute/disks/read': ('Virtual Machine Contributor', 'azure-vm-snapshot'),
    'Microsoft.Compute/snapshots/read': ('Disk Snapshot Contributor', 'azure-vm-snapshot'),
    'Microsoft.Compute/snapshots/write': ('Disk Snapshot Contributor', 'azure-vm-snapshot'),
    'Microsoft.Network/publicIPAddresses/read': ('Network Contributor', 'azure-vm-find by public IP'),
    'Microsoft.Network/virtualNetworks/read': ('Network Contributor', 'azure-vm-find (subnet NSGs)'),
    # Verification (azure-vm-isolate, azure-vm-get of an isolated VM, and the admin-rule check of a block): without
    # them containment works and the verdict says Unverifiable, naming the action.
    'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action': (
        'Network Contributor', 'the isolation verdict (effective security rules of each NIC)'),
    'Microsoft.Network/virtualNetworks/listNetworkManagerEffectiveSecurityAdminRules/action': (
        'Network Contributor', 'the isolation verdict and azure-nsg-block-ip (Virtual Network Manager security admin '
        'rules of the VNet)'),
}
EFFECTIVE_NSG_ACTION = 'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action'
ADMIN_RULES_ACTION = 'Microsoft.Network/virtualNetworks/listNetworkManagerEffectiveSecurityAdminRules/action'


class PlatformService(NamedTuple):
    """An Azure platform service that no NSG rule filters unless a rule names its service tag (Microsoft, "Network
    security groups: Azure platform considerations"): the isolation NSG denies it outbound on the ports it uses."""
    tag: str
    rule: str          # the isolation NSG's deny rule for it
    priority: int
    protocol: str
    port: str
    what: str


# DNS: 168.63.129.16 UDP/TCP 53; IMDS: 169.254.169.254 TCP 80 (instance metadata, managed-identity tokens);
# LKM: Windows license activation, the KMS protocol on TCP 1688. Just before the deny-all outbound rule (4096).
PLATFORM_SERVICES: tuple[PlatformService, ...] = (
    PlatformService('AzurePlatformDNS', 'xsoar-isolation-deny-platform-dns', PRIORITY_MAX - 3, '*', '53',
                    'Azure-provided DNS at 168.63.129.16 (UDP and TCP 53: name lookups, and DNS tunnelling)'),
    PlatformService('AzurePlatformIMDS', 'xsoar-isolation-deny-platform-imds', PRIORITY_MAX - 2, 'Tcp', '80',
                    'the Instance Metadata Service at 169.254.169.254 (TCP 80: metadata and managed-identity '
                    'tokens)'),
    PlatformService('AzurePlatformLKM', 'xsoar-isolation-deny-platform-lkm', PRIORITY_MAX - 1, 'Tcp', '1688',
                    'Windows license activation (KMS, TCP 1688)'),
)
# What no NSG rule can close (Microsoft, "What is IP address 168.63.129.16?"): the VM agent's channel to the host.
AGENT_CHANNEL_NOTE = ('The VM agent\'s channel to the host (WireServer 168.63.129.16, TCP 80 and 32526) is not subject '
                      'to network security groups, so it stays open: the agent keeps reporting, and Run Command and '
                      'extensions stay usable for forensics as far as they need nothing else (what they would '
                      'download from the Internet or Storage is denied like all other outbound traffic). DHCP and '
                      'the load balancer\'s health probes stay open too.')
VERIFY_LRO_TIMEOUT = 120                   # seconds one NIC's effective security rules may take
ADMIN_RULES_MAX_PAGES = 50                 # pages of a VNet's effective security admin rules read at most
BLOCK_MAX_NIC_READS = 20                   # NICs of a blocked NSG read to find their VNets (admin rules)

_RESET_STEP = ('run !azure-containment-auth-reset, then !azure-containment-generate-login-url, sign in, paste the '
               'new code (or the whole redirect URL) into "Authorization code", save the instance and run '
               '!azure-containment-auth-test')

# One table: error code -> what is wrong and which setup step fixes it. A ContainmentError shows the row, then the
# code once and the service's own text. {placeholders} are filled from the error when known.
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
    'AADSTS501481': 'The code does not belong to the last login URL generated for this instance (its PKCE '
                    'code_verifier does not match): a newer login URL was generated, or '
                    '!azure-containment-auth-reset ran after the URL was generated. Fix: run '
                    '!azure-containment-generate-login-url again, sign in with that new URL, paste the new code (or '
                    'the whole redirect URL) into "Authorization code", save the instance and run '
                    '!azure-containment-auth-test (generate no other login URL and run no auth-reset in between).',
    'AADSTS50011': 'The redirect URI does not match the app registration. Fix: set "Application redirect URI" to '
                   'exactly one of the Redirect URIs in Entra ID > App registrations > your app > Authentication '
                   '(Web platform), then generate a new login URL and code.',
    'AADSTS500112': 'The redirect URI sent when redeeming the code differs from the one used to sign in. Fix: set '
                    '"Application redirect URI" to the redirect URI of the login URL, then ' + _RESET_STEP + '.',
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
    'RedirectRefused': '{host} answered HTTP {status} with a redirect to {location}. The integration never follows '
                       'a redirect, so nothing (no credential, token or request body) was sent there. Fix: check '
                       'the endpoint settings ("Azure cloud", the Custom endpoints, "Token retrieval URL") and any '
                       'proxy or TLS-inspecting device between the engine and Azure.',
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
    'RateLimiting': 'Azure Resource Graph is throttling this identity\'s queries{retry_after}. Fix: wait a few seconds '
                    'and run the command again; look up many values in one azure-vm-find call rather than many calls.',
    'ServerError': 'Azure Resource Manager failed (HTTP {status}) after the retries. Fix: run the command again '
                   'later; check https://status.azure.com if it persists.',
    'OperationTimeout': 'The operation did not finish within {seconds} s. Fix: check its state with '
                        '!azure-vm-get and run the command again if needed.',
}

# HTTP status -> the code used when an ARM error body carries none.
_STATUS_CODES = {401: 'AuthenticationFailed', 403: 'AuthorizationFailed', 404: 'NotFound', 429: 'TooManyRequests'}


''' CLIENT CLASSES '''

class ContainmentError(DemistoException):
    """Every failure of this integration; the subclasses say what kind it is and callers catch by class.

    `code` is Azure's or the pack's error code, `status` the HTTP status (None without a response), `retry_after`
    the seconds Azure asked to wait, `correlation_id` / `request_id` ARM's x-ms-correlation-request-id /
    x-ms-request-id, `original` the service's own text. What the user sees (`message`, `str()`) is the explanation
    with its fix - the ERROR_HINTS row of the code (or of `hint`) unless `text` is given - then the code once with
    the service's text, then the correlation ID: "Key is not a valid client secret ... (AADSTS7000215: Invalid
    client secret provided.)". Placeholders of the row are filled from `fields`.
    """
    default_code = 'ContainmentError'
    shows_code = False   # also show the code of a free-text error (service errors)

    def __init__(self, text: str = '', *, code: str = '', original: str = '', hint: str = '',
                 status: int | None = None, retry_after: int | None = None, correlation_id: str = '',
                 request_id: str = '', **fields: Any):
        self.code = code or self.default_code
        self.original = (original or '').strip()
        self.status = status
        self.retry_after = retry_after
        self.correlation_id = correlation_id
        self.request_id = request_id
        row = hint or self.code
        self.tabled = not text and row in ERROR_HINTS
        retry_text = f' (retry after {retry_after} s)' if retry_after else ''
        self.explanation = text or hint_text(row, {'status': status, 'retry_after': retry_text, **fields})
        self.context = ''   # what was being done: shown before the explanation (in_context)
        self.note = ''      # shown after everything else (with_note)
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.explanation
        if self.tabled or self.original or self.shows_code:
            text += f' ({self.code}: {self.original})' if self.original else f' ({self.code})'
        if self.correlation_id:
            text += f' Correlation ID: {self.correlation_id}.'
        if self.context:
            text = f'{self.context}: {text}'
        return f'{text} {self.note}' if self.note else text

    def _copy_with(self, **changes: str) -> 'ContainmentError':
        new = type(self).__new__(type(self))   # not copy.copy: it would call __init__ with the rendered text
        new.__dict__.update(self.__dict__, **changes)
        new.message = new._render()
        new.args = (new.message,)
        return new

    def in_context(self, context: str) -> 'ContainmentError':
        """The same error (same class and fields), its text prefixed by what was being done."""
        return self._copy_with(context=context)

    def with_note(self, note: str) -> 'ContainmentError':
        """The same error (same class and fields), with `note` appended to its text."""
        return self._copy_with(note=note)

    def __str__(self) -> str:
        return self.message


class RetryableError(ContainmentError):
    """The same request can succeed when made again after a pause: throttling, a busy or contended resource, a
    server error, a lost NSG lease. The write loops re-read the NSG and retry exactly these."""


class InputError(ContainmentError):
    """A command argument or instance param refused before any request: nothing was sent, nothing changed."""
    default_code = 'InvalidInput'


class InvalidIpInput(InputError):
    """Block/unblock input refused before any request. `.items` are AzureContainment.BlockedIP items with Status
    Invalid, one per refused IP and direction, so that a playbook can branch on them."""

    def __init__(self, text: str, items: list[dict]):
        super().__init__(text)
        self.items = items


class AuthError(ContainmentError):
    """No access token: Entra ID, the managed identity endpoint or the Cortex XSOAR token service refused, or the
    sign-in state of the instance allows no token request."""
    default_code = 'EntraIdError'
    shows_code = True


class ConnectionFailure(ContainmentError):
    """No response at all: the host is unreachable or its TLS certificate is not trusted."""
    shows_code = True


class RedirectRefused(ContainmentError):
    """A 3xx answer: never followed (a redirect would re-send the credential or token to wherever it points)."""
    default_code = 'RedirectRefused'
    shows_code = True


class LeaseLost(RetryableError):
    """The NSG lease of this run expired and another run took it: this run wrote nothing more (see NsgLease)."""
    default_code = 'NsgLeaseLost'


class ArmError(ContainmentError):
    """An error answer of Azure Resource Manager, or a long-running operation that ended Failed or Canceled (then
    `status` is None). `details` are ARM's error details. Built by arm_error(), the one place that maps ARM's
    status and code to these classes."""
    shows_code = True

    def __init__(self, text: str = '', *, details: Any = None, **kwargs: Any):
        super().__init__(text, **kwargs)
        self.details = details


class ArmBadRequest(ArmError):
    """400 that is not a contention code: the request itself is wrong (a name, a reference, a limit)."""


class ArmAuthenticationFailed(ArmError):
    """401: the access token was refused (after one refresh)."""


class ArmForbidden(ArmError):
    """403: the identity lacks a role (AuthorizationFailed, LinkedAuthorizationFailed)."""


class ArmNotFound(ArmError):
    """404: the subscription, resource group or resource does not exist (or is not visible to the identity)."""


class ArmConflict(ArmError, RetryableError):
    """409, or a code saying another writer or operation holds the resource (SecurityRuleConflict for a priority
    taken in parallel, AnotherOperationInProgress, ...): re-read and try again."""


class ArmThrottled(ArmError, RetryableError):
    """429: throttled, or the NSG/NIC is busy with another operation (RetryableErrorDueToAnotherOperation)."""


class ArmServerError(ArmError, RetryableError):
    """5xx: Azure Resource Manager failed."""


# Per-request proxies that override the session's and the environment's: requests then connects directly.
NO_PROXIES = {'http': None, 'https': None, 'all': None}


class AzureSession(requests.Session):
    """The transport: the one HTTP session (ARM, and Entra ID through MSAL), verify and timeout applied to every
    request, proxies from handle_proxy(), urllib3 retries only for connections that failed before a response.
    `last_response` is the latest response it got (MSAL does not pass the HTTP status of an error on).

    No redirect is ever followed, for any caller (MSAL and the managed-identity client included): a 3xx raises
    RedirectRefused naming the Location host, and nothing is sent there. `direct=True` (the managed-identity
    endpoints, which are on the engine's own host or link-local) ignores every proxy.
    """

    def __init__(self, *, verify: bool = True, proxies: dict | None = None, direct: bool = False,
                 budget: 'TimeBudget | None' = None):
        super().__init__()
        self.default_verify = verify
        self.direct = direct
        self.budget = budget or TimeBudget()   # the command's time budget: bounds every request's timeout
        self.last_response: requests.Response | None = None
        if proxies and not direct:
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
            kwargs['timeout'] = self.budget.request_timeout(f'a request to {host_of(url)}')
        kwargs['allow_redirects'] = False
        if self.direct:
            kwargs['proxies'] = dict(NO_PROXIES)
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        if 300 <= response.status_code < 400:
            location = response.headers.get('Location') or ''
            parsed = urlparse(urllib.parse.urljoin(url, location))
            target = (f'{parsed.scheme}://{parsed.netloc}' if parsed.netloc else
                      'a Location without a host' if location else 'nowhere (no Location header)')
            raise RedirectRefused(host=host_of(url), status=response.status_code, location=target)
        return response


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


def http_cache_load(data: Any) -> dict:
    """MSAL's http_cache mapping rebuilt from its JSON form (only unexpired successful GETs are stored). An entry
    that is not what http_cache_dump writes is dropped with a debug line: the document is simply fetched again."""
    mapping: dict = {}
    sequence: list = []
    timestamps: dict = {}
    now = int(time.time())
    entries = data.get('entries') if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        entries = {}
        if data:
            demisto.debug('Azure Containment: the cached discovery documents were unreadable: dropped')
    for key, item in entries.items():
        if not (isinstance(item, dict) and isinstance(item.get('status_code'), int)
                and isinstance(item.get('text'), str) and isinstance(item.get('expires_at'), int | float)
                and isinstance(item.get('created_at'), int | float) and isinstance(item.get('headers') or {}, dict)):
            demisto.debug('Azure Containment: an unreadable cached discovery document was dropped')
            continue
        if item['expires_at'] <= now:
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
        if value is None or not str(key).startswith('GET ') or not 200 <= status < 300:
            continue
        headers = {k: v for k, v in dict(getattr(value, 'headers', {}) or {}).items() if k.lower() == 'content-type'}
        entries[key] = {'status_code': status, 'text': value.text, 'headers': headers,
                        'expires_at': stamps[0], 'created_at': stamps[1]}
    return {'entries': entries}


def msal_cache_load(serialized: Any) -> tuple[Any, bool]:
    """(MSAL token cache, healed): the cache of a slot, its tokens registered as sensitive. A cache that is not
    MSAL's JSON form (a corrupted or hand-edited integration context) is dropped with a debug line, so a token is
    simply acquired again; healed=True says the slot must be rewritten."""
    cache = msal.SerializableTokenCache()
    if not serialized:
        return cache, False
    try:
        parsed = json.loads(serialized) if isinstance(serialized, str) else None
        if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
            raise ValueError('not a JSON object of credential sections')
        cache.deserialize(serialized)
        for kind in (msal.TokenCache.CredentialType.ACCESS_TOKEN, msal.TokenCache.CredentialType.REFRESH_TOKEN):
            for item in cache.search(kind):
                if isinstance(item.get('secret'), str) and item['secret']:
                    add_sensitive_log_strs(item['secret'])
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        demisto.debug(f'Azure Containment: the cached MSAL token cache of this identity was unreadable '
                      f'({type(exc).__name__}): dropped, a new token is acquired')
        return msal.SerializableTokenCache(), True
    return cache, False


def credential_fingerprint(mode: str, material: str) -> str:
    """A short SHA-256 of a credential (never the credential itself): cached tokens are keyed by it."""
    return hashlib.sha256(f'azure-containment|{mode}|{material}'.encode()).hexdigest()[:16]


FINGERPRINT_MARK = 'fp:'   # the last part of an identity key: the credential fingerprint


class Cloud(NamedTuple):
    """Where a cloud's Entra ID and Resource Manager are: always from one row (a token for one cloud is useless in
    another). `custom`: MSAL must not look the login host up in its list of known clouds."""
    login_url: str
    arm_url: str
    custom: bool = False


class AuthSettings(NamedTuple):
    """The authentication params of the instance, read once (type 9 credentials reduced to their secret). The field
    names are the param names, so a missing one is named by its display name (PARAM_DISPLAY)."""
    auth_id: str = ''
    tenant_id: str = ''
    enc_key: str = ''
    certificate_thumbprint: str = ''
    private_key: str = ''
    auth_code: str = ''
    redirect_uri: str = ''
    managed_identities_client_id: str = ''
    token_retrieval_url: str = DEFAULT_TOKEN_RETRIEVAL_URL


class Credential:
    """Access tokens for Azure Resource Manager, one subclass per authentication mode (as in azure-identity / MSAL).
    get_token() is the whole interface the client uses; check() refuses the mode's params before any request.

    The token of this run is kept in memory (the client asks before every ARM request, with no integration-context
    read) until TOKEN_REFRESH_MARGIN_SECONDS before it expires. Subclasses implement _acquire(). Between runs the
    tokens live in the integration context, in a slot keyed by mode, cloud, tenant, client and a fingerprint of the
    credential (identity_key): a changed Key, certificate or private key finds no cached token, so it is used (and
    checked, e.g. by the Test button) at once. The fingerprint is a hash; the credential itself is never stored.
    """
    mode = ''
    id_field = 'ID (Application ID)'    # how the auth_id param is named when it is not a GUID
    id_where = 'copy the Application (client) ID from Entra ID > App registrations > your app > Overview.'
    required_params: tuple[str, ...] = ()   # params this mode needs besides ID and Token, checked in this order

    def __init__(self, settings: AuthSettings, cloud: Cloud, session: AzureSession):
        self.settings = settings
        self.login_url = cloud.login_url.rstrip('/')
        self.arm_url = cloud.arm_url.rstrip('/')
        self.custom_cloud = cloud.custom
        self.session = session
        self.tenant_id = settings.tenant_id
        self.client_id = settings.auth_id
        self.last_source = ''            # 'cache' or 'identity_provider': where the last token came from
        self._token = ''
        self._token_valid_until = 0.0
        # MSAL's DEBUG records dump token-cache events including the one-time code: never let them out.
        logging.getLogger('msal').setLevel(logging.WARNING)
        for value in (settings.enc_key, settings.private_key, settings.auth_code):
            if value:
                add_sensitive_log_strs(value)

    @classmethod
    def check(cls, settings: AuthSettings) -> None:
        """Every check of this mode's params that needs no request: missing params, GUID formats."""
        label = MODE_LABELS[cls.mode]
        for name in ('auth_id', 'tenant_id'):
            if not getattr(settings, name):
                raise missing_param_error(name, label)
        require_guid(settings.auth_id, cls.id_field, cls.id_where)
        validate_tenant(settings.tenant_id)
        for name in cls.required_params:
            if not getattr(settings, name):
                raise missing_param_error(name, label)

    def _credential_material(self) -> str:
        """What authenticates this mode besides its IDs (hashed into identity_key, never stored)."""
        return ''

    @property
    def fingerprint(self) -> str:
        return credential_fingerprint(self.mode, self._credential_material())

    @property
    def identity_key(self) -> str:
        return '|'.join([self.mode, self.login_url, self.arm_url, (self.tenant_id or '').lower(),
                         (self.client_id or 'system-assigned').lower(), f'{FINGERPRINT_MARK}{self.fingerprint}'])

    def _read_slot(self) -> dict:
        """This identity's slot of the integration context (tokens, caches, back-off)."""
        return auth_store_read(self.identity_key)

    @property
    def scopes(self) -> list[str]:
        return [f'{self.arm_url}/.default']

    def get_token(self, *, force_refresh: bool = False, allow_redeem: bool = True) -> str:
        """A valid ARM access token. force_refresh drops the cached access token first (after ARM said 401).
        allow_redeem=False (test-module) refuses to redeem a one-time authorization code."""
        if not force_refresh and self._token and time.time() < self._token_valid_until:
            return self._token
        token, expires_on = self._acquire(force_refresh, allow_redeem)
        self._token, self._token_valid_until = token, expires_on - TOKEN_REFRESH_MARGIN_SECONDS
        return token

    def _acquire(self, force_refresh: bool, allow_redeem: bool) -> tuple[str, float]:
        """(access token, when it expires) from the cache or the identity provider; typed errors otherwise."""
        raise NotImplementedError

    def _status_from(self, base_url: str, session: AzureSession | None = None) -> int | None:
        """The HTTP status of the last response the session got from `base_url` (MSAL does not pass it on)."""
        response = (session or self.session).last_response
        if response is None or host_of(response.url).lower() != host_of(base_url).lower():
            return None
        return response.status_code


class _MsalCredential(Credential):
    """The modes MSAL serves. MSAL gets our session as its http_client, and an http_cache plus a
    SerializableTokenCache persisted in this identity's slot, so in steady state a command makes no Entra ID
    request at all. Subclasses implement _msal_request()."""

    def _acquire(self, force_refresh: bool, allow_redeem: bool) -> tuple[str, float]:
        slot = self._read_slot()
        cache, healed = msal_cache_load(slot.get('msal_cache'))
        stored_http_cache = slot.get('http_cache') or {'entries': {}}
        http_cache = http_cache_load(stored_http_cache)
        if force_refresh:
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        result: dict | None = None
        try:
            result = self._msal_request(slot, cache, http_cache, allow_redeem)
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self._unreachable(exc) from None
        finally:
            updates: dict = {}
            if cache.has_state_changed or healed:
                updates['msal_cache'] = cache.serialize()
            after = http_cache_dump(http_cache)
            if after != stored_http_cache:   # new documents, expired or unreadable ones dropped
                updates['http_cache'] = after
            spent = self._spent(slot, result)
            if updates or spent:
                auth_store_update(self.identity_key, updates, drop_if=spent)
        return self._token_from_result(result)

    def _msal_request(self, slot: dict, cache: Any, http_cache: dict, allow_redeem: bool) -> dict:
        """MSAL's result dict for this mode's token request (the caches are the persisted ones)."""
        raise NotImplementedError

    def _unreachable(self, exc: Exception) -> ContainmentError:
        return connection_failure(exc, self.login_url)

    def _spent(self, slot: dict, result: dict | None) -> dict:
        """Slot entries this request used up ({key: value}: dropped while they still hold that value)."""
        return {}

    def _token_from_result(self, result: dict | None) -> tuple[str, float]:
        """(access token, when it expires) from MSAL's result, or the typed error it describes."""
        result = result or {}
        if not result.get('access_token'):
            raise self._result_error(result)
        add_sensitive_log_strs(result['access_token'])
        if result.get('refresh_token'):
            add_sensitive_log_strs(result['refresh_token'])
        self.last_source = result.get('token_source') or 'identity_provider'
        return result['access_token'], time.time() + int(result.get('expires_in') or 0)

    def _result_error(self, result: dict) -> ContainmentError:
        """Entra ID's error answer (error, error_codes, error_description) as one AuthError: its AADSTS code with the
        row of the table, or EntraIdError's row for a code the table lacks."""
        description = str(result.get('error_description') or '')
        codes = result.get('error_codes') or []
        match = re.search(r'AADSTS\d+', description)
        code = f'AADSTS{codes[0]}' if codes else (match.group(0) if match else '')
        text = re.sub(r'^AADSTS\d+:\s*', '', first_line(description))
        status = self._status_from(self.login_url)
        if code in ERROR_HINTS:
            return AuthError(code=code, original=text, status=status)
        original = ': '.join(part for part in (str(result.get('error') or ''), text) if part)
        return AuthError(code=code or 'EntraIdError', hint='EntraIdError', original=original, status=status)


class _ConfidentialAppCredential(_MsalCredential):
    """An app registration in the tenant (MSAL's ConfidentialClientApplication on login_url/tenant): client
    secret, certificate or authorization code. Subclasses give the client credential and the token request."""

    def _msal_request(self, slot: dict, cache: Any, http_cache: dict, allow_redeem: bool) -> dict:
        try:
            app_ref: list = []
            kwargs: dict = {'authority': f'{self.login_url}/{self.tenant_id}', 'token_cache': cache,
                            'http_client': self.session, 'http_cache': http_cache}
            if self.custom_cloud:
                kwargs['instance_discovery'] = False
            app = msal.ConfidentialClientApplication(self.client_id, client_credential=self._client_credential(
                app_ref), **kwargs)
            app_ref.append(app)
            return self._request(app, slot, allow_redeem)
        except ValueError as exc:
            raise self._discovery_error(exc) from None

    def _client_credential(self, app_ref: list) -> Any:
        raise NotImplementedError

    def _request(self, app: Any, slot: dict, allow_redeem: bool) -> dict:
        raise NotImplementedError

    def _discovery_error(self, exc: ValueError) -> Exception:
        """MSAL raises ValueError when the tenant's OIDC discovery document cannot be loaded: the failed response
        says why (e.g. AADSTS90002, unknown tenant). Any other ValueError is not ours to explain."""
        response = self.session.last_response
        if (response is None or response.request is None or response.request.method != 'GET'
                or response.status_code < 400 or host_of(response.url).lower() != self.login_url.lower()):
            return exc
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        codes = (payload.get('error_codes') if isinstance(payload, dict) else None) or []
        code = f'AADSTS{codes[0]}' if codes else ''
        if code in ERROR_HINTS:
            return AuthError(code=code, status=response.status_code,
                             original=f'the discovery document of {self.login_url}/{self.tenant_id} was refused (MSAL: '
                                      'Unable to get authority configuration)')
        return AuthError(code='AuthorityNotFound', original=first_line(str(exc), 200), status=response.status_code,
                         host=f'{self.login_url}/{self.tenant_id}')


class CertificateAssertion:
    """The certificate credential of one token request: a JWT signed with the private key, naming the certificate
    by its SHA-1 thumbprint (x5t). MSAL calls it only when it sends a token request, so a run served from the token
    cache never parses the private key (the dearest step of a command); a run parses it at most once."""

    def __init__(self, client_id: str, thumbprint: str, private_key: str):
        self.client_id = client_id
        self.thumbprint = thumbprint
        self.private_key = private_key
        self._key: Any = None

    def key(self) -> Any:
        if self._key is None:
            pem = rebuild_pem(self.private_key)
            add_sensitive_log_strs(pem)
            try:
                key = serialization.load_pem_private_key(pem.encode(), password=None)
            except (ValueError, TypeError):
                raise InputError(code='InvalidCertificate',
                                 detail='Private key is not a readable unencrypted PEM private key') from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise InputError(code='InvalidCertificate',
                                 detail='Private key is not an RSA key (Entra ID certificates are RSA)')
            self._key = key
        return self._key

    def for_audience(self, audience: str) -> str:
        """A signed assertion for the token endpoint `audience` (aud), issued by and about the app."""
        now = int(time.time())
        claims = {'aud': audience, 'iss': self.client_id, 'sub': self.client_id, 'jti': str(uuid.uuid4()),
                  'iat': now, 'nbf': now, 'exp': now + CLIENT_ASSERTION_LIFETIME}
        x5t = base64.urlsafe_b64encode(bytes.fromhex(normalize_thumbprint(self.thumbprint))).decode().rstrip('=')
        assertion = jwt.encode(claims, self.key(), algorithm='RS256', headers={'x5t': x5t})
        add_sensitive_log_strs(assertion)
        return assertion

    def msal_credential(self, app_ref: list) -> dict:
        """MSAL's client_credential: a callable, so the key is touched only when a token request is sent."""
        normalize_thumbprint(self.thumbprint)   # a malformed thumbprint is refused before the request
        return {'client_assertion': lambda: self.for_audience(app_ref[0].authority.token_endpoint)}


class ClientSecretCredential(_ConfidentialAppCredential):
    """Client credentials with the app's client secret (Key)."""
    mode = MODE_SECRET
    required_params = ('enc_key',)

    def _credential_material(self) -> str:
        return self.settings.enc_key

    def _client_credential(self, app_ref: list) -> Any:
        return self.settings.enc_key

    def _request(self, app: Any, slot: dict, allow_redeem: bool) -> dict:
        return app.acquire_token_for_client(self.scopes)


def certificate_material(settings: AuthSettings) -> str:
    """Thumbprint and private key without the whitespace and separators a paste may add or drop."""
    return (re.sub(r'[\s:]', '', settings.certificate_thumbprint).upper() + '|'
            + re.sub(r'\s', '', settings.private_key))


class CertificateCredential(_ConfidentialAppCredential):
    """Client credentials with a certificate: Certificate thumbprint + Private key."""
    mode = MODE_CERTIFICATE
    required_params = ('certificate_thumbprint', 'private_key')

    def __init__(self, settings: AuthSettings, cloud: Cloud, session: AzureSession):
        super().__init__(settings, cloud, session)
        self.assertion = CertificateAssertion(self.client_id, settings.certificate_thumbprint, settings.private_key)

    def _credential_material(self) -> str:
        return certificate_material(self.settings)

    def _client_credential(self, app_ref: list) -> Any:
        return self.assertion.msal_credential(app_ref)

    def _request(self, app: Any, slot: dict, allow_redeem: bool) -> dict:
        return app.acquire_token_for_client(self.scopes)


class AuthorizationCodeCredential(_ConfidentialAppCredential):
    """Delegated: a user signs in with the login URL (PKCE) and the one-time code is redeemed once; later tokens
    come from the refresh token. The app authenticates with its secret (Key) or, without one, its certificate."""
    mode = MODE_AUTH_CODE

    def __init__(self, settings: AuthSettings, cloud: Cloud, session: AzureSession):
        super().__init__(settings, cloud, session)
        self._redeemed_with = ''   # the PKCE verifier sent with the code this run redeemed
        self.assertion = CertificateAssertion(self.client_id, settings.certificate_thumbprint, settings.private_key)

    @classmethod
    def check(cls, settings: AuthSettings) -> None:
        super().check(settings)
        if not settings.enc_key and not (settings.certificate_thumbprint and settings.private_key):
            raise missing_param_error('enc_key', MODE_LABELS[cls.mode])

    @property
    def scopes(self) -> list[str]:
        return [f'{self.arm_url}/user_impersonation']

    @property
    def redirect_uri(self) -> str:
        return self.settings.redirect_uri

    def _credential_material(self) -> str:
        return self.settings.enc_key or certificate_material(self.settings)

    def _read_slot(self) -> dict:
        """The slot of this credential; when the app's Key or certificate changed, the signed-in session of the
        previous one (its refresh token and PKCE verifier, never its access tokens): the next token comes from the
        refresh token redeemed with the new credential, so Entra ID checks it at once and nobody signs in again."""
        slot = auth_store_read(self.identity_key)
        if slot:
            return slot
        previous = auth_store_previous(self.identity_key)
        cache, _ = msal_cache_load(previous.get('msal_cache'))
        for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)
        migrated = {key: previous[key] for key in (PKCE_VERIFIER_KEY,) if previous.get(key)}
        if list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)):
            migrated['msal_cache'] = cache.serialize()
        return migrated

    def _client_credential(self, app_ref: list) -> Any:
        if self.settings.enc_key or not self.settings.private_key:
            return self.settings.enc_key
        return self.assertion.msal_credential(app_ref)

    def _request(self, app: Any, slot: dict, allow_redeem: bool) -> dict:
        accounts = app.get_accounts()
        if accounts:
            result = app.acquire_token_silent_with_error(self.scopes, account=accounts[0])
            if result:
                return result
            raise AuthError(code='SignInRequired')
        if not allow_redeem:
            raise AuthError(code='AuthCodeNotRedeemed')
        code = clean_auth_code(self.settings.auth_code)
        add_sensitive_log_strs(code)
        if not self.redirect_uri:
            raise InputError(code='MissingParam', field='Application redirect URI', mode='the Authorization Code mode',
                             where='enter the redirect URI registered for the app (Authentication > Web).')
        # PKCE: the verifier of the login URL; none stored = a login URL from before PKCE, redeemed without it
        # (Entra ID accepts that from a confidential client when the sign-in carried no code_challenge).
        verifier = slot.get(PKCE_VERIFIER_KEY) or ''
        if verifier:
            add_sensitive_log_strs(verifier)
        self._redeemed_with = verifier
        extra = {'data': {'code_verifier': verifier}} if verifier else {}
        return app.acquire_token_by_authorization_code(code, self.scopes, redirect_uri=self.redirect_uri, **extra)

    def _spent(self, slot: dict, result: dict | None) -> dict:
        verifier, self._redeemed_with = self._redeemed_with, ''
        if verifier and (result or {}).get('access_token'):
            return {PKCE_VERIFIER_KEY: verifier}   # single use: the code it protected is redeemed
        return {}

    def has_cached_sign_in(self) -> bool:
        """A refresh token for this identity is cached (the code was redeemed before)."""
        cache, _ = msal_cache_load(self._read_slot().get('msal_cache'))
        return bool(list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)))

    def authorize_url(self) -> str:
        """The sign-in URL for this cloud, tenant, client and redirect URI, with PKCE (RFC 7636, S256). The code is
        redeemed in a later run, so the code_verifier is kept in this identity's slot of the integration context
        (merged by compare-and-set; it replaces the verifier of any earlier login URL) and is sent when the code is
        redeemed. The verifier never leaves the integration context: only its SHA-256 is in the URL."""
        verifier = secrets.token_urlsafe(PKCE_VERIFIER_BYTES)
        add_sensitive_log_strs(verifier)
        auth_store_update(self.identity_key, {PKCE_VERIFIER_KEY: verifier})
        query = urlencode({
            'client_id': self.client_id, 'response_type': 'code', 'redirect_uri': self.redirect_uri,
            'response_mode': 'query', 'scope': f'offline_access {self.arm_url}/user_impersonation',
            'state': secrets.token_urlsafe(16), 'code_challenge': pkce_challenge(verifier),
            'code_challenge_method': 'S256',
        })
        return f'{self.login_url}/{self.tenant_id}/oauth2/v2.0/authorize?{query}'


class ManagedIdentityCredential(_MsalCredential):
    """The engine's managed identity (MSAL finds the IMDS / App Service endpoint from the environment): the
    system-assigned one, or the user-assigned one whose client ID is "Managed identity client ID". Its endpoint is
    on the engine's own host (App Service) or link-local (IMDS), so its requests go through a session of their own
    that never uses a proxy (a proxy cannot reach it, and must not see its tokens)."""
    mode = MODE_MANAGED_IDENTITY

    def __init__(self, settings: AuthSettings, cloud: Cloud, session: AzureSession):
        super().__init__(settings, cloud, session)
        self.client_id = settings.managed_identities_client_id
        self.identity_session = AzureSession(verify=session.default_verify, direct=True, budget=session.budget)

    @classmethod
    def check(cls, settings: AuthSettings) -> None:
        if settings.managed_identities_client_id:
            require_guid(settings.managed_identities_client_id, 'Managed identity client ID',
                         'copy the Client ID of the user-assigned identity (or leave it empty for the system one).')

    @staticmethod
    def _endpoint() -> str:
        return (os.environ.get('IDENTITY_ENDPOINT') or os.environ.get('AZURE_POD_IDENTITY_AUTHORITY_HOST')
                or 'http://169.254.169.254')

    def _msal_request(self, slot: dict, cache: Any, http_cache: dict, allow_redeem: bool) -> dict:
        identity = (msal.UserAssignedManagedIdentity(client_id=self.client_id) if self.client_id
                    else msal.SystemAssignedManagedIdentity())
        client = msal.ManagedIdentityClient(identity, http_client=self.identity_session, token_cache=cache,
                                            http_cache=http_cache)
        try:
            return client.acquire_token_for_client(resource=f'{self.arm_url}/')
        except msal.ManagedIdentityError as exc:
            raise AuthError(code='ManagedIdentityFailed', original=first_line(str(exc)),
                            detail='MSAL refused the identity') from None

    def _unreachable(self, exc: Exception) -> ContainmentError:
        return AuthError(code='ManagedIdentityFailed', original=connection_failure(exc, self._endpoint()).message,
                         detail='the managed identity endpoint is unreachable')

    def _result_error(self, result: dict) -> ContainmentError:
        text = re.sub(r'^AADSTS\d+:\s*', '', first_line(str(result.get('error_description') or '')))
        return AuthError(code='ManagedIdentityFailed', original=f'{result.get("error") or "error"}: {text}'.strip(': '),
                         detail='the managed identity endpoint refused the request',
                         status=self._status_from(self._endpoint(), self.identity_session))


class XsoarAppCredential(Credential):
    """Cortex XSOAR's own multi-tenant application: the token comes from XSOAR's token service, which is sent the
    tenant sealed with the consent page's Key (AES-GCM). After a failure the next attempt waits, doubling each time
    (XSOAR_APP_BACKOFF_*), until the Key, ID or Token change or auth-reset runs."""
    mode = MODE_XSOAR_APP
    id_field = 'ID (Registration ID)'
    id_where = 'copy the Registration ID from the consent page.'
    required_params = ('enc_key',)

    @classmethod
    def check(cls, settings: AuthSettings) -> None:
        super().check(settings)
        parsed = urlparse(settings.token_retrieval_url)
        if parsed.scheme.lower() != 'https' or not parsed.netloc:
            raise InputError(f'"{PARAM_DISPLAY["token_retrieval_url"]}" must be an https:// URL: the token request '
                             'carries the sealed tenant and returns an access token, never sent unencrypted. Fix: '
                             f'use the default, {DEFAULT_TOKEN_RETRIEVAL_URL}.', code='InsecureEndpoint')

    def _credential_material(self) -> str:
        return f'{self.settings.enc_key}|{self.settings.token_retrieval_url}'

    def _aes_key(self) -> bytes:
        try:
            key = base64.b64decode(self.settings.enc_key, validate=True)
        except (ValueError, TypeError):
            key = b''
        if len(key) not in (16, 24, 32):
            raise InputError(code='InvalidEncryptionKey')
        return key

    def _fingerprint(self) -> str:
        s = self.settings
        material = f'{self.client_id}|{self.tenant_id}|{s.enc_key}|{s.token_retrieval_url}'
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def _acquire(self, force_refresh: bool, allow_redeem: bool) -> tuple[str, float]:
        url = self.settings.token_retrieval_url
        slot = xsoar_app_slot(self._read_slot())
        now = time.time()
        token = slot.get('access_token')
        if token:
            add_sensitive_log_strs(token)
        if token and not force_refresh and slot.get('expires_on', 0) - TOKEN_REFRESH_MARGIN_SECONDS > now:
            self.last_source = 'cache'
            return token, slot['expires_on']
        key = self._aes_key()
        fingerprint = self._fingerprint()
        backoff = slot.get('backoff') or {}
        if backoff.get('fingerprint') == fingerprint and backoff.get('next_attempt', 0) > now:
            until = datetime.fromtimestamp(backoff['next_attempt'], UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
            raise AuthError(code='XsoarAppBackoff', original=backoff.get('last_error', ''),
                            failures=backoff.get('failures', 1), until=until,
                            seconds=int(backoff['next_attempt'] - now + 0.999))
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, f'{int(time.time())}:{self.tenant_id}'.encode(), None)
        encrypted = base64.b64encode(nonce + sealed).decode()
        add_sensitive_log_strs(encrypted)
        body = {'app_name': XSOAR_APP_NAME, 'registration_id': self.client_id, 'encrypted_token': encrypted,
                'scope': self.scopes[0]}
        detail = ''
        status: int | None = None
        try:
            response = self.session.post(url, json=body)
            status = response.status_code
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
                return token, now + expires_in
            if isinstance(payload, dict):
                parts = [first_line(payload[name], 200) for name in
                         ('title', 'detail', 'error', 'error_description', 'message')
                         if isinstance(payload.get(name), str) and payload[name]]
                detail = ': '.join(parts[:2])
            detail = f'HTTP {response.status_code}' + (f': {detail}' if detail else '')
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            detail = connection_failure(exc, url).message
        failures = (backoff.get('failures', 0) if backoff.get('fingerprint') == fingerprint else 0) + 1
        wait = min(XSOAR_APP_BACKOFF_BASE_SECONDS * 2 ** (failures - 1), XSOAR_APP_BACKOFF_MAX_SECONDS)
        next_attempt = int(now) + wait
        auth_store_update(self.identity_key, {'backoff': {
            'fingerprint': fingerprint, 'failures': failures, 'next_attempt': next_attempt, 'last_error': detail}})
        until = datetime.fromtimestamp(next_attempt, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
        raise AuthError(code='XsoarAppTokenFailed', original=detail, host=host_of(url),
                        detail='the request was refused', status=status,
                        retry=f'Because of the failure the next attempt waits until {until} (in {wait} s); '
                              f'!azure-containment-auth-reset lifts the wait.')


def stored_number(value: Any) -> TypeGuard[int | float]:
    """Whether a value read back from the integration context is a number (JSON's true/false are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def xsoar_app_slot(slot: dict) -> dict:
    """The Cortex XSOAR application's slot with only well-formed entries (a token string and its expiry, a back-off
    record with numbers): anything else was corrupted and is ignored with a debug line (a token is requested again
    and the next write replaces it)."""
    number = stored_number
    clean: dict = {}
    if isinstance(slot.get('access_token'), str) and number(slot.get('expires_on')):
        clean.update(access_token=slot['access_token'], expires_on=slot['expires_on'])
    backoff = slot.get('backoff')
    if isinstance(backoff, dict) and number(backoff.get('next_attempt')) and number(backoff.get('failures')) \
            and isinstance(backoff.get('fingerprint'), str):
        clean['backoff'] = backoff
    if {k for k in ('access_token', 'expires_on', 'backoff') if k in slot} != set(clean):
        demisto.debug('Azure Containment: unreadable cached token or back-off of the Cortex XSOAR application '
                      'dropped')
    return clean


# Authentication mode -> its credential class (which checks its own params). auth_mode() picks the row.
CREDENTIALS: dict[str, type[Credential]] = {
    MODE_SECRET: ClientSecretCredential,
    MODE_CERTIFICATE: CertificateCredential,
    MODE_AUTH_CODE: AuthorizationCodeCredential,
    MODE_MANAGED_IDENTITY: ManagedIdentityCredential,
    MODE_XSOAR_APP: XsoarAppCredential,
}


# Retries: where each one lives, and why the hand-written ones are not urllib3's Retry.
# - A connection that fails before any response (connect error, reset, read timeout): urllib3's Retry through
#   requests (AzureSession's adapter: connect=3, read=2, for GET, PUT, DELETE, HEAD, OPTIONS, which ARM makes
#   idempotent). Entra ID's requests (MSAL's) go through the same session and get the same.
# Hand-written, because ARM's semantics need more than urllib3 can be told:
# - RetryPolicy in AzureClient.arm_request (429 / 5xx): urllib3 would sleep whatever Retry-After says (600 s too)
#   and cannot stop at the command's time budget; the policy refuses a wait beyond ARM_MAX_RETRY_WAIT_SECONDS or
#   the budget and the user's error says when to retry. A 401 ExpiredAuthenticationToken is sent again with a new
#   token (a new Authorization header: not something a transport retry can do).
# - arm_request(resend_idempotent=True): a POST whose connection failed, sent again (VM power actions only; the
#   adapter's allowed_methods holds for every POST of the session, MSAL's token redemptions included).
# - The NSG write rounds of _block_direction, _unblock_direction and _consolidate_pack_rules (back-off()): after a
#   429 AnotherOperation / SecurityRuleConflict / lost lease the next write is recomputed from a fresh read of the
#   NSG (a parallel writer changed it); resending the same request would lose its update or duplicate a priority.
# - OperationPoller.wait: not a retry, the wait for a long-running operation (its Retry-After between polls).
# - NsgLease.acquire and update_integration_context: compare-and-set rounds on the integration context (no HTTP).
# - GraphQuota: Resource Graph's own quota headers; XsoarAppCredential: the Cortex XSOAR token service's back-off.


class TimeBudget:
    """The time one command run may spend (instance param time_budget) and the writes it made so far.

    Every wait of the client (a Retry-After, a back-off, a poll interval) and every request's timeout is bounded by
    what is left; a wait that would go past the end raises TimeBudgetExhausted instead of waiting, saying which
    writes were done and what was not. A rollback gets ROLLBACK_RESERVE_SECONDS more (reserve()), once."""

    def __init__(self, seconds: float = DEFAULT_TIME_BUDGET, read_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = float(seconds)
        self.read_timeout = float(read_timeout)
        self._clock = clock
        self.deadline = clock() + self.seconds
        self.reserved = False
        self.done: list[str] = []   # the writes ARM accepted in this run ("PUT rule x"), in order

    def remaining(self) -> float:
        return self.deadline - self._clock()

    def record(self, method: str, path: str) -> None:
        kind = path.split('?', 1)[0].rstrip('/').split('/')
        label = f'{kind[-2]}/{kind[-1]}' if len(kind) >= 2 else path
        self.done.append(f'{method} {urllib.parse.unquote(label)}')

    def exhausted(self, what: str) -> ContainmentError:
        done = '; '.join(self.done) if self.done else 'nothing (no write was made)'
        return ContainmentError(
            f'The time budget of {int(self.seconds)} s (instance param time_budget) ran out {what}. Done in Azure: '
            f'{done}. Not done: {what.removeprefix("while ").removeprefix("before ")} and everything after it. Fix: '
            'run the same command again (it finds what is done and finishes the rest), or its reverse to undo it.',
            code='TimeBudgetExhausted')

    def check(self, seconds: float, what: str) -> None:
        """Raises TimeBudgetExhausted when waiting `seconds` now would end past the budget."""
        if seconds > self.remaining():
            raise self.exhausted(what)

    def request_timeout(self, what: str) -> tuple[float, float]:
        """(connect, read) timeout of the next request: request_timeout, at most what is left of the budget."""
        left = self.remaining()
        if left <= 0:
            raise self.exhausted(f'before {what}')
        return min(float(HTTP_CONNECT_TIMEOUT), left), min(self.read_timeout, left)

    def reserve(self) -> None:
        """A rollback is starting: it may spend ROLLBACK_RESERVE_SECONDS beyond what is left (once per run)."""
        if not self.reserved:
            self.reserved = True
            self.deadline = max(self.deadline, self._clock()) + ROLLBACK_RESERVE_SECONDS


class RetryPolicy:
    """When an ARM request that was throttled (429) or failed in Azure (5xx) is sent again: after Retry-After when
    ARM gives one, else after an exponential back-off from `base_seconds`; at most `max_retries` times, and never
    when the wait would exceed `max_wait_seconds` (the error then tells the user when to try again)."""

    def __init__(self, max_retries: int = ARM_MAX_RETRIES, max_wait_seconds: float = ARM_MAX_RETRY_WAIT_SECONDS,
                 base_seconds: float = ARM_DEFAULT_RETRY_SECONDS):
        self.max_retries = max_retries
        self.max_wait_seconds = max_wait_seconds
        self.base_seconds = base_seconds

    def delay(self, err: ArmError, retries_done: int) -> float | None:
        """Seconds to wait before sending the request again, or None: give up and raise `err`."""
        if not isinstance(err, (ArmThrottled, ArmServerError)) or retries_done >= self.max_retries:
            return None
        wait = err.retry_after if err.retry_after is not None else self.base_seconds * 2 ** retries_done
        return wait if wait <= self.max_wait_seconds else None


class OperationStatus(NamedTuple):
    """One poll of a long-running operation."""
    status: str                      # InProgress, Succeeded, Failed or Canceled
    retry_after: float = 0           # seconds to wait before the next poll
    url: str | None = None           # the URL polled (None: the write finished at once)
    error: 'ArmError | None' = None  # what a Failed / Canceled operation ended with
    body: Any = None                 # the final body (Location style)


class OperationPoller:
    """ARM's long-running operations: a write or power action answers 201/202 with an Azure-AsyncOperation (or
    Location) URL, polled until it says Succeeded, Failed or Canceled, waiting its Retry-After between polls."""

    def __init__(self, client: 'AzureClient'):
        self.client = client   # polls are ARM requests: the client's token, retries and error parsing apply

    def status(self, response_or_url: Any) -> OperationStatus:
        """One poll. Accepts the initial response (uses Azure-AsyncOperation, else Location) or an operation URL."""
        if isinstance(response_or_url, requests.Response):
            url = operation_url_of(response_or_url)
            if not url:
                return OperationStatus('Succeeded', body=json_or_empty(response_or_url))
        else:
            url = str(response_or_url)
        try:
            response = self.client.arm_request('GET', url)
        except (ArmThrottled, ArmServerError):
            raise
        except ArmError as exc:   # the operation itself cannot be read: it counts as failed
            return OperationStatus('Failed', url=url, error=exc)
        retry_after = parse_retry_after(response.headers.get('Retry-After'))
        payload = json_or_empty(response)
        if isinstance(payload, dict) and isinstance(payload.get('status'), str):
            status = payload['status']
            normalized = {'succeeded': 'Succeeded', 'failed': 'Failed', 'canceled': 'Canceled',
                          'cancelled': 'Canceled'}.get(status.lower(), 'InProgress')
            error = None
            if normalized in ('Failed', 'Canceled'):
                body: dict = payload['error'] if isinstance(payload.get('error'), dict) else {}
                error = arm_error(None, str(body.get('code') or 'OperationFailed'), str(body.get('message') or ''),
                                  correlation_id=response.headers.get('x-ms-correlation-request-id') or '',
                                  request_id=response.headers.get('x-ms-request-id') or '', details=body.get('details'))
            return OperationStatus(normalized, retry_after or LRO_DEFAULT_POLL_SECONDS, url, error, payload)
        if response.status_code == 202:
            return OperationStatus('InProgress', retry_after or LRO_DEFAULT_POLL_SECONDS, url)
        return OperationStatus('Succeeded', url=url, body=payload)

    def wait(self, response: requests.Response, timeout_seconds: float) -> OperationStatus:
        """Poll until the operation of `response` is terminal and return its final status (see status()). Raises
        ContainmentError OperationTimeout after timeout_seconds. The first poll comes after the Retry-After of the
        response itself when it has one: ARM says how long to wait before checking the status (an earlier poll
        only spends a read of the subscription's budget)."""
        deadline = time.monotonic() + float(timeout_seconds)
        url = operation_url_of(response)
        if not url:
            return self.status(response)
        first_wait = parse_retry_after(response.headers.get('Retry-After'))
        if first_wait:
            self.client.pause(min(float(first_wait), float(timeout_seconds)), 'while waiting for an operation')
        while True:
            status = self.status(url)
            if status.status != 'InProgress':
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ContainmentError(code='OperationTimeout', seconds=int(timeout_seconds))
            self.client.pause(max(0.0, min(float(status.retry_after), remaining)), 'while waiting for an operation')


class AzureClient:
    """Azure Resource Manager: one transport (the requests.Session), a credential for its tokens, a retry policy and
    the long-running operation poller. Every ARM request goes through arm_request; errors come out typed."""

    def __init__(self, *, credential: Credential, arm_url: str, subscription_id: str = '', resource_group: str = '',
                 default_nsg_name: str = '', sleep: Callable[[float], None] = time.sleep,
                 retry: RetryPolicy | None = None, limits: 'PrefixLimits | None' = None,
                 platform_services_on_request: bool = DEFAULT_PLATFORM_SERVICES_ON_REQUEST):
        self.credential = credential
        self.limits = limits or block_limits({})   # the admin's address policy for blocks (instance params)
        # Whether azure-vm-isolate may honour allow_platform_services=true (instance param: alert data cannot).
        self.platform_services_on_request = platform_services_on_request
        self.arm_url = arm_url.rstrip('/')
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.default_nsg_name = default_nsg_name
        self.session = credential.session   # one transport for Entra ID and ARM
        self.budget: TimeBudget = self.session.budget   # the run's time budget and the writes it made
        self.sleep = sleep    # every wait of the client (retries, polls) goes through it (by pause())
        self.retry = retry or RetryPolicy()
        self.operations = OperationPoller(self)

    # -- requests ----------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(('https://', 'http://')):
            if host_of(path).lower() != host_of(self.arm_url).lower():
                raise InputError(f'Refusing to send the access token to {host_of(path)}: it is not the ARM '
                                 f'endpoint {self.arm_url}.', code='ForeignHost')
            return path
        if not path.startswith('/'):
            path = '/' + path
        return self.arm_url + path

    def arm_request(self, method: str, path: str, *, api_version: str | None = None, params: dict | None = None,
                    body: Any = None, retry_busy: bool = True, resend_idempotent: bool = False) -> requests.Response:
        """One ARM call. `path` is "/subscriptions/..." (or a full ARM URL such as a nextLink or an operation URL,
        which keeps its own api-version). 429/5xx are sent again as the retry policy says unless
        retry_busy=False. A 401 with an expired or invalid token refreshes the token once. Errors raise the
        ArmError subclass of parse_arm_error, or ConnectionFailure without a response.

        Connections that fail before a response are sent again by urllib3's Retry (the session's adapter) for
        GET, PUT, DELETE, HEAD; not for POST, which may not be idempotent (token redemption). `resend_idempotent`:
        this POST is (a VM power action: a second start of a starting VM starts nothing twice), so it is sent again
        after such a failure, as the retry policy spaces its retries."""
        url = self._url(path)
        query = dict(params or {})
        if api_version and 'api-version' not in parse_qs(urlparse(url).query):
            query['api-version'] = api_version
        retries = 0
        refreshed = False
        while True:
            token = self.credential.get_token(force_refresh=False)
            headers = {'Authorization': f'Bearer {token}', 'Accept': 'application/json'}
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=query or None, headers=headers,
                                                json=body if body is not None else None)
            except (requests.exceptions.SSLError, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout) as exc:
                failure = connection_failure(exc, url)
                if (resend_idempotent and not isinstance(exc, requests.exceptions.SSLError)
                        and retries < self.retry.max_retries):
                    retries += 1
                    wait = self.retry.base_seconds * 2 ** (retries - 1)
                    debug_arm_request(method, url, started, None, f'{failure.code}; sent again in {wait} s')
                    self.pause(wait, f'while waiting {wait:g} s to send {method} {name_of(urlparse(url).path)} again')
                    continue
                debug_arm_request(method, url, started, None, f'{failure.code}')
                raise failure from None
            except RedirectRefused as refused:
                debug_arm_request(method, url, started, self.session.last_response, refused.code)
                raise
            if response.status_code < 400:
                debug_arm_request(method, url, started, response)
                if method in ('PUT', 'PATCH', 'POST', 'DELETE'):
                    self.budget.record(method, urlparse(url).path)
                return response
            err = parse_arm_error(response)
            if isinstance(err, ArmAuthenticationFailed) and not refreshed and err.code in TOKEN_REFRESH_CODES:
                debug_arm_request(method, url, started, response, f'{err.code}; refreshing the token once')
                refreshed = True
                self.credential.get_token(force_refresh=True)
                continue
            wait = self.retry.delay(err, retries) if retry_busy else None
            if wait is None:
                debug_arm_request(method, url, started, response, err.code)
                raise non_ascii_note(err, url) if isinstance(err, ArmNotFound) else err
            retries += 1
            debug_arm_request(method, url, started, response, f'{err.code}; retry {retries} in {wait} s')
            self.pause(wait, f'while waiting {wait:g} s (Retry-After) to send {method} '
                             f'{name_of(urlparse(url).path)} again')

    def pause(self, seconds: float, what: str) -> None:
        """Every wait of the client: sleeps `seconds`, or raises TimeBudgetExhausted when that would end past the
        run's time budget."""
        self.budget.check(seconds, what)
        if seconds > 0:
            self.sleep(seconds)

    def arm_json(self, method: str, path: str, **kwargs: Any) -> dict:
        """arm_request, then the parsed JSON body ({} when the body is empty)."""
        return json_or_empty(self.arm_request(method, path, **kwargs))

    def list_pages(self, path: str, *, api_version: str, params: dict | None = None, limit: int | None = None,
                   keep: Callable[[dict], bool] | None = None) -> list[dict]:
        """Every item of a list call (only those `keep` accepts, when given), following nextLink; stops once `limit`
        items are collected."""
        items: list[dict] = []
        url: str | None = path
        while url:
            page = self.arm_json('GET', url, api_version=api_version, params=params if url == path else None)
            items.extend(item for item in page.get('value') or [] if keep is None or keep(item))
            if limit and len(items) >= limit:
                return items[:limit]
            url = page.get('nextLink')
        return items


''' HELPER FUNCTIONS '''

# Error messages

def role_for_action(action: str) -> str:
    """The built-in role that grants `action` (case-insensitive): the table, then a rule by provider."""
    for known, role in [*REQUIRED_ACTIONS.items(), *((a, row[0]) for a, row in OPTIONAL_ACTIONS.items())]:
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


class _HintDefaults(dict):
    """Placeholders an error did not fill: empty for the optional retry texts, 'unknown' for the rest."""

    def __missing__(self, key: str) -> str:
        return '' if key in ('retry', 'retry_after') else 'unknown'


def hint_text(code: str, fields: dict) -> str:
    """The ERROR_HINTS row of `code` (what is wrong and which setup step fixes it) with its placeholders filled;
    '' when the code has no row."""
    template = ERROR_HINTS.get(code)
    if template is None:
        return ''
    return template.format_map(_HintDefaults({k: v for k, v in fields.items() if v is not None}))


def arm_error_class(status: int | None, code: str) -> type[ArmError]:
    """The one mapping of ARM's answer to an error class: throttling and server errors by status, contention by code
    (also in a failed long-running operation, which has no status), the rest by status."""
    if status == 429:
        return ArmThrottled
    if status and status >= 500:
        return ArmServerError
    if code in ARM_CONTENTION_CODES or status == 409:
        return ArmConflict
    return {400: ArmBadRequest, 401: ArmAuthenticationFailed, 403: ArmForbidden, 404: ArmNotFound}.get(
        status or 0, ArmError)


def arm_error(status: int | None, code: str, message: str, *, retry_after: int | None = None,
              correlation_id: str = '', request_id: str = '', details: Any = None) -> ArmError:
    """The typed error for an ARM error (status None: a failed long-running operation). The explanation is the
    code's ERROR_HINTS row (AuthorizationFailed names the action and the role granting it); an unknown code gets the
    TooManyRequests / ServerError row by status, or says which status ARM returned."""
    cls = arm_error_class(status, code)
    common: dict[str, Any] = {'code': code or _STATUS_CODES.get(status or 0, 'ArmError'), 'original': message,
                              'status': status, 'retry_after': retry_after, 'correlation_id': correlation_id,
                              'request_id': request_id, 'details': details}
    if code == 'AuthorizationFailed':
        action = re.search(r"action '([^']+)'", message or '')
        scope = re.search(r"scope '([^']+)'", message or '')
        action_name = action.group(1) if action else 'the requested action'
        role = role_for_action(action_name) if action else 'Network Contributor / Virtual Machine Contributor'
        return cls(action=action_name, scope=scope.group(1) if scope else 'this scope', role=role, **common)
    if code in ERROR_HINTS:
        return cls(**common)
    if status == 429:
        return cls(hint='TooManyRequests', **common)
    if status and status >= 500:
        return cls(hint='ServerError', **common)
    return cls(f'Azure Resource Manager refused the request (HTTP {status})' if status else
               'The operation failed in Azure', **common)


def parse_arm_error(response: requests.Response) -> ArmError:
    """The typed error of an ARM error response: {"error": {"code", "message", "details"}} (or the fields at the top
    level), the status, Retry-After and ARM's request and correlation IDs."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error: dict = {}
    if isinstance(payload, dict):
        error = payload['error'] if isinstance(payload.get('error'), dict) else payload
    code = str(error.get('code') or '') or _STATUS_CODES.get(response.status_code, '')
    if not code and response.status_code >= 500:
        code = 'ServerError'
    message = str(error.get('message') or '') or (response.text or '')[:300] or response.reason or ''
    return arm_error(response.status_code, code, first_line(message, 600),
                     retry_after=parse_retry_after(response.headers.get('Retry-After')),
                     correlation_id=response.headers.get('x-ms-correlation-request-id') or '',
                     request_id=response.headers.get('x-ms-request-id') or '', details=error.get('details'))


def non_ascii_note(err: ArmError, url: str) -> ContainmentError:
    """A 404 for a path whose names hold non-ASCII characters says so, with their code points: a look-alike name
    ('wеb-01' with a Cyrillic 'е') names another resource than the one it resembles, which may well exist."""
    path = urllib.parse.unquote(urlparse(url).path)
    odd = [(i, ch) for i, ch in enumerate(path) if ord(ch) > 127]
    if not odd:
        return err
    names = sorted({segment for segment in path.split('/') if any(ord(ch) > 127 for ch in segment)})
    points = ', '.join(f'U+{ord(ch):04X} {unicodedata.name(ch, "UNNAMED")}' for ch in dict.fromkeys(c for _, c in odd))
    shown = ', '.join(repr(name) for name in names[:MAX_LISTED_ITEMS])
    return err.with_note(f'Note: {shown} contain{"s" if len(names) == 1 else ""} non-ASCII characters ({points}): '
                         'a name that only looks like an ASCII name is a different resource, so this says nothing '
                         'about the resource it resembles. Fix: type the name in plain ASCII or use its resource ID.')


def connection_failure(exc: Exception, url: str) -> ConnectionFailure:
    """TlsFailure or HostUnreachable for a request that got no response, naming the host."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or 'CERTIFICATE_VERIFY_FAILED' in text:
        detail = 'certificate verify failed' if 'CERTIFICATE_VERIFY_FAILED' in text else type(exc).__name__
        return ConnectionFailure(code='TlsFailure', host=host_of(url), detail=detail)
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
    return ConnectionFailure(code='HostUnreachable', host=host_of(url), detail=detail)


DEBUG_LOG_LOCK = threading.Lock()   # demisto calls talk to the server over one channel: never two at once


def debug_arm_request(method: str, url: str, started: float, response: requests.Response | None,
                      outcome: str = '') -> None:
    """The one server-log line of an ARM request: method, path (no query: nothing after '?' is logged), status,
    milliseconds and ARM's request and correlation IDs (what Azure support asks for), plus what happens next."""
    took = f'{(time.monotonic() - started) * 1000:.0f} ms'
    path = urlparse(url).path
    extra = f'; {outcome}' if outcome else ''
    if response is None:
        line = f'ARM {method} {path} -> no response after {took}{extra}'
    else:
        line = (f'ARM {method} {path} -> {response.status_code} in {took} (x-ms-request-id '
                f'{response.headers.get("x-ms-request-id") or "-"}, x-ms-correlation-request-id '
                f'{response.headers.get("x-ms-correlation-request-id") or "-"}){extra}')
    with DEBUG_LOG_LOCK:   # the threads of _write_nics log too: one demisto call at a time
        demisto.debug(line)


def host_of(url: str) -> str:
    parsed = urlparse(url or '')
    return f'{parsed.scheme}://{parsed.netloc}' if parsed.netloc else (url or '')


def first_line(text: str, limit: int = 300) -> str:
    line = (text or '').replace('\r', '\n').split('\n')[0].strip()
    return line[:limit]


def parse_retry_after(value: Any) -> int | None:
    """Retry-After in whole seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if value in (None, ''):
        return None
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        pass
    try:
        return max(0, int(parsedate_to_datetime(str(value)).timestamp() - time.time() + 0.999))
    except (TypeError, ValueError, IndexError):
        return None


def operation_url_of(response: Any) -> str | None:
    """Where a long-running operation reports its status: Azure-AsyncOperation, else Location."""
    return response.headers.get('Azure-AsyncOperation') or response.headers.get('Location')


def json_or_empty(response: Any) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        return {}


# Instance parameters

def credential_value(value: Any) -> str:
    """The secret of a type 9 (credentials) param: its `password`; a plain string is accepted as is."""
    if isinstance(value, dict):
        value = value.get('password') or ''
    return str(value or '').strip()


def missing_param_error(name: str, mode: str) -> InputError:
    return InputError(code='MissingParam', field=PARAM_DISPLAY.get(name, name), mode=mode,
                      where=f'fill in "{PARAM_DISPLAY.get(name, name)}" in the instance settings and save.')


def param_flag(value: Any, default: bool = False) -> bool:
    if value is None or value == '':
        return default
    return argToBoolean(value)


def require_guid(value: str, field: str, where: str) -> str:
    """`value` when it is a GUID, else an InputError naming the field (no request is made)."""
    if not re.fullmatch(GUID_RE, value or ''):
        raise InputError(code='InvalidGuid', field=field, where=where)
    return value


def validate_tenant(value: str) -> str:
    """A tenant is a GUID or a verified domain name (contoso.onmicrosoft.com); anything else is refused."""
    if re.fullmatch(GUID_RE, value or '') or (re.match(DOMAIN_RE, value or '')
                                               and not re.fullmatch(r'[0-9a-fA-F-]+', value)):
        return value
    raise InputError(code='InvalidGuid', field='Token (tenant ID)',
                     where='copy the Directory (tenant) ID from Entra ID > Overview (or the app registration\'s '
                           'Overview).')


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(ASCII verifier)) without '=' padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode('ascii')).digest()).decode().rstrip('=')


def clean_auth_code(raw: str) -> str:
    """The bare one-time code from what a user pasted: the code itself, `code=...`, a code followed by
    `&session_state=...`/`&state=...`, or the whole redirect URL. Anything else raises InvalidAuthCode."""
    text = (raw or '').strip()
    if not text:
        raise InputError(code='InvalidAuthCode', detail='it is empty')
    pasted_error = re.search(r'AADSTS(\d+)', text)
    if pasted_error and f'AADSTS{pasted_error.group(1)}' in ERROR_HINTS:
        # The sign-in page showed an error (e.g. AADSTS50011) and its text was pasted instead of a code.
        code = f'AADSTS{pasted_error.group(1)}'
        original = first_line(re.sub(r'^.*?AADSTS\d+:\s*', '', text, flags=re.DOTALL), 200)
        raise InputError(code=code, original=original)
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
            raise InputError(code='InvalidAuthCode', detail=detail)
        codes = values.get('code') or []
        if len(codes) != 1 or not codes[0]:
            raise InputError(code='InvalidAuthCode', detail='no code= value found in it')
        text = codes[0]
    if not re.match(AUTH_CODE_RE, text):
        raise InputError(code='InvalidAuthCode',
                         detail='it contains spaces or characters a code never has, or is too short')
    return text


def rebuild_pem(text: str) -> str:
    """A PEM private key from the Private key param: XSOAR's single-line fields often turn its line breaks into
    spaces, so the base64 body is re-wrapped at 64 characters between its BEGIN/END lines."""
    match = re.search(r'-----BEGIN ([A-Z0-9 ]+?)-----(.*?)-----END \1-----', text or '', re.DOTALL)
    if not match:
        raise InputError(code='InvalidCertificate', detail='Private key has no -----BEGIN ... PRIVATE KEY----- block')
    label, body = match.group(1), re.sub(r'\s+', '', match.group(2))
    if 'PRIVATE KEY' not in label or 'ENCRYPTED' in label:
        raise InputError(code='InvalidCertificate',
                         detail=f'Private key holds a "{label}" block, not an unencrypted private key')
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '\n'.join([f'-----BEGIN {label}-----', *lines, f'-----END {label}-----', ''])


def normalize_thumbprint(text: str) -> str:
    value = re.sub(r'[\s:]', '', text or '').upper()
    if not re.fullmatch(r'[0-9A-F]{40}', value):
        raise InputError(code='InvalidCertificate',
                         detail='Certificate thumbprint is not a SHA-1 thumbprint (40 hex digits)')
    return value


# Integration context: shared by every parallel run of one instance. Writes are compare-and-set on its version,
# so the auth caches (CTX_AUTH_KEY) and the NSG leases (CTX_LEASES_KEY) never overwrite each other's keys.

def update_integration_context(change: Callable[[dict], bool]) -> None:
    """Read the context, let `change` edit it in place (it returns False when there is nothing to write) and write it
    back only if no other run wrote in between; otherwise read again and re-apply."""
    for _ in range(CONTEXT_WRITE_ATTEMPTS):
        snapshot = get_integration_context(with_version=True) or {}
        if 'context' in snapshot and 'version' in snapshot:
            context, version = dict(snapshot['context'] or {}), snapshot['version']
        else:  # a server without the versioned context: the last writer wins
            context, version = dict(snapshot), -1
        if not change(context):
            return
        try:
            set_integration_context(context, version=version)
            return
        except ValueError:  # XSOAR refuses a write whose version is no longer the stored one
            time.sleep(random.uniform(0.01, 0.1))  # nosec - jitter only
    raise ContainmentError('The integration context kept changing under this run (too many parallel runs of this '
                           'instance). Fix: run the command again.', code='ContextContention')


def _auth_store(context: dict) -> dict:
    """The identities' slots of the context; a store or slot of the wrong shape (a corrupted context) is left out
    with a debug line, so it is never read and the next write drops it."""
    store = context.get(CTX_AUTH_KEY)
    if store is None:
        return {}
    if not isinstance(store, dict):
        demisto.debug('Azure Containment: the authentication cache was unreadable: dropped')
        return {}
    clean = {key: slot for key, slot in store.items() if isinstance(key, str) and isinstance(slot, dict)}
    if len(clean) != len(store):
        demisto.debug(f'Azure Containment: {len(store) - len(clean)} unreadable authentication cache slot(s) '
                      'dropped')
    return clean


def _identity_of(identity_key: str) -> str:
    """The identity key without its credential fingerprint: the same app or identity, whatever its credential."""
    return identity_key.rsplit(f'|{FINGERPRINT_MARK}', 1)[0]


def auth_store_read(identity_key: str) -> dict:
    return dict(_auth_store(get_integration_context() or {}).get(identity_key) or {})


def auth_store_previous(identity_key: str) -> dict:
    """The slot of the same identity under another credential fingerprint ({} when none): what a changed Key left."""
    identity = _identity_of(identity_key)
    for key, slot in _auth_store(get_integration_context() or {}).items():
        if key != identity_key and _identity_of(key) == identity:
            return dict(slot)
    return {}


def auth_store_update(identity_key: str, updates: dict, remove: tuple = (), drop_if: dict | None = None) -> None:
    """Merge `updates` into this identity's slot (other identities and other keys are kept). `drop_if` ({key: value})
    drops a key only while it still holds that value (a parallel run may have stored a newer one). The slots of the
    same identity under another credential fingerprint are dropped: their tokens belong to a credential this
    instance no longer has."""
    identity = _identity_of(identity_key)

    def change(context: dict) -> bool:
        store = {key: slot for key, slot in _auth_store(context).items()
                 if key == identity_key or _identity_of(key) != identity}
        slot = dict(store.get(identity_key) or {})
        slot.update(updates)
        for key in remove:
            slot.pop(key, None)
        for key, value in (drop_if or {}).items():
            if slot.get(key) == value:
                slot.pop(key)
        store[identity_key] = slot
        context[CTX_AUTH_KEY] = store
        return True
    update_integration_context(change)


def auth_store_clear() -> tuple[int, int]:
    """Forget every identity's tokens, MSAL caches and back-off, and every NSG lease; returns (identities, leases)."""
    cleared = (0, 0)

    def change(context: dict) -> bool:
        nonlocal cleared
        store, leases = context.pop(CTX_AUTH_KEY, None), context.pop(CTX_LEASES_KEY, None)
        cleared = (len(store) if isinstance(store, dict) else int(bool(store)),
                   len(leases) if isinstance(leases, dict) else int(bool(leases)))
        return True
    update_integration_context(change)
    return cleared


def valid_leases(stored: Any, now: float, max_ahead: float = LEASE_MAX_AHEAD_SECONDS) -> dict:
    """The leases of the context that can be real: {NSG key: {owner, expires}} with now < expires <= now +
    max_ahead. Expired ones are dropped silently; malformed or impossible ones with a debug line."""
    if not isinstance(stored, dict):
        if stored:
            demisto.debug('Azure Containment: the NSG lease table was unreadable: ignored and dropped')
        return {}
    leases = {}
    for key, lease in stored.items():
        expires = lease.get('expires') if isinstance(lease, dict) else None
        if not (isinstance(key, str) and isinstance(lease, dict) and isinstance(lease.get('owner'), str)
                and lease['owner'] and stored_number(expires)):
            demisto.debug(f'Azure Containment: a malformed NSG lease on {name_of(str(key))} was ignored and dropped')
        elif expires > now + max_ahead:
            demisto.debug(f'Azure Containment: an NSG lease on {name_of(key)} expiring {int(expires - now)} s ahead '
                          f'(at most {int(max_ahead)} s is possible) was ignored and dropped')
        elif expires > now:
            leases[key] = {'owner': lease['owner'], 'expires': expires}
    return leases


class NsgLease:
    """A lease on one NSG, held around every read-modify-write of an existing pack rule (unblock, consolidation).

    ARM ignores ETags on security rule PUTs: two runs that read the same rule and each PUT their edit lose one edit
    (a stale PUT puts back a prefix the other run removed). The lease {owner, expires} lives in the integration
    context under CTX_LEASES_KEY and is taken and renewed by compare-and-set, so at most one run of this instance
    edits the NSG's pack rules at a time. It expires after LEASE_TTL_SECONDS, so a crashed run cannot block the NSG
    for ever, and the holder renews it before every write (a run that lost it writes nothing).
    Limit: only runs of the same instance share an integration context; another instance, or anything outside
    XSOAR, editing the same pack rule at the same moment is not excluded. Blocks need no lease: they only create
    rules whose name is derived from their content.
    A stored lease that is not {owner: str, expires: number} or that expires further ahead than any run would set
    (LEASE_MAX_AHEAD_SECONDS: a corrupted or forged context) is ignored and dropped by the next write, so it
    cannot hold an NSG for ever; auth-reset clears every lease.
    """

    def __init__(self, nsg_id: str, *, ttl: float = LEASE_TTL_SECONDS, wait: float = LEASE_WAIT_SECONDS,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.key = nsg_id.lower()
        self.owner = secrets.token_hex(8)
        self.ttl = ttl
        self.max_ahead = max(LEASE_MAX_AHEAD_SECONDS, 2 * ttl)
        self.wait = wait
        self._clock = clock
        self._sleep = sleep

    def _take(self) -> bool:
        """One compare-and-set: take (or extend) the lease when it is free, expired or already ours."""
        taken = False

        def change(context: dict) -> bool:
            nonlocal taken
            now = self._clock()
            leases = valid_leases(context.get(CTX_LEASES_KEY), now, self.max_ahead)
            holder = leases.get(self.key)
            taken = not holder or holder.get('owner') == self.owner  # decided again on every compare-and-set round
            if taken:
                leases[self.key] = {'owner': self.owner, 'expires': now + self.ttl}
                context[CTX_LEASES_KEY] = leases
            return taken
        update_integration_context(change)
        return taken

    def acquire(self) -> None:
        deadline = self._clock() + self.wait
        pause = 0.1
        while not self._take():
            if self._clock() >= deadline:
                raise ContainmentError(f'Another run of this instance has been changing {name_of(self.key)} for '
                                       f'{int(self.wait)} s. Fix: run the command again.', code='NsgLeaseTimeout')
            self._sleep(random.uniform(pause / 2, pause))  # nosec - jitter only
            pause = min(pause * 2, 2.0)

    def renew(self) -> None:
        """Before a write: extend the lease, or raise (retryable) when it expired and another run took it."""
        if not self._take():
            raise LeaseLost(f'The lease on {name_of(self.key)} expired and another run took it.')

    def release(self) -> None:
        def change(context: dict) -> bool:
            leases = valid_leases(context.get(CTX_LEASES_KEY), self._clock(), self.max_ahead)
            if (leases.get(self.key) or {}).get('owner') != self.owner:
                return False
            del leases[self.key]
            if leases:
                context[CTX_LEASES_KEY] = leases
            else:
                context.pop(CTX_LEASES_KEY, None)
            return True
        update_integration_context(change)

    def __enter__(self) -> 'NsgLease':
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


# Why blocks record what they rely on. A block that finds its addresses already held by a pack rule writes nothing
# (AlreadyBlocked), and two identical blocks write the same rule (its name comes from its content). If the run that
# wrote that rule then fails in another direction, its rollback deletes the rule, and the block that relied on it
# reports an address blocked that no longer is. So, for the rules young enough that their writer may still roll them
# back (written within its time budget and rollback reserve), a block that succeeds records its reliance in the
# integration context, and a rollback deletes only rules no other run relies on, marking them deleted first. A block
# that finds such a mark after its last read (or a deletion still under way) reads again and writes what is missing.
# Both steps are one compare-and-set on the context, so one of the two always sees the other. Like NsgLease, this
# covers the runs of one instance.

class BlockClaims:
    """The reliance and deletion records of one NSG's young pack rules (CTX_CLAIMS_KEY), for one run.

    Record: {'relied': {run: expires}, 'deleted': {'owner': run, 'at': time or None while deleting, 'expires'}}.
    Records lapse after `window` (a run's time budget, its rollback reserve and CLAIM_MARGIN_SECONDS); malformed
    ones are ignored and dropped by the next write."""

    def __init__(self, nsg_id: str, window: float, clock: Callable[[], float] = time.time):
        self.prefix = nsg_id.lower().rstrip('/') + '/'
        self.run = secrets.token_hex(8)
        self.window = window
        self._clock = clock

    def _record(self, table: dict, rule_name: str) -> dict:
        return table.setdefault(self.prefix + rule_name.lower(), {'relied': {}})

    def _update(self, edit: Callable[[dict, float], None]) -> None:
        """One compare-and-set of the claim table: `edit(table, now)` changes its live, well-formed records (it may
        run again when another run wrote in between)."""
        def change(context: dict) -> bool:
            now = self._clock()
            table = valid_claims(context.get(CTX_CLAIMS_KEY), now)
            edit(table, now)
            _store_claims(context, table)
            return True
        update_integration_context(change)

    def rely(self, read_at: dict[str, float]) -> set[str]:
        """Records that this run relies on the rules `read_at` names (each as the read at that time saw it). Returns
        the ones it cannot rely on: a rollback is deleting them, or deleted them after that read."""
        unsafe: set[str] = set()

        def edit(table: dict, now: float) -> None:
            unsafe.clear()
            for name, seen_at in read_at.items():
                record = self._record(table, name)
                deleted = record.get('deleted')
                if deleted and deleted['owner'] != self.run and (deleted['at'] is None or deleted['at'] >= seen_at):
                    unsafe.add(name)
                else:
                    record['relied'][self.run] = now + self.window
        self._update(edit)
        return set(unsafe)

    def claim_for_rollback(self, names: list[str], until: float) -> tuple[list[str], list[str]]:
        """(the rules this rollback may delete, now marked as being deleted until `until`; the ones another run
        relies on, which stay)."""
        deletable: list[str] = []
        kept: list[str] = []

        def edit(table: dict, now: float) -> None:
            deletable.clear()
            kept.clear()
            for key, record in table.items():   # this run failed: it relies on nothing any more
                if key.startswith(self.prefix):
                    record['relied'].pop(self.run, None)
            for name in names:
                record = self._record(table, name)
                if record['relied']:
                    kept.append(name)
                else:
                    deletable.append(name)
                    record['deleted'] = {'owner': self.run, 'at': None, 'expires': max(until, now + 1)}
        self._update(edit)
        return list(deletable), list(kept)

    def mark_deleted(self, names: list[str]) -> None:
        """The rollback's deletes are done (or failed: then the rule stands, and may be relied on again)."""
        def edit(table: dict, now: float) -> None:
            for name in names:
                self._record(table, name)['deleted'] = {'owner': self.run, 'at': now, 'expires': now + self.window}
        self._update(edit)


def _store_claims(context: dict, table: dict) -> None:
    """Puts the claim table back into the context, leaving out records that hold nothing (no key when empty)."""
    table = {key: record for key, record in table.items() if record.get('relied') or record.get('deleted')}
    if table:
        context[CTX_CLAIMS_KEY] = table
    else:
        context.pop(CTX_CLAIMS_KEY, None)


def valid_claims(stored: Any, now: float) -> dict:
    """The claim records of the context still in force, well-formed (see BlockClaims); the rest is left out with a
    debug line (lapsed ones silently), so the next write drops it."""
    if not isinstance(stored, dict):
        if stored:
            demisto.debug('Azure Containment: the block claim table was unreadable: ignored and dropped')
        return {}

    def live(expires: Any) -> bool:
        return stored_number(expires) and expires > now

    table: dict[str, dict] = {}
    for key, record in stored.items():
        relied = record.get('relied') if isinstance(record, dict) else None
        deleted = record.get('deleted') if isinstance(record, dict) else None
        if not (isinstance(key, str) and isinstance(relied, dict)
                and (deleted is None or (isinstance(deleted, dict) and isinstance(deleted.get('owner'), str)
                                         and (deleted.get('at') is None or stored_number(deleted.get('at')))))):
            demisto.debug(f'Azure Containment: a malformed block claim on {name_of(str(key))} was ignored and dropped')
            continue
        clean: dict[str, Any] = {'relied': {run: exp for run, exp in relied.items()
                                            if isinstance(run, str) and live(exp)}}
        if deleted is not None and live(deleted.get('expires')):
            clean['deleted'] = {'owner': deleted['owner'], 'at': deleted.get('at'), 'expires': deleted['expires']}
        if clean['relied'] or 'deleted' in clean:
            table[key] = clean
    return table


def claim_window(client) -> float:
    """How long a block rule stays young: its writer may roll it back until its budget and reserve are spent."""
    return client.budget.seconds + ROLLBACK_RESERVE_SECONDS + CLAIM_MARGIN_SECONDS


# Resource names, IDs and the command's scope (validated before a name enters a URL)

def _validated(value: Any, pattern: str, what: str, expected: str) -> str:
    """`value` when the whole of it matches `pattern`, else an error naming the value and what is expected."""
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise InputError(f'Invalid {what} {value!r}: {expected}.')
    return value


def validate_name(value: Any, what: str) -> str:
    return _validated(value, RESOURCE_NAME_RE, what, RESOURCE_NAME_RULES)


def validate_resource_group(value: Any, what: str = 'resource_group') -> str:
    return _validated(value, RESOURCE_GROUP_RE, what, "a resource group name is 1-90 letters, digits, '_', '-', "
                                                      "'.', '(' or ')' and does not end with '.'")


def validate_subscription(value: Any, what: str = 'subscription_id') -> str:
    return _validated(value, GUID_RE, what, 'expected a subscription GUID such as 00000000-0000-0000-0000-000000000000')


def url_segment(value: str) -> str:
    """One URL path segment, percent-encoded (names are validated first; this is belt and braces)."""
    return urllib.parse.quote(value, safe='')


def rg_path(sub: str, rg: str) -> str:
    return (f'/subscriptions/{url_segment(validate_subscription(sub))}'
            f'/resourceGroups/{url_segment(validate_resource_group(rg))}')


def nsg_path(sub: str, rg: str, nsg: str) -> str:
    return (f'{rg_path(sub, rg)}/providers/Microsoft.Network/networkSecurityGroups/'
            f'{url_segment(validate_name(nsg, "NSG name"))}')


def rule_path(nsg_base: str, rule: str) -> str:
    return f'{nsg_base}/securityRules/{url_segment(validate_name(rule, "security rule name"))}'


def vm_path(sub: str, rg: str, vm: str) -> str:
    return f'{rg_path(sub, rg)}/providers/Microsoft.Compute/virtualMachines/{url_segment(validate_name(vm, "VM name"))}'


class ResourceId(NamedTuple):
    """A resource ID parsed by parse_resource_id: `type` is the full type (namespace/type[/childType...]), `id` the
    ID as given, `path` the re-built, percent-encoded ARM path."""
    subscription: str
    resource_group: str
    namespace: str
    types: list[str]
    names: list[str]
    type: str
    name: str
    id: str
    path: str


def parse_resource_id(resource_id: Any, expected_type: str | None = None, what: str = 'resource ID') -> ResourceId:
    """Parses /subscriptions/S/resourceGroups/R/providers/NS/type/name[/childType/childName...] strictly. Raises
    naming the value when anything is off or the type differs from `expected_type` (e.g.
    'Microsoft.Compute/virtualMachines', compared case-insensitively)."""
    expected = f' of a {expected_type}' if expected_type else ''
    example = ('/subscriptions/<subscription GUID>/resourceGroups/<group>/providers/'
               f'{expected_type or "<namespace>/<type>"}/<name>')
    if not isinstance(resource_id, str):
        raise InputError(f'Invalid {what} {resource_id!r}: expected the full resource ID{expected}, {example}.')
    parts = resource_id.strip().split('/')
    if (len(parts) < 9 or len(parts) % 2 == 0 or parts[0] != '' or parts[1].lower() != 'subscriptions'
            or parts[3].lower() != 'resourcegroups' or parts[5].lower() != 'providers'):
        raise InputError(f'Invalid {what} {resource_id!r}: expected the full resource ID{expected}, {example}.')
    sub = validate_subscription(parts[2], f'subscription in {what} {resource_id!r}')
    rg = validate_resource_group(parts[4], f'resource group in {what} {resource_id!r}')
    namespace = parts[6]
    types, names = [], []
    for i in range(7, len(parts), 2):
        if not re.fullmatch(RESOURCE_TYPE_RE, parts[i]):
            raise InputError(f'Invalid {what} {resource_id!r}: {parts[i]!r} is not a resource type.')
        types.append(parts[i])
        names.append(validate_name(parts[i + 1], f'name in {what} {resource_id!r}'))
    if not re.fullmatch(RESOURCE_TYPE_RE, namespace):
        raise InputError(f'Invalid {what} {resource_id!r}: {namespace!r} is not a resource provider.')
    full_type = '/'.join([namespace] + types)
    if expected_type and full_type.lower() != expected_type.lower():
        raise InputError(f'Invalid {what} {resource_id!r}: it is a {full_type}, expected a {expected_type} '
                               f'({example}).')
    path = f'{rg_path(sub, rg)}/providers/{namespace}' + ''.join(
        f'/{t}/{url_segment(n)}' for t, n in zip(types, names, strict=True))
    return ResourceId(sub, rg, namespace, types, names, full_type, names[-1], resource_id.strip(), path)


def same_id(a: str | None, b: str | None) -> bool:
    """Azure resource IDs compare case-insensitively."""
    return bool(a) and bool(b) and str(a).lower() == str(b).lower()


def name_of(resource_id: str | None) -> str:
    return str(resource_id).rstrip('/').rsplit('/', 1)[-1] if resource_id else NO_NSG


def resource_group_of(resource_id: str | None) -> str | None:
    """The resource group segment of a resource ID as Azure returned it (None when it has none)."""
    parts = str(resource_id or '').split('/')
    return parts[4] if len(parts) > 4 and parts[3].lower() == 'resourcegroups' else None


def command_scope(client, args: dict, require_rg: bool = True) -> tuple[str, str]:
    """(subscription, resource group): the command's args override the instance defaults; both validated. The
    resource group is '' when none is given (allowed only with require_rg=False)."""
    sub = args.get('subscription_id') or client.subscription_id
    rg = args.get('resource_group') or client.resource_group or ''
    if not sub:
        raise InputError('No subscription: set subscription_id in the instance or pass it as an argument.')
    validate_subscription(sub)
    if rg:
        validate_resource_group(rg)
    elif require_rg:
        raise InputError('No resource group: pass resource_group or set a default Resource Group in the '
                               'instance.')
    return sub, rg


class VmRef(NamedTuple):
    """A VM named by a command: where it is and its name (validated)."""
    subscription: str
    resource_group: str
    name: str


def resolve_vm(client, args: dict) -> VmRef:
    """(subscription, resource group, VM name) from vm_id (a full resource ID) or vm_name + scope."""
    vm_id = args.get('vm_id')
    vm_name = args.get('vm_name')
    if vm_id:
        parsed = parse_resource_id(vm_id, 'Microsoft.Compute/virtualMachines', 'vm_id')
        if vm_name and vm_name != parsed.name:
            raise InputError(f'vm_name {vm_name!r} and vm_id {vm_id!r} name different VMs: give one of them.')
        return VmRef(parsed.subscription, parsed.resource_group, parsed.name)
    if not vm_name:
        raise InputError('Give vm_name (with resource_group or the instance default) or vm_id (the full '
                               'resource ID of the VM).')
    validate_name(vm_name, 'vm_name')
    sub, rg = command_scope(client, args)
    return VmRef(sub, rg, vm_name)


class NsgRef(NamedTuple):
    """An NSG named by a command: where it is and its ARM path."""
    subscription: str
    resource_group: str
    name: str
    path: str


def resolve_nsg(client, args: dict) -> NsgRef:
    """The NSG of nsg_name (or the instance's default NSG) in the command's scope, validated before any request."""
    sub, rg = command_scope(client, args)
    name = args.get('nsg_name') or client.default_nsg_name
    if not name:
        raise InputError('No NSG: pass nsg_name or set a Default NSG in the instance.')
    return NsgRef(sub, rg, name, nsg_path(sub, rg, validate_name(name, 'nsg_name')))


# IP prefixes

class Prefix:
    """One normalised address or CIDR: `text` is canonical (host bits cleared, IPv6 compressed, /32 and /128
    written as plain addresses), `raw` what the user gave, `note` what normalisation changed."""

    def __init__(self, raw: str, net: Any, note: str | None = None):
        self.raw = raw
        self.net = net
        self.note = note
        self.text = canonical_prefix(net)
        self.family = 'v4' if net.version == 4 else 'v6'

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f'Prefix({self.text})'


def canonical_prefix(net: Any) -> str:
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def parse_prefix(item: Any) -> Prefix:
    """Strictly parses one IPv4/IPv6 address or CIDR; raises ValueError with the reason for anything else. An
    IPv4-mapped IPv6 address or range (::ffff:203.0.113.50) becomes its IPv4 address: Azure matches IPv4 traffic
    only against IPv4 prefixes, so an IPv6 rule holding it would block nothing."""
    raw = str(item).strip() if item is not None else ''
    if not raw:
        raise ValueError('an empty value')
    if raw == '*' or raw.lower() in ('any', 'internet'):
        raise ValueError('would match every address')
    if '%' in raw or any(ch.isspace() for ch in raw):
        raise ValueError('is not an IPv4/IPv6 address or CIDR')
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        if re.fullmatch(SERVICE_TAG_RE, raw):
            raise ValueError('looks like a service tag; only IP addresses and CIDRs are accepted') from None
        raise ValueError('is not an IPv4/IPv6 address or CIDR') from None
    mapped = isinstance(net, ipaddress.IPv6Network) and net.subnet_of(IPV4_MAPPED)
    if mapped:
        net = ipaddress.IPv4Network((int(net.network_address) & 0xFFFFFFFF, net.prefixlen - 96))
    if net.prefixlen == 0:
        raise ValueError('would match every address')
    if net.num_addresses == 1 and net.network_address.is_unspecified:
        raise ValueError('is the unspecified address')
    prefix = Prefix(raw, net)
    if mapped:
        prefix.note = f'{raw} is an IPv4-mapped IPv6 address: converted to its IPv4 form {prefix.text}'
    elif prefix.text != raw:
        prefix.note = f'{raw} was normalised to {prefix.text}'
    return prefix


def split_prefixes(values: list) -> tuple[list[Prefix], list[tuple[str, str]]]:
    """(the parsed prefixes, [(bad item, why)]) - every item is looked at, so one error can name them all."""
    parsed, bad = [], []
    for item in values:
        try:
            parsed.append(parse_prefix(item))
        except ValueError as exc:
            bad.append((str(item), str(exc)))
    return parsed, bad


class PrefixLimits(NamedTuple):
    """What one call may name: the widest prefix per family, how many values, whether internal space. `origin`
    says in a refusal where a limit comes from (an instance param, or the pack's fixed forensic limits)."""
    min_prefix: dict[str, int]
    max_items: int
    allow_internal: bool
    origin: dict[str, str]
    max_block_days: int = 3650      # the longest expires_in of a block (instance param max_block_days)


FORENSIC_LIMITS = PrefixLimits(FORENSIC_MIN_PREFIX, FORENSIC_MAX_SOURCES, True, {
    'v4': 'the widest forensic source the pack allows', 'v6': 'the widest forensic source the pack allows',
    'items': 'the most forensic sources the pack allows'})


@functools.cache
def address_classes() -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
    """ALWAYS_REFUSED and INTERNAL_RANGES as (network, label) pairs, parsed on first use: only the commands that
    check addresses need them, and XSOAR executes the module on every command."""
    return ([(ipaddress.ip_network(text), label) for text, label in ALWAYS_REFUSED],
            [(ipaddress.ip_network(text), label) for text, label in INTERNAL_RANGES])


def _class_problems(net: Any, classes: list[tuple[Any, str]], suffix: str = '') -> list[str]:
    """'is <class>' / 'contains <class>' for every class `net` overlaps; a class is not named when `net` lies inside
    a narrower one that is (255.255.255.255 is the broadcast address, not also "reserved 240.0.0.0/4")."""
    met = [(other, label) for other, label in classes if other.version == net.version and net.overlaps(other)]
    inside = [other for other, _ in met if net.subnet_of(other)]
    problems = []
    for other, label in met:
        if any(narrower != other and narrower.subnet_of(other) for narrower in inside):
            continue
        problems.append(f'{"is" if net.subnet_of(other) else "contains"} {label}{suffix}')
    return problems


def prefix_problems(prefix: Prefix, limits: PrefixLimits) -> list[str]:
    """Why the policy refuses `prefix` ([] = accepted): an address class refused whatever the params, internal space
    unless allowed, a prefix wider than allowed."""
    net = prefix.net
    refused, internal = address_classes()
    problems = _class_problems(net, refused)
    if not limits.allow_internal:
        problems += _class_problems(net, internal,
                                    '; refused unless the instance param allow_internal_block is checked')
    widest = limits.min_prefix[prefix.family]
    if net.prefixlen < widest:
        problems.append(f'is wider than /{widest}, {limits.origin[prefix.family]}')
    return problems


def apply_limits(prefixes: list[Prefix], bad: list[tuple[str, str]],
                 limits: PrefixLimits) -> tuple[list[Prefix], list[tuple[str, str]]]:
    """(the prefixes the policy accepts, bad + [(item, why) for the ones it refuses])."""
    accepted, refused = [], list(bad)
    for prefix in prefixes:
        problems = prefix_problems(prefix, limits)
        if problems:
            refused.append((prefix.raw, '; '.join(problems)))
        else:
            accepted.append(prefix)
    return accepted, refused


def shown_value(text: str, limit: int = 64) -> str:
    """An input value as a refusal quotes it: at most `limit` characters (an alert can send megabytes)."""
    return text if len(text) <= limit else f'{text[:limit]}...'


def invalid_prefixes_message(what: str, bad: list[tuple[str, str]]) -> str:
    """Names each refused item and why, at most MAX_LISTED_ITEMS of them, then how many more."""
    listing = ', '.join(f'{shown_value(item)!r} ({reason})' for item, reason in bad[:MAX_LISTED_ITEMS])
    if len(bad) > MAX_LISTED_ITEMS:
        listing += f' and {len(bad) - MAX_LISTED_ITEMS} more ({len(bad)} refused in all)'
    return (f'Invalid {what}: {listing}. Give IPv4/IPv6 addresses or CIDRs such as 203.0.113.7, 198.51.100.0/24 or '
            '2001:db8::/48 (not *, 0.0.0.0/0, ::/0 or service tags).')


def too_many_message(what: str, count: int, limits: PrefixLimits) -> str:
    return f'{what} has {count} values: at most {limits.max_items} are accepted per call ({limits.origin["items"]}).'


def parse_prefix_list(values: list, what: str, limits: PrefixLimits | None = None) -> list[Prefix]:
    """Every item parsed (and accepted by `limits`, when given), or one error naming the bad items (and why)
    before anything is sent to Azure."""
    parsed, bad = split_prefixes(values)
    problems = []
    if limits is not None:
        parsed, bad = apply_limits(parsed, bad, limits)
        if len(values) > limits.max_items:
            problems.append(too_many_message(what, len(values), limits))
    if bad:
        problems.append(invalid_prefixes_message(what, bad))
    if problems:
        raise InputError(f'{" ".join(problems)} Nothing was changed.')
    if not parsed:
        raise InputError(f'{what} is required: give at least one IP address or CIDR.')
    return parsed


def prefix_sort_key(text: str) -> tuple:
    try:
        net = ipaddress.ip_network(text, strict=False)
        return (net.version, int(net.network_address), net.prefixlen, text)
    except ValueError:
        return (9, 0, 0, text)


def as_network(text: Any) -> Any:
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError:
        return None


def canonical_text(text: Any) -> str:
    net = as_network(text)
    return canonical_prefix(net) if net is not None else str(text)


def port_count(ports: list[str]) -> int:
    """How many ports the union of `ports` ('22', '8000-8080') holds: overlapping ranges count once."""
    spans = sorted((int(p.split('-')[0]), int(p.split('-')[-1])) for p in ports)
    total, reach = 0, -1
    for low, high in spans:
        if high > reach:
            total += high - max(low, reach + 1) + 1
            reach = high
    return total


def parse_ports(values: list) -> list[str]:
    """Destination ports for the forensic allow rule: integers or 'a-b' ranges within 0-65535, at most
    FORENSIC_MAX_PORTS ports in their union (a range counts all its ports)."""
    ports, bad = [], []
    for item in values:
        text = str(item).strip()
        match = re.fullmatch(r'(\d{1,5})(?:-(\d{1,5}))?', text)
        if not match:
            bad.append(repr(shown_value(text)))
            continue
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if low > 65535 or high > 65535 or low > high:
            bad.append(repr(shown_value(text)))
            continue
        ports.append(str(low) if low == high else f'{low}-{high}')
    if bad:
        raise InputError(f'Invalid allow_ports: {", ".join(bad[:MAX_LISTED_ITEMS])}'
                         f'{f" and {len(bad) - MAX_LISTED_ITEMS} more" if len(bad) > MAX_LISTED_ITEMS else ""}. '
                         'Give ports or ranges within 0-65535, such as 22, 3389 or 8000-8080.')
    ports = list(dict.fromkeys(ports))
    count = port_count(ports)
    if count > FORENSIC_MAX_PORTS:
        raise InputError(f'allow_ports opens {count} TCP ports ({", ".join(ports[:MAX_LISTED_ITEMS])}'
                         f'{" ..." if len(ports) > MAX_LISTED_ITEMS else ""}): at most {FORENSIC_MAX_PORTS} are '
                         'accepted (the forensic limit of the pack; a range counts all its ports). Nothing was '
                         'changed.')
    return ports


def flag_arg(args: dict, name: str, default: bool = False) -> bool:
    """A true/false argument; anything else is refused naming the value (before any request)."""
    value = args.get(name)
    if value is None or value == '':
        return default
    try:
        return argToBoolean(value)
    except ValueError:
        raise InputError(f'Invalid {name} {shown_value(str(value))!r}: expected true or false.') from None


def limit_arg(args: dict, default: int = DEFAULT_LIMIT) -> int:
    """The `limit` of a list command: a whole number of at least 1 (`default` when not given)."""
    value = args.get('limit')
    text = '' if value is None else str(value).strip()
    if not text:
        return default
    if not re.fullmatch(r'[+-]?\d{1,9}', text) or int(text) < 1:
        raise InputError(f'Invalid limit {shown_value(text)!r}: expected a whole number of at least 1 (the '
                         f'default is {default}).')
    return int(text)


def md_code(value: Any) -> Any:
    """A value from alert data (or any text an attacker may have chosen) as a markdown code span, so that a war-room
    table never renders it as a link, an image, HTML or formatting, and never auto-links it. None stays None."""
    if value is None:
        return None
    text = re.sub(r'\s+', ' ', str(value)).strip()
    if not text:
        return ''
    fence = '`' * (max((len(run) for run in re.findall(r'`+', text)), default=0) + 1)
    pad = ' ' if text.startswith('`') or text.endswith('`') else ''
    return f'{fence}{pad}{text}{pad}{fence}'


def md_block(text: str) -> str:
    """Text that quotes alert data as a fenced code block: shown verbatim, never rendered as markup."""
    fence = '`' * max(3, max((len(run) for run in re.findall(r'`+', text)), default=0) + 1)
    return f'{fence}\n{text}\n{fence}\n'


def md_escape(text: str) -> str:
    """Prose that may quote alert data, safe in markdown: every ASCII punctuation character is backslash-escaped
    (CommonMark), so no link, image, HTML, table cell or emphasis can be formed, and a URL is split for
    auto-linkers."""
    return re.sub(r'([!-/:-@\[-`{-~])', r'\\\1', re.sub(r'\s+', ' ', text))


def parse_directions(value: Any) -> list[str]:
    text = str(value or 'Both').strip().lower()
    mapping = {'inbound': ['Inbound'], 'outbound': ['Outbound'], 'both': ['Inbound', 'Outbound']}
    if text not in mapping:
        raise InputError(f'Invalid direction {value!r}: expected Inbound, Outbound or Both.')
    return mapping[text]


# Security rules

def props(resource: dict | None) -> dict:
    return (resource or {}).get('properties') or {}


def side_of(direction: str) -> str:
    """Inbound blocks match the source, outbound blocks the destination."""
    return 'source' if direction == 'Inbound' else 'destination'


def rule_side_prefixes(rule: dict, side: str) -> list[str]:
    p = props(rule)
    plural = p.get(f'{side}AddressPrefixes')
    values = [v for v in plural if isinstance(v, str)] if isinstance(plural, list) else []
    single = p.get(f'{side}AddressPrefix')
    if single:
        values.append(str(single))
    return values


def looks_like_pack_rule(rule: dict) -> bool:
    """Carries the pack's name prefix or its marker: the pack's block rule, or something made to look like one."""
    return (str(rule.get('name', '')).startswith(PACK_RULE_PREFIX)
            or str(props(rule).get('description') or '').startswith(PACK_MARKER))


def _is_any(value: Any) -> bool:
    return value in (None, '', [])


def block_rule_problems(rule: dict) -> list[str]:
    """Why `rule` is not a block rule the pack wrote ([] = it is). Ownership is content, not a label: the pack's name
    (xsoar-block-<in|out>-<v4|v6>-<10 hex>) AND marker AND access Deny, protocol *, source and destination ports *,
    its own side only IP prefixes of the name's family, the other side *, the description in the audit format
    (BlockAudit) - exactly what deny_rule_body writes (an unblock only removes prefixes). A rule with the name or
    marker that differs in anything is foreign: never counted as a block, never edited, reported as Tampered."""
    p = props(rule)
    problems = []
    match = re.fullmatch(BLOCK_RULE_NAME_RE, str(rule.get('name') or ''))
    if not match:
        problems.append("its name is not one the pack writes")
    if not str(p.get('description') or '').startswith(PACK_MARKER):
        problems.append(f'its description lacks the marker {PACK_MARKER}')
    elif BlockAudit.parse(p.get('description')) is None:
        problems.append('its description is not in the audit format the pack writes (incident, time, expiry)')
    if p.get('access') != 'Deny':
        problems.append(f"its access is {p.get('access')!r}, not 'Deny'")
    if p.get('protocol') != '*':
        problems.append(f"its protocol is {p.get('protocol')!r}, not '*'")
    for side in ('source', 'destination'):
        if p.get(f'{side}PortRange') != '*' or not _is_any(p.get(f'{side}PortRanges')):
            problems.append(f'its {side} ports are not *')
    direction = p.get('direction')
    if direction not in ('Inbound', 'Outbound') or (match and (match.group(1) == 'in') != (direction == 'Inbound')):
        problems.append(f'its direction {direction!r} is not the one its name says')
        return problems
    side = side_of(direction)
    other = 'destination' if side == 'source' else 'source'
    if p.get(f'{other}AddressPrefix') != '*' or not _is_any(p.get(f'{other}AddressPrefixes')) \
            or not _is_any(p.get(f'{other}ApplicationSecurityGroups')):
        problems.append(f'its {other} is not *')
    version = 6 if match and match.group(2) == 'v6' else 4
    nets = [as_network(text) for text in rule_side_prefixes(rule, side)]
    if not nets or not _is_any(p.get(f'{side}AddressPrefix')) or not _is_any(p.get(f'{side}ApplicationSecurityGroups')) \
            or any(net is None or net.version != version or net.prefixlen == 0 for net in nets):
        problems.append(f'its {side} is not a list of IPv{version} addresses')
    return problems


def is_pack_rule(rule: dict) -> bool:
    return looks_like_pack_rule(rule) and not block_rule_problems(rule)


def of_family(rules: list[dict], direction: str, family: str | None) -> list[dict]:
    """The pack's rules of one address family (judged by the name, which block_rule_problems checked)."""
    short = 'in' if direction == 'Inbound' else 'out'
    return [r for r in rules if not family or str(r['name']).startswith(f'{PACK_RULE_PREFIX}{short}-{family}-')]


def pack_rules(rules: list[dict], direction: str, family: str | None = None) -> list[dict]:
    """The pack's deny rules of one direction (and address family), by content (block_rule_problems)."""
    return of_family(classify_rules(rules, direction)[0], direction, family)


class TamperedRule(NamedTuple):
    """A rule that carries the pack's name or marker but not its content (block_rule_problems)."""
    name: str
    problems: list[str]
    side: list[str]     # its address prefixes (or tags) on the side the direction matches


def classify_rules(rules: list[dict], direction: str) -> tuple[list[dict], list[TamperedRule]]:
    """(the pack's block rules of `direction`, the look-alikes of `direction`) - each rule's content checked once. A
    look-alike is never counted as a block and never changed, only reported."""
    own, lookalikes = [], []
    for rule in rules:
        if props(rule).get('direction') != direction or not looks_like_pack_rule(rule):
            continue
        problems = block_rule_problems(rule)
        if problems:
            lookalikes.append(TamperedRule(str(rule.get('name')), problems,
                                           rule_side_prefixes(rule, side_of(direction)) or ['*']))
        else:
            own.append(rule)
    return own, lookalikes


def tampered_warnings(tampered: list[TamperedRule], prefix: Prefix) -> list[str]:
    """What is wrong with each look-alike rule whose side admits (overlaps) `prefix`."""
    return [f"Rule '{rule.name}' carries the pack's name or marker but is not a rule the pack writes "
            f"({'; '.join(rule.problems)}): it was not counted as a block and not changed; check who made it."
            for rule in tampered if any(admits(text, prefix.net) for text in rule.side)]


def covering_networks(rules: list[dict], side: str, prefixes: list[Prefix]) -> dict[str, tuple[dict, Any]]:
    """{prefix text: (rule, network)} for each prefix that lies inside (or equals) an address or CIDR on `side` of
    one of `rules`: the first such rule in list order and, within it, the first such network. A wider prefix that
    merely contains a rule's network is not covered.

    Near-linear instead of prefixes x networks subnet_of calls: the rules' networks go into one dict keyed by
    (IP version, prefix length, network bits). A prefix is looked up exactly first, then as each of its supernets
    at the prefix lengths the rules of its family use (at most 32 more lookups for IPv4, 128 for IPv6).
    """
    first: dict[tuple[int, int, int], tuple[int, int]] = {}   # network key -> (rule index, index in its list)
    nets: dict[tuple[int, int, int], Any] = {}
    lengths: dict[int, set[int]] = {4: set(), 6: set()}
    for rule_index, rule in enumerate(rules):
        for net_index, text in enumerate(rule_side_prefixes(rule, side)):
            net = as_network(text)
            if net is None:
                continue
            key = (net.version, net.prefixlen, int(net.network_address))
            if key not in first:
                first[key], nets[key] = (rule_index, net_index), net
                lengths[net.version].add(net.prefixlen)
    found: dict[str, tuple[dict, Any]] = {}
    for prefix in prefixes:
        net = prefix.net
        address, width = int(net.network_address), net.max_prefixlen
        best = first.get((net.version, net.prefixlen, address))
        best_key = (net.version, net.prefixlen, address)
        for length in lengths[net.version]:
            if length >= net.prefixlen:
                continue
            key = (net.version, length, address >> (width - length) << (width - length))
            position = first.get(key)
            if position is not None and (best is None or position < best):
                best, best_key = position, key
        if best is not None:
            found[prefix.text] = (rules[best[0]], nets[best_key])
    return found


def block_rule_name(direction: str, family: str, prefixes: list[str], audit: 'BlockAudit | None' = None) -> str:
    """Deterministic from content: parallel calls blocking the same prefixes until the same minute in the same
    incident write the same rule. The expiry and incident are part of the content (one rule per expiry bucket, see
    BlockAudit): a block until a later time is a new rule, never an edit of an existing one."""
    material = ','.join(sorted(prefixes)) + (f'|{audit.bucket}' if audit is not None else '')
    digest = hashlib.sha1(material.encode()).hexdigest()[:10]  # nosec - a name, not security
    return f'{PACK_RULE_PREFIX}{"in" if direction == "Inbound" else "out"}-{family}-{digest}'


# Block lifecycle: expiry and audit trail, both kept in Azure in the rule's description
#
# Why one rule per expiry bucket, with the expiry in the description: Azure is the only store that survives an
# instance reset, an engine move or a reinstall, and a rule's description (140 characters) is the only free text a
# security rule has (rules carry no tags). One description holds one expiry, so every rule the pack writes has
# exactly one: the prefixes of one block call and direction, blocked until one minute (the expiry is rounded up to
# the whole minute, so parallel identical calls in one minute name the same rule). An address's expiry is then the
# latest expiry of the pack rules holding it, with no bookkeeping anywhere else:
#   - a block until a later time (or permanent) than every rule holding the address already gives writes ONE new
#     rule for all such addresses of the call (per direction and family), exactly like a new block; a block that
#     is already in force at least as long writes nothing;
#   - azure-nsg-block-expire deletes whole rules whose expiry passed: an address that a later rule still holds
#     stays blocked by it, so exactly the addresses whose every block expired are removed, and deleting an expired
#     rule can never remove a block another run is adding (blocks only create rules, never edit one);
#   - consolidation only merges rules of the same bucket (same expiry AND same incident), so every address keeps
#     its expiry and the incident that asked for it; merging across buckets would either cut an expiry short,
#     extend it, or erase the audit trail. Rules of different buckets stay apart until they expire.

BLOCK_AUDIT_TIME = '%Y%m%dT%H%M%SZ'            # compact UTC ISO 8601 basic format: 16 characters
AUDIT_INCIDENT_RE = r'[A-Za-z0-9_-]{1,40}'
BLOCK_AUDIT_RE = (re.escape(PACK_MARKER) + r' inc:(?P<inc>[A-Za-z0-9_-]{1,40}) at:(?P<at>\d{8}T\d{6}Z) '
                  r'exp:(?P<exp>\d{8}T\d{6}Z|never)(?: (?P<text>[^\r\n]*))?')
BLOCK_NEVER = 'never'
# What versions 1.0.0 and 1.1.0 wrote, before the audit trail: the marker and the user's text. Such a rule is still the pack's
# block (its content is what the pack wrote), permanent and of no known incident or time; an upgrade must not turn
# every block already in Azure into a foreign rule that unblock may no longer remove.
BLOCK_V1_RE = re.escape(PACK_MARKER) + r' (?P<text>(?!inc:)[^\r\n]+)'
BLOCK_V1_BUCKET = 'v1.0.0|never'
EXPIRES_IN_RE = r'(\d{1,6}) ?([A-Za-z]+)'
EXPIRES_IN_UNITS = {'minute': 60, 'minutes': 60, 'min': 60, 'mins': 60, 'hour': 3600, 'hours': 3600, 'hr': 3600,
                    'hrs': 3600, 'day': 86400, 'days': 86400, 'week': 604800, 'weeks': 604800}
MAX_BLOCK_SECONDS = 3650 * 86400               # a block longer than 10 years is a typo, not a decision
DEFAULT_BLOCK_TEXT = 'blocked by Cortex XSOAR'


def utc_now() -> datetime:
    """The UTC time, to the second (what the audit trail records)."""
    return datetime.now(UTC).replace(microsecond=0)


def audit_time(value: datetime | None) -> str | None:
    """ISO 8601 UTC (2026-12-02T00:25:40Z) for the context, None for no time (a permanent block's expiry)."""
    return value.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ') if value is not None else None


def audit_incident(incident_id: str) -> str:
    """The incident ID as the audit trail records it: NO_INCIDENT outside an incident; an ID with other characters
    or longer than 40 is hashed (XSOAR's IDs are short numbers)."""
    if not incident_id:
        return NO_INCIDENT
    if re.fullmatch(AUDIT_INCIDENT_RE, incident_id):
        return incident_id
    return 'h' + hashlib.sha1(incident_id.encode()).hexdigest()[:16]  # nosec - an identifier, not security


def parse_expires_in(value: Any, max_days: int = MAX_BLOCK_SECONDS // 86400) -> int | None:
    """The seconds of `expires_in` ('30 minutes', '24 hours', '7 days', '2 weeks'; '' or absent = permanent, None),
    or an InputError naming the value and what is expected (before any request). `max_days`: the instance's
    longest expiring block (param max_block_days); a permanent block is not bounded by it."""
    text = '' if value is None else str(value).strip()
    if not text:
        return None
    match = re.fullmatch(EXPIRES_IN_RE, text)
    unit = EXPIRES_IN_UNITS.get(match.group(2).lower()) if match else None
    expected = ("expected a whole number of minutes, hours, days or weeks, e.g. '30 minutes', '24 hours', '7 days' "
                '(empty: a permanent block)')
    if match is None or unit is None:
        raise InputError(f'Invalid expires_in {shown_value(text)!r}: {expected}.')
    seconds = int(match.group(1)) * unit
    if seconds <= 0:
        raise InputError(f'Invalid expires_in {shown_value(text)!r}: a block must last at least one minute; '
                         f'{expected}.')
    if seconds > min(MAX_BLOCK_SECONDS, max_days * 86400):
        limit = min(MAX_BLOCK_SECONDS // 86400, max_days)
        raise InputError(f'Invalid expires_in {shown_value(text)!r}: at most {limit} days (instance param '
                         'max_block_days; leave expires_in empty for a permanent block).')
    return seconds


def expiry_after(now: datetime, seconds: int | None) -> datetime | None:
    """now + seconds rounded up to the whole minute (None: permanent)."""
    if seconds is None:
        return None
    end = now + timedelta(seconds=seconds)
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end


# NamedTuples rather than frozen dataclasses: a dataclass costs about 1 ms of every command (XSOAR executes the module
# each time), a NamedTuple a fifth of that.
class BlockAudit(NamedTuple):
    """What a pack rule's description records: the incident that asked for the block, when, until when (None =
    permanent) and the user's text. Format (within Azure's 140 characters, the audit part never truncated):
    `[AzureContainment] inc:<incident ID or none> at:<UTC yyyymmddThhmmssZ> exp:<UTC ...Z or never> <text>`.
    `blocked_at` None: a rule of version 1.0.0 (BLOCK_V1_RE), permanent, of no known incident."""
    incident: str
    blocked_at: datetime | None
    expires_at: datetime | None
    text: str = ''

    @property
    def bucket(self) -> str:
        """What one rule holds: one expiry of one incident (see the lifecycle comment above); 1.0.0's rules merge
        only with each other."""
        if self.blocked_at is None:
            return BLOCK_V1_BUCKET
        return f'{self.incident}|{self.expiry_text}'

    @property
    def expiry_text(self) -> str:
        return self.expires_at.strftime(BLOCK_AUDIT_TIME) if self.expires_at is not None else BLOCK_NEVER

    @property
    def incident_id(self) -> str | None:
        return None if self.incident == NO_INCIDENT else self.incident

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def lasts_until(self, expires_at: datetime | None) -> bool:
        """Whether this block is in force at least until `expires_at` (None: for ever)."""
        if self.expires_at is None:
            return True
        return expires_at is not None and self.expires_at >= expires_at

    def description(self) -> tuple[str, bool]:
        """(the rule description, whether the user's text was shortened): the audit part whole, then as much of the
        user's text as fits. A 1.0.0 rule (merged by consolidation) keeps 1.0.0's format: it has no time to record."""
        user = re.sub(r'\s+', ' ', self.text).strip() or DEFAULT_BLOCK_TEXT
        if self.blocked_at is None:
            head = PACK_MARKER
        else:
            head = (f'{PACK_MARKER} inc:{self.incident} at:{self.blocked_at.strftime(BLOCK_AUDIT_TIME)} '
                    f'exp:{self.expiry_text}')
        room = RULE_DESCRIPTION_MAX - len(head) - 1
        if len(user) <= room:
            return f'{head} {user}', False
        return f'{head} {user[:max(room - 3, 0)].rstrip()}...', True

    def fields(self) -> dict:
        """The audit fields of an AzureContainment.BlockedIP item."""
        return {'BlockedAt': audit_time(self.blocked_at), 'ExpiresAt': audit_time(self.expires_at),
                'IncidentID': self.incident_id}

    @classmethod
    def parse(cls, description: Any) -> 'BlockAudit | None':
        """The audit of a description the pack wrote, None when it is not in the pack's format (or says a block
        ends before it began)."""
        if len(str(description or '')) > RULE_DESCRIPTION_MAX:
            return None
        match = re.fullmatch(BLOCK_AUDIT_RE, str(description or ''))
        if not match:
            v1 = re.fullmatch(BLOCK_V1_RE, str(description or ''))
            return cls(NO_INCIDENT, None, None, v1.group('text')) if v1 else None
        try:
            at = datetime.strptime(match.group('at'), BLOCK_AUDIT_TIME).replace(tzinfo=UTC)
            exp = (None if match.group('exp') == BLOCK_NEVER
                   else datetime.strptime(match.group('exp'), BLOCK_AUDIT_TIME).replace(tzinfo=UTC))
        except ValueError:
            return None
        if exp is not None and exp <= at:
            return None
        return cls(match.group('inc'), at, exp, match.group('text') or '')


def rule_audit(rule: dict) -> BlockAudit | None:
    return BlockAudit.parse(props(rule).get('description'))


def latest_first(rules: list[dict]) -> list[dict]:
    """Pack rules ordered by expiry, permanent first, then the latest: the first one holding an address is the
    block in force for it (covering_networks takes the first)."""
    def key(rule: dict) -> tuple:
        audit = rule_audit(rule)
        expires = audit.expires_at if audit is not None else None
        return (0, 0.0) if expires is None else (1, -expires.timestamp())
    return sorted(rules, key=key)


def current_block_audit(text: Any, expires_in: int | None, now: datetime | None = None) -> BlockAudit:
    """The audit a block call writes: this incident, now, the expiry of expires_in seconds, the user's text."""
    now = now or utc_now()
    return BlockAudit(audit_incident(current_incident_id()), now, expiry_after(now, expires_in), str(text or ''))


def lowest_free_priority(rules: list[dict], direction: str) -> int | None:
    used = {props(r).get('priority') for r in rules if props(r).get('direction') == direction}
    for priority in range(PRIORITY_MIN, PRIORITY_MAX + 1):
        if priority not in used:
            return priority
    return None


def side_prefix_count(rules: list[dict], side: str) -> int:
    """Addresses and ranges on one side across all rules (service tags and '*' do not count in Azure)."""
    return sum(1 for r in rules for text in rule_side_prefixes(r, side) if as_network(text) is not None)


def deny_rule_body(direction: str, prefixes: list[str], priority: int, description: str) -> dict:
    side = side_of(direction)
    other = 'destination' if side == 'source' else 'source'
    return {'properties': {
        'protocol': '*', 'access': 'Deny', 'direction': direction, 'priority': priority,
        f'{side}AddressPrefixes': sorted(prefixes, key=prefix_sort_key), f'{other}AddressPrefix': '*',
        'sourcePortRange': '*', 'destinationPortRange': '*', 'description': description}}


def writable_rule_body(rule: dict) -> dict:
    body = copy.deepcopy(props(rule))
    for key in ('provisioningState', 'etag'):
        body.pop(key, None)
    return {'properties': body}


def admits(prefix_text: str, net: Any) -> bool:
    """Whether an allow rule's prefix (address, CIDR or tag) lets `net` in (or out)."""
    low = str(prefix_text).strip().lower()
    if low in ('*', 'any', '0.0.0.0/0', '::/0'):
        return True
    if low == 'internet':
        return bool(net.is_global)
    if low == 'virtualnetwork':
        return bool(net.is_private)
    other = as_network(prefix_text)
    return other is not None and other.version == net.version and other.overlaps(net)


def shadowing_warnings(rules: list[dict], direction: str, priority: int, prefix: Prefix) -> list[str]:
    """Allow rules evaluated before the pack's deny rule (smaller number) that still admit the prefix."""
    side = side_of(direction)
    found = []
    for rule in sorted(rules, key=lambda r: props(r).get('priority') or 0):
        p = props(rule)
        if p.get('direction') != direction or p.get('access') != 'Allow' or (p.get('priority') or 0) >= priority:
            continue
        hits = [text for text in rule_side_prefixes(rule, side) if admits(text, prefix.net)]
        if hits:
            ports = p.get('destinationPortRanges') or [p.get('destinationPortRange') or '*']
            way = 'in' if side == 'source' else 'out'
            found.append(f"Allow rule '{rule.get('name')}' (priority {p.get('priority')}) is evaluated before the "
                         f"block (priority {priority}) and still lets {prefix.text} {way}"
                         f" on {p.get('protocol') or '*'} port(s) {','.join(map(str, ports))} through its "
                         f"{side} {', '.join(hits)}.")
    return found


def rule_output(rule: dict, nsg_name: str) -> dict:
    p = props(rule)
    return {
        'Name': rule.get('name'), 'ID': rule.get('id'), 'NSG': nsg_name, 'Direction': p.get('direction'),
        'Priority': p.get('priority'), 'Access': p.get('access'), 'Protocol': p.get('protocol'),
        'SourceAddressPrefixes': rule_side_prefixes(rule, 'source'),
        'DestinationAddressPrefixes': rule_side_prefixes(rule, 'destination'),
        'DestinationPortRanges': p.get('destinationPortRanges') or ([p['destinationPortRange']]
                                                                    if p.get('destinationPortRange') else []),
        'Description': p.get('description'), 'ProvisioningState': p.get('provisioningState'),
        'ManagedByPack': is_pack_rule(rule),
    }


def context_key(prefix: str, fields: list[str]) -> str:
    return f'{prefix}({" && ".join(f"val.{f} && val.{f} == obj.{f}" for f in fields)})'


def blocked_ip_key() -> str:
    return context_key('AzureContainment.BlockedIP', ['IP', 'NSG', 'Direction'])


# Writes, long-running operations, retries

def backoff(client, attempt: int, err: ContainmentError | None = None) -> None:
    """Waits Retry-After (when given) plus a jittered, bounded exponential share, so parallel writers spread out.
    A Retry-After longer than the retry policy waits (client.retry.max_wait_seconds) is not waited for: `err` is
    raised, its text saying when to try again; a wait past the run's time budget raises TimeBudgetExhausted."""
    retry_after = float((err.retry_after if err is not None else None) or 0)
    if err is not None and retry_after > client.retry.max_wait_seconds:
        raise err
    spread = min(BACKOFF_CAP_SECONDS, 0.25 * (2 ** attempt))
    wait = retry_after + random.uniform(0.05, spread)  # nosec - jitter only
    client.pause(wait, f'while waiting {wait:.1f} s for a busy resource' + (f' ({err.code})' if err else ''))


def raise_if_failed(what: str, operation: OperationStatus) -> None:
    """Raises with Azure's code and message when a finished long-running operation did not succeed."""
    status = operation.status
    if status.lower() == 'succeeded':
        return
    error = operation.error
    if error is None:
        error = arm_error(None, 'OperationFailed', 'no error details')
    raise error.in_context(f'{what} ended {status}')


def wait_for_write(client, response: Any, what: str, timeout: int = NETWORK_LRO_TIMEOUT) -> None:
    """Waits for a write's long-running operation; raises with Azure's message when it did not succeed."""
    raise_if_failed(what, client.operations.wait(response, timeout))


def arm_write(client, method: str, path: str, what: str, body: dict | None = None, busy_retry: bool = False) -> None:
    """One write plus its long-running operation."""
    response = client.arm_request(method, path, api_version=NETWORK_API_VERSION, body=body,
                                  retry_busy=busy_retry)
    wait_for_write(client, response, what)


def get_nsg(client, path: str) -> dict:
    return client.arm_json('GET', path, api_version=NETWORK_API_VERSION)


def get_nsg_or_none(client, path: str) -> dict | None:
    try:
        return get_nsg(client, path)
    except ArmNotFound:
        return None


''' COMMAND FUNCTIONS '''

# test-module and the authentication commands

def action_matches(action: str, pattern: str) -> bool:
    """Whether an RBAC action matches an actions / notActions pattern of a role (both lower case): '*' stands for
    any characters and nothing else is special, as in Azure. Plain string work: fnmatch compiled a regular
    expression per pattern, about 20 ms of every test-module for the hundred patterns of two built-in roles."""
    if '*' not in pattern:
        return action == pattern
    first, *middle, last = pattern.split('*')
    end = len(action) - len(last)
    if end < len(first) or not (action.startswith(first) and action.endswith(last)):
        return False
    at = len(first)
    for part in middle:
        found = action.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def action_granted(action: str, permissions: list[dict]) -> bool:
    """Whether one of the permission entries grants `action` (wildcards, case-insensitive) without excluding it."""
    lowered = action.lower()
    for entry in permissions:
        allowed = any(action_matches(lowered, str(p).lower()) for p in entry.get('actions') or [])
        denied = any(action_matches(lowered, str(p).lower()) for p in entry.get('notActions') or [])
        if allowed and not denied:
            return True
    return False


def missing_actions(client: AzureClient, rg: str) -> tuple[str, list[str], list[str]]:
    """(scope checked, the REQUIRED_ACTIONS and the OPTIONAL_ACTIONS this identity lacks there) from
    Microsoft.Authorization/permissions at the resource group `rg`. The published REST spec (Microsoft.Authorization
    2022-04-01, Permissions_ListForResourceGroup / Permissions_ListForResource) defines this read per resource group
    and per resource only, never for a whole subscription, so nothing else is asked."""
    sub, _ = command_scope(client, {}, require_rg=False)
    scope = rg_path(sub, rg)
    permissions = client.list_pages(f'{scope}/providers/Microsoft.Authorization/permissions',
                                    api_version=AUTHORIZATION_API_VERSION)
    return (scope, [action for action in REQUIRED_ACTIONS if not action_granted(action, permissions)],
            [action for action in OPTIONAL_ACTIONS if not action_granted(action, permissions)])


def optional_actions_text(missing: list[str]) -> str:
    """The optional actions an identity lacks, each with the role that grants it and the command that needs it."""
    return '\n'.join(f'- {action} (granted by the built-in role "{OPTIONAL_ACTIONS[action][0]}"; needed by '
                     f'{OPTIONAL_ACTIONS[action][1]})' for action in missing)


def run_connection_checks(client: AzureClient, allow_redeem: bool) -> list[str]:
    """Token, VM list and permission checks shared by test-module and auth-test; raises with the fix on failure,
    returns the lines describing what was checked - and what could not be checked (no default resource group, or
    the permissions read failed), instead of failing or guessing."""
    credential = client.credential
    credential.get_token(allow_redeem=allow_redeem)
    source = 'the cache' if credential.last_source == 'cache' else 'the identity provider'
    lines = [f'Token: acquired ({MODE_LABELS.get(credential.mode, credential.mode)}, from {source}).']
    sub, rg = command_scope(client, {}, require_rg=False)
    path = (f'/subscriptions/{sub}' + (f'/resourceGroups/{rg}' if rg else '')
            + '/providers/Microsoft.Compute/virtualMachines')
    client.list_pages(path, api_version=COMPUTE_API_VERSION, limit=1)
    lines.append(f'Virtual machines: listed in subscription {sub}' + (f', resource group {rg}.' if rg else '.'))
    if not rg:
        lines.append('Permissions: NOT checked: Azure answers the permission read per resource group (or resource), '
                     'and the instance has no "Default resource group". Set one to have them checked here; every '
                     'command still names a missing permission when Azure refuses it.')
        return lines
    try:
        scope, missing, optional = missing_actions(client, rg)
    except ArmError as err:
        lines.append(f'Permissions: NOT checked: reading them on resource group {rg} failed ({err.message}).')
        return lines
    optional_note = (f'\nOptional, also not granted (only the commands named need them):\n'
                     f'{optional_actions_text(optional)}' if optional else '')
    if missing:
        roles = sorted({REQUIRED_ACTIONS[action] for action in missing})
        listing = '\n'.join(f'- {action} (granted by the built-in role "{REQUIRED_ACTIONS[action]}")'
                            for action in missing)
        raise ContainmentError(
            f'Authentication works, but this identity lacks {len(missing)} permission(s) the commands need on '
            f'{scope} (AuthorizationFailed):\n{listing}{optional_note}\nFix: in Access control (IAM) of the '
            f'subscription or resource group assign {" and ".join(repr(r) for r in roles)} to the app / identity, '
            'then run !azure-containment-auth-test.', code='AuthorizationFailed')
    lines.append(f'Permissions: all {len(REQUIRED_ACTIONS)} actions the commands need are granted on {scope}.')
    if optional:
        demisto.debug(f'Azure Containment: optional actions not granted on {scope}: {", ".join(optional)}')
        lines.append(f'Optional permissions: {len(optional)} not granted on {scope}; every other command works '
                     f'without them:\n{optional_actions_text(optional)}')
    else:
        lines.append(f'Optional permissions: all {len(OPTIONAL_ACTIONS)} granted (azure-vm-snapshot, azure-vm-find '
                     'by public IP, the isolation verdict).')
    return lines


def test_module(client: AzureClient, args: dict) -> str:
    """The Test button: 'ok' when a token is obtained, VMs can be listed and no needed action is missing. In
    auth-code mode a code not yet redeemed is left alone (the instance may not be saved yet). XSOAR shows only 'ok'
    on success, so what could not be checked (permissions without a default resource group) goes to the log, and
    !azure-containment-auth-test shows it in the war room."""
    credential = client.credential
    if isinstance(credential, AuthorizationCodeCredential) and not credential.has_cached_sign_in():
        raise AuthError(code='AuthCodeNotRedeemed')
    for line in run_connection_checks(client, allow_redeem=False):
        if 'NOT checked' in line:   # the Test button shows only 'ok'; auth-test shows this line in the war room
            demisto.debug(f'Azure Containment test-module: {line}')
    return 'ok'


def auth_test_command(client: AzureClient, args: dict) -> CommandResults:
    """azure-containment-auth-test: the test-module checks, redeeming the authorization code when needed."""
    lines = run_connection_checks(client, allow_redeem=True)
    return CommandResults(readable_output='### Azure Containment: authentication test passed\n'
                                          + '\n'.join(f'- {line}' for line in lines))


def generate_login_url_command(client: AzureClient, args: dict) -> CommandResults:
    """azure-containment-generate-login-url: the sign-in URL of the authorization-code flow."""
    credential = client.credential
    if not isinstance(credential, AuthorizationCodeCredential):
        raise InputError(f'azure-containment-generate-login-url signs a user in for the Authorization Code mode; '
                         f'this instance uses {MODE_LABELS[credential.mode]}. Fix: set "Authentication type" to '
                         'Authorization Code (with "Use a self-deployed Azure application"), or use the other '
                         'commands as they are.', code='WrongAuthMode')
    if not credential.redirect_uri:
        raise InputError(code='MissingParam', field='Application redirect URI', mode='the Authorization Code mode',
                         where='enter the redirect URI registered for the app (Entra ID > App registrations > '
                               'Authentication).')
    url = credential.authorize_url()   # also stores this URL's PKCE code_verifier (replacing any earlier one)
    readable = (
        '### Authorization instructions\n'
        'If this instance signed in before, first run !azure-containment-auth-reset and then this command again '
        '(auth-reset also forgets the PKCE verifier of this login URL).\n'
        f'1. Open this link and sign in with the user the pack acts for:\n[{url}]({url})\n'
        f'2. After consenting you are redirected to {credential.redirect_uri}?code=...: copy the code value '
        '(or the whole redirect URL) into the instance\'s "Authorization code" field and save the instance.\n'
        '3. Run !azure-containment-auth-test. The code works only with the latest login URL of this instance.'
    )
    return CommandResults(readable_output=readable)


def auth_reset_command(client: AzureClient | None, args: dict) -> CommandResults:
    """azure-containment-auth-reset: forget every cached token, MSAL cache and back-off, and every NSG lease."""
    count, leases = auth_store_clear()
    readable = (
        f'### Authentication state cleared\nRemoved the cached access and refresh tokens, MSAL token and discovery '
        f'caches and any retry back-off ({count} cached identit{"y" if count == 1 else "ies"}), and {leases} NSG '
        'lease(s) (run auth-reset only while no other command of this instance is running: a lease keeps two runs '
        'from editing the same rule at once).\n'
        '- Next: run !azure-containment-auth-test (authorization-code mode: first '
        '!azure-containment-generate-login-url, sign in, paste the new code into "Authorization code" and save).\n'
        '- To also revoke what was granted in Entra ID: Entra ID > Enterprise applications > the app > Permissions '
        '(review / revoke admin consent) or Users and groups; a user can remove the app at '
        'https://myapps.microsoft.com; '
        'for a self-deployed app delete its client secret or certificate under App registrations > Certificates & '
        'secrets; "Revoke sessions" on the user invalidates its refresh tokens.'
    )
    return CommandResults(readable_output=readable)


# azure-nsg-block-ip, azure-nsg-unblock-ip

def ip_command_input(client, args: dict, block: bool) -> tuple[list[Prefix], list[str], NsgRef]:
    """(prefixes, directions, NSG) of block/unblock, all checked before any request. Every problem goes into one
    InvalidIpInput naming each bad item and what is expected (at most MAX_LISTED_ITEMS of them, then a count); it
    carries Invalid items for those refused IPs. A block must also pass the instance's address policy
    (client.limits); an unblock only removes what the pack wrote, so it is bounded by the count alone (an earlier,
    wider policy may have allowed what it removes)."""
    limits: PrefixLimits = client.limits
    values = argToList(args.get('ip'))
    prefixes, bad_ips = split_prefixes(values)
    if block:
        prefixes, bad_ips = apply_limits(prefixes, bad_ips, limits)
    problems = []
    if len(values) > limits.max_items:
        problems.append(too_many_message('ip', len(values), limits))
    if bad_ips:
        problems.append(invalid_prefixes_message('ip', bad_ips))
    elif not prefixes and not problems:
        problems.append('ip is required: give at least one IP address or CIDR.')
    try:
        directions = parse_directions(args.get('direction'))
    except InputError as err:
        problems.append(err.message)
        directions = [str(args.get('direction'))]
    nsg = None
    try:
        nsg = resolve_nsg(client, args)
        if block:
            flag_arg(args, 'dry_run')
    except InputError as err:
        problems.append(err.message)
    if not problems and nsg is not None:
        return prefixes, directions, nsg
    message = ' '.join(problems) + ' Nothing was changed.'
    nsg_name = nsg.name if nsg else args.get('nsg_name') or client.default_nsg_name
    items = [{'IP': item, 'NSG': nsg_name, 'Direction': direction, 'Rule': None, 'Status': 'Invalid',
              'Warning': reason, 'ResourceGroup': args.get('resource_group') or client.resource_group or None,
              'SubscriptionID': args.get('subscription_id') or client.subscription_id}
             for direction in directions for item, reason in bad_ips[:MAX_LISTED_ITEMS]]
    raise InvalidIpInput(message, items)


def invalid_ip_input_results(err: InvalidIpInput, command: str) -> CommandResults:
    """The error entry of refused block/unblock input, with the Invalid items in its context; its text starts with
    "Failed to execute <command>." like every error main() reports. The war-room rendering quotes every input
    value as code (md_block / md_code / md_escape): an alert cannot plant a link or break the table."""
    message = f'Failed to execute {command}. {err.message}'
    readable = f'Failed to execute {command}. The input was refused:\n{md_block(err.message)}'
    if err.items:
        rows = [{**item, 'IP': md_code(item['IP']), 'NSG': md_code(item['NSG']), 'Direction': md_code(
            item['Direction']), 'Warning': md_escape(str(item['Warning']))} for item in err.items]
        readable += '\n' + tableToMarkdown('Refused input', rows, headers=['IP', 'Direction', 'Status', 'Warning'])
    return CommandResults(entry_type=EntryType.ERROR, readable_output=readable, raw_response=message,
                          outputs={blocked_ip_key(): err.items} if err.items else None)


class BlockOutcome(NamedTuple):
    """What the block of one direction and address family did."""
    status: dict[str, tuple[str, str | None]]   # prefix -> (Status, rule that holds it / would hold it)
    rules: list[dict]                           # the rules written
    warnings: dict[str, list[str]]              # prefix -> allow rules that still let it through
    tampered: dict[str, list[str]]              # prefix -> look-alike rules that meet it (never counted)
    notes: list[str]
    rules_read: 'NsgRead | None'                # the NSG's rules as last read; None if consolidation changed them
    audits: dict[str, 'BlockAudit']             # prefix -> the block in force (latest expiry) or that would be
    nsg_read: dict | None = None                # the NSG as this call last read it (None: it read none)
    read_at: float = 0.0                        # time.time() before the read that `status` comes from


class NsgRead(NamedTuple):
    """An NSG's rules as one GET returned them, and the time.time() just before it was sent."""
    rules: list[dict]
    at: float


def _block_direction(client, nsg: NsgRef, direction: str, family: str, wanted: list[Prefix], audit: BlockAudit,
                     dry_run: bool, rules_read: NsgRead | None = None,
                     journal: list[str] | None = None) -> BlockOutcome:
    """Blocks one direction + address family with at most one rule write per round: a new rule, named after its
    content (prefixes, expiry, incident), holding every wanted prefix that no pack rule blocks at least until
    audit.expires_at yet (a shorter block is extended by this one rule, never edited). Each round re-reads the NSG
    (the round after a write confirms it); a parallel writer's 429 or duplicate priority means another round.

    `rules_read`: the NSG's rules as the previous direction/family just read them, used instead of the first GET.
    `journal`: the names of the rules this call created are appended to it (what a rollback deletes).
    """
    texts = list(dict.fromkeys(p.text for p in wanted))
    by_text = {p.text: p for p in wanted}
    side = side_of(direction)
    description, _ = audit.description()
    written: set[str] = set()
    written_names: set[str] = set()
    nsg_read: dict | None = None
    for attempt in range(MAX_WRITE_ATTEMPTS):
        if rules_read is None:
            started = time.time()
            nsg_read = get_nsg(client, nsg.path)
            rules_read = NsgRead(props(nsg_read).get('securityRules') or [], started)
        (rules, read_at), rules_read = rules_read, None   # every later round reads again
        own, lookalikes = classify_rules(rules, direction)
        lasting = [r for r in latest_first(own) if (rule_audit(r) or audit).lasts_until(audit.expires_at)]
        covering = {text: rule for text, (rule, _) in
                    covering_networks(lasting, side, [by_text[t] for t in texts]).items()}
        missing = [t for t in texts if t not in covering]
        if not missing or dry_run:
            break
        if len(rules) >= MAX_RULES_PER_NSG:
            raise ContainmentError(f"NSG '{nsg.name}' already has {len(rules)} security rules (Azure's limit is "
                                   f"{MAX_RULES_PER_NSG}): {direction} block of {', '.join(missing)} was not written.",
                                   code='LimitReached')
        used = side_prefix_count(rules, side)
        if used + len(missing) > MAX_PREFIXES_PER_SIDE:
            raise ContainmentError(f"NSG '{nsg.name}' already uses {used} {side} addresses (Azure's limit is "
                                   f"{MAX_PREFIXES_PER_SIDE} per side): {direction} block of {', '.join(missing)} "
                                   'was not written.', code='LimitReached')
        priority = lowest_free_priority(rules, direction)
        if priority is None:
            raise ContainmentError(f"NSG '{nsg.name}' has no free {direction} priority between {PRIORITY_MIN} and "
                                   f"{PRIORITY_MAX}: {direction} block of {', '.join(missing)} was not written.",
                                   code='LimitReached')
        name = block_rule_name(direction, family, missing, audit)
        try:
            if journal is not None and name not in journal and not any(r.get('name') == name for r in rules):
                journal.append(name)   # before the write: a write that fails may still have landed
            arm_write(client, 'PUT', rule_path(nsg.path, name), f'Writing rule {name}',
                      deny_rule_body(direction, missing, priority, description))
            written.update(missing)
            written_names.add(name)
        except RetryableError as err:
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                raise
            demisto.debug(f'block {direction}/{family} on {nsg.name}: {err.code}, re-reading')
            backoff(client, attempt, err)
    else:
        raise ContainmentError(f"NSG '{nsg.name}' stayed busy: {direction} block not confirmed.", code='NsgBusy')
    status: dict[str, tuple[str, str | None]] = {}
    audits: dict[str, BlockAudit] = {}
    warnings: dict[str, list[str]] = {}
    tampered: dict[str, list[str]] = {}
    for text in texts:
        rule = covering.get(text)
        if rule is None:
            priority = lowest_free_priority(rules, direction) or PRIORITY_MAX
            status[text] = ('WouldBlock', block_rule_name(direction, family, missing, audit))
            audits[text] = audit
        else:
            priority = props(rule).get('priority') or 0
            status[text] = ('Blocked' if text in written else 'AlreadyBlocked', rule.get('name'))
            audits[text] = rule_audit(rule) or audit
        warnings[text] = shadowing_warnings(rules, direction, priority, by_text[text])
        tampered[text] = tampered_warnings(lookalikes, by_text[text])
    written_rules = [r for r in rules if r.get('name') in written_names]
    family_rules = of_family(own, direction, family)
    now = audit.blocked_at or utc_now()   # the call's own audit always has its time
    consolidating = (bool(written) and len(family_rules) + 1 > CONSOLIDATE_THRESHOLD
                     and bool(consolidation_groups(family_rules, now)))
    note = _consolidate_pack_rules(client, nsg, direction, family, now) if consolidating else None
    return BlockOutcome(status, written_rules, warnings, tampered, [note] if note else [],
                        None if consolidating else NsgRead(rules, read_at), audits, nsg_read, read_at)


def consolidation_groups(rules: list[dict], now: datetime) -> list[list[dict]]:
    """The pack rules that consolidation may merge: those of one bucket (same expiry and incident), not expired
    (azure-nsg-block-expire removes those), in groups of at least two."""
    groups: dict[str, list[dict]] = {}
    for rule in rules:
        audit = rule_audit(rule)
        if audit is not None and not audit.expired(now):
            groups.setdefault(audit.bucket, []).append(rule)
    return [group for _, group in sorted(groups.items()) if len(group) > 1]


def _consolidate_pack_rules(client, nsg: NsgRef, direction: str, family: str, now: datetime) -> str | None:
    """Merges the pack's rules of one direction + family when there are more than the threshold: the rules of each
    bucket (same expiry, same incident: consolidation_groups) into one, which keeps the bucket's expiry and
    incident and its earliest block time, so every address keeps its expiry and audit trail.

    Called when the last read may be over the threshold; the rules are read again under the NSG
    lease (an unblock edits them too). The merged rule is written first and the merged-away rules deleted
    afterwards, so every prefix stays blocked throughout.
    """
    lease = NsgLease(nsg.path)
    side = side_of(direction)
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            with lease:
                rules = props(get_nsg(client, nsg.path)).get('securityRules') or []
                mine = pack_rules(rules, direction, family)
                if len(mine) <= CONSOLIDATE_THRESHOLD:
                    return None
                for group in consolidation_groups(mine, now):
                    audits = [rule_audit(r) for r in group]
                    first = min((a for a in audits if a is not None),
                                key=lambda a: a.blocked_at.timestamp() if a.blocked_at is not None else 0.0)
                    merged = sorted({canonical_text(t) for r in group for t in rule_side_prefixes(r, side)},
                                    key=prefix_sort_key)
                    audit = BlockAudit(first.incident, first.blocked_at, first.expires_at,
                                       f'consolidated {len(group)} pack rules')
                    name = block_rule_name(direction, family, merged, audit)
                    priority = lowest_free_priority(rules, direction)
                    if priority is None or len(rules) >= MAX_RULES_PER_NSG:
                        return (f"Could not consolidate the pack's {direction} rules on '{nsg.name}': no room for "
                                'the merged rule.')
                    if not any(r.get('name') == name for r in rules):
                        lease.renew()
                        body = deny_rule_body(direction, merged, priority, audit.description()[0])
                        arm_write(client, 'PUT', rule_path(nsg.path, name), f'Writing merged rule {name}', body)
                        rules = [*rules, {'name': name, **body}]
                    for rule in group:
                        if rule.get('name') != name:
                            lease.renew()
                            arm_write(client, 'DELETE', rule_path(nsg.path, rule['name']),
                                      f'Deleting merged rule {rule["name"]}', busy_retry=True)
                return None
        except RetryableError as err:
            try:
                backoff(client, attempt, err)
            except ContainmentError as waited:
                return f"Consolidation of the pack's {direction} rules on '{nsg.name}' postponed: {waited}"
        except ContainmentError as err:
            return f"Consolidation of the pack's {direction} rules on '{nsg.name}' postponed: {err}"
    return f"Consolidation of the pack's {direction} rules on '{nsg.name}' postponed: the NSG stayed busy."


TAMPERED_OUTCOME = {'Blocked': 'It is blocked by the pack\'s rule {rule}.',
                    'AlreadyBlocked': 'It was already blocked by the pack\'s rule {rule}.',
                    'WouldBlock': 'The pack would block it with rule {rule} (dry run).',
                    'Unblocked': 'It was removed from the pack\'s rule {rule}.',
                    'NotBlocked': 'No rule of the pack blocked it.'}


def ip_item(prefix: Prefix, nsg: NsgRef, direction: str, state: str, rule: str | None, warnings: list[str],
            tampered: list[str], audit: BlockAudit | None = None) -> dict:
    """One AzureContainment.BlockedIP item. A look-alike rule that meets the address makes its Status Tampered; the
    Warning then says what the pack itself did (`state`). `audit`: the block in force (its time, expiry,
    incident)."""
    if tampered:
        warnings = [*tampered, TAMPERED_OUTCOME[state].format(rule=rule), *warnings]
    return {'IP': prefix.text, 'NSG': nsg.name, 'Direction': direction, 'Rule': rule,
            'Status': 'Tampered' if tampered else state, 'Warning': ' '.join(warnings) or None,
            'ResourceGroup': nsg.resource_group, 'SubscriptionID': nsg.subscription,
            **(audit.fields() if audit is not None else {'BlockedAt': None, 'ExpiresAt': None, 'IncidentID': None})}


def ip_items_table(title: str, items: list[dict]) -> str:
    rows = [{**item, 'Warning': md_escape(item['Warning']) if item.get('Warning') else None} for item in items]
    return tableToMarkdown(title, rows, headers=['IP', 'Direction', 'Status', 'Rule', 'Warning'], removeNull=True)


def nsg_block_ip_command(client, args: dict) -> CommandResults:
    try:
        prefixes, directions, nsg = ip_command_input(client, args, block=True)
    except InvalidIpInput as err:
        return invalid_ip_input_results(err, 'azure-nsg-block-ip')
    dry_run = flag_arg(args, 'dry_run')
    audit = current_block_audit(args.get('description'),
                                parse_expires_in(args.get('expires_in'), client.limits.max_block_days))
    truncated = audit.description()[1]
    items: list[dict] = []
    rules: list[dict] = []
    notes: list[str] = []
    rules_read: NsgRead | None = None      # the NSG as last read: the next direction/family starts from it
    journal: list[str] = []                # the rules this call created, in order
    nsg_read: dict | None = None           # ... and its body (what it is attached to)
    parts: list[BlockPart] = []
    claims = BlockClaims(nsg.path, claim_window(client))   # this call's reliance on young rules (see BlockClaims)
    try:
        for direction in directions:
            for family in ('v4', 'v6'):
                wanted = [p for p in prefixes if p.family == family]
                if not wanted:
                    continue
                result = _block_direction(client, nsg, direction, family, wanted, audit, dry_run, rules_read,
                                          journal)
                rules_read = result.rules_read
                parts.append(BlockPart(direction, family, wanted, result))
        if not dry_run:
            parts = _rely_on_young_rules(client, nsg, parts, audit, journal, claims)
    except ContainmentError as err:
        if not journal:
            raise
        raise _rollback_block(client, nsg, journal, err, claims) from err
    for part in parts:
        result = part.outcome
        nsg_read = result.nsg_read or nsg_read
        rules.extend(result.rules)
        notes.extend(result.notes)
        for p in part.wanted:
            state, rule_name = result.status[p.text]
            warnings = ([p.note] if p.note else []) + result.warnings.get(p.text, [])
            items.append(ip_item(p, nsg, part.direction, state, rule_name, warnings, result.tampered.get(p.text, []),
                                 result.audits.get(p.text)))
    if truncated:
        notes.append(f"The description was shortened to fit Azure's {RULE_DESCRIPTION_MAX} characters (with the "
                     "pack's audit record: incident, time, expiry).")
    notes.extend(_add_protection(client, nsg, nsg_read, items, prefixes))
    title = f"Block on NSG {nsg.name}{' (dry run: nothing was changed)' if dry_run else ''}"
    readable = ip_items_table(title, items)
    rule_rows = [rule_output(r, nsg.name) for r in rules]
    if rule_rows:
        readable += tableToMarkdown('Rules written', [{**row, 'Description': md_code(row['Description'])}
                                                      for row in rule_rows],
                                    headers=['Name', 'Direction', 'Priority', 'Access', 'SourceAddressPrefixes',
                                             'DestinationAddressPrefixes', 'Description'], removeNull=True)
    if notes:
        readable += '\n' + '\n'.join(f'**Note:** {md_escape(w)}' for w in dict.fromkeys(notes))
    outputs = {blocked_ip_key(): items}
    if rule_rows:
        outputs[context_key('AzureContainment.NSGRule', ['ID'])] = rule_rows
    return CommandResults(readable_output=readable, outputs=outputs, raw_response=items)


class BlockPart(NamedTuple):
    """One direction + address family of a block call, and what its block did."""
    direction: str
    family: str
    wanted: list[Prefix]
    outcome: BlockOutcome


def _rely_on_young_rules(client, nsg: NsgRef, parts: list[BlockPart], audit: BlockAudit, journal: list[str],
                         claims: BlockClaims) -> list[BlockPart]:
    """Records this call's reliance on the young rules that hold its addresses (see BlockClaims); a part whose rule
    a rollback of another run deleted (or is deleting) since it was read is blocked again: read, written if
    missing, and checked again. Returns the parts as they stand."""
    young_since = utc_now() - timedelta(seconds=claims.window)
    for attempt in range(MAX_WRITE_ATTEMPTS):
        read_at: dict[str, float] = {}
        for part in parts:
            for text, (state, name) in part.outcome.status.items():
                held_by = part.outcome.audits.get(text)
                if (state in ('Blocked', 'AlreadyBlocked') and name and held_by is not None
                        and held_by.blocked_at is not None and held_by.blocked_at >= young_since):
                    read_at[name] = min(read_at.get(name, part.outcome.read_at), part.outcome.read_at)
        if not read_at:
            return parts
        try:
            unsafe = claims.rely(read_at)
        except ContainmentError as err:   # the context kept changing: the block stands, unrecorded (as before)
            demisto.debug(f'block on {nsg.name}: its reliance was not recorded: {err.code}')
            return parts
        if not unsafe:
            return parts
        demisto.debug(f'block on {nsg.name}: {len(unsafe)} rule(s) rolled back by another run, blocking again')
        backoff(client, attempt)
        parts = [part._replace(outcome=_block_direction(client, nsg, part.direction, part.family, part.wanted, audit,
                                                        False, None, journal))
                 if any(name in unsafe for _, name in part.outcome.status.values()) else part
                 for part in parts]
    raise ContainmentError(f"NSG '{nsg.name}': another run kept rolling back the rules of this block; not "
                           'confirmed.', code='NsgBusy')


def _rollback_block(client, nsg: NsgRef, journal: list[str], err: ContainmentError,
                    claims: BlockClaims) -> ContainmentError:
    """A block that failed after it created rules: they are deleted again (a call blocks every direction or none),
    newest first, except a rule another run of this instance relies on (BlockClaims): it stays. The error to raise:
    the failure, and what the rollback did or could not do."""
    client.budget.reserve()
    left = []
    recorded = True
    try:
        journal, kept = claims.claim_for_rollback(journal, time.time() + max(client.budget.remaining(), 0) + 1)
    except ContainmentError as claim_err:   # unrecorded: delete as if nobody relied on them
        demisto.debug(f'rollback on {nsg.name}: the claims were not read: {claim_err.code}')
        recorded, kept = False, []
    try:
        present = {r.get('name') for r in props(get_nsg(client, nsg.path)).get('securityRules') or []}
    except ContainmentError:
        present = set(journal)   # unknown: delete each (a DELETE of a rule that is not there changes nothing)
    removed = []
    for name in reversed(journal):
        if name not in present:
            continue   # the write that failed never landed
        try:
            arm_write(client, 'DELETE', rule_path(nsg.path, name), f'Rolling back rule {name}', busy_retry=True)
            removed.append(name)
        except ArmNotFound:
            continue
        except ContainmentError as undo_err:
            left.append(f'{name} ({undo_err.code})')
    if recorded and journal:
        try:
            claims.mark_deleted(journal)
        except ContainmentError as claim_err:   # the marks lapse by themselves (their expiry)
            demisto.debug(f'rollback on {nsg.name}: the deletions were not marked: {claim_err.code}')
    shared = (f" Kept the rule(s) {', '.join(kept)}: another block of this instance holds the same addresses with "
              'them, so those addresses stay blocked by that block.' if kept else '')
    if left:
        return err.with_note(f"Rolling back failed: the pack rule(s) {', '.join(left)} this call wrote are still on "
                             f"NSG '{nsg.name}', so the block holds in some directions only. Fix: run the same "
                             f'azure-nsg-block-ip again to complete it, or azure-nsg-unblock-ip to remove it.{shared}')
    if kept:
        return err.with_note(f"Rolled back: the rule(s) this call had written ({', '.join(removed) or 'none'}) were "
                             f'deleted.{shared} Fix the cause and run azure-nsg-block-ip again.')
    return err.with_note(f"Rolled back: the rule(s) this call had written ({', '.join(removed) or 'none'}) were "
                         'deleted; nothing is blocked by this call. Fix the cause and run azure-nsg-block-ip again.')


class Protection(NamedTuple):
    """What an NSG protects: the subnets and NICs it is attached to, and the VNets they are in."""
    subnets: list[str]
    nics: list[str]
    vnets: list[str]
    notes: list[str]


def nsg_protection(client, body: dict) -> Protection:
    """The subnets and NICs an NSG (as GET returns it) is attached to, and their VNets: a subnet's from its ID, a
    NIC's from its IP configurations (up to BLOCK_MAX_NIC_READS NICs are read; the note says when more were not)."""
    subnets = [str(r.get('id')) for r in props(body).get('subnets') or [] if isinstance(r, dict) and r.get('id')]
    nics = [str(r.get('id')) for r in props(body).get('networkInterfaces') or [] if isinstance(r, dict) and r.get('id')]
    vnets = {s.split('/subnets/')[0].lower(): s.split('/subnets/')[0] for s in subnets}
    notes = []
    read = []

    def one(nic_id: str) -> dict | ContainmentError:
        try:
            return _get_nic(client, nic_id)
        except ContainmentError as err:
            return err
    wanted = nics[:BLOCK_MAX_NIC_READS]
    if len(wanted) > 1:   # read at once, as the verification's reads: a shared NSG may hold many NICs
        client.credential.get_token()   # as _write_nics: no worker needs the integration context for a token
        with ThreadPoolExecutor(max_workers=min(NIC_WRITE_PARALLELISM, len(wanted))) as pool:
            answers = list(pool.map(one, wanted))
    else:
        answers = [one(nic_id) for nic_id in wanted]
    for nic_id, answer in zip(wanted, answers, strict=True):
        if isinstance(answer, ContainmentError):
            notes.append(f'Could not read network interface {name_of(nic_id)} to find its VNet: {answer.message}')
        else:
            read.append(answer)
    if len(nics) > BLOCK_MAX_NIC_READS:
        notes.append(f'Only the VNets of the first {BLOCK_MAX_NIC_READS} of {len(nics)} network interfaces were '
                     'checked for security admin rules.')
    vnets.update({v.lower(): v for v in _vnet_ids(read)})
    return Protection(subnets, nics, list(vnets.values()), notes)


def admin_allow_warnings(items: list[dict], vnet_id: str, direction: str, prefix: Prefix) -> list[str]:
    """AlwaysAllow security admin rules of a VNet that admit `prefix` in `direction`: evaluated before every NSG,
    they let it through whatever the block says (reported as a shadowing allow rule is)."""
    side = 'sources' if direction == 'Inbound' else 'destinations'
    way = 'in' if direction == 'Inbound' else 'out'
    found = []
    for item in items:
        p = props(item)
        if p.get('access') != 'AlwaysAllow' or p.get('direction') != direction:
            continue
        hits = [text for text in admin_rule_prefixes(p.get(side)) if admits(text, prefix.net)]
        if hits:
            found.append(f"AlwaysAllow {admin_rule_text(item)} on VNet {name_of(vnet_id)} is evaluated before the "
                         f"block (before every NSG) and still lets {prefix.text} {way} through its {side[:-1]} "
                         f"{', '.join(hits)}.")
    return found


def _add_protection(client, nsg: NsgRef, body: dict | None, items: list[dict], prefixes: list[Prefix]) -> list[str]:
    """Adds to each BlockedIP item what the NSG protects (ProtectedSubnets / ProtectedNICs and their counts, a
    warning when it is attached to nothing) and the AlwaysAllow admin rules of those VNets that admit its address.
    Returns the notes of the entry (an admin-rule read that failed)."""
    if body is None:
        body = get_nsg(client, nsg.path)
    protection = nsg_protection(client, body)
    notes = [f'NSG {nsg.name} protects {len(protection.subnets)} subnet(s)'
             + (f" ({', '.join(name_of(x) for x in protection.subnets[:MAX_LISTED_ITEMS])})" if protection.subnets
                else '') + f' and {len(protection.nics)} network interface(s)'
             + (f" ({', '.join(name_of(x) for x in protection.nics[:MAX_LISTED_ITEMS])})" if protection.nics else '')
             + '.', *protection.notes]
    admin: dict[str, list[dict]] = {}
    for vnet_id in protection.vnets:
        try:
            admin[vnet_id] = read_admin_rules(client, vnet_id)
        except ContainmentError as err:
            notes.append(f'The security admin rules of VNet {name_of(vnet_id)} were not checked: '
                         + unverifiable_reason(err, ADMIN_RULES_ACTION, 'the Virtual Network Manager security admin '
                                               'rules'))
    unattached = (f"NSG {nsg.name} is attached to no subnet and no network interface: this block protects nothing "
                  'until the NSG is attached.') if not protection.subnets and not protection.nics else None
    by_text = {p.text: p for p in prefixes}
    for item in items:
        extra = [unattached] if unattached else []
        prefix = by_text.get(item['IP'])
        if prefix is not None:
            for vnet_id, rules in admin.items():
                extra += admin_allow_warnings(rules, vnet_id, item['Direction'], prefix)
        item.update({'ProtectedSubnets': [name_of(s) for s in protection.subnets],
                     'ProtectedSubnetCount': len(protection.subnets),
                     'ProtectedNICs': [name_of(n) for n in protection.nics], 'ProtectedNICCount': len(protection.nics)})
        if extra:
            item['Warning'] = ' '.join([*([item['Warning']] if item.get('Warning') else []), *extra])
    return notes


class UnblockOutcome(NamedTuple):
    """What the unblock of one direction did."""
    removed: dict[str, str]       # prefix -> the rule it was removed from
    explained: dict[str, str]     # prefix -> why it is NotBlocked although a pack rule covers it
    tampered: dict[str, list[str]]   # prefix -> look-alike rules that meet it (never edited)
    audits: dict[str, 'BlockAudit'] | None = None   # prefix -> the block in force that was removed (latest expiry)


def _unblock_direction(client, nsg: NsgRef, direction: str, prefixes: list[Prefix],
                       journal: dict[str, dict] | None = None) -> UnblockOutcome:
    """Removes `prefixes` from the pack's rules of one direction.

    Each round takes the NSG lease, reads the rules, and writes the edited ones (a rule left empty is deleted).
    The next round re-reads to verify; only a round that finds none of the prefixes left ends the loop.
    `journal`: each rule this call changes, as it was before its first change (what a rollback puts back).
    """
    side = side_of(direction)
    targets = {p.text for p in prefixes}
    found: dict[str, str] = {}
    audits: dict[str, BlockAudit] = {}
    lease = NsgLease(nsg.path)
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            with lease:
                rules = props(get_nsg(client, nsg.path)).get('securityRules') or []
                for rule in latest_first(pack_rules(rules, direction)):   # the block in force of each prefix
                    audit = rule_audit(rule)
                    for t in rule_side_prefixes(rule, side):
                        if canonical_text(t) in targets and audit is not None:
                            audits.setdefault(canonical_text(t), audit)
                holders = []
                for rule in pack_rules(rules, direction):
                    texts = rule_side_prefixes(rule, side)
                    hits = [t for t in texts if canonical_text(t) in targets]
                    if hits:
                        holders.append((rule, [t for t in texts if canonical_text(t) not in targets]))
                        for t in hits:
                            found.setdefault(canonical_text(t), rule['name'])
                if not holders:
                    lookalikes = classify_rules(rules, direction)[1]
                    return UnblockOutcome(found, _inside_blocked_ranges(rules, direction, [
                        p for p in prefixes if p.text not in found]),
                        {p.text: tampered_warnings(lookalikes, p) for p in prefixes}, audits)
                for rule, remaining in holders:
                    lease.renew()
                    if journal is not None:
                        journal.setdefault(rule['name'], copy.deepcopy(rule))
                    path = rule_path(nsg.path, rule['name'])
                    if remaining:
                        body = writable_rule_body(rule)
                        body['properties'][f'{side}AddressPrefixes'] = remaining
                        body['properties'].pop(f'{side}AddressPrefix', None)
                        arm_write(client, 'PUT', path, f"Updating rule {rule['name']}", body)
                    else:
                        arm_write(client, 'DELETE', path, f"Deleting rule {rule['name']}")
        except RetryableError as err:
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                raise
            backoff(client, attempt, err)
    raise ContainmentError(f"NSG '{nsg.name}' stayed busy: {direction} unblock not confirmed.", code='NsgBusy')


def _put_back_rules(client, nsg: NsgRef, journal: dict[str, dict]) -> tuple[list[str], list[str]]:
    """Puts every rule of `journal` (as read before this call changed or deleted it) back exactly, under the NSG's
    lease, skipping those whose change never landed: (rules put back, "rule (code)" that could not be)."""
    client.budget.reserve()
    left: list[str] = []
    restored: list[str] = []
    try:
        with NsgLease(nsg.path):
            current = {r.get('name'): r for r in props(get_nsg(client, nsg.path)).get('securityRules') or []}
            for name, rule in journal.items():
                if name in current and writable_rule_body(current[name]) == writable_rule_body(rule):
                    continue   # its write never landed
                try:
                    arm_write(client, 'PUT', rule_path(nsg.path, name), f'Rolling back rule {name}',
                              writable_rule_body(rule), busy_retry=True)
                    restored.append(name)
                except ContainmentError as undo_err:
                    left.append(f'{name} ({undo_err.code})')
    except ContainmentError as lease_err:
        left = [f'{name} ({lease_err.code})' for name in journal]
    return restored, left


def _rollback_unblock(client, nsg: NsgRef, journal: dict[str, dict], err: ContainmentError) -> ContainmentError:
    """An unblock that failed after it changed rules: each is put back exactly as it was read (an unblock removes
    the addresses in every direction or in none). The error to raise: the failure and what the rollback did."""
    restored, left = _put_back_rules(client, nsg, journal)
    if left:
        return err.with_note(f"Rolling back failed for the rule(s) {', '.join(left)} on NSG '{nsg.name}': the "
                             'addresses are unblocked in some directions only. Fix: run the same azure-nsg-unblock-ip '
                             'again to complete it, or azure-nsg-block-ip to block them again.')
    return err.with_note(f"Rolled back: the rule(s) this call had changed ({', '.join(restored) or 'none'}) were put "
                         'back as they were; the addresses are still blocked. Fix the cause and run '
                         'azure-nsg-unblock-ip again.')


def _inside_blocked_ranges(rules: list[dict], direction: str, prefixes: list[Prefix]) -> dict[str, str]:
    """For prefixes that lie inside a range a pack rule blocks as a whole: why unblocking them changes nothing."""
    explain = {}
    for text, (rule, net) in covering_networks(pack_rules(rules, direction), side_of(direction), prefixes).items():
        explain[text] = (f'{text} lies inside {canonical_prefix(net)}, blocked as a whole by rule '
                         f"{rule['name']}: unblock {canonical_prefix(net)} instead (the pack never "
                         'splits a blocked range).')
    return explain


def nsg_unblock_ip_command(client, args: dict) -> CommandResults:
    try:
        prefixes, directions, nsg = ip_command_input(client, args, block=False)
    except InvalidIpInput as err:
        return invalid_ip_input_results(err, 'azure-nsg-unblock-ip')
    items: list[dict] = []
    journal: dict[str, dict] = {}   # the rules this call changed, as they were
    for direction in directions:
        try:
            found, explain, tampered, audits = _unblock_direction(client, nsg, direction, prefixes, journal)
        except ContainmentError as err:
            if not journal:
                raise
            raise _rollback_unblock(client, nsg, journal, err) from err
        for p in prefixes:
            warning = explain.get(p.text) or p.note
            items.append(ip_item(p, nsg, direction, 'Unblocked' if p.text in found else 'NotBlocked',
                                 found.get(p.text), [warning] if warning else [], tampered.get(p.text, []),
                                 (audits or {}).get(p.text) if p.text in found else None))
    readable = ip_items_table(f'Unblock on NSG {nsg.name}', items)
    return CommandResults(readable_output=readable, raw_response=items, outputs={blocked_ip_key(): items})


# azure-nsg-block-list, azure-nsg-block-expire

DIRECTIONS = ('Inbound', 'Outbound')


def nsg_refs(client, args: dict) -> list[NsgRef]:
    """The NSGs of a list-valued nsg_name (default: the instance's default NSG), each validated before any
    request."""
    names = list(dict.fromkeys(argToList(args.get('nsg_name')))) or [client.default_nsg_name or '']
    if len(names) > MAX_LISTED_ITEMS:
        raise InputError(f'nsg_name names {len(names)} NSGs: at most {MAX_LISTED_ITEMS} per call.')
    return [resolve_nsg(client, {**args, 'nsg_name': name}) for name in names]


class HeldAddress(NamedTuple):
    """One address the pack's rules hold in one direction: the block in force (the latest expiry) and the rule."""
    text: str
    direction: str
    rule: dict
    audit: BlockAudit


def held_addresses(own: list[dict], direction: str) -> dict[str, HeldAddress]:
    """{address: its block in force} over the pack's rules of one direction: the rule with the latest expiry
    (permanent first) that holds the address itself."""
    held: dict[str, HeldAddress] = {}
    for rule in latest_first(own):
        audit = rule_audit(rule)
        if audit is None:
            continue
        for text in rule_side_prefixes(rule, side_of(direction)):
            key = canonical_text(text)
            if key not in held:
                held[key] = HeldAddress(key, direction, rule, audit)
    return held


def blocked_item(nsg: NsgRef, held: HeldAddress, status: str, warning: str | None = None) -> dict:
    """An AzureContainment.BlockedIP item of block-list / block-expire: the block in force of one address."""
    return {'IP': held.text, 'NSG': nsg.name, 'Direction': held.direction, 'Rule': held.rule.get('name'),
            'Priority': props(held.rule).get('priority'), **held.audit.fields(), 'Status': status,
            'Warning': warning, 'ResourceGroup': nsg.resource_group, 'SubscriptionID': nsg.subscription}


def tampered_items(nsg: NsgRef, direction: str, lookalikes: list[TamperedRule], rules: list[dict],
                   items: dict[str, dict]) -> None:
    """Marks (or adds) the items of addresses that a look-alike rule holds: Status Tampered, the Warning says why
    (it was never counted as a block) and which pack rule, if any, does block the address."""
    priorities = {r.get('name'): props(r).get('priority') for r in rules}
    for rule in lookalikes:
        warning = (f"Rule '{rule.name}' carries the pack's name or marker but is not a rule the pack writes "
                   f"({'; '.join(rule.problems)}): it is not counted as a block; check who made it.")
        for text in rule.side:
            key = canonical_text(text)
            item = items.get(key)
            if item is None:
                audit = BlockAudit.parse(props(next((r for r in rules if r.get('name') == rule.name), {})).get(
                    'description'))
                items[key] = {'IP': key, 'NSG': nsg.name, 'Direction': direction, 'Rule': rule.name,
                              'Priority': priorities.get(rule.name),
                              **(audit.fields() if audit else {'BlockedAt': None, 'ExpiresAt': None,
                                                               'IncidentID': None}),
                              'Status': 'Tampered', 'Warning': warning, 'ResourceGroup': nsg.resource_group,
                              'SubscriptionID': nsg.subscription}
            else:
                item['Warning'] = ' '.join(w for w in (warning, f"The pack's rule {item['Rule']} blocks it "
                                                       f"({item['Status']}).", item.get('Warning')) if w)
                item['Status'] = 'Tampered'


def _ip_filter(args: dict) -> list[Prefix]:
    values = argToList(args.get('ip'))
    if not values:
        return []
    prefixes, bad = split_prefixes(values)
    if bad:
        raise InputError(invalid_prefixes_message('ip', bad))
    return prefixes


def _overlaps_any(text: str, wanted: list[Prefix]) -> bool:
    net = as_network(text)
    return net is not None and any(p.net.version == net.version and p.net.overlaps(net) for p in wanted)


def block_list_command(client, args: dict) -> CommandResults:
    """Every address the pack blocks on the NSGs given: its block in force (latest expiry) and Status Active or
    Expired; addresses held by look-alike rules are Tampered. Sorted by NSG, direction and address; at most
    `limit` items."""
    nsgs = nsg_refs(client, args)
    wanted = _ip_filter(args)
    limit = limit_arg(args)
    now = utc_now()
    items: list[dict] = []
    for nsg in nsgs:
        rules = props(get_nsg(client, nsg.path)).get('securityRules') or []
        for direction in DIRECTIONS:
            own, lookalikes = classify_rules(rules, direction)
            found = {key: blocked_item(nsg, held, 'Expired' if held.audit.expired(now) else 'Active')
                     for key, held in held_addresses(own, direction).items()}
            tampered_items(nsg, direction, lookalikes, rules, found)
            items.extend(found[key] for key in sorted(found, key=prefix_sort_key))
    if wanted:
        items = [item for item in items if _overlaps_any(item['IP'], wanted)]
    shown = items[:limit]
    title = f"Addresses the pack blocks on {', '.join(n.name for n in nsgs)} (as of {audit_time(now)})"
    readable = tableToMarkdown(title, [{**i, 'Warning': md_escape(i['Warning']) if i.get('Warning') else None}
                                       for i in shown],
                               headers=['IP', 'NSG', 'Direction', 'Status', 'ExpiresAt', 'IncidentID', 'BlockedAt',
                                        'Rule', 'Priority', 'Warning'], removeNull=True)
    if len(items) > limit:
        readable += (f'\nShowing {limit} of {len(items)} addresses: raise limit, or narrow the list with ip or '
                     'nsg_name.')
    return CommandResults(readable_output=readable, outputs={blocked_ip_key(): shown}, raw_response=shown)


def _expire_direction(client, nsg: NsgRef, direction: str, now: datetime, dry_run: bool,
                      journal: dict[str, dict] | None = None) -> list[dict]:
    """Deletes the pack's rules of one direction whose expiry passed (at `now`); the items of the addresses that
    no other pack rule still holds (those are the ones it unblocks).

    Unblock's path: each round takes the NSG lease, reads the rules and deletes the expired ones; the next round
    re-reads to verify, only a round that finds none expired ends the loop. Whole expired rules are deleted, never
    edited: a parallel block only ever creates rules (with a later expiry), so nothing it adds is lost, and an
    address that a later rule holds stays blocked by it.
    """
    report: dict[str, dict] = {}
    lease = NsgLease(nsg.path)
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            with lease:
                rules = props(get_nsg(client, nsg.path)).get('securityRules') or []
                own = classify_rules(rules, direction)[0]
                expired = latest_first([r for r in own if (rule_audit(r) or BlockAudit('', now, None)).expired(now)])
                if not expired:
                    return [report[key] for key in sorted(report, key=prefix_sort_key)]
                remaining = [r for r in own if r not in expired]
                if dry_run:
                    _report_unheld(report, nsg, direction, expired, remaining, 'Expired')
                    return [report[key] for key in sorted(report, key=prefix_sort_key)]
                remaining += expired
                for rule in expired:
                    lease.renew()
                    if journal is not None:   # what a rollback puts back
                        journal.setdefault(rule['name'], copy.deepcopy(rule))
                    arm_write(client, 'DELETE', rule_path(nsg.path, rule['name']),
                              f"Deleting expired rule {rule['name']}")
                    # Reported by the run whose delete left the address in no pack rule: exactly once, even when
                    # a parallel expiry (which waits for the lease) deletes another rule of the same address.
                    remaining.remove(rule)
                    _report_unheld(report, nsg, direction, [rule], remaining, 'Unblocked')
        except RetryableError as err:
            if attempt == MAX_WRITE_ATTEMPTS - 1:
                raise
            backoff(client, attempt, err)
    raise ContainmentError(f"NSG '{nsg.name}' stayed busy: {direction} expiry not confirmed.", code='NsgBusy')


def _report_unheld(report: dict[str, dict], nsg: NsgRef, direction: str, gone: list[dict], remaining: list[dict],
                   status: str) -> None:
    """Adds to `report` the addresses of the `gone` rules that no rule of `remaining` holds (equal or wider)."""
    side = side_of(direction)
    held = held_addresses(gone, direction)
    still = covering_networks(remaining, side, [Prefix(key, as_network(key)) for key in held
                                                 if as_network(key) is not None])
    for key, address in held.items():
        if key not in still:
            report.setdefault(key, blocked_item(nsg, address, status))


def _rollback_expire(journals: list[tuple[NsgRef, dict[str, dict]]], client, err: ContainmentError) -> ContainmentError:
    """An expiry that failed after it deleted rules: they are put back as they were (still expired: the next expiry
    removes them), so one call removes every expired block or none. The error: the failure and the rollback."""
    restored: list[str] = []
    left: list[str] = []
    for nsg, journal in journals:
        if journal:
            done, failed = _put_back_rules(client, nsg, journal)
            restored += [f'{name} on {nsg.name}' for name in done]
            left += [f'{name} on {nsg.name}' for name in failed]
    if left:
        return err.with_note(f"Rolling back failed for {', '.join(left)}: those expired blocks are gone, the others "
                             'are still there. Fix: run azure-nsg-block-expire again to remove the rest.')
    return err.with_note(f"Rolled back: the expired rule(s) this call had deleted ({', '.join(restored) or 'none'}) "
                         'were put back; no expired block was removed. Fix the cause and run azure-nsg-block-expire '
                         'again.')


def block_expire_command(client, args: dict) -> CommandResults:
    """Removes the addresses whose every block on the NSGs given has expired (Status Unblocked; Expired in a dry
    run)."""
    nsgs = nsg_refs(client, args)
    dry_run = flag_arg(args, 'dry_run')
    now = utc_now()
    items: list[dict] = []
    journals: list[tuple[NsgRef, dict[str, dict]]] = [(nsg, {}) for nsg in nsgs]   # the rules deleted, as they were
    for nsg, journal in journals:
        for direction in DIRECTIONS:
            try:
                items.extend(_expire_direction(client, nsg, direction, now, dry_run, journal))
            except ContainmentError as err:
                if not any(j for _, j in journals):
                    raise
                raise _rollback_expire(journals, client, err) from err
    what = 'would be unblocked (dry run: nothing was changed)' if dry_run else 'unblocked'
    title = f"Expired blocks {what} on {', '.join(n.name for n in nsgs)} (as of {audit_time(now)})"
    readable = tableToMarkdown(title, items, headers=['IP', 'NSG', 'Direction', 'Status', 'ExpiresAt', 'IncidentID',
                                                      'BlockedAt', 'Rule'], removeNull=True)
    if not items:
        readable += '\nNo block has expired.'
    return CommandResults(readable_output=readable, outputs={blocked_ip_key(): items}, raw_response=items)


# azure-vm-isolate, azure-vm-unisolate

def _get_vm(client, sub: str, rg: str, name: str, instance_view: bool = False) -> dict:
    params = {'$expand': 'instanceView'} if instance_view else None
    return client.arm_json('GET', vm_path(sub, rg, name), api_version=COMPUTE_API_VERSION,
                           params=params)


def _vm_nic_ids(vm: dict) -> list[str]:
    refs = (props(vm).get('networkProfile') or {}).get('networkInterfaces') or []
    return [ref['id'] for ref in refs if isinstance(ref, dict) and ref.get('id')]


def _get_nic(client, nic_id: str) -> dict:
    parsed = parse_resource_id(nic_id, 'Microsoft.Network/networkInterfaces', 'network interface ID')
    return client.arm_json('GET', parsed.path, api_version=NETWORK_API_VERSION)


def _nic_nsg(nic: dict) -> str | None:
    return (props(nic).get('networkSecurityGroup') or {}).get('id') or None


def _subnet_nsgs(client, nics: list[dict]) -> dict[str, str | None]:
    """subnet ID -> its NSG ID (or None), read from the subnet resources. Where a subnet cannot be read, the NSG
    list of its resource group (read once per group) says which NSG names that subnet."""
    result: dict[str, str | None] = {}
    nsg_lists: dict[str, list[dict]] = {}
    for nic in nics:
        for config in props(nic).get('ipConfigurations') or []:
            subnet_id = (props(config).get('subnet') or {}).get('id')
            if not subnet_id or subnet_id in result:
                continue
            parsed = parse_resource_id(subnet_id, 'Microsoft.Network/virtualNetworks/subnets', 'subnet ID')
            try:
                subnet = client.arm_json('GET', parsed.path, api_version=NETWORK_API_VERSION)
                result[subnet_id] = (props(subnet).get('networkSecurityGroup') or {}).get('id') or None
            except (ArmBadRequest, ArmNotFound):
                group = rg_path(parsed.subscription, parsed.resource_group)
                if group not in nsg_lists:
                    nsg_lists[group] = client.list_pages(f'{group}/providers/Microsoft.Network/networkSecurityGroups',
                                                         api_version=NETWORK_API_VERSION)
                result[subnet_id] = next((nsg.get('id') for nsg in nsg_lists[group] if any(
                    same_id(s.get('id'), subnet_id) for s in props(nsg).get('subnets') or [])), None)
    return result


def _nic_subnet_nsg(nic: dict, subnet_nsgs: dict) -> str | None:
    for config in props(nic).get('ipConfigurations') or []:
        subnet_id = (props(config).get('subnet') or {}).get('id')
        if subnet_id and subnet_nsgs.get(subnet_id):
            return subnet_nsgs[subnet_id]
    return None


def _isolation_nsg_name(vm_name: str) -> str:
    name = f'{ISOLATION_NSG_PREFIX}{vm_name}'
    if len(name) > 80:  # VM names up to 64 characters always fit; keep a valid, unique name anyway
        name = f'{name[:69]}-{hashlib.sha1(vm_name.encode()).hexdigest()[:10]}'  # nosec - a name
    return validate_name(name, 'isolation NSG name')


# The record of the original NSGs. Each isolated NIC carries its original in the tag ORIGINAL_NSG_TAG, and the
# isolation NSG (the pack's own) carries the same record, one tag per NIC, bound by a digest in the description of
# its deny-all inbound rule. A tag edit alone (on the NIC, or on the NSG) cannot forge it: the NIC tag must agree
# with the NSG's record, and the record with the digest, which only a security rule write can change - a right that
# could attach any NSG anyway. Unisolate restores nothing when they disagree.

FORENSIC_DESCRIPTION = f'{PACK_MARKER} forensic access during isolation'
DENY_IN_DESCRIPTION = f'{PACK_MARKER} isolation: deny all inbound'
RULE_FIELDS = ('sourceAddressPrefix', 'sourceAddressPrefixes', 'destinationAddressPrefix',
               'destinationAddressPrefixes', 'sourcePortRange', 'sourcePortRanges', 'destinationPortRange',
               'destinationPortRanges', 'sourceApplicationSecurityGroups', 'destinationApplicationSecurityGroups')


def record_tag(nic_id: str) -> str:
    """The isolation NSG's tag that records the original NSG of one NIC."""
    return f'{ISOLATION_RECORD_TAG_PREFIX}{hashlib.sha256(str(nic_id).lower().encode()).hexdigest()[:16]}'


def nsg_tag_value(nsg_id: str | None) -> str:
    """An original NSG as a tag value: its resource ID, or subscription/group/name when the ID is longer than
    Azure's 256-character tag value; NO_NSG for none."""
    if not nsg_id:
        return NO_NSG
    if len(nsg_id) <= AZURE_TAG_VALUE_MAX:
        return nsg_id
    parsed = parse_resource_id(nsg_id, 'Microsoft.Network/networkSecurityGroups', 'original NSG')
    return f'{parsed.subscription}/{parsed.resource_group}/{parsed.name}'


def nsg_from_tag(value: Any, where: str) -> str | None:
    """The NSG resource ID a recorded tag value names (None for NO_NSG); InputError when it names no NSG."""
    if value == NO_NSG:
        return None
    if isinstance(value, str) and not value.startswith('/') and value.count('/') == 2:
        sub, rg, name = value.split('/')
        value = f'{rg_path(sub, rg)}/providers/Microsoft.Network/networkSecurityGroups/{name}'
    return parse_resource_id(value, 'Microsoft.Network/networkSecurityGroups', where).id


def same_record(a: Any, b: Any) -> bool:
    """Two recorded originals name the same NSG (or both none), whatever their spelling."""
    try:
        return same_id(nsg_from_tag(a, 'a record') or NO_NSG, nsg_from_tag(b, 'a record') or NO_NSG)
    except InputError:
        return same_id(str(a), str(b))


def record_digest(vm_id: str, record: dict[str, str]) -> str:
    """What the deny-all inbound rule carries: a SHA-256 over the VM and its record (tag name -> original)."""
    material = json.dumps([str(vm_id).lower(), sorted((k, str(v).lower()) for k, v in record.items())])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def pack_tags(tags: Any) -> dict[str, str]:
    """The tags the pack writes on an isolation NSG (its VM and its record); any other tag is someone else's."""
    return {k: v for k, v in (tags if isinstance(tags, dict) else {}).items()
            if k == ISOLATION_VM_TAG or str(k).startswith(ISOLATION_RECORD_TAG_PREFIX)}


def verified_record(nsg: dict, vm_id: str) -> dict[str, str] | None:
    """The NSG's record of original NSGs when the digest in its deny-all inbound rule vouches for it, else None."""
    record = {k: v for k, v in pack_tags(nsg.get('tags')).items() if k != ISOLATION_VM_TAG}
    wanted = f'{DENY_IN_DESCRIPTION}; record {record_digest(vm_id, record)}'
    deny_in = [r for r in props(nsg).get('securityRules') or [] if r.get('name') == ISOLATION_DENY_IN]
    return record if deny_in and props(deny_in[0]).get('description') == wanted else None


def platform_rules() -> list[dict]:
    """The isolation NSG's outbound deny rules for the platform services (PLATFORM_SERVICES)."""
    return [{'name': svc.rule, 'properties': {
        'priority': svc.priority, 'direction': 'Outbound', 'access': 'Deny', 'protocol': svc.protocol,
        'sourceAddressPrefix': '*', 'sourcePortRange': '*', 'destinationAddressPrefix': svc.tag,
        'destinationPortRange': svc.port, 'description': f'{PACK_MARKER} isolation: deny {svc.tag}'}}
        for svc in PLATFORM_SERVICES]


def platform_closed(nsg: dict) -> bool:
    """Whether an isolation NSG holds the platform deny rules (the variant without them: allow_platform_services)."""
    names = {str(r.get('name')) for r in props(nsg).get('securityRules') or []}
    return all(svc.rule in names for svc in PLATFORM_SERVICES)


def _isolation_rules(allow: list[Prefix], ports: list[str], digest: str, close_platform: bool = True) -> list[dict]:
    rules = platform_rules() if close_platform else []
    for family, priority in (('v4', PRIORITY_MIN), ('v6', PRIORITY_MIN + 1)):
        prefixes = [p.text for p in allow if p.family == family]
        if prefixes:
            rules.append({'name': f'{FORENSIC_RULE_PREFIX}-{family}', 'properties': {
                'priority': priority, 'direction': 'Inbound', 'access': 'Allow', 'protocol': 'Tcp',
                'sourceAddressPrefixes': sorted(dict.fromkeys(prefixes), key=prefix_sort_key),
                'sourcePortRange': '*', 'destinationAddressPrefix': '*', 'destinationPortRanges': ports,
                'description': FORENSIC_DESCRIPTION}})
    for name, direction in ((ISOLATION_DENY_IN, 'Inbound'), (ISOLATION_DENY_OUT, 'Outbound')):
        description = (f'{DENY_IN_DESCRIPTION}; record {digest}' if direction == 'Inbound'
                       else f'{PACK_MARKER} isolation: deny all outbound')
        rules.append({'name': name, 'properties': {
            'priority': PRIORITY_MAX, 'direction': direction, 'access': 'Deny', 'protocol': '*',
            'sourceAddressPrefix': '*', 'sourcePortRange': '*', 'destinationAddressPrefix': '*',
            'destinationPortRange': '*', 'description': description}})
    return rules


def rule_matches(existing: dict, wanted: dict) -> bool:
    """The existing rule properties hold exactly what `wanted` says: every wanted field equal, and no address, port
    or application security group field set that `wanted` leaves out (it would widen or narrow the rule)."""
    return (all(existing.get(k) == v for k, v in wanted.items())
            and all(_is_any(existing.get(k)) for k in RULE_FIELDS if k not in wanted))


def isolation_nsg_problems(nsg: dict) -> list[str]:
    """Why `nsg` is not an isolation NSG as the pack writes it ([] = it is): flushConnection on, the two deny-all
    rules, and at most the two forensic allow rules within the forensic limits - nothing else."""
    problems = [] if props(nsg).get('flushConnection') else ['flushConnection is off']
    rules = {str(r.get('name')): props(r) for r in props(nsg).get('securityRules') or []}
    expected = {r['name']: r['properties'] for r in _isolation_rules([], [], '', close_platform=False)}
    for name, wanted in expected.items():
        existing = dict(rules.get(name) or {})
        described = str(existing.pop('description', '') or '')
        if not rules.get(name) or not rule_matches(existing, {k: v for k, v in wanted.items() if k != 'description'}) \
                or not described.startswith(wanted['description'].split(';')[0]):
            problems.append(f"rule {name} is not the pack's deny-all rule")
    for family, priority in (('v4', PRIORITY_MIN), ('v6', PRIORITY_MIN + 1)):
        name = f'{FORENSIC_RULE_PREFIX}-{family}'
        if name in rules and not forensic_rule_ok(rules[name], family, priority):
            problems.append(f"rule {name} is not a forensic allow rule within the pack's limits")
    # The platform deny rules: all three exactly as the pack writes them, or none (allow_platform_services=true).
    platform = {r['name']: r['properties'] for r in platform_rules()}
    present = [name for name in platform if name in rules]
    if present and len(present) != len(platform):
        problems.append(f"it holds only some of the platform deny rules ({', '.join(present)}): the pack writes all "
                        f'{len(platform)} or none')
    problems += [f"rule {name} is not the pack's platform deny rule" for name in present
                 if not rule_matches(rules[name], platform[name])]
    allowed = set(expected) | set(platform) | {f'{FORENSIC_RULE_PREFIX}-{f}' for f in ('v4', 'v6')}
    problems += [f'rule {name!r} is not one the pack writes' for name in rules if name not in allowed]
    sources = sum(len(p.get('sourceAddressPrefixes') or []) for n, p in rules.items() if n.startswith(
        FORENSIC_RULE_PREFIX) and isinstance(p.get('sourceAddressPrefixes'), list))
    if sources > FORENSIC_MAX_SOURCES:
        problems.append(f'its forensic rules admit {sources} sources (at most {FORENSIC_MAX_SOURCES})')
    return problems


def forensic_rule_ok(p: dict, family: str, priority: int) -> bool:
    """A forensic allow rule as the pack writes it: inbound TCP to * from sources and ports within the limits."""
    fixed = {'priority': priority, 'direction': 'Inbound', 'access': 'Allow', 'protocol': 'Tcp',
             'sourcePortRange': '*', 'destinationAddressPrefix': '*', 'description': FORENSIC_DESCRIPTION}
    sources, ports = p.get('sourceAddressPrefixes'), p.get('destinationPortRanges')
    if not isinstance(sources, list) or not isinstance(ports, list) or not sources or not ports:
        return False
    if not rule_matches(p, {**fixed, 'sourceAddressPrefixes': sources, 'destinationPortRanges': ports}):
        return False
    try:
        parsed = [parse_prefix(text) for text in sources]
        parse_ports(ports)
    except (ValueError, InputError):
        return False
    return all(prefix.family == family and not prefix_problems(prefix, FORENSIC_LIMITS) for prefix in parsed)


def _isolation_nsg_matches(nsg: dict, location: str, wanted: list[dict], tags: dict) -> bool:
    if not props(nsg).get('flushConnection') or str(nsg.get('location', '')).lower() != location.lower():
        return False
    if pack_tags(nsg.get('tags')) != tags:
        return False
    existing = {r.get('name'): props(r) for r in props(nsg).get('securityRules') or []}
    if set(existing) != {r['name'] for r in wanted}:
        return False
    return all(rule_matches(existing[r['name']], r['properties']) for r in wanted)


class IsolationNsg(NamedTuple):
    """The VM's isolation NSG after _ensure_isolation_nsg."""
    id: str
    written: bool     # this run wrote it
    created: bool     # it did not exist before (a dry run: would be created)


def _isolation_nsg_of(client, sub: str, rg: str, name: str, vm: dict) -> dict | None:
    """The VM's isolation NSG as Azure holds it (None when absent); an NSG of that name that does not name this VM
    in its tag ISOLATION_VM_TAG is not the pack's, and the pack never edits it."""
    existing = get_nsg_or_none(client, nsg_path(sub, rg, name))
    if existing is not None:
        owner = (existing.get('tags') or {}).get(ISOLATION_VM_TAG)
        if not same_id(owner, vm.get('id')):
            raise ContainmentError(f"An NSG named '{name}' already exists in resource group '{rg}' but it is not this "
                                   f"pack's isolation NSG for VM {vm.get('id')} (its tag {ISOLATION_VM_TAG} is "
                                   f"{owner!r}). The pack never edits an NSG it does not own: rename or remove it.")
    return existing


def _ensure_isolation_nsg(client, sub: str, rg: str, name: str, vm: dict, existing: dict | None,
                          rules: list[dict], record: dict[str, str], dry_run: bool,
                          audit_tags: dict[str, str] | None = None) -> IsolationNsg:
    """Creates or updates the VM's isolation NSG: `rules` and the tags of the pack (VM, record); other tags kept."""
    path = nsg_path(sub, rg, name)
    location = vm.get('location')
    tags = {ISOLATION_VM_TAG: vm.get('id'), **record}
    if existing is not None and _isolation_nsg_matches(existing, str(location or ''), rules, tags):
        return IsolationNsg(existing.get('id') or path, written=False, created=False)
    nsg_id = (existing or {}).get('id') or path
    if dry_run:
        return IsolationNsg(nsg_id, written=False, created=existing is None)
    existing_tags = (existing or {}).get('tags') or {}
    others = {k: v for k, v in existing_tags.items() if k not in pack_tags(existing_tags)}
    # The audit trail: the incident and time of the run that wrote it (not part of pack_tags: a repeat that finds
    # the NSG as wanted writes nothing and keeps the first run's).
    others.update(audit_tags or isolation_audit_tags())
    if len(others) + len(tags) > AZURE_MAX_TAGS:
        raise ContainmentError(f"The isolation NSG '{name}' would need {len(others) + len(tags)} tags (Azure allows "
                               f'{AZURE_MAX_TAGS}): one per network interface of the VM plus one. Nothing was changed.')
    body = {'location': location, 'tags': {**others, **tags},
            'properties': {'flushConnection': True, 'securityRules': rules}}
    response = client.arm_request('PUT', path, api_version=NETWORK_API_VERSION, body=body)
    wait_for_write(client, response, f'Writing isolation NSG {name}')
    return IsolationNsg(json_or_empty(response).get('id') or nsg_id, written=True, created=existing is None)


def _put_nic(client, nic: dict, nsg_id: str | None, tags: dict | None) -> None:
    body = copy.deepcopy(nic)
    body.setdefault('properties', {})
    if nsg_id:
        body['properties']['networkSecurityGroup'] = {'id': nsg_id}
    else:
        body['properties'].pop('networkSecurityGroup', None)
    if tags is None:
        body.pop('tags', None)
    else:
        body['tags'] = tags
    parsed = parse_resource_id(nic.get('id'), 'Microsoft.Network/networkInterfaces', 'network interface ID')
    arm_write(client, 'PUT', parsed.path, f"Updating network interface {nic.get('name')}", body, busy_retry=True)


class NicWrite(NamedTuple):
    """One write of _write_nics: the NIC as it was read before, and what stopped the write (None: it is done)."""
    nic: dict
    error: Exception | None


def _write_nic(client, nic: dict, nsg_id: str | None, tags: dict | None) -> NicWrite:
    try:
        _put_nic(client, nic, nsg_id, tags)
    except Exception as err:  # noqa: BLE001 - any failure is this NIC's outcome: the caller puts the others back
        return NicWrite(nic, err)
    return NicWrite(nic, None)


def _write_nics(client, writes: Sequence[tuple[dict, str | None, dict | None]]) -> list[NicWrite]:
    """Puts each (NIC as read, NSG ID or None, tags) and waits for its long-running operation, up to
    NIC_WRITE_PARALLELISM at once: the NICs of a VM are separate resources, so ARM runs their operations side by
    side and a VM waits for about one NIC operation instead of one per NIC. A failed write does not stop the
    others; the outcomes come back in order once every write has ended, so nothing is in flight when the caller
    rolls back. The workers use the token fetched here and log through debug_arm_request's lock; they make no
    other demisto call."""
    if len(writes) < 2:
        return [_write_nic(client, *write) for write in writes]
    client.credential.get_token()   # valid for minutes: no worker needs the integration context for a token
    with ThreadPoolExecutor(max_workers=min(NIC_WRITE_PARALLELISM, len(writes))) as pool:
        return list(pool.map(lambda write: _write_nic(client, *write), writes))


def _undo_nic_writes(client, before: list[dict]) -> list[str]:
    """Puts every NIC of `before` (as read before this run wrote it) back exactly as it was, its NSG and its tags,
    where a write of this run landed: each is read again (a failed write may have landed or not), the changed ones
    are written back in parallel. Returns what could not be put back ("name: error")."""
    failures: list[str] = []
    writes: list[tuple[dict, str | None, dict | None]] = []
    for nic in before:
        try:
            current = _get_nic(client, nic['id'])
        except ContainmentError as err:
            failures.append(f"{nic.get('name')}: {err}")
            continue
        if _nic_nsg(current) == _nic_nsg(nic) and (current.get('tags') or {}) == (nic.get('tags') or {}):
            continue  # no write of this run landed here: nothing to undo
        writes.append((current, _nic_nsg(nic), copy.deepcopy(nic['tags']) if 'tags' in nic else None))
    failures += [f"{done.nic.get('name')}: {done.error}" for done in _write_nics(client, writes) if done.error]
    return failures


class NicRow(NamedTuple):
    """One network interface of an isolation result (AzureContainment.Isolation.NICs): NSG resource IDs, or
    NO_NSG."""
    name: str | None
    id: str | None
    original_nsg: str | None
    current_nsg: str | None

    @classmethod
    def of(cls, nic: dict, original_nsg: str | None, current_nsg: str | None) -> 'NicRow':
        return cls(nic.get('name'), nic.get('id'), original_nsg, current_nsg)

    def context(self) -> dict:
        return {'Name': self.name, 'ID': self.id, 'OriginalNSG': self.original_nsg, 'CurrentNSG': self.current_nsg}


def forensic_rule_rows(rules: list[dict]) -> list[dict]:
    """AzureContainment.Isolation.ForensicRules: the allow rules of the isolation NSG (what still gets in)."""
    return [{'Name': r['name'], 'Priority': props(r).get('priority'), 'Protocol': props(r).get('protocol'),
             'SourceAddressPrefixes': props(r).get('sourceAddressPrefixes') or [],
             'DestinationPortRanges': props(r).get('destinationPortRanges') or []}
            for r in rules if str(r.get('name')).startswith(FORENSIC_RULE_PREFIX)]


def isolation_audit_tags() -> dict[str, str]:
    """The audit tags an isolation NSG write carries: this run's incident (NO_INCIDENT outside one) and UTC time."""
    return {ISOLATION_TAG_INCIDENT: _tag_value(current_incident_id() or NO_INCIDENT),
            ISOLATION_TAG_TIME: audit_time(utc_now()) or ''}


def isolation_audit(tags: Any) -> dict:
    """IncidentID and IsolatedAt of an Isolation item, from the isolation NSG's audit tags."""
    tags = tags if isinstance(tags, dict) else {}
    incident = tags.get(ISOLATION_TAG_INCIDENT)
    return {'IncidentID': None if incident in (None, '', NO_INCIDENT) else incident,
            'IsolatedAt': tags.get(ISOLATION_TAG_TIME) or None}


def _isolation_output(vm: dict, iso_id: str | None, status: str, nic_rows: list[NicRow], subnet_nsgs: dict,
                      error: str | None = None, forensic: list[dict] | None = None,
                      warnings: list[str] | None = None, audit: dict | None = None) -> dict:
    out = {'VM': vm.get('name'), 'VMID': vm.get('id'), 'IsolationNSG': iso_id, 'Status': status,
           **(audit or {'IncidentID': None, 'IsolatedAt': None}),
           'NICs': [row.context() for row in nic_rows],
           'SubnetNSGs': sorted({v for v in subnet_nsgs.values() if v}),
           'ForensicRules': forensic_rule_rows(forensic or [])}
    if error:
        out['Error'] = error
    if warnings:
        out['Warning'] = ' '.join(warnings)
    return out


def _isolation_results(out: dict, title: str, extra: str = '') -> CommandResults:
    rows = [{'NIC': n['Name'], 'OriginalNSG': name_of(n['OriginalNSG']), 'CurrentNSG': name_of(n['CurrentNSG'])}
            for n in out['NICs']]
    readable = tableToMarkdown(title, rows, headers=['NIC', 'OriginalNSG', 'CurrentNSG'])
    if out['Status'] in ('Isolated', 'AlreadyIsolated', 'WouldIsolate'):
        if out['ForensicRules']:
            readable += tableToMarkdown('Forensic access through the isolation (inbound TCP only)',
                                        out['ForensicRules'], headers=['Name', 'Priority', 'Protocol',
                                                                       'SourceAddressPrefixes',
                                                                       'DestinationPortRanges'])
        else:
            readable += '\nForensic access: none (all traffic in and out is denied).'
    if out['SubnetNSGs']:
        readable += ('\nSubnet NSGs (left unchanged, still evaluated with the NIC NSG): '
                     + ', '.join(name_of(s) for s in out['SubnetNSGs']))
    if out.get('Warning'):
        readable += f"\n**Warning:** {md_escape(out['Warning'])}"
    if extra:
        readable += f'\n{extra}'
    return CommandResults(outputs_prefix='AzureContainment.Isolation', outputs_key_field='VMID', outputs=out,
                          readable_output=readable, raw_response=out)


def forensic_input(args: dict) -> tuple[list[Prefix], list[str]]:
    """(forensic sources, ports) of isolate, within the pack's forensic limits, or one InputError naming the bad
    items before any request. Internal sources are allowed (forensic workstations usually are)."""
    allow_ip = argToList(args.get('allow_ip'))
    allow = parse_prefix_list(allow_ip, 'allow_ip', FORENSIC_LIMITS) if allow_ip else []
    if len({p.text for p in allow}) > FORENSIC_MAX_SOURCES:
        raise InputError(f'allow_ip has {len({p.text for p in allow})} sources: at most {FORENSIC_MAX_SOURCES} are '
                         'accepted (the forensic limit of the pack). Nothing was changed.')
    ports = parse_ports(argToList(args.get('allow_ports')) or DEFAULT_FORENSIC_PORTS)
    return allow, ports


def platform_services_input(client, args: dict) -> bool:
    """Whether this isolation leaves the Azure platform services open (allow_platform_services=true). The argument
    comes from alert data, and an isolated VM that still reaches DNS and the metadata service can tunnel data out
    and fetch its managed identity's tokens: so only an instance whose admin checked
    allow_platform_services_on_request honours it; elsewhere it is refused before any request."""
    if not flag_arg(args, 'allow_platform_services'):
        return False
    if not client.platform_services_on_request:
        raise InputError(
            "allow_platform_services is 'true', but this instance does not let an isolation leave the Azure platform "
            'services open (DNS, the instance metadata service with its managed-identity tokens, license '
            "activation). Expected: false (the default), or an admin checks the instance param \""
            f"{PARAM_DISPLAY['allow_platform_services_on_request']}\" (allow_platform_services_on_request). "
            'Nothing was changed.', code='PlatformServicesNotAllowed')
    return True


def vm_isolate_command(client, args: dict) -> CommandResults:
    request_open = platform_services_input(client, args)
    sub, rg, vm_name = resolve_vm(client, args)
    allow, ports = forensic_input(args)
    dry_run = flag_arg(args, 'dry_run')
    vm = _get_vm(client, sub, rg, vm_name, instance_view=True)   # its power state: for the verification
    iso_name = _isolation_nsg_name(vm_name)
    nic_ids = _vm_nic_ids(vm)
    if not nic_ids:
        raise ContainmentError(f"VM '{vm_name}' has no network interface to isolate.")
    nics = [_get_nic(client, nic_id) for nic_id in nic_ids]
    subnet_nsgs = _subnet_nsgs(client, nics)
    existing = _isolation_nsg_of(client, sub, rg, iso_name, vm)
    # The originals already recorded count only when the digest vouches for them (see record_tag).
    known = (verified_record(existing, str(vm.get('id'))) if existing is not None else None) or {}
    iso_id = (existing or {}).get('id') or nsg_path(sub, rg, iso_name)
    rows: list[NicRow] = []
    todo: list[tuple[dict, str]] = []
    record: dict[str, str] = {}
    warnings: list[str] = []
    for nic in nics:
        tags = dict(nic.get('tags') or {})
        current = _nic_nsg(nic)
        key = record_tag(nic.get('id') or '')
        if same_id(current, iso_id):
            if key not in known:
                warnings.append(f"{nic.get('name')} is on the isolation NSG but its original NSG is not verifiably "
                                'recorded: it stays isolated, and azure-vm-unisolate will not restore it (set its '
                                'NSG by hand to release it).')
                rows.append(NicRow.of(nic, tags.get(ORIGINAL_NSG_TAG) or NO_NSG, current))
                continue
            record[key] = known[key]
            if tags.get(ORIGINAL_NSG_TAG) != known[key]:
                todo.append((nic, known[key]))   # its tag was changed: the verified record is put back
            rows.append(NicRow.of(nic, nsg_from_tag(known[key], 'record') or NO_NSG, current))
            continue
        # Not on the isolation NSG: its current NSG is the original, whatever a tag on it may claim.
        record[key] = nsg_tag_value(current)
        todo.append((nic, record[key]))
        rows.append(NicRow.of(nic, current or NO_NSG, current if dry_run else iso_id))
    rules = _isolation_rules(allow, ports, record_digest(str(vm.get('id')), record), close_platform=not request_open)
    audit_tags = isolation_audit_tags()
    iso = _ensure_isolation_nsg(client, sub, rg, iso_name, vm, existing, rules, record, dry_run, audit_tags)
    iso_id, created = iso.id, iso.created
    audit = isolation_audit(audit_tags if iso.written or dry_run else (existing or {}).get('tags'))
    reachable = reachable_text(request_open, forensic_rule_rows(rules))
    if dry_run:
        out = _isolation_output(vm, iso_id, 'WouldIsolate', rows, subnet_nsgs, forensic=rules, warnings=warnings,
                                audit=audit)
        return _isolation_results(out, f'Isolation of {vm_name} (dry run: nothing was changed)', reachable)
    if not todo:
        return _verified_isolation(client, vm, nics, rules, request_open, 'AlreadyIsolated', iso_id, rows,
                                   subnet_nsgs, warnings, f'{vm_name} is already isolated', audit)
    outcomes = _write_nics(client, [(nic, iso_id, {**(nic.get('tags') or {}), ORIGINAL_NSG_TAG: original})
                                    for nic, original in todo])   # in parallel, once the isolation NSG exists
    for failed in outcomes:
        if failed.error is not None:
            switched = [done.nic for done in outcomes if done is not failed]   # every other write may have landed
            return _rollback_isolation(client, vm, failed.nic, failed.error, switched, iso_id, iso_name, sub, rg,
                                       created, subnet_nsgs, nics)
    return _verified_isolation(client, vm, nics, rules, request_open, 'Isolated', iso_id, rows, subnet_nsgs,
                               warnings, f'{vm_name} is isolated on {iso_name}', audit)


def _verified_isolation(client, vm: dict, nics: list[dict], rules: list[dict], request_open: bool, status: str,
                        iso_id: str, rows: list[NicRow], subnet_nsgs: dict, warnings: list[str],
                        title: str, audit: Any) -> CommandResults:
    """The entry of an isolation in force, with its verification (AzureContainment.Isolation.Verification): a
    Bypassed verdict is a warning of the entry, not an error."""
    found = verify_isolation(client, vm, nics, rules, request_open)
    warning = verification_warning(found)
    out = _isolation_output(vm, iso_id, status, rows, subnet_nsgs, forensic=rules,
                            warnings=[*warnings, *([warning] if warning else [])], audit=audit)
    out['Verification'] = found.context()
    return _isolation_results(out, title, reachable_text(request_open, forensic_rule_rows(rules))
                              + verification_markdown(found))


def _rollback_isolation(client, vm: dict, failed_nic: dict, err: Exception, switched: list[dict], iso_id: str,
                        iso_name: str, sub: str, rg: str, created: bool, subnet_nsgs: dict,
                        nics: list[dict]) -> CommandResults:
    """Puts every NIC switched by this run back exactly as it was (original NSG, original tags)."""
    client.budget.reserve()
    failures = _undo_nic_writes(client, [failed_nic] + list(reversed(switched)))
    problem = f"Isolation of VM '{vm.get('name')}' failed at network interface '{failed_nic.get('name')}': {err}"
    if failures:
        raise ContainmentError(
            f"{problem}. Rolling back also failed for {'; '.join(failures)}. Nothing is unrecorded: every switched "
            f"network interface carries the tag '{ORIGINAL_NSG_TAG}' with its original NSG, so re-running "
            'azure-vm-isolate completes the isolation and azure-vm-unisolate restores the originals.')
    if created:
        try:
            arm_write(client, 'DELETE', nsg_path(sub, rg, iso_name), f'Deleting isolation NSG {iso_name}',
                      busy_retry=True)
        except ContainmentError as delete_err:  # harmless leftover: unreferenced, re-used by the next run
            demisto.debug(f'rollback left isolation NSG {iso_name}: {delete_err}')
    rows = [NicRow.of(n, _nic_nsg(n) or NO_NSG, _nic_nsg(n)) for n in nics]
    message = (f'{problem}. Rolled back: every network interface is on its original NSG again; the VM is NOT '
               'isolated. Fix the cause and run azure-vm-isolate again.')
    return _rolled_back(vm, iso_id, rows, subnet_nsgs, f"Isolation of {vm.get('name')} rolled back", message)


def _rolled_back(vm: dict, iso_id: str, rows: list[NicRow], subnet_nsgs: dict, title: str,
                 message: str) -> CommandResults:
    """The error entry of an isolation or release that was rolled back (Status RolledBack, its Error)."""
    out = _isolation_output(vm, iso_id, 'RolledBack', rows, subnet_nsgs, error=message)
    results = _isolation_results(out, title, f'**Error:** {message}')
    results.entry_type = EntryType.ERROR
    return results


def _restore_target(client, nic: dict, recorded: Any, tag: Any, detach_missing: bool) -> tuple[str | None, str]:
    """(the NSG to put back on a NIC that sits on the isolation NSG, a warning) from its verified record, or an
    InputError saying why it cannot be restored. The NIC's tag must agree with the record; the recorded original
    must be a network security group that still exists, unless `detach_missing` releases it without one."""
    name = nic.get('name')
    if recorded is None:
        raise InputError(f'{name}: the isolation NSG holds no verifiable record of its original NSG (the record tags '
                         f'{ISOLATION_RECORD_TAG_PREFIX}* do not match the digest in rule {ISOLATION_DENY_IN}: they '
                         'were changed outside the pack, or the VM was isolated before the pack kept this record)')
    target = nsg_from_tag(recorded, f'recorded original NSG of {name}')
    if tag is None or not same_record(tag, recorded):
        raise InputError(f'{name}: the records of its original NSG disagree (tag {ORIGINAL_NSG_TAG} on the NIC says '
                         f'{shown_value(str(tag), 300)!r}, the isolation NSG says {recorded!r}); run '
                         'azure-vm-isolate again to put the verified record back on the NIC, then azure-vm-unisolate')
    if target is None:
        return None, ''
    if get_nsg_or_none(client, parse_resource_id(target, 'Microsoft.Network/networkSecurityGroups').path) is not None:
        return target, ''
    if not detach_missing:
        raise InputError(f'{name}: its original NSG {name_of(target)} ({target}) no longer exists; run '
                         'azure-vm-unisolate with detach_missing_original=true to release it without a NIC NSG '
                         '(its subnet NSG, if any, still applies), or recreate that NSG first')
    return None, (f'{name}: its original NSG {name_of(target)} no longer exists, so it was released without a NIC NSG '
                  '(detach_missing_original=true); its subnet NSG, if any, still applies.')


def vm_unisolate_command(client, args: dict) -> CommandResults:
    """Puts back the original NSG of every NIC that sits on this VM's own isolation NSG - only when that NSG is what
    the pack writes and its verified record and the NIC's tag agree - then deletes the isolation NSG. Anything else
    (a VM never isolated, a NIC elsewhere, a tag planted on it) is never changed. Every check is made before the
    first write: either all NICs are restored or nothing is."""
    sub, rg, vm_name = resolve_vm(client, args)
    detach_missing = flag_arg(args, 'detach_missing_original')
    vm = _get_vm(client, sub, rg, vm_name)
    iso_name = _isolation_nsg_name(vm_name)
    iso_path = nsg_path(sub, rg, iso_name)
    nics = [_get_nic(client, nic_id) for nic_id in _vm_nic_ids(vm)]
    subnet_nsgs = _subnet_nsgs(client, nics)
    iso = get_nsg_or_none(client, iso_path)
    if iso is not None and not same_id((iso.get('tags') or {}).get(ISOLATION_VM_TAG), vm.get('id')):
        iso = None  # same name, not ours: never touched
    rows = [NicRow.of(nic, _nic_nsg(nic) or NO_NSG, _nic_nsg(nic) or NO_NSG) for nic in nics]
    ignored = [f"{nic.get('name')} carries the tag {ORIGINAL_NSG_TAG} but is not on this VM's isolation NSG: the "
               'tag was ignored and nothing was changed.' for nic in nics if ORIGINAL_NSG_TAG in (nic.get('tags') or {})
               and not (iso is not None and same_id(_nic_nsg(nic), iso.get('id')))]
    if iso is None:
        out = _isolation_output(vm, None, 'NotIsolated', rows, subnet_nsgs, warnings=ignored)
        return _isolation_results(out, f'{vm_name} is not isolated: nothing was changed')
    problems = isolation_nsg_problems(iso)
    if problems:
        raise ContainmentError(f"The isolation NSG {iso_name} of VM '{vm_name}' is not what the pack writes ("
                               f"{'; '.join(problems)}), so no network interface was restored and nothing was "
                               'changed. Fix: check who changed it; azure-vm-isolate puts the pack\'s content back, '
                               'then run azure-vm-unisolate again.', code='IsolationNsgTampered')
    record = verified_record(iso, str(vm.get('id')))
    todo: list[tuple[dict, str | None, dict]] = []
    refused, warnings = [], list(ignored)
    for index, nic in enumerate(nics):
        if not same_id(_nic_nsg(nic), iso.get('id')):
            continue
        tags = dict(nic.get('tags') or {})
        try:
            target, warning = _restore_target(client, nic, (record or {}).get(record_tag(nic.get('id') or '')),
                                              tags.pop(ORIGINAL_NSG_TAG, None), detach_missing)
        except InputError as err:
            refused.append(err.message)
            continue
        if warning:
            warnings.append(warning)
        todo.append((nic, target, tags))
        rows[index] = NicRow.of(nic, target or NO_NSG, target or NO_NSG)
    if refused:
        raise ContainmentError(f"VM '{vm_name}' was not released, nothing was changed: {'; '.join(refused)}.",
                               code='IsolationRecordRefused')
    outcomes = _write_nics(client, todo)   # in parallel; the isolation NSG goes only once every NIC left it
    if any(done.error is not None for done in outcomes):
        return _rollback_release(client, vm, outcomes, iso.get('id') or iso_path, subnet_nsgs, nics)
    try:
        arm_write(client, 'DELETE', iso_path, f'Deleting isolation NSG {iso_name}', busy_retry=True)
    except ContainmentError as err:   # the NICs go back on it: released entirely or still isolated, never half
        failed = [NicWrite(outcomes[0].nic, err)] + [NicWrite(done.nic, None) for done in outcomes[1:]]
        return _rollback_release(client, vm, failed, iso.get('id') or iso_path, subnet_nsgs, nics,
                                 f"Release of VM '{vm_name}' failed deleting its isolation NSG {iso_name}: {err}")
    out = _isolation_output(vm, iso.get('id') or iso_path, 'Released', rows, subnet_nsgs, warnings=warnings,
                            audit=isolation_audit(iso.get('tags')))   # the isolation this release ended
    return _isolation_results(out, f'{vm_name} is released: original NSGs restored, {iso_name} deleted')


def _rollback_release(client, vm: dict, outcomes: list[NicWrite], iso_id: str, subnet_nsgs: dict,
                      nics: list[dict], problem: str = '') -> CommandResults:
    """A release where a NIC write (or the deletion of the isolation NSG after them) failed: the NICs already
    released go back on the isolation NSG exactly as they were (tags included), so the VM is either released or
    still isolated, never half of each."""
    failed = next(done for done in outcomes if done.error is not None)
    client.budget.reserve()
    failures = _undo_nic_writes(client, [done.nic for done in outcomes])
    problem = problem or (f"Release of VM '{vm.get('name')}' failed at network interface '{failed.nic.get('name')}': "
                          f'{failed.error}')
    if failures:
        raise ContainmentError(
            f"{problem}. Putting the others back on the isolation NSG also failed for {'; '.join(failures)}. Every "
            f"network interface not yet released still carries the tag '{ORIGINAL_NSG_TAG}' and the isolation NSG "
            'is kept, so re-running azure-vm-unisolate completes the release and azure-vm-isolate isolates it again.')
    rows = [NicRow.of(n, (n.get('tags') or {}).get(ORIGINAL_NSG_TAG) or _nic_nsg(n) or NO_NSG, _nic_nsg(n) or NO_NSG)
            for n in nics]
    message = (f'{problem}. Rolled back: every network interface is on the isolation NSG again; the VM is still '
               'isolated. Fix the cause and run azure-vm-unisolate again.')
    return _rolled_back(vm, iso_id, rows, subnet_nsgs, f"Release of {vm.get('name')} rolled back", message)


# Verification: what Azure enforces on an isolated VM. The isolation NSG is what the pack wrote; Azure decides
# what passes from the effective security rules of each NIC (its subnet's NSG and its own, evaluated together: a
# flow passes only when every NSG that applies admits it) and, before them, the Virtual Network Manager security
# admin rules of its VNet (AlwaysAllow admits a flow whatever the NSGs say). Rules are compared as boxes (protocols,
# source and destination networks and ports); an allow rule counts as admitting unless one deny rule evaluated
# before it covers it whole, so a partly narrowed allow rule is still reported (it admits something).

ALL_NETS = (ipaddress.ip_network('0.0.0.0/0'), ipaddress.ip_network('::/0'))
ALL_PORTS = ((0, 65535),)
VERIFIED, BYPASSED, UNVERIFIABLE = 'Verified', 'Bypassed', 'Unverifiable'


class FlowBox(NamedTuple):
    """The flows a rule matches: protocols (None = all), networks and port ranges on each side."""
    protocols: frozenset | None
    sources: tuple
    source_ports: tuple
    destinations: tuple
    destination_ports: tuple


def _port_ranges(values: list) -> tuple:
    out = []
    for value in values or ['*']:
        text = str(value).strip()
        if text in ('*', '', 'any'):
            return ALL_PORTS
        low, _, high = text.partition('-')
        try:
            out.append((int(low), int(high or low)))
        except ValueError:
            continue
    return tuple(out)


def _networks(values: list, tag_map: dict) -> tuple:
    """Networks of prefix values: '*' (and ARM's effective form of it, 0.0.0.0/0) is every address; a service tag
    is what Azure expanded it to (tag_map), nothing when Azure did not expand it."""
    nets: list = []
    for value in values or ['*']:
        text = str(value).strip()
        if text.lower() in ('*', 'any', '0.0.0.0/0'):
            nets.extend(ALL_NETS)
            continue
        net = as_network(text)
        if net is not None:
            nets.append(net)
            continue
        expanded = next((v for k, v in tag_map.items() if str(k).lower() == text.lower()), None) or []
        nets.extend(n for n in (as_network(e) for e in expanded) if n is not None)
    return tuple(dict.fromkeys(nets))


def _side_values(rule: dict, side: str, field_name: str) -> list:
    plural = rule.get(f'{side}{field_name}es' if field_name.endswith('Prefix') else f'{side}{field_name}s')
    if isinstance(plural, list) and plural:
        return plural
    one = rule.get(f'{side}{field_name}')
    return [one] if one not in (None, '') else ['*']


def effective_rule_box(rule: dict, tag_map: dict) -> FlowBox:
    """The box of an effective security rule (expanded prefixes where Azure gives them)."""
    protocol = str(rule.get('protocol') or '*').lower()
    sides = {}
    for side in ('source', 'destination'):
        expanded = rule.get(f'expanded{side.capitalize()}AddressPrefix')
        if isinstance(expanded, list):   # a service tag as Azure expanded it (a tag it expands to nothing: no flow)
            sides[side] = _networks(expanded, {}) if expanded else ()
        else:
            sides[side] = _networks(_side_values(rule, side, 'AddressPrefix'), tag_map)
    return FlowBox(None if protocol in ('all', '*', 'any') else frozenset({protocol}),
                   sides['source'], _port_ranges(_side_values(rule, 'source', 'PortRange')),
                   sides['destination'], _port_ranges(_side_values(rule, 'destination', 'PortRange')))


def _nets_within(inner: tuple, outer: tuple) -> bool:
    return all(any(n.version == o.version and n.subnet_of(o) for o in outer) for n in inner)


def _ports_within(inner: tuple, outer: tuple) -> bool:
    return all(any(lo >= olo and hi <= ohi for olo, ohi in outer) for lo, hi in inner)


def box_covers(outer: FlowBox, inner: FlowBox) -> bool:
    """Every flow of `inner` is one of `outer`."""
    if outer.protocols is not None and (inner.protocols is None or not inner.protocols <= outer.protocols):
        return False
    return (_nets_within(inner.sources, outer.sources) and _nets_within(inner.destinations, outer.destinations)
            and _ports_within(inner.source_ports, outer.source_ports)
            and _ports_within(inner.destination_ports, outer.destination_ports))


def _net_overlap(a: tuple, b: tuple) -> tuple:
    return tuple(dict.fromkeys(x if x.subnet_of(y) else y for x in a for y in b
                               if x.version == y.version and x.overlaps(y)))


def _port_overlap(a: tuple, b: tuple) -> tuple:
    return tuple((max(x[0], y[0]), min(x[1], y[1])) for x in a for y in b if max(x[0], y[0]) <= min(x[1], y[1]))


def box_intersection(a: FlowBox, b: FlowBox) -> FlowBox | None:
    """The flows both boxes match (None: none)."""
    protocols = a.protocols if b.protocols is None else b.protocols if a.protocols is None else a.protocols & b.protocols
    box = FlowBox(protocols, _net_overlap(a.sources, b.sources), _port_overlap(a.source_ports, b.source_ports),
                  _net_overlap(a.destinations, b.destinations),
                  _port_overlap(a.destination_ports, b.destination_ports))
    if protocols == frozenset() or not all(box[1:]):
        return None
    return box


def forensic_boxes(iso_rules: list[dict]) -> list[FlowBox]:
    """The forensic allows of an isolation NSG: inbound TCP from its sources to any address on its ports."""
    return [FlowBox(frozenset({'tcp'}), _networks(row['SourceAddressPrefixes'], {}), ALL_PORTS, ALL_NETS,
                    _port_ranges(row['DestinationPortRanges'])) for row in forensic_rule_rows(iso_rules)]


def within_forensic(box: FlowBox, direction: str, forensic: list[FlowBox]) -> bool:
    return direction == 'Inbound' and any(box_covers(allowed, box) for allowed in forensic)


class EffectiveRule(NamedTuple):
    """One rule of an effective NSG entry: the NSG it belongs to, the rule as Azure shows it, its box."""
    nsg: str
    rule: dict
    box: FlowBox

    @property
    def label(self) -> str:
        return f"{self.nsg}/{str(self.rule.get('name') or '').split('/', 1)[-1]}"

    def text(self) -> str:
        r = self.rule
        src = r.get('sourceAddressPrefix') or ', '.join(map(str, r.get('sourceAddressPrefixes') or [])) or '*'
        dst = r.get('destinationAddressPrefix') or ', '.join(map(str, r.get('destinationAddressPrefixes') or [])) \
            or '*'
        ports = r.get('destinationPortRange') or ', '.join(map(str, r.get('destinationPortRanges') or [])) or '*'
        return (f"{self.label} (priority {r.get('priority')}: {r.get('access')} {r.get('direction')} "
                f"{r.get('protocol') or '*'} from {src} to {dst} on port(s) {ports})")


def admitting_rules(entry: dict, direction: str) -> list[EffectiveRule]:
    """The allow rules of one effective NSG entry in `direction` that no earlier deny rule covers whole."""
    nsg = name_of((entry.get('networkSecurityGroup') or {}).get('id')) or 'NSG'
    tag_map: dict = entry['tagMap'] if isinstance(entry.get('tagMap'), dict) else {}
    rules = sorted((r for r in entry.get('effectiveSecurityRules') or []
                    if isinstance(r, dict) and r.get('direction') == direction),
                   key=lambda r: int(r.get('priority') or 0))
    denies: list[FlowBox] = []
    out: list[EffectiveRule] = []
    for rule in rules:
        box = effective_rule_box(rule, tag_map)
        if rule.get('access') == 'Deny':
            denies.append(box)
        elif not any(box_covers(deny, box) for deny in denies):
            out.append(EffectiveRule(nsg, rule, box))
    return out


def first_rule_meeting(entry: dict, box: FlowBox) -> EffectiveRule | None:
    """The rule of an entry that decides (at least part of) the flows of `box`: the first by priority that meets
    it, in the box's direction (inbound)."""
    nsg = name_of((entry.get('networkSecurityGroup') or {}).get('id')) or 'NSG'
    tag_map: dict = entry['tagMap'] if isinstance(entry.get('tagMap'), dict) else {}
    for rule in sorted((r for r in entry.get('effectiveSecurityRules') or []
                        if isinstance(r, dict) and r.get('direction') == 'Inbound'),
                       key=lambda r: int(r.get('priority') or 0)):
        candidate = effective_rule_box(rule, tag_map)
        if box_intersection(candidate, box) is not None:
            return EffectiveRule(nsg, rule, candidate)
    return None


class Verification:
    """AzureContainment.Isolation.Verification / AzureContainment.VM.Verification, and the notes of the entry. A
    plain class: a dataclass costs about 1 ms of every command (XSOAR executes the module each time)."""

    def __init__(self) -> None:
        self.checks: list[dict] = []
        self.bypasses: list[dict] = []
        self.notes: list[str] = []

    def check(self, name: str, result: str, detail: str) -> None:
        self.checks.append({'Name': name, 'Result': result, 'Detail': detail})

    def bypass(self, source: str, rule: str, direction: str, detail: str) -> None:
        self.bypasses.append({'Source': source, 'Rule': rule, 'Direction': direction, 'Detail': detail})

    @property
    def verdict(self) -> str:
        if self.bypasses:
            return BYPASSED
        return UNVERIFIABLE if any(c['Result'] == UNVERIFIABLE for c in self.checks) else VERIFIED

    def context(self) -> dict:
        return {'Verdict': self.verdict, 'Checks': self.checks, 'Bypasses': self.bypasses}


def analyse_effective(nic_name: str, entries: list[dict], forensic: list[FlowBox], iso_rules: list[dict],
                      request_open: bool, found: Verification) -> None:
    """The effective NSGs of one NIC: every path that admits traffic beyond the forensic allows is a bypass (the
    allow rules of each entry, combined: a flow passes only when every entry admits it); forensic access that a
    subnet NSG blocks gets a note; the platform deny rules are checked in effect."""
    name = f'Effective security rules of {nic_name}'
    before = len(found.bypasses)
    if not entries:
        found.bypass('EffectiveSecurityRule', f'{nic_name} (no NSG)', 'Inbound, Outbound',
                     f'No network security group applies to {nic_name} (none on it, none on its subnet): Azure '
                     'admits every flow.')
    for direction in ('Inbound', 'Outbound'):
        paths: list[tuple[list[EffectiveRule], FlowBox]] = [([], FlowBox(None, ALL_NETS, ALL_PORTS, ALL_NETS,
                                                                         ALL_PORTS))] if entries else []
        for entry in entries:
            paths = [([*rules, rule], box) for rules, so_far in paths for rule in admitting_rules(entry, direction)
                     for box in [box_intersection(so_far, rule.box)] if box is not None]
        for rules, box in paths:
            if within_forensic(box, direction, forensic):
                continue
            first, *others = rules
            detail = f'{nic_name}: {first.text()} admits {direction.lower()} traffic beyond the forensic allows'
            if others:
                detail += ', and ' + ', '.join(o.text() for o in others) + ' admits it too'
            found.bypass('EffectiveSecurityRule', ' + '.join(r.label for r in rules), direction, detail + '.')
    subnet_entries = [e for e in entries if (e.get('association') or {}).get('subnet')]
    for allowed, row in zip(forensic_boxes(iso_rules), forensic_rule_rows(iso_rules), strict=True):
        for entry in subnet_entries:
            decider = first_rule_meeting(entry, allowed)
            if decider is not None and decider.rule.get('access') == 'Deny':
                note = (f"Forensic access {row['Name']} ({', '.join(row['SourceAddressPrefixes'])} on TCP "
                        f"{', '.join(row['DestinationPortRanges'])}) to {nic_name} is blocked (at least in part) by "
                        f'the subnet NSG rule {decider.text()}: allow it there too, or the analyst cannot get in.')
                found.notes.append(note)
                found.check(f'Forensic access to {nic_name}', 'Note', note)
    denied = {str(r.get('destinationAddressPrefix') or '').lower() for e in entries
              for r in e.get('effectiveSecurityRules') or [] if isinstance(r, dict)
              and r.get('direction') == 'Outbound' and r.get('access') == 'Deny'}
    if not request_open:
        for svc in PLATFORM_SERVICES:
            if svc.tag.lower() not in denied:
                found.bypass('PlatformService', svc.tag, 'Outbound',
                             f'{nic_name}: no effective rule denies {svc.tag}, so {svc.what} stays reachable '
                             '(Azure exempts it from every NSG rule that does not name the tag).')
    count = len(found.bypasses) - before
    in_effect = ', '.join(name_of((e.get('networkSecurityGroup') or {}).get('id')) for e in entries) or 'none'
    found.check(name, BYPASSED if count else 'Passed',
                f'{count} path(s) admit traffic beyond the forensic allows.' if count else
                f'NSGs in effect: {in_effect}; nothing is admitted beyond the forensic allows.')


def admin_rule_prefixes(items: Any) -> list[str]:
    return [str(i.get('addressPrefix')) for i in items or [] if isinstance(i, dict) and i.get('addressPrefix')] \
        or ['*']


def admin_rule_box(p: dict) -> FlowBox:
    """The box of an inbound admin rule as far as the forensic allows go: its protocol, sources and ports (its
    destinations are the VM's side, which the forensic allows do not restrict). Service tags: see the caller."""
    protocol = str(p.get('protocol') or 'Any').lower()
    return FlowBox(None if protocol in ('any', '*', 'all') else frozenset({protocol}),
                   _networks(admin_rule_prefixes(p.get('sources')), {}),
                   _port_ranges(p.get('sourcePortRanges') or ['*']), ALL_NETS,
                   _port_ranges(p.get('destinationPortRanges') or ['*']))


def admin_rule_text(item: dict) -> str:
    p = props(item)
    parts = str(item.get('id') or '').split('/')
    manager = parts[parts.index('networkManagers') + 1] if 'networkManagers' in parts else 'a network manager'
    collection = parts[parts.index('ruleCollections') + 1] if 'ruleCollections' in parts else '?'
    return (f"security admin rule {name_of(item.get('id'))} (network manager {manager}, rule collection "
            f"{collection}, priority {p.get('priority')}: {p.get('access')} {p.get('direction')} "
            f"{p.get('protocol') or 'Any'} from {', '.join(admin_rule_prefixes(p.get('sources')))} to "
            f"{', '.join(admin_rule_prefixes(p.get('destinations')))} on port(s) "
            f"{', '.join(map(str, p.get('destinationPortRanges') or ['*']))})")


def always_allow_bypasses(items: list[dict], vm_ips: list[Any], forensic: list[FlowBox]) -> list[tuple[dict, str]]:
    """(admin rule, what it admits) for each AlwaysAllow admin rule that reaches the VM beyond the forensic allows:
    its VM side (destinations inbound, sources outbound) covers one of the VM's addresses, and what it admits on
    the other side is not within a forensic allow. A service tag on the other side (Internet, ...) is beyond."""
    found = []
    for item in items:
        p = props(item)
        if p.get('access') != 'AlwaysAllow':
            continue
        direction = str(p.get('direction') or '')
        vm_side = admin_rule_prefixes(p.get('destinations') if direction == 'Inbound' else p.get('sources'))
        if not any(admits(text, ip) for text in vm_side for ip in vm_ips):
            continue
        other = admin_rule_prefixes(p.get('sources') if direction == 'Inbound' else p.get('destinations'))
        tagged = any(as_network(x) is None and x != '*' for x in other)
        if not tagged and within_forensic(admin_rule_box(p), direction, forensic):
            continue
        found.append((item, f'{admin_rule_text(item)} admits {direction.lower()} traffic whatever the NSGs say '
                            '(AlwaysAllow is evaluated before them), beyond the forensic allows.'))
    return found


def read_admin_rules(client, vnet_id: str) -> list[dict]:
    """Every effective security admin rule of a VNet (Virtual Network Manager), following skipToken."""
    path = parse_resource_id(vnet_id, 'Microsoft.Network/virtualNetworks', 'virtual network ID').path
    items: list[dict] = []
    token = None
    for _ in range(ADMIN_RULES_MAX_PAGES):
        page = client.arm_json('POST', f'{path}/listNetworkManagerEffectiveSecurityAdminRules',
                               api_version=NETWORK_API_VERSION, body={'skipToken': token} if token else {})
        items.extend(i for i in page.get('value') or [] if isinstance(i, dict))
        token = page.get('skipToken')
        if not token:
            return items
    raise ContainmentError(f'the security admin rules of VNet {name_of(vnet_id)} span more than '
                           f'{ADMIN_RULES_MAX_PAGES} pages', code='TooManyPages')


def read_effective_nsgs(client, nic_id: str) -> list[dict]:
    """A NIC's effective NSGs: POST effectiveNetworkSecurityGroups, a long-running operation whose result is at its
    Location (final-state-via location), polled after each Retry-After."""
    path = parse_resource_id(nic_id, 'Microsoft.Network/networkInterfaces', 'network interface ID').path
    response = client.arm_request('POST', f'{path}/effectiveNetworkSecurityGroups', api_version=NETWORK_API_VERSION)
    location = response.headers.get('Location')
    if response.status_code == 200 or not location:
        if response.status_code != 200:   # Azure-AsyncOperation only: its status, then the NIC's result is unknown
            raise_if_failed('Reading the effective security rules', client.operations.wait(response,
                                                                                           VERIFY_LRO_TIMEOUT))
        return list(json_or_empty(response).get('value') or [])
    deadline = time.monotonic() + VERIFY_LRO_TIMEOUT
    wait = parse_retry_after(response.headers.get('Retry-After'))
    while True:
        if wait:
            client.sleep(min(float(wait), max(0.0, deadline - time.monotonic())))
        status = client.operations.status(location)
        if status.status != 'InProgress':
            raise_if_failed('Reading the effective security rules', status)
            body = status.body if isinstance(status.body, dict) else {}
            return [e for e in body.get('value') or [] if isinstance(e, dict)]
        if time.monotonic() >= deadline:
            raise ContainmentError(code='OperationTimeout', seconds=VERIFY_LRO_TIMEOUT)
        wait = status.retry_after


def unverifiable_reason(err: Exception, action: str, what: str) -> str:
    """Why a verification read failed, for a check's Detail: the missing action when Azure refused it."""
    if isinstance(err, ArmForbidden):
        return (f'missing permission: the identity may not perform {action} (granted by Network Contributor), so '
                f'{what} could not be read. Containment itself does not need it.')
    if isinstance(err, ArmBadRequest) and 'RunningVm' in str(getattr(err, 'code', '')):
        return f'the VM is not running: Azure computes {what} only for a network interface of a running VM.'
    message = err.message if isinstance(err, ContainmentError) else str(err)
    return f'reading {what} failed: {first_line(message)}'


def _nic_ips(nics: list[dict]) -> list[Any]:
    return [net for nic in nics for c in props(nic).get('ipConfigurations') or []
            for net in [as_network(props(c).get('privateIPAddress'))] if net is not None]


def _vnet_ids(nics: list[dict]) -> list[str]:
    ids = [str((props(c).get('subnet') or {}).get('id')).split('/subnets/')[0]
           for nic in nics for c in props(nic).get('ipConfigurations') or [] if (props(c).get('subnet') or {}).get('id')]
    return list({i.lower(): i for i in ids}.values())


def _read_all_effective(client, nics: list[dict]) -> list[tuple[dict, list[dict] | None, Exception | None]]:
    def one(nic: dict) -> tuple[dict, list[dict] | None, Exception | None]:
        try:
            return nic, read_effective_nsgs(client, str(nic.get('id'))), None
        except Exception as err:  # noqa: BLE001 - a failed read is this check's outcome (Unverifiable)
            return nic, None, err
    if len(nics) < 2:
        return [one(nic) for nic in nics]
    client.credential.get_token()   # as _write_nics: no worker needs the integration context for a token
    with ThreadPoolExecutor(max_workers=min(NIC_WRITE_PARALLELISM, len(nics))) as pool:
        return list(pool.map(one, nics))


def verify_isolation(client, vm: dict, nics: list[dict], iso_rules: list[dict], request_open: bool) -> Verification:
    """The verdict on an isolated VM from what Azure enforces (see the section comment). `vm` carries its instance
    view; `iso_rules` are the isolation NSG's rules; `request_open`: the platform services were left open on request
    (the isolation NSG has no platform deny rules)."""
    found = Verification()
    forensic = forensic_boxes(iso_rules)
    if request_open:
        found.check('Platform services', 'LeftOpen',
                    'Left open on request (allow_platform_services=true, or isolated by an earlier version of the '
                    'pack): ' + '; '.join(svc.what for svc in PLATFORM_SERVICES) + ' stay reachable.')
    else:
        found.check('Platform services', 'Passed', 'The isolation NSG denies ' + ', '.join(
            f'{svc.tag} ({svc.protocol} {svc.port})' for svc in PLATFORM_SERVICES) + ' outbound.')
    power = _instance_status(vm, 'PowerState')
    if power != 'running':
        for nic in nics:
            found.check(f"Effective security rules of {nic.get('name')}", UNVERIFIABLE,
                        f"the VM is not running (power state {power or 'unknown'}): Azure computes effective "
                        'security rules only for a network interface of a running VM. Run azure-vm-get once it runs.')
    else:
        for nic, entries, err in _read_all_effective(client, nics):
            if err is not None or entries is None:
                found.check(f"Effective security rules of {nic.get('name')}", UNVERIFIABLE,
                            unverifiable_reason(err or ValueError('no result'), EFFECTIVE_NSG_ACTION,
                                                'its effective security rules'))
                continue
            analyse_effective(str(nic.get('name')), entries, forensic, iso_rules, request_open, found)
    vm_ips = _nic_ips(nics)
    for vnet_id in _vnet_ids(nics):
        name = f'Security admin rules of VNet {name_of(vnet_id)}'
        try:
            items = read_admin_rules(client, vnet_id)
        except ContainmentError as err:
            found.check(name, UNVERIFIABLE, unverifiable_reason(err, ADMIN_RULES_ACTION,
                                                                'the Virtual Network Manager security admin rules'))
            continue
        hits = always_allow_bypasses(items, vm_ips, forensic)
        for item, detail in hits:
            found.bypass('SecurityAdminRule', name_of(item.get('id')), str(props(item).get('direction')), detail)
        found.check(name, BYPASSED if hits else 'Passed',
                    f'{len(hits)} AlwaysAllow admin rule(s) admit traffic whatever the NSGs say.' if hits else
                    f'{len(items)} admin rule(s) in effect, none AlwaysAllow beyond the forensic allows.')
    return found


def verification_markdown(found: Verification) -> str:
    """The verdict, its checks and bypasses, and the notes, for the readable output."""
    verdict = found.verdict
    text = f'\n**Verification: {verdict}**'
    text += {VERIFIED: ' (what Azure enforces admits nothing beyond the forensic allows)',
             BYPASSED: ' (traffic still passes: see the bypasses)',
             UNVERIFIABLE: ' (a check could not run: see why)'}[verdict]
    text += '\n' + tableToMarkdown('Verification checks', [{**c, 'Detail': md_escape(c['Detail'])}
                                                           for c in found.checks],
                                   headers=['Name', 'Result', 'Detail'])
    if found.bypasses:
        text += tableToMarkdown('Bypasses', [{**b, 'Detail': md_escape(b['Detail'])} for b in found.bypasses],
                                headers=['Source', 'Rule', 'Direction', 'Detail'])
    for note in found.notes:
        text += f'\n**Note:** {md_escape(note)}'
    return text


def verification_warning(found: Verification) -> str | None:
    if found.verdict != BYPASSED:
        return None
    return (f'Isolation is bypassed: {len(found.bypasses)} path(s) still admit traffic ('
            + '; '.join(f"{b['Source']} {b['Rule']}" for b in found.bypasses[:MAX_LISTED_ITEMS]) + ').')


def reachable_text(request_open: bool, forensic: list[dict]) -> str:
    """What stays reachable through the isolation (the readable output of isolate)."""
    lines = ['**What stays reachable:**']
    if forensic:
        lines.append('- the forensic allows above (inbound TCP only)')
    if request_open:
        lines.append('- the Azure platform services, left open on request (allow_platform_services=true): '
                     + '; '.join(svc.what for svc in PLATFORM_SERVICES))
    else:
        lines.append('- not the Azure platform services: DNS, instance metadata (managed-identity tokens) and '
                     'license activation are denied by rules naming AzurePlatformDNS, AzurePlatformIMDS and '
                     'AzurePlatformLKM')
    lines.append(f'- {AGENT_CHANNEL_NOTE}')
    return '\n'.join(lines)


# azure-vm-power and the read-only views

def _instance_status(vm: dict, kind: str) -> str | None:
    """'running' for kind 'PowerState' from the VM's instance view (statuses such as 'PowerState/running')."""
    for status in (props(vm).get('instanceView') or {}).get('statuses') or []:
        code = str(status.get('code') or '')
        if code.startswith(f'{kind}/'):
            return code.split('/', 1)[1]
    return None


def _vm_output(vm: dict, nics: list[dict] | None = None, subnet_nsgs: dict | None = None,
               isolated: bool | None = None) -> dict:
    nic_rows: list[dict[str, Any]]
    if nics is None:
        nic_rows = [{'Name': name_of(i), 'ID': i} for i in _vm_nic_ids(vm)]
    else:
        nic_rows = []
        for nic in nics:
            ips = [props(c).get('privateIPAddress') for c in props(nic).get('ipConfigurations') or []]
            nic_rows.append({'Name': nic.get('name'), 'ID': nic.get('id'), 'NSG': _nic_nsg(nic),
                             'SubnetNSG': _nic_subnet_nsg(nic, subnet_nsgs or {}),
                             'PrivateIP': ips[0] if len(ips) == 1 else [i for i in ips if i]})
    return {'Name': vm.get('name'), 'ID': vm.get('id'), 'ResourceGroup': resource_group_of(vm.get('id')),
            'Location': vm.get('location'), 'Size': (props(vm).get('hardwareProfile') or {}).get('vmSize'),
            'PowerState': _instance_status(vm, 'PowerState'),
            'ProvisioningState': _instance_status(vm, 'ProvisioningState') or props(vm).get('provisioningState'),
            'Isolated': isolated, 'NICs': nic_rows}


def _vm_results(out: dict | list, title: str, extra: str = '') -> CommandResults:
    rows = out if isinstance(out, list) else [out]
    table = [{'Name': v['Name'], 'PowerState': v['PowerState'], 'Size': v['Size'], 'Location': v['Location'],
              'ResourceGroup': v['ResourceGroup'], 'Isolated': v['Isolated'],
              'NICs': ', '.join(f"{n['Name']} ({name_of(n['NSG']) if n.get('NSG') else 'no NSG'})"
                                if 'NSG' in n else n['Name'] for n in v['NICs'])} for v in rows]
    readable = tableToMarkdown(title, table, headers=['Name', 'PowerState', 'Size', 'Location', 'ResourceGroup',
                                                      'Isolated', 'NICs'], removeNull=True) + extra
    return CommandResults(outputs_prefix='AzureContainment.VM', outputs_key_field='ID', outputs=out,
                          readable_output=readable, raw_response=out)


def _power_final(client, sub: str, rg: str, name: str, action: str) -> CommandResults:
    vm = _get_vm(client, sub, rg, name, instance_view=True)
    out = _vm_output(vm)
    return _vm_results(out, f"VM {name}: {action} finished, power state {out['PowerState']}")


def _check_operation_url(client, url: str) -> str:
    """The polling URL comes back in the args: it must point at the instance's ARM host, never elsewhere."""
    parsed = urllib.parse.urlsplit(str(url))
    if parsed.scheme != 'https' or not parsed.netloc:
        raise InputError(f'Invalid operation_url {url!r}: expected the https status URL Azure returned.')
    arm_host = urllib.parse.urlsplit(client.arm_url).netloc
    if parsed.netloc.lower() != arm_host.lower():
        raise InputError(f'Invalid operation_url {url!r}: it is not on the configured Resource Manager host '
                               f'{arm_host}.')
    return str(url)


def vm_power_command(client, args: dict) -> CommandResults:
    raw_action = str(args.get('action') or '').strip().lower()
    if raw_action not in POWER_ACTIONS:
        raise InputError(f'Invalid action {args.get("action")!r}: expected start, deallocate, poweroff, '
                               'restart, on (= start) or off (= deallocate).')
    action = POWER_ACTIONS[raw_action]
    sub, rg, name = resolve_vm(client, args)
    polling = argToBoolean(args.get('polling') or 'true')
    interval = max(10, arg_to_number(args.get('interval_in_seconds')) or 30)  # XSOAR schedules 10 s at the least
    timeout = arg_to_number(args.get('timeout_in_seconds')) or 600
    what = f"{action} of VM '{name}'"
    if args.get('operation_url'):  # a scheduled follow-up: one status check, no sleeping
        url = _check_operation_url(client, args['operation_url'])
        started = args.get('started_at')
        if started:
            try:
                elapsed = (datetime.now(UTC) - datetime.fromisoformat(str(started))).total_seconds()
            except ValueError:
                raise InputError(f'Invalid started_at {started!r}: expected an ISO 8601 time.') from None
            if elapsed > timeout:
                raise ContainmentError(f'{what} did not finish within {timeout} s; it may still be running in '
                                       'Azure: check it with azure-vm-get.')
        status = client.operations.status(url)
        if status.status == 'InProgress':
            return _power_schedule(args, url, started, interval, timeout, name, action)
        _raise_if_power_failed(what, status)
        return _power_final(client, sub, rg, name, action)
    vm = _get_vm(client, sub, rg, name, instance_view=True)
    current = _instance_status(vm, 'PowerState')
    target = POWER_TARGET_STATE[action]
    if target and current == target:
        return _vm_results(_vm_output(vm), f'VM {name} is already {current}: nothing was done')
    if action == 'poweroff' and current in ('deallocated', 'deallocating'):
        raise ContainmentError(f"Cannot power off VM '{name}': it is {current} (its compute is already released). "
                               'Use action=start first, or action=deallocate.')
    if action == 'restart' and current not in ('running', 'starting'):
        raise ContainmentError(f"Cannot restart VM '{name}': it is {current or 'in an unknown state'}. Use "
                               'action=start.')
    skip_shutdown = argToBoolean(args.get('skip_shutdown') or 'false')
    params = {'skipShutdown': 'true' if skip_shutdown else 'false'} if action == 'poweroff' else None
    response = client.arm_request('POST', f'{vm_path(sub, rg, name)}/{POWER_ENDPOINT[action]}',
                                  api_version=COMPUTE_API_VERSION, params=params, resend_idempotent=True)
    url = operation_url_of(response)
    if not polling:
        _raise_if_power_failed(what, client.operations.wait(response, timeout))
        return _power_final(client, sub, rg, name, action)
    if response.status_code in (200, 204) or not url:
        return _power_final(client, sub, rg, name, action)
    return _power_schedule(args, url, None, interval, timeout, name, action)


def _raise_if_power_failed(what: str, status: OperationStatus) -> None:
    try:
        raise_if_failed(what, status)
    except ContainmentError as err:
        raise err.with_note('Fix: check the power state with azure-vm-get, remove the cause Azure names, and run '
                            'azure-vm-power again (it does nothing when the VM is already in the state asked).') \
            from None


def _power_schedule(args: dict, url: str, started: str | None, interval: int, timeout: int, name: str,
                    action: str) -> CommandResults:
    next_args = dict(args)
    next_args.update({'operation_url': url, 'started_at': started or datetime.now(UTC).isoformat(),
                      'polling': 'true', 'interval_in_seconds': str(interval), 'timeout_in_seconds': str(timeout)})
    return CommandResults(
        readable_output=f'{action} of VM {name} is in progress; checking again in {interval} seconds.',
        scheduled_command=ScheduledCommand(command='azure-vm-power', next_run_in_seconds=interval, args=next_args,
                                           timeout_in_seconds=timeout))


def vm_get_command(client, args: dict) -> CommandResults:
    sub, rg, name = resolve_vm(client, args)
    vm = _get_vm(client, sub, rg, name, instance_view=True)
    nics = [_get_nic(client, nic_id) for nic_id in _vm_nic_ids(vm)]
    subnet_nsgs = _subnet_nsgs(client, nics)
    iso_name = _isolation_nsg_name(name)
    isolated = any(name_of(_nic_nsg(n)).lower() == iso_name.lower() for n in nics)   # a tag alone proves nothing
    out = _vm_output(vm, nics, subnet_nsgs, isolated)
    if not isolated:
        return _vm_results(out, f'VM {name}')
    iso_id = next(_nic_nsg(n) for n in nics if name_of(_nic_nsg(n)).lower() == iso_name.lower())
    try:
        iso = get_nsg_or_none(client, parse_resource_id(iso_id, 'Microsoft.Network/networkSecurityGroups').path)
        problem = None if iso is not None else 'it no longer exists'
    except ContainmentError as err:
        iso, problem = None, err.message
    iso_rules = props(iso).get('securityRules') or []
    # Without the isolation NSG's content its forensic allows are unknown (none assumed: anything admitted is a
    # bypass) and so is whether the platform services were left open on request (assumed not).
    found = verify_isolation(client, vm, nics, iso_rules, request_open=iso is not None and not platform_closed(iso))
    if problem:
        found.check(f'Isolation NSG {name_of(iso_id)}', UNVERIFIABLE, f'reading it failed: {problem}')
    out['Verification'] = found.context()
    warning = verification_warning(found)
    if warning:
        out['Warning'] = warning
    return _vm_results(out, f'VM {name}', (f'\n**Warning:** {md_escape(warning)}' if warning else '')
                       + verification_markdown(found))


def vm_list_command(client, args: dict) -> CommandResults:
    sub, rg = command_scope(client, args, require_rg=False)
    limit = limit_arg(args)
    # statusOnly=true exists only on the subscription-wide list; it puts each VM's instance view (its power state)
    # in the list pages, so the power states cost no request per VM. A resource group filters the pages here.
    in_rg = (lambda vm: same_id(resource_group_of(vm.get('id')), rg)) if rg else None
    vms = client.list_pages(f'/subscriptions/{url_segment(sub)}/providers/Microsoft.Compute/virtualMachines',
                            api_version=COMPUTE_API_VERSION, params={'statusOnly': 'true'}, limit=limit, keep=in_rg)
    out = [_vm_output(vm) for vm in vms]
    return _vm_results(out, f'Virtual machines ({len(out)})')


def nsg_list_command(client, args: dict) -> CommandResults:
    sub, rg = command_scope(client, args, require_rg=False)
    limit = limit_arg(args)
    base = rg_path(sub, rg) if rg else f'/subscriptions/{url_segment(sub)}'
    nsgs = client.list_pages(f'{base}/providers/Microsoft.Network/networkSecurityGroups',
                             api_version=NETWORK_API_VERSION, limit=limit)
    out = []
    for nsg in nsgs:
        p = props(nsg)
        out.append({'Name': nsg.get('name'), 'ID': nsg.get('id'), 'ResourceGroup': resource_group_of(nsg.get('id')),
                    'Location': nsg.get('location'), 'RuleCount': len(p.get('securityRules') or []),
                    'FlushConnection': bool(p.get('flushConnection')),
                    'NICs': [name_of(n.get('id')) for n in p.get('networkInterfaces') or []],
                    'Subnets': [name_of(s.get('id')) for s in p.get('subnets') or []]})
    readable = tableToMarkdown(f'Network security groups ({len(out)})', out,
                               headers=['Name', 'ResourceGroup', 'Location', 'RuleCount', 'FlushConnection', 'NICs',
                                        'Subnets'], removeNull=True)
    return CommandResults(outputs_prefix='AzureContainment.NSG', outputs_key_field='ID', outputs=out,
                          readable_output=readable, raw_response=out)


def nsg_rule_list_command(client, args: dict) -> CommandResults:
    nsg = resolve_nsg(client, args)
    limit = limit_arg(args)
    rules = client.list_pages(f'{nsg.path}/securityRules', api_version=NETWORK_API_VERSION, limit=limit)
    rules = sorted(rules, key=lambda r: (props(r).get('direction') or '', props(r).get('priority') or 0))[:limit]
    out = [rule_output(r, nsg.name) for r in rules]
    readable = tableToMarkdown(f'Security rules of {nsg.name} ({len(out)})', out,
                               headers=['Name', 'Direction', 'Priority', 'Access', 'Protocol', 'SourceAddressPrefixes',
                                        'DestinationAddressPrefixes', 'DestinationPortRanges', 'ManagedByPack'],
                               removeNull=True)
    return CommandResults(outputs_prefix='AzureContainment.NSGRule', outputs_key_field='ID', outputs=out,
                          readable_output=readable, raw_response=out)


# azure-vm-find

def current_incident_id() -> str:
    """The ID of the XSOAR incident the command runs in, '' outside one (a war-room command in the Playground gets
    an empty id)."""
    incident = demisto.incident() or {}
    if incident.get('isPlayground'):
        return ''
    return str(incident.get('id') or '').strip()


class FindValue(NamedTuple):
    """One value azure-vm-find looks up: `given` as the alert had it, `key` what is compared (the canonical address,
    or the name in lower case)."""
    kind: str      # 'ip' or 'hostname'
    given: str
    key: str


def parse_find_values(args: dict, max_values: int) -> list[FindValue]:
    """The ip and hostname values, each validated before anything is sent; one error names every refused value."""
    values: list[FindValue] = []
    bad: list[str] = []
    for raw in argToList(args.get('ip')):
        text = str(raw).strip()
        try:
            if '%' in text or '/' in text:
                raise ValueError(text)
            address = ipaddress.ip_address(text)
        except ValueError:
            bad.append(f'{text!r} (ip: not an IPv4 or IPv6 address)')
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped   # ::ffff:10.0.1.4 is 10.0.1.4 to Azure
        values.append(FindValue('ip', text, str(address)))
    for raw in argToList(args.get('hostname')):
        text = str(raw).strip()
        if not re.fullmatch(FIND_NAME_RE, text):
            bad.append(f'{text!r} (hostname: a VM or computer name is letters, digits, \'.\', \'-\' and \'_\', '
                       'beginning and ending with a letter, digit or \'_\')')
            continue
        values.append(FindValue('hostname', text, text.lower()))
    if bad:
        raise InputError(f'Invalid azure-vm-find input: {", ".join(bad)}. Nothing was queried.')
    unique = list({(v.kind, v.key): v for v in values}.values())
    if not unique:
        raise InputError('Give ip (IP addresses) and/or hostname (VM or computer names) to look up.')
    if len(unique) > max_values:
        raise InputError(f'{len(unique)} values to look up, more than the {max_values} the instance allows per call '
                         '("Most values per azure-vm-find call"). Nothing was queried; split the call or ask the '
                         'admin to raise the limit.')
    return unique


def kql_literal(text: str) -> str:
    """A KQL string literal for a validated address or name. Anything with a character outside the safe set is
    refused, so quoting can never be escaped whatever validation came before."""
    if not re.fullmatch(KQL_SAFE_LITERAL_RE, text):
        raise InputError(f'Refusing to put {text!r} into a Resource Graph query: only addresses and names are allowed.')
    return f"'{text}'"


def kql_list(texts: list[str]) -> str:
    return '(' + ', '.join(kql_literal(t) for t in texts) + ')'


# The find query's parts. Resource Graph allows at most 3 joins and 2 mv-expands in one query (Microsoft, "Understanding
# the Azure Resource Graph query language"): the query joins the public IPs, the subnets (for their NSG) and the VMs
# to every IP configuration of every NIC, marks each row that holds one of the values, and folds the rows into one
# per VM (parallel lists, in the same row order) that only the VMs with a marked row pass. Every column a list is
# made of is a string (tostring), because make_list skips nulls and parallel lists would shift.
_NIC_CONFIGS = (
    "Resources"
    " | where type =~ 'microsoft.network/networkinterfaces'"
    " | extend vmId = tolower(tostring(properties.virtualMachine.id)),"
    " nicNsg = tostring(properties.networkSecurityGroup.id), nicTags = tostring(tags)"
    " | mv-expand ipconfig = properties.ipConfigurations"
    " | extend privateIp = tostring(ipconfig.properties.privateIPAddress),"
    " publicIpId = tolower(tostring(ipconfig.properties.publicIPAddress.id)),"
    " subnetId = tolower(tostring(ipconfig.properties.subnet.id))"
)
_PUBLIC_IPS = ("Resources | where type =~ 'microsoft.network/publicipaddresses'"
               " | project publicIpId = tolower(id), publicIp = tostring(properties.ipAddress)")
_SUBNET_NSGS = ("Resources | where type =~ 'microsoft.network/virtualnetworks' | mv-expand subnet = properties.subnets"
                " | project subnetId = tolower(tostring(subnet.id)),"
                " subnetNsg = tostring(subnet.properties.networkSecurityGroup.id)")
_VMS = (
    "Resources | where type =~ 'microsoft.compute/virtualmachines'"
    " | project vmId = tolower(id), vmResourceId = id, vmName = name, vmLocation = location,"
    " vmSubscription = subscriptionId, computerName = tostring(properties.osProfile.computerName),"
    " vmSize = tostring(properties.hardwareProfile.vmSize),"
    " powerState = tostring(properties.extended.instanceView.powerState.code),"
    " provisioningState = tostring(properties.provisioningState)"
)
FIND_VM_COLUMNS = ('vmId', 'vmResourceId', 'vmName', 'computerName', 'vmLocation', 'vmSubscription', 'vmSize',
                   'powerState', 'provisioningState')
FIND_NIC_LISTS = {'nicIds': 'id', 'nicNames': 'name', 'nicNsgs': 'nicNsg', 'nicTags': 'nicTags',
                  'subnetNsgs': 'subnetNsg', 'privateIps': 'privateIp', 'publicIps': 'publicIp'}


def find_query(addresses: list[str], names: list[str]) -> str:
    """One Resource Graph query for a batch of values (inside the KQL subset the pack uses, and Resource Graph's own
    limits): one row per VM that has one of the addresses as a private or public IP, or one of the names as VM or
    computer name, with every IP configuration of every NIC it has as parallel lists, so the number of rows is the
    number of VMs found, whatever the number in the tenant. The marking is exact (in / in~ compare whole values);
    the code matches the rows again, exactly."""
    conditions = []
    if addresses:
        conditions += [f'privateIp in~ {kql_list(addresses)}', f'publicIp in~ {kql_list(addresses)}']
    if names:
        conditions += [f'vmName in~ {kql_list(names)}', f'computerName in~ {kql_list(names)}']
    lists = ', '.join(f'{name} = make_list({column})' for name, column in FIND_NIC_LISTS.items())
    return (
        f"{_NIC_CONFIGS}"
        f" | join kind=leftouter ({_PUBLIC_IPS}) on publicIpId"
        f" | join kind=leftouter ({_SUBNET_NSGS}) on subnetId"
        f" | join kind=inner ({_VMS}) on vmId"
        f" | extend publicIp = tostring(publicIp), subnetNsg = tostring(subnetNsg), hit = tostring({' or '.join(conditions)})"
        f" | summarize hits = make_set(hit), {lists} by {', '.join(FIND_VM_COLUMNS)}"
        " | where tostring(hits[0]) == 'true' or tostring(hits[1]) == 'true'"
        " | extend id = vmResourceId | order by id asc"   # an id column: what Resource Graph pages on
    )


def _quota_reset_seconds(value: Any) -> float | None:
    """x-ms-user-quota-resets-after (hh:mm:ss) in seconds; None when absent or unreadable."""
    match = re.fullmatch(r'(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)', str(value or '').strip())
    if not match:
        return None
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


class GraphQuota:
    """Resource Graph's own quota as its last answer reported it: the next query waits for the window to reset when
    none is left, and a 429 waits for the reset it names (or Retry-After), within the client's retry policy."""

    def __init__(self, client: AzureClient):
        self.client = client
        self.remaining: int | None = None
        self.resets_after: float | None = None

    def note(self, response: requests.Response | None) -> None:
        headers = response.headers if response is not None else {}
        remaining = str(headers.get('x-ms-user-quota-remaining') or '').strip()
        self.remaining = int(remaining) if remaining.isdigit() else None
        self.resets_after = _quota_reset_seconds(headers.get('x-ms-user-quota-resets-after'))

    def _wait_or_raise(self, seconds: float, err: ContainmentError) -> None:
        if seconds > self.client.retry.max_wait_seconds:
            raise err.with_note(f'Resource Graph\'s quota resets in {int(seconds + 0.999)} s; run the command '
                                'again then.')
        self.client.pause(seconds, 'while waiting for Resource Graph\'s quota')

    def post(self, body: dict) -> dict:
        """One query page, after waiting for the quota when the last answer said none is left."""
        if self.remaining == 0 and self.resets_after:
            self._wait_or_raise(self.resets_after, ContainmentError(code='RateLimiting'))
        attempt = 0
        while True:
            try:
                response = self.client.arm_request('POST', RESOURCE_GRAPH_PATH, api_version=RESOURCE_GRAPH_API_VERSION,
                                                   body=body, retry_busy=False)
            except (ArmThrottled, ArmServerError) as err:
                self.note(self.client.session.last_response)
                wait = self.client.retry.delay(err, attempt)
                if isinstance(err, ArmThrottled) and err.retry_after is None and self.resets_after is not None:
                    wait = self.resets_after if attempt < self.client.retry.max_retries else None
                if wait is None:
                    raise err.in_context('Resource Graph query') from None
                attempt += 1
                self._wait_or_raise(wait, err)
                continue
            except ArmBadRequest as err:
                details = '; '.join(f"{d.get('code')}: {first_line(str(d.get('message') or ''), 200)}"
                                    for d in (err.details or []) if isinstance(d, dict))
                raise err.in_context('Resource Graph refused the query').with_note(details) from None
            self.note(response)
            return json_or_empty(response)


def resource_graph_rows(quota: GraphQuota, query: str, subscriptions: list[str]) -> list[dict]:
    """Every row of one query over `subscriptions`, following $skipToken. A truncated answer, or more pages than
    RESOURCE_GRAPH_MAX_PAGES, raises: an incomplete answer would turn an ambiguous value into a guess."""
    rows: list[dict] = []
    skip_token = None
    for _ in range(RESOURCE_GRAPH_MAX_PAGES):
        options: dict[str, Any] = {'$top': RESOURCE_GRAPH_PAGE_ROWS, 'resultFormat': 'objectArray'}
        if skip_token:
            options['$skipToken'] = skip_token
        page = quota.post({'subscriptions': subscriptions, 'query': query, 'options': options})
        data = page.get('data')
        if not isinstance(data, list):
            raise ContainmentError('Resource Graph answered without a data list (resultFormat objectArray was '
                                   'asked for). Fix: run the command again; report it if it persists.',
                                   code='UnexpectedAnswer')
        rows.extend(row for row in data if isinstance(row, dict))
        skip_token = page.get('$skipToken')
        if not skip_token:
            if str(page.get('resultTruncated')).lower() == 'true':
                raise ContainmentError('Resource Graph truncated the answer without a $skipToken to page on: the '
                                       'VMs found may be incomplete, so nothing is reported. Fix: look up fewer '
                                       'values per call.', code='ResultTruncated')
            return rows
    raise ContainmentError(f'More than {RESOURCE_GRAPH_MAX_PAGES * RESOURCE_GRAPH_PAGE_ROWS} rows match these '
                           'values (an address shared by very many VMs?): nothing is reported rather than a partial '
                           'answer. Fix: look up fewer or more specific values.', code='TooManyMatches')


def find_subscriptions(client: AzureClient, args: dict) -> list[str]:
    """scope=subscription: the command's or the instance's subscription; scope=all: every subscription the identity
    can read."""
    scope = str(args.get('scope') or 'subscription').strip().lower()
    if scope not in FIND_SCOPES:
        raise InputError(f'Invalid scope {args.get("scope")!r}: expected subscription (the instance\'s, or '
                         'subscription_id) or all (every subscription this identity can read).')
    if scope == 'subscription':
        sub, _ = command_scope(client, {'subscription_id': args.get('subscription_id')}, require_rg=False)
        return [sub]
    listed = client.list_pages('/subscriptions', api_version=SUBSCRIPTIONS_API_VERSION)
    return sorted({str(s['subscriptionId']) for s in listed if re.fullmatch(GUID_RE, str(s.get('subscriptionId') or ''))})


def _canonical_ip(text: Any) -> str | None:
    try:
        address = ipaddress.ip_address(str(text or '').strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def _ip_configs(row: dict) -> list[dict]:
    """A VM row's parallel lists (FIND_NIC_LISTS) as one dict per IP configuration."""
    columns: dict[str, list] = {}
    for name in FIND_NIC_LISTS:
        value = row.get(name)
        columns[name] = value if isinstance(value, list) else []
    return [{name: values[index] if index < len(values) else None for name, values in columns.items()}
            for index in range(len(columns['nicIds']))]


def _tags_of(text: Any) -> dict:
    try:
        tags = json.loads(text) if isinstance(text, str) and text else text
    except ValueError:
        return {}
    return tags if isinstance(tags, dict) else {}


def _found_vms(rows: list[dict]) -> dict[str, dict]:
    """The rows (one per VM, its IP configurations as parallel lists) as VMs: lower-case VM ID -> the VM with its
    NICs in order, each NIC's addresses canonical."""
    vms: dict[str, dict] = {}
    for row in rows:
        vm_key = str(row.get('vmId') or row.get('vmResourceId') or '').lower()
        if not vm_key:
            continue
        vm = vms.setdefault(vm_key, {'row': row, 'nics': {}})
        for config in _ip_configs(row):
            nic_id = config['nicIds']
            if not nic_id:
                continue
            nic = vm['nics'].setdefault(str(nic_id).lower(), {
                'Name': config['nicNames'] or name_of(nic_id), 'ID': nic_id, 'NSG': config['nicNsgs'] or None,
                'SubnetNSG': None, 'tags': _tags_of(config['nicTags']), 'private': [], 'public': []})
            nic['SubnetNSG'] = nic['SubnetNSG'] or config['subnetNsgs'] or None
            for field, name in (('private', 'privateIps'), ('public', 'publicIps')):
                address = _canonical_ip(config[name])
                if address and address not in nic[field]:
                    nic[field].append(address)
    return vms


def _nics_isolated(vm_name: str, nics: list[dict]) -> bool:
    """The VM's NICs show its isolation: the pack's record tag, or the VM's isolation NSG attached."""
    iso_name = _isolation_nsg_name(vm_name).lower()
    return any(ORIGINAL_NSG_TAG in (n.get('tags') or {}) or name_of(n.get('nsg')).lower() == iso_name for n in nics)


def _find_vm_output(vm: dict) -> dict:
    """A found VM with the fields of AzureContainment.VM (azure-vm-get), plus its computer name and subscription."""
    row = vm['row']
    power = str(row.get('powerState') or '')
    nics = []
    for nic in vm['nics'].values():
        private = nic['private']
        nics.append({'Name': nic['Name'], 'ID': nic['ID'], 'NSG': nic['NSG'], 'SubnetNSG': nic['SubnetNSG'],
                     'PrivateIP': private[0] if len(private) == 1 else private,
                     'PublicIP': (nic['public'][0] if len(nic['public']) == 1 else nic['public']) or None})
    vm_id = row.get('vmResourceId') or row.get('vmId')
    return {'Name': row.get('vmName'), 'ID': vm_id, 'ResourceGroup': resource_group_of(vm_id),
            'SubscriptionID': row.get('vmSubscription'), 'Location': row.get('vmLocation'),
            'Size': row.get('vmSize') or None, 'ComputerName': row.get('computerName') or None,
            'PowerState': power.split('/', 1)[1] if power.startswith('PowerState/') else (power or None),
            'ProvisioningState': row.get('provisioningState') or None,
            'Isolated': _nics_isolated(str(row.get('vmName') or ''), [
                {'tags': n['tags'], 'nsg': n['NSG']} for n in vm['nics'].values()]),
            'NICs': nics}


def match_value(value: FindValue, vms: dict[str, dict]) -> list[tuple[str, str]]:
    """[(VM key, how it matched)] for one value: exact address or exact case-insensitive name, never a part."""
    hits: list[tuple[str, str]] = []
    for key, vm in vms.items():
        row = vm['row']
        if value.kind == 'ip':
            if any(value.key in nic['private'] for nic in vm['nics'].values()):
                hits.append((key, 'PrivateIP'))
            elif any(value.key in nic['public'] for nic in vm['nics'].values()):
                hits.append((key, 'PublicIP'))
        elif str(row.get('vmName') or '').lower() == value.key:
            hits.append((key, 'VMName'))
        elif str(row.get('computerName') or '').lower() == value.key:
            hits.append((key, 'ComputerName'))
    return hits


def vm_find_command(client, args: dict) -> CommandResults:
    """azure-vm-find: the VMs an alert's IP addresses and host names belong to, from Azure Resource Graph (one query
    per batch of values and subscriptions, whatever the number of VMs)."""
    limit = limit_arg(args, DEFAULT_FIND_LIMIT)   # the candidate VMs listed per value
    max_values = arg_to_number(demisto.params().get('max_find_values')) or DEFAULT_MAX_FIND_VALUES
    values = parse_find_values(args, max_values)
    subscriptions = find_subscriptions(client, args)
    quota = GraphQuota(client)
    rows: list[dict] = []
    for start in range(0, len(values), FIND_VALUES_PER_QUERY):
        batch = values[start:start + FIND_VALUES_PER_QUERY]
        query = find_query([v.key for v in batch if v.kind == 'ip'], [v.key for v in batch if v.kind == 'hostname'])
        for first in range(0, len(subscriptions), RESOURCE_GRAPH_MAX_SUBSCRIPTIONS):
            rows += resource_graph_rows(quota, query, subscriptions[first:first + RESOURCE_GRAPH_MAX_SUBSCRIPTIONS])
    vms = _found_vms(rows)
    outputs = {key: _find_vm_output(vm) for key, vm in vms.items()}
    items, found = [], {}
    for value in values:
        hits = match_value(value, vms)
        status = 'NotFound' if not hits else 'Found' if len(hits) == 1 else 'Ambiguous'
        if status == 'Found':
            found[hits[0][0]] = outputs[hits[0][0]]
        ways = [how for how in ('PrivateIP', 'PublicIP', 'VMName', 'ComputerName') if how in {h for _, h in hits}]
        items.append({'Value': value.given, 'Type': 'IP' if value.kind == 'ip' else 'Hostname', 'Status': status,
                      'MatchedBy': ', '.join(ways) or None, 'Count': len(hits),
                      'VMs': [outputs[key] for key, _ in hits[:limit]]})
    return _find_results(items, list(found.values()), len(subscriptions), limit)


def _find_results(items: list[dict], found: list[dict], subscription_count: int, limit: int) -> CommandResults:
    rows = [{'Value': md_code(i['Value']), 'Status': i['Status'], 'MatchedBy': i['MatchedBy'],
             'VMs': ', '.join(f"{v['Name']} ({v['ResourceGroup']})" for v in i['VMs'])
             + (f' and {i["Count"] - len(i["VMs"])} more' if i['Count'] > len(i['VMs']) else '')} for i in items]
    readable = tableToMarkdown(f'VMs found ({subscription_count} subscription(s) searched)', rows,
                               headers=['Value', 'Status', 'MatchedBy', 'VMs'], removeNull=True)
    if any(i['Status'] == 'Ambiguous' for i in items):
        readable += ('\n**Ambiguous** values match more than one VM: none of them is in AzureContainment.VM; pick '
                     'the right one from AzureContainment.Find.VMs (its ID is what vm_id takes).')
    if any(i['Count'] > limit for i in items):
        readable += f'\nAt most {limit} candidate VMs are listed per value (limit).'
    if any(i['Status'] == 'NotFound' for i in items):
        # Uniform scale-set instances are no Microsoft.Compute/virtualMachines resources: Resource Graph keeps them
        # and their NICs in its ComputeResources table, and their network settings come from the scale set's model.
        readable += ('\n**NotFound** values match no VM in the searched subscriptions (scope=all searches every '
                     'subscription this identity can read). An instance of a VM scale set in Uniform orchestration is '
                     'not a virtual machine resource: the pack neither finds nor isolates it. Block the attacker\'s '
                     'addresses with azure-nsg-block-ip on the NSG of its subnet, and contain the instance through its '
                     'scale set.')
    outputs: dict[str, Any] = {context_key('AzureContainment.Find', ['Value']): items}
    if found:
        outputs[context_key('AzureContainment.VM', ['ID'])] = found
    return CommandResults(readable_output=readable, outputs=outputs, raw_response=items)


# azure-vm-snapshot

class DiskPlan(NamedTuple):
    """One disk of the VM and the snapshot the command takes of it (or why it cannot)."""
    role: str                 # OS or Data
    lun: int | None
    disk_name: str | None
    disk_id: str | None       # the managed disk's resource ID (None: not a managed disk)
    problem: str | None       # why this disk cannot be snapshotted
    snapshot_name: str | None
    snapshot_path: str | None


def snapshot_key(incident_id: str, now: datetime) -> str:
    """What names the snapshots of one run: inc<incident ID> (a repeat in the same incident finds them again), or
    outside an incident t<UTC minute> (each run of an analyst takes new ones). An incident ID with other characters
    or too long is hashed."""
    if not incident_id:
        return 't' + now.strftime('%Y%m%d%H%M')
    if re.fullmatch(r'[A-Za-z0-9_-]{1,32}', incident_id):
        return f'inc{incident_id}'
    return 'inc' + hashlib.sha1(incident_id.encode()).hexdigest()[:16]  # nosec - a name, not security


def snapshot_name(key: str, disk_name: str, disk_id: str) -> str:
    """xsoar-<key>-<disk name, cut to fit 80 characters>-<8 hex of the disk ID>: the same disk in the same run (or
    incident) always gets the same name, two disks never share one."""
    digest = hashlib.sha1(disk_id.lower().encode()).hexdigest()[:8]  # nosec - a name, not security
    room = 80 - len(f'{SNAPSHOT_NAME_PREFIX}{key}--{digest}')
    part = re.sub(r'[^A-Za-z0-9_.-]', '-', disk_name)[:room].strip('.-') or 'disk'
    return validate_name(f'{SNAPSHOT_NAME_PREFIX}{key}-{part}-{digest}', 'snapshot name')


def _disk_problem(disk: dict, role: str) -> str | None:
    """Why a disk of the VM's storage profile cannot get a managed snapshot (None: it can)."""
    if role == 'OS' and (disk.get('diffDiskSettings') or {}).get('option'):
        return ('an ephemeral OS disk: it lives on the host\'s local storage and Azure cannot snapshot it. Collect '
                'its evidence from inside the VM before it is stopped (a deallocation or re-image erases it).')
    if not (disk.get('managedDisk') or {}).get('id'):
        where = host_of(str((disk.get('vhd') or {}).get('uri') or '')) or 'a storage account'
        return (f'an unmanaged disk (a VHD blob in {where}): managed snapshots need a managed disk. Copy or '
                'snapshot the blob in its storage account instead.')
    return None


def snapshot_plans(vm: dict, which: str, sub: str, rg: str, key: str) -> list[DiskPlan]:
    """The disks `which` selects (all, os, data) in the VM's storage profile, and where each one's snapshot goes."""
    storage = props(vm).get('storageProfile') or {}
    disks: list[tuple[str, int | None, dict]] = []
    if which in ('all', 'os'):
        disks.append(('OS', None, storage.get('osDisk') or {}))
    if which in ('all', 'data'):
        disks += [('Data', d.get('lun'), d) for d in storage.get('dataDisks') or []]
    plans = []
    for role, lun, disk in disks:
        disk_id = (disk.get('managedDisk') or {}).get('id') or None
        name = disk.get('name') or (name_of(disk_id) if disk_id else None)
        problem = _disk_problem(disk, role)
        if problem is None and disk_id:
            try:
                parse_resource_id(disk_id, 'Microsoft.Compute/disks', 'managed disk ID')
            except InputError as err:
                problem = f'its managed disk ID cannot be used ({err.message})'
        if problem or not disk_id:
            plans.append(DiskPlan(role, lun, name, disk_id, problem, None, None))
            continue
        snap = snapshot_name(key, str(name or name_of(disk_id)), disk_id)
        path = f'{rg_path(sub, rg)}/providers/Microsoft.Compute/snapshots/{url_segment(snap)}'
        plans.append(DiskPlan(role, lun, name, disk_id, None, snap, path))
    return plans


def _tag_value(text: str) -> str:
    """A tag value within Azure's 256 characters (a longer resource ID keeps its end, which names the resource)."""
    return text if len(text) <= TAG_VALUE_MAX else text[-TAG_VALUE_MAX:]


def _snapshot_tags(vm: dict, plan: DiskPlan, incident_id: str, started: str, power: str | None) -> dict:
    return {SNAPSHOT_TAG_INCIDENT: _tag_value(incident_id or NO_INCIDENT), SNAPSHOT_TAG_VM: _tag_value(str(vm.get('id'))),
            SNAPSHOT_TAG_DISK: _tag_value(str(plan.disk_id)), SNAPSHOT_TAG_TIME: started,
            SNAPSHOT_TAG_POWER: power or 'unknown'}


def _is_our_snapshot(snapshot: dict, plan: DiskPlan) -> bool:
    """A snapshot under the planned name is this pack's snapshot of this disk only when Azure says it was copied from
    the disk and it carries the pack's source-disk tag for it."""
    source = (props(snapshot).get('creationData') or {}).get('sourceResourceId')
    tags = snapshot.get('tags') or {}
    return same_id(source, plan.disk_id) and same_id(tags.get(SNAPSHOT_TAG_DISK), _tag_value(str(plan.disk_id)))


def _snapshot_item(vm: dict, plan: DiskPlan, snapshot: dict | None, status: str, message: str | None = None,
                   rg: str | None = None) -> dict:
    """One AzureContainment.Snapshot item: what Azure holds for the snapshot, and for a disk without one why."""
    p = props(snapshot)
    tags = (snapshot or {}).get('tags') or {}
    return {'ID': (snapshot or {}).get('id'), 'Name': (snapshot or {}).get('name') or plan.snapshot_name,
            'ResourceGroup': resource_group_of((snapshot or {}).get('id')) or rg, 'Location': (snapshot or {}).get('location'),
            'DiskID': (p.get('creationData') or {}).get('sourceResourceId') or plan.disk_id,
            'DiskName': plan.disk_name, 'DiskRole': plan.role, 'Lun': plan.lun, 'VMID': vm.get('id'),
            'Incremental': p.get('incremental') if snapshot else None,
            'ProvisioningState': p.get('provisioningState') if snapshot else None,
            'TimeCreated': p.get('timeCreated') if snapshot else None,
            'IncidentID': (None if tags.get(SNAPSHOT_TAG_INCIDENT) in (None, NO_INCIDENT)
                           else tags.get(SNAPSHOT_TAG_INCIDENT)),
            'SourcePowerState': tags.get(SNAPSHOT_TAG_POWER), 'Status': status, 'Message': message}


def _get_snapshot_or_none(client, path: str) -> dict | None:
    try:
        return client.arm_json('GET', path, api_version=DISK_API_VERSION)
    except ArmNotFound:
        return None


def _existing_snapshot_item(vm: dict, plan: DiskPlan, snapshot: dict, status: str) -> dict:
    if _is_our_snapshot(snapshot, plan):
        return _snapshot_item(vm, plan, snapshot, status)
    return _snapshot_item(vm, plan, snapshot, 'Conflict',
                          f"A snapshot named '{plan.snapshot_name}' already exists but was not taken by this pack of "
                          f"disk {plan.disk_name}: it was left untouched and this disk has no snapshot from this run. "
                          'Fix: rename or remove that snapshot, or use target_resource_group.')


def _take_snapshot(client, vm: dict, plan: DiskPlan, incident_id: str, started: str,
                   power: str | None) -> tuple[dict, requests.Response | None]:
    """The snapshot of one disk: found again when this run or incident already took it (no write), else created
    (one PUT: an incremental copy in the disk's region). An ARM error fails this disk only."""
    path, disk_id = str(plan.snapshot_path), str(plan.disk_id)   # set for every disk that has no problem
    try:
        existing = _get_snapshot_or_none(client, path)
        if existing is not None:
            return _existing_snapshot_item(vm, plan, existing, 'AlreadyExists'), None
        disk = client.arm_json('GET', parse_resource_id(disk_id, 'Microsoft.Compute/disks').path,
                               api_version=DISK_API_VERSION)
        body = {'location': disk.get('location'), 'tags': _snapshot_tags(vm, plan, incident_id, started, power),
                'properties': {'creationData': {'createOption': 'Copy', 'sourceResourceId': disk_id},
                               'incremental': True}}
        try:
            response = client.arm_request('PUT', path, api_version=DISK_API_VERSION, body=body)
        except ArmConflict:   # a parallel run is creating the same snapshot: it is ours once it is there
            existing = _get_snapshot_or_none(client, path)
            if existing is None:
                raise
            return _existing_snapshot_item(vm, plan, existing, 'AlreadyExists'), None
        return _snapshot_item(vm, plan, json_or_empty(response) or None, 'Created'), response
    except ArmError as err:
        return _snapshot_item(vm, plan, None, 'Failed', err.in_context(f'Snapshot of disk {plan.disk_name}').message,
                              rg=resource_group_of(path)), None


def _snapshot_state(item: dict) -> str:
    """InProgress until Azure reports the snapshot Succeeded (or it failed); items without a snapshot are done."""
    if item['Status'] not in ('Created', 'AlreadyExists'):
        return 'done'
    state = str(item.get('ProvisioningState') or '').lower()
    return 'done' if state in SNAPSHOT_DONE_STATES else 'InProgress'


def _finish_items(items: list[dict]) -> list[dict]:
    """A snapshot whose provisioning ended Failed or Canceled counts as Failed, with Azure's state in the message."""
    for item in items:
        state = str(item.get('ProvisioningState') or '').lower()
        if item['Status'] in ('Created', 'AlreadyExists') and state in ('failed', 'canceled'):
            item['Message'] = (f"Azure reports the snapshot {item['Name']} {item['ProvisioningState']}. Fix: delete "
                               'it and run azure-vm-snapshot again.')
            item['Status'] = 'Failed'
    return items


def _complete_or_none(client, items: list[dict]) -> list[dict]:
    """A snapshot set is evidence of one moment: when a disk of it failed, the snapshots this run took of the other
    disks (Status Created) are deleted again (Status RolledBack), so a re-run takes the whole set at one moment instead
    of completing an old one. Snapshots taken earlier (AlreadyExists) are never deleted. Runs once nothing is in
    progress; the only write a follow-up poll can make."""
    if not any(i['Status'] in ('Failed', 'Conflict') for i in items):
        return items
    client.budget.reserve()
    for item in items:
        if item['Status'] != 'Created' or not item.get('ID'):
            continue
        try:
            path = parse_resource_id(item['ID'], 'Microsoft.Compute/snapshots').path
            response = client.arm_request('DELETE', path, api_version=DISK_API_VERSION)
            wait_for_write(client, response, f"Deleting snapshot {item['Name']}")
            item.update(Status='RolledBack', Message='Deleted again: the set of this run is incomplete. Run '
                                                     'azure-vm-snapshot again to take every disk at one moment.')
        except ContainmentError as err:
            item['Message'] = (f"Kept: deleting it to roll back the incomplete set failed ({err.code}); run "
                               'azure-vm-snapshot again to complete the set.')
    return items


def parse_snapshot_disks(value: Any) -> str:
    which = str(value or 'all').strip().lower()
    if which not in SNAPSHOT_DISKS:
        raise InputError(f'Invalid disks {value!r}: expected all (the OS disk and every data disk), os or data.')
    return which


def vm_snapshot_command(client, args: dict) -> CommandResults:
    """azure-vm-snapshot: incremental snapshots of the VM's disks as evidence. The first run writes (at most one
    PUT per disk, none for a snapshot this incident already took); the scheduled follow-ups only read (but for the
    rollback of an incomplete set, _complete_or_none): every piece of state they need is in their arguments
    (snapshot_key, started_at) or in Azure, so a follow-up in a fresh process (an engine restart) finishes it."""
    ref = resolve_vm(client, args)
    which = parse_snapshot_disks(args.get('disks'))
    target_rg = args.get('target_resource_group')
    if target_rg:
        validate_resource_group(target_rg, 'target_resource_group')
    polling = argToBoolean(args.get('polling') or 'true')
    interval = max(10, arg_to_number(args.get('interval_in_seconds')) or 30)  # XSOAR schedules 10 s at the least
    timeout = arg_to_number(args.get('timeout_in_seconds')) or 900
    followup = bool(args.get('started_at'))
    incident_id = current_incident_id()
    if followup:
        key = _validated(args.get('snapshot_key'), SNAPSHOT_KEY_RE, 'snapshot_key',
                         'the key the first run of the command set')
        started = str(args['started_at'])
        try:
            started_at = datetime.fromisoformat(started)
        except ValueError:
            raise InputError(f'Invalid started_at {started!r}: expected an ISO 8601 time.') from None
    else:
        started_at = datetime.now(UTC).replace(microsecond=0)
        started = started_at.isoformat()
        key = snapshot_key(incident_id, started_at)
    vm = _get_vm(client, ref.subscription, ref.resource_group, ref.name, instance_view=True)
    power = _instance_status(vm, 'PowerState')
    rg = target_rg or ref.resource_group
    plans = snapshot_plans(vm, which, ref.subscription, rg, key)
    if followup:
        return _snapshot_followup(client, args, vm, plans, rg, started, started_at, key, interval, timeout)
    items, responses = [], []
    for plan in plans:
        if plan.problem or not plan.snapshot_path:
            items.append(_snapshot_item(vm, plan, None, 'NotSupported', f'Disk {plan.disk_name}: {plan.problem}',
                                        rg=rg))
            continue
        item, response = _take_snapshot(client, vm, plan, incident_id, started, power)
        items.append(item)
        if response is not None:
            responses.append(response)
    if not polling:
        for response in responses:
            client.operations.wait(response, timeout)   # the item is read again below, whatever the outcome
        return _snapshot_followup(client, args, vm, plans, rg, started, started_at, key, interval, timeout,
                                  schedule=False)
    if all(_snapshot_state(item) == 'done' for item in items):
        return _snapshot_results(vm, _complete_or_none(client, _finish_items(items)), power)
    return _snapshot_schedule(args, vm, items, key, started, interval, timeout, power)


def _snapshot_followup(client, args: dict, vm: dict, plans: list[DiskPlan], rg: str, started: str,
                       started_at: datetime, key: str, interval: int, timeout: int,
                       schedule: bool = True) -> CommandResults:
    """Reads every planned snapshot (never writes): the final report once none is in progress, else another poll.
    A planned snapshot that is not there failed (Azure removes a snapshot whose creation failed)."""
    items = []
    for plan in plans:
        if plan.problem or not plan.snapshot_path:
            items.append(_snapshot_item(vm, plan, None, 'NotSupported', f'Disk {plan.disk_name}: {plan.problem}',
                                        rg=rg))
            continue
        snapshot = _get_snapshot_or_none(client, plan.snapshot_path)
        if snapshot is None:
            items.append(_snapshot_item(vm, plan, None, 'Failed', f'Disk {plan.disk_name}: its snapshot '
                                        f'{plan.snapshot_name} was not created (see the earlier entry) or was '
                                        'deleted. Fix: run azure-vm-snapshot again.', rg=rg))
            continue
        status = 'Created' if (snapshot.get('tags') or {}).get(SNAPSHOT_TAG_TIME) == started else 'AlreadyExists'
        items.append(_existing_snapshot_item(vm, plan, snapshot, status))
    power = next((i['SourcePowerState'] for i in items if i.get('SourcePowerState')), None)
    pending = [i for i in items if _snapshot_state(i) != 'done']
    if not pending or not schedule:
        return _snapshot_results(vm, _complete_or_none(client, _finish_items(items)), power)
    if (datetime.now(UTC) - started_at).total_seconds() > timeout:
        raise ContainmentError(f"Snapshots of VM '{vm.get('name')}' still in progress after {timeout} s: "
                               f"{', '.join(str(i['Name']) for i in pending)}. They may still finish in Azure: run "
                               'azure-vm-snapshot again (it finds them and takes nothing twice).', code='OperationTimeout')
    return _snapshot_schedule(args, vm, items, key, started, interval, timeout, power)


def _snapshot_schedule(args: dict, vm: dict, items: list[dict], key: str, started: str, interval: int, timeout: int,
                       power: str | None) -> CommandResults:
    next_args = dict(args)
    next_args.update({'snapshot_key': key, 'started_at': started, 'polling': 'true',
                      'interval_in_seconds': str(interval), 'timeout_in_seconds': str(timeout)})
    table = tableToMarkdown(f"Snapshots of VM {vm.get('name')}: in progress, checking again in {interval} seconds",
                            items, headers=['Name', 'DiskName', 'DiskRole', 'Lun', 'Status', 'ProvisioningState',
                                            'Message'], removeNull=True)
    return CommandResults(readable_output=table + _consistency_note(power), scheduled_command=ScheduledCommand(
        command='azure-vm-snapshot', next_run_in_seconds=interval, args=next_args, timeout_in_seconds=timeout))


def _consistency_note(power: str | None) -> str:
    if power == 'running':
        return ('\nThe VM was running: the snapshots are crash-consistent (what a sudden power loss would leave on '
                'the disks; writes still in the guest\'s memory are not in them).')
    return f'\nThe VM was {power or "in an unknown state"}: the disks were not being written.'


def _snapshot_results(vm: dict, items: list[dict], power: str | None) -> CommandResults:
    failed = [i for i in items if i['Status'] in ('Failed', 'Conflict')]
    readable = tableToMarkdown(f"Snapshots of VM {vm.get('name')}", items,
                               headers=['Name', 'DiskName', 'DiskRole', 'Lun', 'Status', 'ProvisioningState',
                                        'TimeCreated', 'ResourceGroup', 'Message'], removeNull=True)
    readable += _consistency_note(power)
    results = CommandResults(outputs_prefix='AzureContainment.Snapshot', outputs_key_field='DiskID', outputs=items,
                             readable_output=readable, raw_response=items)
    if failed:   # an error entry whose text says what is missing; the items are still in the context
        message = (f"{len(failed)} of {len(items)} disk(s) of VM {vm.get('name')} have no snapshot from this run: "
                   + ' '.join(str(i['Message']) for i in failed))
        rolled_back = [str(i['Name']) for i in items if i['Status'] == 'RolledBack']
        if rolled_back:
            message += (f" Rolled back: the snapshot(s) this run had taken ({', '.join(rolled_back)}) were deleted, "
                        'so no incomplete set is left. Fix the cause and run azure-vm-snapshot again.')
        results.entry_type = EntryType.ERROR
        results.raw_response = message
        results.readable_output = f'**Error:** {message}\n{readable}'
    return results


''' MAIN FUNCTION '''

COMMANDS_WITHOUT_CLIENT = {'azure-containment-auth-reset'}


def cloud_of(params: dict) -> Cloud:
    """The cloud of the "Azure cloud" param; for Custom, its two https endpoints."""
    cloud_name = params.get('azure_cloud') or DEFAULT_CLOUD
    if cloud_name in CLOUDS:
        return Cloud(CLOUDS[cloud_name]['login'], CLOUDS[cloud_name]['arm'])
    if cloud_name != CUSTOM_CLOUD:
        raise InputError(f'Unknown "Azure cloud" {cloud_name!r}: pick one of {", ".join([*CLOUDS, CUSTOM_CLOUD])}.')
    login_url = (params.get('azure_ad_endpoint') or '').strip().rstrip('/')
    arm_url = (params.get('arm_endpoint') or '').strip().rstrip('/')
    for name, value in (('azure_ad_endpoint', login_url), ('arm_endpoint', arm_url)):
        if not value:
            raise missing_param_error(name, 'the Custom cloud')
        if not value.lower().startswith('https://'):
            raise InputError(f'"{PARAM_DISPLAY[name]}" must be an https:// URL (the Custom cloud).')
    return Cloud(login_url, arm_url, custom=True)


def auth_settings(params: dict) -> AuthSettings:
    return AuthSettings(
        auth_id=credential_value(params.get('auth_id')), tenant_id=credential_value(params.get('tenant_id')),
        enc_key=credential_value(params.get('enc_key')),
        certificate_thumbprint=credential_value(params.get('certificate_thumbprint')),
        private_key=credential_value(params.get('private_key')), auth_code=credential_value(params.get('auth_code')),
        redirect_uri=(params.get('redirect_uri') or '').strip(),
        managed_identities_client_id=credential_value(params.get('managed_identities_client_id')),
        token_retrieval_url=(params.get('token_retrieval_url') or '').strip() or DEFAULT_TOKEN_RETRIEVAL_URL)


def auth_mode(params: dict, settings: AuthSettings) -> str:
    """Which row of CREDENTIALS the params select."""
    auth_type = params.get('auth_type') or DEFAULT_AUTH_TYPE
    if auth_type == AUTH_TYPE_MANAGED_IDENTITY:
        return MODE_MANAGED_IDENTITY
    if not param_flag(params.get('self_deployed')):
        return MODE_XSOAR_APP
    if auth_type == AUTH_TYPE_AUTH_CODE:
        return MODE_AUTH_CODE
    return MODE_CERTIFICATE if (settings.certificate_thumbprint or settings.private_key) else MODE_SECRET


def int_param(name: str, value: Any, default: int, low: int, high: int) -> int:
    """An integer instance param (`value`: what the instance holds, or the default) within [low, high]; anything
    else is refused naming the param."""
    text = str(value).strip()
    if not re.fullmatch(r'\d{1,6}', text) or not low <= int(text) <= high:
        raise InputError(f'The instance parameter "{PARAM_DISPLAY[name]}" ({name}) must be a whole number from {low} '
                         f'to {high}; it is {shown_value(text)!r}. Fix: correct it in the instance settings (the '
                         f'default is {default}) and save.', code='InvalidParam')
    return int(text)


def block_limits(params: dict) -> PrefixLimits:
    """The admin's address policy for azure-nsg-block-ip (never a command argument: alert data cannot widen it)."""
    v4 = int_param('min_block_prefix_v4', params.get('min_block_prefix_v4') or DEFAULT_MIN_BLOCK_PREFIX_V4,
                   DEFAULT_MIN_BLOCK_PREFIX_V4, 1, 32)
    v6 = int_param('min_block_prefix_v6', params.get('min_block_prefix_v6') or DEFAULT_MIN_BLOCK_PREFIX_V6,
                   DEFAULT_MIN_BLOCK_PREFIX_V6, 1, 128)
    most = int_param('max_ips_per_call', params.get('max_ips_per_call') or DEFAULT_MAX_IPS_PER_CALL,
                     DEFAULT_MAX_IPS_PER_CALL, 1, MAX_PREFIXES_PER_SIDE)
    return PrefixLimits({'v4': v4, 'v6': v6}, most,
                        param_flag(params.get('allow_internal_block'), DEFAULT_ALLOW_INTERNAL_BLOCK), {
                            'v4': 'the widest IPv4 block this instance allows (instance param min_block_prefix_v4)',
                            'v6': 'the widest IPv6 block this instance allows (instance param min_block_prefix_v6)',
                            'items': 'instance param max_ips_per_call'},
                        int_param('max_block_days', params.get('max_block_days') or DEFAULT_MAX_BLOCK_DAYS,
                                  DEFAULT_MAX_BLOCK_DAYS, 1, MAX_BLOCK_SECONDS // 86400))


def build_client(params: dict) -> AzureClient:
    """The client for the instance params; every check that needs no request happens here (cloud endpoints,
    subscription, and the params of the authentication mode, checked by its credential class)."""
    cloud = cloud_of(params)
    subscription_id = (params.get('subscription_id') or '').strip()
    if not subscription_id:
        raise missing_param_error('subscription_id', 'every command')
    require_guid(subscription_id, 'Subscription ID', 'copy the Subscription ID from Azure portal > Subscriptions.')
    settings = auth_settings(params)
    credential_class = CREDENTIALS[auth_mode(params, settings)]
    credential_class.check(settings)
    limits = block_limits(params)
    budget = TimeBudget(int_param('time_budget', params.get('time_budget') or DEFAULT_TIME_BUDGET, DEFAULT_TIME_BUDGET,
                                  10, 3600),
                        int_param('request_timeout', params.get('request_timeout') or DEFAULT_REQUEST_TIMEOUT,
                                  DEFAULT_REQUEST_TIMEOUT, 1, 600))
    session = AzureSession(verify=not param_flag(params.get('insecure')), proxies=handle_proxy(), budget=budget)
    return AzureClient(credential=credential_class(settings, cloud, session), arm_url=cloud.arm_url,
                       subscription_id=subscription_id, resource_group=(params.get('resource_group') or '').strip(),
                       default_nsg_name=(params.get('default_nsg_name') or '').strip(), limits=limits,
                       platform_services_on_request=param_flag(params.get('allow_platform_services_on_request'),
                                                               DEFAULT_PLATFORM_SERVICES_ON_REQUEST))


def main() -> None:
    command = demisto.command()
    commands: dict[str, Callable] = {
        'test-module': test_module,
        'azure-containment-generate-login-url': generate_login_url_command,
        'azure-containment-auth-test': auth_test_command,
        'azure-containment-auth-reset': auth_reset_command,
        'azure-nsg-block-ip': nsg_block_ip_command,
        'azure-nsg-unblock-ip': nsg_unblock_ip_command,
        'azure-nsg-block-list': block_list_command,
        'azure-nsg-block-expire': block_expire_command,
        'azure-vm-isolate': vm_isolate_command,
        'azure-vm-unisolate': vm_unisolate_command,
        'azure-vm-power': vm_power_command,
        'azure-vm-get': vm_get_command,
        'azure-vm-list': vm_list_command,
        'azure-nsg-list': nsg_list_command,
        'azure-nsg-rule-list': nsg_rule_list_command,
        'azure-vm-find': vm_find_command,
        'azure-vm-snapshot': vm_snapshot_command,
    }
    if command not in commands:
        return_error(f"Command '{command}' is not implemented")
        return
    demisto.debug(f'Azure Containment: running {command}')
    try:
        # auth-reset only clears the integration context: it needs no client, so it works even with bad params
        client = None if command in COMMANDS_WITHOUT_CLIENT else build_client(demisto.params())
        return_results(commands[command](client, demisto.args()))
    except ContainmentError as exc:   # ours: the text already says what is wrong and the fix
        demisto.debug(f'Azure Containment: {command} failed with {type(exc).__name__} ({exc.code})')
        return_error(f'Failed to execute {command}. {exc.message}')
    except Exception as exc:  # noqa: BLE001 - every other failure also becomes one error entry
        message = exc.message if isinstance(exc, DemistoException) else None   # e.g. CommonServerPython's
        if not isinstance(message, str) or not message:
            message = f'{type(exc).__name__}: {exc}'
        # Not one of ours: the traceback (debug level, masked like every log line) says where it came from.
        demisto.debug(f'Azure Containment: {command} failed unexpectedly with {type(exc).__name__}\n'
                      f'{traceback.format_exc()}')
        return_error(f'Failed to execute {command}. {message}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()
