"""State migration: every resource address of the previous layout is still declared, or a moved {} block carries it
to its new address (or a removed {} block drops it on purpose), so an existing stack keeps every resource.

fixtures/addresses_before_modules.txt records the addresses (derived offline from the HCL by terraform_addresses.py)
of the layout before the buckets moved into modules/s3_bucket.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from terraform_addresses import resource_addresses, unmigrated
from terraform_helpers import TERRAFORM_DIR

RECORD = Path(__file__).parent / "fixtures" / "addresses_before_modules.txt"


def _previous() -> set[str]:
    return {line.strip() for line in RECORD.read_text().splitlines() if line.strip()}


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    return copy


def test_every_previous_address_is_declared_or_moved():
    findings = unmigrated(_previous(), TERRAFORM_DIR)
    assert findings == [], "add a moved {} block (terraform/moved.tf) for each:\n" + "\n".join(findings)


def test_addresses_include_module_resources():
    addresses = resource_addresses(TERRAFORM_DIR)
    assert "module.logs_bucket.aws_s3_bucket_public_access_block.this" in addresses
    assert "module.assets_bucket.aws_s3_bucket_logging.this[*]" in addresses
    assert "aws_vpc_security_group_ingress_rule.this[*]" in addresses


def test_planted_removal_without_moved_is_caught(tmp_path):
    copy = _copy(tmp_path)
    moved = copy / "moved.tf"
    block = "moved {\n  from = aws_s3_bucket.logs\n  to   = module.logs_bucket.aws_s3_bucket.this\n}\n"
    assert moved.read_text().count(block) == 1
    moved.write_text(moved.read_text().replace(block, ""))
    findings = unmigrated(_previous(), copy)
    assert len(findings) == 1 and findings[0].startswith("aws_s3_bucket.logs: not declared any more"), findings


def test_planted_moved_to_an_undeclared_address_is_caught(tmp_path):
    copy = _copy(tmp_path)
    s3 = copy / "s3.tf"
    s3.write_text(s3.read_text().replace('module "backups_dr_bucket"', 'module "dr_backups_bucket"'))
    findings = unmigrated(_previous(), copy)
    assert len(findings) == 7, findings
    assert all("(moved to module.backups_dr_bucket[*]." in f for f in findings), findings


def test_planted_resource_rename_is_caught(tmp_path):
    copy = _copy(tmp_path)
    kms = copy / "kms.tf"
    kms.write_text(kms.read_text().replace('resource "aws_kms_alias" "logs"', 'resource "aws_kms_alias" "log"'))
    assert unmigrated(_previous(), copy) == [
        "aws_kms_alias.logs: not declared any more and no moved {} or removed {} block says where"
    ]


@pytest.mark.parametrize(
    "block",
    [
        "moved {\n  from = aws_kms_alias.logs\n  to   = aws_kms_alias.log\n}\n",
        "removed {\n  from = aws_kms_alias.logs\n\n  lifecycle {\n    destroy = true\n  }\n}\n",
    ],
    ids=["moved", "removed"],
)
def test_a_rename_with_a_migration_block_passes(tmp_path, block):
    copy = _copy(tmp_path)
    kms = copy / "kms.tf"
    kms.write_text(kms.read_text().replace('resource "aws_kms_alias" "logs"', 'resource "aws_kms_alias" "log"'))
    (copy / "moved.tf").write_text((copy / "moved.tf").read_text() + "\n" + block)
    assert unmigrated(_previous(), copy) == []
