"""POST /providers/Microsoft.ResourceGraph/resources: one Resource Graph query.

Request (QueryRequest): {"subscriptions": [...], "managementGroups": [...], "query": "<KQL>", "options":
{"$top", "$skip", "$skipToken", "resultFormat", "allowPartialScopes", "authorizationScopeFilter"}, "facets": [...]}.
Without subscriptions the query spans every subscription of the token's tenant the caller has a role in.
Answer (QueryResponse): {"totalRecords", "count", "resultTruncated": "true" | "false", "$skipToken"?, "data",
"facets": []}; data is a list of row objects (resultFormat objectArray, the default) or {"columns", "rows"}
(table). Every answer, errors included, carries the caller's quota headers (quota.py).

Paging: a page holds min($top, settings.graph_page_size) rows (Resource Graph: at most 1000; the emulator's
default is small so that clients exercise paging). When more rows match, the answer has a `$skipToken` to send
back with the same query and subscriptions, unless paging is impossible: the query uses `limit` / `take`, or its
output has no `id` column (settings.graph_paging_needs_id, Resource Graph's documented rule); then
resultTruncated is "true" and there is no $skipToken. `$skip` overrides the token's offset, as the spec says, and
is ignored when the query uses limit / take (Microsoft Learn, "Working with large Azure resource data sets").
Before it runs, a query is checked against Resource Graph's limits on it (limits.py).

Not emulated (400 naming them): managementGroups scopes, facets.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from typing import Any

from ...http import Response
from .. import errors as E
from ..errors import ArmError
from ..router import Call
from . import limits
from .evaluator import Evaluator, Table
from .lexer import QueryError
from .parser import Join, Pipeline, Take, parse
from .tables import TABLES, Scope

RESULT_FORMATS = ("objectArray", "table")
SCOPE_FILTERS = ("AtScopeAndBelow", "AtScopeAndAbove", "AtScopeExact", "AtScopeAboveAndBelow")
MAX_TOP = 1000
COLUMN_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (dict, "object"),
                (list, "object"))


def query_resources(call: Call) -> Response:
    request = call.request
    correlation = request.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
    allowed, headers = call.arm.graph_quota.take(call.oid or call.client_name())
    headers["x-ms-correlation-request-id"] = correlation
    if not allowed:
        raise E.graph_rate_limited(correlation, headers)
    try:
        body = _answer(call, correlation)
    except ArmError as err:
        err.headers.update(headers)
        raise
    return Response(200, body, headers)


def _answer(call: Call, correlation: str) -> dict:
    body = call.json_body()
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise E.graph_bad_request(correlation, "InvalidQuery", "The request has no query: 'query' must be a "
                                  "non-empty string.")
    subscriptions = body.get("subscriptions")
    if subscriptions is not None and (not isinstance(subscriptions, list) or
                                      not all(isinstance(s, str) for s in subscriptions)):
        raise E.graph_bad_request(correlation, "InvalidSubscriptions", "'subscriptions' must be a list of "
                                  "subscription ids.")
    if body.get("managementGroups"):
        raise E.graph_bad_request(correlation, "UnsupportedScope", "Management group scopes ('managementGroups') "
                                  "are not supported by this Resource Graph emulator; give 'subscriptions'.")
    if body.get("facets"):
        raise E.graph_bad_request(correlation, "UnsupportedFacets", "Facets are not supported by this Resource Graph "
                                  "emulator.")
    options = _options(body.get("options"), correlation)
    try:
        pipeline = parse(query)
        limits.check(pipeline, limits.Limits.from_settings(call.arm.settings))
        digest = _digest(query, subscriptions or [])
        offset = options["skip"]
        if offset is not None and _limits_rows(pipeline):
            offset = 0   # "If limit or take are used in the query, Skip is ignored." (Microsoft Learn)
        elif offset is None:
            offset = _token_offset(options["skipToken"], digest, correlation) if options["skipToken"] else 0
        scope = Scope(call.arm, call.oid, call.claims.get("tid"), subscriptions or None)
        result = Evaluator(lambda name: TABLES[name](scope)).run(pipeline)
    except QueryError as err:
        raise E.graph_invalid_query(correlation, {"code": err.code, "message": err.message, "line": err.line,
                                                  "characterPositionInLine": err.column, "token": err.token}) from None
    settings = call.arm.settings
    size = min(options["top"] or MAX_TOP, max(1, int(settings.get("graph_page_size", 2))))
    page = result.rows[offset:offset + size]
    answer: dict[str, Any] = {"totalRecords": len(result.rows), "count": len(page), "resultTruncated": "false"}
    if offset + len(page) < len(result.rows):
        pageable = not _limits_rows(pipeline) and \
            ("id" in result.columns or not settings.get("graph_paging_needs_id", True))
        if pageable:
            answer["$skipToken"] = _token(offset + len(page), digest)
        else:
            answer["resultTruncated"] = "true"
    answer["data"] = _format(Table(result.columns, page), options["resultFormat"])
    answer["facets"] = []
    return answer


def _options(raw: Any, correlation: str) -> dict[str, Any]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise E.graph_bad_request(correlation, "InvalidQueryRequestOptions", "'options' must be an object.")
    top, skip = raw.get("$top"), raw.get("$skip")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_TOP):
        raise E.graph_bad_request(correlation, "InvalidQueryRequestOptions",
                                  f"The value '{top}' of option '$top' is not valid: expected 1 to {MAX_TOP}.")
    if skip is not None and (not isinstance(skip, int) or isinstance(skip, bool) or skip < 0):
        raise E.graph_bad_request(correlation, "InvalidQueryRequestOptions",
                                  f"The value '{skip}' of option '$skip' is not valid: expected 0 or more.")
    result_format = raw.get("resultFormat", "objectArray")
    if result_format not in RESULT_FORMATS:
        raise E.graph_bad_request(correlation, "InvalidQueryRequestOptions", f"The value '{result_format}' of option "
                                  f"'resultFormat' is not valid: expected {' or '.join(RESULT_FORMATS)}.")
    scope_filter = raw.get("authorizationScopeFilter", "AtScopeAndBelow")
    if scope_filter not in SCOPE_FILTERS:
        raise E.graph_bad_request(correlation, "InvalidQueryRequestOptions", f"The value '{scope_filter}' of option "
                                  f"'authorizationScopeFilter' is not valid: expected one of {', '.join(SCOPE_FILTERS)}.")
    token = raw.get("$skipToken")
    if token is not None and not isinstance(token, str):
        raise E.graph_bad_request(correlation, "InvalidSkipToken", "'$skipToken' must be a string.")
    return {"top": top, "skip": skip, "skipToken": token, "resultFormat": result_format}


def _limits_rows(pipeline: Pipeline) -> bool:
    """Whether the query uses limit / take anywhere (joined subqueries included): paging is then impossible."""
    return any(isinstance(op, Take) or (isinstance(op, Join) and _limits_rows(op.right)) for op in pipeline.operators)


def _digest(query: str, subscriptions: list[str]) -> str:
    text = query + "\n" + ",".join(sorted(s.lower() for s in subscriptions))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _token(offset: int, digest: str) -> str:
    """An opaque continuation token: the next offset, bound to the query and its subscriptions."""
    return base64.b64encode(json.dumps({"o": offset, "q": digest}).encode("utf-8")).decode("ascii")


def _token_offset(token: str, digest: str, correlation: str) -> int:
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
        offset = data["o"]
        valid = data["q"] == digest and isinstance(offset, int) and offset >= 0
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        valid, offset = False, 0
    if not valid:
        raise E.graph_bad_request(correlation, "InvalidSkipToken", "The $skipToken is not valid for this query and "
                                  "these subscriptions: send it back with the query and subscriptions that returned it.")
    return offset


def _column_type(values: list[Any]) -> str:
    for value in values:
        if value is None:
            continue
        for python_type, name in COLUMN_TYPES:
            if isinstance(value, python_type):
                return name
    return "string"


def _format(table: Table, result_format: str) -> Any:
    """The page as the caller asked for it, copied (the rows share the store's dicts)."""
    rows = [[copy.deepcopy(row.get(c)) for c in table.columns] for row in table.rows]
    if result_format == "table":
        columns = [{"name": c, "type": _column_type([r[i] for r in rows])} for i, c in enumerate(table.columns)]
        return {"columns": columns, "rows": rows}
    return [dict(zip(table.columns, row, strict=True)) for row in rows]
