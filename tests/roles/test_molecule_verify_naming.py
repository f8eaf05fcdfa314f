"""Variables a molecule scenario registers or sets share one prefix style: ``__<role or bench>_molecule_`` (ansible-lint
wants the role's prefix; the leading underscores keep them out of the role's check for undeclared variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.project import ROOT
from tools.molecule_scenarios import EXPECTED


def defined_variables(tasks: Any) -> list[str]:
    """Names registered or set (set_fact) by the tasks of a play list, blocks included."""
    names: list[str] = []
    for item in tasks or []:
        if not isinstance(item, dict):
            continue
        for key in ("tasks", "pre_tasks", "post_tasks", "block", "rescue", "always"):
            names += defined_variables(item.get(key))
        if isinstance(item.get("register"), str):
            names.append(item["register"])
        for module in ("ansible.builtin.set_fact", "set_fact"):
            if isinstance(item.get(module), dict):
                names += [k for k in item[module] if k != "cacheable"]
    return names


def prefix(scenario: str) -> str:
    return f"__{Path(scenario.split('/molecule/')[0]).name}_molecule_"


def misnamed(scenario_dir: Path, expected_prefix: str) -> list[str]:
    bad = []
    for playbook in sorted(scenario_dir.rglob("*.yml")):
        for name in defined_variables(yaml.safe_load(playbook.read_text())):
            if not name.startswith(expected_prefix):
                bad.append(f"{playbook.relative_to(scenario_dir.parents[3])}: {name} (use {expected_prefix}...)")
    return bad


@pytest.mark.parametrize("scenario", EXPECTED)
def test_scenario_variables_use_the_molecule_prefix(scenario: str):
    assert misnamed(ROOT / scenario, prefix(scenario)) == []


def test_a_planted_variable_without_the_prefix_is_named(tmp_path: Path):
    scenario = tmp_path / "roles" / "demo" / "molecule" / "default"
    scenario.mkdir(parents=True)
    (scenario / "verify.yml").write_text(
        "- hosts: all\n  tasks:\n    - block:\n        - command: id\n          register: _demo_id\n"
        "    - ansible.builtin.set_fact:\n        __demo_molecule_ok: true\n"
    )
    assert misnamed(scenario, "__demo_molecule_") == [
        "roles/demo/molecule/default/verify.yml: _demo_id (use __demo_molecule_...)"
    ]
