"""Old backups deleted by retention (8.7), as AWS Backup and RDS apply it, per environment: every rule of the backup
plan deletes its recovery points after the environment's backup_retention_days, and so does every copy it sends to
the DR region's vault; the plan is what the data stores' backup selections attach to; RDS keeps its automated backups
(and their DR-region replica) for rds_backup_retention_days."""

from __future__ import annotations

from pathlib import Path

import pytest
from terraform_helpers import ENVIRONMENTS, TERRAFORM_DIR, evaluator, planted_copy, read_tfvars

from tools.hcl_eval import Evaluator, load_configuration, origin


def provider_regions(ev: Evaluator, terraform_dir: Path) -> dict[str, str]:
    """The aws provider configurations' regions: "${aws}" for the default one, "${aws.<alias>}" for the others."""
    regions = {}
    for document in load_configuration(terraform_dir).values():
        for group in document.get("provider", []):
            body = group.get("aws")
            if body:
                name = f"${{aws.{body['alias']}}}" if "alias" in body else "${aws}"
                regions[name] = ev.value(body["region"])
    return regions


def _label(address: str, key: object) -> str:
    return address if key is None else f"{address}[{key!r}]"


def _delete_after(ev: Evaluator, block: dict, scope: dict) -> list:
    return [
        ev.value(lifecycle.get("delete_after"), lifecycle_scope)
        for lifecycle, lifecycle_scope in ev.blocks(block, "lifecycle", scope)
    ]


def plans(ev: Evaluator, terraform_dir: Path) -> dict[str, dict]:
    """Per backup plan instance: each rule's deletion, and each copy action's deletion and destination region."""
    regions = provider_regions(ev, terraform_dir)
    found = {}
    for address in ev.of_type("aws_backup_plan"):
        body = ev.resources[address]
        for key, scope in ev.instances(address).items():
            rules = []
            for rule, rule_scope in ev.blocks(body, "rule", scope):
                copies = []
                for copy, copy_scope in ev.blocks(rule, "copy_action", rule_scope):
                    vault, vault_body, _ = ev.source(ev.value(copy["destination_vault_arn"], copy_scope))
                    copies.append(
                        {
                            "vault": vault.address,
                            "region": regions[vault_body.get("provider", "${aws}")],
                            "delete_after": _delete_after(ev, copy, copy_scope),
                        }
                    )
                rules.append({"delete_after": _delete_after(ev, rule, rule_scope), "copies": copies})
            found[_label(address, key)] = {"rules": rules}
    for address in ev.of_type("aws_backup_selection"):
        body = ev.resources[address]
        for scope in ev.instances(address).values():
            plan, _, _ = ev.source(ev.value(body["plan_id"], scope))
            selected = [origin(arn) for arn in ev.value(body["resources"], scope)]
            found[_label(plan.address, plan.key)].setdefault("selects", set()).update(
                o.address.split(".")[0] for o in selected if o
            )
    return found


def problems(ev: Evaluator, terraform_dir: Path, tfvars: dict) -> list[str]:
    days, primary = tfvars["backup_retention_days"], tfvars["aws_region"]
    found = []
    for plan, declared in plans(ev, terraform_dir).items():
        for rule in declared["rules"]:
            if rule["delete_after"] != [days]:
                found.append(f"{plan}: a rule deletes recovery points after {rule['delete_after']}, not [{days}] days")
            if len(rule["copies"]) != 1:
                found.append(f"{plan}: a rule sends {len(rule['copies'])} copies to the DR region, expected one")
            for copy in rule["copies"]:
                if copy["delete_after"] != [days]:
                    found.append(f"{plan}: the copy to {copy['vault']} is deleted after {copy['delete_after']} days")
                if copy["region"] == primary:
                    found.append(f"{plan}: the copy to {copy['vault']} stays in {primary}")
        missing = {"aws_db_instance", "aws_dynamodb_table"} - declared.get("selects", set())
        if missing:
            found.append(f"{plan}: no backup selection attaches {sorted(missing)}")
    days = tfvars["rds_backup_retention_days"]
    for rtype, argument in (
        ("aws_db_instance", "backup_retention_period"),
        ("aws_db_instance_automated_backups_replication", "retention_period"),
    ):
        for address in ev.of_type(rtype):
            for scope in ev.instances(address).values():
                kept = ev.value(ev.resources[address][argument], scope)
                if kept != days:
                    found.append(f"{address}: {argument} {kept}, rds_backup_retention_days is {days}")
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_recovery_points_and_their_copies_are_deleted_after_the_environments_retention(environment):
    tfvars, ev = read_tfvars(environment), evaluator(environment)
    assert problems(ev, TERRAFORM_DIR, tfvars) == []
    ((plan, declared),) = plans(ev, TERRAFORM_DIR).items()
    assert [rule["delete_after"] for rule in declared["rules"]] == [[tfvars["backup_retention_days"]]], plan
    assert [copy["region"] for rule in declared["rules"] for copy in rule["copies"]] == [tfvars["dr_region"]]
    # The database's automated backups are replicated (and expire) in the DR region too.
    replicas = [ev.instances(a) for a in ev.of_type("aws_db_instance_automated_backups_replication")]
    assert [len(instances) for instances in replicas] == [1]


def test_a_copy_kept_for_ever_is_caught(tmp_path: Path):
    copy = planted_copy(
        tmp_path,
        "backup.tf",
        "\n        lifecycle {\n          delete_after = var.backup_retention_days\n        }\n",
        "\n",
    )
    assert problems(evaluator("dev", copy), copy, read_tfvars("dev")) == [
        "aws_backup_plan.this: the copy to aws_backup_vault.dr is deleted after [] days"
    ]


def test_a_retention_that_ignores_the_environment_is_caught(tmp_path: Path):
    rule = "\n    lifecycle {\n      delete_after = var.backup_retention_days\n    }\n"
    copy = planted_copy(tmp_path, "backup.tf", rule, rule.replace("var.backup_retention_days", "35"))
    assert problems(evaluator("dev", copy), copy, read_tfvars("dev")) == [
        "aws_backup_plan.this: a rule deletes recovery points after [35], not [7] days"
    ]
    tfvars = {**read_tfvars("staging"), "rds_backup_retention_days": 3}
    assert problems(evaluator("staging"), TERRAFORM_DIR, tfvars) == [
        "aws_db_instance.webui: backup_retention_period 7, rds_backup_retention_days is 3",
        "aws_db_instance_automated_backups_replication.webui: retention_period 7, rds_backup_retention_days is 3",
    ]


def test_a_plan_nothing_is_attached_to_is_caught(tmp_path: Path):
    copy = planted_copy(tmp_path, "backup.tf", "    aws_dynamodb_table.data.arn,\n", "")
    assert problems(evaluator("production", copy), copy, read_tfvars("production")) == [
        "aws_backup_plan.this: no backup selection attaches ['aws_dynamodb_table']"
    ]
