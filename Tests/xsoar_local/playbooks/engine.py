"""Executing a loaded playbook as XSOAR does, its commands run by an XsoarInstance (the integration as XSOAR runs it).

The flow: the start task runs first; a task runs once every branch leading to it has been decided and at least one
of them leads to it (branches a condition did not take, and tasks reachable only through them, are skipped), so
parallel branches join where they meet. Parallel branches run one after the other here, in the order they were
reached (XSOAR runs them at the same time). A task that fails without error handling stops its branch and the
playbook fails; a manual task without an answer stops its branch and the playbook waits. Neither stops the other
branches.

Commands get their arguments resolved from the context and the inputs (an argument that resolves to nothing is
not passed; the YAML's ``defaultValue`` then applies, as in XSOAR), run in the incident of the playbook run, and
polling (ScheduledCommand) is followed to the end; every entry's EntryContext is merged into the context.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from Tests.xsoar_local.harness import RunResult, XsoarInstance, new_incident
from Tests.xsoar_local.playbooks.context import IncidentContext
from Tests.xsoar_local.playbooks.dt import to_text, walk
from Tests.xsoar_local.playbooks.model import (DEFAULT, ERROR, NONE, IntegrationSpec, Playbook, PlaybookLoader,
                                               Task, bind_answers)
from Tests.xsoar_local.playbooks.operators import OperatorError, is_empty
from Tests.xsoar_local.playbooks.scripts import SCRIPTS, ScriptError
from Tests.xsoar_local.playbooks.values import Scope, evaluate_groups, incident_view, resolve

COMPLETED, WAITING, FAILED = 'completed', 'waiting', 'failed'
DEFAULT_INCIDENT_ID = '1'


class TaskFailed(Exception):
    """The task failed; the message says why."""


@dataclass
class TaskRecord:
    """What one task did. ``status``: done, error (``handled``: the YAML continues), waiting, skipped."""
    playbook: str
    task_id: str
    name: str
    kind: str
    depth: int
    status: str = 'running'
    branch: str = ''
    detail: str = ''
    error: str = ''
    handled: bool = False
    quiet: bool = False  # quiet mode: the war room shows only its errors
    entries: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PlaybookResult:
    """A playbook run: ``status`` completed, waiting (a manual task has no answer) or failed; ``tasks`` in the order
    they ran (sub-playbooks' tasks included, one level deeper); ``outputs``: each declared output path's value."""
    playbook: str
    status: str
    tasks: list[TaskRecord]
    outputs: dict[str, Any]
    context: dict
    incident: dict
    output_roots: list[str] = field(default_factory=list)  # the declared outputs no other one contains

    @property
    def ok(self) -> bool:
        return self.status == COMPLETED

    @property
    def waiting(self) -> list[TaskRecord]:
        return [t for t in self.tasks if t.status == 'waiting']

    @property
    def errors(self) -> list[TaskRecord]:
        return [t for t in self.tasks if t.status == 'error' and not t.handled]

    def ran(self, depth: int | None = None) -> list[str]:
        """The names of the tasks that ran (start tasks left out), optionally only at one depth."""
        return [t.name for t in self.tasks if t.kind != 'start' and t.status != 'skipped'
                and (depth is None or t.depth == depth)]

    def task(self, name: str) -> TaskRecord:
        """The (last) record of the task called ``name``; KeyError when it did not run."""
        for record in reversed(self.tasks):
            if record.name == name:
                return record
        raise KeyError(f'task {name!r} did not run; ran: {self.ran()}')

    def to_dict(self) -> dict:
        return {'playbook': self.playbook, 'status': self.status, 'ok': self.ok, 'incident': self.incident,
                'tasks': [t.to_dict() for t in self.tasks], 'outputs': self.outputs, 'context': self.context}


class Observer:
    """Told about each task as it runs (the runner prints from it); every method may be left as is."""

    def task_started(self, record: TaskRecord) -> None:
        """The task is about to run."""

    def command_run(self, record: TaskRecord, index: int, result: RunResult) -> None:
        """One run of the task's command (index > 0: a polling run)."""

    def task_finished(self, record: TaskRecord) -> None:
        """The task ended (done, error, waiting or skipped)."""


def _note(text: str) -> dict:
    return {'Type': 1, 'ContentsFormat': 'markdown', 'Contents': text, 'HumanReadable': text, 'EntryContext': None}


def _error_entry(text: str) -> dict:
    return {'Type': 4, 'ContentsFormat': 'text', 'Contents': text, 'EntryContext': None}


def _shown(name: str, args: dict) -> str:
    """``!command a=1 b=x,y`` as the war room shows a command line."""
    return ' '.join([f'!{name}', *(f'{k}={to_text(v)}' for k, v in args.items())])


def _entry_error(entry: dict) -> str:
    return to_text(entry.get('Contents') or entry.get('HumanReadable') or 'error')


@dataclass
class _Flow:
    """The state of one playbook's task graph while it runs."""
    playbook: Playbook
    incoming: dict[str, list[tuple[str, str]]]
    edges: dict[tuple[str, str, str], bool] = field(default_factory=dict)  # (from, label, to) -> taken
    state: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    waiting: bool = False

    @classmethod
    def of(cls, playbook: Playbook) -> _Flow:
        incoming: dict[str, list[tuple[str, str]]] = {task_id: [] for task_id in playbook.tasks}
        for task in playbook.tasks.values():
            for label, targets in task.next.items():
                for target in targets:
                    incoming[target].append((task.id, label))
        return cls(playbook, incoming)

    def decided(self, task_id: str) -> str:
        """'ready' (every incoming branch decided, one taken), 'dead' (all decided, none taken) or 'open'."""
        taken = []
        for source, label in self.incoming[task_id]:
            key = (source, label, task_id)
            if key not in self.edges:
                return 'open'
            taken.append(self.edges[key])
        return 'ready' if any(taken) else 'dead'


class PlaybookEngine:
    """``PlaybookEngine(instance, answers=..., incident=..., wait_cap=..., observer=...).run(playbook, inputs)``.

    ``answers``: from ``bind_answers``. ``incident``: the incident the run happens in (default: a new incident with
    ID 1). ``wait_cap``: wait at most this many seconds where XSOAR would wait (polling intervals, retry intervals,
    loop waits); None waits what the playbook and its commands ask for.
    """

    def __init__(self, instance: XsoarInstance, answers: dict[int, Any] | None = None, incident: dict | None = None,
                 wait_cap: float | None = None, observer: Observer | None = None):
        self.instance = instance
        self.answers = answers or {}
        self.incident = incident
        self.wait_cap = wait_cap
        self.observer = observer or Observer()
        self.records: list[TaskRecord] = []
        self._incident_view: dict = {}
        self._commands = IntegrationSpec.from_integration(instance.integration).commands

    def run(self, playbook: Playbook, inputs: dict[str, Any] | None = None) -> PlaybookResult:
        """Run ``playbook`` with ``inputs`` (overriding the inputs' default values) in a new incident context."""
        unknown = sorted(set(inputs or {}) - {i.key for i in playbook.inputs})
        if unknown:
            raise ValueError(f"{playbook.name!r} has no input {', '.join(map(repr, unknown))} (its inputs: "
                             f"{', '.join(i.key for i in playbook.inputs) or 'none'})")
        incident = self.incident or new_incident(DEFAULT_INCIDENT_ID, playbook_id=playbook.id)
        self._incident_view = incident_view(incident)
        self.incident = incident
        self.records = []
        context = IncidentContext()
        status, _inputs = self._run_playbook(playbook, context, dict(inputs or {}), 0)
        view = context.view()
        return PlaybookResult(playbook.name, status, self.records, {p: walk(view, p) for p in playbook.outputs},
                              view, incident, playbook.output_roots())

    # -- playbooks ------------------------------------------------------------------------------------------
    def _inputs(self, playbook: Playbook, context: IncidentContext, given: dict) -> tuple[dict, list[str]]:
        inputs: dict[str, Any] = {}
        for spec in playbook.inputs:
            if spec.key in given:
                inputs[spec.key] = given[spec.key]
            else:
                inputs[spec.key] = resolve(spec.value, Scope(context, dict(inputs), self._incident_view))
        missing = [s.key for s in playbook.inputs if s.required and is_empty(inputs.get(s.key))]
        return inputs, missing

    def _run_playbook(self, playbook: Playbook, context: IncidentContext, given: dict,
                      depth: int) -> tuple[str, dict]:
        inputs, missing = self._inputs(playbook, context, given)
        if missing:
            record = TaskRecord(playbook.name, '-', 'inputs', 'inputs', depth, status='error',
                                error=f"required input(s) without a value: {', '.join(missing)}")
            self.records.append(record)
            self.observer.task_finished(record)
            return FAILED, inputs
        scope = Scope(context, inputs, self._incident_view)
        flow = _Flow.of(playbook)
        queue: deque[str] = deque([playbook.start])
        flow.state[playbook.start] = 'queued'
        while queue:
            task = playbook.tasks[queue.popleft()]
            labels = self._execute(task, playbook, context, scope, depth, flow)
            if labels is not None:
                self._decide(flow, task, labels, queue)
        status = FAILED if flow.failed else WAITING if flow.waiting else COMPLETED
        return status, inputs

    def _decide(self, flow: _Flow, task: Task, labels: list[str], queue: deque[str]) -> None:
        """Record which branches of ``task`` were taken; queue what became ready, skip what became dead."""
        flow.state[task.id] = 'done'
        for label, targets in task.next.items():
            for target in targets:
                flow.edges[(task.id, label, target)] = label in labels
        for targets in task.next.values():
            for target in targets:
                if flow.state.get(target):
                    continue
                verdict = flow.decided(target)
                if verdict == 'ready':
                    flow.state[target] = 'queued'
                    queue.append(target)
                elif verdict == 'dead':
                    self._decide(flow, flow.playbook.tasks[target], [], queue)

    # -- tasks ----------------------------------------------------------------------------------------------
    def _execute(self, task: Task, playbook: Playbook, context: IncidentContext, scope: Scope, depth: int,
                 flow: _Flow) -> list[str] | None:
        """Run one task; the branch labels it takes, or None when its branch stops (waiting, unhandled error)."""
        record = TaskRecord(playbook.name, task.id, task.name, task.kind, depth, quiet=task.quiet)
        self.records.append(record)
        self.observer.task_started(record)
        labels: list[str] | None
        try:
            labels = self._dispatch(task, record, context, scope, depth)
            if labels is None:
                record.status = 'waiting'
                flow.waiting = True
            elif record.status == 'running':
                record.status = 'done'
        except TaskFailed as failure:
            record.status, record.error = 'error', str(failure)
            if task.error_path:
                labels, record.handled = [ERROR], True
            elif task.continue_on_error:
                labels, record.handled = [DEFAULT if task.kind == 'condition' else NONE], True
            else:
                labels = None
                flow.failed = True
        if labels:
            record.branch = ', '.join(labels)
        self.observer.task_finished(record)
        return labels

    def _dispatch(self, task: Task, record: TaskRecord, context: IncidentContext, scope: Scope,
                  depth: int) -> list[str] | None:
        if task.unavailable:
            record.status, record.detail = 'skipped', task.unavailable
            return [NONE]
        if task.kind == 'start':
            return [NONE]
        if task.kind == 'title':
            record.detail = 'section header'
            return [NONE]
        if task.kind in ('manual', 'choice', 'collection'):
            return self._answered(task, record, context)
        if task.kind == 'condition':
            try:
                for label, groups in task.conditions:
                    if evaluate_groups(groups, scope):
                        record.detail = f'condition {label!r} holds'
                        return [label]
            except OperatorError as exc:
                raise TaskFailed(str(exc)) from None
            record.detail = 'no condition holds'
            return [DEFAULT]
        if task.kind == 'script':
            return self._script(task, record, context, scope)
        if task.kind == 'command':
            return self._command(task, record, context, scope)
        return self._subplaybook(task, record, context, scope, depth)

    def _answered(self, task: Task, record: TaskRecord, context: IncidentContext) -> list[str] | None:
        answer = self.answers.get(id(task))
        if answer is None:
            example = {'manual': 'done', 'choice': '|'.join(task.choices), 'collection': '["answer", ...]'}[task.kind]
            record.detail = f"waiting for an analyst: --answer '{task.name}={example}'"
            return None
        if task.kind == 'manual':
            record.detail = 'completed by the analyst (--answer)'
            return [NONE]
        if task.kind == 'choice':
            record.detail = f'the analyst chose {answer!r} (--answer)'
            return [answer]
        context.set_key(task.name, {'Answers': {str(i): a for i, a in enumerate(answer)}})
        record.detail = f'answered by the analyst (--answer): {task.name}.Answers.0-{len(answer) - 1}'
        return [NONE]

    def _arguments(self, task: Task, scope: Scope) -> dict:
        args = {}
        for name, spec in task.args.items():
            try:
                value = resolve(spec, scope)
            except OperatorError as exc:
                raise TaskFailed(f'argument {name}: {exc}') from None
            if value is not None and value not in ('', []):
                args[name] = value
        return args

    def _script(self, task: Task, record: TaskRecord, context: IncidentContext, scope: Scope) -> list[str]:
        script = SCRIPTS[task.command]
        args = self._arguments(task, scope)
        record.detail = _shown(task.command, args)
        missing = [name for name, required in script.args.items() if required and name not in args]
        if missing:
            raise TaskFailed(f"{task.command}: required argument(s) without a value: {', '.join(missing)}")
        try:
            readable = script.run(args, context)
        except ScriptError as exc:
            record.entries = [_error_entry(str(exc))]
            raise TaskFailed(str(exc)) from None
        record.entries = [self._marked(task, _note(readable))]
        return [NONE]

    def _marked(self, task: Task, entry: dict) -> dict:
        if task.note:
            entry['Note'] = True
        if task.tags:
            entry['Tags'] = list(task.tags)
        return entry

    def _wait(self, seconds: float) -> None:
        if self.wait_cap is not None:
            seconds = min(seconds, self.wait_cap)
        if seconds > 0:
            time.sleep(seconds)

    def _command(self, task: Task, record: TaskRecord, context: IncidentContext, scope: Scope) -> list[str]:
        args = self._arguments(task, scope)
        spec = self._commands[task.command]
        for arg in spec.args.values():
            if arg.name not in args and arg.default is not None:
                args[arg.name] = arg.default
        missing = [a.name for a in spec.args.values() if a.required and a.name not in args]
        record.detail = _shown(task.command, args)
        if missing:
            raise TaskFailed(f"{task.command}: required argument(s) without a value: {', '.join(missing)}")
        for attempt in range(task.retry_count + 1):
            if attempt:
                self._wait(task.retry_interval)
            runs = self.instance.run_polling(
                task.command, args, sleep=self.wait_cap is None or self.wait_cap > 0, max_sleep=self.wait_cap,
                incident=self.incident, on_run=lambda index, result: self.observer.command_run(record, index, result))
            for run in runs:
                for entry in run.entries:
                    context.merge(entry.get('EntryContext'))
                    record.entries.append(self._marked(task, entry))
            errors = [_entry_error(e) for run in runs for e in run.entries if e.get('Type') == 4]
            if not errors:
                if attempt:
                    record.detail += f' (attempt {attempt + 1})'
                return [NONE]
        raise TaskFailed(errors[-1] + (f' (after {task.retry_count + 1} attempts)' if task.retry_count else ''))

    def _iterations(self, task: Task, given: dict) -> list[dict]:
        """forEach: one set of inputs per item (item i of every list input; single values in the first only)."""
        if not (task.loop and task.loop.for_each):
            return [given]
        counts = [len(v) if isinstance(v, list) else (0 if v is None else 1) for v in given.values()]
        total = max(counts, default=1) or 1
        return [{k: (v[i] if i < len(v) else None) if isinstance(v, list) else (v if i == 0 else None)
                 for k, v in given.items()} for i in range(total)]

    def _subplaybook(self, task: Task, record: TaskRecord, context: IncidentContext, scope: Scope,
                     depth: int) -> list[str] | None:
        sub = task.playbook
        assert sub is not None  # noqa: S101 - the loader sets it for every playbook task
        given = {}
        for name, spec in task.args.items():
            try:
                given[name] = resolve(spec, scope)
            except OperatorError as exc:
                raise TaskFailed(f'input {name}: {exc}') from None
        child = IncidentContext(parent=context) if task.separate_context else context
        loop = task.loop
        rounds = self._iterations(task, given) if not loop or loop.for_each else [given] * loop.max
        status, done = COMPLETED, 0
        for number, round_inputs in enumerate(rounds):
            if number and loop:
                self._wait(loop.wait)
            status, inputs = self._run_playbook(sub, child, round_inputs, depth + 1)
            done += 1
            if task.separate_context:
                for path in sub.output_roots():
                    value = child.own_value(path)
                    if value is not None:
                        context.set(path, value)
            if status != COMPLETED:
                break
            if loop and not loop.for_each:
                try:
                    if evaluate_groups(loop.exit_groups, Scope(child, inputs, self._incident_view)):
                        break
                except OperatorError as exc:
                    raise TaskFailed(f'loop exit condition: {exc}') from None
        record.detail = f'sub-playbook {sub.name!r}' + (f', {done} iteration(s)' if loop else '')
        if status == FAILED:
            raise TaskFailed(f'sub-playbook {sub.name!r} failed')
        return None if status == WAITING else [NONE]


def run_playbook(instance: XsoarInstance, path: str, inputs: dict[str, Any] | None = None,
                 answers: dict[str, str] | None = None, incident: str | dict | None = DEFAULT_INCIDENT_ID,
                 search_dirs: list[str] | None = None, wait_cap: float | None = None,
                 observer: Observer | None = None) -> PlaybookResult:
    """Load the playbook at ``path`` (PlaybookLoadError when it uses what is not implemented), bind ``answers``
    (``{task name or top-level id: answer}``, ValueError when one fits no task) and run it with ``inputs`` in the
    incident ``incident`` (an ID, or a dict from ``new_incident``)."""
    playbook = PlaybookLoader(IntegrationSpec.from_integration(instance.integration), search_dirs).load(path)
    bound = bind_answers(playbook, answers or {})
    if isinstance(incident, str) or incident is None:
        incident = new_incident(incident or DEFAULT_INCIDENT_ID, playbook_id=playbook.id)
    engine = PlaybookEngine(instance, bound, incident, wait_cap, observer)
    return engine.run(playbook, inputs)
