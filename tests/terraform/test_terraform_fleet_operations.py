"""The fleet's operations contract in the parsed HCL: one release path, graceful drain, scaling that does not flap.

Each rule is a function returning findings, run on terraform/ (no finding) and on a planted violation (the finding).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from terraform_helpers import REPO_ROOT, blocks

from tests.project import load_program

INFLIGHT_PUBLISHER = REPO_ROOT / "roles" / "ollama" / "files" / "ollama-inflight-metric"
VERSION_PATHS = {
    "${launch_template[0].version}",
    "${mixed_instances_policy[0].launch_template[0].launch_template_specification[0].version}",
}


def _resources(hcl: dict, rtype: str) -> dict[str, dict[str, Any]]:
    return {name: body for _, t, name, body in blocks(hcl, "resource") if t == rtype}


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def release_findings(hcl: dict) -> list[str]:
    """Terraform never moves a group to a new launch template version and never starts a refresh itself."""
    findings = []
    for name, group in _resources(hcl, "aws_autoscaling_group").items():
        if "instance_refresh" in group:
            findings.append(
                f"aws_autoscaling_group.{name} has an instance_refresh block: Terraform would update the group's "
                "version first, so auto rollback restores the same version (terraform-provider-aws#34189)"
            )
        ignored = set(_one(group.get("lifecycle", [{}])).get("ignore_changes", []))
        missing = VERSION_PATHS - ignored
        if missing:
            findings.append(f"aws_autoscaling_group.{name} lets Terraform move its launch template version: {missing}")
    return findings


def drain_findings(hcl: dict) -> list[str]:
    """Both groups drain through a terminating hook that outlives the load balancers' deregistration delay."""
    findings = []
    for name, group in _resources(hcl, "aws_autoscaling_group").items():
        hooks = [
            h for h in group.get("initial_lifecycle_hook", []) if h["lifecycle_transition"].endswith("TERMINATING")
        ]
        if len(hooks) != 1:
            findings.append(f"aws_autoscaling_group.{name} needs exactly one terminating lifecycle hook")
            continue
        (hook,) = hooks
        if hook["default_result"] != "CONTINUE" or hook["heartbeat_timeout"] != "${local.drain_hook_timeout}":
            findings.append(f"aws_autoscaling_group.{name}: the terminating hook must CONTINUE after the drain: {hook}")
        if not hook["name"].endswith("-drain"):
            findings.append(f"aws_autoscaling_group.{name}: the terminating hook is <asg>-drain, not {hook['name']}")
    for name, group in _resources(hcl, "aws_lb_target_group").items():
        if group.get("deregistration_delay") != "${local.drain_seconds}":
            findings.append(f"aws_lb_target_group.{name}: deregistration_delay must be local.drain_seconds")
    return findings


def _reaches_backend(policy: dict) -> bool:
    """A policy over every tier (for_each = ... local.tiers ...) or on the backend group."""
    for_each = str(policy.get("for_each", ""))
    if for_each:
        return "local.tiers" in for_each and "{frontend = local.tiers.frontend}" not in for_each
    return '["backend"]' in str(policy.get("autoscaling_group_name"))


def scaling_findings(hcl: dict) -> list[str]:
    """Only the in-flight policy may scale the backend in; nothing steps in on low CPU."""
    findings = []
    for name, policy in _resources(hcl, "aws_autoscaling_policy").items():
        if policy.get("policy_type") == "StepScaling":
            if any(int(step["scaling_adjustment"]) < 0 for step in policy.get("step_adjustment", [])):
                findings.append(f"aws_autoscaling_policy.{name} scales in on a step: it fights target tracking")
        elif name != "inflight" and _reaches_backend(policy):
            tracking = _one(policy["target_tracking_configuration"])
            if tracking.get("disable_scale_in") not in ('${each.key == "backend"}', True):
                findings.append(f"aws_autoscaling_policy.{name} may scale the backend in: set disable_scale_in")
    for name, alarm in _resources(hcl, "aws_cloudwatch_metric_alarm").items():
        if name == "low_cpu" and "aws_autoscaling_policy" in str(alarm.get("alarm_actions")):
            findings.append(f"aws_cloudwatch_metric_alarm.{name} scales in on low CPU")
    return findings


def test_terraform_leaves_the_release_to_the_instance_refresh(hcl):
    assert release_findings(hcl) == []


def test_a_group_that_terraform_moves_is_caught(hcl):
    planted = copy.deepcopy(hcl)
    for _, t, _, body in blocks(planted, "resource"):
        if t == "aws_autoscaling_group":
            body["instance_refresh"] = [{"strategy": "Rolling"}]
            _one(body["lifecycle"])["ignore_changes"] = ["desired_capacity"]
    findings = release_findings(planted)
    assert any("instance_refresh block" in f for f in findings), findings
    assert any("move its launch template version" in f for f in findings), findings


def test_both_groups_drain_before_terminating(hcl):
    groups = _resources(hcl, "aws_autoscaling_group")
    assert groups, "no Auto Scaling group parsed"
    assert drain_findings(hcl) == []


def test_a_group_without_a_drain_hook_is_caught(hcl):
    planted = copy.deepcopy(hcl)
    for _, t, _, body in blocks(planted, "resource"):
        if t == "aws_autoscaling_group":
            body["initial_lifecycle_hook"] = [
                h for h in body["initial_lifecycle_hook"] if h["lifecycle_transition"].endswith("LAUNCHING")
            ]
        if t == "aws_lb_target_group":
            body["deregistration_delay"] = 60
    findings = drain_findings(planted)
    assert any("terminating lifecycle hook" in f for f in findings), findings
    assert any("deregistration_delay" in f for f in findings), findings


def test_only_inflight_scales_the_backend_in(hcl):
    policies = _resources(hcl, "aws_autoscaling_policy")
    assert {"inflight", "requests", "step_out", "cpu"} <= set(policies), sorted(policies)
    assert "step_in" not in policies
    # CPU target tracking is the frontend's only: on the backend CPU is a scale-out guard (the high-CPU step).
    assert not _reaches_backend(policies["cpu"]), policies["cpu"]["for_each"]
    assert scaling_findings(hcl) == []


@pytest.mark.parametrize("plant", ["step-in", "low-cpu-action", "requests-scale-in"])
def test_a_policy_that_flaps_is_caught(hcl, plant):
    planted = copy.deepcopy(hcl)
    for _, t, name, body in blocks(planted, "resource"):
        if plant == "step-in" and t == "aws_autoscaling_policy" and name == "step_out":
            body["step_adjustment"].append({"metric_interval_upper_bound": 0, "scaling_adjustment": -1})
        if plant == "low-cpu-action" and t == "aws_cloudwatch_metric_alarm" and name == "low_cpu":
            body["alarm_actions"] = ["${aws_autoscaling_policy.step_in[0].arn}"]
        if plant == "requests-scale-in" and t == "aws_autoscaling_policy" and name == "requests":
            _one(body["target_tracking_configuration"]).pop("disable_scale_in")
    assert len(scaling_findings(planted)) == 1, scaling_findings(planted)


def test_the_inflight_policy_reads_what_the_backends_publish(hcl):
    """Metric name, namespace and dimension as roles/ollama's publisher writes them (a wrong one never scales)."""
    publisher = load_program(INFLIGHT_PUBLISHER, "ollama_inflight_metric")
    metric, dimension, namespace = "InFlightRequests", publisher.DIMENSION, publisher.NAMESPACE
    assert metric in publisher.METRICS, f"the backends no longer publish {metric}"
    spec = _one(
        _one(_resources(hcl, "aws_autoscaling_policy")["inflight"]["target_tracking_configuration"])[
            "customized_metric_specification"
        ]
    )
    assert (spec["metric_name"], spec["namespace"]) == (metric, namespace)
    assert _one(spec["metric_dimension"])["name"] == dimension
    assert _one(spec["metric_dimension"])["value"] == "${local.names.asg}"
