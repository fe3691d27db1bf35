"""The Resource Graph emulator's KQL subset, evaluated over small in-memory tables (no server): every operator,
comparison and function of the subset, Kusto's value semantics, and the errors that name what is outside it."""
from __future__ import annotations

from typing import Any

import pytest

from Tests.azure_emulator.arm.resourcegraph.evaluator import Evaluator, Table
from Tests.azure_emulator.arm.resourcegraph.lexer import QueryError, tokenize
from Tests.azure_emulator.arm.resourcegraph.limits import Limits, check
from Tests.azure_emulator.arm.resourcegraph.parser import parse

VMS: list[dict[str, Any]] = [
    {"id": "/s/vm/web-01", "name": "web-01", "type": "microsoft.compute/virtualmachines", "location": "eastus",
     "tags": {"role": "web", "env": "prod"},
     "properties": {"osProfile": {"computerName": "WEB01"}, "nics": [{"ip": "10.0.1.4"}, {"ip": "10.0.1.5"}]}},
    {"id": "/s/vm/web-10", "name": "web-10", "type": "microsoft.compute/virtualmachines", "location": "westus",
     "tags": {"role": "web"}, "properties": {"osProfile": {"computerName": "web-10"}, "nics": [{"ip": "10.0.2.4"}]}},
    {"id": "/s/vm/db-01", "name": "db-01", "type": "microsoft.compute/virtualmachines", "location": "eastus",
     "tags": {}, "properties": {"osProfile": {"computerName": "sql.prod"}, "nics": []}},
]
NICS: list[dict[str, Any]] = [
    {"id": "/s/nic/a", "name": "nic-a", "type": "microsoft.network/networkinterfaces", "vm": "/S/VM/WEB-01"},
    {"id": "/s/nic/b", "name": "nic-b", "type": "microsoft.network/networkinterfaces", "vm": "/s/vm/db-01"},
    {"id": "/s/nic/c", "name": "nic-c", "type": "microsoft.network/networkinterfaces", "vm": None},
]
COLUMNS = ["id", "name", "type", "location", "tags", "properties", "vm"]


def table(name: str) -> Table:
    rows = VMS + NICS if name == "Resources" else [{"id": "/s", "name": "Sub", "type": "sub"}]
    return Table(list(COLUMNS), [{c: row.get(c) for c in COLUMNS} for row in rows])


def run(query: str) -> list[dict]:
    return Evaluator(table).run(parse(query)).rows


def names(query: str) -> list[str]:
    return [row["name"] for row in run(query)]


def error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        run(query)
    return info.value


# ---------------------------------------------------------------- comparisons
@pytest.mark.parametrize(("where", "expected"), [
    ("name == 'web-01'", ["web-01"]),
    ("name == 'WEB-01'", []),                                   # == is case-sensitive
    ("name =~ 'WEB-01'", ["web-01"]),
    ("name != 'web-01' and type has 'virtualmachines'", ["web-10", "db-01"]),
    ("name !~ 'WEB-01' and type has 'virtualmachines'", ["web-10", "db-01"]),
    ("name in ('web-01', 'db-01')", ["web-01", "db-01"]),
    ("name in ('WEB-01')", []),
    ("name in~ ('WEB-01', 'DB-01')", ["web-01", "db-01"]),
    ("name !in ('web-01', 'db-01', 'nic-a', 'nic-b')", ["web-10", "nic-c"]),
    ("name !in~ ('WEB-01', 'DB-01', 'NIC-A', 'NIC-B')", ["web-10", "nic-c"]),
    ("name has 'web'", ["web-01", "web-10"]),                   # whole terms: web-01 -> web, 01
    ("name has '01'", ["web-01", "db-01"]),
    ("name has '1'", []),                                       # never part of a term
    ("name !has 'web'", ["db-01", "nic-a", "nic-b", "nic-c"]),
    ("name contains 'EB-1'", ["web-10"]),                       # substrings, without case
    ("name !contains 'e'", ["db-01", "nic-a", "nic-b", "nic-c"]),
    ("name startswith 'WEB'", ["web-01", "web-10"]),
    ("name !startswith 'nic'", ["web-01", "web-10", "db-01"]),
    ("name endswith '-01'", ["web-01", "db-01"]),
    ("name !endswith '0' and name !endswith 'a'", ["web-01", "db-01", "nic-b", "nic-c"]),
    ("name == 'web-01' or name == 'db-01'", ["web-01", "db-01"]),
    ("not(name startswith 'nic')", ["web-01", "web-10", "db-01"]),
    ("(name has 'web' or name has 'db') and location == 'eastus'", ["web-01", "db-01"]),
    ("array_length(properties.nics) > 1", ["web-01"]),
    ("array_length(properties.nics) <= 0", ["db-01"]),
    ("array_length(properties.nics) >= 1 and array_length(properties.nics) < 2", ["web-10"]),
])
def test_where_comparisons(where, expected):
    assert names(f"Resources | where {where}") == expected


def test_null_semantics():
    # a missing property is null; string tests see it as "", numeric ones as false
    assert names("Resources | where isempty(vm)") == names("Resources | where type has 'virtualmachines'") + ["nic-c"]
    assert names("Resources | where isnotempty(vm)") == ["nic-a", "nic-b"]
    assert names("Resources | where tostring(properties.nope) == ''") == [r["name"] for r in VMS + NICS]
    assert names("Resources | where array_length(vm) > 0") == []   # not an array: null
    assert names("Resources | where vm in ('x')") == []
    assert names("Resources | where vm !in ('x')") == [r["name"] for r in VMS + NICS]


def test_dynamic_access_and_functions():
    rows = run("Resources | where name == 'web-01' | project a = properties.osProfile.computerName, "
               "b = tostring(properties.nics[1].ip), c = tags['env'], d = properties.nics[9], e = tolower(name), "
               "f = toupper(name), g = strcat(name, '/', tags.role, 7), h = coalesce(tags.none, '', tags.env), "
               "i = array_length(properties.nics), j = tostring(tags), k = tostring(true), l = tostring(1.0)")
    assert rows == [{"a": "WEB01", "b": "10.0.1.5", "c": "prod", "d": None, "e": "web-01", "f": "WEB-01",
                     "g": "web-01/web7", "h": "prod", "i": 2, "j": '{"role":"web","env":"prod"}', "k": "true",
                     "l": "1"}]


def test_derived_column_names():
    row = run("Resources | take 1 | project name, tostring(properties.osProfile.computerName), tags['role'], "
              "strcat(name, 'x'), strcat(name, 'y')")[0]
    assert list(row) == ["name", "properties_osProfile_computerName", "tags_role", "Column1", "Column2"]


# ---------------------------------------------------------------- tabular operators
def test_project_away_extend_take_and_default_table():
    assert run("where name == 'web-01' | project-away tags, properties, vm, location, type") == [
        {"id": "/s/vm/web-01", "name": "web-01"}]
    rows = run("Resources | extend n = tolower(name), m = strcat(n, '!') | where m == 'db-01!' | project n, m")
    assert rows == [{"n": "db-01", "m": "db-01!"}]   # later extend items see the earlier ones
    assert len(run("Resources | take 2")) == 2
    assert len(run("Resources | limit 1")) == 1
    assert run("Resources | count") == [{"Count": 6}]


def test_order_by():
    assert names("Resources | order by name asc") == ["db-01", "nic-a", "nic-b", "nic-c", "web-01", "web-10"]
    assert names("Resources | sort by name") == ["web-10", "web-01", "nic-c", "nic-b", "nic-a", "db-01"]  # desc
    assert names("Resources | order by vm asc, name desc") == ["web-10", "web-01", "nic-c", "db-01", "nic-a", "nic-b"]
    assert names("Resources | order by vm desc nulls first, name asc") == [
        "db-01", "nic-c", "web-01", "web-10", "nic-b", "nic-a"]


def test_mv_expand():
    rows = run("Resources | where type has 'virtualmachines' | mv-expand nic = properties.nics "
               "| project name, ip = tostring(nic.ip)")
    assert rows == [{"name": "web-01", "ip": "10.0.1.4"}, {"name": "web-01", "ip": "10.0.1.5"},
                    {"name": "web-10", "ip": "10.0.2.4"}]          # an empty array: no row
    assert run("Resources | where name == 'nic-c' | mv-expand vm | project name, vm") == [
        {"name": "nic-c", "vm": None}]                              # null: one row
    assert run("Resources | where name == 'web-01' | mv-expand tags | project tags") == [
        {"tags": {"role": "web"}}, {"tags": {"env": "prod"}}]      # a property bag: one row per property
    assert len(run("Resources | where name == 'web-01' | mv-expand properties.nics limit 1")) == 1
    assert run("Resources | where name == 'web-01' | mv-expand x = properties.nics to typeof(string) | project x") == [
        {"x": None}, {"x": None}]                                   # elements of another type become null


def test_join_kinds_and_column_suffixes():
    vms = "(Resources | where type has 'virtualmachines' | project vmId = tolower(id), vmName = name)"
    inner = run(f"Resources | where type has 'networkinterfaces' | extend vmId = tolower(vm) "
                f"| join kind=inner {vms} on vmId | project name, vmName")
    assert inner == [{"name": "nic-a", "vmName": "web-01"}, {"name": "nic-b", "vmName": "db-01"}]
    outer = run(f"Resources | where type has 'networkinterfaces' | extend vmId = tolower(vm) "
                f"| join kind=leftouter {vms} on $left.vmId == $right.vmId | project name, vmName, vmId1")
    assert outer == [{"name": "nic-a", "vmName": "web-01", "vmId1": "/s/vm/web-01"},
                     {"name": "nic-b", "vmName": "db-01", "vmId1": "/s/vm/db-01"},
                     {"name": "nic-c", "vmName": None, "vmId1": None}]
    # without kind: innerunique, the left side deduplicated on its keys
    twice = run("Resources | where location == 'eastus' | project location, name "
                "| join (Resources | where location == 'eastus' | project location, other = name) on location")
    assert [(r["name"], r["other"]) for r in twice] == [("web-01", "web-01"), ("web-01", "db-01")]
    both = run("Resources | where location == 'eastus' | project location, name "
               "| join kind=inner (Resources | where location == 'eastus' | project location) on location")
    assert len(both) == 4
    keys = run("Resources | where type has 'virtualmachines' | project name, location "
               "| join kind=inner (ResourceContainers | project name = 'web-10', location = 'westus', id) "
               "on name and $left.location == $right.location")
    assert keys == [{"name": "web-10", "location": "westus", "name1": "web-10", "location1": "westus", "id": "/s"}]


def test_distinct_and_summarize():
    assert run("Resources | distinct location") == [{"location": "eastus"}, {"location": "westus"},
                                                    {"location": None}]
    assert len(run("Resources | distinct *")) == 6
    rows = run("Resources | where type has 'virtualmachines' | summarize count(), names = make_list(name), "
               "make_set(tags.role), any(tags.env) by location")
    assert rows == [{"location": "eastus", "count_": 2, "names": ["web-01", "db-01"], "set_tags_role": ["web"],
                     "any_tags_env": "prod"},
                    {"location": "westus", "count_": 1, "names": ["web-10"], "set_tags_role": ["web"],
                     "any_tags_env": None}]
    assert run("Resources | where name == 'none' | summarize n = count()") == [{"n": 0}]
    assert run("Resources | summarize by t = tostring(type) | order by t asc") == [
        {"t": "microsoft.compute/virtualmachines"}, {"t": "microsoft.network/networkinterfaces"}]


def test_tables_and_comments():
    assert names("resources // table names ignore case\n| where name == 'db-01'") == ["db-01"]
    assert run("ResourceContainers | project name") == [{"name": "Sub"}]
    assert names("Resources | where name == @'db-01' or name == \"web-01\" | order by name asc;") == ["db-01", "web-01"]
    assert names("Resources | where name == 'it\\'s'") == []



def test_mv_expand_row_limit_and_legacy_spelling():
    long = {"id": "/s/x", "name": "x", "properties": {"items": list(range(300))}}

    def expand(query: str) -> list[Any]:
        rows = Evaluator(lambda _: Table(["id", "name", "properties"], [long])).run(parse(query)).rows
        return [row["i"] for row in rows]
    assert expand("Resources | mv-expand i = properties.items") == list(range(128))   # Resource Graph's default
    assert expand("Resources | mv-expand i = properties.items limit 200") == list(range(200))
    assert expand("Resources | mv-expand i = properties.items limit 400") == list(range(300))
    assert expand("Resources | mvexpand i = properties.items limit 5") == list(range(5))   # the legacy spelling


def test_join_kinds_resource_graph_refuses_are_named_as_it_names_them():
    for kind, shown in (("leftsemi", "LeftSemi"), ("leftanti", "LeftAnti"), ("rightouter", "RightOuter")):
        err = error(f"Resources | join kind={kind} (Resources) on id")
        assert (err.code, err.message) == ("UnsupportedJoinFlavor",
                                           f'The join kind "{shown}" is not supported or not allowed.')


# ---------------------------------------------------------------- Resource Graph's limits on one query
JOIN = " | join (Resources | project id) on id"
EXPAND = " | mv-expand properties.nics"


def limit_error(query: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        check(parse(query), Limits())
    return info.value


def test_at_most_three_joins_counting_those_of_joined_subqueries():
    check(parse("Resources" + JOIN * 3), Limits())
    err = limit_error("Resources" + JOIN * 4)
    assert (err.code, err.token, err.column) == ("OperatorLimitExceeded", "join", len("Resources" + JOIN * 3) + 3)
    assert err.message == "The query has 4 'join' operators: Resource Graph allows at most 3 in one query."
    nested = "Resources | join (Resources | join (Resources | project id) on id | project id) on id"
    check(parse(nested + JOIN), Limits())
    assert "has 4 'join'" in limit_error(nested + JOIN * 2).message
    check(parse("Resources" + JOIN * 4), Limits(max_joins=4))


def test_at_most_two_mv_expands_and_400_rows_each():
    check(parse("Resources" + EXPAND * 2), Limits())
    err = limit_error("Resources" + EXPAND + " | mvexpand tags" + EXPAND)
    assert (err.code, err.token) == ("OperatorLimitExceeded", "mv-expand")
    assert err.message == "The query has 3 'mv-expand' operators: Resource Graph allows at most 2 in one query."
    assert "has 3 'mv-expand'" in limit_error("Resources | join (Resources" + EXPAND * 2 + ") on id" + EXPAND).message
    check(parse("Resources" + EXPAND * 3), Limits(max_mv_expands=3))
    check(parse("Resources | mv-expand properties.nics limit 400"), Limits())
    err = limit_error("Resources | mv-expand properties.nics limit 401")
    assert (err.code, err.message) == ("OperatorLimitExceeded", "The row limit 401 of 'mv-expand' is beyond "
                                       "Resource Graph's maximum of 400.")

# ---------------------------------------------------------------- what the subset refuses, by name
@pytest.mark.parametrize(("query", "code", "token"), [
    ("Resources | parse id with * 'x'", "InvalidQueryLanguage", "parse"),
    ("Resources | top 3 by name", "InvalidQueryLanguage", "top"),
    ("Resources | union ResourceContainers", "InvalidQueryLanguage", "union"),
    ("let x = 1; Resources", "InvalidQueryLanguage", "let"),
    ("Resources | project-rename n = name", "InvalidQueryLanguage", "project-rename"),
    ("Resources | where name has_cs 'web'", "InvalidQueryLanguage", "has_cs"),
    ("Resources | where name !has_cs 'web'", "InvalidQueryLanguage", "!has_cs"),
    ("Resources | where name matches regex 'w.*'", "InvalidQueryLanguage", "matches"),
    ("Resources | where split(name, '-')[0] == 'web'", "InvalidQueryLanguage", "split"),
    ("Resources | extend x = 1 + 2", "InvalidQueryLanguage", "+"),
    ("Resources | where name in (dynamic(['a']))", "InvalidQueryLanguage", "dynamic"),
    ("Resources | join kind=leftanti (Resources) on id", "UnsupportedJoinFlavor", "leftanti"),
    ("Resources | join kind=fullouter (Resources) on id", "InvalidQueryLanguage", "fullouter"),
    ("Resources | summarize dcount(name)", "InvalidQueryLanguage", "dcount"),
    ("Resources | summarize tostring(name)", "SemanticError", "tostring"),
    ("Resources | extend n = count()", "SemanticError", "count"),
    ("Resources | where ago(1d) > 0", "InvalidQueryLanguage", "1d"),
    ("SecurityResources | take 1", "InvalidQueryLanguage", "SecurityResources"),
    ("Nowhere | take 1", "SemanticError", "Nowhere"),
    ("Resources | where nme == 'x'", "SemanticError", "nme"),
    ("Resources | project-away nothing", "SemanticError", "nothing"),
    ("Resources | join (Resources | project x = id) on id", "SemanticError", "id"),
    ("Resources | where tolower(name, 1) == 'x'", "SemanticError", "tolower"),
    ("Resources | where name == 'x", "ParserFailure", "'x"),
    ("Resources | where name == 'a\\q'", "ParserFailure", "\\q"),
    ("Resources | where name ==", "ParserFailure", "<end of query>"),
    ("Resources | where (name == 'x'", "ParserFailure", "<end of query>"),
    ("Resources | project", "ParserFailure", "<end of query>"),
    ("Resources | frobnicate", "ParserFailure", "frobnicate"),
    ("Resources name", "ParserFailure", "name"),
    ("Resources | where name == 'a' #", "ParserFailure", "#"),
    ("Resources | order name", "ParserFailure", "name"),
    ("Resources | take x", "ParserFailure", "x"),
])
def test_refused_constructs_are_named(query, code, token):
    err = error(query)
    assert (err.code, err.token) == (code, token)
    assert err.message


def test_error_positions():
    err = error("Resources\n| where\n    nme == 'x'")
    assert (err.line, err.column) == (3, 4)
    tokens = tokenize("Resources | where name in~ ('a') and name !in~ ('b')")
    assert [t.value for t in tokens if t.kind == "symbol" or t.value.startswith("in")][:6] == [
        "|", "in~", "(", ")", "!in~", "("]
