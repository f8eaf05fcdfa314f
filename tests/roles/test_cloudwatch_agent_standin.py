"""The log-shipping stand-in against the emulator: it reads the agent configuration the role renders and ships the
lines of its files, and of the journal units the role's export units copy to files, to their log groups.

The configuration is rendered by Ansible from the role (the render helper of
tests/roles/test_cloudwatch_agent_config.py) with the log paths moved under a temporary folder; the journal export
runs the ExecStart of the role's rendered cloudwatch-journal-export@.service with a fake journalctl (the test host's
journal cannot be written to).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from test_cloudwatch_agent_config import ANSIBLE, ROLE, render

from tests.project import load_program, stop_like_systemd

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROLE / "files" / "cloudwatch-agent-standin"
INSTANCE = "i-0123456789abcdef0"


standin = load_program(PROGRAM, "cloudwatch_agent_standin")


def render_template(tmp_path: Path, template: str, **extra: object) -> str:
    """One of the role's templates rendered by Ansible with the role's defaults and vars."""
    dest = tmp_path / Path(template).name.removesuffix(".j2")
    config_file = tmp_path / "ansible.cfg"
    config_file.write_text("[defaults]\n", encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(config_file), ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1")
    args = f"src={ROLE / 'templates' / template} dest={dest} mode=0644"
    variables = {
        "cloudwatch_agent_environment": "dev",
        "ansible_facts": {"architecture": "x86_64"},
        "ansible_python_interpreter": sys.executable,
        **extra,
    }
    result = subprocess.run(
        [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template", "-a", args,
         "-e", f"@{ROLE / 'defaults' / 'main.yml'}", "-e", f"@{ROLE / 'vars' / 'main.yml'}",
         "-e", json.dumps(variables)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return dest.read_text(encoding="utf-8")


PLACEHOLDER = "/LOG-FOLDER"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The agent configuration and the journal export unit the role renders, log paths under PLACEHOLDER."""
    folder = tmp_path_factory.mktemp("render")
    files = [
        {"path": f"{PLACEHOLDER}/ollama/ollama.log", "service": "ollama", "tiers": ["backend"]},
        {"path": f"{PLACEHOLDER}/journal-export/open-webui.log", "service": "open-webui", "tiers": ["frontend"]},
        {"path": f"{PLACEHOLDER}/journal-export/system.log", "service": "system"},
    ]
    config = render(folder, cloudwatch_agent_environment="dev", cloudwatch_agent_log_files=files)
    unit = render_template(
        folder,
        "cloudwatch-journal-export@.service.j2",
        cloudwatch_agent_journal_export_dir=f"{PLACEHOLDER}/journal-export",
    )
    return {"config": json.dumps(config), "journal_unit": unit}


@pytest.fixture
def layout(tmp_path: Path, rendered: dict[str, str]) -> dict[str, Path]:
    """The role's default log files moved under tmp_path, and the agent configuration the role renders for them."""
    folder = tmp_path / "log"
    (folder / "journal-export").mkdir(parents=True)
    (folder / "ollama").mkdir()
    config_path = tmp_path / "amazon-cloudwatch-agent.json"
    config_path.write_text(rendered["config"].replace(PLACEHOLDER, str(folder)), encoding="utf-8")
    unit_path = tmp_path / "cloudwatch-journal-export@.service"
    unit_path.write_text(rendered["journal_unit"].replace(PLACEHOLDER, str(folder)), encoding="utf-8")
    return {"config": config_path, "ollama": folder / "ollama" / "ollama.log", "export_dir": folder / "journal-export",
            "journal_unit": unit_path, "state": tmp_path / "state"}  # fmt: skip


def log_groups(aws: str, *services: str) -> None:
    """What Terraform creates (terraform/monitoring.tf: /ollama/<env>/<service> with the environment's retention)."""
    logs = boto3.client("logs", endpoint_url=aws)
    for service in services:
        logs.create_log_group(logGroupName=f"/ollama/dev/{service}")
        logs.put_retention_policy(logGroupName=f"/ollama/dev/{service}", retentionInDays=14)


def messages(aws: str, group: str, stream: str) -> list[str]:
    logs = boto3.client("logs", endpoint_url=aws)
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    return [event["message"] for event in events]


def run_standin(layout: dict[str, Path], aws: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_EC2_METADATA")}
    env["AWS_ENDPOINT_URL"] = aws
    return subprocess.run(
        [sys.executable, str(PROGRAM), "--config", str(layout["config"]), "--state-dir", str(layout["state"]),
         "--instance-id", INSTANCE, "--once", *extra],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


FAKE_JOURNALCTL = """#!/bin/sh
# A journal holding one line per unit; --cursor-file as journalctl: what was printed is not printed again.
cursor=""; units=""
for arg in "$@"; do
  case "$arg" in
    --cursor-file=*) cursor="${arg#--cursor-file=}" ;;
    --unit=*) units="$units ${arg#--unit=}" ;;
  esac
done
[ -f "$cursor" ] && exit 0
for unit in ${units:-whole-journal}; do
  echo "2026-12-06T03:00:00+0000 ip-10-0-1-5 $unit[42]: ERROR request failed: model not found (request_id=r-1)"
done
echo "s=1" > "$cursor"
"""


def export_journal(tmp_path: Path, layout: dict[str, Path], name: str, units: list[str]) -> None:
    """Run the ExecStart of the rendered journal export unit once (fake journalctl), as systemd runs it."""
    unit = layout["journal_unit"].read_text(encoding="utf-8")
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE).group(1)
    fake = tmp_path / "journalctl"
    fake.write_text(FAKE_JOURNALCTL, encoding="utf-8")
    fake.chmod(0o755)
    state = tmp_path / "journal-state"
    state.mkdir(exist_ok=True)
    # systemd's specifiers and $$ escaping, the fake journalctl and a temporary cursor folder.
    command = (
        exec_start.replace("%i", name)
        .replace("$$", "$")
        .replace("/bin/journalctl", str(fake))
        .replace("/var/lib/cloudwatch-journal-export", str(state))
    )
    argv = re.match(r"/bin/sh -c '(.*)'$", command).group(1)
    env = {"PATH": "/usr/bin:/bin", "JOURNAL_FILTER": " ".join(f"--unit={u}" for u in units)}
    with (layout["export_dir"] / f"{name}.log").open("a") as output:
        process = subprocess.Popen(["/bin/sh", "-c", argv], env=env, stdout=output)
        time.sleep(1.5)
        process.terminate()
        process.wait(timeout=10)


def test_file_and_journal_lines_arrive_in_their_groups(aws: str, layout: dict[str, Path], tmp_path: Path) -> None:
    log_groups(aws, "ollama", "open-webui", "system")
    layout["ollama"].write_text('level=ERROR source=sched.go msg="error loading llama server" model=llama3.2:1b\n')
    export_journal(tmp_path, layout, "open-webui", ["open-webui.service", "open-webui-secrets.service"])
    export_journal(tmp_path, layout, "system", [])

    result = run_standin(layout, aws)
    assert result.returncode == 0, result.stderr

    assert messages(aws, "/ollama/dev/ollama", f"{INSTANCE}/ollama.log") == [
        'level=ERROR source=sched.go msg="error loading llama server" model=llama3.2:1b'
    ]
    webui = messages(aws, "/ollama/dev/open-webui", f"{INSTANCE}/open-webui.log")
    assert [line.split(" ", 3)[2] for line in webui] == ["open-webui.service[42]:", "open-webui-secrets.service[42]:"]
    assert messages(aws, "/ollama/dev/system", f"{INSTANCE}/system.log") == [
        "2026-12-06T03:00:00+0000 ip-10-0-1-5 whole-journal[42]: ERROR request failed: model not found (request_id=r-1)"
    ]


def test_a_restart_ships_only_new_lines_and_follows_rotation(aws: str, layout: dict[str, Path]) -> None:
    log_groups(aws, "ollama", "open-webui", "system")
    layout["ollama"].write_text("one\n")
    assert run_standin(layout, aws).returncode == 0
    with layout["ollama"].open("a") as handle:
        handle.write("two\nhalf a line")
    assert run_standin(layout, aws).returncode == 0
    layout["ollama"].rename(layout["ollama"].with_suffix(".log.1"))
    layout["ollama"].write_text("three\n")
    assert run_standin(layout, aws).returncode == 0
    assert messages(aws, "/ollama/dev/ollama", f"{INSTANCE}/ollama.log") == ["one", "two", "three"]


def test_a_missing_group_is_reported_with_the_fix_and_retried(aws: str, layout: dict[str, Path]) -> None:
    layout["ollama"].write_text("kept for later\n")
    result = run_standin(layout, aws)
    assert result.returncode == 0
    assert "log group /ollama/dev/ollama does not exist" in result.stderr
    assert "Terraform creates the groups /ollama/<environment>/<service>" in result.stderr
    log_groups(aws, "ollama", "open-webui", "system")
    assert run_standin(layout, aws).returncode == 0
    assert messages(aws, "/ollama/dev/ollama", f"{INSTANCE}/ollama.log") == ["kept for later"]


def test_a_config_it_cannot_ship_is_refused_before_anything_is_sent(aws: str, layout: dict[str, Path]) -> None:
    config = json.loads(layout["config"].read_text())
    config["logs"]["logs_collected"]["files"]["collect_list"][0]["log_stream_name"] = "{ip_address}"
    layout["config"].write_text(json.dumps(config))
    result = run_standin(layout, aws)
    assert result.returncode == 1
    assert "{ip_address}" in result.stderr and "placeholder" in result.stderr


def test_batches_respect_the_put_log_events_limits() -> None:
    lines = ["x" * 300_000] + ["y"] * 10_001
    batches = standin.batches(lines, 0)
    assert len(batches[0][0]["message"].encode()) == standin.MAX_EVENT_BYTES
    assert all(len(batch) <= standin.MAX_EVENTS for batch in batches)
    assert all(sum(len(e["message"].encode()) + 26 for e in batch) <= 1_048_576 for batch in batches)
    assert sum(len(batch) for batch in batches) == len(lines)


def test_the_unit_runs_the_program_on_the_agents_configuration(tmp_path: Path) -> None:
    unit = render_template(tmp_path, "cloudwatch-agent-standin.service.j2")
    assert "ExecStart=/usr/local/bin/cloudwatch-agent-standin --config " in unit
    assert "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json" in unit
    assert "EnvironmentFile=-/etc/ollama-platform/instance.env" in unit  # AWS_ENDPOINT_URL from the record


def test_the_endpoint_is_passed_to_the_sdk_explicitly() -> None:
    """Debian 12's python3-boto3 (1.26), which the stand-in runs on, ignores AWS_ENDPOINT_URL*: the program reads
    the SDK's own variables itself, the service-specific one first, and leaves AWS's endpoint when neither is set."""
    assert standin.logs_endpoint({}) is None
    assert standin.logs_endpoint({"AWS_ENDPOINT_URL": "http://10.0.0.1:4566"}) == "http://10.0.0.1:4566"
    both = {"AWS_ENDPOINT_URL": "http://10.0.0.1:4566", "AWS_ENDPOINT_URL_LOGS": "https://logs.vpce.example"}
    assert standin.logs_endpoint(both) == "https://logs.vpce.example"


def test_sigterm_stops_it_at_once_after_a_last_pass(aws: str, layout: dict[str, Path]) -> None:
    """systemd stops and restarts the unit with SIGTERM: the stand-in must not finish its interval first (a 60 s
    interval here), and the lines written until then still reach their group."""
    log_groups(aws, "ollama", "open-webui", "system")
    layout["ollama"].write_text("before the first pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_EC2_METADATA")}
    env["AWS_ENDPOINT_URL"] = aws
    process = subprocess.Popen(
        [sys.executable, str(PROGRAM), "--config", str(layout["config"]), "--state-dir", str(layout["state"]),
         "--instance-id", INSTANCE, "--interval", "60"],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ClientError):  # the stream exists after the first pass
                if messages(aws, "/ollama/dev/ollama", f"{INSTANCE}/ollama.log"):
                    break
            time.sleep(0.2)
        with layout["ollama"].open("a") as handle:
            handle.write("just before the stop\n")
    finally:
        took, stderr = stop_like_systemd(process)
    assert process.returncode == 0, stderr
    assert took < 5, f"the stand-in took {took:.1f} s to stop after SIGTERM"
    assert messages(aws, "/ollama/dev/ollama", f"{INSTANCE}/ollama.log") == [
        "before the first pass",
        "just before the stop",
    ]
