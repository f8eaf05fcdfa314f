#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_region_data
short_description: Count, copy or remove the platform's replicated data in one region (disaster recovery)
version_added: 0.1.0
description:
  - Works on the data a disaster-recovery region holds for an environment - the platform table's global-table
    replica, the replicated uploads bucket and the replicated secrets - using only that region's endpoints, so it
    runs while the primary region is down.
  - O(state=present) counts the table's items and the bucket's objects, checks that every secret in
    O(secrets) can be read (values are never returned), and finds the automated backups of the database
    O(database) replicated to the region (the source a DR stack's database is restored from).
  - O(state=copied) also restores the table into O(target_table) (point-in-time restore of the replica, same
    region) and copies the bucket's current objects into O(target_bucket) (created in the region), then counts
    both copies. A drill works on these copies and never writes to the replicas.
  - The copies are kept like the data they copy - the table encrypted with O(kms_key) and with point-in-time
    recovery (a restore does not carry it over), the bucket versioned, encrypted with O(kms_key) by default and
    closed to the public - so the rebuilt stack's posture check finds them as it finds the replicas.
  - O(state=absent) deletes O(target_table) and O(target_bucket) (every object version first).
  - Check mode reports what would change and changes nothing.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  state:
    description: What to do.
    type: str
    choices: [present, copied, absent]
    default: present
  table:
    description: The platform table (replica) in the region.
    type: str
    default: ""
  bucket:
    description: The replicated uploads bucket in the region.
    type: str
    default: ""
  secrets:
    description: Names of the secrets (replicas) that must be readable in the region.
    type: list
    elements: str
    default: []
  database:
    description:
      - Identifier of the primary's RDS instance whose automated backups are replicated to the region; empty
        checks none.
    type: str
    default: ""
  target_table:
    description: The table a copy restores into (O(state=copied)) or that is deleted (O(state=absent)).
    type: str
    default: ""
  target_bucket:
    description: The bucket a copy writes into (O(state=copied)) or that is deleted (O(state=absent)).
    type: str
    default: ""
  kms_key:
    description:
      - The KMS key (ID, ARN or alias) the copies are encrypted with, the DR region's key of the replicas; required
        with O(state=copied).
    type: str
    default: ""
  wait_seconds:
    description: How long to wait for a restored table to become active.
    type: int
    default: 3600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Count what the DR region holds
  ollama.platform.dr_region_data:
    region: us-west-2
    table: ollama-data-table
    bucket: ollama-uploads-dr-123456789012
    secrets: [ollama/webui-secret-key, ollama/ollama-api-token]
  register: held

- name: Copy it for a drill
  ollama.platform.dr_region_data:
    region: us-west-2
    state: copied
    table: ollama-data-table
    bucket: ollama-uploads-dr-123456789012
    target_table: ollama-data-table-drill
    target_bucket: ollama-uploads-drill-123456789012
    kms_key: alias/ollama-dr

- name: Remove the drill's copies
  ollama.platform.dr_region_data:
    region: us-west-2
    state: absent
    target_table: ollama-data-table-drill
    target_bucket: ollama-uploads-drill-123456789012
"""

RETURN = r"""
table_items:
  description: Items in O(table); -1 when no table was given.
  returned: always
  type: int
  sample: 42
bucket_objects:
  description: Current objects in O(bucket); -1 when no bucket was given.
  returned: always
  type: int
  sample: 3
secrets_readable:
  description: Secrets of O(secrets) whose value could be read.
  returned: always
  type: list
  elements: str
  sample: [ollama/webui-secret-key]
database_backup_arn:
  description: ARN of the newest replicated automated backups of O(database) in the region; empty when none.
  returned: always
  type: str
  sample: arn:aws:rds:us-west-2:123456789012:auto-backup:ab-abcdefghijklmnopqrstuvwxyz1234
missing:
  description: What was asked for and is not in the region (table, bucket, secrets), each with its fix.
  returned: always
  type: list
  elements: str
  sample: ["secret ollama/redis-auth-token is not replicated to us-west-2: apply Terraform in the primary region"]
target_table_items:
  description: Items in O(target_table) after the copy; -1 when no copy was made.
  returned: always
  type: int
  sample: 42
target_bucket_objects:
  description: Objects in O(target_bucket) after the copy; -1 when no copy was made.
  returned: always
  type: int
  sample: 3
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "copied", "absent"], "default": "present"},
    "table": {"type": "str", "default": ""},
    "bucket": {"type": "str", "default": ""},
    "secrets": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "database": {"type": "str", "default": ""},
    "target_table": {"type": "str", "default": ""},
    "target_bucket": {"type": "str", "default": ""},
    "kms_key": {"type": "str", "default": "", "no_log": False},
    "wait_seconds": {"type": "int", "default": 3600},
}


def _code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def count_items(ddb: Any, table: str) -> int:
    total = 0
    for page in ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT"):
        total += page["Count"]
    return total


def count_objects(s3: Any, bucket: str) -> int:
    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        total += page.get("KeyCount", len(page.get("Contents", [])))
    return total


def table_exists(ddb: Any, table: str) -> bool:
    try:
        ddb.describe_table(TableName=table)
        return True
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def replicated_backups(rds: Any, database: str) -> str:
    """ARN of the newest automated backups of ``database`` replicated to the client's region ('' when none).

    The whole region is listed and matched here: the DBInstanceIdentifier parameter must name an instance of the
    region, and the replicated backups' instance is in the lost one."""
    found = []
    for page in rds.get_paginator("describe_db_instance_automated_backups").paginate():
        found += [
            b
            for b in page["DBInstanceAutomatedBackups"]
            if b.get("DBInstanceIdentifier") == database and b.get("Status") in ("replicating", "retained")
        ]
    if not found:
        return ""
    newest = max(found, key=lambda b: str(b.get("RestoreWindow", {}).get("LatestTime", "")))
    return newest["DBInstanceAutomatedBackupsArn"]


def copy_table(ddb: Any, table: str, target: str, kms_key: str, wait_seconds: int) -> None:
    ddb.restore_table_to_point_in_time(
        SourceTableName=table,
        TargetTableName=target,
        UseLatestRestorableTime=True,
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": kms_key},
    )
    deadline = time.monotonic() + wait_seconds
    while ddb.describe_table(TableName=target)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {target} restored from {table} is not active after {wait_seconds} s")
        time.sleep(10)
    # Point-in-time recovery is among the settings a restore does not carry over; it can be refused for a while
    # after the table became active (ContinuousBackupsUnavailableException).
    while True:
        try:
            ddb.update_continuous_backups(
                TableName=target, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            return
        except ClientError as exc:
            if _code(exc) != "ContinuousBackupsUnavailableException" or time.monotonic() > deadline:
                raise
            time.sleep(10)


def copy_bucket(s3: Any, bucket: str, target: str, region: str, kms_key: str) -> None:
    if not bucket_exists(s3, target):
        args = {"Bucket": target}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**args)
        block = dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )
        s3.put_public_access_block(Bucket=target, PublicAccessBlockConfiguration=block)
    # Also on a copy an earlier drill left: versioned and encrypted before anything is copied into it.
    s3.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    rule = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key},
        "BucketKeyEnabled": True,
    }
    s3.put_bucket_encryption(Bucket=target, ServerSideEncryptionConfiguration={"Rules": [rule]})
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.copy_object(Bucket=target, Key=obj["Key"], CopySource={"Bucket": bucket, "Key": obj["Key"]})


def remove_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    region = module.region
    ddb, s3, sm = module.client("dynamodb"), module.client("s3"), module.client("secretsmanager")
    result = {
        "changed": False,
        "table_items": -1,
        "bucket_objects": -1,
        "secrets_readable": [],
        "database_backup_arn": "",
        "missing": [],
        "target_table_items": -1,
        "target_bucket_objects": -1,
    }
    try:
        if p["state"] == "absent":
            if p["target_table"] and table_exists(ddb, p["target_table"]):
                result["changed"] = True
                if not module.check_mode:
                    ddb.delete_table(TableName=p["target_table"])
            if p["target_bucket"] and bucket_exists(s3, p["target_bucket"]):
                result["changed"] = True
                if not module.check_mode:
                    remove_bucket(s3, p["target_bucket"])
            module.exit_json(**result)

        fix = "apply Terraform in the primary region while it is up (replication is set up there)"
        if p["table"]:
            if table_exists(ddb, p["table"]):
                result["table_items"] = count_items(ddb, p["table"])
            else:
                result["missing"].append(f"table {p['table']} has no replica in {region}: {fix}")
        if p["bucket"]:
            if bucket_exists(s3, p["bucket"]):
                result["bucket_objects"] = count_objects(s3, p["bucket"])
            else:
                result["missing"].append(f"bucket {p['bucket']} is not in {region}: {fix}")
        for name in p["secrets"]:
            try:
                sm.get_secret_value(SecretId=name)
                result["secrets_readable"].append(name)
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                result["missing"].append(f"secret {name} is not replicated to {region}: {fix}")
        if p["database"]:
            result["database_backup_arn"] = replicated_backups(module.client("rds"), p["database"])
            if not result["database_backup_arn"]:
                result["missing"].append(
                    f"database {p['database']} has no automated backups replicated to {region}: {fix}"
                    " (terraform/backup.tf replicates them)"
                )

        if p["state"] == "copied":
            if result["missing"]:
                module.fail_json(msg="cannot copy for a drill: " + "; ".join(result["missing"]), **result)
            if not p["kms_key"]:
                module.fail_json(msg="state=copied needs kms_key: the DR region's key the copies are encrypted with")
            if p["target_table"] and not table_exists(ddb, p["target_table"]):
                result["changed"] = True
                if not module.check_mode:
                    copy_table(ddb, p["table"], p["target_table"], p["kms_key"], p["wait_seconds"])
            if p["target_bucket"]:
                result["changed"] = True
                if not module.check_mode:
                    copy_bucket(s3, p["bucket"], p["target_bucket"], region, p["kms_key"])
            if not module.check_mode:
                if p["target_table"]:
                    result["target_table_items"] = count_items(ddb, p["target_table"])
                if p["target_bucket"]:
                    result["target_bucket_objects"] = count_objects(s3, p["target_bucket"])
    except (BotoCoreError, ClientError, TimeoutError) as exc:
        module.fail_json_aws(exc, msg=f"disaster-recovery data in {region} ({p['state']}) failed")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
