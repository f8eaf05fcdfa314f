"""The emulator launcher: lifecycle, bad input, reset, and the patched gaps through the real AWS SDK."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from tests.project import ROOT
from tools import aws_emulator

LAUNCHER = [sys.executable, str(ROOT / "tools" / "aws_emulator.py")]


def client(service: str, url: str, region: str = "us-east-1"):
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id="t", aws_secret_access_key="t")


def test_cli_start_status_stop_is_idempotent(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path)]
    first = subprocess.run([*LAUNCHER, "start", *state], capture_output=True, text=True, check=True, timeout=60)
    url = first.stdout.strip()
    try:
        assert url.startswith("http://127.0.0.1:")
        again = subprocess.run([*LAUNCHER, "start", *state], capture_output=True, text=True, check=True, timeout=60)
        assert again.stdout.strip() == url, "a second start must reuse the running emulator"
        status = subprocess.run([*LAUNCHER, "status", *state], capture_output=True, text=True, timeout=30)
        assert (status.returncode, status.stdout.strip()) == (0, url)
        assert aws_emulator.answers(url)
    finally:
        stopped = subprocess.run([*LAUNCHER, "stop", *state], capture_output=True, text=True, timeout=30)
    assert stopped.stdout.strip() == "stopped"
    assert not aws_emulator.answers(url, timeout=0.5)
    status = subprocess.run([*LAUNCHER, "status", *state], capture_output=True, text=True, timeout=30)
    assert (status.returncode, status.stdout.strip()) == (3, "stopped")


def test_busy_port_is_refused_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*LAUNCHER, "start", "--port", str(port), "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_reset_wipes_state(aws: str) -> None:
    s3 = client("s3", aws)
    s3.create_bucket(Bucket="ollama-reset-probe")
    aws_emulator.reset(aws)
    assert s3.list_buckets()["Buckets"] == []


def test_create_image_tags_the_snapshot(aws: str) -> None:
    ec2 = client("ec2", aws)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "Name", "Value": "ollama-backend-ami"}]
    ami = ec2.create_image(
        InstanceId=instance,
        Name="ollama-backend-1",
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
    )["ImageId"]
    described = ec2.describe_images(ImageIds=[ami])["Images"][0]
    snapshot_id = described["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert described["Tags"] == tags
    assert snapshot["Tags"] == tags


def test_autoscaling_disable_metrics_collection(aws: str) -> None:
    ec2, autoscaling = client("ec2", aws), client("autoscaling", aws)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="ollama-lt", LaunchTemplateData={"ImageId": image})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="ollama-asg",
        LaunchTemplate={"LaunchTemplateName": "ollama-lt"},
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
    )
    autoscaling.enable_metrics_collection(
        AutoScalingGroupName="ollama-asg", Granularity="1Minute", Metrics=["GroupInServiceInstances"]
    )
    autoscaling.disable_metrics_collection(AutoScalingGroupName="ollama-asg")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ollama-asg"])["AutoScalingGroups"][0]
    assert group.get("EnabledMetrics", []) == []


def test_dynamodb_describe_table_has_a_stable_table_id(aws: str) -> None:
    dynamodb = client("dynamodb", aws)
    dynamodb.create_table(
        TableName="ollama-data-table",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    first = dynamodb.describe_table(TableName="ollama-data-table")["Table"]["TableId"]
    second = dynamodb.describe_table(TableName="ollama-data-table")["Table"]["TableId"]
    assert first == second
    assert len(first) == 36


def test_a_point_in_time_restore_takes_the_encryption_override(aws: str) -> None:
    """AWS RestoreTableToPointInTime: SSESpecificationOverride sets the restored table's encryption; point-in-time
    recovery is among the settings to set again on a restored table (off)."""
    ddb, kms = boto3.client("dynamodb", endpoint_url=aws), boto3.client("kms", endpoint_url=aws)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/restored", TargetKeyId=key)
    ddb.create_table(
        TableName="source",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_continuous_backups(
        TableName="source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    ddb.put_item(TableName="source", Item={"pk": {"S": "a"}})
    override = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/restored"}
    restored = ddb.restore_table_to_point_in_time(
        SourceTableName="source",
        TargetTableName="copy",
        UseLatestRestorableTime=True,
        SSESpecificationOverride=override,
    )["TableDescription"]
    assert restored["SSEDescription"] == {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key}
    assert ddb.describe_table(TableName="copy")["Table"]["SSEDescription"]["KMSMasterKeyArn"] == key
    assert ddb.scan(TableName="copy")["Count"] == 1
    pitr = ddb.describe_continuous_backups(TableName="copy")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    plain = ddb.restore_table_to_point_in_time(
        SourceTableName="source", TargetTableName="plain", UseLatestRestorableTime=True
    )
    assert "SSEDescription" not in plain["TableDescription"]


def test_missing_backup_vault_is_access_denied_as_on_aws(aws: str) -> None:
    backup = client("backup", aws)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        backup.describe_backup_vault(BackupVaultName="ollama-missing-vault")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    backup.create_backup_vault(BackupVaultName="ollama-vault")
    assert backup.describe_backup_vault(BackupVaultName="ollama-vault")["BackupVaultName"] == "ollama-vault"


def test_a_staged_rotation_is_read_as_aws_reads_it(aws: str) -> None:
    """Secrets Manager's GetSecretValue reference: without VersionId or VersionStage it returns AWSCURRENT; moving
    AWSCURRENT (UpdateSecretVersionStage) puts AWSPREVIOUS on the version it left."""
    sm = client("secretsmanager", aws)
    arn = sm.create_secret(Name="ollama-local/rotated", SecretString="old")["ARN"]
    old = sm.get_secret_value(SecretId=arn)["VersionId"]
    pending = sm.put_secret_value(SecretId=arn, SecretString="new", VersionStages=["AWSPENDING"])["VersionId"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "old"  # AWSPENDING is not read by default
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending, RemoveFromVersionId=old
    )
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "new"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "old"


def test_a_copied_image_names_its_source_and_carries_its_tags(aws: str) -> None:
    """EC2's CopyImage reference: DescribeImages names the source of a copy (SourceImageId, SourceImageRegion),
    CopyImageTags copies the source's user-defined tags, TagSpecifications adds tags, and an AMI name is unique in
    its region. The twin's controller reads the source to give the copy its container image."""
    ec2, dr = client("ec2", aws), client("ec2", aws, region="us-west-2")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tags = [{"Key": "BakeHash", "Value": "abc"}, {"Key": "Tier", "Value": "backend"}]
    source = ec2.create_image(
        InstanceId=instance,
        Name="ollama-backend-copy-probe",
        TagSpecifications=[{"ResourceType": "image", "Tags": tags}],
    )["ImageId"]
    copy = dr.copy_image(
        SourceImageId=source,
        SourceRegion="us-east-1",
        Name="ollama-backend-copy-probe",
        CopyImageTags=True,
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "SourceRegion", "Value": "us-east-1"}]}],
    )["ImageId"]
    described = dr.describe_images(ImageIds=[copy])["Images"][0]
    assert (described["SourceImageId"], described["SourceImageRegion"]) == (source, "us-east-1")
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {
        "BakeHash": "abc", "Tier": "backend", "SourceRegion": "us-east-1"
    }  # fmt: skip
    untagged = ec2.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="ollama-backend-copy-probe-2")
    assert not ec2.describe_images(ImageIds=[untagged["ImageId"]])["Images"][0].get("Tags")
    with pytest.raises(botocore.exceptions.ClientError, match="already in use"):
        ec2.copy_image(SourceImageId=source, SourceRegion="us-east-1", Name="ollama-backend-copy-probe")
