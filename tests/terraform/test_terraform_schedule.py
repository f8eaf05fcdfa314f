"""The night shutdown of non-production (9.7) as Auto Scaling runs it: the scheduled actions, followed to the group
each one acts on, stop every group (min = max = desired = 0) at the end of the working day and give each group back
its own capacity early enough to be ready at the start of the next one; production declares no scheduled action."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from terraform_helpers import ENVIRONMENTS, evaluator, planted_copy, read_tfvars

from tools.hcl_eval import Evaluator

CAPACITY = ("min_size", "max_size", "desired_capacity")
CAPACITY_KEYS = ("min", "max", "desired")  # of var.ollama_<tier>_capacity


def _cron(minute_of_day: int, days: str) -> str:
    return f"{minute_of_day % 60} {minute_of_day // 60} * * {days}"


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def expected_times(schedule: dict) -> dict[str, str]:
    """The night stop at the end of the working day; the morning start boot-to-ready plus margin before its start."""
    lead = math.ceil((schedule["boot_to_ready_seconds"] + schedule["wake_margin_seconds"]) / 60)
    return {
        "night": _cron(_minutes(schedule["working_day_end"]), schedule["working_days"]),
        "morning": _cron(_minutes(schedule["working_day_start"]) - lead, schedule["working_days"]),
    }


def groups(ev: Evaluator) -> dict[str, tuple[int, int, int]]:
    """Each Auto Scaling group instance ("address[key]") and the capacity it declares (min, max, desired)."""
    return {
        f"{address}[{key!r}]": tuple(int(ev.value(ev.resources[address][name], scope)) for name in CAPACITY)
        for address in ev.of_type("aws_autoscaling_group")
        for key, scope in ev.instances(address).items()
    }


STOP = (
    'resource "aws_autoscaling_schedule" "stop" {\n'
    "  for_each = var.ollama_scale_to_zero_schedule.enabled && var.ollama_fleet_enabled ? local.tiers : {}"
)


def actions(ev: Evaluator) -> list[dict]:
    """Every scheduled action: the group it acts on (followed from autoscaling_group_name), when, what it sets."""
    found = []
    for address in ev.of_type("aws_autoscaling_schedule"):
        body = ev.resources[address]
        for scope in ev.instances(address).values():
            group, _, _ = ev.source(ev.value(body["autoscaling_group_name"], scope))
            found.append(
                {
                    "group": f"{group.address}[{group.key!r}]",
                    "recurrence": ev.value(body["recurrence"], scope),
                    "time_zone": ev.value(body["time_zone"], scope),
                    "capacity": tuple(int(ev.value(body[name], scope)) for name in CAPACITY),
                }
            )
    return found


def problems(ev: Evaluator, schedule: dict) -> list[str]:
    declared, found = groups(ev), actions(ev)
    if not schedule["enabled"]:
        return [f"{a['group']} has a scheduled action at {a['recurrence']}" for a in found]
    times = expected_times(schedule)
    result = []
    for group, capacity in sorted(declared.items()):
        wanted = {"night": (times["night"], (0, 0, 0)), "morning": (times["morning"], capacity)}
        mine = sorted((a["recurrence"], a["capacity"]) for a in found if a["group"] == group)
        if mine != sorted(wanted.values()):
            result.append(f"{group}: scheduled {mine}, expected {[wanted['night'], wanted['morning']]}")
    result += [f"{a['group']}: time zone {a['time_zone']}" for a in found if a["time_zone"] != schedule["time_zone"]]
    result += [f"{a['group']} is not an Auto Scaling group of the stack" for a in found if a["group"] not in declared]
    return result


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_schedule_stops_every_group_at_night_and_restores_its_capacity(environment):
    tfvars = read_tfvars(environment)
    ev = evaluator(environment)
    assert problems(ev, tfvars["ollama_scale_to_zero_schedule"]) == []
    # The capacity each group declares, which the morning action restores, is the environment's.
    assert groups(ev) == {
        f"aws_autoscaling_group.this[{tier!r}]": tuple(tfvars[f"ollama_{tier}_capacity"][k] for k in CAPACITY_KEYS)
        for tier in ("frontend", "backend")
    }
    scheduled = len(actions(ev))
    assert scheduled == (4 if environment != "production" else 0), f"{environment}: {scheduled} scheduled actions"


def test_the_expected_times_follow_the_working_day():
    schedule = read_tfvars("dev")["ollama_scale_to_zero_schedule"]
    assert expected_times(schedule) == {"night": "0 19 * * MON-FRI", "morning": "40 7 * * MON-FRI"}


def test_a_night_action_that_leaves_an_instance_running_is_caught(tmp_path: Path):
    copy = planted_copy(tmp_path, "scaling.tf", "  min_size               = 0\n", "  min_size               = 1\n")
    found = problems(evaluator("staging", copy), read_tfvars("staging")["ollama_scale_to_zero_schedule"])
    assert len(found) == 2 and all("('0 19 * * MON-FRI', (1, 0, 0))" in p for p in found), found


def test_a_group_left_out_of_the_schedule_is_caught(tmp_path: Path):
    copy = planted_copy(
        tmp_path, "scaling.tf", STOP, STOP.replace("? local.tiers :", "? { backend = local.tiers.backend } :")
    )
    found = problems(evaluator("dev", copy), read_tfvars("dev")["ollama_scale_to_zero_schedule"])
    assert found == [
        "aws_autoscaling_group.this['frontend']: scheduled [('40 7 * * MON-FRI', (1, 2, 1))], expected "
        "[('0 19 * * MON-FRI', (0, 0, 0)), ('40 7 * * MON-FRI', (1, 2, 1))]"
    ]


def test_a_night_stop_that_ignores_the_production_switch_is_caught(tmp_path: Path):
    copy = planted_copy(tmp_path, "scaling.tf", STOP, STOP.replace("var.ollama_scale_to_zero_schedule.enabled && ", ""))
    found = problems(evaluator("production", copy), read_tfvars("production")["ollama_scale_to_zero_schedule"])
    assert found == [
        "aws_autoscaling_group.this['frontend'] has a scheduled action at 0 19 * * MON-FRI",
        "aws_autoscaling_group.this['backend'] has a scheduled action at 0 19 * * MON-FRI",
    ]
