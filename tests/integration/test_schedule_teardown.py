"""schedule.yml scales a non-production environment to zero and back; teardown.yml needs typed confirmation."""

from __future__ import annotations

import boto3
import pytest

from tests.ansible_runner import ROOT, ansible_env, run_playbook
from tests.integration.test_preflight_bad_input import assert_refused, make_inventory

pytestmark = pytest.mark.emulator

SCHEDULE = ROOT / "playbooks" / "schedule.yml"
TEARDOWN = ROOT / "playbooks" / "teardown.yml"


def _asgs(names):
    ec2, asg = boto3.client("ec2"), boto3.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="ollama-dev-lt", LaunchTemplateData={"ImageId": image})
    for name in names:
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=1,
            MaxSize=3,
            DesiredCapacity=2,
            LaunchTemplate={"LaunchTemplateName": "ollama-dev-lt"},
            VPCZoneIdentifier=subnet,
        )


def _sizes(name):
    group = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]
    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
    return (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]), tags.get("ollama:scheduled-capacity")


def test_schedule_down_and_up(aws, tmp_path):
    _asgs(["ollama-dev-asg", "ollama-dev-frontend-asg"])
    inv = make_inventory(tmp_path, "dev", aws)
    env = ansible_env()

    proc, _ = run_playbook(SCHEDULE, tmp_path, {"platform_schedule_action": "down"}, inventory=inv, env=env, check=True)
    assert proc.returncode == 0, proc.stdout
    assert _sizes("ollama-dev-asg") == ((1, 3, 2), None), "check mode changed the group"

    proc, _ = run_playbook(SCHEDULE, tmp_path, {"platform_schedule_action": "down"}, inventory=inv, env=env)
    assert proc.returncode == 0, proc.stdout
    assert _sizes("ollama-dev-asg") == ((0, 0, 0), "1/3/2")
    assert _sizes("ollama-dev-frontend-asg") == ((0, 0, 0), "1/3/2")

    proc, _ = run_playbook(SCHEDULE, tmp_path, {"platform_schedule_action": "down"}, inventory=inv, env=env)
    assert proc.returncode == 0 and "changed=0" in proc.stdout, proc.stdout

    proc, _ = run_playbook(SCHEDULE, tmp_path, {"platform_schedule_action": "up"}, inventory=inv, env=env)
    assert proc.returncode == 0, proc.stdout
    assert _sizes("ollama-dev-asg") == ((1, 3, 2), None)


def test_schedule_refuses_production(aws, tmp_path):
    inv = make_inventory(tmp_path, "production", aws)
    proc, _ = run_playbook(
        SCHEDULE, tmp_path, {"platform_schedule_action": "down", "platform_confirm": "production"}, inventory=inv
    )
    assert_refused(proc, "schedule.yml never scales PRODUCTION to zero")


def test_teardown_needs_typed_confirmation(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    proc, _ = run_playbook(TEARDOWN, tmp_path, inventory=inv)
    assert_refused(proc, "re-run with -e platform_teardown_confirm=dev")
    proc, _ = run_playbook(TEARDOWN, tmp_path, {"platform_teardown_confirm": "staging"}, inventory=inv)
    assert_refused(proc, "re-run with -e platform_teardown_confirm=dev")


def test_teardown_of_production_needs_the_extra_flag(aws, tmp_path):
    inv = make_inventory(tmp_path, "production", aws)
    extra = {"platform_teardown_confirm": "production", "platform_confirm": "production"}
    proc, _ = run_playbook(TEARDOWN, tmp_path, extra, inventory=inv)
    assert_refused(proc, "teardown of PRODUCTION also needs -e platform_teardown_production=true")
