"""The integration's YAML and code agree: commands, arguments, flags and params (see consistency.py).

The first group runs the checks on the real AzureContainment.yml / AzureContainment.py; the second group runs
them on small synthetic inputs so that a checker that silently finds nothing cannot pass.
"""
from __future__ import annotations

import textwrap
from typing import Any
from pathlib import Path

import pytest
import yaml

from Tests.contract import consistency as cc

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "Packs" / "AzureContainment" / "Integrations" / "AzureContainment"
# The commands that change Azure (design.md): execution: true on exactly these; polling: true on the power and
# snapshot commands.
AZURE_CHANGING = {"azure-nsg-block-ip", "azure-nsg-unblock-ip", "azure-vm-isolate", "azure-vm-unisolate",
                  "azure-vm-power", "azure-vm-snapshot", "azure-nsg-block-expire"}
POLLING = {"azure-vm-power", "azure-vm-snapshot"}


def _fail_on(problems: list[str], what: str) -> None:
    assert not problems, f"{what}:\n  - " + "\n  - ".join(problems)


@pytest.fixture(scope="module")
def doc() -> dict:
    return yaml.safe_load((INTEGRATION / "AzureContainment.yml").read_text())


@pytest.fixture(scope="module")
def facts() -> cc.CodeFacts:
    source = (INTEGRATION / "AzureContainment.py").read_text()
    try:
        return cc.analyse_code(source)
    except cc.ConsistencyError as exc:
        pytest.fail(f"AzureContainment.py cannot be checked against its YAML: {exc}")


# ---------------------------------------------------------------------------------------------------------------
# The real integration
# ---------------------------------------------------------------------------------------------------------------
def test_every_yaml_command_is_dispatched_and_every_dispatched_command_is_declared(facts, doc):
    _fail_on(cc.check_dispatch(facts, doc), "YAML commands and main()'s dispatch table disagree")


def test_every_argument_the_code_reads_is_declared(facts, doc):
    _fail_on(cc.check_args(facts, doc), "command functions read arguments the YAML does not declare")


def test_execution_true_exactly_on_the_azure_changing_commands(doc):
    _fail_on(cc.check_flag(doc, "execution", AZURE_CHANGING), "execution flags are wrong")


def test_polling_true_exactly_on_the_polling_commands(doc):
    _fail_on(cc.check_flag(doc, "polling", POLLING), "polling flags are wrong")


def test_every_param_the_code_reads_is_declared(facts, doc):
    _fail_on(cc.check_params(facts, doc), "the code reads instance params the YAML does not declare")


def test_yaml_param_defaults_equal_the_code_fallbacks(facts, doc):
    _fail_on(cc.check_param_defaults(facts, doc), "YAML defaultvalue and the code's fallback differ")


def test_the_checker_sees_the_real_code(facts, doc):
    """Guard against a checker that reads nothing: the real code must yield reads for the main commands."""
    assert facts.dispatch, "no dispatch table found"
    block = facts.dispatch.get("azure-nsg-block-ip")
    assert block, "azure-nsg-block-ip's function reads no 'ip' argument?"
    assert "ip" in cc.args_read(facts, block), "azure-nsg-block-ip's function reads no 'ip' argument?"
    assert "subscription_id" in facts.params_read, "the code reads no 'subscription_id' param?"


# ---------------------------------------------------------------------------------------------------------------
# The checker itself, on synthetic inputs
# ---------------------------------------------------------------------------------------------------------------
GOOD_CODE = textwrap.dedent('''
    import demistomock as demisto
    from CommonServerPython import *

    def _scope(client, args):
        return args.get('subscription_id'), args.get('resource_group')

    def _nsg(args, default):
        return args.get('nsg_name') or default

    def block_command(client, args):
        ips = argToList(args['ip'])
        sub, rg = _scope(client, args)
        nsg = _nsg(args=args, default=client.default_nsg_name)
        dry = 'dry_run' in args
        return ips, sub, rg, nsg, dry

    def list_command(client, args):
        return demisto.args().get('limit')

    def test_module(client):
        return 'ok'

    def build_client(params):
        cloud = params.get('azure_cloud', 'Worldwide')
        url = params.get('token_retrieval_url') or 'https://oproxy.example/obtain-token'
        secret = params.get('enc_key', {}).get('password')
        verify = not params.get('insecure', False)
        return cloud, url, secret, verify

    def main():
        params = demisto.params()
        command = demisto.command()
        sub = params['subscription_id']
        client = build_client(params)
        if command == 'test-module':
            return_results(test_module(client))
            return
        commands = {'azure-x-block': block_command, 'azure-x-list': list_command}
        if command not in commands:
            return_error(f"Command '{command}' is not implemented")
        return_results(commands[command](client, demisto.args()))
''')

GOOD_DOC: dict[str, Any] = {
    "configuration": [
        {"name": "azure_cloud", "type": 15, "defaultvalue": "Worldwide"},
        {"name": "token_retrieval_url", "type": 0, "defaultvalue": "https://oproxy.example/obtain-token"},
        {"name": "enc_key", "type": 9},
        {"name": "insecure", "type": 8},
        {"name": "subscription_id", "type": 0},
    ],
    "script": {"commands": [
        {"name": "test-module", "description": "-", "arguments": []},
        {"name": "azure-x-block", "execution": True, "arguments": [
            {"name": n} for n in ("ip", "subscription_id", "resource_group", "nsg_name", "dry_run")]},
        {"name": "azure-x-list", "arguments": [{"name": "limit"}]},
    ]},
}


def _doc(**changes) -> dict:
    doc = yaml.safe_load(yaml.safe_dump(GOOD_DOC))
    for key, value in changes.items():
        doc[key] = value
    return doc


def _commands(doc: dict) -> dict:
    return {c["name"]: c for c in doc["script"]["commands"]}


def test_checker_accepts_a_consistent_pair():
    facts = cc.analyse_code(GOOD_CODE)
    assert facts.dispatch == {"azure-x-block": "block_command", "azure-x-list": "list_command"}
    assert facts.special_cased == {"test-module"}
    assert cc.args_read(facts, "block_command") == {"ip", "subscription_id", "resource_group", "nsg_name", "dry_run"}
    assert cc.args_read(facts, "list_command") == {"limit"}
    assert set(facts.params_read) == {"azure_cloud", "token_retrieval_url", "enc_key", "insecure", "subscription_id"}
    assert cc.check_dispatch(facts, GOOD_DOC) == []
    assert cc.check_args(facts, GOOD_DOC) == []
    assert cc.check_flag(GOOD_DOC, "execution", {"azure-x-block"}) == []
    assert cc.check_params(facts, GOOD_DOC) == []
    assert cc.check_param_defaults(facts, GOOD_DOC) == []


def test_checker_finds_a_yaml_command_main_does_not_dispatch():
    doc = _doc()
    doc["script"]["commands"].append({"name": "azure-x-extra", "arguments": []})
    assert cc.check_dispatch(cc.analyse_code(GOOD_CODE), doc) == [
        "YAML command 'azure-x-extra' is not dispatched by main()"]


def test_checker_finds_a_dispatched_command_the_yaml_lacks():
    doc = _doc()
    doc["script"]["commands"] = [c for c in doc["script"]["commands"] if c["name"] != "azure-x-list"]
    assert cc.check_dispatch(cc.analyse_code(GOOD_CODE), doc) == [
        "main() dispatches 'azure-x-list', which the YAML does not declare"]


def test_checker_finds_a_yaml_test_module_that_main_does_not_handle():
    code = GOOD_CODE.replace("if command == 'test-module':", "if False:")
    assert cc.check_dispatch(cc.analyse_code(code), GOOD_DOC) == [
        "YAML command 'test-module' is not dispatched by main()"]


@pytest.mark.parametrize("undeclared", ["ip", "subscription_id", "nsg_name", "dry_run"])
def test_checker_finds_undeclared_arguments_read_directly_and_in_helpers(undeclared):
    """ip: args['x'] in the function; subscription_id: positional helper; nsg_name: keyword helper; dry_run: in."""
    doc = _doc()
    block = _commands(doc)["azure-x-block"]
    block["arguments"] = [a for a in block["arguments"] if a["name"] != undeclared]
    assert cc.check_args(cc.analyse_code(GOOD_CODE), doc) == [
        f"block_command() ('azure-x-block') reads argument '{undeclared}', which the YAML does not declare for "
        f"'azure-x-block'"]


def test_checker_finds_undeclared_argument_read_through_demisto_args():
    doc = _doc()
    _commands(doc)["azure-x-list"]["arguments"] = []
    assert cc.check_args(cc.analyse_code(GOOD_CODE), doc) == [
        "list_command() ('azure-x-list') reads argument 'limit', which the YAML does not declare for 'azure-x-list'"]


def test_checker_finds_wrong_execution_flags():
    doc = _doc()
    _commands(doc)["azure-x-block"].pop("execution")
    _commands(doc)["azure-x-list"]["execution"] = True
    assert cc.check_flag(doc, "execution", {"azure-x-block"}) == [
        "'azure-x-block' must have `execution: true`",
        "'azure-x-list' has `execution: true` but is not one of ['azure-x-block']"]
    _commands(doc)["azure-x-block"]["execution"] = "true"
    assert "'azure-x-block': `execution` must be the boolean true, not 'true'" in cc.check_flag(
        doc, "execution", {"azure-x-block"})


def test_checker_finds_an_undeclared_param():
    doc = _doc(configuration=[p for p in GOOD_DOC["configuration"] if p["name"] != "subscription_id"])
    assert cc.check_params(cc.analyse_code(GOOD_CODE), doc) == [
        "the code reads param 'subscription_id', which the YAML configuration does not declare"]


def test_checker_reads_params_through_aliases_and_demisto_params():
    code = GOOD_CODE + "\n\ndef other():\n    p = demisto.params()\n    return p.get('proxy'), demisto.params()['x']\n"
    facts = cc.analyse_code(code)
    assert {"proxy", "x"} <= set(facts.params_read)


@pytest.mark.parametrize(("param", "yaml_default", "message"), [
    ("azure_cloud", "Public", "param 'azure_cloud': the code falls back to 'Worldwide' but the YAML defaultvalue "
                              "is 'Public'"),
    ("token_retrieval_url", None, "param 'token_retrieval_url': the code falls back to "
                                  "'https://oproxy.example/obtain-token' but the YAML defaultvalue is "
                                  "'(no defaultvalue)'"),
    ("insecure", "true", "param 'insecure': the code falls back to False but the YAML defaultvalue is 'true'"),
])
def test_checker_finds_default_mismatches(param, yaml_default, message):
    doc = _doc()
    for p in doc["configuration"]:
        if p["name"] == param:
            p.pop("defaultvalue", None)
            if yaml_default is not None:
                p["defaultvalue"] = yaml_default
    assert cc.check_param_defaults(cc.analyse_code(GOOD_CODE), doc) == [message]


def test_checker_treats_a_false_checkbox_default_as_false():
    doc = _doc()
    next(p for p in doc["configuration"] if p["name"] == "insecure")["defaultvalue"] = "false"
    assert cc.check_param_defaults(cc.analyse_code(GOOD_CODE), doc) == []


def test_checker_explains_a_main_without_dispatch_table():
    skeleton = "def main():\n    return_error('Not configured yet')\n"
    with pytest.raises(cc.ConsistencyError, match="main\\(\\) has no dispatch table"):
        cc.analyse_code(skeleton)
    with pytest.raises(cc.ConsistencyError, match="no module-level main"):
        cc.analyse_code("x = 1\n")


def test_checker_resolves_or_chains_and_module_constants():
    code = textwrap.dedent('''
        DEFAULT_URL = 'https://oproxy.example/obtain-token'
        WORLDWIDE = 'Worldwide'
        DEFAULT_CLOUD = WORLDWIDE

        def build_client(params):
            url = (params.get('token_retrieval_url') or '').strip() or DEFAULT_URL
            cloud = params.get('azure_cloud') or DEFAULT_CLOUD
            rg = (params.get('resource_group') or '').strip()
            return url, cloud, rg

        def main():
            return {'azure-x-list': build_client}
    ''')
    facts = cc.analyse_code(code)
    assert facts.params_read["token_retrieval_url"] == ["https://oproxy.example/obtain-token"]
    assert facts.params_read["azure_cloud"] == ["Worldwide"]
    assert facts.params_read["resource_group"] == [""]
    doc = _doc(configuration=GOOD_DOC["configuration"] + [{"name": "resource_group", "type": 0}])
    assert cc.check_param_defaults(facts, doc) == []
    next(p for p in doc["configuration"] if p["name"] == "azure_cloud")["defaultvalue"] = "China"
    assert cc.check_param_defaults(facts, doc) == [
        "param 'azure_cloud': the code falls back to 'Worldwide' but the YAML defaultvalue is 'China'"]
