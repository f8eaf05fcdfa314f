"""provision.yml drives Terraform for real: the provider-free stand-in root (same variables and outputs as
terraform/), the S3 backend with DynamoDB locking on the emulator, one workspace per environment, the
environment's var file, check mode = plan, outputs as facts, a held lock stops the run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import hcl2
import pytest
import yaml

from tests.ansible_runner import ROOT, ansible_env, run_playbook

pytestmark = pytest.mark.emulator

BUCKET = "ollama-tfstate-123456789012-us-east-1"
STATE_KEY = "env:/dev/ollama/terraform.tfstate"


@pytest.fixture
def dev_inventory(aws, tmp_path) -> Path:
    if shutil.which("terraform") is None:
        pytest.fail("terraform not found on PATH: install Terraform 1.11 (make setup)")
    inv = tmp_path / "inventories" / "dev"
    (inv / "group_vars").mkdir(parents=True)
    settings = {
        "platform_environment": "dev",
        "platform_provisioner": "terraform",
        "platform_aws_region": "us-east-1",
        "platform_aws_endpoint_url": aws,
        "platform_aws_access_key": "testing",
        "platform_aws_secret_key": "testing",
        "platform_allowed_account_ids": ["123456789012"],
        "platform_webui_admin_email": "admin@example.com",
        "platform_terraform_project_path": "terraform/standin",
        "platform_terraform_lock_timeout": 2,
        "platform_state_backend_extra": {
            "use_path_style": "true",
            "skip_credentials_validation": "true",
            "skip_requesting_account_id": "true",
            "skip_metadata_api_check": "true",
            "skip_region_validation": "true",
        },
    }
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    (inv / "hosts.yml").write_text("all: {}\n")
    return inv


def _env(tmp_path: Path) -> dict[str, str]:
    return ansible_env(TF_CLI_CONFIG_FILE="/dev/null", TF_DATA_DIR=str(tmp_path / "tf-data"))


STATE = {
    "bucket": BUCKET,
    "dynamodb_table": "ollama-tfstate-lock",
    "region": "us-east-1",
    "encrypt": "true",
    "key": "ollama/terraform.tfstate",
}


def _bootstrap_and_preflight(inventory: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """Bootstrap the backend, check that preflight accepts it, then drop its TLS-only policy.

    The emulator speaks plain HTTP, and the TLS-only policy (correctly) denies plain-HTTP object access to the
    state; Terraform must read and write the state here, so the test removes the policy after preflight.
    """
    proc, _ = run_playbook(ROOT / "playbooks" / "bootstrap_state.yml", tmp_path, inventory=inventory, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc, _ = run_playbook(ROOT / "playbooks" / "preflight.yml", tmp_path, inventory=inventory, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Refuse a missing or unsafe state backend" in proc.stdout
    boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)


def _provision(inventory: Path, tmp_path: Path, env: dict[str, str], check: bool = False, **extra):
    return run_playbook(
        "provision_outputs.yml", tmp_path, {"platform_state": STATE, **extra}, inventory=inventory, env=env, check=check
    )


def test_standin_has_the_real_interface():
    def names(path: Path, block: str) -> set[str]:
        found: set[str] = set()
        for file in sorted(path.glob("*.tf")):
            with file.open() as handle:
                for item in hcl2.load(handle).get(block, []):
                    found.update(k.strip('"') for k in item)
        return found

    real, standin = ROOT / "terraform", ROOT / "terraform" / "standin"
    assert names(standin, "output") == names(real, "output")
    assert names(standin, "variable") == names(real, "variable")
    assert len(names(real, "output")) >= 15


def test_plan_apply_outputs_and_idempotence(dev_inventory, tmp_path):
    env = _env(tmp_path)
    _bootstrap_and_preflight(dev_inventory, tmp_path, env)

    proc, result = _provision(dev_inventory, tmp_path, env, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "terraform_data.stack will be created" in proc.stdout or "Plan:" in proc.stdout, proc.stdout
    s3 = boto3.client("s3")
    if s3.list_objects_v2(Bucket=BUCKET, Prefix=STATE_KEY).get("KeyCount", 0):  # the new workspace's empty state
        planned = json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
        assert planned["resources"] == [] and planned["outputs"] == {}, "check mode applied something"

    proc, result = _provision(dev_inventory, tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = result["outputs"]
    assert outputs["ollama_environment"] == "dev"
    assert outputs["ollama_backend_asg_name"] == "ollama-dev-asg"
    assert outputs["ollama_resource_names"]["frontend_asg"] == "ollama-dev-frontend-asg"
    state = json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read())
    assert state["outputs"]["ollama_data_table_name"]["value"] == "ollama-dev-data-table"

    proc, _ = _provision(dev_inventory, tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"TASK \[Run Terraform in workspace dev\] \**\nok: \[localhost\]", proc.stdout), proc.stdout


def test_held_lock_stops_the_run(dev_inventory, tmp_path):
    env = _env(tmp_path)
    _bootstrap_and_preflight(dev_inventory, tmp_path, env)
    boto3.client("dynamodb").put_item(
        TableName="ollama-tfstate-lock",
        Item={
            "LockID": {"S": f"{BUCKET}/{STATE_KEY}"},
            "Info": {"S": json.dumps({"ID": "1f0c2b7e-held", "Operation": "OperationTypeApply", "Who": "other@ci"})},
        },
    )
    proc, _ = _provision(dev_inventory, tmp_path, env)
    assert proc.returncode != 0
    assert "failed to lock s3 state" in proc.stdout, proc.stdout
    assert "ID:        1f0c2b7e-held" in proc.stdout, proc.stdout


def test_var_file_of_another_environment_is_refused(dev_inventory, tmp_path):
    env = _env(tmp_path)
    _bootstrap_and_preflight(dev_inventory, tmp_path, env)
    staging = str(ROOT / "terraform" / "environments" / "staging.tfvars")
    proc, _ = _provision(dev_inventory, tmp_path, env, platform_terraform_var_file=staging)
    assert proc.returncode != 0
    assert 'does not match var.environment "staging"' in proc.stdout, proc.stdout
