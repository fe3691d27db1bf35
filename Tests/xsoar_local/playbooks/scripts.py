"""The built-in scripts playbooks call (``scriptName: Set`` / ``script: DeleteContext``), implemented here as
XSOAR's content describes them (demisto/content: Common Scripts and Developer Tools packs, each script's YAML and
README). Arguments arrive resolved; each script returns the text of its war-room note or raises ScriptError.

Print             ``value``: posts the value as a note.
Set               ``key``, ``value``, ``append`` (default false), ``stringify`` (default false): writes value under key,
                  replacing what is there, or with ``append=true`` adding to it (the key may then carry a DT key
                  ``Data(val.ID == obj.ID)``: an object with the same ID replaces the old one). A text value is parsed as
                  JSON when it is JSON (``["a","b"]``, ``{"k": 1}``, ``5``) unless ``stringify=true``.
SetAndHandleEmpty like Set, but does nothing when the value is empty (unless ``force=true``, which writes the empty
                  value); it adds to the key unless ``append=false`` is given (Set's default is the opposite).
DeleteContext     ``key`` (a dotted path; with ``index`` only that item of its array), or ``all=yes`` (everything but
                  ``keysToKeep``, comma-separated paths); ``subplaybook``: yes / auto delete in the running sub-playbook's
                  own context, no (the default) in the incident's.
VerifyContext     ``path`` must be in the context; every comma-separated ``fields`` path must be set in the object (in
                  every object of an array); ``expectedValue`` (JSON, or text) must equal the value at path.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from Tests.xsoar_local.harness import split_context_key
from Tests.xsoar_local.playbooks.context import IncidentContext
from Tests.xsoar_local.playbooks.dt import to_text, walk
from Tests.xsoar_local.playbooks.operators import is_empty, items_of


class ScriptError(Exception):
    """The script failed; the message is its error entry."""


@dataclass(frozen=True)
class BuiltinScript:
    """``run(args, context) -> readable``; ``args`` maps each argument to whether it is required."""
    name: str
    run: Callable[[dict, IncidentContext], str]
    args: dict[str, bool] = field(default_factory=dict)


def _flag(args: dict, name: str, default: str = 'false') -> bool:
    value = args.get(name)
    return to_text(default if value is None else value).strip().lower() in ('true', 'yes')


def _parsed(value: Any, stringify: bool) -> Any:
    if stringify:
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _write(context: IncidentContext, key: str, value: Any, append: bool) -> None:
    if append:
        context.merge({key: value})
        return
    prefix, _fields = split_context_key(key)
    context.set(prefix, value)


def _print(args: dict, _context: IncidentContext) -> str:
    return to_text(args.get('value'))


def _set(args: dict, context: IncidentContext) -> str:
    key = to_text(args.get('key')).strip()
    _write(context, key, _parsed(args.get('value'), _flag(args, 'stringify')), _flag(args, 'append'))
    return f'Key {key} set'


def _set_and_handle_empty(args: dict, context: IncidentContext) -> str:
    key = to_text(args.get('key')).strip()
    value = args.get('value')
    if is_empty(value) and not _flag(args, 'force'):
        return 'value is None'
    append = args.get('append') is None or _flag(args, 'append')
    _write(context, key, _parsed('' if value is None else value, _flag(args, 'stringify')), append)
    return f'Key {key} set'


def _delete_context(args: dict, context: IncidentContext) -> str:
    where = to_text(args.get('subplaybook')).strip().lower()
    target = context if where in ('yes', 'auto') else context.root()
    if _flag(args, 'all', 'no'):
        keep = [k.strip() for k in to_text(args.get('keysToKeep')).split(',') if k.strip()]
        target.clear(keep)
        return 'Context cleared' + (f" (kept {', '.join(keep)})" if keep else '')
    key = to_text(args.get('key')).strip()
    if not key:
        raise ScriptError('DeleteContext needs key=<context path> or all=yes')
    index = args.get('index')
    try:
        position = None if index in (None, '') else int(to_text(index))
    except ValueError:
        raise ScriptError(f'index must be a number, got {index!r}') from None
    if target.delete(key, position):
        return f'Key {key} deleted' if position is None else f'Item {position} of {key} deleted'
    return f'Key {key} was not in context'


def _verify_context(args: dict, context: IncidentContext) -> str:
    path = to_text(args.get('path')).strip()
    found = walk(context.view(), path)
    if found is None:
        raise ScriptError(f'Path {path} is not in context.')
    fields = [f.strip() for f in to_text(args.get('fields')).split(',') if f.strip()]
    for obj in items_of(found):
        for name in fields:
            if walk(obj, name) is None:
                raise ScriptError(f'Field {name} is missing from {json.dumps(obj, sort_keys=True)}.')
    expected = args.get('expectedValue')
    if expected not in (None, ''):
        wanted = _parsed(expected, stringify=False)
        if wanted != found:
            raise ScriptError(f'Context path {path} is not equal to expected value. Found: '
                              f'{json.dumps(found, sort_keys=True)}, expected: {json.dumps(wanted, sort_keys=True)}')
    return f'Context path {path} verified'


_SCRIPTS = [
    BuiltinScript('Print', _print, {'value': True}),
    BuiltinScript('Set', _set, {'key': True, 'value': True, 'append': False, 'stringify': False}),
    BuiltinScript('SetAndHandleEmpty', _set_and_handle_empty,
                  {'key': True, 'value': False, 'append': False, 'stringify': False, 'force': False}),
    BuiltinScript('DeleteContext', _delete_context,
                  {'key': False, 'all': False, 'subplaybook': False, 'keysToKeep': False, 'index': False}),
    BuiltinScript('VerifyContext', _verify_context, {'path': True, 'fields': False, 'expectedValue': False}),
]
SCRIPTS: dict[str, BuiltinScript] = {s.name: s for s in _SCRIPTS}
