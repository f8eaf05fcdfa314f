"""Bad input stops preflight with one clear message before anything changes."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
import yaml

from tests.ansible_runner import ROOT, ansible_env, run_playbook

pytestmark = pytest.mark.emulator

PREFLIGHT = ROOT / "playbooks" / "preflight.yml"


def make_inventory(tmp_path: Path, env_name: str, endpoint: str, **overrides) -> Path:
    inv = tmp_path / "inventories" / env_name
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    settings = {
        "platform_environment": env_name,
        "platform_provisioner": "terraform",
        "platform_aws_region": "us-east-1",
        "platform_aws_endpoint_url": endpoint,
        "platform_aws_access_key": "testing",
        "platform_aws_secret_key": "testing",
        "platform_allowed_account_ids": ["123456789012"],
        "platform_webui_admin_email": "admin@example.com",
        **overrides,
    }
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    (inv / "hosts.yml").write_text("all: {}\n")
    return inv


def preflight(inv: Path, tmp_path: Path, extra: dict | None = None, env: dict | None = None):
    proc, _ = run_playbook(
        PREFLIGHT, tmp_path, extra, inventory=inv, env=env or ansible_env(TF_CLI_CONFIG_FILE="/dev/null")
    )
    return proc


def assert_refused(proc, message: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert message in " ".join(proc.stdout.split()), proc.stdout


def assert_nothing_created() -> None:
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_typo_in_a_variable(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    proc = preflight(inv, tmp_path, {"platform_verify_modle": "x"})
    assert_refused(proc, "unknown variable 'platform_verify_modle': did you mean 'platform_verify_model'?")


def test_unknown_environment(aws, tmp_path):
    inv = make_inventory(tmp_path, "prod", aws, platform_environment="prod")
    assert_refused(preflight(inv, tmp_path), "unknown environment 'prod': use one of local, dev, staging, production")


def test_inventory_of_another_environment(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    proc = preflight(inv, tmp_path, {"platform_environment": "staging"})
    assert_refused(proc, "does not belong to environment 'staging': run with -i inventories/staging")


def test_production_needs_confirmation(aws, tmp_path):
    inv = make_inventory(tmp_path, "production", aws)
    assert_refused(preflight(inv, tmp_path), "this run targets PRODUCTION: confirm with -e platform_confirm=production")


def test_account_not_allowed(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws, platform_allowed_account_ids=["210987654321"])
    assert_refused(preflight(inv, tmp_path), "account 123456789012 is not allowed for this environment")
    assert_nothing_created()


def test_emulator_or_api_unreachable(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", "http://127.0.0.1:9")
    env = ansible_env(TF_CLI_CONFIG_FILE="/dev/null", AWS_MAX_ATTEMPTS="1")
    assert_refused(preflight(inv, tmp_path, env=env), "cannot reach AWS at http://127.0.0.1:9")


def test_missing_credentials(aws, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    inv = make_inventory(tmp_path, "dev", "", platform_aws_access_key="", platform_aws_secret_key="")
    env = ansible_env(
        TF_CLI_CONFIG_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
    )
    assert_refused(preflight(inv, tmp_path, env=env), "configure credentials (export AWS_PROFILE=<profile>")


def test_missing_state_backend_names_the_fix(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    proc = preflight(inv, tmp_path)
    assert_refused(proc, "Terraform state backend not ready")
    assert "Fix: ansible-playbook playbooks/bootstrap_state.yml -i inventories/dev" in " ".join(proc.stdout.split())
    assert_nothing_created()


# Admin access and single sign-on: refused before anything changes, in every environment.


@pytest.mark.parametrize("email", ["", "admin"])
def test_deployment_without_an_admin_is_refused(aws, tmp_path, email):
    inv = make_inventory(tmp_path, "dev", aws, platform_webui_admin_email=email)
    proc = preflight(inv, tmp_path)
    assert_refused(proc, "no Open-WebUI admin")
    assert "set platform_webui_admin_email in inventories/dev/group_vars/all/platform.yml" in " ".join(
        proc.stdout.split()
    )
    assert_nothing_created()


@pytest.mark.parametrize(
    "oidc",
    [
        {"platform_webui_oidc_provider_url": "https://idp.example.com/.well-known/openid-configuration"},
        {
            "platform_webui_oidc_provider_url": "https://idp.example.com/.well-known/openid-configuration",
            "platform_webui_oidc_client_id": "webui",
            "platform_webui_oidc_client_secret_arn": "s3cr3t-value",  # a value, not a secret's ARN
        },
        {
            "platform_webui_oidc_provider_url": "http://idp.example.com/.well-known/openid-configuration",
            "platform_webui_oidc_client_id": "webui",
            "platform_webui_oidc_client_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:oidc",
        },
    ],
    ids=["only-the-url", "secret-value-instead-of-arn", "plain-http-provider"],
)
def test_incomplete_single_sign_on_is_refused(aws, tmp_path, oidc):
    inv = make_inventory(tmp_path, "dev", aws, **oidc)
    assert_refused(preflight(inv, tmp_path), "single sign-on needs all of platform_webui_oidc_provider_url")


# The Session Manager plugin: checked only when the inventory connects over SSM, with the fix in the message.


def ssm_inventory(tmp_path: Path, endpoint: str) -> Path:
    inv = make_inventory(tmp_path, "dev", endpoint)
    (inv / "group_vars" / "aws_ec2.yml").write_text(
        (ROOT / "inventories" / "dev" / "group_vars" / "aws_ec2.yml").read_text()
    )
    return inv


def fake_plugin_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    plugin = bin_dir / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\necho 1.2.707.0\n")
    plugin.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def without_plugin_path() -> str:
    return ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "session-manager-plugin").exists())


def test_ssm_inventory_without_the_plugin_names_the_fix(aws, tmp_path):
    inv = ssm_inventory(tmp_path, aws)
    env = ansible_env(TF_CLI_CONFIG_FILE="/dev/null", PATH=without_plugin_path())
    proc = preflight(inv, tmp_path, env=env)
    assert_refused(proc, "session-manager-plugin not found: this inventory reaches instances through SSM")
    assert "make setup SSM_PLUGIN_DEB=" in " ".join(proc.stdout.split())
    assert_nothing_created()


def test_ssm_inventory_with_the_plugin_passes_the_check(aws, tmp_path):
    inv = ssm_inventory(tmp_path, aws)
    proc = preflight(inv, tmp_path, env=ansible_env(TF_CLI_CONFIG_FILE="/dev/null", PATH=fake_plugin_path(tmp_path)))
    flat = " ".join(proc.stdout.split())
    assert "Run the Session Manager plugin" in flat and "session-manager-plugin not found" not in flat, proc.stdout
    # It goes on to the next checks (here: the state backend this test did not create).
    assert_refused(proc, "Terraform state backend not ready")


def test_inventory_without_ssm_skips_the_plugin_check(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    env = ansible_env(TF_CLI_CONFIG_FILE="/dev/null", PATH=without_plugin_path())
    proc = preflight(inv, tmp_path, env=env)
    assert "session-manager-plugin not found" not in proc.stdout
    assert_refused(proc, "Terraform state backend not ready")


def test_complete_single_sign_on_passes(aws, tmp_path):
    oidc = {
        "platform_webui_oidc_provider_url": "https://idp.example.com/realms/main/.well-known/openid-configuration",
        "platform_webui_oidc_client_id": "ollama-webui",
        "platform_webui_oidc_client_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:oidc",
    }
    proc = preflight(make_inventory(tmp_path, "dev", aws, **oidc), tmp_path)
    assert "single sign-on needs all of" not in proc.stdout
    assert_refused(proc, "Terraform state backend not ready")
