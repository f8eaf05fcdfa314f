"""teardown.yml needs typed confirmation (twice for production). Scale-to-zero lives in terraform/scaling.tf."""

from __future__ import annotations

import boto3
import pytest

from tests.ansible_runner import ROOT, run_playbook
from tests.integration.test_preflight_bad_input import assert_refused, make_inventory

pytestmark = pytest.mark.emulator

TEARDOWN = ROOT / "playbooks" / "teardown.yml"


def test_teardown_needs_typed_confirmation(aws, tmp_path):
    inv = make_inventory(tmp_path, "dev", aws)
    proc, _ = run_playbook(TEARDOWN, tmp_path, inventory=inv)
    assert_refused(proc, "re-run with -e platform_teardown_confirm=dev")
    proc, _ = run_playbook(TEARDOWN, tmp_path, {"platform_teardown_confirm": "staging"}, inventory=inv)
    assert_refused(proc, "re-run with -e platform_teardown_confirm=dev")


def test_teardown_of_production_needs_the_extra_flag(aws, tmp_path):
    inv = make_inventory(tmp_path, "production", aws)
    extra = {"platform_teardown_confirm": "production", "platform_confirm": "production"}
    proc, _ = run_playbook(TEARDOWN, tmp_path, extra, inventory=inv)
    assert_refused(proc, "teardown of PRODUCTION also needs -e platform_teardown_production=true")


def test_teardown_of_production_refuses_while_deletion_protection_is_on(aws, tmp_path):
    boto3.client("dynamodb").create_table(
        TableName="ollama-data-table",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        DeletionProtectionEnabled=True,
    )
    inv = make_inventory(tmp_path, "production", aws)
    extra = {
        "platform_teardown_confirm": "production",
        "platform_teardown_production": True,
        "platform_confirm": "production",
    }
    proc, _ = run_playbook(TEARDOWN, tmp_path, extra, inventory=inv)
    assert_refused(proc, "deletion protection is on for ollama-data-table: lift it on purpose first")
