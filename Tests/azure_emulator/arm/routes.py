"""Every ARM operation the emulator serves: (method, URL template, handler, RBAC action[, linked actions]).

Templates and their variable names are the REST specs' (Azure/azure-rest-api-specs). The router (router.py)
checks the action over the URL up to its last variable before the handler runs, and that the resource group
exists; `None` means the handler decides what applies (subscriptions: any role assignment; permissions: none).
A new resource type or operation is a model (its provider's models.py), handlers (responses.py) and rows here.
"""
from __future__ import annotations

from .authorization.responses import list_permissions
from .compute import responses as compute
from .compute.disks import DISK_TYPE, SNAPSHOT_TYPE, Disk, Snapshot
from .compute.models import VM_TYPE
from .lro import get_operation_result, get_operation_status
from .network import responses as network
from .network.models import NIC_TYPE, NSG_TYPE, VNET_TYPE, NetworkInterface, NetworkSecurityGroup, VirtualNetwork
from .network.public_ips import PIP_JOIN, PIP_TYPE, PublicIPAddress, get_public_ip
from .resourcegraph.responses import query_resources
from .resources import responses as resources
from .router import Route, list_of

SUB = "/subscriptions/{subscriptionId}"
RG = f"{SUB}/resourceGroups/{{resourceGroupName}}"
NSG = f"{RG}/providers/{NSG_TYPE}/{{networkSecurityGroupName}}"
VNET = f"{RG}/providers/{VNET_TYPE}/{{virtualNetworkName}}"
NIC = f"{RG}/providers/{NIC_TYPE}/{{networkInterfaceName}}"
VM = f"{RG}/providers/{VM_TYPE}/{{vmName}}"
PIP = f"{RG}/providers/{PIP_TYPE}/{{publicIpAddressName}}"
DISK = f"{RG}/providers/{DISK_TYPE}/{{diskName}}"
SNAPSHOT = f"{RG}/providers/{SNAPSHOT_TYPE}/{{snapshotName}}"
OPERATIONS = f"{SUB}/providers/{{namespace}}/locations/{{location}}"
PERMISSIONS = "providers/Microsoft.Authorization/permissions"
# Permissions_ListForResource: {parentResourcePath} holds '/' (type/name) or nothing (the SDKs then send '//')
ANY_RESOURCE = f"{RG}/providers/{{resourceProviderNamespace}}"
RESOURCE_NAME = "{resourceType}/{resourceName}"

ROUTES = (
    # Microsoft.Resources
    Route("GET", "/subscriptions", resources.list_subscriptions, None),
    Route("GET", SUB, resources.get_subscription, None),
    Route("GET", f"{SUB}/resourcegroups", resources.list_resource_groups, None),
    Route("GET", RG, resources.get_resource_group, "Microsoft.Resources/subscriptions/resourceGroups/read"),
    # Microsoft.Authorization
    Route("GET", f"{SUB}/{PERMISSIONS}", list_permissions, None),   # served by ARM, in no spec (responses.py)
    Route("GET", f"{RG}/{PERMISSIONS}", list_permissions, None),
    Route("GET", f"{ANY_RESOURCE}/{RESOURCE_NAME}/{PERMISSIONS}", list_permissions, None),
    Route("GET", f"{ANY_RESOURCE}//{RESOURCE_NAME}/{PERMISSIONS}", list_permissions, None),
    Route("GET", f"{ANY_RESOURCE}/{{parentResourceType}}/{{parentResourceName}}/{RESOURCE_NAME}/{PERMISSIONS}",
          list_permissions, None),
    # long-running operations of every provider (Microsoft.Network, Microsoft.Compute)
    Route("GET", f"{OPERATIONS}/operations/{{operationId}}", get_operation_status, None),
    Route("GET", f"{OPERATIONS}/operationResults/{{operationId}}", get_operation_result, None),
    # Microsoft.Network: network security groups and their rules
    Route("GET", f"{SUB}/providers/{NSG_TYPE}", list_of(NetworkSecurityGroup), f"{NSG_TYPE}/read"),
    Route("GET", f"{RG}/providers/{NSG_TYPE}", list_of(NetworkSecurityGroup), f"{NSG_TYPE}/read"),
    Route("GET", NSG, network.get_nsg, f"{NSG_TYPE}/read"),
    Route("PUT", NSG, network.put_nsg, f"{NSG_TYPE}/write"),
    Route("PATCH", NSG, network.patch_nsg, f"{NSG_TYPE}/write"),
    Route("DELETE", NSG, network.delete_nsg, f"{NSG_TYPE}/delete"),
    Route("GET", f"{NSG}/securityRules", network.list_rules, f"{NSG_TYPE}/securityRules/read"),
    Route("GET", f"{NSG}/securityRules/{{securityRuleName}}", network.get_rule, f"{NSG_TYPE}/securityRules/read"),
    Route("PUT", f"{NSG}/securityRules/{{securityRuleName}}", network.put_rule, f"{NSG_TYPE}/securityRules/write"),
    Route("DELETE", f"{NSG}/securityRules/{{securityRuleName}}", network.delete_rule,
          f"{NSG_TYPE}/securityRules/delete"),
    Route("GET", f"{NSG}/defaultSecurityRules", network.list_default_rules, f"{NSG_TYPE}/defaultSecurityRules/read"),
    Route("GET", f"{NSG}/defaultSecurityRules/{{defaultSecurityRuleName}}", network.get_default_rule,
          f"{NSG_TYPE}/defaultSecurityRules/read"),
    # Microsoft.Network: virtual networks and subnets
    Route("GET", f"{SUB}/providers/{VNET_TYPE}", list_of(VirtualNetwork), f"{VNET_TYPE}/read"),
    Route("GET", f"{RG}/providers/{VNET_TYPE}", list_of(VirtualNetwork), f"{VNET_TYPE}/read"),
    Route("GET", VNET, network.get_vnet, f"{VNET_TYPE}/read"),
    Route("GET", f"{VNET}/subnets", network.list_subnets, f"{VNET_TYPE}/subnets/read"),
    Route("GET", f"{VNET}/subnets/{{subnetName}}", network.get_subnet, f"{VNET_TYPE}/subnets/read"),
    Route("POST", f"{VNET}/listNetworkManagerEffectiveSecurityAdminRules", network.list_effective_admin_rules,
          f"{VNET_TYPE}/listNetworkManagerEffectiveSecurityAdminRules/action"),
    # Microsoft.Network: network interfaces
    Route("GET", f"{SUB}/providers/{NIC_TYPE}", list_of(NetworkInterface), f"{NIC_TYPE}/read"),
    Route("GET", f"{RG}/providers/{NIC_TYPE}", list_of(NetworkInterface), f"{NIC_TYPE}/read"),
    Route("GET", NIC, network.get_nic, f"{NIC_TYPE}/read"),
    Route("POST", f"{NIC}/effectiveNetworkSecurityGroups", network.list_effective_nsgs,
          f"{NIC_TYPE}/effectiveNetworkSecurityGroups/action"),
    Route("PUT", NIC, network.put_nic, f"{NIC_TYPE}/write",
          linked=(network.NSG_JOIN, network.SUBNET_JOIN, PIP_JOIN)),
    # Microsoft.Network: public IP addresses
    Route("GET", f"{SUB}/providers/{PIP_TYPE}", list_of(PublicIPAddress), f"{PIP_TYPE}/read"),
    Route("GET", f"{RG}/providers/{PIP_TYPE}", list_of(PublicIPAddress), f"{PIP_TYPE}/read"),
    Route("GET", PIP, get_public_ip, f"{PIP_TYPE}/read"),
    # Microsoft.Compute: virtual machines
    Route("GET", f"{SUB}/providers/{VM_TYPE}", compute.list_vms, f"{VM_TYPE}/read"),
    Route("GET", f"{RG}/providers/{VM_TYPE}", compute.list_vms, f"{VM_TYPE}/read"),
    Route("GET", VM, compute.get_vm, f"{VM_TYPE}/read"),
    Route("GET", f"{VM}/instanceView", compute.get_instance_view, f"{VM_TYPE}/instanceView/read"),
    *(Route("POST", f"{VM}/{action}", compute.power_action(action), f"{VM_TYPE}/{action}/action")
      for action in ("start", "powerOff", "deallocate", "restart")),
    # Microsoft.Compute: managed disks and snapshots (Disk RP)
    Route("GET", f"{SUB}/providers/{DISK_TYPE}", list_of(Disk), f"{DISK_TYPE}/read"),
    Route("GET", f"{RG}/providers/{DISK_TYPE}", list_of(Disk), f"{DISK_TYPE}/read"),
    Route("GET", DISK, compute.get_disk, f"{DISK_TYPE}/read"),
    Route("GET", f"{SUB}/providers/{SNAPSHOT_TYPE}", list_of(Snapshot), f"{SNAPSHOT_TYPE}/read"),
    Route("GET", f"{RG}/providers/{SNAPSHOT_TYPE}", list_of(Snapshot), f"{SNAPSHOT_TYPE}/read"),
    Route("GET", SNAPSHOT, compute.get_snapshot, f"{SNAPSHOT_TYPE}/read"),
    Route("PUT", SNAPSHOT, compute.put_snapshot, f"{SNAPSHOT_TYPE}/write",
          linked=tuple(compute.SOURCE_READ.values())),
    Route("DELETE", SNAPSHOT, compute.delete_snapshot, f"{SNAPSHOT_TYPE}/delete"),
    # Microsoft.ResourceGraph (tenant level: the caller's read rights filter the rows)
    Route("POST", "/providers/Microsoft.ResourceGraph/resources", query_resources, None),
)
