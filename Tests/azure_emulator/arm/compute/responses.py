"""Microsoft.Compute request handling: virtual machines, their instance view and power actions; managed disks
(GET, lists) and snapshots (PUT, GET, lists, DELETE).

Power actions answer 202 with Azure-AsyncOperation, Location (the status URL with monitor=true) and Retry-After.
A subscription-wide list with statusOnly=true returns each VM with its instance view (its power state).
A snapshot PUT answers 202 (created) or 200 (updated) with the snapshot (provisioningState Updating) and the same
headers; it takes settings.snapshot_seconds. Its source must be readable by the caller (the source's read action,
LinkedAuthorizationFailed), exist and be in the snapshot's region (404 NotFound otherwise); its creationData and
incremental flag cannot change afterwards (PropertyChangeNotAllowed). DELETE answers 202, or 204 when absent.
"""
from __future__ import annotations

from typing import Any

from ...http import Response
from .. import errors as E
from ..models import check_name
from ..router import Call, Handler
from .disks import (COPY_OPTIONS, DISK_TYPE, SNAPSHOT_TYPE, Disk, Snapshot, check_tags, normalize_location,
                    snapshot_body)
from .models import VirtualMachine

EXPAND_VALUES = ("instanceView", "userData")


def _expands_instance_view(call: Call) -> bool:
    return (call.request.arg("$expand") or "").lower() == "instanceview"


def list_vms(call: Call) -> Response:
    status_only = not call.rg and (call.request.arg("statusOnly") or "").lower() == "true"
    expand = _expands_instance_view(call) or status_only
    return call.page([vm.render(call.arm, expand=expand) for vm in call.arm.in_scope(VirtualMachine, call.sub, call.rg)])


def get_vm(call: Call) -> Response:
    expand = call.request.arg("$expand")
    if expand is not None and expand.lower() not in {v.lower() for v in EXPAND_VALUES}:
        raise E.invalid_parameter("$expand", expand, EXPAND_VALUES)
    return call.render(call.resource(VirtualMachine), expand=_expands_instance_view(call))


def get_instance_view(call: Call) -> Response:
    return Response(200, call.resource(VirtualMachine).instance_view(call.arm.operations))


def power_action(action: str) -> Handler:
    """The handler of POST .../virtualMachines/{vmName}/{action} (start, powerOff, deallocate, restart)."""

    def handler(call: Call) -> Response:
        vm = call.resource(VirtualMachine)
        request = call.request
        flag = (request.arg("skipShutdown") or request.arg("hibernate") or "false").lower() == "true"
        seconds = float(call.arm.settings.get("vm_transition_seconds", 1.0))
        op = vm.begin(request, call.arm.operations, action, flag=flag, seconds=seconds)
        return Response(202, None, call.arm.operations.headers(request, op, location=True))

    handler.__name__ = f"post_{action}"
    return handler


# ---------------------------------------------------------------- managed disks and snapshots (disks.py)
SNAPSHOT_SKUS = ("Standard_LRS", "Premium_LRS", "Standard_ZRS")
SOURCE_READ = {DISK_TYPE.lower(): f"{DISK_TYPE}/read", SNAPSHOT_TYPE.lower(): f"{SNAPSHOT_TYPE}/read"}


def get_disk(call: Call) -> Response:
    return call.render(call.resource(Disk))


def get_snapshot(call: Call) -> Response:
    return call.render(call.resource(Snapshot))


def _snapshot_source(call: Call, creation: Any) -> Disk | Snapshot:
    """The disk or snapshot a PUT copies: the caller must be able to read it (LinkedAuthorizationFailed)."""
    if not isinstance(creation, dict):
        raise E.missing_parameter("creationData")
    option = creation.get("createOption")
    if option not in COPY_OPTIONS:
        raise E.invalid_parameter("creationData.createOption", str(option), COPY_OPTIONS)
    source_id = creation.get("sourceResourceId")
    if not isinstance(source_id, str) or not source_id:
        raise E.missing_parameter("sourceResourceId")
    source_id = "/" + source_id.strip("/")
    parts = source_id.split("/")
    source_type = "/".join(parts[-3:-1]).lower() if len(parts) >= 9 else ""
    if source_type not in SOURCE_READ:
        raise E.invalid_parameter("creationData.sourceResourceId", source_id, ("a disk or snapshot resource id",))
    call.authorize_linked(SOURCE_READ[source_type], source_id)
    source = call.arm.get(source_id, Disk) or call.arm.get(source_id, Snapshot)
    if source is None:
        raise E.entity_not_found()
    return source


def put_snapshot(call: Call) -> Response:
    """Create (202) or update (200) a snapshot: long-running (Azure-AsyncOperation + Location), Compute style."""
    arm = call.arm
    snapshot_id, name = call.resource_id(Snapshot), call.name
    check_name(name)
    body = call.json_body()
    existing = arm.get(snapshot_id, Snapshot)
    if existing is not None:
        if existing.busy():
            raise E.disk_operation_in_progress("snapshot", existing.name)
        snapshot_id, name = existing.id, existing.name
    location = body.get("location") or (existing.location if existing else None)
    if not isinstance(location, str) or not location:
        raise E.location_required()
    location = normalize_location(location)
    if existing is not None and location != existing.location:
        raise E.invalid_resource_location(name, existing.location, call.resource_group.name, location)
    props = body.get("properties")
    if not isinstance(props, dict):
        raise E.missing_parameter("properties")
    incremental = props.get("incremental", False)
    if not isinstance(incremental, bool):
        raise E.invalid_parameter("incremental", str(incremental), ("true", "false"))
    tags = check_tags(body.get("tags"))
    sku = (body.get("sku") or {}).get("name") if isinstance(body.get("sku"), dict) else None
    if sku is not None and sku not in SNAPSHOT_SKUS:
        raise E.invalid_parameter("sku.name", str(sku), SNAPSHOT_SKUS)
    source = _snapshot_source(call, props.get("creationData"))
    if normalize_location(source.location) != location:
        raise E.entity_not_found()   # Compute looks the source up in the snapshot's region
    if existing is not None:
        before = existing.body["properties"]
        if before["creationData"]["sourceResourceId"].lower() != source.id.lower():
            raise E.property_change_not_allowed("creationData.sourceResourceId")
        if bool(before.get("incremental")) != incremental:
            raise E.property_change_not_allowed("incremental")
    rollback = arm.operations.snapshot(snapshot_id)
    new_body = snapshot_body(snapshot_id, name, location, source, incremental, tags, sku, existing)
    if existing is None:
        snapshot = arm.add(Snapshot(new_body, call.sub, call.resource_group.name))
    else:
        snapshot = existing
        snapshot.body = new_body
    seconds = float(arm.settings.get("snapshot_seconds", 0.5))
    op = arm.operations.start_locked(call.request, snapshot, provider="Microsoft.Compute", kind="put",
                                     name="CreateSnapshot", seconds=seconds, snapshot=rollback)
    return call.render(snapshot, 200 if existing else 202, arm.operations.headers(call.request, op, location=True))


def delete_snapshot(call: Call) -> Response:
    """202 (Azure-AsyncOperation + Location) while the snapshot is removed; 204 when there is none."""
    arm = call.arm
    snapshot = arm.get(call.resource_id(Snapshot), Snapshot)
    if snapshot is None:
        return Response(204)
    if snapshot.busy():
        raise E.disk_operation_in_progress("snapshot", snapshot.name)
    rollback = arm.operations.snapshot(snapshot.id)
    seconds = float(arm.settings.get("snapshot_seconds", 0.5))
    op = arm.operations.start_locked(call.request, snapshot, provider="Microsoft.Compute", kind="delete",
                                     name="DeleteSnapshot", seconds=seconds, snapshot=rollback, removes=True)
    return Response(202, None, arm.operations.headers(call.request, op, location=True))
