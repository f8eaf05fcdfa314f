"""Auto Scaling lifecycle hooks, instance replacement and AMI states in the emulator, checked against AWS's docs.

Each test quotes the statement of the Amazon EC2 Auto Scaling user guide / API reference (or the EC2 / VPC docs) it
checks. Timeouts run on a second emulator with a compressed lifecycle clock and pending AMIs.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest
from emulator_cloud import (
    FAST_SCALE,
    GROUP,
    HOOK,
    LAUNCHING,
    SUBNET_CIDR,
    TARGET_PORT,
    Cloud,
    _client,
    _cloud,
    _hook,
    _validation_error,
    _wait_for,
)

from tools import aws_emulator

pytestmark = pytest.mark.emulator


# ------------------------------------------------------------------------------------------------ launch hooks
def test_new_instances_wait_in_pending_wait_and_stay_out_of_the_target_group(cloud: Cloud) -> None:
    """User guide, How lifecycle hooks work: "The lifecycle hook puts the instance into a wait state (Pending:Wait)";
    the instance is registered with the load balancer only when the launch continues, before it reaches InService.
    Hooks given at creation (LifecycleHookSpecificationList) apply to the group's first instances."""
    cloud.create_group(desired=2, hook=_hook())
    assert list(cloud.states().values()) == ["Pending:Wait", "Pending:Wait"]
    assert cloud.instance_states() == cloud.states()
    assert cloud.targets() == {}
    assert all(cloud.ec2_state(i) == "running" for i in cloud.states())


def test_scale_out_after_put_lifecycle_hook_waits_and_counts_towards_desired_capacity(cloud: Cloud) -> None:
    """User guide, lifecycle hooks: a launch hook acts on instances launched by scale-out events ("You manually
    increase the size of the group"); instances already InService are not affected. Waiting instances are part of the
    group's capacity, so the group does not launch more to reach DesiredCapacity."""
    cloud.create_group(desired=1)
    (first,) = cloud.states()
    assert cloud.states() == {first: "InService"}
    assert cloud.targets() == {first: TARGET_PORT}
    cloud.put_hook()

    cloud.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    cloud.autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, DesiredCapacity=3)

    states = cloud.states()
    assert len(states) == 3
    assert states.pop(first) == "InService"
    assert list(states.values()) == ["Pending:Wait", "Pending:Wait"]
    assert cloud.targets() == {first: TARGET_PORT}


def test_continue_puts_the_instance_in_service_and_registers_it(cloud: Cloud) -> None:
    """API reference, CompleteLifecycleAction: "Completes the lifecycle action for the specified token or instance
    with the specified result." With CONTINUE the launch proceeds: the instance enters InService and is registered
    with the group's target groups on the target group's port."""
    cloud.create_group(desired=2, hook=_hook())
    done, waiting = cloud.states()
    cloud.complete("CONTINUE", InstanceId=done)
    assert cloud.states() == {done: "InService", waiting: "Pending:Wait"}
    assert cloud.targets() == {done: TARGET_PORT}


def test_the_lifecycle_action_token_completes_the_action_in_place_of_the_instance_id(cloud: Cloud) -> None:
    """API reference, CompleteLifecycleAction, LifecycleActionToken: "A universally unique identifier (UUID) that
    identifies a specific lifecycle action associated with an instance." (The emulator lists the tokens it would send
    in the hook's notification at /_emulator/pending-lifecycle-actions.)"""
    cloud.create_group(desired=1, hook=_hook())
    (pending,) = aws_emulator.pending_lifecycle_actions(cloud.url)
    assert pending["lifecycle_hook_name"] == HOOK
    assert len(pending["lifecycle_action_token"]) == 36
    cloud.complete("CONTINUE", LifecycleActionToken=pending["lifecycle_action_token"])
    assert cloud.states() == {pending["instance_id"]: "InService"}
    assert aws_emulator.pending_lifecycle_actions(cloud.url) == []


def test_abandon_on_a_launch_hook_terminates_the_instance_and_launches_a_replacement(cloud: Cloud) -> None:
    """User guide, Complete a lifecycle action: ABANDON on a launch hook makes Amazon EC2 Auto Scaling terminate the
    instance; the group then launches a new one to keep its desired capacity, and that one waits on the hook too."""
    cloud.create_group(desired=1, hook=_hook())
    (abandoned,) = cloud.states()
    cloud.complete("ABANDON", InstanceId=abandoned)
    assert cloud.ec2_state(abandoned) == "terminated"
    states = cloud.states()
    assert abandoned not in states
    assert list(states.values()) == ["Pending:Wait"]
    assert cloud.targets() == {}


def test_every_completed_action_is_recorded_and_reset_clears_the_record(cloud: Cloud) -> None:
    """The emulator's record of completed actions (GET /_emulator/lifecycle-actions) shows what AWS's scaling
    activities would: which instance, which hook, which result, and whether a call or the timeout decided."""
    cloud.create_group(desired=2, hook=_hook())
    kept, abandoned = cloud.states()
    cloud.complete("CONTINUE", InstanceId=kept)
    cloud.complete("ABANDON", InstanceId=abandoned)
    records = aws_emulator.lifecycle_actions(cloud.url)
    assert [(r["instance_id"], r["result"], r["cause"]) for r in records] == [
        (kept, "CONTINUE", "api"),
        (abandoned, "ABANDON", "api"),
    ]
    assert {(r["auto_scaling_group_name"], r["lifecycle_hook_name"], r["lifecycle_transition"]) for r in records} == {
        (GROUP, HOOK, LAUNCHING)
    }
    assert all(r["time"].endswith("+00:00") for r in records)
    aws_emulator.reset(cloud.url)
    assert aws_emulator.lifecycle_actions(cloud.url) == []


def test_deleting_the_group_deletes_its_hooks(cloud: Cloud) -> None:
    """API reference, DeleteAutoScalingGroup: deleting a group deletes its lifecycle hooks, so a new group of the
    same name launches straight into service."""
    cloud.create_group(desired=1, hook=_hook())
    cloud.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    cloud.create_group(desired=1)
    assert cloud.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=GROUP)["LifecycleHooks"] == []
    assert list(cloud.states().values()) == ["InService"]


# ---------------------------------------------------------------------------------------------------- errors
def test_completing_an_action_that_is_not_waiting_is_a_validation_error(cloud: Cloud) -> None:
    """AWS answers CompleteLifecycleAction for an instance that does not wait on the hook with ValidationError
    "No active Lifecycle Action found with instance ID <id>" (and "... with token <token>" for a token)."""
    cloud.create_group(desired=2, hook=_hook())
    done, _waiting = cloud.states()
    cloud.complete("CONTINUE", InstanceId=done)
    message = f"No active Lifecycle Action found with instance ID {done}"
    assert _validation_error(lambda: cloud.complete("CONTINUE", InstanceId=done)) == message
    assert _validation_error(lambda: cloud.complete("ABANDON", InstanceId="i-0123456789abcdef0")) == (
        "No active Lifecycle Action found with instance ID i-0123456789abcdef0"
    )
    token = "0b7b6a1e-6a1e-4c1f-9d0e-000000000000"
    assert _validation_error(lambda: cloud.complete("CONTINUE", LifecycleActionToken=token)) == (
        f"No active Lifecycle Action found with token {token}"
    )
    assert cloud.states()[done] == "InService"


def test_an_unknown_hook_or_result_is_a_validation_error(cloud: Cloud) -> None:
    """API reference, CompleteLifecycleAction: LifecycleHookName names a hook of the group and LifecycleActionResult
    is "either CONTINUE or ABANDON"; anything else is rejected with ValidationError and changes nothing."""
    cloud.create_group(desired=1, hook=_hook())
    (waiting,) = cloud.states()
    assert "no-such-hook" in _validation_error(lambda: cloud.complete(hook="no-such-hook", InstanceId=waiting))
    assert "CONTINUE" in _validation_error(lambda: cloud.complete("PROCEED", InstanceId=waiting))
    assert cloud.states() == {waiting: "Pending:Wait"}
    assert aws_emulator.lifecycle_actions(cloud.url) == []


def test_heartbeat_validates_like_complete(cloud: Cloud) -> None:
    """API reference, RecordLifecycleActionHeartbeat: "Records a heartbeat for the lifecycle action associated with
    the specified token or instance" - only an action that is waiting has one."""
    cloud.create_group(desired=1, hook=_hook())
    (waiting,) = cloud.states()
    heartbeat = cloud.autoscaling.record_lifecycle_action_heartbeat
    heartbeat(AutoScalingGroupName=GROUP, LifecycleHookName=HOOK, InstanceId=waiting)
    cloud.complete("CONTINUE", InstanceId=waiting)
    assert _validation_error(
        lambda: heartbeat(AutoScalingGroupName=GROUP, LifecycleHookName=HOOK, InstanceId=waiting)
    ) == (f"No active Lifecycle Action found with instance ID {waiting}")
    assert "no-such-hook" in _validation_error(
        lambda: heartbeat(AutoScalingGroupName=GROUP, LifecycleHookName="no-such-hook", InstanceId=waiting)
    )


# ------------------------------------------------------------------------------------------------ replacement
def test_an_unhealthy_instance_is_terminated_and_replaced_through_the_hook(cloud: Cloud) -> None:
    """API reference, SetInstanceHealth: "Set to Unhealthy to have the instance be out of service. Amazon EC2 Auto
    Scaling terminates and replaces the unhealthy instance." The replacement is a new launch: it waits on the hook."""
    cloud.create_group(desired=1, hook=_hook())
    (old,) = cloud.states()
    cloud.complete("CONTINUE", InstanceId=old)
    cloud.autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")
    assert cloud.ec2_state(old) == "terminated"
    states = cloud.states()
    assert old not in states
    assert list(states.values()) == ["Pending:Wait"]
    assert cloud.targets() == {}


def test_an_unhealthy_instance_without_hooks_is_replaced_by_a_registered_one(cloud: Cloud) -> None:
    """User guide, Health checks: "When Amazon EC2 Auto Scaling determines that an InService instance is unhealthy,
    it replaces it with a new instance to maintain the desired capacity of the group." """
    cloud.create_group(desired=1)
    (old,) = cloud.states()
    cloud.autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")
    (new,) = cloud.states()
    assert new != old
    assert cloud.states() == {new: "InService"}
    assert cloud.targets() == {new: TARGET_PORT}


def test_terminate_instance_in_group_without_decrement_launches_a_waiting_replacement(cloud: Cloud) -> None:
    """API reference, TerminateInstanceInAutoScalingGroup: "This call simply makes a termination request ... if the
    desired capacity is not decremented, Amazon EC2 Auto Scaling launches a replacement". The terminated instance
    leaves the target group; the replacement waits on the launch hook."""
    cloud.create_group(desired=1, hook=_hook())
    (old,) = cloud.states()
    cloud.complete("CONTINUE", InstanceId=old)
    cloud.autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)
    states = cloud.states()
    assert old not in states
    assert list(states.values()) == ["Pending:Wait"]
    assert cloud.ec2_state(old) == "terminated"
    assert cloud.targets() == {}


def test_an_instance_terminated_through_ec2_is_replaced_through_the_hook(cloud: Cloud) -> None:
    """User guide, instance lifecycle: an instance terminated outside Auto Scaling fails its health check and the
    group launches a replacement to maintain the desired capacity."""
    cloud.create_group(desired=1, hook=_hook())
    (old,) = cloud.states()
    cloud.complete("CONTINUE", InstanceId=old)
    cloud.ec2.terminate_instances(InstanceIds=[old])
    states = cloud.states()
    assert old not in states
    assert list(states.values()) == ["Pending:Wait"]
    (new,) = states
    cloud.complete("CONTINUE", InstanceId=new)
    assert cloud.targets() == {new: TARGET_PORT}


# --------------------------------------------------------------------------------------- addresses and templates
def test_private_ips_are_unique_inside_the_subnet_and_skip_the_reserved_addresses(cloud: Cloud) -> None:
    """VPC user guide, Subnet CIDR blocks: "The first four IP addresses and the last IP address in each subnet CIDR
    block are not available for your use"."""
    cloud.create_group(desired=5, hook=_hook())
    first, *_ = cloud.states()
    cloud.complete("ABANDON", InstanceId=first)  # a replacement launch too
    ids = list(cloud.states())
    reservations = cloud.ec2.describe_instances(InstanceIds=ids)["Reservations"]
    addresses = [ipaddress.ip_address(i["PrivateIpAddress"]) for r in reservations for i in r["Instances"]]
    subnet = ipaddress.ip_network(SUBNET_CIDR)
    reserved = {*list(subnet)[:4], subnet.broadcast_address}
    assert len(addresses) == len(set(addresses)) == 5
    assert all(a in subnet and a not in reserved for a in addresses)


def test_auto_scaling_instances_show_the_launch_template_version_they_were_launched_from(cloud: Cloud) -> None:
    """API reference, AutoScalingInstanceDetails.LaunchTemplate: "The launch template for the instance." An instance
    launched from $Latest keeps the version number it was launched from."""
    image = cloud.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    cloud.ec2.create_launch_template_version(
        LaunchTemplateId=cloud.template_id, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small"}
    )
    cloud.create_group(desired=1, hook=_hook())
    (described,) = cloud.autoscaling.describe_auto_scaling_instances()["AutoScalingInstances"]
    assert described["LaunchTemplate"] == {
        "LaunchTemplateId": cloud.template_id,
        "LaunchTemplateName": "ollama-backend",
        "Version": "2",
    }
    group = cloud.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
    assert group["Instances"][0]["LaunchTemplate"]["Version"] == "2"
    reservation = cloud.ec2.describe_instances(InstanceIds=[described["InstanceId"]])["Reservations"][0]
    tags = {t["Key"]: t["Value"] for t in reservation["Instances"][0]["Tags"]}
    assert tags["aws:ec2launchtemplate:version"] == "2"


# -------------------------------------------------------------------------------------------------- timeouts
def test_a_timed_out_action_applies_default_result_continue(fast: Cloud) -> None:
    """PutLifecycleHook, DefaultResult: "The action the Auto Scaling group takes when the lifecycle hook timeout
    elapses" - here CONTINUE: the instance goes InService and is registered. (Clock 50x: 60 s pass in 1.2 s.)"""
    fast.create_group(desired=1, hook=_hook(heartbeat=60, default="CONTINUE"))
    (instance,) = fast.states()
    _wait_for(lambda: fast.states() == {instance: "InService"})
    assert fast.targets() == {instance: TARGET_PORT}
    (record,) = aws_emulator.lifecycle_actions(fast.url)
    assert (record["instance_id"], record["result"], record["cause"]) == (instance, "CONTINUE", "timeout")


def test_a_timed_out_action_applies_default_result_abandon(fast: Cloud) -> None:
    """PutLifecycleHook, DefaultResult ABANDON on a launch hook: the instance is terminated at the timeout and the
    group launches a replacement, which waits on the hook again."""
    fast.create_group(desired=1, hook=_hook(heartbeat=60, default="ABANDON"))
    (instance,) = fast.states()
    _wait_for(lambda: instance not in fast.states())
    assert fast.ec2_state(instance) == "terminated"
    assert list(fast.states().values()) == ["Pending:Wait"]
    first = aws_emulator.lifecycle_actions(fast.url)[0]
    assert (first["instance_id"], first["result"], first["cause"]) == (instance, "ABANDON", "timeout")


def test_a_heartbeat_restarts_the_timeout(fast: Cloud) -> None:
    """API reference, RecordLifecycleActionHeartbeat: "This extends the timeout by the length of time defined using
    the PutLifecycleHook API call." (HeartbeatTimeout 150 s = 3 s at this clock.)"""
    started = time.monotonic()
    fast.create_group(desired=1, hook=_hook(heartbeat=150, default="CONTINUE"))
    (instance,) = fast.states()
    time.sleep(max(0.0, started + 2.0 - time.monotonic()))
    fast.autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=GROUP, LifecycleHookName=HOOK, InstanceId=instance
    )
    time.sleep(max(0.0, started + 3.8 - time.monotonic()))
    assert fast.states() == {instance: "Pending:Wait"}, "the heartbeat must have restarted the 3 s timeout"
    done = _wait_for(lambda: fast.states() == {instance: "InService"})
    assert done - started >= 4.5


def test_the_heartbeat_time_scale_times_the_hooks_alone(tmp_path: Path) -> None:
    """--heartbeat-time-scale compresses the launch hooks' heartbeat timeouts and nothing else (the clock keeps the
    lifecycle time scale); an emulator already running with another heartbeat scale is refused with the fix."""
    endpoint = aws_emulator.start(port=0, state_dir=tmp_path, lifecycle_time_scale=1.0, heartbeat_time_scale=FAST_SCALE)
    try:
        assert aws_emulator.read_state(tmp_path).heartbeat_time_scale == FAST_SCALE
        with urllib.request.urlopen(f"{endpoint.url}/_emulator/clock", timeout=10) as answer:
            assert json.loads(answer.read())["time_scale"] == 1.0
        cloud = _cloud(endpoint.url)
        cloud.create_group(desired=1, hook=_hook(heartbeat=60, default="CONTINUE"))
        (instance,) = cloud.states()
        _wait_for(lambda: cloud.states() == {instance: "InService"}, timeout=10)  # 60 s x 0.02, not x 1.0
        assert aws_emulator.lifecycle_actions(endpoint.url)[0]["cause"] == "timeout"
        with pytest.raises(aws_emulator.EmulatorError, match=r"heartbeat time scale 0\.02.*stop it first"):
            aws_emulator.start(state_dir=tmp_path, lifecycle_time_scale=1.0, heartbeat_time_scale=0.5)
    finally:
        aws_emulator.stop(tmp_path)


# ------------------------------------------------------------------------------------------------------- AMIs
def test_create_image_is_pending_until_the_snapshot_completes(fast: Cloud) -> None:
    """EC2 CreateImage: the new AMI is "pending" until its snapshots complete, then "available" (or "failed").
    RegisterImage is unaffected."""
    image = fast.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = fast.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = fast.ec2.create_image(InstanceId=instance, Name="ollama-backend-1")["ImageId"]

    def state() -> str:
        return fast.ec2.describe_images(ImageIds=[ami])["Images"][0]["State"]

    assert state() == "pending"
    aws_emulator.set_image_state(fast.url, ami, "available")
    assert state() == "available"
    aws_emulator.set_image_state(fast.url, ami, "failed")
    assert state() == "failed"
    registered = fast.ec2.register_image(Name="ollama-registered", RootDeviceName="/dev/sda1")["ImageId"]
    assert fast.ec2.describe_images(ImageIds=[registered])["Images"][0]["State"] == "available"


def test_image_state_route_rejects_unknown_images_and_states(fast: Cloud) -> None:
    """The private image-state route answers 404 JSON for an id the emulator does not know and 400 for a state
    other than available/failed."""
    with pytest.raises(aws_emulator.EmulatorError, match="no image ami-0000000000000000f"):
        aws_emulator.set_image_state(fast.url, "ami-0000000000000000f", "available")
    request = urllib.request.Request(
        f"{fast.url}/_emulator/images/ami-0000000000000000f/state", data=b'{"state": "gone"}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert "available, failed" in caught.value.read().decode()


def test_create_image_stays_available_by_default(cloud: Cloud) -> None:
    """Without --images-pending the emulator keeps moto's immediate "available" (the existing tests rely on it)."""
    image = cloud.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = cloud.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ami = cloud.ec2.create_image(InstanceId=instance, Name="ollama-backend-1")["ImageId"]
    assert cloud.ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] == "available"


# --------------------------------------------------------------------------------------------------- launcher
def test_start_refuses_to_reuse_an_emulator_running_with_other_options(fast_endpoint: str, tmp_path: Path) -> None:
    """The launcher's options change behaviour, so start() never hands back an emulator started with others."""
    state_dir = tmp_path / "emulator"
    endpoint = aws_emulator.start(port=0, state_dir=state_dir, lifecycle_time_scale=0.5)
    try:
        assert aws_emulator.start(port=0, state_dir=state_dir, lifecycle_time_scale=0.5) == endpoint
        with pytest.raises(aws_emulator.EmulatorError, match="stop it first"):
            aws_emulator.start(port=0, state_dir=state_dir, lifecycle_time_scale=1.0)
    finally:
        aws_emulator.stop(state_dir)


def test_time_scale_comes_from_the_environment_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(aws_emulator.TIME_SCALE_ENV, "0.01")
    monkeypatch.setenv(aws_emulator.IMAGES_PENDING_ENV, "1")
    assert aws_emulator.time_scale_from_env() == 0.01
    assert aws_emulator.images_pending_from_env() is True
    monkeypatch.setenv(aws_emulator.TIME_SCALE_ENV, "fast")
    with pytest.raises(aws_emulator.EmulatorError, match="OLLAMA_EMULATOR_TIME_SCALE must be a positive number"):
        aws_emulator.time_scale_from_env()
    with pytest.raises(aws_emulator.EmulatorError, match="--lifecycle-time-scale"):
        aws_emulator.check_time_scale(0)


def test_a_group_is_balanced_across_its_subnets(cloud: Cloud) -> None:
    """AWS: "Amazon EC2 Auto Scaling attempts to distribute instances evenly between the Availability Zones that are
    enabled for your Auto Scaling group" (Availability Zone distribution)."""
    vpc = cloud.ec2.describe_subnets(SubnetIds=[cloud.subnet_id])["Subnets"][0]["VpcId"]
    second = cloud.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    cloud.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=6,
        DesiredCapacity=4,
        VPCZoneIdentifier=f"{cloud.subnet_id},{second['SubnetId']}",
        LaunchTemplate={"LaunchTemplateId": cloud.template_id, "Version": "$Latest"},
    )
    ids = list(cloud.states())
    reservations = cloud.ec2.describe_instances(InstanceIds=ids)["Reservations"]
    zones = [i["Placement"]["AvailabilityZone"] for r in reservations for i in r["Instances"]]
    assert sorted(zones) == ["us-east-1a", "us-east-1a", "us-east-1b", "us-east-1b"]


def test_a_version_from_a_source_version_keeps_its_parameters_and_replaces_those_given(cloud: Cloud) -> None:
    """AWS (CreateLaunchTemplateVersion, SourceVersion): "the new launch template version uses the same launch
    template parameters as the source version, except for parameters that you specify in LaunchTemplateData"; an
    unknown source version is refused and creates no version."""
    user_data = base64.b64encode(b"#!/bin/sh\necho version-2\n").decode()
    created = cloud.ec2.create_launch_template_version(
        LaunchTemplateId=cloud.template_id,
        SourceVersion="1",
        LaunchTemplateData={"UserData": user_data, "InstanceType": "t3.small"},
    )["LaunchTemplateVersion"]
    source = cloud.ec2.describe_launch_template_versions(LaunchTemplateId=cloud.template_id, Versions=["1"])
    image = source["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    for data in (
        created["LaunchTemplateData"],
        cloud.ec2.describe_launch_template_versions(
            LaunchTemplateId=cloud.template_id, Versions=[str(created["VersionNumber"])]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"],
    ):
        assert data["ImageId"] == image
        assert data["InstanceType"] == "t3.small"
        assert data["UserData"] == user_data
    with pytest.raises(botocore.exceptions.ClientError, match=r"VersionNotFound|does not exist"):
        cloud.ec2.create_launch_template_version(
            LaunchTemplateId=cloud.template_id, SourceVersion="9", LaunchTemplateData={"UserData": user_data}
        )
    versions = cloud.ec2.describe_launch_template_versions(LaunchTemplateId=cloud.template_id)
    assert len(versions["LaunchTemplateVersions"]) == 2


def test_a_launch_template_version_launches_with_its_user_data(cloud: Cloud) -> None:
    """AWS: a group launches from the launch template version it names, with that version's user data."""
    user_data = base64.b64encode(b"#!/bin/sh\necho version-2\n").decode()
    version = cloud.ec2.create_launch_template_version(
        LaunchTemplateId=cloud.template_id, SourceVersion="1", LaunchTemplateData={"UserData": user_data}
    )["LaunchTemplateVersion"]["VersionNumber"]
    cloud.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=cloud.subnet_id,
        LaunchTemplate={"LaunchTemplateId": cloud.template_id, "Version": str(version)},
    )
    (instance_id,) = cloud.states()
    attribute = cloud.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert base64.b64decode(attribute["UserData"]["Value"]) == b"#!/bin/sh\necho version-2\n"


def test_public_parameters_are_published_through_the_private_route_only(cloud: Cloud) -> None:
    """AWS: PutParameter refuses names under /aws/ (reserved); the AWS-owned public parameters are readable."""
    ssm = _client("ssm", cloud.url)
    name = "/aws/service/debian/release/12/latest/amd64"
    with pytest.raises(botocore.exceptions.ClientError):
        ssm.put_parameter(Name=name, Value="ami-12345678", Type="String")
    aws_emulator.set_public_parameter(cloud.url, name, "ami-12345678")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "ami-12345678"
    with pytest.raises(aws_emulator.EmulatorError, match="not a public parameter"):
        aws_emulator.set_public_parameter(cloud.url, "/ollama/dev/backend/ami-id", "ami-1")
