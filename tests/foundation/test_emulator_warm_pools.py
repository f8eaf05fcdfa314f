"""Auto Scaling warm pools in the emulator, checked against AWS's documentation.

Each test names the page of the Amazon EC2 Auto Scaling user guide or API reference it checks: "Warm pools for
Amazon EC2 Auto Scaling", "Lifecycle state transitions for instances in a warm pool", "Use lifecycle hooks with a
warm pool", and the PutWarmPool / DescribeWarmPool / DeleteWarmPool API reference.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from emulator_cloud import GROUP, TARGET_PORT, Cloud, _hook, _validation_error, _wait_for

from tools import aws_emulator

pytestmark = pytest.mark.emulator


def _pool(cloud: Cloud) -> dict[str, str]:
    """Warm instance id -> LifecycleState as DescribeWarmPool shows them."""
    answer = cloud.autoscaling.describe_warm_pool(AutoScalingGroupName=GROUP)
    return {i["InstanceId"]: i["LifecycleState"] for i in answer["Instances"]}


def _put_pool(cloud: Cloud, **settings: Any) -> None:
    cloud.autoscaling.put_warm_pool(AutoScalingGroupName=GROUP, **settings)


def _warmed(cloud: Cloud) -> str:
    """A group of one with a launch hook and a warm pool of one, both launches completed; returns the warm id."""
    cloud.create_group(desired=1, hook=_hook())
    (serving,) = cloud.states()
    cloud.complete("CONTINUE", InstanceId=serving)
    _put_pool(cloud, MaxGroupPreparedCapacity=2, MinSize=1)
    (warm,) = _pool(cloud)
    cloud.complete("CONTINUE", InstanceId=warm)
    return warm


def test_a_warm_pool_instance_completes_the_launch_hook_then_rests_stopped(cloud: Cloud) -> None:
    """Lifecycle state transitions for instances in a warm pool: an instance launched into the pool goes
    Warmed:Pending:Wait -> Warmed:Pending:Proceed -> Warmed:Stopped, with target lifecycle state Warmed:Stopped
    (Use lifecycle hooks with a warm pool: the instance reads it at autoscaling/target-lifecycle-state). Warm
    instances are not part of the group's capacity nor registered with its load balancer; a stopped pool's instances
    are stopped EC2 instances."""
    cloud.create_group(desired=1, hook=_hook())
    (serving,) = cloud.states()
    _put_pool(cloud, MaxGroupPreparedCapacity=2, MinSize=1)
    pool = _pool(cloud)
    assert list(pool.values()) == ["Warmed:Pending:Wait"]
    (warm,) = pool
    assert cloud.instance_states() == {serving: "Pending:Wait", warm: "Warmed:Pending:Wait"}
    assert aws_emulator.target_lifecycle_states(cloud.url) == {serving: "InService", warm: "Warmed:Stopped"}
    assert cloud.ec2_state(warm) == "running", "the instance boots to prepare itself before resting"
    waiting = {a["instance_id"] for a in aws_emulator.pending_lifecycle_actions(cloud.url)}
    assert waiting == {serving, warm}

    cloud.complete("CONTINUE", InstanceId=warm)
    assert _pool(cloud) == {warm: "Warmed:Stopped"}
    assert cloud.ec2_state(warm) == "stopped"
    assert cloud.states() == {serving: "Pending:Wait"}
    assert cloud.targets() == {}
    assert aws_emulator.target_lifecycle_states(cloud.url)[warm] == "Warmed:Stopped"
    config = cloud.autoscaling.describe_warm_pool(AutoScalingGroupName=GROUP)["WarmPoolConfiguration"]
    assert (config["MaxGroupPreparedCapacity"], config["MinSize"], config["PoolState"]) == (2, 1, "Stopped")


def test_scale_out_takes_the_warmed_instance_which_runs_the_hook_again_and_the_pool_refills(cloud: Cloud) -> None:
    """Warm pools for Amazon EC2 Auto Scaling: on scale-out the group takes instances from the warm pool first;
    Lifecycle state transitions: Warmed:Stopped -> Pending:Wait -> Pending:Proceed -> InService, the launch hook
    running again with target lifecycle state InService. PutWarmPool, MinSize: the pool keeps at least that many
    instances, so a new one is launched into it."""
    warm = _warmed(cloud)
    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    assert cloud.states()[warm] == "Pending:Wait"
    assert cloud.ec2_state(warm) == "running"
    assert aws_emulator.target_lifecycle_states(cloud.url)[warm] == "InService"
    assert warm not in cloud.targets()
    (refill,) = _pool(cloud)
    assert refill != warm
    assert _pool(cloud) == {refill: "Warmed:Pending:Wait"}

    cloud.complete("CONTINUE", InstanceId=warm)
    assert cloud.states()[warm] == "InService"
    assert cloud.targets()[warm] == TARGET_PORT
    records = [(r["instance_id"], r["result"]) for r in aws_emulator.lifecycle_actions(cloud.url)]
    assert records.count((warm, "CONTINUE")) == 2, "once entering the pool, once leaving it"


def test_scale_out_launches_the_warmed_instance_anew(cloud: Cloud) -> None:
    """DescribeInstances, LaunchTime: "The time that the instance was last launched": starting the stopped warm
    instance on scale-out sets it (a watcher that missed the stop between two looks still sees the new boot);
    a StartInstances of a running instance does not."""

    def launched(instance_id: str) -> Any:
        return cloud.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["LaunchTime"]

    warm = _warmed(cloud)
    rested = launched(warm)
    time.sleep(1.1)  # LaunchTime has whole seconds
    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    assert cloud.ec2_state(warm) == "running"
    started = launched(warm)
    assert started > rested
    cloud.ec2.start_instances(InstanceIds=[warm])
    assert launched(warm) == started


def test_without_hooks_warm_instances_rest_stopped_and_go_straight_into_service(cloud: Cloud) -> None:
    """PutWarmPool, MaxGroupPreparedCapacity: "If a value for MaxGroupPreparedCapacity is not specified, Amazon EC2
    Auto Scaling launches and maintains the difference between the group's maximum capacity and its desired
    capacity." (MaxSize 6, desired 1: five warm instances; after a scale-out to 3, three.)"""
    cloud.create_group(desired=1)
    _put_pool(cloud)
    assert list(_pool(cloud).values()) == ["Warmed:Stopped"] * 5
    warm = list(_pool(cloud))
    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=3)
    states = cloud.states()
    assert set(warm[:2]) < set(states)
    assert list(states.values()) == ["InService"] * 3
    assert set(cloud.targets()) == set(states)
    assert len(_pool(cloud)) == 3
    assert all(cloud.ec2_state(i) == "running" for i in states)


def test_an_instance_still_warming_is_not_taken_on_scale_out(cloud: Cloud) -> None:
    """Warm pools: "If the warm pool is empty when there is a scale-out event, instances launch directly into the
    Auto Scaling group (a cold start)" - an instance still in Warmed:Pending is not ready to be taken."""
    cloud.create_group(desired=1, hook=_hook())
    _put_pool(cloud, MaxGroupPreparedCapacity=2, MinSize=1)
    (warming,) = _pool(cloud)
    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    assert warming not in cloud.states()
    assert len(cloud.states()) == 2
    assert _pool(cloud) == {warming: "Warmed:Pending:Wait"}


def test_abandon_in_the_pool_terminates_the_instance_and_the_pool_refills(cloud: Cloud) -> None:
    """Use lifecycle hooks with a warm pool: ABANDON on the launch hook terminates the instance; the pool is kept at
    its size by launching another one into it."""
    cloud.create_group(desired=0, hook=_hook())
    _put_pool(cloud, MinSize=1, MaxGroupPreparedCapacity=1)
    (warm,) = _pool(cloud)
    cloud.complete("ABANDON", InstanceId=warm)
    assert cloud.ec2_state(warm) == "terminated"
    (replacement,) = _pool(cloud)
    assert replacement != warm
    assert _pool(cloud) == {replacement: "Warmed:Pending:Wait"}


def test_a_warm_instance_that_times_out_gets_the_default_result(fast: Cloud) -> None:
    """PutLifecycleHook, DefaultResult applies to warm pool launches too: CONTINUE at the timeout rests the instance
    in the pool (HeartbeatTimeout 60 s, 1.2 s on this clock)."""
    fast.create_group(desired=0, hook=_hook(heartbeat=60, default="CONTINUE"))
    _put_pool(fast, MinSize=1, MaxGroupPreparedCapacity=1)
    (warm,) = _pool(fast)
    _wait_for(lambda: _pool(fast) == {warm: "Warmed:Stopped"})
    assert fast.ec2_state(warm) == "stopped"


def test_a_running_pool_keeps_its_instances_running(cloud: Cloud) -> None:
    """PutWarmPool, PoolState: "Sets the instance state to transition to after the lifecycle actions are complete"
    - Running keeps the EC2 instance running (Warmed:Running)."""
    cloud.create_group(desired=0)
    _put_pool(cloud, MinSize=1, MaxGroupPreparedCapacity=1, PoolState="Running")
    (warm,) = _pool(cloud)
    assert _pool(cloud) == {warm: "Warmed:Running"}
    assert cloud.ec2_state(warm) == "running"
    assert aws_emulator.target_lifecycle_states(cloud.url) == {warm: "Warmed:Running"}


def test_bad_warm_pool_settings_are_refused_and_change_nothing(cloud: Cloud) -> None:
    """PutWarmPool: PoolState is one of Stopped, Running, Hibernated; MaxGroupPreparedCapacity is -1 or at least
    MinSize. A refused call creates no pool and launches nothing."""
    cloud.create_group(desired=1)
    assert "Stopped, Running, Hibernated" in _validation_error(lambda: _put_pool(cloud, PoolState="Frozen"))
    assert "MinSize" in _validation_error(lambda: _put_pool(cloud, MaxGroupPreparedCapacity=1, MinSize=2))
    answer = cloud.autoscaling.describe_warm_pool(AutoScalingGroupName=GROUP)
    assert answer.get("WarmPoolConfiguration") in (None, {})
    assert answer["Instances"] == []
    assert len(cloud.instance_states()) == 1


def test_deleting_the_pool_or_the_group_terminates_warm_instances(cloud: Cloud) -> None:
    """DeleteWarmPool: "Deletes the warm pool for the specified Auto Scaling group" and terminates its instances;
    DeleteAutoScalingGroup with ForceDelete "deletes the group along with all instances associated with the group"."""
    warm = _warmed(cloud)
    cloud.autoscaling.delete_warm_pool(AutoScalingGroupName=GROUP, ForceDelete=True)
    assert cloud.ec2_state(warm) == "terminated"
    assert warm not in cloud.instance_states()
    _put_pool(cloud, MinSize=1, MaxGroupPreparedCapacity=2)
    (second,) = _pool(cloud)
    cloud.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    assert cloud.ec2_state(second) == "terminated"
    assert aws_emulator.pending_lifecycle_actions(cloud.url) == []


def test_a_warm_instance_terminated_through_ec2_is_replaced_in_the_pool(cloud: Cloud) -> None:
    """Warm pools: the group keeps its warm pool at its size; an instance lost from the pool is replaced."""
    warm = _warmed(cloud)
    cloud.ec2.terminate_instances(InstanceIds=[warm])
    (replacement,) = _pool(cloud)
    assert replacement != warm
    assert warm not in cloud.instance_states()


def test_the_target_lifecycle_state_route_answers_get_only(cloud: Cloud) -> None:
    """The private route /_emulator/target-lifecycle-states is read-only."""
    request = urllib.request.Request(f"{cloud.url}/_emulator/target-lifecycle-states", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 405
