"""Instances across the environment's availability zones (10.1), as AWS places them: every Auto Scaling group launches
into the subnets of its vpc_zone_identifier, and those subnets, followed to their declarations, lie in every zone the
environment uses (az_count of them, at least two), one subnet per zone."""

from __future__ import annotations

from pathlib import Path

import pytest
from terraform_helpers import ENVIRONMENTS, evaluator, planted_copy, read_tfvars

from tools.hcl_eval import Evaluator


def group_zones(ev: Evaluator) -> dict[str, list[str]]:
    """Per Auto Scaling group instance: the availability zone of each subnet it launches into."""
    result = {}
    for address in ev.of_type("aws_autoscaling_group"):
        body = ev.resources[address]
        for key, scope in ev.instances(address).items():
            zones = []
            for subnet in ev.value(body["vpc_zone_identifier"], scope):
                found, subnet_body, subnet_scope = ev.source(subnet)
                assert found.address.startswith("aws_subnet."), f"{address}[{key!r}] launches into {found.address}"
                zones.append(ev.value(subnet_body["availability_zone"], subnet_scope))
            result[f"{address}[{key!r}]"] = zones
    return result


def problems(ev: Evaluator) -> list[str]:
    zones = ev.value("${local.azs}")
    az_count = ev.value("${var.az_count}")
    found = [] if len(set(zones)) == az_count >= 2 else [f"the environment uses zones {zones}, az_count {az_count}"]
    groups = group_zones(ev)
    if not groups:
        found.append("no Auto Scaling group")
    for group, subnet_zones in groups.items():
        if sorted(subnet_zones) != sorted(zones):
            found.append(f"{group} launches into zones {sorted(subnet_zones)}, the environment's are {sorted(zones)}")
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_group_spans_every_zone_of_the_environment(environment):
    ev = evaluator(environment)
    assert problems(ev) == []
    assert len(group_zones(ev)) == 2  # the frontend and the backend group
    assert len(ev.value("${local.azs}")) == read_tfvars(environment)["az_count"]


def test_a_group_in_one_zone_is_caught(tmp_path: Path):
    copy = planted_copy(
        tmp_path,
        "asg.tf",
        "vpc_zone_identifier       = aws_subnet.private[*].id",
        "vpc_zone_identifier = [aws_subnet.private[0].id]",
    )
    assert problems(evaluator("production", copy)) == [
        "aws_autoscaling_group.this['frontend'] launches into zones ['us-east-1a'], the environment's are "
        "['us-east-1a', 'us-east-1b', 'us-east-1c']",
        "aws_autoscaling_group.this['backend'] launches into zones ['us-east-1a'], the environment's are "
        "['us-east-1a', 'us-east-1b', 'us-east-1c']",
    ]


def test_subnets_stacked_in_one_zone_are_caught(tmp_path: Path):
    private = "\n  cidr_block        = local.subnet_cidrs.private[count.index]"  # the private subnets' zone
    copy = planted_copy(
        tmp_path,
        "vpc.tf",
        f"availability_zone = local.azs[count.index]{private}",
        f"availability_zone = local.azs[0]{private}",
    )
    found = problems(evaluator("dev", copy))
    assert len(found) == 2 and all("launches into zones ['us-east-1a', 'us-east-1a']" in p for p in found), found


def test_the_zone_lookup_is_answered_from_the_configured_zone_letters():
    """The answer the tests give the zone lookup: the filter's names (region + letter), as AWS lists them."""
    ev = evaluator("production")
    region = read_tfvars("production")["aws_region"]
    assert ev.value("${local.azs}") == [f"{region}{letter}" for letter in ("a", "b", "c")]
