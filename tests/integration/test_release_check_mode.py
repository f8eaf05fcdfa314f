"""release.yml and verify.yml against the emulator: nothing to roll is a no-op, a refused frontend rollback stops
before anything changes, and check mode changes nothing (the emulator's state is identical before and after)."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.ansible_runner import ROOT, ansible_env, run_playbook
from tests.integration.test_preflight_bad_input import make_inventory

pytestmark = pytest.mark.emulator

RELEASE = ROOT / "playbooks" / "release.yml"
VERIFY = ROOT / "playbooks" / "verify.yml"
OUTPUTS = {"ollama_backend_asg_name": "ollama-dev-asg", "ollama_frontend_asg_name": "ollama-dev-frontend-asg"}


def _fleet(open_webui_versions: list[str]) -> None:
    """Both tiers' launch templates (one version per frontend image) and groups on version 1."""
    ec2, asg = boto3.client("ec2"), boto3.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="ollama-dev-backend-lt", LaunchTemplateData={"ImageId": base})
    for number, version in enumerate(open_webui_versions):
        image = ec2.register_image(Name=f"ollama-dev-frontend-{number}", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.create_tags(Resources=[image], Tags=[{"Key": "OpenWebUIVersion", "Value": version}])
        if number == 0:
            ec2.create_launch_template(
                LaunchTemplateName="ollama-dev-frontend-lt", LaunchTemplateData={"ImageId": image}
            )
        else:
            ec2.create_launch_template_version(
                LaunchTemplateName="ollama-dev-frontend-lt", LaunchTemplateData={"ImageId": image}
            )
    for name, template in (
        ("ollama-dev-asg", "ollama-dev-backend-lt"),
        ("ollama-dev-frontend-asg", "ollama-dev-frontend-lt"),
    ):
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "1"},
            VPCZoneIdentifier=subnet,
        )


def _state() -> str:
    """What a release could change: the groups, the launch templates, the parameters, the snapshots."""
    asg, ec2, ssm, rds = boto3.client("autoscaling"), boto3.client("ec2"), boto3.client("ssm"), boto3.client("rds")
    groups = asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    templates = ec2.describe_launch_template_versions(LaunchTemplateName="ollama-dev-frontend-lt")[
        "LaunchTemplateVersions"
    ]
    state = {
        "groups": [(g["AutoScalingGroupName"], g.get("LaunchTemplate"), g["DesiredCapacity"]) for g in groups],
        "frontend_template": [(t["VersionNumber"], t["DefaultVersion"]) for t in templates],
        "parameters": ssm.describe_parameters()["Parameters"],
        "snapshots": rds.describe_db_snapshots()["DBSnapshots"],
    }
    return json.dumps(state, sort_keys=True, default=str)


def _release(tmp_path, aws, check: bool = False):
    inv = make_inventory(tmp_path, "dev", aws)
    return run_playbook(
        RELEASE, tmp_path, {"platform_outputs": OUTPUTS}, inventory=inv, check=check, env=ansible_env()
    )[0]


def test_groups_on_the_newest_version_need_no_refresh(aws, tmp_path):
    _fleet(["0.12.4"])
    before = _state()
    proc = _release(tmp_path, aws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ollama-dev-asg runs launch template version 1" not in proc.stdout  # the message names the tier
    assert (
        "backend runs launch template version 1" in proc.stdout
        and "frontend runs launch template version 1" in proc.stdout
    )
    assert "changed=0" in proc.stdout
    assert _state() == before


def test_a_frontend_rollback_onto_a_migrated_schema_is_refused_before_anything_changes(aws, tmp_path):
    # Version 1 (the group's) runs Open-WebUI 0.13.0 and migrated the database; version 2 goes back to 0.12.4.
    _fleet(["0.13.0", "0.12.4"])
    boto3.client("ssm").put_parameter(Name="/ollama/dev/frontend/schema-version", Value="0.13.0", Type="String")
    before = _state()
    for check in (True, False):
        proc = _release(tmp_path, aws, check=check)
        assert proc.returncode != 0, proc.stdout
        text = " ".join(proc.stdout.split())
        assert "refused: Open-WebUI 0.12.4 would run in dev on a database already migrated by 0.13.0" in text, text
        assert "an instance refresh of" not in proc.stdout, "the gate must stop the release before the refresh"
        assert _state() == before


def test_verify_in_check_mode_before_the_first_apply_notes_it_and_passes(aws, tmp_path):
    before = _state_or_empty()
    inv = make_inventory(tmp_path, "dev", aws)
    proc, _ = run_playbook(VERIFY, tmp_path, inventory=inv, check=True, env=ansible_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "has no deployed fleet yet" in proc.stdout
    assert _state_or_empty() == before


def _state_or_empty() -> str:
    asg, ssm = boto3.client("autoscaling"), boto3.client("ssm")
    return json.dumps(
        [asg.describe_auto_scaling_groups()["AutoScalingGroups"], ssm.describe_parameters()["Parameters"]], default=str
    )


def test_check_mode_shows_the_refresh_to_each_version_the_apply_would_write(aws, tmp_path):
    """site.yml --check: the twin's plan names a frontend version to write (platform_planned_versions), the bake a
    new backend image (ami_bake_plan); neither version exists yet, and the release shows the refresh to each,
    without the schema gate or the refresh module (which need the version) and without changing anything."""
    _fleet(["0.12.4"])
    before = _state()
    inv = make_inventory(tmp_path, "dev", aws)
    planned = {
        "platform_outputs": OUTPUTS,
        "platform_planned_versions": {"frontend": ["user data: WEBUI_ADMIN_EMAIL differs"]},
        "ami_bake_plan": {
            "backend": {"tier": "backend", "reuse": False, "bake_hash": "ab" * 32},
            "frontend": {"tier": "frontend", "reuse": True, "bake_hash": "cd" * 32, "image_id": "ami-12345678"},
        },
    }
    proc = run_playbook(RELEASE, tmp_path, planned, inventory=inv, check=True, env=ansible_env())[0]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = " ".join(proc.stdout.split())
    assert "backend: would bake a new image" in text
    assert (
        "would start an instance refresh of ollama-dev-asg: launch template version 1 -> 2 (the version the apply "
        "would write: the new image the bake would make)" in text
    ), text
    assert (
        "would start an instance refresh of ollama-dev-frontend-asg: launch template version 1 -> 2 (the version the "
        "apply would write: user data: WEBUI_ADMIN_EMAIL differs; the schema gate judges its image when the release "
        "runs)" in text
    ), text
    assert "Read the candidate image" not in proc.stdout, "the schema gate ran on a version that does not exist"
    assert _state() == before

    # Without a plan, check mode says the groups run their newest version (the decision is the plan's, not a guess).
    proc = _release(tmp_path, aws, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "backend runs launch template version 1" in proc.stdout and "an instance refresh of" not in proc.stdout
