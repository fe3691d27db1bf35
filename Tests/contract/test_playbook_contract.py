"""The pack's playbooks and test playbooks use only commands, arguments and context paths the integration YAML
declares (checks in playbook_contract.py), and the checks themselves catch each kind of drift."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from Tests.contract import playbook_contract as pc

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "Packs" / "AzureContainment"
INTEGRATION = PACK / "Integrations" / "AzureContainment"
PLAYBOOKS = pc.playbook_files(PACK)


@pytest.fixture(scope="module")
def spec() -> pc.IntegrationSpec:
    return pc.IntegrationSpec.from_files(INTEGRATION / "AzureContainment.yml", INTEGRATION / "AzureContainment.py")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------------------------------------------------------
# The real playbooks
# ---------------------------------------------------------------------------------------------------------------
def test_the_pack_has_its_playbooks_and_test_playbook():
    ids = {_load(p)["id"] for p in PLAYBOOKS}
    assert {"Azure Containment - Block Attacker IPs", "Azure Containment - Isolate VM",
            "Azure Containment - Contain Host", "Azure Containment - Expire Blocks", "AzureContainment_Test"} <= ids


def test_expire_playbook_runs_only_the_expiry_over_the_nsgs_given_and_block_takes_an_expiry():
    playbook = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Expire_Blocks.yml")
    assert pc.commands_used(playbook) == ["azure-nsg-block-expire"]
    expire = next(t for t in playbook["tasks"].values() if "azure-nsg-block-expire" in str(t["task"].get("script")))
    assert expire["scriptarguments"]["nsg_name"]["complex"]["root"] == "inputs.NSGNames"
    assert expire["scriptarguments"]["dry_run"]["complex"]["root"] == "inputs.DryRun"
    assert {i["key"]: i["value"] for i in playbook["inputs"]}["DryRun"] == {"simple": "false"}
    readme = (PACK / "Playbooks" / "playbook-Azure_Containment_-_Expire_Blocks_README.md").read_text()
    assert "## Schedule it as a job" in readme
    assert "**New Job**" in readme
    block = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Block_Attacker_IPs.yml")
    task = next(t for t in block["tasks"].values() if "azure-nsg-block-ip" in str(t["task"].get("script")))
    assert task["scriptarguments"]["expires_in"] == {"complex": {"root": "inputs.ExpiresIn"}}
    assert {i["key"]: i["value"] for i in block["inputs"]}["ExpiresIn"] == {}       # default: permanent


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbook_matches_the_integration(path, spec):
    problems = pc.check_playbook(_load(path), spec, where=path.name)
    assert not problems, "The playbook drifted from the integration YAML:\n  " + "\n  ".join(problems)


def test_block_playbook_runs_the_block_and_branches_on_status_and_warning(spec):
    playbook = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Block_Attacker_IPs.yml")
    assert pc.commands_used(playbook) == ["azure-nsg-block-ip"]
    block = next(t for t in playbook["tasks"].values() if "azure-nsg-block-ip" in str(t["task"].get("script")))
    assert set(block["scriptarguments"]) >= {"ip", "nsg_name", "direction", "description"}
    read = pc.context_references(playbook["tasks"], spec.context_roots)
    assert {"AzureContainment.BlockedIP.Status", "AzureContainment.BlockedIP.Warning"} <= set(read)
    inputs = {i["key"]: i for i in playbook["inputs"]}
    assert inputs["Description"]["value"] == {"complex": {"root": "incident", "accessor": "id"}}
    assert inputs["Direction"]["value"] == {"simple": "Both"}
    assert "AzureContainment.BlockedIP.IP" in {o["contextPath"] for o in playbook["outputs"]}


def test_isolate_playbook_has_approval_power_off_with_polling_and_an_analyst_gated_release():
    playbook = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Isolate_VM.yml")
    tasks = playbook["tasks"]
    assert sorted(set(pc.commands_used(playbook))) == ["azure-vm-isolate", "azure-vm-power", "azure-vm-snapshot",
                                                      "azure-vm-unisolate"]
    power = {t["scriptarguments"]["action"]["simple"]: t for t in tasks.values()
             if "azure-vm-power" in str(t["task"].get("script"))}
    assert set(power) == {"deallocate", "start"}
    assert all(t["scriptarguments"]["polling"]["simple"] == "true" for t in power.values())
    manual = [t for t in tasks.values() if t["type"] == "condition" and not t.get("conditions")]
    assert len(manual) == 2
    assert all(set(t["nexttasks"]) == {"Yes", "No"} for t in manual)
    release = next(t for t in manual if "Release" in t["task"]["name"])
    unisolate = tasks[release["nexttasks"]["Yes"][0]]
    assert "azure-vm-unisolate" in unisolate["task"]["script"]
    # the start after release only runs when the playbook deallocated the VM
    gate = tasks[unisolate["nexttasks"]["#none#"][0]]
    assert gate["type"] == "condition"
    assert "start" in {
        tasks[t]["scriptarguments"]["action"]["simple"] for t in gate["nexttasks"]["yes"]}


def _paths(tasks: dict, start: str) -> set[str]:
    """Every task reachable from `start` (itself included)."""
    seen, todo = set(), [start]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo += [str(t) for targets in (tasks[key].get("nexttasks") or {}).values() for t in targets or []]
    return seen


def _command_task(tasks: dict, command: str, **args: str) -> str:
    return next(k for k, t in tasks.items() if str(t["task"].get("script")).endswith(f"|||{command}")
                and all((t.get("scriptarguments") or {}).get(a, {}).get("simple") == v for a, v in args.items()))


def test_isolate_playbook_takes_the_evidence_before_it_isolates_or_powers_off():
    playbook = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Isolate_VM.yml")
    tasks = playbook["tasks"]
    snapshot = _command_task(tasks, "azure-vm-snapshot")
    isolate = _command_task(tasks, "azure-vm-isolate")
    deallocate = _command_task(tasks, "azure-vm-power", action="deallocate")
    assert isolate in _paths(tasks, snapshot)
    assert deallocate in _paths(tasks, isolate)
    assert snapshot not in _paths(tasks, isolate)   # nothing after the isolation takes the evidence
    assert tasks[snapshot]["scriptarguments"]["polling"]["simple"] == "true"
    assert tasks[snapshot].get("continueonerror") is True   # a failed snapshot never blocks the containment
    inputs = {i["key"]: i for i in playbook["inputs"]}
    assert inputs["Snapshot"]["value"] == {"simple": "True"}
    assert inputs["WaitForRelease"]["value"] == {"simple": "True"}
    gate = next(k for k, t in tasks.items() if t["type"] == "condition" and "inputs.WaitForRelease" in str(t))
    release = next(k for k, t in tasks.items() if t["task"]["name"] == "Release the virtual machine from isolation?")
    assert release in _paths(tasks, gate)


def test_contain_host_finds_then_isolates_only_unambiguous_vms_and_hands_the_rest_to_an_analyst():
    playbook = _load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Contain_Host.yml")
    tasks = playbook["tasks"]
    assert pc.commands_used(playbook) == ["azure-vm-find"]
    find = _command_task(tasks, "azure-vm-find")
    loop = next(k for k, t in tasks.items() if t["type"] == "playbook")
    assert tasks[loop]["task"]["playbookId"] == "Azure Containment - Isolate VM"
    assert tasks[loop]["loop"]["forEach"] is True
    assert tasks[loop]["separatecontext"] is True
    assert loop in _paths(tasks, find)
    inputs = tasks[loop]["scriptarguments"]
    vm_ids = inputs["VMID"]["complex"]
    assert (vm_ids["root"], vm_ids["accessor"]) == ("AzureContainment.Find", "VMs.ID")
    statuses = [c for group in vm_ids["filters"] for c in group if "Status" in c["left"]["value"]["simple"]]
    assert [c["right"]["value"]["simple"] for c in statuses] == ["Found"]   # never an ambiguous candidate
    # every option reaches every iteration: one copy per Found item, the same items as VMID
    for name in ("RequireApproval", "Snapshot", "Deallocate", "WaitForRelease", "ForensicAllowIPs"):
        value = inputs[name]["complex"]
        assert value["filters"] == vm_ids["filters"], name
        assert value["transformers"][0]["operator"] == "replace", name
    assert inputs["WaitForRelease"]["complex"]["transformers"][0]["args"]["replaceWith"]["value"]["simple"] == "False"
    manual = next(k for k, t in tasks.items() if t["type"] == "regular" and not t["task"].get("script")
                  and not t["task"].get("scriptName"))
    assert "Choose the VMs" in tasks[manual]["task"]["name"]
    records = [t for t in tasks.values() if t["task"].get("scriptName") == "SetAndHandleEmpty"]
    assert {t["scriptarguments"]["key"]["simple"] for t in records} == {
        "IsolateEndpointResults(val.EndpointName && val.EndpointName == obj.EndpointName)"}
    outputs = {o["contextPath"] for o in playbook["outputs"]}
    assert {"IsolateEndpointResults.Results.Result", "IsolateEndpointResults.Results.Brand",
            "IsolateEndpointResults.Results.Message", "AzureContainment.Find.Status"} <= outputs


# ---------------------------------------------------------------------------------------------------------------
# The checks catch drift (synthetic integration + playbook, independent of the real files)
# ---------------------------------------------------------------------------------------------------------------
SPEC = pc.IntegrationSpec.from_doc({
    "commonfields": {"id": "Demo"}, "fromversion": "6.10.0",
    "script": {"commands": [
        {"name": "demo-block", "arguments": [
            {"name": "ip", "required": True, "isArray": True},
            {"name": "direction", "predefined": ["Inbound", "Outbound", "Both"]},
            {"name": "token", "hidden": True}],
         "outputs": [{"contextPath": "Demo.Blocked.IP", "description": "The address."},
                     {"contextPath": "Demo.Blocked.Status", "description": "Blocked or AlreadyBlocked."},
                     {"contextPath": "Demo.Blocked.Warning", "description": "A warning."}]}]}},
    code="warning = (f'rule {name} is evaluated before the '\n           f'block (priority {priority})')")


def _task(key, ttype, nexttasks=None, **extra):
    uid = f"00000000-0000-4000-8000-{int(key):012d}"
    inner = {"id": uid, "version": -1, "name": f"task {key}", "description": "", "iscommand": False, "brand": ""}
    inner.update(extra.pop("inner", {}))
    task = {"id": key, "taskid": uid, "type": ttype, "task": inner, **extra}
    if nexttasks:
        task["nexttasks"] = nexttasks
    return task


def _good() -> dict:
    shadow = {"complex": {"root": "Demo.Blocked", "accessor": "Warning", "filters": [[
        {"operator": "isEqualString", "left": {"value": {"simple": "Demo.Blocked.Status"}, "iscontext": True},
         "right": {"value": {"simple": "Blocked"}}}]]}}
    return {
        "id": "Demo playbook", "version": -1, "name": "Demo playbook", "starttaskid": "0", "fromversion": "6.10.0",
        "inputs": [{"key": "IP", "value": {}, "required": False, "description": ""}],
        "outputs": [{"contextPath": "Demo.Blocked.IP", "description": ""}],
        "tasks": {
            "0": _task("0", "start", {"#none#": ["1"]}),
            "1": _task("1", "regular", {"#none#": ["2"]},
                       inner={"script": "|||demo-block", "iscommand": True},
                       scriptarguments={"ip": {"complex": {"root": "inputs.IP"}}, "direction": {"simple": "Both"}}),
            "2": _task("2", "condition", {"#default#": ["4"], "yes": ["3"]}, conditions=[{"label": "yes", "condition": [
                [{"operator": "containsString", "left": {"value": shadow, "iscontext": True},
                  "right": {"value": {"simple": "is evaluated before the block"}}}]]}]),
            "3": _task("3", "regular", {"#none#": ["4"]}, inner={"description": "Look at ${Demo.Blocked.Warning}"}),
            "4": _task("4", "title"),
        },
    }


def test_the_synthetic_good_playbook_passes():
    assert pc.check_playbook(_good(), SPEC) == []


def _set(path, value):
    def mutate(playbook):
        node = playbook
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(playbook):
        node = playbook
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


def _extend_block_args(**args):
    def mutate(playbook):
        playbook["tasks"]["1"]["scriptarguments"].update(args)
    return mutate


BLOCK_SCRIPT = ("tasks", "1", "task", "script")
FILTER = ("tasks", "2", "conditions", 0, "condition", 0, 0, "left", "value", "complex", "filters", 0, 0)
DRIFT = {
    "unknown command": (_set(BLOCK_SCRIPT, "|||demo-blok"), "runs 'demo-blok', which the integration YAML does not"),
    "other brand": (_set(BLOCK_SCRIPT, "Other|||demo-block"), "script brand 'Other' is not the integration 'Demo'"),
    "iscommand missing": (_set(("tasks", "1", "task", "iscommand"), False), "runs a command but iscommand is not"),
    "undeclared argument": (_extend_block_args(nsg={"simple": "x"}), "argument 'nsg' is not declared"),
    "hidden argument": (_extend_block_args(token={"simple": "x"}), "argument 'token' is internal"),
    "required argument missing": (_delete(("tasks", "1", "scriptarguments", "ip")), "required argument 'ip'"),
    "predefined value": (_extend_block_args(direction={"simple": "Ingress"}), "direction='Ingress' is not one of"),
    "undeclared output in ${}": (_set(("tasks", "3", "task", "description"), "See ${Demo.Blocked.Rule}"),
                                 "reads 'Demo.Blocked.Rule', which no command of the integration outputs"),
    "undeclared complex accessor": (_set(FILTER[:-3] + ("accessor",), "Warnings"), "reads 'Demo.Blocked.Warnings'"),
    "undeclared filter operand": (_set(FILTER + ("left", "value", "simple"), "Demo.Blocked.State"),
                                  "reads 'Demo.Blocked.State'"),
    "undeclared playbook output": (_set(("outputs",), [{"contextPath": "Demo.Block.IP", "description": ""}]),
                                   "output 'Demo.Block.IP' is not an output of the integration"),
    "undeclared input": (_set(("inputs",), []), "reads 'inputs.IP', but the playbook has no input 'IP'"),
    "status literal not in the integration": (_set(FILTER + ("right", "value", "simple"), "Done"),
                                              "compares Demo.Blocked.Status with 'Done'"),
    "warning text not in the code": (_set(("tasks", "2", "conditions", 0, "condition", 0, 0, "right", "value",
                                           "simple"), "comes before the block"), "with 'comes before the block'"),
    "dangling branch": (_set(("tasks", "2", "nexttasks", "yes"), ["9"]), "leads to task '9', which does not exist"),
    "unreachable task": (_set(("tasks", "2", "nexttasks"), {"#default#": ["4"]}), "task 3: not reachable"),
    "taskid mismatch": (_set(("tasks", "3", "taskid"), "x"), "taskid differs from task.id"),
    "older fromversion": (_set(("fromversion",), "6.5.0"), "fromversion 6.5.0 is older than the integration's"),
}


@pytest.mark.parametrize(("mutate", "expected"), DRIFT.values(), ids=DRIFT.keys())
def test_each_kind_of_drift_is_reported(mutate, expected):
    playbook = _good()
    mutate(playbook)
    problems = pc.check_playbook(playbook, SPEC)
    assert any(expected in p for p in problems), problems


def test_code_strings_joins_implicitly_concatenated_f_strings():
    text = pc.code_strings("w = (f'Allow rule {n!r} is evaluated before the '\n     f'block') + 'plain'\n")
    assert "Allow rule \ufffd is evaluated before the block" in text.splitlines()
    assert "plain" in text.splitlines()
    assert pc.code_strings("not python (") == "not python ("


def test_dt_filters_and_indexes_are_ignored_in_paths():
    playbook = _good()
    playbook["tasks"]["3"]["task"]["description"] = "${Demo.Blocked(val.Status == 'Blocked').IP.[0]}"
    assert pc.check_playbook(playbook, SPEC) == []
    playbook["tasks"]["3"]["task"]["description"] = "${Demo.Blocked(val.Status == 'Blocked').Ip}"
    assert any("'Demo.Blocked.Ip'" in p for p in pc.check_playbook(playbook, SPEC))


def test_plain_path_arguments_of_scripts_are_checked():
    """DeleteContext key= / VerifyContext path= take a context path as a plain string."""
    playbook = _good()
    playbook["tasks"]["3"]["scriptarguments"] = {"path": {"simple": "Demo.Blocked.Statu"}}
    assert any("'Demo.Blocked.Statu'" in p for p in pc.check_playbook(playbook, SPEC))


def test_a_bad_playbook_file_in_the_pack_fails_against_the_real_integration(tmp_path, spec):
    """The same file-level path the real test takes: a playbook YAML in a pack folder, the real integration."""
    bad = copy.deepcopy(_load(PACK / "Playbooks" / "playbook-Azure_Containment_-_Block_Attacker_IPs.yml"))
    block = next(t for t in bad["tasks"].values() if "azure-nsg-block-ip" in str(t["task"].get("script")))
    block["scriptarguments"]["nsg"] = block["scriptarguments"].pop("nsg_name")
    bad["outputs"].append({"contextPath": "AzureContainment.BlockedIP.Owner", "description": ""})
    (tmp_path / "Playbooks").mkdir()
    (tmp_path / "Playbooks" / "playbook-Bad.yml").write_text(yaml.safe_dump(bad))
    problems = pc.check_files(pc.playbook_files(tmp_path), spec)
    assert any("playbook-Bad.yml" in p and "argument 'nsg' is not declared" in p for p in problems), problems
    assert any("'AzureContainment.BlockedIP.Owner' is not an output" in p for p in problems), problems
