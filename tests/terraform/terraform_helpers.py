"""Helpers of the Terraform checks: repository paths, running terraform, parsed HCL, provider-free copies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.hcl_eval import Evaluator, environment_variables, load_configuration
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


NAMES_OUTPUT = """
output "names" {
  value = local.names
}

output "name_prefix" {
  value = local.name_prefix
}

output "tags" {
  value = local.tags
}

output "log_groups" {
  value = local.log_groups
}
"""


def make_provider_free_copy(
    folder: Path, terraform_bin: str, env: dict[str, str], extra_files: tuple[str, ...] = ()
) -> Path:
    """variables.tf and locals.tf (plus extra_files from terraform/) and outputs of the naming locals, initialised
    without any provider or backend: terraform evaluates them for real, offline."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*PROVIDER_FREE_FILES, *extra_files):
        shutil.copy(TERRAFORM_DIR / name, folder / name)
    (folder / "names_output.tf").write_text(NAMES_OUTPUT)
    init = run_terraform(terraform_bin, ["init", "-input=false", "-backend=false"], folder, env)
    assert init.returncode == 0, init.stdout + init.stderr
    return folder


@pytest.fixture
def provider_free_copy(tmp_path: Path, terraform_bin: str, tf_env: dict[str, str]) -> Iterator[Path]:
    yield make_provider_free_copy(tmp_path / "root", terraform_bin, tf_env)


@pytest.fixture(scope="session")
def evaluated_names(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str, tf_env: dict[str, str]) -> dict:
    """Per environment: the naming locals as Terraform evaluates them with that environment's tfvars."""
    result = {}
    for environment in ENVIRONMENTS:
        folder = make_provider_free_copy(tmp_path_factory.mktemp(f"names-{environment}"), terraform_bin, tf_env)
        tfvars = TERRAFORM_DIR / "environments" / f"{environment}.tfvars"
        apply = run_terraform(
            terraform_bin, ["apply", "-auto-approve", "-input=false", f"-var-file={tfvars}"], folder, tf_env
        )
        assert apply.returncode == 0, apply.stdout + apply.stderr
        output = run_terraform(terraform_bin, ["output", "-json"], folder, tf_env)
        assert output.returncode == 0, output.stderr
        result[environment] = {key: value["value"] for key, value in json.loads(output.stdout).items()}
    return result


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


PARSED_MARK = "__is_block__"


def one(value: Any) -> Any:
    """A block or attribute python-hcl2 wraps in a one-element list, unwrapped."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


class ParsedRoot:
    """A Terraform root module's blocks, parsed offline (locals, variables, outputs, resources, data sources)."""

    def __init__(self, root: Path) -> None:
        from tools.provider_schema.check import parse_file

        docs = [parse_file(p) for p in sorted(root.glob("*.tf"))]

        def merged(kind: str) -> dict[str, Any]:
            return {k: v for d in docs for g in d.get(kind, []) for k, v in g.items() if k != PARSED_MARK}

        self.locals = merged("locals")
        self.variables = merged("variable")
        self.outputs = merged("output")
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        for doc in docs:
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for group in doc.get(kind, []):
                    for rtype, instances in group.items():
                        if rtype != PARSED_MARK:
                            target.update({(rtype, n): b for n, b in instances.items() if n != PARSED_MARK})

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}


def planted_copy(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    """A copy of terraform/ with one planted mistake: ``old`` (exactly once in ``filename``) replaced by ``new``, or
    the whole file written as ``new`` when ``old`` is empty."""
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    target = copy / filename
    if old:
        text = target.read_text()
        assert text.count(old) == 1, f"the planted mistake needs exactly one '{old}' in {filename}: update this test"
        target.write_text(text.replace(old, new))
    else:
        target.write_text(new)
    return copy


ZONES = "data.aws_availability_zones.available"


def evaluator(
    environment: str, terraform_dir: Path = TERRAFORM_DIR, variables: dict[str, Any] | None = None
) -> Evaluator:
    """One environment's configuration evaluated offline (tools/hcl_eval.py) with its tfvars (or the variables
    given: a DR stack's, stack_variables). The zone lookup is answered as AWS answers it when every zone its filter
    names exists (data.tf's postcondition refuses fewer)."""
    documents = load_configuration(terraform_dir)
    if variables is None:
        variables = environment_variables(documents, terraform_dir / "environments" / f"{environment}.tfvars")
    plain = Evaluator(documents, variables)
    filters = plain.blocks(plain.resources[ZONES], "filter")
    (names,) = [plain.value(f["values"], scope) for f, scope in filters if plain.value(f["name"]) == "zone-name"]
    return Evaluator(documents, variables, answers={ZONES: {"names": sorted(names)}})


DR_RECREATE = REPO_ROOT / "playbooks" / "tasks" / "dr_recreate.yml"
# The substitutions playbooks/tasks/dr_recreate.yml makes to the environment's tfvars for a DR stack ("Write the
# Terraform variables"): (pattern, replacement with {dr_region}/{primary}), in its order.
DR_TFVARS_SUBSTITUTIONS = (
    (r"(?m)^(\s*)aws_region(\s*)=.*$", r'\1aws_region\2= "{dr_region}"'),
    (r"(?m)^(\s*)dr_region(\s*)=.*$", r'\1dr_region\2= "{primary}"'),
    (r"(?m)^\s*dr_(mode|uploads_bucket|database_backup_arn)\s*=.*\n?", ""),
)
# The replicated automated backups dr.yml finds in the DR region (dr_region_data's database_backup_arn).
DR_DATABASE_BACKUP_ARN = "arn:aws:rds:us-west-2:123456789012:auto-backup:ab-abcdefghijklmnopqrstuvwxyz1234"


def dr_stack_tfvars(environment: str, mode: str, uploads_bucket: str, terraform_dir: Path = TERRAFORM_DIR) -> str:
    """The variables file playbooks/dr.yml writes for a DR stack of an environment (regions swapped, dr_mode and the
    uploads bucket it runs on set)."""
    text = (terraform_dir / "environments" / f"{environment}.tfvars").read_text()
    regions = parse_file(terraform_dir / "environments" / f"{environment}.tfvars")
    for pattern, replacement in DR_TFVARS_SUBSTITUTIONS:
        text = re.sub(pattern, replacement.format(dr_region=regions["dr_region"], primary=regions["aws_region"]), text)
    return (
        f'{text}\ndr_mode = "{mode}"\ndr_uploads_bucket = "{uploads_bucket}"\n'
        f'dr_database_backup_arn = "{DR_DATABASE_BACKUP_ARN}"\n'
    )


def stack_variables(environment: str, mode: str = "", uploads_bucket: str = "", terraform_dir: Path = TERRAFORM_DIR):
    """An environment's variables as Terraform gets them: the primary stack's (mode "") or a DR stack's, from the
    variables file dr.yml writes."""
    documents = load_configuration(terraform_dir)
    tfvars = terraform_dir / "environments" / f"{environment}.tfvars"
    if not mode:
        return environment_variables(documents, tfvars)
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / f"{environment}-dr.tfvars"
        written.write_text(dr_stack_tfvars(environment, mode, uploads_bucket, terraform_dir))
        return environment_variables(documents, written)
