# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Posture checks for a deployed Ollama stack.

``check_*`` functions are pure: they take what the AWS APIs returned and return findings.
``collect_*`` functions call AWS through boto3 clients and feed the checks. A finding is a dict
with ``check``, ``resource``, ``message`` and ``remediation`` so an operator knows what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Finding = dict[str, str]


def finding(check: str, resource: str, message: str, remediation: str) -> Finding:
    """Build one finding."""
    return {"check": check, "resource": resource, "message": message, "remediation": remediation}


# --------------------------------------------------------------------------- pure checks
def check_asg(group: dict[str, Any], min_azs: int = 2) -> list[Finding]:
    """An ASG has at least MinSize InService instances, spans ``min_azs`` AZs and spreads its instances."""
    name = group.get("AutoScalingGroupName", "?")
    out: list[Finding] = []
    in_service = [i for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"]
    minimum = int(group.get("MinSize", 0))
    if len(in_service) < minimum:
        out.append(
            finding(
                "asg_capacity",
                name,
                f"{len(in_service)} instance(s) InService, minimum is {minimum}",
                "check the ASG activity history and instance health (aws autoscaling describe-scaling-activities)",
            )
        )
    configured_azs = set(group.get("AvailabilityZones", []))
    if len(configured_azs) < min_azs:
        out.append(
            finding(
                "asg_zones",
                name,
                f"configured for {len(configured_azs)} availability zone(s), at least {min_azs} required",
                "give the ASG subnets in at least two availability zones (var.private_subnet_cidrs)",
            )
        )
    used_azs = {i.get("AvailabilityZone") for i in in_service}
    wanted = min(min_azs, len(in_service))
    if len(used_azs) < wanted:
        out.append(
            finding(
                "asg_spread",
                name,
                f"{len(in_service)} InService instance(s) run in {len(used_azs)} zone(s), expected {wanted}",
                "enable AZ rebalancing or run an instance refresh so instances spread across zones",
            )
        )
    return out


def check_target_health(target_group: str, descriptions: Iterable[dict[str, Any]]) -> list[Finding]:
    """Every registered target of a target group is healthy and there is at least one. A target still in its first
    health checks (``initial``, for HealthyThresholdCount intervals after it registered) is the finding
    ``targets_initial``: a caller that has just deployed waits for it (playbooks/verify.yml)."""
    descriptions = list(descriptions)
    if not descriptions:
        return [
            finding(
                "targets_healthy",
                target_group,
                "no targets registered",
                "check that the ASG is attached to this target group and has running instances",
            )
        ]
    out = []
    for desc in descriptions:
        state = desc.get("TargetHealth", {}).get("State")
        if state != "healthy":
            target = desc.get("Target", {}).get("Id", "?")
            reason = desc.get("TargetHealth", {}).get("Description", "")
            out.append(
                finding(
                    "targets_initial" if state == "initial" else "targets_healthy",
                    f"{target_group}/{target}",
                    f"target is {state}{': ' + reason if reason else ''}",
                    "wait for its first health checks (HealthyThresholdCount x HealthCheckIntervalSeconds) and look "
                    "again"
                    if state == "initial"
                    else "check the service on the instance (systemctl status, /ready) and the security groups",
                )
            )
    return out


def is_sns_topic(arn: str) -> bool:
    """An SNS topic ARN in any partition (arn:aws:sns:..., arn:aws-us-gov:sns:...)."""
    parts = str(arn).split(":")
    return len(parts) >= 6 and parts[0] == "arn" and parts[2] == "sns"


def check_alarms(alarms: Iterable[dict[str, Any]], sns_topic_arn: str | None, prefix: str) -> list[Finding]:
    """Alarms named ``prefix*`` exist and each notifies an SNS topic (a person), not only a scaling policy.

    Which topics reach a person is ``check_topic_subscribers``'s rule, applied to every topic the alarms notify.
    """
    alarms = list(alarms)
    if not alarms:
        return [
            finding(
                "alarms_exist",
                f"{prefix}*",
                "no CloudWatch alarm with this prefix",
                "apply terraform/monitoring.tf for this environment",
            )
        ]
    out = []
    fix = f"add the alarm topic ({sns_topic_arn or 'aws_sns_topic.alarms.arn'}) to alarm_actions"
    for alarm in alarms:
        name = alarm.get("AlarmName", "?")
        actions = list(alarm.get("AlarmActions", []))
        if not actions:
            out.append(finding("alarm_actions", name, "alarm has no alarm actions: nobody is notified", fix))
        elif not any(is_sns_topic(action) for action in actions):
            out.append(
                finding(
                    "alarm_actions",
                    name,
                    f"alarm only triggers {', '.join(actions)}: nobody is notified",
                    fix,
                )
            )
    return out


def notified_topics(alarms: Iterable[dict[str, Any]], sns_topic_arn: str | None) -> list[str]:
    """The SNS topics the alarms notify, and the platform's topic, in a stable order."""
    topics = [sns_topic_arn] if sns_topic_arn else []
    for alarm in alarms:
        for action in alarm.get("AlarmActions", []):
            if is_sns_topic(action) and action not in topics:
                topics.append(action)
    return topics


def is_pending(subscription: dict[str, Any]) -> bool:
    """SNS lists a subscription nobody confirmed yet with SubscriptionArn "PendingConfirmation"."""
    return subscription.get("SubscriptionArn") == "PendingConfirmation"


def check_topic_subscribers(topic_arn: str, subscriptions: Iterable[dict[str, Any]]) -> list[Finding]:
    """An alarm topic has at least one subscription (confirmed or waiting for its confirmation)."""
    if list(subscriptions):
        return []
    return [
        finding(
            "alarm_subscribers",
            topic_arn,
            "nobody is subscribed to this alarm topic: its alarms reach no one",
            "set alarm_emails or alarm_https_endpoints in terraform/environments/<env>.tfvars and apply",
        )
    ]


def pending_subscriptions(topic_arn: str, subscriptions: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Subscriptions of a topic still waiting for their confirmation (the e-mail link, the HTTPS handshake)."""
    return [
        {"topic_arn": topic_arn, "protocol": str(s.get("Protocol", "?")), "endpoint": str(s.get("Endpoint", "?"))}
        for s in subscriptions
        if is_pending(s)
    ]


def check_dynamodb(name: str, table: dict[str, Any] | None, backups: dict[str, Any] | None) -> list[Finding]:
    """A DynamoDB table exists, is encrypted with KMS and has point-in-time recovery on."""
    if table is None:
        return [finding("dynamodb_exists", name, "table not found", "apply terraform/dynamodb.tf")]
    out = []
    sse = table.get("SSEDescription") or {}
    if sse.get("Status") not in ("ENABLED", "UPDATING") or sse.get("SSEType") != "KMS":
        out.append(
            finding(
                "dynamodb_encryption",
                name,
                "table is not encrypted with a KMS key",
                "set server_side_encryption { enabled = true, kms_key_arn = ... } on the table",
            )
        )
    pitr = ((backups or {}).get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus")
    if pitr != "ENABLED":
        out.append(
            finding(
                "dynamodb_pitr",
                name,
                f"point-in-time recovery is {pitr or 'DISABLED'}",
                "enable PITR: point_in_time_recovery { enabled = true } (or aws dynamodb update-continuous-backups)",
            )
        )
    return out


def check_bucket(
    name: str,
    encryption: dict[str, Any] | None,
    versioning: dict[str, Any] | None,
    public_access_block: dict[str, Any] | None,
    require_versioning: bool = True,
) -> list[Finding]:
    """An S3 bucket is encrypted at rest, versioned and blocks public access."""
    out = []
    rules = (encryption or {}).get("Rules", [])
    algorithms = {r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
    if not algorithms - {None}:
        out.append(
            finding(
                "s3_encryption",
                name,
                "bucket has no default encryption",
                "add aws_s3_bucket_server_side_encryption_configuration with sse_algorithm = aws:kms",
            )
        )
    if require_versioning and (versioning or {}).get("Status") != "Enabled":
        out.append(
            finding(
                "s3_versioning",
                name,
                f"versioning is {(versioning or {}).get('Status', 'off')}",
                "add aws_s3_bucket_versioning with status = Enabled",
            )
        )
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    missing = [f for f in flags if not (public_access_block or {}).get(f)]
    if missing:
        out.append(
            finding(
                "s3_public_access",
                name,
                f"public access not fully blocked ({', '.join(missing)} off)",
                "add aws_s3_bucket_public_access_block with all four settings true",
            )
        )
    return out


def check_log_groups(prefix: str, groups: Iterable[dict[str, Any]], min_retention_days: int = 1) -> list[Finding]:
    """Log groups named ``prefix*`` exist and keep logs for a bounded, sufficient time."""
    groups = list(groups)
    if not groups:
        return [
            finding("log_groups_exist", f"{prefix}*", "no log group with this prefix", "apply terraform/monitoring.tf")
        ]
    out = []
    for group in groups:
        name = group.get("logGroupName", "?")
        days = group.get("retentionInDays")
        if days is None:
            out.append(
                finding(
                    "log_retention",
                    name,
                    "log group keeps logs forever (no retention)",
                    "set retention_in_days (var.log_retention_days)",
                )
            )
        elif days < min_retention_days:
            out.append(
                finding(
                    "log_retention",
                    name,
                    f"retention {days} day(s) is below {min_retention_days}",
                    "raise retention_in_days for this environment",
                )
            )
    return out


def check_kms_key(key_id: str, metadata: dict[str, Any] | None, rotation_enabled: bool | None) -> list[Finding]:
    """A customer-managed KMS key is enabled and rotates."""
    if metadata is None:
        return [finding("kms_exists", key_id, "KMS key not found", "check the key ARN in the Terraform outputs")]
    if metadata.get("KeyManager") == "AWS":
        return []
    out = []
    if metadata.get("KeyState") != "Enabled":
        out.append(
            finding(
                "kms_state",
                key_id,
                f"key state is {metadata.get('KeyState')}",
                "re-enable the key or cancel its deletion",
            )
        )
    if not rotation_enabled:
        out.append(
            finding(
                "kms_rotation", key_id, "automatic key rotation is off", "set enable_key_rotation = true on the key"
            )
        )
    return out


def evaluate_alarms(
    alarms: Iterable[dict[str, Any]],
    sns_topic_arn: str | None,
    prefix: str,
    subscriptions_by_topic: dict[str, list[dict[str, Any]] | None],
) -> tuple[list[Finding], list[dict[str, str]]]:
    """The alarm rules on one environment's alarms and the subscriptions of the topics they notify (None: the topic
    does not exist). Returns (findings, subscriptions pending confirmation).

    The same function runs on what AWS (or the emulator) answers (``collect_alarms``) and on the parsed Terraform of
    each environment (tests/terraform/test_terraform_posture.py).
    """
    alarms = list(alarms)
    out = check_alarms(alarms, sns_topic_arn, prefix)
    pending: list[dict[str, str]] = []
    for topic in notified_topics(alarms, sns_topic_arn):
        subscriptions = subscriptions_by_topic.get(topic)
        if subscriptions is None:
            out.append(finding("sns_topic", topic, "SNS topic not found", "apply terraform/monitoring.tf"))
            continue
        out.extend(check_topic_subscribers(topic, subscriptions))
        pending.extend(pending_subscriptions(topic, subscriptions))
    return out, pending


# --------------------------------------------------------------------------- collectors
ClientFactory = Callable[[str], Any]


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _call_or_none(func: Callable[..., Any], missing_codes: tuple[str, ...], **kwargs: Any) -> Any:
    """Call an AWS API; return None when it answers with one of ``missing_codes``."""
    try:
        return func(**kwargs)
    except Exception as exc:
        if _error_code(exc) in missing_codes:
            return None
        raise


def collect_asgs(client: ClientFactory, names: list[str], min_azs: int) -> tuple[list[Finding], list[str]]:
    """Check the ASGs and return (findings, target group ARNs attached to them)."""
    asg = client("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=names).get("AutoScalingGroups", [])
    by_name = {g["AutoScalingGroupName"]: g for g in groups}
    out: list[Finding] = []
    tg_arns: list[str] = []
    for name in names:
        group = by_name.get(name)
        if group is None:
            out.append(finding("asg_exists", name, "Auto Scaling group not found", "apply terraform/asg.tf"))
            continue
        out.extend(check_asg(group, min_azs))
        tg_arns.extend(a for a in group.get("TargetGroupARNs", []) if a not in tg_arns)
    return out, tg_arns


def collect_targets(client: ClientFactory, arns: list[str]) -> list[Finding]:
    elb = client("elbv2")
    out: list[Finding] = []
    for arn in arns:
        health = _call_or_none(elb.describe_target_health, ("TargetGroupNotFound",), TargetGroupArn=arn)
        if health is None:
            out.append(finding("targets_healthy", arn, "target group not found", "apply terraform/alb.tf"))
            continue
        label = arn.split(":")[-1].split("/")[1] if "/" in arn else arn
        out.extend(check_target_health(label, health.get("TargetHealthDescriptions", [])))
    return out


def collect_alarms(
    client: ClientFactory, prefix: str, sns_topic_arn: str | None
) -> tuple[list[Finding], list[dict[str, str]]]:
    """Read the alarms and the subscriptions of every topic they notify; apply ``evaluate_alarms``."""
    cw = client("cloudwatch")
    alarms: list[dict[str, Any]] = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix):
        alarms.extend(page.get("MetricAlarms", []))
    sns = client("sns")
    subscriptions_by_topic: dict[str, list[dict[str, Any]] | None] = {}
    for topic in notified_topics(alarms, sns_topic_arn):
        if _call_or_none(sns.get_topic_attributes, ("NotFound",), TopicArn=topic) is None:
            subscriptions_by_topic[topic] = None
            continue
        subscriptions: list[dict[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            subscriptions.extend(page.get("Subscriptions", []))
        subscriptions_by_topic[topic] = subscriptions
    return evaluate_alarms(alarms, sns_topic_arn, prefix, subscriptions_by_topic)


def collect_dynamodb(client: ClientFactory, names: list[str]) -> tuple[list[Finding], list[str]]:
    ddb = client("dynamodb")
    out: list[Finding] = []
    keys: list[str] = []
    for name in names:
        desc = _call_or_none(ddb.describe_table, ("ResourceNotFoundException",), TableName=name)
        table = desc["Table"] if desc else None
        backups = None
        if table is not None:
            backups = ddb.describe_continuous_backups(TableName=name).get("ContinuousBackupsDescription")
            key = (table.get("SSEDescription") or {}).get("KMSMasterKeyArn")
            if key:
                keys.append(key)
        out.extend(check_dynamodb(name, table, backups))
    return out, keys


def collect_buckets(
    client: ClientFactory, names: list[str], unversioned: Iterable[str] = ()
) -> tuple[list[Finding], list[str]]:
    s3 = client("s3")
    out: list[Finding] = []
    keys: list[str] = []
    skip_versioning = set(unversioned)
    for name in names:
        if _call_or_none(s3.head_bucket, ("404", "NoSuchBucket", "NotFound"), Bucket=name) is None:
            out.append(finding("s3_exists", name, "bucket not found", "apply terraform/s3.tf"))
            continue
        enc = _call_or_none(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=name)
        enc_cfg = (enc or {}).get("ServerSideEncryptionConfiguration")
        for rule in (enc_cfg or {}).get("Rules", []):
            key = rule.get("ApplyServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
            if key:
                keys.append(key)
        versioning = s3.get_bucket_versioning(Bucket=name)
        pab = _call_or_none(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=name)
        out.extend(
            check_bucket(
                name,
                enc_cfg,
                versioning,
                (pab or {}).get("PublicAccessBlockConfiguration"),
                require_versioning=name not in skip_versioning,
            )
        )
    return out, keys


def collect_log_groups(client: ClientFactory, prefix: str, min_retention_days: int) -> list[Finding]:
    logs = client("logs")
    groups: list[dict[str, Any]] = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        groups.extend(page.get("logGroups", []))
    return check_log_groups(prefix, groups, min_retention_days)


def collect_kms(client: ClientFactory, key_ids: Iterable[str]) -> list[Finding]:
    kms = client("kms")
    out: list[Finding] = []
    seen: set[str] = set()
    for key_id in key_ids:
        if not key_id or key_id in seen:
            continue
        seen.add(key_id)
        desc = _call_or_none(kms.describe_key, ("NotFoundException",), KeyId=key_id)
        meta = desc["KeyMetadata"] if desc else None
        rotation = None
        if meta is not None and meta.get("KeyManager") != "AWS":
            rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"]).get("KeyRotationEnabled")
        out.extend(check_kms_key(key_id, meta, rotation))
    return out
