"""Variable validation, the workspace guard and refused bad input, evaluated by terraform itself offline.

variables.tf and locals.tf need no provider, so a copy of them runs under `terraform test` and `terraform plan`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from terraform_helpers import ENVIRONMENTS, REPO_ROOT, TERRAFORM_DIR, make_provider_free_copy, run_terraform

FIXTURE = REPO_ROOT / "tests" / "terraform" / "fixtures" / "variables.tftest.hcl"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_variable_validation_with_terraform_test(provider_free_copy: Path, terraform_bin, tf_env):
    (provider_free_copy / "tests").mkdir()
    shutil.copy(FIXTURE, provider_free_copy / "tests" / FIXTURE.name)
    runs = len(re.findall(r'^run "', FIXTURE.read_text(), flags=re.MULTILINE))
    result = run_terraform(terraform_bin, ["test"], provider_free_copy, tf_env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Success! {runs} passed, 0 failed." in result.stdout, result.stdout
    assert runs >= 30


def test_every_validated_variable_has_a_test():
    validated = set()
    current = None
    for line in (TERRAFORM_DIR / "variables.tf").read_text().splitlines():
        match = re.match(r'variable "(\w+)"', line)
        if match:
            current = match.group(1)
        elif line.strip().startswith("validation {"):
            validated.add(current)
    tested = set(re.findall(r"expect_failures = \[var\.(\w+)\]", FIXTURE.read_text()))
    untested = validated - tested
    assert not untested, f"validations without an expect_failures run in {FIXTURE.name}: {sorted(untested)}"


BAD_INPUT = [
    pytest.param("environment", "prod", "var.environment must be one of dev, staging, production.", id="environment"),
    pytest.param("vpc_cidr", "10.0.0.0/33", "var.vpc_cidr must be a valid RFC 1918 IPv4 CIDR", id="cidr"),
    pytest.param("vpc_cidr", "8.8.0.0/16", "var.vpc_cidr must be a valid RFC 1918 IPv4 CIDR", id="public-cidr"),
    pytest.param(
        "log_retention_days", "45", "var.log_retention_days must be a CloudWatch Logs retention value", id="retention"
    ),
    pytest.param(
        "allowed_account_ids",
        '["12345"]',
        "var.allowed_account_ids must list at least one 12-digit AWS account ID.",
        id="account",
    ),
    pytest.param("aws_region", "useast1", "var.aws_region must be an AWS region name", id="region"),
    pytest.param(
        "alarm_emails",
        "[]",
        "Alarms would reach nobody: set alarm_emails (e-mail addresses) or alarm_https_endpoints",
        id="no-alarm-subscriber",
    ),
    pytest.param(
        "ollama_backend_instance_types",
        '["x1.huge"]',
        "var.ollama_backend_instance_types must list instance types from the supported families",
        id="instance-type",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_INPUT)
def test_bad_input_is_refused_at_plan_time_with_a_clear_message(
    provider_free_copy: Path, terraform_bin, tf_env, name: str, value: str, message: str
):
    tfvars = TERRAFORM_DIR / "environments" / "dev.tfvars"
    args = ["plan", "-input=false", f"-var-file={tfvars}", f"-var={name}={value}"]
    result = run_terraform(terraform_bin, args, provider_free_copy, tf_env)
    assert result.returncode != 0, f"{name}={value} was accepted"
    assert message in _squash(result.stderr), result.stderr


@pytest.fixture
def guarded_copy(tmp_path: Path, terraform_bin, tf_env) -> Path:
    return make_provider_free_copy(tmp_path / "guarded", terraform_bin, tf_env, extra_files=("guards.tf",))


@pytest.mark.parametrize(("workspace", "environment"), [("staging", "dev"), ("dev", "production"), ("default", "dev")])
def test_workspace_and_environment_must_match(guarded_copy: Path, terraform_bin, tf_env, workspace, environment):
    if workspace != "default":
        created = run_terraform(terraform_bin, ["workspace", "new", workspace], guarded_copy, tf_env)
        assert created.returncode == 0, created.stderr
    tfvars = TERRAFORM_DIR / "environments" / f"{environment}.tfvars"
    result = run_terraform(terraform_bin, ["plan", "-input=false", f"-var-file={tfvars}"], guarded_copy, tf_env)
    assert result.returncode != 0, f"plan in workspace {workspace} with {environment}.tfvars was accepted"
    expected = f'Workspace "{workspace}" does not match var.environment "{environment}"'
    assert expected in _squash(result.stderr), result.stderr
    assert f"terraform workspace select {environment}" in _squash(result.stderr)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_plans_in_its_workspace(guarded_copy: Path, terraform_bin, tf_env, environment):
    created = run_terraform(terraform_bin, ["workspace", "new", environment], guarded_copy, tf_env)
    assert created.returncode == 0, created.stderr
    tfvars = TERRAFORM_DIR / "environments" / f"{environment}.tfvars"
    result = run_terraform(terraform_bin, ["plan", "-input=false", f"-var-file={tfvars}"], guarded_copy, tf_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "terraform_data.environment_guard will be created" in result.stdout


def test_user_data_template_renders_valid_bash(tmp_path: Path, terraform_bin, tf_env):
    folder = tmp_path / "user-data"
    folder.mkdir()
    template = TERRAFORM_DIR / "templates" / "user_data.sh.tftpl"
    (folder / "main.tf").write_text(
        'output "user_data" {\n'
        f'  value = templatefile("{template}", {{\n'
        '    instance_env = join("\\n", [for key, value in { OLLAMA_PLATFORM_ROLE = "backend", '
        'OLLAMA_DATA_TABLE = "ollama-data-table" } : "${key}=${value}"])\n'
        "  })\n}\n"
    )
    assert run_terraform(terraform_bin, ["init", "-input=false"], folder, tf_env).returncode == 0
    applied = run_terraform(terraform_bin, ["apply", "-auto-approve", "-input=false"], folder, tf_env)
    assert applied.returncode == 0, applied.stderr
    output = run_terraform(terraform_bin, ["output", "-raw", "user_data"], folder, tf_env)
    script = folder / "user_data.sh"
    script.write_text(output.stdout)
    assert output.stdout.startswith("#!/bin/bash\n")
    # Terraform iterates maps in key order.
    assert "\nOLLAMA_DATA_TABLE=ollama-data-table\nOLLAMA_PLATFORM_ROLE=backend\nENV\n" in output.stdout
    assert "systemctl start --no-block ollama-platform-bootstrap.service" in output.stdout
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
