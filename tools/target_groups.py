"""Each tier's target group as terraform/ declares it, read offline with tools/hcl_eval.py: the port and the health
check AWS runs against the tier's instances.

The twin creates its target groups from this (tools/twin/stack.py), so the health check is defined once, in
terraform/alb.tf; tests/terraform/test_terraform_health_checks.py holds it to what the roles serve. The tier's group is
found the way AWS finds it: the target group its Auto Scaling group registers instances into.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.hcl_eval import Evaluator, HclEvalError, default_variables, environment_variables, load_configuration

TERRAFORM_DIR = Path(__file__).resolve().parents[1] / "terraform"


@dataclass(frozen=True)
class TargetGroup:
    """A target group's traffic port and health check, in the ELBv2 API's terms."""

    port: int
    protocol: str
    health_path: str
    health_protocol: str
    health_port: str
    matcher: str
    interval: int
    timeout: int
    healthy_threshold: int
    unhealthy_threshold: int

    def create_arguments(self) -> dict[str, Any]:
        """The CreateTargetGroup arguments of the port and the health check."""
        return {
            "Protocol": self.protocol,
            "Port": self.port,
            "HealthCheckProtocol": self.health_protocol,
            "HealthCheckPort": self.health_port,
            "HealthCheckPath": self.health_path,
            "HealthCheckIntervalSeconds": self.interval,
            "HealthCheckTimeoutSeconds": self.timeout,
            "HealthyThresholdCount": self.healthy_threshold,
            "UnhealthyThresholdCount": self.unhealthy_threshold,
            "Matcher": {"HttpCode": self.matcher},
        }


def _target_group(evaluator: Evaluator, reference: Any, where: str) -> TargetGroup:
    found, body, scope = evaluator.source(reference)
    if found.address.split(".")[0] != "aws_lb_target_group":
        raise HclEvalError(f"{where} registers into {found.address}, which is not a target group")
    checks = evaluator.blocks(body, "health_check", scope)
    if len(checks) != 1:
        raise HclEvalError(f"{found.address} declares {len(checks)} health_check blocks: declare exactly one")
    check, check_scope = checks[0]

    def argument(name: str, default: Any) -> Any:
        return evaluator.value(check[name], check_scope) if name in check else default

    protocol = str(evaluator.value(body.get("protocol", "HTTP"), scope))
    # AWS's defaults for what the block leaves out (ELBv2 CreateTargetGroup).
    return TargetGroup(
        port=int(evaluator.value(body["port"], scope)),
        protocol=protocol,
        health_path=str(argument("path", "/")),
        health_protocol=str(argument("protocol", protocol)),
        health_port=str(argument("port", "traffic-port")),
        matcher=str(argument("matcher", "200")),
        interval=int(argument("interval", 30)),
        timeout=int(argument("timeout", 5)),
        healthy_threshold=int(argument("healthy_threshold", 5)),
        unhealthy_threshold=int(argument("unhealthy_threshold", 2)),
    )


def read(evaluator: Evaluator) -> dict[str, TargetGroup]:
    """Tier (the key of its Auto Scaling group, as in local.tiers) -> the target group that group registers into."""
    result: dict[str, TargetGroup] = {}
    for address in evaluator.of_type("aws_autoscaling_group"):
        body = evaluator.resources[address]
        for tier, scope in evaluator.instances(address).items():
            where = address if tier is None else f"{address}[{tier!r}]"
            groups = [_target_group(evaluator, arn, where) for arn in evaluator.value(body["target_group_arns"], scope)]
            if len(groups) != 1:
                raise HclEvalError(f"{where} registers into {len(groups)} target groups: expected one")
            result[str(tier)] = groups[0]
    return result


def target_groups(environment: str | None = None, terraform_dir: Path | None = None) -> dict[str, TargetGroup]:
    """The tiers' target groups under an environment's tfvars, or (None) the variables' defaults with the fleet on:
    the twin's environment has no tfvars. ``terraform_dir``: terraform/ unless given."""
    terraform_dir = terraform_dir or TERRAFORM_DIR
    documents = load_configuration(terraform_dir)
    if environment is None:
        variables = {**default_variables(documents), "ollama_fleet_enabled": True}
    else:
        variables = environment_variables(documents, terraform_dir / "environments" / f"{environment}.tfvars")
    return read(Evaluator(documents, variables))
