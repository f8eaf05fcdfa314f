"""The backend proxy's token map during an API token rotation (roles/ollama/files/ollama-token-fetch).

The map accepts AWSCURRENT, AWSPREVIOUS and AWSPENDING, so neither a frontend still holding the previous token nor
one that already switched is rejected; the refresh timer rewrites it (and reloads nginx) only when it changed.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "ollama" / "files" / "ollama-token-fetch"
OLD, NEW, NEWER = "old-token-0123456789", "new-token-0123456789", "n+w.token/0123456789"


def load_fetcher():
    loader = importlib.machinery.SourceFileLoader("ollama_token_fetch", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


fetcher = load_fetcher()


def accepted(map_text: str, header: str) -> bool:
    """What nginx decides for an Authorization header with this map (regular-expression entries, default 0)."""
    return any(re.search(pattern, header) for pattern in re.findall(r'"~(\^Bearer .*\$)" 1;', map_text))


def test_map_accepts_each_token_in_use_and_nothing_else():
    text = fetcher.map_text([NEW, OLD, NEWER])
    for token in (NEW, OLD, NEWER):
        assert accepted(text, f"Bearer {token}")
    assert not accepted(text, "Bearer other-token-0123456789")
    assert not accepted(text, f"Bearer {NEW}x")
    assert not accepted(text, "Bearer n+w.token/0123456789".replace(".", "x"))  # a dot is not a wildcard
    assert not accepted(text, "")


def test_a_planted_single_token_map_rejects_the_previous_token():
    """The check above can fail: a map built from the current token only refuses a frontend not yet switched."""
    assert not accepted(fetcher.map_text([NEW]), f"Bearer {OLD}")


@pytest.fixture
def token_env(aws, tmp_path, monkeypatch):
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="ollama-dev/ollama-api-token", SecretString=OLD)["ARN"]
    map_path = tmp_path / "token-map.conf"
    for name, value in {
        "OLLAMA_TOKEN_SECRET_ID": arn,
        "OLLAMA_TOKEN_STORE": "secretsmanager",
        "OLLAMA_TOKEN_REGION": "us-east-1",
        "OLLAMA_TOKEN_ENDPOINT_URL": aws,
        "OLLAMA_TOKEN_MAP": str(map_path),
    }.items():
        monkeypatch.setenv(name, value)
    reloads: list[int] = []
    monkeypatch.setattr(fetcher, "reload_nginx", lambda: reloads.append(1))
    return sm, arn, map_path, reloads


def test_read_secrets_returns_current_then_previous_and_pending(token_env):
    sm, arn, _, _ = token_env
    assert fetcher.read_secrets("secretsmanager", arn, "us-east-1", None) == [OLD]
    sm.put_secret_value(SecretId=arn, SecretString=NEW)  # AWSCURRENT=NEW, AWSPREVIOUS=OLD
    sm.put_secret_value(SecretId=arn, SecretString=NEWER, VersionStages=["AWSPENDING"])
    assert fetcher.read_secrets("secretsmanager", arn, "us-east-1", None) == [NEW, OLD, NEWER]


def test_rotation_never_rejects_a_client_and_reloads_only_on_change(token_env):
    sm, arn, map_path, reloads = token_env
    assert fetcher.main([]) == 0  # boot: ollama-token.service
    assert accepted(map_path.read_text(), f"Bearer {OLD}")
    assert map_path.stat().st_mode & 0o777 == 0o600

    assert fetcher.main(["--refresh"]) == 0  # timer, nothing changed
    assert reloads == []

    # Stage the new token: the backends accept it before any frontend can hold it.
    sm.put_secret_value(SecretId=arn, SecretString=NEW, VersionStages=["AWSPENDING"])
    assert fetcher.main(["--refresh"]) == 0
    assert reloads == [1]
    text = map_path.read_text()
    assert accepted(text, f"Bearer {OLD}") and accepted(text, f"Bearer {NEW}")

    # Promote it: frontends switch over their own timer; the previous token is still accepted meanwhile.
    versions = sm.list_secret_version_ids(SecretId=arn)["Versions"]
    pending = next(v["VersionId"] for v in versions if "AWSPENDING" in v["VersionStages"])
    current = next(v["VersionId"] for v in versions if "AWSCURRENT" in v["VersionStages"])
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=current
    )
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending)
    assert fetcher.main(["--refresh"]) == 0
    text = map_path.read_text()
    assert accepted(text, f"Bearer {NEW}") and accepted(text, f"Bearer {OLD}")
    assert not accepted(text, "Bearer other-token-0123456789")


def test_refresh_keeps_the_map_when_the_secret_cannot_be_read(token_env, monkeypatch):
    _, arn, map_path, reloads = token_env
    assert fetcher.main([]) == 0
    before = map_path.read_text()
    monkeypatch.setenv("OLLAMA_TOKEN_SECRET_ID", arn + "-gone")
    assert fetcher.main(["--refresh"]) == 1
    assert map_path.read_text() == before and reloads == []


def test_a_malformed_previous_token_does_not_break_the_current_one(token_env):
    sm, arn, map_path, _ = token_env
    sm.put_secret_value(SecretId=arn, SecretString="short")  # AWSPREVIOUS=OLD, AWSCURRENT malformed
    assert fetcher.main([]) == 1
    sm.put_secret_value(SecretId=arn, SecretString=NEW)  # AWSPREVIOUS="short"
    assert fetcher.main([]) == 0
    text = map_path.read_text()
    assert accepted(text, f"Bearer {NEW}") and "short" not in text


# The refresh timer as the role installs it.

ROLE = ROOT / "roles" / "ollama"


def test_refresh_timer_and_service_follow_the_interval_and_run_the_fetcher_in_refresh_mode():
    import jinja2
    import yaml

    context = {
        "ansible_managed": "managed",
        "__ollama_libexec": "/usr/local/libexec/ollama",
        "__ollama_nginx_dir": "/x",
    }
    context["ollama_api_token_refresh_interval"] = 45
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - systemd units
    timer = env.from_string((ROLE / "templates" / "ollama-token-refresh.timer.j2").read_text()).render(context)
    service = env.from_string((ROLE / "templates" / "ollama-token-refresh.service.j2").read_text()).render(context)
    boot = env.from_string((ROLE / "templates" / "ollama-token.service.j2").read_text()).render(
        {**context, "ollama_api_token_secret_store": "secretsmanager"}
    )
    assert "OnUnitActiveSec=45\n" in timer and "WantedBy=timers.target" in timer
    assert "ExecStart=/usr/local/libexec/ollama/ollama-token-fetch --refresh\n" in service
    # Same settings as the boot unit: the same secret, region and map.
    environment = [line for line in boot.splitlines() if line.startswith("EnvironmentFile=")]
    assert environment == [line for line in service.splitlines() if line.startswith("EnvironmentFile=")]
    assert yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["ollama_api_token_refresh_interval"] == 60


def test_the_role_installs_and_enables_the_refresh_timer_in_secret_mode():
    import yaml

    proxy = yaml.safe_load((ROLE / "tasks" / "proxy.yml").read_text())
    units = next(t for t in proxy if t["name"] == "Install the token unit and its nginx ordering")
    assert {"src": "ollama-token-refresh.timer.j2", "dest": "/etc/systemd/system/ollama-token-refresh.timer"} in units[
        "loop"
    ]
    service = yaml.safe_load((ROLE / "tasks" / "service.yml").read_text())
    timer = next(t for t in service if t["name"] == "Enable and start the token rotation timer")
    assert timer["ansible.builtin.systemd_service"]["enabled"] is True
    assert timer["when"] == "__ollama_token_secret_mode | bool"
