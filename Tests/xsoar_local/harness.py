"""Run an integration the way XSOAR runs it, in this process (or in a child process), without XSOAR.

What XSOAR does for every command, and what :meth:`XsoarInstance.run` reproduces:

* a fresh interpreter per command (a new Docker process): the integration's module is created anew for every
  run, so no module-level state survives between runs; only the *integration context* does;
* the instance's params, the command's args, its name and the incident it runs in (``demisto.incident()``; none:
  the Playground, outside any incident) are handed over through ``demistomock``;
* the script runs ``main()``; ``return_error`` posts an error entry and calls ``sys.exit(0)``; an exception that
  escapes ``main()`` becomes an error entry (XSOAR shows the script as failed);
* entries, server-log lines and the integration context are collected afterwards.

The integration context of an instance is shared by every run of that instance, also parallel runs from many
incidents. With ``state_file`` it is kept in a JSON file under an ``fcntl`` lock, so several processes that share
one instance see each other's writes and a versioned write based on a stale version is refused, exactly the
optimistic concurrency XSOAR offers (``get_integration_context(with_version=True)`` /
``set_integration_context(ctx, version=v)``).

``integration`` is the integration's ``.py`` source (default: the pack's AzureContainment.py) or the unified
``.yml`` that ``demisto-sdk prepare-content`` writes (``tox -e build``): its ``script.script`` text is run with
CommonServerPython's names already in scope, as XSOAR does (prepare-content strips the import lines).
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_XSOAR_LOCAL_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(_XSOAR_LOCAL_DIR))
DEFAULT_INTEGRATION = os.path.join(REPO_ROOT, 'Packs', 'AzureContainment', 'Integrations', 'AzureContainment',
                                   'AzureContainment.py')

# The stand-ins are top-level modules (``import demistomock``), as in XSOAR's container.
if _XSOAR_LOCAL_DIR not in sys.path:
    sys.path.insert(0, _XSOAR_LOCAL_DIR)

import demistomock  # noqa: E402 - after the sys.path insert

DEFAULT_POLLING_TIMEOUT = 600  # XSOAR's default when a ScheduledCommand gives no timeout
_KEY_FIELD_RE = re.compile(r'val\.([\w.]+)\s*==\s*obj\.')
_run_counter = itertools.count(1)
# demistomock, sys.stdout and os.environ are process-wide: in-process runs from several threads take turns.
# For truly parallel runs of one instance use run_in_subprocess (one process each, as XSOAR does).
_RUN_LOCK = threading.RLock()


# ---------------------------------------------------------------------------------------------------------------
# Integration-context store persisted in a file
# ---------------------------------------------------------------------------------------------------------------
class FileContextStore:
    """The integration context of one instance in a JSON file ``{"context": {...}, "version": n}``.

    Every read and write holds an ``fcntl`` lock on ``<path>.lock`` (shared for reads, exclusive for writes),
    and writes replace the file atomically, so parallel processes sharing the file behave like runs sharing
    XSOAR's integration context. Interface as ``demistomock.MemoryContextStore``.
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self._lock_path = self.path + '.lock'
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self, exclusive: bool):
        with open(self._lock_path, 'a+') as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _load(self) -> tuple[dict, int]:
        try:
            with open(self.path, encoding='utf-8') as handle:
                text = handle.read()
        except FileNotFoundError:
            return {}, 0
        if not text.strip():
            return {}, 0
        data = json.loads(text)
        return data.get('context') or {}, int(data.get('version') or 0)

    def read(self) -> tuple[dict, int]:
        """The stored context (``{}`` when the file does not exist yet) and its version."""
        with self._locked(exclusive=False):
            return self._load()

    def write(self, context: dict, expected_version: int = -1) -> int:
        """Store ``context``; -1 writes unconditionally, another version must match the stored one or
        ``demistomock.IntegrationContextVersionConflict`` is raised. Returns the new version."""
        data = json.loads(json.dumps(context if context is not None else {}))
        with self._locked(exclusive=True):
            _current, version = self._load()
            if expected_version not in (-1, None) and int(expected_version) != version:
                raise demistomock.IntegrationContextVersionConflict(
                    f'Integration context version conflict: expected version {expected_version}, '
                    f'stored version is {version}. Read the context again and retry.')
            version += 1
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix='.ctx-', suffix='.json')
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                json.dump({'context': data, 'version': version}, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
            return version


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------
def split_context_key(key: str) -> tuple[str, list[str]]:
    """An EntryContext key as (prefix, key fields): 'A.B(val.IP && val.IP == obj.IP)' -> ('A.B', ['IP'])."""
    if '(' in key and key.endswith(')'):
        prefix, condition = key.split('(', 1)
        return prefix, _KEY_FIELD_RE.findall(condition)
    return key, []


def _get_path(obj: Any, dotted: str) -> Any:
    for part in dotted.split('.'):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def keyed_index(bucket: list, obj: Any, key_fields: list[str]) -> int | None:
    """Where ``obj`` replaces an earlier object of ``bucket``: the index of the first dict whose key fields are all
    set and equal to obj's (what ``Prefix(val.K && val.K == obj.K)`` selects); None when there is none."""
    if not key_fields or not isinstance(obj, dict):
        return None
    for index, existing in enumerate(bucket):
        if isinstance(existing, dict) and all(
                _get_path(existing, f) is not None and _get_path(existing, f) == _get_path(obj, f) for f in key_fields):
            return index
    return None


def merge_entry_context(entries: list[dict]) -> dict:
    """Merge the EntryContext of ``entries`` the way the incident context would hold them.

    Keys are simplified (``Prefix(val.X && val.X == obj.X)`` -> ``Prefix``) and every value is a list of
    objects. With key fields an object replaces the earlier one with the same key values; otherwise it is
    appended.
    """
    merged: dict[str, list] = {}
    for entry in entries:
        for key, value in (entry.get('EntryContext') or {}).items():
            prefix, key_fields = split_context_key(key)
            bucket = merged.setdefault(prefix, [])
            for item in value if isinstance(value, list) else [value]:
                obj = copy.deepcopy(item)
                index = keyed_index(bucket, obj, key_fields)
                if index is None:
                    bucket.append(obj)
                else:
                    bucket[index] = obj
    return merged


def _entry_text(entry: dict) -> str:
    readable = entry.get('HumanReadable')
    if readable:
        return str(readable)
    contents = entry.get('Contents')
    if isinstance(contents, str):
        return contents
    if contents is None:
        return ''
    return json.dumps(contents, indent=2, sort_keys=True, default=str)


@dataclass
class RunResult:
    """What one run of one command produced."""
    command: str
    args: dict
    entries: list[dict] = field(default_factory=list)
    log_records: list[tuple[str, str]] = field(default_factory=list)
    integration_context: dict = field(default_factory=dict)
    exit_code: int | None = None
    traceback: str | None = None
    duration_seconds: float = 0.0
    process_exit_code: int | None = None  # set by run_in_subprocess: the runner's exit code
    timed_out: bool = False  # True for the error result run_polling appends when polling timed out

    @property
    def logs(self) -> list[str]:
        """The demisto.debug/info/error lines (sensitive strings already masked)."""
        return [text for _level, text in self.log_records]

    @property
    def errors(self) -> list[str]:
        """The text of every error entry (Type 4)."""
        return [_entry_text(e) for e in self.entries if e.get('Type') == 4]

    @property
    def ok(self) -> bool:
        """True when the run posted no error entry."""
        return not self.errors

    @property
    def readable(self) -> str:
        """Every entry's HumanReadable (or text Contents) joined with blank lines."""
        return '\n\n'.join(t for t in (_entry_text(e) for e in self.entries) if t)

    @property
    def context(self) -> dict:
        """The merged EntryContext of all entries (see ``merge_entry_context``)."""
        return merge_entry_context(self.entries)

    @property
    def scheduled(self) -> dict | None:
        """The ScheduledCommand of the run (last polling entry): command, args, next_run_in_seconds,
        timeout_in_seconds; None when the run does not ask to be run again."""
        for entry in reversed(self.entries):
            if entry.get('PollingCommand'):
                timeout = entry.get('Timeout')
                return {
                    'command': entry['PollingCommand'],
                    'args': dict(entry.get('PollingArgs') or {}),
                    'next_run_in_seconds': int(entry.get('NextRun') or 0),
                    'timeout_in_seconds': int(timeout) if timeout not in (None, '', 'None') else None,
                }
        return None

    def to_dict(self, include_integration_context: bool = False) -> dict:
        """A JSON-able form (what ``python -m Tests.xsoar_local run --json`` prints for each run). The
        integration context (it may hold tokens) is left out unless asked for."""
        data = {
            'command': self.command,
            'args': self.args,
            'ok': self.ok,
            'entries': self.entries,
            'context': self.context,
            'scheduled': self.scheduled,
            'logs': [{'level': level, 'text': text} for level, text in self.log_records],
            'exit_code': self.exit_code,
            'traceback': self.traceback,
            'duration_seconds': self.duration_seconds,
            'timed_out': self.timed_out,
        }
        if include_integration_context:
            data['integration_context'] = self.integration_context
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        """The inverse of ``to_dict``."""
        return cls(command=data['command'], args=data.get('args') or {}, entries=data.get('entries') or [],
                   log_records=[(r['level'], r['text']) for r in data.get('logs') or []],
                   integration_context=data.get('integration_context') or {}, exit_code=data.get('exit_code'),
                   traceback=data.get('traceback'), duration_seconds=data.get('duration_seconds') or 0.0,
                   timed_out=bool(data.get('timed_out')))


def polling_timeout_result(command: str, args: dict, timeout: int) -> RunResult:
    """The error XSOAR reports when a polling command is still scheduled after its timeout."""
    return RunResult(command=command, args=args, timed_out=True, entries=[{
        'Type': 4, 'ContentsFormat': 'text',
        'Contents': f'Polling of {command} timed out after {timeout} seconds; the operation may still be running.',
        'EntryContext': None}])


# ---------------------------------------------------------------------------------------------------------------
# Loading the integration
# ---------------------------------------------------------------------------------------------------------------
def _load_source(integration: str) -> tuple[str, str, bool]:
    """(code, filename for tracebacks, whether CommonServerPython's names must be put in scope first)."""
    path = os.path.abspath(integration)
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    if path.endswith(('.yml', '.yaml')):
        import yaml  # only needed for the unified YAML
        document = yaml.safe_load(text) or {}
        script = (document.get('script') or {}).get('script')
        if not script or not isinstance(script, str) or script.strip() in ('', '-'):
            raise ValueError(f'{integration}: no embedded script.script (is this a unified YAML from '
                             f'`demisto-sdk prepare-content`?)')
        return script, f'{path}#script.script', True
    return text, path, False


@contextlib.contextmanager
def _process_environment(env: dict | None):
    """Apply ``env`` (None values remove a variable) and restore os.environ afterwards (the integration's
    handle_proxy may remove variables, as it does in its own container)."""
    saved = dict(os.environ)
    try:
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _LineCollector(io.TextIOBase):
    """Captures what the integration prints (XSOAR sends a script's stdout to the server log)."""

    def __init__(self) -> None:
        self.buffer_text = ''

    def write(self, text: str) -> int:
        self.buffer_text += text
        return len(text)

    def lines(self) -> list[str]:
        return [line for line in self.buffer_text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------------------------
# The incident a command runs in
# ---------------------------------------------------------------------------------------------------------------
def new_incident(incident_id: str, name: str | None = None, playbook_id: str = '',
                 created: datetime | None = None) -> dict:
    """An incident as ``demisto.incident()`` returns it inside an incident (the fields of XSOAR's incident object
    that matter here): ``id`` (XSOAR's incident IDs are strings), ``name``, ``created``/``occurred``/``modified``
    (RFC 3339, UTC), ``type`` Unclassified, ``severity`` 0, ``status`` 1 (active), ``labels``, ``CustomFields``,
    ``investigationId`` (= id), ``isPlayground`` false and the ``playbookId`` running in it."""
    incident_id = str(incident_id).strip()
    if not incident_id:
        raise ValueError('an incident ID cannot be empty (without an incident, pass none: the Playground)')
    stamp = (created or datetime.now(UTC)).astimezone(UTC).isoformat().replace('+00:00', 'Z')
    return {
        'id': incident_id, 'name': name or f'Local incident {incident_id}', 'type': 'Unclassified',
        'created': stamp, 'occurred': stamp, 'modified': stamp, 'severity': 0, 'status': 1, 'labels': [],
        'CustomFields': {}, 'investigationId': incident_id, 'isPlayground': False, 'playbookId': playbook_id,
        'sourceBrand': 'Manual', 'sourceInstance': '',
    }


# ---------------------------------------------------------------------------------------------------------------
# The instance
# ---------------------------------------------------------------------------------------------------------------
class XsoarInstance:
    """One configured integration instance, run locally.

    ``XsoarInstance(params, integration=None, state_file=None, env=None)``: ``params`` as XSOAR passes them
    (type 9 credentials as ``{'identifier': ..., 'password': ...}``); ``integration`` the .py source (default: the
    pack's) or a unified .yml; ``state_file`` keeps the integration context between runs and processes (without
    it the context lives in memory, per instance object); ``env`` environment variables set for each run (e.g.
    ``REQUESTS_CA_BUNDLE``; None removes one). ``version`` is the server version the integration sees.
    ``incident`` is the incident every run happens in (an ID, or a dict as ``new_incident`` builds it); None: the
    Playground, outside any incident (a war-room command). ``run(..., incident=...)`` overrides it for one run.
    """

    def __init__(self, params: dict, integration: str | None = None, state_file: str | None = None,
                 env: dict | None = None, version: str = '8.9.0', instance_name: str = 'AzureContainment_local',
                 incident: str | dict | None = None):
        self.params = copy.deepcopy(params or {})
        self.incident: dict | None = new_incident(incident) if isinstance(incident, str) else incident
        self.integration = os.path.abspath(integration or DEFAULT_INTEGRATION)
        self.state_file = os.path.abspath(state_file) if state_file else None
        self.env = dict(env or {})
        self.version = version
        self.instance_name = instance_name
        self._store: Any = FileContextStore(self.state_file) if self.state_file else demistomock.MemoryContextStore()

    # -- integration context --------------------------------------------------------------------------------
    @property
    def integration_context(self) -> dict:
        """The instance's integration context as stored now (a copy)."""
        return self._store.read()[0]

    @integration_context.setter
    def integration_context(self, value: dict) -> None:
        self._store.write(value, -1)

    @property
    def integration_context_version(self) -> int:
        """The version of the stored integration context (bumped by every write)."""
        return self._store.read()[1]

    # -- runs -----------------------------------------------------------------------------------------------
    def run(self, command: str, args: dict | None = None, incident: dict | None = None) -> RunResult:
        """Run ``command`` with ``args`` once, in this process, in a fresh module; return what it produced.
        ``incident``: the incident of this run (default: the instance's).

        Runs from several threads are serialised (the simulated runtime is process-wide); for parallel runs use
        ``run_in_subprocess``.
        """
        with _RUN_LOCK:
            return self._run_locked(command, args, incident if incident is not None else self.incident)

    def _run_locked(self, command: str, args: dict | None, incident: dict | None) -> RunResult:
        args = dict(args or {})
        code, filename, needs_csp_names = _load_source(self.integration)
        module_name = f'_xsoar_integration_run_{next(_run_counter)}'
        module = types.ModuleType(module_name)
        module.__file__ = filename
        demistomock._reset(params=self.params, args=args, command=command, context_store=self._store,
                           version={'version': self.version, 'buildNumber': '1000000', 'platform': 'xsoar'},
                           instance_name=self.instance_name, incident=incident)
        result = RunResult(command=command, args=args)
        captured = _LineCollector()
        started = time.monotonic()
        sys.modules[module_name] = module
        try:
            with _process_environment(self.env), contextlib.redirect_stdout(captured):
                try:
                    if needs_csp_names:
                        # XSOAR puts CommonServerPython (and demistomock as `demisto`) in front of the script.
                        exec('import demistomock as demisto\nfrom CommonServerPython import *\n'
                             'from CommonServerPython import __line__\n',  # noqa: S102
                             module.__dict__)
                    exec(compile(code, filename, 'exec'), module.__dict__)  # noqa: S102 - running the script
                    main = module.__dict__.get('main')
                    if not callable(main):
                        raise RuntimeError(f'{self.integration} defines no main()')
                    main()
                    result.exit_code = 0
                except SystemExit as exited:
                    code_value = exited.code
                    result.exit_code = code_value if isinstance(code_value, int) else (0 if code_value is None else 1)
                    if result.exit_code != 0 and not any(e.get('Type') == 4 for e in demistomock._entries):
                        demistomock.results({'Type': 4, 'ContentsFormat': 'text', 'EntryContext': None,
                                             'Contents': f'Script exited with code {result.exit_code}'})
                except Exception as exc:  # the script crashed: XSOAR shows it as a failed command
                    result.exit_code = 1
                    result.traceback = demistomock._mask(traceback.format_exc())
                    demistomock.error(result.traceback)
                    demistomock.results({'Type': 4, 'ContentsFormat': 'text', 'EntryContext': None,
                                         'Contents': f'Script failed to run: {type(exc).__name__}: {exc}'})
        finally:
            sys.modules.pop(module_name, None)
            result.duration_seconds = time.monotonic() - started
        for line in captured.lines():
            demistomock._logs.append(('stdout', demistomock._mask(line)))
        result.entries = copy.deepcopy(demistomock._entries)
        result.log_records = list(demistomock._logs)
        result.integration_context = self.integration_context
        return result

    def run_polling(self, command: str, args: dict | None = None, sleep: bool = False,
                    timeout_seconds: int | None = None, max_sleep: float | None = None,
                    on_run: Callable[[int, RunResult], None] | None = None, max_runs: int = 1000,
                    incident: dict | None = None) -> list[RunResult]:
        """Run ``command`` and follow its ScheduledCommand like XSOAR: run the scheduled command with the
        returned args after ``next_run_in_seconds`` until a run schedules nothing.

        ``sleep=False`` does not wait (the intervals still count toward the timeout); ``max_sleep`` caps each
        wait. The timeout is ``timeout_seconds`` or the first ScheduledCommand's ``timeout_in_seconds`` (600 when
        it gives none), counted from the first run; when reached, a final error result
        (``polling_timeout_result``) is appended. ``on_run(index, result)`` is called after each run. ``incident``
        as in ``run``.
        """
        results = [self.run(command, args, incident)]
        if on_run:
            on_run(0, results[0])
        elapsed = 0.0  # the schedule's clock: the sum of the intervals XSOAR would have waited
        limit = None
        while results[-1].scheduled:
            scheduled = results[-1].scheduled
            if limit is None:
                limit = timeout_seconds or scheduled.get('timeout_in_seconds') or DEFAULT_POLLING_TIMEOUT
            wait = float(scheduled['next_run_in_seconds'])
            if sleep:
                time.sleep(min(wait, max_sleep) if max_sleep is not None else wait)
            elapsed += wait
            if elapsed > limit or len(results) >= max_runs:
                results.append(polling_timeout_result(scheduled['command'], scheduled['args'], int(limit)))
                break
            results.append(self.run(scheduled['command'], scheduled['args'], incident))
            if on_run:
                on_run(len(results) - 1, results[-1])
        return results

    def run_in_subprocess(self, command: str, args: dict | None = None, poll: bool = False,
                          timeout: float = 300, extra_cli_args: list[str] | None = None,
                          module: str = 'Tests.xsoar_local', extra_env: dict[str, str] | None = None) -> RunResult:
        """Same as ``run`` but in a separate process: ``python -m Tests.xsoar_local run <command> name=value ...
        --params <tmp yaml> --state <file> --json --integration <path> [--incident ID] [--no-poll]``; parses its
        JSON (the child rebuilds the incident from its ID). ``module``: another entry point with the runner's
        command line (Tests.e2e.clock: the same runner on a controlled clock); ``extra_env``: more of the child's
        environment.

        Without a ``state_file`` the in-memory context is handed to the child through a temporary state file and
        read back afterwards. With ``poll=True`` the child follows polling (without sleeping) and the last run is
        returned.
        """
        import yaml
        args = dict(args or {})
        with tempfile.TemporaryDirectory(prefix='xsoar-local-') as tmp:
            params_path = os.path.join(tmp, 'params.yml')
            with open(params_path, 'w', encoding='utf-8') as handle:
                yaml.safe_dump(self.params, handle)
            state_path = self.state_file
            if not state_path:
                state_path = os.path.join(tmp, 'state.json')
                FileContextStore(state_path).write(self.integration_context, -1)
            cli = [sys.executable, '-m', module, 'run', command]
            for name, value in args.items():
                text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
                cli.append(f'{name}={text}')
            cli += ['--params', params_path, '--state', state_path, '--json', '--integration', self.integration]
            if self.incident is not None:
                cli += ['--incident', str(self.incident['id'])]
            cli += ['--poll-interval', '0'] if poll else ['--no-poll']
            cli += list(extra_cli_args or [])
            child_env = dict(os.environ)
            for name, value in {**self.env, **(extra_env or {})}.items():
                if value is None:
                    child_env.pop(name, None)
                else:
                    child_env[name] = str(value)
            child_env['PYTHONPATH'] = os.pathsep.join(
                p for p in (REPO_ROOT, child_env.get('PYTHONPATH', '')) if p)
            completed = subprocess.run(cli, cwd=REPO_ROOT, env=child_env, capture_output=True, text=True,  # noqa: S603
                                       timeout=timeout, check=False)
            try:
                document = json.loads(completed.stdout)
            except ValueError:
                raise RuntimeError(f'the runner printed no JSON (exit {completed.returncode}):\n'
                                   f'{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}') from None
            if not self.state_file:
                self._store.write(FileContextStore(state_path).read()[0], -1)
        result = RunResult.from_dict(document['runs'][-1])
        result.process_exit_code = completed.returncode
        result.integration_context = self.integration_context
        return result
