"""Static checks that the integration's YAML and its Python code agree (used by test_yaml_code_consistency.py).

XSOAR reads commands, arguments and params from the YAML and hands them to the code; nothing at run time checks
that both sides use the same names. These checks read the code with ``ast`` (it is never imported) and report
every disagreement as one readable line:

* the dispatch table is a dict literal inside ``main()`` mapping command-name strings to functions; a command may
  also be special-cased in ``main()`` with ``command == 'name'`` (or ``in (...)``), typically test-module;
* every YAML command is dispatched and every dispatched command is in the YAML;
* every argument a command function reads (``args.get('x')``, ``args['x']``, ``'x' in args``, also through
  ``demisto.args()`` and in the module-level helpers the function passes ``args`` to) is declared for that
  command in the YAML;
* ``execution: true`` is set on exactly the commands that change Azure, ``polling: true`` exactly on the polling
  commands;
* every instance param the code reads (``params.get('x')`` / ``params['x']`` where ``params`` is a function
  parameter of that name or a name bound to ``demisto.params()``, or ``demisto.params().get('x')``) is declared
  in the YAML configuration, and where the code gives a literal fallback (``params.get('x', 'v')``,
  ``params.get('x') or 'v'``, ``(params.get('x') or '').strip() or DEFAULT_X`` with a module constant
  ``DEFAULT_X = 'v'``) it equals the YAML ``defaultvalue`` (no defaultvalue = an empty fallback).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any
import contextlib

COMMAND_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
_NO_FALLBACK = object()


class ConsistencyError(Exception):
    """The code has no shape the checks can read (no main(), no dispatch table)."""


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass
class CodeFacts:
    dispatch: dict[str, str | None]  # command -> module-level function name (None: not a plain name)
    special_cased: set[str]  # commands compared with `==` / `in` inside main()
    functions: dict[str, FunctionNode]
    params_read: dict[str, list[Any]] = field(default_factory=dict)  # param -> literal fallbacks (or _NO_FALLBACK)

    @property
    def dispatched(self) -> set[str]:
        return set(self.dispatch) | self.special_cased


# ---------------------------------------------------------------------------------------------------------------
# Reading the code
# ---------------------------------------------------------------------------------------------------------------
def _is_call_to(node: ast.AST, owner: str, attr: str) -> bool:
    """`owner.attr(...)`, e.g. demisto.args()."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr
            and isinstance(node.func.value, ast.Name) and node.func.value.id == owner)


def _str_const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dispatch_dicts(main: FunctionNode) -> list[dict[str, str | None]]:
    tables: list[dict[str, str | None]] = []
    for node in ast.walk(main):
        if isinstance(node, ast.Dict) and node.keys:
            keys = [_str_const(k) for k in node.keys]
            names = [k for k in keys if k is not None and COMMAND_NAME.match(k)]
            if len(names) == len(keys):
                tables.append({k: (v.id if isinstance(v, ast.Name) else None)
                               for k, v in zip(names, node.values, strict=True)})
    return tables


def _special_cased(main: FunctionNode) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(main):
        if not isinstance(node, ast.Compare):
            continue
        for op, right in zip(node.ops, node.comparators, strict=True):
            sides = [node.left, right]
            if isinstance(op, ast.Eq):
                candidates = [_str_const(s) for s in sides]
            elif isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                candidates = [_str_const(e) for e in right.elts]
            else:
                continue
            found.update(c for c in candidates if c and COMMAND_NAME.match(c))
    return found


def analyse_code(source: str) -> CodeFacts:
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    main = functions.get("main")
    if main is None:
        raise ConsistencyError("the integration has no module-level main()")
    tables = _dispatch_dicts(main)
    if not tables:
        raise ConsistencyError(
            "main() has no dispatch table: expected a dict literal inside main() mapping command-name strings to "
            "functions, e.g. {'azure-vm-list': vm_list_command, ...} (the auth/client engineer's main(), issue 4)")
    dispatch: dict[str, str | None] = {}
    for table in tables:
        dispatch.update(table)
    facts = CodeFacts(dispatch=dispatch, special_cased=_special_cased(main), functions=functions)
    facts.params_read = _params_read(tree)
    return facts


def _args_param(func: FunctionNode) -> str | None:
    names = [a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs]
    return "args" if "args" in names else None


def _key_reads(node: ast.AST, is_source) -> set[str]:
    """String keys read from a dict-like `source` (is_source(expr) says whether expr is it) inside node."""
    keys: set[str] = set()
    for sub in ast.walk(node):
        key = None
        if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("get", "pop")
                and is_source(sub.func.value) and sub.args):
            key = _str_const(sub.args[0])
        elif isinstance(sub, ast.Subscript) and is_source(sub.value):
            key = _str_const(sub.slice)
        elif (isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], (ast.In, ast.NotIn))
              and is_source(sub.comparators[0])):
            key = _str_const(sub.left)
        if key:
            keys.add(key)
    return keys


def args_read(facts: CodeFacts, function_name: str) -> set[str]:
    """Argument names read by a command function and by the module-level helpers it passes `args` to."""
    seen: set[tuple[str, str | None]] = set()
    found: set[str] = set()

    def visit(name: str, param: str | None) -> None:
        if (name, param) in seen or name not in facts.functions:
            return
        seen.add((name, param))
        func = facts.functions[name]

        def is_source(expr: ast.AST) -> bool:
            return (param is not None and isinstance(expr, ast.Name) and expr.id == param) or _is_call_to(
                expr, "demisto", "args")

        found.update(_key_reads(func, is_source))
        if param is None:
            return
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
            assert isinstance(call.func, ast.Name)  # for mypy: the generator's filter
            callee = facts.functions.get(call.func.id)
            if callee is None:
                continue
            callee_params = [a.arg for a in callee.args.posonlyargs + callee.args.args]
            for index, value in enumerate(call.args):
                if isinstance(value, ast.Name) and value.id == param and index < len(callee_params):
                    visit(callee.name, callee_params[index])
            for keyword in call.keywords:
                if isinstance(keyword.value, ast.Name) and keyword.value.id == param and keyword.arg:
                    visit(callee.name, keyword.arg)

    func = facts.functions.get(function_name)
    if func is not None:
        visit(function_name, _args_param(func))
    return found


def _module_constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level `NAME = <literal>` assignments (e.g. DEFAULT_CLOUD = 'Worldwide')."""
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Name) and node.value.id in constants:  # DEFAULT_X = OTHER_CONSTANT
                constants[node.targets[0].id] = constants[node.value.id]
                continue
            with contextlib.suppress(ValueError):
                constants[node.targets[0].id] = ast.literal_eval(node.value)
    return constants


def _literal(node: ast.AST, constants: dict[str, Any]) -> Any:
    """The value of a literal or of a module-level constant's name; _NO_FALLBACK otherwise."""
    if isinstance(node, ast.Name):
        return constants.get(node.id, _NO_FALLBACK)
    try:
        return ast.literal_eval(node)
    except ValueError:
        return _NO_FALLBACK


def _params_read(tree: ast.Module) -> dict[str, list[Any]]:
    aliases = {"params"}
    for node in ast.walk(tree):  # names bound to demisto.params()
        if isinstance(node, ast.Assign) and _is_call_to(node.value, "demisto", "params"):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    constants = _module_constants(tree)

    def is_source(expr: ast.AST) -> bool:
        return (isinstance(expr, ast.Name) and expr.id in aliases) or _is_call_to(expr, "demisto", "params")

    # `params.get('x') or FALLBACK`, also `(params.get('x') or '').strip() or FALLBACK`: the outermost `or` whose
    # last operand is a literal (or a module constant) and whose other operands contain the read gives the fallback.
    or_fallbacks: dict[int, Any] = {}
    for node in ast.walk(tree):  # breadth first: outer expressions before the ones they contain
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            outer = _literal(node.values[-1], constants)
            if outer is _NO_FALLBACK:
                continue
            for operand in node.values[:-1]:
                for inner in ast.walk(operand):
                    if isinstance(inner, ast.Call):
                        or_fallbacks.setdefault(id(inner), outer)

    reads: dict[str, list[Any]] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and is_source(node.func.value) and node.args and (name := _str_const(node.args[0]))):
            fallback: Any = _literal(node.args[1], constants) if len(node.args) > 1 else _NO_FALLBACK
            if id(node) in or_fallbacks:
                fallback = or_fallbacks[id(node)]
            reads.setdefault(name, []).append(fallback)
        elif isinstance(node, ast.Subscript) and is_source(node.value) and (key := _str_const(node.slice)):
            reads.setdefault(key, []).append(_NO_FALLBACK)
    return reads


# ---------------------------------------------------------------------------------------------------------------
# The checks: each returns a list of problems (empty = consistent)
# ---------------------------------------------------------------------------------------------------------------
def yaml_commands(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in (doc.get("script") or {}).get("commands") or []}


def check_dispatch(facts: CodeFacts, doc: dict, builtin: frozenset = frozenset({"test-module"})) -> list[str]:
    commands = set(yaml_commands(doc))
    problems = [f"YAML command '{c}' is not dispatched by main()" for c in sorted(commands - facts.dispatched)]
    problems += [f"main() dispatches '{c}', which the YAML does not declare"
                 for c in sorted(facts.dispatched - commands - builtin)]
    problems += [f"main() dispatches '{c}' to something that is not a module-level function"
                 for c, fn in sorted(facts.dispatch.items()) if fn is None or fn not in facts.functions]
    return problems


def check_args(facts: CodeFacts, doc: dict) -> list[str]:
    problems = []
    for name, command in sorted(yaml_commands(doc).items()):
        function = facts.dispatch.get(name)
        if not function:
            continue
        declared = {a["name"] for a in command.get("arguments") or []}
        for arg in sorted(args_read(facts, function) - declared):
            problems.append(f"{function}() ('{name}') reads argument '{arg}', which the YAML does not declare "
                            f"for '{name}'")
    return problems


def check_flag(doc: dict, flag: str, expected: set[str]) -> list[str]:
    commands = yaml_commands(doc)
    flagged = {n for n, c in commands.items() if c.get(flag) is True}
    problems = [f"'{n}' must have `{flag}: true`" for n in sorted(expected - flagged)]
    problems += [f"'{n}' has `{flag}: true` but is not one of {sorted(expected)}" for n in sorted(flagged - expected)]
    problems += [f"'{n}': `{flag}` must be the boolean true, not {c[flag]!r}"
                 for n, c in sorted(commands.items()) if flag in c and not isinstance(c[flag], bool)]
    return problems


def check_params(facts: CodeFacts, doc: dict) -> list[str]:
    declared = {p["name"] for p in doc.get("configuration") or []}
    return [f"the code reads param '{p}', which the YAML configuration does not declare"
            for p in sorted(set(facts.params_read) - declared)]


def _normalise(value: Any, param_type: int | None) -> Any:
    if value in (None, "", [], {}, ()):
        return None
    if param_type == 8 or isinstance(value, bool):
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
    return value if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


def check_param_defaults(facts: CodeFacts, doc: dict) -> list[str]:
    problems = []
    for param in doc.get("configuration") or []:
        name = param["name"]
        yaml_default = _normalise(param.get("defaultvalue"), param.get("type"))
        if param.get("type") == 8 and yaml_default is None:
            yaml_default = False  # an unchecked checkbox
        for fallback in facts.params_read.get(name, []):
            if fallback is _NO_FALLBACK:
                continue
            code_default = _normalise(fallback, param.get("type"))
            if param.get("type") == 8 and code_default is None:
                code_default = False
            if code_default != yaml_default:
                shown = param.get("defaultvalue", "(no defaultvalue)")
                problems.append(f"param '{name}': the code falls back to {fallback!r} but the YAML defaultvalue is "
                                f"{shown!r}")
    return problems
