# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Terraform S3 state backend: the desired shape, how to read it and how to converge it.

The backend is one S3 bucket (versioned, KMS-encrypted, public access blocked, TLS-only policy) and one
DynamoDB lock table (``LockID`` hash key, on-demand, KMS-encrypted, point-in-time recovery), protected by one
customer-managed KMS key with rotation. Terraform cannot create its own backend, so Ansible does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ansible_collections.ollama.platform.plugins.module_utils import aws_posture

ClientFactory = Callable[[str], Any]

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
TLS_SID = "DenyInsecureTransport"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    """Bucket policy that denies every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def policy_denies_insecure_transport(policy: dict[str, Any] | None, bucket: str | None = None) -> bool:
    """True when a bucket policy denies every principal all S3 actions on the bucket's objects without TLS."""

    def as_list(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    for stmt in (policy or {}).get("Statement", []):
        cond = stmt.get("Condition", {}).get("Bool", {})
        principal = stmt.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and as_list(principal.get("AWS")) == ["*"])
        actions = {str(a) for a in as_list(stmt.get("Action", []))}
        resources = {str(r) for r in as_list(stmt.get("Resource", []))}
        covers_objects = bucket is None or f"arn:aws:s3:::{bucket}/*" in resources or "*" in resources
        if (
            stmt.get("Effect") == "Deny"
            and str(cond.get("aws:SecureTransport", "")).lower() == "false"
            and everyone
            and actions & {"s3:*", "*"}
            and covers_objects
        ):
            return True
    return False


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _or_none(func: Callable[..., Any], codes: tuple[str, ...], **kwargs: Any) -> Any:
    try:
        return func(**kwargs)
    except Exception as exc:
        if _code(exc) in codes:
            return None
        raise


def read_backend(client: ClientFactory, bucket: str, lock_table: str) -> dict[str, Any]:
    """Describe the backend as it is: what exists and every finding against the desired shape."""
    s3 = client("s3")
    ddb = client("dynamodb")
    findings: list[dict[str, str]] = []
    state: dict[str, Any] = {"bucket": bucket, "lock_table": lock_table, "bucket_exists": False, "table_exists": False}

    if _or_none(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), Bucket=bucket) is not None:
        state["bucket_exists"] = True
        enc = _or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=bucket)
        enc_cfg = (enc or {}).get("ServerSideEncryptionConfiguration")
        rules = (enc_cfg or {}).get("Rules", [])
        state["kms_key_id"] = next(
            (
                r["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
                for r in rules
                if "ApplyServerSideEncryptionByDefault" in r
            ),
            None,
        )
        algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
        versioning = s3.get_bucket_versioning(Bucket=bucket)
        pab = _or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=bucket)
        findings.extend(
            aws_posture.check_bucket(bucket, enc_cfg, versioning, (pab or {}).get("PublicAccessBlockConfiguration"))
        )
        if enc_cfg and "aws:kms" not in algorithms:
            findings.append(
                aws_posture.finding(
                    "s3_encryption",
                    bucket,
                    "state bucket is not encrypted with KMS",
                    "run playbooks/bootstrap_state.yml",
                )
            )
        pol = _or_none(s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=bucket)
        policy = json.loads(pol["Policy"]) if pol else None
        state["tls_only"] = policy_denies_insecure_transport(policy, bucket)
        if not state["tls_only"]:
            findings.append(
                aws_posture.finding(
                    "s3_tls_only",
                    bucket,
                    "bucket policy does not deny non-TLS requests",
                    "run playbooks/bootstrap_state.yml",
                )
            )
    else:
        findings.append(
            aws_posture.finding(
                "state_bucket_exists",
                bucket,
                "Terraform state bucket not found",
                "run: ansible-playbook playbooks/bootstrap_state.yml -i inventories/<env>",
            )
        )

    desc = _or_none(ddb.describe_table, ("ResourceNotFoundException",), TableName=lock_table)
    if desc is not None:
        state["table_exists"] = True
        table = desc["Table"]
        keys = table.get("KeySchema", [])
        if keys != [{"AttributeName": "LockID", "KeyType": "HASH"}]:
            findings.append(
                aws_posture.finding(
                    "lock_table_schema",
                    lock_table,
                    f"lock table key schema is {keys}, Terraform needs a LockID hash key",
                    "delete the table and run playbooks/bootstrap_state.yml",
                )
            )
        backups = ddb.describe_continuous_backups(TableName=lock_table).get("ContinuousBackupsDescription")
        findings.extend(aws_posture.check_dynamodb(lock_table, table, backups))
    else:
        findings.append(
            aws_posture.finding(
                "lock_table_exists",
                lock_table,
                "Terraform lock table not found",
                "run: ansible-playbook playbooks/bootstrap_state.yml -i inventories/<env>",
            )
        )
    state["findings"] = findings
    state["ready"] = not findings
    return state


def ensure_kms_key(
    client: ClientFactory, alias: str, tags: dict[str, str], check_mode: bool
) -> tuple[str | None, list[str]]:
    """Return (key ARN, actions) for the backend's customer-managed key, creating it when missing."""
    kms = client("kms")
    actions: list[str] = []
    desc = _or_none(kms.describe_key, ("NotFoundException",), KeyId=alias)
    if desc is None:
        actions.append(f"create KMS key {alias} with rotation")
        if check_mode:
            return None, actions
        key = kms.create_key(
            Description="Terraform state of the Ollama platform",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()],
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        kms.enable_key_rotation(KeyId=key["KeyId"])
        return key["Arn"], actions
    meta = desc["KeyMetadata"]
    if not kms.get_key_rotation_status(KeyId=meta["KeyId"]).get("KeyRotationEnabled"):
        actions.append(f"enable rotation on KMS key {alias}")
        if not check_mode:
            kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["Arn"], actions


def ensure_bucket(
    client: ClientFactory, bucket: str, region: str, key_arn: str | None, tags: dict[str, str], check_mode: bool
) -> list[str]:
    """Converge the state bucket; return the actions taken (or that would be taken in check mode)."""
    s3 = client("s3")
    actions: list[str] = []
    exists = _or_none(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), Bucket=bucket) is not None
    if not exists:
        actions.append(f"create bucket {bucket}")
        if check_mode:
            return [*actions, "enable versioning", "set KMS encryption", "block public access", "set TLS-only policy"]
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})

    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        actions.append("enable versioning")
        if not check_mode:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    enc = _or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=bucket)
    rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
    current = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    if current.get("SSEAlgorithm") != "aws:kms" or (key_arn and current.get("KMSMasterKeyID") != key_arn):
        actions.append("set KMS encryption")
        if not check_mode:
            default = {"SSEAlgorithm": "aws:kms"}
            if key_arn:
                default["KMSMasterKeyID"] = key_arn
            s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
                },
            )

    pab = _or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=bucket)
    if (pab or {}).get("PublicAccessBlockConfiguration") != PUBLIC_ACCESS_BLOCK:
        actions.append("block public access")
        if not check_mode:
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)

    pol = _or_none(s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=bucket)
    if not policy_denies_insecure_transport(json.loads(pol["Policy"]) if pol else None, bucket):
        actions.append("set TLS-only policy")
        if not check_mode:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
    return actions


def ensure_lock_table(
    client: ClientFactory, table: str, key_arn: str | None, tags: dict[str, str], check_mode: bool
) -> list[str]:
    """Converge the lock table; return the actions taken (or that would be taken in check mode)."""
    ddb = client("dynamodb")
    actions: list[str] = []
    desc = _or_none(ddb.describe_table, ("ResourceNotFoundException",), TableName=table)
    if desc is None:
        actions.append(f"create lock table {table}")
        if check_mode:
            return [*actions, "enable point-in-time recovery"]
        sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
        if key_arn:
            sse["KMSMasterKeyId"] = key_arn
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            SSESpecification=sse,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    backups = ddb.describe_continuous_backups(TableName=table).get("ContinuousBackupsDescription", {})
    status = (backups.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus")
    if status != "ENABLED":
        actions.append("enable point-in-time recovery")
        if not check_mode:
            ddb.update_continuous_backups(
                TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
    return actions
