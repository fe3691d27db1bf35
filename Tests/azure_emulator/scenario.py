"""Scenario loading: a name under scenarios/ (a YAML file, or a generated scenario: a module there with
`build()`, listed in GENERATED), a path to a YAML file, or a dict.

A dict without `subscriptions` and `tenants` (or with `extends: <name>`) is an overlay on a base scenario
(default: `default`): its `settings` are merged key by key into the base's, every other top-level key replaces
the base's. That keeps per-test overrides short: `emu.reset({"settings": {"lro_seconds": 0}})`. A scenario file
with `extends: <name>` is such an overlay too (scenarios/benchmark.yaml).

Timing settings: `lro_seconds`, `vm_transition_seconds` and `retry_after_seconds` are the short timings the tests
run with; `latency` (null: off) is the latency profile that replaces them with Azure-shaped ones (latency.py), and
`throttling` ARM's token buckets (arm/throttling.py; off by default).
"""
from __future__ import annotations

import copy
import importlib
import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
GENERATED = ("large", "forensics")   # scenarios/<name>.py with build() -> a complete scenario

DEFAULT_SETTINGS: dict[str, Any] = {
    "lro_seconds": 0.3,            # how long a Network write (NSG, rule, NIC) stays in progress ("busy")
    "vm_transition_seconds": 1.0,  # how long a VM stays starting/stopping/deallocating
    "retry_after_seconds": 1,      # Retry-After on 202s, status polls and 429s (ARM sends 10)
    "token_lifetime_seconds": 3599,
    "auth_code_lifetime_seconds": 600,
    "page_size": 2,                # items per page of every ARM list (nextLink beyond)
    "max_rules_per_nsg": 1000,     # ARM: 1000 security rules per NSG
    "max_prefixes_per_nsg_side": 4000,  # ARM: 4000 source (and separately destination) prefixes per NSG
    "rule_priority_min": 100,
    "rule_priority_max": 4096,
    "latency": None,               # the latency profile (latency.py): null = off, or {profile: azure, scale: 0.1, ...}
    "throttling": {"enabled": False},  # ARM's token buckets (arm/throttling.py): enabled, reads/writes/deletes
    "snapshot_seconds": 0.5,       # how long a snapshot PUT / DELETE runs (Microsoft.Compute, long-running)
    "graph_page_size": 2,          # Resource Graph rows per page at most (Azure: 1000; small: paging is exercised)
    "graph_quota": 15,             # Resource Graph queries per principal per window (Azure's default)
    "graph_quota_window_seconds": 5,
    "graph_paging_needs_id": True,  # Resource Graph pages only a result with an id column (else resultTruncated)
    "graph_max_joins": 3,          # Resource Graph: joins in one query (arm/resourcegraph/limits.py)
    "graph_max_mv_expands": 2,     # mv-expands in one query (Microsoft's page says 2, and elsewhere 3)
    "graph_mv_expand_max_rows": 400,  # the largest `mv-expand ... limit N` (default without limit: 128)
}


def _resolve_name(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name or "/" in name:
        if candidate.is_file():
            return candidate
        raise FileNotFoundError(f"scenario file not found: {name}")
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted([p.stem for p in SCENARIO_DIR.glob("*.yaml")] + list(GENERATED))
        raise FileNotFoundError(f"unknown scenario {name!r}; known: {', '.join(known)}")
    return path


@lru_cache(maxsize=len(GENERATED))
def _generate(name: str) -> dict:
    """A generated scenario, built once per process (callers copy it)."""
    module = importlib.import_module(f"{__package__}.scenarios.{name}")
    return module.build()


@lru_cache(maxsize=16)
def _parse_file(path: str, mtime_ns: int) -> dict:  # noqa: ARG001 - mtime_ns keys the cache: an edited file is read again
    """A scenario file parsed once (Emulator.reset reloads the scenario before every test); callers copy it."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_scenario(scenario: str | os.PathLike | dict | None = "default") -> dict:
    """The scenario as a fresh dict (never shared with the caller), with every setting filled in."""
    if scenario is None:
        scenario = "default"
    if isinstance(scenario, dict):
        data = copy.deepcopy(scenario)
        base_name = data.pop("extends", None)
        if base_name or not ("subscriptions" in data and "tenants" in data):
            base = load_scenario(base_name or "default")
            settings = dict(base.get("settings") or {})
            settings.update(data.pop("settings", None) or {})
            base.update(data)
            base["settings"] = settings
            data = base
    elif os.fspath(scenario) in GENERATED:
        data = copy.deepcopy(_generate(os.fspath(scenario)))
    else:
        path = _resolve_name(os.fspath(scenario))
        data = copy.deepcopy(_parse_file(str(path), path.stat().st_mtime_ns))
        if data.get("extends"):
            return load_scenario(data)
    settings = dict(DEFAULT_SETTINGS)
    settings.update(data.get("settings") or {})
    data["settings"] = settings
    for key in ("tenants", "apps", "users", "managed_identities", "xsoar_registrations", "custom_roles",
                "role_assignments", "subscriptions"):
        data.setdefault(key, [])
    data["service_tags"] = _checked_service_tags(data.get("service_tags"))
    return data


def _checked_service_tags(tags: Any) -> dict[str, list[str]]:
    """`service_tags`: tag name -> its IP prefixes (they add to or replace the emulator's defaults, see
    arm/network/effective.py)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ValueError("scenario: service_tags must map a tag name to a list of IP prefixes")
    for name, prefixes in tags.items():
        if not isinstance(prefixes, list):
            raise ValueError(f"scenario: service tag {name!r} must list IP prefixes")
        for prefix in prefixes:
            try:
                ipaddress.ip_network(str(prefix), strict=False)
            except ValueError:
                raise ValueError(f"scenario: service tag {name!r}: {prefix!r} is not an IP prefix") from None
    return {str(name): [str(p) for p in prefixes] for name, prefixes in tags.items()}


def principal_ids(scenario: dict) -> dict[str, str]:
    """Every principal name a role assignment may use (app / identity name, user upn, object id) -> object id."""
    names: dict[str, str] = {}
    for app in scenario.get("apps", []):
        names[app["name"].lower()] = app["object_id"]
        names[app["client_id"].lower()] = app["object_id"]
    for mi in scenario.get("managed_identities", []):
        names[mi["name"].lower()] = mi["object_id"]
        names[mi["client_id"].lower()] = mi["object_id"]
    for user in scenario.get("users", []):
        names[user["upn"].lower()] = user["object_id"]
    for reg in scenario.get("xsoar_registrations", []):
        names[reg["registration_id"].lower()] = reg["object_id"]
    return names


def resolved_assignments(scenario: dict) -> list[dict]:
    """role_assignments with `principal` turned into an object id (unknown names are taken as object ids)."""
    names = principal_ids(scenario)
    out = []
    for a in scenario.get("role_assignments", []):
        principal = str(a.get("principal") or a.get("principal_id"))
        out.append({"principal_id": names.get(principal.lower(), principal), "role": a["role"],
                    "scope": a["scope"]})
    return out
