"""Scale-out validation against the emulator's CloudWatch with synthetic data points."""

from __future__ import annotations

import datetime
import time

import boto3
import pytest

from loadtest import monitor

ASG = "ollama-dev-asg"


def put(cw, namespace, metric, dims, points):
    for t, value in points:
        cw.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                    "Timestamp": datetime.datetime.fromtimestamp(t, datetime.UTC),
                    "Value": value,
                }
            ],
        )


def minutes(start, values):
    return [(start + 60 * i, float(v)) for i, v in enumerate(values)]


def test_analyze_scaling_events_and_arrival():
    t0 = 1_000_000.0
    desired = minutes(t0, [2, 2, 3, 3, 5, 5, 5, 5])
    in_service = minutes(t0, [2, 2, 2, 3, 3, 4, 5, 5])
    result = monitor.analyze_scaling(desired, in_service, load_start=t0, end=t0 + 480, limit_s=300)
    assert result["verdict"] == "pass"
    assert result["scale_out_started"] == t0 + 120
    assert result["capacity_arrived"] == t0 + 360
    assert result["reaction_s"] == 120
    assert result["time_to_capacity_s"] == 240
    assert [(e["from"], e["to"], e["seconds"]) for e in result["events"]] == [(2, 3, 60), (3, 5, 120)]


def test_analyze_scaling_flags_slow_and_missing_capacity():
    t0 = 0.0
    slow = monitor.analyze_scaling(
        minutes(t0, [1, 2, 2, 2, 2, 2, 2, 2, 2]), minutes(t0, [1, 1, 1, 1, 1, 1, 1, 2, 2]), t0, t0 + 540, 300
    )
    assert slow["verdict"] == "fail"
    assert slow["events"][0]["seconds"] == 360
    assert "too slow" in slow["text"]
    never = monitor.analyze_scaling(minutes(t0, [1, 2] + [2] * 8), minutes(t0, [1] * 10), t0, t0 + 600, 300)
    assert never["verdict"] == "fail"
    pending = monitor.analyze_scaling(minutes(t0, [1, 1, 2]), minutes(t0, [1, 1, 1]), t0, t0 + 180, 300)
    assert pending["verdict"] == "incomplete"
    flat = monitor.analyze_scaling(minutes(t0, [2, 2, 2]), minutes(t0, [2, 2, 2]), t0, t0 + 180, 300)
    assert flat["verdict"] == "none"


def test_check_scaling_reads_cloudwatch(aws):
    cw = boto3.client("cloudwatch")
    elbv2 = boto3.client("elbv2")
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab")
    ]
    arn = elbv2.create_load_balancer(Name="ollama-dev-alb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    alb_dim = arn.split(":loadbalancer/", 1)[1]
    start = (int(time.time()) // 60) * 60 - 20 * 60
    group = {"AutoScalingGroupName": ASG}
    # desired 2 -> 4 at minute 3; in service reaches 4 at minute 7: 4 minutes, within the 5-minute objective
    put(cw, "AWS/AutoScaling", "GroupDesiredCapacity", group, minutes(start, [2, 2, 2, 4, 4, 4, 4, 4, 4, 4]))
    put(cw, "AWS/AutoScaling", "GroupInServiceInstances", group, minutes(start, [2, 2, 2, 2, 2, 3, 3, 4, 4, 4]))
    put(cw, "Ollama", "InFlightRequests", group, minutes(start, [1, 4, 9, 9, 8, 6, 5, 4, 4, 4]))
    put(cw, "AWS/ApplicationELB", "RequestCount", {"LoadBalancer": alb_dim}, minutes(start, [100] * 10))
    put(cw, "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": alb_dim}, minutes(start, [0, 0, 3, 1]))
    # another environment's ASG must not be read
    put(cw, "AWS/AutoScaling", "GroupDesiredCapacity", {"AutoScalingGroupName": "ollama-asg"}, minutes(start, [9]))

    result = monitor.check_scaling("dev", start=start - 30, end=start + 10 * 60, limit_s=300)
    assert result["asg"] == ASG
    assert result["alb_dimension"] == alb_dim
    assert result["verdict"] == "pass", result["text"]
    assert result["scale_out_started"] == start + 180
    assert result["capacity_arrived"] == start + 420
    assert result["time_to_capacity_s"] == 240
    assert result["metrics"]["alb_requests"]["sum"] == 1000
    assert result["metrics"]["alb_elb_5xx"]["sum"] == 4
    assert result["metrics"]["inflight_max"]["max"] == 9

    assert monitor.main(["--environment", "dev", "--start", str(start - 30), "--end", str(start + 600)]) == 0
    # the same data judged against a 3-minute objective fails, with exit status 1
    code = monitor.main(
        ["--environment", "dev", "--start", str(start - 30), "--end", str(start + 600), "--limit", "3m"]
    )
    assert code == 1


def test_check_scaling_without_data_says_what_to_check(aws):
    with pytest.raises(monitor.MonitorError, match="no GroupDesiredCapacity data for ollama-staging-asg"):
        monitor.check_scaling("staging", start=time.time() - 600, end=time.time())


def test_monitor_cli_bad_input(capsys):
    assert monitor.main(["--environment", "prod", "--start=-10m"]) == 2
    assert "unknown environment 'prod'" in capsys.readouterr().err
    assert monitor.main(["--environment", "dev", "--start", "yesterday"]) == 2
    assert "invalid time 'yesterday'" in capsys.readouterr().err


def test_parse_time():
    assert monitor.parse_time("now", now=1000.0) == 1000.0
    assert monitor.parse_time("-5m", now=1000.0) == 700.0
    assert monitor.parse_time("2026-01-01T00:00:00Z") == 1767225600.0


def test_runner_monitor_fails_a_slow_scale_out(aws):
    from loadtest import run

    cw = boto3.client("cloudwatch")
    start = (int(time.time()) // 60) * 60 - 9 * 60
    group = {"AutoScalingGroupName": ASG}
    # desired rose at minute 1, capacity still missing 7 minutes later: requirement 10.5 is not met
    put(cw, "AWS/AutoScaling", "GroupDesiredCapacity", group, minutes(start, [1, 3, 3, 3, 3, 3, 3, 3, 3]))
    put(cw, "AWS/AutoScaling", "GroupInServiceInstances", group, minutes(start, [1, 1, 1, 2, 2, 2, 2, 2, 2]))
    args = run.build_parser().parse_args(["--host", "http://127.0.0.1:9", "--environment", "dev", "--monitor"])
    result = {"verdict": {"text": "PASS", "exit_code": 0}}
    assert run._post_run(args, run.validate(args), result, started=start) == 1
    assert result["scaling"]["verdict"] == "fail"
    assert result["scaling"]["scale_out_started"] == start + 60
