"""The twin's stand-in for terraform apply (tools/twin/stack.py) against the emulator: idempotent layers, the same
output contract as terraform/outputs.tf, the same instance record as terraform/asg.tf, the scaling terraform/scaling.tf
declares (read by tools/twin/scaling.py, a planted difference caught), no image-less fleet; check mode names what the
apply would change (a launch template's new image or user data setting, what is missing) and sends only reads (the
emulator's call record and state before and after; a planted write caught)."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.project import load_program
from tests.terraform.terraform_helpers import planted_copy
from tools import aws_emulator
from tools.provider_schema.check import parse_file
from tools.target_groups import target_groups
from tools.twin import scaling as twin_scaling
from tools.twin import stack as twin_stack

pytestmark = pytest.mark.emulator
ROOT = Path(__file__).resolve().parents[2]
SUBNET = "10.213.0.0/16"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo5vD4b8m2p0o1xJkq3Zl2Qm3p9zYv8r8mP5cQeXb2T test"
URLS = twin_stack.twin_urls("10.213.0.1")
COUNTS = {"backend": 1, "frontend": 2}
CAPACITIES = {tier: twin_scaling.twin_capacity(count) for tier, count in COUNTS.items()}
PUBLISHER = ROOT / "roles" / "ollama" / "files" / "ollama-inflight-metric"
ACTION_KEYS = ("Recurrence", "TimeZone", "MinSize", "MaxSize", "DesiredCapacity")


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
def working_day(aws) -> dict[str, Any]:
    """The emulator's clock at the start of a working day, as tools/twin.sh up sets it: no night stop fires while a
    test runs (another test may have left the session's emulator clock anywhere)."""
    return twin_scaling.start_working_day(aws, twin_scaling.twin_schedule())


@pytest.fixture
def deployed(aws, working_day):
    stack = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(stack, SUBNET, PUBLIC_KEY, container_image="")
    _publish_images(base)
    outputs = twin_stack.fleet(stack, base, COUNTS, "http://10.213.0.1:4566", URLS)
    return aws, stack, outputs


def test_both_layers_are_idempotent(deployed):
    aws, _, outputs = deployed
    again = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(again, SUBNET, PUBLIC_KEY, container_image="")
    assert twin_stack.fleet(again, base, COUNTS, "http://10.213.0.1:4566", URLS) == outputs
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
        twin_stack.fleet(stack, base, COUNTS, "", URLS)
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


# ------------------------------------------------------------------------------------------------------------ scaling
def _group_names(outputs: dict) -> list[str]:
    return [outputs["ollama_backend_asg_name"], outputs["ollama_frontend_asg_name"]]


def created_scaling(group_names: list[str]) -> dict[str, dict]:
    """The twin's target tracking policies and scheduled actions in the emulator, keyed by (group, name)."""
    asg = boto3.client("autoscaling")
    policies, actions = {}, {}
    for group in group_names:
        for policy in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]:
            policies[(group, policy["PolicyName"])] = policy.get("TargetTrackingConfiguration")
        for action in asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]:
            actions[(group, action["ScheduledActionName"])] = {k: action[k] for k in ACTION_KEYS if k in action}
    return {"policies": policies, "actions": actions}


def declared_scaling(scaling: twin_scaling.Scaling) -> dict[str, dict]:
    """What terraform/ declares, in the same shape."""
    return {
        "policies": {(p.group_name, p.name): p.configuration() for p in scaling.policies},
        "actions": {
            (a.group_name, a.name): {k: v for k, v in a.arguments().items() if k in ACTION_KEYS}
            for a in scaling.actions
        },
    }


def differences(created: dict[str, dict], declared: dict[str, dict]) -> list[str]:
    problems = []
    for kind in ("policies", "actions"):
        for group, name in sorted(set(created[kind]) | set(declared[kind])):
            have, want = created[kind].get((group, name)), declared[kind].get((group, name))
            if have != want:
                problems.append(f"{kind} {name} on {group}: the twin has {have}, terraform/ declares {want}")
    return problems


def test_the_groups_carry_the_scaling_that_scaling_tf_declares(deployed):
    """The backend's in-flight target tracking policy and both groups' night stop and morning start are in the
    emulator exactly as terraform/scaling.tf declares them for the twin (its names, its capacity)."""
    _, _, outputs = deployed
    declared = twin_scaling.read(CAPACITIES)
    assert differences(created_scaling(_group_names(outputs)), declared_scaling(declared)) == []
    # Not vacuous: the one policy on a customized metric is the backend's in-flight policy, and each group has a
    # stop to zero and a start back to its own capacity, which leaves room for exactly one scale-out.
    assert [(p.address, p.group_name) for p in declared.policies] == [
        ("aws_autoscaling_policy.inflight[0]", outputs["ollama_backend_asg_name"])
    ]
    for name in _group_names(outputs):
        group = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        capacity = {k: group["AutoScalingGroups"][0][k] for k in ("MinSize", "MaxSize", "DesiredCapacity")}
        assert capacity["MaxSize"] == capacity["DesiredCapacity"] + 1 == capacity["MinSize"] + 1, name
        sizes = sorted((a.min_size, a.max_size, a.desired_capacity) for a in declared.actions if a.group_name == name)
        assert sizes == [(0, 0, 0), (capacity["MinSize"], capacity["MaxSize"], capacity["DesiredCapacity"])], name


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('metric_name = "InFlightRequests"', 'metric_name = "InFlightGenerations"', "InFlightGenerations"),
        ("recurrence             = local.schedule_cron.sleep", "recurrence             = local.schedule_cron.wake",
         "night-stop"),
    ],
    ids=["metric-name", "night-stop-time"],
)  # fmt: skip
def test_a_planted_difference_in_scaling_tf_is_caught(deployed, tmp_path, old, new, named):
    """The comparison above fails when terraform/scaling.tf says something else than the twin created."""
    _, _, outputs = deployed
    planted = twin_scaling.read(CAPACITIES, terraform_dir=planted_copy(tmp_path, "scaling.tf", old, new))
    found = differences(created_scaling(_group_names(outputs)), declared_scaling(planted))
    assert found and all(named in problem for problem in found), found


def _backend_record_group(outputs: dict) -> str:
    """The group name the backend's instance record gives the metric publisher (OLLAMA_PLATFORM_ASG_NAME)."""
    template = boto3.client("ec2").describe_launch_template_versions(
        LaunchTemplateName="ollama-local-backend-lt", Versions=["$Default"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    user_data = base64.b64decode(template["UserData"]).decode()
    (name,) = re.findall(r"^OLLAMA_PLATFORM_ASG_NAME=(\S+)$", user_data, flags=re.MULTILINE)
    assert name == outputs["ollama_backend_asg_name"]
    return name


def test_the_inflight_policy_tracks_the_metric_the_backends_publish(deployed):
    """The policy's metric is the datum roles/ollama's publisher sends: its namespace, name, unit and dimension, with
    the group name the backend's instance record gives it."""
    _, _, outputs = deployed
    publisher = load_program(PUBLISHER, "ollama_inflight_metric")
    group = outputs["ollama_backend_asg_name"]
    (policy,) = boto3.client("autoscaling").describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]
    spec = policy["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]
    datum = publisher.metric_datum(1, _backend_record_group(outputs))
    assert (spec["Namespace"], spec["MetricName"], spec["Dimensions"], spec["Unit"]) == (
        publisher.NAMESPACE, datum["MetricName"], datum["Dimensions"], datum["Unit"],
    )  # fmt: skip


SCALING_TF_PLANTS = {
    "terraform-metric-name": ('metric_name = "InFlightRequests"', 'metric_name = "InFlightGenerations"'),
    "terraform-namespace": ('namespace   = "Ollama"', 'namespace   = "OllamaPlatform"'),
    "terraform-dimension": ('name  = "AutoScalingGroupName"', 'name  = "AutoScalingGroup"'),
}
PUBLISHER_PLANTS = {"publisher-namespace": ("NAMESPACE", "OllamaPlatform"), "publisher-dimension": ("DIMENSION", "Asg")}


def _target_tracking_changes(aws: str) -> list[dict]:
    return [c for c in aws_emulator.autoscaling_calls(aws) if c["source"] == "target-tracking"]


@pytest.mark.parametrize("plant", [None, *SCALING_TF_PLANTS, *PUBLISHER_PLANTS])
def test_the_publishers_in_flight_datum_scales_the_backend_out_unless_a_side_differs(
    aws, working_day, tmp_path, monkeypatch, plant
):
    """End to end in the emulator: the backend publisher's datum above target scales the backend out through the
    policy the twin created from terraform/scaling.tf; a different metric name, namespace or dimension on either side
    (planted in a copy of scaling.tf, or in the publisher) leaves the group alone."""
    publisher = load_program(PUBLISHER, "ollama_inflight_metric")
    terraform_dir = None
    if plant in SCALING_TF_PLANTS:
        terraform_dir = planted_copy(tmp_path, "scaling.tf", *SCALING_TF_PLANTS[plant])
    elif plant in PUBLISHER_PLANTS:
        monkeypatch.setattr(publisher, *PUBLISHER_PLANTS[plant])
    stack = twin_stack.Stack(aws, "us-east-1")
    base = twin_stack.foundation(stack, SUBNET, PUBLIC_KEY, container_image="")
    _publish_images(base)
    group = stack.name("asg")
    (policy,) = twin_scaling.read(CAPACITIES).policies
    # Sent before the policy exists: the emulator evaluates a new policy at its first tick.
    load = publisher.metric_datum(int(3 * policy.target_value), group)
    boto3.client("cloudwatch").put_metric_data(Namespace=publisher.NAMESPACE, MetricData=[load])
    twin_stack.fleet(stack, base, COUNTS, "", URLS, terraform_dir=terraform_dir)
    asg = boto3.client("autoscaling")

    def desired() -> int:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0][
            "DesiredCapacity"
        ]

    if plant is None:
        deadline = time.monotonic() + 10
        while desired() == 1 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert desired() == 2, "MaxSize is the twin's count + 1: three times the target asks for more, capped at 2"
        (change,) = _target_tracking_changes(aws)
        assert change["policy_name"] == policy.name and change["metric_value"] == 3 * policy.target_value
    else:
        time.sleep(2.0)  # four evaluations of the emulator's 0.5 s tick
        assert desired() == 1 and _target_tracking_changes(aws) == [], plant


def test_the_twins_working_day_is_read_from_the_schedule():
    """The twin's clock starts at working_day_start on a working day (MON-FRI by default), in the schedule's zone."""
    schedule = twin_scaling.twin_schedule()
    saturday, wednesday_night = datetime(2026, 12, 12, 10, tzinfo=UTC), datetime(2026, 12, 9, 23, tzinfo=UTC)
    assert twin_scaling.working_day_start(schedule, saturday) == datetime(2026, 12, 14, 8, tzinfo=UTC)
    assert twin_scaling.working_day_start(schedule, wednesday_night) == datetime(2026, 12, 9, 8, tzinfo=UTC)
    paris = {**schedule, "time_zone": "Europe/Paris"}
    assert twin_scaling.working_day_start(paris, wednesday_night) == datetime(2026, 12, 10, 7, tzinfo=UTC)
    friday_stop = datetime(2026, 12, 11, 20, 0, 30, tzinfo=UTC)
    assert twin_scaling.next_run("0 20 * * MON-FRI", "Etc/UTC", friday_stop) == datetime(2026, 12, 14, 20, tzinfo=UTC)


def test_start_clock_moves_the_emulators_clock_to_the_working_days_start(aws):
    moved = twin_scaling.start_working_day(aws, twin_scaling.twin_schedule())
    start = datetime.fromisoformat(moved["clock"])
    now = twin_scaling.clock(aws)["now"]
    assert start <= now < start + timedelta(minutes=5 / moved["time_scale"])
    assert start.strftime("%H:%M") == twin_scaling.twin_schedule()["working_day_start"]


def test_a_twin_run_fits_in_the_twins_working_day():
    """tools/twin.sh starts the clock at working_day_start: at the twin's time scale the working day must outlast a
    twin run (site.yml twice and the scenarios, about 45 minutes), or the night stop would fire during it."""
    scale = float(
        re.search(r'TIME_SCALE="\$\{OLLAMA_TWIN_TIME_SCALE:-([0-9.]+)\}"', (ROOT / "tools" / "twin.sh").read_text())[1]
    )
    schedule = twin_scaling.twin_schedule()
    start = twin_scaling.working_day_start(schedule, datetime(2026, 12, 9, tzinfo=UTC))
    real_minutes = (twin_scaling.working_day_end(schedule, start) - start).total_seconds() * scale / 60
    assert real_minutes >= 90, f"the twin's working day lasts {real_minutes:.0f} real minutes at time scale {scale}"


# --------------------------------------------------------------------------------------------------------- check mode
INSTANCE_ENDPOINT = "http://10.213.0.1:4566"
# What the test counts as a read, independently of the stack's own guard (a planted change there stays visible).
READ = re.compile(r"^(Describe|List|Get)[A-Z]")


def emulator_state() -> str:
    """Everything an apply of the stack could change, as one comparable text: the launch templates' versions (image,
    user data, default), the groups (launch template, capacity, hooks, scaling), the parameters and their versions,
    the images, load balancers with their listeners, target groups and alarms."""
    ec2, asg, ssm, elb = (boto3.client(s) for s in ("ec2", "autoscaling", "ssm", "elbv2"))
    templates = {
        t["LaunchTemplateName"]: [
            (v["VersionNumber"], v["DefaultVersion"], v["LaunchTemplateData"].get("ImageId"),
             v["LaunchTemplateData"].get("UserData"))
            for v in ec2.describe_launch_template_versions(LaunchTemplateId=t["LaunchTemplateId"])[
                "LaunchTemplateVersions"
            ]
        ]
        for t in ec2.describe_launch_templates()["LaunchTemplates"]
    }  # fmt: skip
    groups = {
        g["AutoScalingGroupName"]: {
            "launch_template": g.get("LaunchTemplate"),
            "capacity": (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]),
            "hooks": sorted(
                h["LifecycleHookName"]
                for h in asg.describe_lifecycle_hooks(AutoScalingGroupName=g["AutoScalingGroupName"])["LifecycleHooks"]
            ),
        }
        for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
    }
    names = [p["Name"] for page in ssm.get_paginator("describe_parameters").paginate() for p in page["Parameters"]]
    parameters = {n: (p["Value"], p["Version"]) for n in names for p in [ssm.get_parameter(Name=n)["Parameter"]]}
    balancers = {
        lb["LoadBalancerName"]: len(elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"])
        for lb in elb.describe_load_balancers()["LoadBalancers"]
    }
    state = {
        "templates": templates,
        "groups": groups,
        "scaling": {
            kind: {f"{group} {name}": value for (group, name), value in found.items()}
            for kind, found in created_scaling(sorted(groups)).items()
        },
        "parameters": parameters,
        "images": sorted(i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]),
        "load_balancers": balancers,
        "target_groups": sorted(t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]),
        "alarms": sorted(a["AlarmName"] for a in boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]),
    }
    return json.dumps(state, sort_keys=True, default=str)


def writes(aws: str, mark: int) -> list[tuple[str, str]]:
    """The calls the emulator answered since the ``mark``-th that are not reads (Describe*, List*, Get*)."""
    return [(c["service"], c["action"]) for c in aws_emulator.calls(aws)[mark:] if not READ.match(c["action"])]


def check_fleet(aws: str, outputs: dict, admin_email: str = "") -> tuple[twin_stack.Stack, dict, list]:
    """The fleet layer in check mode: the stack, its outputs and the calls it sent that were not reads."""
    mark = len(aws_emulator.calls(aws))
    stack = twin_stack.Stack(aws, "us-east-1", check=True)
    planned = twin_stack.fleet(stack, outputs, COUNTS, INSTANCE_ENDPOINT, URLS, admin_email)
    return stack, planned, writes(aws, mark)


def _publish_new_image(outputs: dict, tier: str) -> tuple[str, str]:
    """A second bake of ``tier``: a new image behind its parameter; returns (old image, new image)."""
    ssm, parameter = boto3.client("ssm"), outputs["ollama_ami_parameter_names"][tier]
    old = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    new = boto3.client("ec2").register_image(Name=f"baked-{tier}-2", RootDeviceName="/dev/xvda")["ImageId"]
    ssm.put_parameter(Name=parameter, Value=new, Type="String", Overwrite=True)
    return old, new


def test_check_mode_with_nothing_pending_reports_nothing_and_changes_nothing(deployed):
    """Both layers in check mode after their apply: no change, the apply's outputs, only reads sent."""
    aws, _, outputs = deployed
    before = emulator_state()
    mark = len(aws_emulator.calls(aws))
    stack = twin_stack.Stack(aws, "us-east-1", check=True)
    base = twin_stack.foundation(stack, SUBNET, PUBLIC_KEY, container_image="")
    assert twin_stack.fleet(stack, base, COUNTS, INSTANCE_ENDPOINT, URLS) == outputs
    assert (stack.changes, stack.new_versions) == ([], {})
    sent = aws_emulator.calls(aws)[mark:]
    assert sent and writes(aws, mark) == [], "check mode read nothing, or sent more than reads"
    assert emulator_state() == before


def test_check_mode_names_the_new_image_of_a_tier_and_changes_nothing(deployed):
    aws, _, outputs = deployed
    old, new = _publish_new_image(outputs, "backend")
    before = emulator_state()
    stack, planned, sent = check_fleet(aws, outputs)
    assert stack.changes == [f"new version of launch template ollama-local-backend-lt: image {old} -> {new}"]
    assert stack.new_versions == {"backend": [f"image {old} -> {new}"]}
    assert planned == outputs, "check mode's outputs are the last apply's"
    assert sent == []
    assert emulator_state() == before


def test_check_mode_names_the_user_data_setting_and_the_apply_makes_that_change(deployed):
    """A different admin e-mail changes the frontend's instance record: check mode names the setting; the apply then
    reports the same change (one comparison for both) and writes the version."""
    aws, _, outputs = deployed
    before = emulator_state()
    stack, _, sent = check_fleet(aws, outputs, admin_email="operator@example.com")
    assert stack.changes == [
        "new version of launch template ollama-local-frontend-lt: user data: WEBUI_ADMIN_EMAIL differs"
    ]
    assert stack.new_versions == {"frontend": ["user data: WEBUI_ADMIN_EMAIL differs"]}
    assert sent == []
    assert emulator_state() == before

    apply = twin_stack.Stack(aws, "us-east-1")
    twin_stack.fleet(apply, outputs, COUNTS, INSTANCE_ENDPOINT, URLS, "operator@example.com")
    assert (apply.changes, apply.new_versions) == (stack.changes, stack.new_versions)
    versions = boto3.client("ec2").describe_launch_template_versions(LaunchTemplateName="ollama-local-frontend-lt")
    assert len(versions["LaunchTemplateVersions"]) == 2
    assert emulator_state() != before


def test_check_mode_before_the_fleet_exists_lists_what_the_apply_then_does(aws, working_day):
    """Check mode on an emulator with the foundation only (and on an empty one for the foundation): every missing
    resource is listed, nothing is created, ids it would get are "(known after apply)"; the apply then reports
    exactly the changes check mode listed."""
    mark = len(aws_emulator.calls(aws))
    empty = twin_stack.Stack(aws, "us-east-1", check=True)
    planned = twin_stack.foundation(empty, SUBNET, PUBLIC_KEY, container_image="")
    assert {"create VPC ollama-local-vpc", "import key pair ollama-local-twin", "launch data host ollama-local-data",
            "create DynamoDB table ollama-local-data-table"} <= set(empty.changes)  # fmt: skip
    assert planned["ollama_vpc_id"] == twin_stack.KNOWN_AFTER_APPLY
    assert writes(aws, mark) == []
    assert (
        boto3.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["ollama-local-vpc"]}])["Vpcs"] == []
    )

    base = twin_stack.foundation(twin_stack.Stack(aws, "us-east-1"), SUBNET, PUBLIC_KEY, container_image="")
    _publish_images(base)
    before = emulator_state()
    stack, planned, sent = check_fleet(aws, base)
    for change in ("create launch template ollama-local-backend-lt", "create Auto Scaling group ollama-local-asg",
                   "create lifecycle hook ollama-local-frontend-asg-launch", "create load balancer ollama-local-alb",
                   "create listener ollama-local-internal-alb:80", "create target group ollama-local-frontend-tg",
                   "create alarm ollama-local-alb-5xx-rate",
                   "set ollama-local-asg capacity min 1 max 2 desired 1 (now min 0 max 2 desired 0)"):  # fmt: skip
        assert change in stack.changes, stack.changes
    assert planned["ollama_frontend_asg_name"] == "ollama-local-frontend-asg"
    assert sent == []
    assert emulator_state() == before
    apply = twin_stack.Stack(aws, "us-east-1")
    twin_stack.fleet(apply, base, COUNTS, INSTANCE_ENDPOINT, URLS)
    assert apply.changes == stack.changes, "check mode and the apply disagree on what the apply does"


@pytest.mark.parametrize(
    ("drift", "named"),
    [
        (lambda asg: asg.update_auto_scaling_group(AutoScalingGroupName="ollama-local-asg", MinSize=2,
                                                   DesiredCapacity=2),
         "set ollama-local-asg capacity min 1 max 2 desired 1 (now min 2 max 2 desired 2)"),
        (lambda asg: asg.delete_lifecycle_hook(AutoScalingGroupName="ollama-local-frontend-asg",
                                               LifecycleHookName="ollama-local-frontend-asg-drain"),
         "create lifecycle hook ollama-local-frontend-asg-drain"),
    ],
    ids=["capacity", "missing-hook"],
)  # fmt: skip
def test_check_mode_names_a_groups_drift(deployed, drift, named):
    """A group changed by hand (capacity) or missing a part (its drain hook): check mode names what the apply sets."""
    aws, _, outputs = deployed
    drift(boto3.client("autoscaling"))
    before = emulator_state()
    stack, _, sent = check_fleet(aws, outputs)
    assert stack.changes == [named]
    assert sent == []
    assert emulator_state() == before


def _check_that_applies(self: twin_stack.Stack, change: str) -> bool:
    """A planted bug: check mode that makes the change it records."""
    self.changes.append(change)
    return True


def test_a_mutating_call_in_check_mode_is_refused_before_it_is_sent(deployed, monkeypatch):
    aws, _, outputs = deployed
    _publish_new_image(outputs, "backend")
    before = emulator_state()
    monkeypatch.setattr(twin_stack.Stack, "applies", _check_that_applies)
    with pytest.raises(twin_stack.CheckModeWrite, match=r"check mode sent ec2 CreateLaunchTemplateVersion"):
        check_fleet(aws, outputs)
    assert emulator_state() == before


def test_a_planted_mutation_past_the_guard_is_caught_by_the_call_record_and_the_state(deployed, monkeypatch):
    """The assertions above are not vacuous: a check mode that writes (guard off) shows in the emulator's call
    record and in its state."""
    aws, _, outputs = deployed
    _publish_new_image(outputs, "backend")
    before = emulator_state()
    monkeypatch.setattr(twin_stack.Stack, "applies", _check_that_applies)
    monkeypatch.setattr(twin_stack, "READ_ONLY_ACTION", re.compile(""))
    _, _, sent = check_fleet(aws, outputs)
    assert sent == [("ec2", "CreateLaunchTemplateVersion"), ("ec2", "ModifyLaunchTemplate")]
    assert emulator_state() != before


@pytest.mark.parametrize(
    ("current", "wanted", "named"),
    [
        ({"ImageId": "ami-1", "UserData": "QQ=="}, {"ImageId": "ami-1", "UserData": "QQ=="}, []),
        ({"ImageId": "ami-1"}, {"ImageId": "ami-2"}, ["image ami-1 -> ami-2"]),
        ({"UserData": "A=1\nB=2\n"}, {"UserData": "A=1\nB=3\nC=4\n"}, ["user data: B, C differ"]),
        ({"UserData": "#!/bin/sh\nA=1\n"}, {"UserData": "#!/bin/bash\nA=1\n"},
         ["user data: the template's other lines differ"]),
    ],
    ids=["same", "image", "settings", "template"],
)  # fmt: skip
def test_launch_template_differences_name_what_differs(current, wanted, named):
    as_data = [
        {k: (base64.b64encode(v.encode()).decode() if k == "UserData" and "\n" in v else v) for k, v in d.items()}
        for d in (current, wanted)
    ]
    assert twin_stack.launch_template_differences(*as_data) == named


def test_a_dr_stack_adopts_the_replicas_and_asks_iam_for_nothing(aws, working_day):
    """The stack's DR mode (playbooks/dr.yml's rebuild on the twin): the regional resources are its own, the table
    and the uploads bucket are the ones dr.yml names, no instance role is created or read (IAM's control plane is in
    us-east-1), and the launch templates name the instance profiles the primary made for the DR region."""
    from tools.dr_stack_needs import dr_instance_role_name
    from tools.twin import dr as twin_dr

    primary = twin_stack.Stack(aws, "us-east-1")
    primary_base = twin_stack.foundation(primary, SUBNET, PUBLIC_KEY, container_image="")
    dr = twin_stack.Stack(aws, "us-west-2", dr_mode="failover")
    twin_dr.replicate(primary, dr)
    replicas = twin_stack.leftovers(twin_stack.Stack(aws, "us-west-2"))
    table = primary.name("data-table")
    bucket = twin_stack.uploads_bucket_name(primary.prefix, "us-west-2", replica=True)
    mark = len(aws_emulator.calls(aws))
    base = twin_stack.foundation(dr, "10.214.0.0/16", PUBLIC_KEY, container_image="", dr_table=table, dr_bucket=bucket)
    _publish_images_in(base, "us-west-2")
    urls = twin_stack.twin_urls("10.214.0.1", "local", "us-west-2")
    outputs = twin_stack.fleet(dr, base, COUNTS, "http://10.214.0.1:4567", urls)
    services = {call["service"] for call in aws_emulator.calls(aws)[mark:]}
    assert "iam" not in services, services
    assert (outputs["ollama_data_table_name"], outputs["ollama_uploads_bucket_name"]) == (table, bucket)
    assert outputs["ollama_service_url"] == "http://10.214.0.1:18180"
    # Its own buckets in its region, not the primary's of the same purpose.
    assert outputs["ollama_assets_bucket_name"] != primary_base["ollama_assets_bucket_name"]
    ec2 = boto3.client("ec2", region_name="us-west-2")
    for tier in ("backend", "frontend"):
        version = ec2.describe_launch_template_versions(LaunchTemplateName=dr.name(f"{tier}-lt"), Versions=["$Latest"])
        profile = version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["IamInstanceProfile"]["Arn"]
        assert profile.endswith(":instance-profile/" + dr_instance_role_name("local", "us-west-2", tier)), profile
    # Its destroy removes what it made and the table its Terraform imported; the uploads, secrets and images it ran
    # on are the primary's.
    twin_stack.destroy(twin_stack.Stack(aws, "us-west-2", dr_mode="failover"), dr_table=table)
    left = twin_stack.leftovers(twin_stack.Stack(aws, "us-west-2"))
    assert set(left) == (set(replicas) - {"table " + table}) | {e for e in left if e.startswith("parameter ")}, left
    assert "bucket " + bucket in left and "secret ollama-local/webui-secret-key" in left


def test_destroy_removes_both_layers_and_its_check_mode_only_lists(deployed):
    """teardown.yml's stand-in for terraform destroy: every resource of both layers and the IAM roles go; what
    Terraform does not own (the bake's parameters) is teardown.yml's next step. Check mode lists and changes nothing,
    and a second destroy has nothing to do."""
    aws, _, _ = deployed
    before = twin_stack.leftovers(twin_stack.Stack(aws, "us-east-1"), include_global=True)
    kinds = {entry.rsplit(" ", 1)[0] for entry in before}
    assert kinds >= {"group", "launch template", "load balancer", "target group", "alarm", "vpc", "instance", "table"}
    assert kinds >= {"bucket", "secret", "log group", "kms alias", "topic", "key pair", "role", "instance profile"}
    planned = twin_stack.destroy(twin_stack.Stack(aws, "us-east-1", check=True))
    assert any(change.startswith("delete Auto Scaling group ollama-local-asg") for change in planned), planned
    assert twin_stack.leftovers(twin_stack.Stack(aws, "us-east-1"), include_global=True) == before
    gone = twin_stack.destroy(twin_stack.Stack(aws, "us-east-1"))
    # As planned, but the group's instances: the group's deletion terminates them (check mode lists them too).
    assert {change for change in planned if not change.startswith("terminate instance")} <= set(gone)
    after = twin_stack.leftovers(twin_stack.Stack(aws, "us-east-1"), include_global=True)
    assert after == [entry for entry in before if entry.startswith("parameter ")], after
    assert twin_stack.destroy(twin_stack.Stack(aws, "us-east-1")) == []


def test_a_dr_stack_without_the_data_dr_yml_names_is_refused(aws):
    dr = twin_stack.Stack(aws, "us-west-2", dr_mode="failover")
    with pytest.raises(RuntimeError, match="pass --dr-table and --dr-bucket"):
        twin_stack.foundation(dr, "10.214.0.0/16", PUBLIC_KEY, container_image="")


def _publish_images_in(outputs: dict, region: str) -> None:
    ec2, ssm = boto3.client("ec2", region_name=region), boto3.client("ssm", region_name=region)
    for tier, parameter in outputs["ollama_ami_parameter_names"].items():
        image = ec2.register_image(Name=f"copied-{tier}", RootDeviceName="/dev/xvda")["ImageId"]
        ssm.put_parameter(Name=parameter, Value=image, Type="String", Overwrite=True)
