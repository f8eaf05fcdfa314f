"""ollama.platform.instance_refresh against the emulator's instance refresh (tools/aws_emulator.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.ansible_runner import run_playbook

pytestmark = pytest.mark.emulator

GROUP = "ollama-dev-asg"


def _playbook(tmp_path: Path, args: dict[str, Any]) -> Path:
    """A play that runs the module once with ``args`` and writes what it returned to ``result_file``."""
    path = tmp_path / f"refresh-{len(list(tmp_path.glob('refresh-*.yml')))}.yml"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "Refresh", "ollama.platform.instance_refresh": args, "register": "out", "ignore_errors": True},
                {
                    "name": "Record",
                    "ansible.builtin.copy": {"content": "{{ out | to_json }}", "dest": "{{ result_file }}"},
                    "check_mode": False,
                },
            ],
        }
    ]
    path.write_text(json.dumps(play))
    return path


def _run(tmp_path: Path, args: dict[str, Any], check: bool = False) -> dict[str, Any]:
    proc, result = run_playbook(_playbook(tmp_path, args), tmp_path, check=check)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return result


def _stack(version: str = "1") -> str:
    ec2, asg = boto3.client("ec2"), boto3.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    images = [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"][:2]]
    template = ec2.create_launch_template(LaunchTemplateName="ollama-dev-lt", LaunchTemplateData={"ImageId": images[0]})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": images[1]})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": version},
        VPCZoneIdentifier=subnet,
    )
    return template_id


def _group() -> dict[str, Any]:
    return boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][
        0
    ]


def _refreshes() -> list[dict[str, Any]]:
    return boto3.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=GROUP)["InstanceRefreshes"]


PREFERENCES = {
    "min_healthy_percentage": 100,
    "max_healthy_percentage": 200,
    "instance_warmup": 0,
    "skip_matching": True,
    "auto_rollback": True,
    "scale_in_protected_instances": "Wait",
}


def test_check_mode_then_start_and_wait_then_idempotent(aws: str, tmp_path: Path) -> None:
    template_id = _stack()
    args = {
        "name": GROUP,
        "launch_template": {"id": template_id, "version": "2"},
        "preferences": PREFERENCES,
        "wait": True,
        "wait_delay": 1,
        "wait_timeout": 60,
    }
    would = _run(tmp_path, args, check=True)
    assert would["changed"] is True
    assert would["would_start"]["desired_configuration"]["launch_template"]["version"] == "2"
    assert would["would_start"]["preferences"]["max_healthy_percentage"] == 200
    assert sorted(would["would_start"]["instances_to_update"]) == sorted(i["InstanceId"] for i in _group()["Instances"])
    assert _refreshes() == [], "check mode started a refresh"

    done = _run(tmp_path, args)
    assert done["changed"] is True, done
    assert done["instance_refresh"]["status"] == "Successful"
    assert _group()["LaunchTemplate"]["Version"] == "2"
    assert {i["LaunchTemplate"]["Version"] for i in _group()["Instances"]} == {"2"}

    again = _run(tmp_path, args)
    assert again["changed"] is False
    assert len(_refreshes()) == 1


def test_bad_preferences_fail_before_anything_starts(aws: str, tmp_path: Path) -> None:
    template_id = _stack(version="$Latest")
    bad = _run(
        tmp_path,
        {
            "name": GROUP,
            "launch_template": {"id": template_id, "version": "2"},
            "preferences": {"max_healthy_percentage": 150},
        },
    )
    assert bad["failed"] and "needs preferences.min_healthy_percentage" in bad["msg"]
    latest = _run(
        tmp_path,
        {"name": GROUP, "launch_template": {"id": template_id, "version": "2"}, "preferences": {"auto_rollback": True}},
    )
    assert latest["failed"] and "$Latest" in latest["msg"]
    missing = _run(tmp_path, {"name": "ollama-dev-nosuch-asg"})
    assert missing["failed"] and "not found" in missing["msg"]
    assert _refreshes() == []


def test_cancel_and_rollback_without_an_active_refresh_change_nothing(aws: str, tmp_path: Path) -> None:
    _stack()
    assert _run(tmp_path, {"name": GROUP, "state": "cancelled"})["changed"] is False
    assert _run(tmp_path, {"name": GROUP, "state": "rolled_back"})["changed"] is False
