"""The official Azure SDK for Python (azure-identity, azure-mgmt-network, azure-mgmt-compute, azure-core), unmodified,
against the emulator: every ARM operation the emulator serves, including the long-running-operation pollers.

The clients get base_url=emu.arm_url, credential_scopes=[emu.arm_url + "/.default"] and the emulator CA through
connection_verify; the credential is azure-identity's ClientSecretCredential against the emulator's login host.
"""
from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import CreationData, Snapshot
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (EffectiveSecurityAdminRule, NetworkSecurityGroup, QueryRequestOptions,
                                       SecurityRule, TagsObject)

from .helpers import APP_NET, APP_RG, APP_SUB, AVNM, NSG, RG, RG_ID, SUB, TENANT

# 1 s VM transitions: the transitional power state read right after the POST must not miss its window.
SETTINGS = {"settings": {"lro_seconds": 0.1, "vm_transition_seconds": 1.0, "retry_after_seconds": 0}}


def credential_for(emulator, principal: str) -> ClientSecretCredential:
    creds = emulator.credentials[principal]
    return ClientSecretCredential(TENANT, creds["client_id"], creds["secret"], authority=emulator.login_url,
                                  disable_instance_discovery=True, connection_verify=emulator.ca_bundle)


def client_options(emulator) -> dict:
    return {"base_url": emulator.arm_url, "credential_scopes": [emulator.arm_url + "/.default"],
            "connection_verify": emulator.ca_bundle, "polling_interval": 0.05}


@pytest.fixture
def sdk(emulator):
    emulator.reset(SETTINGS)
    credential = credential_for(emulator, "soc-responder")
    network = NetworkManagementClient(credential, SUB, **client_options(emulator))
    compute = ComputeManagementClient(credential, SUB, **client_options(emulator))
    yield network, compute
    network.close()
    compute.close()
    credential.close()


@pytest.fixture
def app_network(emulator, sdk):
    """A NetworkManagementClient on subscription SOC Apps (app-01 behind the platform team's admin rules)."""
    network, _ = sdk
    creds = emulator.credentials["soc-responder"]
    credential = ClientSecretCredential(TENANT, creds["client_id"], creds["secret"], authority=emulator.login_url,
                                        disable_instance_discovery=True, connection_verify=emulator.ca_bundle)
    client = NetworkManagementClient(credential, APP_SUB, base_url=emulator.arm_url,
                                     credential_scopes=[emulator.arm_url + "/.default"],
                                     connection_verify=emulator.ca_bundle, polling_interval=0.05)
    yield client
    client.close()
    credential.close()


def rule(priority, prefix, direction="Inbound"):
    return SecurityRule(protocol="*", access="Deny", direction=direction, priority=priority,
                        source_address_prefix=prefix, source_port_range="*", destination_address_prefix="*",
                        destination_port_range="*", description="blocked by SOC")


def power_state(compute, name):
    view = compute.virtual_machines.instance_view(RG, name)
    return next(s.code for s in view.statuses if s.code.startswith("PowerState/"))


def test_sdk_raw_requests_subscriptions_groups_permissions(sdk):
    network, _ = sdk
    for path, version in ((f"/subscriptions/{SUB}", "2022-12-01"), ("/subscriptions", "2022-12-01"),
                          (RG_ID, "2021-04-01"), (f"/subscriptions/{SUB}/resourcegroups", "2021-04-01"),
                          (f"/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions", "2022-04-01"),
                          (f"{RG_ID}/providers/Microsoft.Authorization/permissions", "2022-04-01"),
                          (f"{NSG}/web-nsg/providers/Microsoft.Authorization/permissions", "2022-04-01")):
        response = network.send_request(HttpRequest("GET", f"{path}?api-version={version}"))
        assert response.status_code == 200, response.text()
    perms = response.json()["value"]
    assert any("Microsoft.Network/*" in p["actions"] for p in perms)


def test_sdk_virtual_machines_reads(sdk):
    _, compute = sdk
    vm = compute.virtual_machines.get(RG, "web-01", expand="instanceView")
    assert vm.hardware_profile.vm_size == "Standard_B2s"
    assert [s.code for s in vm.instance_view.statuses][1] == "PowerState/running"
    assert power_state(compute, "db-01") == "PowerState/deallocated"
    assert sorted(v.name for v in compute.virtual_machines.list(RG)) == ["db-01", "web-01", "web-02"]  # 2 pages
    assert sorted(v.name for v in compute.virtual_machines.list_all()) == ["db-01", "web-01", "web-02"]
    with pytest.raises(ResourceNotFoundError) as info:
        compute.virtual_machines.get(RG, "ghost")
    assert info.value.error.code == "ResourceNotFound"


def test_sdk_vm_power_pollers(sdk, emulator):
    _, compute = sdk
    poller = compute.virtual_machines.begin_deallocate(RG, "web-01", hibernate=True)
    assert power_state(compute, "web-01") == "PowerState/deallocating"
    assert poller.result() is None
    assert poller.status() == "Succeeded"
    assert power_state(compute, "web-01") == "PowerState/deallocated"
    compute.virtual_machines.begin_start(RG, "web-01").result()
    assert power_state(compute, "web-01") == "PowerState/running"
    compute.virtual_machines.begin_restart(RG, "web-01").result()
    assert power_state(compute, "web-01") == "PowerState/running"
    compute.virtual_machines.begin_power_off(RG, "web-01", skip_shutdown=True).result()
    assert power_state(compute, "web-01") == "PowerState/stopped"
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_power_off(RG, "db-01").result()
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    methods = [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in emulator.request_log() if e["listener"] == "arm"]
    assert ("POST", "deallocate") in methods
    assert ("POST", "powerOff") in methods


def test_sdk_failed_long_running_operation(sdk, emulator):
    _, compute = sdk
    emulator.inject_fault("lro_failed", path_contains="/web-02/deallocate",
                          error_code="VMAgentStatusCommunicationError")
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_deallocate(RG, "web-02").result()
    assert "VMAgentStatusCommunicationError" in str(info.value)
    assert power_state(compute, "web-02") == "PowerState/running"


def test_sdk_security_rules(sdk):
    network, _ = sdk
    created = network.security_rules.begin_create_or_update(RG, "web-nsg", "block-203-0-113-7",
                                                            rule(120, "203.0.113.7")).result()
    assert created.provisioning_state == "Succeeded"
    assert created.priority == 120
    assert network.security_rules.get(RG, "web-nsg", "block-203-0-113-7").source_address_prefix == "203.0.113.7"
    assert {r.name for r in network.security_rules.list(RG, "web-nsg")} == {
        "allow-https-in", "allow-ssh-admin", "block-203-0-113-7"}
    with pytest.raises(HttpResponseError) as info:
        network.security_rules.begin_create_or_update(RG, "web-nsg", "dup", rule(110, "203.0.113.8")).result()
    assert info.value.error.code == "SecurityRuleConflict"
    network.security_rules.begin_delete(RG, "web-nsg", "block-203-0-113-7").result()
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(RG, "web-nsg", "block-203-0-113-7")
    defaults = list(network.default_security_rules.list(RG, "web-nsg"))
    assert len(defaults) == 6


def test_sdk_network_security_groups(sdk):
    network, _ = sdk
    assert sorted(n.name for n in network.network_security_groups.list(RG)) == [
        "db-subnet-nsg", "edge-nsg", "web-nsg"]
    assert len(list(network.network_security_groups.list_all())) == 3
    deny_in, deny_out = rule(100, "*"), rule(100, "*", "Outbound")
    deny_in.name, deny_out.name = "deny-all-in", "deny-all-out"
    nsg = NetworkSecurityGroup(location="eastus", flush_connection=True, security_rules=[deny_in, deny_out])
    created = network.network_security_groups.begin_create_or_update(RG, "web-01-isolation", nsg).result()
    assert created.provisioning_state == "Succeeded"
    assert created.flush_connection is True
    assert len(created.default_security_rules) == 6
    # full replace: one rule left
    created.security_rules = created.security_rules[:1]
    replaced = network.network_security_groups.begin_create_or_update(RG, "web-01-isolation", created).result()
    assert [r.name for r in replaced.security_rules] == ["deny-all-in"]
    tagged = network.network_security_groups.update_tags(RG, "web-01-isolation", TagsObject(tags={"case": "7"}))
    assert tagged.tags == {"case": "7"}
    network.network_security_groups.begin_delete(RG, "web-01-isolation").result()
    with pytest.raises(ResourceNotFoundError):
        network.network_security_groups.get(RG, "web-01-isolation")
    with pytest.raises(HttpResponseError) as info:
        network.network_security_groups.begin_delete(RG, "web-nsg").result()
    assert info.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"


def test_sdk_network_interfaces_and_virtual_networks(sdk):
    network, _ = sdk
    assert sorted(n.name for n in network.network_interfaces.list(RG)) == [
        "db-01-nic0", "web-01-nic0", "web-01-nic1", "web-02-nic0"]
    assert len(list(network.network_interfaces.list_all())) == 4
    nic = network.network_interfaces.get(RG, "web-02-nic0")
    nic.network_security_group.id = f"{NSG}/edge-nsg"
    updated = network.network_interfaces.begin_create_or_update(RG, "web-02-nic0", nic).result()
    assert updated.network_security_group.id == f"{NSG}/edge-nsg"
    assert updated.ip_configurations[0].private_ip_address == "10.0.1.6"
    assert updated.virtual_machine.id.endswith("/virtualMachines/web-02")
    edge = network.network_security_groups.get(RG, "edge-nsg")
    assert [n.id.rsplit("/", 1)[1] for n in edge.network_interfaces] == ["web-02-nic0"]
    vnet = network.virtual_networks.get(RG, "soc-vnet")
    assert [s.name for s in vnet.subnets] == ["web-subnet", "db-subnet"]
    subnet = network.subnets.get(RG, "soc-vnet", "db-subnet")
    assert subnet.network_security_group.id == f"{NSG}/db-subnet-nsg"


def test_sdk_retries_injected_throttling(sdk, emulator):
    network, _ = sdk
    emulator.inject_fault("429", method="GET", path_contains="/networkSecurityGroups/web-nsg", count=1,
                          retry_after=0)
    assert network.network_security_groups.get(RG, "web-nsg").name == "web-nsg"
    statuses = [e["status"] for e in emulator.request_log() if e["path"].endswith("/web-nsg")]
    assert statuses == [429, 200]


# ---------------------------------------------------------------- disks, snapshots, public IPs, Resource Graph
def test_sdk_disks(sdk):
    _, compute = sdk
    disks = {d.name: d for d in compute.disks.list_by_resource_group(RG)}   # three pages
    assert len(disks) == 5
    assert {d.name for d in compute.disks.list()} == set(disks)
    vm = compute.virtual_machines.get(RG, "web-01")
    os_disk = compute.disks.get(RG, vm.storage_profile.os_disk.name)
    assert os_disk.id == vm.storage_profile.os_disk.managed_disk.id
    assert (os_disk.managed_by, os_disk.disk_size_gb, os_disk.os_type, os_disk.disk_state) == (
        vm.id, 30, "Linux", "Attached")
    assert [(d.lun, d.managed_disk.id) for d in vm.storage_profile.data_disks] == [
        (0, disks["web-01_DataDisk_0"].id), (1, disks["web-01_DataDisk_1"].id)]
    assert compute.virtual_machines.get(RG, "db-01").os_profile.computer_name == "sqlprod01"
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(RG, "ghost")


def test_sdk_snapshots(sdk, emulator):
    _, compute = sdk
    disk = compute.disks.get(RG, "web-01_DataDisk_1")
    poller = compute.snapshots.begin_create_or_update(RG, "evidence-lun1", Snapshot(
        location=disk.location, incremental=True, tags={"case": "INC-1"},
        creation_data=CreationData(create_option="Copy", source_resource_id=disk.id)))
    assert compute.snapshots.get(RG, "evidence-lun1").provisioning_state == "Updating"
    snapshot = poller.result()
    assert poller.status() == "Succeeded"
    assert (snapshot.provisioning_state, snapshot.incremental, snapshot.disk_size_gb, snapshot.tags) == (
        "Succeeded", True, 128, {"case": "INC-1"})
    assert snapshot.creation_data.source_resource_id == disk.id
    assert snapshot.creation_data.source_unique_id == disk.unique_id
    assert compute.snapshots.get(RG, "evidence-lun1").incremental_snapshot_family_id == \
        snapshot.incremental_snapshot_family_id
    assert [s.name for s in compute.snapshots.list_by_resource_group(RG)] == ["evidence-lun1"]
    credential = credential_for(emulator, "soc-reader")   # Reader reads the whole subscription
    reader = ComputeManagementClient(credential, SUB, **client_options(emulator))
    try:
        assert [s.name for s in reader.snapshots.list()] == ["evidence-lun1"]
    finally:
        reader.close()
        credential.close()
    with pytest.raises(ResourceNotFoundError) as info:   # the disk's region only
        compute.snapshots.begin_create_or_update(RG, "elsewhere", Snapshot(
            location="westus", creation_data=CreationData(create_option="Copy", source_resource_id=disk.id))).result()
    assert info.value.error.code == "NotFound"
    compute.snapshots.begin_delete(RG, "evidence-lun1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.snapshots.get(RG, "evidence-lun1")
    methods = [(e["method"], e["status"]) for e in emulator.request_log()
               if e["listener"] == "arm" and "/snapshots/" in e["path"]]
    assert ("PUT", 202) in methods
    assert ("DELETE", 202) in methods


def test_sdk_public_ips(sdk):
    network, _ = sdk
    pip = network.public_ip_addresses.get(RG, "web-01-pip")
    assert (pip.ip_address, pip.public_ip_address_version, pip.sku.name) == ("192.0.2.10", "IPv4", "Standard")
    assert pip.ip_configuration.id.endswith("/web-01-nic1/ipConfigurations/ipconfig1")
    assert [p.name for p in network.public_ip_addresses.list(RG)] == ["web-01-pip"]
    assert [p.name for p in network.public_ip_addresses.list_all()] == ["web-01-pip"]
    nic = network.network_interfaces.get(RG, "web-01-nic1")
    assert nic.ip_configurations[0].public_ip_address.id == pip.id


def test_sdk_pipeline_resource_graph_query(sdk):
    """Resource Graph as azure-mgmt-resourcegraph calls it (not installed here): POST with the SDK's pipeline."""
    network, _ = sdk
    body: dict[str, Any] = {"subscriptions": [SUB], "options": {"resultFormat": "objectArray", "$top": 1000},
            "query": "Resources | where type =~ 'Microsoft.Compute/virtualMachines' "
                     "| project id, name, computerName = tostring(properties.osProfile.computerName) "
                     "| order by name asc"}
    rows, pages = [], 0
    while True:
        response = network.send_request(HttpRequest(
            "POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01", json=body))
        assert response.status_code == 200, response.text()
        assert int(response.headers["x-ms-user-quota-remaining"]) >= 0
        answer = response.json()
        rows += answer["data"]
        pages += 1
        if "$skipToken" not in answer:
            break
        body["options"]["$skipToken"] = answer["$skipToken"]
    assert pages == 2
    assert [(r["name"], r["computerName"]) for r in rows] == [
        ("db-01", "sqlprod01"), ("web-01", "web-01"), ("web-02", "web-02")]
    bad = network.send_request(HttpRequest("POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01",
                                           json={"subscriptions": [SUB], "query": "Resources | top 1 by name"}))
    assert bad.status_code == 400
    assert [d["code"] for d in bad.json()["error"]["details"]] == ["InvalidQuery", "InvalidQueryLanguage"]


def test_sdk_effective_network_security_groups_poller(sdk, app_network, emulator):
    network, _ = sdk
    poller = app_network.network_interfaces.begin_list_effective_network_security_groups(APP_RG, "app-01-nic0")
    result = poller.result()
    assert poller.status() == "Succeeded"
    [entry] = result.value
    assert entry.network_security_group.id == f"{APP_NET}/networkSecurityGroups/app-subnet-nsg"
    assert entry.association.subnet.id == f"{APP_NET}/virtualNetworks/app-vnet/subnets/app-subnet"
    assert entry.association.network_interface is None
    rules = {r.name: r for r in entry.effective_security_rules}
    https = rules["securityRules/allow-https-in"]
    assert (https.protocol, https.destination_port_range, https.source_address_prefix) == ("Tcp", "443-443", "Internet")
    assert "1.0.0.0/8" in https.expanded_source_address_prefix
    vnet_in = rules["defaultSecurityRules/AllowVnetInBound"]
    assert (vnet_in.protocol, vnet_in.access, vnet_in.priority) == ("All", "Allow", 65000)
    assert vnet_in.expanded_source_address_prefix == ["10.1.0.0/16", "168.63.129.16/32"]
    assert entry.tag_map["AzureLoadBalancer"] == ["168.63.129.16/32"]
    posts = [e for e in emulator.request_log() if e["method"] == "POST" and e["listener"] == "arm"]
    assert [e["path"].rsplit("/", 1)[1] for e in posts] == ["effectiveNetworkSecurityGroups"]
    with pytest.raises(HttpResponseError) as info:  # db-01 is deallocated
        network.network_interfaces.begin_list_effective_network_security_groups(RG, "db-01-nic0").result()
    assert info.value.status_code == 400
    assert info.value.error.code == "NicMustBeAttachedToRunningVmToGetEffectiveSecurityGroups"


def test_sdk_network_manager_effective_security_admin_rules_paging(app_network):
    first = app_network.list_network_manager_effective_security_admin_rules(APP_RG, "app-vnet", QueryRequestOptions())
    assert [r.id.rsplit("/", 1)[1] for r in first.value] == ["deny-telnet-in", "allow-https-out"]
    assert first.skip_token
    second = app_network.list_network_manager_effective_security_admin_rules(
        APP_RG, "app-vnet", QueryRequestOptions(skip_token=first.skip_token))
    assert second.skip_token is None
    [bypass] = second.value
    assert isinstance(bypass, EffectiveSecurityAdminRule)  # kind Custom
    assert (bypass.access, bypass.direction, bypass.priority, bypass.protocol) == (
        "AlwaysAllow", "Inbound", 300, "Tcp")
    assert [(s.address_prefix, s.address_prefix_type) for s in bypass.sources] == [("Internet", "ServiceTag")]
    assert bypass.destination_port_ranges == ["3389"]
    assert bypass.rule_collection_description == "Vendor remote support, whatever the application teams' NSGs say"
    assert [g.network_group_id for g in bypass.rule_collection_applies_to_groups] == [f"{AVNM}/networkGroups/app-vnets"]
    assert bypass.rule_groups[0].id == f"{AVNM}/networkGroups/app-vnets"
    whole = app_network.list_network_manager_effective_security_admin_rules(APP_RG, "app-vnet", {}, top=10)
    assert [r.access for r in whole.value] == ["Deny", "Allow", "AlwaysAllow"]
    assert whole.skip_token is None
