"""Logs and LLM metrics of the fleet reach the emulator's CloudWatch, from the instances themselves.

Product: each instance's boot writes the agent configuration for its environment and tier (cloudwatch_agent role run
by playbooks/instance.yml) and the backend's publisher sends the Ollama/* metrics. Twin: the logs are shipped by the
agent's stand-in (it reads the same configuration file; docs/OBSERVABILITY.md says what the agent adds).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

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


def _datapoints(twin: Twin, name: str, statistic: str) -> list[dict[str, Any]]:
    return twin.client("cloudwatch").get_metric_statistics(
        Namespace="Ollama",
        MetricName=name,
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": twin.outputs["ollama_backend_asg_name"]}],
        StartTime=time.time() - 900,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=[statistic],
    )["Datapoints"]


def test_llm_metrics_reach_the_emulator_while_generations_run(twin: Twin):
    """A streamed generation through the internal load balancer: its server-side time to first token and latency
    are published by the backend that served it, with in-flight, waiting and loaded-model samples."""
    body = json.dumps({"model": "llama3.2:1b", "prompt": "Say hello.", "stream": True}).encode()
    headers = {"Authorization": f"Bearer {twin.token()}", "Content-Type": "application/json"}
    status, _, answer = http(f"{twin.outputs['ollama_internal_api_url']}/api/generate", headers, body, timeout=120)
    assert status == 200 and b'"done":true' in answer.replace(b" ", b"")
    for name, statistic in (
        ("TimeToFirstToken", "Maximum"),
        ("InferenceLatency", "Maximum"),
        ("InFlightRequests", "Maximum"),
        ("QueuedRequests", "Maximum"),
        ("LoadedModels", "Maximum"),
    ):
        points = wait_for(f"Ollama/{name}", lambda n=name, s=statistic: _datapoints(twin, n, s), timeout=120)
        assert all(point[statistic] >= 0 for point in points)
    assert max(p["Maximum"] for p in _datapoints(twin, "LoadedModels", "Maximum")) >= 1
