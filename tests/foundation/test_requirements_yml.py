"""requirements.yml (for Galaxy users) must describe the collections we actually run with."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.project import ROOT

REQUIRED = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]


def satisfies(installed: str, constraint: str) -> bool:
    """Galaxy semantics: a bare version means exactly that version, otherwise a comma-separated range."""
    constraint = constraint.strip()
    if constraint in ("", "*"):
        return True
    if constraint[0].isdigit():
        return Version(installed) == Version(constraint)
    return Version(installed) in SpecifierSet(constraint.replace(" ", ""))


@pytest.fixture(scope="module")
def installed() -> dict[str, str]:
    listing = subprocess.run(
        ["ansible-galaxy", "collection", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    versions: dict[str, str] = {}
    for collections in json.loads(listing.stdout).values():
        for name, details in collections.items():
            versions.setdefault(name, details["version"])
    return versions


@pytest.mark.parametrize("requirement", REQUIRED, ids=[r["name"] for r in REQUIRED])
def test_installed_collection_satisfies_requirements_yml(requirement: dict, installed: dict[str, str]) -> None:
    name, constraint = requirement["name"], str(requirement["version"])
    assert name in installed, f"{name} is in requirements.yml but not installed: run 'make setup'"
    assert satisfies(installed[name], constraint), (
        f"{name} {installed[name]} is installed but requirements.yml asks for {constraint}: update one of them"
    )


@pytest.mark.parametrize(
    ("installed_version", "constraint", "expected"),
    [
        ("10.1.2", "10.1.2", True),
        ("10.1.3", "10.1.2", False),
        ("10.1.3", ">=10.0.0,<11.0.0", True),
        ("11.0.0", ">=10.0.0,<11.0.0", False),
    ],
)
def test_satisfies_follows_galaxy_semantics(installed_version: str, constraint: str, expected: bool) -> None:
    assert satisfies(installed_version, constraint) is expected


def test_every_collection_the_code_uses_is_required() -> None:
    """Any FQCN namespace.collection used in playbooks and roles must be listed (or be ansible.builtin / ours)."""
    import re

    used: set[str] = set()
    pattern = re.compile(
        r"\b(amazon\.aws|community\.aws|community\.general|ansible\.posix|containers\.podman|"
        r"community\.crypto|ansible\.utils|ansible\.netcommon|community\.postgresql)\.[a-z_]+"
    )
    for path in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/**/*.yml"), ROOT / "site.yml"]:
        if path.is_file() and "molecule" not in path.parts:
            used.update(match.group(1) for match in pattern.finditer(path.read_text()))
    listed = {r["name"] for r in REQUIRED}
    assert used <= listed, f"collections used but missing from requirements.yml: {sorted(used - listed)}"
