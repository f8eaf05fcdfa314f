"""What a DR stack looks up that the primary stack made for it in advance, from an environment's settings.

A DR stack (terraform/ applied by playbooks/dr.yml with the regions swapped and dr_mode set) writes nothing to IAM and
nothing to Route 53 (their control planes are in us-east-1, which may be the lost region) and finds by name what the
primary prepared: the DR region's instance roles and profiles and the service roles (terraform/iam.tf), the DR key
(kms.tf), the replicated secrets (secrets.tf), the certificate of origin.<domain> and backend.<DR region>.<domain>,
the entry addresses and the Route 53 records that send traffic there (failover.tf). A missing one fails its plan or
its apply half-way. ``needs`` lists them with what makes each, for the prerequisite check of playbooks/dr.yml
(ollama.platform.dr_prepared_info reads them in the DR region); tools/twin/dr.py ``prepare`` creates the same list
in the twin; tests/terraform/test_terraform_dr_stack.py holds the list to what the DR stack's Terraform looks up, for
a drill and a failover of every environment (the two need the same things; only the addresses the stack allocates
for itself carry its own names).

    python -m tools.dr_stack_needs --environment production --primary-region us-east-1 --dr-region us-west-2 \\
        --mode failover --tfvars terraform/environments/production.tfvars
    python -m tools.dr_stack_needs --environment local ... --settings '{"domain_name": "chat.local.test", ...}' --twin

``--settings`` takes Terraform variables by name (domain_name, route53_zone_id, dr_failover_routing, az_count,
nat_gateway_enabled, single_nat_gateway); without --tfvars (the twin) they are all there is.

Prints JSON: ``secrets`` (names the DR region must hold readable), ``prepared`` (one item per resource: kind, name and
the fix naming what makes it), ``own_addresses`` (the Name tags of the Elastic IPs the DR stack allocates itself, its
NAT gateways': the region's quota must leave room for them) and ``settings`` (what the list was made from).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filter_plugins.naming import ollama_name_prefix

REPO_ROOT = Path(__file__).resolve().parents[1]
TIERS = ("frontend", "backend")
# The secrets the primary generates with a replica in the DR region (terraform/secrets.tf generated_secrets).
SECRET_PURPOSES = (
    "webui-secret-key",
    "ollama-api-token",
    "redis-auth-token",
    "origin-verify-header",
    "webui-admin-password",
)
# The primary's service roles a DR stack names (terraform/iam.tf service_role_arns) and the service each trusts.
SERVICE_ROLES = {
    "flow-logs": "vpc-flow-logs.amazonaws.com",
    "backup": "backup.amazonaws.com",
    "rds-monitoring": "monitoring.rds.amazonaws.com",
}
# The Terraform variables the list depends on beyond the regions (terraform/variables.tf).
SETTING_VARIABLES = {
    "domain_name": "domain_name",
    "route53_zone_id": "route53_zone_id",
    "failover_routing": "dr_failover_routing",
    "az_count": "az_count",
    "nat_gateway_enabled": "nat_gateway_enabled",
    "single_nat_gateway": "single_nat_gateway",
}


class NeedsError(ValueError):
    """Settings the list cannot be made from."""


@dataclass(frozen=True)
class Settings:
    """An environment's DR settings. Without a domain (the twin) there is no certificate, entry or record to need."""

    environment: str
    primary_region: str
    dr_region: str
    domain_name: str = ""
    route53_zone_id: str = ""
    failover_routing: bool = False
    az_count: int = 2
    nat_gateway_enabled: bool = False
    single_nat_gateway: bool = True
    mode: str = "failover"

    def __post_init__(self) -> None:
        if self.mode not in ("drill", "failover"):
            raise NeedsError(f"mode {self.mode!r} is not a DR mode: drill or failover")
        if self.primary_region == self.dr_region:
            raise NeedsError(f"the DR region {self.dr_region} is the primary region")
        if self.domain_name and not self.route53_zone_id:
            raise NeedsError(f"domain {self.domain_name} has no route53_zone_id: set the hosted zone of the domain")
        if self.failover_routing and not self.domain_name:
            raise NeedsError("failover routing needs a domain: origin.<domain> is the record that fails over")


def _item(kind: str, name: str, fix: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "fix": fix, **extra}


def dr_instance_role_name(environment: str, dr_region: str, tier: str) -> str:
    """The instance role (and profile) the primary makes for a tier's instances in the DR region (terraform/iam.tf
    aws_iam_role.dr_instance): a DR stack runs with it and creates none."""
    return f"{ollama_name_prefix(environment)}-{dr_region}-{tier}-role"


def dr_key_alias(environment: str) -> str:
    """The key the primary makes in the DR region (terraform/kms.tf aws_kms_key.dr): the replicas' key, and a DR
    stack's database secret's."""
    return f"alias/{ollama_name_prefix(environment)}-dr"


def origin_record_name(domain: str) -> str:
    """The name CloudFront's origin resolves (terraform/failover.tf): it fails over between the regions."""
    return f"origin.{domain}"


def dr_backend_record_name(dr_region: str, domain: str) -> str:
    """The DR region's backend name (terraform/failover.tf, aws_route53_record.dr_backend)."""
    return f"backend.{dr_region}.{domain}"


def needs(settings: Settings, apply_command: str = "") -> dict[str, Any]:
    """The list for ``settings``; ``apply_command`` is what applies the primary stack (the fix of every item)."""
    prefix = ollama_name_prefix(settings.environment)
    command = apply_command or (
        f"ansible-playbook site.yml -i inventories/{settings.environment} -e platform_confirm={settings.environment}"
    )

    def fix(where: str) -> str:
        return f"the primary stack makes it ({where}): apply it while {settings.primary_region} is up with {command}"

    prepared = [
        _item(
            "instance_profile",
            dr_instance_role_name(settings.environment, settings.dr_region, tier),
            fix("terraform/iam.tf, aws_iam_role.dr_instance and its instance profile"),
            service="ec2.amazonaws.com",
        )
        for tier in TIERS
    ]
    prepared += [
        _item(
            "role",
            f"{prefix}-{settings.primary_region}-{purpose}-role",
            fix(f"terraform/iam.tf, the {purpose} role"),
            service=service,
        )
        for purpose, service in SERVICE_ROLES.items()
    ]
    prepared.append(_item("kms_alias", dr_key_alias(settings.environment), fix("terraform/kms.tf, aws_kms_key.dr")))
    if settings.domain_name:
        origin = origin_record_name(settings.domain_name)
        backend = dr_backend_record_name(settings.dr_region, settings.domain_name)
        prepared.append(
            _item(
                "certificate",
                origin,
                fix("terraform/failover.tf, aws_acm_certificate.dr, validated by DNS"),
                alternative_names=[backend],
            )
        )
        if settings.failover_routing:
            prepared += [
                _item(
                    "elastic_ip",
                    f"{prefix}-dr-entry-{index}",
                    fix("terraform/failover.tf, aws_eip.dr_entry"),
                )
                for index in range(settings.az_count)
            ]
            prepared.append(
                _item(
                    "failover_record",
                    origin,
                    fix("terraform/failover.tf, aws_route53_record.origin and origin_secondary"),
                    zone_id=settings.route53_zone_id,
                )
            )
        prepared.append(
            _item(
                "record",
                backend,
                fix("terraform/failover.tf, aws_route53_record.dr_backend"),
                zone_id=settings.route53_zone_id,
            )
        )
    stack_prefix = f"{prefix}-drill" if settings.mode == "drill" else prefix
    nat_gateways = (1 if settings.single_nat_gateway else settings.az_count) if settings.nat_gateway_enabled else 0
    return {
        "secrets": [f"{prefix}/{purpose}" for purpose in SECRET_PURPOSES],
        "prepared": prepared,
        "own_addresses": [f"{stack_prefix}-nat-{index}" for index in range(nat_gateways)],
        "settings": asdict(settings),
    }


def settings_from_variables(
    environment: str, primary_region: str, dr_region: str, mode: str, variables: dict[str, Any]
) -> Settings:
    """Settings from Terraform variables by their names (SETTING_VARIABLES); other names are refused."""
    unknown = sorted(set(variables) - set(SETTING_VARIABLES.values()))
    if unknown:
        raise NeedsError(
            f"unknown setting(s) {', '.join(unknown)}: use {', '.join(sorted(SETTING_VARIABLES.values()))}"
        )
    values = {field: variables[name] for field, name in SETTING_VARIABLES.items() if name in variables}
    return Settings(environment, primary_region, dr_region, mode=mode, **values)


def settings_from_terraform(
    environment: str,
    primary_region: str,
    dr_region: str,
    mode: str,
    tfvars: Path,
    terraform_dir: Path,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """The settings of an environment's Terraform variables (declared defaults overlaid with its tfvars), with the
    regions dr.yml passes (a DR stack's own region and the lost primary) and any override."""
    from tools.hcl_eval import HclEvalError, environment_variables, load_configuration

    try:
        variables = environment_variables(load_configuration(terraform_dir), tfvars)
    except (OSError, HclEvalError) as error:
        raise NeedsError(f"cannot read the Terraform settings of {environment} from {tfvars} ({error})") from error
    if variables.get("environment", environment) != environment:
        raise NeedsError(f"{tfvars} is the settings file of {variables['environment']}, not of {environment}")
    wanted = {name: variables[name] for name in SETTING_VARIABLES.values() if name in variables}
    return settings_from_variables(environment, primary_region, dr_region, mode, {**wanted, **(overrides or {})})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", required=True)
    parser.add_argument("--primary-region", required=True)
    parser.add_argument("--dr-region", required=True)
    parser.add_argument("--mode", default="failover", choices=["drill", "failover"])
    parser.add_argument("--tfvars", type=Path, help="the environment's Terraform variables (else only --settings)")
    parser.add_argument("--terraform-dir", type=Path, default=REPO_ROOT / "terraform")
    parser.add_argument(
        "--settings", default="{}", help="JSON object of Terraform variables (SETTING_VARIABLES), over --tfvars"
    )
    parser.add_argument(
        "--twin", action="store_true", help="the fix names the twin's stand-in (tools/twin/dr.py prepare)"
    )
    args = parser.parse_args(argv)
    try:
        result = listed_for(args)
    except (NeedsError, ValueError, TypeError) as error:
        sys.stderr.write(f"dr_stack_needs: {error}\n")
        return 2
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return 0


def listed_for(args: argparse.Namespace) -> dict[str, Any]:
    """The list for the command line's arguments."""
    overrides = json.loads(args.settings)
    if not isinstance(overrides, dict):
        raise NeedsError(f"--settings must be a JSON object, not {args.settings!r}")
    where = (args.environment, args.primary_region, args.dr_region, args.mode)
    if args.tfvars:
        settings = settings_from_terraform(*where, args.tfvars, args.terraform_dir, overrides)
    else:
        settings = settings_from_variables(*where, overrides)
    twin = "python -m tools.twin.dr prepare (the twin's stand-in of the primary's Terraform)"
    return needs(settings, twin if args.twin else "")


if __name__ == "__main__":
    sys.exit(main())
