"""terraform_backend / terraform_backend_info / aws_permissions_info against the emulator."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.ansible_runner import run_playbook

pytestmark = pytest.mark.emulator

BUCKET = "ollama-tfstate-123456789012-us-east-1"
TABLE = "ollama-tfstate-lock"
VARS = {"bucket": BUCKET, "lock_table": TABLE}


def _bucket_exists() -> bool:
    try:
        boto3.client("s3").head_bucket(Bucket=BUCKET)
    except ClientError:
        return False
    return True


def test_check_mode_then_create_then_idempotent(aws, tmp_path):
    proc, result = run_playbook("backend.yml", tmp_path, VARS, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["ensure"]["changed"] is True
    assert f"create bucket {BUCKET}" in result["ensure"]["actions"]
    assert not _bucket_exists(), "check mode created the bucket"
    assert result["info"]["ready"] is False
    assert {f["check"] for f in result["info"]["findings"]} == {"state_bucket_exists", "lock_table_exists"}

    proc, result = run_playbook("backend.yml", tmp_path, VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["ensure"]["changed"] is True
    assert result["info"]["ready"] is True, result["info"]["findings"]
    assert result["info"]["tls_only"] is True
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert boto3.client("kms").get_key_rotation_status(KeyId=result["ensure"]["kms_key_arn"])["KeyRotationEnabled"]
    pitr = boto3.client("dynamodb").describe_continuous_backups(TableName=TABLE)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    proc, result = run_playbook("backend.yml", tmp_path, VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["ensure"]["changed"] is False and result["ensure"]["actions"] == []


def test_drift_is_reported_then_repaired(aws, tmp_path):
    proc, _ = run_playbook("backend.yml", tmp_path, VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    boto3.client("s3").delete_bucket_policy(Bucket=BUCKET)
    boto3.client("dynamodb").update_continuous_backups(
        TableName=TABLE, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    proc, result = run_playbook("backend.yml", tmp_path, {**VARS, "info_only": True})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted((f["check"], f["resource"]) for f in result["info"]["findings"]) == [
        ("dynamodb_pitr", TABLE),
        ("s3_tls_only", BUCKET),
    ]
    proc, result = run_playbook("backend.yml", tmp_path, VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(result["ensure"]["actions"]) == ["enable point-in-time recovery", "set TLS-only policy"]
    assert result["info"]["ready"] is True


def test_permissions_module_reports_account_and_simulation(aws, tmp_path):
    proc, result = run_playbook("permissions.yml", tmp_path, {"allowed": ["123456789012"]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["account"] == "123456789012" and result["account_allowed"] is True
    # The emulator has no policy simulator: the module says so instead of failing.
    assert result["simulated"] is False and "simulator" in result["reason"]

    proc, result = run_playbook("permissions.yml", tmp_path, {"allowed": ["210987654321"]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["account_allowed"] is False
    assert "account 123456789012 is not allowed" in result["account_message"]
