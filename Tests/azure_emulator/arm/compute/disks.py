"""Microsoft.Compute disk models (the Disk RP): managed disks and snapshots.

Spec followed: specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/2024-03-02/disk.json and
snapshot.json (the SDK azure-mgmt-compute 39.0.0 sends api-version 2026-03-02; any version is accepted).

What Azure does that the models reproduce:
- A VM's managed disks are resources of their own (`managedBy` the VM); `diskState` is Attached while the VM is
  allocated, Reserved while it is deallocated, Unattached without a VM. An ephemeral OS disk lives on the host:
  the VM names it, but there is no disk resource (GET answers 404). An unmanaged OS disk is a VHD blob
  (`storageProfile.osDisk.vhd.uri`), no disk resource either.
- A snapshot copies a disk (or another snapshot): `creationData.createOption` Copy with `sourceResourceId`. It
  must be created in the source's region: Compute looks the source up in the snapshot's region, so another
  region answers 404 NotFound as for a missing source. Incremental snapshots of one disk share the disk's
  `incrementalSnapshotFamilyId` and are always Standard_LRS; full ones default to the source's SKU family.
- Tags (ARM's rule for every resource): at most 50, names up to 512 characters without < > % & \\ ? / or control
  characters, values up to 256 characters.
"""
from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..models import Resource
from ..resources.models import ResourceGroup

if TYPE_CHECKING:
    from ..store import ArmStore

DISK_TYPE = "Microsoft.Compute/disks"
SNAPSHOT_TYPE = "Microsoft.Compute/snapshots"
CREATED = "2024-01-01T00:00:00.0000000+00:00"
IMAGE = ("Publishers/canonical/ArtifactTypes/VMImage/Offers/0001-com-ubuntu-server-jammy/Skus/22_04-lts-gen2/"
         "Versions/22.04.202401010")
# Premium SSD tiers by size (GiB): the smallest tier that holds the disk
PREMIUM_TIERS = ((4, "P1"), (8, "P2"), (16, "P3"), (32, "P4"), (64, "P6"), (128, "P10"), (256, "P15"),
                 (512, "P20"), (1024, "P30"), (2048, "P40"), (4096, "P50"))
MAX_TAGS, MAX_TAG_NAME, MAX_TAG_VALUE = 50, 512, 256
TAG_NAME_RESERVED = re.compile(r"[<>%&\\?/\x00-\x1f\x7f]")
COPY_OPTIONS = ("Copy",)   # the creationData.createOption values the emulator creates snapshots with


def _uid(resource_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, resource_id.lower()))


def normalize_location(location: str) -> str:
    """ARM's region names: "West US" -> "westus"."""
    return location.replace(" ", "").lower()


def check_tags(tags: Any) -> dict[str, str]:
    """The tags as stored, or ARM's error for the first rule they break."""
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise E.invalid_request_content("The tags must be an object whose values are strings.")
    if len(tags) > MAX_TAGS:
        raise E.invalid_tags_count(len(tags), MAX_TAGS)
    names = list(tags)
    if any(not name.strip() for name in names):
        raise E.invalid_tag_name_empty()
    reserved = [n for n in names if TAG_NAME_RESERVED.search(n)]
    if reserved:
        raise E.invalid_tag_name_characters(reserved)
    long_names = [n for n in names if len(n) > MAX_TAG_NAME]
    if long_names:
        raise E.invalid_tag_name_length(long_names, MAX_TAG_NAME)
    long_values = [v for v in tags.values() if len(v) > MAX_TAG_VALUE]
    if long_values:
        raise E.invalid_tag_value_length(long_values, MAX_TAG_VALUE)
    return dict(tags)


def _sku(name: str) -> dict:
    return {"name": name, "tier": "Premium" if name.startswith("Premium") else "Standard"}


# ---------------------------------------------------------------- managed disks
@dataclass
class Disk(Resource):
    TYPE = DISK_TYPE
    PARAM = "diskName"

    @property
    def unique_id(self) -> str:
        return self.body["properties"]["uniqueId"]

    def disk_state(self, arm: ArmStore) -> str:
        owner = self.body.get("managedBy")
        if not owner:
            return "Unattached"
        from .models import VirtualMachine  # the VM model imports this module

        vm = arm.get(owner, VirtualMachine)
        if vm is None:
            return "Unattached"
        power, _ = vm.power_state(arm.operations)
        return "Reserved" if power == "deallocated" else "Attached"

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = copy.deepcopy(self.body)
        body["properties"].update({"provisioningState": "Succeeded", "diskState": self.disk_state(arm)})
        return body

    @classmethod
    def for_vm(cls, rg: ResourceGroup, vm_id: str, name: str, location: str, *, size_gb: int, sku: str,
               os_type: str | None) -> Disk:
        """A disk attached to the VM `vm_id`: its OS disk when `os_type` is given, else a data disk."""
        disk_id = f"{rg.providers}/{DISK_TYPE}/{name}"
        props: dict[str, Any] = {}
        if os_type:
            props.update({"osType": os_type, "hyperVGeneration": "V2",
                          "supportedCapabilities": {"architecture": "x64"},
                          "creationData": {"createOption": "FromImage", "imageReference": {
                              "id": f"/Subscriptions/{rg.sub}/Providers/Microsoft.Compute/Locations/{location}/"
                                    f"{IMAGE}"}}})
        else:
            props["creationData"] = {"createOption": "Empty"}
        props.update({"diskSizeGB": size_gb, "diskIOPSReadWrite": 120, "diskMBpsReadWrite": 25,
                      "encryption": {"type": "EncryptionAtRestWithPlatformKey"}, "networkAccessPolicy": "AllowAll",
                      "publicNetworkAccess": "Enabled", "timeCreated": CREATED,
                      "diskSizeBytes": size_gb * 1024 ** 3, "uniqueId": _uid(disk_id)})
        if sku.startswith("Premium"):
            props["tier"] = next((tier for limit, tier in PREMIUM_TIERS if size_gb <= limit), "P80")
        return cls({"name": name, "id": disk_id, "type": DISK_TYPE, "location": location, "tags": {},
                    "managedBy": vm_id, "sku": _sku(sku), "properties": props}, rg.sub, rg.name)


def os_disk_name(vm_name: str, vm_id: str) -> str:
    """Azure's name for a VM's OS disk: <vm>_OsDisk_1_<32 hex digits>."""
    return f"{vm_name}_OsDisk_1_{uuid.uuid5(uuid.NAMESPACE_OID, vm_id.lower()).hex}"


def storage_profile(rg: ResourceGroup, vm_name: str, vm_id: str, location: str,
                    spec: dict) -> tuple[dict, list[Disk]]:
    """(the VM's storageProfile, the disk resources it uses) from a scenario VM's `os_disk` and `data_disks`.

    os_disk: {kind: managed (default) | unmanaged | ephemeral, name, size_gb (30), sku (Premium_LRS)};
    data_disks: [{lun, name (<vm>_DataDisk_<lun>), size_gb (64), sku (Premium_LRS)}]."""
    os_spec = spec.get("os_disk") or {}
    kind = os_spec.get("kind", "managed")
    if kind not in ("managed", "unmanaged", "ephemeral"):
        raise ValueError(f"scenario: VM {vm_name}: os_disk.kind must be managed, unmanaged or ephemeral, not {kind!r}")
    size = int(os_spec.get("size_gb", 30))
    sku = os_spec.get("sku", "Standard_LRS" if kind == "ephemeral" else "Premium_LRS")
    name = os_spec.get("name") or (f"{vm_name}-osdisk" if kind == "unmanaged" else os_disk_name(vm_name, vm_id))
    disks: list[Disk] = []
    os_disk: dict[str, Any] = {"osType": "Linux", "name": name, "createOption": "FromImage",
                               "caching": "ReadOnly" if kind == "ephemeral" else "ReadWrite"}
    if kind == "unmanaged":
        account = os_spec.get("storage_account", "legacyvhds")
        os_disk["vhd"] = {"uri": f"https://{account}.blob.core.windows.net/vhds/{name}.vhd"}
    else:
        disk_id = f"{rg.providers}/{DISK_TYPE}/{name}"
        os_disk["managedDisk"] = {"storageAccountType": sku, "id": disk_id}
        os_disk["deleteOption"] = "Delete"
        if kind == "ephemeral":   # on the host's cache disk: the VM names it, no disk resource exists
            os_disk["diffDiskSettings"] = {"option": "Local", "placement": "CacheDisk"}
        else:
            disks.append(Disk.for_vm(rg, vm_id, name, location, size_gb=size, sku=sku, os_type="Linux"))
    os_disk["diskSizeGB"] = size
    data_disks = []
    for i, data in enumerate(spec.get("data_disks") or []):
        lun = int(data.get("lun", i))
        data_name = data.get("name") or f"{vm_name}_DataDisk_{lun}"
        data_size, data_sku = int(data.get("size_gb", 64)), data.get("sku", "Premium_LRS")
        disk = Disk.for_vm(rg, vm_id, data_name, location, size_gb=data_size, sku=data_sku, os_type=None)
        disks.append(disk)
        data_disks.append({"lun": lun, "name": data_name, "createOption": "Attach", "caching": "ReadOnly",
                           "writeAcceleratorEnabled": False,
                           "managedDisk": {"storageAccountType": data_sku, "id": disk.id},
                           "deleteOption": "Detach", "diskSizeGB": data_size, "toBeDetached": False})
    profile = {"imageReference": {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                                  "sku": "22_04-lts-gen2", "version": "latest", "exactVersion": "22.04.202401010"},
               "osDisk": os_disk, "dataDisks": data_disks, "diskControllerType": "SCSI"}
    return profile, disks


# ---------------------------------------------------------------- snapshots
@dataclass
class Snapshot(Resource):
    TYPE = SNAPSHOT_TYPE
    PARAM = "snapshotName"

    def render(self, arm: ArmStore, *, expand: bool = False) -> dict:  # noqa: ARG002 - nothing to expand
        body = copy.deepcopy(self.body)
        body["properties"]["provisioningState"] = self.provisioning_state()
        return body


def snapshot_body(snapshot_id: str, name: str, location: str, source: Disk | Snapshot, incremental: bool,
                  tags: dict[str, str], sku: str | None, existing: Snapshot | None) -> dict:
    """A snapshot of `source` as stored (provisioningState is added when rendered)."""
    src = source.body["properties"]
    family = src.get("incrementalSnapshotFamilyId") if isinstance(source, Snapshot) else None
    family = family or str(uuid.uuid5(uuid.NAMESPACE_DNS, source.id.lower()))   # one family per disk
    if incremental:
        sku = "Standard_LRS"
    elif not sku:
        sku = "Premium_LRS" if source.body.get("sku", {}).get("name", "").startswith("Premium") else "Standard_LRS"
    props: dict[str, Any] = {}
    for key in ("osType", "hyperVGeneration", "supportedCapabilities", "purchasePlan"):
        if key in src:
            props[key] = copy.deepcopy(src[key])
    source_unique = src.get("uniqueId")
    props.update({
        "creationData": {"createOption": "Copy", "sourceResourceId": source.id, "sourceUniqueId": source_unique},
        "diskSizeGB": src.get("diskSizeGB"), "diskSizeBytes": src.get("diskSizeBytes"),
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"}, "incremental": incremental,
        "networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Enabled",
        "timeCreated": existing.body["properties"]["timeCreated"] if existing else _now(),
        "uniqueId": existing.body["properties"]["uniqueId"] if existing else str(uuid.uuid4()),
        "diskState": "Unattached"})
    if incremental:
        props["incrementalSnapshotFamilyId"] = family
    return {"name": name, "id": snapshot_id, "type": SNAPSHOT_TYPE, "location": location, "tags": tags,
            "sku": _sku(sku), "properties": props}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
