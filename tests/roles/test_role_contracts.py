"""Every role keeps the house contract: argument specs for every variable, README generated from them,
role-prefixed variable names, tasks/main.yml only including files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.project import ROOT
from tools import role_docs

ROLES = sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
ROLE_DIRS = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())


def spec_options(role: Path) -> dict:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return specs["main"].get("options") or {}


def test_every_role_has_argument_specs() -> None:
    missing = [role.name for role in ROLE_DIRS if not (role / "meta" / "argument_specs.yml").is_file()]
    assert not missing, f"roles without meta/argument_specs.yml: {missing}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_readme_variable_table_matches_argument_specs(role: Path) -> None:
    readme = (role / "README.md").read_text()
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    assert role_docs.render(readme, role_docs.table(spec)) == readme, (
        f"roles/{role.name}/README.md drifted from its argument_specs: run python tools/role_docs.py"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_variables_are_prefixed_with_the_role_name(role: Path) -> None:
    wrong = [name for name in spec_options(role) if not name.startswith(f"{role.name}_")]
    assert not wrong, f"roles/{role.name}: variables must start with '{role.name}_': {wrong}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_option_is_typed_and_described(role: Path) -> None:
    bad = [n for n, o in spec_options(role).items() if not o.get("description") or not o.get("type")]
    assert not bad, f"roles/{role.name}: options without type or description: {bad}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_default_is_in_the_spec(role: Path) -> None:
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.is_file() else {}
    undocumented = sorted(set(defaults or {}) - set(spec_options(role)))
    assert not undocumented, f"roles/{role.name}: defaults missing from argument_specs: {undocumented}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_tasks_main_only_includes(role: Path) -> None:
    tasks = yaml.safe_load((role / "tasks" / "main.yml").read_text()) or []
    allowed = re.compile(r"^ansible\.builtin\.(include_tasks|import_tasks|include_vars|meta|assert|set_fact)$")
    offenders = []
    for task in tasks:
        if "block" in task:
            continue
        modules = [key for key in task if "." in key]
        offenders += [m for m in modules if not allowed.match(m)]
    assert not offenders, f"roles/{role.name}/tasks/main.yml should only include task files, found {offenders}"


def test_markup_is_converted() -> None:
    assert role_docs.markdown("Use C(foo) with M(ollama.platform.ollama_info) | I(x)") == (
        "Use `foo` with `ollama.platform.ollama_info` \\| `x`"
    )


def test_render_replaces_only_the_variables_section() -> None:
    readme = "# r\n\nIntro.\n\n## Variables\n\nold table\n\n## Examples\n\nkeep\n"
    result = role_docs.render(readme, "| new |\n")
    assert result.startswith("# r\n\nIntro.\n\n## Variables\n")
    assert "old table" not in result
    assert "| new |" in result
    assert result.endswith("## Examples\n\nkeep\n")
