"""ARM writes: NSG/rule/NIC PUT and DELETE as long-running operations, validation and limits with ARM's error
bodies, the per-resource write lock (429), etags, RBAC (403) and linked authorization, VM power actions."""
from __future__ import annotations

import time

import pytest

from .helpers import CV, FAST, NIC, NSG, READER_ID, READER_OID, RESPONDER_OID, SUB, VM, Arm, error_of

RULE = {"properties": {"protocol": "*", "access": "Deny", "direction": "Inbound", "priority": 200,
                       "sourceAddressPrefix": "203.0.113.7", "sourcePortRange": "*",
                       "destinationAddressPrefix": "*", "destinationPortRange": "*"}}


def rule(**props):
    body = {"properties": dict(RULE["properties"])}
    for key, value in props.items():
        if value is None:
            body["properties"].pop(key, None)
        else:
            body["properties"][key] = value
    return body


# ---------------------------------------------------------------- security rule PUT / DELETE
def test_rule_put_is_a_long_running_operation(fast, arm):
    before = arm.get(f"{NSG}/web-nsg").json()["etag"]
    r = arm.put(f"{NSG}/web-nsg/securityRules/block-1", rule())
    assert r.status_code == 201
    assert r.json()["properties"]["provisioningState"] == "Updating"
    status_url = r.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Network/locations/eastus/operations/" in status_url
    assert "Location" not in r.headers
    assert r.headers["Retry-After"] == "1"
    final = arm.wait(r)
    assert final["status"] == "Succeeded"
    assert "error" not in final
    got = arm.get(f"{NSG}/web-nsg/securityRules/block-1").json()
    assert got["properties"]["provisioningState"] == "Succeeded"
    assert got["properties"]["sourceAddressPrefix"] == "203.0.113.7"
    nsg = arm.get(f"{NSG}/web-nsg").json()
    assert nsg["etag"] != before
    assert got["etag"] == nsg["etag"]
    assert len(nsg["properties"]["securityRules"]) == 3
    # update of the same rule: 200
    r2 = arm.put(f"{NSG}/web-nsg/securityRules/block-1", rule(priority=201))
    assert r2.status_code == 200
    arm.wait(r2)
    assert fast.resource(f"{NSG}/web-nsg/securityRules/block-1")["properties"]["priority"] == 201


def test_rule_delete_uses_location_and_async_operation(fast, arm):
    r = arm.delete(f"{NSG}/web-nsg/securityRules/allow-ssh-admin")
    assert r.status_code == 202
    assert r.content == b""
    location = r.headers["Location"]
    assert "/operationResults/" in location
    assert "/operations/" in r.headers["Azure-AsyncOperation"]
    assert arm.wait(r)["status"] == "Succeeded"   # not a fixed sleep: on a loaded machine 0.1 s may not be enough
    done = arm.get(location, api_version=None)
    assert done.status_code == 204
    assert arm.get(f"{NSG}/web-nsg/securityRules/allow-ssh-admin").status_code == 404
    assert fast.resource(f"{NSG}/web-nsg/securityRules/allow-ssh-admin") is None
    assert "allow-ssh-admin" not in {x["name"] for x in fast.resource(f"{NSG}/web-nsg")["properties"]["securityRules"]}
    again = arm.delete(f"{NSG}/web-nsg/securityRules/allow-ssh-admin")
    assert again.status_code == 204


def test_location_url_answers_202_while_running(emulator, arm):
    emulator.reset({"settings": {"lro_seconds": 30}})
    r = arm.delete(f"{NSG}/web-nsg/securityRules/allow-ssh-admin")
    running = arm.get(r.headers["Location"], api_version=None)
    assert running.status_code == 202
    assert running.headers["Retry-After"] == "1"
    assert running.headers["Location"] == r.headers["Location"]
    status = arm.get(r.headers["Azure-AsyncOperation"], api_version=None)
    assert status.status_code == 200
    assert status.json()["status"] == "InProgress"


def test_write_while_another_is_running_gets_429(emulator, arm):
    emulator.reset({"settings": {"lro_seconds": 30}})
    first = arm.put(f"{NSG}/web-nsg/securityRules/block-1", rule())
    assert first.status_code == 201
    second = arm.put(f"{NSG}/web-nsg/securityRules/block-2", rule(priority=201))
    assert second.status_code == 429
    err = error_of(second)
    assert err["code"] == "RetryableErrorDueToAnotherOperation"
    assert f"{NSG}/web-nsg" in err["message"]
    assert "PutSecurityRuleOperation" in err["message"]
    assert second.headers["Retry-After"] == "1"
    whole = arm.put(f"{NSG}/web-nsg", {"location": "eastus", "properties": {"securityRules": []}})
    assert whole.status_code == 429
    # another NSG is not locked
    assert arm.put(f"{NSG}/edge-nsg/securityRules/block-1", rule()).status_code == 201
    # reads are never locked and show the state
    assert arm.get(f"{NSG}/web-nsg").json()["properties"]["provisioningState"] == "Updating"


def test_concurrent_writers_lose_nothing_when_they_retry(fast, emulator):
    """Eight writers on one NSG: each retries its 429 until accepted, then every rule is present."""
    import threading

    arm = Arm(emulator)
    results = {}

    def writer(i):
        client = Arm(emulator, token=arm.token)
        for _ in range(200):
            r = client.put(f"{NSG}/web-nsg/securityRules/w{i}", rule(priority=300 + i))
            if r.status_code != 429:
                results[i] = r.status_code
                client.wait(r)
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == dict.fromkeys(range(8), 201)
    names = {r["name"] for r in arm.get(f"{NSG}/web-nsg").json()["properties"]["securityRules"]}
    assert {f"w{i}" for i in range(8)} <= names
    assert any(e["status"] == 429 for e in emulator.request_log())


def test_if_match_is_ignored_and_etag_changes(fast, arm):
    etag = arm.get(f"{NSG}/web-nsg").json()["etag"]
    r = arm.put(f"{NSG}/web-nsg/securityRules/block-1", rule(), headers={"If-Match": 'W/"stale"'})
    assert r.status_code == 201
    arm.wait(r)
    new = arm.get(f"{NSG}/web-nsg").json()["etag"]
    assert new != etag
    r = arm.put(f"{NSG}/web-nsg/securityRules/block-2", rule(priority=201), headers={"If-Match": etag})
    assert r.status_code == 201
    assert arm.wait(r)["status"] == "Succeeded"
    names = {x["name"] for x in fast.resource(f"{NSG}/web-nsg")["properties"]["securityRules"]}
    assert {"block-1", "block-2"} <= names


@pytest.mark.parametrize(("props", "code", "message_part"), [
    ({"priority": 99}, "SecurityRuleInvalidPriority",
     "has invalid Priority. Value provided: 99. Allowed range 100-4096."),
    ({"priority": 4097}, "SecurityRuleInvalidPriority", "Value provided: 4097."),
    ({"priority": None}, "SecurityRuleInvalidPriority", "Value provided: None."),
    ({"protocol": "Http"}, "SecurityRuleInvalidProtocol", "Value provided: Http."),
    ({"access": "Block"}, "SecurityRuleInvalidAccess", "Value provided: Block."),
    ({"direction": "Both"}, "SecurityRuleInvalidDirection", "Value provided: Both."),
    ({"destinationPortRange": "any"}, "SecurityRuleInvalidPortRange",
     "Security rule has invalid Port range. Value provided: any. Value should be an integer OR integer range with "
     "'-' delimiter. Valid range 0-65535."),
    ({"destinationPortRange": "70000"}, "SecurityRuleInvalidPortRange", "Value provided: 70000."),
    ({"sourceAddressPrefix": "300.1.1.1"}, "SecurityRuleInvalidAddressPrefix",
     "has invalid Address prefix. Value provided: 300.1.1.1"),
    ({"sourceAddressPrefixes": ["203.0.113.8"]}, "SecurityRuleParameterContainsUnsupportedValue",
     "cannot be specified together with SourceAddressPrefixes"),
    ({"sourceAddressPrefix": None, "sourceAddressPrefixes": ["203.0.113.8", "Internet"]},
     "SecurityRuleParameterContainsUnsupportedValue", "Unsupported value used: Internet."),
    ({"sourceAddressPrefix": None, "sourceAddressPrefixes": ["203.0.113.8", "2001:db8::1"]},
     "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
     "contains IP addresses or prefixes that belong to different address families. All IP addresses or prefixes "
     "in the resource should belong to the same address family."),
    ({"destinationAddressPrefix": "2001:db8::/64"}, "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies",
     "different address families"),
    ({"description": "x" * 141}, "SecurityRuleDescriptionTooLong", "restricted to 140 characters"),
])
def test_rule_validation_errors(fast, arm, props, code, message_part):
    r = arm.put(f"{NSG}/web-nsg/securityRules/bad-rule", rule(**props))
    assert r.status_code == 400, r.text
    err = error_of(r)
    assert err["code"] == code
    assert message_part in err["message"]
    assert err["details"] == []
    assert arm.get(f"{NSG}/web-nsg/securityRules/bad-rule").status_code == 404


def test_rule_edge_values_are_accepted(fast, arm):
    r = arm.put(f"{NSG}/web-nsg/securityRules/edge.rule_1", rule(
        priority=4096, description="d" * 140, destinationPortRange=None, destinationPortRanges=["22", "8000-8080"],
        sourceAddressPrefix=None, sourceAddressPrefixes=["2001:db8::/64", "2001:db8:1::5"]))
    assert r.status_code == 201, r.text
    assert arm.wait(r)["status"] == "Succeeded"
    stored = fast.resource(f"{NSG}/web-nsg/securityRules/edge.rule_1")["properties"]
    assert stored["priority"] == 4096
    assert stored["description"] == "d" * 140
    assert stored["destinationPortRanges"] == ["22", "8000-8080"]
    assert stored["sourceAddressPrefixes"] == ["2001:db8::/64", "2001:db8:1::5"]


@pytest.mark.parametrize("name", ["-starts-with-dash", "ends-with-dot.", "has space", "x" * 81, "semi;colon"])
def test_invalid_rule_names(fast, arm, name):
    from urllib.parse import quote
    r = arm.put(f"{NSG}/web-nsg/securityRules/{quote(name, safe='')}", rule())
    assert r.status_code == 400
    assert error_of(r) == {"code": "InvalidResourceName", "details": [], "message": (
        f"Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word "
        f"character, and it must end with a word character or with '_'. The name may contain word characters or "
        f"'.', '-', '_'.")}
    assert [x["name"] for x in fast.resource(f"{NSG}/web-nsg")["properties"]["securityRules"]] == [
        "allow-https-in", "allow-ssh-admin"]


def test_security_rule_conflict_same_priority_and_direction(fast, arm):
    r = arm.put(f"{NSG}/web-nsg/securityRules/dup", rule(priority=110))
    assert r.status_code == 400
    assert error_of(r) == {"code": "SecurityRuleConflict", "details": [], "message": (
        "Security rule dup conflicts with rule allow-ssh-admin. Rules cannot have the same Priority and Direction. "
        "To learn more, see aka.ms/nsgrules.")}
    assert fast.resource(f"{NSG}/web-nsg/securityRules/dup") is None
    outbound = arm.put(f"{NSG}/web-nsg/securityRules/dup", rule(priority=110, direction="Outbound"))
    assert outbound.status_code == 201
    arm.wait(outbound)
    assert fast.resource(f"{NSG}/web-nsg/securityRules/dup")["properties"]["direction"] == "Outbound"


def test_rule_count_and_prefix_limits(emulator, arm):
    emulator.reset({"settings": {"lro_seconds": 0, "max_rules_per_nsg": 3, "max_prefixes_per_nsg_side": 4}})
    assert arm.put(f"{NSG}/web-nsg/securityRules/third", rule()).status_code == 201
    r = arm.put(f"{NSG}/web-nsg/securityRules/fourth", rule(priority=201))
    assert r.status_code == 400
    assert error_of(r) == {"code": "SecurityRuleCountLimitReached", "details": [],
                           "message": "A security group cannot have more than 3 security rules."}
    r = arm.put(f"{NSG}/edge-nsg/securityRules/many", rule(sourceAddressPrefix=None, sourceAddressPrefixes=[
        f"203.0.113.{i}" for i in range(5)]))
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached"
    assert err["message"] == (f"Network security group {NSG}/edge-nsg has 5 SourceAddressPrefixes. A security group "
                              f"cannot have more than 4 SourceAddressPrefixes as per the limit "
                              f"MaxSecurityRuleAddressesOrPortsPerSecurityGroup.")


# ---------------------------------------------------------------- NSG PUT / PATCH / DELETE
def test_nsg_put_replaces_rules_and_keeps_defaults(fast, arm):
    nsg = arm.get(f"{NSG}/web-nsg").json()
    nsg["properties"]["securityRules"] = [r for r in nsg["properties"]["securityRules"]
                                          if r["name"] == "allow-https-in"]
    nsg["properties"]["flushConnection"] = True
    r = arm.put(f"{NSG}/web-nsg", nsg)
    assert r.status_code == 200
    assert r.json()["properties"]["provisioningState"] == "Updating"
    arm.wait(r)
    after = arm.get(f"{NSG}/web-nsg").json()["properties"]
    assert [x["name"] for x in after["securityRules"]] == ["allow-https-in"]
    assert after["flushConnection"] is True
    assert len(after["defaultSecurityRules"]) == 6
    assert len(after["networkInterfaces"]) == 3


def test_nsg_create_patch_tags_and_delete(fast, arm):
    r = arm.put(f"{NSG}/quarantine-nsg", {"location": "eastus", "tags": {"owner": "soc"}, "properties": {
        "flushConnection": True, "securityRules": [dict(rule(), name="deny-all-in")]}})
    assert r.status_code == 201
    assert arm.wait(r)["status"] == "Succeeded"
    patched = arm.patch(f"{NSG}/quarantine-nsg", {"tags": {"case": "42"}})
    assert patched.status_code == 200
    assert patched.json()["tags"] == {"case": "42"}
    d = arm.delete(f"{NSG}/quarantine-nsg")
    assert d.status_code == 202
    assert arm.wait(d)["status"] == "Succeeded"
    assert arm.get(d.headers["Location"], api_version=None).status_code == 204
    assert arm.get(f"{NSG}/quarantine-nsg").status_code == 404
    assert arm.delete(f"{NSG}/quarantine-nsg").status_code == 204


def test_nsg_create_without_location(fast, arm):
    r = arm.put(f"{NSG}/new-nsg", {"properties": {}})
    assert r.status_code == 400
    assert error_of(r) == {"code": "LocationRequired", "details": [],
                           "message": "The location property is required for this definition."}
    assert fast.resource(f"{NSG}/new-nsg") is None


def test_nsg_in_use_cannot_be_deleted(fast, arm):
    r = arm.delete(f"{NSG}/web-nsg")
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "InUseNetworkSecurityGroupCannotBeDeleted"
    assert err["message"].startswith(f"Network security group {NSG}/web-nsg cannot be deleted because it is in use "
                                     f"by the following resources: ")
    assert f"{NIC}/web-01-nic0" in err["message"]
    assert err["message"].endswith("see aka.ms/deletensg.")
    r = arm.delete(f"{NSG}/db-subnet-nsg")
    assert r.status_code == 400
    assert "/subnets/db-subnet" in error_of(r)["message"]
    assert fast.resource(f"{NSG}/web-nsg") is not None
    assert fast.resource(f"{NSG}/db-subnet-nsg") is not None
    assert fast.resource(f"{NSG}/web-nsg")["properties"]["provisioningState"] == "Succeeded"


def test_malformed_json_body(fast, arm):
    before = fast.resource(f"{NSG}/web-nsg")
    r = arm.session.put(f"{arm.emu.arm_url}{NSG}/web-nsg?api-version=2024-05-01", data=b"{not json",
                        headers={"Authorization": f"Bearer {arm.token}"}, verify=arm.emu.ca_bundle)
    assert r.status_code == 400
    assert error_of(r)["code"] == "InvalidRequestContent"
    assert fast.resource(f"{NSG}/web-nsg") == before


# ---------------------------------------------------------------- NIC PUT
def test_nic_put_keeps_properties_and_moves_nsg_association(fast, arm):
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    nic["properties"]["networkSecurityGroup"] = {"id": f"{NSG}/edge-nsg"}
    nic["properties"]["enableAcceleratedNetworking"] = True
    nic["properties"]["dnsSettings"] = {"dnsServers": ["10.0.0.53"]}
    nic["properties"]["macAddress"] = "11-11-11-11-11-11"   # read-only: ignored
    nic["properties"]["someFutureProperty"] = {"kept": True}
    nic["tags"] = {"isolated": "true"}
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 200
    assert r.json()["properties"]["provisioningState"] == "Updating"
    arm.wait(r)
    got = arm.get(f"{NIC}/web-01-nic0").json()
    assert got["properties"]["networkSecurityGroup"]["id"] == f"{NSG}/edge-nsg"
    assert got["properties"]["enableAcceleratedNetworking"] is True
    assert got["properties"]["dnsSettings"] == {"dnsServers": ["10.0.0.53"]}
    assert got["properties"]["someFutureProperty"] == {"kept": True}
    assert got["properties"]["macAddress"] != "11-11-11-11-11-11"
    assert got["properties"]["virtualMachine"]["id"] == f"{VM}/web-01"
    assert got["tags"] == {"isolated": "true"}
    assert got["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] == "10.0.1.4"
    edge = {n["id"] for n in arm.get(f"{NSG}/edge-nsg").json()["properties"]["networkInterfaces"]}
    web = {n["id"] for n in arm.get(f"{NSG}/web-nsg").json()["properties"]["networkInterfaces"]}
    assert f"{NIC}/web-01-nic0" in edge
    assert f"{NIC}/web-01-nic0" not in web
    # detach
    del got["properties"]["networkSecurityGroup"]
    arm.wait(arm.put(f"{NIC}/web-01-nic0", got))
    assert "networkInterfaces" not in arm.get(f"{NSG}/edge-nsg").json()["properties"]


def test_nic_put_with_missing_nsg(fast, arm):
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    before = fast.resource(f"{NIC}/web-01-nic0")
    nic["properties"]["networkSecurityGroup"] = {"id": f"{NSG}/ghost"}
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 400
    assert error_of(r)["code"] == "InvalidResourceReference"
    assert error_of(r)["message"].startswith(f"Resource {NSG}/ghost referenced by resource {NIC}/web-01-nic0 was "
                                             f"not found.")
    assert fast.resource(f"{NIC}/web-01-nic0") == before


def test_nic_put_referencing_an_nsg_still_updating(emulator, arm):
    emulator.reset({"settings": {"lro_seconds": 30}})
    arm.put(f"{NSG}/edge-nsg/securityRules/block-1", rule())
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    nic["properties"]["networkSecurityGroup"] = {"id": f"{NSG}/edge-nsg"}
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 429
    err = error_of(r)
    assert err["code"] == "RetryableError"
    assert err["details"][0]["code"] == "ReferencedResourceNotProvisioned"
    assert "Resource is in Updating state" in err["details"][0]["message"]


def test_nic_write_lock(emulator, arm):
    emulator.reset({"settings": {"lro_seconds": 30}})
    nic = arm.get(f"{NIC}/web-02-nic0").json()
    assert arm.put(f"{NIC}/web-02-nic0", nic).status_code == 200
    r = arm.put(f"{NIC}/web-02-nic0", nic)
    assert r.status_code == 429
    assert error_of(r)["code"] == "RetryableErrorDueToAnotherOperation"


# ---------------------------------------------------------------- RBAC
def test_reader_cannot_write(fast, reader):
    r = reader.put(f"{NSG}/web-nsg/securityRules/block-1", rule())
    assert r.status_code == 403
    assert error_of(r) == {"code": "AuthorizationFailed", "details": [], "message": (
        f"The client '{READER_ID}' with object id '{READER_OID}' does not have authorization to perform action "
        f"'Microsoft.Network/networkSecurityGroups/securityRules/write' over scope "
        f"'{NSG}/web-nsg/securityRules/block-1' or the scope is invalid. If access was recently granted, please "
        f"refresh your credentials.")}
    r = reader.post(f"{VM}/web-01/deallocate", api_version=CV)
    assert r.status_code == 403
    assert "'Microsoft.Compute/virtualMachines/deallocate/action'" in error_of(r)["message"]
    assert reader.get(f"{NSG}/web-nsg").json()["name"] == "web-nsg"
    assert fast.resource(f"{NSG}/web-nsg/securityRules/block-1") is None
    assert power(reader, "web-01") == "PowerState/running"


def test_vm_contributor_alone_can_join_but_not_edit_nsgs(emulator):
    emulator.reset({"settings": FAST["settings"], "role_assignments": [
        {"principal": "soc-responder", "role": "Virtual Machine Contributor", "scope": f"/subscriptions/{SUB}"}]})
    arm = Arm(emulator)
    r = arm.put(f"{NSG}/web-nsg/securityRules/block-1", rule())
    assert r.status_code == 403
    assert error_of(r)["code"] == "AuthorizationFailed"
    assert emulator.resource(f"{NSG}/web-nsg/securityRules/block-1") is None
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    nic["properties"]["networkSecurityGroup"] = {"id": f"{NSG}/edge-nsg"}
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 200   # networkInterfaces/* + NSG join/action
    assert arm.wait(r)["status"] == "Succeeded"
    assert emulator.resource(f"{NIC}/web-01-nic0")["properties"]["networkSecurityGroup"]["id"] == f"{NSG}/edge-nsg"


def test_linked_authorization_failed_without_join_action(emulator):
    emulator.reset({"settings": FAST["settings"],
                    "custom_roles": [{"name": "NIC Writer", "actions": ["Microsoft.Network/networkInterfaces/*",
                                                                         "Microsoft.Network/*/read",
                                                                         "Microsoft.Network/virtualNetworks/*/join/action"]}],
                    "role_assignments": [{"principal": "soc-responder", "role": "NIC Writer",
                                          "scope": f"/subscriptions/{SUB}/resourceGroups/soc-demo-rg"}]})
    arm = Arm(emulator)
    nic = arm.get(f"{NIC}/web-01-nic0").json()
    nic["properties"]["networkSecurityGroup"] = {"id": f"{NSG}/edge-nsg"}
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 403
    assert emulator.resource(f"{NIC}/web-01-nic0")["properties"]["networkSecurityGroup"]["id"] == f"{NSG}/web-nsg"
    assert error_of(r) == {"code": "LinkedAuthorizationFailed", "details": [], "message": (
        f"The client '0a0a0a0a-1111-2222-3333-444444444444' with object id '{RESPONDER_OID}' has permission to "
        f"perform action 'Microsoft.Network/networkInterfaces/write' on scope '{NIC}/web-01-nic0'; however, it "
        f"does not have permission to perform action(s) 'Microsoft.Network/networkSecurityGroups/join/action' on "
        f"the linked scope(s) '{NSG}/edge-nsg' (respectively) or the linked scope(s) are invalid.")}
    del nic["properties"]["networkSecurityGroup"]   # detaching links nothing
    r = arm.put(f"{NIC}/web-01-nic0", nic)
    assert r.status_code == 200
    assert arm.wait(r)["status"] == "Succeeded"
    assert "networkSecurityGroup" not in emulator.resource(f"{NIC}/web-01-nic0")["properties"]


def test_custom_role_wildcards_and_not_actions(emulator):
    emulator.reset({"custom_roles": [{"name": "Rule Reader", "actions": ["Microsoft.Network/networkSecurityGroups/*"],
                                      "not_actions": ["Microsoft.Network/networkSecurityGroups/*/write"]}],
                    "role_assignments": [{"principal": "soc-reader", "role": "Rule Reader",
                                          "scope": f"/subscriptions/{SUB}"}]})
    arm = Arm(emulator, "soc-reader")
    assert arm.get(f"{NSG}/web-nsg/securityRules").status_code == 200
    assert arm.put(f"{NSG}/web-nsg/securityRules/x", rule()).status_code == 403
    assert emulator.resource(f"{NSG}/web-nsg/securityRules/x") is None
    assert arm.get(f"{NIC}/web-01-nic0").status_code == 403
    perms = arm.get(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/permissions").json()["value"]
    assert perms == [{"actions": ["Microsoft.Network/networkSecurityGroups/*"],
                      "notActions": ["Microsoft.Network/networkSecurityGroups/*/write"],
                      "dataActions": [], "notDataActions": []}]


# ---------------------------------------------------------------- VM power actions
def power(arm, name):
    view = arm.get(f"{VM}/{name}/instanceView", api_version=CV).json()
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


# The transitional state is checked with one GET right after the POST; the transition lasts long enough (1 s) that
# a slow, shared machine still reads it inside the window (0.3-0.4 s made these tests depend on the machine's load).
def test_vm_deallocate_passes_through_deallocating(emulator, arm):
    emulator.reset({"settings": {"vm_transition_seconds": 1.0}})
    r = arm.post(f"{VM}/web-01/deallocate", api_version=CV)
    assert r.status_code == 202
    assert r.content == b""
    assert "/providers/Microsoft.Compute/locations/eastus/operations/" in r.headers["Azure-AsyncOperation"]
    assert r.headers["Location"] == r.headers["Azure-AsyncOperation"] + "&monitor=true"
    assert r.headers["Retry-After"] == "1"
    assert power(arm, "web-01") == "PowerState/deallocating"
    monitor = arm.get(r.headers["Location"], api_version=None)
    assert monitor.status_code == 202
    final = arm.wait(r)
    assert final["status"] == "Succeeded"
    assert final["name"]
    assert final["endTime"]
    assert power(arm, "web-01") == "PowerState/deallocated"
    done = arm.get(r.headers["Location"], api_version=None)
    assert done.status_code == 200
    assert done.content == b""


@pytest.mark.parametrize(("start", "action", "params", "middle", "end"), [
    ("db-01", "start", {}, "PowerState/starting", "PowerState/running"),
    ("web-01", "powerOff", {"skipShutdown": "true"}, "PowerState/stopping", "PowerState/stopped"),
    ("web-01", "powerOff", {}, "PowerState/stopping", "PowerState/stopped"),
    ("web-02", "restart", {}, "PowerState/starting", "PowerState/running"),
    ("web-02", "deallocate", {"hibernate": "true"}, "PowerState/deallocating", "PowerState/deallocated"),
])
def test_vm_actions(emulator, arm, start, action, params, middle, end):
    emulator.reset({"settings": {"vm_transition_seconds": 1.0}})
    r = arm.post(f"{VM}/{start}/{action}", api_version=CV, params=params)
    assert r.status_code == 202
    assert power(arm, start) == middle
    assert arm.wait(r)["status"] == "Succeeded"
    assert power(arm, start) == end
    if params.get("hibernate"):
        codes = [s["code"] for s in arm.get(f"{VM}/{start}/instanceView", api_version=CV).json()["statuses"]]
        assert "HibernationState/Hibernated" in codes


def test_power_off_of_deallocated_vm_is_not_allowed(fast, arm):
    r = arm.post(f"{VM}/db-01/powerOff", api_version=CV)
    assert r.status_code == 409
    assert error_of(r) == {"code": "OperationNotAllowed", "details": [], "message": (
        "Operation 'powerOff' is not allowed on VM 'db-01' since the VM is deallocated or marked to be "
        "deallocated.")}
    r = arm.post(f"{VM}/db-01/restart", api_version=CV)
    assert r.status_code == 409
    assert error_of(r)["code"] == "OperationNotAllowed"
    assert power(arm, "db-01") == "PowerState/deallocated"


def test_start_of_running_vm_is_quick_success(fast, arm):
    r = arm.post(f"{VM}/web-01/start", api_version=CV)
    assert r.status_code == 202
    assert arm.get(r.headers["Azure-AsyncOperation"], api_version=None).json()["status"] == "Succeeded"
    assert power(arm, "web-01") == "PowerState/running"


def test_newer_action_preempts_running_one(emulator, arm):
    emulator.reset({"settings": {"vm_transition_seconds": 5}})
    first = arm.post(f"{VM}/web-01/deallocate", api_version=CV)
    second = arm.post(f"{VM}/web-01/start", api_version=CV)
    assert second.status_code == 202
    old = arm.get(first.headers["Azure-AsyncOperation"], api_version=None).json()
    assert old["status"] == "Failed"
    assert old["error"] == {"code": "OperationPreempted",
                            "message": "Operation execution has been preempted by a more recent operation."}
    assert power(arm, "web-01") == "PowerState/starting"


def test_vm_provisioning_state_during_transition(emulator, arm):
    emulator.reset({"settings": {"vm_transition_seconds": 5}})
    arm.post(f"{VM}/web-02/powerOff", api_version=CV)
    vm = arm.get(f"{VM}/web-02", api_version=CV, params={"$expand": "instanceView"}).json()
    assert vm["properties"]["provisioningState"] == "Updating"
    assert vm["properties"]["instanceView"]["statuses"][0]["code"] == "ProvisioningState/updating"
    assert emulator.resource(f"{VM}/web-02")["properties"]["instanceView"]["statuses"][1]["code"] == \
        "PowerState/stopping"
