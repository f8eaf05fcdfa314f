"""Target tracking on a customized metric in the emulator, checked against AWS's documentation.

Pages of the Amazon EC2 Auto Scaling user guide: "Target tracking scaling policies for Amazon EC2 Auto Scaling",
"Create a target tracking policy using high-resolution metrics / customized metrics" and the PutScalingPolicy API
reference (TargetTrackingConfiguration, CustomizedMetricSpecification). The emulator runs 50x faster here.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from emulator_cloud import GROUP, Cloud, _client, _wait_for

from tools import aws_emulator

pytestmark = pytest.mark.emulator

NAMESPACE = "OllamaPlatform"
METRIC = "InFlightGenerations"


def _policy(cloud: Cloud, target: float = 4.0, disable_scale_in: bool = False, **spec: Any) -> None:
    metric = {
        "MetricName": METRIC,
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
        "Statistic": "Average",
        **spec,
    }
    cloud.autoscaling.put_scaling_policy(
        AutoScalingGroupName=GROUP,
        PolicyName="in-flight",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "CustomizedMetricSpecification": metric,
            "TargetValue": target,
            "DisableScaleIn": disable_scale_in,
        },
    )


def _put(cloud: Cloud, value: float, namespace: str = NAMESPACE, group: str = GROUP) -> None:
    _client("cloudwatch", cloud.url).put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": METRIC, "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}], "Value": value}
        ],
    )


def _desired(cloud: Cloud) -> int:
    return cloud.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0][
        "DesiredCapacity"
    ]


def test_a_load_above_target_scales_out_in_proportion_within_max_size(fast: Cloud) -> None:
    """Target tracking scaling policies: "Amazon EC2 Auto Scaling ... adjusts the capacity of the group as required
    to keep the metric at, or close to, the specified target value"; capacity stays within the group's bounds."""
    fast.create_group(desired=1)  # MaxSize 6
    _policy(fast, target=4.0)
    _put(fast, 8.0)
    _wait_for(lambda: _desired(fast) == 2)
    assert len(fast.states()) == 2
    (change,) = [c for c in aws_emulator.autoscaling_calls(fast.url) if c["source"] == "target-tracking"]
    assert (change["policy_name"], change["metric_value"], change["desired_capacity"]) == ("in-flight", 8.0, 2)
    for _ in range(3):
        _put(fast, 40.0)
    _wait_for(lambda: _desired(fast) == 6)


def test_a_metric_with_another_namespace_or_dimension_changes_nothing(fast: Cloud) -> None:
    """CustomizedMetricSpecification: the policy tracks the metric with exactly this namespace, name and dimensions;
    datapoints of another metric do not move the group."""
    fast.create_group(desired=1)
    _policy(fast, target=4.0)
    _put(fast, 100.0, namespace="Ollama")
    _put(fast, 100.0, group="ollama-frontend")
    time.sleep(2.5)  # two evaluations at this clock
    assert _desired(fast) == 1
    assert not [c for c in aws_emulator.autoscaling_calls(fast.url) if c["source"] == "target-tracking"]


def test_scale_in_stops_at_min_size_and_never_happens_with_disable_scale_in(fast: Cloud) -> None:
    """TargetTrackingConfiguration.DisableScaleIn: "Indicates whether scaling in by the target tracking scaling
    policy is disabled"; otherwise a load below target scales in, never below MinSize."""
    fast.create_group(desired=3)
    _policy(fast, target=4.0, disable_scale_in=True)
    _put(fast, 0.5)
    time.sleep(2.5)
    assert _desired(fast) == 3
    fast.autoscaling.update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=2)
    _policy(fast, target=4.0)
    _put(fast, 0.5)
    _wait_for(lambda: _desired(fast) == 2)
    time.sleep(1.5)
    assert _desired(fast) == 2
