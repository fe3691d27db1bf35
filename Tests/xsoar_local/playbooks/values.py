"""A task's values: task arguments, sub-playbook inputs, condition operands and transformer arguments.

In a playbook YAML a value is ``{simple: TEXT}`` or ``{complex: {root, accessor, filters, transformers}}`` (``{}``:
no value):

* ``simple`` is literal text in which every ``${path}`` is replaced from the context (a text that is exactly one
  ``${path}`` takes the value itself, a list stays a list). In a condition operand with ``iscontext: true`` the
  text is itself a context path.
* ``complex`` reads ``root`` (a context path), keeps the items of it that pass ``filters`` (groups of conditions:
  every group must hold, one condition per group suffices), takes ``accessor`` from each kept item, then applies the
  ``transformers`` in order. Inside a filter, a path under the root (``AzureContainment.BlockedIP.Status`` for root
  ``AzureContainment.BlockedIP``) is read from the item being filtered; any other path from the whole context.

Paths start at the context, or at ``inputs`` (the playbook's inputs) or ``incident`` (the incident's fields, keys
lower-cased, custom fields among them, as in ``${incident.id}``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from Tests.xsoar_local.playbooks.context import IncidentContext
from Tests.xsoar_local.playbooks.dt import Path, UnsupportedConstruct, expressions, interpolate, parse_path, walk
from Tests.xsoar_local.playbooks.operators import OPERATORS, TRANSFORMERS, items_of


def incident_view(incident: dict) -> dict:
    """The incident as a playbook reads it: ``${incident.<field>}``, field names lower-cased, custom fields
    alongside the system ones."""
    view = {str(k).lower(): v for k, v in incident.items() if k != 'CustomFields'}
    view.update({str(k).lower(): v for k, v in (incident.get('CustomFields') or {}).items()})
    return view


@dataclass
class Scope:
    """What values are resolved against: the (current) context, the playbook's inputs and the incident."""
    context: IncidentContext
    inputs: dict
    incident: dict

    def root(self) -> dict:
        return {**self.context.view(), 'inputs': self.inputs, 'incident': self.incident}

    def get(self, path: Path | str) -> Any:
        return walk(self.root(), path)

    def interpolate(self, text: Any) -> Any:
        return interpolate(text, self.get)


# ---------------------------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------------------------
def _path_value(text: str, scope: Scope, item_root: str | None, item: Any) -> Any:
    if item_root is not None and (text == item_root or text.startswith(item_root + '.')):
        rest = text[len(item_root) + 1:]
        return walk(item, rest) if rest else item
    return scope.get(text)


def _complex(spec: dict, scope: Scope) -> Any:
    root = spec['root']
    value = scope.get(root)
    if spec.get('filters'):
        value = [item for item in items_of(value) if evaluate_groups(spec['filters'], scope, root, item)]
    if spec.get('accessor'):
        value = walk(value, spec['accessor'])
    for transformer in spec.get('transformers') or []:
        args = {name: resolve_operand(arg, scope) for name, arg in (transformer.get('args') or {}).items()}
        value = TRANSFORMERS[transformer['operator']].apply(value, args)
    return value


def resolve(spec: dict | None, scope: Scope) -> Any:
    """The value of ``{simple: ...}``, ``{complex: ...}`` or ``{}`` (None)."""
    if not spec:
        return None
    if 'complex' in spec:
        return _complex(spec['complex'], scope)
    return scope.interpolate(spec.get('simple'))


def resolve_operand(operand: dict | None, scope: Scope, item_root: str | None = None, item: Any = None) -> Any:
    """A condition operand or transformer argument ``{value: {...}, iscontext: bool}``."""
    if not operand:
        return None
    spec = operand.get('value') or {}
    if operand.get('iscontext') and 'simple' in spec:
        text = spec['simple']
        if isinstance(text, str) and '${' not in text:
            return _path_value(text.strip(), scope, item_root, item)
    return resolve(spec, scope)


def condition_holds(condition: dict, scope: Scope, item_root: str | None = None, item: Any = None) -> bool:
    """One condition: ``{operator, left, right, ignorecase}``. Raises OperatorError when a value cannot be cast."""
    operator = OPERATORS[condition['operator']]
    left = resolve_operand(condition.get('left'), scope, item_root, item)
    right = None if operator.unary else resolve_operand(condition.get('right'), scope, item_root, item)
    return operator.test(left, right, bool(condition.get('ignorecase')))


def evaluate_groups(groups: list, scope: Scope, item_root: str | None = None, item: Any = None) -> bool:
    """Every group holds when one of its conditions does."""
    return all(any(condition_holds(c, scope, item_root, item) for c in group) for group in groups)


# ---------------------------------------------------------------------------------------------------------------
# Load-time checks: raise UnsupportedConstruct naming the construct
# ---------------------------------------------------------------------------------------------------------------
def _check_keys(data: Any, allowed: set[str], what: str) -> dict:
    if not isinstance(data, dict):
        raise UnsupportedConstruct(f'{what} must be a mapping, not {type(data).__name__}')
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UnsupportedConstruct(f"{what}: {', '.join(map(repr, unknown))} not implemented")
    return data


def _check_text(text: Any, what: str) -> None:
    for expression in expressions(text):
        try:
            parse_path(expression)
        except UnsupportedConstruct as exc:
            raise UnsupportedConstruct(f'{what}: {exc}') from None


def check_value(spec: Any, what: str) -> None:
    """``{simple}``, ``{complex}`` or ``{}`` with every path, filter and transformer implemented."""
    spec = _check_keys(spec if spec is not None else {}, {'simple', 'complex'}, what)
    if len(spec) > 1:
        raise UnsupportedConstruct(f'{what}: both simple and complex given')
    if 'simple' in spec:
        _check_text(spec['simple'], what)
    if 'complex' in spec:
        body = _check_keys(spec['complex'], {'root', 'accessor', 'filters', 'transformers'}, f'{what} complex')
        if not body.get('root'):
            raise UnsupportedConstruct(f'{what}: complex value without root')
        parse_path(body['root'])
        if body.get('accessor'):
            parse_path(body['accessor'])
        check_groups(body.get('filters') or [], f'{what} filter')
        for transformer in body.get('transformers') or []:
            check_transformer(transformer, f'{what} transformer')


def check_operand(operand: Any, what: str) -> None:
    operand = _check_keys(operand if operand is not None else {}, {'value', 'iscontext'}, what)
    spec = operand.get('value') or {}
    if operand.get('iscontext') and isinstance(spec.get('simple'), str) and '${' not in spec['simple']:
        parse_path(spec['simple'])
        return
    check_value(spec, what)


def check_transformer(transformer: Any, what: str) -> None:
    transformer = _check_keys(transformer, {'operator', 'args'}, what)
    name = transformer.get('operator')
    if name not in TRANSFORMERS:
        raise UnsupportedConstruct(f"{what} {name!r} is not implemented (implemented: {', '.join(TRANSFORMERS)})")
    spec = TRANSFORMERS[name]
    args = transformer.get('args') or {}
    unknown = sorted(set(args) - set(spec.args))
    if unknown:
        raise UnsupportedConstruct(f"{what} {name}: argument(s) {', '.join(unknown)} not implemented")
    for arg, required in spec.args.items():
        if required and not (args.get(arg) or {}).get('value'):
            raise UnsupportedConstruct(f'{what} {name}: argument {arg} is required')
        if arg in args:
            check_operand(args[arg], f'{what} {name} argument {arg}')


def check_groups(groups: Any, what: str) -> None:
    """A list of groups (lists) of conditions, every operator implemented, unary ones without a right side used."""
    if not isinstance(groups, list) or not all(isinstance(g, list) and g for g in groups):
        raise UnsupportedConstruct(f'{what}: expected a list of non-empty lists of conditions')
    for group in groups:
        for raw in group:
            condition = _check_keys(raw, {'operator', 'left', 'right', 'ignorecase'}, what)
            name = condition.get('operator')
            if name not in OPERATORS:
                raise UnsupportedConstruct(f"{what} operator {name!r} is not implemented (implemented: "
                                           f"{', '.join(OPERATORS)})")
            check_operand(condition.get('left'), f'{what} {name} left side')
            if not OPERATORS[name].unary:
                if not (condition.get('right') or {}).get('value'):
                    raise UnsupportedConstruct(f'{what} {name}: no right side')
                check_operand(condition.get('right'), f'{what} {name} right side')
