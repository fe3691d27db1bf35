"""What Azure enforces, read back: a NIC's effective security rules (POST .../effectiveNetworkSecurityGroups, a
long-running operation for NICs of running VMs: subnet NSG + NIC NSG + default rules, service tags expanded) and a
VNet's effective Virtual Network Manager security admin rules (POST .../listNetworkManagerEffectiveSecurityAdminRules,
a plain 200 paged with skipToken), with their RBAC actions, errors and scenario schema."""
from __future__ import annotations

import copy
import uuid

import pytest

from Tests.azure_emulator.arm.network.effective import public_ipv4
from Tests.azure_emulator.arm.store import ArmStore
from Tests.azure_emulator.scenario import load_scenario

from .helpers import APP_NET, APP_SUB, AVNM, NET, NIC, NSG, READER_OID, READER_ID, Arm, error_of

APP_NIC = f"{APP_NET}/networkInterfaces/app-01-nic0"
APP_SUBNET = f"{APP_NET}/virtualNetworks/app-vnet/subnets/app-subnet"
APP_SUBNET_NSG = f"{APP_NET}/networkSecurityGroups/app-subnet-nsg"
APP_VNET = f"{APP_NET}/virtualNetworks/app-vnet"
ADMIN_RULES = f"{APP_VNET}/listNetworkManagerEffectiveSecurityAdminRules"
DEFAULT_RULE_NAMES = ["defaultSecurityRules/AllowVnetInBound", "defaultSecurityRules/AllowAzureLoadBalancerInBound",
                      "defaultSecurityRules/DenyAllInBound", "defaultSecurityRules/AllowVnetOutBound",
                      "defaultSecurityRules/AllowInternetOutBound", "defaultSecurityRules/DenyAllOutBound"]
SLOW = {"settings": {"lro_seconds": 0.4, "vm_transition_seconds": 0.1}}
FAST_LRO = {"settings": {"lro_seconds": 0.05, "vm_transition_seconds": 0.1, "retry_after_seconds": 0}}


def effective(arm: Arm, nic_id: str) -> dict:
    """POST effectiveNetworkSecurityGroups, follow the operation, return what its Location URL answers."""
    started = arm.post(f"{nic_id}/effectiveNetworkSecurityGroups")
    assert started.status_code == 202, started.text
    assert arm.wait(started)["status"] == "Succeeded"
    result = arm.get(started.headers["Location"], api_version=None)
    assert result.status_code == 200, result.text
    return result.json()


def rules_by_name(entry: dict) -> dict[str, dict]:
    return {r["name"]: r for r in entry["effectiveSecurityRules"]}


def rule(name: str, priority: int, direction: str, access: str, **props) -> dict:
    return {"name": name, "properties": {"protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                                         "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                                         "access": access, "priority": priority, "direction": direction, **props}}


def attach_nsg(arm: Arm, nic_id: str, nsg_id: str | None) -> None:
    nic = arm.get(nic_id).json()
    if nsg_id is None:
        nic["properties"].pop("networkSecurityGroup", None)
    else:
        nic["properties"]["networkSecurityGroup"] = {"id": nsg_id}
    put = arm.put(nic_id, nic)
    assert put.status_code == 200, put.text
    assert arm.wait(put)["status"] == "Succeeded"


# ---------------------------------------------------------------- effective security rules: the operation
def test_effective_rules_are_a_long_running_operation_answered_on_location(emulator):
    emulator.reset(SLOW)
    arm = Arm(emulator)
    started = arm.post(f"{APP_NIC}/effectiveNetworkSecurityGroups")
    assert started.status_code == 202
    assert started.content == b""
    location = started.headers["Location"]
    assert f"/subscriptions/{APP_SUB}/providers/Microsoft.Network/locations/eastus/operationResults/" in location
    assert "/operations/" in started.headers["Azure-AsyncOperation"]
    assert started.headers["Retry-After"].isdigit()
    pending = arm.get(location, api_version=None)
    assert pending.status_code == 202  # still running: the result URL says so
    assert pending.headers["Location"] == location
    assert arm.wait(started)["status"] == "Succeeded"
    result = arm.get(location, api_version=None)
    assert result.status_code == 200
    body = result.json()
    assert set(body) == {"value"}
    [entry] = body["value"]  # app-01-nic0 has no NSG of its own: only its subnet's applies
    assert entry["networkSecurityGroup"] == {"id": APP_SUBNET_NSG}
    assert entry["association"] == {"subnet": {"id": APP_SUBNET}}
    assert [r["name"] for r in entry["effectiveSecurityRules"]] == ["securityRules/allow-https-in", *DEFAULT_RULE_NAMES]


def test_effective_rules_in_arms_effective_form_with_tags_expanded(emulator):
    emulator.reset(FAST_LRO)
    [entry] = effective(Arm(emulator), APP_NIC)["value"]
    rules = rules_by_name(entry)
    internet = list(public_ipv4())
    assert rules["securityRules/allow-https-in"] == {
        "name": "securityRules/allow-https-in", "protocol": "Tcp",
        "sourcePortRange": "0-65535", "destinationPortRange": "443-443",
        "sourcePortRanges": ["0-65535"], "destinationPortRanges": ["443-443"],
        "sourceAddressPrefix": "Internet", "destinationAddressPrefix": "0.0.0.0/0",
        "sourceAddressPrefixes": ["Internet"], "destinationAddressPrefixes": ["0.0.0.0/0"],
        "expandedSourceAddressPrefix": internet, "access": "Allow", "priority": 100, "direction": "Inbound"}
    vnet_in = rules["defaultSecurityRules/AllowVnetInBound"]
    assert vnet_in["protocol"] == "All"
    assert vnet_in["expandedSourceAddressPrefix"] == vnet_in["expandedDestinationAddressPrefix"] == [
        "10.1.0.0/16", "168.63.129.16/32"]
    assert rules["defaultSecurityRules/AllowAzureLoadBalancerInBound"]["expandedSourceAddressPrefix"] == [
        "168.63.129.16/32"]
    deny_in = rules["defaultSecurityRules/DenyAllInBound"]
    assert (deny_in["sourceAddressPrefix"], deny_in["access"], deny_in["priority"]) == ("0.0.0.0/0", "Deny", 65500)
    assert "expandedSourceAddressPrefix" not in deny_in  # a plain prefix is not expanded
    assert rules["defaultSecurityRules/AllowInternetOutBound"]["expandedDestinationAddressPrefix"] == internet
    assert entry["tagMap"] == {"Internet": internet, "VirtualNetwork": ["10.1.0.0/16", "168.63.129.16/32"],
                               "AzureLoadBalancer": ["168.63.129.16/32"]}
    # the Internet tag is the public address space: no private, shared, link-local or reserved range in it
    assert "10.0.0.0/8" not in internet
    assert "169.254.0.0/16" not in internet
    assert "1.0.0.0/8" in internet


def test_effective_rules_combine_the_nic_nsg_then_the_subnet_nsg_as_they_stand_after_writes(emulator):
    emulator.reset(FAST_LRO)
    arm = Arm(emulator)
    iso_id = f"{APP_NET}/networkSecurityGroups/app-01-isolation"
    nsg = {"location": "eastus", "properties": {"securityRules": [
        rule("deny-all-in", 4000, "Inbound", "Deny"),
        rule("deny-all-out", 4000, "Outbound", "Deny"),
        rule("forensic-ssh", 100, "Inbound", "Allow", protocol="Tcp", sourceAddressPrefix="",
             sourceAddressPrefixes=["198.51.100.7", "203.0.113.0/28"], destinationPortRange="",
             destinationPortRanges=["22", "2222-2230"]),
        rule("deny-platform-dns", 110, "Outbound", "Deny", destinationAddressPrefix="AzurePlatformDNS"),
        rule("deny-imds", 120, "Outbound", "Deny", protocol="Tcp", destinationAddressPrefix="AzurePlatformIMDS",
             destinationPortRange="80")]}}
    put = arm.put(iso_id, nsg)
    assert put.status_code == 201, put.text
    arm.wait(put)
    attach_nsg(arm, APP_NIC, iso_id)
    nic_entry, subnet_entry = effective(arm, APP_NIC)["value"]
    assert nic_entry["networkSecurityGroup"] == {"id": iso_id}
    assert nic_entry["association"] == {"networkInterface": {"id": APP_NIC}}
    assert subnet_entry["association"] == {"subnet": {"id": APP_SUBNET}}
    # own rules inbound first, each direction by priority, then the six defaults
    assert [r["name"] for r in nic_entry["effectiveSecurityRules"]] == [
        "securityRules/forensic-ssh", "securityRules/deny-all-in", "securityRules/deny-platform-dns",
        "securityRules/deny-imds", "securityRules/deny-all-out", *DEFAULT_RULE_NAMES]
    rules = rules_by_name(nic_entry)
    ssh = rules["securityRules/forensic-ssh"]
    assert "sourceAddressPrefix" not in ssh  # several values: only the plural field
    assert ssh["sourceAddressPrefixes"] == ["198.51.100.7/32", "203.0.113.0/28"]
    assert "destinationPortRange" not in ssh
    assert ssh["destinationPortRanges"] == ["22-22", "2222-2230"]
    assert "expandedSourceAddressPrefix" not in ssh
    assert rules["securityRules/deny-platform-dns"]["expandedDestinationAddressPrefix"] == ["168.63.129.16/32"]
    imds = rules["securityRules/deny-imds"]
    assert (imds["protocol"], imds["destinationPortRange"]) == ("Tcp", "80-80")
    assert imds["expandedDestinationAddressPrefix"] == ["169.254.169.254/32"]
    assert rules["securityRules/deny-all-out"]["protocol"] == "All"
    assert {"AzurePlatformDNS", "AzurePlatformIMDS", "VirtualNetwork"} <= set(nic_entry["tagMap"])
    # taking the NSG off the NIC again: only the subnet's is left
    attach_nsg(arm, APP_NIC, None)
    assert [e["association"] for e in effective(arm, APP_NIC)["value"]] == [{"subnet": {"id": APP_SUBNET}}]


def test_a_nic_without_any_nsg_has_no_effective_groups(emulator):
    emulator.reset(FAST_LRO)
    arm = Arm(emulator)
    attach_nsg(arm, f"{NIC}/web-02-nic0", None)  # web-subnet has no NSG either
    assert effective(arm, f"{NIC}/web-02-nic0") == {"value": []}


def test_scenario_service_tags_add_to_and_replace_the_defaults(emulator):
    emulator.reset({**FAST_LRO, "service_tags": {"Storage": ["20.38.0.0/16", "20.60.0.0/16"],
                                                 "Internet": ["203.0.113.0/24"]}})
    arm = Arm(emulator)
    put = arm.put(f"{NSG}/web-nsg/securityRules/storage-out",
                  {"properties": rule("storage-out", 200, "Outbound", "Allow", destinationAddressPrefix="Storage")[
                      "properties"]})
    arm.wait(put)
    put = arm.put(f"{NSG}/web-nsg/securityRules/sql-out",
                  {"properties": rule("sql-out", 210, "Outbound", "Allow", destinationAddressPrefix="Sql")["properties"]})
    arm.wait(put)
    [entry] = effective(arm, f"{NIC}/web-01-nic0")["value"]
    rules = rules_by_name(entry)
    assert rules["securityRules/storage-out"]["expandedDestinationAddressPrefix"] == ["20.38.0.0/16", "20.60.0.0/16"]
    assert rules["securityRules/sql-out"]["expandedDestinationAddressPrefix"] == []  # a tag nobody defines
    assert rules["defaultSecurityRules/AllowInternetOutBound"]["expandedDestinationAddressPrefix"] == ["203.0.113.0/24"]
    assert rules["defaultSecurityRules/AllowVnetOutBound"]["expandedDestinationAddressPrefix"] == [
        "10.0.0.0/16", "168.63.129.16/32"]
    assert entry["tagMap"]["Sql"] == []


# ---------------------------------------------------------------- effective security rules: refusals and failures
def test_a_deallocated_vms_nic_is_refused_at_once(arm):
    r = arm.post(f"{NIC}/db-01-nic0/effectiveNetworkSecurityGroups")
    assert r.status_code == 400
    assert error_of(r) == {
        "code": "NicMustBeAttachedToRunningVmToGetEffectiveSecurityGroups", "details": [],
        "message": "A network interface must be attached to a running virtual machine to get effective security "
                   f"groups. The network interface {NIC}/db-01-nic0 is not attached to a running virtual machine."}
    assert "Location" not in r.headers


def test_a_vm_on_its_way_down_and_a_nic_of_no_vm_are_refused(emulator):
    emulator.reset({"settings": {"lro_seconds": 0.05, "vm_transition_seconds": 5.0}})
    arm = Arm(emulator)
    down = arm.post(f"/subscriptions/{APP_SUB}/resourceGroups/soc-app-rg/providers/Microsoft.Compute/"
                    f"virtualMachines/app-01/deallocate", api_version="2024-07-01")
    assert down.status_code == 202
    r = arm.post(f"{APP_NIC}/effectiveNetworkSecurityGroups")
    assert error_of(r)["code"] == "NicMustBeAttachedToRunningVmToGetEffectiveSecurityGroups"
    spare = {"location": "eastus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": f"{NET}/virtualNetworks/soc-vnet/subnets/web-subnet"}}}]}}
    put = arm.put(f"{NIC}/spare-nic", spare)
    assert put.status_code == 201, put.text
    arm.wait(put)
    r = arm.post(f"{NIC}/spare-nic/effectiveNetworkSecurityGroups")
    assert r.status_code == 400
    assert f"{NIC}/spare-nic is not attached to a running virtual machine" in error_of(r)["message"]


def test_effective_rules_need_their_action(reader):
    r = reader.post(f"{APP_NIC}/effectiveNetworkSecurityGroups")
    assert r.status_code == 403
    assert error_of(r)["message"] == (
        f"The client '{READER_ID}' with object id '{READER_OID}' does not have authorization to perform action "
        f"'Microsoft.Network/networkInterfaces/effectiveNetworkSecurityGroups/action' over scope '{APP_NIC}' or the "
        f"scope is invalid. If access was recently granted, please refresh your credentials.")
    assert reader.get(APP_NIC).status_code == 200  # the NIC itself it may read


def test_a_failed_effective_rules_operation_reports_on_status_and_result(emulator):
    emulator.reset(FAST_LRO)
    emulator.inject_fault("lro_failed", path_contains="/effectiveNetworkSecurityGroups", error_code="InternalServerError")
    arm = Arm(emulator)
    started = arm.post(f"{APP_NIC}/effectiveNetworkSecurityGroups")
    assert started.status_code == 202
    status = arm.wait(started)
    assert (status["status"], status["error"]["code"]) == ("Failed", "InternalServerError")
    result = arm.get(started.headers["Location"], api_version=None)
    assert result.status_code == 500
    assert error_of(result)["code"] == "InternalServerError"


# ---------------------------------------------------------------- Network Manager effective security admin rules
def admin_rules(arm: Arm, body: dict | None, vnet: str = ADMIN_RULES, **kw):
    return arm.post(vnet, json=body, **kw)


def test_effective_admin_rules_are_a_plain_paged_post(arm):
    first = admin_rules(arm, {})
    assert first.status_code == 200
    assert "Azure-AsyncOperation" not in first.headers
    assert "Location" not in first.headers
    page1 = first.json()
    assert [r["id"].rsplit("/", 1)[1] for r in page1["value"]] == ["deny-telnet-in", "allow-https-out"]
    second = admin_rules(arm, {"skipToken": page1["skipToken"]}).json()
    assert set(second) == {"value"}  # the last page has no skipToken
    [bypass] = second["value"]
    coll = f"{AVNM}/securityAdminConfigurations/platform-baseline/ruleCollections/vendor-access"
    group = f"{AVNM}/networkGroups/app-vnets"
    guid = bypass["properties"].pop("resourceGuid")
    group_guid = bypass["ruleGroups"][0]["properties"].pop("resourceGuid")
    assert uuid.UUID(guid).version == 4
    assert uuid.UUID(group_guid).version == 4
    assert bypass == {
        "id": f"{coll}/rules/always-allow-vendor-rdp", "kind": "Custom",
        "configurationDescription": "Security admin rules the platform team enforces on every application VNet",
        "ruleCollectionDescription": "Vendor remote support, whatever the application teams' NSGs say",
        "ruleCollectionAppliesToGroups": [{"networkGroupId": group}],
        "ruleGroups": [{"id": group, "properties": {"description": "Application virtual networks",
                                                    "memberType": "VirtualNetwork", "provisioningState": "Succeeded"}}],
        "properties": {"description": "RDP from anywhere for the support vendor", "protocol": "Tcp",
                       "sources": [{"addressPrefix": "Internet", "addressPrefixType": "ServiceTag"}],
                       "destinations": [{"addressPrefix": "*", "addressPrefixType": "IPPrefix"}],
                       "sourcePortRanges": ["0-65535"], "destinationPortRanges": ["3389"],
                       "access": "AlwaysAllow", "priority": 300, "direction": "Inbound",
                       "provisioningState": "Succeeded"}}
    everything = admin_rules(arm, {}, params={"$top": "10"}).json()
    assert [r["properties"]["access"] for r in everything["value"]] == ["Deny", "Allow", "AlwaysAllow"]
    assert "skipToken" not in everything


def test_a_vnet_no_network_manager_covers_has_no_admin_rules(arm):
    r = admin_rules(arm, {}, vnet=f"{NET}/virtualNetworks/soc-vnet/listNetworkManagerEffectiveSecurityAdminRules")
    assert r.status_code == 200
    assert r.json() == {"value": []}


@pytest.mark.parametrize(("body", "params", "code"), [
    ({"skipToken": "not-ours"}, {}, "InvalidSkipToken"),
    (None, {}, "InvalidRequestContent"),
    ({}, {"$top": "0"}, "InvalidParameter"),
    ({}, {"$top": "many"}, "InvalidParameter"),
])
def test_admin_rules_bad_requests(arm, body, params, code):
    r = admin_rules(arm, body, params=params)
    assert r.status_code == 400
    assert error_of(r)["code"] == code


def test_admin_rules_need_their_action_and_an_existing_vnet(arm, reader):
    denied = admin_rules(reader, {})
    assert denied.status_code == 403
    assert ("'Microsoft.Network/virtualNetworks/listNetworkManagerEffectiveSecurityAdminRules/action' over scope "
            f"'{APP_VNET}'") in error_of(denied)["message"]
    missing = admin_rules(arm, {}, vnet=f"{APP_NET}/virtualNetworks/ghost/listNetworkManagerEffectiveSecurityAdminRules")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "ResourceNotFound"


def test_admin_rules_of_every_manager_that_covers_the_vnet_by_priority(emulator):
    scenario = load_scenario()
    demo_rg = scenario["subscriptions"][0]["resource_groups"][0]
    demo_rg["network_managers"] = [{"name": "corp-avnm", "network_groups": [
        {"name": "all-vnets", "members": ["soc-vnet", APP_VNET]}],  # by name in its group, by id elsewhere
        "security_admin_configurations": [{"name": "corp", "rule_collections": [{
            "name": "corp-guardrails", "applies_to": ["all-vnets"], "rules": [
                {"name": "deny-smb-out", "access": "deny", "direction": "outbound", "priority": 150,
                 "protocol": "tcp", "destinations": ["0.0.0.0/0"], "destination_port_ranges": [445]}]}]}]}]
    emulator.reset(scenario)
    arm = Arm(emulator)
    app = admin_rules(arm, {}, params={"$top": "10"}).json()["value"]
    assert [(r["id"].rsplit("/", 1)[1], r["properties"]["priority"]) for r in app] == [
        ("deny-telnet-in", 100), ("deny-smb-out", 150), ("allow-https-out", 200), ("always-allow-vendor-rdp", 300)]
    smb = app[1]["properties"]
    assert (smb["access"], smb["direction"], smb["protocol"]) == ("Deny", "Outbound", "Tcp")  # normalised
    assert smb["destinations"] == [{"addressPrefix": "0.0.0.0/0", "addressPrefixType": "IPPrefix"}]
    demo = admin_rules(arm, {}, vnet=f"{NET}/virtualNetworks/soc-vnet/listNetworkManagerEffectiveSecurityAdminRules")
    assert [r["id"].rsplit("/", 1)[1] for r in demo.json()["value"]] == ["deny-smb-out"]
    manager = emulator.state()["resources"][f"{NET}/networkManagers/corp-avnm".lower()]
    assert manager["properties"]["networkManagerScopeAccesses"] == ["SecurityAdmin"]


def test_nic_effective_rules_do_not_include_admin_rules(emulator):
    emulator.reset(FAST_LRO)
    [entry] = effective(Arm(emulator), APP_NIC)["value"]
    names = [r["name"] for r in entry["effectiveSecurityRules"]]
    assert not any("vendor" in n or "telnet" in n for n in names)
    assert all(r["access"] in ("Allow", "Deny") for r in entry["effectiveSecurityRules"])


# ---------------------------------------------------------------- the scenario schema
def _with_manager(manager: dict) -> dict:
    scenario = copy.deepcopy(load_scenario())
    scenario["subscriptions"][1]["resource_groups"][0]["network_managers"] = [manager]
    return scenario


RDP = {"name": "r", "access": "AlwaysAllow", "direction": "Inbound", "priority": 100, "protocol": "Tcp"}


@pytest.mark.parametrize(("change", "message"), [
    ({"access": "Permit"}, "access 'Permit' is not one of Allow, Deny, AlwaysAllow"),
    ({"priority": 0}, "priority 0 is not an integer from 1 to 4096"),
    ({"protocol": "Gre"}, "protocol 'Gre' is not one of Tcp, Udp, Icmp, Esp, Ah, Any"),
    ({"sources": ["10.0.0.0/33"]}, "sources value '10.0.0.0/33' is neither an IP prefix nor a service tag"),
    ({"destination_port_ranges": ["70000"]}, "destination_port_ranges must be a list of ports or ranges"),
])
def test_bad_admin_rules_in_a_scenario_are_refused_at_load(change, message):
    manager = {"name": "m", "network_groups": [{"name": "g", "members": ["app-vnet"]}],
               "security_admin_configurations": [{"name": "c", "rule_collections": [
                   {"name": "rc", "applies_to": ["g"], "rules": [{**RDP, **change}]}]}]}
    with pytest.raises(ValueError, match="scenario: .*/ruleCollections/rc/rules/r: ") as info:
        ArmStore(load_scenario(_with_manager(manager)))
    assert message in str(info.value)


def test_a_rule_collection_naming_an_unknown_group_is_refused_at_load():
    manager = {"name": "m", "security_admin_configurations": [{"name": "c", "rule_collections": [
        {"name": "rc", "applies_to": ["nobody"], "rules": [RDP]}]}]}
    with pytest.raises(ValueError, match="no network group 'nobody' in m"):
        ArmStore(load_scenario(_with_manager(manager)))


def test_service_tags_must_be_ip_prefixes():
    with pytest.raises(ValueError, match="service tag 'Storage': 'storage.example' is not an IP prefix"):
        load_scenario({"service_tags": {"Storage": ["storage.example"]}})

