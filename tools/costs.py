"""Monthly cost estimate of each environment, by resource, from the Terraform configuration and a dated price table.

Quantities come from the configuration itself (terraform/*.tf parsed offline, `count`/`for_each` evaluated with
terraform/environments/<env>.tfvars, see tools/hcl_eval.py); prices from docs/costs/prices.yml (dated, with its
source). Fixed cost = the fleet's minimum capacity during working hours (all month when no night schedule) plus
everything else that bills by the hour or month for 730 hours; usage (traffic, requests, storage growth) is listed,
not added. The tables of docs/COSTS.md are this script's output (`--check` fails when they drift).

    python -m tools.costs                      # the three environments' totals
    python -m tools.costs --write docs/COSTS.md  # regenerate the tables of docs/COSTS.md
    python -m tools.costs --check docs/COSTS.md  # exit 1 when they are out of date
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.hcl_eval import Evaluator, HclEvalError, environment_variables, load_configuration, resource_addresses

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"
PRICES = REPO_ROOT / "docs" / "costs" / "prices.yml"
ENVIRONMENTS = ("dev", "staging", "production")
WEEK_HOURS = 168


class CostError(ValueError):
    """The estimate cannot be made: a resource type without a price, an instance type without a price, ..."""


@dataclass
class Line:
    address: str
    quantity: int
    monthly: float
    detail: str


@dataclass
class Estimate:
    environment: str
    budget: float
    lines: list[Line] = field(default_factory=list)
    usage: dict[str, str] = field(default_factory=dict)

    @property
    def fixed(self) -> float:
        return round(sum(line.monthly for line in self.lines), 2)


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    prices = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("date", "source", "region", "hours_per_month", "spot_price_fraction", "resource_types"):
        if not prices.get(key):
            raise CostError(f"{path}: '{key}' is missing: the price table states its date, source and region")
    return prices


def unpriced_types(documents: dict[str, dict[str, Any]], prices: dict[str, Any]) -> list[str]:
    """Managed resource types of the configuration that the price table does not list."""
    return sorted({rtype for _, rtype, _, _ in resource_addresses(documents)} - set(prices["resource_types"]))


def working_hours_per_month(schedule: dict[str, Any], hours_per_month: float) -> float:
    """Hours a month a scale-to-zero schedule keeps the fleet up: from the wake (working_day_start minus the
    measured boot-to-ready and the margin, as terraform/scaling.tf computes it) to working_day_end, on working_days."""
    if not schedule.get("enabled"):
        return hours_per_month
    days = schedule["working_days"]
    start, count = _cron(f"{_clock(schedule['working_day_start'])} * * {days}")
    stop, _ = _cron(f"{_clock(schedule['working_day_end'])} * * {days}")
    start -= (float(schedule["boot_to_ready_seconds"]) + float(schedule["wake_margin_seconds"])) / 3600
    daily = stop - start
    if daily <= 0:
        raise CostError(f"working_day_end {schedule['working_day_end']} is not after the wake before "
                        f"{schedule['working_day_start']}")  # fmt: skip
    return daily * count * hours_per_month / WEEK_HOURS


def _clock(hh_mm: str) -> str:
    """ "08:30" as the minute and hour fields of a cron expression ("30 8")."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(hh_mm).strip())
    if not match:
        raise CostError(f"time {hh_mm!r}: expected HH:MM")
    return f"{int(match.group(2))} {int(match.group(1))}"


_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def _cron(expression: str) -> tuple[float, int]:
    match = re.fullmatch(r"(\d+) (\d+) \* \* (\*|[A-Z]{3}(?:-[A-Z]{3})?)", expression.strip())
    if not match:
        raise CostError(f"schedule {expression!r}: tools/costs.py reads 'M H * * DAY[-DAY]' or 'M H * * *'")
    minute, hour, days = match.groups()
    if days == "*":
        count = 7
    elif "-" in days:
        first, last = (_DAYS.index(d) for d in days.split("-"))
        count = last - first + 1
    else:
        count = 1
    return int(hour) + int(minute) / 60, count


def _price(table: dict[str, float], key: str, what: str) -> float:
    if key not in table:
        raise CostError(f"no {what} price for {key}: add it to docs/costs/prices.yml with its source")
    return float(table[key])


def _block(value: Any) -> dict[str, Any]:
    return value[0] if isinstance(value, list) and value else (value or {})


class _Meters:
    """Monthly fixed cost of the resources priced from their arguments."""

    def __init__(self, evaluator: Evaluator, prices: dict[str, Any], variables: dict[str, Any]) -> None:
        self.evaluator, self.prices, self.variables = evaluator, prices, variables
        self.hours = float(prices["hours_per_month"])

    def fleet(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        tier = self.evaluator.value("${each.value}", scope)
        minimum = int(self.evaluator.value(body["min_size"], scope))
        first_type = tier["instance_types"][0]
        hours = working_hours_per_month(self.variables["ollama_scale_to_zero_schedule"], self.hours)
        hourly = _price(self.prices["ec2_hourly"], first_type, "EC2")
        volume = float(tier["volume_gb"]) * self.prices["ebs_gp3_gb_month"]
        on_demand, spot = minimum, 0
        dynamic = {key: _block(value) for block in body.get("dynamic", []) for key, value in block.items()}
        mixed = dynamic.get("mixed_instances_policy")
        if mixed and self.evaluator.value(mixed["for_each"], scope):
            distribution = _block(_block(mixed["content"])["instances_distribution"])
            base = int(self.evaluator.value(distribution["on_demand_base_capacity"], scope))
            percent = float(self.evaluator.value(distribution["on_demand_percentage_above_base_capacity"], scope))
            above = max(minimum - base, 0)
            on_demand = min(minimum, base) + math.ceil(above * percent / 100)
            spot = minimum - on_demand
        spot_hourly = hourly * float(self.prices["spot_price_fraction"])
        cost = (on_demand * hourly + spot * spot_hourly) * hours + minimum * volume * hours / self.hours
        kinds = [f"{n} {kind}" for n, kind in ((on_demand, "on-demand"), (spot, "spot")) if n]
        detail = (
            f"min {minimum} x {first_type} ({', '.join(kinds) or 'none'}; ${hourly}/h on-demand) x {hours:.0f} h"
            f" + {tier['volume_gb']} GB gp3"
        )
        warm = dynamic.get("warm_pool")
        if warm and self.evaluator.value(warm["for_each"], scope):
            size = int(self.evaluator.value(_block(warm["content"])["min_size"], scope))
            cost += size * volume
            detail += f"; warm pool {size} stopped (volumes only)"
        return cost, detail

    def rds(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        klass = self.evaluator.value(body["instance_class"], scope)
        zones = 2 if self.evaluator.value(body.get("multi_az", False), scope) else 1
        storage = float(self.evaluator.value(body["allocated_storage"], scope))
        hourly = _price(self.prices["rds_hourly"], klass, "RDS")
        cost = zones * (hourly * self.hours + storage * self.prices["rds_gp3_gb_month"])
        return cost, f"{klass} x {zones} zone(s), {storage:.0f} GB gp3"

    def elasticache(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        node = self.evaluator.value(body["node_type"], scope)
        nodes = int(self.evaluator.value(body["num_cache_clusters"], scope))
        return nodes * _price(self.prices["elasticache_hourly"], node, "ElastiCache") * self.hours, f"{nodes} x {node}"

    def vpc_endpoint(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        kind = self.evaluator.value(body.get("vpc_endpoint_type", "Gateway"), scope)
        if kind != "Interface":
            return 0.0, f"{kind} endpoint (free)"
        zones = len(self.evaluator.value(body["subnet_ids"], scope))
        return zones * entry["hourly"] * self.hours, f"interface endpoint in {zones} zone(s)"

    def load_balancer(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        cost, detail = entry["hourly"] * self.hours, "ALB"
        if not self.evaluator.value(body.get("internal", False), scope):
            zones = len(self.evaluator.value(body["subnets"], scope))
            cost += zones * entry["public_ipv4_hourly"] * self.hours
            detail += f" + {zones} public IPv4"
        return cost, detail

    def web_acl(self, body: dict[str, Any], scope: dict[str, Any], entry: dict[str, Any]) -> tuple[float, str]:
        rules = len(body.get("rule", []))
        return entry["monthly"] + rules * entry["rule_monthly"], f"web ACL + {rules} rules"


def estimate(
    environment: str,
    documents: dict[str, dict[str, Any]] | None = None,
    prices: dict[str, Any] | None = None,
    terraform_dir: Path = TERRAFORM_DIR,
) -> Estimate:
    """One environment's fixed monthly cost, resource by resource, with the fleet enabled (its steady state)."""
    documents = documents if documents is not None else load_configuration(terraform_dir)
    prices = prices or load_prices()
    missing = unpriced_types(documents, prices)
    if missing:
        raise CostError(
            f"resource types without a price: {', '.join(missing)}; add each to resource_types in "
            "docs/costs/prices.yml, priced or marked free/usage with the reason"
        )
    tfvars = terraform_dir / "environments" / f"{environment}.tfvars"
    if not tfvars.is_file():
        raise CostError(f"no settings for environment {environment!r}: expected {tfvars}")
    variables = environment_variables(documents, tfvars)
    variables["ollama_fleet_enabled"] = True
    evaluator = Evaluator(documents, variables)
    meters = _Meters(evaluator, prices, variables)
    result = Estimate(environment, float(variables["monthly_budget_usd"]))
    hours = float(prices["hours_per_month"])
    for _, rtype, name, body in resource_addresses(documents):
        entry = prices["resource_types"][rtype]
        address = f"{rtype}.{name}"
        priced = "meter" in entry or "hourly" in entry or "monthly" in entry
        try:
            instances = evaluator.instances(address)
        except HclEvalError as error:
            if priced:
                raise CostError(f"{address}: cannot count its instances ({error})") from error
            # Free or usage-only: how many exist changes no fixed cost (for_each over values known after apply).
            instances = {"(known after apply)": {}}
        if not instances:
            continue
        if "usage" in entry:
            result.usage[rtype] = entry["usage"]
        if not priced:
            continue
        total, details = 0.0, []
        for scope in instances.values():
            if "meter" in entry:
                try:
                    cost, detail = getattr(meters, entry["meter"])(body, scope, entry)
                except HclEvalError as error:
                    raise CostError(f"{address}: cannot price it ({error})") from error
                details.append(detail)
            else:
                cost = entry.get("hourly", 0) * hours + entry.get("monthly", 0)
            total += cost
        detail = "; ".join(dict.fromkeys(details)) if details else entry["unit"]
        result.lines.append(Line(address, len(instances), round(total, 2), detail))
    return result


BEGIN = "<!-- BEGIN tools/costs.py output: regenerate with `python -m tools.costs --write docs/COSTS.md` -->"
END = "<!-- END tools/costs.py output -->"


def render_markdown(estimates: list[Estimate], prices: dict[str, Any]) -> str:
    """The generated part of docs/COSTS.md (between BEGIN and END)."""
    out = [
        BEGIN,
        "",
        f"Prices of {prices['date']} ({prices['region']}, {prices['currency']}), `docs/costs/prices.yml`; "
        f"{prices['hours_per_month']} hours a month; spot capacity at {prices['spot_price_fraction']} of on-demand.",
        "",
        "| Environment | Fixed cost / month | Budget | Share of budget |",
        "|---|---:|---:|---:|",
    ]
    for e in estimates:
        out.append(f"| {e.environment} | ${e.fixed:,.2f} | ${e.budget:,.0f} | {100 * e.fixed / e.budget:.0f}% |")
    for e in estimates:
        out += ["", f"### {e.environment}", "", "| Resource | Count | USD / month | How |", "|---|---:|---:|---|"]
        for line in sorted(e.lines, key=lambda item: (-item.monthly, item.address)):
            out.append(f"| `{line.address}` | {line.quantity} | {line.monthly:,.2f} | {line.detail} |")
        out.append(f"| **total** | | **{e.fixed:,.2f}** | |")
        out += ["", "Usage on top:", ""]
        out += [f"- `{rtype}`: {text}" for rtype, text in sorted(e.usage.items())]
    return "\n".join([*out, "", END])


def replace_generated(document: str, generated: str) -> str:
    """document with its BEGIN..END part replaced by generated; an error when the markers are missing."""
    if document.count(BEGIN) != 1 or document.count(END) != 1:
        raise CostError(f"the document must hold the markers once each: {BEGIN} ... {END}")
    head, rest = document.split(BEGIN)
    return head + generated + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", "-e", action="append", choices=ENVIRONMENTS)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--markdown", action="store_true", help="print the generated part of docs/COSTS.md")
    group.add_argument("--check", type=Path, metavar="FILE", help="fail when FILE's generated part is out of date")
    group.add_argument("--write", type=Path, metavar="FILE", help="rewrite FILE's generated part")
    args = parser.parse_args(argv)
    try:
        prices = load_prices()
        documents = load_configuration(TERRAFORM_DIR)
        estimates = [estimate(env, documents, prices) for env in (args.environment or ENVIRONMENTS)]
    except (CostError, HclEvalError) as error:
        print(f"costs: {error}", file=sys.stderr)
        return 2
    text = render_markdown(estimates, prices)
    target = args.check or args.write
    if target:
        if not target.is_file():
            print(f"costs: {target} does not exist", file=sys.stderr)
            return 2
        current = target.read_text(encoding="utf-8")
        try:
            updated = replace_generated(current, text)
        except CostError as error:
            print(f"costs: {target}: {error}", file=sys.stderr)
            return 2
        if args.write:
            target.write_text(updated, encoding="utf-8")
        elif updated != current:
            print(f"costs: {target} is out of date: run `python -m tools.costs --write {target}`")
            return 1
        return 0
    if args.markdown:
        sys.stdout.write(text)
    else:
        for e in estimates:
            print(f"{e.environment:<11} fixed ${e.fixed:>10,.2f}/month  budget ${e.budget:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
