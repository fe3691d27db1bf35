"""Resource Graph's own limits on a query, checked before it runs (Microsoft Learn, "Understanding the Azure Resource
Graph query language", table of supported tabular operators):

- at most 3 `join` in one query (the joined subqueries' own joins count). The page also allows only one
  cross-table join unless every one is between Resources and ResourceContainers: the only tables emulated here.
- at most 2 `mv-expand` in one query (the legacy `mvexpand` counts too [unverified]). The page says 2 in the
  operator table and "a default limit of 3 join and 3 mv-expand operators" below it; the emulator keeps the
  stricter 2, so that a query it accepts is within both readings (settings.graph_max_mv_expands makes it 3).
- mv-expand's row limit: 128 rows per input row unless the query says `limit N`, and N at most 400 (later
  third-party reports say 2000: settings.graph_mv_expand_max_rows).
A query beyond a limit is 400 BadRequest > InvalidQuery > the reason naming the limit, like every invalid query;
the reason's code and wording are the emulator's own [unverified: no public report quotes Resource Graph's].
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .lexer import QueryError
from .parser import Join, MvExpand, Operator, Pipeline

MV_EXPAND_DEFAULT_ROWS = 128   # rows per input row when the query gives no `limit`
LIMIT_EXCEEDED = "OperatorLimitExceeded"   # [unverified] the reason's code


@dataclass(frozen=True)
class Limits:
    max_joins: int = 3
    max_mv_expands: int = 2
    mv_expand_max_rows: int = 400

    @classmethod
    def from_settings(cls, settings: dict) -> Limits:
        return cls(int(settings.get("graph_max_joins", cls.max_joins)),
                   int(settings.get("graph_max_mv_expands", cls.max_mv_expands)),
                   int(settings.get("graph_mv_expand_max_rows", cls.mv_expand_max_rows)))


def _operators(pipeline: Pipeline) -> Iterator[Operator]:
    """Every operator of the query, those of joined subqueries included, in the order they are written."""
    for op in pipeline.operators:
        yield op
        if isinstance(op, Join):
            yield from _operators(op.right)


def _limit_error(op: Operator, message: str) -> QueryError:
    token = op.token
    return QueryError(LIMIT_EXCEEDED, message, token.shown(), token.line, token.column)


def check(pipeline: Pipeline, limits: Limits) -> None:
    """QueryError naming the first limit the query goes beyond."""
    joins = [op for op in _operators(pipeline) if isinstance(op, Join)]
    expands = [op for op in _operators(pipeline) if isinstance(op, MvExpand)]
    if len(joins) > limits.max_joins:
        raise _limit_error(joins[limits.max_joins], f"The query has {len(joins)} 'join' operators: Resource Graph "
                           f"allows at most {limits.max_joins} in one query.")
    if len(expands) > limits.max_mv_expands:
        raise _limit_error(expands[limits.max_mv_expands], f"The query has {len(expands)} 'mv-expand' operators: "
                           f"Resource Graph allows at most {limits.max_mv_expands} in one query.")
    for op in expands:
        if op.limit is not None and op.limit > limits.mv_expand_max_rows:
            raise _limit_error(op, f"The row limit {op.limit} of 'mv-expand' is beyond Resource Graph's maximum of "
                               f"{limits.mv_expand_max_rows}.")
