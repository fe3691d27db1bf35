"""The `forensics` scenario: the default scenario plus what finding a VM and taking its evidence meet in Azure.

Subscription "SOC Demo" (the default's), resource group soc-demo-rg, added:
  legacy-01     NIC legacy-01-nic0 10.0.1.7; an unmanaged OS disk (a VHD blob, no disk resource)
  ephemeral-01  NIC ephemeral-01-nic0 10.0.1.8 plus an IPv6 configuration ipconfig-v6 (private fd00:db8:1::8,
                public IP ephemeral-01-pip-v6 2001:db8:1::8); an ephemeral OS disk (the VM names it, GET is 404)
  jump-01       NIC jump-01-nic0 10.0.1.9; computer name "web-02", the name of another VM (hostname web-02 is
                ambiguous within the subscription)
resource group soc-evidence-rg (eastus, empty): where snapshots may be sent (target_resource_group);
soc-responder holds Disk Snapshot Contributor on it.
Subscription "SOC Branch" (bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee), resource group branch-rg (westeurope), its own
VNet with the same address space: branch-01 (10.0.1.4, the private IP of web-01) and a second VM named web-02
(10.0.1.6). soc-responder and soc-reader may read it (Reader), not change it.
"""
from __future__ import annotations

from .common import SUB_A, SUB_B, assignments_for, base, subscription

EVIDENCE_RG = "soc-evidence-rg"


def build() -> dict:
    scenario = base()
    group = scenario["subscriptions"][0]["resource_groups"][0]
    group.setdefault("public_ip_addresses", []).append(
        {"name": "ephemeral-01-pip-v6", "ip_address": "2001:db8:1::8", "version": "IPv6"})
    group["network_interfaces"] += [
        {"name": "legacy-01-nic0", "subnet": "soc-vnet/web-subnet", "private_ip": "10.0.1.7"},
        {"name": "ephemeral-01-nic0", "subnet": "soc-vnet/web-subnet", "private_ip": "10.0.1.8",
         "extra_ip_configurations": [{"name": "ipconfig-v6", "private_ip": "fd00:db8:1::8", "version": "IPv6",
                                      "public_ip": "ephemeral-01-pip-v6"}]},
        {"name": "jump-01-nic0", "subnet": "soc-vnet/web-subnet", "private_ip": "10.0.1.9"}]
    group["virtual_machines"] += [
        {"name": "legacy-01", "size": "Standard_B2s", "power_state": "running", "network_interfaces": ["legacy-01-nic0"],
         "os_disk": {"kind": "unmanaged"}},
        {"name": "ephemeral-01", "size": "Standard_D4s_v5", "power_state": "running",
         "network_interfaces": ["ephemeral-01-nic0"], "os_disk": {"kind": "ephemeral"}},
        {"name": "jump-01", "size": "Standard_B2s", "power_state": "running", "network_interfaces": ["jump-01-nic0"],
         "computer_name": "web-02"}]
    scenario["subscriptions"][0]["resource_groups"].append({"name": EVIDENCE_RG, "location": "eastus"})
    scenario["subscriptions"].append(subscription(SUB_B, "SOC Branch", [{
        "name": "branch-rg", "location": "westeurope",
        "virtual_networks": [{"name": "branch-vnet", "address_prefixes": ["10.0.0.0/16"],
                              "subnets": [{"name": "web-subnet", "address_prefix": "10.0.1.0/24"}]}],
        "network_interfaces": [{"name": "branch-01-nic0", "subnet": "branch-vnet/web-subnet", "private_ip": "10.0.1.4"},
                               {"name": "web-02-nic0", "subnet": "branch-vnet/web-subnet", "private_ip": "10.0.1.6"}],
        "virtual_machines": [{"name": "branch-01", "network_interfaces": ["branch-01-nic0"]},
                             {"name": "web-02", "network_interfaces": ["web-02-nic0"]}]}]))
    scenario["role_assignments"] += [
        {"principal": "soc-responder", "role": "Disk Snapshot Contributor",
         "scope": f"/subscriptions/{SUB_A}/resourceGroups/{EVIDENCE_RG}"},
        *assignments_for(scenario, SUB_B, {"soc-responder", "soc-reader"}, {"Virtual Machine Contributor": "Reader",
                                                                             "Network Contributor": "Reader"})]
    return scenario
