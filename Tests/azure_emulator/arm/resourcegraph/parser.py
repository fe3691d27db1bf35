"""The KQL parser: tokens -> a syntax tree, by recursive descent. It accepts exactly the subset the emulator
evaluates and names anything else in a QueryError (ParserFailure for what is not KQL, InvalidQueryLanguage for
KQL beyond the subset), so a query is never silently half-understood.

Grammar (`[]` optional, `{}` repeated):
  query      := tabular [';']
  tabular    := [table] {'|' operator}            (a query that starts with an operator reads Resources)
  table      := Resources | ResourceContainers     (case-insensitive, as Resource Graph's table names)
  operator   := where expr | project item {',' item} | project-away name {',' name} | extend item {',' item}
              | (mv-expand | mvexpand) [name '='] expr [to typeof '(' type ')'] {',' ...} [limit N]
              | join [kind '=' (inner | leftouter | innerunique)] ( '(' tabular ')' | table ) on keys
              | limit N | take N | order by sortkey {',' sortkey} | sort by ... | distinct (name {',' name} | '*')
              | summarize [agg {',' agg}] [by item {',' item}] | count
  keys       := name {',' name} | '$left.' name '==' '$right.' name {(',' | and) ...}
  item       := [name '='] expr;  agg := [name '='] (count '(' ')' | make_list | make_set | any '(' expr ')')
  sortkey    := expr [asc | desc] [nulls (first | last)]
  expr       := or;  or := and {or and};  and := cmp {and cmp}
  cmp        := postfix [(== | != | =~ | !~ | < | <= | > | >= | has | !has | contains | !contains | startswith
                | !startswith | endswith | !endswith) postfix | (in | in~ | !in | !in~) '(' expr {',' expr} ')']
  postfix    := primary {'.' name | '[' expr ']'};  primary := literal | name | call | '(' expr ')' | '-' number
  call       := name '(' [expr {',' expr}] ')'     (tostring tolower toupper isempty isnotempty strcat array_length
                                                   coalesce not; aggregations only in summarize)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .lexer import QueryError, Token, tokenize

TABLES = ("Resources", "ResourceContainers")
# Resource Graph's other tables: real, but not emulated (named as unsupported rather than unknown)
OTHER_TABLES = ("AdvisorResources", "AlertsManagementResources", "AppServiceResources", "AuthorizationResources",
                "ComputeResources", "DesktopVirtualizationResources", "ExtendedLocationResources",
                "GuestConfigurationResources", "HealthResources", "IoTSecurityResources",
                "KubernetesConfigurationResources", "MaintenanceResources", "NetworkResources",
                "PatchAssessmentResources", "PolicyResources", "RecoveryServicesResources", "SecurityResources",
                "ServiceHealthResources", "SpotResources", "SupportResources")
OPERATORS = ("where", "project", "project-away", "extend", "mv-expand", "mvexpand", "join", "limit", "take", "order",
             "sort", "distinct", "summarize", "count")
# KQL tabular operators outside the subset (named in the error)
OTHER_OPERATORS = ("top", "union", "parse", "project-rename", "project-keep", "project-reorder", "mv-apply",
                   "sample", "sample-distinct", "make-series", "top-nested", "top-hitters",
                   "lookup", "evaluate", "render", "serialize", "as", "invoke", "getschema", "search", "find",
                   "filter", "range", "print", "datatable", "externaldata", "facet", "fork", "partition", "scan")
COMPARISONS = ("==", "!=", "=~", "!~", "<", "<=", ">", ">=", "has", "!has", "contains", "!contains", "startswith",
               "!startswith", "endswith", "!endswith")
IN_OPERATORS = ("in", "in~", "!in", "!in~")
# KQL string operators outside the subset
OTHER_STRING_OPERATORS = ("has_cs", "!has_cs", "contains_cs", "!contains_cs", "startswith_cs", "endswith_cs",
                          "hasprefix", "hassuffix", "has_any", "has_all", "matches", "like", "between", "!between")
SCALAR_FUNCTIONS = {"tostring": (1, 1), "tolower": (1, 1), "toupper": (1, 1), "isempty": (1, 1),
                    "isnotempty": (1, 1), "strcat": (1, 64), "array_length": (1, 1), "coalesce": (2, 64),
                    "not": (1, 1)}
AGGREGATIONS = {"count": (0, 0), "make_list": (1, 1), "make_set": (1, 1), "any": (1, 1)}
AGGREGATION_PREFIX = {"count": "count_", "make_list": "list_", "make_set": "set_", "any": "any_"}
JOIN_KINDS = ("inner", "leftouter", "innerunique")
# KQL join kinds Resource Graph itself refuses, with the name its error gives them: 400 ... "The join kind "LeftSemi"
# is not supported or not allowed." (Code: UnsupportedJoinFlavor), as reported in MicrosoftDocs/azure-docs#45495.
# (fullouter, which Resource Graph has since allowed, stays outside the emulated subset.) Aliases [unverified].
REFUSED_JOIN_KINDS = {"leftsemi": "LeftSemi", "leftanti": "LeftAnti", "anti": "LeftAnti", "leftantisemi": "LeftAnti",
                      "rightsemi": "RightSemi", "rightanti": "RightAnti", "rightantisemi": "RightAnti",
                      "rightouter": "RightOuter"}
TYPE_NAMES = ("string", "dynamic", "bool", "boolean", "int", "long", "real", "double")


# ---------------------------------------------------------------- scalar expressions
@dataclass(frozen=True)
class Expr:
    token: Token


@dataclass(frozen=True)
class Literal(Expr):
    value: Any


@dataclass(frozen=True)
class Column(Expr):
    name: str


@dataclass(frozen=True)
class Member(Expr):
    target: Expr
    name: str


@dataclass(frozen=True)
class Index(Expr):
    target: Expr
    index: Expr


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class InList(Expr):
    op: str                     # in | in~ | !in | !in~
    target: Expr
    items: tuple[Expr, ...]


# ---------------------------------------------------------------- tabular operators
@dataclass(frozen=True)
class Item:
    """`name = expr`, or `expr` alone (name None: derived from the expression)."""

    name: str | None
    expr: Expr


@dataclass(frozen=True)
class Operator:
    token: Token


@dataclass(frozen=True)
class Where(Operator):
    predicate: Expr


@dataclass(frozen=True)
class Project(Operator):
    items: tuple[Item, ...]


@dataclass(frozen=True)
class ProjectAway(Operator):
    names: tuple[Token, ...]


@dataclass(frozen=True)
class Extend(Operator):
    items: tuple[Item, ...]


@dataclass(frozen=True)
class MvExpand(Operator):
    items: tuple[Item, ...]
    types: tuple[str | None, ...]   # `to typeof(t)` per item
    limit: int | None


@dataclass(frozen=True)
class Join(Operator):
    kind: str
    right: Pipeline
    keys: tuple[tuple[Token, Token], ...]   # (left column, right column)


@dataclass(frozen=True)
class Take(Operator):
    count: int


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class OrderBy(Operator):
    keys: tuple[SortKey, ...]


@dataclass(frozen=True)
class Distinct(Operator):
    names: tuple[Token, ...] | None   # None: distinct *


@dataclass(frozen=True)
class Summarize(Operator):
    aggregations: tuple[Item, ...]    # each expr a Call of AGGREGATIONS
    by: tuple[Item, ...]


@dataclass(frozen=True)
class Count(Operator):
    pass


@dataclass(frozen=True)
class Pipeline:
    table: Token                      # the table name token (Resources when the query starts with an operator)
    operators: tuple[Operator, ...] = field(default=())


# ---------------------------------------------------------------- the parser
def _unsupported(token: Token, what: str) -> QueryError:
    return QueryError("InvalidQueryLanguage", f"{what} '{token.shown()}' is not supported by this Resource Graph "
                      "emulator (it evaluates the subset of KQL listed in Tests/azure_emulator/README.md).",
                      token.shown(), token.line, token.column)


def _syntax(token: Token, expected: str) -> QueryError:
    return QueryError("ParserFailure", f"Syntax error at '{token.shown()}': expected {expected}.", token.shown(),
                      token.line, token.column)


class Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    # ------------------------------------------------------------ token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def at(self, *values: str, kind: str | None = None) -> bool:
        token = self.tok
        return token.kind in ((kind,) if kind else ("symbol", "ident")) and token.value in values

    def expect(self, value: str, expected: str | None = None) -> Token:
        if not self.at(value):
            raise _syntax(self.tok, expected or f"'{value}'")
        return self.advance()

    def name(self, expected: str = "a name") -> Token:
        if self.tok.kind != "ident":
            raise _syntax(self.tok, expected)
        return self.advance()

    def integer(self, what: str) -> int:
        token = self.tok
        if token.kind != "number" or not token.value.isdigit():
            raise _syntax(token, f"a whole number ({what})")
        self.advance()
        return int(token.value)

    # ------------------------------------------------------------ queries
    def parse(self) -> Pipeline:
        if self.tok.kind == "ident" and self.tok.value == "let":
            raise _unsupported(self.tok, "The statement")
        pipeline = self.tabular()
        if self.at(";", kind="symbol"):
            self.advance()
        if self.tok.kind != "end":
            raise _syntax(self.tok, "'|' or the end of the query")
        return pipeline

    def tabular(self) -> Pipeline:
        token = self.tok
        if token.kind == "ident" and (token.value in OPERATORS or token.value in OTHER_OPERATORS):
            table = Token("ident", "Resources", token.line, token.column)   # Resource Graph's default table
            operators = [self.operator()]
        else:
            table = self.table()
            operators = []
        while self.at("|", kind="symbol"):
            self.advance()
            operators.append(self.operator())
        return Pipeline(table, tuple(operators))

    def table(self) -> Token:
        token = self.tok
        if token.kind != "ident":
            raise _syntax(token, "a table name (Resources or ResourceContainers)")
        self.advance()
        for name in TABLES:
            if token.value.lower() == name.lower():
                return Token("ident", name, token.line, token.column)
        if token.value.lower() in (t.lower() for t in OTHER_TABLES):
            raise _unsupported(token, "The table")
        raise QueryError("SemanticError", f"The name '{token.value}' does not refer to any known table, tabular "
                         "variable or function.", token.value, token.line, token.column)

    def operator(self) -> Operator:
        token = self.tok
        if token.kind != "ident":
            raise _syntax(token, "a query operator")
        name = token.value
        if name in OTHER_OPERATORS:
            raise _unsupported(token, "The operator")
        if name not in OPERATORS:
            raise _syntax(token, "a query operator")
        self.advance()
        if name == "where":
            return Where(token, self.expr())
        if name == "project":
            return Project(token, self.items())
        if name == "project-away":
            return ProjectAway(token, self.names())
        if name == "extend":
            return Extend(token, self.items())
        if name in ("mv-expand", "mvexpand"):   # mvexpand: the legacy spelling, which Resource Graph still accepts
            return self.mv_expand(token)
        if name == "join":
            return self.join(token)
        if name in ("limit", "take"):
            return Take(token, self.integer(f"the row count of {name}"))
        if name in ("order", "sort"):
            self.expect("by", f"'by' after '{name}'")
            return OrderBy(token, tuple(self.comma_separated(self.sort_key)))
        if name == "distinct":
            if self.at("*", kind="symbol"):
                self.advance()
                return Distinct(token, None)
            return Distinct(token, self.names())
        if name == "summarize":
            return self.summarize(token)
        return Count(token)

    def comma_separated(self, parse_one):
        out = [parse_one()]
        while self.at(",", kind="symbol"):
            self.advance()
            out.append(parse_one())
        return out

    def names(self) -> tuple[Token, ...]:
        return tuple(self.comma_separated(lambda: self.name("a column name")))

    def item(self) -> Item:
        if self.tok.kind == "ident" and self.peek().kind == "symbol" and self.peek().value == "=":
            name = self.advance().value
            self.advance()
            return Item(name, self.expr())
        return Item(None, self.expr())

    def items(self) -> tuple[Item, ...]:
        return tuple(self.comma_separated(self.item))

    def sort_key(self) -> SortKey:
        expr = self.expr()
        descending = True   # KQL sorts descending unless told otherwise
        if self.at("asc", "desc", kind="ident"):
            descending = self.advance().value == "desc"
        nulls_first = not descending
        if self.at("nulls", kind="ident"):
            self.advance()
            if not self.at("first", "last", kind="ident"):
                raise _syntax(self.tok, "'first' or 'last' after 'nulls'")
            nulls_first = self.advance().value == "first"
        return SortKey(expr, descending, nulls_first)

    def mv_expand(self, token: Token) -> MvExpand:
        if self.at("kind", "bagexpansion", "with_itemindex", kind="ident") and self.peek().value == "=":
            raise _unsupported(self.tok, "The mv-expand parameter")
        items: list[Item] = []
        types: list[str | None] = []
        while True:
            items.append(self.item())
            type_name = None
            if self.at("to", kind="ident"):
                self.advance()
                self.expect("typeof", "'typeof' after 'to'")
                self.expect("(")
                type_token = self.name("a type name")
                if type_token.value not in TYPE_NAMES:
                    raise _syntax(type_token, "a scalar type name")
                type_name = type_token.value
                self.expect(")")
            types.append(type_name)
            if not self.at(",", kind="symbol"):
                break
            self.advance()
        limit = None
        if self.at("limit", kind="ident"):
            self.advance()
            limit = self.integer("the row limit of mv-expand")
        return MvExpand(token, tuple(items), tuple(types), limit)

    def join(self, token: Token) -> Join:
        kind = "innerunique"   # KQL's default join flavour
        if self.at("kind", kind="ident"):
            self.advance()
            self.expect("=", "'=' after 'kind'")
            kind_token = self.name("a join kind")
            refused = REFUSED_JOIN_KINDS.get(kind_token.value)
            if refused:
                raise QueryError("UnsupportedJoinFlavor", f'The join kind "{refused}" is not supported or not allowed.',
                                 kind_token.shown(), kind_token.line, kind_token.column)
            if kind_token.value not in JOIN_KINDS:
                raise _unsupported(kind_token, "The join kind")
            kind = kind_token.value
        if self.at("hint.strategy", "hint", kind="ident"):
            raise _unsupported(self.tok, "The join hint")
        if self.at("(", kind="symbol"):
            self.advance()
            right = self.tabular()
            self.expect(")", "')' closing the joined query")
        else:
            right = Pipeline(self.table())
        self.expect("on", "'on' and the join keys")
        keys: list[tuple[Token, Token]] = []
        while True:
            if self.at("$left", kind="ident"):
                self.advance()
                self.expect(".")
                left = self.name("a column of the left side")
                self.expect("==", "'==' between the join keys")
                if not self.at("$right", kind="ident"):
                    raise _syntax(self.tok, "'$right.' and a column of the right side")
                self.advance()
                self.expect(".")
                keys.append((left, self.name("a column of the right side")))
            else:
                column = self.name("a join key column, or $left.column == $right.column")
                keys.append((column, column))
            if self.at(",", kind="symbol") or self.at("and", kind="ident"):
                self.advance()
                continue
            break
        return Join(token, kind, right, tuple(keys))

    def summarize(self, token: Token) -> Summarize:
        aggregations: tuple[Item, ...] = ()
        if not self.at("by", kind="ident"):
            aggregations = tuple(self.comma_separated(self.aggregation))
        by: tuple[Item, ...] = ()
        if self.at("by", kind="ident"):
            self.advance()
            by = self.items()
        if not aggregations and not by:
            raise _syntax(self.tok, "an aggregation or 'by'")
        return Summarize(token, aggregations, by)

    def aggregation(self) -> Item:
        item = self.item()
        expr = item.expr
        if not isinstance(expr, Call) or expr.name not in AGGREGATIONS:
            if isinstance(expr, Call) and expr.name not in SCALAR_FUNCTIONS:
                raise _unsupported(expr.token, "The aggregation function")
            raise QueryError("SemanticError", "summarize: an aggregation function is expected (count, make_list, "
                             "make_set, any).", expr.token.shown(), expr.token.line, expr.token.column)
        return item

    # ------------------------------------------------------------ scalar expressions
    def expr(self) -> Expr:
        return self.or_expr()

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.at("or", kind="ident"):
            token = self.advance()
            left = Binary(token, "or", left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.comparison()
        while self.at("and", kind="ident"):
            token = self.advance()
            left = Binary(token, "and", left, self.comparison())
        return left

    def comparison(self) -> Expr:
        left = self.postfix()
        token = self.tok
        if token.kind in ("symbol", "ident") and token.value in COMPARISONS:
            self.advance()
            return Binary(token, token.value, left, self.postfix())
        if token.kind in ("symbol", "ident") and token.value in IN_OPERATORS:
            self.advance()
            self.expect("(", f"'(' and a list of values after '{token.value}'")
            items = [self.expr()]
            while self.at(",", kind="symbol"):
                self.advance()
                items.append(self.expr())
            self.expect(")", "',' or ')' in the list of values")
            return InList(token, token.value, left, tuple(items))
        if token.kind in ("symbol", "ident") and token.value in OTHER_STRING_OPERATORS:
            raise _unsupported(token, "The operator")
        if token.kind == "symbol" and token.value in ("+", "-", "*", "/", "%"):
            raise _unsupported(token, "The arithmetic operator")
        return left

    def postfix(self) -> Expr:
        expr = self.primary()
        while True:
            if self.at(".", kind="symbol"):
                token = self.advance()
                name = self.name("a property name after '.'")
                expr = Member(token, expr, name.value)
            elif self.at("[", kind="symbol"):
                token = self.advance()
                index = self.expr()
                self.expect("]", "']'")
                expr = Index(token, expr, index)
            else:
                return expr

    def primary(self) -> Expr:
        token = self.tok
        if token.kind == "string":
            self.advance()
            return Literal(token, token.value)
        if token.kind == "number":
            self.advance()
            return Literal(token, float(token.value) if "." in token.value else int(token.value))
        if token.kind == "symbol" and token.value == "-" and self.peek().kind == "number":
            self.advance()
            number = self.advance()
            return Literal(token, -(float(number.value) if "." in number.value else int(number.value)))
        if token.kind == "symbol" and token.value == "(":
            self.advance()
            inner = self.expr()
            self.expect(")", "')'")
            return inner
        if token.kind == "ident":
            self.advance()
            if token.value in ("true", "false") and not self.at("(", kind="symbol"):
                return Literal(token, token.value == "true")
            if self.at("(", kind="symbol"):
                return self.call(token)
            if token.value.startswith("$"):
                raise _syntax(token, "$left / $right only in the keys of a join")
            return Column(token, token.value)
        raise _syntax(token, "a value, a column or a function")

    def call(self, token: Token) -> Call:
        name = token.value
        if name not in SCALAR_FUNCTIONS and name not in AGGREGATIONS:
            raise _unsupported(token, "The function")
        self.expect("(")
        args: list[Expr] = []
        if not self.at(")", kind="symbol"):
            args = self.comma_separated(self.expr)
        self.expect(")", "',' or ')' closing the arguments")
        low, high = SCALAR_FUNCTIONS.get(name) or AGGREGATIONS[name]
        if not low <= len(args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise QueryError("SemanticError", f"The function '{name}' expects {wanted} argument(s), got "
                             f"{len(args)}.", name, token.line, token.column)
        return Call(token, name, tuple(args))


def parse(text: str) -> Pipeline:
    """The syntax tree of a Resource Graph query; QueryError for anything outside the subset."""
    return Parser(text).parse()
