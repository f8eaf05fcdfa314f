"""The molecule stage runs exactly the listed scenarios: a deleted or an unlisted scenario fails it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.project import ROOT
from tools import molecule_scenarios


def fake_root(tmp_path: Path, scenarios: tuple[str, ...]) -> Path:
    """A project tree holding only the given scenarios and the stage's own scripts."""
    for scenario in scenarios:
        (tmp_path / scenario).mkdir(parents=True)
        (tmp_path / scenario / "molecule.yml").write_text("---\n")
    (tmp_path / "tools").mkdir(exist_ok=True)
    for name in ("__init__.py", "molecule_scenarios.py", "run_tests.sh"):
        shutil.copy2(ROOT / "tools" / name, tmp_path / "tools" / name)
    return tmp_path


def test_the_tree_holds_exactly_the_listed_scenarios():
    assert molecule_scenarios.discover(ROOT) == sorted(molecule_scenarios.EXPECTED)
    assert molecule_scenarios.problems(molecule_scenarios.discover(ROOT)) == []


def test_a_missing_scenario_is_named_with_the_fix(tmp_path: Path):
    planted = fake_root(tmp_path, molecule_scenarios.EXPECTED[1:])
    assert molecule_scenarios.problems(molecule_scenarios.discover(planted)) == [
        f"molecule scenario {molecule_scenarios.EXPECTED[0]} is missing (no {molecule_scenarios.EXPECTED[0]}"
        "/molecule.yml): restore it, or remove it from EXPECTED in tools/molecule_scenarios.py if it was deleted "
        "on purpose"
    ]


def test_an_unlisted_scenario_is_named(tmp_path: Path):
    planted = fake_root(tmp_path, (*molecule_scenarios.EXPECTED, "roles/new_role/molecule/default"))
    assert molecule_scenarios.problems(molecule_scenarios.discover(planted)) == [
        "molecule scenario roles/new_role/molecule/default is not listed: add it to EXPECTED in "
        "tools/molecule_scenarios.py"
    ]


@pytest.mark.parametrize("drop", [0, 3, 5])
def test_the_molecule_stage_fails_on_a_planted_missing_scenario_before_running_molecule(tmp_path: Path, drop: int):
    kept = tuple(s for i, s in enumerate(molecule_scenarios.EXPECTED) if i != drop)
    planted = fake_root(tmp_path, kept)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", str(planted / "tools" / "run_tests.sh"), "molecule"],
        cwd=planted, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert f"molecule scenario {molecule_scenarios.EXPECTED[drop]} is missing" in proc.stderr
    assert re.search(r"^  molecule +FAILED", proc.stdout, re.MULTILINE)
    assert "-- molecule test:" not in proc.stdout


def test_the_listing_prints_one_scenario_per_line():
    proc = subprocess.run(
        [sys.executable, "-m", "tools.molecule_scenarios"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.split() == list(molecule_scenarios.EXPECTED)
