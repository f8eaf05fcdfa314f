"""Auto Scaling instance refresh in the emulator, checked against AWS's documentation.

Each test names the page of the Amazon EC2 Auto Scaling user guide or API reference it checks: "Use an instance
refresh to update instances in an Auto Scaling group", "Understand the default values for an instance refresh",
"Instance refresh core concepts" (minimum and maximum healthy percentage), "Use skip matching", "Add checkpoints to an
instance refresh", "Undo changes with a rollback", "Use CloudWatch alarms with an instance refresh", and the
StartInstanceRefresh / DescribeInstanceRefreshes / CancelInstanceRefresh / RollbackInstanceRefresh API reference.
The emulator runs 50x faster here: an InstanceWarmup of 50 s lasts 1 s. The tests complete the launch lifecycle
actions the way the instances' own bootstrap does on the twin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from emulator_cloud import GROUP, TARGET_PORT, Cloud, _client, _hook, _validation_error, _wait_for

from tools import aws_emulator

pytestmark = pytest.mark.emulator

WARMUP = 50  # 1 s at the fast clock


def _group(cloud: Cloud, desired: int, version: str = "1", hook: bool = False) -> None:
    """A group on a numbered launch template version (AutoRollback needs one), its first launches completed."""
    cloud.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=6,
        DesiredCapacity=desired,
        VPCZoneIdentifier=cloud.subnet_id,
        LaunchTemplate={"LaunchTemplateId": cloud.template_id, "Version": version},
        TargetGroupARNs=[cloud.target_group_arn],
        **({"LifecycleHookSpecificationList": [_hook()]} if hook else {}),
    )
    for instance_id in cloud.states():
        if hook:
            cloud.complete("CONTINUE", InstanceId=instance_id)


def _new_version(cloud: Cloud) -> str:
    image = cloud.ec2.describe_images(Owners=["amazon"])["Images"][1]["ImageId"]
    answer = cloud.ec2.create_launch_template_version(
        LaunchTemplateId=cloud.template_id, SourceVersion="1", LaunchTemplateData={"ImageId": image}
    )
    return str(answer["LaunchTemplateVersion"]["VersionNumber"])


def _start(cloud: Cloud, version: str, **preferences: Any) -> str:
    return cloud.autoscaling.start_instance_refresh(
        AutoScalingGroupName=GROUP,
        DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": cloud.template_id, "Version": version}},
        Preferences={"InstanceWarmup": WARMUP, **preferences},
    )["InstanceRefreshId"]


def _refresh(cloud: Cloud) -> dict[str, Any]:
    return cloud.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]


def _versions(cloud: Cloud) -> dict[str, str]:
    """Instance id -> launch template version, for the group's instances."""
    described = cloud.autoscaling.describe_auto_scaling_instances()["AutoScalingInstances"]
    return {i["InstanceId"]: i["LaunchTemplate"]["Version"] for i in described if i["AutoScalingGroupName"] == GROUP}


def _group_version(cloud: Cloud) -> str:
    group = cloud.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    return group["LaunchTemplate"]["Version"]


def _watch(cloud: Cloud, done: Callable[[dict[str, Any]], bool], act: Callable[[], None] = lambda: None,
           timeout: float = 60.0) -> list[tuple[int, int]]:  # fmt: skip
    """Poll the refresh until ``done``; ``act`` runs each poll (completing waiting lifecycle actions, as instances
    do). Returns (InService instances, all instances) of every poll."""
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = cloud.states()
        samples.append((sum(1 for s in states.values() if s == "InService"), len(states)))
        if done(_refresh(cloud)):
            return samples
        act()
        time.sleep(0.1)
    raise AssertionError(f"the refresh did not get there within {timeout}s: {_refresh(cloud)}")


def _complete_waiting(cloud: Cloud, result: str = "CONTINUE") -> Callable[[], None]:
    def act() -> None:
        for action in aws_emulator.pending_lifecycle_actions(cloud.url):
            cloud.complete(result, InstanceId=action["instance_id"])

    return act


def _status(*wanted: str) -> Callable[[dict[str, Any]], bool]:
    return lambda refresh: refresh["Status"] in wanted


def _templates_before(cloud: Cloud, status: str) -> set[str]:
    """Versions of the group's launch template in the call log before the refresh's ``status`` entry."""
    calls = aws_emulator.autoscaling_calls(cloud.url)
    end = next((n for n, c in enumerate(calls) if c["source"] == "instance-refresh" and c["action"] == status), None)
    return {c["launch_template"]["Version"] for c in calls[:end] if c["auto_scaling_group_name"] == GROUP}


# ------------------------------------------------------------------------------------------------ replacement
def test_a_refresh_launches_before_terminating_and_moves_the_group_only_when_it_succeeds(fast: Cloud) -> None:
    """Instance refresh core concepts: with MinHealthyPercentage 100 and MaxHealthyPercentage 200 Amazon EC2 Auto
    Scaling launches the new instances first and terminates old ones only once the new are in service and warmed up;
    StartInstanceRefresh, DesiredConfiguration: "after a successful instance refresh, Amazon EC2 Auto Scaling
    updates the settings of the Auto Scaling group to reflect the new desired configuration". New instances go
    through the launch lifecycle hook (the test completes it, as each instance's bootstrap does)."""
    _group(fast, desired=2, hook=True)
    old = set(fast.states())
    version = _new_version(fast)
    refresh_id = _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    _wait_for(lambda: len(fast.states()) == 4)
    new = set(fast.states()) - old
    assert {fast.states()[i] for i in new} == {"Pending:Wait"}
    assert {_versions(fast)[i] for i in new} == {version}
    assert set(fast.targets()) == old, "new instances join the target group only after their hook"
    assert _group_version(fast) == "1"
    described = _refresh(fast)
    assert (described["InstanceRefreshId"], described["Status"], described["InstancesToUpdate"]) == (
        refresh_id,
        "InProgress",
        2,
    )

    samples = _watch(fast, _status("Successful"), _complete_waiting(fast))
    assert min(in_service for in_service, _ in samples) >= 2, "MinHealthyPercentage 100 keeps two in service"
    assert max(total for _, total in samples) <= 4, "MaxHealthyPercentage 200 allows four at most"
    assert set(fast.states()) == new
    assert all(fast.ec2_state(i) == "terminated" for i in old)
    assert fast.targets() == dict.fromkeys(new, TARGET_PORT)
    assert _group_version(fast) == version
    done = _refresh(fast)
    assert (done["PercentageComplete"], done["InstancesToUpdate"]) == (100, 0)
    assert done["Preferences"]["MinHealthyPercentage"] == 100
    assert _templates_before(fast, "Successful") == {"1"}, "the group kept version 1 until the refresh succeeded"


def test_without_headroom_the_refresh_terminates_first_keeping_min_healthy(fast: Cloud) -> None:
    """Instance refresh core concepts: MaxHealthyPercentage defaults to 100, so instances are replaced by
    terminating and launching; MinHealthyPercentage 50 of a group of two lets one instance go at a time."""
    _group(fast, desired=2)
    old = set(fast.states())
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=50)
    samples = _watch(fast, _status("Successful"))
    assert min(in_service for in_service, _ in samples) >= 1
    assert max(total for _, total in samples) <= 2
    assert not old & set(fast.states())
    assert set(_versions(fast).values()) == {version}


def test_skip_matching_replaces_only_instances_off_the_desired_configuration(fast: Cloud) -> None:
    """Use skip matching: "Amazon EC2 Auto Scaling skips replacing instances that match the desired
    configuration"."""
    _group(fast, desired=1)
    version = _new_version(fast)
    fast.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateId": fast.template_id, "Version": version},
        DesiredCapacity=2,
    )
    matching = next(i for i, v in _versions(fast).items() if v == version)
    _start(fast, version, SkipMatching=True, MinHealthyPercentage=50)
    assert _refresh(fast)["InstancesToUpdate"] == 1
    _watch(fast, _status("Successful"))
    assert matching in fast.states()
    assert set(_versions(fast).values()) == {version}


def test_checkpoints_pause_the_refresh_for_the_checkpoint_delay(fast: Cloud) -> None:
    """Add checkpoints to an instance refresh: at each percentage of CheckpointPercentages the refresh waits
    CheckpointDelay seconds (here 150 s: 3 s) before replacing more."""
    _group(fast, desired=2)
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=50, CheckpointPercentages=[50, 100], CheckpointDelay=150)
    _watch(fast, lambda r: r["PercentageComplete"] == 50)
    paused = time.monotonic()
    assert "checkpoint 50%" in _refresh(fast)["StatusReason"]
    _watch(fast, _status("Successful"))
    assert time.monotonic() - paused >= 2.5


def test_protected_instances_are_ignored_or_waited_for(fast: Cloud) -> None:
    """StartInstanceRefresh, ScaleInProtectedInstances: Ignore "ignores instances that are protected from scale in
    and continues to replace instances that are not protected"; Wait (default) waits for the protection to end."""
    _group(fast, desired=2)
    protected, other = fast.states()
    fast.autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[protected], ProtectedFromScaleIn=True
    )
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=50, ScaleInProtectedInstances="Ignore")
    _watch(fast, _status("Successful"))
    assert protected in fast.states()
    assert other not in fast.states()

    _start(fast, "1", MinHealthyPercentage=50)
    _watch(fast, lambda r: "protected from scale in" in r["StatusReason"])
    assert protected in fast.states()
    fast.autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[protected], ProtectedFromScaleIn=False
    )
    _watch(fast, _status("Successful"))
    assert protected not in fast.states()


# --------------------------------------------------------------------------------------------------- failure
def test_an_abandoned_new_instance_fails_the_refresh_and_auto_rollback_restores_the_old_version(fast: Cloud) -> None:
    """Undo changes with a rollback: with AutoRollback, a failed refresh rolls back: "Amazon EC2 Auto Scaling
    replaces any instances that were replaced during the instance refresh" and the group keeps "the configuration
    that it was using before the start of the instance refresh"; the status ends RollbackSuccessful with
    RollbackDetails."""
    _group(fast, desired=2, hook=True)
    old = set(fast.states())
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200, AutoRollback=True)
    _wait_for(lambda: len(aws_emulator.pending_lifecycle_actions(fast.url)) == 2)
    _complete_waiting(fast, "ABANDON")()  # the new image's bootstrap fails
    samples = _watch(fast, _status("RollbackSuccessful"), _complete_waiting(fast))
    assert min(in_service for in_service, _ in samples) >= 2, "the old instances kept serving"
    described = _refresh(fast)
    assert "terminated before the refresh completed" in described["RollbackDetails"]["RollbackReason"]
    assert described["RollbackDetails"]["PercentageCompleteOnRollback"] == 100
    assert _group_version(fast) == "1"
    assert set(_versions(fast).values()) == {"1"}
    assert old <= set(fast.states())
    assert _templates_before(fast, "RollbackSuccessful") == {"1"}
    assert not [c for c in aws_emulator.autoscaling_calls(fast.url) if c["action"] == "Successful"]


def test_an_alarm_of_the_alarm_specification_rolls_the_refresh_back(fast: Cloud) -> None:
    """Use CloudWatch alarms with an instance refresh: "If any of the alarms go into the ALARM state, the instance
    refresh fails" and, with AutoRollback, rolls back."""
    cloudwatch = _client("cloudwatch", fast.url)
    cloudwatch.put_metric_alarm(
        AlarmName="ollama-backend-errors",
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    _group(fast, desired=2, hook=True)
    version = _new_version(fast)
    _start(
        fast,
        version,
        MinHealthyPercentage=100,
        MaxHealthyPercentage=200,
        AutoRollback=True,
        AlarmSpecification={"Alarms": ["ollama-backend-errors"]},
    )
    _watch(fast, lambda r: r["InstancesToUpdate"] == 2 and len(fast.states()) == 4)
    cloudwatch.set_alarm_state(AlarmName="ollama-backend-errors", StateValue="ALARM", StateReason="test")
    _watch(fast, _status("RollbackSuccessful"), _complete_waiting(fast))
    assert "ollama-backend-errors" in _refresh(fast)["RollbackDetails"]["RollbackReason"]
    assert set(_versions(fast).values()) == {"1"}
    assert _group_version(fast) == "1"


def test_without_auto_rollback_a_failure_stops_the_refresh_and_keeps_the_group_configuration(fast: Cloud) -> None:
    """StartInstanceRefresh: "An instance refresh might fail for several reasons, such as EC2 launch failures";
    without AutoRollback the status is Failed and the group keeps its configuration."""
    _group(fast, desired=1, hook=True)
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    _wait_for(lambda: len(aws_emulator.pending_lifecycle_actions(fast.url)) == 1)
    _complete_waiting(fast, "ABANDON")()
    _watch(fast, _status("Failed"))
    assert "terminated before the refresh completed" in _refresh(fast)["StatusReason"]
    assert _group_version(fast) == "1"


def test_cancel_and_rollback_on_request(fast: Cloud) -> None:
    """CancelInstanceRefresh: "When you cancel an instance refresh, this does not roll back any changes that it
    made"; RollbackInstanceRefresh: "Cancels an instance refresh that is in progress and rolls back any changes that
    it made"."""
    _group(fast, desired=1, hook=True)
    version = _new_version(fast)
    _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    _wait_for(lambda: len(fast.states()) == 2)
    fast.autoscaling.cancel_instance_refresh(AutoScalingGroupName=GROUP)
    _watch(fast, _status("Cancelled"))
    assert _group_version(fast) == "1"
    _complete_waiting(fast)()

    _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    _wait_for(lambda: len(aws_emulator.pending_lifecycle_actions(fast.url)) == 1)
    fast.autoscaling.rollback_instance_refresh(AutoScalingGroupName=GROUP)
    assert _refresh(fast)["Status"] == "RollbackInProgress"
    _watch(fast, _status("RollbackSuccessful"), _complete_waiting(fast))
    assert _refresh(fast)["RollbackDetails"]["RollbackReason"] == "Rollback requested by RollbackInstanceRefresh"
    assert _group_version(fast) == "1"


# ---------------------------------------------------------------------------------------------------- errors
def _error(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_refresh_requests_are_validated_before_anything_changes(fast: Cloud) -> None:
    """StartInstanceRefresh / RefreshPreferences: MinHealthyPercentage 0-100; MaxHealthyPercentage 100-200, with
    MinHealthyPercentage and at most 100 above it; CheckpointDelay with CheckpointPercentages; AutoRollback is not
    supported when the group uses $Latest or $Default; alarms must exist; one refresh at a time
    (InstanceRefreshInProgress); cancel and rollback need an active refresh (ActiveInstanceRefreshNotFound)."""
    fast.create_group(desired=1)  # $Latest
    version = _new_version(fast)
    assert "MinHealthyPercentage" in _validation_error(lambda: _start(fast, version, MinHealthyPercentage=101))
    assert "MaxHealthyPercentage" in _validation_error(
        lambda: _start(fast, version, MinHealthyPercentage=50, MaxHealthyPercentage=160)
    )
    assert "CheckpointPercentages" in _validation_error(lambda: _start(fast, version, CheckpointDelay=60))
    assert "$Latest" in _validation_error(lambda: _start(fast, version, AutoRollback=True))
    assert "no-such-alarm" in _validation_error(
        lambda: _start(fast, version, AlarmSpecification={"Alarms": ["no-such-alarm"]})
    )
    assert "launch template" in _validation_error(lambda: _start(fast, "9"))
    assert fast.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"] == []
    assert _error(lambda: fast.autoscaling.cancel_instance_refresh(AutoScalingGroupName=GROUP))[0] == (
        "ActiveInstanceRefreshNotFound"
    )
    assert _error(lambda: fast.autoscaling.rollback_instance_refresh(AutoScalingGroupName=GROUP))[0] == (
        "ActiveInstanceRefreshNotFound"
    )
    fast.put_hook()
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    _start(fast, version, MinHealthyPercentage=100, MaxHealthyPercentage=200)
    code, message = _error(lambda: _start(fast, version))
    assert code == "InstanceRefreshInProgress"
    assert "already in progress" in message
    assert _error(lambda: fast.autoscaling.rollback_instance_refresh(AutoScalingGroupName=GROUP))[0] == (
        "IrreversibleInstanceRefresh"
    )
