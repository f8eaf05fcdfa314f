"""ollama-platform-bootstrap as a subprocess, as systemd runs it: against the AWS emulator (Auto Scaling group with
a launch hook, Secrets Manager) and an instance-metadata double, with a tiny playbook and a local readiness URL.

The lifecycle actions the program completes are read back from the emulator's `GET /_emulator/lifecycle-actions`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from bootstrap_helpers import PROGRAM, backend_record, env_text

from tests.ansible_runner import ANSIBLE_PLAYBOOK

pytestmark = pytest.mark.emulator

REGION = "us-east-1"
ASG = "ollama-dev-asg"
HOOK = "ollama-dev-asg-launch"
TOKEN_VALUE = "instance-token-value-never-in-the-record"

try:  # the twin's metadata double, when present
    from tools.twin.imds import InstanceRecord, MetadataServer, Registry
except ImportError:  # pragma: no cover - a minimal stand-in with the same interface
    InstanceRecord = MetadataServer = Registry = None  # type: ignore[assignment,misc]


class _StandIn(BaseHTTPRequestHandler):
    """IMDSv2 with one instance: token, instance-id, placement/region, target-lifecycle-state, role credentials."""

    meta: ClassVar[dict[str, str]] = {}

    def do_PUT(self) -> None:
        self._send(200, "token" if self.path == "/latest/api/token" else "")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "token":
            self._send(401, "")
            return
        value = self.meta.get(self.path.removeprefix("/latest/meta-data/"))
        self._send(200, value) if value is not None else self._send(404, "")

    def _send(self, status: int, body: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def group(aws: str) -> dict[str, str]:
    """An Auto Scaling group with a launch hook, one instance, and the API token secret."""
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.medium"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=ASG,
        LaunchConfigurationName="lc",
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
        LifecycleHookSpecificationList=[
            {
                "LifecycleHookName": HOOK,
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                "DefaultResult": "ABANDON",
                "HeartbeatTimeout": 900,
            }
        ],
    )
    instance_id = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][0][
        "Instances"
    ][0]["InstanceId"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="ollama-dev-api-token", SecretString=TOKEN_VALUE
    )["ARN"]
    return {"instance_id": instance_id, "token_arn": arn, "endpoint": aws}


@pytest.fixture
def instance_type() -> str:
    """The instance's type in the metadata (tests parametrize it)."""
    return "t3.medium"


@pytest.fixture
def metadata(group: dict[str, str], instance_type: str) -> Iterator[str]:
    """The metadata endpoint serving the group's instance (the twin's double when present, else a stand-in)."""
    if MetadataServer is not None:
        registry = Registry()
        registry.put(
            InstanceRecord(
                instance_id=group["instance_id"],
                private_ip="127.0.0.1",
                region=REGION,
                availability_zone=f"{REGION}a",
                image_id="ami-12c6146b",
                iam_role_name="ollama-dev-backend-role",
                lifecycle_state="InService",
                instance_type=instance_type,
            )
        )
        server = MetadataServer(registry, host="127.0.0.1", port=0)
        server.start()
        yield server.url
        server.stop()
        return
    creds = {"Code": "Success", "AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing",
             "Expiration": "2099-01-01T00:00:00Z"}  # fmt: skip
    _StandIn.meta = {
        "instance-id": group["instance_id"],
        "placement/region": REGION,
        "instance-type": instance_type,
        "autoscaling/target-lifecycle-state": "InService",
        "iam/security-credentials/": "ollama-dev-backend-role",
        "iam/security-credentials/ollama-dev-backend-role": json.dumps(creds),
    }
    server, url = _serve(_StandIn)
    yield url
    server.shutdown()
    server.server_close()


class _Ready(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        self.send_response(200 if type(self).calls >= 3 else 503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ready_url() -> Iterator[str]:
    _Ready.calls = 0
    server, url = _serve(_Ready)
    yield f"{url}/ready"
    server.shutdown()
    server.server_close()


PLAYBOOK_OK = """\
- name: Stand-in for instance.yml
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record what the instance was given
      ansible.builtin.copy:
        content: "{{ {'settings': instance_settings, 'identity': instance_identity,
                      'endpoint': lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL'),
                      'ollama': {'gpu': ollama_gpu, 'num_parallel': ollama_num_parallel,
                                 'max_loaded_models': ollama_max_loaded_models, 'keep_alive': ollama_keep_alive}}
                     | to_json }}"
        dest: "{{ playbook_dir }}/configured.json"
        mode: "0600"
"""

PLAYBOOK_FAIL = """\
- name: Stand-in for a failing instance.yml
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fail like a role with a bad setting
      ansible.builtin.fail:
        msg: open_webui_ollama_base_urls must list the Ollama tier's http(s) URLs
"""


def run_bootstrap(
    tmp_path: Path, metadata_url: str, record: dict[str, str] | None, playbook: str, ready_url: str
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "instance.env"
    if record is not None:
        env_file.write_text(env_text(record))
    (tmp_path / "instance.yml").write_text(playbook)
    # As on the instance, an ansible.cfg beside the playbook (the program points ANSIBLE_CONFIG at it).
    (tmp_path / "ansible.cfg").write_text(
        f"[defaults]\ninterpreter_python = {sys.executable}\nretry_files_enabled = false\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata_url,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "OLLAMA_PLATFORM_BOOTSTRAP_PLAYBOOK": str(tmp_path / "instance.yml"),
        "OLLAMA_PLATFORM_BOOTSTRAP_READY_URL": ready_url,
    }  # no AWS credentials or endpoint: the instance role (metadata) and the record provide them
    return subprocess.run(
        [sys.executable, str(PROGRAM), "--env-file", str(env_file), "--ansible-playbook", str(ANSIBLE_PLAYBOOK),
         "--ready-timeout", "30", "--console", str(tmp_path / "console"), "--run-dir", str(tmp_path / "run")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def completed_actions(endpoint: str) -> list[dict[str, Any]]:
    """The emulator's record of CompleteLifecycleAction calls (skips when this emulator has none yet)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_emulator/lifecycle-actions", timeout=10) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        pytest.skip(f"the AWS emulator has no /_emulator/lifecycle-actions yet (HTTP {exc.code})")
    return data if isinstance(data, list) else data.get("actions", data.get("LifecycleActions", []))


def _result_for(actions: list[dict[str, Any]], instance_id: str) -> list[str]:
    return [
        action.get("LifecycleActionResult") or action.get("result", "")
        for action in actions
        if (action.get("InstanceId") or action.get("instance_id")) == instance_id
    ]


def test_success_configures_waits_for_ready_and_continues(tmp_path, group, metadata, ready_url):
    record = backend_record(OLLAMA_API_TOKEN_SECRET_ARN=group["token_arn"], AWS_ENDPOINT_URL=group["endpoint"])
    result = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_OK, ready_url)
    assert result.returncode == 0, result.stdout + result.stderr
    configured = json.loads((tmp_path / "configured.json").read_text())
    assert configured["settings"] == record
    identity = {"instance_id": group["instance_id"], "region": REGION, "instance_type": "t3.medium"}
    assert configured["identity"] == identity
    assert configured["endpoint"] == group["endpoint"]
    assert _Ready.calls >= 3
    for where in (result.stdout, result.stderr, (tmp_path / "run" / "instance.json").read_text()):
        assert TOKEN_VALUE not in where
    assert "FAILED" not in result.stderr
    assert _result_for(completed_actions(group["endpoint"]), group["instance_id"]) == ["CONTINUE"]


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("g6.xlarge", {"gpu": True, "num_parallel": 8, "max_loaded_models": 3, "keep_alive": "-1"}),
        ("g5.xlarge", {"gpu": True, "num_parallel": 8, "max_loaded_models": 3, "keep_alive": "-1"}),
        ("c6i.xlarge", {"gpu": False, "num_parallel": 4, "max_loaded_models": 1, "keep_alive": "5m"}),
    ],
)
def test_the_backends_ollama_settings_come_from_the_instance_type_in_the_metadata(
    tmp_path, group, metadata, ready_url, instance_type, expected
):
    """One launch template, every type: the program reads the type through IMDSv2 and hands the playbook the ollama
    role's settings for it."""
    record = backend_record(OLLAMA_API_TOKEN_SECRET_ARN=group["token_arn"], AWS_ENDPOINT_URL=group["endpoint"])
    result = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_OK, ready_url)
    assert result.returncode == 0, result.stdout + result.stderr
    configured = json.loads((tmp_path / "configured.json").read_text())
    assert configured["identity"]["instance_type"] == instance_type
    assert configured["ollama"] == expected
    assert f"Ollama settings for {instance_type}" in result.stdout


def test_failing_playbook_abandons_with_the_cause(tmp_path, group, metadata, ready_url):
    record = backend_record(OLLAMA_API_TOKEN_SECRET_ARN=group["token_arn"], AWS_ENDPOINT_URL=group["endpoint"])
    result = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_FAIL, ready_url)
    assert result.returncode == 1
    assert "open_webui_ollama_base_urls must list" in result.stdout  # the play's own output, in the journal
    failed = [line for line in result.stderr.splitlines() if line.startswith("ollama-platform-bootstrap: FAILED:")]
    assert len(failed) == 1 and failed[0].startswith(
        "ollama-platform-bootstrap: FAILED: configure: instance.yml failed"
    )
    assert (tmp_path / "console").read_text() == failed[0] + "\n"
    assert _Ready.calls == 0
    assert _result_for(completed_actions(group["endpoint"]), group["instance_id"]) == ["ABANDON"]


def test_bad_secret_name_abandons_before_configuring(tmp_path, group, metadata, ready_url):
    bad = group["token_arn"].replace("ollama-dev-api-token", "ollama-dev-api-tokn")
    record = backend_record(OLLAMA_API_TOKEN_SECRET_ARN=bad, AWS_ENDPOINT_URL=group["endpoint"])
    result = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_OK, ready_url)
    assert result.returncode == 1
    assert "ollama-platform-bootstrap: FAILED: secrets: secret " in result.stderr
    assert "named by OLLAMA_API_TOKEN_SECRET_ARN is not usable (ResourceNotFoundException)" in result.stderr
    assert not (tmp_path / "configured.json").exists()
    assert _result_for(completed_actions(group["endpoint"]), group["instance_id"]) == ["ABANDON"]


def test_missing_instance_env_fails_with_a_clear_message(tmp_path, group, metadata, ready_url):
    result = run_bootstrap(tmp_path, metadata, None, PLAYBOOK_OK, ready_url)
    assert result.returncode == 1
    assert f"ollama-platform-bootstrap: FAILED: record: instance record {tmp_path / 'instance.env'} is missing" in (
        result.stderr
    )
    assert not (tmp_path / "configured.json").exists()


def test_reboot_with_nothing_waiting_succeeds_and_completes_once(tmp_path, group, metadata, ready_url):
    record = backend_record(OLLAMA_API_TOKEN_SECRET_ARN=group["token_arn"], AWS_ENDPOINT_URL=group["endpoint"])
    first = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_OK, ready_url)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_bootstrap(tmp_path, metadata, record, PLAYBOOK_OK, ready_url)
    assert again.returncode == 0, again.stdout + again.stderr
    actions = completed_actions(group["endpoint"])
    if "CONTINUE completed" not in first.stdout:
        pytest.skip("this emulator accepts CompleteLifecycleAction without a pending action")
    assert "CONTINUE nothing waiting" in again.stdout
    assert _result_for(actions, group["instance_id"]) == ["CONTINUE"]


MAPPING_PLAYBOOK = """\
- name: Render the tier mapping as instance.yml does
  hosts: localhost
  gather_facts: false
  vars_files:
    - {vars_file}
  tasks:
    - name: Write the role variables
      ansible.builtin.copy:
        content: "{{{{ dict(names | zip(names | map('extract', vars))) | to_json }}}}"
        dest: "{{{{ playbook_dir }}}}/mapped.json"
        mode: "0600"
      vars:
        names: [open_webui_database_secret_id, open_webui_database_host, open_webui_database_port,
                open_webui_redis_auth_secret_id, open_webui_redis_host, open_webui_redis_scheme, open_webui_url,
                open_webui_ollama_base_urls, open_webui_s3_key_prefix, open_webui_s3_addressing_style,
                open_webui_secret_key_secret_id, open_webui_admin_email, open_webui_admin_password_secret_id,
                open_webui_oidc_enabled, ollama_api_token_secret_id, ollama_models, ollama_inflight_metric_enabled,
                ollama_inflight_metric_asg_name]
"""


def test_tier_mapping_hands_the_roles_secret_ids_never_values(tmp_path, aws):
    """vars/instance_tiers.yml passes ARNs and hosts: the role's units read the secrets on the host at start."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    db_arn = secrets.create_secret(
        Name="rds!db-1", SecretString=json.dumps({"username": "webui", "password": "p@ss/w"})
    )["ARN"]
    redis_arn = secrets.create_secret(Name="ollama-dev-redis-auth", SecretString="redis-tok")["ARN"]
    settings = {
        "OLLAMA_PLATFORM_ROLE": "frontend",
        "OLLAMA_PLATFORM_REGION": REGION,
        "OLLAMA_PLATFORM_ASG_NAME": "ollama-dev-frontend-asg",
        "OLLAMA_API_TOKEN_SECRET_ARN": "arn:token",
        "WEBUI_URL": "https://chat.example.org",
        "OLLAMA_BASE_URL": "http://internal-alb",
        "WEBUI_SECRET_KEY_SECRET_ARN": "arn:webui",
        "DATABASE_SECRET_ARN": db_arn,
        "DATABASE_HOST": "db.internal",
        "REDIS_AUTH_SECRET_ARN": redis_arn,
        "REDIS_HOST": "redis.internal",
        "S3_BUCKET_NAME": "assets",
        "S3_KEY_PREFIX": "uploads",
        "AWS_ENDPOINT_URL": aws,
        "WEBUI_ADMIN_EMAIL": "admin@example.org",
        "WEBUI_ADMIN_PASSWORD_SECRET_ARN": "arn:admin",
    }
    from bootstrap_helpers import ROOT

    (tmp_path / "play.yml").write_text(MAPPING_PLAYBOOK.format(vars_file=ROOT / "playbooks/vars/instance_tiers.yml"))
    (tmp_path / "vars.json").write_text(json.dumps({"instance_settings": settings}))
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\ninterpreter_python = {sys.executable}\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "HOME": str(tmp_path)}
    env.pop("AWS_ENDPOINT_URL")  # the endpoint comes from the record, as on the instance
    result = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "play.yml", "-e", f"@{tmp_path / 'vars.json'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    mapped = json.loads((tmp_path / "mapped.json").read_text())
    assert "p@ss" not in json.dumps(mapped) and "redis-tok" not in json.dumps(mapped)
    assert mapped == {
        "open_webui_database_secret_id": db_arn,
        "open_webui_database_host": "db.internal",
        "open_webui_database_port": 5432,
        "open_webui_redis_auth_secret_id": redis_arn,
        "open_webui_redis_host": "redis.internal",
        "open_webui_redis_scheme": "rediss",
        "open_webui_admin_email": "admin@example.org",
        "open_webui_admin_password_secret_id": "arn:admin",
        "open_webui_oidc_enabled": False,
        "open_webui_url": "https://chat.example.org",
        "open_webui_ollama_base_urls": ["http://internal-alb"],
        "open_webui_s3_key_prefix": "uploads/",
        "open_webui_s3_addressing_style": "path",
        "open_webui_secret_key_secret_id": "arn:webui",
        "ollama_api_token_secret_id": "arn:token",
        "ollama_models": ["llama3.2:1b"],
        "ollama_inflight_metric_enabled": True,
        "ollama_inflight_metric_asg_name": "ollama-dev-frontend-asg",
    }
