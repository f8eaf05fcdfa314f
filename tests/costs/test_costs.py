"""tools/costs.py: every resource type priced, quantities per environment, docs/COSTS.md in step, dev within half
its budget; tools/hcl_eval.py: the expressions it evaluates."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from tools import costs
from tools.hcl_eval import Evaluator, HclEvalError, load_configuration, origin

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "production")


@pytest.fixture(scope="module")
def documents():
    return load_configuration(REPO / "terraform")


@pytest.fixture(scope="module")
def prices():
    return costs.load_prices()


@pytest.fixture(scope="module")
def estimates(documents, prices):
    return {env: costs.estimate(env, documents, prices) for env in ENVIRONMENTS}


def _line(estimate, address):
    (line,) = [line for line in estimate.lines if line.address == address]
    return line


def test_every_resource_type_is_priced_or_marked_free(documents, prices):
    assert costs.unpriced_types(documents, prices) == []
    for rtype, entry in prices["resource_types"].items():
        kinds = {"meter", "hourly", "monthly", "free", "usage"} & set(entry)
        assert kinds, f"{rtype}: priced (hourly/monthly/meter) or marked free/usage with the reason"
        if "free" in entry or "usage" in entry:
            assert str(entry.get("free") or entry.get("usage")).strip(), f"{rtype}: say why it costs nothing fixed"


def test_a_planted_unknown_resource_type_fails_the_estimate(documents, prices):
    planted = copy.deepcopy(documents)
    planted["planted.tf"] = {"resource": [{"aws_sagemaker_endpoint": {"this": {"name": "x", "__is_block__": True}}}]}
    with pytest.raises(costs.CostError, match=r"aws_sagemaker_endpoint.*docs/costs/prices\.yml"):
        costs.estimate("dev", planted, prices)


def test_an_instance_type_without_a_price_fails(documents, prices, tmp_path):
    shutil.copytree(REPO / "terraform", tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    tfvars = tmp_path / "terraform" / "environments" / "dev.tfvars"
    tfvars.write_text(tfvars.read_text().replace('["c6i.xlarge"', '["x9z.xlarge"'))
    with pytest.raises(costs.CostError, match=r"no EC2 price for x9z\.xlarge"):
        costs.estimate("dev", load_configuration(tmp_path / "terraform"), prices, tmp_path / "terraform")


def test_the_price_table_is_dated_with_its_source(prices):
    assert str(prices["date"]) >= "2026-01-01" and prices["source"].count("https://") >= 3
    assert 0 < prices["spot_price_fraction"] <= 1


def test_docs_costs_is_the_scripts_output():
    assert costs.main(["--check", str(REPO / "docs" / "COSTS.md")]) == 0, "regenerate docs/COSTS.md"


def test_a_drifted_costs_document_is_caught_and_rewritten(tmp_path):
    drifted = tmp_path / "COSTS.md"
    drifted.write_text((REPO / "docs" / "COSTS.md").read_text().replace("| dev | $", "| dev | $1"))
    assert costs.main(["--check", str(drifted)]) == 1
    assert costs.main(["--write", str(drifted)]) == 0
    assert drifted.read_text() == (REPO / "docs" / "COSTS.md").read_text()


def test_a_document_without_the_markers_is_refused(tmp_path):
    document = tmp_path / "COSTS.md"
    document.write_text("# Costs\n")
    assert costs.main(["--check", str(document)]) == 2


def test_dev_fixed_cost_is_at_most_half_its_budget(estimates):
    dev = estimates["dev"]
    assert dev.fixed <= dev.budget / 2, f"dev costs ${dev.fixed}/month fixed, over half its ${dev.budget} budget"


def test_quantities_follow_each_environments_settings(estimates, prices):
    hours = prices["hours_per_month"]
    dev, staging, production = (estimates[e] for e in ENVIRONMENTS)
    # dev: no NAT gateway, the boot path's five interface endpoints in one zone.
    assert not [line for line in dev.lines if line.address in ("aws_nat_gateway.this", "aws_eip.nat")]
    endpoints = _line(dev, "aws_vpc_endpoint.interface")
    assert endpoints.quantity == 5 and endpoints.monthly == pytest.approx(5 * 0.01 * hours)
    # production: three NAT gateways, ten endpoints in three zones, Multi-AZ database.
    assert _line(production, "aws_nat_gateway.this").quantity == 3
    assert _line(production, "aws_vpc_endpoint.interface").monthly == pytest.approx(10 * 3 * 0.01 * hours)
    rds = prices["rds_hourly"]["db.m7g.large"] * hours * 2 + 20 * prices["rds_gp3_gb_month"] * 2
    assert _line(production, "aws_db_instance.webui").monthly == pytest.approx(rds, abs=0.01)
    assert _line(staging, "aws_elasticache_replication_group.this").quantity == 1
    assert "2 x cache.t4g.small" in _line(staging, "aws_elasticache_replication_group.this").detail


SCHEDULE = {
    "enabled": True,
    "working_days": "MON-FRI",
    "working_day_start": "08:00",
    "working_day_end": "19:00",
    "boot_to_ready_seconds": 1200,
    "wake_margin_seconds": 600,
    "time_zone": "Etc/UTC",
}


def test_fleet_is_minimum_capacity_during_working_hours(estimates, prices):
    hours = prices["hours_per_month"]
    working = 11.5 * 5 * hours / 168  # 07:30 (08:00 minus 20 minutes to boot and 10 of margin) to 19:00, MON-FRI
    assert costs.working_hours_per_month(SCHEDULE, hours) == pytest.approx(working)
    ec2, spot, gp3 = prices["ec2_hourly"], prices["spot_price_fraction"], prices["ebs_gp3_gb_month"]
    # dev.tfvars: 08:00-19:00 MON-FRI, woken 10 minutes to boot plus 10 of margin early.
    dev_working = (11 + 20 / 60) * 5 * hours / 168
    dev = (ec2["t3.medium"] + ec2["c6i.xlarge"]) * spot * dev_working + (30 + 60) * gp3 * dev_working / hours
    assert _line(estimates["dev"], "aws_autoscaling_group.this").monthly == pytest.approx(dev, abs=0.01)
    fleet = _line(estimates["production"], "aws_autoscaling_group.this")
    assert "x 730 h" in fleet.detail and "spot" not in fleet.detail.replace("on-demand", "")


def test_a_bad_schedule_is_refused():
    with pytest.raises(costs.CostError, match="is not after the wake"):
        costs.working_hours_per_month({**SCHEDULE, "working_day_start": "19:00", "working_day_end": "07:00"}, 730)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${var.a ? 1 : var.n}", 3),
        ("${!var.a && var.n > 2 ? 1 : 0}", 1),
        ('${toset(["x", "y", "x"])}', ["x", "y"]),
        ('${{for k, v in var.m : k => v if k != "b"}}', {"a": 1}),
        ("${[for p in var.l : tostring(p)]}", ["1", "2"]),
        ("${length(merge(var.m, {c = 3}))}", 3),
        ("${max(var.l...)}", 2),
        ('${var.n == 3 ? "three" : "other"}', "three"),
        ('${try(tonumber(split(":", "8am")[1]), 0)}', 0),
        ('${try(tonumber(split(":", "08:30")[1]), 0)}', 30),
        ('${can(split(":", "8am")[1])}', False),
        ("${slice(var.l, 0, 1)}", [1]),
        ("${ceil(7 / 2)} ${floor(7 / 2)}", "4 3"),
    ],
)
def test_expressions(expression, expected):
    evaluator = Evaluator({}, {"a": False, "n": 3, "m": {"a": 1, "b": 2}, "l": [1, 2]})
    assert evaluator.value(expression) == expected


def _documents(*resources: tuple[str, str, dict]) -> dict:
    return {"x.tf": {"resource": [{rtype: {name: {**body, "__is_block__": True}}} for rtype, name, body in resources]}}


def test_references_remember_the_instance_they_come_from():
    documents = _documents(
        ("aws_subnet", "a", {"count": "${var.n}", "cidr_block": "10.0.${count.index}.0/24"}),
        ("aws_lb_target_group", "web", {"port": 8080}),
        ("aws_autoscaling_group", "g", {"vpc_zone_identifier": "${aws_subnet.a[*].id}"}),
    )
    evaluator = Evaluator(documents, {"n": 2})
    subnets = evaluator.value(evaluator.resources["aws_autoscaling_group.g"]["vpc_zone_identifier"])
    found = [evaluator.source(subnet) for subnet in subnets]
    assert [(o.address, o.key, o.path) for o, _, _ in found] == [
        ("aws_subnet.a", 0, ("id",)),
        ("aws_subnet.a", 1, ("id",)),
    ]
    assert [evaluator.value(body["cidr_block"], scope) for _, body, scope in found] == ["10.0.0.0/24", "10.0.1.0/24"]
    group, body, _ = evaluator.source(evaluator.value("${aws_lb_target_group.web.arn}"))
    assert (group.address, group.key, body["port"]) == ("aws_lb_target_group.web", None, 8080)
    with pytest.raises(HclEvalError, match="not a reference to a resource"):
        evaluator.source(evaluator.value("${var.n}"))


def test_data_sources_take_the_callers_answers():
    documents = {"x.tf": {"data": [{"aws_availability_zones": {"z": {"__is_block__": True}}}]}}
    answered = Evaluator(documents, {}, answers={"data.aws_availability_zones.z": {"names": ["a", "b", "c"]}})
    assert answered.value("${slice(data.aws_availability_zones.z.names, 0, 2)}") == ["a", "b"]
    assert origin(Evaluator(documents, {}).value("${data.aws_availability_zones.z.names}")).path == ("names",)


def test_dynamic_blocks_expand_with_their_iterator():
    body = {
        "rule": [{"name": "written", "__is_block__": True}],
        "dynamic": [
            {"rule": {"for_each": "${var.l}", "content": [{"name": "r${rule.value}", "__is_block__": True}]}},
            {"other": {"for_each": "${var.l}", "content": [{"name": "x", "__is_block__": True}]}},
        ],
    }
    evaluator = Evaluator({}, {"l": [1, 2]})
    assert [evaluator.value(rule["name"], scope) for rule, scope in evaluator.blocks(body, "rule")] == [
        "written",
        "r1",
        "r2",
    ]


def test_a_count_that_depends_on_an_apply_time_value_is_refused():
    documents = {
        "x.tf": {
            "resource": [
                {"aws_vpc": {"this": {"cidr_block": "10.0.0.0/16", "__is_block__": True}}},
                {"aws_subnet": {"a": {"count": '${aws_vpc.this.id == "" ? 1 : 0}', "__is_block__": True}}},
            ]
        }
    }
    with pytest.raises(HclEvalError, match="known only after apply"):
        Evaluator(documents, {}).instances("aws_subnet.a")


def test_prices_yaml_lists_each_type_once():
    text = (REPO / "docs" / "costs" / "prices.yml").read_text()
    keys = [line.split(":")[0].strip() for line in text.splitlines() if line.startswith(("  aws_", "  terraform_"))]
    assert len(keys) == len(set(keys)), "a resource type listed twice"
    assert set(keys) == set(yaml.safe_load(text)["resource_types"])
