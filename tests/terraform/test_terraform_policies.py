"""Policies over the parsed HCL and the naming locals as Terraform evaluates them per environment.

Tags, naming, bucket hardening, descriptions/types, environment differences, secrets and network exposure.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from terraform_helpers import ENVIRONMENTS, TERRAFORM_DIR, blocks, read_tfvars

from tools.provider_schema.check import load_schema

REQUIRED_TAGS = {"Project", "Environment", "ManagedBy", "Service"}
CONCERN_FILES = [
    "versions.tf", "providers.tf", "backend.tf", "locals.tf", "variables.tf", "outputs.tf", "vpc.tf", "alb.tf",
    "asg.tf", "dynamodb.tf", "s3.tf", "cloudfront.tf", "iam.tf", "monitoring.tf", "kms.tf", "rds.tf",
    "elasticache.tf", "waf.tf", "backup.tf", "secrets.tf", "budgets.tf", "endpoints.tf", "security_groups.tf",
    "timeouts.tf", "modules/s3_bucket/main.tf",
]  # fmt: skip
ANSIBLE_OUTPUTS = [
    "ollama_alb_dns_name", "ollama_cloudfront_domain_name", "ollama_backend_asg_name", "ollama_frontend_asg_name",
    "ollama_data_table_name", "ollama_backups_bucket_name", "ollama_assets_bucket_name", "ollama_logs_bucket_name",
    "ollama_uploads_bucket_name", "ollama_sns_topic_arn", "ollama_api_token_secret_arn", "ollama_webui_secret_arn",
    "ollama_ami_parameter_name", "ollama_region", "ollama_environment", "ollama_resource_names",
]  # fmt: skip


def _one(value: Any) -> Any:
    """A block's single body (blocks parse as lists of bodies)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _resources(hcl, rtype: str | None = None) -> list[tuple[str, str, str, dict]]:
    return [r for r in blocks(hcl, "resource") if rtype is None or r[1] == rtype]


# --- layout ---


@pytest.mark.parametrize("filename", CONCERN_FILES)
def test_one_file_per_concern(filename):
    assert (TERRAFORM_DIR / filename).is_file(), f"terraform/{filename} is missing"


def test_backend_is_s3_without_hard_coded_values(hcl):
    (terraform,) = hcl["backend.tf"]["terraform"]
    (backend,) = terraform["backend"]
    assert set(backend) == {"s3"}, backend
    assert set(backend["s3"]) == {"__is_block__"}, f"backend.tf must not hard-code backend values: {backend}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_backend_config_per_environment(environment):
    path = TERRAFORM_DIR / "environments" / f"{environment}.s3.tfbackend"
    config = dict(re.findall(r'^(\w+)\s*=\s*"?([^"\n]+)"?\s*$', path.read_text(), flags=re.MULTILINE))
    assert set(config) == {"bucket", "key", "region", "dynamodb_table", "encrypt"}, config
    tfvars = read_tfvars(environment)
    assert config["bucket"] == f"ollama-tfstate-ACCOUNT_ID-{tfvars['aws_region']}"
    assert config["region"] == tfvars["aws_region"]
    assert config["dynamodb_table"] == "ollama-tfstate-lock"
    assert config["encrypt"] == "true"


def test_versions_pin_terraform_and_aws_6(hcl):
    terraform = hcl["versions.tf"]["terraform"][0]
    assert terraform["required_version"].startswith(">= 1.")
    aws = terraform["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws" and aws["version"].startswith("~> 6.")


# --- tags ---


def _providers(hcl) -> list[dict]:
    return [body for _, name, _, body in blocks(hcl, "provider") if name == "aws"]


def test_every_provider_sets_default_tags_and_allowed_accounts(hcl):
    providers = _providers(hcl)
    assert len(providers) == 3
    for provider in providers:
        assert provider["allowed_account_ids"] == "${var.allowed_account_ids}"
        assert _one(provider["default_tags"])["tags"] == "${local.tags}", provider.get("alias", "default")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_default_tags_carry_the_required_keys(evaluated_names, environment):
    tags = evaluated_names[environment]["tags"]
    assert tags["Project"] == "ollama" and tags["Service"] == "ollama" and tags["ManagedBy"] == "terraform"
    assert tags["Environment"] == environment
    assert {"CostCenter", "Owner"} <= set(tags)


def test_every_taggable_resource_is_tagged(hcl):
    """default_tags cover resources with a `tags` argument; those without (ASGs) need propagating tag blocks, and
    launch templates must tag what they launch. Explicit tags must not override the required keys."""
    schema = load_schema()["resource"]
    for filename, rtype, name, body in _resources(hcl):
        if rtype == "terraform_data":
            continue
        spec = schema[rtype]
        where = f"{filename}: {rtype}.{name}"
        if "tags" in spec["a"]:
            explicit = body.get("tags", {})
            if isinstance(explicit, dict):
                assert not REQUIRED_TAGS & set(explicit), f"{where} overrides required default tags"
        elif "tag" in spec.get("b", {}):
            dynamic = [d["tag"] for d in body.get("dynamic", []) if "tag" in d]
            assert dynamic, f"{where}: tag the group with a dynamic tag block over local.tags"
            assert "local.tags" in dynamic[0]["for_each"]
            assert _one(dynamic[0]["content"])["propagate_at_launch"] is True
        if rtype == "aws_launch_template":
            specs = {s["resource_type"]: s for s in body["tag_specifications"]}
            assert set(specs) == {"instance", "volume"}, where
            assert all("local.tags" in s["tags"] for s in specs.values()), where


# --- naming ---


def test_name_prefix_rule_is_in_locals(hcl):
    locals_ = {k: v for group in hcl["locals.tf"]["locals"] for k, v in group.items()}
    rule = 'var.environment == "production" ? "ollama" : "ollama-${var.environment}"'
    assert locals_["primary_name_prefix"] == "${" + rule + "}"
    assert locals_["name_prefix"] == '${local.primary_name_prefix}${var.dr_mode == "drill" ? "-drill" : ""}'
    assert locals_["global_name_prefix"] == "${local.name_prefix}-${var.aws_region}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_names_follow_the_naming_function(evaluated_names, environment):
    evaluated = evaluated_names[environment]
    prefix = "ollama" if environment == "production" else f"ollama-{environment}"
    assert evaluated["name_prefix"] == prefix
    for purpose, name in evaluated["names"].items():
        bare = name.removeprefix("alias/")
        assert bare.startswith((f"{prefix}-", f"{prefix}/")), f"{purpose}: {name} does not start with {prefix}-"
        production_name = evaluated_names["production"]["names"][purpose]
        assert name == production_name.replace("ollama", prefix, 1), f"{purpose}: {name} vs {production_name}"


def test_production_names_are_exactly_the_required_ones(evaluated_names):
    names = evaluated_names["production"]["names"]
    assert names["asg"] == "ollama-asg"
    assert names["alb"] == "ollama-alb"
    assert (names["alb_sg"], names["frontend_sg"], names["backend_sg"]) == (
        "ollama-alb-sg",
        "ollama-frontend-sg",
        "ollama-backend-sg",
    )
    assert (names["high_cpu_alarm"], names["low_cpu_alarm"]) == ("ollama-high-cpu", "ollama-low-cpu")
    assert names["data_table"] == "ollama-data-table"
    for purpose in ("assets", "logs", "backups"):
        assert names[f"{purpose}_bucket"] == f"ollama-{purpose}-"  # bucket_prefix: AWS appends a unique suffix
    roles = {k: v for k, v in names.items() if k.endswith(("_role", "rds_monitoring"))}
    # Account-wide names carry the region (a stack rebuilt in the DR region creates its own).
    region = read_tfvars("production")["aws_region"]
    assert roles and all(re.fullmatch(rf"ollama-{region}-[a-z-]+-role", v) for v in roles.values()), roles


LIMITS = {"alb": 32, "internal_alb": 32, "frontend_tg": 32, "backend_tg": 32, "redis": 40, "rds": 63}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_names_fit_aws_length_limits(evaluated_names, environment):
    names = evaluated_names[environment]["names"]
    for purpose, limit in LIMITS.items():
        assert len(names[purpose]) <= limit, f"{names[purpose]} is longer than {limit} characters"
    for purpose, name in names.items():
        if purpose.endswith("_bucket"):
            assert len(name) <= 37, f"bucket_prefix {name} is longer than 37 characters"
            assert re.fullmatch(r"[a-z0-9-]+", name)
        if purpose.endswith("_role") or purpose == "rds_monitoring":
            assert len(name) <= 64


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_log_groups_are_per_environment(evaluated_names, environment):
    for source, group in evaluated_names[environment]["log_groups"].items():
        if source == "waf":  # WAF requires the aws-waf-logs- prefix
            assert group.startswith("aws-waf-logs-ollama")
        else:
            assert group.startswith(f"/ollama/{environment}/"), group


NAME_ARGUMENTS = (
    "name", "name_prefix", "bucket_prefix", "bucket", "identifier", "alarm_name", "replication_group_id",
    "dashboard_name", "scheduled_action_name", "table_name",
)  # fmt: skip
NAME_SOURCE = re.compile(
    r"local\.(names|name_prefix|global_name_prefix|log_groups|dr_parameter_names|instance_role_names)|each\.(value|key)"
)


def test_no_hard_coded_resource_names(hcl):
    """Every AWS name comes from the naming locals (directly or through for_each over them)."""
    for filename, rtype, name, body in _resources(hcl):
        if rtype == "aws_route53_record":  # DNS names under var.domain_name, not AWS resource names
            continue
        for argument in NAME_ARGUMENTS:
            value = body.get(argument)
            if argument == "bucket" and rtype != "aws_s3_bucket":
                continue
            if isinstance(value, str):
                assert NAME_SOURCE.search(value), f"{filename}: {rtype}.{name}.{argument} = {value!r} is hard-coded"


# --- buckets: test_terraform_buckets.py ---


# --- variables and outputs ---


def test_every_variable_is_described_and_typed(hcl):
    for _, name, _, body in blocks(hcl, "variable"):
        assert body.get("description", "").strip(), f"variable {name} has no description"
        assert body.get("type"), f"variable {name} has no type"


def test_every_output_is_described_and_prefixed(hcl):
    outputs = {name: body for _, name, _, body in blocks(hcl, "output")}
    for name, body in outputs.items():
        assert name.startswith("ollama_"), f"output {name} must start with ollama_"
        assert body.get("description", "").strip(), f"output {name} has no description"
    missing = set(ANSIBLE_OUTPUTS) - set(outputs)
    assert not missing, f"outputs the Ansible side reads are missing: {sorted(missing)}"


# --- environments ---


def _all_tfvars() -> dict[str, dict[str, Any]]:
    return {environment: read_tfvars(environment) for environment in ENVIRONMENTS}


def test_tfvars_set_the_same_declared_variables(hcl):
    declared = {name for _, name, _, _ in blocks(hcl, "variable")}
    keys = {environment: set(values) for environment, values in _all_tfvars().items()}
    assert keys["dev"] == keys["staging"] == keys["production"], keys
    assert keys["dev"] <= declared, f"undeclared variables in tfvars: {keys['dev'] - declared}"


def test_tfvars_name_their_environment():
    for environment, values in _all_tfvars().items():
        assert values["environment"] == environment


def test_environments_differ_where_they_must():
    tf = _all_tfvars()
    for key in ("ollama_backend_instance_types", "ollama_backend_capacity", "vpc_cidr", "monthly_budget_usd"):
        values = [json.dumps(tf[e][key], sort_keys=True) for e in ENVIRONMENTS]
        assert len(set(values)) == 3, f"{key} must differ per environment: {values}"
    assert tf["dev"]["log_retention_days"] < tf["production"]["log_retention_days"]
    assert tf["dev"]["backup_retention_days"] < tf["production"]["backup_retention_days"]
    assert tf["production"]["log_retention_days"] >= 30


def test_production_is_hardened():
    prod = read_tfvars("production")
    assert prod["az_count"] == 3
    assert prod["single_nat_gateway"] is False
    assert prod["deletion_protection"] is True
    assert prod["rds_multi_az"] is True
    assert prod["redis_num_cache_clusters"] >= 2
    assert prod["ollama_on_demand_percentage"] == 100
    # A fallback GPU type when the first runs out; that rules out a warm pool (docs/GPU.md).
    assert len(prod["ollama_backend_instance_types"]) >= 2 and prod["ollama_warm_pool_size"] == 0
    assert prod["ollama_scale_to_zero_schedule"]["enabled"] is False
    assert prod["ollama_backend_capacity"]["min"] >= prod["az_count"]
    assert prod["alarm_emails"], "production alarms must reach someone"


@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_non_production_saves_cost(environment):
    values = read_tfvars(environment)
    assert values["ollama_on_demand_percentage"] < 100, "non-production uses spot"
    assert values["ollama_scale_to_zero_schedule"]["enabled"] is True
    assert values["az_count"] >= 2


# --- secrets ---

SECRETISH = re.compile(r"password|secret|token|private_key|access_key", re.IGNORECASE)


def test_no_secrets_in_variables_or_tfvars(hcl):
    for _, name, _, body in blocks(hcl, "variable"):
        assert not SECRETISH.search(name), f"variable {name} looks like a secret: use Secrets Manager"
        assert body.get("sensitive") is not True, f"variable {name} is sensitive: secrets do not come from variables"
    for environment, values in _all_tfvars().items():
        assert not [k for k in values if SECRETISH.search(k)], environment


def test_no_secret_values_in_outputs(hcl):
    for _, name, _, body in blocks(hcl, "output"):
        value = str(body["value"])
        if SECRETISH.search(name):
            assert name.endswith("_arn"), f"output {name} must expose an ARN, not a secret"
        assert not re.search(r"secret_string|random_password|\.password|auth_token", value), f"output {name}"
        assert body.get("sensitive") is not True, f"output {name} is sensitive: outputs carry no secrets"


def test_generated_secrets_only_reach_write_only_arguments():
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "ephemeral." in line:
                key = line.split("=")[0].strip()
                assert key.endswith("_wo"), f"{path.name}:{number}: ephemeral values may only feed *_wo arguments"
            assert not re.match(r"\s*(password|auth_token|secret_string)\s*=", line), f"{path.name}:{number}: {line}"


# --- network exposure and hardening ---


def test_nothing_is_open_to_the_internet(hcl):
    for filename, rtype, name, body in _resources(hcl):
        if rtype.startswith("aws_vpc_security_group_") or rtype == "aws_security_group":
            text = json.dumps(body)
            assert "0.0.0.0/0" not in text and "::/0" not in text, f"{filename}: {rtype}.{name}"


# What an instance's boot calls (lifecycle hook, secrets, CloudWatch agent and its ASG dimension): every environment.
BOOT_PATH_ENDPOINTS = {"autoscaling", "secretsmanager", "logs", "monitoring", "ec2"}


def _interface_endpoints(hcl, environment=None):
    (variable,) = [b for _, n, _, b in blocks(hcl, "variable") if n == "vpc_interface_endpoints"]
    if environment is None:
        return set(variable["default"]), variable
    return set(read_tfvars(environment).get("vpc_interface_endpoints", variable["default"])), variable


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_keeps_the_boot_paths_endpoints(hcl, environment):
    endpoints, variable = _interface_endpoints(hcl, environment)
    assert endpoints >= BOOT_PATH_ENDPOINTS, f"{environment}: boot path needs {sorted(BOOT_PATH_ENDPOINTS - endpoints)}"
    condition = _one(variable["validation"])["condition"]
    assert set(re.findall(r'"([a-z0-9]+)"', condition.split("var.vpc_interface_endpoints")[0])) == BOOT_PATH_ENDPOINTS


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environments_with_frontend_replicas_restart_them_out_of_service(hcl, environment):
    """A frontend restarts out of its target group after a secret rotation through the elasticloadbalancing
    endpoint; an environment whose frontend group keeps two or more instances must have it (dev runs one and
    restarts in place: ollama-platform-drain falls back when the API cannot be reached)."""
    endpoints, _ = _interface_endpoints(hcl, environment)
    minimum = read_tfvars(environment)["ollama_frontend_capacity"]["min"]
    assert minimum < 2 or "elasticloadbalancing" in endpoints, f"{environment}: {minimum} frontends, no endpoint"


def test_instances_reach_every_api_they_call_through_endpoints(hcl):
    """Instances have no internet egress: each API the instance roles use must have a VPC endpoint by default."""
    endpoints = " ".join(f'"{e}"' for e in _interface_endpoints(hcl)[0])
    required = {"ssm", "ssmmessages", "ec2messages", "logs", "monitoring", "secretsmanager", "kms"}
    policy = json.dumps([b for _, _, n, b in blocks(hcl, "data") if n == "instance"])
    used = {action.split(":")[0] for action in re.findall(r'"([a-z0-9-]+:[A-Za-z*]+)"', policy)}
    gateway = {"s3", "dynamodb"}
    service_endpoint = {"cloudwatch": "monitoring", "secretsmanager": "secretsmanager", "ssm": "ssm", "kms": "kms"}
    needed = required | {service_endpoint.get(s, s) for s in used} - gateway
    missing = needed - set(re.findall(r'"([a-z0-9]+)"', endpoints))
    assert not missing, f"interface endpoints missing for {sorted(missing)}"


def test_no_ssh_ingress():
    text = (TERRAFORM_DIR / "security_groups.tf").read_text()
    assert not re.search(r"port\s*=\s*22\b", text), "no SSH ingress: instances are reached through SSM"


def test_instance_security_groups_are_attached(hcl):
    """Each tier's launch template carries that tier's security group (checkov's CKV2_AWS_5 cannot follow it)."""
    ((_, _, _, template),) = _resources(hcl, "aws_launch_template")
    assert template["vpc_security_group_ids"] == ["${each.value.sg}"]
    assert "local.tiers" in template["for_each"]
    (tiers,) = [g["tiers"] for g in hcl["asg.tf"]["locals"] if "tiers" in g]
    for tier in ("frontend", "backend"):
        assert tiers[tier]["sg"] == f"${{aws_security_group.{tier}.id}}", tiers[tier]["sg"]


def test_instances_require_imdsv2_and_encrypted_gp3(hcl):
    ((_, _, _, template),) = _resources(hcl, "aws_launch_template")
    assert _one(template["metadata_options"])["http_tokens"] == "required"
    ebs = _one(_one(template["block_device_mappings"])["ebs"])
    assert ebs["encrypted"] is True and ebs["volume_type"] == "gp3" and "aws_kms_key." in ebs["kms_key_id"]
    # Each tier's image: the baked AMI whose id is in that tier's SSM parameter.
    assert template["image_id"] == "${data.aws_ami.baked[each.key].id}", template["image_id"]
    ((_, _, _, baked),) = [d for d in blocks(hcl, "data") if d[1] == "aws_ami" and d[2] == "baked"]
    assert baked["for_each"] == "${data.aws_ssm_parameter.ami}", baked


def test_encryption_and_rotation_everywhere(hcl):
    for filename, rtype, name, body in _resources(hcl):
        where = f"{filename}: {rtype}.{name}"
        if rtype == "aws_kms_key":
            assert body["enable_key_rotation"] is True, where
        if rtype == "aws_cloudwatch_log_group":
            assert "aws_kms_key." in body["kms_key_id"], where
            assert body["retention_in_days"] == "${var.log_retention_days}", where
        if rtype == "aws_sns_topic":
            assert body.get("kms_master_key_id"), where
        if rtype == "aws_dynamodb_table":
            assert _one(body["point_in_time_recovery"])["enabled"] is True
            assert "aws_kms_key." in _one(body["server_side_encryption"])["kms_key_arn"]
            assert body["billing_mode"] == "PAY_PER_REQUEST"
        if rtype == "aws_db_instance":
            assert body["storage_encrypted"] is True and body["manage_master_user_password"] is True, where
        if rtype == "aws_elasticache_replication_group":
            assert body["transit_encryption_enabled"] is True and body["at_rest_encryption_enabled"] is True
        if rtype == "aws_lb" and body.get("load_balancer_type") != "network":  # NLB: TCP pass-through to an ALB
            assert body["drop_invalid_header_fields"] is True, where
            assert _one(body["access_logs"])["enabled"] is True, where


def test_scaling_covers_cpu_requests_and_inflight(hcl):
    policies = {name: body for _, _, name, body in _resources(hcl, "aws_autoscaling_policy")}
    cpu = _one(_one(policies["cpu"]["target_tracking_configuration"])["predefined_metric_specification"])
    assert cpu["predefined_metric_type"] == "ASGAverageCPUUtilization"
    requests = _one(_one(policies["requests"]["target_tracking_configuration"])["predefined_metric_specification"])
    assert requests["predefined_metric_type"] == "ALBRequestCountPerTarget"
    inflight = _one(_one(policies["inflight"]["target_tracking_configuration"])["customized_metric_specification"])
    assert inflight["metric_name"] == "InFlightRequests"
    alarms = {name: body for _, _, name, body in _resources(hcl, "aws_cloudwatch_metric_alarm")}
    high = alarms["high_cpu"]
    # Scale-out within 5 minutes: the alarm fires after period x evaluation periods <= 3 minutes.
    assert high["period"] * high["evaluation_periods"] <= 180
    assert "aws_autoscaling_policy.step_out" in str(high["alarm_actions"])
