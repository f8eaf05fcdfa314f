"""The bake hash covers every role baked into an image: each role the builder applies is in its tier's role list."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "roles" / "ami_bake" / "tasks"


def _included_roles(tasks: list[dict]) -> set[str]:
    """Names of the roles a task list includes or imports, blocks and rescues included."""
    found = set()
    for task in tasks:
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            if key in task:
                found.add(task[key]["name"])
        for nested in ("block", "rescue", "always"):
            found |= _included_roles(task.get(nested, []))
    return found


def _tier_roles() -> dict[str, list[str]]:
    return yaml.safe_load((ROOT / "roles" / "ami_bake" / "vars" / "main.yml").read_text())["__ami_bake_tier_roles"]


@pytest.mark.parametrize("tier", ["backend", "frontend"])
def test_every_role_the_builder_applies_is_hashed(tier: str) -> None:
    applied = _included_roles(yaml.safe_load((TASKS / "configure.yml").read_text()))
    applied |= _included_roles(yaml.safe_load((TASKS / f"configure_{tier}.yml").read_text()))
    missing = applied - set(_tier_roles()[tier])
    assert not missing, (
        f"the {tier} builder applies {sorted(missing)}, which __ami_bake_tier_roles.{tier} in "
        "roles/ami_bake/vars/main.yml does not list: the bake hash would not change with them. Add them to the list."
    )


def test_both_tiers_carry_the_host_hardening() -> None:
    for tier, roles in _tier_roles().items():
        hardening = {"ssh_hardening", "os_hardening"}
        assert hardening <= set(roles), f"the {tier} image is built without host hardening: {roles}"
