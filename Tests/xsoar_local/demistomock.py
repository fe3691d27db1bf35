"""Local stand-in for XSOAR's ``demistomock`` module (written for this project, not copied).

In a real XSOAR the integration runs in a Docker container and ``import demistomock as demisto`` gives it the
server's API: the instance's params, the command and its arguments, a way to post war-room entries, the server log
and the integration context (a small JSON store per integration instance, shared by every run of that instance).
This module provides the same module-level functions with the same names and signatures, backed by plain
module state so that:

* the local harness (``Tests/xsoar_local/harness.py``) can set the state before a run with :func:`_reset` and read
  what the integration produced afterwards (``_entries``, ``_logs``);
* unit tests can patch any function with pytest-mock, exactly like with XSOAR's own demistomock, e.g.
  ``mocker.patch.object(demisto, 'params', return_value={...})``.

Everything whose name starts with an underscore is local plumbing: the integration must never use it (XSOAR
does not have it).

The integration context lives in a *store* object (``_context_store``) with two methods, ``read() -> (dict, int)``
and ``write(context, expected_version) -> int``; the default keeps it in memory, the harness can install one that
persists it in a file shared by several processes. Every write bumps the version by one. A versioned write whose
``version`` is not the current one is rejected (:class:`IntegrationContextVersionConflict`), which is how XSOAR
implements optimistic concurrency between parallel runs of one instance.
"""
from __future__ import annotations

import copy
import json
import threading
from typing import Any

# Replacement text for sensitive strings in logs and error entries (the text XSOAR's logger uses).
MASK = '<XX_REPLACED>'


class IntegrationContextVersionConflict(ValueError):
    """Raised by :func:`setIntegrationContextVersioned` when ``version`` is not the stored version.

    XSOAR's server refuses such a write in the same way; callers re-read the context and try again.
    """


class MemoryContextStore:
    """An integration-context store held in memory (one per simulated instance)."""

    def __init__(self, context: dict | None = None, version: int = 0):
        self._lock = threading.Lock()
        self._context = json.loads(json.dumps(context or {}))
        self._version = version

    def read(self) -> tuple[dict, int]:
        """Return a deep copy of the stored context and its version."""
        with self._lock:
            return copy.deepcopy(self._context), self._version

    def write(self, context: dict, expected_version: int = -1) -> int:
        """Store ``context`` (must be JSON-serialisable) and return the new version.

        ``expected_version`` -1 writes unconditionally; any other value must equal the stored version or
        :class:`IntegrationContextVersionConflict` is raised and nothing is written.
        """
        data = json.loads(json.dumps(context if context is not None else {}))
        with self._lock:
            if expected_version not in (-1, None) and int(expected_version) != self._version:
                raise IntegrationContextVersionConflict(
                    f'Integration context version conflict: expected version {expected_version}, '
                    f'stored version is {self._version}. Read the context again and retry.')
            self._context = data
            self._version += 1
            return self._version


# ---------------------------------------------------------------------------------------------------------------
# Module state (set by the harness through _reset; read back through _entries / _logs)
# ---------------------------------------------------------------------------------------------------------------
_params: dict = {}
_args: dict = {}
_command: str = ''
_entries: list[dict] = []
_logs: list[tuple[str, str]] = []
_sensitive_strings: list[str] = []
_context_store: Any = MemoryContextStore()
_version: dict = {'version': '8.9.0', 'buildNumber': '1000000', 'platform': 'xsoar'}
_instance_name: str = 'AzureContainment_instance_1'
_brand: str = 'Azure Containment'

# What demisto.incident() returns outside an incident: a command typed in the Playground, the war room that is
# "not connected to a live investigation" (XSOAR's War Room docs). XSOAR's incident model has an isPlayground flag
# and writes unset dates as Go's zero time; the playground has no incident ID, so `id` is empty. Public docs do not
# spell this object out: integrations must treat an empty or missing `id` as "no incident".
ZERO_TIME = '0001-01-01T00:00:00Z'
PLAYGROUND_INCIDENT: dict = {
    'id': '', 'name': '', 'type': '', 'created': ZERO_TIME, 'occurred': ZERO_TIME, 'modified': ZERO_TIME,
    'severity': 0, 'status': 0, 'labels': [], 'CustomFields': {}, 'investigationId': 'playground',
    'isPlayground': True, 'playbookId': '', 'sourceBrand': '', 'sourceInstance': '',
}
_incident: dict = copy.deepcopy(PLAYGROUND_INCIDENT)

# XSOAR exposes the calling context as a module attribute; integrations read e.g. IntegrationBrand from it.
callingContext: dict = {'context': {'IntegrationBrand': _brand, 'IntegrationInstance': _instance_name}}


def _reset(params: dict | None = None, args: dict | None = None, command: str = '',
           context_store: Any = None, version: dict | None = None, instance_name: str | None = None,
           brand: str | None = None, incident: dict | None = None) -> None:
    """Local only: start a new simulated run (what a fresh XSOAR container sees).

    Clears posted entries, log lines and registered sensitive strings; installs params, args, command, the
    incident the command runs in (None: outside any incident, the Playground) and (when given) the
    integration-context store, server version and instance name.
    """
    global _params, _args, _command, _context_store, _version, _instance_name, _brand, _incident
    _params = copy.deepcopy(params or {})
    _args = copy.deepcopy(args or {})
    _command = command
    _incident = copy.deepcopy(incident if incident is not None else PLAYGROUND_INCIDENT)
    _entries.clear()
    _logs.clear()
    _sensitive_strings.clear()
    if context_store is not None:
        _context_store = context_store
    if version is not None:
        _version = dict(version)
    if instance_name is not None:
        _instance_name = instance_name
    if brand is not None:
        _brand = brand
    callingContext['context'] = {'IntegrationBrand': _brand, 'IntegrationInstance': _instance_name}


def _add_sensitive(value: str) -> None:
    """Local only: remember a string that must never appear in a log line or an error entry."""
    if value and isinstance(value, str) and value not in _sensitive_strings:
        _sensitive_strings.append(value)
        # Mask longer strings first, so a secret that contains another one is replaced whole.
        _sensitive_strings.sort(key=len, reverse=True)


def _mask(text: Any) -> Any:
    """Local only: ``text`` with every registered sensitive string replaced by ``<XX_REPLACED>``."""
    if not isinstance(text, str):
        return text
    for secret in _sensitive_strings:
        text = text.replace(secret, MASK)
    return text


# ---------------------------------------------------------------------------------------------------------------
# The XSOAR API
# ---------------------------------------------------------------------------------------------------------------
def params() -> dict:
    """The instance's configuration: ``{param name: value}``; type 9 (credentials) values are
    ``{'identifier': ..., 'password': ...}``. Returns a copy: changing it changes nothing."""
    return copy.deepcopy(_params)


def args() -> dict:
    """The arguments of the command being run, ``{name: value}`` (values as the user typed them: strings,
    or lists/dicts when a playbook passes them)."""
    return copy.deepcopy(_args)


def command() -> str:
    """The name of the command being run, e.g. ``'test-module'`` or ``'azure-nsg-block-ip'``."""
    return _command


def incident() -> dict:
    """The incident the command runs in (a copy): at least ``id``, ``name``, ``created`` (RFC 3339), ``type``,
    ``labels``, ``CustomFields``, ``isPlayground``. Outside an incident (a command typed in the Playground) the
    playground's: ``id`` and ``name`` empty, ``isPlayground`` true, dates at the zero time ``0001-01-01T00:00:00Z``."""
    return copy.deepcopy(_incident)


def incidents() -> list:
    """``[demisto.incident()]``: the list holding the current incident (XSOAR's demistomock says the same)."""
    return [incident()]


def getParam(p: str) -> Any:
    """One instance param, or None."""
    return params().get(p)


def getArg(arg: str) -> Any:
    """One command argument, or None."""
    return args().get(arg)


def _normalise_entry(entry: Any) -> dict:
    if isinstance(entry, dict):
        return copy.deepcopy(entry)
    # A bare string or number becomes a plain-text note (what the war room shows for demisto.results('ok')).
    return {'Type': 1, 'ContentsFormat': 'text', 'Contents': entry}


def results(results: Any) -> None:
    """Post one entry (a dict in XSOAR's entry format, or a plain string) or a list of them to the war room.

    Error entries (``Type`` 4) have every sensitive string (see ``add_sensitive_log_strs``) masked.
    """
    items = results if isinstance(results, list) else [results]
    for item in items:
        entry = _normalise_entry(item)
        if entry.get('Type') == 4:
            entry['Contents'] = _mask(entry.get('Contents'))
            if entry.get('HumanReadable'):
                entry['HumanReadable'] = _mask(entry['HumanReadable'])
        _entries.append(entry)


def _log(level: str, msg: Any, *args: Any) -> None:
    text = str(msg)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError):
            text = ' '.join([text, *map(str, args)])
    _logs.append((level, _mask(text)))


def debug(msg: Any, *args: Any) -> None:
    """Write a debug line to the server log (masked: see ``add_sensitive_log_strs``)."""
    _log('debug', msg, *args)


def info(msg: Any, *args: Any) -> None:
    """Write an info line to the server log (masked)."""
    _log('info', msg, *args)


def error(msg: Any, *args: Any) -> None:
    """Write an error line to the server log (masked). It does not post an entry: ``return_error`` does."""
    _log('error', msg, *args)


def log(msg: Any) -> None:
    """Write a line to the server log (masked)."""
    _log('info', msg)


def getIntegrationContext() -> dict:
    """The instance's integration context (a copy; ``{}`` when nothing was stored)."""
    context, _version_number = _context_store.read()
    return context


def setIntegrationContext(context: dict) -> None:
    """Replace the instance's integration context, unconditionally (no version check)."""
    _context_store.write(context, -1)


def getIntegrationContextVersioned(refresh: bool = False) -> dict:
    """``{'context': <the integration context>, 'version': <int>}``; pass the version to
    ``setIntegrationContextVersioned`` to write only if nobody wrote in between. ``refresh`` is accepted
    for compatibility (every read here is fresh)."""
    context, version = _context_store.read()
    return {'context': context, 'version': version}


def setIntegrationContextVersioned(context: dict, version: int = -1, sync: bool = False) -> None:
    """Replace the integration context if its version is still ``version`` (-1: no check).

    Raises IntegrationContextVersionConflict (a ValueError) when another run wrote in between.
    """
    _context_store.write(context, version)


def demistoVersion() -> dict:
    """The server's version: ``{'version': '8.9.0', 'buildNumber': ..., 'platform': 'xsoar'}``."""
    return dict(_version)


def integrationInstance() -> str:
    """The name of the integration instance running the command."""
    return _instance_name
