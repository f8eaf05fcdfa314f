"""The twin's stand-in for terraform apply (tools/twin/stack.py) against the emulator: idempotent layers, the same
output contract as terraform/outputs.tf, the same instance record as terraform/asg.tf, no image-less fleet."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import yaml

from tools.provider_schema.check import parse_file
from tools.target_groups import target_groups
from tools.twin import stack as twin_stack

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]
SUBNET = "10.213.0.0/16"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo5vD4b8m2p0o1xJkq3Zl2Qm3p9zYv8r8mP5cQeXb2T test"
URLS = twin_stack.twin_urls("10.213.0.1")


def _terraform_outputs() -> set[str]:
    doc = parse_file(ROOT / "terraform" / "outputs.tf")
    return {name for group in doc["output"] for name in group if name != "__is_block__"}


def _publish_images(outputs: dict) -> None:
    """What the bake does for the fleet layer: one image per tier behind the tier's parameter."""
    ec2, ssm = boto3.client("ec2"), boto3.client("ssm")
    for tier, parameter in outputs["ollama_ami_parameter_names"].items():
        image = ec2.register_image(Name=f"baked-{tier}", RootDeviceName="/dev/xvda")["ImageId"]
        ssm.put_parameter(Name=parameter, Value=image, Type="String", Overwrite=True)


@pytest.fixture
def deployed(aws):
    stack = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(stack, SUBNET, PUBLIC_KEY, container_image="")
    _publish_images(base)
    outputs = twin_stack.fleet(stack, base, {"backend": 1, "frontend": 2}, "http://10.213.0.1:4566", URLS)
    return aws, stack, outputs


def test_both_layers_are_idempotent(deployed):
    aws, _, outputs = deployed
    again = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(again, SUBNET, PUBLIC_KEY, container_image="")
    assert twin_stack.fleet(again, base, {"backend": 1, "frontend": 2}, "http://10.213.0.1:4566", URLS) == outputs
    assert again.changes == []


def test_outputs_have_the_names_of_terraforms_outputs(deployed):
    """One contract: the twin prints every output terraform/outputs.tf declares, and nothing else."""
    _, _, outputs = deployed
    assert set(outputs) == _terraform_outputs()
    assert isinstance(outputs["ollama_private_subnet_ids"], list) and len(outputs["ollama_private_subnet_ids"]) == 2
    for name in ("ollama_resource_names", "ollama_log_group_names", "ollama_ami_parameter_names"):
        assert isinstance(outputs[name], dict), name
    assert set(outputs["ollama_ami_parameter_names"]) == {"backend", "frontend"}


def test_the_fleet_layer_refuses_to_run_without_images(aws):
    stack = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(stack, SUBNET, PUBLIC_KEY, container_image="")
    with pytest.raises(RuntimeError, match=r"run playbooks/bake_ami.yml first"):
        twin_stack.fleet(stack, base, {"backend": 1, "frontend": 2}, "", URLS)
    assert boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []


def test_groups_launch_into_their_lifecycle_hook_behind_target_groups(deployed):
    """As terraform/asg.tf: ELB health checks, a launch hook that abandons by default, a terminating drain hook, a
    pinned launch template version, and instances that wait in Pending:Wait (not registered with the target group)
    until they complete the launch hook."""
    _, _, outputs = deployed
    asg, elb = boto3.client("autoscaling"), boto3.client("elbv2")
    for name, desired in ((outputs["ollama_backend_asg_name"], 1), (outputs["ollama_frontend_asg_name"], 2)):
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        assert group["HealthCheckType"] == "ELB" and group["DesiredCapacity"] == desired
        hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
        assert sorted((h["LifecycleHookName"], h["LifecycleTransition"], h["DefaultResult"]) for h in hooks) == [
            (f"{name}-drain", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"),
            (f"{name}-launch", "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON"),
        ]
        assert group["LaunchTemplate"]["Version"] == "1", "the group is pinned to a version, as terraform/asg.tf"
        assert {i["LifecycleState"] for i in group["Instances"]} == {"Pending:Wait"}
        health = elb.describe_target_health(TargetGroupArn=group["TargetGroupARNs"][0])["TargetHealthDescriptions"]
        assert health == []


def test_target_groups_have_the_port_and_health_check_terraform_declares(deployed):
    """terraform/alb.tf is the one definition: what the twin's proxies check is what the emulator holds."""
    elb = boto3.client("elbv2")
    for tier, declared in target_groups().items():
        (group,) = elb.describe_target_groups(Names=[f"ollama-local-{tier}-tg"])["TargetGroups"]
        assert {key: group[key] for key in declared.create_arguments()} == declared.create_arguments(), tier


def test_every_alarm_a_release_watches_exists_on_the_load_balancers_metrics(deployed):
    """A release's instance refresh names alarms (playbooks/vars/release.yml) that AWS refuses when they do not
    exist: the twin creates each, on the load balancer and target group metrics terraform/monitoring.tf uses."""
    release = yaml.safe_load((ROOT / "playbooks" / "vars" / "release.yml").read_text())["platform_release_alarms"]
    names = {entry.split("'")[1] for alarms in release.values() for entry in alarms}
    assert names == {"alb-5xx-rate", "backend-unhealthy-hosts", "backend-latency-p95", "frontend-unhealthy-hosts",
                     "frontend-latency-p95"}  # fmt: skip
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in boto3.client("cloudwatch").describe_alarms(AlarmNames=[f"ollama-local-{n}" for n in names])[
            "MetricAlarms"
        ]
    }
    assert set(alarms) == {f"ollama-local-{n}" for n in names}
    for tier in ("backend", "frontend"):
        for kind, metric in (("unhealthy-hosts", "UnHealthyHostCount"), ("latency-p95", "TargetResponseTime")):
            alarm = alarms[f"ollama-local-{tier}-{kind}"]
            assert alarm["Namespace"] == "AWS/ApplicationELB" and alarm["MetricName"] == metric
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert dimensions["TargetGroup"].startswith(f"targetgroup/ollama-local-{tier}-tg/")
            assert dimensions["LoadBalancer"].startswith("app/")
    rate = alarms["ollama-local-alb-5xx-rate"]
    assert {query["Id"] for query in rate["Metrics"]} == {"rate", "errors_elb", "errors_target", "requests"}


def test_the_user_data_records_the_keys_the_bootstrap_reads(deployed):
    """The user data is terraform/templates/user_data.sh.tftpl with the keys of the instance record contract."""
    _, _, outputs = deployed
    contract = yaml.safe_load((ROOT / "roles" / "instance_bootstrap" / "vars" / "main.yml").read_text())
    optional = set(contract["instance_bootstrap_record_optional_keys"])
    common = set(contract["instance_bootstrap_record_common_keys"])
    ec2 = boto3.client("ec2")
    import base64

    for tier in ("backend", "frontend"):
        template = ec2.describe_launch_template_versions(
            LaunchTemplateName=f"ollama-local-{tier}-lt", Versions=["$Default"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        user_data = base64.b64decode(template["UserData"]).decode()
        assert "systemctl start --no-block ollama-platform-bootstrap.service" in user_data
        keys = {line.split("=", 1)[0] for line in user_data.splitlines() if "=" in line and line[:1].isupper()}
        required = common | set(contract["instance_bootstrap_record_tier_keys"][tier])
        assert required <= keys, sorted(required - keys)
        assert keys <= required | optional, sorted(keys - required - optional)
        assert template["MetadataOptions"]["HttpTokens"] == "required"
        assert (
            template["ImageId"]
            == boto3.client("ssm").get_parameter(Name=outputs["ollama_ami_parameter_names"][tier])["Parameter"]["Value"]
        )


def test_render_refuses_a_template_without_the_record_variable(tmp_path):
    template = tmp_path / "user_data.sh.tftpl"
    template.write_text("#!/bin/bash\n${settings}\n")
    with pytest.raises(ValueError, match="instance_env"):
        twin_stack.render_user_data({"A": "b"}, template)
