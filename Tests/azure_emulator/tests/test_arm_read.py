"""ARM reads: api-version, authentication, subscriptions, resource groups, VMs, NICs, NSGs, rules, vnets,
permissions, paging and the not-found errors, each with ARM's error body."""
from __future__ import annotations

import pytest

from ..arm.authorization.rbac import BUILTIN_ROLES
from .helpers import APP_SUB, CV, NET, NIC, NSG, RG, RG_ID, SUB, VM, Arm, error_of

RESOURCE_NOT_FOUND_SUFFIX = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"


# ---------------------------------------------------------------- api-version
def test_missing_api_version_is_400_with_arm_body(arm):
    r = arm.get(f"/subscriptions/{SUB}", api_version=None)
    assert r.status_code == 400
    assert error_of(r) == {"code": "MissingApiVersionParameter", "details": [],
                           "message": "The api-version query parameter (?api-version=) is required for all requests."}
    assert r.headers["x-ms-failure-cause"] == "gateway"


@pytest.mark.parametrize("version", ["2024-13-01", "latest", "2024-05-01-beta", "24-05-01"])
def test_malformed_api_version_is_invalid(arm, version):
    r = arm.get(f"/subscriptions/{SUB}", api_version=version)
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "InvalidApiVersionParameter"
    assert err["message"].startswith(f"The api-version '{version}' is invalid. The supported versions are '")


@pytest.mark.parametrize("version", ["2024-05-01", "2019-01-01", "2025-11-01-preview"])
def test_any_well_formed_api_version_is_accepted(arm, version):
    r = arm.get(f"/subscriptions/{SUB}", api_version=version)
    assert r.status_code == 200
    assert r.json()["subscriptionId"] == SUB


# ---------------------------------------------------------------- authentication (bodies from verify_bearer)
def test_missing_authorization_header(arm):
    r = arm.get(f"/subscriptions/{SUB}", auth=False)
    assert r.status_code == 401
    assert error_of(r) == {"code": "AuthenticationFailed", "details": [],
                           "message": "Authentication failed. The 'Authorization' header is missing."}
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_garbage_token_is_invalid(emulator):
    r = Arm(emulator, token="not-a-jwt").get(f"/subscriptions/{SUB}")
    assert r.status_code == 401
    assert error_of(r)["code"] == "InvalidAuthenticationToken"
    assert error_of(r)["message"] == "The access token is invalid."


def test_wrong_audience(emulator):
    token = emulator.token("soc-responder", audience="https://graph.microsoft.com/")
    r = Arm(emulator, token=token).get(f"/subscriptions/{SUB}")
    assert r.status_code == 401
    err = error_of(r)
    assert err["code"] == "InvalidAuthenticationTokenAudience"
    assert "'https://graph.microsoft.com/'" in err["message"]
    assert "'https://management.azure.com/'" in err["message"]


def test_public_management_audience_is_accepted(emulator):
    token = emulator.token("soc-responder", audience="https://management.core.windows.net/")
    assert Arm(emulator, token=token).get(f"/subscriptions/{SUB}").status_code == 200


def test_expired_token(emulator):
    token = emulator.token("soc-responder", lifetime=60, issued_at=1_000_000)
    r = Arm(emulator, token=token).get(f"/subscriptions/{SUB}")
    assert r.status_code == 401
    err = error_of(r)
    assert err["code"] == "ExpiredAuthenticationToken"
    assert err["message"].startswith("The access token expiry UTC time '")
    assert "is earlier than current UTC time" in err["message"]


# ---------------------------------------------------------------- subscriptions and resource groups
def test_list_and_get_subscription(arm):
    listed = arm.get("/subscriptions").json()
    assert [s["subscriptionId"] for s in listed["value"]] == [SUB, APP_SUB]
    sub = arm.get(f"/subscriptions/{SUB}").json()
    assert sub["id"] == f"/subscriptions/{SUB}"
    assert sub["state"] == "Enabled"
    assert sub["displayName"] == "SOC Demo"
    assert sub["tenantId"] == "11111111-2222-3333-4444-555555555555"


def test_subscription_not_found(arm):
    other = "00000000-0000-0000-0000-000000000000"
    r = arm.get(f"/subscriptions/{other}/resourceGroups/{RG}")
    assert r.status_code == 404
    assert error_of(r) == {"code": "SubscriptionNotFound", "details": [],
                           "message": f"The subscription '{other}' could not be found."}


def test_resource_groups(arm):
    listed = arm.get(f"/subscriptions/{SUB}/resourcegroups").json()
    assert [g["name"] for g in listed["value"]] == [RG]
    rg = arm.get(RG_ID).json()
    assert rg == {"id": RG_ID, "name": RG, "type": "Microsoft.Resources/resourceGroups", "location": "eastus",
                  "tags": {}, "properties": {"provisioningState": "Succeeded"}}
    assert arm.get(f"/subscriptions/{SUB}/RESOURCEGROUPS/SOC-DEMO-RG").json()["name"] == RG


def test_resource_group_not_found(arm):
    r = arm.get(f"/subscriptions/{SUB}/resourceGroups/nope-rg/providers/Microsoft.Network/networkSecurityGroups")
    assert r.status_code == 404
    assert error_of(r) == {"code": "ResourceGroupNotFound", "details": [],
                           "message": "Resource group 'nope-rg' could not be found."}


# ---------------------------------------------------------------- virtual machines
def test_vm_get_plain_and_with_instance_view(arm):
    vm = arm.get(f"{VM}/web-01", api_version=CV).json()
    assert vm["name"] == "web-01"
    assert vm["type"] == "Microsoft.Compute/virtualMachines"
    assert vm["properties"]["hardwareProfile"]["vmSize"] == "Standard_B2s"
    assert [n["id"].rsplit("/", 1)[1] for n in vm["properties"]["networkProfile"]["networkInterfaces"]] == [
        "web-01-nic0", "web-01-nic1"]
    assert "instanceView" not in vm["properties"]
    expanded = arm.get(f"{VM}/web-01", api_version=CV, params={"$expand": "instanceView"}).json()
    statuses = expanded["properties"]["instanceView"]["statuses"]
    assert statuses[0]["code"] == "ProvisioningState/succeeded"
    assert statuses[1] == {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"}


def test_vm_instance_view_endpoint(arm):
    view = arm.get(f"{VM}/db-01/instanceView", api_version=CV).json()
    assert [s["code"] for s in view["statuses"]] == ["ProvisioningState/succeeded", "PowerState/deallocated"]


def test_vm_list_pages_with_next_link(arm):
    first = arm.get(VM, api_version=CV).json()
    assert len(first["value"]) == 2
    assert first["nextLink"].startswith(arm.emu.arm_url)
    second = arm.get(first["nextLink"], api_version=None).json()
    assert "nextLink" not in second
    names = [v["name"] for v in first["value"] + second["value"]]
    assert sorted(names) == ["db-01", "web-01", "web-02"]


def test_vm_list_all_in_subscription(arm):
    seen, url = [], f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
    page = arm.get(url, api_version=CV).json()
    seen += page["value"]
    while "nextLink" in page:
        page = arm.get(page["nextLink"], api_version=None).json()
        seen += page["value"]
    assert sorted(v["name"] for v in seen) == ["db-01", "web-01", "web-02"]


def test_vm_list_all_status_only_carries_power_states_on_every_page(arm):
    url = f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
    assert all("instanceView" not in v["properties"] for v in arm.get(url, api_version=CV).json()["value"])
    page = arm.get(url, api_version=CV, params={"statusOnly": "true"}).json()
    seen = page["value"]
    while "nextLink" in page:  # the next pages keep statusOnly
        page = arm.get(page["nextLink"], api_version=None).json()
        seen += page["value"]
    power = {v["name"]: [s["code"] for s in v["properties"]["instanceView"]["statuses"]
                         if s["code"].startswith("PowerState/")] for v in seen}
    assert power == {"db-01": ["PowerState/deallocated"], "web-01": ["PowerState/running"],
                     "web-02": ["PowerState/running"]}


def test_vm_not_found_has_aka_ms_suffix(arm):
    r = arm.get(f"{VM}/ghost", api_version=CV)
    assert r.status_code == 404
    assert error_of(r) == {
        "code": "ResourceNotFound", "details": [],
        "message": f"The Resource 'Microsoft.Compute/virtualMachines/ghost' under resource group '{RG}' was not "
                   f"found. {RESOURCE_NOT_FOUND_SUFFIX}"}


# ---------------------------------------------------------------- network
def test_nsg_get_has_rules_defaults_and_associations(arm):
    nsg = arm.get(f"{NSG}/web-nsg").json()
    props = nsg["properties"]
    assert nsg["etag"].startswith('W/"')
    assert props["provisioningState"] == "Succeeded"
    assert props["flushConnection"] is False
    rules = {r["name"]: r["properties"] for r in props["securityRules"]}
    assert rules["allow-https-in"]["priority"] == 100
    assert rules["allow-https-in"]["destinationPortRange"] == "443"
    assert rules["allow-ssh-admin"]["sourceAddressPrefix"] == "198.51.100.0/24"
    assert rules["allow-ssh-admin"]["sourceAddressPrefixes"] == []
    assert [r["name"] for r in props["defaultSecurityRules"]] == [
        "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound", "AllowVnetOutBound",
        "AllowInternetOutBound", "DenyAllOutBound"]
    assert {n["id"].rsplit("/", 1)[1] for n in props["networkInterfaces"]} == {
        "web-01-nic0", "web-01-nic1", "web-02-nic0"}
    subnet_nsg = arm.get(f"{NSG}/db-subnet-nsg").json()["properties"]
    assert [s["id"].rsplit("/", 1)[1] for s in subnet_nsg["subnets"]] == ["db-subnet"]
    assert arm.get(f"{NSG}/edge-nsg").json()["properties"]["securityRules"] == []


def test_nsg_list_and_list_all(arm):
    page = arm.get(NSG).json()
    names = [n["name"] for n in page["value"]]
    assert len(names) == 2
    assert "nextLink" in page
    names += [n["name"] for n in arm.get(page["nextLink"], api_version=None).json()["value"]]
    assert sorted(names) == ["db-subnet-nsg", "edge-nsg", "web-nsg"]
    everywhere = arm.get(f"/subscriptions/{SUB}/providers/Microsoft.Network/networkSecurityGroups").json()
    assert len(everywhere["value"]) == 2


def test_security_rules_get_list_and_missing(arm):
    rules = arm.get(f"{NSG}/web-nsg/securityRules").json()["value"]
    assert [r["name"] for r in rules] == ["allow-https-in", "allow-ssh-admin"]
    rule = arm.get(f"{NSG}/web-nsg/securityRules/allow-https-in").json()
    assert rule["type"] == "Microsoft.Network/networkSecurityGroups/securityRules"
    assert rule["properties"]["access"] == "Allow"
    r = arm.get(f"{NSG}/web-nsg/securityRules/ghost")
    assert r.status_code == 404
    assert error_of(r)["code"] == "NotFound"
    assert error_of(r)["message"] == f"Resource {NSG}/web-nsg/securityRules/ghost not found."
    default = arm.get(f"{NSG}/web-nsg/defaultSecurityRules/DenyAllInBound").json()
    assert default["properties"]["priority"] == 65500
    assert default["properties"]["access"] == "Deny"


def test_nsg_not_found(arm):
    r = arm.get(f"{NSG}/ghost-nsg")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The Resource 'Microsoft.Network/networkSecurityGroups/ghost-nsg' under resource group '{RG}' was not "
        f"found. {RESOURCE_NOT_FOUND_SUFFIX}")


def test_nic_get_and_list(arm):
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    props = nic["properties"]
    assert props["networkSecurityGroup"]["id"] == f"{NSG}/web-nsg"
    assert props["virtualMachine"]["id"] == f"{VM}/web-01"
    assert props["ipConfigurations"][0]["properties"]["privateIPAddress"] == "10.0.1.4"
    assert props["ipConfigurations"][0]["properties"]["subnet"]["id"].endswith("/soc-vnet/subnets/web-subnet")
    assert "networkSecurityGroup" not in arm.get(f"{NIC}/db-01-nic0").json()["properties"]
    page = arm.get(NIC).json()
    assert len(page["value"]) == 2
    assert "nextLink" in page


def test_vnet_and_subnet_with_nsg(arm):
    vnet = arm.get(f"{NET}/virtualNetworks/soc-vnet").json()
    assert vnet["properties"]["addressSpace"]["addressPrefixes"] == ["10.0.0.0/16"]
    subnet = arm.get(f"{NET}/virtualNetworks/soc-vnet/subnets/db-subnet").json()
    assert subnet["properties"]["networkSecurityGroup"]["id"] == f"{NSG}/db-subnet-nsg"
    assert subnet["properties"]["ipConfigurations"][0]["id"].startswith(f"{NIC}/db-01-nic0/")
    r = arm.get(f"{NET}/virtualNetworks/soc-vnet/subnets/ghost")
    assert r.status_code == 404
    assert error_of(r)["code"] == "NotFound"


# ---------------------------------------------------------------- permissions
def test_permissions_at_subscription_and_resource_group(arm, reader):
    perms = arm.get(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions",
                    api_version="2022-04-01").json()["value"]
    actions = [set(p["actions"]) for p in perms]
    assert len(perms) == 2
    assert any("Microsoft.Network/*" in a for a in actions)
    assert any("Microsoft.Compute/virtualMachines/*" in a for a in actions)
    assert all(set(p) == {"actions", "notActions", "dataActions", "notDataActions"} for p in perms)
    rg_perms = reader.get(f"{RG_ID}/providers/Microsoft.Authorization/permissions",
                          api_version="2022-04-01").json()["value"]
    assert rg_perms == [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}]


PERMISSIONS = "providers/Microsoft.Authorization/permissions"


def test_permissions_at_a_resource_inherit_and_add_its_own_assignments(emulator):
    # Permissions_ListForResource (the spec's resource scope): roles above the resource apply, and one assigned at
    # the resource applies there only, not at its group or at a sibling resource
    emulator.reset({"role_assignments": [
        {"principal": "soc-reader", "role": "Reader", "scope": RG_ID},
        {"principal": "soc-reader", "role": "Network Contributor", "scope": f"{NSG}/web-nsg"}]})
    reader = Arm(emulator, "soc-reader")
    read_only = [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}]

    def actions(path: str) -> list[list[str]]:
        r = reader.get(f"{path}/{PERMISSIONS}", api_version="2022-04-01")
        assert r.status_code == 200, r.text
        return [p["actions"] for p in r.json()["value"]]

    assert actions(f"{NSG}/web-nsg") == [["*/read"], list(BUILTIN_ROLES["Network Contributor"]["actions"])]
    assert actions(f"{NSG}/WEB-NSG") == actions(f"{NSG}/web-nsg")   # scopes compare without case
    assert reader.get(f"{RG_ID}/{PERMISSIONS}").json()["value"] == read_only
    assert actions(f"{NSG}/edge-nsg") == [["*/read"]]
    # the spec's {parentResourcePath}: a child resource below its parent (type/name), or empty as the SDKs send it
    assert actions(f"{NSG}/web-nsg/securityRules/allow-https-in") == actions(f"{NSG}/web-nsg")
    assert actions(f"{RG_ID}/providers/Microsoft.Network//networkSecurityGroups/web-nsg") == \
        actions(f"{NSG}/web-nsg")


def test_permissions_at_a_resource_of_a_missing_resource_group(arm):
    r = arm.get(f"/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Network/networkSecurityGroups/x/"
                f"{PERMISSIONS}")
    assert r.status_code == 404
    assert error_of(r)["code"] == "ResourceGroupNotFound"


def test_permissions_for_a_missing_resource_group(arm):
    r = arm.get(f"/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Authorization/permissions")
    assert r.status_code == 404
    assert error_of(r)["code"] == "ResourceGroupNotFound"


def test_resource_group_scoped_assignment(emulator):
    emulator.reset({"role_assignments": [
        {"principal": "soc-reader", "role": "Reader", "scope": RG_ID}]})
    reader = Arm(emulator, "soc-reader")
    assert reader.get(f"{NSG}/web-nsg").status_code == 200
    perms = reader.get(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions").json()["value"]
    assert perms == []
    r = reader.get(f"/subscriptions/{SUB}/providers/Microsoft.Network/networkSecurityGroups")
    assert r.status_code == 403
    assert error_of(r)["code"] == "AuthorizationFailed"
    assert f"over scope '/subscriptions/{SUB}'" in error_of(r)["message"]


def test_names_are_decoded_once(arm):
    # %2F decodes to "/" once: the path then names a different (missing) rule, never the NSG itself
    r = arm.get(f"{NSG}/web-nsg%2FsecurityRules%2Fallow-https-in")
    assert r.status_code == 404
    assert error_of(r)["code"] == "ResourceNotFound"
    r = arm.put(f"{NSG}/bad%252Fname", {"location": "eastus"})
    assert r.status_code == 400
    assert error_of(r)["code"] == "InvalidResourceName"
    assert "bad%2Fname" in error_of(r)["message"]
