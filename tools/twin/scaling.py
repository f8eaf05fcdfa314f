"""How the groups scale, as terraform/scaling.tf declares it, read offline (tools/hcl_eval.py) for the twin's stack.

Read: every target tracking policy on a customized metric (the backend's in-flight policy, Ollama/InFlightRequests
per instance) and every scheduled action (the night stop and the morning start), each with the group it acts on.
Not read: policies on predefined metrics (CPU, ALB requests per target) and step policies, which the emulator stores
but does not evaluate (tools/aws_emulator.py), so the twin does not create them.

The twin evaluates terraform/ with the variables' defaults and its own settings (``twin_variables``): its environment
(so every name is the twin's), the fleet on, the night schedule on (the twin plays a non-production environment)
and each tier's capacity the twin's (``twin_capacity``). tools/twin/stack.py creates what this reads, and
tests/twin/test_stack.py holds the emulator's copy to terraform/ (a planted difference fails it).

The twin's clock: scheduled actions run on the emulator's compressed clock (``/_emulator/clock``). ``tools/twin.sh up``
starts a new emulator's clock at the start of a working day (``start-clock``), so nothing the schedule does happens
during site.yml or the scenarios unless a scenario moves the clock (tests/twin/scenarios/test_scaling.py): the working
day lasts 12 hours of that clock, 144 real minutes at the twin's time scale 0.2, and a whole twin run about 45.

Usage: python -m tools.twin.scaling start-clock --endpoint URL
       (JSON on stdout: the clock's new time, its time scale, and the real minutes until the next night stop)
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tools import aws_emulator
from tools.hcl_eval import Evaluator, HclEvalError, Unknown, default_variables, load_configuration

TERRAFORM_DIR = Path(__file__).resolve().parents[2] / "terraform"
SCHEDULE_VARIABLE = "ollama_scale_to_zero_schedule"
MAX_SEARCH_MINUTES = 8 * 24 * 60  # a weekly recurrence fires within this
SIZES = ("min_size", "max_size", "desired_capacity")


@dataclass(frozen=True)
class Capacity:
    """An Auto Scaling group's sizes (var.ollama_<tier>_capacity)."""

    min: int
    max: int
    desired: int


def twin_capacity(count: int) -> Capacity:
    """The twin's capacity for a tier of ``count`` instances: min = desired = count, so no policy scales it below
    what the scenarios expect, and max one more, so a scale-out adds exactly one instance (two cores)."""
    return Capacity(min=count, max=count + 1, desired=count)


@dataclass(frozen=True)
class TrackingPolicy:
    """A target tracking policy on a customized metric, in the Auto Scaling API's terms."""

    address: str
    tier: str
    group_name: str
    name: str
    target_value: float
    metric: dict[str, Any]
    disable_scale_in: bool

    def configuration(self) -> dict[str, Any]:
        """PutScalingPolicy's TargetTrackingConfiguration (as DescribePolicies returns it)."""
        return {
            "CustomizedMetricSpecification": self.metric,
            "TargetValue": self.target_value,
            "DisableScaleIn": self.disable_scale_in,
        }


@dataclass(frozen=True)
class ScheduledAction:
    """A recurring scheduled action, in the Auto Scaling API's terms (sizes left out are None)."""

    address: str
    tier: str
    group_name: str
    name: str
    recurrence: str
    time_zone: str
    min_size: int | None
    max_size: int | None
    desired_capacity: int | None

    def arguments(self) -> dict[str, Any]:
        """PutScheduledUpdateGroupAction's arguments besides the group (as DescribeScheduledActions returns them)."""
        sizes = {"MinSize": self.min_size, "MaxSize": self.max_size, "DesiredCapacity": self.desired_capacity}
        return {
            "ScheduledActionName": self.name,
            "Recurrence": self.recurrence,
            **({"TimeZone": self.time_zone} if self.time_zone else {}),
            **{key: value for key, value in sizes.items() if value is not None},
        }


@dataclass(frozen=True)
class Scaling:
    """What the twin creates for scaling, and the schedule variable it was computed from."""

    policies: tuple[TrackingPolicy, ...]
    actions: tuple[ScheduledAction, ...]
    schedule: dict[str, Any]


def twin_variables(
    documents: dict[str, dict[str, Any]], environment: str, region: str, capacities: dict[str, Capacity]
) -> dict[str, Any]:
    """The variables' defaults with the twin's settings (the twin's environment has no tfvars)."""
    variables = default_variables(documents)
    return {
        **variables,
        "environment": environment,
        "aws_region": region,
        "ollama_fleet_enabled": True,
        SCHEDULE_VARIABLE: {**variables[SCHEDULE_VARIABLE], "enabled": True},
        **{f"ollama_{tier}_capacity": asdict(capacity) for tier, capacity in capacities.items()},
    }


def _known(value: Any, where: str) -> Any:
    if isinstance(value, Unknown):
        raise HclEvalError(f"{where} is known only after apply: the twin cannot create it from terraform/")
    return value


def _group(evaluator: Evaluator, body: dict[str, Any], scope: dict[str, Any], where: str) -> tuple[str, str]:
    """(tier, name) of the Auto Scaling group a policy or scheduled action acts on."""
    found, group, group_scope = evaluator.source(evaluator.value(body["autoscaling_group_name"], scope))
    if found.address.split(".")[0] != "aws_autoscaling_group":
        raise HclEvalError(f"{where} acts on {found.address}, which is not an Auto Scaling group")
    name = _known(evaluator.value(group["name"], group_scope), f"the name of {found.address}[{found.key!r}]")
    return str(found.key), str(name)


def _where(address: str, key: Any) -> str:
    return address if key is None else f"{address}[{key!r}]"


def _metric(evaluator: Evaluator, spec: dict[str, Any], scope: dict[str, Any], where: str) -> dict[str, Any]:
    """A customized_metric_specification block as CustomizedMetricSpecification."""
    if "metric_name" not in spec:
        raise HclEvalError(f"{where}: a customized metric without metric_name (metric math) is not emulated")

    def argument(name: str) -> Any:
        return _known(evaluator.value(spec[name], scope), f"{where} {name}")

    dimensions = []
    for block, block_scope in evaluator.blocks(spec, "metric_dimension", scope):
        name, value = (
            _known(evaluator.value(block[part], block_scope), f"{where} metric_dimension {part}")
            for part in ("name", "value")
        )
        dimensions.append({"Name": str(name), "Value": str(value)})
    metric = {"MetricName": str(argument("metric_name")), "Namespace": str(argument("namespace"))}
    if dimensions:
        metric["Dimensions"] = dimensions
    metric["Statistic"] = str(argument("statistic")) if "statistic" in spec else "Average"
    if "unit" in spec:
        metric["Unit"] = str(argument("unit"))
    return metric


def tracking_policies(evaluator: Evaluator) -> list[TrackingPolicy]:
    """Every target tracking policy on a customized metric, per instance of its resource."""
    found = []
    for address in evaluator.of_type("aws_autoscaling_policy"):
        body = evaluator.resources[address]
        for key, scope in evaluator.instances(address).items():
            where = _where(address, key)
            if evaluator.value(body.get("policy_type", "SimpleScaling"), scope) != "TargetTrackingScaling":
                continue
            configs = evaluator.blocks(body, "target_tracking_configuration", scope)
            if len(configs) != 1:
                raise HclEvalError(
                    f"{where} declares {len(configs)} target_tracking_configuration blocks: expected one"
                )
            config, config_scope = configs[0]
            specs = evaluator.blocks(config, "customized_metric_specification", config_scope)
            if not specs:
                continue  # a predefined metric: not evaluated by the emulator
            tier, group_name = _group(evaluator, body, scope, where)
            found.append(
                TrackingPolicy(
                    address=where,
                    tier=tier,
                    group_name=group_name,
                    name=str(_known(evaluator.value(body["name"], scope), f"{where} name")),
                    target_value=float(_known(evaluator.value(config["target_value"], config_scope), where)),
                    metric=_metric(evaluator, specs[0][0], specs[0][1], where),
                    disable_scale_in=bool(evaluator.value(config.get("disable_scale_in", False), config_scope)),
                )
            )
    return found


def scheduled_actions(evaluator: Evaluator) -> list[ScheduledAction]:
    """Every scheduled action, per instance of its resource (recurring ones only: the emulator runs no other)."""
    found = []
    for address in evaluator.of_type("aws_autoscaling_schedule"):
        body = evaluator.resources[address]
        for key, scope in evaluator.instances(address).items():
            where = _where(address, key)
            if "recurrence" not in body:
                raise HclEvalError(f"{where} has no recurrence: one-off scheduled actions are not emulated")
            tier, group_name = _group(evaluator, body, scope, where)
            arguments = {
                name: _known(evaluator.value(body[name], scope), f"{where} {name}")
                for name in ("scheduled_action_name", "recurrence", "time_zone", *SIZES)
                if name in body
            }
            found.append(
                ScheduledAction(
                    address=where,
                    tier=tier,
                    group_name=group_name,
                    name=str(arguments["scheduled_action_name"]),
                    recurrence=str(arguments["recurrence"]),
                    time_zone=str(arguments.get("time_zone", "")),
                    **{name: int(arguments[name]) if name in arguments else None for name in SIZES},
                )
            )
    return found


def read(
    capacities: dict[str, Capacity],
    environment: str = "local",
    region: str = "us-east-1",
    terraform_dir: Path | None = None,
) -> Scaling:
    """The policies and scheduled actions terraform/ (or ``terraform_dir``) declares for the twin's groups."""
    documents = load_configuration(terraform_dir or TERRAFORM_DIR)
    variables = twin_variables(documents, environment, region, capacities)
    evaluator = Evaluator(documents, variables)
    return Scaling(
        policies=tuple(tracking_policies(evaluator)),
        actions=tuple(scheduled_actions(evaluator)),
        schedule=dict(variables[SCHEDULE_VARIABLE]),
    )


def twin_schedule(terraform_dir: Path | None = None) -> dict[str, Any]:
    """The night schedule variable as the twin evaluates it (its working days, hours and time zone)."""
    documents = load_configuration(terraform_dir or TERRAFORM_DIR)
    return dict(twin_variables(documents, "local", "us-east-1", {})[SCHEDULE_VARIABLE])


# ------------------------------------------------------------------------------------------------ the schedule's clock
def next_run(recurrence: str, time_zone: str, after: datetime) -> datetime:
    """The first minute after ``after``'s minute at which ``recurrence`` fires in ``time_zone``, as the emulator runs
    scheduled actions (tools/aws_emulator.py cron_matches); in UTC."""
    zone = ZoneInfo(time_zone or "UTC")
    moment = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(MAX_SEARCH_MINUTES):
        if aws_emulator.cron_matches(recurrence, moment.astimezone(zone)):
            return moment
        moment += timedelta(minutes=1)
    raise ValueError(f"the recurrence {recurrence!r} ({time_zone}) does not fire within a week of {after.isoformat()}")


def working_day_start(schedule: dict[str, Any], moment: datetime) -> datetime:
    """The start of the working day of ``moment``'s date in the schedule's time zone (working_day_start), or of the
    next working day when that date is not one; in UTC."""
    zone = ZoneInfo(schedule["time_zone"])
    hours, minutes = (int(part) for part in schedule["working_day_start"].split(":"))
    midnight = moment.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    recurrence = f"{minutes} {hours} * * {schedule['working_days']}"
    return next_run(recurrence, schedule["time_zone"], midnight - timedelta(minutes=1))


def working_day_end(schedule: dict[str, Any], start: datetime) -> datetime:
    """The end of the working day that starts at ``start`` (working_day_end on the same date); in UTC."""
    hours, minutes = (int(part) for part in schedule["working_day_end"].split(":"))
    local = start.astimezone(ZoneInfo(schedule["time_zone"]))
    return local.replace(hour=hours, minute=minutes).astimezone(UTC)


def clock(endpoint: str) -> dict[str, Any]:
    """The emulator's compressed clock: {"now": datetime, "time_scale": float}."""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_emulator/clock", timeout=10) as response:  # noqa: S310
        answer = json.loads(response.read())
    return {"now": datetime.fromisoformat(answer["now"]), "time_scale": float(answer["time_scale"])}


def start_working_day(endpoint: str, schedule: dict[str, Any], today: datetime | None = None) -> dict[str, Any]:
    """Move the emulator's clock to the start of today's working day (or the next one); returns the new time, the
    clock's time scale and the real minutes left until that day's night stop."""
    start = working_day_start(schedule, today or datetime.now(UTC))
    aws_emulator.set_clock(endpoint, start)
    scale = clock(endpoint)["time_scale"]
    day_s = (working_day_end(schedule, start) - start).total_seconds()
    return {"clock": start.isoformat(), "time_scale": scale, "real_minutes_to_night_stop": round(day_s * scale / 60)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("start-clock",))
    p.add_argument("--endpoint", required=True, help="the AWS emulator")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        print(json.dumps(start_working_day(args.endpoint, twin_schedule())))
    except (aws_emulator.EmulatorError, OSError, ValueError) as exc:
        print(f"twin scaling: cannot start the working day on {args.endpoint}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
