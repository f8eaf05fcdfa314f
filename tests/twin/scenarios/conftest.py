"""The running local twin, after ``site.yml -i inventories/local`` (tools/twin.sh test runs these scenarios).

The scenarios read the twin the way an operator would: the emulator's AWS APIs, the load balancers' URLs and the
instances' consoles (podman exec stands in for the EC2 serial console; nothing logs in to a fleet instance).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tools import aws_emulator
from tools.twin import scaling as twin_scaling
from tools.twin.controller import read_events
from tools.twin.proxy import Proxy

ROOT = Path(__file__).resolve().parents[3]
STATE_DIR = ROOT / ".cache" / "twin"
REGION = "us-east-1"


@dataclass(frozen=True)
class Twin:
    endpoint: str
    outputs: dict[str, Any]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    def group(self, name: str) -> dict[str, Any]:
        return self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ][0]

    def in_service(self, name: str) -> list[str]:
        return sorted(i["InstanceId"] for i in self.group(name)["Instances"] if i["LifecycleState"] == "InService")

    def wait_settled(self, name: str, timeout: float = 600) -> None:
        """Wait until the group is at its desired capacity with every instance InService: a replacement still
        launching from an earlier scenario would otherwise be taken for what the next one starts."""

        def settled() -> bool:
            found = self.group(name)
            states = [i["LifecycleState"] for i in found["Instances"]]
            return len(states) == found["DesiredCapacity"] and set(states) <= {"InService"}

        wait_for(f"group {name} settled (its desired capacity, every instance InService)", settled, timeout, 3)

    def token(self) -> str:
        secret = self.client("secretsmanager").get_secret_value(SecretId=self.outputs["ollama_api_token_secret_arn"])
        return secret["SecretString"]


def http(url: str, headers: dict[str, str] | None = None, data: bytes | None = None, timeout: float = 30) -> tuple:
    """(status, headers with lower-case names, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def webui_api(url: str, token: str | None = None, body: Any = None, timeout: float = 60) -> tuple[int, Any, str]:
    """(status, JSON body or {}, replica that served it) of one Open-WebUI API request through a load balancer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    status, response_headers, raw = http(url, headers, data, timeout=timeout)
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        parsed = {}
    return status, parsed, response_headers.get("x-served-by", "")


def multipart_file(filename: str, content: bytes) -> tuple[bytes, str]:
    """(body, content type) of a form upload of one text file, as the browser sends it."""
    boundary = secrets.token_hex(16)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def serving_targets(url: str, headers: dict[str, str] | None = None, requests: int = 4) -> set[str]:
    """The targets (the proxy's X-Served-By) that answered 200 to ``requests`` requests; while the load balancer
    changes targets, some requests may get a 503 or time out."""
    served = set()
    for _ in range(requests):
        try:
            status, response_headers, _ = http(url, headers, timeout=10)
        except OSError:  # a timeout while the proxy reloads
            continue
        if status == 200:
            served.add(response_headers.get("x-served-by", ""))
    return served


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def console(instance_id: str, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a read-only command on an instance's console (podman exec plays the EC2 serial console)."""
    return subprocess.run(
        ["podman", "exec", f"ollama-twin-{instance_id}", *command], capture_output=True, text=True, check=False
    )


# Scenarios that judge what the others did run after them (the rest run in file name order).
# The disaster-recovery drill takes the primary region down, so it runs last of all.
RUN_LAST = ("test_instance_calls.py", "test_disaster_recovery.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # stable: the order within each part is kept
    items.sort(key=lambda item: RUN_LAST.index(item.path.name) + 1 if item.path.name in RUN_LAST else 0)


@pytest.fixture(scope="session")
def twin() -> Twin:
    outputs_file = STATE_DIR / "fleet.json"
    port = os.environ.get("OLLAMA_TWIN_AWS_PORT", "4566")
    if not outputs_file.exists():
        pytest.fail(f"{outputs_file} is missing: bring the twin up first (tools/twin.sh up, then site.yml)")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return Twin(f"http://127.0.0.1:{port}", json.loads(outputs_file.read_text()))


@pytest.fixture(scope="session")
def webui_account(twin: Twin) -> dict[str, str]:
    """The Open-WebUI admin the deployment created (sign-up is closed): the e-mail address the inventory gives the
    fleet's instance record, the password from the stack's secret, as an operator reads it."""
    platform = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "platform.yml").read_text())
    password = twin.client("secretsmanager").get_secret_value(SecretId=twin.outputs["ollama_webui_admin_secret_arn"])
    return {"email": platform["platform_webui_admin_email"], "password": password["SecretString"]}


@pytest.fixture
def webui_session(twin: Twin, webui_account: dict[str, str]) -> str:
    """A session token of the Open-WebUI admin, signed in through the Open-WebUI URL (the public load balancer)."""
    status, _, body = http(
        f"{twin.outputs['ollama_service_url'].rstrip('/')}/api/v1/auths/signin",
        {"Content-Type": "application/json"},
        json.dumps(webui_account).encode(),
    )
    assert status == 200, body[:300]
    return json.loads(body)["token"]


def start_load(
    host: str, scenario: str, key: str, report: Path, users: int, duration_s: int, max_requests: int
) -> subprocess.Popen:
    """The load suite in the background, bounded in time and requests (stop it with ``stop_loads``: it stops its
    users and writes its summary and every sample to ``report``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "loadtest.run", "--host", host, "--scenario", scenario, "--model", "llama3.2:1b",
         "--users", str(users), "--duration", f"{duration_s}s", "--max-requests", str(max_requests),
         "--num-predict", "32", "--think-time", "0.5", "--environment", "local", "--skip-preflight",
         "--report-dir", str(report)],
        cwd=ROOT, env={**os.environ, "OLLAMA_API_KEY": key}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def stop_loads(loads: dict[str, subprocess.Popen], timeout: float = 150) -> dict[str, str]:
    """Stop each background load suite (SIGTERM) and return its output. The load suite ends within its stop timeout
    plus 30 s, killing a Locust whose request hangs and saying so ("killed it": a failed run). A load suite still
    running after ``timeout`` broke that promise: it is killed here and its output says so (its Locust, in a
    session of its own, is beyond reach from here)."""
    for process in loads.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    outputs = {}
    for name, process in loads.items():
        try:
            outputs[name], _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            outputs[name] = f"{output}\nthe load suite did not end {timeout:.0f} s after its interrupt; killed it"
    return outputs


def load_samples(report: Path) -> list[dict[str, Any]]:
    """Every request the load suite recorded in ``report`` (samples.jsonl), oldest first."""
    path = report / "samples.jsonl"
    assert path.exists(), f"the load suite wrote no samples to {report}"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def describe_failures(samples: list[dict[str, Any]], limit: int = 10) -> str:
    """The failed requests, one line each: when (UTC), which target served (the proxy's X-Served-By; none when the
    proxy answered itself or no response came) and what came back, to set beside the fleet's journals."""
    failed = [s for s in samples if not s.get("ok")]
    lines = [
        f"{time.strftime('%H:%M:%S', time.gmtime(s['t']))}.{int(s['t'] % 1 * 1000):03d} "
        f"served by {s.get('served_by') or 'no target'}: {s.get('error')}: {s.get('message')}"
        for s in failed[:limit]
    ]
    return "\n".join(lines + ([f"... and {len(failed) - limit} more"] if len(failed) > limit else []))


def _safely(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as error:  # noqa: BLE001 - a diagnostic that cannot be read must not hide the failure
        return f"unreadable: {error}"


def _emulator_view(twin: Twin, groups: list[str], metric: dict[str, Any] | None) -> str:
    """What the emulator and the proxy show: groups and instances, the emulator's scaling changes and clock, the
    in-flight datapoints the policy reads, waiting lifecycle actions, the proxy's servers, the controller's events."""
    lines = []
    for name in groups:
        group = _safely(lambda n=name: twin.group(n))
        if isinstance(group, dict):
            instances = ", ".join(f"{i['InstanceId']} {i['LifecycleState']}" for i in group["Instances"]) or "none"
            sizes = f"min {group['MinSize']} max {group['MaxSize']} desired {group['DesiredCapacity']}"
            lines.append(f"group {name}: {sizes}; instances: {instances}")
        else:
            lines.append(f"group {name}: {group}")
    calls = _safely(lambda: aws_emulator.autoscaling_calls(twin.endpoint))
    if isinstance(calls, list):
        mine = [c for c in calls if c.get("auto_scaling_group_name") in groups and c.get("source") != "api"]
        lines += [f"emulator change: {json.dumps(c)}" for c in mine[-10:]]
    lines.append(f"emulator clock: {_safely(lambda: twin_scaling.clock(twin.endpoint))}")
    if metric:
        now = time.time()
        points = _safely(
            lambda: twin.client("cloudwatch").get_metric_statistics(
                Namespace=metric["Namespace"], MetricName=metric["MetricName"], Dimensions=metric.get("Dimensions", []),
                StartTime=now - 300, EndTime=now + 60, Period=60, Statistics=["Average", "Maximum", "SampleCount"],
            )["Datapoints"]
        )  # fmt: skip
        lines.append(f"{metric['Namespace']}/{metric['MetricName']} {metric.get('Dimensions')}: {points}")
        cloudwatch = twin.client("cloudwatch")
        published = _safely(
            lambda: {
                (m["Namespace"], m["MetricName"], tuple((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))
                for query in ({"Namespace": metric["Namespace"]}, {"MetricName": metric["MetricName"]})
                for m in cloudwatch.list_metrics(**query)["Metrics"]
            }
        )
        lines.append(f"metrics published with that namespace or name: {published}")
    lines.append(f"waiting lifecycle actions: {_safely(lambda: aws_emulator.pending_lifecycle_actions(twin.endpoint))}")
    proxy = Proxy(STATE_DIR / "proxy" / "haproxy.cfg", STATE_DIR / "proxy" / "haproxy.pid")
    lines.append(f"proxy servers: {_safely(proxy.server_states)}")
    events = _safely(lambda: read_events(STATE_DIR)[-20:])
    lines += [f"controller: {e}" for e in events] if isinstance(events, list) else [f"controller: {events}"]
    return "\n".join(lines)


def _controller_trouble(lines: int = 15) -> list[str]:
    """The controller's last warnings and errors (a failed podman call, a reconcile that raised)."""
    log = STATE_DIR / "controller.log"
    if not log.exists():
        return []
    tail = log.read_text(errors="replace").splitlines()[-400:]
    return [line for line in tail if " WARNING " in line or " ERROR " in line][-lines:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Every failed scenario also says what the twin shows: the fleet's groups, the emulator's view, the proxy's
    servers and the controller's events and errors (CI keeps only what is printed)."""
    outcome = yield
    report = outcome.get_result()
    twin = item.funcargs.get("twin") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or not isinstance(twin, Twin):
        return
    groups = [twin.outputs[key] for key in ("ollama_backend_asg_name", "ollama_frontend_asg_name")]
    view = _emulator_view(twin, groups, None)
    trouble = _safely(_controller_trouble)
    trouble = trouble if isinstance(trouble, list) else [trouble]
    report.sections.append(("what the twin shows", "\n".join([view, *[f"controller log: {t}" for t in trouble]])))


@contextlib.contextmanager
def explained(twin: Twin, groups: list[str], metric: dict[str, Any] | None = None) -> Iterator[None]:
    """A failure inside says what the emulator and the proxy show."""
    try:
        yield
    except (pytest.fail.Exception, AssertionError) as error:
        pytest.fail(f"{error}\n--- what the emulator and the proxy show ---\n{_emulator_view(twin, groups, metric)}")
