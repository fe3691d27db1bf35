"""Static checks that the pack's playbooks use the integration exactly as its YAML declares it (used by
test_playbook_contract.py).

A playbook names commands, arguments and context paths as plain strings; XSOAR only finds a typo when the playbook
runs (an unknown argument is silently dropped, an undeclared context path just reads as empty, so a condition
quietly takes its default branch). These checks read the playbook YAML and the integration YAML and report every
disagreement as one readable line:

* every command task (``iscommand: true`` or ``script: '<brand>|||<command>'``) runs a command of the integration
  (brand empty or the integration's id), with only declared arguments, every required argument set, no hidden
  (polling-internal) argument, and literal values of predefined arguments among the predefined ones;
* every context path the playbook reads or declares under the integration's root (``${AzureContainment...}``,
  ``complex`` roots + accessors, ``iscontext`` values, filter operands, DeleteContext/VerifyContext-style plain
  path arguments, the playbook's ``outputs``) is an output of the integration or an object above one
  (``AzureContainment.BlockedIP`` above ``AzureContainment.BlockedIP.IP``); DT filters ``(val.X == ...)`` and list
  indexes are ignored;
* every ``inputs.X`` the playbook reads is a declared input of the playbook;
* a literal a condition or filter compares with an integration field (``Status`` equals ``Blocked``, ``Warning``
  contains ``is evaluated before the block``) occurs in that output's description or in the integration's code,
  so renaming a status or rewording a warning in the code breaks this check instead of the playbook's branch;
* the task graph is sound: ids match their keys, ``taskid`` equals ``task.id``, every ``nexttasks`` target exists,
  every task is reachable from ``starttaskid``; ``fromversion`` is not older than the integration's.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import yaml

_REFERENCE = re.compile(r"\$\{([^{}]+)\}")
_INDEX = re.compile(r"\.?\[[^\]]*\]")
_COMPARISONS = {"isEqualString", "isNotEqualString", "containsString", "notContainsString", "containsGeneral",
                "notContainsGeneral", "startWith", "endWith", "inList", "notInList", "in", "notIn"}
_LIST_OPERATORS = {"inList", "notInList", "in", "notIn"}


@dataclass(frozen=True)
class IntegrationSpec:
    brand: str  # commonfields.id
    commands: dict[str, dict[str, dict]]  # command -> argument name -> its YAML
    outputs: dict[str, str]  # contextPath -> description
    fromversion: str
    code: str = ""  # the integration's string literals (see code_strings), for literals compared with its fields

    @property
    def context_roots(self) -> set[str]:
        return {path.split(".", 1)[0] for path in self.outputs}

    @classmethod
    def from_files(cls, integration_yml: Path, code_file: Path | None = None) -> IntegrationSpec:
        doc = yaml.safe_load(integration_yml.read_text())
        return cls.from_doc(doc, code_file.read_text() if code_file and code_file.exists() else "")

    @classmethod
    def from_doc(cls, doc: dict, code: str = "") -> IntegrationSpec:
        commands: dict[str, dict] = {}
        outputs: dict[str, str] = {}
        for command in doc["script"]["commands"]:
            commands[command["name"]] = {a["name"]: a for a in command.get("arguments") or []}
            for output in command.get("outputs") or []:
                outputs.setdefault(output["contextPath"], output.get("description") or "")
        return cls(brand=doc["commonfields"]["id"], commands=commands, outputs=outputs,
                   fromversion=str(doc.get("fromversion") or "0.0.0"), code=code_strings(code))

    def declares(self, path: str) -> bool:
        """An output path, or an object above one (segment boundary)."""
        return path in self.outputs or any(out.startswith(path + ".") for out in self.outputs)


def code_strings(source: str) -> str:
    """The string literals of Python source, one per line, with implicitly concatenated pieces joined and each
    f-string placeholder as U+FFFD: `f"... is evaluated before the " f"block ({n})"` becomes
    "... is evaluated before the block (\ufffd)". The raw source when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    texts, inside_fstring = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    parts.append(value.value)
                    inside_fstring.add(id(value))
                else:
                    parts.append("\ufffd")
            texts.append("".join(parts))
    texts += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
              and id(n) not in inside_fstring]
    return "\n".join(texts)


@dataclass
class Findings:
    where: str
    problems: list[str] = field(default_factory=list)

    def add(self, task: str | None, message: str) -> None:
        self.problems.append(f"{self.where}: {'task ' + task + ': ' if task else ''}{message}")


# ---------------------------------------------------------------------------------------------------------------
# Context paths
# ---------------------------------------------------------------------------------------------------------------
def _strip_dt(expression: str) -> str:
    """`A.B(val.X == 'y').C.[0]` -> `A.B.C`: drops DT filters (balanced parentheses) and list indexes."""
    out, depth = [], 0
    for char in expression:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(char)
    path = _INDEX.sub("", "".join(out)).strip()
    return ".".join(part.strip() for part in path.split(".") if part.strip())


def _complex_path(complex_: dict) -> str:
    root = str(complex_.get("root") or "")
    accessor = str(complex_.get("accessor") or "")
    return _strip_dt(f"{root}.{accessor}" if accessor else root)


def operand_path(operand: Any) -> str | None:
    """The context path of a condition/filter operand ({value: ..., iscontext: true}), else None."""
    if not isinstance(operand, dict) or not isinstance(operand.get("value"), dict):
        return None
    value = operand["value"]
    if isinstance(value.get("complex"), dict):
        return _complex_path(value["complex"])
    if operand.get("iscontext") and isinstance(value.get("simple"), str):
        return _strip_dt(value["simple"])
    return None


def operand_literal(operand: Any) -> str | None:
    if isinstance(operand, dict) and not operand.get("iscontext") and isinstance(operand.get("value"), dict):
        simple = operand["value"].get("simple")
        if isinstance(simple, (str, int, float)) and not _REFERENCE.search(str(simple)):
            return str(simple)
    return None


def _walk(node: Any, trail: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield trail, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, trail + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, trail + (index,))


def context_references(node: Any, roots: set[str]) -> list[str]:
    """Every context path a piece of playbook YAML reads: ${...} in strings, complex roots, iscontext values, and
    plain strings that are a path under one of `roots` (DeleteContext key=, VerifyContext path=)."""
    found = []
    plain = re.compile(rf"^(?:{'|'.join(map(re.escape, sorted(roots)))})\.[\w.]+$") if roots else None
    for _trail, value in _walk(node):
        if isinstance(value, dict):
            if isinstance(value.get("complex"), dict):
                found.append(_complex_path(value["complex"]))
            if value.get("iscontext") and isinstance(value.get("value"), dict) and isinstance(
                    value["value"].get("simple"), str):
                found.append(_strip_dt(value["value"]["simple"]))
        elif isinstance(value, str):
            found += [_strip_dt(m) for m in _REFERENCE.findall(value)]
            if plain and plain.match(value.strip()):
                found.append(value.strip())
    return [p for p in found if p]


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------
def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", str(text))[:3])


def _check_graph(playbook: dict, findings: Findings) -> None:
    tasks = playbook.get("tasks") or {}
    start = str(playbook.get("starttaskid"))
    if start not in tasks:
        findings.add(None, f"starttaskid {start!r} is not a task")
        return
    for key, task in tasks.items():
        if str(task.get("id")) != str(key):
            findings.add(key, f"id {task.get('id')!r} differs from its key")
        if task.get("taskid") != (task.get("task") or {}).get("id"):
            findings.add(key, "taskid differs from task.id")
        for branch, targets in (task.get("nexttasks") or {}).items():
            for target in targets or []:
                if str(target) not in tasks:
                    findings.add(key, f"branch {branch!r} leads to task {target!r}, which does not exist")
    reached, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in reached or current not in tasks:
            continue
        reached.add(current)
        for targets in (tasks[current].get("nexttasks") or {}).values():
            todo += [str(t) for t in targets or []]
    for key in sorted(set(map(str, tasks)) - reached, key=lambda k: (len(k), k)):
        findings.add(key, "not reachable from the start task")


def _check_command_task(key: str, task: dict, spec: IntegrationSpec, findings: Findings) -> None:
    inner = task.get("task") or {}
    script = str(inner.get("script") or "")
    if not inner.get("iscommand") and "|||" not in script:
        return  # a script (DeleteContext, ...), a manual task, a title or a condition
    if "|||" not in script:
        findings.add(key, f"iscommand is true but script {script!r} is not '<brand>|||<command>'")
        return
    brand, command = script.split("|||", 1)
    if not inner.get("iscommand"):
        findings.add(key, f"script {script!r} runs a command but iscommand is not true")
    for label, value in (("script brand", brand), ("brand", inner.get("brand") or "")):
        if value and value != spec.brand:
            findings.add(key, f"{label} {value!r} is not the integration {spec.brand!r}")
    if command not in spec.commands:
        findings.add(key, f"runs {command!r}, which the integration YAML does not declare")
        return
    declared = spec.commands[command]
    arguments = task.get("scriptarguments") or {}
    for name in arguments:
        if name not in declared:
            findings.add(key, f"{command}: argument {name!r} is not declared (declared: {', '.join(declared)})")
        elif declared[name].get("hidden"):
            findings.add(key, f"{command}: argument {name!r} is internal (hidden), set by the integration itself")
    for name, arg in declared.items():
        if arg.get("required") and not arguments.get(name):
            findings.add(key, f"{command}: required argument {name!r} is not set")
    for name, value in arguments.items():
        predefined = (declared.get(name) or {}).get("predefined")
        simple = value.get("simple") if isinstance(value, dict) else None
        if predefined and isinstance(simple, (str, int, bool)) and not _REFERENCE.search(str(simple)):
            allowed = {str(p) for p in predefined}
            literal = str(simple).lower() if isinstance(simple, bool) else str(simple)
            if literal not in allowed:
                findings.add(key, f"{command}: {name}={literal!r} is not one of {sorted(allowed)}")


def _check_paths(playbook: dict, spec: IntegrationSpec, findings: Findings) -> None:
    roots = spec.context_roots
    inputs = {str(i.get("key")) for i in playbook.get("inputs") or []}
    sources: list[tuple[str | None, Any]] = [(key, task) for key, task in (playbook.get("tasks") or {}).items()]
    sources += [(None, {"inputs": playbook.get("inputs") or []})]
    for key, node in sources:
        for path in context_references(node, roots):
            head, _, rest = path.partition(".")
            if head in roots and not spec.declares(path):
                findings.add(key, f"reads {path!r}, which no command of the integration outputs")
            elif head == "inputs" and rest.split(".", 1)[0] not in inputs:
                findings.add(key, f"reads {path!r}, but the playbook has no input {rest.split('.', 1)[0]!r}")
    for output in playbook.get("outputs") or []:
        path = str(output.get("contextPath") or "")
        if path.split(".", 1)[0] in roots and not spec.declares(path):
            findings.add(None, f"output {path!r} is not an output of the integration")


def _check_literals(playbook: dict, spec: IntegrationSpec, findings: Findings) -> None:
    roots = spec.context_roots
    for key, task in (playbook.get("tasks") or {}).items():
        for _trail, node in _walk(task):
            if not (isinstance(node, dict) and node.get("operator") in _COMPARISONS and "left" in node):
                continue
            path = operand_path(node.get("left"))
            literal = operand_literal(node.get("right"))
            if not path or literal is None or path.split(".", 1)[0] not in roots:
                continue
            description = spec.outputs.get(path, "")
            items = literal.split(",") if node["operator"] in _LIST_OPERATORS else [literal]
            for item in (i.strip() for i in items if i.strip()):
                if item not in description and item not in spec.code:
                    findings.add(key, f"compares {path} with {item!r}, which neither the output's description nor "
                                      f"the integration's code contains")


def check_playbook(playbook: dict, spec: IntegrationSpec, where: str = "playbook") -> list[str]:
    """Every way `playbook` disagrees with the integration `spec` (empty list: none)."""
    findings = Findings(where)
    if _version(playbook.get("fromversion") or "0.0.0") < _version(spec.fromversion):
        findings.add(None, f"fromversion {playbook.get('fromversion')} is older than the integration's "
                           f"{spec.fromversion}")
    _check_graph(playbook, findings)
    for key, task in (playbook.get("tasks") or {}).items():
        _check_command_task(str(key), task, spec, findings)
    _check_paths(playbook, spec, findings)
    _check_literals(playbook, spec, findings)
    return findings.problems


def commands_used(playbook: dict) -> list[str]:
    return [str(t["task"]["script"]).split("|||", 1)[1] for t in (playbook.get("tasks") or {}).values()
            if "|||" in str((t.get("task") or {}).get("script") or "")]


def playbook_files(pack: Path) -> list[Path]:
    """Every playbook and test playbook YAML of the pack."""
    return sorted(p for folder in ("Playbooks", "TestPlaybooks") for p in (pack / folder).glob("*.yml"))


def check_files(files: list[Path], spec: IntegrationSpec) -> list[str]:
    problems = []
    for path in files:
        problems += check_playbook(yaml.safe_load(path.read_text()), spec, where=path.name)
    return problems
