"""The backend's in-flight metric publisher: reads nginx's status page, publishes what scaling reads."""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import boto3
import pytest

from tests.project import ROOT

SCRIPT = ROOT / "roles" / "ollama" / "files" / "ollama-inflight-metric"


def load_publisher():
    loader = importlib.machinery.SourceFileLoader("ollama_inflight_metric", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


publisher = load_publisher()
STATUS = "Active connections: 9 \nserver accepts handled requests\n 10 10 30 \nReading: 0 Writing: {w} Waiting: 2 \n"


@pytest.mark.parametrize(("writing", "expected"), [(1, 0), (4, 3), (0, 0)])
def test_in_flight_excludes_the_probe_itself(writing: int, expected: int) -> None:
    assert publisher.in_flight(STATUS.format(w=writing)) == expected


def test_a_page_without_writing_is_refused() -> None:
    with pytest.raises(ValueError, match="Writing"):
        publisher.in_flight("<html>not a status page</html>")


@pytest.fixture
def status_page() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = STATUS.format(w=4).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/nginx_status"
    finally:
        server.shutdown()


def test_publishes_the_metric_the_scaling_policy_reads(aws: str, status_page: str) -> None:
    env = {
        **os.environ,
        "OLLAMA_METRIC_ASG_NAME": "ollama-dev-asg",
        "OLLAMA_METRIC_STATUS_URL": status_page,
        "OLLAMA_METRIC_INTERVAL": "1",
        "OLLAMA_METRIC_REGION": "us-east-1",
        "OLLAMA_METRIC_ENDPOINT_URL": aws,
    }
    process = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws, region_name="us-east-1")
    try:
        deadline = time.monotonic() + 20
        datapoints: list = []
        while time.monotonic() < deadline and not datapoints:
            time.sleep(1)
            datapoints = cloudwatch.get_metric_statistics(
                Namespace="Ollama",
                MetricName="InFlightRequests",
                Dimensions=[{"Name": "AutoScalingGroupName", "Value": "ollama-dev-asg"}],
                StartTime=time.time() - 600,
                EndTime=time.time() + 60,
                Period=60,
                Statistics=["Maximum"],
            )["Datapoints"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert datapoints, f"no Ollama/InFlightRequests data point was published; publisher said: {stderr}"
    assert datapoints[0]["Maximum"] == 3.0
    assert process.returncode == 0


def test_missing_group_name_is_refused_with_the_fix() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_METRIC_")}
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ollama_inflight_metric_asg_name" in result.stderr
