"""The `large` scenario, for the benchmarks: the default scenario plus 2,000 VMs over two subscriptions.

Subscription "SOC Demo" (the default's) gets resource groups fleet-a-00 ... fleet-a-09 (eastus), subscription
"SOC Fleet B" (bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee) fleet-b-00 ... fleet-b-09 (westeurope); each group a VNet
10.<10+g>.0.0/16 (the same address spaces in both subscriptions, as separate estates often have) and 100 VMs
vm-<a|b><gg>-<nnn> with one NIC (private IP 10.<10+g>.<n // 250>.<n % 250 + 4>) and a managed OS disk. Every
5th VM has a public IP (198.19.x.y, unique), every 3rd a computer name that differs from its VM name
(<A|B><gg>HOST<nnn>), every 10th is deallocated. The principals of the default scenario hold the same roles on
the second subscription. ARM lists pages of 100, Resource Graph pages of 1000 (Azure's maximum).
"""
from __future__ import annotations

from .common import SUB_B, assignments_for, base, subscription

GROUPS_PER_SUBSCRIPTION = 10
VMS_PER_GROUP = 100


def _group(letter: str, g: int, location: str, counter: list[int]) -> dict:
    prefix = f"vm-{letter}{g:02d}"
    nics, vms, pips = [], [], []
    for n in range(VMS_PER_GROUP):
        name = f"{prefix}-{n:03d}"
        nic = {"name": f"{name}-nic0", "subnet": f"fleet-{letter}-{g:02d}-vnet/default",
               "private_ip": f"10.{10 + g}.{n // 250}.{n % 250 + 4}"}
        if n % 5 == 0:
            k = counter[0]
            counter[0] += 1
            pips.append({"name": f"{name}-pip", "ip_address": f"198.19.{k // 250}.{k % 250 + 1}"})
            nic["public_ip"] = f"{name}-pip"
        nics.append(nic)
        vm = {"name": name, "size": "Standard_B1s", "power_state": "deallocated" if n % 10 == 9 else "running",
              "network_interfaces": [nic["name"]]}
        if n % 3 == 0:
            vm["computer_name"] = f"{letter.upper()}{g:02d}HOST{n:03d}"
        vms.append(vm)
    return {"name": f"fleet-{letter}-{g:02d}", "location": location,
            "virtual_networks": [{"name": f"fleet-{letter}-{g:02d}-vnet", "address_prefixes": [f"10.{10 + g}.0.0/16"],
                                  "subnets": [{"name": "default", "address_prefix": f"10.{10 + g}.0.0/16"}]}],
            "public_ip_addresses": pips, "network_interfaces": nics, "virtual_machines": vms}


def build() -> dict:
    scenario = base()
    counter = [0]
    scenario["subscriptions"][0]["resource_groups"] += [
        _group("a", g, "eastus", counter) for g in range(GROUPS_PER_SUBSCRIPTION)]
    scenario["subscriptions"].append(subscription(SUB_B, "SOC Fleet B", [
        _group("b", g, "westeurope", counter) for g in range(GROUPS_PER_SUBSCRIPTION)]))
    scenario["role_assignments"] += assignments_for(scenario, SUB_B)
    scenario["settings"].update({"page_size": 100, "graph_page_size": 1000})
    return scenario
