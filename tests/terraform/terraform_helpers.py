"""Helpers of the Terraform checks: repository paths, running terraform, parsed HCL, provider-free copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.provider_schema.check import parse_file

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
ENVIRONMENTS = ("dev", "staging", "production")
# Files that are pure functions of the variables (no provider): evaluated for real by terraform offline.
PROVIDER_FREE_FILES = ("variables.tf", "locals.tf")


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.11 (tools/bootstrap.sh warns about this)")
    return path


@pytest.fixture(scope="session")
def tf_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(TF_CLI_CONFIG_FILE="/dev/null", TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    env.pop("TF_WORKSPACE", None)
    return env


def run_terraform(
    terraform_bin: str, args: list[str], cwd: Path, env: dict[str, str], timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform_bin, *args, "-no-color"] if args[0] not in ("fmt", "workspace") else [terraform_bin, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def provider_free_copy(tmp_path: Path, terraform_bin: str, tf_env: dict[str, str]) -> Iterator[Path]:
    """A folder with variables.tf and locals.tf (plus what a test adds), initialised without any provider."""
    for name in PROVIDER_FREE_FILES:
        shutil.copy(TERRAFORM_DIR / name, tmp_path / name)
    (tmp_path / "names_output.tf").write_text(
        'output "names" {\n  value = local.names\n}\n\noutput "name_prefix" {\n  value = local.name_prefix\n}\n'
        'output "tags" {\n  value = local.tags\n}\n'
    )
    init = run_terraform(terraform_bin, ["init", "-input=false", "-backend=false"], tmp_path, tf_env)
    assert init.returncode == 0, init.stdout + init.stderr
    yield tmp_path


@pytest.fixture(scope="session")
def hcl() -> dict[str, dict[str, Any]]:
    """Every terraform/*.tf file parsed (blocks marked with __is_block__)."""
    return {path.name: parse_file(path) for path in sorted(TERRAFORM_DIR.glob("*.tf"))}


def blocks(hcl: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(file, type, name, body) of every resource/data block; (file, name, "", body) for variable/output."""
    for filename, doc in hcl.items():
        for group in doc.get(kind, []):
            for first, value in group.items():
                if first == "__is_block__":
                    continue
                if kind in ("resource", "data", "ephemeral"):
                    for name, body in value.items():
                        if name != "__is_block__":
                            yield filename, first, name, body
                else:
                    yield filename, first, "", value


def read_tfvars(environment: str) -> dict[str, Any]:
    return parse_file(TERRAFORM_DIR / "environments" / f"{environment}.tfvars")
