"""The latency profile: how long ARM's long-running operations take and how long every request travels.

Off by default (settings `latency: null`): the scenario's short timings apply (`lro_seconds` for Network writes,
`vm_transition_seconds` for VM power actions, `retry_after_seconds`), as the tests expect. On: settings
`latency: {profile: azure, scale: 0.1, <figure>: ...}` -- the named profile's figures, overridden by the figures
given, every one multiplied by `scale` (0.1 runs Azure-shaped timings ten times faster). Settable at run time
(Emulator.set_latency, POST /_emulator/latency) and reported back (Emulator.latency(), GET /_emulator/latency) so
a benchmark can print what it simulated.

Figures (seconds):
  nsg_write_seconds       PUT / PATCH / DELETE of a network security group
  rule_write_seconds      PUT / DELETE of a security rule
  nic_write_seconds       PUT / DELETE of a network interface
  snapshot_write_seconds  PUT / DELETE of a snapshot (Microsoft.Compute/snapshots)
  vm_power_seconds        {start, powerOff, deallocate, restart}: a VM power action (powerOff with
                          skipShutdown=true takes half, as without the profile)
  operation_seconds       {"<namespace>/<type>[/<child type>][/<action>]": seconds}: any other operation
  network_delay_seconds   added to every ARM and Entra ID request (not to the control surface)
  retry_after_seconds     Retry-After of 202s, of polls of a running operation and of 429s; whole seconds after
                          scaling, rounded up, at least 1 (HTTP's delta-seconds), so it bounds how far a profile
                          compresses: with scale 0.1 the azure profile's 10 s becomes 1 s
An operation is matched by its request's URL (every operation is created by arm/lro.py's Operations.start, which
asks `operation_seconds`): the resource type after the last `providers` segment, and the action when the URL ends
with one. A type the profile does not name keeps its handler's own duration; an operation with nothing to do
(start of a running VM: duration 0) still finishes at once.

The `azure` profile: typical figures, not guaranteed ones -- Azure publishes no durations, they vary by region,
load and resource size, and the sources are public logs of real runs:
  - Retry-After 10 on Network PUT/DELETE and their polls: observed ARM responses (the project's Azure notes).
  - NIC create 3 s, NIC delete 11 s, VNet 7 s, subnet 5 s, VM delete 85 s: one Terraform apply/destroy log
    (centralus, 2021; the azurerm provider polls at Retry-After, so a delete shows as ~11 s).
  - 23 security-rule updates on one NSG, one after another, 117 s: ~5 s each (Terraform log in
    PaloAltoNetworks/terraform-azurerm-vmseries-modules#98); subnets 10-15 s in the same run.
  - VM power actions: tens of seconds (start ~30 s, graceful powerOff ~30 s, deallocate ~45 s): estimates in
    line with the 51 s VM create and 85 s VM delete above; Azure documents no figure.
  - Snapshot PUT: 10 s, an estimate (the LRO ends when the snapshot resource exists; an incremental snapshot's
    background copy runs on, undocumented: MicrosoftDocs/azure-docs#116338 asks for a figure).
  - Network delay 0.1 s per request: a round trip to management.azure.com / login.microsoftonline.com from the
    same geography plus front-door processing, an estimate.
"""
from __future__ import annotations

import copy
import math
from typing import Any

from .http import PathTemplate, Request

NSG_TYPE = "microsoft.network/networksecuritygroups"
VM_TYPE = "microsoft.compute/virtualmachines"
VM_ACTIONS = ("start", "powerOff", "deallocate", "restart")
# the figure of each resource type written without an action (lower-cased type -> figure name)
WRITE_FIGURES = {
    NSG_TYPE: "nsg_write_seconds",
    f"{NSG_TYPE}/securityrules": "rule_write_seconds",
    "microsoft.network/networkinterfaces": "nic_write_seconds",
    "microsoft.compute/snapshots": "snapshot_write_seconds",
}
SCALAR_FIGURES = (*WRITE_FIGURES.values(), "network_delay_seconds", "retry_after_seconds")
FIGURES = (*SCALAR_FIGURES, "vm_power_seconds", "operation_seconds")

PROFILES: dict[str, dict[str, Any]] = {
    "azure": {
        "nsg_write_seconds": 4.0,
        "rule_write_seconds": 5.0,
        "nic_write_seconds": 4.0,
        "snapshot_write_seconds": 10.0,
        "vm_power_seconds": {"start": 30.0, "powerOff": 30.0, "deallocate": 45.0, "restart": 40.0},
        "operation_seconds": {"Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups": 5.0},
        "network_delay_seconds": 0.1,
        "retry_after_seconds": 10,
    },
}


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
        raise ValueError(f"latency {name} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def _table(name: str, value: Any, allowed: tuple[str, ...] | None = None) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"latency {name} must be a mapping of names to seconds, not {value!r}")
    out = {}
    for key, seconds in value.items():
        if allowed is not None and key not in allowed:
            raise ValueError(f"latency {name} has an unknown action {key!r}; one of {', '.join(allowed)}")
        out[str(key)] = _seconds(f"{name}.{key}", seconds)
    return out


def operation_type(request: Request) -> tuple[str, str | None]:
    """(resource type, action) of the URL: "Microsoft.Network/networkSecurityGroups/securityRules", None for
    .../networkSecurityGroups/nsg/securityRules/r; "Microsoft.Compute/virtualMachines", "deallocate" for
    .../virtualMachines/vm/deallocate. ("", None) outside a provider."""
    raw = (request.raw_path or request.path).split("?", 1)[0].strip("/")
    segs = [PathTemplate.decode(s) for s in raw.split("/")] if raw else []
    lowered = [s.lower() for s in segs]
    if "providers" not in lowered:
        return "", None
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    rest = segs[at + 1:]
    if len(rest) < 2:
        return "", None
    namespace, pairs = rest[0], rest[1:]
    action = pairs.pop() if len(pairs) % 2 else None
    return "/".join([namespace, *pairs[0::2]]), action


class Latency:
    """One scenario's latency settings (mutable: `configure` replaces them at run time)."""

    def __init__(self, spec: Any = None):
        self.profile: str | None = None
        self.scale = 1.0
        self.figures: dict[str, Any] = {}
        self.enabled = False
        self.configure(spec)

    def configure(self, spec: Any) -> None:
        """Validate and apply `spec` (None / {} / False: off). Bad values raise ValueError naming them, and leave
        the settings as they were."""
        if not spec:
            self.profile, self.scale, self.figures, self.enabled = None, 1.0, {}, False
            return
        if not isinstance(spec, dict):
            raise ValueError(f"latency must be a mapping (profile, scale, figures) or null, not {spec!r}")
        unknown = sorted(set(spec) - {"profile", "scale", *FIGURES})
        if unknown:
            raise ValueError(f"unknown latency setting(s) {', '.join(unknown)}; known: profile, scale, "
                             f"{', '.join(FIGURES)}")
        profile = spec.get("profile")
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"unknown latency profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
        scale = spec.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"latency scale must be a number > 0, not {scale!r}")
        figures = copy.deepcopy(PROFILES[profile]) if profile else {}
        for name in SCALAR_FIGURES:
            if name in spec:
                figures[name] = _seconds(name, spec[name])
        if "vm_power_seconds" in spec:
            figures["vm_power_seconds"] = {**figures.get("vm_power_seconds", {}),
                                           **_table("vm_power_seconds", spec["vm_power_seconds"], VM_ACTIONS)}
        if "operation_seconds" in spec:
            figures["operation_seconds"] = {**figures.get("operation_seconds", {}),
                                            **_table("operation_seconds", spec["operation_seconds"])}
        self.profile, self.scale, self.figures, self.enabled = profile, float(scale), figures, True

    # ------------------------------------------------------------------ what the emulator asks
    def _figure(self, request: Request) -> float | None:
        rtype, action = operation_type(request)
        key = rtype.lower()
        if action is None and key in WRITE_FIGURES and WRITE_FIGURES[key] in self.figures:
            return self.figures[WRITE_FIGURES[key]]
        if action is not None and key == VM_TYPE:
            power = {a.lower(): s for a, s in self.figures.get("vm_power_seconds", {}).items()}
            seconds = power.get(action.lower())
            if seconds is not None and action.lower() == "poweroff" and \
                    (request.arg("skipShutdown") or "").lower() == "true":
                return seconds / 2  # no graceful guest shutdown (VirtualMachine.begin halves the default alike)
            if seconds is not None:
                return seconds
        others = {k.lower(): s for k, s in self.figures.get("operation_seconds", {}).items()}
        return others.get(f"{key}/{action.lower()}" if action else key)

    def operation_seconds(self, request: Request, default: float) -> float:
        """How long the operation `request` starts runs: the profile's figure for its URL, scaled, or `default`
        (the handler's own duration) when the profile is off, names no figure for it, or default is 0."""
        if not self.enabled or default <= 0:
            return default
        figure = self._figure(request)
        return default if figure is None else figure * self.scale

    def network_delay(self) -> float:
        return float(self.figures.get("network_delay_seconds", 0.0)) * self.scale if self.enabled else 0.0

    def retry_after(self, default: int) -> int:
        """Retry-After in whole seconds: the profile's, scaled and rounded up (at least 1), or `default`."""
        if not self.enabled or "retry_after_seconds" not in self.figures:
            return default
        return max(1, math.ceil(self.figures["retry_after_seconds"] * self.scale - 1e-9))

    def report(self, settings: dict) -> dict:
        """What is simulated: the figures as configured, as applied (scaled), and the scenario's own timings that
        apply where the profile names nothing."""
        retry_after = int(settings.get("retry_after_seconds", 1))
        defaults = {"lro_seconds": float(settings.get("lro_seconds", 0.3)),
                    "vm_transition_seconds": float(settings.get("vm_transition_seconds", 1.0)),
                    "retry_after_seconds": retry_after}
        effective: dict[str, Any] = {}
        for name, value in self.figures.items():
            if name == "retry_after_seconds":
                effective[name] = self.retry_after(retry_after)
            elif isinstance(value, dict):
                effective[name] = {k: round(v * self.scale, 6) for k, v in value.items()}
            else:
                effective[name] = round(value * self.scale, 6)
        return {"enabled": self.enabled, "profile": self.profile, "scale": self.scale,
                "figures": copy.deepcopy(self.figures), "effective": effective, "defaults": defaults}
