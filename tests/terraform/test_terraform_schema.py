"""Schema check: every resource, data source, argument and block in terraform/ exists in the pinned AWS provider.

The schema is derived offline from the registry package that carries it (tools/provider_schema). Each planted
mistake below must be caught, and only it, so the check is proven to bite.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from terraform_helpers import TERRAFORM_DIR

from tools.provider_schema.check import check_directory, load_schema, main
from tools.provider_schema.references import check_references


def test_terraform_matches_provider_schema():
    findings = check_directory(TERRAFORM_DIR)
    assert findings == [], "\n".join(findings)


def test_schema_is_the_pinned_provider():
    schema = load_schema()
    assert schema["version"] == "6.69.1"
    versions = (TERRAFORM_DIR / "versions.tf").read_text()
    match = re.search(r'source\s*=\s*"hashicorp/aws"\s*\n\s*#[^\n]*\n\s*version\s*=\s*"~> (\d+)\.(\d+)"', versions)
    assert match, "versions.tf must pin hashicorp/aws with a '~> 6.N' constraint"
    major, minor = int(match.group(1)), int(match.group(2))
    assert (major, minor) <= (6, 69) and major == 6, "the constraint must admit 6.69.1, the schema the checks use"


PLANTED = [
    pytest.param(
        "alb.tf",
        "idle_timeout               = local.stream_idle_timeout # timeouts.tf",
        "idle_timeouts = local.stream_idle_timeout",
        "alb.tf: aws_lb.public: unknown argument 'idle_timeouts' (did you mean 'idle_timeout'?)",
        id="unknown-argument",
    ),
    pytest.param(
        "asg.tf",
        "  metadata_options {",
        "  metadata_option {",
        "asg.tf: aws_launch_template.this: unknown block 'metadata_option' (did you mean 'metadata_options'?)",
        id="unknown-nested-block",
    ),
    pytest.param(
        "cloudfront.tf",
        "    custom_origin_config {",
        "    custom_origin_configuration {",
        "cloudfront.tf: aws_cloudfront_distribution.this.origin: unknown block 'custom_origin_configuration'",
        id="unknown-block-two-levels-deep",
    ),
    pytest.param(
        "asg.tf",
        "            instance_type = override.value",
        "            instance_typ = override.value",
        "asg.tf: aws_autoscaling_group.this.mixed_instances_policy.launch_template.override: "
        "unknown argument 'instance_typ' (did you mean 'instance_type'?)",
        id="unknown-argument-in-dynamic-block",
    ),
    pytest.param(
        "alb.tf",
        "  load_balancer_arn = aws_lb.internal.arn\n",
        "",
        "alb.tf: aws_lb_listener.internal: missing required argument 'load_balancer_arn'",
        id="missing-required-argument",
    ),
    pytest.param(
        "backup.tf",
        "    target_vault_name = aws_backup_vault.this.name\n",
        "",
        "backup.tf: aws_backup_plan.this.rule: missing required argument 'target_vault_name'",
        id="missing-required-argument-in-block",
    ),
    pytest.param(
        "dynamodb.tf",
        'resource "aws_dynamodb_table" "data"',
        'resource "aws_dynamodb_tabel" "data"',
        "dynamodb.tf: aws_dynamodb_tabel.data: unknown resource type 'aws_dynamodb_tabel' in hashicorp/aws 6.69.1",
        id="unknown-resource-type",
    ),
    pytest.param(
        "security_groups.tf",
        'data "aws_ec2_managed_prefix_list" "cloudfront"',
        'data "aws_ec2_managed_prefixlist" "cloudfront"',
        "security_groups.tf: data.aws_ec2_managed_prefixlist.cloudfront: "
        "unknown data source 'aws_ec2_managed_prefixlist'",
        id="unknown-data-source",
    ),
    pytest.param(
        "providers.tf",
        "  region              = var.aws_region\n  allowed_account_ids = var.allowed_account_ids",
        "  region              = var.aws_region\n  allowed_account_id = var.allowed_account_ids",
        "providers.tf: provider.aws: unknown argument 'allowed_account_id' (did you mean 'allowed_account_ids'?)",
        id="unknown-provider-argument",
    ),
    pytest.param(
        "vpc.tf",
        "  tags = { Name = local.names.vpc }",
        "  tags {\n    Name = local.names.vpc\n  }",
        "vpc.tf: aws_vpc.this: 'tags' is an argument, write 'tags = ...' instead of a block",
        id="argument-written-as-block",
    ),
    pytest.param(
        "modules/s3_bucket/main.tf",
        "  block_public_policy     = true",
        "  block_public_policys    = true",
        "modules/s3_bucket/main.tf: aws_s3_bucket_public_access_block.this: unknown argument 'block_public_policys'",
        id="inside-a-module",
    ),
]


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PLANTED)
def test_planted_mistake_is_caught(tmp_path: Path, filename: str, old: str, new: str, expected: str):
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    target = copy / filename
    text = target.read_text()
    assert text.count(old) == 1, f"the planted mistake needs exactly one '{old}' in {filename}: update this test"
    target.write_text(text.replace(old, new))
    findings = check_directory(copy)
    assert any(f.startswith(expected) for f in findings), f"expected {expected!r}, got {findings}"
    assert len(findings) == 1, f"only the planted mistake should be reported, got {findings}"


def test_command_line_exit_codes(tmp_path: Path, capsys):
    assert main([str(TERRAFORM_DIR)]) == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.tf").write_text('resource "aws_s3_bucket" "this" {\n  bucket_prefx = "ollama-"\n}\n')
    assert main([str(broken)]) == 1
    assert "main.tf: aws_s3_bucket.this: unknown argument 'bucket_prefx'" in capsys.readouterr().out


def test_terraform_references_resolve():
    findings = check_references(TERRAFORM_DIR)
    assert findings == [], "\n".join(findings)


PLANTED_REFERENCES = [
    pytest.param("dynamodb.tf", "var.deletion_protection", "var.deletion_protect", "undeclared variable", id="var"),
    pytest.param("providers.tf", "tags = local.tags\n  }\n}\n\n# Disaster", "tags = local.tag\n  }\n}\n\n# Disaster",
                 "undeclared local.tag", id="local"),
    pytest.param("kms.tf", "local.names.kms_data_alias", "local.names.kms_alias", "local.names has no key 'kms_alias'",
                 id="local-map-key"),
    pytest.param("rds.tf", "performance_insights_kms_key_id       = aws_kms_key.data.arn",
                 "performance_insights_kms_key_id       = aws_kms_key.dat.arn", "undeclared resource aws_kms_key.dat",
                 id="resource"),
    pytest.param("data.tf", "data.aws_partition.current.partition", "data.aws_partition.this.partition",
                 "undeclared data source data.aws_partition.this", id="data-source"),
    pytest.param("backup.tf", "  provider = aws.dr\n\n  name", "  provider = aws.drr\n\n  name",
                 "undeclared provider alias aws.drr",
                 id="provider-alias"),
    pytest.param("security_groups.tf", 'aws_vpc_endpoint.gateway["dynamodb"].prefix_list_id',
                 "aws_vpc_endpoint.gateway.prefix_list_id",
                 "aws_vpc_endpoint.gateway has count/for_each: index it", id="missing-index"),
    pytest.param("vpc.tf", "aws_cloudwatch_log_group.this[\"flow_logs\"].arn",
                 "aws_cloudwatch_log_group.this.arn", "aws_cloudwatch_log_group.this has count/for_each: index it",
                 id="missing-for-each-key"),
    pytest.param("alb.tf", "  load_balancer_arn = aws_lb.public.arn\n", "  load_balancer_arn = aws_lb.public[0].arn\n",
                 "aws_lb.public has no count/for_each: do not index it", id="needless-index"),
    pytest.param("s3.tf", "  expiration_days         = var.log_retention_days * 3\n",
                 "  expiry_days             = var.log_retention_days * 3\n",
                 "module.logs_bucket: unknown argument 'expiry_days'", id="module-unknown-argument"),
    pytest.param("s3.tf", "  purpose                 = \"backups, replicated to the DR region\"\n", "",
                 "module.backups_bucket: missing required argument 'purpose'", id="module-missing-argument"),
    pytest.param("outputs.tf", "module.backups_dr_bucket[0].id", "module.backups_dr_bucket[0].name",
                 "module.backups_dr_bucket has no output 'name'", id="module-unknown-output"),
    pytest.param("outputs.tf", "module.backups_dr_bucket[0].id", "module.dr_bucket[0].id",
                 "undeclared module module.dr_bucket", id="undeclared-module"),
    pytest.param("modules/s3_bucket/main.tf", "bucket_prefix = var.bucket_prefix",
                 "bucket_prefix = var.prefix",
                 "modules/s3_bucket/main.tf: ${var.prefix}: undeclared variable var.prefix",
                 id="inside-a-module"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PLANTED_REFERENCES)
def test_planted_reference_mistake_is_caught(tmp_path: Path, filename: str, old: str, new: str, expected: str):
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    target = copy / filename
    text = target.read_text()
    assert text.count(old) == 1, f"the planted mistake needs exactly one '{old}' in {filename}: update this test"
    target.write_text(text.replace(old, new))
    findings = check_references(copy)
    assert len(findings) == 1 and expected in findings[0], findings
