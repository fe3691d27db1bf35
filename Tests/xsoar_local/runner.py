"""The local runner: run one integration command like XSOAR would, from a terminal.

    python -m Tests.xsoar_local run <command> [name=value ...] --params FILE [--state FILE] [--json]
                                   [--integration PATH] [--no-poll] [--poll-interval SECONDS] [--color/--no-color]

An *instance* is a params file (YAML) plus a state file (the integration context kept between runs, like a saved
XSOAR instance). The params file maps each instance param to its value, exactly as XSOAR passes them:

    subscription_id: 00000000-0000-0000-0000-000000000000
    auth_id: {identifier: '', password: 'env:AZURE_CLIENT_ID'}     # type 9 credentials: {identifier, password}
    enc_key: {identifier: '', password: 'env:AZURE_CLIENT_SECRET'} # secret taken from the environment
    private_key: {identifier: '', password: 'file:./key.pem'}      # file content (path relative to this file)
    _env: {REQUESTS_CA_BUNDLE: /path/ca.pem}                       # optional: environment of the integration

Any string value ``env:NAME`` is replaced by the environment variable NAME (an error if it is not set), and
``file:PATH`` by the content of that file, so no secret needs to be written in the file. The reserved key ``_env``
is not a param: it sets environment variables for the integration's process.

Every entry is printed as the war room shows it (markdown rendered for the terminal, errors in red when the
output is a terminal or with --color). Polling (ScheduledCommand) is followed: the scheduled command is run again
with its new args after its interval (or --poll-interval), with progress on one line, until done or the timeout.
With --json, stdout carries one JSON document {"ok", "context", "runs": [...]} and the rendering goes to stderr.

Exit code: 0 when no error entry was returned, 1 when one was (or polling timed out), 2 for a usage or params-file
error, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from typing import Any, TextIO

import yaml

from Tests.xsoar_local.harness import RunResult, XsoarInstance, merge_entry_context
from Tests.xsoar_local.playbooks.engine import (DEFAULT_INCIDENT_ID, Observer, PlaybookResult, TaskRecord,
                                                run_playbook)
from Tests.xsoar_local.playbooks.model import PlaybookLoadError, default_search_dirs

_ARG_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')


class ParamsFileError(Exception):
    """The params file cannot be used (missing, not a mapping, unset environment variable...)."""


# ---------------------------------------------------------------------------------------------------------------
# Params file
# ---------------------------------------------------------------------------------------------------------------
def _resolve_value(value: Any, where: str, base_dir: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_value(v, f'{where}.{k}', base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_value(v, f'{where}[{i}]', base_dir) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith('env:'):
        name = value[4:].strip()
        if name not in os.environ:
            raise ParamsFileError(f'{where} refers to the environment variable {name}, which is not set')
        return os.environ[name]
    if isinstance(value, str) and value.startswith('file:'):
        path = os.path.expanduser(value[5:].strip())
        if not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        try:
            with open(path, encoding='utf-8') as handle:
                return handle.read()
        except OSError as exc:
            raise ParamsFileError(f'{where} refers to the file {path}, which cannot be read: '
                                  f'{exc.strerror}') from None
    return value


def load_params(path: str) -> tuple[dict, dict]:
    """Read an instance params file: returns (params, environment for the integration's process).

    ``env:NAME`` and ``file:PATH`` string values are resolved; ``_env`` holds the environment variables.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ParamsFileError(f'cannot read the params file {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise ParamsFileError(f'the params file {path} is not valid YAML: {exc}') from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsFileError(f'the params file {path} must be a mapping of param name to value')
    base_dir = os.path.dirname(os.path.abspath(path))
    env = data.pop('_env', None) or {}
    if not isinstance(env, dict):
        raise ParamsFileError('_env in the params file must be a mapping of variable name to value')
    params = {name: _resolve_value(value, name, base_dir) for name, value in data.items()}
    env = {name: (None if value is None else str(_resolve_value(value, f'_env.{name}', base_dir)))
           for name, value in env.items()}
    return params, env


def parse_command_args(items: list[str]) -> dict:
    """``['ip=1.2.3.4', 'nsg_name=edge-nsg']`` -> ``{'ip': '1.2.3.4', 'nsg_name': 'edge-nsg'}``. Values stay
    strings, as XSOAR passes war-room arguments (lists as 'a,b' or a JSON list). Raises ValueError."""
    args: dict = {}
    for item in items:
        name, sep, value = item.partition('=')
        if not sep or not _ARG_NAME_RE.match(name):
            raise ValueError(f'argument {item!r} is not of the form name=value')
        if name in args:
            raise ValueError(f'argument {name!r} is given twice')
        args[name] = value
    return args


# ---------------------------------------------------------------------------------------------------------------
# Terminal rendering
# ---------------------------------------------------------------------------------------------------------------
class Style:
    """ANSI styles, or nothing when colour is off."""

    def __init__(self, color: bool):
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f'\033[{code}m{text}\033[0m' if self.color else text

    def bold(self, text: str) -> str:
        return self._wrap('1', text)

    def red(self, text: str) -> str:
        return self._wrap('31', text)

    def green(self, text: str) -> str:
        return self._wrap('32', text)

    def dim(self, text: str) -> str:
        return self._wrap('2', text)

    def cyan(self, text: str) -> str:
        return self._wrap('36', text)


_MD_ESCAPE_RE = re.compile(r'\\([!-/:-@\[-`{-~])')   # CommonMark: a backslash before ASCII punctuation
_CODE_SPAN_RE = re.compile(r'(`+)(.+?)\1')


def unescape_markdown(text: str) -> str:
    """What a markdown viewer shows for backslash escapes (``edge\\-nsg`` -> ``edge-nsg``); code spans are left
    as they are, as in CommonMark."""
    out, last = [], 0
    for span in _CODE_SPAN_RE.finditer(text):
        out.append(_MD_ESCAPE_RE.sub(r'\1', text[last:span.start()]))
        out.append(span.group(0))
        last = span.end()
    out.append(_MD_ESCAPE_RE.sub(r'\1', text[last:]))
    return ''.join(out)


def _split_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith('|'):
        body = body[1:]
    if body.endswith('|') and not body.endswith('\\|'):
        body = body[:-1]
    cells = re.split(r'(?<!\\)\|', body)
    return [unescape_markdown(c.strip()).replace('<br>', ' / ') for c in cells]


def _render_table(rows: list[list[str]], style: Style, width: int) -> list[str]:
    header, body = rows[0], rows[1:]
    columns = len(header)
    body = [(r + [''] * columns)[:columns] for r in body]
    widths = [max(len(str(x)) for x in [header[i]] + [r[i] for r in body]) for i in range(columns)]
    total = sum(widths) + 3 * (columns - 1)
    if total <= width or columns == 1:
        def line(cells: list[str], bold: bool = False) -> str:
            padded = [c.ljust(w) if i < columns - 1 else c for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
            return ' | '.join(style.bold(p) if bold else p for p in padded)

        out = [line(header, bold=True), '-+-'.join('-' * w for w in widths)]
        out.extend(line(row) for row in body)
        if not body:
            out.append(style.dim('(no rows)'))
        return out
    # Too wide for the terminal: one block per row, "Header: value".
    label = max(len(h) for h in header)
    out = []
    for index, row in enumerate(body):
        if index:
            out.append('')
        for head, cell in zip(header, row, strict=True):
            out.append(f'{style.bold(head.ljust(label))}  {cell}')
    return out


def render_markdown(text: str, style: Style, width: int | None = None) -> str:
    """Markdown as a terminal shows it: headings in bold, tables aligned (or one block per row when too wide),
    ``**bold**`` in bold, backslash escapes and ``<br>`` undone."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith('|'):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith('|'):
                block.append(lines[i])
                i += 1
            rows = [_split_row(b) for b in block]
            rows = [r for r in rows if not all(re.fullmatch(r':?-{3,}:?', c) for c in r if c)]
            if rows:
                out.extend(_render_table(rows, style, width))
            continue
        heading = re.match(r'^\s*(#{1,6})\s+(.*)$', line)
        if heading:
            out.append(style.bold(heading.group(2)))
        else:
            bolded = re.sub(r'\*\*(.+?)\*\*', lambda m: style.bold(m.group(1)), line)
            out.append(unescape_markdown(bolded).replace('<br>', ' / '))
        i += 1
    return '\n'.join(out)


def render_entry(entry: dict, style: Style) -> str:
    """One war-room entry as text."""
    if entry.get('Type') == 4:
        return style.red('ERROR: ' + str(entry.get('Contents') or ''))
    readable = entry.get('HumanReadable')
    if readable:
        return render_markdown(str(readable), style)
    contents = entry.get('Contents')
    if isinstance(contents, str):
        return render_markdown(contents, style)
    if contents is None:
        return style.dim('(empty entry)')
    return json.dumps(contents, indent=2, sort_keys=True, default=str)


class Printer:
    """Writes entries and a one-line polling progress indicator to ``stream``."""

    def __init__(self, stream: TextIO, style: Style, live: bool):
        self.stream = stream
        self.style = style
        self.live = live  # a terminal: the progress line is rewritten in place
        self._progress_shown = False

    def _end_progress(self) -> None:
        if self._progress_shown and self.live:
            self.stream.write('\r\033[K')
        self._progress_shown = False

    def header(self, command: str, args: dict) -> None:
        self._end_progress()
        shown = ' '.join(f'{k}={v}' for k, v in args.items())
        self.stream.write(self.style.cyan(f'>>> !{command} {shown}'.rstrip()) + '\n')

    def entries(self, result: RunResult) -> None:
        self._end_progress()
        for entry in result.entries:
            self.stream.write(render_entry(entry, self.style) + '\n\n')
        self.stream.flush()

    def progress(self, text: str) -> None:
        if self.live:
            self.stream.write('\r\033[K' + self.style.dim(text))
            self._progress_shown = True
        else:
            self.stream.write(self.style.dim(text) + '\n')
        self.stream.flush()

    def done(self) -> None:
        if self._progress_shown and self.live:
            self.stream.write('\n')
        self._progress_shown = False
        self.stream.flush()


def _first_line(result: RunResult) -> str:
    for raw in result.readable.splitlines():
        line = raw.strip().lstrip('#').strip()
        if line and not line.startswith('|'):
            return line
    return ''


class PollingFollower:
    """Prints the runs of one command as the war room shows them: the first run's entries, then one progress line
    per polling run, then the last run's entries (``on_run`` of ``XsoarInstance.run_polling``)."""

    def __init__(self, printer: Printer, poll_interval: float | None, no_poll: bool = False):
        self.printer = printer
        self.poll_interval = poll_interval
        self.no_poll = no_poll

    def __call__(self, index: int, result: RunResult) -> None:
        scheduled = result.scheduled
        if index == 0 or not scheduled:
            if index:
                self.printer.done()
            self.printer.entries(result)
        if scheduled and not self.no_poll:
            wait = self.poll_interval if self.poll_interval is not None else scheduled['next_run_in_seconds']
            status = _first_line(result)
            self.printer.progress(f'polling {scheduled["command"]}: run {index + 1} done, next in {wait:g}s'
                                  + (f' - {status}' if status else ''))


# ---------------------------------------------------------------------------------------------------------------
# Playbook runs
# ---------------------------------------------------------------------------------------------------------------
class PlaybookPrinter(Observer):
    """Prints each task of a playbook run as it runs: its name, what it did, its entries, the branch taken."""

    def __init__(self, printer: Printer, poll_interval: float | None):
        self.printer = printer
        self.style = printer.style
        self.poll_interval = poll_interval
        self._follower: PollingFollower | None = None

    def _write(self, depth: int, text: str) -> None:
        indent = '  ' * depth
        self.printer.stream.write('\n'.join(indent + line for line in text.splitlines()) + '\n')
        self.printer.stream.flush()

    def task_started(self, record: TaskRecord) -> None:
        if record.kind != 'start':
            label = record.name or '(unnamed)'
            self._write(record.depth, self.style.bold(f'[{record.task_id}] {label}') + self.style.dim(f'  ({record.kind})'))
        self._follower = None

    def command_run(self, record: TaskRecord, index: int, result: RunResult) -> None:
        if record.quiet:
            result = RunResult(result.command, result.args, [e for e in result.entries if e.get('Type') == 4])
        if self._follower is None:
            self._write(record.depth + 1, self.style.cyan(self._shown(record)))
            self._follower = PollingFollower(_IndentedPrinter(self.printer, record.depth + 2), self.poll_interval)
        self._follower(index, result)

    @staticmethod
    def _shown(record: TaskRecord) -> str:
        """The command line of a command or script task (quiet mode: without its arguments)."""
        return record.detail.split(' ', 1)[0] + ' (arguments not shown)' if record.quiet else record.detail

    def task_finished(self, record: TaskRecord) -> None:
        depth = record.depth + 1
        if self._follower is not None:
            self._follower.printer.done()
        elif record.kind == 'script':
            self._write(depth, self.style.cyan(self._shown(record)))
            for entry in record.entries:
                if not record.quiet or entry.get('Type') == 4:
                    self._write(depth + 1, render_entry(entry, self.style))
        if record.quiet:
            self._write(depth, self.style.dim('(quiet mode: entries other than errors not shown)'))
        elif record.detail and record.kind not in ('start', 'playbook'):
            self._write(depth, record.detail)
        if record.kind == 'playbook' and record.detail:
            self._write(depth, record.detail)
        if record.status == 'error':
            outcome = f'handled: -> {record.branch}' if record.handled else 'the playbook stops here'
            self._write(depth, self.style.red(f'ERROR: {record.error}') + f'  ({outcome})')
        elif record.status == 'waiting':
            self._write(depth, self.style.bold('WAITING') + (' (sub-playbook)' if record.kind == 'playbook' else ''))
        elif record.status == 'skipped':
            self._write(depth, self.style.dim('skipped'))
        elif record.branch and record.branch != '#none#':
            self._write(depth, self.style.green(f'-> {record.branch}'))

    def summary(self, result: PlaybookResult) -> None:
        stream = self.printer.stream
        colour = {'completed': self.style.green, 'failed': self.style.red}.get(result.status, self.style.bold)
        ran = len([t for t in result.tasks if t.kind != 'start'])
        stream.write('\n' + colour(f'Playbook {result.playbook!r}: {result.status}') + f' ({ran} task(s) ran, '
                     f"incident {result.incident.get('id')})\n")
        for record in result.errors:
            stream.write(self.style.red(f'  failed: [{record.task_id}] {record.name}: {record.error}') + '\n')
        for record in result.waiting:
            if record.kind != 'playbook':
                stream.write(f'  waiting: [{record.task_id}] {record.name}: {record.detail}\n')
        stream.write(self.style.bold('\nPlaybook outputs') + '\n')
        if not result.output_roots:
            stream.write(self.style.dim('  (the playbook declares none)') + '\n')
        for path in result.output_roots:
            shown = json.dumps(result.outputs.get(path), indent=2, sort_keys=True, default=str)
            stream.write(f'  {path}: ' + shown.replace('\n', '\n  ') + '\n')
        stream.write(self.style.bold('\nContext') + '\n')
        stream.write(json.dumps(result.context, indent=2, sort_keys=True, default=str) + '\n')
        stream.flush()


class _IndentedPrinter(Printer):
    """A Printer whose entries and progress lines are indented (a command inside a playbook task)."""

    def __init__(self, base: Printer, depth: int):
        super().__init__(base.stream, base.style, base.live)
        self.indent = '  ' * depth

    def entries(self, result: RunResult) -> None:
        self._end_progress()
        for entry in result.entries:
            text = render_entry(entry, self.style)
            self.stream.write('\n'.join(self.indent + line for line in text.splitlines()) + '\n')
        self.stream.flush()

    def progress(self, text: str) -> None:
        super().progress(self.indent + text)


def parse_answers(items: list[str]) -> dict:
    """``['Approve?=Yes', '4=done']`` -> ``{'Approve?': 'Yes', '4': 'done'}`` (split at the first '='; a task whose
    name contains '=' is named by its ID). Raises ValueError."""
    answers: dict = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise ValueError(f'--answer {item!r} is not of the form TASK=VALUE')
        if key in answers:
            raise ValueError(f'--answer for {key!r} is given twice')
        answers[key] = value
    return answers


# ---------------------------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------------------------
def _instance_options(parser: argparse.ArgumentParser, incident_help: str) -> None:
    parser.add_argument('--params', required=True, metavar='FILE',
                        help='instance params (YAML); string values env:NAME / file:PATH are resolved')
    parser.add_argument('--state', metavar='FILE',
                        help='integration context file kept between runs (default: <params file>.state.json)')
    parser.add_argument('--no-state', action='store_true', help='keep the integration context in memory only')
    parser.add_argument('--integration', metavar='PATH',
                        help='the integration .py or the unified .yml from `tox -e build` (default: the pack source)')
    parser.add_argument('--incident', metavar='ID', help=incident_help)
    color = parser.add_mutually_exclusive_group()
    color.add_argument('--color', dest='color', action='store_true', default=None, help='always use colours')
    color.add_argument('--no-color', dest='color', action='store_false', help='never use colours')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m Tests.xsoar_local',
        description='Run Cortex XSOAR integration commands and playbooks locally, as XSOAR runs them.')
    sub = parser.add_subparsers(dest='action', required=True)
    run = sub.add_parser('run', help='run one command of the integration',
                         description='Run one integration command with an instance params file.')
    run.add_argument('command', help="the command, e.g. test-module or azure-nsg-block-ip")
    run.add_argument('arguments', nargs='*', metavar='name=value', help='command arguments')
    _instance_options(run, 'run inside this incident (demisto.incident()); default: outside any incident, like a '
                           'command typed in the Playground')
    run.add_argument('--json', action='store_true',
                     help='print one JSON document (entries, context) on stdout; the rendering goes to stderr')
    run.add_argument('--no-poll', action='store_true', help='run once; do not follow a ScheduledCommand')
    run.add_argument('--poll-interval', type=float, metavar='SECONDS',
                     help='wait this long between polls instead of the interval the command asks for')
    run.add_argument('--poll-timeout', type=int, metavar='SECONDS',
                     help='give up polling after this many seconds (default: the command\'s own timeout)')

    playbook = sub.add_parser('playbook', help='run a playbook (YAML) against the integration',
                              description='Run a playbook as XSOAR does, its commands through the integration '
                                          'instance of the params file, in an incident of its own.')
    playbook.add_argument('playbook', help='the playbook YAML, e.g. Packs/AzureContainment/Playbooks/playbook-...yml')
    _instance_options(playbook, f'the incident the playbook runs in (default: {DEFAULT_INCIDENT_ID})')
    playbook.add_argument('--input', action='append', default=[], metavar='NAME=VALUE',
                          help='a playbook input (repeatable); overrides its default value')
    playbook.add_argument('--answer', action='append', default=[], metavar='TASK=VALUE',
                          help='answer a manual task (done), a manual condition (a branch label) or a data collection '
                               'task (a JSON list, one per question); TASK is its name or its top-level task ID')
    playbook.add_argument('--playbooks-dir', action='append', default=[], metavar='DIR',
                          help='look for sub-playbooks here too (default: the playbook\'s folder and every pack\'s '
                               'Playbooks and TestPlaybooks)')
    playbook.add_argument('--poll-interval', type=float, metavar='SECONDS',
                          help='wait at most this long wherever XSOAR would wait (polling, retry and loop intervals)')
    playbook.add_argument('--json', action='store_true',
                          help='print one JSON document (status, tasks, outputs, context) on stdout; the rendering '
                               'goes to stderr')
    return parser


def default_state_path(params_path: str) -> str:
    """``instance.yml`` -> ``instance.state.json`` next to it."""
    root, _ext = os.path.splitext(os.path.abspath(params_path))
    return root + '.state.json'


def _instance(options: argparse.Namespace, stderr: TextIO, incident: str | None) -> XsoarInstance | None:
    """The XsoarInstance of the command line (None after printing a usage or params-file error)."""
    try:
        params, env = load_params(options.params)
    except ParamsFileError as exc:
        stderr.write(f'error: {exc}\n')
        return None
    if options.integration and not os.path.exists(options.integration):
        stderr.write(f'error: no such integration file: {options.integration}\n')
        return None
    state = None if options.no_state else (options.state or default_state_path(options.params))
    try:
        return XsoarInstance(params, integration=options.integration, state_file=state, env=env, incident=incident)
    except ValueError as exc:
        stderr.write(f'error: --incident: {exc}\n')
        return None


def _printer(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> Printer:
    human = stderr if options.json else stdout
    color = options.color if options.color is not None else human.isatty()
    return Printer(human, Style(color), live=human.isatty())


def run_command(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Execute a parsed ``run`` command line; returns the exit code."""
    try:
        args = parse_command_args(options.arguments)
    except ValueError as exc:
        stderr.write(f'error: {exc}\n')
        return 2
    instance = _instance(options, stderr, options.incident)
    if instance is None:
        return 2
    printer = _printer(options, stdout, stderr)
    on_run = PollingFollower(printer, options.poll_interval, options.no_poll)
    printer.header(options.command, args)
    if options.no_poll:
        results = [instance.run(options.command, args)]
        on_run(0, results[0])
        if results[0].scheduled:
            sched = results[0].scheduled
            printer.progress(f'scheduled (not followed, --no-poll): !{sched["command"]} '
                             f'{json.dumps(sched["args"], sort_keys=True)} in {sched["next_run_in_seconds"]}s')
            printer.done()
    else:
        sleep = options.poll_interval is None or options.poll_interval > 0
        results = instance.run_polling(options.command, args, sleep=sleep, timeout_seconds=options.poll_timeout,
                                       max_sleep=options.poll_interval, on_run=on_run)
        if results[-1].timed_out:
            printer.entries(results[-1])  # the polling-timeout error
        printer.done()

    ok = all(r.ok for r in results)
    if options.json:
        document = {
            'ok': ok,
            'command': options.command,
            'args': args,
            'context': merge_entry_context([e for r in results for e in r.entries]),
            'runs': [r.to_dict() for r in results],
        }
        stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + '\n')
        stdout.flush()
    return 0 if ok else 1


def run_playbook_command(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Execute a parsed ``playbook`` command line; returns the exit code (0 only when the playbook completed)."""
    try:
        inputs = parse_command_args(options.input)
        answers = parse_answers(options.answer)
    except ValueError as exc:
        stderr.write(f'error: {exc}\n')
        return 2
    incident_id = options.incident if options.incident is not None else DEFAULT_INCIDENT_ID
    instance = _instance(options, stderr, incident_id)
    if instance is None:
        return 2
    printer = _printer(options, stdout, stderr)
    observer = PlaybookPrinter(printer, options.poll_interval)
    search_dirs = [os.path.abspath(d) for d in options.playbooks_dir] + default_search_dirs()
    try:
        result = run_playbook(instance, options.playbook, inputs, answers, incident_id, search_dirs,
                              options.poll_interval, observer)
    except (PlaybookLoadError, ValueError) as exc:
        stderr.write(f'error: {exc}\n')
        return 2
    observer.summary(result)
    if options.json:
        stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str) + '\n')
        stdout.flush()
    return 0 if result.ok else 1


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of ``python -m Tests.xsoar_local``; returns the exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    options = parser.parse_args(argv)
    actions = {'run': run_command, 'playbook': run_playbook_command}
    try:
        return actions[options.action](options, stdout, stderr)
    except KeyboardInterrupt:
        stderr.write('\ninterrupted\n')
        return 130
