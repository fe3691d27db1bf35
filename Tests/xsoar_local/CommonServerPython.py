"""Local stand-in for XSOAR's ``CommonServerPython`` (written for this project from XSOAR's public developer
documentation; not copied).

It provides, with XSOAR's names, signatures and observable behaviour, the part of the API that the Azure
Containment integration uses (``from CommonServerPython import *``)::

    CommandResults, return_results, return_error, tableToMarkdown, argToList, argToBoolean, arg_to_number,
    DemistoException, ScheduledCommand, get_integration_context, set_integration_context, handle_proxy,
    add_sensitive_log_strs, EntryType, EntryFormat, pascalToSpace, underscoreToCamelCase,
    string_to_table_header, is_demisto_version_ge

The integration must use nothing else from this module, so that it runs unchanged on a real XSOAR. Like XSOAR's
module it has no ``__all__``: a star import also brings ``demisto``, ``json``, ``os``, ``re``, ``sys`` and ``time``.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time  # noqa: F401  (re-exported by the star import, as XSOAR's module does)
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import demistomock as demisto


class EntryType:
    """War-room entry types (the ``Type`` field of an entry)."""
    NOTE = 1
    DOWNLOAD_AGENT = 2
    FILE = 3
    ERROR = 4
    PINNED = 5
    USER_MANAGEMENT = 6
    IMAGE = 7
    PLAYGROUND_ERROR = 8
    ENTRY_INFO_FILE = 9
    WARNING = 11
    MAP_ENTRY_TYPE = 15
    WIDGET = 17


class EntryFormat:
    """Entry content formats (the ``ContentsFormat`` field of an entry)."""
    HTML = 'html'
    TABLE = 'table'
    JSON = 'json'
    TEXT = 'text'
    DBOT_RESPONSE = 'dbotCommandResponse'
    MARKDOWN = 'markdown'

    @classmethod
    def is_valid_type(cls, _type: str) -> bool:
        """True when ``_type`` is one of the formats above."""
        return _type in (cls.HTML, cls.TABLE, cls.JSON, cls.TEXT, cls.MARKDOWN, cls.DBOT_RESPONSE)


# Older names some integrations use; same values as above.
entryTypes = {'note': EntryType.NOTE, 'error': EntryType.ERROR, 'file': EntryType.FILE,
              'warning': EntryType.WARNING}
formats = {'html': EntryFormat.HTML, 'table': EntryFormat.TABLE, 'json': EntryFormat.JSON,
           'text': EntryFormat.TEXT, 'markdown': EntryFormat.MARKDOWN}


class DemistoException(Exception):
    """The exception integrations raise for errors the user should see.

    ``DemistoException(message, exception=None, res=None)``: ``str(e)`` is the message; ``e.message``,
    ``e.exception`` (the underlying exception) and ``e.res`` (e.g. an HTTP response) are kept as attributes.
    """

    def __init__(self, message: Any = '', exception: BaseException | None = None, res: Any = None, *args: Any):
        self.message = message
        self.exception = exception
        self.res = res
        super().__init__(message, exception, *args)

    def __str__(self) -> str:
        return str(self.message)


# ---------------------------------------------------------------------------------------------------------------
# Server version helpers
# ---------------------------------------------------------------------------------------------------------------
def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split('.'):
        digits = re.match(r'\d+', piece)
        parts.append(int(digits.group(0)) if digits else 0)
    return tuple(parts)


def is_demisto_version_ge(version: str, build_number: str = '') -> bool:
    """True when the server's version (``demisto.demistoVersion()``) is ``version`` or newer (and, when
    ``build_number`` is given and the versions are equal, its build number is at least that)."""
    server = demisto.demistoVersion()
    server_version = _version_tuple(server.get('version', '0'))
    wanted = _version_tuple(version)
    length = max(len(server_version), len(wanted))
    server_version += (0,) * (length - len(server_version))
    wanted += (0,) * (length - len(wanted))
    if server_version != wanted:
        return server_version > wanted
    if not build_number:
        return True
    try:
        return int(server.get('buildNumber', 0)) >= int(build_number)
    except ValueError:
        return True


def is_versioned_context_available() -> bool:
    """True when the server supports the versioned integration context (XSOAR 6.0 and later)."""
    return is_demisto_version_ge('6.0.0')


# ---------------------------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------------------------
def argToList(arg: Any, separator: str = ',', transform: Callable[[Any], Any] | None = None) -> list:
    """An argument as a list.

    None / '' / [] -> ``[]``; a list stays a list; a string that looks like a JSON list (``'["a","b"]'``) is
    parsed; any other string is split on ``separator`` and each item stripped; any other value -> ``[value]``.
    ``transform``, when given, is applied to every item.
    """
    if not arg:
        result: list = []
    elif isinstance(arg, list):
        result = arg
    elif isinstance(arg, str):
        text = arg.strip()
        if text.startswith('[') and text.endswith(']'):
            try:
                parsed = json.loads(text)
                result = parsed if isinstance(parsed, list) else [parsed]
            except ValueError:
                result = [item.strip() for item in arg.split(separator)]
        else:
            result = [item.strip() for item in arg.split(separator)]
    else:
        result = [arg]
    if transform:
        return [transform(item) for item in result]
    return result


def argToBoolean(value: Any) -> bool:
    """A boolean-like argument as a bool: a bool stays as is; 'true'/'yes' -> True, 'false'/'no' -> False
    (any case). Anything else raises ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ('true', 'yes'):
            return True
        if lowered in ('false', 'no'):
            return False
        raise ValueError('Argument does not contain a valid boolean-like value')
    raise ValueError('Argument is neither a string nor a boolean')


def arg_to_number(arg: Any, arg_name: str | None = None, required: bool = False) -> int | None:
    """An argument as an int.

    None or '' -> None, or ValueError ``Missing "<arg_name>"`` (``Missing required argument`` without a name)
    when ``required``. Strings of digits and numeric strings ('3', '3.0') become ints (floats are truncated);
    anything else raises ValueError ``Invalid number: "<arg_name>"="<arg>"`` (``"<arg>" is not a valid
    number`` without a name).
    """
    if arg is None or arg == '':
        if required:
            raise ValueError(f'Missing "{arg_name}"' if arg_name else 'Missing required argument')
        return None
    if isinstance(arg, bool):
        arg = str(arg)
    if isinstance(arg, str):
        text = arg.strip()
        if text.isdigit():
            return int(text)
        try:
            return int(float(text))
        except (ValueError, OverflowError):
            if arg_name:
                raise ValueError(f'Invalid number: "{arg_name}"="{arg}"') from None
            raise ValueError(f'"{arg}" is not a valid number') from None
    if isinstance(arg, int):
        return arg
    if isinstance(arg, float):
        return int(arg)
    if arg_name:
        raise ValueError(f'Invalid number: "{arg_name}"="{arg}"')
    raise ValueError(f'"{arg}" is not a valid number')


# ---------------------------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------------------------
def pascalToSpace(s: Any) -> Any:
    """'PascalCaseText' -> 'Pascal Case Text' (acronyms kept together: 'VMName' -> 'VM Name').
    Non-strings are returned unchanged."""
    if not isinstance(s, str):
        return s
    spaced = re.sub(r'(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])', ' ', s)
    return spaced.replace('_', ' ').strip()


def underscoreToCamelCase(s: Any, upper_camel: bool = True) -> Any:
    """'some_text_here' -> 'SomeTextHere' ('someTextHere' with ``upper_camel=False``).
    Non-strings are returned unchanged."""
    if not isinstance(s, str):
        return s
    words = [w for w in s.split('_') if w]
    if not words:
        return s
    camel = ''.join(w[:1].upper() + w[1:] for w in words)
    return camel if upper_camel else camel[:1].lower() + camel[1:]


def string_to_table_header(string: Any) -> str:
    """'some_string_here' -> 'Some String Here' (a readable table header). Raises on non-strings."""
    if not isinstance(string, str):
        raise TypeError(f'The key is not a string: {string}')
    return string.replace('_', ' ').title()


def _cell_text(value: Any) -> str:
    if value is None:
        return ''
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return ', '.join(_cell_text(v) for v in value)
        return '\n'.join(_cell_text(v) for v in value)
    if isinstance(value, dict):
        return '\n'.join(f'{k}: {_cell_text(v)}' for k, v in value.items())
    return str(value)


def _escape_cell(text: str) -> str:
    return text.replace('|', '\\|').replace('\r\n', '<br>').replace('\n', '<br>')


def _is_empty(value: Any) -> bool:
    return value is None or value in ('', [], {})


def tableToMarkdown(name: str, t: Any, headers: Any = None, headerTransform: Callable[[str], str] | None = None,
                    removeNull: bool = False, metadata: str | None = None, url_keys: list | None = None,
                    date_fields: list | None = None, json_transform_mapping: Any = None,
                    is_auto_json_transform: bool = False, sort_headers: bool = True) -> str:
    """A markdown table for the war room.

    ``### <name>`` (when name), the ``metadata`` line (when given), then ``|h1|h2|`` / ``|---|---|`` /
    ``| v1 | v2 |`` rows; ``**No entries.**`` when ``t`` is empty. ``t`` is a dict (one row) or a list of dicts
    (a list of plain values becomes one column named ``headers[0]``). ``headers`` (a list, or one string) picks
    and orders the columns; without it, every key of every row is a column, sorted alphabetically when
    ``sort_headers``. ``headerTransform`` maps a key to its displayed header (e.g. ``pascalToSpace``).
    ``removeNull`` drops columns that are empty in every row. ``url_keys`` columns become ``[v](v)`` links;
    ``date_fields`` columns given as epoch milliseconds are shown as UTC dates. Cells: lists are joined with
    ', ', dicts as ``key: value`` lines, booleans as 'true'/'false'; pipes are escaped (``\\|``) and line breaks
    become ``<br>`` so a cell never breaks the table. ``json_transform_mapping``/``is_auto_json_transform`` are
    accepted for signature compatibility and ignored.
    """
    lines = []
    if name:
        lines.append(f'### {name}')
    if metadata:
        lines.append(metadata)

    if isinstance(headers, str):
        headers = [headers]
    rows: list
    if t is None:
        rows = []
    elif isinstance(t, dict):
        rows = [t]
    else:
        rows = list(t)
    if rows and not all(isinstance(r, dict) for r in rows):
        column = headers[0] if headers else (name or 'Value')
        rows = [r if isinstance(r, dict) else {column: r} for r in rows]
        headers = headers or [column]

    if not rows:
        lines.append('**No entries.**')
        return '\n'.join(lines) + '\n'

    if not headers:
        headers = []
        for row in rows:
            for key in row:
                if key not in headers:
                    headers.append(key)
        if sort_headers:
            headers = sorted(headers, key=str)
    else:
        headers = list(headers)
    if removeNull:
        headers = [h for h in headers if not all(_is_empty(row.get(h)) for row in rows)]
        if not headers:
            lines.append('**No entries.**')
            return '\n'.join(lines) + '\n'

    url_keys = url_keys or []
    date_fields = date_fields or []

    def cell(row: dict, key: str) -> str:
        value = row.get(key)
        if key in date_fields and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = datetime.fromtimestamp(value / 1000, tz=UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
        text = _cell_text(value)
        if key in url_keys and text:
            text = f'[{text}]({text})'
        return _escape_cell(text)

    shown = [headerTransform(h) if headerTransform else h for h in headers]
    lines.append('|' + '|'.join(_escape_cell(str(h)) for h in shown) + '|')
    lines.append('|' + '|'.join('---' for _ in shown) + '|')
    for row in rows:
        lines.append('| ' + ' | '.join(cell(row, h) for h in headers) + ' |')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------------------------
# Polling
# ---------------------------------------------------------------------------------------------------------------
class ScheduledCommand:
    """Ask the server to run a command again later (XSOAR's polling; the YAML command needs ``polling: true``).

    ``ScheduledCommand(command, next_run_in_seconds, args=None, timeout_in_seconds=None, items_remaining=0)``:
    the server re-runs ``command`` with ``args`` after ``next_run_in_seconds`` (at least 10, the server's minimum
    interval: less raises ValueError), until a run returns no scheduled command or ``timeout_in_seconds`` (server
    default 600) has passed since the first run. No worker waits in between. Raises DemistoException when the
    server does not support polling (before XSOAR 6.2).
    """

    MIN_NEXT_RUN_IN_SECONDS = 10

    def __init__(self, command: str, next_run_in_seconds: int, args: dict | None = None,
                 timeout_in_seconds: int | None = None, items_remaining: int = 0):
        self.raise_error_if_not_supported()
        if not command:
            raise ValueError('ScheduledCommand needs the name of the command to schedule')
        next_run = int(next_run_in_seconds)
        if next_run < self.MIN_NEXT_RUN_IN_SECONDS:
            raise ValueError(f'next_run_in_seconds must be at least {self.MIN_NEXT_RUN_IN_SECONDS} seconds '
                             f'(got {next_run_in_seconds})')
        self._command = command
        self._next_run = str(next_run)
        self._args = dict(args or {})
        self._timeout = str(int(timeout_in_seconds)) if timeout_in_seconds else None
        self._items_remaining = items_remaining

    @staticmethod
    def supports_polling() -> bool:
        """True when the server can schedule commands (XSOAR 6.2.0 and later)."""
        return is_demisto_version_ge('6.2.0')

    @staticmethod
    def raise_error_if_not_supported() -> None:
        """Raise DemistoException when ``supports_polling()`` is False."""
        if not ScheduledCommand.supports_polling():
            raise DemistoException('Polling (ScheduledCommand) is supported from Cortex XSOAR version 6.2.0 '
                                   'and later only.')

    def to_results(self) -> dict:
        """The polling fields merged into the entry: PollingCommand, NextRun, PollingArgs, Timeout,
        PollingItemsRemaining."""
        return {
            'PollingCommand': self._command,
            'NextRun': self._next_run,
            'PollingArgs': self._args,
            'Timeout': self._timeout,
            'PollingItemsRemaining': self._items_remaining,
        }


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------
class CommandResults:
    """One war-room entry with context outputs.

    ``outputs_prefix`` (e.g. 'AzureContainment.BlockedIP') is where ``outputs`` (a dict or list of dicts) go in the
    incident context; ``outputs_key_field`` (a field name or list of them) makes the server merge objects with
    the same key instead of appending duplicates. ``readable_output`` is the markdown shown in the war room
    (default: a 'Results' table of the outputs); ``raw_response`` is the entry's Contents (default: outputs).
    ``scheduled_command`` makes this a polling entry. ``ignore_auto_extract`` turns off indicator extraction.
    ``to_context()`` returns the entry dict that ``return_results`` posts.
    """

    def __init__(self, outputs_prefix: str | None = None, outputs_key_field: str | list | None = None,
                 outputs: Any = None, readable_output: str | None = None, raw_response: Any = None,
                 ignore_auto_extract: bool = False, mark_as_note: bool = False,
                 scheduled_command: ScheduledCommand | None = None, entry_type: int | None = None,
                 content_format: str | None = None, tags: list | None = None):
        if outputs is not None and not isinstance(outputs, dict) and not outputs_prefix:
            raise ValueError('outputs_prefix is missing')
        if outputs_prefix == '':
            raise ValueError('outputs_prefix cannot be an empty string')
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field: str | list | None
        if isinstance(outputs_key_field, str) or outputs_key_field is None:
            self.outputs_key_field = outputs_key_field
        else:
            self.outputs_key_field = list(outputs_key_field)
        self.outputs = outputs
        self.readable_output = readable_output
        self.raw_response = raw_response
        self.ignore_auto_extract = ignore_auto_extract
        self.mark_as_note = mark_as_note
        self.scheduled_command = scheduled_command
        self.entry_type = EntryType.NOTE if entry_type is None else entry_type
        if content_format is not None and not EntryFormat.is_valid_type(content_format):
            raise ValueError(f'Invalid content_format: {content_format}')
        self.content_format = content_format
        self.tags = tags

    def context_key(self) -> str | None:
        """The EntryContext key: ``Prefix(val.Key && val.Key == obj.Key)`` with a key field (several fields are
        joined with ' && '), ``Prefix`` without one, None without a prefix."""
        if not self.outputs_prefix:
            return None
        if not self.outputs_key_field:
            return self.outputs_prefix
        fields = [self.outputs_key_field] if isinstance(self.outputs_key_field, str) else self.outputs_key_field
        condition = ' && '.join(f'val.{f} && val.{f} == obj.{f}' for f in fields)
        return f'{self.outputs_prefix}({condition})'

    def to_context(self) -> dict:
        """The entry: Type, ContentsFormat, Contents, HumanReadable, EntryContext, IndicatorTimeline,
        IgnoreAutoExtract, Note, Relationships (+ Tags when given, + the ScheduledCommand fields when polling)."""
        entry_context: dict = {}
        if self.outputs is not None and self.outputs != []:
            key = self.context_key()
            entry_context = {key: self.outputs} if key else dict(self.outputs)

        human_readable = self.readable_output
        if not human_readable and self.outputs is not None and self.outputs != []:
            human_readable = tableToMarkdown('Results', self.outputs)

        contents = self.raw_response if self.raw_response is not None else self.outputs
        content_format = self.content_format
        if content_format is None:
            content_format = EntryFormat.JSON if isinstance(contents, (dict, list)) else EntryFormat.TEXT

        entry = {
            'Type': self.entry_type,
            'ContentsFormat': content_format,
            'Contents': contents,
            'HumanReadable': human_readable,
            'EntryContext': entry_context,
            'IndicatorTimeline': [],
            'IgnoreAutoExtract': bool(self.ignore_auto_extract),
            'Note': bool(self.mark_as_note),
            'Relationships': [],
        }
        if self.tags:
            entry['Tags'] = list(self.tags)
        if self.scheduled_command:
            entry.update(self.scheduled_command.to_results())
        return entry


def return_results(results: Any) -> None:
    """Post results to the war room: a CommandResults (its ``to_context()``), a list (each item in turn), or a
    string / dict entry as is. None posts nothing."""
    if results is None:
        return
    if isinstance(results, list):
        for item in results:
            return_results(item)
        return
    if isinstance(results, CommandResults) or hasattr(results, 'to_context'):
        demisto.results(results.to_context())
        return
    demisto.results(results)


# Commands whose errors the server handles itself: return_error raises instead of posting an entry.
_SERVER_HANDLED_COMMANDS = ('fetch-incidents', 'fetch-credentials', 'long-running-execution', 'fetch-indicators')


def return_error(message: Any, error: Any = '', outputs: dict | None = None) -> None:
    """Post an error entry and end the run, as XSOAR does.

    Logs ``message`` (and, when ``error`` is given, the current traceback) with ``demisto.error``, posts
    ``{'Type': 4, 'ContentsFormat': 'text', 'Contents': message, 'EntryContext': outputs}`` and calls
    ``sys.exit(0)`` (XSOAR marks the command failed from the entry type, not from the exit code). For fetch and
    long-running commands it raises ``Exception(message)`` instead. Sensitive strings are masked in both.
    """
    text = str(message)
    demisto.error(text)
    if error:
        trace = traceback.format_exc()
        demisto.error(trace if trace and trace.strip() != 'NoneType: None' else str(error))
    if demisto.command() in _SERVER_HANDLED_COMMANDS:
        raise Exception(text)  # noqa: TRY002 - XSOAR raises a plain Exception here
    demisto.results({
        'Type': EntryType.ERROR,
        'ContentsFormat': EntryFormat.TEXT,
        'Contents': text,
        'EntryContext': outputs,
    })
    sys.exit(0)


def add_sensitive_log_strs(sensitive_str: str) -> None:
    """Register a secret (token, client secret, key...): from now on every ``demisto.debug/info/error`` line and
    every error entry of this run shows ``<XX_REPLACED>`` instead of it."""
    demisto._add_sensitive(sensitive_str)


# ---------------------------------------------------------------------------------------------------------------
# Integration context
# ---------------------------------------------------------------------------------------------------------------
def get_integration_context(sync: bool = True, with_version: bool = False) -> dict:
    """The instance's integration context (a dict). With ``with_version=True``: ``{'context': ..., 'version': n}``
    to pass the version to ``set_integration_context`` for an optimistic-locking write."""
    if is_versioned_context_available():
        versioned = demisto.getIntegrationContextVersioned(sync)
        if with_version:
            return versioned
        return versioned.get('context', {}) or {}
    return demisto.getIntegrationContext()


def set_integration_context(context: dict, sync: bool = True, version: int = -1) -> Any:
    """Replace the integration context. ``version`` (from ``get_integration_context(with_version=True)``) makes
    the write fail with an exception if another run wrote since; -1 writes unconditionally."""
    if is_versioned_context_available():
        return demisto.setIntegrationContextVersioned(context, version, sync)
    return demisto.setIntegrationContext(context)


# ---------------------------------------------------------------------------------------------------------------
# Proxy / TLS
# ---------------------------------------------------------------------------------------------------------------
_PROXY_ENV_VARS = ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy')
_CA_ENV_VARS = ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')


def _with_scheme(url: str) -> str:
    if url and not re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*://', url):
        return 'http://' + url
    return url


def handle_proxy(proxy_param_name: str = 'proxy', checkbox_default_value: bool = False,
                 handle_insecure: bool = True, insecure_param_name: str | None = None) -> dict:
    """The ``proxies`` dict for requests, from the instance's proxy checkbox.

    When ``params[proxy_param_name]`` (default ``checkbox_default_value``) is true: returns
    ``{'http': $HTTP_PROXY or $http_proxy, 'https': $HTTPS_PROXY or $https_proxy}`` (the system proxy XSOAR sets
    in the container; 'http://' added when the scheme is missing). Otherwise removes those environment variables
    so requests goes direct, and returns ``{}``. With ``handle_insecure``, when the ``insecure`` (or ``unsecure``,
    or ``insecure_param_name``) param is true, it also removes REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.
    """
    params = demisto.params()
    proxies: dict = {}
    if params.get(proxy_param_name, checkbox_default_value):
        proxies = {
            'http': _with_scheme(os.environ.get('HTTP_PROXY') or os.environ.get('http_proxy', '')),
            'https': _with_scheme(os.environ.get('HTTPS_PROXY') or os.environ.get('https_proxy', '')),
        }
    else:
        for var in _PROXY_ENV_VARS:
            os.environ.pop(var, None)
    if handle_insecure:
        names = (insecure_param_name,) if insecure_param_name else ('insecure', 'unsecure')
        if any(params.get(name, False) for name in names):
            for var in _CA_ENV_VARS:
                os.environ.pop(var, None)
    return proxies


# ---------------------------------------------------------------------------------------------------------------
# Unified-script bookkeeping (added by the foundation engineer for the build smoke test)
# ---------------------------------------------------------------------------------------------------------------
def register_module_line(module_name: str, start_end: str, line: int, wrapper: int = 0) -> None:
    """`demisto-sdk prepare-content` brackets the embedded code of a unified YAML with
    ``register_module_line('<Name>', 'start' | 'end', __line__())``; XSOAR uses it to map traceback line numbers
    back to the integration's own file. Here it only has to exist: a no-op."""


def __line__() -> int:
    """The caller's line number (used with ``register_module_line``). Not exported by ``import *`` (leading
    underscore): the harness puts it into the unified script's namespace explicitly."""
    frame = sys._getframe(1)
    return frame.f_lineno if frame else 0
