"""XSOAR's built-in condition/filter operators and transformers, as its documentation describes them.

Sources: Cortex XSOAR Administrator Guide "Filter Operators" and "Transformers Operators", Playbook Design Guide
"Built-in Filters" (6.x), read for the behaviour; the operator IDs are those playbook YAMLs use.

Operators (``operator:`` in a condition or a filter), with the documented rules:

* a left side that is a list where one value is expected passes when at least one item passes ("[a, b, c] Equals b
  => true"); a list-valued right side passes when any of its values does (negated operators: when none does);
* values are cast to the operator's type; a value that cannot be cast (an object for a string operator, "abc" for a
  number operator, an unparseable date) fails the task instead of evaluating to false;
* a missing left side counts as the empty string for string operators and as "no item" (false) for number,
  boolean and date operators;
* ``ignorecase: true`` compares strings case-insensitively.

Transformers (``transformers:`` of a ``complex`` value) run in order; those marked per-item apply to every item of
a list ("a, b, c To upper case => A, B, C"), the others to the whole value ("a, b, c count => 3").
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from Tests.xsoar_local.playbooks.dt import to_text, walk


class OperatorError(ValueError):
    """A value could not be cast to what the operator or transformer works on: the task fails."""


def items_of(value: Any) -> list:
    """A value as the list of its items (None: none; a list: its items; anything else: itself)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def is_empty(value: Any) -> bool:
    """XSOAR's "is empty": nothing, an empty string, list or object, or a list of empty values."""
    if value is None or value in ('', [], {}):
        return True
    return isinstance(value, list) and all(is_empty(v) for v in value)


def _show(value: Any) -> str:
    return json.dumps(value, default=str)[:200]


def _text(value: Any) -> str:
    if value is None or isinstance(value, (str, bool, int, float)):
        return to_text(value)
    raise OperatorError(f'cannot compare {_show(value)} as a string')


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise OperatorError(f'cannot compare {_show(value)} as a number')
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise OperatorError(f'cannot compare {_show(value)} as a number')


def _date(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise OperatorError(f'cannot compare {_show(value)} as a date (ISO 8601 / RFC 3339 expected)')


def _fold(text: str, ignorecase: bool) -> str:
    return text.casefold() if ignorecase else text


@dataclass(frozen=True)
class Operator:
    """``test(left, right, ignorecase) -> bool``; ``unary`` operators take no right side."""
    name: str
    test: Callable[[Any, Any, bool], bool]
    unary: bool = False


def _string(compare: Callable[[str, str], bool], negate: bool = False) -> Callable[[Any, Any, bool], bool]:
    def test(left: Any, right: Any, ignorecase: bool) -> bool:
        rights = [_fold(_text(r), ignorecase) for r in items_of(right) or [None]]
        for item in items_of(left) or [None]:
            text = _fold(_text(item), ignorecase)
            hit = any(compare(text, r) for r in rights)
            if hit != negate:
                return True
        return False
    return test


def _list_of(right: Any) -> list[str]:
    """A right side meant as a list: its items, or a comma-separated string split (items trimmed)."""
    if isinstance(right, list):
        return [_text(r) for r in right]
    return [part.strip() for part in _text(right).split(',')]


def _in_list(negate: bool) -> Callable[[Any, Any, bool], bool]:
    def test(left: Any, right: Any, ignorecase: bool) -> bool:
        options = {_fold(o, ignorecase) for o in _list_of(right)}
        return any((_fold(_text(item), ignorecase) in options) != negate for item in items_of(left) or [None])
    return test


def _regex(left: Any, right: Any, ignorecase: bool) -> bool:
    try:
        pattern = re.compile(_text(right), re.IGNORECASE if ignorecase else 0)
    except re.error as exc:
        raise OperatorError(f'{_text(right)!r} is not a valid regular expression: {exc}') from None
    return any(pattern.search(_text(item)) for item in items_of(left) or [None])


def _string_length(left: Any, right: Any, _ignorecase: bool) -> bool:
    wanted = _number(right)
    return any(len(_text(item)) == wanted for item in items_of(left) or [None])


def _same(a: Any, b: Any, ignorecase: bool) -> bool:
    scalar = (str, bool, int, float)
    if isinstance(a, scalar) and isinstance(b, scalar):
        return _fold(to_text(a), ignorecase) == _fold(to_text(b), ignorecase)
    return a == b


def _contains_general(left: Any, right: Any, ignorecase: bool) -> bool:
    """Left (a string, a list or an object) contains right: a substring, an equal item, a key."""
    for wanted in items_of(right):
        if isinstance(left, list):
            if any(_same(item, wanted, ignorecase) for item in left):
                return True
        elif isinstance(left, dict):
            if isinstance(wanted, str) and wanted in left:
                return True
        elif left is not None and _fold(_text(wanted), ignorecase) in _fold(_text(left), ignorecase):
            return True
    return False


def _in(negate: bool) -> Callable[[Any, Any, bool], bool]:
    """Left is contained in right (an equal item of a list, a substring of a string)."""
    def contained(item: Any, right: Any, ignorecase: bool) -> bool:
        if isinstance(right, list):
            return any(_same(item, r, ignorecase) for r in right)
        if right is None:
            return False
        return _fold(_text(item), ignorecase) in _fold(_text(right), ignorecase)

    def test(left: Any, right: Any, ignorecase: bool) -> bool:
        return any(contained(item, right, ignorecase) != negate for item in items_of(left))
    return test


def _number_op(compare: Callable[[float, float], bool], negate: bool = False) -> Callable[[Any, Any, bool], bool]:
    def test(left: Any, right: Any, _ignorecase: bool) -> bool:
        rights = [_number(r) for r in items_of(right)]
        for item in items_of(left):
            value = _number(item)
            if any(compare(value, r) for r in rights) != negate:
                return True
        return False
    return test


def _boolean(wanted: bool) -> Callable[[Any, Any, bool], bool]:
    def test(left: Any, _right: Any, _ignorecase: bool) -> bool:
        return any(item is wanted or (isinstance(item, str) and item.strip().lower() == str(wanted).lower())
                   for item in items_of(left))
    return test


def _date_op(compare: Callable[[datetime, datetime], bool]) -> Callable[[Any, Any, bool], bool]:
    def test(left: Any, right: Any, _ignorecase: bool) -> bool:
        rights = [_date(r) for r in items_of(right)]
        return any(compare(_date(item), r) for item in items_of(left) for r in rights)
    return test


def _has_length(left: Any, right: Any, _ignorecase: bool) -> bool:
    return len(items_of(left)) == _number(right)


_OPERATORS = [
    # General
    Operator('isExists', lambda left, _r, _i: left is not None, unary=True),
    Operator('isNotExists', lambda left, _r, _i: left is None, unary=True),
    Operator('isEmpty', lambda left, _r, _i: is_empty(left), unary=True),
    Operator('isNotEmpty', lambda left, _r, _i: not is_empty(left), unary=True),
    Operator('containsGeneral', _contains_general),
    Operator('notContainsGeneral', lambda left, right, i: not _contains_general(left, right, i)),
    Operator('in', _in(negate=False)),
    Operator('notIn', _in(negate=True)),
    Operator('hasLength', _has_length),
    # String
    Operator('isEqualString', _string(lambda a, b: a == b)),
    Operator('isNotEqualString', _string(lambda a, b: a == b, negate=True)),
    Operator('containsString', _string(lambda a, b: b in a)),
    Operator('notContainsString', _string(lambda a, b: b in a, negate=True)),
    Operator('startWith', _string(lambda a, b: a.startswith(b))),
    Operator('notStartWith', _string(lambda a, b: a.startswith(b), negate=True)),
    Operator('endWith', _string(lambda a, b: a.endswith(b))),
    Operator('notEndWith', _string(lambda a, b: a.endswith(b), negate=True)),
    Operator('inList', _in_list(negate=False)),
    Operator('notInList', _in_list(negate=True)),
    Operator('match', _regex),
    Operator('stringHasLength', _string_length),
    # Number
    Operator('isEqualNumber', _number_op(lambda a, b: a == b)),
    Operator('isNotEqualNumber', _number_op(lambda a, b: a == b, negate=True)),
    Operator('greaterThan', _number_op(lambda a, b: a > b)),
    Operator('greaterThanOrEqual', _number_op(lambda a, b: a >= b)),
    Operator('lessThan', _number_op(lambda a, b: a < b)),
    Operator('lessThanOrEqual', _number_op(lambda a, b: a <= b)),
    # Boolean
    Operator('isTrue', _boolean(True), unary=True),
    Operator('isFalse', _boolean(False), unary=True),
    # Date
    Operator('isAfter', _date_op(lambda a, b: a > b)),
    Operator('isBefore', _date_op(lambda a, b: a < b)),
]
OPERATORS: dict[str, Operator] = {op.name: op for op in _OPERATORS}


# ---------------------------------------------------------------------------------------------------------------
# Transformers
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transformer:
    """``apply(value, args) -> value``; ``args`` maps each argument name to whether it is required."""
    name: str
    apply: Callable[[Any, dict], Any]
    args: dict[str, bool] = field(default_factory=dict)


def _per_item(function: Callable[[Any, dict], Any]) -> Callable[[Any, dict], Any]:
    def apply(value: Any, args: dict) -> Any:
        if isinstance(value, list):
            return [function(item, args) for item in value]
        return None if value is None else function(value, args)
    return apply


def _arg_text(args: dict, name: str, default: str) -> str:
    value = args.get(name)
    return default if value is None else _text(value)


def _uniq(value: Any, _args: dict) -> Any:
    if not isinstance(value, list):
        return value
    seen: set[str] = set()
    out = []
    for item in value:
        marker = json.dumps(item, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


def _split(trim: bool) -> Callable[[Any, dict], Any]:
    def apply(value: Any, args: dict) -> Any:
        delimiter = _arg_text(args, 'delimiter', ',') or ','
        out: list = []
        for item in items_of(value):
            parts = _text(item).split(delimiter)
            out.extend([part.strip() for part in parts] if trim else parts)
        return out
    return apply


def _at_index(value: Any, args: dict) -> Any:
    index = int(_number(args.get('index')))
    items = items_of(value)
    return items[index] if 0 <= index < len(items) else None


def _get_field(value: Any, args: dict) -> Any:
    path = _arg_text(args, 'field', '')
    return walk(value, path) if path else None


def _replace(item: Any, args: dict) -> Any:
    limit = args.get('limit')
    count = int(_number(limit)) if limit not in (None, '') else -1
    return _text(item).replace(_arg_text(args, 'toReplace', ''), _arg_text(args, 'replaceWith', ''), count)


def _append(value: Any, args: dict) -> Any:
    return items_of(value) + items_of(args.get('item'))


def _stringify(value: Any, _args: dict) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


_TRANSFORMERS = [
    # General: on the whole value
    Transformer('uniq', _uniq),
    Transformer('count', lambda value, _a: len(items_of(value))),
    Transformer('join', lambda value, args: _arg_text(args, 'separator', ',').join(
        _text(item) for item in items_of(value)), {'separator': False}),
    Transformer('FirstArrayElement', lambda value, _a: (items_of(value) or [None])[0]),
    Transformer('LastArrayElement', lambda value, _a: (items_of(value) or [None])[-1]),
    Transformer('atIndex', _at_index, {'index': True}),
    Transformer('append', _append, {'item': True}),
    Transformer('Stringify', _stringify),
    Transformer('getField', _per_item(_get_field), {'field': True}),
    # String: on each item
    Transformer('split', _split(trim=False), {'delimiter': False}),
    Transformer('splitAndTrim', _split(trim=True), {'delimiter': False}),
    Transformer('toLowerCase', _per_item(lambda item, _a: _text(item).lower())),
    Transformer('toUpperCase', _per_item(lambda item, _a: _text(item).upper())),
    Transformer('concat', _per_item(lambda item, args: _arg_text(args, 'prefix', '') + _text(item)
                                    + _arg_text(args, 'suffix', '')), {'prefix': False, 'suffix': False}),
    Transformer('replace', _per_item(_replace), {'toReplace': True, 'replaceWith': False, 'limit': False}),
]
TRANSFORMERS: dict[str, Transformer] = {t.name: t for t in _TRANSFORMERS}
