"""Unit tests of ollama-platform-bootstrap's pure functions and of main()'s wiring (AWS calls mocked)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
from bootstrap_helpers import PROGRAM, ROLE, backend_record, env_text, load
from botocore.exceptions import ClientError

bootstrap = load(PROGRAM, "ollama_platform_bootstrap")


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


# -- record ---------------------------------------------------------------------------------------------------


def test_parse_record_reads_key_value_lines_and_skips_comments():
    text = "# written by user data\n\nA_KEY=value=with=equals\nEMPTY=\n"
    assert bootstrap.parse_record(text, "f") == {"A_KEY": "value=with=equals", "EMPTY": ""}


def test_parse_record_names_the_file_and_line_of_a_bad_line():
    with pytest.raises(bootstrap.BootstrapError, match=r"/etc/x line 2 is not KEY=VALUE") as caught:
        bootstrap.parse_record("A=1\nnot a setting\n", "/etc/x")
    assert caught.value.step == "record"


def test_validate_record_lists_missing_keys_of_the_tier():
    record = backend_record()
    del record["OLLAMA_DATA_TABLE"], record["OLLAMA_PLATFORM_LIFECYCLE_HOOK"]
    with pytest.raises(bootstrap.BootstrapError, match="lacks OLLAMA_PLATFORM_LIFECYCLE_HOOK, OLLAMA_DATA_TABLE"):
        bootstrap.validate_record(record, "instance.env")


def test_validate_record_refuses_an_unknown_tier():
    with pytest.raises(bootstrap.BootstrapError, match="OLLAMA_PLATFORM_ROLE is 'gpu'"):
        bootstrap.validate_record(backend_record(OLLAMA_PLATFORM_ROLE="gpu"), "instance.env")


def test_read_record_names_the_missing_file(tmp_path: Path):
    missing = tmp_path / "instance.env"
    with pytest.raises(bootstrap.BootstrapError, match=f"instance record {missing} is missing"):
        bootstrap.read_record(missing)


def test_read_record_accepts_a_complete_backend_record(tmp_path: Path):
    path = tmp_path / "instance.env"
    path.write_text(env_text(backend_record()))
    assert bootstrap.read_record(path) == backend_record()


def test_secret_settings_are_the_arn_keys_only():
    record = backend_record(DATABASE_SECRET_ARN="arn:db", REDIS_AUTH_SECRET_ARN="")
    assert bootstrap.secret_settings(record) == {
        "DATABASE_SECRET_ARN": "arn:db",
        "OLLAMA_API_TOKEN_SECRET_ARN": record["OLLAMA_API_TOKEN_SECRET_ARN"],
    }


def test_secret_settings_leave_an_ssm_parameter_to_the_service_that_reads_it():
    """DescribeSecret knows no SSM parameter (AWS refuses it): an OIDC client secret kept in Parameter Store must not
    abandon every launch."""
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/ollama/oidc-client-secret"
    record = backend_record(OIDC_CLIENT_SECRET_ARN=parameter)
    assert bootstrap.secret_settings(record) == {"OLLAMA_API_TOKEN_SECRET_ARN": record["OLLAMA_API_TOKEN_SECRET_ARN"]}


# -- metadata -------------------------------------------------------------------------------------------------


def test_metadata_base_prefers_the_sdk_variable():
    assert (
        bootstrap.metadata_base({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://10.0.0.1:1338"})
        == "http://10.0.0.1:1338/"
    )


def test_metadata_base_defaults_to_the_aws_address_without_contacting_it():
    assert bootstrap.metadata_base({}) == bootstrap.AWS_METADATA_ENDPOINT


@pytest.mark.parametrize(
    ("state", "waiting"),
    [
        ("InService", True),
        ("Warmed:Stopped", True),
        ("Warmed:Running", True),
        ("Warmed:Hibernated", True),
        ("", False),
        ("Terminated", False),
        ("Detached", False),
        ("Standby", False),
    ],
)
def test_hook_waiting_follows_the_target_lifecycle_state(state: str, waiting: bool):
    assert bootstrap.hook_waiting(state) is waiting


def test_wait_in_service_polls_until_in_service():
    states = iter(["Warmed:Running", "Warmed:Running", "InService"])
    now = [0.0]
    assert bootstrap.wait_in_service(
        lambda: next(states), 100, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    assert now[0] == 30.0


def test_wait_in_service_gives_up_after_the_timeout():
    now = [0.0]
    assert not bootstrap.wait_in_service(
        lambda: "Warmed:Running", 40, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )


# -- secrets --------------------------------------------------------------------------------------------------


def test_check_secrets_names_the_key_of_a_missing_secret():
    def describe(arn: str) -> None:
        raise client_error("ResourceNotFoundException", "no such secret")

    with pytest.raises(bootstrap.BootstrapError, match="named by OLLAMA_API_TOKEN_SECRET_ARN is not usable") as caught:
        bootstrap.check_secrets({"OLLAMA_API_TOKEN_SECRET_ARN": "arn:x"}, describe)
    assert caught.value.step == "secrets"
    assert "ResourceNotFoundException" in str(caught.value)


# -- configure ------------------------------------------------------------------------------------------------


def test_playbook_command_runs_locally_with_the_record_as_extra_vars():
    command = bootstrap.playbook_command(Path("/v/bin/ansible-playbook"), Path("/a/instance.yml"), Path("/run/x.json"))
    assert command == [
        "/v/bin/ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "/a/instance.yml",
        "-e",
        "@/run/x.json",
    ]


def test_playbook_environment_exports_the_record_endpoint_and_the_shipped_config(tmp_path: Path):
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    record = backend_record(AWS_ENDPOINT_URL="http://10.88.0.1:4566")
    env = bootstrap.playbook_environment({"PATH": "/bin"}, record, tmp_path / "instance.yml")
    assert env["AWS_ENDPOINT_URL"] == "http://10.88.0.1:4566"
    assert env["ANSIBLE_CONFIG"] == str(tmp_path / "ansible.cfg")
    assert env["AWS_REGION"] == "us-east-1"


def test_playbook_environment_leaves_the_endpoint_alone_on_aws(tmp_path: Path):
    env = bootstrap.playbook_environment({}, backend_record(AWS_ENDPOINT_URL=""), tmp_path / "instance.yml")
    assert "AWS_ENDPOINT_URL" not in env
    assert "ANSIBLE_CONFIG" not in env


def test_extra_vars_file_holds_the_record_and_identity_only(tmp_path: Path):
    identity = bootstrap.Identity("i-0abc", "us-east-1", "InService")
    path = bootstrap.write_extra_vars(bootstrap.extra_vars(backend_record(), identity), tmp_path / "run")
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert data["instance_settings"] == backend_record()
    assert data["instance_identity"] == {"instance_id": "i-0abc", "region": "us-east-1", "instance_type": ""}
    assert not [key for key in data if key.startswith("ollama_")], "no tuning given, no role settings"


# -- tuning ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "gpu", "parallel", "loaded", "keep_alive"),
    [
        ("g6.xlarge", True, 8, 3, "-1"),  # L4, 24 GiB
        ("g5.xlarge", True, 8, 3, "-1"),  # A10G, 24 GiB
        ("g4dn.xlarge", True, 4, 2, "-1"),  # T4, 16 GiB
        ("g6e.xlarge", True, 16, 4, "-1"),  # L40S, 48 GiB
        ("c6i.xlarge", False, 4, 1, "5m"),
        ("c7i.4xlarge", False, 8, 2, "30m"),
    ],
)
def test_tuning_follows_the_instance_type(instance_type, gpu, parallel, loaded, keep_alive):
    tuning = bootstrap.derive_tuning(instance_type, host=lambda: pytest.fail("a listed type never reads the host"))
    assert tuning.role_vars() == {
        "ollama_gpu": gpu,
        "ollama_num_parallel": parallel,
        "ollama_max_loaded_models": loaded,
        "ollama_keep_alive": keep_alive,
    }


def test_an_unlisted_cpu_type_is_read_from_the_host():
    tuning = bootstrap.derive_tuning("m8g.4xlarge", host=lambda: (16, 64.0))
    assert (tuning.gpu, tuning.num_parallel, tuning.max_loaded_models) == (False, 8, 2)


def test_an_unlisted_gpu_type_is_refused_with_the_fix():
    with pytest.raises(bootstrap.BootstrapError, match=r"GPU instance type p5\.48xlarge is not in INSTANCE_TYPES"):
        bootstrap.derive_tuning("p5.48xlarge", host=lambda: (192, 2048.0))


def test_extra_vars_carry_the_backends_tuning():
    identity = bootstrap.Identity("i-0abc", "us-east-1", "InService", "g6.xlarge")
    data = bootstrap.extra_vars(backend_record(), identity, bootstrap.derive_tuning("g6.xlarge"))
    assert data["ollama_gpu"] is True and data["ollama_num_parallel"] == 8
    assert data["instance_identity"]["instance_type"] == "g6.xlarge"


@pytest.mark.parametrize(
    ("instance_type", "models", "problem"),
    [
        ("g6.xlarge", ["llama3.1:8b", "nomic-embed-text"], ""),
        ("g4dn.xlarge", ["llama3.1:8b", "gemma2:9b"], ""),
        ("g4dn.xlarge", ["llama3.1:8b", "gemma2:9b", "qwen2.5:7b"], "need 19 GiB, it has 16 GiB of GPU memory"),
        ("c6i.xlarge", ["llama3.2:1b", "nomic-embed-text"], ""),
        ("t3.medium", ["llama3.2:3b"], "of memory left after 2 GiB for the host"),
        ("x9.large", ["llama3.2:1b"], "not in INSTANCE_TYPES"),
    ],
)
def test_models_are_checked_against_the_types_memory(instance_type, models, problem):
    found = bootstrap.fit_problem(instance_type, models)
    assert (problem in found) if problem else found == ""
    assert bool(found) == bool(problem)


def test_an_unknown_model_size_is_refused():
    with pytest.raises(bootstrap.BootstrapError, match=r"no size known for model.*MODEL_WEIGHTS_GIB"):
        bootstrap.models_memory_gib(["llama3.1:405b"])


def test_tuning_option_prints_the_settings_without_any_other_step(capsys):
    assert bootstrap.main(["--tuning", "g5.xlarge"]) == 0
    assert json.loads(capsys.readouterr().out)["ollama_gpu"] is True
    assert bootstrap.main(["--tuning", "p4d.24xlarge"]) == 1
    assert "FAILED: tuning" in capsys.readouterr().err


def test_run_playbook_names_a_missing_program(tmp_path: Path):
    command = bootstrap.playbook_command(tmp_path / "nope", tmp_path / "instance.yml", tmp_path / "x.json")
    with pytest.raises(bootstrap.BootstrapError, match="not baked with the instance_bootstrap role"):
        bootstrap.run_playbook(command, {})


FAKE_PLAYBOOK = """#!/bin/sh
echo "PLAY [Instance - configure this instance's tier from its instance record] ***"
echo "TASK [ollama : Check the API token secret] ***"
echo "ok: [localhost]"
echo "TASK [cloudwatch_agent : Require the environment the logs belong to] ***"
echo 'fatal: [localhost]: FAILED! => {"msg": "cloudwatch_agent_environment=\\"\\" is not an environment name"}'
echo "PLAY RECAP ***" >&2
exit 2
"""


def test_run_playbook_names_the_failed_task_and_passes_the_output_on(tmp_path: Path, capsys):
    program = tmp_path / "ansible-playbook"
    program.write_text(FAKE_PLAYBOOK)
    program.chmod(0o755)
    playbook = tmp_path / "instance.yml"
    playbook.write_text("---\n")
    command = bootstrap.playbook_command(program, playbook, tmp_path / "x.json")
    with pytest.raises(bootstrap.BootstrapError) as raised:
        bootstrap.run_playbook(command, {"PATH": "/usr/bin:/bin"})
    message = str(raised.value)
    assert message.startswith(
        "instance.yml failed (exit 2) at task [cloudwatch_agent : Require the environment the logs belong to]: "
        "fatal: [localhost]: FAILED!"
    )
    assert "is not an environment name" in message
    out = capsys.readouterr().out
    assert "TASK [ollama : Check the API token secret]" in out and "PLAY RECAP" in out


def test_last_failure_is_empty_without_a_failed_task():
    assert bootstrap.last_failure(["TASK [a] ***", "ok: [localhost]"]) == ("", "")


# -- ready ----------------------------------------------------------------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ready_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_wait_ready_returns_once_the_url_answers_200(ready_server):
    _Answers.statuses = [503, 503, 200]
    bootstrap.wait_ready(f"http://127.0.0.1:{ready_server.server_port}/ready", timeout=10, interval=0.01)


def test_wait_ready_fails_with_the_last_answer(ready_server):
    _Answers.statuses = [503]
    with pytest.raises(bootstrap.BootstrapError, match=r"did not answer 200 within 0 s \(last: HTTP 503\)"):
        bootstrap.wait_ready(f"http://127.0.0.1:{ready_server.server_port}/ready", timeout=0, interval=0.01)


def test_ready_urls_are_the_roles_ports():
    import yaml
    from bootstrap_helpers import ROOT

    ollama = yaml.safe_load((ROOT / "roles/ollama/defaults/main.yml").read_text())
    webui = yaml.safe_load((ROOT / "roles/open_webui/defaults/main.yml").read_text())
    assert bootstrap.READY_URLS["backend"] == f"http://127.0.0.1:{ollama['ollama_proxy_port']}/ready"
    assert bootstrap.READY_URLS["frontend"] == f"http://127.0.0.1:{webui['open_webui_port']}/health"


# -- lifecycle hook -------------------------------------------------------------------------------------------


def test_complete_hook_sends_the_record_names():
    client = mock.Mock()
    assert bootstrap.complete_hook(client, backend_record(), "i-1", "CONTINUE") == "completed"
    client.complete_lifecycle_action.assert_called_once_with(
        LifecycleHookName="ollama-dev-asg-launch",
        AutoScalingGroupName="ollama-dev-asg",
        LifecycleActionResult="CONTINUE",
        InstanceId="i-1",
    )


def test_complete_hook_ignores_no_active_action_on_a_reboot():
    client = mock.Mock()
    client.complete_lifecycle_action.side_effect = client_error(
        "ValidationError", "No active Lifecycle Action found with instance ID i-1"
    )
    assert bootstrap.complete_hook(client, backend_record(), "i-1", "CONTINUE") == "nothing waiting"


def test_complete_hook_raises_other_errors():
    client = mock.Mock()
    client.complete_lifecycle_action.side_effect = client_error("AccessDenied", "not allowed")
    with pytest.raises(ClientError):
        bootstrap.complete_hook(client, backend_record(), "i-1", "CONTINUE")


def test_bootstrap_and_drain_complete_hooks_through_the_one_installed_module():
    """One CompleteLifecycleAction for both programs: the module the role installs into their virtualenv."""
    lifecycle = ROLE / "files" / "ollama_platform_lifecycle.py"
    programs = [PROGRAM, ROLE / "files" / "ollama-platform-drain.py"]
    for program in programs:
        source = program.read_text()
        assert "from ollama_platform_lifecycle import complete_lifecycle_action" in source, program.name
        assert "No active Lifecycle Action" not in source, f"{program.name} handles the answer itself again"
    assert "def complete_lifecycle_action(" in lifecycle.read_text()
    tasks = (ROLE / "tasks" / "service.yml").read_text()
    assert "src: ollama_platform_lifecycle.py" in tasks
    assert "instance_bootstrap_site_packages.stdout }}/ollama_platform_lifecycle.py" in tasks
    assert "get_path('purelib')" in tasks and "instance_bootstrap__venv }}/bin/python3" in tasks
    for unit in ("ollama-platform-bootstrap.service.j2", "ollama-platform-drain.service.j2"):
        assert "{{ instance_bootstrap__venv }}/bin/python3" in (ROLE / "templates" / unit).read_text(), unit


def test_failure_line_names_the_step():
    line = bootstrap.failure_line(bootstrap.BootstrapError("ready", "x did not answer"))
    assert line == "ollama-platform-bootstrap: FAILED: ready: x did not answer"


# -- main (wiring, AWS mocked) --------------------------------------------------------------------------------


@pytest.fixture
def wired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """main() with the record on disk and every outside call replaced."""
    env_file = tmp_path / "instance.env"
    env_file.write_text(env_text(backend_record()))
    state = {"target": "InService"}
    monkeypatch.setattr(
        bootstrap,
        "fetch_identity",
        lambda base: bootstrap.Identity("i-0abc", "us-east-1", state["target"], "c6i.xlarge"),
    )
    monkeypatch.setattr(bootstrap, "check_secrets", lambda secrets, describe: None)
    monkeypatch.setattr(bootstrap, "wait_ready", lambda url, timeout: None)
    runs: list[list[str]] = []
    monkeypatch.setattr(bootstrap, "run_playbook", lambda command, env: runs.append(command))
    client = mock.Mock()
    monkeypatch.setattr(bootstrap, "autoscaling_client", lambda region: client)
    args = ["--env-file", str(env_file), "--console", str(tmp_path / "console"), "--run-dir", str(tmp_path / "run")]
    return {"args": args, "client": client, "runs": runs, "state": state, "tmp": tmp_path}


def _results(client: mock.Mock) -> list[str]:
    return [call.kwargs["LifecycleActionResult"] for call in client.complete_lifecycle_action.call_args_list]


def test_main_continues_the_hook_after_configure_and_ready(wired):
    assert bootstrap.main(wired["args"]) == 0
    assert len(wired["runs"]) == 1
    assert _results(wired["client"]) == ["CONTINUE"]


def test_main_completes_a_warm_pool_hook(wired):
    wired["state"]["target"] = "Warmed:Stopped"
    assert bootstrap.main(wired["args"]) == 0
    assert _results(wired["client"]) == ["CONTINUE"]


def test_main_completes_nothing_outside_an_auto_scaling_group(wired):
    wired["state"]["target"] = ""
    assert bootstrap.main(wired["args"]) == 0
    assert _results(wired["client"]) == []


def test_main_abandons_on_a_failed_playbook(wired, monkeypatch, capsys):
    def fail(command: list[str], env: dict[str, str]) -> None:
        raise bootstrap.BootstrapError("configure", "instance.yml failed (exit 2)")

    monkeypatch.setattr(bootstrap, "run_playbook", fail)
    assert bootstrap.main(wired["args"]) == 1
    assert _results(wired["client"]) == ["ABANDON"]
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "FAILED" in line)
    assert line.startswith("ollama-platform-bootstrap: FAILED: configure: instance.yml failed (exit 2) [")
    # Which instance, tier, environment and group: the line alone is enough in CloudWatch or the console output.
    assert re.search(r"\[i-\S+ backend dev ollama-dev-asg us-east-1\]$", line), line
    assert (wired["tmp"] / "console").read_text() == line + "\n"


def test_main_abandons_on_an_unexpected_error(wired, monkeypatch, capsys):
    monkeypatch.setattr(bootstrap, "wait_ready", mock.Mock(side_effect=RuntimeError("boom")))
    assert bootstrap.main(wired["args"]) == 1
    assert _results(wired["client"]) == ["ABANDON"]
    err = capsys.readouterr().err
    assert "FAILED: unexpected: RuntimeError: boom [" in err
    assert "Traceback (most recent call last)" in err and "wait_ready" in err  # where it broke


def test_main_without_a_record_fails_clearly_and_completes_nothing(wired, capsys):
    (wired["tmp"] / "instance.env").unlink()
    assert bootstrap.main(wired["args"]) == 1
    assert _results(wired["client"]) == []
    assert f"FAILED: record: instance record {wired['tmp'] / 'instance.env'} is missing" in capsys.readouterr().err
