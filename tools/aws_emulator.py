"""Local AWS emulator: the moto server with the gaps that matter to this project patched.

One launcher for the pytest fixtures, molecule scenarios and the local twin::

    python tools/aws_emulator.py start [--host 127.0.0.1] [--port 0] [--state-dir .cache/aws-emulator]
    python tools/aws_emulator.py status|stop [--state-dir ...]
    python tools/aws_emulator.py serve --host H --port P      # foreground, used by ``start``

``start`` is idempotent: when the emulator of that state directory already answers, it prints its URL and returns.
Port 0 picks a free port. Bind ``0.0.0.0`` when containers must reach it at ``host.containers.internal``.

Patched gaps (moto 5.2.5), each the smallest change that makes the AWS behaviour real enough for our code paths:
- EC2 CreateImage with a ``snapshot`` TagSpecification (amazon.aws.ec2_ami ``tags:``) tags the AMI's snapshot.
- Auto Scaling DisableMetricsCollection is implemented (amazon.aws.autoscaling_group updates call it).
- DynamoDB DescribeTable returns ``TableId`` (community.aws.dynamodb_table reads it).
- Backup DescribeBackupVault of a missing vault answers AccessDeniedException, as AWS does (amazon.aws.backup_vault).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".cache" / "aws-emulator"
START_TIMEOUT_S = 30.0


class EmulatorError(RuntimeError):
    """A problem the operator can fix; the message says how."""


# --------------------------------------------------------------------------------------------------------- patches
def apply_patches() -> None:
    """Patch moto in this process. Call before the server handles requests."""
    _patch_ec2_create_image()
    _patch_autoscaling_disable_metrics()
    _patch_dynamodb_table_id()
    _patch_backup_missing_vault()


def _patch_ec2_create_image() -> None:
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image

    def create_image(self: Any, instance_id: str, name: str, description: str, tag_specifications: list) -> Any:
        snapshot_tags = [
            tag for spec in tag_specifications if spec["ResourceType"] == "snapshot" for tag in spec.get("Tags", [])
        ]
        others = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
        ami = original(self, instance_id, name, description, others)
        snapshot = getattr(ami, "ebs_snapshot", None)
        if snapshot is not None and snapshot_tags:
            self.create_tags([snapshot.id], {tag["Key"]: tag["Value"] for tag in snapshot_tags})
        return ami

    AmiBackend.create_image = create_image


def _patch_autoscaling_disable_metrics() -> None:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def group_disable(self: Any, metrics: list[str] | None) -> None:
        current = list(getattr(self, "metrics", None) or [])
        self.metrics = [] if not metrics else [m for m in current if m not in metrics]

    def backend_disable(self: Any, group_name: str, metrics: list[str] | None) -> None:
        self.describe_auto_scaling_groups([group_name])[0].disable_metrics_collection(metrics)

    def response_disable(self: Any) -> Any:
        self.autoscaling_backend.disable_metrics_collection(
            self._get_param("AutoScalingGroupName"), self._get_param("Metrics")
        )
        return EmptyResult()

    FakeAutoScalingGroup.disable_metrics_collection = group_disable
    AutoScalingBackend.disable_metrics_collection = backend_disable
    AutoScalingResponse.disable_metrics_collection = response_disable


def _patch_dynamodb_table_id() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.describe

    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key)
        if not hasattr(self, "_emulator_table_id"):
            self._emulator_table_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn))
        result[base_key]["TableId"] = self._emulator_table_id
        return result

    Table.describe = describe


def _patch_backup_missing_vault() -> None:
    from moto.backup.models import BackupBackend
    from moto.core.exceptions import JsonRESTError

    original = BackupBackend.describe_backup_vault

    def describe_backup_vault(self: Any, backup_vault_name: str) -> Any:
        if backup_vault_name not in self.vaults:
            raise JsonRESTError(
                "AccessDeniedException",
                f"Insufficient privileges to perform this action or {backup_vault_name} does not exist",
            )
        return original(self, backup_vault_name)

    BackupBackend.describe_backup_vault = describe_backup_vault


# -------------------------------------------------------------------------------------------------------- launcher
@dataclass(frozen=True)
class Endpoint:
    """Where a started emulator listens and which process it is."""

    host: str
    port: int
    pid: int

    @property
    def url(self) -> str:
        """URL for clients on this machine (0.0.0.0 is reached through loopback)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a moto server answers at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def reset(url: str) -> None:
    """Wipe all emulated AWS state."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 200:
            raise EmulatorError(f"resetting the emulator at {url} answered HTTP {response.status}")


def _state_file(state_dir: Path) -> Path:
    return state_dir / "emulator.json"


def read_state(state_dir: Path) -> Endpoint | None:
    """The emulator recorded in ``state_dir`` if its process is alive, else None."""
    try:
        data = json.loads(_state_file(state_dir).read_text())
        endpoint = Endpoint(host=data["host"], port=int(data["port"]), pid=int(data["pid"]))
    except (OSError, ValueError, KeyError):
        return None
    try:
        os.kill(endpoint.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return endpoint


def start(host: str = "127.0.0.1", port: int = 0, state_dir: Path = DEFAULT_STATE_DIR) -> Endpoint:
    """Start the emulator in the background (or return the one already running for ``state_dir``)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    running = read_state(state_dir)
    if running is not None and answers(running.url):
        if port and running.port != port:
            raise EmulatorError(
                f"an emulator for {state_dir} already runs on port {running.port}, not {port}: "
                f"stop it first (python tools/aws_emulator.py stop --state-dir {state_dir})"
            )
        return running
    if port and port_in_use(host, port):
        raise EmulatorError(f"port {port} on {host} is in use: stop what listens there or choose another --port")
    port = port or free_port(host)
    log = (state_dir / "emulator.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "serve", "--host", host, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(ROOT),
    )
    endpoint = Endpoint(host=host, port=port, pid=process.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"the emulator exited with status {process.returncode} while starting: see {state_dir / 'emulator.log'}"
            )
        if answers(endpoint.url, timeout=0.5):
            _state_file(state_dir).write_text(json.dumps({"host": host, "port": port, "pid": process.pid}))
            return endpoint
        time.sleep(0.1)
    process.kill()
    raise EmulatorError(f"the emulator did not answer on {endpoint.url} within {START_TIMEOUT_S:.0f}s: see the log")


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    """Stop the emulator of ``state_dir``. Returns False when none was running."""
    running = read_state(state_dir)
    _state_file(state_dir).unlink(missing_ok=True)
    if running is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(running.pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(running.pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid, signal.SIGKILL)
    return True


def serve(host: str, port: int) -> None:
    """Run the patched moto server in the foreground until SIGTERM/SIGINT."""
    from moto.server import ThreadedMotoServer

    apply_patches()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        time.sleep(0.2)
    server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "serve"])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for containers)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where the pid/port record lives")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            serve(args.host, args.port)
        elif args.command == "start":
            print(start(args.host, args.port, args.state_dir).url)
        elif args.command == "stop":
            print("stopped" if stop(args.state_dir) else "not running")
        else:
            running = read_state(args.state_dir)
            if running is None or not answers(running.url):
                print("stopped")
                return 3
            print(running.url)
    except EmulatorError as error:
        print(f"aws-emulator: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
