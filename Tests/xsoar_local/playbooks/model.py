"""Loading a playbook YAML for the local runner (the format: demisto-sdk's playbook schema, XSOAR's Playbook Design
Guide). Every construct a playbook uses is checked here; anything the runner does not implement is refused at load
time with the playbook, the task and the construct named, so nothing is silently skipped when it runs.

Task kinds, from ``type`` and what the task holds:

* ``start``, ``title`` (section headers): nothing to do; ``#none#`` leads on.
* ``regular`` with ``iscommand: true`` / ``script: Brand|||command``: an integration command (``|||command`` or the
  integration's own brand); with ``script``/``scriptName`` naming a built-in script (scripts.py): that script;
  with neither: a manual task, completed by an analyst (``--answer TASK=done``).
* ``condition`` with ``conditions``: built-in conditions, the first label whose groups hold, else ``#default#``;
  without conditions (a manual condition, or an Ask task with a ``message``): the analyst picks a branch
  (``--answer TASK=<label>``).
* ``collection`` (data collection): the analyst answers its questions (``--answer 'TASK=["a", "b"]'``); the answers
  go to ``<task name>.Answers.<n>`` (n from 0, one per question).
* ``playbook``: a sub-playbook (found by ``playbookId``/``playbookName`` in the search directories) with its inputs
  from ``scriptarguments``, a private context with ``separatecontext: true``, and an optional ``loop``
  (``forEach``, or ``builtincondition`` with ``max`` and ``wait``).

Error handling: ``continueonerror: true`` goes on along ``#none#`` after a failure; with ``continueonerrortype:
errorPath`` along ``#error#`` instead. ``retry-count``/``retry-interval`` task arguments retry a failed command.
"""
from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from Tests.xsoar_local.harness import DEFAULT_INTEGRATION, REPO_ROOT
from Tests.xsoar_local.playbooks.dt import UnsupportedConstruct, parse_path
from Tests.xsoar_local.playbooks.scripts import SCRIPTS
from Tests.xsoar_local.playbooks.values import check_groups, check_value

RETRY_ARGS = ('retry-count', 'retry-interval')
# XSOAR task arguments that change how a task runs (Playbook Task Fields, "Advanced"), not implemented here.
UNSUPPORTED_TASK_ARGS = ('using', 'execution-timeout', 'extend-context', 'ignore-outputs', 'auto-extract')
QUESTION_TYPES = ('shortText', 'longText', 'number', 'singleSelect', 'multiSelect')
NONE, DEFAULT, ERROR = '#none#', '#default#', '#error#'

_PLAYBOOK_KEYS = {
    'id', 'version', 'name', 'description', 'starttaskid', 'tasks', 'view', 'inputs', 'outputs', 'tests',
    'fromversion', 'toversion', 'marketplaces', 'tags', 'inputSections', 'outputSections', 'quiet', 'system',
    'deprecated', 'hidden', 'contentitemexportablefields', 'sourceplaybookid', 'vcShouldKeepItemLegacyProdMachine',
    'adopted', 'beta', 'issilent', 'elasticcommonfields', 'supportedModules', 'contentitemfields',
}
# Task fields with no effect on what runs (layout, display, workers), or the ones read below.
_TASK_KEYS = {
    'id', 'taskid', 'type', 'task', 'nexttasks', 'separatecontext', 'view', 'note', 'ignoreworker',
    'skipunavailable', 'quietmode', 'isoversize', 'isautoswitchedtoquietmode', 'continueonerror',
    'continueonerrortype', 'scriptarguments', 'conditions', 'loop', 'form', 'message',
}
# Task fields whose features are not implemented: accepted only empty (as every XSOAR export writes them).
_TASK_KEYS_EMPTY_ONLY = {
    'timertriggers': 'timers', 'results': 'task results', 'fieldMapping': 'field mapping',
    'defaultassigneecomplex': 'a default assignee', 'sla': 'a task SLA', 'slareminder': 'a task reminder',
    'evidencedata': 'marking results as evidence', 'timelineRecord': 'timeline records',
    'reputationcalc': 'reputation calculation', 'restrictedcompletion': 'restricted completion',
}
_TASK_BODY_KEYS = {
    'id', 'version', 'name', 'description', 'iscommand', 'brand', 'script', 'scriptName', 'type', 'playbookName',
    'playbookId', 'tags', 'issystemtask', 'clonedfrom', 'elasticcommonfields', 'playbooktaskmissingcomponent',
    'istaskmissingcomponenterrordismissed',
}
_LOOP_KEYS = {'iscommand', 'builtincondition', 'scriptId', 'scriptArguments', 'exitCondition', 'max', 'wait', 'forEach'}
_QUESTION_KEYS = {'id', 'label', 'labelarg', 'required', 'gridcolumns', 'defaultrows', 'type', 'options',
                  'optionsarg', 'fieldassociated', 'placeholder', 'tooltip', 'readonly'}


class PlaybookLoadError(ValueError):
    """The playbook cannot be run locally; ``problems`` lists every construct refused."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__('the playbook cannot be run locally:\n' + '\n'.join(f'  - {p}' for p in problems))


# ---------------------------------------------------------------------------------------------------------------
# The integration's commands (from its YAML)
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArgSpec:
    name: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class CommandSpec:
    name: str
    args: dict[str, ArgSpec]
    polling: bool = False


@dataclass
class IntegrationSpec:
    """The brand (``commonfields.id``) and the commands of the integration the runner runs."""
    brand: str
    commands: dict[str, CommandSpec]

    @classmethod
    def from_integration(cls, integration: str | None = None) -> IntegrationSpec:
        """From the integration's YAML: the ``.yml`` next to a ``.py`` source, or the unified ``.yml`` itself."""
        path = os.path.abspath(integration or DEFAULT_INTEGRATION)
        if not path.endswith(('.yml', '.yaml')):
            path = os.path.splitext(path)[0] + '.yml'
        with open(path, encoding='utf-8') as handle:
            document = yaml.safe_load(handle) or {}
        commands = {}
        for command in (document.get('script') or {}).get('commands') or []:
            args = {a['name']: ArgSpec(a['name'], bool(a.get('required')), a.get('defaultValue'))
                    for a in command.get('arguments') or []}
            commands[command['name']] = CommandSpec(command['name'], args, bool(command.get('polling')))
        brand = (document.get('commonfields') or {}).get('id') or document.get('name') or ''
        return cls(brand, commands)


# ---------------------------------------------------------------------------------------------------------------
# The loaded playbook
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    label: str
    type: str = 'shortText'
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass
class Loop:
    for_each: bool = False
    exit_groups: list = field(default_factory=list)
    max: int = 100
    wait: float = 1.0


@dataclass
class Task:
    id: str
    name: str
    kind: str  # start title command script manual condition choice collection playbook
    next: dict[str, list[str]] = field(default_factory=dict)
    command: str = ''  # the command, the script, or the sub-playbook's id
    args: dict[str, dict] = field(default_factory=dict)  # argument (or sub-playbook input) -> value spec
    retry_count: int = 0
    retry_interval: float = 0.0
    conditions: list[tuple[str, list]] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    continue_on_error: bool = False
    error_path: bool = False
    playbook: Playbook | None = None
    separate_context: bool = False
    loop: Loop | None = None
    questions: list[Question] = field(default_factory=list)
    unavailable: str = ''  # why the task is skipped (skipunavailable: its integration or script is not here)
    quiet: bool = False
    note: bool = False
    tags: list[str] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.kind in ('manual', 'choice', 'collection')


@dataclass(frozen=True)
class PlaybookInput:
    key: str
    value: dict
    required: bool = False


@dataclass
class Playbook:
    id: str
    name: str
    path: str
    start: str
    tasks: dict[str, Task]
    inputs: list[PlaybookInput]
    outputs: list[str]
    quiet: bool = False

    def output_roots(self) -> list[str]:
        """The declared output paths that no other declared path contains (``A.B`` covers ``A.B.C``)."""
        return [p for p in self.outputs if not any(p != q and p.startswith(q + '.') for q in self.outputs)]

    def all_tasks(self) -> Iterator[tuple[Playbook, Task]]:
        """Every task of this playbook and of its sub-playbooks (each sub-playbook once)."""
        seen: set[int] = set()

        def visit(playbook: Playbook) -> Iterator[tuple[Playbook, Task]]:
            if id(playbook) in seen:
                return
            seen.add(id(playbook))
            for task in playbook.tasks.values():
                yield playbook, task
                if task.playbook:
                    yield from visit(task.playbook)
        return visit(self)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------
def default_search_dirs() -> list[str]:
    """Where sub-playbooks are looked for: every pack's Playbooks and TestPlaybooks folder."""
    return sorted(glob.glob(os.path.join(REPO_ROOT, 'Packs', '*', 'Playbooks'))
                  + glob.glob(os.path.join(REPO_ROOT, 'Packs', '*', 'TestPlaybooks')))


def _empty(value: Any) -> bool:
    """Not set: what XSOAR exports write for an unused field (a value ``{simple: ''}`` included)."""
    return value in (None, '', [], {}, 0, False, {'simple': ''})


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.items.append(f'{where}: {text}')


class PlaybookLoader:
    """``PlaybookLoader(integration, search_dirs).load(path) -> Playbook`` or PlaybookLoadError."""

    def __init__(self, integration: IntegrationSpec, search_dirs: list[str] | None = None):
        self.integration = integration
        self.search_dirs = list(search_dirs if search_dirs is not None else default_search_dirs())
        self._index: dict[str, str] | None = None
        self._loaded: dict[str, Playbook] = {}

    def load(self, path: str) -> Playbook:
        problems = _Problems()
        path = os.path.abspath(path)
        if os.path.dirname(path) not in self.search_dirs:
            self.search_dirs.insert(0, os.path.dirname(path))
            self._index = None
        playbook = self._load(path, problems, [])
        if problems.items or playbook is None:
            raise PlaybookLoadError(problems.items or [f'{path}: not a playbook'])
        return playbook

    # -- files ----------------------------------------------------------------------------------------------
    def _find(self, key: str) -> str | None:
        if self._index is None:
            self._index = {}
            for directory in self.search_dirs:
                for candidate in sorted(glob.glob(os.path.join(directory, '*.yml'))):
                    try:
                        with open(candidate, encoding='utf-8') as handle:
                            document = yaml.safe_load(handle)
                    except (OSError, yaml.YAMLError):
                        continue
                    if isinstance(document, dict) and 'tasks' in document and 'starttaskid' in document:
                        for name in (document.get('id'), document.get('name')):
                            if name:
                                self._index.setdefault(str(name), os.path.abspath(candidate))
        return self._index.get(key)

    def _load(self, path: str, problems: _Problems, stack: list[tuple[str, str]]) -> Playbook | None:
        """``stack``: the (path, name) of the playbooks calling this one."""
        paths = [p for p, _name in stack]
        if path in paths:
            cycle = [name for _path, name in stack[paths.index(path):]]
            problems.add(f'playbook {stack[-1][1]!r}', f"calls itself through {' -> '.join([*cycle, cycle[0]])}; "
                                                       f"recursion is not implemented")
            return None
        if path in self._loaded:
            return self._loaded[path]
        try:
            with open(path, encoding='utf-8') as handle:
                document = yaml.safe_load(handle)
        except OSError as exc:
            problems.add(path, f'cannot be read: {exc.strerror}')
            return None
        except yaml.YAMLError as exc:
            problems.add(path, f'is not valid YAML: {exc}')
            return None
        if not isinstance(document, dict) or 'tasks' not in document:
            problems.add(path, 'is not a playbook (no tasks)')
            return None
        name = str(document.get('name') or document.get('id') or os.path.basename(path))
        where = f'playbook {name!r}'
        for key in sorted(document):
            if ':' in key:
                problems.add(where, f'{key!r}: marketplace-specific fields are not implemented')
            elif key not in _PLAYBOOK_KEYS:
                problems.add(where, f'{key!r} is not implemented')
        if document.get('issilent'):
            problems.add(where, 'silent playbooks (issilent) are not implemented')
        inputs = self._inputs(document.get('inputs') or [], where, problems)
        outputs = [str(o.get('contextPath')) for o in document.get('outputs') or [] if o.get('contextPath')]
        for output in outputs:
            self._path(output, f'{where} output', problems)
        playbook = Playbook(str(document.get('id') or name), name, path, str(document.get('starttaskid', '')),
                            {}, inputs, outputs, bool(document.get('quiet')))
        self._loaded[path] = playbook
        raw_tasks = document.get('tasks') or {}
        for task_id, raw in raw_tasks.items():
            task = self._task(str(task_id), raw, playbook, problems, [*stack, (path, name)])
            if task:
                playbook.tasks[task.id] = task
        self._check_graph(playbook, where, problems)
        return playbook

    @staticmethod
    def _path(text: str, where: str, problems: _Problems) -> None:
        try:
            parse_path(text)
        except UnsupportedConstruct as exc:
            problems.add(where, str(exc))

    @staticmethod
    def _value(spec: Any, where: str, problems: _Problems) -> None:
        try:
            check_value(spec, where)
        except UnsupportedConstruct as exc:
            problems.add(where, str(exc))

    def _inputs(self, raw_inputs: list, where: str, problems: _Problems) -> list[PlaybookInput]:
        inputs = []
        for raw in raw_inputs:
            key = str(raw.get('key') or '')
            if not key:
                problems.add(where, 'an input without a key')
                continue
            if raw.get('playbookInputQuery') is not None:
                problems.add(f'{where} input {key}', 'inputs from an indicator query are not implemented')
            self._value(raw.get('value'), f'{where} input {key}', problems)
            inputs.append(PlaybookInput(key, raw.get('value') or {}, bool(raw.get('required'))))
        return inputs

    # -- tasks ----------------------------------------------------------------------------------------------
    def _task(self, task_id: str, raw: Any, playbook: Playbook, problems: _Problems,
              stack: list[tuple[str, str]]) -> Task | None:
        if not isinstance(raw, dict) or not isinstance(raw.get('task'), dict):
            problems.add(f'playbook {playbook.name!r} task {task_id}', 'malformed (no task body)')
            return None
        body = raw['task']
        name = str(body.get('name') or '')
        where = f'playbook {playbook.name!r} task {task_id} {name!r}'
        if str(raw.get('id', task_id)) != task_id:
            problems.add(where, f"its id {raw.get('id')!r} differs from its key {task_id!r}")
        for key in sorted(raw):
            if ':' in key:
                problems.add(where, f'{key!r}: marketplace-specific fields are not implemented')
            elif key in _TASK_KEYS_EMPTY_ONLY:
                if not _empty(raw[key]):
                    problems.add(where, f'{_TASK_KEYS_EMPTY_ONLY[key]} ({key}) is not implemented')
            elif key not in _TASK_KEYS:
                problems.add(where, f'{key!r} is not implemented')
        for key in sorted(body):
            if ':' in key or key not in _TASK_BODY_KEYS:
                problems.add(where, f'task.{key} is not implemented')
        task = Task(task_id, name, '', next={str(k): [str(t) for t in v or []]
                                             for k, v in (raw.get('nexttasks') or {}).items()})
        # quietmode 1: on, 2: off, 0: as the playbook's quiet setting (quiet tasks show no entries but errors)
        task.quiet = raw.get('quietmode') == 1 or (not raw.get('quietmode') and playbook.quiet)
        task.note = bool(raw.get('note'))
        task.tags = [str(t) for t in body.get('tags') or []]
        task.continue_on_error = bool(raw.get('continueonerror'))
        error_type = raw.get('continueonerrortype') or ''
        if error_type not in ('', 'errorPath'):
            problems.add(where, f'continueonerrortype {error_type!r} is not implemented')
        task.error_path = error_type == 'errorPath'
        if task.error_path and not task.continue_on_error:
            problems.add(where, 'continueonerrortype errorPath without continueonerror: true')
        if task.error_path != (ERROR in task.next):
            problems.add(where, 'an error path needs both continueonerrortype: errorPath and a #error# branch')
        if raw.get('separatecontext') and raw.get('type') != 'playbook':
            problems.add(where, 'separatecontext only applies to sub-playbook tasks')
        if raw.get('loop') and raw.get('type') != 'playbook':
            problems.add(where, 'loops are implemented for sub-playbook tasks only')
        for key, kinds in (('conditions', ('condition',)), ('form', ('collection',)),
                           ('message', ('collection', 'condition'))):
            if not _empty(raw.get(key)) and raw.get('type') not in kinds:
                problems.add(where, f"{key} on a {raw.get('type')} task is not implemented")
        if raw.get('conditions') and not _empty(raw.get('message')):
            problems.add(where, 'a condition task with both conditions and a message (Ask) is not implemented')
        kind = raw.get('type')
        if kind in ('start', 'title'):
            task.kind = str(kind)
            self._no_args(raw, where, problems)
        elif kind == 'regular':
            self._regular(task, raw, body, where, problems)
        elif kind == 'condition':
            self._condition(task, raw, body, where, problems)
        elif kind == 'collection':
            self._collection(task, raw, where, problems)
        elif kind == 'playbook':
            self._subplaybook(task, raw, body, where, problems, stack)
        else:
            problems.add(where, f'task type {kind!r} is not implemented')
            return None
        allowed = {NONE, ERROR}
        if task.kind == 'condition':
            allowed = {label for label, _ in task.conditions} | {DEFAULT, ERROR}
        elif task.kind == 'choice':
            allowed = set(task.next)
        for label in sorted(set(task.next) - allowed):
            problems.add(where, f'branch {label!r} is never taken (no condition has that label)'
                         if task.kind == 'condition' else f'branch {label!r} is not implemented for a {kind} task')
        return task

    @staticmethod
    def _no_args(raw: dict, where: str, problems: _Problems) -> None:
        if raw.get('scriptarguments'):
            problems.add(where, 'scriptarguments on a task that runs nothing have no effect; remove them')

    def _retry(self, task: Task, args: dict, where: str, problems: _Problems) -> dict:
        """Take the retry arguments out of ``args``; refuse the other task-level arguments."""
        rest = dict(args)
        for name in RETRY_ARGS:
            spec = rest.pop(name, None)
            if spec is None:
                continue
            text = str((spec or {}).get('simple', '')).strip()
            try:
                number = float(text)
            except ValueError:
                problems.add(where, f'{name} must be a number, got {text!r}')
                continue
            if name == 'retry-count':
                task.retry_count = int(number)
            else:
                task.retry_interval = number
        for name in UNSUPPORTED_TASK_ARGS:
            if name in rest:
                problems.add(where, f'the task argument {name} is not implemented')
                rest.pop(name)
        return rest

    def _regular(self, task: Task, raw: dict, body: dict, where: str, problems: _Problems) -> None:
        script = str(body.get('script') or body.get('scriptName') or '')
        args = self._retry(task, dict(raw.get('scriptarguments') or {}), where, problems)
        skip = bool(raw.get('skipunavailable'))
        if body.get('iscommand') or '|||' in script:
            brand, _sep, command = script.rpartition('|||')
            task.kind, task.command = 'command', command
            if brand == 'Builtin':
                problems.add(where, f"XSOAR's built-in command {command!r} is not implemented")
                return
            if brand not in ('', self.integration.brand) or command not in self.integration.commands:
                what = f'{brand}|||{command}' if brand else command
                if skip:
                    task.unavailable = f'{what} is not available here (skipunavailable)'
                else:
                    problems.add(where, f'{what} is not a command of the integration {self.integration.brand} '
                                        f'(the only one here)')
                return
            spec = self.integration.commands[command]
            declared = spec.args
        elif script:
            task.kind, task.command = 'script', script
            if script not in SCRIPTS:
                if skip:
                    task.unavailable = f'the script {script} is not available here (skipunavailable)'
                else:
                    problems.add(where, f"the script {script!r} is not implemented (implemented: "
                                        f"{', '.join(SCRIPTS)})")
                return
            declared = {n: ArgSpec(n, required) for n, required in SCRIPTS[script].args.items()}
        else:
            task.kind = 'manual'
            if args or task.retry_count:
                problems.add(where, 'scriptarguments on a manual task have no effect; remove them')
            return
        for name in sorted(set(args) - set(declared)):
            problems.add(where, f'{task.command} has no argument {name!r}')
        for arg in declared.values():
            if arg.required and arg.name not in args and arg.default is None:
                problems.add(where, f'{task.command}: the required argument {arg.name} is not given')
        for name, spec in args.items():
            self._value(spec, f'{where} argument {name}', problems)
        task.args = args

    def _condition(self, task: Task, raw: dict, body: dict, where: str, problems: _Problems) -> None:
        if body.get('script') or body.get('scriptName'):
            problems.add(where, 'conditions decided by a script ("choose automation") are not implemented')
            return
        self._no_args(raw, where, problems)
        conditions = raw.get('conditions') or []
        if conditions:
            task.kind = 'condition'
            for condition in conditions:
                label = str(condition.get('label') or '')
                try:
                    check_groups(condition.get('condition'), f'condition {label!r}')
                except UnsupportedConstruct as exc:
                    problems.add(where, str(exc))
                    continue
                task.conditions.append((label, condition.get('condition')))
            return
        task.kind = 'choice'  # a manual condition, or an Ask task (its message is not sent: --answer replies)
        task.choices = [label for label in task.next if label not in (DEFAULT, ERROR)]
        if not task.choices:
            problems.add(where, 'a manual condition without branches')

    def _collection(self, task: Task, raw: dict, where: str, problems: _Problems) -> None:
        task.kind = 'collection'
        self._no_args(raw, where, problems)
        form = raw.get('form') or {}
        for number, question in enumerate(form.get('questions') or []):
            here = f'{where} question {number}'
            for key in sorted(set(question) - _QUESTION_KEYS):
                problems.add(here, f'{key!r} is not implemented')
            kind = question.get('type') or 'shortText'
            if kind not in QUESTION_TYPES:
                problems.add(here, f"answer type {kind!r} is not implemented (implemented: {', '.join(QUESTION_TYPES)})")
            for key, what in (('fieldassociated', 'a field-based question'), ('optionsarg', 'options from context'),
                              ('labelarg', 'a label from context'), ('gridcolumns', 'grid answers')):
                if not _empty(question.get(key)):
                    problems.add(here, f'{what} ({key}) is not implemented')
            task.questions.append(Question(str(question.get('label') or f'question {number}'), kind,
                                           bool(question.get('required')),
                                           tuple(str(o) for o in question.get('options') or [])))
        if not task.questions:
            problems.add(where, 'a data collection task without questions')

    def _subplaybook(self, task: Task, raw: dict, body: dict, where: str, problems: _Problems,
                     stack: list[tuple[str, str]]) -> None:
        task.kind = 'playbook'
        key = str(body.get('playbookId') or body.get('playbookName') or '')
        path = self._find(key) if key else None
        args = self._retry(task, dict(raw.get('scriptarguments') or {}), where, problems)
        if task.retry_count:
            problems.add(where, 'retrying a sub-playbook is not implemented')
        if not path:
            problems.add(where, f'sub-playbook {key!r} not found in {", ".join(self.search_dirs)}')
            return
        sub = self._load(path, problems, stack)
        if sub is None:
            return
        task.playbook, task.command, task.separate_context = sub, sub.id, bool(raw.get('separatecontext'))
        known = {i.key for i in sub.inputs}
        for name in sorted(set(args) - known):
            problems.add(where, f'sub-playbook {sub.name!r} has no input {name!r}')
        for name, spec in args.items():
            self._value(spec, f'{where} input {name}', problems)
        task.args = args
        loop = raw.get('loop') or {}
        if loop:
            task.loop = self._loop(loop, where, problems)

    def _loop(self, raw: dict, where: str, problems: _Problems) -> Loop:
        for key in sorted(set(raw) - _LOOP_KEYS):
            problems.add(where, f'loop.{key} is not implemented')
        for key, what in (('scriptId', 'an automation'), ('scriptArguments', 'an automation'),
                          ('exitCondition', 'an exit condition text'), ('iscommand', 'a command')):
            if not _empty(raw.get(key)):
                problems.add(where, f'loops exiting on {what} ({key}) are not implemented')
        loop = Loop(for_each=bool(raw.get('forEach')), max=int(raw.get('max') or 100),
                    wait=float(raw.get('wait') or 1))
        groups = raw.get('builtincondition') or []
        if loop.for_each and groups:
            problems.add(where, 'a loop with both forEach and an exit condition')
        elif not loop.for_each and not groups:
            problems.add(where, 'a loop needs forEach or an exit condition (builtincondition)')
        if groups:
            try:
                check_groups(groups, 'loop exit condition')
                loop.exit_groups = groups
            except UnsupportedConstruct as exc:
                problems.add(where, str(exc))
        return loop

    # -- the graph ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_graph(playbook: Playbook, where: str, problems: _Problems) -> None:
        if playbook.start not in playbook.tasks:
            problems.add(where, f'starttaskid {playbook.start!r} is not a task')
            return
        if playbook.tasks[playbook.start].kind != 'start':
            problems.add(where, f'the start task {playbook.start} is not of type start')
        for task in playbook.tasks.values():
            for label, targets in task.next.items():
                for target in targets:
                    if target not in playbook.tasks:
                        problems.add(where, f'task {task.id} branch {label!r} leads to task {target!r}, which does '
                                            f'not exist')
        state: dict[str, int] = {}  # 1 on the current path, 2 done

        def visit(task_id: str, path: list[str]) -> None:
            state[task_id] = 1
            for targets in playbook.tasks[task_id].next.values():
                for target in targets:
                    if target not in playbook.tasks:
                        continue
                    if state.get(target) == 1:
                        cycle = ' -> '.join([*path[path.index(target):], target])
                        problems.add(where, f'the tasks loop back ({cycle}); loops are implemented as sub-playbook '
                                            f'loops only')
                    elif target not in state:
                        visit(target, [*path, target])
            state[task_id] = 2
        visit(playbook.start, [playbook.start])


# ---------------------------------------------------------------------------------------------------------------
# Answers for manual tasks, manual conditions and data collection
# ---------------------------------------------------------------------------------------------------------------
def _answer_value(task: Task, value: str, where: str) -> Any:
    if task.kind == 'manual':
        if value.strip().lower() != 'done':
            raise ValueError(f'{where} is a manual task: answer it with done, not {value!r}')
        return 'done'
    if task.kind == 'choice':
        for choice in task.choices:
            if choice.lower() == value.strip().lower():
                return choice
        raise ValueError(f"{where} offers {', '.join(task.choices)}, not {value!r}")
    return _collection_answers(task, value, where)


def _collection_answers(task: Task, value: str, where: str) -> list:
    try:
        answers = json.loads(value) if value.strip().startswith('[') else [value]
    except ValueError:
        raise ValueError(f'{where}: answers must be a JSON list (one per question), got {value!r}') from None
    if len(answers) != len(task.questions):
        raise ValueError(f'{where} asks {len(task.questions)} question(s); got {len(answers)} answer(s)')
    for question, answer in zip(task.questions, answers, strict=True):
        label = f'{where} question {question.label!r}'
        if question.required and answer in (None, '', []):
            raise ValueError(f'{label} is required')
        chosen = answer if isinstance(answer, list) else [answer]
        if question.type == 'singleSelect' and len(chosen) > 1:
            raise ValueError(f'{label} takes one option, got {answer!r}')
        if question.type in ('singleSelect', 'multiSelect') and question.options and answer not in (None, ''):
            wrong = [a for a in chosen if str(a) not in question.options]
            if wrong:
                raise ValueError(f"{label} offers {', '.join(question.options)}, not {', '.join(map(str, wrong))}")
        if question.type == 'number' and answer not in (None, ''):
            try:
                float(answer)
            except (TypeError, ValueError):
                raise ValueError(f'{label} expects a number, got {answer!r}') from None
    return answers


def bind_answers(playbook: Playbook, answers: dict[str, str]) -> dict[int, Any]:
    """``{task name or top-level task id: answer}`` -> ``{id(task): checked answer}`` for every task it names (a
    name names that task in every playbook of the run). Raises ValueError for a name that matches no manual task,
    manual condition or data collection task, or an answer the task cannot take."""
    bound: dict[int, Any] = {}
    answerable = [(pb, task) for pb, task in playbook.all_tasks() if task.answerable]
    for key, value in answers.items():
        matches = [(pb, task) for pb, task in answerable
                   if task.name == key or (pb is playbook and task.id == key)]
        if not matches:
            names = '; '.join(f'{t.id} {t.name!r} ({t.kind})' for pb, t in answerable if pb is playbook) or 'none'
            raise ValueError(f'--answer {key!r}: no manual task, manual condition or data collection task of that '
                             f'name (or top-level ID); the playbook has: {names}')
        for pb, task in matches:
            bound[id(task)] = _answer_value(task, value, f'task {task.id} {task.name!r} of {pb.name!r}')
    return bound
