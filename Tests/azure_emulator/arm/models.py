"""The base of every ARM resource model: a top-level resource's stored body and its runtime state.

A resource type is a subclass with its ARM type (`TYPE`), the URL template variable that names it (`PARAM`, as
in the REST specs: networkSecurityGroupName, vmName, ...), a scenario loader in its provider's models.py and, when
GET shows more than was stored, `render()`. Writes that lock the resource while they run (Network RP style) use
the `busy_*` fields through `Operations.start_locked` and `check_not_busy`.
"""
from __future__ import annotations

import copy
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from . import errors as E

if TYPE_CHECKING:
    from .store import ArmStore

# ARM resource names: up to 80 characters, word characters, '.', '-', '_'; begin with a word character, end with a
# word character or '_'.
NAME_RE = re.compile(r"\w(?:[\w.\-]{0,78}\w)?")


def check_name(name: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise E.invalid_resource_name(name)


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def camel(key: str) -> str:
    """Scenario keys (snake_case) -> ARM property names: destination_port_range -> destinationPortRange."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Resource:
    """One top-level resource: `body` as PUT stored it (read-only properties included); `sub` and `rg` as loaded."""

    TYPE: ClassVar[str] = ""
    PARAM: ClassVar[str] = ""                  # the variable that names it in the REST specs' URL templates
    CHILDREN: ClassVar[tuple[str, ...]] = ()   # properties that hold child resources with ids of their own

    body: dict
    sub: str = ""
    rg: str = ""
    busy_until: float = 0.0        # a locked write runs until then (monotonic clock)
    busy_op: str = ""              # ... its operation id
    busy_name: str = ""            # ... and what it does (PutSecurityRuleOperation, ...)
    deleting: bool = False         # a locked delete is running

    @property
    def id(self) -> str:
        return self.body["id"]

    @property
    def name(self) -> str:
        return self.body["name"]

    @property
    def location(self) -> str:
        return self.body["location"]

    def busy(self, now: float | None = None) -> bool:
        return self.deleting or (time.monotonic() if now is None else now) < self.busy_until

    def provisioning_state(self, now: float | None = None) -> str:
        if self.deleting:
            return "Deleting"
        return "Updating" if self.busy(now) else "Succeeded"

    def check_not_busy(self, op_name: str, retry_after: int) -> None:
        """429 RetryableErrorDueToAnotherOperation while a locked write runs on this resource."""
        if self.busy():
            raise E.another_operation(self.id, op_name, self.busy_name or "PutOperation", self.busy_op, retry_after)

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - subclasses use them
        """The resource as GET returns it (a copy: callers may change it)."""
        return copy.deepcopy(self.body)

    def copy_without(self, child_key: str) -> dict:
        """A deep copy of the body except properties[child_key] (left None, in its place): for render() methods
        that render those children themselves, so they are not copied twice."""
        return copy.deepcopy({**self.body, "properties": {**self.body["properties"], child_key: None}})
