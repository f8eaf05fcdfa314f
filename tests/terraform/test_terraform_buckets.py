"""Every S3 bucket, wherever it is declared (root module or a local module), is versioned (or, only where a call turns
versioning off, expires its objects), encrypted, blocks public access, disables or restricts ACLs, has a lifecycle
and a TLS-only policy; buckets use the customer-managed keys except the ALB access-log bucket; backups replicate to
the DR region.

The checks read what the resources do, not their addresses, and each is shown to fail on a planted violation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import TERRAFORM_DIR, one, planted_copy

from tools.provider_schema.check import parse_file

_MARK = "__is_block__"
PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def _folders(root: Path) -> dict[Path, list[dict[str, Any]]]:
    """Each module folder under root (the root module and every local module) with its parsed files."""
    folders: dict[Path, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" not in path.parts:
            folders.setdefault(path.parent, []).append(parse_file(path))
    return folders


def _blocks(docs: list[dict[str, Any]], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for doc in docs:
        for group in doc.get(kind, []):
            for rtype, instances in group.items():
                if rtype == _MARK:
                    continue
                found += [(rtype, name, body) for name, body in instances.items() if name != _MARK]
    return found


def _modules(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: b for doc in docs for g in doc.get("module", []) for n, b in g.items() if n != _MARK}


def _variables(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: b for doc in docs for g in doc.get("variable", []) for n, b in g.items() if n != _MARK}


def _denies_plain_http(document: dict[str, Any], documents: dict[str, dict[str, Any]]) -> bool:
    for statement in document.get("statement", []):
        condition = one(statement.get("condition", [{}]))
        if (
            statement.get("effect") == "Deny"
            and statement.get("actions") == ["s3:*"]
            and condition.get("variable") == "aws:SecureTransport"
            and condition.get("values") == ["false"]
        ):
            return True
    sources = str(document.get("source_policy_documents", ""))
    return any(f"data.aws_iam_policy_document.{n}.json" in sources and _denies_plain_http(d, documents)
               for n, d in documents.items() if d is not document)  # fmt: skip


SWITCHED = re.compile(r'^\$\{var\.(\w+) \? "Enabled" : "Disabled"\}$')


def _versioned(configuration: dict[str, Any], variables: dict[str, dict[str, Any]]) -> bool:
    """Enabled, or switched by a variable that defaults to true and refuses false without an object expiry."""
    status = str(configuration.get("status"))
    if status == "Enabled":
        return True
    switch = SWITCHED.match(status)
    if not switch:
        return False
    variable = variables.get(switch.group(1), {})
    return variable.get("default") is True and "var.expiration_days != null" in str(variable.get("validation", ""))


def bucket_findings(root: Path) -> list[str]:
    """What is wrong with the hardening of each aws_s3_bucket under root."""
    findings = []
    for folder, docs in _folders(root).items():
        resources = _blocks(docs, "resource")
        documents = {n: b for t, n, b in _blocks(docs, "data") if t == "aws_iam_policy_document"}
        variables = _variables(docs)
        for rtype, name, _ in resources:
            if rtype != "aws_s3_bucket":
                continue
            where = f"{folder.relative_to(root.parent)}: aws_s3_bucket.{name}"
            ref = f"aws_s3_bucket.{name}."
            companions: dict[str, list[dict[str, Any]]] = {}
            for other, _, body in resources:
                if ref in str(body.get("bucket", "")):
                    companions.setdefault(other, []).append(body)

            def companion(rtype: str, _c=companions, _w=where) -> dict[str, Any] | None:
                bodies = _c.get(rtype, [])
                if len(bodies) != 1:
                    findings.append(f"{_w}: needs exactly one {rtype}, found {len(bodies)}")
                    return None
                return bodies[0]

            versioning = companion("aws_s3_bucket_versioning")
            if versioning is not None and not _versioned(one(versioning["versioning_configuration"]), variables):
                findings.append(f"{where}: versioning is not Enabled")
            if (sse := companion("aws_s3_bucket_server_side_encryption_configuration")) is not None:
                default = one(one(sse["rule"])["apply_server_side_encryption_by_default"])
                if not default.get("sse_algorithm"):
                    findings.append(f"{where}: no default encryption algorithm")
            if (pab := companion("aws_s3_bucket_public_access_block")) is not None:
                for flag in PUBLIC_ACCESS_FLAGS:
                    if pab.get(flag) is not True:
                        findings.append(f"{where}: public access block {flag} is not true")
            if (ownership := companion("aws_s3_bucket_ownership_controls")) is not None:
                value = str(one(ownership["rule"]).get("object_ownership"))
                allowed = {"BucketOwnerEnforced", "BucketOwnerPreferred"}
                if value.startswith("${var."):
                    validation = str(variables.get(value[6:-1], {}).get("validation", ""))
                    ok = all(a in validation for a in allowed) and "ObjectWriter" not in validation.split("error")[0]
                else:
                    ok = value in allowed
                if not ok:
                    findings.append(f"{where}: object ownership {value} lets writers own objects (ObjectWriter)")
            if (lifecycle := companion("aws_s3_bucket_lifecycle_configuration")) is not None:
                rule = one(lifecycle["rule"])
                if one(rule.get("transition", [{}])).get("storage_class") != "INTELLIGENT_TIERING":
                    findings.append(f"{where}: lifecycle does not move objects to INTELLIGENT_TIERING")
                if "noncurrent_days" not in one(rule.get("noncurrent_version_expiration", [{}])):
                    findings.append(f"{where}: lifecycle keeps noncurrent versions forever")
            if (policy := companion("aws_s3_bucket_policy")) is not None:
                source = str(policy.get("policy", ""))
                used = [d for n, d in documents.items() if f"aws_iam_policy_document.{n}.json" in source]
                document = used[0] if len(used) == 1 else None
                if document is None or not _denies_plain_http(document, documents):
                    findings.append(f"{where}: the bucket policy does not deny plain-HTTP (aws:SecureTransport false)")
    return findings


def _bucket_calls(root: Path) -> dict[str, dict[str, Any]]:
    """The root module's calls of a local module that declares an aws_s3_bucket."""
    docs = _folders(root)[root]
    calls = {}
    for name, body in _modules(docs).items():
        folder = (root / body["source"]).resolve()
        if any(t == "aws_s3_bucket" for t, _, _ in _blocks(_folders(folder)[folder], "resource")):
            calls[name] = body
    return calls


def _grants_alb_log_delivery(root: Path, call: dict[str, Any]) -> bool:
    documents = {n: b for t, n, b in _blocks(_folders(root)[root], "data") if t == "aws_iam_policy_document"}
    used = [d for n, d in documents.items() if f"aws_iam_policy_document.{n}.json" in str(call.get("policy_documents"))]
    return "logdelivery.elasticloadbalancing.amazonaws.com" in str(used)


def encryption_findings(root: Path) -> list[str]:
    """What the module's checkov skips (CKV_AWS_145, CKV2_AWS_65, CKV_AWS_18) hide, checked per call: each bucket
    encrypts with a customer-managed key, disables ACLs and logs its access, except the ALB access-log bucket (SSE-S3,
    ACLs for CloudFront logging, no logging into itself) and a replica in another region (logged at its source)."""
    findings = []
    for name, call in _bucket_calls(root).items():
        log_bucket = _grants_alb_log_delivery(root, call)
        key = str(call.get("kms_key_arn", ""))
        if "aws_kms_key." not in key and not log_bucket:
            findings.append(f"module.{name}: no customer-managed KMS key (only the ALB log bucket may use SSE-S3)")
        if "aws_kms_key." not in key and "aws_kms_key." in str(call):
            findings.append(f"module.{name}: a key is referenced but not passed as kms_key_arn")
        if call.get("object_ownership", "BucketOwnerEnforced") != "BucketOwnerEnforced" and not log_bucket:
            findings.append(f"module.{name}: ACLs enabled (only the CloudFront log bucket needs them)")
        if "access_log_bucket" not in call and not log_bucket and "providers" not in call:
            findings.append(f"module.{name}: no server access logging")
        if call.get("versioning_enabled", True) is not True and call.get("expiration_days") is None:
            findings.append(f"module.{name}: unversioned but its objects never expire")
    return findings


def test_every_bucket_wherever_declared_is_hardened():
    assert bucket_findings(TERRAFORM_DIR) == []


def test_the_stack_declares_its_buckets():
    calls = _bucket_calls(TERRAFORM_DIR)
    assert sorted(calls) == [
        "assets_bucket",
        "backups_bucket",
        "backups_dr_bucket",
        "logs_bucket",
        "ssm_transfer_bucket",
        "uploads_bucket",
        "uploads_dr_bucket",
    ]
    assert calls["backups_dr_bucket"]["providers"] == {"aws": "${aws.dr}"}
    assert calls["uploads_dr_bucket"]["providers"] == {"aws": "${aws.dr}"}


def test_buckets_use_customer_managed_keys_except_the_alb_log_bucket():
    assert encryption_findings(TERRAFORM_DIR) == []


MAIN, VARIABLES = "modules/s3_bucket/main.tf", "modules/s3_bucket/variables.tf"
PLANTED = [
    pytest.param(MAIN, "  block_public_acls       = true\n", "  block_public_acls       = false\n",
                 "public access block block_public_acls is not true", id="public-acls-allowed"),
    pytest.param(MAIN, 'status = var.versioning_enabled ? "Enabled" : "Disabled"', 'status = "Suspended"',
                 "versioning is not Enabled", id="versioning-suspended"),
    pytest.param(VARIABLES, "var.versioning_enabled || var.expiration_days != null", "true",
                 "versioning is not Enabled", id="unversioned-without-expiry-admitted"),
    pytest.param(MAIN, 'values   = ["false"]', 'values   = ["true"]',
                 "does not deny plain-HTTP", id="tls-only-statement-broken"),
    pytest.param(VARIABLES, '"BucketOwnerEnforced", "BucketOwnerPreferred"], var.object_ownership',
                 '"BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"], var.object_ownership',
                 "lets writers own objects", id="object-writer-admitted"),
    pytest.param("s3.tf", "\nresource \"aws_s3_bucket_replication_configuration\"",
                 '\nresource "aws_s3_bucket" "stray" {\n  bucket_prefix = local.names.logs_bucket\n}\n\n'
                 'resource "aws_s3_bucket_replication_configuration"',
                 "terraform: aws_s3_bucket.stray: needs exactly one aws_s3_bucket_versioning",
                 id="bare-bucket-in-root"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PLANTED)
def test_planted_bucket_violation_is_caught(tmp_path, filename, old, new, expected):
    findings = bucket_findings(planted_copy(tmp_path, filename, old, new))
    assert findings and all(expected in f or "stray" in f for f in findings), findings
    assert any(expected in f for f in findings), findings


BACKUPS_PURPOSE = '  purpose                 = "backups, replicated to the DR region"\n'
LOGGED = '  access_log_bucket       = module.logs_bucket.id\n  access_log_prefix       = "s3/backups/"\n'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (LOGGED, "", "module.backups_bucket: no server access logging"),
        (BACKUPS_PURPOSE, BACKUPS_PURPOSE + '  object_ownership        = "BucketOwnerPreferred"\n',
         "module.backups_bucket: ACLs enabled (only the CloudFront log bucket needs them)"),
    ],
    ids=["unlogged-bucket", "acls-enabled"],
)  # fmt: skip
def test_planted_bucket_call_violation_is_caught(tmp_path, old, new, expected):
    assert encryption_findings(planted_copy(tmp_path, "s3.tf", old, new)) == [expected]


def test_planted_unencrypted_bucket_is_caught(tmp_path):
    copy = planted_copy(tmp_path, "s3.tf", "  kms_key_arn             = aws_kms_key.dr[0].arn\n", "")
    assert encryption_findings(copy) == [
        "module.backups_dr_bucket: no customer-managed KMS key (only the ALB log bucket may use SSE-S3)"
    ]


def test_backups_replicate_to_the_dr_region():
    docs = _folders(TERRAFORM_DIR)[TERRAFORM_DIR]
    ((_, _, replication),) = [
        r for r in _blocks(docs, "resource") if r[0] == "aws_s3_bucket_replication_configuration" and r[1] == "backups"
    ]
    assert replication["bucket"] == "${module.backups_bucket.id}"
    destination = one(one(replication["rule"])["destination"])
    assert destination["bucket"] == "${module.backups_dr_bucket[0].arn}"
    assert "aws_kms_key.dr[0]." in one(destination["encryption_configuration"])["replica_kms_key_id"]
