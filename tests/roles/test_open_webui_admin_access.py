"""Open-WebUI's admin access: an admin created at deployment (the role refuses to run without one), sign-up closed
or pending, and single sign-on through Open-WebUI's OIDC settings with the client secret read on the host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.roles.test_secrets_on_hosts import ROLES, play_configure

# Every frontend has its database (the vector store lives in it): its login secret and address.
BASE = {
    "open_webui_secret_key_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:key",
    "open_webui_database_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
    "open_webui_database_host": "db.internal",
}
ADMIN = {"open_webui_admin_password_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin"}
OIDC = {
    "open_webui_oidc_enabled": True,
    "open_webui_oidc_provider_url": "https://idp.example.org/realms/main/.well-known/openid-configuration",
    "open_webui_oidc_client_id": "ollama-webui",
    "open_webui_oidc_client_secret_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:oidc",
}


def refused(tmp_path: Path, values: dict) -> str:
    proc = play_configure(tmp_path, ROLES, {**BASE, **values}, steps=("validate",))
    assert proc.returncode != 0, proc.stdout
    return " ".join(proc.stdout.split())


def env_file(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "etc" / "open-webui.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_no_admin_is_refused_with_the_fix(tmp_path):
    message = refused(tmp_path, {"open_webui_admin_email": ""})
    assert "No admin account to create: without one the first visitor of https://chat.example.org" in message
    assert "Set open_webui_admin_email and open_webui_admin_password_secret_id" in message


def test_admin_without_a_password_secret_is_refused(tmp_path):
    assert "set both or neither" in refused(tmp_path, {})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"open_webui_oidc_client_secret_secret_id": ""}, "open_webui_oidc_enabled needs"),
        ({"open_webui_oidc_provider_url": "https://idp.example.org/realms/main"}, "open_webui_oidc_enabled needs"),
        ({"open_webui_oidc_enabled": False, "open_webui_login_form_enabled": False}, "leaves no way to sign in"),
    ],
    ids=["no-client-secret", "not-a-discovery-url", "no-way-to-sign-in"],
)
def test_incomplete_single_sign_on_is_refused(tmp_path, change, expected):
    assert expected in refused(tmp_path, {**ADMIN, **OIDC, **change})


def test_default_deployment_creates_the_admin_and_keeps_sign_up_closed(tmp_path):
    proc = play_configure(tmp_path, ROLES, {**BASE, **ADMIN})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = env_file(tmp_path)
    assert env["WEBUI_ADMIN_EMAIL"] == "admin@example.org"
    assert env["ENABLE_SIGNUP"] == "False" and env["DEFAULT_USER_ROLE"] == "pending"
    assert "OAUTH_CLIENT_ID" not in env and "WEBUI_ADMIN_PASSWORD" not in env
    spec = json.loads((tmp_path / "etc" / "secrets.json").read_text())
    assert spec["env"]["WEBUI_ADMIN_PASSWORD"]["secret_id"] == ADMIN["open_webui_admin_password_secret_id"]
    assert (tmp_path / "etc" / "secrets.json").stat().st_mode & 0o777 == 0o600


def test_single_sign_on_uses_open_webui_oidc_settings_and_reads_the_client_secret_on_the_host(tmp_path):
    proc = play_configure(tmp_path, ROLES, {**BASE, **ADMIN, **OIDC})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = env_file(tmp_path)
    assert env["OAUTH_CLIENT_ID"] == "ollama-webui"
    assert env["OPENID_PROVIDER_URL"] == OIDC["open_webui_oidc_provider_url"]
    assert env["OPENID_REDIRECT_URI"] == "https://chat.example.org/oauth/oidc/callback"
    assert env["ENABLE_OAUTH_SIGNUP"] == "True" and env["DEFAULT_USER_ROLE"] == "pending"
    assert env["OAUTH_MERGE_ACCOUNTS_BY_EMAIL"] == "False"
    assert "OAUTH_CLIENT_SECRET" not in env
    spec = json.loads((tmp_path / "etc" / "secrets.json").read_text())
    assert spec["env"]["OAUTH_CLIENT_SECRET"] == {
        "setting": "open_webui_oidc_client_secret_secret_id",
        "secret_id": OIDC["open_webui_oidc_client_secret_secret_id"],
        "required": True,
    }
