"""Fleet operations on the twin: a bad release rolls itself back, scale-in drains the streams it would cut.

Each test drives the emulator through the AWS API names the product uses (StartInstanceRefresh with the preferences
filter_plugins/release.py builds, SetDesiredCapacity) and judges the result through the load balancers' proxies.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime

import pytest

from filter_plugins.release import refresh_request
from tests.twin.scenarios.conftest import Twin, http, wait_for
from tools import aws_emulator

pytestmark = pytest.mark.twin


def _backend(twin: Twin) -> str:
    return twin.outputs["ollama_backend_asg_name"]


def _stream(twin: Twin, num_predict: int, result: dict) -> None:
    """One streamed generation through the internal load balancer; records whether it ended with done=true."""
    body = json.dumps({"model": "llama3.2:1b", "prompt": "count slowly", "stream": True,
                       "options": {"num_predict": num_predict}}).encode()  # fmt: skip
    headers = {"Authorization": f"Bearer {twin.token()}", "Content-Type": "application/json"}
    try:
        status, response_headers, payload = http(
            f"{twin.outputs['ollama_internal_api_url']}/api/generate", headers, body, timeout=600
        )
        lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
        result.update(status=status, done=bool(lines) and lines[-1].get("done") is True,
                      served_by=response_headers.get("x-served-by", ""))  # fmt: skip
    except OSError as error:  # a cut connection
        result.update(status=0, done=False, error=str(error))


def test_scale_in_while_streams_run_cuts_none(twin: Twin):
    """Product: the streaming instance protects itself from scale-in; the one scale-in removes drains through
    its terminating hook (<asg>-drain) and completes it with CONTINUE. Every stream ends with done=true. The
    minimum moves with the desired capacity, as an operator moves it with the in-flight target tracking policy on
    the group (which would otherwise scale the idle group in before the streams start)."""
    asg, group = twin.client("autoscaling"), _backend(twin)
    twin.wait_settled(group)
    minimum = twin.group(group)["MinSize"]
    # Start from the minimum, with room for one more: the in-flight policy may still hold an earlier scenario's
    # scale-out (at the group's maximum, one more would never come).
    if twin.group(group)["DesiredCapacity"] != minimum:
        asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=minimum)
        wait_for("the backend group back at its minimum", lambda: len(twin.group(group)["Instances"]) == minimum, 600)
        twin.wait_settled(group)
    desired = minimum
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=desired + 1, DesiredCapacity=desired + 1)
    try:
        wait_for("a second backend InService", lambda: len(twin.in_service(group)) >= desired + 1, 600)
        results = [{} for _ in range(4)]
        threads = [threading.Thread(target=_stream, args=(twin, 400, r)) for r in results]
        for thread in threads:
            thread.start()
        time.sleep(5)  # the streams are running
        asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=minimum, DesiredCapacity=desired)
        for thread in threads:
            thread.join(timeout=660)
        assert all(r.get("status") == 200 and r.get("done") for r in results), results
        wait_for("the group back at its capacity", lambda: len(twin.in_service(group)) == desired, 600)
        drained = [
            a for a in aws_emulator.lifecycle_actions(twin.endpoint)
            if a["lifecycle_hook_name"] == f"{group}-drain" and a["result"] == "CONTINUE"
        ]  # fmt: skip
        assert drained and drained[-1]["cause"] == "api", "the drain handler did not complete the terminating hook"
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=minimum, DesiredCapacity=desired)


def test_a_release_whose_bootstrap_fails_rolls_back_to_the_recorded_version(twin: Twin, record_property):
    """Product: a launch template version whose instances abandon their launch (a secret that does not exist)
    fails the refresh; automatic rollback restores the group's recorded version while requests keep succeeding."""
    ec2, asg, group = twin.client("ec2"), twin.client("autoscaling"), _backend(twin)
    before = twin.group(group)
    spec = before["LaunchTemplate"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec["Version"]])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    user_data = base64.b64decode(data["UserData"]).decode()
    bad = re.sub(
        r"OLLAMA_API_TOKEN_SECRET_ARN=\S+", "OLLAMA_API_TOKEN_SECRET_ARN=ollama-local/no-such-secret", user_data
    )
    version = ec2.create_launch_template_version(
        LaunchTemplateId=spec["LaunchTemplateId"],
        SourceVersion=spec["Version"],
        LaunchTemplateData={"UserData": base64.b64encode(bad.encode()).decode()},
    )["LaunchTemplateVersion"]["VersionNumber"]
    template = {"launch_template_id": spec["LaunchTemplateId"], "latest_version_number": version}
    group_info = {"launch_template": {"version": spec["Version"]}}
    request = refresh_request(group_info, template, "backend", [], True, {"checkpoint_delay": 0, "instance_warmup": 30})
    preferences = request["preferences"]
    started, began = time.monotonic(), datetime.now(UTC).isoformat()
    asg.start_instance_refresh(
        AutoScalingGroupName=group,
        DesiredConfiguration={
            "LaunchTemplate": {"LaunchTemplateId": spec["LaunchTemplateId"], "Version": str(version)}
        },
        Preferences={
            "MinHealthyPercentage": preferences["min_healthy_percentage"],
            "MaxHealthyPercentage": preferences["max_healthy_percentage"],
            "InstanceWarmup": preferences["instance_warmup"],
            "SkipMatching": True,
            "AutoRollback": True,
            "ScaleInProtectedInstances": "Refresh",
            "StandbyInstances": "Ignore",
        },
    )
    errors = 0
    while True:
        status, _, _ = http(
            f"{twin.outputs['ollama_internal_api_url']}/api/version", {"Authorization": f"Bearer {twin.token()}"}
        )
        errors += status != 200
        refresh = asg.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"][0]
        # AWS's terminal statuses of an instance refresh (DescribeInstanceRefreshes).
        if refresh["Status"] in ("Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"):
            break
        assert time.monotonic() - started < 900, f"the refresh did not end in 15 minutes: {refresh}"
        time.sleep(2)
    record_property("rollback_seconds", round(time.monotonic() - started, 1))
    record_property("rollback_errors", errors)
    assert refresh["Status"] == "RollbackSuccessful", refresh
    assert twin.group(group)["LaunchTemplate"]["Version"] == spec["Version"], "the recorded version was not restored"
    assert errors == 0
    # The new version's instances failed for the reason given (the secret), and said so themselves: their
    # bootstrap abandoned the launch, the hook's timeout did not.
    abandoned = [
        a for a in aws_emulator.lifecycle_actions(twin.endpoint)
        if a["lifecycle_hook_name"] == f"{group}-launch" and a["result"] == "ABANDON" and a["time"] >= began
    ]  # fmt: skip
    assert abandoned and all(a["cause"] == "api" for a in abandoned), abandoned
