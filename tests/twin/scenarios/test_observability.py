"""Logs and LLM metrics of the fleet reach the emulator's CloudWatch, from the instances themselves.

Product: each instance's boot writes the agent configuration for its environment and tier (cloudwatch_agent role run
by playbooks/instance.yml) and the backend's publisher sends the Ollama/* metrics. Twin: the logs are shipped by the
agent's stand-in (it reads the same configuration file; docs/OBSERVABILITY.md says what the agent adds).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.project import ROOT
from tests.twin.scenarios.conftest import Twin, http, wait_for

pytestmark = pytest.mark.twin
# Services per tier and a line each one is known to have written by the time the tier serves.
LOGS = {
    "backend": {"ollama": "ollama.log", "nginx": "ollama-access.log", "system": "system.log"},
    "frontend": {"open-webui": "open-webui.log", "system": "system.log"},
}


def _events(twin: Twin, group: str, stream: str) -> list[str]:
    logs = twin.client("logs")
    try:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=1000)
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [event["message"] for event in events["events"]]


def test_every_services_log_lines_arrive_in_its_group(twin: Twin):
    """Each in-service instance ships each of its tier's services to /ollama/<env>/<service>, stream
    <instance-id>/<file>; the request below appears in the backend's nginx group, the bootstrap in the system group."""
    environment = twin.outputs["ollama_environment"]
    status, headers, _ = http(
        f"{twin.outputs['ollama_internal_api_url']}/api/tags", {"Authorization": f"Bearer {twin.token()}"}
    )
    assert status == 200
    served_by = headers.get("x-served-by", "")
    groups = {"backend": twin.outputs["ollama_backend_asg_name"], "frontend": twin.outputs["ollama_frontend_asg_name"]}
    for tier, group_name in groups.items():
        for instance_id in twin.in_service(group_name):
            for service, file_name in LOGS[tier].items():
                group, stream = f"/ollama/{environment}/{service}", f"{instance_id}/{file_name}"
                wait_for(f"lines of {stream} in {group}", lambda g=group, s=stream: _events(twin, g, s), timeout=120)
            system = _events(twin, f"/ollama/{environment}/system", f"{instance_id}/system.log")
            assert any("ollama-platform-bootstrap" in line for line in system), system[-20:]
    if served_by:
        wait_for(
            f"the /api/tags request in {served_by}'s nginx stream",
            lambda: any(
                '"uri":"/api/tags"' in line
                for line in _events(twin, f"/ollama/{environment}/nginx", f"{served_by}/ollama-access.log")
            ),
            timeout=120,
        )


def _datapoints(twin: Twin, name: str, statistic: str, since: float) -> list[dict[str, Any]]:
    return twin.client("cloudwatch").get_metric_statistics(
        Namespace="Ollama",
        MetricName=name,
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": twin.outputs["ollama_backend_asg_name"]}],
        StartTime=since,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=[statistic],
    )["Datapoints"]


def test_llm_metrics_reach_the_emulator_while_the_load_suite_runs(twin: Twin, tmp_path: Path):
    """The load suite's chat scenario through the internal load balancer (bounded: 3 users, 40 s, 200 requests):
    the backends publish time to first token, latency, in-flight generations (at least one seen), requests waiting
    at the proxy and loaded models while it runs. Three users on the twin's one backend stay below the in-flight
    policy's target of 4 per instance even when a health check or another request is in flight at a sample (the
    publisher counts every request nginx is answering), so this load never scales the backend out."""
    since = time.time() - 60
    load = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--host", twin.outputs["ollama_internal_api_url"],
         "--scenario", "chat", "--model", "llama3.2:1b", "--users", "3", "--duration", "40s",
         "--max-requests", "200", "--environment", "local", "--report-dir", str(tmp_path)],
        cwd=ROOT, env={**os.environ, "OLLAMA_API_KEY": twin.token()}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # 0: the local profile's SLOs held, 1: one missed (the twin's CPU, not the metrics, decides that).
    assert load.returncode in (0, 1), load.stdout[-2000:] + load.stderr[-2000:]
    for name, statistic in (
        ("TimeToFirstToken", "Maximum"),
        ("InferenceLatency", "Maximum"),
        ("InFlightRequests", "Maximum"),
        ("QueuedRequests", "Maximum"),
        ("LoadedModels", "Maximum"),
    ):
        points = wait_for(f"Ollama/{name}", lambda n=name, s=statistic: _datapoints(twin, n, s, since), timeout=120)
        assert all(point[statistic] >= 0 for point in points)
    assert max(p["Maximum"] for p in _datapoints(twin, "InFlightRequests", "Maximum", since)) >= 1
    assert max(p["Maximum"] for p in _datapoints(twin, "LoadedModels", "Maximum", since)) >= 1
