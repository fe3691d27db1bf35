"""The ARM machinery as a new resource type uses it: a toy type (Microsoft.Example/widgets) made of a model class,
handler functions and route-table rows gets ARM's RBAC, routing errors, long-running operations with their write
lock and rollback, action results and tenant-level paths without code of its own. Driven with plain Request
objects against ArmService (no sockets)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from Tests.azure_emulator.arm import ArmService
from Tests.azure_emulator.arm.models import Resource
from Tests.azure_emulator.arm.router import Call, Route, list_of
from Tests.azure_emulator.arm.routes import RG, ROUTES
from Tests.azure_emulator.faults import Fault
from Tests.azure_emulator.http import Headers, Request, Response
from Tests.azure_emulator.identity import IdentityService
from Tests.azure_emulator.scenario import load_scenario

from .helpers import RG_ID, SUB

BASE = "https://127.0.0.1:4443"
WIDGET_TYPE = "Microsoft.Example/widgets"
WIDGETS = f"{RG_ID}/providers/{WIDGET_TYPE}"


@dataclass
class Widget(Resource):
    TYPE = WIDGET_TYPE
    PARAM = "widgetName"


def put_widget(call: Call) -> Response:
    widget_id = call.resource_id(Widget)
    body = call.json_body()
    existing = call.arm.get(widget_id, Widget)
    if existing is not None:
        existing.check_not_busy("PutWidgetOperation", call.arm.retry_after)
    snapshot = call.arm.operations.snapshot(widget_id)
    widget = existing or call.arm.add(Widget({"id": widget_id, "name": call.name, "type": WIDGET_TYPE,
                                              "location": body.get("location", "eastus"), "properties": {}},
                                             call.sub, call.resource_group.name))
    widget.body["properties"] = dict(body.get("properties") or {})
    seconds = float(widget.body["properties"].get("seconds", 0))
    op = call.arm.operations.start_locked(call.request, widget, provider="Microsoft.Example", kind="put",
                                          name="PutWidgetOperation", seconds=seconds, snapshot=snapshot)
    return call.render(widget, 201 if existing is None else 200,
                       call.arm.operations.headers(call.request, op, location=False))


def get_widget(call: Call) -> Response:
    return call.render(call.resource(Widget))


def count_widget(call: Call) -> Response:
    widget = call.resource(Widget)
    seconds = float(call.request.arg("seconds") or 0)
    op = call.arm.operations.start(call.request, provider="Microsoft.Example", kind="action", name="count",
                                   resource=widget, seconds=seconds)
    op.result = {"value": [{"name": widget.name, "count": 3}]}
    return Response(202, None, call.arm.operations.headers(call.request, op, location=True))


def all_widgets(call: Call) -> Response:
    return Response(200, {"value": [w.render(call.arm) for w in call.arm.all_of(Widget)]})


WIDGET = f"{RG}/providers/{WIDGET_TYPE}/{{widgetName}}"
WIDGET_ROUTES = (
    Route("GET", f"{RG}/providers/{WIDGET_TYPE}", list_of(Widget), f"{WIDGET_TYPE}/read"),
    Route("GET", WIDGET, get_widget, f"{WIDGET_TYPE}/read"),
    Route("PUT", WIDGET, put_widget, f"{WIDGET_TYPE}/write"),
    Route("POST", f"{WIDGET}/count", count_widget, f"{WIDGET_TYPE}/count/action"),
    Route("GET", f"/providers/{WIDGET_TYPE}", all_widgets, None),
)


def failing_widgets(request: Request) -> Fault | None:
    """The lro_failed fault hook: every write to a widget named 'broken' fails."""
    return Fault(1, "lro_failed", error_code="WidgetBroke") if request.path.endswith("/broken") else None


@pytest.fixture
def arm():
    scenario = load_scenario({"role_assignments": [
        {"principal": "soc-responder", "role": "Contributor", "scope": f"/subscriptions/{SUB}"},
        {"principal": "soc-reader", "role": "Reader", "scope": f"/subscriptions/{SUB}"}]})
    identity = IdentityService(scenario, scenario["settings"], lambda: BASE)
    return ArmService(scenario, identity, routes=(*ROUTES, *WIDGET_ROUTES), lro_fault=failing_widgets)


def call(arm, method, path, body=None, principal="soc-responder", **query):
    token = arm.identity.mint_access_token(principal, BASE + "/")
    raw_path, _, raw_query = path.partition("?")
    params = {"api-version": ["2024-01-01"], **{k: [str(v)] for k, v in query.items()}}
    if raw_query:
        params.update({k: [v] for k, v in (p.split("=", 1) for p in raw_query.split("&"))})
    request = Request(method, raw_path, raw_path=raw_path, query=params, base_url=BASE, listener="arm",
                      raw_query="&".join(f"{k}={v[0]}" for k, v in params.items()),
                      headers=Headers({"Authorization": f"Bearer {token}"}),
                      body=json.dumps(body).encode() if body is not None else b"")
    return arm.handle(request)


def follow(arm, url):
    """GET an operation URL the service handed out (absolute, with its query)."""
    return call(arm, "GET", url.removeprefix(BASE))


def test_put_get_and_list_through_the_table(arm):
    r = call(arm, "PUT", f"{WIDGETS}/w1", {"location": "eastus", "properties": {"colour": "blue"}})
    assert r.status == 201
    assert r.body["id"] == f"{WIDGETS}/w1"
    status_url = r.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Example/locations/eastus/operations/" in status_url
    assert follow(arm, status_url).body["status"] == "Succeeded"
    assert call(arm, "GET", f"{WIDGETS}/W1").body["properties"] == {"colour": "blue"}
    assert [w["name"] for w in call(arm, "GET", WIDGETS).body["value"]] == ["w1"]
    missing = call(arm, "GET", f"{WIDGETS}/ghost")
    assert missing.status == 404
    assert missing.body["error"]["code"] == "ResourceNotFound"
    assert f"'{WIDGET_TYPE}/ghost'" in missing.body["error"]["message"]


def test_rbac_and_routing_errors_come_from_the_router(arm):
    denied = call(arm, "PUT", f"{WIDGETS}/w1", {"properties": {}}, principal="soc-reader")
    assert denied.status == 403
    assert denied.body["error"]["code"] == "AuthorizationFailed"
    assert f"'{WIDGET_TYPE}/write' over scope '{WIDGETS}/w1'" in denied.body["error"]["message"]
    assert call(arm, "GET", f"{WIDGETS}/w1").status == 404            # nothing was written
    assert call(arm, "DELETE", f"{WIDGETS}/w1").body["error"]["code"] == "HttpMethodNotAllowed"
    unknown = call(arm, "GET", f"{RG_ID}/providers/Microsoft.Example/gadgets")
    assert unknown.body["error"]["code"] == "InvalidResourceType"
    no_group = call(arm, "GET", f"/subscriptions/{SUB}/resourceGroups/nope/providers/{WIDGET_TYPE}/w1")
    assert no_group.body["error"]["code"] == "ResourceGroupNotFound"


def test_long_running_write_locks_the_resource(arm):
    r = call(arm, "PUT", f"{WIDGETS}/slow", {"properties": {"seconds": 30}})
    assert r.status == 201
    assert follow(arm, r.headers["Azure-AsyncOperation"]).body["status"] == "InProgress"
    again = call(arm, "PUT", f"{WIDGETS}/slow", {"properties": {}})
    assert again.status == 429
    assert again.body["error"]["code"] == "RetryableErrorDueToAnotherOperation"
    assert "PutWidgetOperation" in again.body["error"]["message"]
    assert again.headers["Retry-After"] == "1"


def test_failed_operation_rolls_back(arm):
    r = call(arm, "PUT", f"{WIDGETS}/broken", {"properties": {}})
    assert r.status == 201
    status = follow(arm, r.headers["Azure-AsyncOperation"]).body
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "WidgetBroke"
    assert call(arm, "GET", f"{WIDGETS}/broken").status == 404
    assert f"{WIDGETS}/broken".lower() not in arm.state()["resources"]


def test_action_result_via_the_location_url(arm):
    call(arm, "PUT", f"{WIDGETS}/w1", {"properties": {}})
    slow = call(arm, "POST", f"{WIDGETS}/w1/count", seconds=30)
    assert slow.status == 202
    assert follow(arm, slow.headers["Location"]).status == 202       # still running
    quick = call(arm, "POST", f"{WIDGETS}/w1/count")
    done = follow(arm, quick.headers["Location"])
    assert done.status == 200
    assert done.body == {"value": [{"name": "w1", "count": 3}]}


def test_tenant_level_rows_are_served_and_other_paths_stay_invalid(arm):
    call(arm, "PUT", f"{WIDGETS}/w1", {"properties": {}})
    everywhere = call(arm, "GET", f"/providers/{WIDGET_TYPE}")
    assert everywhere.status == 200
    assert [w["id"] for w in everywhere.body["value"]] == [f"{WIDGETS}/w1"]
    other = call(arm, "GET", "/providers/Microsoft.Example/gadgets")
    assert other.status == 404
    assert other.body["error"] == {"code": "InvalidRequestUri", "details": [], "message": (
        "The request URI '/providers/Microsoft.Example/gadgets' is not valid for Azure Resource Manager.")}
