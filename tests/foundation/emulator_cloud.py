"""The network, clients and helpers the emulator's Auto Scaling tests work with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import pytest

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
GROUP = "ollama-backend"
HOOK = "ollama-backend-ready"
SUBNET_CIDR = "10.0.1.0/24"
TARGET_PORT = 11434
FAST_SCALE = 0.02  # 50x: a HeartbeatTimeout of 60 s expires after 1.2 s


@dataclass
class Cloud:
    """Clients and the network one test works in."""

    url: str
    ec2: Any
    autoscaling: Any
    elbv2: Any
    subnet_id: str
    template_id: str
    target_group_arn: str

    def create_group(self, desired: int, hook: dict[str, Any] | None = None, name: str = GROUP) -> None:
        extra = {"LifecycleHookSpecificationList": [hook]} if hook else {}
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=6,
            DesiredCapacity=desired,
            VPCZoneIdentifier=self.subnet_id,
            LaunchTemplate={"LaunchTemplateId": self.template_id, "Version": "$Latest"},
            TargetGroupARNs=[self.target_group_arn],
            **extra,
        )

    def put_hook(self, heartbeat: int = 900, default: str = "ABANDON", name: str = HOOK) -> None:
        self.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=GROUP,
            LifecycleHookName=name,
            LifecycleTransition=LAUNCHING,
            HeartbeatTimeout=heartbeat,
            DefaultResult=default,
        )

    def states(self) -> dict[str, str]:
        """Instance id -> LifecycleState as DescribeAutoScalingGroups shows them."""
        group = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0]
        return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}

    def instance_states(self) -> dict[str, str]:
        """Instance id -> LifecycleState as DescribeAutoScalingInstances shows them."""
        described = self.autoscaling.describe_auto_scaling_instances()["AutoScalingInstances"]
        return {i["InstanceId"]: i["LifecycleState"] for i in described}

    def targets(self) -> dict[str, int]:
        health = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)["TargetHealthDescriptions"]
        return {t["Target"]["Id"]: t["Target"]["Port"] for t in health}

    def ec2_state(self, instance_id: str) -> str:
        reservation = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        return reservation["Instances"][0]["State"]["Name"]

    def complete(self, result: str = "CONTINUE", hook: str = HOOK, **target: str) -> None:
        self.autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=GROUP, LifecycleHookName=hook, LifecycleActionResult=result, **target
        )


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def _cloud(url: str) -> Cloud:
    ec2, autoscaling, elbv2 = (_client(s, url) for s in ("ec2", "autoscaling", "elbv2"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="ollama-backend", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    target_group = elbv2.create_target_group(
        Name="ollama-backend", Protocol="HTTP", Port=TARGET_PORT, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    return Cloud(url, ec2, autoscaling, elbv2, subnet, template, target_group)


def _hook(heartbeat: int = 900, default: str = "ABANDON") -> dict[str, Any]:
    return {
        "LifecycleHookName": HOOK,
        "LifecycleTransition": LAUNCHING,
        "HeartbeatTimeout": heartbeat,
        "DefaultResult": default,
    }


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> float:
    """Poll until ``predicate`` holds; returns the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _validation_error(call: Callable[[], Any]) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Error"]["Message"]
