"""stack_posture_info against the emulator: a healthy stack has no findings, planted bad posture is reported by name."""

from __future__ import annotations

import boto3
import pytest

from tests.ansible_runner import run_playbook
from tools import aws_emulator
from tools.twin import stack as twin_stack

pytestmark = pytest.mark.emulator


@pytest.fixture
def stack(aws):
    """The twin's emulated stack (no containers): 1 backend, 2 frontends across two AZs."""
    outputs = emulated_stack(aws)
    # What terraform/monitoring.tf creates from alarm_emails (validated non-empty in every environment).
    boto3.client("sns").subscribe(
        TopicArn=outputs["ollama_sns_topic_arn"], Protocol="email", Endpoint="ops@example.com"
    )
    args = {
        "name_prefix": "ollama-local",
        "asg_names": [outputs["ollama_backend_asg_name"], outputs["ollama_frontend_asg_name"]],
        "sns_topic_arn": outputs["ollama_sns_topic_arn"],
        "dynamodb_tables": [outputs["ollama_data_table_name"]],
        "buckets": [outputs[f"ollama_{p}_bucket_name"] for p in ("assets", "logs", "backups")],
        "log_group_prefix": "/ollama/local/",
        "min_log_retention_days": 7,
        "kms_key_ids": [outputs["ollama_kms_key_arn"]],
    }
    return outputs, args


def emulated_stack(endpoint: str) -> dict:
    """Both layers of the twin's stack in the emulator, with stand-in images behind the tiers' parameters."""
    builder = twin_stack.Stack(endpoint, "us-east-1")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo5vD4b8m2p0o1xJkq3Zl2Qm3p9zYv8r8mP5cQeXb2T test"
    base = twin_stack.foundation(builder, "10.213.0.0/16", key, container_image="")
    for parameter in base["ollama_ami_parameter_names"].values():
        image = boto3.client("ec2").register_image(Name=parameter.replace("/", "-"), RootDeviceName="/dev/xvda")
        boto3.client("ssm").put_parameter(Name=parameter, Value=image["ImageId"], Type="String", Overwrite=True)
    urls = twin_stack.twin_urls("10.213.0.1")
    outputs = twin_stack.fleet(builder, base, {"backend": 1, "frontend": 2}, "", urls)
    # What each instance's bootstrap does once it serves.
    for action in aws_emulator.pending_lifecycle_actions(endpoint):
        boto3.client("autoscaling").complete_lifecycle_action(
            AutoScalingGroupName=action["auto_scaling_group_name"],
            LifecycleHookName=action["lifecycle_hook_name"],
            InstanceId=action["instance_id"],
            LifecycleActionResult="CONTINUE",
        )
    return outputs


def _findings(result):
    return sorted((f["check"], f["resource"]) for f in result["findings"])


def test_healthy_stack_has_no_findings(stack, tmp_path):
    _, args = stack
    proc, result = run_playbook("posture.yml", tmp_path, {"posture_args": args})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["findings"] == [] and result["healthy"] is True
    assert result["changed"] is False
    assert result["pending_subscriptions"] == []  # the emulator confirms at once; AWS: see the unit tests
    assert result["checked"] == {
        "asgs": 2,
        "target_groups": 2,
        "alarm_prefix": "ollama-local",
        "tables": 1,
        "buckets": 3,
        "log_group_prefix": "/ollama/local/",
        "kms_keys": 1,
    }


def test_planted_bad_posture_is_reported_by_name(stack, tmp_path):
    outputs, args = stack
    bucket, table = outputs["ollama_backups_bucket_name"], outputs["ollama_data_table_name"]
    boto3.client("s3").delete_bucket_encryption(Bucket=bucket)
    boto3.client("dynamodb").update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName="ollama-local-silent",
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=90.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    boto3.client("logs").delete_retention_policy(logGroupName="/ollama/local/nginx")
    kms = boto3.client("kms")
    kms.disable_key_rotation(KeyId=outputs["ollama_kms_key_arn"])

    for check in (True, False):  # read-only: check mode reports the same
        proc, result = run_playbook("posture.yml", tmp_path, {"posture_args": args}, check=check)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert result["healthy"] is False
        assert _findings(result) == sorted(
            [
                ("s3_encryption", bucket),
                ("dynamodb_pitr", table),
                ("alarm_actions", "ollama-local-silent"),
                ("log_retention", "/ollama/local/nginx"),
                ("kms_rotation", outputs["ollama_kms_key_arn"]),
            ]
        )
        assert all(f["remediation"] for f in result["findings"])


def test_alarms_that_reach_nobody_are_findings(stack, tmp_path):
    """The rules of tests/terraform/test_terraform_posture.py on the emulator's state: a scale-in alarm that only
    triggers its policy, and a topic nobody is subscribed to."""
    outputs, args = stack
    sns = boto3.client("sns")
    topic = outputs["ollama_sns_topic_arn"]
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    asg = outputs["ollama_backend_asg_name"]
    policy = f"arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0a1b:autoScalingGroupName/{asg}:policyName/in"
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName="ollama-local-scale-in-only",
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=3,
        Threshold=20.0,
        ComparisonOperator="LessThanOrEqualToThreshold",
        AlarmActions=[policy],
    )
    proc, result = run_playbook("posture.yml", tmp_path, {"posture_args": args})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _findings(result) == sorted([("alarm_actions", "ollama-local-scale-in-only"), ("alarm_subscribers", topic)])


def test_missing_resources_are_findings_not_errors(aws, tmp_path):
    args = {
        "name_prefix": "ollama-dev",
        "asg_names": ["ollama-dev-asg"],
        "dynamodb_tables": ["ollama-dev-data-table"],
        "buckets": ["ollama-dev-assets-missing"],
        "log_group_prefix": "/ollama/dev/",
    }
    proc, result = run_playbook("posture.yml", tmp_path, {"posture_args": args})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _findings(result) == sorted(
        [
            ("asg_exists", "ollama-dev-asg"),
            ("dynamodb_exists", "ollama-dev-data-table"),
            ("s3_exists", "ollama-dev-assets-missing"),
            ("alarms_exist", "ollama-dev*"),
            ("log_groups_exist", "/ollama/dev/*"),
        ]
    )


def test_unreachable_api_fails_with_a_clear_message(aws, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    proc, result = run_playbook("posture.yml", tmp_path, {"posture_args": {"name_prefix": "ollama-dev"}})
    assert proc.returncode != 0 and result is None
    assert "Could not read the stack's posture" in proc.stdout
