"""Managed disks and snapshots (Microsoft.Compute, Disk RP) and public IP addresses over HTTPS: the VMs' storage
profiles and their disk resources, snapshot creation as a Compute long-running operation, its rules (region,
source, immutable creation data, names, tags), incremental chains, deletion, RBAC, rollback; unmanaged and
ephemeral OS disks (forensics scenario); public IPs and the join a NIC PUT needs to keep one."""
from __future__ import annotations

from typing import Any

import pytest

from .helpers import CV, NIC, RESPONDER_OID, RG_ID, SUB, VM, Arm, error_of

DV = "2024-03-02"
COMPUTE = f"{RG_ID}/providers/Microsoft.Compute"
DISKS = f"{COMPUTE}/disks"
SNAPSHOTS = f"{COMPUTE}/snapshots"
PIPS = f"{RG_ID}/providers/Microsoft.Network/publicIPAddresses"
DATA_0 = f"{DISKS}/web-01_DataDisk_0"


@pytest.fixture
def quick(emulator):
    emulator.reset({"settings": {"snapshot_seconds": 0.2, "vm_transition_seconds": 0.1, "lro_seconds": 0.05}})
    return emulator


def snapshot_body(source: str = DATA_0, *, location: str = "eastus", incremental: Any = True, **extra) -> dict:
    body = {"location": location, "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": source},
                                                 "incremental": incremental}}
    body.update(extra)
    return body


def create(arm: Arm, name: str, body: dict | None = None) -> dict:
    """PUT a snapshot and wait for its operation; the snapshot as GET returns it afterwards."""
    r = arm.put(f"{SNAPSHOTS}/{name}", body or snapshot_body(), api_version=DV)
    assert r.status_code in (200, 202), r.text
    assert arm.wait(r)["status"] == "Succeeded"
    return arm.get(f"{SNAPSHOTS}/{name}", api_version=DV).json()


def os_disk_id(arm: Arm, vm: str) -> str:
    return arm.get(f"{VM}/{vm}", api_version=CV).json()["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]


# ---------------------------------------------------------------- disks and the VMs' storage profiles
def test_vm_storage_profile_and_disks(arm):
    vm = arm.get(f"{VM}/web-01", api_version=CV).json()
    profile = vm["properties"]["storageProfile"]
    os_disk = profile["osDisk"]
    assert os_disk["name"].startswith("web-01_OsDisk_1_")
    assert len(os_disk["name"]) == len("web-01_OsDisk_1_") + 32
    assert os_disk["managedDisk"]["id"] == f"{DISKS}/{os_disk['name']}"
    assert (os_disk["osType"], os_disk["createOption"], os_disk["diskSizeGB"]) == ("Linux", "FromImage", 30)
    assert [(d["lun"], d["name"], d["managedDisk"]["id"]) for d in profile["dataDisks"]] == [
        (0, "web-01_DataDisk_0", DATA_0), (1, "web-01_DataDisk_1", f"{DISKS}/web-01_DataDisk_1")]
    assert arm.get(f"{VM}/web-02", api_version=CV).json()["properties"]["storageProfile"]["dataDisks"] == []
    db = arm.get(f"{VM}/db-01", api_version=CV, params={"$expand": "instanceView"}).json()["properties"]
    assert (db["osProfile"]["computerName"], db["instanceView"]["computerName"]) == ("sqlprod01", "sqlprod01")

    disk = arm.get(os_disk["managedDisk"]["id"], api_version=DV).json()
    assert (disk["type"], disk["location"], disk["managedBy"]) == ("Microsoft.Compute/disks", "eastus", vm["id"])
    assert disk["sku"] == {"name": "Premium_LRS", "tier": "Premium"}
    props = disk["properties"]
    assert (props["osType"], props["diskSizeGB"], props["diskState"], props["provisioningState"]) == (
        "Linux", 30, "Attached", "Succeeded")
    assert props["diskSizeBytes"] == 30 * 1024 ** 3
    assert props["creationData"]["createOption"] == "FromImage"
    data = arm.get(DATA_0, api_version=DV).json()["properties"]
    assert "osType" not in data
    assert data["creationData"] == {"createOption": "Empty"}
    assert data["diskSizeGB"] == 64


def test_disk_lists_and_not_found(arm, reader):
    listed, url = [], f"{DISKS}"
    while url:
        page = arm.get(url, api_version=DV if url == DISKS else None).json()
        listed += [d["name"] for d in page["value"]]
        url = page.get("nextLink")
    assert len(listed) == 5
    assert sorted(listed) == listed
    by_subscription = reader.get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/disks", api_version=DV).json()
    assert [d["name"] for d in by_subscription["value"]] == listed[:2]
    assert "nextLink" in by_subscription
    r = arm.get(f"{DISKS}/ghost", api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (404, "ResourceNotFound")


def test_disk_state_follows_the_vm(quick):
    arm = Arm(quick)
    disk = os_disk_id(arm, "web-02")
    r = arm.post(f"{VM}/web-02/deallocate", api_version=CV)
    arm.wait(r)
    assert arm.get(disk, api_version=DV).json()["properties"]["diskState"] == "Reserved"
    arm.wait(arm.post(f"{VM}/web-02/start", api_version=CV))
    assert arm.get(disk, api_version=DV).json()["properties"]["diskState"] == "Attached"
    assert arm.get(os_disk_id(arm, "db-01"), api_version=DV).json()["properties"]["diskState"] == "Reserved"


# ---------------------------------------------------------------- snapshots: the long-running PUT
def test_snapshot_put_is_a_compute_long_running_operation(quick):
    arm = Arm(quick)
    source = os_disk_id(arm, "web-01")
    r = arm.put(f"{SNAPSHOTS}/evidence-os", snapshot_body(source, tags={"case": "7"}), api_version=DV)
    assert r.status_code == 202
    assert r.json()["properties"]["provisioningState"] == "Updating"
    status_url = r.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Compute/locations/eastus/operations/" in status_url
    assert "?p=" in status_url
    assert r.headers["Location"] == status_url + "&monitor=true"
    assert r.headers["Retry-After"] == "1"
    assert arm.get(f"{SNAPSHOTS}/evidence-os", api_version=DV).json()["properties"]["provisioningState"] == "Updating"
    assert arm.get(r.headers["Location"], api_version=None).status_code == 202
    assert arm.wait(r)["status"] == "Succeeded"
    final = arm.get(r.headers["Location"], api_version=None)
    assert final.status_code == 200
    assert final.json()["name"] == "evidence-os"
    snap = arm.get(f"{SNAPSHOTS}/evidence-os", api_version=DV).json()
    disk = arm.get(source, api_version=DV).json()
    props = snap["properties"]
    assert (snap["type"], snap["location"], snap["tags"], snap["sku"]["name"]) == (
        "Microsoft.Compute/snapshots", "eastus", {"case": "7"}, "Standard_LRS")
    assert props["creationData"] == {"createOption": "Copy", "sourceResourceId": source,
                                     "sourceUniqueId": disk["properties"]["uniqueId"]}
    assert (props["provisioningState"], props["incremental"], props["osType"], props["diskSizeGB"]) == (
        "Succeeded", True, "Linux", 30)
    assert props["incrementalSnapshotFamilyId"]
    assert props["timeCreated"]
    assert props["uniqueId"]


def test_incremental_snapshots_chain_per_disk(quick):
    arm = Arm(quick)
    first = create(arm, "s1")["properties"]
    second = create(arm, "s2")["properties"]
    other = create(arm, "s3", snapshot_body(f"{DISKS}/web-01_DataDisk_1"))["properties"]
    full = create(arm, "s4", snapshot_body(incremental=False))
    from_snapshot = create(arm, "s5", snapshot_body(f"{SNAPSHOTS}/s1"))["properties"]
    assert first["incrementalSnapshotFamilyId"] == second["incrementalSnapshotFamilyId"] \
        == from_snapshot["incrementalSnapshotFamilyId"]
    assert other["incrementalSnapshotFamilyId"] != first["incrementalSnapshotFamilyId"]
    assert "incrementalSnapshotFamilyId" not in full["properties"]
    assert full["sku"]["name"] == "Premium_LRS"
    assert first["uniqueId"] != second["uniqueId"]
    names = [s["name"] for s in arm.get(SNAPSHOTS, api_version=DV).json()["value"]]
    assert names == ["s1", "s2"]   # the first page of five


def test_repeating_a_put_updates_and_what_cannot_change(quick):
    arm = Arm(quick)
    before = create(arm, "evidence", snapshot_body(tags={"a": "1"}))
    busy = arm.put(f"{SNAPSHOTS}/evidence", snapshot_body(tags={"b": "2"}), api_version=DV)
    assert busy.status_code == 200
    again = arm.put(f"{SNAPSHOTS}/evidence", snapshot_body(), api_version=DV)   # its update still runs
    assert (again.status_code, error_of(again)["code"]) == (409, "OperationNotAllowed")
    arm.wait(busy)
    after = arm.get(f"{SNAPSHOTS}/evidence", api_version=DV).json()
    assert after["tags"] == {"b": "2"}
    assert (after["properties"]["uniqueId"], after["properties"]["timeCreated"]) == (
        before["properties"]["uniqueId"], before["properties"]["timeCreated"])
    for body, changed in ((snapshot_body(f"{DISKS}/web-01_DataDisk_1"), "creationData.sourceResourceId"),
                          (snapshot_body(incremental=False), "incremental")):
        r = arm.put(f"{SNAPSHOTS}/evidence", body, api_version=DV)
        assert (r.status_code, error_of(r)["code"], error_of(r)["target"]) == (409, "PropertyChangeNotAllowed", changed)
    r = arm.put(f"{SNAPSHOTS}/evidence", snapshot_body(location="westus"), api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (400, "InvalidResourceLocation")


def test_the_source_must_exist_in_the_snapshots_region(quick):
    arm = Arm(quick)
    for body in (snapshot_body(location="westus"), snapshot_body(location="West US"),
                 snapshot_body(f"{DISKS}/ghost-disk")):
        r = arm.put(f"{SNAPSHOTS}/misplaced", body, api_version=DV)
        assert r.status_code == 404
        assert error_of(r) == {"code": "NotFound", "message": "The entity was not found in this Azure location.",
                               "details": []}
    assert arm.get(f"{SNAPSHOTS}/misplaced", api_version=DV).status_code == 404
    assert create(arm, "placed", snapshot_body(location="East US"))["location"] == "eastus"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"properties": {"creationData": {"createOption": "Copy", "sourceResourceId": DATA_0}}}, 400, "LocationRequired"),
    ({"location": "eastus"}, 400, "InvalidParameter"),
    ({"location": "eastus", "properties": {}}, 400, "InvalidParameter"),
    ({"location": "eastus", "properties": {"creationData": {"createOption": "Import", "sourceUri": "x"}}}, 400,
     "InvalidParameter"),
    ({"location": "eastus", "properties": {"creationData": {"createOption": "Copy"}}}, 400, "InvalidParameter"),
    (snapshot_body(f"{RG_ID}/providers/Microsoft.Network/networkInterfaces/web-01-nic0"), 400, "InvalidParameter"),
    (snapshot_body(incremental="yes"), 400, "InvalidParameter"),
    (snapshot_body(sku={"name": "UltraSSD_LRS"}), 400, "InvalidParameter"),
    (snapshot_body(tags={f"t{i}": "v" for i in range(51)}), 400, "InvalidTags"),
    (snapshot_body(tags={"n" * 513: "v"}), 400, "InvalidTagName"),
    (snapshot_body(tags={" ": "v"}), 400, "InvalidTagName"),
    (snapshot_body(tags={"a/b": "v"}), 400, "InvalidTagNameCharacters"),
    (snapshot_body(tags={"a": "v" * 257}), 400, "InvalidTagValueLength"),
    (snapshot_body(tags={"a": 1}), 400, "InvalidRequestContent"),
])
def test_snapshot_validation(quick, body, status, code):
    arm = Arm(quick)
    r = arm.put(f"{SNAPSHOTS}/bad", body, api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (status, code)
    assert arm.get(f"{SNAPSHOTS}/bad", api_version=DV).status_code == 404


def test_snapshot_names_and_tag_limits(quick):
    arm = Arm(quick)
    for name in ("-starts-badly", "ends-badly-", "a" * 81, "semi;colon"):
        r = arm.put(f"{SNAPSHOTS}/{name}", snapshot_body(), api_version=DV)
        assert (r.status_code, error_of(r)["code"]) == (400, "InvalidResourceName"), name
    tags = {f"{i:03d}" + "k" * 509: "v" * 256 for i in range(50)}   # 50 tags, 512-character names, 256-character values
    assert create(arm, "A.b-c_" + "d" * 74, snapshot_body(tags=tags))["tags"] == tags


def test_delete_snapshot(quick):
    arm = Arm(quick)
    create(arm, "gone")
    r = arm.delete(f"{SNAPSHOTS}/gone", api_version=DV)
    assert r.status_code == 202
    assert r.headers["Location"].endswith("&monitor=true")
    assert arm.get(f"{SNAPSHOTS}/gone", api_version=DV).json()["properties"]["provisioningState"] == "Deleting"
    assert arm.wait(r)["status"] == "Succeeded"
    assert arm.get(r.headers["Location"], api_version=None).status_code == 204
    assert arm.get(f"{SNAPSHOTS}/gone", api_version=DV).status_code == 404
    assert arm.delete(f"{SNAPSHOTS}/gone", api_version=DV).status_code == 204


def test_snapshot_writes_take_the_latency_profiles_figure(emulator):
    emulator.reset({"settings": {"latency": {"snapshot_write_seconds": 30}}})
    arm = Arm(emulator)
    r = arm.put(f"{SNAPSHOTS}/slow", snapshot_body(), api_version=DV)
    assert r.status_code == 202
    assert arm.get(r.headers["Azure-AsyncOperation"], api_version=None).json()["status"] == "InProgress"
    assert arm.get(f"{SNAPSHOTS}/slow", api_version=DV).json()["properties"]["provisioningState"] == "Updating"


def test_failed_snapshot_is_rolled_back(quick):
    arm = Arm(quick)
    quick.inject_fault("lro_failed", path_contains="/snapshots/doomed", error_code="InternalDiskManagementError")
    r = arm.put(f"{SNAPSHOTS}/doomed", snapshot_body(), api_version=DV)
    assert r.status_code == 202
    status = arm.wait(r)
    assert (status["status"], status["error"]["code"]) == ("Failed", "InternalDiskManagementError")
    assert arm.get(f"{SNAPSHOTS}/doomed", api_version=DV).status_code == 404


# ---------------------------------------------------------------- RBAC
def test_snapshot_rbac(quick, reader):
    r = reader.put(f"{SNAPSHOTS}/nope", snapshot_body(), api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (403, "AuthorizationFailed")
    assert "Microsoft.Compute/snapshots/write" in error_of(r)["message"]
    quick.reset({"settings": {"snapshot_seconds": 0.1},
                 "custom_roles": [{"name": "Snapshots Only", "actions": ["Microsoft.Compute/snapshots/*"]}],
                 "role_assignments": [{"principal": "soc-responder", "role": "Snapshots Only", "scope": RG_ID}]})
    arm = Arm(quick)
    r = arm.put(f"{SNAPSHOTS}/nope", snapshot_body(), api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (403, "LinkedAuthorizationFailed")
    assert f"'Microsoft.Compute/disks/read' on the linked scope(s) '{DATA_0}'" in error_of(r)["message"]
    assert RESPONDER_OID in error_of(r)["message"]
    assert arm.get(f"{SNAPSHOTS}/nope", api_version=DV).status_code == 404


def test_forensics_scenario_disks_and_target_group(emulator):
    emulator.reset("forensics")
    arm = Arm(emulator)
    legacy = arm.get(f"{VM}/legacy-01", api_version=CV).json()["properties"]["storageProfile"]["osDisk"]
    assert "managedDisk" not in legacy
    assert legacy["vhd"]["uri"] == "https://legacyvhds.blob.core.windows.net/vhds/legacy-01-osdisk.vhd"
    ephemeral = arm.get(f"{VM}/ephemeral-01", api_version=CV).json()["properties"]["storageProfile"]["osDisk"]
    assert ephemeral["diffDiskSettings"] == {"option": "Local", "placement": "CacheDisk"}
    assert arm.get(ephemeral["managedDisk"]["id"], api_version=DV).status_code == 404   # lives on the host
    r = arm.put(f"{SNAPSHOTS}/eph", snapshot_body(ephemeral["managedDisk"]["id"]), api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (404, "NotFound")
    evidence = f"/subscriptions/{SUB}/resourceGroups/soc-evidence-rg/providers/Microsoft.Compute/snapshots/e1"
    r = arm.put(evidence, snapshot_body(), api_version=DV)
    assert r.status_code == 202
    assert arm.wait(r)["status"] == "Succeeded"
    branch = "/subscriptions/bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee/resourceGroups/branch-rg"
    r = arm.put(f"{branch}/providers/Microsoft.Compute/snapshots/e2", snapshot_body(), api_version=DV)
    assert (r.status_code, error_of(r)["code"]) == (403, "AuthorizationFailed")   # Reader there
    assert arm.get(f"{branch}/providers/Microsoft.Compute/virtualMachines/branch-01", api_version=CV).status_code == 200


# ---------------------------------------------------------------- public IP addresses
def test_public_ip_addresses(arm):
    pip = arm.get(f"{PIPS}/web-01-pip").json()
    assert (pip["type"], pip["sku"]["name"], pip["properties"]["ipAddress"]) == (
        "Microsoft.Network/publicIPAddresses", "Standard", "192.0.2.10")
    props = pip["properties"]
    assert (props["publicIPAddressVersion"], props["publicIPAllocationMethod"], props["provisioningState"]) == (
        "IPv4", "Static", "Succeeded")
    assert props["ipConfiguration"]["id"] == f"{NIC}/web-01-nic1/ipConfigurations/ipconfig1"
    assert [p["name"] for p in arm.get(PIPS).json()["value"]] == ["web-01-pip"]
    assert len(arm.get(f"/subscriptions/{SUB}/providers/Microsoft.Network/publicIPAddresses").json()["value"]) == 1
    nic = arm.get(f"{NIC}/web-01-nic1").json()
    assert nic["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] == {"id": f"{PIPS}/web-01-pip"}
    r = arm.get(f"{PIPS}/ghost")
    assert (r.status_code, error_of(r)["code"]) == (404, "ResourceNotFound")


def test_nic_put_keeping_a_public_ip_needs_its_join(emulator):
    emulator.reset({"settings": {"lro_seconds": 0.05},
                    "custom_roles": [{"name": "NIC Writer", "actions": [
                        "Microsoft.Network/networkInterfaces/*", "Microsoft.Network/*/read",
                        "Microsoft.Network/networkSecurityGroups/join/action",
                        "Microsoft.Network/virtualNetworks/subnets/join/action"]}],
                    "role_assignments": [{"principal": "soc-responder", "role": "NIC Writer", "scope": RG_ID}]})
    arm = Arm(emulator)
    nic = arm.get(f"{NIC}/web-01-nic1").json()
    r = arm.put(f"{NIC}/web-01-nic1", nic)
    assert (r.status_code, error_of(r)["code"]) == (403, "LinkedAuthorizationFailed")
    assert f"'Microsoft.Network/publicIPAddresses/join/action' on the linked scope(s) '{PIPS}/web-01-pip'" in \
        error_of(r)["message"]
    ipconf = nic["properties"]["ipConfigurations"][0]["properties"]
    ipconf["publicIPAddress"] = {"id": f"{PIPS}/ghost-pip"}
    r = arm.put(f"{NIC}/web-01-nic1", nic)
    assert (r.status_code, error_of(r)["code"]) == (400, "InvalidResourceReference")
    del ipconf["publicIPAddress"]
    r = arm.put(f"{NIC}/web-01-nic1", nic)   # detaching it links nothing
    assert r.status_code == 200
    assert arm.wait(r)["status"] == "Succeeded"
    assert "ipConfiguration" not in arm.get(f"{PIPS}/web-01-pip").json()["properties"]
