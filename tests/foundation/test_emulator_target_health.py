"""Target health as a load balancer's health checks find it (POST /_emulator/target-health, tools/aws_emulator.py).

Written from the Elastic Load Balancing user guide (Application Load Balancers, "Health checks for your target
groups", Target health status): "initial - The load balancer is registering the target or performing the initial
health checks on the target" (reason codes Elb.RegistrationInProgress, Elb.InitialHealthChecking); "healthy - The
target is healthy"; "unhealthy - The target did not respond to a health check or failed the health check" (reason
Target.FailedHealthChecks); "unused - The target is not registered with a target group" (Target.NotRegistered).
The twin's proxies report what their checks find (tools/twin/controller.py); these tests play the proxy.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from emulator_cloud import Cloud

from tools import aws_emulator


def _health(cloud: Cloud) -> dict[str, tuple[str, str | None]]:
    described = cloud.elbv2.describe_target_health(TargetGroupArn=cloud.target_group_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason")) for d in described}


def _registered(cloud: Cloud, count: int) -> list[str]:
    cloud.create_group(desired=count)
    instances = sorted(cloud.states())
    assert sorted(cloud.targets()) == instances
    return instances


def test_a_target_group_no_load_balancer_reports_on_keeps_the_emulators_healthy(fast: Cloud) -> None:
    """Without a report the emulator answers as moto does: every registered target healthy (the emulator-only tests,
    which run no proxy, rely on it)."""
    (instance,) = _registered(fast, 1)
    assert _health(fast) == {instance: ("healthy", None)}


def test_a_reported_group_answers_what_its_checks_found(fast: Cloud) -> None:
    """Each reported state comes back with ELB's reason code."""
    up, rising, failing = _registered(fast, 3)
    aws_emulator.report_target_health(
        fast.url, {fast.target_group_arn: {up: "healthy", rising: "initial", failing: "unhealthy"}}
    )
    assert _health(fast) == {
        up: ("healthy", None),
        rising: ("initial", "Elb.InitialHealthChecking"),
        failing: ("unhealthy", "Target.FailedHealthChecks"),
    }


def test_a_registered_target_the_report_does_not_name_yet_is_initial(fast: Cloud) -> None:
    """A target registered after the last report (its load balancer has not checked it yet) is ``initial`` with
    Elb.RegistrationInProgress, not healthy: nothing may count it as serving before its checks pass."""
    (serving,) = _registered(fast, 1)
    aws_emulator.report_target_health(fast.url, {fast.target_group_arn: {serving: "healthy"}})
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName="ollama-backend", DesiredCapacity=2)
    (new,) = set(fast.targets()) - {serving}
    assert _health(fast) == {serving: ("healthy", None), new: ("initial", "Elb.RegistrationInProgress")}


def test_a_deregistered_target_is_unused_whatever_the_last_report_said(fast: Cloud) -> None:
    """Deregistration wins over a stale report: the target is no longer in the group."""
    kept, leaving = _registered(fast, 2)
    aws_emulator.report_target_health(fast.url, {fast.target_group_arn: {kept: "healthy", leaving: "healthy"}})
    fast.elbv2.deregister_targets(TargetGroupArn=fast.target_group_arn, Targets=[{"Id": leaving}])
    assert _health(fast) == {kept: ("healthy", None)}
    described = fast.elbv2.describe_target_health(TargetGroupArn=fast.target_group_arn, Targets=[{"Id": leaving}])
    assert described["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"


def test_a_report_with_a_state_elb_does_not_have_is_refused_and_changes_nothing(fast: Cloud) -> None:
    (instance,) = _registered(fast, 1)
    with pytest.raises(aws_emulator.EmulatorError, match="must be one of healthy, initial, unhealthy"):
        aws_emulator.report_target_health(fast.url, {fast.target_group_arn: {instance: "UP"}})
    request = urllib.request.Request(f"{fast.url}/_emulator/target-health", data=b'["healthy"]', method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert _health(fast) == {instance: ("healthy", None)}
