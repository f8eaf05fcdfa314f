"""Admin access as the instances use it: the Session Manager transfer bucket keeps no versions and expires what it
holds, the Open-WebUI admin password and the optional OIDC client secret reach the frontend instance record and the
frontend role may read every secret that record names, and ElastiCache takes its AUTH token from the stored secret.

The checks read the expressions the stack is built from; each is shown to fail on a planted violation.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from instance_calls import SCENARIOS
from instance_calls import Stack as InstanceStack
from terraform_helpers import TERRAFORM_DIR

from tools.provider_schema.check import parse_file

_MARK = "__is_block__"
ADMIN_SECRET = 'local.secret_arns["webui_admin_password"]'
REDIS_SECRET = 'local.secret_arns["redis_auth_token"]'
OIDC = (("OIDC_PROVIDER_URL", "provider_url"), ("OIDC_CLIENT_ID", "client_id"),
        ("OIDC_CLIENT_SECRET_ARN", "client_secret_arn"), ("OIDC_PROVIDER_NAME", "provider_name"))  # fmt: skip
# Planted violations: lines of the stack as written.
UNVERSIONED = "  versioning_enabled      = false\n"
EXPIRES = "  expiration_days         = 1\n"
ADMIN_ARN_LINE = f"        WEBUI_ADMIN_PASSWORD_SECRET_ARN = {ADMIN_SECRET}\n"
STORED_TOKEN = "ephemeral.aws_secretsmanager_secret_version.redis_auth_token.secret_string"
RANDOM_TOKEN = 'ephemeral.aws_secretsmanager_random_password.this["redis_auth_token"].random_password'
SETTING = re.compile(r"\b([A-Z][A-Z0-9_]*) = ((?:[^,{}]|\{[^{}]*\})+?)(?=, [A-Z][A-Z0-9_]* = |\}|$)")


class Stack:
    """The parsed blocks of the root module and of the bucket module."""

    def __init__(self, root: Path) -> None:
        docs = [parse_file(p) for p in sorted(root.glob("*.tf"))]
        module_docs = [parse_file(p) for p in sorted((root / "modules" / "s3_bucket").glob("*.tf"))]
        self.locals = {k: v for d in docs for g in d.get("locals", []) for k, v in g.items() if k != _MARK}
        self.modules = {n: b for d in docs for g in d.get("module", []) for n, b in g.items() if n != _MARK}
        self.outputs = {n: b for d in docs for g in d.get("output", []) for n, b in g.items() if n != _MARK}
        self.blocks = self._blocks(docs)
        self.module_blocks = self._blocks(module_docs)

    @staticmethod
    def _blocks(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
        found = {}
        for doc in docs:
            for kind in ("resource", "data", "ephemeral"):
                for group in doc.get(kind, []):
                    for rtype, instances in group.items():
                        if rtype != _MARK:
                            found.update({(kind, rtype, n): b for n, b in instances.items() if n != _MARK})
        return found

    def frontend_record(self) -> dict[str, str]:
        """KEY -> expression of the frontend instance record (the launch template user data)."""
        return dict(SETTING.findall(str(self.locals["tiers"]["frontend"]["settings"])))

    def frontend_secrets(self) -> str:
        return str(self.locals["instance_secrets"]["frontend"])

    def frontend_policy(self) -> str:
        """The inputs of the frontend's instance policy in its own region (local.instance_policies)."""
        return str(self.locals["instance_policies"])


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


# --- Session Manager transfer bucket ---


def transfer_bucket_findings(root: Path) -> list[str]:
    stack = Stack(root)
    call = stack.modules.get("ssm_transfer_bucket")
    if call is None:
        return ["module.ssm_transfer_bucket: missing"]
    findings = []
    versioning = stack.module_blocks[("resource", "aws_s3_bucket_versioning", "this")]
    status = str(_one(versioning["versioning_configuration"])["status"])
    if call.get("versioning_enabled") is not False or not status.startswith("${var.versioning_enabled ?"):
        findings.append("module.ssm_transfer_bucket: versioned (old versions of transferred files would be kept)")
    lifecycle = _one(stack.module_blocks[("resource", "aws_s3_bucket_lifecycle_configuration", "this")]["rule"])
    expiry_wired = "var.expiration_days" in str(lifecycle.get("dynamic", ""))
    if not isinstance(call.get("expiration_days"), int) or call["expiration_days"] > 1 or not expiry_wired:
        findings.append("module.ssm_transfer_bucket: objects do not expire after 1 day")
    abort = str(_one(lifecycle.get("abort_incomplete_multipart_upload", [{}])).get("days_after_initiation"))
    if "var.expiration_days" not in abort:
        findings.append("module.ssm_transfer_bucket: incomplete uploads outlive the object expiry")
    if "aws_kms_key.data." not in str(call.get("kms_key_arn")):
        findings.append("module.ssm_transfer_bucket: not encrypted with the data key")
    if stack.outputs.get("ollama_ssm_transfer_bucket_name", {}).get("value") != "${module.ssm_transfer_bucket.id}":
        findings.append("output ollama_ssm_transfer_bucket_name does not name the transfer bucket")
    for scenario in SCENARIOS:
        roles = InstanceStack(root, scenario)
        for tier in ("frontend", "backend"):
            statements, _ = roles.inline_statements(tier)
            if any("module.ssm_transfer_bucket" in r for s in statements for r in s.resources):
                findings.append(f"the {tier} instance role is granted the transfer bucket (it fetches through "
                                "presigned URLs only)")  # fmt: skip
    return list(dict.fromkeys(findings))


# --- Open-WebUI admin password and OIDC client secret ---


def admin_findings(root: Path) -> list[str]:
    stack = Stack(root)
    findings = []
    secrets = stack.locals["generated_secrets"]
    if "webui_admin_password" not in secrets:
        findings.append("no generated webui_admin_password secret")
    secret = stack.blocks[("resource", "aws_secretsmanager_secret", "this")]
    if "aws_kms_key.data." not in str(secret.get("kms_key_id")):
        findings.append("generated secrets are not encrypted with the data key")
    if stack.outputs.get("ollama_webui_admin_secret_arn", {}).get("value") != "${" + ADMIN_SECRET + "}":
        findings.append("output ollama_webui_admin_secret_arn does not name the admin secret")
    record = stack.frontend_record()
    if record.get("WEBUI_ADMIN_EMAIL") != "var.webui_admin_email":
        findings.append("frontend record: WEBUI_ADMIN_EMAIL is not var.webui_admin_email")
    if record.get("WEBUI_ADMIN_PASSWORD_SECRET_ARN") != ADMIN_SECRET:
        findings.append("frontend record: WEBUI_ADMIN_PASSWORD_SECRET_ARN is not the admin secret")
    for key, attribute in OIDC:
        if record.get(key) != f"var.webui_oidc.{attribute}":
            findings.append(f"frontend record: {key} is not var.webui_oidc.{attribute}")
    # The OIDC client secret is granted through local.webui_oidc_client_secret, split by service (its values are
    # evaluated by the variables fixture): the secrets list and an ssm:GetParameter statement of the frontend.
    granted = stack.frontend_secrets()
    policy = stack.blocks[("data", "aws_iam_policy_document", "instance")]
    parameter_statements = [
        _one(d["statement"]["content"])
        for d in policy.get("dynamic", [])
        if "statement" in d and "each.value.oidc_parameters" in str(d["statement"].get("for_each"))
    ]
    frontend_parameters = 'tier == "frontend" ? local.webui_oidc_client_secret.ssm : []'
    read_parameter = [c for c in parameter_statements if "ssm:GetParameter" in str(c.get("actions"))
                      and c.get("resources") == "${each.value.oidc_parameters}"
                      and frontend_parameters in stack.frontend_policy()]  # fmt: skip
    for key, value in sorted(record.items()):
        if not key.endswith("_SECRET_ARN"):
            continue
        if key == "OIDC_CLIENT_SECRET_ARN":
            if "local.webui_oidc_client_secret.secretsmanager" not in granted:
                findings.append(f"frontend role: may not read {key} when it is a Secrets Manager secret")
            if not read_parameter:
                findings.append(f"frontend role: may not read {key} when it is an SSM parameter")
        elif value not in granted:
            findings.append(f"frontend role: may not read {key} ({value})")
    reads = [s for s in policy.get("statement", []) if "secretsmanager:GetSecretValue" in s.get("actions", [])]
    if [s.get("resources") for s in reads] != ["${each.value.secrets}"] or (
        "secrets = local.instance_secrets[tier]" not in stack.frontend_policy()
    ):
        findings.append("instance policy: GetSecretValue is not granted on exactly local.instance_secrets")
    return findings


# --- Redis AUTH token ---


def redis_findings(root: Path) -> list[str]:
    stack = Stack(root)
    group = stack.blocks[("resource", "aws_elasticache_replication_group", "this")]
    token = str(group.get("auth_token_wo", ""))
    match = re.fullmatch(r"\$\{ephemeral\.aws_secretsmanager_secret_version\.(\w+)\.secret_string\}", token)
    if not match:
        return [f"ElastiCache auth_token_wo is {token}, not the stored secret (the two could diverge)"]
    reader = stack.blocks[("ephemeral", "aws_secretsmanager_secret_version", match.group(1))]
    findings = []
    if reader.get("secret_id") != '${local.secret_arns["redis_auth_token"]}':
        findings.append("ElastiCache reads another secret than REDIS_AUTH_SECRET_ARN (redis_auth_token)")
    if "aws_secretsmanager_secret_version.this" not in str(reader.get("depends_on")):
        findings.append("the token is read before the secret value is written")
    if stack.frontend_record().get("REDIS_AUTH_SECRET_ARN") != REDIS_SECRET:
        findings.append("frontend record: REDIS_AUTH_SECRET_ARN is not the redis_auth_token secret")
    return findings


def _planted(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    target = copy / filename
    assert target.read_text().count(old) == 1, f"'{old}' must occur once in {filename}: update this test"
    target.write_text(target.read_text().replace(old, new))
    return copy


def test_transfer_bucket_keeps_no_versions_and_expires_objects():
    assert transfer_bucket_findings(TERRAFORM_DIR) == []


def test_admin_and_oidc_secrets_reach_the_frontend_and_are_readable():
    assert admin_findings(TERRAFORM_DIR) == []


def test_elasticache_auth_token_is_the_stored_secret():
    assert redis_findings(TERRAFORM_DIR) == []


PLANTED = [
    pytest.param(transfer_bucket_findings, "s3.tf", UNVERSIONED, "", "versioned", id="transfer-bucket-versioned"),
    pytest.param(transfer_bucket_findings, "modules/s3_bucket/main.tf",
                 'status = var.versioning_enabled ? "Enabled" : "Disabled"', 'status = "Enabled"',
                 "versioned", id="module-ignores-the-switch"),
    pytest.param(transfer_bucket_findings, "s3.tf", UNVERSIONED + EXPIRES, UNVERSIONED + EXPIRES.replace("1", "30"),
                 "do not expire after 1 day", id="transfer-expiry-30-days"),
    pytest.param(transfer_bucket_findings, "s3.tf", UNVERSIONED + EXPIRES, UNVERSIONED,
                 "do not expire after 1 day", id="transfer-without-expiry"),
    pytest.param(transfer_bucket_findings, "iam.tf", 'resources = ["${local.uploads_bucket_arn}/uploads/*"]',
                 'resources = ["${local.uploads_bucket_arn}/uploads/*", "${module.ssm_transfer_bucket.arn}/*"]',
                 "instance role is granted the transfer bucket", id="instance-role-on-transfer-bucket"),
    pytest.param(admin_findings, "asg.tf", ADMIN_ARN_LINE, "",
                 "WEBUI_ADMIN_PASSWORD_SECRET_ARN is not the admin secret", id="admin-secret-not-in-record"),
    pytest.param(admin_findings, "asg.tf", "        WEBUI_ADMIN_EMAIL               = var.webui_admin_email\n", "",
                 "WEBUI_ADMIN_EMAIL is not var.webui_admin_email", id="admin-email-not-in-record"),
    pytest.param(admin_findings, "iam.tf", '      local.secret_arns["webui_admin_password"],\n', "",
                 "frontend role: may not read WEBUI_ADMIN_PASSWORD_SECRET_ARN", id="admin-secret-not-granted"),
    pytest.param(admin_findings, "iam.tf", "], local.webui_oidc_client_secret.secretsmanager)", "], [])",
                 "may not read OIDC_CLIENT_SECRET_ARN when it is a Secrets Manager", id="oidc-secret-not-granted"),
    pytest.param(admin_findings, "iam.tf", 'tier == "frontend" ? local.webui_oidc_client_secret.ssm : []', "[]",
                 "may not read OIDC_CLIENT_SECRET_ARN when it is an SSM parameter", id="oidc-parameter-not-granted"),
    pytest.param(admin_findings, "asg.tf", "OIDC_CLIENT_SECRET_ARN = var.webui_oidc.client_secret_arn",
                 "OIDC_CLIENT_SECRET_ARN = var.webui_oidc.client_id", "OIDC_CLIENT_SECRET_ARN is not",
                 id="oidc-secret-arn-not-in-record"),
    pytest.param(redis_findings, "elasticache.tf", STORED_TOKEN, RANDOM_TOKEN, "not the stored secret",
                 id="redis-token-freshly-generated"),
    pytest.param(redis_findings, "secrets.tf", '  secret_id = local.secret_arns["redis_auth_token"]\n',
                 '  secret_id = local.secret_arns["webui_secret_key"]\n',
                 "reads another secret", id="redis-token-from-another-secret"),
]  # fmt: skip


@pytest.mark.parametrize(("check", "filename", "old", "new", "expected"), PLANTED)
def test_planted_violation_is_caught(tmp_path, check, filename, old, new, expected):
    findings = check(_planted(tmp_path, filename, old, new))
    assert any(expected in f for f in findings), findings
