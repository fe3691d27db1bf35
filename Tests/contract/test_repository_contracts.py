"""Repository contracts that no other test covers: offline demisto-sdk inputs, docs in sync with the YAML,
conf.json, the test playbook."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from Tests.contract import validation_config

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "Packs" / "AzureContainment"
INTEGRATION = PACK / "Integrations" / "AzureContainment"
TEST_PLAYBOOK = PACK / "TestPlaybooks" / "playbook-AzureContainment_Test.yml"


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load((INTEGRATION / "AzureContainment.yml").read_text())


def test_committed_rule_set_is_the_shipped_one_minus_the_online_checks():
    shipped = validation_config.shipped_config_path().read_text()
    expected = validation_config.derive(shipped, validation_config.installed_sdk_version())
    assert validation_config.COMMITTED.read_text() == expected, (
        "validation_config.toml differs from the rule set of the installed demisto-sdk minus the Neo4j / Docker Hub "
        "checks: regenerate it with `python -m Tests.contract.validation_config` and review the diff")


def test_rule_set_keeps_no_check_that_needs_neo4j_or_docker_hub():
    import tomllib

    config = tomllib.loads(validation_config.COMMITTED.read_text())
    for section, table in config.items():
        if isinstance(table, dict):
            for key in ("select", "warning"):
                offline_incompatible = [c for c in table.get(key, []) if validation_config.is_offline_incompatible(c)]
                assert not offline_incompatible, f"[{section}].{key} still has {offline_incompatible}"
    assert "ST111" in config["offline_git_mode"]["select"]
    assert "PA114" not in config["offline_git_mode"]["select"]


@pytest.mark.parametrize(("name", "key"), [
    ("approved_categories.json", "approved_list"), ("approved_usecases.json", "approved_list"),
    ("approved_tags.json", "approved_list"), ("core_packs_list.json", "core_packs_list"),
    ("core_packs_mpv2_list.json", "core_packs_list"), ("core_packs_xpanse_list.json", "core_packs_list"),
    ("core_packs_platform_list.json", "core_packs_list"), ("compliant_policies.json", "policies"),
])
def test_offline_config_lists_exist(name, key):
    """Without these files demisto-sdk fetches them from GitHub."""
    assert key in json.loads((ROOT / "Config" / name).read_text())


def test_pack_and_integration_categories_are_approved(doc):
    approved = json.loads((ROOT / "Config" / "approved_categories.json").read_text())["approved_list"]
    metadata = json.loads((PACK / "pack_metadata.json").read_text())
    assert doc["category"] in approved
    assert set(metadata["categories"]) <= set(approved)


def test_integration_readme_documents_every_command_argument_and_output(doc):
    readme = (INTEGRATION / "README.md").read_text()
    assert "version xx" not in readme, "fix the 'version xx' line that generate-docs writes (RM115)"
    sections = re.split(r"^### ", readme, flags=re.M)
    by_command = {s.split("\n", 1)[0].strip(): s for s in sections[1:]}
    missing = []
    for command in doc["script"]["commands"]:
        name = command["name"]
        section = by_command.get(name)
        if section is None:
            missing.append(f"command {name}")
            continue
        missing += [f"{name}: argument {a['name']}" for a in command.get("arguments") or []
                    if not a.get("hidden") and f"| {a['name']} |" not in section]  # generate-docs skips hidden
        missing += [f"{name}: output {o['contextPath']}" for o in command.get("outputs") or []
                    if f"| {o['contextPath']} |" not in section]
    missing += [f"README documents '{name}', which the YAML does not have" for name in by_command
                if name not in {c["name"] for c in doc["script"]["commands"]}]
    assert not missing, ("Integration README.md is out of sync with the YAML (regenerate with `demisto-sdk "
                         "generate-docs -i <yml> -f`, then fix the 'version xx' line):\n  " + "\n  ".join(missing))


def test_type_9_params_hide_the_username_and_every_param_has_a_section(doc):
    order = doc["sectionorder"]
    for param in doc["configuration"]:
        assert param.get("section") in order, param["name"]
        if param["type"] == 9:
            assert param.get("hiddenusername") is True, param["name"]
            assert param.get("displaypassword"), param["name"]
    names = {p["name"]: p for p in doc["configuration"]}
    assert [names[n]["displaypassword"] for n in ("auth_id", "tenant_id", "enc_key")] == ["ID", "Token", "Key"]
    assert names["subscription_id"].get("required") is True


def test_command_examples_use_declared_commands_and_arguments(doc):
    commands = {c["name"]: {a["name"] for a in c.get("arguments") or []} for c in doc["script"]["commands"]}
    checked = set()
    for line in (INTEGRATION / "command_examples").read_text().splitlines():
        if not line.strip():
            continue
        name, *rest = line.strip().lstrip("!").split(" ", 1)
        assert name in commands, line
        used = set(re.findall(r"(\w+)=", rest[0] if rest else ""))
        assert used <= commands[name], f"{line}: undeclared {used - commands[name]}"
        checked.add(name)
    # an empty or unreadable-as-commands file would pass the loop above without checking anything
    assert set(commands) - {"test-module"} <= checked, f"no example for {set(commands) - {'test-module'} - checked}"


def test_conf_json_maps_the_integration_to_its_test_playbook(doc):
    conf = json.loads((ROOT / "conf.json").read_text())
    playbook = yaml.safe_load(TEST_PLAYBOOK.read_text())
    entries = [t for t in conf["tests"] if t.get("playbookID") == playbook["id"]]
    assert entries
    assert entries[0]["integrations"] == doc["commonfields"]["id"]
    assert playbook["id"] in doc["tests"]


def test_test_playbook_is_connected_and_uses_declared_commands(doc):
    playbook = yaml.safe_load(TEST_PLAYBOOK.read_text())
    tasks = playbook["tasks"]
    reached, todo = set(), [playbook["starttaskid"]]
    while todo:
        task_id = todo.pop()
        if task_id not in reached:
            reached.add(task_id)
            for targets in (tasks[task_id].get("nexttasks") or {}).values():
                todo.extend(targets)
    assert reached == set(tasks), f"tasks not reachable from the start: {set(tasks) - reached}"
    commands = {c["name"]: {a["name"] for a in c.get("arguments") or []} for c in doc["script"]["commands"]}
    used = []
    for task in tasks.values():
        if task["task"].get("iscommand"):
            name = task["task"]["script"].split("|||")[-1]
            assert name in commands, name
            assert set(task.get("scriptarguments") or {}) <= commands[name], name
            used.append(name)
    for required in ("azure-vm-list", "azure-nsg-block-ip", "azure-nsg-unblock-ip", "azure-vm-isolate",
                     "azure-vm-unisolate"):
        assert required in used
