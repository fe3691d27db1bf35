"""The request and response types shared by every part of the emulator, and the URL templates of its route tables.

The server core parses each HTTPS request into a `Request`, hands it to the service that owns the path
(identity for Entra ID, arm for Resource Manager, control for the emulator's own surface) and writes the
`Response` it gets back. Services never touch sockets, so they can be unit-tested with plain objects.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote


class Headers(dict):
    """A dict of header name -> value whose lookups ignore case, as HTTP header names do."""

    def __init__(self, items: Any = None):
        super().__init__()
        for key, value in dict(items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Request:
    """One parsed HTTP request.

    `path` is the decoded path without the query; `raw_path` is exactly what the client sent (kept so that
    percent-encoded names can be checked); `query` maps each name to its list of values; `base_url` is
    `https://127.0.0.1:PORT` of the listener that received it.
    """

    method: str
    path: str
    raw_path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    base_url: str = ""
    client_address: str = "127.0.0.1"
    raw_query: str = ""             # the query string exactly as sent (without "?")
    client: str | None = None       # set by the service that authenticated the caller (appid / oid / client_id)
    listener: str = ""              # "login" or "arm"

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name` (case-sensitive, as ARM is for api-version)."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; None for an empty body. Raises ValueError for malformed JSON."""
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        """The body parsed as application/x-www-form-urlencoded, one value per name."""
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}


@dataclass
class Response:
    """What a service answers. `body` may be a dict/list (sent as JSON), bytes/str (sent as is) or None."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        """The body as bytes and the headers to send, with Content-Type set for JSON bodies."""
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, (dict, list)):
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            return json.dumps(self.body).encode("utf-8"), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
            return self.body.encode("utf-8"), headers
        return bytes(self.body), headers


class PathTemplate:
    """A URL path template as the REST specs write them: "/subscriptions/{subscriptionId}/resourceGroups/...".

    `match(segments)` gives the variables' values when the path has the template's segments: literal ones compared
    without case, each `{name}` taking one non-empty segment as it is.
    """

    def __init__(self, template: str):
        self.template = template
        self.parts = tuple(template.strip("/").split("/"))
        self.variables = tuple(p[1:-1] for p in self.parts if self.is_variable(p))

    @staticmethod
    def is_variable(part: str) -> bool:
        return part.startswith("{") and part.endswith("}")

    @staticmethod
    def decode(segment: str) -> str:
        return unquote(segment)

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        values: dict[str, str] = {}
        for part, segment in zip(self.parts, segments, strict=True):
            if self.is_variable(part):
                if not segment:
                    return None
                values[part[1:-1]] = segment
            elif part.lower() != segment.lower():
                return None
        return values

    def render(self, values: Mapping[str, str], *, through: str | None = None) -> str:
        """The path with the variables filled in, up to and including the variable `through` (default: all)."""
        out = []
        for part in self.parts:
            out.append(values[part[1:-1]] if self.is_variable(part) else part)
            if through is not None and part == f"{{{through}}}":
                break
        return "/" + "/".join(out)

    def __repr__(self) -> str:
        return f"PathTemplate({self.template!r})"
