"""Helpers shared by the generated scenarios: the second subscription and role assignments copied to it."""
from __future__ import annotations

import copy

SUB_A = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"   # the default scenario's subscription
SUB_B = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"   # the second subscription of the generated scenarios
TENANT = "11111111-2222-3333-4444-555555555555"


def subscription(sub_id: str, display_name: str, groups: list[dict]) -> dict:
    return {"id": sub_id, "tenant": TENANT, "display_name": display_name, "resource_groups": groups}


def assignments_for(scenario: dict, sub_id: str, principals: set[str] | None = None,
                    roles: dict[str, str] | None = None) -> list[dict]:
    """The scenario's subscription-wide role assignments of the default subscription, repeated for `sub_id`
    (only those of `principals` when given; `roles` renames a role, e.g. to Reader)."""
    out = []
    for assignment in scenario["role_assignments"]:
        if assignment["scope"].rstrip("/").lower() != f"/subscriptions/{SUB_A}":
            continue
        if principals is not None and assignment["principal"] not in principals:
            continue
        copied = copy.deepcopy(assignment)
        copied["scope"] = f"/subscriptions/{sub_id}"
        copied["role"] = (roles or {}).get(copied["role"], copied["role"])
        if copied not in out:
            out.append(copied)
    return out


def base() -> dict:
    """A fresh copy of the default scenario."""
    from ..scenario import load_scenario

    return load_scenario("default")
