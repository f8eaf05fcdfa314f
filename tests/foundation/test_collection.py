"""The ollama.platform collection builds into an installable artifact and every module documents itself."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.project import ROOT

COLLECTION = ROOT / "collections" / "ansible_collections" / "ollama" / "platform"
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(out), str(COLLECTION)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    version = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
    path = out / f"ollama-platform-{version}.tar.gz"
    assert path.is_file()
    return path


def test_artifact_holds_the_modules_and_no_build_junk(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names and "FILES.json" in names
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    junk = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz")) or "/output/" in n]
    assert not junk, f"build junk in the artifact: {junk}"


def test_artifact_installs_and_lists(artifact: Path, tmp_path: Path) -> None:
    subprocess.run(
        ["ansible-galaxy", "collection", "install", "--force", "--no-deps", "-p", str(tmp_path), str(artifact)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    installed = list(tmp_path.rglob("ollama/platform/MANIFEST.json"))
    assert len(installed) == 1, f"expected one installed collection under {tmp_path}, found {installed}"
    manifest = json.loads(installed[0].read_text())
    assert manifest["collection_info"]["namespace"] == "ollama"
    assert manifest["collection_info"]["name"] == "platform"


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation_renders(module: str) -> None:
    result = subprocess.run(
        ["ansible-doc", "--json", f"ollama.platform.{module}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)[f"ollama.platform.{module}"]
    assert doc["doc"]["short_description"]
    assert doc["examples"].strip(), f"{module} has no EXAMPLES"
    assert doc["return"], f"{module} has no RETURN"
    for key, spec in doc["return"].items():
        assert {"description", "returned", "type"} <= set(spec), f"{module} RETURN {key} lacks returned/type"
    source = (COLLECTION / "plugins" / "modules" / f"{module}.py").read_text()
    assert "supports_check_mode=True" in source, f"{module} must support check mode"
