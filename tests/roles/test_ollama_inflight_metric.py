"""The backend's LLM metric publisher: reads nginx's status page and access log, Ollama's /api/ps and log, and
publishes what scaling, the alarms and the dashboard read."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.project import ROOT, load_program, stop_like_systemd

SCRIPT = ROOT / "roles" / "ollama" / "files" / "ollama-inflight-metric"


publisher = load_program(SCRIPT, "ollama_inflight_metric")
PS = json.dumps({"models": [{"name": "llama3.2:1b"}]})
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
            body = (PS if self.path == "/api/ps" else STATUS.format(w=4)).encode()
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


def access_line(uri: str, status: int, header_time: str, request_time: float) -> str:
    return json.dumps({"uri": uri, "status": status, "upstream_header_time": header_time, "request_time": request_time})


def test_generation_timings_keep_successful_generations_only() -> None:
    lines = [
        access_line("/api/generate", 200, "0.250", 3.5),
        access_line("/api/chat", 200, "0.1, 0.4", 2.0),
        access_line("/api/tags", 200, "0.001", 0.002),
        access_line("/api/chat", 500, "0.2", 0.2),
        "not json",
    ]
    assert publisher.generation_timings(lines) == ([0.25, 0.4], [3.5, 2.0])


@pytest.mark.parametrize(
    ("in_flight", "models", "parallel", "expected"), [(3, 1, 4, 0), (9, 1, 4, 5), (9, 2, 4, 1), (2, 0, 1, 1)]
)
def test_queued_counts_requests_beyond_the_parallel_slots(
    in_flight: int, models: int, parallel: int, expected: int
) -> None:
    assert publisher.queued(in_flight, models, parallel) == expected


def test_log_tail_reads_new_lines_and_follows_rotation(tmp_path: Path) -> None:
    path = tmp_path / "ollama.log"
    path.write_text("old line\n")
    tail = publisher.LogTail(str(path))
    tail.start_at_end()
    with path.open("a") as handle:
        handle.write("error loading llama server: out of memory\nhalf")
    assert tail.read_new() == ["error loading llama server: out of memory"]
    path.rename(tmp_path / "ollama.log.1")
    path.write_text("llama runner process has terminated: exit status 2\n")
    assert publisher.load_failures(tail.read_new()) == 1


def test_a_metric_outside_the_table_is_refused() -> None:
    with pytest.raises(KeyError):
        publisher.datum("InflightRequests", "ollama-dev-asg", value=1)


def test_publishes_the_metric_the_scaling_policy_reads(aws: str, status_page: str, tmp_path: Path) -> None:
    access_log = tmp_path / "ollama-access.log"
    ollama_log = tmp_path / "ollama.log"
    access_log.write_text(access_line("/api/chat", 200, "9.0", 9.0) + "\n")  # before the start: not published
    ollama_log.write_text("")
    base = status_page.rsplit("/", 1)[0]
    env = {
        **os.environ,
        "OLLAMA_METRIC_ASG_NAME": "ollama-dev-asg",
        "OLLAMA_METRIC_STATUS_URL": status_page,
        "OLLAMA_METRIC_OLLAMA_URL": base,
        "OLLAMA_METRIC_ACCESS_LOG": str(access_log),
        "OLLAMA_METRIC_OLLAMA_LOG": str(ollama_log),
        "OLLAMA_METRIC_PARALLEL": "2",
        "OLLAMA_METRIC_INTERVAL": "1",
        "OLLAMA_METRIC_REGION": "us-east-1",
        "OLLAMA_METRIC_ENDPOINT_URL": aws,
    }
    process = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws, region_name="us-east-1")
    time.sleep(1.5)
    with access_log.open("a") as handle:
        handle.write(access_line("/api/generate", 200, "0.300", 4.0) + "\n")
    with ollama_log.open("a") as handle:
        handle.write('level=ERROR msg="error loading llama server" error="out of memory"\n')

    def stats(name: str) -> list[dict]:
        return cloudwatch.get_metric_statistics(
            Namespace="Ollama",
            MetricName=name,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": "ollama-dev-asg"}],
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Maximum", "SampleCount", "Sum"],
        )["Datapoints"]

    try:
        deadline = time.monotonic() + 25
        found: dict[str, list[dict]] = {}
        while time.monotonic() < deadline and len(found) < len(publisher.METRICS):
            time.sleep(1)
            found = {name: points for name in publisher.METRICS if (points := stats(name))}
    finally:
        _, stderr = stop_like_systemd(process)
    assert set(found) == set(publisher.METRICS), (
        f"missing {set(publisher.METRICS) - set(found)}; publisher said: {stderr}"
    )
    listed = cloudwatch.list_metrics(Namespace="Ollama")["Metrics"]
    assert {(m["MetricName"], tuple(d["Name"] for d in m["Dimensions"])) for m in listed} == {
        (name, ("AutoScalingGroupName",)) for name in publisher.METRICS
    }
    for name, unit in publisher.METRICS.items():
        assert {p["Unit"] for p in found[name]} == {unit}, name
    assert found["InFlightRequests"][0]["Maximum"] == 3.0
    assert found["QueuedRequests"][0]["Maximum"] == 1.0  # 3 in flight, 1 model x 2 slots
    assert found["LoadedModels"][0]["Maximum"] == 1.0
    assert found["TimeToFirstToken"][0]["Maximum"] == 0.3  # the line written before the start is not replayed
    assert found["InferenceLatency"][0]["Maximum"] == 4.0
    assert found["ModelLoadFailures"][0]["Sum"] == 1.0
    assert process.returncode == 0


def test_an_unreachable_source_is_named_and_the_others_still_publish(tmp_path: Path) -> None:
    sampler = publisher.Sampler(
        asg_name="ollama-dev-asg",
        status_url="http://127.0.0.1:9/nginx_status",
        ollama_url="http://127.0.0.1:9",
        parallel=1,
        access_log=publisher.LogTail(str(tmp_path / "missing.log")),
        ollama_log=publisher.LogTail(str(tmp_path / "missing-too.log")),
    )
    data = sampler.sample()
    assert [d["MetricName"] for d in data] == ["ModelLoadFailures"]


def test_unreachable_sources_are_logged_with_what_to_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sampler = publisher.Sampler(
        asg_name="ollama-dev-asg",
        status_url="http://127.0.0.1:9/nginx_status",
        ollama_url="http://127.0.0.1:9",
        parallel=1,
        access_log=publisher.LogTail(str(tmp_path / "a.log")),
        ollama_log=publisher.LogTail(str(tmp_path / "b.log")),
    )
    sampler.sample()
    err = capsys.readouterr().err
    assert "http://127.0.0.1:9/api/ps failed" in err and "check ollama.service" in err
    assert "nginx status http://127.0.0.1:9/nginx_status failed" in err and "check nginx.service" in err


def test_missing_group_name_is_refused_with_the_fix() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_METRIC_")}
    result = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ollama_inflight_metric_asg_name" in result.stderr


def test_sigterm_stops_it_at_once_between_samples(aws: str, status_page: str, tmp_path: Path) -> None:
    """systemd stops and restarts the unit with SIGTERM: the publisher must not finish its interval first (60 s
    here); a boot that configures it and a termination that stops it wait for nothing."""
    (tmp_path / "access.log").write_text("")
    (tmp_path / "ollama.log").write_text("")
    env = {
        **os.environ,
        "OLLAMA_METRIC_ASG_NAME": "ollama-dev-asg",
        "OLLAMA_METRIC_STATUS_URL": status_page,
        "OLLAMA_METRIC_OLLAMA_URL": status_page.rsplit("/", 1)[0],
        "OLLAMA_METRIC_ACCESS_LOG": str(tmp_path / "access.log"),
        "OLLAMA_METRIC_OLLAMA_LOG": str(tmp_path / "ollama.log"),
        "OLLAMA_METRIC_INTERVAL": "60",
        "OLLAMA_METRIC_REGION": "us-east-1",
        "OLLAMA_METRIC_ENDPOINT_URL": aws,
    }
    process = subprocess.Popen([sys.executable, str(SCRIPT)], env=env, stderr=subprocess.PIPE, text=True)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=aws, region_name="us-east-1")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not cloudwatch.list_metrics(Namespace="Ollama")["Metrics"]:
            time.sleep(0.2)
        published = bool(cloudwatch.list_metrics(Namespace="Ollama")["Metrics"])
    finally:
        took, stderr = stop_like_systemd(process)
    assert published, f"no sample within 20 s, so the stop did not fall between samples: {stderr}"
    assert process.returncode == 0, stderr
    assert took < 5, f"the publisher took {took:.1f} s to stop after SIGTERM"
