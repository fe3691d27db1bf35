"""Microsoft.Compute request handling: virtual machines, their instance view and power actions.

Power actions answer 202 with Azure-AsyncOperation, Location (the status URL with monitor=true) and Retry-After.
A subscription-wide list with statusOnly=true returns each VM with its instance view (its power state).
"""
from __future__ import annotations

from ...http import Response
from .. import errors as E
from ..router import Call, Handler
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
