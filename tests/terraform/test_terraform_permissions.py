"""Permissions as AWS evaluates them on a fresh account: key policies name no principal that may not exist yet, the
ALB access-log bucket accepts writes only from this account's load balancers, and the logs RDS exports go to
encrypted, expiring log groups that exist before the instance. Each check is shown to fail on a planted violation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import TERRAFORM_DIR, ParsedRoot, one, planted_copy

ELB_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
ELB_ACCOUNT = "${data.aws_elb_service_account.this.arn}"


def _conditions(statement: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    conditions = statement.get("condition", statement.get("conditions", []))
    return {c["variable"]: (c["test"], c["values"]) for c in conditions}


# --- key policies ---


def kms_findings(root: Path) -> list[str]:
    """Key policies must not name the Auto Scaling service-linked role as a principal (absent on a fresh account)."""
    model = ParsedRoot(root)
    findings = []
    statements = [s for group in model.locals["kms_key_statements"].values() for s in group if isinstance(s, dict)]
    documents = [b for (t, _), b in model.data.items() if t == "aws_iam_policy_document"]
    statements += [s for b in documents for s in b.get("statement", [])]
    for statement in statements:
        principals = str(statement.get("identifiers", "")) + str(statement.get("principals", ""))
        if "aws-service-role" in principals or "autoscaling_service_role_arn" in principals:
            findings.append(f"{statement.get('sid')}: names the Auto Scaling service-linked role as a principal")
    grants = {s["sid"]: s for s in model.locals["kms_key_statements"]["data"] if isinstance(s, dict)}
    role = "${local.autoscaling_service_role_arn}"
    for sid in ("AutoScalingEncryptedVolumes", "AutoScalingGrants"):
        conditions = _conditions(grants.get(sid, {}))
        if conditions.get("aws:PrincipalArn") != ("StringEquals", [role]):
            findings.append(f"{sid}: the data key must admit the Auto Scaling role by aws:PrincipalArn StringEquals")
    if _conditions(grants.get("AutoScalingGrants", {})).get("kms:GrantIsForAWSResource") != ("Bool", ["true"]):
        findings.append("AutoScalingGrants: grants must be limited to AWS resources (kms:GrantIsForAWSResource)")
    if "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling" not in model.locals[role[8:-1]]:
        findings.append("local.autoscaling_service_role_arn is not the Auto Scaling service-linked role")
    return findings


# --- ALB access-log bucket ---


def alb_log_findings(root: Path) -> list[str]:
    """Every statement that lets Elastic Load Balancing write to the log bucket is limited to this account."""
    model = ParsedRoot(root)
    findings = []
    resources_text = str(model.locals.get("alb_log_resources", ""))
    if "/AWSLogs/${local.account_id}/*" not in resources_text:
        findings.append("local.alb_log_resources: not limited to this account's AWSLogs/<account>/ key prefix")
    writers = 0
    for (rtype, name), body in model.data.items():
        if rtype != "aws_iam_policy_document":
            continue
        for statement in body.get("statement", []):
            identifiers = [i for p in statement.get("principals", []) for i in p.get("identifiers", [])]
            if ELB_SERVICE not in identifiers and ELB_ACCOUNT not in identifiers:
                continue
            writers += 1
            where = f"data.aws_iam_policy_document.{name} {statement.get('sid')}"
            if statement.get("resources") != "${local.alb_log_resources}":
                findings.append(f"{where}: writes allowed outside local.alb_log_resources")
            if ELB_SERVICE in identifiers:
                conditions = _conditions(statement)
                if conditions.get("aws:SourceAccount") != ("StringEquals", ["${local.account_id}"]):
                    findings.append(f"{where}: no aws:SourceAccount condition for this account")
                test, values = conditions.get("aws:SourceArn", ("", []))
                own = values and all(":${local.account_id}:loadbalancer/" in v for v in values)
                if test != "ArnLike" or not own:
                    findings.append(f"{where}: no aws:SourceArn condition on this account's load balancers")
    if not writers:
        findings.append("no statement lets Elastic Load Balancing deliver access logs")
    for name, lb in model.of_type("aws_lb").items():
        if lb.get("load_balancer_type") == "network":  # a DR entry: TCP pass-through to an ALB, which logs
            continue
        prefix = str(one(lb["access_logs"]).get("prefix"))
        if not prefix.startswith("${local.alb_log_prefixes."):
            findings.append(f"aws_lb.{name}: access-log prefix {prefix} is not one of local.alb_log_prefixes")
    return findings


# --- RDS log exports ---


def rds_log_findings(root: Path) -> list[str]:
    model = ParsedRoot(root)
    findings = []
    groups = model.of_type("aws_cloudwatch_log_group")
    for name, db in model.of_type("aws_db_instance").items():
        exports = db.get("enabled_cloudwatch_logs_exports")
        if not exports:
            continue
        where = f"aws_db_instance.{name}"
        matching = [
            (g, body) for g, body in groups.items()
            if str(body.get("name", "")).startswith("/aws/rds/instance/${local.names.rds}/")
            and body.get("for_each") in (f"${{toset({exports[2:-1]})}}", exports)
        ]  # fmt: skip
        if db.get("identifier") != "${local.names.rds}" or len(matching) != 1:
            findings.append(f"{where}: each exported log needs a log group /aws/rds/instance/<identifier>/<log>")
            continue
        group, body = matching[0]
        if "aws_kms_key." not in str(body.get("kms_key_id", "")):
            findings.append(f"aws_cloudwatch_log_group.{group}: not encrypted with a customer-managed key")
        if body.get("retention_in_days") != "${var.log_retention_days}":
            findings.append(f"aws_cloudwatch_log_group.{group}: not kept for the environment's retention")
        if f"${{aws_cloudwatch_log_group.{group}}}" not in db.get("depends_on", []):
            findings.append(f"{where}: does not depend on aws_cloudwatch_log_group.{group} (RDS would create it first)")
    return findings


CHECKS = {"kms": kms_findings, "alb_logs": alb_log_findings, "rds_logs": rds_log_findings}


@pytest.mark.parametrize("check", CHECKS)
def test_permissions_hold(check):
    assert CHECKS[check](TERRAFORM_DIR) == []


PLANTED = [
    pytest.param("kms", "kms.tf", 'sid = "AutoScalingGrants", type = "AWS", identifiers = ["*"]',
                 'sid = "AutoScalingGrants", type = "AWS", identifiers = [local.autoscaling_service_role_arn]',
                 "names the Auto Scaling service-linked role as a principal", id="slr-as-principal"),
    pytest.param("kms", "kms.tf", '{ test = "Bool", variable = "kms:GrantIsForAWSResource", values = ["true"] },', "",
                 "limited to AWS resources", id="grants-for-anything"),
    pytest.param("alb_logs", "s3.tf", '''      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"''', '''      variable = "aws:SourceOwner"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"''', "no aws:SourceAccount condition", id="alb-logs-any-account"),
    pytest.param("alb_logs", "s3.tf", "loadbalancer/*", "*", "no aws:SourceArn condition", id="alb-logs-any-source"),
    pytest.param("alb_logs", "s3.tf", '"${module.logs_bucket.arn}/${prefix}/AWSLogs/${local.account_id}/*"',
                 '"${module.logs_bucket.arn}/${prefix}/*"', "not limited to this account", id="alb-logs-any-prefix"),
    pytest.param("rds_logs", "rds.tf", "  depends_on = [aws_cloudwatch_log_group.rds]\n", "",
                 "does not depend on aws_cloudwatch_log_group.rds", id="rds-creates-its-own-group"),
    pytest.param("rds_logs", "rds.tf", "  kms_key_id        = aws_kms_key.logs.arn\n", "",
                 "not encrypted with a customer-managed key", id="rds-logs-unencrypted"),
    pytest.param("rds_logs", "rds.tf", "  retention_in_days = var.log_retention_days\n", "",
                 "not kept for the environment's retention", id="rds-logs-forever"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "filename", "old", "new", "expected"), PLANTED)
def test_planted_permission_violation_is_caught(tmp_path, check, filename, old, new, expected):
    findings = CHECKS[check](planted_copy(tmp_path, filename, old, new))
    assert findings and all(expected in f for f in findings), findings
