"""A DR stack needs nothing from the region it replaces, and writes nothing to a global service's control plane.

playbooks/dr.yml rebuilds an environment in its DR region with the environment's variables, the regions swapped and
dr_mode set (terraform_helpers.stack_variables, held to playbooks/tasks/dr_recreate.yml below): in that stack
var.dr_region is the lost primary. Evaluated offline (tools/hcl_eval.py) for a drill and a failover of each environment:
no resource, data source or module call uses a provider of another region (aws.dr, aws.us_east_1), each such provider
points at the stack's own region (Terraform configures every provider a resource names, even one with count 0, and
configuring the AWS provider calls STS in its region), and no argument of anything the stack plans names the lost
region. The primary stack, by contrast, creates what it prepares in the DR region.

Global services keep their control planes in us-east-1 (IAM, Route 53, CloudFront and its WAF, Budgets, Cost Explorer):
a DR stack creates nothing there and reads nothing from them. It launches with the instance roles the primary created
for its region and names the primary's service roles (tests/terraform/test_terraform_instance_roles.py holds those
roles to what the DR stacks' programs call); its load balancers use the certificate the primary issued for its region,
and its entry load balancers take the addresses the primary published in advance: the Elastic IPs of origin.<domain>'s
secondary record and the fixed private addresses of backend.<DR region>.<domain>. The primary's failover pair answers
with them when its health check on the primary's load balancer fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import (
    DR_DATABASE_BACKUP_ARN,
    DR_RECREATE,
    DR_TFVARS_SUBSTITUTIONS,
    ENVIRONMENTS,
    TERRAFORM_DIR,
    evaluator,
    planted_copy,
    stack_variables,
)

from tools.dr_stack_needs import needs, settings_from_terraform
from tools.hcl_eval import Evaluator, HclEvalError, load_configuration

DR_MODES = ("drill", "failover")
# Providers whose region is not the stack's own.
OTHER_REGION_PROVIDERS = ("aws.dr", "aws.us_east_1")
# What the primary stack creates in its DR region, ahead of any disaster.
PREPARED_IN_THE_DR_REGION = {
    "aws_kms_key.dr",
    "aws_kms_alias.dr",
    "aws_backup_vault.dr",
    "aws_db_instance_automated_backups_replication.webui",
    "aws_ssm_parameter.dr_uploads_bucket",
    "module.backups_dr_bucket",
    "module.uploads_dr_bucket",
    "aws_eip.dr_entry",
    "aws_acm_certificate.dr",
    "aws_acm_certificate_validation.dr",
}
# Global services: their control planes are in us-east-1 (a DR stack neither writes nor reads them). IAM policy
# documents are computed by the provider itself, without a call.
GLOBAL_SERVICES = ("aws_iam_", "aws_route53_", "aws_cloudfront_", "aws_wafv2_", "aws_budgets_", "aws_ce_")
LOCAL_DATA_SOURCES = ("data.aws_iam_policy_document.",)
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
    document = "data.aws_iam_policy_document.flow_logs"
    (statement,) = primary.blocks(primary.resources[document], "statement", primary.instances(document)[0])
    granted = primary.value(statement[0]["resources"], statement[1])
    if not any(
        r.endswith(f":logs:{region}:${{data.aws_caller_identity.current.account_id}}:log-group:{group}")
        for r in granted
    ):
        findings.append(f"the flow-logs role may not write to {group} in {region}")
    return findings


def global_findings(stack: Evaluator) -> list[str]:
    """What a stack creates in, or reads from, a global service."""
    found = []
    for address in stack.resources:
        bare = address.removeprefix("data.")
        if bare.startswith(GLOBAL_SERVICES) and not address.startswith(LOCAL_DATA_SOURCES):
            count = len(stack.instances(address))
            if count:
                found.append(f"{address}: {'reads' if address.startswith('data.') else 'creates'} {count}")
    return found


NOT_ARGUMENTS = {"count", "for_each", "provider", "depends_on", "lifecycle", "dynamic"}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _arguments(stack: Evaluator, body: dict[str, Any], scope: dict[str, Any], path: str) -> list[tuple[str, Any]]:
    """(argument path, value) of a block, its nested blocks and the blocks its dynamic blocks make."""
    found = []
    for name, value in body.items():
        if name.startswith("__") or name in NOT_ARGUMENTS:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("__is_block__") for v in value):
            for block in value:
                found += _arguments(stack, block, scope, f"{path}.{name}")
            continue
        try:
            found.append((f"{path}.{name}", stack.value(value, scope)))
        except (HclEvalError, IndexError, KeyError, TypeError, ValueError, AttributeError):
            continue  # a value this evaluator cannot decide: it names no region it could see
    for group in body.get("dynamic", []):
        for name in group:
            if name.startswith("__"):
                continue
            written = len([b for b in body.get(name, []) if isinstance(b, dict)])
            for content, bound in stack.blocks(body, name, scope)[written:]:
                found += _arguments(stack, content, bound, f"{path}.{name}")
    return found


def lost_region_findings(stack: Evaluator) -> list[str]:
    """Arguments of what a stack plans (resources and data sources) that name var.dr_region: in a DR stack, the lost
    primary. Evaluate the stack symbolically, so that a name with an apply-time part keeps its region. A resource whose
    instances cannot be decided is a finding in a DR stack (which plans only what it can decide)."""
    region, found = stack.variables["dr_region"], []
    for address, body in stack.resources.items():
        try:
            instances = stack.instances(address)
        except HclEvalError as error:
            if stack.variables["dr_mode"]:
                found.append(f"{address}: {error}")
            continue
        for key, scope in instances.items():
            where = address if key is None else f"{address}[{key!r}]"
            for path, value in _arguments(stack, body, scope, where):
                # IAM is global: the primary's roles carry its region in their names, and no call goes there.
                if any(region in s for s in _strings(value) if ":iam::" not in s):
                    found.append(f"{path} names {region}")
    return found


def prepared_findings(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """What a DR stack looks up or fronts that the primary did not prepare for it."""
    stack, primary = symbolic_stack(environment, mode, terraform_dir), symbolic_stack(environment, "", terraform_dir)
    findings = []
    wanted = [attribute(stack, "data.aws_eip.dr_entry", i, "filter") for i in stack.instances("data.aws_eip.dr_entry")]
    held = [attribute(primary, "aws_eip.dr_entry", i, "tags")["Name"] for i in primary.instances("aws_eip.dr_entry")]
    if [one_filter[0]["values"] for one_filter in wanted] != [[name] for name in held]:
        findings.append(f"the public entry looks up Elastic IPs {wanted}, the primary holds {held}")
    domain = attribute(stack, "data.aws_acm_certificate.dr_region", 0, "domain")
    issued = [attribute(primary, "aws_acm_certificate.dr", 0, "domain_name")]
    issued += attribute(primary, "aws_acm_certificate.dr", 0, "subject_alternative_names")
    backend = stack.value("${local.backend_host}")
    if domain != issued[0] or backend not in issued:
        findings.append(f"the DR stack's names {domain}, {backend} are not those of the certificate issued {issued}")
    if backend != attribute(primary, "aws_route53_record.dr_backend", 0, "name"):
        findings.append(f"the frontends call {backend}, the primary published another name")
    published = attribute(primary, "aws_route53_record.dr_backend", 0, "records")
    mappings = stack.blocks(
        stack.resources["aws_lb.entry"], "subnet_mapping", stack.instances("aws_lb.entry")["internal"]
    )
    fixed = [stack.value(m["private_ipv4_address"], scope) for m, scope in mappings]
    if fixed != published:
        findings.append(f"the internal entry takes {fixed}, backend's record names {published}")
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
    # Without failover routing (dev) no entry addresses are held.
    assert prepared == PREPARED_IN_THE_DR_REGION - (
        set() if stack.variables["dr_failover_routing"] else {"aws_eip.dr_entry"}
    )
    assert provider_regions(stack)["aws.dr"] == stack.variables["dr_region"]


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_names_nothing_in_the_lost_region(environment, mode):
    assert lost_region_findings(symbolic_stack(environment, mode)) == []


def test_the_primary_names_its_dr_region():
    """The same walk over the primary sees what it prepares there (the walk reaches the arguments it checks)."""
    found = lost_region_findings(symbolic_stack("production", ""))
    assert "aws_route53_record.origin_secondary[0].set_identifier names us-west-2" in found
    assert any(f.startswith("aws_secretsmanager_secret.this['webui_secret_key'].replica.region") for f in found), found


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_writes_nothing_to_a_global_service(environment, mode):
    assert global_findings(symbolic_stack(environment, mode)) == []


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_runs_with_the_primarys_roles(environment, mode):
    assert iam_findings(environment, mode) == []


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_dr_stack_fronts_what_the_primary_prepared(environment, mode):
    assert prepared_findings(environment, mode) == []


def test_origin_fails_over_by_health_to_the_dr_entry():
    """origin.<domain>, CloudFront's origin: PRIMARY the primary's public ALB while the health check on that ALB's
    health path passes, SECONDARY the Elastic IPs the DR entry takes."""
    primary = symbolic_stack("production", "")

    def record(name: str) -> dict[str, Any]:
        address = f"aws_route53_record.{name}"
        body, scope = primary.resources[address], primary.instances(address)[0]
        found = {k: primary.value(v, scope) for k, v in body.items() if k[:2] != "__" and k != "dynamic"}
        found["failover"] = [
            primary.value(p["type"], s) for p, s in primary.blocks(body, "failover_routing_policy", scope)
        ]
        return found

    primary_record, secondary = record("origin"), record("origin_secondary")
    assert primary_record["name"] == secondary["name"] == primary.value("${local.origin_host}")
    assert primary_record["type"] == secondary["type"] == "A"
    assert (primary_record["failover"], secondary["failover"]) == (["PRIMARY"], ["SECONDARY"])
    assert primary_record["set_identifier"] != secondary["set_identifier"]
    assert str(primary_record["health_check_id"]) == "${aws_route53_health_check.primary[0].id}"
    assert [str(a["name"]) for a in primary_record["alias"]] == ["${aws_lb.public.dns_name}"]
    assert [str(r) for r in secondary["records"]] == [f"${{aws_eip.dr_entry[{i}].public_ip}}" for i in range(3)]
    health_check = "aws_route53_health_check.primary"
    check = {k: attribute(primary, health_check, 0, k) for k in primary.resources[health_check] if k[:2] != "__"}
    assert (str(check["fqdn"]), check["type"], check["port"]) == ("${aws_lb.public.dns_name}", "HTTPS", 443)
    (condition,) = primary.resources["aws_lb_listener_rule.health"]["condition"]
    assert check["resource_path"] == primary.value(condition["path_pattern"][0]["values"])[0]


def test_without_failover_routing_origin_is_a_plain_record():
    """dev (var.dr_failover_routing = false): no health check, no addresses held, origin.<domain> one plain record."""
    dev = symbolic_stack("dev", "")
    assert created(dev, ("aws_route53_health_check", "aws_eip.dr_entry", "aws_route53_record.origin_secondary")) == {}
    body, scope = dev.resources["aws_route53_record.origin"], dev.instances("aws_route53_record.origin")[0]
    assert dev.blocks(body, "failover_routing_policy", scope) == []
    assert dev.value(body["set_identifier"], scope) is None


def test_the_primary_makes_the_dr_regions_instance_roles():
    primary = symbolic_stack("production", "")
    made = created(primary, ("aws_iam_",))
    assert made["aws_iam_role.dr_instance"] == 2 and made["aws_iam_instance_profile.this"] == 4
    names = {tier: attribute(primary, "aws_iam_role.dr_instance", tier, "name") for tier in TIERS}
    assert names == {"frontend": "ollama-us-west-2-frontend-role", "backend": "ollama-us-west-2-backend-role"}


@pytest.mark.parametrize("mode", ["drill", "failover"])
def test_a_dr_stacks_database_is_restored_from_the_replicated_backups(mode):
    """The DR stack's database starts from the primary's automated backups replicated to its region, at their latest
    restorable time (users, chats, document vectors); the primary's starts empty."""

    def restores(stack: Evaluator) -> list[dict[str, Any]]:
        (instance,) = stack.instances("aws_db_instance.webui").values()
        body = stack.resources["aws_db_instance.webui"]
        found = stack.blocks(body, "restore_to_point_in_time", instance)
        return [{k: stack.value(content[k], scope) for k in content if k != "__is_block__"} for content, scope in found]

    assert restores(dr_stack("production", mode)) == [
        {"source_db_instance_automated_backups_arn": DR_DATABASE_BACKUP_ARN, "use_latest_restorable_time": True}
    ]
    assert restores(dr_stack("production", "")) == []
    # RestoreDBInstanceToPointInTime keeps the backups' key (the DR key): naming another replaces the database at the
    # next apply, as would a restore block that a later apply does not ignore.
    keys = {}
    for name, stack in (("dr", symbolic_stack("production", mode)), ("primary", symbolic_stack("production", ""))):
        (key,) = stack.instances("aws_db_instance.webui")
        keys[name] = str(attribute(stack, "aws_db_instance.webui", key, "kms_key_id"))
    assert keys == {"dr": "${data.aws_kms_key.dr_region[0].arn}", "primary": "${aws_kms_key.data.arn}"}
    dr_key_alias = attribute(dr_stack("production", mode), "data.aws_kms_key.dr_region", 0, "key_id")
    assert dr_key_alias == "alias/ollama-dr", "the DR key is the one the primary's replicated backups use (backup.tf)"
    (lifecycle,) = symbolic_stack("production", mode).resources["aws_db_instance.webui"]["lifecycle"]
    assert "restore_to_point_in_time" in lifecycle["ignore_changes"]


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


GLOBAL_PLANTS = [
    pytest.param("cloudfront.tf", "  #checkov:skip=CKV_AWS_305:the root path is Open-WebUI served by the ALB origin; "
                 "a default root object would rewrite / to an S3 key\n  count = local.is_primary ? 1 : 0\n",
                 "  #checkov:skip=CKV_AWS_305:x\n  count = 1\n", "aws_cloudfront_distribution.this: creates 1",
                 id="distribution-in-a-dr-stack"),
    pytest.param("acm.tf", '  for_each = local.is_primary ? toset(["A", "AAAA"]) : toset([])',
                 '  for_each = toset(["A", "AAAA"])', "aws_route53_record.service: creates 2",
                 id="records-in-a-dr-stack"),
    pytest.param("cloudfront.tf", '"disabled" {\n  count = local.is_primary ? 1 : 0\n', '"disabled" {\n',
                 "data.aws_cloudfront_cache_policy.disabled: reads 1", id="cloudfront-read-in-a-dr-stack"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), GLOBAL_PLANTS)
def test_planted_global_write_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    assert expected in global_findings(symbolic_stack("dev", "failover", copy))


LOST_REGION_PLANTS = [
    pytest.param("iam.tf", '  count = local.is_primary ? 1 : 0\n\n  statement {\n    actions   = ["logs:Create',
                 '  statement {\n    actions   = ["logs:Create',
                 "data.aws_iam_policy_document.flow_logs.statement.resources", id="primary-policy-in-a-dr-stack"),
    pytest.param("dynamodb.tf", "    for_each = local.is_primary ? [var.dr_region] : []",
                 "    for_each = [var.dr_region]", "aws_dynamodb_table.data.replica.region_name",
                 id="table-replica-in-the-lost-region"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), LOST_REGION_PLANTS)
def test_planted_mention_of_the_lost_region_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    found = lost_region_findings(symbolic_stack("dev", "failover", copy))
    assert any(f.startswith(expected) and "names us-east-1" in f for f in found), found


PREPARED_PLANTS = [
    pytest.param("failover.tf", "cidrhost(cidr, -6)", "cidrhost(cidr, -6 + (local.is_primary ? 0 : 1))",
                 "the internal entry takes", id="entry-addresses-diverge"),
    pytest.param("data.tf", '"backend.${var.aws_region}.${var.domain_name}"', '"backend-dr.${var.domain_name}"',
                 "not those of the certificate issued", id="backend-name-diverges"),
    pytest.param("failover.tf", 'values = ["${local.names.dr_entry}-${count.index}"]',
                 'values = ["${local.names.entry}-${count.index}"]', "the public entry looks up Elastic IPs",
                 id="entry-addresses-by-another-name"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PREPARED_PLANTS)
def test_planted_divergence_from_what_the_primary_prepared_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    assert any(expected in f for f in prepared_findings("staging", "drill", copy))


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


# ---------------------------------------------------------------------------------------- what dr.yml checks first
def looked_up(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> dict[str, list]:
    """By kind, what a DR stack finds by name (its data sources, its roles and profiles by ARN), the records its
    traffic takes (made by the primary), and the Elastic IPs it allocates itself: as tools/dr_stack_needs.py lists
    them, from the DR stack's Terraform with the variables dr.yml writes."""
    stack, primary = symbolic_stack(environment, mode, terraform_dir), symbolic_stack(environment, "", terraform_dir)

    def each(address: str, name: str) -> list:
        return [attribute(stack, address, key, name) for key in stack.instances(address)]

    secondary, backend = "aws_route53_record.origin_secondary", "aws_route53_record.dr_backend"
    return {
        "instance_profile": sorted(a.rsplit("/", 1)[1] for a in stack.value("${local.instance_profile_arns}").values()),
        "role": sorted(a.rsplit("/", 1)[1] for a in stack.value("${local.service_role_arns}").values()),
        "kms_alias": each("data.aws_kms_key.dr_region", "key_id"),
        "certificate": [(name, [stack.value("${local.backend_host}")]) for name in each(CERTIFICATE, "domain")],
        "elastic_ip": [one_filter[0]["values"][0] for one_filter in each("data.aws_eip.dr_entry", "filter")],
        "failover_record": [attribute(primary, secondary, 0, "name") for _ in primary.instances(secondary)],
        "record": [attribute(primary, backend, 0, "name")],
        "secrets": sorted(each("data.aws_secretsmanager_secret.replica", "name")),
        "own_addresses": [tags["Name"] for tags in each("aws_eip.nat", "tags")],
    }


CERTIFICATE = "data.aws_acm_certificate.dr_region"


def listed(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> dict[str, list]:
    """The same, as tools/dr_stack_needs.py lists it for dr.yml (and the twin's stand-in makes it)."""
    primary = stack_variables(environment, "", "", terraform_dir)
    settings = settings_from_terraform(
        environment,
        primary["aws_region"],
        primary["dr_region"],
        mode,
        terraform_dir / "environments" / f"{environment}.tfvars",
        terraform_dir,
    )
    result = needs(settings)
    by_kind: dict[str, list] = {}
    for item in result["prepared"]:
        value = (item["name"], item["alternative_names"]) if item["kind"] == "certificate" else item["name"]
        by_kind.setdefault(item["kind"], []).append(value)
        if "zone_id" in item:
            assert item["zone_id"] == primary["route53_zone_id"], item
    for kind in ("instance_profile", "role"):
        by_kind[kind] = sorted(by_kind[kind])
    return {**by_kind, "secrets": sorted(result["secrets"]), "own_addresses": result["own_addresses"]}


def needs_findings(environment: str, mode: str, terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    terraform, checked = looked_up(environment, mode, terraform_dir), listed(environment, mode, terraform_dir)
    kinds = sorted(set(terraform) | set(checked))
    return [
        f"{kind}: the DR stack's Terraform has {terraform.get(kind, [])}, dr.yml checks {checked.get(kind, [])}"
        for kind in kinds
        if terraform.get(kind, []) != checked.get(kind, [])
    ]


@pytest.mark.parametrize("mode", DR_MODES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dr_yml_checks_what_a_dr_stack_looks_up(environment, mode):
    """playbooks/dr.yml's prerequisite check (tools/dr_stack_needs.py) lists exactly what the DR stack finds by name
    and the records its traffic takes. A drill and a failover need the same from the primary: only the addresses the
    stack allocates itself carry its own names."""
    assert needs_findings(environment, mode) == []
    if mode == "drill":
        drill, failover = listed(environment, "drill"), listed(environment, "failover")
        assert {k: v for k, v in drill.items() if k != "own_addresses"} == {
            k: v for k, v in failover.items() if k != "own_addresses"
        }


NEEDS_PLANTS = [
    pytest.param("locals.tf", 'dr_entry          = "${local.primary_name_prefix}-dr-entry"',
                 'dr_entry          = "${local.primary_name_prefix}-entry-dr"', "elastic_ip: ",
                 id="entry-addresses-renamed"),
    pytest.param("locals.tf", 'kms_dr_alias     = "alias/${local.primary_name_prefix}-dr"',
                 'kms_dr_alias     = "alias/${local.primary_name_prefix}-disaster"', "kms_alias: ",
                 id="dr-key-renamed"),
    pytest.param("secrets.tf", '    origin_verify        = { name = local.names.origin_secret,',
                 '    extra                = { name = "${local.primary_name_prefix}/extra", description = "x", '
                 'length = 8 }\n    origin_verify        = { name = local.names.origin_secret,', "secrets: ",
                 id="secret-added"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), NEEDS_PLANTS)
def test_planted_divergence_from_what_dr_yml_checks_is_caught(tmp_path, filename, old, new, expected):
    copy = planted_copy(tmp_path, filename, old, new)
    findings = needs_findings("production", "failover", copy)
    assert any(f.startswith(expected) for f in findings), findings


def test_the_list_refuses_settings_it_cannot_be_made_from(capsys):
    import json

    from tools import dr_stack_needs

    regions = ["--primary-region", "us-east-1", "--dr-region", "us-west-2"]
    twin = ["--environment", "local", *regions, "--twin"]
    for settings, expected in (
        ('{"domain": "chat.local.test"}', "unknown setting(s) domain: use az_count, domain_name"),
        ('{"domain_name": "chat.local.test"}', "domain chat.local.test has no route53_zone_id"),
        ('{"dr_failover_routing": true}', "failover routing needs a domain"),
        ("[]", "--settings must be a JSON object"),
    ):
        assert dr_stack_needs.main([*twin, "--settings", settings]) == 2
        assert expected in capsys.readouterr().err, settings
    staging = str(TERRAFORM_DIR / "environments" / "staging.tfvars")
    assert dr_stack_needs.main(["--environment", "production", *regions, "--tfvars", staging]) == 2
    assert "staging.tfvars is the settings file of staging, not of production" in capsys.readouterr().err
    # The twin without a domain: no certificate, entry or record; its fix names the twin's stand-in.
    assert dr_stack_needs.main(twin) == 0
    listed_for_twin = json.loads(capsys.readouterr().out)
    assert {item["kind"] for item in listed_for_twin["prepared"]} == {"instance_profile", "role", "kms_alias"}
    assert all("python -m tools.twin.dr prepare" in item["fix"] for item in listed_for_twin["prepared"])
