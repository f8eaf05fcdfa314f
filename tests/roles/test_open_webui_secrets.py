"""Open-WebUI's secrets on the host: read with the instance's role at start, followed through rotations by a timer.

The helper (roles/open_webui/files/open-webui-helper.py) runs against the AWS emulator here, as on an instance.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "roles" / "open_webui" / "files" / "open-webui-helper.py"


def load_helper():
    loader = importlib.machinery.SourceFileLoader("open_webui_helper", str(HELPER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


helper = load_helper()


def test_database_url_is_built_from_the_rds_managed_secret_with_its_characters_encoded():
    item = {"kind": "postgresql", "host": "db.internal", "port": 5432, "database": "openwebui", "setting": "x"}
    url = helper.login_url(item, json.dumps({"username": "web ui", "password": "p@ss/w:rd%"}))
    assert url == "postgresql://web%20ui:p%40ss%2Fw%3Ard%25@db.internal:5432/openwebui"


def test_redis_url_is_built_from_the_auth_token():
    item = {"kind": "redis", "scheme": "rediss", "host": "redis.internal", "port": 6379, "setting": "x"}
    assert helper.login_url(item, "t/k+n") == "rediss://:t%2Fk%2Bn@redis.internal:6379/0"


def test_a_database_secret_without_login_names_the_expected_form():
    item = {"kind": "postgresql", "host": "db", "setting": "open_webui_database_secret_id"}
    with pytest.raises(helper.HelperError, match="not JSON with username and password"):
        helper.login_url(item, "just-a-password")


def test_a_login_secret_without_its_host_names_the_setting():
    with pytest.raises(helper.HelperError, match="open_webui_redis_auth_secret_id is set but its host is empty"):
        helper.login_url({"kind": "redis", "host": "", "setting": "open_webui_redis_auth_secret_id"}, "tok")


@pytest.fixture
def stored(aws):
    """The stack's secrets, shaped as on AWS: RDS-managed login JSON, plain Redis token, API token, key, admin."""
    sm = boto3.client("secretsmanager")
    arns = {
        "db": sm.create_secret(Name="rds!db-1", SecretString=json.dumps({"username": "u", "password": "pw-1"}))["ARN"],
        "redis": sm.create_secret(Name="redis-auth", SecretString="redis-token-1")["ARN"],
        "token": sm.create_secret(Name="api-token", SecretString="api-token-0123456789-1")["ARN"],
        "key": sm.create_secret(Name="webui-key", SecretString="k" * 32)["ARN"],
        "admin": sm.create_secret(Name="webui-admin", SecretString="admin-pw-1")["ARN"],
        "oidc": sm.create_secret(Name="webui-oidc", SecretString="oidc-client-secret")["ARN"],
    }
    spec = {
        "aws": {"region": "us-east-1", "endpoint_url": aws, "ca_bundle": ""},
        "env": {
            "WEBUI_SECRET_KEY": {
                "setting": "open_webui_secret_key_secret_id",
                "secret_id": arns["key"],
                "required": True,
            },
            "DATABASE_URL": {
                "setting": "open_webui_database_secret_id",
                "secret_id": arns["db"],
                "kind": "postgresql",
                "host": "db.internal",
                "port": 5432,
                "database": "openwebui",
                "required": True,
            },
            "REDIS_URL": {
                "setting": "open_webui_redis_auth_secret_id",
                "secret_id": arns["redis"],
                "kind": "redis",
                "scheme": "rediss",
                "host": "redis.internal",
                "port": 6379,
                "required": True,
            },
            "WEBUI_ADMIN_PASSWORD": {"setting": "a", "secret_id": arns["admin"], "required": True},
            "OAUTH_CLIENT_SECRET": {"setting": "o", "secret_id": arns["oidc"], "required": True},
        },
        "ollama": {"base_urls": ["http://alb"], "token": {"setting": "t", "secret_id": arns["token"]}},
    }
    return sm, arns, spec


def test_every_secret_is_read_on_the_host_from_its_id(stored):
    _, _, spec = stored
    env = helper.resolve(spec)
    assert env["DATABASE_URL"] == "postgresql://u:pw-1@db.internal:5432/openwebui"
    assert env["REDIS_URL"] == "rediss://:redis-token-1@redis.internal:6379/0"
    assert env["WEBUI_ADMIN_PASSWORD"] == "admin-pw-1"
    assert env["OAUTH_CLIENT_SECRET"] == "oidc-client-secret"
    assert json.loads(env["OLLAMA_API_CONFIGS"]) == {"0": {"enable": True, "key": "api-token-0123456789-1"}}


def test_refresh_restarts_only_when_a_rotation_changed_a_secret(stored, tmp_path):
    sm, arns, spec = stored
    output = tmp_path / "run" / "secrets.env"
    restarts: list[int] = []
    helper.write_env_file(helper.resolve(spec), output)  # what open-webui-secrets.service wrote at start

    assert helper.refresh(spec, output, lambda: restarts.append(1)) is False
    assert restarts == []

    # RDS rotates its managed master password (every 7 days): the next read restarts with the new URL.
    sm.put_secret_value(SecretId=arns["db"], SecretString=json.dumps({"username": "u", "password": "pw-2"}))
    assert helper.refresh(spec, output, lambda: restarts.append(1)) is True
    assert restarts == [1]
    assert 'DATABASE_URL="postgresql://u:pw-2@db.internal:5432/openwebui"' in output.read_text()
    assert output.stat().st_mode & 0o777 == 0o600

    # The Redis token and the API token follow the same way.
    sm.put_secret_value(SecretId=arns["redis"], SecretString="redis-token-2")
    sm.put_secret_value(SecretId=arns["token"], SecretString="api-token-0123456789-2")
    assert helper.refresh(spec, output, lambda: restarts.append(1)) is True
    text = output.read_text()
    assert "redis-token-2" in text and "api-token-0123456789-2" in text
    assert helper.refresh(spec, output, lambda: restarts.append(1)) is False
    assert restarts == [1, 1]


def test_a_failed_restart_leaves_the_rotation_to_the_next_read(stored, tmp_path):
    """The running service keeps the old values when its restart fails: the old file comes back, so the next read
    sees the change again and restarts."""
    sm, arns, spec = stored
    output = tmp_path / "secrets.env"
    helper.write_env_file(helper.resolve(spec), output)
    before = output.read_text()
    sm.put_secret_value(SecretId=arns["redis"], SecretString="redis-token-2")

    def failing() -> None:
        raise subprocess.CalledProcessError(1, ["ollama-platform-drain", "--restart"])

    with pytest.raises(subprocess.CalledProcessError):
        helper.refresh(spec, output, failing)
    assert output.read_text() == before
    restarts: list[int] = []
    assert helper.refresh(spec, output, lambda: restarts.append(1)) is True
    assert restarts == [1] and "redis-token-2" in output.read_text()


def test_the_restart_command_is_given_the_unit(monkeypatch, tmp_path, stored):
    _, _, spec = stored
    spec_file, output = tmp_path / "secrets.json", tmp_path / "secrets.env"
    spec_file.write_text(json.dumps(spec))
    ran: list[list[str]] = []
    monkeypatch.setattr(helper.subprocess, "run", lambda command, check: ran.append(command))
    argv = ["refresh", "--spec", str(spec_file), "--output", str(output), "--unit", "open-webui.service"]
    helper.main([*argv, "--restart-command", "/usr/local/sbin/ollama-platform-drain --restart"])
    assert ran == [["/usr/local/sbin/ollama-platform-drain", "--restart", "open-webui.service"]]
    output.unlink()
    helper.main(argv)
    assert ran[-1] == ["/bin/systemctl", "try-restart", "open-webui.service"]


def test_refresh_keeps_the_running_service_when_a_secret_cannot_be_read(stored, tmp_path):
    sm, arns, spec = stored
    output = tmp_path / "secrets.env"
    helper.write_env_file(helper.resolve(spec), output)
    before = output.read_text()
    sm.delete_secret(SecretId=arns["redis"], ForceDeleteWithoutRecovery=True)
    with pytest.raises(helper.HelperError, match="open_webui_redis_auth_secret_id"):
        helper.refresh(spec, output, lambda: pytest.fail("restarted on an unreadable secret"))
    assert output.read_text() == before


def test_refresh_command_line_names_the_unit_it_restarts(stored, tmp_path, monkeypatch):
    sm, arns, spec = stored
    (tmp_path / "secrets.json").write_text(json.dumps(spec))
    output = tmp_path / "secrets.env"
    helper.write_env_file(helper.resolve(spec), output)
    calls: list[list[str]] = []
    monkeypatch.setattr(helper.subprocess, "run", lambda argv, check: calls.append(argv))
    argv = ["refresh", f"--spec={tmp_path / 'secrets.json'}", f"--output={output}", "--unit=open-webui.service"]
    assert helper.main(argv) == 0
    assert calls == []
    sm.put_secret_value(SecretId=arns["key"], SecretString="n" * 32)
    assert helper.main(argv) == 0
    assert calls == [["/bin/systemctl", "try-restart", "open-webui.service"]]


# The rotation timer as the role installs it.

ROLE = ROOT / "roles" / "open_webui"


def rendered(template: str, **overrides) -> str:
    """Render one of the role's templates with its defaults and vars (as the template module would)."""
    import jinja2
    import yaml

    context = {
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
        **overrides,
        "ansible_managed": "managed",
        "inventory_hostname": "frontend-1",
    }
    # trim_blocks as Ansible's template module: a block tag eats the line break after it.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True)  # noqa: S701

    def settle(value):
        try:
            return env.from_string(value).render(context) if isinstance(value, str) else value
        except jinja2.TemplateError:  # Ansible-only filters and tests: not used by the unit templates
            return value

    for _ in range(4):  # settle values that refer to other settings
        context = {k: settle(v) for k, v in context.items()}
    return env.from_string((ROLE / "templates" / template).read_text()).render(context)


def unit_values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def test_timer_reads_again_every_interval_with_a_spread_between_replicas():
    timer = rendered(
        "open-webui-secrets-refresh.timer.j2",
        open_webui_secrets_refresh_interval=90,
        open_webui_secrets_refresh_spread=45,
    )
    assert unit_values(timer, "OnUnitActiveSec") == ["90"]
    assert unit_values(timer, "OnBootSec") == ["90"]
    assert unit_values(timer, "RandomizedDelaySec") == ["45"]
    assert unit_values(timer, "WantedBy") == ["timers.target"]


def test_refresh_service_rewrites_the_file_the_service_reads_and_restarts_it():
    refresh = unit_values(rendered("open-webui-secrets-refresh.service.j2"), "ExecStart")[0].split()
    fetch = unit_values(rendered("open-webui-secrets.service.j2"), "ExecStart")[0].split()
    service_env = unit_values(rendered("open-webui.service.j2"), "EnvironmentFile")
    assert refresh[2] == "refresh" and fetch[2] == "fetch-secrets"
    # Same helper, same spec, same output file, and that file is the one Open-WebUI's unit loads.
    assert refresh[:2] == fetch[:2]
    assert refresh[refresh.index("--spec") + 1] == fetch[fetch.index("--spec") + 1]
    output = refresh[refresh.index("--output") + 1]
    assert output == fetch[fetch.index("--output") + 1] and output in service_env
    assert refresh[refresh.index("--unit") + 1] == "open-webui.service"


def test_a_fleet_restart_command_reaches_the_refresh_and_leaves_the_unit_intact():
    command = "/usr/local/sbin/ollama-platform-drain --restart"
    unit = rendered("open-webui-secrets-refresh.service.j2", open_webui_secrets_refresh_restart_command=command)
    (exec_start,) = unit_values(unit, "ExecStart")
    assert exec_start.endswith(f"--unit open-webui.service --restart-command '{command}'")
    assert unit_values(unit, "UMask") == ["0077"]
    assert unit_values(unit, "TimeoutStartSec") == ["3600"]  # it waits for the other replicas and the streams


def test_the_role_installs_and_starts_the_timer():
    import yaml

    tasks = yaml.safe_load((ROLE / "tasks" / "service.yml").read_text())
    installed = next(t for t in tasks if t["name"] == "Install the secret rotation timer")
    assert installed["loop"] == ["{{ open_webui__refresh_unit }}.service", "{{ open_webui__refresh_unit }}.timer"]
    started = next(t for t in tasks if t["name"] == "Enable and start the secret rotation timer")
    assert started["ansible.builtin.systemd_service"]["name"] == "{{ open_webui__refresh_unit }}.timer"
    assert started["ansible.builtin.systemd_service"]["enabled"] is True
    assert started["when"] == "open_webui_secrets_refresh_enabled | bool"
