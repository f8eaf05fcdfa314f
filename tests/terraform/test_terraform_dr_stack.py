"""A DR stack needs nothing from the region it replaces, nor any write to IAM.

playbooks/dr.yml rebuilds an environment in its DR region with the environment's variables, the regions swapped and
dr_mode set (terraform_helpers.stack_variables, held to playbooks/tasks/dr_recreate.yml below): in that stack
var.dr_region is the lost primary. Evaluated offline (tools/hcl_eval.py) for a drill and a failover of each environment:
no resource, data source or module call uses a provider of another region, and each such provider points at the stack's
own region (Terraform configures every provider a resource names, even one with count 0, and configuring the AWS
provider calls STS in its region). The primary stack, by contrast, creates what it prepares in the DR region.

IAM is global and its control plane is in us-east-1: a DR stack creates no IAM resource and launches with the roles
the primary created for its region; the service roles it names are the primary's (tests/terraform/
test_terraform_instance_roles.py holds the DR region's instance roles to what the DR stacks' programs call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import (
    DR_RECREATE,
    DR_TFVARS_SUBSTITUTIONS,
    ENVIRONMENTS,
    TERRAFORM_DIR,
    evaluator,
    planted_copy,
    stack_variables,
)

from tools.hcl_eval import Evaluator, load_configuration

DR_MODES = ("drill", "failover")
# Providers whose region is not the stack's own.
OTHER_REGION_PROVIDERS = ("aws.dr",)
# What the primary stack creates in its DR region, ahead of any disaster.
PREPARED_IN_THE_DR_REGION = {
    "aws_kms_key.dr",
    "aws_kms_alias.dr",
    "aws_backup_vault.dr",
    "aws_db_instance_automated_backups_replication.webui",
    "aws_ssm_parameter.dr_uploads_bucket",
    "module.backups_dr_bucket",
    "module.uploads_dr_bucket",
}
TIERS = ("frontend", "backend")
UPLOADS = "ollama-drill-uploads-123456789012-us-west-2"


def dr_stack(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> Evaluator:
    """The stack dr.yml applies (mode "drill" or "failover"), or the primary stack (mode "")."""
    variables = stack_variables(environment, mode, UPLOADS if mode else "", terraform_dir)
    return evaluator(environment, terraform_dir, variables)


def symbolic_stack(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> Evaluator:
    """The same stack with apply-time values kept by name (ARNs built from the account and partition)."""
    variables = stack_variables(environment, mode, UPLOADS if mode else "", terraform_dir)
    return Evaluator(load_configuration(terraform_dir), variables, symbolic=True)


def created(stack: Evaluator, types: tuple[str, ...]) -> dict[str, int]:
    """Managed resources of the given types (prefixes such as "aws_iam_") the stack creates: address -> number of
    instances (those with none left out)."""
    counts = {address: len(stack.instances(address)) for address in stack.resources if address.startswith(types)}
    return {address: count for address, count in counts.items() if count}


def attribute(stack: Evaluator, address: str, key: Any, name: str) -> Any:
    """An argument of one instance of a resource, evaluated in that instance's scope."""
    return stack.value(stack.resources[address][name], stack.instances(address)[key])


def iam_findings(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """What a DR stack would write to IAM, and the roles it names that the primary does not create."""
    stack, primary = symbolic_stack(environment, mode, terraform_dir), symbolic_stack(environment, "", terraform_dir)
    findings = [f"{address} is created ({count})" for address, count in created(stack, ("aws_iam_",)).items()]
    arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}"
    profiles = stack.value("${local.instance_profile_arns}")
    for tier in TIERS:
        made = attribute(primary, "aws_iam_role.dr_instance", tier, "name")
        if profiles[tier] != f"{arn}:instance-profile/{made}":
            findings.append(
                f"the {tier} instances launch with {profiles[tier]}, not the profile {made} the primary made"
            )
    for role, arn_used in stack.value("${local.service_role_arns}").items():
        made = attribute(primary, f"aws_iam_role.{role}", 0, "name")
        if arn_used != f"{arn}:role/{made}":
            findings.append(f"{role}: {arn_used} is not the role {made} the primary made")
    # The primary's flow-logs role may write to the DR stack's flow-log group.
    group = stack.value("${local.log_groups.flow_logs}")
    region = stack.variables["aws_region"]
    (statement,) = primary.blocks(primary.resources["data.aws_iam_policy_document.flow_logs"], "statement")
    granted = primary.value(statement[0]["resources"], statement[1])
    if not any(
        r.endswith(f":logs:{region}:${{data.aws_caller_identity.current.account_id}}:log-group:{group}")
        for r in granted
    ):
        findings.append(f"the flow-logs role may not write to {group} in {region}")
    return findings


def provider_regions(stack: Evaluator, terraform_dir: Path = TERRAFORM_DIR) -> dict[str, Any]:
    """Each provider configuration (aws, aws.<alias>) and the region it is configured with."""
    regions = {}
    for document in load_configuration(terraform_dir).values():
        for group in document.get("provider", []):
            for name, body in group.items():
                if not name.startswith("__"):
                    alias = stack.value(body["alias"]) if "alias" in body else None
                    regions[f"{name}.{alias}" if alias else name] = stack.value(body["region"])
    return regions


def provider_users(stack: Evaluator, terraform_dir: Path = TERRAFORM_DIR) -> dict[str, tuple[str, int]]:
    """Resources, data sources and module calls given a provider configuration explicitly: address -> (provider,
    number of instances the stack creates)."""
    users = {}
    for address, body in stack.resources.items():
        if "provider" in body:
            users[address] = (str(body["provider"]).strip("${}"), len(stack.instances(address)))
    for document in load_configuration(terraform_dir).values():
        for group in document.get("module", []):
            for name, body in group.items():
                if name.startswith("__") or "providers" not in body:
                    continue
                if "count" in body:
                    instances = int(stack.value(body["count"]))
                elif "for_each" in body:
                    instances = len(stack.value(body["for_each"]))
                else:
                    instances = 1
                for provider in body["providers"].values():
                    users[f"module.{name}"] = (str(provider).strip("${}"), instances)
    return users


def other_region_findings(stack: Evaluator, terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """What a DR stack would ask of another region: a provider of another region that a resource, data source or
    module call uses, or one configured for another region."""
    own = stack.variables["aws_region"]
    findings = [
        f"{address} uses {provider} ({count} instance{'s' if count != 1 else ''})"
        for address, (provider, count) in sorted(provider_users(stack, terraform_dir).items())
        if provider in OTHER_REGION_PROVIDERS and count > 0
    ]
    findings += [
        f"provider {name} is configured for {region}, not the stack's region {own}"
        for name, region in provider_regions(stack, terraform_dir).items()
        if name in OTHER_REGION_PROVIDERS and region != own
    ]
    return findings


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_asks_nothing_of_another_region(environment, mode):
    stack = dr_stack(environment, mode)
    assert stack.variables["dr_region"] == dr_stack(environment, "").variables["aws_region"], "the lost primary"
    assert other_region_findings(stack) == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_primary_prepares_the_dr_region(environment):
    stack = dr_stack(environment, "")
    prepared = {
        address for address, (provider, count) in provider_users(stack).items() if provider == "aws.dr" and count > 0
    }
    assert prepared == PREPARED_IN_THE_DR_REGION
    assert provider_regions(stack)["aws.dr"] == stack.variables["dr_region"]


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_writes_nothing_to_iam_and_runs_with_the_primarys_roles(environment, mode):
    assert iam_findings(environment, mode) == []


def test_the_primary_makes_the_dr_regions_instance_roles():
    primary = symbolic_stack("production", "")
    made = created(primary, ("aws_iam_",))
    assert made["aws_iam_role.dr_instance"] == 2 and made["aws_iam_instance_profile.this"] == 4
    names = {tier: attribute(primary, "aws_iam_role.dr_instance", tier, "name") for tier in TIERS}
    assert names == {"frontend": "ollama-us-west-2-frontend-role", "backend": "ollama-us-west-2-backend-role"}


def test_the_dr_variables_are_the_ones_dr_yml_writes():
    """terraform_helpers mirrors the substitutions of the task that writes a DR stack's variables."""
    task = DR_RECREATE.read_text()
    for pattern, replacement in DR_TFVARS_SUBSTITUTIONS:
        assert f"regex_replace('{pattern}'" in task, pattern
        if replacement:
            before = replacement.split("{")[0]
            assert f"'{before}' ~ " in task, replacement
    variables = stack_variables("production", "failover", UPLOADS)
    primary = stack_variables("production")
    assert (variables["aws_region"], variables["dr_region"]) == (primary["dr_region"], primary["aws_region"])
    assert (variables["dr_mode"], variables["dr_uploads_bucket"]) == ("failover", UPLOADS)


PLANTS = [
    pytest.param("kms.tf", 'resource "aws_kms_key" "dr" {\n  count    = local.is_primary ? 1 : 0\n',
                 'resource "aws_kms_key" "dr" {\n  count    = 1\n', "aws_kms_key.dr uses aws.dr (1 instance)",
                 id="dr-key-in-a-dr-stack"),
    pytest.param("s3.tf", '  count     = local.is_primary ? 1 : 0\n  providers = { aws = aws.dr }',
                 "  providers = { aws = aws.dr }", "module.backups_dr_bucket uses aws.dr (1 instance)",
                 id="backups-replica-in-a-dr-stack"),
    pytest.param("providers.tf", "region              = local.is_primary ? var.dr_region : var.aws_region",
                 "region              = var.dr_region",
                 "provider aws.dr is configured for us-east-1, not the stack's region us-west-2",
                 id="provider-in-the-lost-region"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PLANTS)
def test_planted_use_of_the_lost_region_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    findings = other_region_findings(dr_stack("dev", "failover", copy), copy)
    assert expected in findings, findings


IAM_PLANTS = [
    pytest.param("iam.tf", 'resource "aws_iam_role" "backup" {\n  count = local.is_primary ? 1 : 0\n',
                 'resource "aws_iam_role" "backup" {\n  count = 1\n', "aws_iam_role.backup is created (1)",
                 id="role-in-a-dr-stack"),
    pytest.param("locals.tf", '"${local.primary_name_prefix}-${region}-${tier}-role"',
                 '"${local.name_prefix}-${region}-${tier}-role"',
                 "the frontend instances launch with", id="drill-role-of-its-own"),
    pytest.param("iam.tf", "for region in [var.aws_region, var.dr_region] : [", "for region in [var.aws_region] : [",
                 "the flow-logs role may not write to /ollama/dev/vpc-flow-logs in us-west-2",
                 id="flow-logs-one-region"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), IAM_PLANTS)
def test_planted_iam_write_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    findings = iam_findings("dev", "drill", copy)
    assert any(expected in f for f in findings), findings
