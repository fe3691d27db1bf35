"""Azure Resource Graph over HTTPS: POST /providers/Microsoft.ResourceGraph/resources with its request and answer
shapes, the rows of Resources and ResourceContainers, RBAC filtering, paging with $skipToken, the result formats,
the per-user quota, its own error shape, and the generated scenarios seen through it."""
from __future__ import annotations

import re
import time

import pytest

from .helpers import APP_SUB, RG, RG_ID, SUB, TENANT, Arm, error_of

GRAPH = "/providers/Microsoft.ResourceGraph/resources"
GV = "2022-10-01"
SUB_B = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"
FIND = """Resources
| where type =~ 'microsoft.network/networkinterfaces'
| mv-expand ipconfig = properties.ipConfigurations
| extend privateIp = tostring(ipconfig.properties.privateIPAddress),
         pipId = tolower(tostring(ipconfig.properties.publicIPAddress.id)),
         vmId = tolower(tostring(properties.virtualMachine.id))
| join kind=leftouter (Resources | where type =~ 'microsoft.network/publicipaddresses'
    | project pipId = tolower(id), publicIp = tostring(properties.ipAddress)) on pipId
| join kind=inner (Resources | where type =~ 'microsoft.compute/virtualmachines'
    | project vmId = tolower(id), id, vm = name, computerName = tostring(properties.osProfile.computerName)) on vmId
| where privateIp in ({values}) or publicIp in ({values}) or vm =~ {first} or computerName =~ {first}
| project id, vm, computerName, privateIp, publicIp
| order by vm asc, privateIp asc"""


def post(arm: Arm, query: str, subscriptions=(SUB,), **options):
    body: dict = {"query": query, "options": options}
    if subscriptions is not None:
        body["subscriptions"] = list(subscriptions)
    return arm.post(GRAPH, api_version=GV, json=body)


def all_rows(arm: Arm, query: str, subscriptions=(SUB,), **options) -> list[dict]:
    """Every row, following $skipToken."""
    rows: list[dict] = []
    token = None
    while True:
        r = post(arm, query, subscriptions, **options, **({"$skipToken": token} if token else {}))
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["data"]
        token = body.get("$skipToken")
        if not token:
            return rows


def find(arm: Arm, *values: str, subscriptions=(SUB,)) -> list[dict]:
    quoted = ", ".join(f"'{v}'" for v in values)
    return all_rows(arm, FIND.format(values=quoted, first=f"'{values[0]}'"), subscriptions)


@pytest.fixture(autouse=True)
def generous_quota(emulator):
    """Azure's 15 queries per 5 s would throttle these tests' paging; the quota tests set their own."""
    emulator.reset({"settings": {"graph_quota": 10_000}})


@pytest.fixture
def quota(emulator):
    emulator.reset({"settings": {"graph_quota": 3, "graph_quota_window_seconds": 60}})
    return emulator


# ---------------------------------------------------------------- answers and rows
def test_answer_shape_and_headers(arm):
    r = post(arm, "Resources | where type == 'microsoft.compute/virtualmachines' | project id, name "
                  "| order by name asc", **{"$top": 1000})
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["totalRecords", "count", "resultTruncated", "$skipToken", "data", "facets"]
    assert (body["totalRecords"], body["count"], body["resultTruncated"], body["facets"]) == (3, 2, "false", [])
    assert body["data"] == [{"id": f"{RG_ID}/providers/Microsoft.Compute/virtualMachines/db-01", "name": "db-01"},
                            {"id": f"{RG_ID}/providers/Microsoft.Compute/virtualMachines/web-01", "name": "web-01"}]
    assert r.headers["x-ms-user-quota-remaining"] == "9999"
    assert re.fullmatch(r"00:00:0[0-5]", r.headers["x-ms-user-quota-resets-after"])


def test_rows_look_like_resource_graph(arm):
    rows = {row["name"]: row for row in all_rows(arm, "Resources")}
    vm = rows["db-01"]
    assert list(vm) == ["id", "name", "type", "tenantId", "kind", "location", "resourceGroup", "subscriptionId",
                        "managedBy", "sku", "plan", "properties", "tags", "identity", "zones", "extendedLocation"]
    assert (vm["type"], vm["resourceGroup"], vm["subscriptionId"], vm["tenantId"], vm["location"]) == (
        "microsoft.compute/virtualmachines", RG, SUB, TENANT, "eastus")
    assert vm["properties"]["osProfile"]["computerName"] == "sqlprod01"
    assert vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"].endswith("/db-01-nic0")
    assert vm["properties"]["extended"]["instanceView"]["powerState"]["code"] == "PowerState/deallocated"
    nic = rows["web-01-nic1"]
    ipconf = nic["properties"]["ipConfigurations"][0]["properties"]
    assert (ipconf["privateIPAddress"], ipconf["privateIPAddressVersion"]) == ("10.0.1.5", "IPv4")
    assert ipconf["publicIPAddress"]["id"] == f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses/web-01-pip"
    assert nic["properties"]["virtualMachine"]["id"].endswith("/virtualMachines/web-01")
    pip = rows["web-01-pip"]
    assert (pip["type"], pip["properties"]["ipAddress"]) == ("microsoft.network/publicipaddresses", "192.0.2.10")
    assert pip["properties"]["ipConfiguration"]["id"].endswith("/web-01-nic1/ipConfigurations/ipconfig1")
    disk = rows["web-01_DataDisk_1"]
    assert (disk["type"], disk["properties"]["diskState"], disk["properties"]["diskSizeGB"]) == (
        "microsoft.compute/disks", "Attached", 128)
    assert disk["managedBy"].endswith("/virtualMachines/web-01")
    assert {row["type"] for row in rows.values()} == {
        "microsoft.compute/virtualmachines", "microsoft.compute/disks", "microsoft.network/networkinterfaces",
        "microsoft.network/networksecuritygroups", "microsoft.network/virtualnetworks",
        "microsoft.network/publicipaddresses"}


def test_resource_containers(arm):
    rows = all_rows(arm, "ResourceContainers | project id, name, type, subscriptionId, resourceGroup")
    assert rows == [
        {"id": f"/subscriptions/{SUB}", "name": "SOC Demo", "type": "microsoft.resources/subscriptions",
         "subscriptionId": SUB, "resourceGroup": ""},
        {"id": RG_ID, "name": RG, "type": "microsoft.resources/subscriptions/resourcegroups", "subscriptionId": SUB,
         "resourceGroup": RG}]


def test_finding_vms_by_address_and_name(arm):
    by_private = find(arm, "10.0.1.4")
    assert [(r["vm"], r["privateIp"], r["publicIp"]) for r in by_private] == [("web-01", "10.0.1.4", None)]
    by_public = find(arm, "192.0.2.10")
    assert [(r["vm"], r["privateIp"]) for r in by_public] == [("web-01", "10.0.1.5")]
    by_computer = find(arm, "SQLPROD01")
    assert {(r["vm"], r["computerName"]) for r in by_computer} == {("db-01", "sqlprod01")}
    assert find(arm, "web-1") == []          # never a substring
    assert find(arm, "10.0.1.44") == []


def test_snapshots_are_visible_once_created(fast):
    arm = Arm(fast)
    disk = f"{RG_ID}/providers/Microsoft.Compute/disks/web-01_DataDisk_0"
    r = arm.put(f"{RG_ID}/providers/Microsoft.Compute/snapshots/evidence-1", {
        "location": "eastus", "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk},
                                             "incremental": True}, "tags": {"case": "42"}}, api_version="2024-03-02")
    assert r.status_code == 202
    rows = all_rows(arm, "Resources | where type == 'microsoft.compute/snapshots' and tags.case == '42' "
                         "| project id, source = tostring(properties.creationData.sourceResourceId)")
    assert rows == [{"id": f"{RG_ID}/providers/Microsoft.Compute/snapshots/evidence-1", "source": disk}]


# ---------------------------------------------------------------- paging and result formats
def test_paging_with_skip_token(arm):
    query = "Resources | project id, name | order by name asc"
    first = post(arm, query).json()
    assert first["count"] == 2
    assert first["totalRecords"] > 10
    every = all_rows(arm, query)
    assert [r["name"] for r in every] == sorted(r["name"] for r in every)
    assert len(every) == first["totalRecords"] == len({r["id"] for r in every})
    assert post(arm, query, **{"$skip": 3}).json()["data"] == every[3:5]
    assert post(arm, query, **{"$top": 1}).json()["data"] == every[:1]
    # $skip overrides the token's offset
    assert post(arm, query, **{"$skipToken": first["$skipToken"], "$skip": 0}).json()["data"] == every[:2]
    # a token belongs to its query and subscriptions
    for other in (post(arm, query + " ", **{"$skipToken": first["$skipToken"]}),
                  post(arm, query, [SUB, SUB_B], **{"$skipToken": first["$skipToken"]}),
                  post(arm, query, **{"$skipToken": "bm90IGEgdG9rZW4="})):
        assert other.status_code == 400
        assert error_of(other)["details"] == [{"code": "InvalidSkipToken", "message": error_of(other)["details"][0][
            "message"]}]


def test_no_paging_with_limit_or_without_id(emulator, arm):
    for query in ("Resources | take 5 | project id", "Resources | project name"):
        body = post(arm, query).json()
        assert (body["totalRecords"], body["count"], body["resultTruncated"]) == (5 if "take" in query else 17, 2,
                                                                                 "true")
        assert "$skipToken" not in body
    emulator.reset({"settings": {"graph_paging_needs_id": False}})
    assert "$skipToken" in post(Arm(emulator), "Resources | project name").json()


def test_table_result_format(arm):
    body = post(arm, "Resources | where name == 'web-01' | project id, name, props = properties, n = "
                     "array_length(properties.networkProfile.networkInterfaces), ok = isnotempty(name)",
                resultFormat="table").json()
    assert body["data"]["columns"] == [{"name": "id", "type": "string"}, {"name": "name", "type": "string"},
                                       {"name": "props", "type": "object"}, {"name": "n", "type": "integer"},
                                       {"name": "ok", "type": "boolean"}]
    [row] = body["data"]["rows"]
    assert row[1] == "web-01"
    assert row[3] == 2
    assert row[4] is True


# ---------------------------------------------------------------- RBAC
def test_rbac_filters_rows(emulator):
    reader = Arm(emulator, "soc-reader")
    everything = all_rows(reader, "Resources | project id")
    emulator.reset({"custom_roles": [{"name": "VM Reader", "actions": ["Microsoft.Compute/virtualMachines/read"]}],
                    "role_assignments": [
                        {"principal": "soc-reader", "role": "VM Reader", "scope": f"/subscriptions/{SUB}"},
                        {"principal": "soc-responder", "role": "Reader", "scope": RG_ID}]})
    vm_reader = Arm(emulator, "soc-reader")
    assert {r["type"] for r in all_rows(vm_reader, "Resources | project id, type")} == {
        "microsoft.compute/virtualmachines"}
    assert all_rows(vm_reader, "ResourceContainers | project id") == [{"id": f"/subscriptions/{SUB}"}]  # no RG read
    rg_reader = Arm(emulator, "soc-responder")
    assert len(all_rows(rg_reader, "Resources | project id")) == len(everything)
    assert [r["type"] for r in all_rows(rg_reader, "ResourceContainers | project id, type")] == [
        "microsoft.resources/subscriptions", "microsoft.resources/subscriptions/resourcegroups"]
    nobody = Arm(emulator, "analyst@soc-demo.example")   # no role left
    body = post(nobody, "Resources | project id").json()
    assert (body["totalRecords"], body["data"]) == (0, [])


def test_only_the_subscriptions_asked_for(arm):
    assert all_rows(arm, "Resources | project id", subscriptions=("00000000-0000-0000-0000-000000000000",)) == []
    subscriptions = {r["subscriptionId"] for r in all_rows(arm, "Resources | project id, subscriptionId",
                                                            subscriptions=None)}
    assert subscriptions == {SUB, APP_SUB}   # without subscriptions: every one of the tenant the caller is in
    assert {r["subscriptionId"] for r in all_rows(arm, "Resources | project id, subscriptionId")} == {SUB}


# ---------------------------------------------------------------- quota and errors
def test_quota_headers_and_rate_limiting(quota):
    arm, reader = Arm(quota), Arm(quota, "soc-reader")
    remaining = [post(arm, "Resources | count").headers["x-ms-user-quota-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = post(arm, "Resources | count")
    assert r.status_code == 429
    assert r.headers["x-ms-user-quota-remaining"] == "0"
    assert re.fullmatch(r"00:00:[0-5][0-9]|00:01:00", r.headers["x-ms-user-quota-resets-after"])
    err = error_of(r)
    assert err["code"] == "RateLimiting"
    assert err["message"].startswith("Please provide below info when asking for support: timestamp = ")
    assert err["details"][0]["code"] == "RateLimiting"
    assert post(reader, "Resources | count").status_code == 200   # the quota is per user


def test_default_quota_is_azures(emulator):
    emulator.reset("default")   # the default scenario's settings: 15 queries per 5 seconds
    r = post(Arm(emulator), "Resources | count")
    assert r.headers["x-ms-user-quota-remaining"] == "14"
    assert r.headers["x-ms-user-quota-resets-after"] == "00:00:05"


def test_quota_window_resets(emulator):
    emulator.reset({"settings": {"graph_quota": 1, "graph_quota_window_seconds": 0.5}})
    arm = Arm(emulator)
    assert post(arm, "Resources | count").status_code == 200
    assert post(arm, "Resources | count").status_code == 429
    time.sleep(0.6)
    r = post(arm, "Resources | count")
    assert (r.status_code, r.headers["x-ms-user-quota-remaining"]) == (200, "0")


def test_query_errors_in_resource_graphs_shape(arm):
    r = post(arm, "Resources\n| where name == 'web-01'\n| parse id with * '/' rest")
    assert r.status_code == 400
    assert "x-ms-user-quota-remaining" in r.headers
    err = error_of(r)
    assert err["code"] == "BadRequest"
    assert re.fullmatch(r"Please provide below info when asking for support: timestamp = \S+Z, correlationId = "
                        r"[0-9a-f-]{36}\.", err["message"])
    assert err["details"][0] == {"code": "InvalidQuery", "message": "Query is invalid. Please refer to the "
                                 "documentation for the Azure Resource Graph service and fix the error before retrying."}
    detail = err["details"][1]
    assert (detail["code"], detail["line"], detail["characterPositionInLine"], detail["token"]) == (
        "InvalidQueryLanguage", 3, 2, "parse")
    assert "'parse'" in detail["message"]


def test_queries_beyond_resource_graphs_limits(emulator, arm):
    join = " | join kind=leftouter (Resources | project id, n = name) on id"
    assert post(arm, "Resources" + join * 3 + " | project id").status_code == 200
    assert post(arm, FIND.format(values="'10.0.1.4'", first="'10.0.1.4'")).status_code == 200   # 2 joins, 1 mv-expand
    r = post(arm, "Resources" + join * 4 + " | project id")
    assert r.status_code == 400
    err = error_of(r)
    assert [d["code"] for d in err["details"]] == ["InvalidQuery", "OperatorLimitExceeded"]
    assert err["details"][1]["message"] == ("The query has 4 'join' operators: Resource Graph allows at most 3 in "
                                            "one query.")
    expand = " | mv-expand properties.ipConfigurations"
    assert post(arm, "Resources" + expand * 2 + " | project id").status_code == 200
    assert error_of(post(arm, "Resources" + expand * 3))["details"][1]["code"] == "OperatorLimitExceeded"
    assert error_of(post(arm, "Resources | mv-expand tags limit 401"))["details"][1]["code"] == \
        "OperatorLimitExceeded"
    emulator.reset({"settings": {"graph_quota": 10_000, "graph_max_joins": 4, "graph_max_mv_expands": 3}})
    arm = Arm(emulator)
    assert post(arm, "Resources" + join * 4 + " | project id").status_code == 200
    assert post(arm, "Resources" + expand * 3 + " | project id").status_code == 200


def test_skip_is_ignored_with_limit_or_take(arm):
    every = all_rows(arm, "Resources | project id, name | order by name asc")
    taken = post(arm, "Resources | project id, name | order by name asc | take 4", **{"$skip": 2}).json()
    assert taken["data"] == every[:2]   # the first page of the taken rows, not the rows after the first 2
    assert taken["totalRecords"] == 4


@pytest.mark.parametrize(("body", "code"), [
    ({"subscriptions": [SUB]}, "InvalidQuery"),
    ({"subscriptions": [SUB], "query": "Resources", "options": {"$top": 0}}, "InvalidQueryRequestOptions"),
    ({"subscriptions": [SUB], "query": "Resources", "options": {"$top": 1001}}, "InvalidQueryRequestOptions"),
    ({"subscriptions": [SUB], "query": "Resources", "options": {"$skip": -1}}, "InvalidQueryRequestOptions"),
    ({"subscriptions": [SUB], "query": "Resources", "options": {"resultFormat": "csv"}}, "InvalidQueryRequestOptions"),
    ({"subscriptions": [SUB], "query": "Resources", "options": {"authorizationScopeFilter": "x"}},
     "InvalidQueryRequestOptions"),
    ({"subscriptions": SUB, "query": "Resources"}, "InvalidSubscriptions"),
    ({"managementGroups": ["mg1"], "query": "Resources"}, "UnsupportedScope"),
    ({"subscriptions": [SUB], "query": "Resources", "facets": [{"expression": "location"}]}, "UnsupportedFacets"),
])
def test_bad_requests(arm, body, code):
    r = arm.post(GRAPH, api_version=GV, json=body)
    assert r.status_code == 400
    err = error_of(r)
    assert (err["code"], err["details"][0]["code"]) == ("BadRequest", code)


def test_authentication_and_body(emulator, arm):
    assert Arm(emulator, None).post(GRAPH, api_version=GV, json={"query": "Resources"}).status_code == 401
    r = arm.request("POST", GRAPH, api_version=GV, headers={"Content-Type": "application/json"})
    assert (r.status_code, error_of(r)["code"]) == (400, "InvalidRequestContent")
    assert arm.post(GRAPH, api_version=None, json={"query": "Resources"}).status_code == 400


# ---------------------------------------------------------------- generated scenarios
def test_large_scenario(emulator):
    emulator.reset("large")
    arm = Arm(emulator)
    counts = all_rows(arm, "Resources | where type == 'microsoft.compute/virtualmachines' "
                           "| summarize vms = count() by subscriptionId | order by subscriptionId asc",
                      subscriptions=(SUB, SUB_B))
    assert counts == [{"subscriptionId": SUB, "vms": 1003}, {"subscriptionId": SUB_B, "vms": 1000}]
    renamed = all_rows(arm, "Resources | where type == 'microsoft.compute/virtualmachines' "
                            "and tostring(properties.osProfile.computerName) != name | summarize n = count()",
                       subscriptions=(SUB, SUB_B))
    assert renamed == [{"n": 681}]   # every 3rd fleet VM, and db-01
    assert all_rows(arm, "Resources | where type == 'microsoft.network/publicipaddresses' | summarize n = count()",
                    subscriptions=(SUB, SUB_B)) == [{"n": 401}]
    overlapping = find(arm, "10.15.0.9", subscriptions=(SUB, SUB_B))
    assert [(r["vm"], r["id"].split("/")[2]) for r in overlapping] == [("vm-a05-005", SUB), ("vm-b05-005", SUB_B)]
    body = post(arm, "Resources | project id", [SUB, SUB_B]).json()
    assert body["count"] == 1000
    assert "$skipToken" in body


def test_forensics_scenario(emulator):
    emulator.reset("forensics")
    arm = Arm(emulator)
    ambiguous = find(arm, "web-02")
    assert {(r["vm"], r["computerName"]) for r in ambiguous} == {("web-02", "web-02"), ("jump-01", "web-02")}
    dual = find(arm, "2001:db8:1::8")
    assert [(r["vm"], r["privateIp"]) for r in dual] == [("ephemeral-01", "fd00:db8:1::8")]
    assert [r["vm"] for r in find(arm, "10.0.1.4")] == ["web-01"]
    across = find(arm, "10.0.1.4", subscriptions=(SUB, SUB_B))
    assert sorted(r["vm"] for r in across) == ["branch-01", "web-01"]
    groups = all_rows(arm, "ResourceContainers | where type == 'microsoft.resources/subscriptions/resourcegroups' "
                           "| project id, name", subscriptions=(SUB, SUB_B))
    assert sorted(r["name"] for r in groups) == ["branch-rg", "soc-demo-rg", "soc-evidence-rg"]
