#!/opt/ollama-platform/venv/bin/python3
"""Configure this instance from its instance record at every boot, then complete its lifecycle hook.

Installed by the instance_bootstrap role as /usr/local/sbin/ollama-platform-bootstrap and run by
ollama-platform-bootstrap.service (after cloud-init's user data wrote the record). Steps:

  record     read /etc/ollama-platform/instance.env (KEY=VALUE lines: names and ARNs, never secret values)
  metadata   IMDSv2: instance id, region, instance type and the Auto Scaling target lifecycle state
  tuning     backend: Ollama's GPU use, concurrency and keep-alive derived from the instance type (one launch
             template serves every type of the group), passed to the playbook as ollama_* extra vars
  secrets    check every *_SECRET_ARN of the record that names a Secrets Manager secret exists and is readable
             (DescribeSecret; no value is read)
  configure  ansible-playbook -i localhost, -c local /opt/ollama-platform/ansible/instance.yml -e @<record.json>
  ready      wait until the tier answers (backend GET :8000/ready, frontend GET :8080/health) with HTTP 200
  complete   CompleteLifecycleAction CONTINUE when the group waits for this instance (target state InService or
             Warmed:*); ABANDON on any failure, after one line `ollama-platform-bootstrap: FAILED: ...` on stderr
             and /dev/console

Options override the installed paths (tests, operators re-running a step):
  --env-file PATH          instance record            (env OLLAMA_PLATFORM_BOOTSTRAP_ENV_FILE)
  --playbook PATH          playbook to run            (env OLLAMA_PLATFORM_BOOTSTRAP_PLAYBOOK)
  --ansible-playbook PATH  ansible-playbook program   (env OLLAMA_PLATFORM_BOOTSTRAP_ANSIBLE_PLAYBOOK)
  --ready-url URL          readiness URL              (env OLLAMA_PLATFORM_BOOTSTRAP_READY_URL)
  --ready-timeout SECONDS  readiness wait             (env OLLAMA_PLATFORM_BOOTSTRAP_READY_TIMEOUT, default 900)
  --console PATH           console for the failure    (env OLLAMA_PLATFORM_BOOTSTRAP_CONSOLE, default /dev/console)
  --run-dir PATH           where the record JSON goes (env OLLAMA_PLATFORM_BOOTSTRAP_RUN_DIR)
  --tuning TYPE            print the settings derived for an instance type as JSON and exit (no other step)
  --warm-wait SECONDS      after a Warmed:Running hook, wait this long for InService and complete again
                           (env OLLAMA_PLATFORM_BOOTSTRAP_WARM_WAIT, default 0: a Stopped warm pool boots again,
                           which runs this program again)
The metadata service is AWS_EC2_METADATA_SERVICE_ENDPOINT when set (as for the AWS SDKs), else AWS's address;
AWS_ENDPOINT_URL from the record (an emulator, a VPC endpoint) is exported for every AWS call and the playbook.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROG = "ollama-platform-bootstrap"
PREFIX = Path("/opt/ollama-platform")
DEFAULT_ENV_FILE = Path("/etc/ollama-platform/instance.env")
DEFAULT_PLAYBOOK = PREFIX / "ansible" / "instance.yml"
DEFAULT_ANSIBLE_PLAYBOOK = PREFIX / "venv" / "bin" / "ansible-playbook"
DEFAULT_ANSIBLE_CONFIG = PREFIX / "ansible" / "ansible.cfg"
DEFAULT_RUN_DIR = Path("/run/ollama-platform")
DEFAULT_CONSOLE = Path("/dev/console")
DEFAULT_READY_TIMEOUT = 900
# AWS's instance metadata service. Only used on EC2 when AWS_EC2_METADATA_SERVICE_ENDPOINT is unset;
# the local twin and the tests always set that variable.
AWS_METADATA_ENDPOINT = "http://169.254.169.254/"
TOKEN_TTL_SECONDS = 21600

# The instance record contract (roles/instance_bootstrap/vars/main.yml holds the same lists; a test
# keeps them and terraform/asg.tf together).
COMMON_KEYS = (
    "OLLAMA_PLATFORM_ENVIRONMENT",
    "OLLAMA_PLATFORM_REGION",
    "OLLAMA_PLATFORM_ROLE",
    "OLLAMA_PLATFORM_LOG_PREFIX",
    "OLLAMA_PLATFORM_ASG_NAME",
    "OLLAMA_PLATFORM_LIFECYCLE_HOOK",
    "OLLAMA_API_TOKEN_SECRET_ARN",
)
TIER_KEYS = {
    "backend": ("OLLAMA_DATA_TABLE",),
    "frontend": (
        "WEBUI_URL",
        "OLLAMA_BASE_URL",
        "WEBUI_SECRET_KEY_SECRET_ARN",
        "REDIS_AUTH_SECRET_ARN",
        "REDIS_HOST",
        "DATABASE_HOST",
        "DATABASE_SECRET_ARN",
        "S3_BUCKET_NAME",
        "S3_KEY_PREFIX",
    ),
}
OPTIONAL_KEYS = (
    "AWS_ENDPOINT_URL",
    "OLLAMA_MODELS",
    "OLLAMA_INFLIGHT_METRIC",
    "DATABASE_NAME",
    "DATABASE_PORT",
    "REDIS_PORT",
    "REDIS_SCHEME",
    "OLLAMA_PLATFORM_INSTALL",
    "WEBUI_ADMIN_EMAIL",
    "WEBUI_ADMIN_PASSWORD_SECRET_ARN",
    "OIDC_PROVIDER_URL",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET_ARN",
    "OIDC_PROVIDER_NAME",
    "OLLAMA_PLATFORM_DRAIN_HOOK",
    "OLLAMA_PLATFORM_DRAIN_SECONDS",
    "OLLAMA_PLATFORM_TARGET_GROUP_ARN",
)
READY_URLS = {"backend": "http://127.0.0.1:8000/ready", "frontend": "http://127.0.0.1:8080/health"}


class BootstrapError(Exception):
    """A failed step; the message names the cause and what to do."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Identity:
    """What the instance metadata says about this instance."""

    instance_id: str
    region: str
    target_lifecycle_state: str
    instance_type: str = ""


# -- record ---------------------------------------------------------------------------------------------------


def parse_record(text: str, source: str) -> dict[str, str]:
    """Parse KEY=VALUE lines (blank lines and # comments ignored; values taken literally)."""
    record: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum() or not key[0].isalpha():
            raise BootstrapError(
                "record",
                f"{source} line {number} is not KEY=VALUE ({raw!r}): fix the launch template's user data "
                "(terraform/templates/user_data.sh.tftpl)",
            )
        record[key] = value.strip()
    return record


def validate_record(record: dict[str, str], source: str) -> None:
    """Check the tier and that every key the tier needs has a value."""
    tier = record.get("OLLAMA_PLATFORM_ROLE", "")
    if tier not in TIER_KEYS:
        raise BootstrapError(
            "record",
            f"{source}: OLLAMA_PLATFORM_ROLE is {tier!r}, expected one of {', '.join(sorted(TIER_KEYS))}: "
            "fix the tier settings in terraform/asg.tf",
        )
    missing = [key for key in (*COMMON_KEYS, *TIER_KEYS[tier]) if not record.get(key)]
    if missing:
        raise BootstrapError(
            "record",
            f"{source} lacks {', '.join(missing)} for the {tier} tier: fix the tier settings in terraform/asg.tf "
            "and roll the group (instance refresh)",
        )


def read_record(path: Path) -> dict[str, str]:
    """Read and validate the instance record written by the user data."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BootstrapError(
            "record",
            f"instance record {path} is missing: the user data writes it at first boot; "
            "check the launch template user data and /var/log/cloud-init-output.log",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BootstrapError(
            "record", f"instance record {path} is unreadable ({exc}): restore it from user data"
        ) from exc
    record = parse_record(text, str(path))
    validate_record(record, str(path))
    return record


def secret_settings(record: dict[str, str]) -> dict[str, str]:
    """The record's Secrets Manager references: key -> ARN (names only; values are read by the services). A
    reference to an SSM parameter (the OIDC client secret may be one) is not a secret DescribeSecret knows: the
    service that reads it checks it at its start."""
    return {
        key: value
        for key, value in sorted(record.items())
        if key.endswith("_SECRET_ARN") and value and ":ssm:" not in value
    }


# -- metadata -------------------------------------------------------------------------------------------------


def metadata_base(environ: dict[str, str]) -> str:
    """Base URL of the instance metadata service, with a trailing slash."""
    return (environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or AWS_METADATA_ENDPOINT).rstrip("/") + "/"


def _http(request: urllib.request.Request, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) URLs only
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def fetch_identity(base: str, timeout: float = 5.0) -> Identity:
    """Read instance id, region and target lifecycle state with an IMDSv2 token."""
    if not base.startswith(("http://", "https://")):
        raise BootstrapError(
            "metadata", f"metadata endpoint {base} is not http(s): fix AWS_EC2_METADATA_SERVICE_ENDPOINT"
        )
    try:
        put = urllib.request.Request(  # noqa: S310 - scheme checked above
            base + "latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
        )
        status, token = _http(put, timeout)
        if status != 200:
            raise BootstrapError(
                "metadata",
                f"the metadata service at {base} refused an IMDSv2 token (HTTP {status}): "
                "check the launch template's metadata_options (http_endpoint enabled, hop limit)",
            )

        def get(path: str) -> tuple[int, str]:
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                base + "latest/meta-data/" + path, headers={"X-aws-ec2-metadata-token": token}
            )
            return _http(request, timeout)

        values = {}
        for path in ("instance-id", "placement/region", "instance-type"):
            status, body = get(path)
            if status != 200 or not body.strip():
                raise BootstrapError(
                    "metadata",
                    f"the metadata service at {base} has no {path} (HTTP {status}): is this an EC2 instance?",
                )
            values[path] = body.strip()
        status, state = get("autoscaling/target-lifecycle-state")
    except (urllib.error.URLError, OSError) as exc:
        raise BootstrapError(
            "metadata",
            f"the metadata service at {base} does not answer ({exc}): check the launch template's metadata_options "
            "and, off EC2, AWS_EC2_METADATA_SERVICE_ENDPOINT",
        ) from exc
    lifecycle = state.strip() if status == 200 else ""
    return Identity(values["instance-id"], values["placement/region"], lifecycle, values["instance-type"])


def wait_in_service(
    read_state: Callable[[], str],
    timeout: float,
    interval: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Poll the target lifecycle state until InService (a running warm instance entering service)."""
    deadline = clock() + timeout
    while clock() < deadline:
        if read_state() == "InService":
            return True
        sleep(interval)
    return False


def hook_waiting(target_state: str) -> bool:
    """True when the Auto Scaling group waits on the launch hook: target InService or a warm pool state."""
    return target_state == "InService" or target_state.startswith("Warmed:")


# -- tuning ---------------------------------------------------------------------------------------------------

# Instance types the backend runs on: (vCPUs, memory GiB, GPUs, total GPU memory GiB), from the EC2 instance type
# specifications (https://aws.amazon.com/ec2/instance-types/). An accelerated family missing here is refused (its GPU
# memory decides the settings); another CPU type is read from the host itself.
INSTANCE_TYPES: dict[str, tuple[int, float, int, float]] = {
    "t3.medium": (2, 4, 0, 0),
    "t3.large": (2, 8, 0, 0),
    "t3.xlarge": (4, 16, 0, 0),
    "m6i.large": (2, 8, 0, 0),
    "m7i.large": (2, 8, 0, 0),
    "c6i.large": (2, 4, 0, 0),
    "c6i.xlarge": (4, 8, 0, 0),
    "c6a.xlarge": (4, 8, 0, 0),
    "c7i.xlarge": (4, 8, 0, 0),
    "c6i.2xlarge": (8, 16, 0, 0),
    "c6a.2xlarge": (8, 16, 0, 0),
    "c7i.2xlarge": (8, 16, 0, 0),
    "c6i.4xlarge": (16, 32, 0, 0),
    "c7i.4xlarge": (16, 32, 0, 0),
    "g4dn.xlarge": (4, 16, 1, 16),  # NVIDIA T4
    "g4dn.2xlarge": (8, 32, 1, 16),
    "g5.xlarge": (4, 16, 1, 24),  # NVIDIA A10G
    "g5.2xlarge": (8, 32, 1, 24),
    "g5.12xlarge": (48, 192, 4, 96),
    "g6.xlarge": (4, 16, 1, 24),  # NVIDIA L4
    "g6.2xlarge": (8, 32, 1, 24),
    "g6.12xlarge": (48, 192, 4, 96),
    "g6e.xlarge": (4, 32, 1, 48),  # NVIDIA L40S
    "g6e.2xlarge": (8, 64, 1, 48),
}
ACCELERATED_FAMILIES = ("g4dn", "g4ad", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p4d", "p4de", "p5", "p5e")
# Weights of the library models the platform ships (GiB, default quantisation, `ollama list` sizes).
MODEL_WEIGHTS_GIB: dict[str, float] = {
    "llama3.2:1b": 1.3,
    "llama3.2:3b": 2.0,
    "llama3.1:8b": 4.9,
    "mistral:7b": 4.1,
    "qwen2.5:7b": 4.7,
    "gemma2:9b": 5.4,
    "nomic-embed-text": 0.3,
}
# Memory a loaded model needs beyond its weights (KV cache at the default context, CUDA context): weights x 1.2 + 1.
MODEL_OVERHEAD_FACTOR, MODEL_OVERHEAD_GIB = 1.2, 1.0
# What the OS, nginx, the agent and the bootstrap keep for themselves on a CPU instance.
HOST_RESERVED_GIB = 2.0


@dataclass(frozen=True)
class Tuning:
    """Ollama's settings for one instance type."""

    instance_type: str
    vcpus: int
    memory_gib: float
    gpu_memory_gib: float
    num_parallel: int
    max_loaded_models: int
    keep_alive: str

    @property
    def gpu(self) -> bool:
        return self.gpu_memory_gib > 0

    def role_vars(self) -> dict[str, Any]:
        """The ollama role's variables (extra vars of the playbook)."""
        return {
            "ollama_gpu": self.gpu,
            "ollama_num_parallel": self.num_parallel,
            "ollama_max_loaded_models": self.max_loaded_models,
            "ollama_keep_alive": self.keep_alive,
        }


def host_resources() -> tuple[int, float]:
    """vCPUs and memory (GiB) of this host, for a CPU type the table does not list."""
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        memory_kib = 0
    return os.cpu_count() or 1, memory_kib / 1024 / 1024


def instance_resources(instance_type: str, host: Callable[[], tuple[int, float]] = host_resources) -> tuple:
    """(vCPUs, memory GiB, GPU memory GiB) of an instance type."""
    if instance_type in INSTANCE_TYPES:
        vcpus, memory, _, gpu_memory = INSTANCE_TYPES[instance_type]
        return vcpus, float(memory), float(gpu_memory)
    if not instance_type or "." not in instance_type:
        raise BootstrapError("tuning", f"instance type {instance_type!r} is not an EC2 type: check the metadata")
    if instance_type.split(".")[0] in ACCELERATED_FAMILIES:
        raise BootstrapError(
            "tuning",
            f"GPU instance type {instance_type} is not in INSTANCE_TYPES of {PROG} (its GPU memory decides Ollama's "
            "settings): add it there (roles/instance_bootstrap/files/ollama-platform-bootstrap.py) and re-bake",
        )
    vcpus, memory = host()
    return vcpus, memory, 0.0


def derive_tuning(instance_type: str, host: Callable[[], tuple[int, float]] = host_resources) -> Tuning:
    """Ollama's settings for an instance type.

    GPU: every model stays loaded (keep-alive -1: loading onto the GPU costs seconds and the GPU does nothing else);
    parallel slots and loaded models grow with GPU memory. CPU: slots follow the vCPUs (at least Ollama's 4), a
    second loaded model from 16 GiB, models unloaded after idle minutes to give the memory back.
    """
    vcpus, memory, gpu_memory = instance_resources(instance_type, host)
    if gpu_memory > 0:
        parallel = 4 if gpu_memory < 20 else 8 if gpu_memory < 40 else 16
        loaded = 2 if gpu_memory < 20 else 3 if gpu_memory < 40 else 4
        keep_alive = "-1"
    else:
        parallel = max(4, vcpus // 2)
        loaded = 1 if memory < 16 else 2
        keep_alive = "5m" if memory < 16 else "30m"
    return Tuning(instance_type, vcpus, memory, gpu_memory, parallel, loaded, keep_alive)


def models_memory_gib(models: Iterable[str]) -> float:
    """Memory the models need loaded together; an unknown model is an error naming the table."""
    unknown = [m for m in models if m not in MODEL_WEIGHTS_GIB]
    if unknown:
        raise BootstrapError(
            "tuning",
            f"no size known for model(s) {', '.join(unknown)}: add their weights to MODEL_WEIGHTS_GIB in {PROG}",
        )
    weights = sum(MODEL_WEIGHTS_GIB[m] for m in models)
    return round(weights * MODEL_OVERHEAD_FACTOR + MODEL_OVERHEAD_GIB, 2)


def fit_problem(instance_type: str, models: Iterable[str]) -> str:
    """Why the models do not fit this instance type's GPU memory (or, CPU, its memory); "" when they do."""
    models = list(models)
    if instance_type not in INSTANCE_TYPES:
        return f"{instance_type}: not in INSTANCE_TYPES of {PROG}, its memory is unknown: add it"
    _, memory, gpu_memory = instance_resources(instance_type)
    need = models_memory_gib(models)
    if gpu_memory > 0:
        have, where = gpu_memory, "GPU memory"
    else:
        have, where = memory - HOST_RESERVED_GIB, f"memory left after {HOST_RESERVED_GIB:g} GiB for the host"
    if need > have:
        return (
            f"{instance_type}: {', '.join(models)} need {need:g} GiB, it has {have:g} GiB of {where}: "
            "choose a larger type or smaller models"
        )
    return ""


# -- secrets --------------------------------------------------------------------------------------------------


def check_secrets(secrets: dict[str, str], describe: Callable[[str], Any]) -> None:
    """DescribeSecret each reference: a wrong name or a missing permission fails here, before any change."""
    from botocore.exceptions import BotoCoreError, ClientError

    for key, arn in secrets.items():
        try:
            describe(arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise BootstrapError(
                "secrets",
                f"secret {arn} named by {key} is not usable ({code}): create it, fix {key} in terraform/asg.tf, "
                "or let the instance role read it (terraform/iam.tf)",
            ) from exc
        except BotoCoreError as exc:
            raise BootstrapError(
                "secrets", f"Secrets Manager is unreachable for {key} ({exc}): check the VPC endpoints / NAT route"
            ) from exc


# -- configure ------------------------------------------------------------------------------------------------


def extra_vars(record: dict[str, str], identity: Identity, tuning: Tuning | None = None) -> dict[str, Any]:
    """The playbook's extra vars: the record as `instance_settings`, the instance's identity and, on a backend,
    the ollama role's settings derived from the instance type."""
    data: dict[str, Any] = {
        "instance_settings": dict(record),
        "instance_identity": {
            "instance_id": identity.instance_id,
            "region": identity.region,
            "instance_type": identity.instance_type,
        },
    }
    if tuning is not None:
        data.update(tuning.role_vars())
    return data


def write_extra_vars(data: dict[str, Any], run_dir: Path) -> Path:
    """Write the extra vars JSON (0600) for ansible-playbook -e @file."""
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = run_dir / "instance.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
    return path


def playbook_command(ansible_playbook: Path, playbook: Path, vars_file: Path) -> list[str]:
    """The configuration command line."""
    return [str(ansible_playbook), "-i", "localhost,", "-c", "local", str(playbook), "-e", f"@{vars_file}"]


def playbook_environment(environ: dict[str, str], record: dict[str, str], playbook: Path) -> dict[str, str]:
    """Environment of the playbook: the record's endpoint, the shipped ansible.cfg, unbuffered output."""
    env = dict(environ)
    if record.get("AWS_ENDPOINT_URL"):
        env["AWS_ENDPOINT_URL"] = record["AWS_ENDPOINT_URL"]
    env.setdefault("AWS_REGION", record.get("OLLAMA_PLATFORM_REGION", ""))
    env.setdefault("AWS_DEFAULT_REGION", record.get("OLLAMA_PLATFORM_REGION", ""))
    config = playbook.parent / "ansible.cfg"
    if "ANSIBLE_CONFIG" not in env and config.is_file():
        env["ANSIBLE_CONFIG"] = str(config)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    return env


def last_failure(lines: Iterable[str]) -> tuple[str, str]:
    """(task, message) of the last failed task in ansible-playbook's output ("" when none is found)."""
    task = failed_task = message = ""
    for line in lines:
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line[line.index("[") + 1 : line.rindex("]")] if "]" in line else line
        elif line.startswith(("fatal:", "failed:")):
            failed_task, message = task, line.strip()
    return failed_task, message


def run_playbook(command: list[str], env: dict[str, str]) -> None:
    """Run the playbook with its output passed on to ours (the journal and the console); on failure, name the
    failed task and its message in the error, so the one FAILED line says what broke."""
    if not Path(command[0]).exists():
        raise BootstrapError(
            "configure", f"{command[0]} is missing: the image was not baked with the instance_bootstrap role"
        )
    if not Path(command[5]).is_file():
        raise BootstrapError(
            "configure", f"playbook {command[5]} is missing: re-bake the image (instance_bootstrap role)"
        )
    sys.stdout.flush()
    tail: list[str] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout or ():
            sys.stdout.write(line)
            sys.stdout.flush()
            tail = [*tail[-400:], line.rstrip("\n")]
    if process.returncode != 0:
        task, message = last_failure(tail)
        where = f" at task [{task}]: {message[:400]}" if task or message else ""
        raise BootstrapError(
            "configure",
            f"{Path(command[5]).name} failed (exit {process.returncode}){where}; the whole output is in "
            f"`journalctl -u {PROG}`; fix the named setting, then `systemctl restart {PROG}`",
        )


# -- ready ----------------------------------------------------------------------------------------------------


def wait_ready(
    url: str,
    timeout: float,
    interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll url until it answers 200, for at most timeout seconds."""
    if not url.startswith(("http://", "https://")):
        raise BootstrapError("ready", f"readiness URL {url} is not http(s)")
    deadline = clock() + timeout
    last = "no answer"
    while True:
        try:
            status, _ = _http(urllib.request.Request(url), timeout=5)  # noqa: S310 - scheme checked above
            if status == 200:
                return
            last = f"HTTP {status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if clock() >= deadline:
            raise BootstrapError(
                "ready",
                f"{url} did not answer 200 within {int(timeout)} s (last: {last}): see the tier's service journal "
                "(backend: journalctl -u ollama -u ollama-warmup -u nginx; frontend: journalctl -u open-webui)",
            )
        sleep(interval)


# -- lifecycle hook -------------------------------------------------------------------------------------------


def complete_hook(client: Any, record: dict[str, str], instance_id: str, result: str) -> str:
    """CompleteLifecycleAction on the record's launch hook; returns "completed" or "nothing waiting"."""
    from ollama_platform_lifecycle import complete_lifecycle_action  # the role installs it beside the SDK

    return complete_lifecycle_action(
        client, record["OLLAMA_PLATFORM_ASG_NAME"], record["OLLAMA_PLATFORM_LIFECYCLE_HOOK"], instance_id, result
    )


def autoscaling_client(region: str) -> Any:
    """Auto Scaling client with the default credential chain (the instance role on EC2)."""
    import boto3

    return boto3.session.Session(region_name=region).client("autoscaling")


# -- reporting ------------------------------------------------------------------------------------------------


def failure_line(error: BootstrapError, context: str = "") -> str:
    """The one line an operator greps for (in the journal, CloudWatch's system group and the console output)."""
    return f"{PROG}: FAILED: {error.step}: {error}{f' [{context}]' if context else ''}"


def failure_context(record: dict[str, str], identity: Identity | None) -> str:
    """Which instance failed: id, tier, environment, group and the image's region, as far as known."""
    parts = [
        identity.instance_id if identity else "",
        record.get("OLLAMA_PLATFORM_ROLE", ""),
        record.get("OLLAMA_PLATFORM_ENVIRONMENT", ""),
        record.get("OLLAMA_PLATFORM_ASG_NAME", ""),
        (record.get("OLLAMA_PLATFORM_REGION") or (identity.region if identity else "")),
    ]
    return " ".join(part for part in parts if part)


def report_failure(line: str, console: Path) -> None:
    """Write the failure to stderr (the journal) and, when writable, to the console."""
    print(line, file=sys.stderr, flush=True)
    try:
        with console.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        pass


def info(message: str) -> None:
    print(f"{PROG}: {message}", flush=True)


# -- wiring ---------------------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None, environ: dict[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    env = environ.get
    parser.add_argument(
        "--env-file", type=Path, default=Path(env("OLLAMA_PLATFORM_BOOTSTRAP_ENV_FILE") or DEFAULT_ENV_FILE)
    )
    parser.add_argument(
        "--playbook", type=Path, default=Path(env("OLLAMA_PLATFORM_BOOTSTRAP_PLAYBOOK") or DEFAULT_PLAYBOOK)
    )
    parser.add_argument(
        "--ansible-playbook",
        type=Path,
        default=Path(env("OLLAMA_PLATFORM_BOOTSTRAP_ANSIBLE_PLAYBOOK") or DEFAULT_ANSIBLE_PLAYBOOK),
    )
    parser.add_argument("--ready-url", default=env("OLLAMA_PLATFORM_BOOTSTRAP_READY_URL") or "")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=float(env("OLLAMA_PLATFORM_BOOTSTRAP_READY_TIMEOUT") or DEFAULT_READY_TIMEOUT),
    )
    parser.add_argument(
        "--console", type=Path, default=Path(env("OLLAMA_PLATFORM_BOOTSTRAP_CONSOLE") or DEFAULT_CONSOLE)
    )
    parser.add_argument("--warm-wait", type=float, default=float(env("OLLAMA_PLATFORM_BOOTSTRAP_WARM_WAIT") or 0))
    parser.add_argument(
        "--run-dir", type=Path, default=Path(env("OLLAMA_PLATFORM_BOOTSTRAP_RUN_DIR") or DEFAULT_RUN_DIR)
    )
    parser.add_argument("--tuning", metavar="TYPE", default="")
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: list[str] | None = None) -> int:
    environ = dict(os.environ)
    args = parse_args(argv, environ)
    if args.tuning:
        try:
            print(json.dumps(derive_tuning(args.tuning).role_vars(), sort_keys=True))
        except BootstrapError as error:
            print(failure_line(error), file=sys.stderr)
            return 1
        return 0
    record: dict[str, str] = {}
    identity: Identity | None = None
    try:
        record = read_record(args.env_file)
        if record.get("AWS_ENDPOINT_URL"):
            os.environ["AWS_ENDPOINT_URL"] = record["AWS_ENDPOINT_URL"]
        identity = fetch_identity(metadata_base(environ))
        tier = record["OLLAMA_PLATFORM_ROLE"]
        state = identity.target_lifecycle_state or "-"
        info(
            f"{tier} instance {identity.instance_id} ({identity.instance_type}) in {identity.region}, "
            f"target lifecycle state {state}"
        )
        tuning = derive_tuning(identity.instance_type) if tier == "backend" else None
        if tuning is not None:
            info(f"Ollama settings for {identity.instance_type}: {json.dumps(tuning.role_vars(), sort_keys=True)}")
        region = record.get("OLLAMA_PLATFORM_REGION") or identity.region
        import boto3

        secretsmanager = boto3.session.Session(region_name=region).client("secretsmanager")
        check_secrets(secret_settings(record), lambda arn: secretsmanager.describe_secret(SecretId=arn))
        vars_file = write_extra_vars(extra_vars(record, identity, tuning), args.run_dir)
        run_playbook(
            playbook_command(args.ansible_playbook, args.playbook, vars_file),
            playbook_environment(dict(os.environ), record, args.playbook),
        )
        url = args.ready_url or READY_URLS[tier]
        info(f"waiting up to {int(args.ready_timeout)} s for {url}")
        wait_ready(url, args.ready_timeout)
        if hook_waiting(identity.target_lifecycle_state):
            outcome = complete_hook(autoscaling_client(region), record, identity.instance_id, "CONTINUE")
            info(f"lifecycle hook {record['OLLAMA_PLATFORM_LIFECYCLE_HOOK']}: CONTINUE {outcome}")
            base = metadata_base(environ)
            if identity.target_lifecycle_state == "Warmed:Running" and wait_in_service(
                lambda: fetch_identity(base).target_lifecycle_state, args.warm_wait
            ):
                outcome = complete_hook(autoscaling_client(region), record, identity.instance_id, "CONTINUE")
                info(f"entering service from the warm pool: CONTINUE {outcome}")
        else:
            info("no lifecycle hook waits for this instance (not launched by an Auto Scaling group)")
        info("ready")
        return 0
    except BootstrapError as error:
        report_failure(failure_line(error, failure_context(record, identity)), args.console)
    except Exception as error:  # noqa: BLE001 - any failure must abandon the launch, with its cause
        traceback.print_exc(file=sys.stderr)  # where it broke, for the journal; the FAILED line stays one line
        unexpected = BootstrapError("unexpected", f"{type(error).__name__}: {error}")
        report_failure(failure_line(unexpected, failure_context(record, identity)), args.console)
    if identity is not None and record and hook_waiting(identity.target_lifecycle_state):
        try:
            region = record.get("OLLAMA_PLATFORM_REGION") or identity.region
            outcome = complete_hook(autoscaling_client(region), record, identity.instance_id, "ABANDON")
            info(f"lifecycle hook {record['OLLAMA_PLATFORM_LIFECYCLE_HOOK']}: ABANDON {outcome}")
        except Exception as error:  # noqa: BLE001 - the hook's heartbeat timeout abandons it anyway
            print(f"{PROG}: could not abandon the lifecycle action ({error}); it times out by itself", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
