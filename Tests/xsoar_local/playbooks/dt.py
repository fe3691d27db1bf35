"""DT paths: how a playbook reads the incident context (the part of XSOAR's Transform Language playbooks use).

XSOAR's DT (xsoar.pan.dev/docs/integrations/dt) addresses context like JSON: ``${MaxMind.Geo.Continent}`` walks
nested keys; on an array a key is taken from every item (``${URLScan.Certificates.SubjectName}`` is the list of
every certificate's name); ``.[0]`` picks an item (indexes start at 0) and ``.[0:2]`` a range, both ends included
(the docs' example returns three items). Selectors ``(val.X == 'y')`` and mutators ``=val.toLowerCase()`` are
JavaScript run by the server: they are not implemented, and a path using them is refused when the playbook loads.

A key may itself contain dots (a task name such as ``Check v1.2``): at each level the longest run of path parts
that names a key wins.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

EXPRESSION_RE = re.compile(r'\$\{([^{}]*)\}')
_SEGMENT_RE = re.compile(r'^(?P<name>[^\[\]]*)(?P<indexes>(?:\[[^\[\]]*\])*)$')
_INDEX_RE = re.compile(r'^\[(?:(?P<index>\d+)|(?P<start>\d*):(?P<stop>\d*))\]$')
_JAVASCRIPT = ('(', ')', '=', '"', "'", '!', '&', '|', ';', '+', '<', '>')


class UnsupportedConstruct(ValueError):
    """A playbook uses something the local runner does not implement (or that is malformed)."""


@dataclass(frozen=True)
class Step:
    """One step of a path: a key, an item index, or an inclusive item range (stop None: to the end)."""
    kind: str  # 'key' | 'index' | 'range'
    key: str = ''
    index: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class Path:
    text: str
    steps: tuple[Step, ...]

    @property
    def root(self) -> str:
        """The first key ('' when the path starts with an index)."""
        return self.steps[0].key if self.steps and self.steps[0].kind == 'key' else ''


def parse_path(text: Any) -> Path:
    """``'A.B.[0].C'`` -> Path. Raises UnsupportedConstruct for DT beyond plain paths (selectors, mutators)."""
    if not isinstance(text, str) or not text.strip():
        raise UnsupportedConstruct(f'{text!r} is not a context path')
    text = text.strip()
    if any(mark in text for mark in _JAVASCRIPT):
        raise UnsupportedConstruct(f"DT {text!r}: selectors and mutators (JavaScript in DT) are not implemented; "
                                   f"use a plain path with filters and transformers")
    steps: list[Step] = []
    for segment in text.split('.'):
        match = _SEGMENT_RE.match(segment)
        if not match or (not match.group('name') and not match.group('indexes')):
            raise UnsupportedConstruct(f'DT {text!r}: empty or malformed part {segment!r}')
        if match.group('name'):
            steps.append(Step('key', key=match.group('name')))
        for raw in re.findall(r'\[[^\[\]]*\]', match.group('indexes')):
            index = _INDEX_RE.match(raw)
            if not index:
                raise UnsupportedConstruct(f'DT {text!r}: {raw} is not an index [n] or a range [a:b] '
                                           f'(non-negative integers)')
            if index.group('index') is not None:
                steps.append(Step('index', index=int(index.group('index'))))
            else:
                start = int(index.group('start') or 0)
                stop = int(index.group('stop')) if index.group('stop') else None
                steps.append(Step('range', index=start, stop=stop))
    return Path(text, tuple(steps))


def expressions(text: Any) -> list[str]:
    """The paths inside every ``${...}`` of ``text`` (none for a non-string)."""
    return EXPRESSION_RE.findall(text) if isinstance(text, str) else []


def _key_run(steps: tuple[Step, ...], start: int) -> list[str]:
    run = []
    for step in steps[start:]:
        if step.kind != 'key':
            break
        run.append(step.key)
    return run


def _select_key(value: Any, steps: tuple[Step, ...], start: int) -> tuple[Any, int]:
    """(what the key at ``start`` selects in value, how many key steps the matched key used)."""
    names = _key_run(steps, start)
    objects = value if isinstance(value, list) else [value]
    for used in range(len(names), 0, -1):
        key = '.'.join(names[:used])
        hits = [obj[key] for obj in objects if isinstance(obj, dict) and key in obj]
        if not hits:
            continue
        if not isinstance(value, list):
            return hits[0], used
        flat: list = []
        for hit in hits:  # a key taken from every item of an array: one flat list
            if isinstance(hit, list):
                flat.extend(hit)
            elif hit is not None:
                flat.append(hit)
        return (flat or None), used
    return None, 1


def walk(value: Any, path: Path | str) -> Any:
    """What ``path`` selects in ``value`` (None when nothing)."""
    steps = (parse_path(path) if isinstance(path, str) else path).steps
    i = 0
    while i < len(steps):
        if value is None:
            return None
        step = steps[i]
        if step.kind == 'key':
            value, used = _select_key(value, steps, i)
            i += used
            continue
        items = value if isinstance(value, list) else [value]  # one object stored alone is an array of one
        if step.kind == 'index':
            value = items[step.index] if step.index < len(items) else None
        else:
            value = items[step.index:None if step.stop is None else step.stop + 1] or None
        i += 1
    return value


def to_text(value: Any) -> str:
    """A value inside a longer string: None '', booleans true/false, arrays comma-joined, objects as JSON."""
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ','.join(to_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def interpolate(text: Any, lookup: Callable[[Path], Any]) -> Any:
    """Resolve every ``${path}`` in ``text`` with ``lookup``. A string that is exactly one ``${path}`` keeps the
    value's type (a list stays a list); inside a longer string each value is written with ``to_text``."""
    if not isinstance(text, str) or '${' not in text:
        return text
    whole = EXPRESSION_RE.fullmatch(text.strip())
    if whole:
        return lookup(parse_path(whole.group(1)))
    return EXPRESSION_RE.sub(lambda m: to_text(lookup(parse_path(m.group(1)))), text)


def lookup_in(root: Mapping) -> Callable[[Path], Any]:
    """A ``lookup`` for ``interpolate`` reading ``root``."""
    return lambda path: walk(dict(root), path)
