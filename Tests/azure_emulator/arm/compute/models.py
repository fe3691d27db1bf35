"""Microsoft.Compute models: virtual machines and their power state.

A power action (start, powerOff, deallocate, restart) is a long-running operation: the VM shows the transitional
state (starting / stopping / deallocating) for settings.vm_transition_seconds, then the final one. An action that
changes nothing (start of a running VM) succeeds at once. powerOff of a deallocated VM, and restart of a stopped
or deallocated one, are refused (409 OperationNotAllowed); a newer action preempts a running one (the older
operation fails with OperationPreempted). `skipShutdown=true` halves a powerOff (no graceful guest shutdown);
`hibernate=true` on deallocate leaves the VM hibernated.

A scenario VM may name its OS computer name (`computer_name`, default its resource name), its OS disk
(`os_disk`: managed by default, or unmanaged / ephemeral) and its data disks (`data_disks`); the managed ones are
disk resources of their own (disks.py), loaded with the VM.
"""
from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...http import Request
from .. import errors as E
from ..lro import Operation, Operations, now_iso
from ..models import Resource
from ..network.models import NIC_TYPE, NetworkInterface
from ..resources.models import ResourceGroup
from .disks import storage_profile

if TYPE_CHECKING:
    from ..store import ArmStore

VM_TYPE = "Microsoft.Compute/virtualMachines"
POWER_DISPLAY = {"starting": "VM starting", "running": "VM running", "stopping": "VM stopping",
                 "stopped": "VM stopped", "deallocating": "VM deallocating", "deallocated": "VM deallocated"}
# action -> (the power state while it runs, the power state it ends in)
POWER_ACTIONS = {"start": ("starting", "running"), "powerOff": ("stopping", "stopped"),
                 "deallocate": ("deallocating", "deallocated"), "restart": ("starting", "running")}


@dataclass
class Transition:
    """A power action in progress."""

    code: str         # the power state shown meanwhile (starting, stopping, deallocating)
    target: str       # the power state it ends in
    until: float      # monotonic time
    op: str           # the operation id


@dataclass
class VirtualMachine(Resource):
    TYPE = VM_TYPE
    PARAM = "vmName"

    power: str = "running"            # the settled power state
    hibernated: bool = False
    trans: Transition | None = None   # while a power action runs

    def power_state(self, operations: Operations) -> tuple[str, bool]:
        """(power state, whether an action is still running); finishes the action whose time has come."""
        if self.trans is not None:
            if time.monotonic() < self.trans.until:
                return self.trans.code, True
            op = operations.get(self.trans.op)
            if op is not None and op.running:
                operations.finish(op)
            self.trans = None
        return self.power, False

    @property
    def computer_name(self) -> str:
        return self.body["properties"]["osProfile"]["computerName"]

    def instance_view(self, operations: Operations) -> dict:
        code, moving = self.power_state(operations)
        now = now_iso()
        statuses = [{"code": f"ProvisioningState/{'updating' if moving else 'succeeded'}", "level": "Info",
                     "displayStatus": "Updating" if moving else "Provisioning succeeded", "time": now},
                    {"code": f"PowerState/{code}", "level": "Info", "displayStatus": POWER_DISPLAY[code]}]
        if self.hibernated and code == "deallocated":
            statuses.append({"code": "HibernationState/Hibernated", "level": "Info", "displayStatus": "VM hibernated"})
        view: dict[str, Any] = {"computerName": self.computer_name, "osName": "ubuntu", "osVersion": "22.04",
                                "hyperVGeneration": "V2", "statuses": statuses}
        if code == "running":
            view["vmAgent"] = {"vmAgentVersion": "2.10.0.8", "statuses": [
                {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready",
                 "message": "Guest Agent is running", "time": now}]}
        return view

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:
        """`expand`: with the instance view (GET ?$expand=instanceView, statusOnly lists, the emulator's state)."""
        body = copy.deepcopy(self.body)
        _, moving = self.power_state(arm.operations)
        props = {"provisioningState": "Updating" if moving else "Succeeded", **body["properties"]}
        if expand:
            props["instanceView"] = self.instance_view(arm.operations)
        body["properties"] = props
        return body

    def begin(self, request: Request, operations: Operations, action: str, *, flag: bool,
              seconds: float) -> Operation:
        """Start a power action (a key of POWER_ACTIONS); `flag` is skipShutdown (powerOff) / hibernate
        (deallocate). Raises OperationNotAllowed when the VM's state forbids it."""
        _, moving = self.power_state(operations)
        target = self.trans.target if self.trans is not None else self.power
        if action == "powerOff" and target == "deallocated":
            raise E.operation_not_allowed("powerOff", self.name, "deallocated or marked to be deallocated")
        if action == "restart" and target in ("deallocated", "stopped"):
            why = "deallocated or marked to be deallocated" if target == "deallocated" else "not running"
            raise E.operation_not_allowed("restart", self.name, why)
        during, final = POWER_ACTIONS[action]
        if action == "powerOff" and flag:
            seconds /= 2  # skipShutdown: no graceful guest shutdown
        if action != "restart" and not moving and self.power == final:
            seconds = 0.0  # nothing to do
        if self.trans is not None:  # a newer action preempts the one in progress
            old = operations.get(self.trans.op)
            if old is not None:
                operations.preempt(old)
        before = (self.power, self.hibernated)
        after = (final, action == "deallocate" and flag)
        op = operations.start(request, provider="Microsoft.Compute", kind="action", name=action, resource=self,
                              seconds=seconds)

        def settle(state: tuple[str, bool]) -> None:
            if self.trans is not None and self.trans.op == op.id:
                self.trans = None
            self.power, self.hibernated = state

        op.on_success, op.on_failure = (lambda: settle(after)), (lambda: settle(before))
        if seconds > 0:
            self.trans = Transition(during, final, op.until, op.id)
        else:
            operations.finish(op)
        return op

    @classmethod
    def from_scenario(cls, arm: ArmStore, rg: ResourceGroup, spec: dict) -> VirtualMachine:
        """The VM, and its NICs (loaded before) marked as attached to it; its managed disks are added to `arm`."""
        vm_id = f"{rg.providers}/{VM_TYPE}/{spec['name']}"
        nic_refs = []
        for j, nic_name in enumerate(spec.get("network_interfaces", [])):
            nic_id = f"{rg.providers}/{NIC_TYPE}/{nic_name}"
            nic_refs.append({"id": nic_id, "properties": {"primary": j == 0}})
            nic = arm.get(nic_id, NetworkInterface)
            if nic is not None:
                nic.body["properties"]["virtualMachine"] = {"id": vm_id}
                nic.body["properties"]["primary"] = j == 0
        name = spec["name"]
        location = spec.get("location", rg.location)
        profile, disks = storage_profile(rg, name, vm_id, location, spec)
        for disk in disks:
            arm.add(disk)
        return cls({
            "name": name, "id": vm_id, "type": VM_TYPE, "location": location,
            "tags": spec.get("tags", {}),
            "properties": {
                "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, vm_id.lower())),
                "hardwareProfile": {"vmSize": spec.get("size", "Standard_B2s")},
                "storageProfile": profile,
                "osProfile": {"computerName": spec.get("computer_name", name), "adminUsername": "azureuser",
                              "linuxConfiguration": {"disablePasswordAuthentication": True, "provisionVMAgent": True},
                              "secrets": [], "allowExtensionOperations": True},
                "networkProfile": {"networkInterfaces": nic_refs},
                "timeCreated": "2024-01-01T00:00:00.0000000+00:00"}},
            rg.sub, rg.name, power=spec.get("power_state", "running"))


def load_resource_group(arm: ArmStore, rg: ResourceGroup, spec: dict) -> None:
    """The scenario's virtual_machines of one resource group (after the network: they link their NICs)."""
    for vm in spec.get("virtual_machines", []):
        arm.add(VirtualMachine.from_scenario(arm, rg, vm))
