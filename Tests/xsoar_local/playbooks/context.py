"""The incident context of a playbook run: how XSOAR stores what commands and scripts write.

What a command returns (an entry's EntryContext) is merged as XSOAR documents it (xsoar.pan.dev "Context and
Outputs", "DT"): ``Prefix(val.K && val.K == obj.K)`` keys an object by K (an object with the same K replaces the
earlier one, others are added), a plain ``Prefix`` adds its values after what is already there, and dotted prefixes
nest (``AzureContainment.BlockedIP`` is ``{"AzureContainment": {"BlockedIP": ...}}``). A key that ends up holding one
object holds that object, not an array of one: XSOAR's context shows a dict for one item and an array for two or more
(which is why content scripts wrap what they read with argToList).

A sub-playbook with ``separatecontext: true`` (XSOAR's "private" sub-playbook context) gets a layer of its own:
it reads its own keys first and the parent's otherwise; what it writes stays in its layer (a top-level key is
copied from the parent before it is first changed, so an addition starts from what the parent held); only its
declared outputs are copied back to the parent when it ends.
"""
from __future__ import annotations

import copy
from typing import Any

from Tests.xsoar_local.harness import keyed_index, split_context_key


def _as_items(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _stored(items: list) -> Any:
    return items[0] if len(items) == 1 else items


class IncidentContext:
    """The context one playbook (or one private sub-playbook) reads and writes."""

    def __init__(self, data: dict | None = None, parent: IncidentContext | None = None):
        self.data: dict = copy.deepcopy(data or {})
        self.parent = parent
        self._deleted: set[str] = set()  # parent keys this layer deleted

    # -- reading --------------------------------------------------------------------------------------------
    def view(self) -> dict:
        """Everything this context sees (top-level keys: own first, then the parent's not deleted here)."""
        merged = {k: v for k, v in (self.parent.view() if self.parent else {}).items() if k not in self._deleted}
        merged.update(self.data)
        return merged

    def root(self) -> IncidentContext:
        """The incident's (top-level) context."""
        return self.parent.root() if self.parent else self

    # -- writing --------------------------------------------------------------------------------------------
    def _own(self, key: str) -> None:
        """Copy a parent's top-level key into this layer before changing it."""
        if key in self.data or not self.parent or key in self._deleted:
            return
        inherited = self.parent.view().get(key)
        if inherited is not None:
            self.data[key] = copy.deepcopy(inherited)

    def _container(self, parts: list[str], create: bool) -> dict | None:
        self._own(parts[0])
        if create:
            self._deleted.discard(parts[0])
        node = self.data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                if not create:
                    return None
                if child is not None:
                    raise ValueError(f"cannot write under {'.'.join(parts)}: {part} holds {type(child).__name__}")
                child = node[part] = {}
            node = child
        return node

    def merge(self, entry_context: dict | None) -> None:
        """Merge one entry's EntryContext (see the module docstring)."""
        for key, value in (entry_context or {}).items():
            prefix, key_fields = split_context_key(key)
            parts = prefix.split('.')
            node = self._container(parts, create=True)
            assert node is not None  # noqa: S101 - create=True always returns a node
            bucket = _as_items(node.get(parts[-1]))
            for item in _as_items(value):
                index = keyed_index(bucket, item, key_fields)
                if index is None:
                    bucket.append(copy.deepcopy(item))
                else:
                    bucket[index] = copy.deepcopy(item)
            if bucket:
                node[parts[-1]] = _stored(bucket)

    def set(self, path: str, value: Any) -> None:
        """Replace what ``path`` (dotted keys) holds with ``value``."""
        parts = path.split('.')
        node = self._container(parts, create=True)
        assert node is not None  # noqa: S101
        node[parts[-1]] = copy.deepcopy(value)

    def set_key(self, key: str, value: Any) -> None:
        """Replace the top-level ``key`` (taken whole: a task name may contain dots) with ``value``."""
        self._deleted.discard(key)
        self.data[key] = copy.deepcopy(value)

    def delete(self, path: str, index: int | None = None) -> bool:
        """Delete what ``path`` holds (with ``index``: only that item of its array; an array left with one item holds
        that item). A path that is a top-level key as a whole (``Check v1.2``) names that key. True when something
        went."""
        parts = [path] if path in self.view() else path.split('.')
        if len(parts) == 1 and index is None:
            present = parts[0] in self.view()
            self.data.pop(parts[0], None)
            if self.parent and parts[0] in self.parent.view():
                self._deleted.add(parts[0])
            return present
        if len(parts) == 1:
            self._own(parts[0])
            node = self.data if parts[0] in self.data else None
        else:
            node = self._container(parts, create=False)
        if node is None or parts[-1] not in node:
            return False
        if index is None:
            del node[parts[-1]]
            return True
        items = _as_items(node[parts[-1]])
        if index >= len(items):
            return False
        del items[index]
        if items:
            node[parts[-1]] = _stored(items)
        else:
            del node[parts[-1]]
        return True

    def clear(self, keep: list[str] | None = None) -> None:
        """Delete everything but the ``keep`` paths (dotted, e.g. ``URL.Data``)."""
        saved = [(path, self._value(path)) for path in keep or []]
        for key in list(self.view()):
            self.delete(key)
        for path, value in saved:
            if value is not None:
                self.set(path, value)

    def _value(self, path: str) -> Any:
        node: Any = self.view()
        for part in path.split('.'):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return copy.deepcopy(node)

    def own_value(self, path: str) -> Any:
        """What this layer itself holds at ``path`` (None when the key was never written here)."""
        parts = path.split('.')
        if parts[0] not in self.data:
            return None
        return self._value(path)
