"""Scheduled actions with a recurrence on the emulator's compressed clock, checked against AWS's documentation.

Pages of the Amazon EC2 Auto Scaling user guide: "Scheduled scaling for Amazon EC2 Auto Scaling" ("Recurrence: the
recurring schedule for the action, in Unix cron syntax format"; "TimeZone ... Coordinated Universal Time (UTC) by
default") and the PutScheduledUpdateGroupAction API reference. The clock runs 50x faster here: a minute in 1.2 s.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from emulator_cloud import GROUP, Cloud, _wait_for

from tools import aws_emulator

pytestmark = pytest.mark.emulator

MONDAY = datetime(2026, 12, 7, tzinfo=UTC)
SATURDAY = datetime(2026, 12, 12, tzinfo=UTC)


def _schedule(cloud: Cloud, name: str, recurrence: str, desired: int, **extra: object) -> None:
    cloud.autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=GROUP, ScheduledActionName=name, Recurrence=recurrence, DesiredCapacity=desired, **extra
    )


def _desired(cloud: Cloud) -> int:
    return cloud.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"][0][
        "DesiredCapacity"
    ]


def test_a_weekday_wake_and_a_night_stop_run_at_their_minutes(fast: Cloud) -> None:
    """Scheduled scaling: at each time the cron Recurrence names, the group's capacity is set as the action says."""
    fast.create_group(desired=0)
    _schedule(fast, "wake", "0 7 * * 1-5", 2)
    _schedule(fast, "sleep", "0 20 * * 1-5", 0)
    aws_emulator.set_clock(fast.url, MONDAY.replace(hour=6, minute=58, second=30))
    time.sleep(1.0)  # 50 s of the clock: not 07:00 yet
    assert _desired(fast) == 0
    _wait_for(lambda: _desired(fast) == 2)
    assert len(fast.states()) == 2
    (run,) = [c for c in aws_emulator.autoscaling_calls(fast.url) if c["source"] == "schedule"]
    assert run["scheduled_action_name"] == "wake"
    assert run["emulated_time"] >= "2026-12-07T07:00:00"
    aws_emulator.set_clock(fast.url, MONDAY.replace(hour=19, minute=59, second=30))
    _wait_for(lambda: _desired(fast) == 0)


def test_nothing_runs_outside_the_recurrence(fast: Cloud) -> None:
    """A weekday schedule does not run on a Saturday."""
    fast.create_group(desired=0)
    _schedule(fast, "wake", "0 7 * * 1-5", 2)
    aws_emulator.set_clock(fast.url, SATURDAY.replace(hour=6, minute=58, second=30))
    time.sleep(4.0)  # past 07:00 on the clock
    assert _desired(fast) == 0


def test_the_recurrence_is_read_in_the_actions_time_zone(fast: Cloud) -> None:
    """PutScheduledUpdateGroupAction, TimeZone: "Specifies the time zone for a cron expression" - 07:00 in Paris is
    06:00 UTC in December."""
    fast.create_group(desired=0)
    _schedule(fast, "wake", "0 7 * * 1-5", 1, TimeZone="Europe/Paris")
    aws_emulator.set_clock(fast.url, MONDAY.replace(hour=5, minute=59, second=30))
    _wait_for(lambda: _desired(fast) == 1)
    (run,) = [c for c in aws_emulator.autoscaling_calls(fast.url) if c["source"] == "schedule"]
    assert run["emulated_time"] < "2026-12-07T06:02:00"


def test_a_recurrence_with_day_names_runs_on_those_days_only(fast: Cloud) -> None:
    """Recurring schedules use traditional cron syntax, where the day-of-week field takes names too: the night stop
    terraform/scaling.tf declares ("0 20 * * MON-FRI") runs on a Friday evening, not on a Saturday's."""
    fast.create_group(desired=2)
    _schedule(fast, "sleep", "0 20 * * MON-FRI", 0)
    aws_emulator.set_clock(fast.url, SATURDAY.replace(hour=19, minute=59, second=30))
    time.sleep(4.0)  # past 20:00 on the clock
    assert _desired(fast) == 2
    aws_emulator.set_clock(fast.url, SATURDAY.replace(day=11, hour=19, minute=59, second=30))  # the Friday before
    _wait_for(lambda: _desired(fast) == 0)


def test_the_clock_route_refuses_a_time_without_offset(fast: Cloud) -> None:
    """The private clock route needs an unambiguous time."""
    request = urllib.request.Request(
        f"{fast.url}/_emulator/clock", data=b'{"now": "2026-12-07T07:00:00"}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert "+00:00" in caught.value.read().decode()


def test_cron_fields() -> None:
    """Unix cron syntax: lists, ranges, steps, and Sunday as 0 or 7."""
    monday_7 = MONDAY.replace(hour=7)
    assert aws_emulator.cron_matches("0 7 * * 1-5", monday_7)
    assert aws_emulator.cron_matches("*/15 6-8 * * 1,3", monday_7)
    assert not aws_emulator.cron_matches("0 7 * * 0,6", monday_7)
    assert aws_emulator.cron_matches("0 7 * * 7", datetime(2026, 12, 6, 7, tzinfo=UTC))  # a Sunday
    # Names, in any case, in the month and day-of-week fields.
    assert aws_emulator.cron_matches("0 7 * * MON-FRI", monday_7)
    assert aws_emulator.cron_matches("0 7 * DEC mon,wed", monday_7)
    assert not aws_emulator.cron_matches("0 7 * * SAT,SUN", monday_7)
    assert not aws_emulator.cron_matches("0 7 * JAN-NOV *", monday_7)
    with pytest.raises(ValueError):
        aws_emulator.cron_matches("0 7 * * MONDAY", monday_7)
    with pytest.raises(ValueError, match="five-field"):
        aws_emulator.cron_matches("0 7 * *", monday_7)
