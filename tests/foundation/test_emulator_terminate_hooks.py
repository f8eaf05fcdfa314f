"""Auto Scaling terminating lifecycle hooks and scale-in protection in the emulator, checked against AWS's docs.

Each test names the page of the Amazon EC2 Auto Scaling user guide or API reference it checks: "Amazon EC2 Auto
Scaling lifecycle hooks" / "How lifecycle hooks work", "Use scale-in protection", the Elastic Load Balancing
user guide's "Deregistration delay", and the PutLifecycleHook / CompleteLifecycleAction /
TerminateInstanceInAutoScalingGroup / SetInstanceHealth API reference. The emulator runs 50x faster here.
"""

from __future__ import annotations

import time

import pytest
from emulator_cloud import GROUP, TARGET_PORT, Cloud, _wait_for

from tools import aws_emulator

pytestmark = pytest.mark.emulator

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
DRAIN = "ollama-backend-drain"


def _draining_group(
    cloud: Cloud, desired: int, delay: int = 50, heartbeat: int = 900, default: str = "CONTINUE"
) -> None:
    """A group with a terminating hook; its target group's deregistration delay is ``delay`` s (x 0.02)."""
    cloud.elbv2.modify_target_group_attributes(
        TargetGroupArn=cloud.target_group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}],
    )
    cloud.create_group(desired=desired)
    cloud.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=GROUP,
        LifecycleHookName=DRAIN,
        LifecycleTransition=TERMINATING,
        HeartbeatTimeout=heartbeat,
        DefaultResult=default,
    )


def _terminating(cloud: Cloud) -> list[str]:
    return [i for i, s in cloud.states().items() if s.startswith("Terminating")]


def test_scale_in_deregisters_waits_the_delay_then_holds_the_instance_in_terminating_wait(fast: Cloud) -> None:
    """How lifecycle hooks work: on scale-in the instance is deregistered from the load balancer, waits for the
    deregistration delay, then the hook "puts the instance into a wait state (Terminating:Wait)" until the action
    completes; then the instance is terminated (Terminating:Proceed, Terminated). It keeps running meanwhile and
    reads target lifecycle state Terminated. The group does not replace it."""
    _draining_group(fast, desired=2, delay=150)  # 3 s
    started = time.monotonic()
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    (leaving,) = _terminating(fast)
    (staying,) = set(fast.states()) - {leaving}
    assert fast.states()[leaving] == "Terminating"
    assert fast.targets() == {staying: TARGET_PORT}
    assert fast.ec2_state(leaving) == "running"
    assert aws_emulator.target_lifecycle_states(fast.url)[leaving] == "Terminated"
    _wait_for(lambda: fast.states().get(leaving) == "Terminating:Wait")
    assert time.monotonic() - started >= 2.5, "the deregistration delay (150 s = 3 s) passes first"
    (action,) = aws_emulator.pending_lifecycle_actions(fast.url)
    assert (action["instance_id"], action["lifecycle_transition"]) == (leaving, TERMINATING)

    fast.complete("CONTINUE", hook=DRAIN, InstanceId=leaving)
    assert fast.ec2_state(leaving) == "terminated"
    assert fast.states() == {staying: "InService"}
    assert fast.targets() == {staying: TARGET_PORT}


def test_a_terminating_action_that_times_out_terminates_the_instance(fast: Cloud) -> None:
    """PutLifecycleHook, DefaultResult: on a terminating hook both CONTINUE and ABANDON end in termination; the
    timeout applies it (HeartbeatTimeout 60 s = 1.2 s)."""
    _draining_group(fast, desired=1, delay=0, heartbeat=60, default="ABANDON")
    (instance,) = fast.states()
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=0)
    _wait_for(lambda: fast.states() == {})
    assert fast.ec2_state(instance) == "terminated"
    (record,) = aws_emulator.lifecycle_actions(fast.url)
    assert (record["instance_id"], record["lifecycle_transition"], record["result"], record["cause"]) == (
        instance,
        TERMINATING,
        "ABANDON",
        "timeout",
    )


def test_scale_in_never_picks_a_protected_instance(fast: Cloud) -> None:
    """Use scale-in protection: "Instance scale-in protection ... prevents Amazon EC2 Auto Scaling from selecting
    specific instances for termination when scaling in"; when all are protected, none is terminated."""
    _draining_group(fast, desired=2, delay=0)
    first, second = fast.states()
    fast.autoscaling.set_instance_protection(AutoScalingGroupName=GROUP, InstanceIds=[first], ProtectedFromScaleIn=True)
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    assert _terminating(fast) == [second]
    _wait_for(lambda: fast.states().get(second) == "Terminating:Wait")
    fast.complete("CONTINUE", hook=DRAIN, InstanceId=second)
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=0)
    assert fast.states() == {first: "InService"}


def test_a_scale_in_held_by_protection_finishes_once_protection_is_lifted(fast: Cloud) -> None:
    """Use scale-in protection: "If all instances in an Auto Scaling group are protected from scale in, and a scale-in
    event occurs, its desired capacity is decremented. However, the Auto Scaling group can't terminate the required
    number of instances until their instance scale-in protection settings are disabled." Lifting it lets the group
    reach its desired capacity without another scaling event."""
    _draining_group(fast, desired=2, delay=0)
    first, second = fast.states()
    fast.autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[first, second], ProtectedFromScaleIn=True
    )
    fast.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    time.sleep(0.5)
    group = fast.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert _terminating(fast) == [] and group["DesiredCapacity"] == 1
    fast.autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[second], ProtectedFromScaleIn=False
    )
    _wait_for(lambda: fast.states().get(second) == "Terminating:Wait")
    fast.complete("CONTINUE", hook=DRAIN, InstanceId=second)
    assert fast.states() == {first: "InService"}


def test_an_unhealthy_instance_drains_through_the_hook_while_its_replacement_launches(fast: Cloud) -> None:
    """SetInstanceHealth: Amazon EC2 Auto Scaling "terminates and replaces the unhealthy instance"; the terminating
    hook holds the old one in Terminating:Wait while the replacement launches."""
    _draining_group(fast, desired=1, delay=0)
    (old,) = fast.states()
    fast.autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")
    states = fast.states()
    assert states[old].startswith("Terminating")  # Terminating:Wait at once: no deregistration delay here
    (new,) = set(states) - {old}
    assert states[new] == "InService"
    _wait_for(lambda: fast.states().get(old) == "Terminating:Wait")
    fast.complete("ABANDON", hook=DRAIN, InstanceId=old)
    assert fast.states() == {new: "InService"}
    assert fast.ec2_state(old) == "terminated"


def test_terminate_instance_in_group_goes_through_the_hook(fast: Cloud) -> None:
    """TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity: the instance is terminated through
    the terminating lifecycle hook and not replaced; without the decrement a replacement launches."""
    _draining_group(fast, desired=2, delay=0)
    first, second = fast.states()
    fast.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=first, ShouldDecrementDesiredCapacity=True)
    group = fast.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1
    states = fast.states()
    assert states[first].startswith("Terminating")
    assert states[second] == "InService"
    fast.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=second, ShouldDecrementDesiredCapacity=False)
    assert len([s for s in fast.states().values() if s == "InService"]) == 1
    assert second not in fast.targets()


def test_an_instance_refresh_drains_replaced_instances_through_the_hook(fast: Cloud) -> None:
    """Use an instance refresh: replaced instances are terminated like any other, so terminating lifecycle hooks
    run for them (the refresh waits for them to finish)."""
    _draining_group(fast, desired=1, delay=0)
    (old,) = fast.states()
    fast.autoscaling.start_instance_refresh(
        AutoScalingGroupName=GROUP,
        Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "InstanceWarmup": 0},
    )
    _wait_for(lambda: fast.states().get(old) == "Terminating:Wait")
    refresh = fast.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]
    assert refresh["Status"] == "InProgress"
    fast.complete("CONTINUE", hook=DRAIN, InstanceId=old)
    _wait_for(
        lambda: (
            fast.autoscaling.describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"][0]["Status"]
            == "Successful"
        )
    )
    assert fast.ec2_state(old) == "terminated"


def test_without_a_terminating_hook_scale_in_terminates_at_once(cloud: Cloud) -> None:
    """How lifecycle hooks work: without a terminating hook the instance goes straight to Terminated."""
    cloud.create_group(desired=2)
    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    assert list(cloud.states().values()) == ["InService"]
