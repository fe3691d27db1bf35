"""The KQL evaluator: a syntax tree (parser.py) over the tables (tables.py) -> one result table.

Every operator first checks the names it uses against the columns of its input (a name that resolves to nothing
is a SemanticError, as in Kusto, never an empty answer), then builds its output rows. Scalar expressions are
compiled once per operator into Python closures. The input rows are shared with the ARM store and are never
changed: operators that add columns build new row dicts.

Value semantics, after Kusto's: a missing property is null; string operators (==, =~, has, contains, ...) treat
null as the empty string; `==`, `!=`, `in`, `!in` compare strings case-sensitively and `=~`, `!~`, `in~`,
`!in~`, `has`, `contains`, `startswith`, `endswith` without case; `has` matches whole terms (runs of letters and
digits); `order by` sorts descending unless told `asc`, nulls last when descending and first when ascending;
`join` without `kind` is innerunique (the left side deduplicated on its keys); right-side columns whose names are
taken get the suffix 1 (id1); mv-expand of an empty array gives no row, of null one row with null, of an array
longer than its row limit (`limit N`, else 128) that many rows; summarize names its columns count_, list_X, set_X,
any_X (X the argument's name), by-columns after their expression.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .lexer import QueryError, Token
from .limits import MV_EXPAND_DEFAULT_ROWS
from .parser import (AGGREGATION_PREFIX, AGGREGATIONS, Binary, Call, Column, Count, Distinct, Expr, Extend, Index,
                     InList, Item, Join, Literal, Member, MvExpand, Operator, OrderBy, Pipeline, Project,
                     ProjectAway, Summarize, Take, Where)

Row = dict[str, Any]
Scalar = Callable[[Row], Any]


@dataclass
class Table:
    columns: list[str]
    rows: list[Row]


# ---------------------------------------------------------------- values
def to_str(value: Any) -> str:
    """Kusto's tostring(): null -> "", booleans lower case, dynamic values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if left is None and right is None:
        return False
    if isinstance(left, str) or isinstance(right, str):
        if not (isinstance(left, str) or left is None) or not (isinstance(right, str) or right is None):
            return False
        return (left or "") == (right or "")
    if _number(left) and _number(right):
        return left == right
    return left is not None and left == right


def _has_term(haystack: str, needle: str) -> bool:
    """Whether `needle` occurs in `haystack` on term boundaries (both already lower case)."""
    if not needle:
        return True
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before_ok = start == 0 or not haystack[start - 1].isalnum() or not needle[0].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum() or not needle[-1].isalnum()
        if before_ok and after_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        if not ((_number(left) and _number(right)) or (isinstance(left, str) and isinstance(right, str))):
            return False
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    return compare


def _lower(value: Any) -> str:
    return to_str(value).lower()


STRING_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b) and not (a is None and b is None),
    "=~": lambda a, b: _lower(a) == _lower(b),
    "!~": lambda a, b: _lower(a) != _lower(b),
    "has": lambda a, b: _has_term(_lower(a), _lower(b)),
    "!has": lambda a, b: not _has_term(_lower(a), _lower(b)),
    "contains": lambda a, b: _lower(b) in _lower(a),
    "!contains": lambda a, b: _lower(b) not in _lower(a),
    "startswith": lambda a, b: _lower(a).startswith(_lower(b)),
    "!startswith": lambda a, b: not _lower(a).startswith(_lower(b)),
    "endswith": lambda a, b: _lower(a).endswith(_lower(b)),
    "!endswith": lambda a, b: not _lower(a).endswith(_lower(b)),
    "<": _ordered("<"), "<=": _ordered("<="), ">": _ordered(">"), ">=": _ordered(">="),
}


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _sort_value(value: Any) -> tuple:
    if isinstance(value, bool):
        return (0, int(value))
    if _number(value):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


# ---------------------------------------------------------------- names
def derived_name(expr: Expr) -> str | None:
    """The column name Kusto gives an unnamed expression: a.b.c -> a_b_c, f(a.b) -> a_b, tags['x'] -> tags_x."""
    if isinstance(expr, Column):
        return expr.name
    if isinstance(expr, Member):
        base = derived_name(expr.target)
        return f"{base}_{expr.name}" if base else None
    if isinstance(expr, Index):
        base = derived_name(expr.target)
        if base and isinstance(expr.index, Literal):
            return f"{base}_{to_str(expr.index.value)}"
        return None
    if isinstance(expr, Call) and len(expr.args) == 1:
        return derived_name(expr.args[0])
    return None


class _Namer:
    """Column1, Column2, ... for expressions without a derivable name."""

    def __init__(self) -> None:
        self.count = 0

    def name(self, item: Item) -> str:
        found = item.name or derived_name(item.expr)
        if found:
            return found
        self.count += 1
        return f"Column{self.count}"


def _semantic(token: Token, message: str) -> QueryError:
    return QueryError("SemanticError", message, token.shown(), token.line, token.column)


# ---------------------------------------------------------------- scalar expressions
def compile_expr(expr: Expr, columns: set[str], where: str) -> Scalar:
    """A closure computing `expr` for one row; SemanticError for a name that is not among `columns`."""
    if isinstance(expr, Literal):
        value = expr.value
        return lambda row: value
    if isinstance(expr, Column):
        name = expr.name
        if name not in columns:
            raise _semantic(expr.token, f"'{where}' operator: Failed to resolve scalar expression named '{name}'.")
        return lambda row: row.get(name)
    if isinstance(expr, Member):
        target, key = compile_expr(expr.target, columns, where), expr.name

        def member(row: Row) -> Any:
            value = target(row)
            return value.get(key) if isinstance(value, dict) else None
        return member
    if isinstance(expr, Index):
        return _compile_index(expr, columns, where)
    if isinstance(expr, Binary):
        return _compile_binary(expr, columns, where)
    if isinstance(expr, InList):
        return _compile_in(expr, columns, where)
    if isinstance(expr, Call):
        return _compile_call(expr, columns, where)
    raise _semantic(expr.token, f"'{where}' operator: the expression is not supported.")  # pragma: no cover


def _compile_index(expr: Index, columns: set[str], where: str) -> Scalar:
    target, index = compile_expr(expr.target, columns, where), compile_expr(expr.index, columns, where)

    def indexed(row: Row) -> Any:
        value, key = target(row), index(row)
        if isinstance(value, dict) and isinstance(key, str):
            return value.get(key)
        if isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
            return value[key] if -len(value) <= key < len(value) else None
        return None
    return indexed


def _compile_binary(expr: Binary, columns: set[str], where: str) -> Scalar:
    left, right = compile_expr(expr.left, columns, where), compile_expr(expr.right, columns, where)
    if expr.op == "and":
        return lambda row: left(row) is True and right(row) is True
    if expr.op == "or":
        return lambda row: left(row) is True or right(row) is True
    test = STRING_TESTS[expr.op]
    return lambda row: test(left(row), right(row))


def _compile_in(expr: InList, columns: set[str], where: str) -> Scalar:
    target = compile_expr(expr.target, columns, where)
    items = [compile_expr(item, columns, where) for item in expr.items]
    caseless, negated = expr.op.endswith("~"), expr.op.startswith("!")

    def values(row: Row) -> list[Any]:
        out: list[Any] = []
        for item in items:
            value = item(row)
            out.extend(value if isinstance(value, list) else [value])
        return out

    if all(isinstance(item, Literal) for item in expr.items):   # constant lists: one set, built once
        constant = values({})
        lowered = {_lower(v) for v in constant if v is not None}
        exact = {_hashable(v) for v in constant if v is not None}

        def member(row: Row) -> bool:
            value = target(row)
            if caseless:
                return _lower(value) in lowered
            return _hashable("" if value is None else value) in exact
    else:
        def member(row: Row) -> bool:
            value = target(row)
            if caseless:
                return _lower(value) in {_lower(v) for v in values(row)}
            return any(_equal(value, v) for v in values(row))

    if negated:
        return lambda row: not member(row)
    return member


def _compile_call(expr: Call, columns: set[str], where: str) -> Scalar:
    if expr.name in AGGREGATIONS:
        raise _semantic(expr.token, f"'{where}' operator: '{expr.name}' is an aggregation function, valid only in "
                        "summarize.")
    args = [compile_expr(arg, columns, where) for arg in expr.args]
    first = args[0]
    name = expr.name
    if name == "tostring":
        return lambda row: to_str(first(row))
    if name == "tolower":
        return lambda row: to_str(first(row)).lower()
    if name == "toupper":
        return lambda row: to_str(first(row)).upper()
    if name == "isempty":
        return lambda row: first(row) in (None, "")
    if name == "isnotempty":
        return lambda row: first(row) not in (None, "")
    if name == "strcat":
        return lambda row: "".join(to_str(arg(row)) for arg in args)
    if name == "array_length":
        def length(row: Row) -> int | None:
            value = first(row)
            return len(value) if isinstance(value, list) else None
        return length
    if name == "coalesce":
        def coalesce(row: Row) -> Any:
            for arg in args:
                value = arg(row)
                if value not in (None, ""):
                    return value
            return None
        return coalesce

    def negation(row: Row) -> bool | None:   # not()
        value = first(row)
        return None if value is None else value is not True
    return negation


# ---------------------------------------------------------------- tabular operators
class Evaluator:
    """Runs pipelines over the base tables given by `table(name)` (called at most once per table)."""

    def __init__(self, table: Callable[[str], Table]):
        self._table = table
        self._cache: dict[str, Table] = {}

    def base(self, name: str) -> Table:
        if name not in self._cache:
            self._cache[name] = self._table(name)
        return self._cache[name]

    def run(self, pipeline: Pipeline) -> Table:
        table = self.base(pipeline.table.value)
        for operator in pipeline.operators:
            table = self.apply(operator, table)
        return table

    def apply(self, op: Operator, table: Table) -> Table:
        if isinstance(op, Where):
            predicate = compile_expr(op.predicate, set(table.columns), "where")
            return Table(table.columns, [row for row in table.rows if predicate(row) is True])
        if isinstance(op, Project):
            return self.project(op, table)
        if isinstance(op, ProjectAway):
            return self.project_away(op, table)
        if isinstance(op, Extend):
            return self.extend(op, table)
        if isinstance(op, MvExpand):
            return self.mv_expand(op, table)
        if isinstance(op, Join):
            return self.join(op, table)
        if isinstance(op, Take):
            return Table(table.columns, table.rows[:op.count])
        if isinstance(op, OrderBy):
            return self.order_by(op, table)
        if isinstance(op, Distinct):
            return self.distinct(op, table)
        if isinstance(op, Summarize):
            return self.summarize(op, table)
        if isinstance(op, Count):
            return Table(["Count"], [{"Count": len(table.rows)}])
        raise _semantic(op.token, "The operator is not supported.")  # pragma: no cover

    @staticmethod
    def _columns_exist(names: tuple[Token, ...], table: Table, where: str) -> None:
        for token in names:
            if token.value not in table.columns:
                raise _semantic(token, f"'{where}' operator: Failed to resolve column named '{token.value}'.")

    def project(self, op: Project, table: Table) -> Table:
        available, namer = set(table.columns), _Namer()
        compiled = [(namer.name(item), compile_expr(item.expr, available, "project")) for item in op.items]
        columns = list(dict.fromkeys(name for name, _ in compiled))
        return Table(columns, [{name: fn(row) for name, fn in compiled} for row in table.rows])

    def project_away(self, op: ProjectAway, table: Table) -> Table:
        self._columns_exist(op.names, table, "project-away")
        dropped = {token.value for token in op.names}
        columns = [c for c in table.columns if c not in dropped]
        return Table(columns, [{c: row.get(c) for c in columns} for row in table.rows])

    def extend(self, op: Extend, table: Table) -> Table:
        columns, namer = list(table.columns), _Namer()
        steps = []
        for item in op.items:   # later items may use the earlier ones
            fn = compile_expr(item.expr, set(columns), "extend")
            name = namer.name(item)
            steps.append((name, fn))
            if name not in columns:
                columns.append(name)
        rows = []
        for row in table.rows:
            new = dict(row)
            for name, fn in steps:
                new[name] = fn(new)
            rows.append(new)
        return Table(columns, rows)

    def mv_expand(self, op: MvExpand, table: Table) -> Table:
        columns, namer = list(table.columns), _Namer()
        expansions = []
        for item, type_name in zip(op.items, op.types, strict=True):
            name = namer.name(item)
            expansions.append((name, compile_expr(item.expr, set(table.columns), "mv-expand"), type_name))
            if name not in columns:
                columns.append(name)
        limit = op.limit if op.limit is not None else MV_EXPAND_DEFAULT_ROWS   # its maximum: limits.py, before
        rows: list[Row] = []
        for row in table.rows:
            lists = []
            for _, fn, type_name in expansions:
                value = fn(row)
                if isinstance(value, dict):
                    elements = [{k: v} for k, v in value.items()]   # a property bag: one row per property
                elif isinstance(value, list):
                    elements = list(value)
                else:
                    elements = [value]
                lists.append([_cast(e, type_name) for e in elements])
            for i in range(min(max(len(values) for values in lists), limit)):
                new = dict(row)
                for (name, _, _), values in zip(expansions, lists, strict=True):
                    new[name] = values[i] if i < len(values) else None
                rows.append(new)
        return Table(columns, rows)

    def join(self, op: Join, left: Table) -> Table:
        right = self.run(op.right)
        self._columns_exist(tuple(k[0] for k in op.keys), left, "join")
        self._columns_exist(tuple(k[1] for k in op.keys), right, "join")
        left_keys = [k[0].value for k in op.keys]
        right_keys = [k[1].value for k in op.keys]
        renamed: dict[str, str] = {}
        taken = set(left.columns)
        for column in right.columns:
            name, n = column, 0
            while name in taken:
                n += 1
                name = f"{column}{n}"
            renamed[column] = name
            taken.add(name)
        columns = left.columns + [renamed[c] for c in right.columns]
        index: dict[tuple, list[Row]] = {}
        for row in right.rows:
            key = tuple(_hashable(row.get(c)) for c in right_keys)
            if None not in key:
                index.setdefault(key, []).append(row)
        seen: set[tuple] = set()
        rows: list[Row] = []
        for row in left.rows:
            key = tuple(_hashable(row.get(c)) for c in left_keys)
            if op.kind == "innerunique":
                if key in seen:
                    continue
                seen.add(key)
            matches = index.get(key, []) if None not in key else []
            for match in matches:
                new = dict(row)
                new.update({renamed[c]: match.get(c) for c in right.columns})
                rows.append(new)
            if not matches and op.kind == "leftouter":
                new = dict(row)
                new.update({renamed[c]: None for c in right.columns})
                rows.append(new)
        return Table(columns, rows)

    def order_by(self, op: OrderBy, table: Table) -> Table:
        rows = list(table.rows)
        for key in reversed(op.keys):   # stable sorts, last key first
            fn = compile_expr(key.expr, set(table.columns), "order by")
            null_rank = 0 if key.descending != key.nulls_first else 2

            def sort_key(row: Row, fn: Scalar = fn, null_rank: int = null_rank) -> tuple:
                value = fn(row)
                return (null_rank,) if value is None else (1, _sort_value(value))
            rows.sort(key=sort_key, reverse=key.descending)
        return Table(table.columns, rows)

    def distinct(self, op: Distinct, table: Table) -> Table:
        if op.names is not None:
            self._columns_exist(op.names, table, "distinct")
        columns = table.columns if op.names is None else list(dict.fromkeys(t.value for t in op.names))
        seen: set[tuple] = set()
        rows = []
        for row in table.rows:
            key = tuple(_hashable(row.get(c)) for c in columns)
            if key not in seen:
                seen.add(key)
                rows.append({c: row.get(c) for c in columns})
        return Table(columns, rows)

    def summarize(self, op: Summarize, table: Table) -> Table:
        available, namer = set(table.columns), _Namer()
        by = [(namer.name(item), compile_expr(item.expr, available, "summarize")) for item in op.by]
        aggregations = []
        for item in op.aggregations:
            call = item.expr
            assert isinstance(call, Call)
            arg = compile_expr(call.args[0], available, "summarize") if call.args else None
            suffix = (derived_name(call.args[0]) or "") if call.args else ""
            name = item.name or AGGREGATION_PREFIX[call.name] + suffix
            aggregations.append((name, call.name, arg))
        groups: dict[tuple, tuple[list[Any], list[list[Any]]]] = {}
        for row in table.rows:
            keys = [fn(row) for _, fn in by]
            group = groups.setdefault(tuple(_hashable(k) for k in keys), (keys, [[] for _ in aggregations]))
            for (_, _, arg), values in zip(aggregations, group[1], strict=True):
                values.append(arg(row) if arg is not None else None)
        if not by and not groups:
            groups[()] = ([], [[] for _ in aggregations])   # summarize without by: one row, even for no input
        columns = list(dict.fromkeys([name for name, _ in by] + [name for name, _, _ in aggregations]))
        rows = []
        for keys, collected in groups.values():
            row = {name: key for (name, _), key in zip(by, keys, strict=True)}
            for (name, function, _), values in zip(aggregations, collected, strict=True):
                row[name] = _aggregate(function, values)
            rows.append(row)
        return Table(columns, rows)


def _cast(value: Any, type_name: str | None) -> Any:
    """mv-expand's `to typeof(t)`: an element of another type becomes null."""
    if type_name in (None, "dynamic"):
        return value
    if type_name == "string":
        return value if isinstance(value, str) else None
    if type_name in ("bool", "boolean"):
        return value if isinstance(value, bool) else None
    if type_name in ("int", "long"):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return value if _number(value) else None


def _aggregate(function: str, values: list[Any]) -> Any:
    if function == "count":
        return len(values)
    present = [v for v in values if v is not None]
    if function == "make_list":
        return present
    if function == "make_set":
        seen: set[Any] = set()
        out = []
        for value in present:
            key = _hashable(value)
            if key not in seen:
                seen.add(key)
                out.append(value)
        return out
    # any(): a non-empty value when there is one
    return next((v for v in present if v != ""), present[0] if present else None)
