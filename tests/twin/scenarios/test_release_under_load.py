"""A release under load on the twin: site.yml rolls both tiers to new images while the load suite streams chat.

The release is the product's one path (site.yml): the bake finds a newer image with its inputs' bake hash and
publishes it, the fleet step writes a new launch template version for each tier, and the release step starts each
tier's instance refresh (backend first, then frontend) and watches it to the end. Meanwhile the load suite streams
chat through the Open-WebUI URL (the public load balancer) and the Ollama API through the internal one.

Product: new instances launch from the new images, configure themselves and complete their launch hooks; replaced
instances leave their target groups and drain through their terminating hooks; no request fails and no stream is
cut. Twin only: the "new image" of each tier is a CopyImage of the current one in the same region, carrying its tags
(a re-bake takes minutes and the roll does not look inside the image); the emulator plays the instance refresh on
the twin's compressed clock (time scale 0.2), so the roll's duration is the twin's, not AWS's.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from loadtest import metrics
from tests.ansible_runner import ansible_playbook
from tests.project import ROOT
from tests.twin.scenarios.conftest import (
    REGION,
    Twin,
    describe_failures,
    http,
    load_samples,
    start_load,
    stop_loads,
    wait_for,
)
from tools import aws_emulator

pytestmark = pytest.mark.twin

TIERS = ("backend", "frontend")
LOAD_S = 900  # an upper bound: the load stops when the release has ended
STEADY_S = 45  # steady state before the release, and the comparison's baseline
RELEASE_TIMEOUT_S = 1200
MAX_REQUESTS = 4000


def _new_image(twin: Twin, tier: str) -> str:
    """A new image of ``tier`` with the current one's bake inputs: what the bake would publish after a re-bake."""
    ec2, ssm = twin.client("ec2"), twin.client("ssm")
    current = ssm.get_parameter(Name=twin.outputs["ollama_ami_parameter_names"][tier])["Parameter"]["Value"]
    name = ec2.describe_images(ImageIds=[current])["Images"][0]["Name"]
    return ec2.copy_image(
        SourceImageId=current, SourceRegion=REGION, Name=f"{name}-r{int(time.time())}", CopyImageTags=True
    )["ImageId"]


def _serving_images(twin: Twin, group: str) -> set[str]:
    instances = twin.in_service(group)
    reservations = twin.client("ec2").describe_instances(InstanceIds=instances)["Reservations"]
    return {i["ImageId"] for r in reservations for i in r["Instances"]}


def _refresh_window(twin: Twin, group: str, since: float) -> tuple[float, float]:
    """When the group's instance refresh started (StartInstanceRefresh) and ended (its status change), as the
    emulator's Auto Scaling record shows them."""
    calls = [
        {**c, "time": datetime.fromisoformat(c["time"]).timestamp()}
        for c in aws_emulator.autoscaling_calls(twin.endpoint)
        if c["auto_scaling_group_name"] == group
    ]
    started = [c["time"] for c in calls if c["action"] == "StartInstanceRefresh" and c["time"] >= since]
    ended = [c["time"] for c in calls if c["source"] == "instance-refresh" and c["time"] >= since]
    assert started and ended, f"no instance refresh of {group} recorded: {calls[-5:]}"
    return started[-1], ended[-1]


def _ttft(samples: list[dict[str, Any]], start: float, end: float) -> dict[str, float | None]:
    """TTFT p50 and p95 (ms) of the successful requests that started in [start, end)."""
    values = [s["ttft"] for s in samples if s.get("ok") and s.get("ttft") is not None and start <= s["t"] < end]
    return {
        "requests": len(values),
        "p50_ms": round(1000 * metrics.percentile(values, 50), 1) if values else None,
        "p95_ms": round(1000 * metrics.percentile(values, 95), 1) if values else None,
    }


def test_a_release_under_load_fails_no_request_and_cuts_no_stream(
    twin: Twin, webui_session: str, tmp_path: Path, record_property
):
    outputs = twin.outputs
    groups = {tier: outputs[f"ollama_{tier}_asg_name"] for tier in TIERS}
    versions = {tier: int(twin.group(group)["LaunchTemplate"]["Version"]) for tier, group in groups.items()}
    reports = {"webui-chat": tmp_path / "webui", "chat": tmp_path / "ollama"}
    # Three streams at most reach the backend: below the in-flight policy's target of 4, so no scale-out.
    loads = {
        "webui-chat": start_load(outputs["ollama_service_url"].rstrip("/"), "webui-chat", webui_session,
                                 reports["webui-chat"], 2, LOAD_S, MAX_REQUESTS),
        "chat": start_load(outputs["ollama_internal_api_url"], "chat", twin.token(), reports["chat"], 1, LOAD_S,
                           MAX_REQUESTS),
    }  # fmt: skip
    try:
        steady_from = time.time()
        time.sleep(STEADY_S)
        images = {tier: _new_image(twin, tier) for tier in TIERS}
        roll_from = time.time()
        release = ansible_playbook(ROOT / "site.yml", ROOT / "inventories" / "local", timeout=RELEASE_TIMEOUT_S)
        roll_to = time.time()
        time.sleep(10)  # requests after the release, on the new instances only
    finally:
        load_outputs = stop_loads(loads)  # the load suite stops its users and writes its summary
    log = release.stdout[-6000:] + release.stderr[-2000:]
    assert release.returncode == 0, log
    for tier, group in groups.items():
        assert f"starting an instance refresh of {group}" in release.stdout, f"{tier}: no refresh started\n{log}"
        assert int(twin.group(group)["LaunchTemplate"]["Version"]) > versions[tier], f"{tier} not moved\n{log}"
        assert _serving_images(twin, group) == {images[tier]}, f"{tier} does not serve from {images[tier]} only"
    windows = {tier: _refresh_window(twin, group, roll_from) for tier, group in groups.items()}
    rolling = (min(w[0] for w in windows.values()), max(w[1] for w in windows.values()))

    results = {}
    for name, output in load_outputs.items():
        assert "killed it" not in output, f"{name}: a request hung past the load suite's stop timeout\n{output[-2000:]}"
        samples = load_samples(reports[name])
        failed = [s for s in samples if not s.get("ok")]
        # A stream that began (chunks arrived) and did not end with done=true was cut.
        truncated = [s for s in failed if s.get("chunks")]
        results[name] = {
            "requests": len(samples),
            "failed": len(failed),
            "truncated": len(truncated),
            "steady": _ttft(samples, steady_from + 10, roll_from),  # after the users' first cycle
            "during_roll": _ttft(samples, *rolling),
            "errors": describe_failures(samples, limit=5),
        }
    summary = {
        "site_yml_seconds": round(roll_to - roll_from, 1),
        "roll_seconds": round(rolling[1] - rolling[0], 1),
        "refresh_seconds": {tier: round(end - start, 1) for tier, (start, end) in windows.items()},
        "load": results,
    }
    print(f"release under load: {json.dumps(summary)}")
    record_property("release_under_load", json.dumps(summary))
    for name, result in results.items():
        assert result["requests"] > 0 and result["during_roll"]["requests"] > 0, (name, result)
        assert result["failed"] == 0 and result["truncated"] == 0, (name, result)
    wait_for("both tiers serving through their load balancers after the release",
             lambda: http(f"{outputs['ollama_service_url'].rstrip('/')}/health")[0] == 200, 60)  # fmt: skip
