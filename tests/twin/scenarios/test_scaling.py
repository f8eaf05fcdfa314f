"""The fleet sizes itself on the twin: sustained load scales the backend out and its end scales it back in to the
minimum, the night schedule stops both tiers and
the morning start has them serving again before the working day, with no play and nobody calling Auto Scaling.

Product: every backend publishes Ollama/InFlightRequests (roles/ollama, ollama-inflight-metric); the target tracking
policy terraform/scaling.tf declares (aws_autoscaling_policy.inflight) raises the group's desired capacity, and the
new instance boots from the baked image, configures itself, completes its launch hook and serves. The night stop and
the morning start (aws_autoscaling_schedule.stop/start) take both groups to zero, through the terminating hooks'
drain, and back, through the same boot path.

Twin: the stack created the policy and the scheduled actions from terraform/scaling.tf (tools/twin/scaling.py), so a
wrong metric name, namespace or dimension in Terraform or in the publisher leaves the group alone and the first
scenario fails. The emulator evaluates the policy every minute of its compressed clock and runs the schedule on that
clock, which tools/twin.sh started at the beginning of a working day; the second scenario moves it to the evening and
to the next morning (``/_emulator/clock``). The other scenarios move the backend's minimum with its desired capacity,
so the in-flight policy, which scales in too, leaves their extra instances alone.

Budgets (real time on the twin's two cores): scale-out 100 s, scale-in 150 s, the schedule 150 s; every wait is
bounded by what is left of its budget, and a failure shows what the emulator and the proxy show.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from loadtest.monitor import analyze_scaling
from tests.project import ROOT
from tests.twin.scenarios.conftest import Twin, explained, http, serving_targets, wait_for
from tools import aws_emulator
from tools.twin import scaling as twin_scaling

pytestmark = pytest.mark.twin

MODEL = "llama3.2:1b"
SCALE_OUT_BUDGET_S = 100.0
SCHEDULE_BUDGET_S = 150.0
SCALE_IN_BUDGET_S = 150.0  # the policy's three-minute window (36 s), scale-in protection lifted after 30 s idle, drain
RECOVERY_WAIT_S = 420.0  # after a failure: the groups' capacity back in service before the next scenarios
# Concurrent streams per unit of the policy's target: one loaded sample of the publisher (every 15 s) lifts the
# policy's three-minute average (36 s at the twin's time scale, up to three samples) above the target.
LOAD_PER_TARGET = 4
STREAM_TOKENS = 20  # short streams: the load ends within seconds of being stopped
SCALE_OUT_LIMIT_S = 300.0  # requirement 10.5, what loadtest/monitor.py checks on AWS
CLOCK_LEAD = timedelta(seconds=30)  # the clock is moved this far before an action's minute (6 s real at 0.2)
STOP_WAIT_S = 75.0  # scale-in protection lifted after 30 s idle, the backend's deregistration delay, the drain hook


def _declared() -> twin_scaling.Scaling:
    """terraform/scaling.tf as the twin's stack read it (the counts the inventory gives the stack)."""
    platform = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "platform.yml").read_text())
    counts = platform["platform_twin_counts"]
    return twin_scaling.read({tier: twin_scaling.twin_capacity(int(count)) for tier, count in counts.items()})


def _groups(twin: Twin) -> dict[str, str]:
    return {"backend": twin.outputs["ollama_backend_asg_name"], "frontend": twin.outputs["ollama_frontend_asg_name"]}


def _sizes(twin: Twin, group: str) -> tuple[int, int, int]:
    found = twin.group(group)
    return found["MinSize"], found["MaxSize"], found["DesiredCapacity"]


def _budget(seconds: float) -> Callable[[float], float]:
    """A clock of what is left of a scenario's budget: ``left(cap)`` is the time left, at most ``cap``."""
    started = time.monotonic()

    def left(cap: float = math.inf) -> float:
        return max(min(seconds - (time.monotonic() - started), cap), 1.0)

    return left


def _changes_since(twin: Twin, since: float, source: str) -> list[dict[str, Any]]:
    """The emulator's own Auto Scaling changes of one source (target-tracking, schedule) since ``since`` (epoch)."""
    return [
        c for c in aws_emulator.autoscaling_calls(twin.endpoint)
        if c["source"] == source and datetime.fromisoformat(c["time"]).timestamp() >= since
    ]  # fmt: skip


def _generate_until(url: str, token: str, stop: threading.Event, results: list[dict[str, Any]]) -> None:
    """Streamed generations through the internal load balancer, one after the other, until ``stop``."""
    body = json.dumps({"model": MODEL, "prompt": "count slowly", "stream": True,
                       "options": {"num_predict": STREAM_TOKENS}}).encode()  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not stop.is_set():
        try:
            status, response_headers, payload = http(f"{url}/api/generate", headers, body, timeout=120)
            lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
            results.append({"status": status, "done": bool(lines) and lines[-1].get("done") is True,
                            "served_by": response_headers.get("x-served-by", "")})  # fmt: skip
        except (OSError, ValueError) as error:
            results.append({"status": 0, "done": False, "error": str(error)})
            stop.wait(1.0)


class _Capacity:
    """The group's desired and in-service capacity over time (DescribeAutoScalingGroups polled): the series the load
    suite's scale-out check reads from CloudWatch on AWS (GroupDesiredCapacity, GroupInServiceInstances)."""

    def __init__(self, twin: Twin, group: str) -> None:
        self.twin, self.name = twin, group
        self.desired: list[tuple[float, float]] = []
        self.in_service: list[tuple[float, float]] = []
        self.instances: set[str] = set()

    def sample(self) -> dict[str, Any]:
        group, now = self.twin.group(self.name), time.time()
        self.instances = {i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"}
        self.desired.append((now, float(group["DesiredCapacity"])))
        self.in_service.append((now, float(len(self.instances))))
        return group


def test_sustained_load_above_the_inflight_target_scales_the_backend_out(twin: Twin, record_property):
    """Requirement 10.5 on the twin: streams through the internal load balancer at four times the in-flight target
    raise the backend's desired capacity by one (its maximum), the new instance from the baked image goes InService
    and serves (X-Served-By), and the load suite's scale-out check passes on the group's capacity series."""
    left = _budget(SCALE_OUT_BUDGET_S)
    asg, group = twin.client("autoscaling"), _groups(twin)["backend"]
    (policy,) = [p for p in _declared().policies if p.group_name == group]
    created = asg.describe_policies(AutoScalingGroupName=group, PolicyNames=[policy.name])["ScalingPolicies"]
    assert created and created[0]["TargetTrackingConfiguration"] == policy.configuration(), (
        f"the backend's policy is not terraform/scaling.tf's {policy.address}: {created}"
    )
    capacity = _Capacity(twin, group)
    start = capacity.sample()
    baseline, before = start["DesiredCapacity"], set(capacity.instances)
    assert start["MaxSize"] == baseline + 1 and len(before) == baseline, f"the backend is not at its capacity: {start}"
    url, token = twin.outputs["ollama_internal_api_url"], twin.token()
    streams = math.ceil(LOAD_PER_TARGET * policy.target_value)
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=_generate_until, args=(url, token, stop, results)) for _ in range(streams)]
    load_start = time.time()
    for thread in threads:
        thread.start()
    try:
        with explained(twin, [group], policy.metric):
            wait_for(
                f"the in-flight policy raising {group}'s desired capacity ({streams} streams, target "
                f"{policy.target_value:g} per instance)",
                lambda: capacity.sample()["DesiredCapacity"] > baseline,
                timeout=left(50),
                interval=1,
            )
            new = wait_for(
                "the new backend InService",
                lambda: capacity.sample() and sorted(capacity.instances - before),
                timeout=left(),
                interval=2,
            )[0]
            image = twin.client("ssm").get_parameter(Name=twin.outputs["ollama_ami_parameter_names"]["backend"])
            launched = twin.client("ec2").describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"][0]
            assert launched["ImageId"] == image["Parameter"]["Value"], "the new backend is not the baked image"
            version = f"{url}/api/version"
            auth = {"Authorization": f"Bearer {token}"}
            wait_for(f"{new} serving through the internal load balancer", lambda: new in serving_targets(version, auth),
                     timeout=left(30), interval=1)  # fmt: skip
            capacity.sample()
            stop.set()
            end = time.time()
            analysis = analyze_scaling(capacity.desired, capacity.in_service, load_start, end, SCALE_OUT_LIMIT_S)
            assert analysis["verdict"] == "pass", analysis["text"]
            assert [(e["from"], e["to"]) for e in analysis["events"]] == [(baseline, baseline + 1)], analysis["text"]
            changes = [
                c for c in _changes_since(twin, load_start, "target-tracking")
                if c["auto_scaling_group_name"] == group and c["desired_capacity"] > c["previous_desired_capacity"]
            ]  # fmt: skip
            assert len(changes) == 1 and changes[0]["policy_name"] == policy.name, changes
            assert changes[0]["metric_value"] > policy.target_value, changes
            served = [r for r in results if r.get("status") == 200 and r.get("done")]
            assert served, f"no stream completed: {results[:5]}"
        record_property("inflight_scale_out_reaction_seconds", round(analysis["reaction_s"], 1))
        record_property("inflight_scale_out_to_in_service_seconds", round(analysis["time_to_capacity_s"], 1))
        record_property("inflight_scale_out_streams_failed", len(results) - len(served))
        print(f"in-flight scale-out: {analysis['text']}; {len(served)} streams served, {streams} at a time")
    finally:
        # The policy scales the idle group back in by itself (to its minimum, the twin's count).
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def test_sustained_low_load_scales_the_backend_back_in_to_its_minimum(twin: Twin, record_property):
    """Requirement 10.6 on the twin, after the scale-out above: with the load gone the backends publish no stream in
    flight, and the same in-flight policy (the only one that scales the backend in) lowers the desired capacity to
    the group's minimum and no further; the instance that leaves drains through its terminating hook, which its
    drain program completes (cause ``api``), and the one that stays keeps serving."""
    left = _budget(SCALE_IN_BUDGET_S)
    group = _groups(twin)["backend"]
    (policy,) = [p for p in _declared().policies if p.group_name == group]
    minimum = _sizes(twin, group)[0]

    def policy_changes() -> list[dict[str, Any]]:
        return [c for c in _changes_since(twin, 0, "target-tracking") if c["auto_scaling_group_name"] == group]

    raised = [c for c in policy_changes() if c["desired_capacity"] > c["previous_desired_capacity"]]
    assert raised, f"the scale-out scenario did not raise {group}: nothing to scale in"
    load_gone = datetime.fromisoformat(raised[-1]["time"]).timestamp()  # the scale-out; its load ended after it
    peak = raised[-1]["desired_capacity"]
    with explained(twin, [group], policy.metric):
        wait_for(f"the in-flight policy lowering {group} to its minimum {minimum}, the leaver drained",
                 lambda: _sizes(twin, group)[2] == minimum and len(twin.group(group)["Instances"]) == minimum,
                 timeout=left(), interval=2)  # fmt: skip
        after = [c for c in policy_changes() if datetime.fromisoformat(c["time"]).timestamp() > load_gone]
        lowered = [c for c in after if c["desired_capacity"] < c["previous_desired_capacity"]]
        assert lowered and all(c["policy_name"] == policy.name for c in lowered), after
        assert min(c["desired_capacity"] for c in after) >= minimum, f"scaled below the minimum: {after}"
        scaled_in = datetime.fromisoformat(lowered[0]["time"]).timestamp()
        drained = [
            a for a in aws_emulator.lifecycle_actions(twin.endpoint)
            if a["lifecycle_hook_name"] == f"{group}-drain"
            and datetime.fromisoformat(a["time"]).timestamp() >= scaled_in
        ]  # fmt: skip
        assert drained and all(a["result"] == "CONTINUE" and a["cause"] == "api" for a in drained), drained
        version, auth = (
            f"{twin.outputs['ollama_internal_api_url']}/api/version",
            {"Authorization": f"Bearer {twin.token()}"},
        )
        assert set(twin.in_service(group)) <= serving_targets(version, auth), "the remaining backend does not serve"
    drain_s = datetime.fromisoformat(drained[-1]["time"]).timestamp() - scaled_in
    record_property("inflight_scale_in_drain_seconds", round(drain_s, 1))
    print(f"in-flight scale-in: {peak} -> {minimum} by {lowered[0]['policy_name']} (in flight "
          f"{lowered[0]['metric_value']:g}), the leaver drained in {drain_s:.0f} s")  # fmt: skip


def test_the_night_stop_empties_both_groups_and_the_morning_start_serves_before_the_working_day(
    twin: Twin, record_property
):
    """Requirement 9.7 on the twin: at working_day_end on the emulator's clock both groups go to min = max = desired
    = 0 and their instances drain through the terminating hooks and terminate; at the wake time derived from
    working_day_start both groups get their capacity back, and both tiers serve through their load balancers from
    new instances before working_day_start on that clock."""
    left = _budget(SCHEDULE_BUDGET_S)
    asg, groups = twin.client("autoscaling"), _groups(twin)
    declared = _declared()
    for action in declared.actions:
        found = asg.describe_scheduled_actions(
            AutoScalingGroupName=action.group_name, ScheduledActionNames=[action.name]
        )["ScheduledUpdateGroupActions"]
        assert found and {k: found[0].get(k) for k in action.arguments()} == action.arguments(), (
            f"{action.name} is not terraform/scaling.tf's {action.address}: {found}"
        )
    stops = {a.tier: a for a in declared.actions if (a.min_size, a.max_size, a.desired_capacity) == (0, 0, 0)}
    starts = {a.tier: a for a in declared.actions if a.tier in groups and stops.get(a.tier) is not a}
    assert set(stops) == set(starts) == set(groups), f"a stop and a start per tier: {declared.actions}"
    capacity = {tier: (a.min_size, a.max_size, a.desired_capacity) for tier, a in starts.items()}
    before = {tier: set(twin.in_service(name)) for tier, name in groups.items()}
    assert all(before.values()), f"a tier has no instance in service before the night: {before}"
    names = list(groups.values())
    token = {"Authorization": f"Bearer {twin.token()}"}
    started = time.time()
    try:
        with explained(twin, names):
            # Evening: the clock just before the next night stop.
            now = twin_scaling.clock(twin.endpoint)["now"]
            (stop_at,) = {twin_scaling.next_run(a.recurrence, a.time_zone, now) for a in stops.values()}
            aws_emulator.set_clock(twin.endpoint, stop_at - CLOCK_LEAD)
            night = time.monotonic()
            wait_for("both groups at min = max = desired = 0", lambda: all(_sizes(twin, n) == (0, 0, 0) for n in names),
                     timeout=left(30), interval=1)  # fmt: skip
            wait_for("every instance of both groups drained and terminated",
                     lambda: not any(twin.group(n)["Instances"] for n in names), timeout=left(STOP_WAIT_S))  # fmt: skip
            emptied = round(time.monotonic() - night, 1)
            runs = _changes_since(twin, started, "schedule")
            assert {a.name for a in stops.values()} <= {c["scheduled_action_name"] for c in runs}, runs
            hooks = aws_emulator.lifecycle_actions(twin.endpoint)
            for tier, instances in before.items():
                drained = {a["instance_id"] for a in hooks if a["lifecycle_hook_name"] == f"{groups[tier]}-drain"}
                assert instances <= drained, f"{sorted(instances - drained)} left without their terminating hook"
            wait_for("the internal load balancer with nothing to serve",
                     lambda: not serving_targets(f"{twin.outputs['ollama_internal_api_url']}/api/version", token, 1),
                     timeout=left(15), interval=1)  # fmt: skip

            # Morning: the clock just before the wake; serving is due before the working day starts on that clock.
            now = twin_scaling.clock(twin.endpoint)["now"]
            (wake_at,) = {twin_scaling.next_run(a.recurrence, a.time_zone, now) for a in starts.values()}
            day_start = twin_scaling.working_day_start(declared.schedule, wake_at)
            assert wake_at < day_start, f"the wake at {wake_at} is not before the working day at {day_start}"
            aws_emulator.set_clock(twin.endpoint, wake_at - CLOCK_LEAD)
            morning = time.monotonic()
            scale = twin_scaling.clock(twin.endpoint)["time_scale"]
            until_day = (day_start - (wake_at - CLOCK_LEAD)).total_seconds() * scale
            wait_for("both groups back at their capacity",
                     lambda: all(_sizes(twin, groups[t]) == capacity[t] for t in groups), timeout=left(30),
                     interval=1)  # fmt: skip
            endpoints = {
                "backend": (f"{twin.outputs['ollama_internal_api_url']}/api/version", token),
                "frontend": (f"{twin.outputs['ollama_service_url']}/health", None),
            }

            def serving() -> bool:
                for tier, name in groups.items():
                    fresh = set(twin.in_service(name)) - before[tier]
                    if len(fresh) != capacity[tier][2] or not serving_targets(*endpoints[tier], requests=2) & fresh:
                        return False
                return True

            # Bounded by the working day's start on the emulator's clock, not by the scenario's budget: that is the
            # requirement (three instances boot at once here).
            wait_for("both tiers serving from new instances through their load balancers", serving,
                     timeout=max(until_day - (time.monotonic() - morning), 1.0), interval=2)  # fmt: skip
            serving_at = twin_scaling.clock(twin.endpoint)["now"]
            assert serving_at < day_start, f"serving at {serving_at}, after the working day started at {day_start}"
            runs = _changes_since(twin, started, "schedule")
            assert {a.name for a in starts.values()} <= {c["scheduled_action_name"] for c in runs}, runs
        woke = round(time.monotonic() - morning, 1)
        early = round((day_start - serving_at).total_seconds() / 60, 1)
        record_property("night_stop_to_empty_seconds", emptied)
        record_property("morning_start_to_serving_seconds", woke)
        record_property("serving_minutes_before_working_day", early)
        print(f"night stop: empty after {emptied} s; morning start: serving after {woke} s, {early} min early")
    finally:
        # Leave the twin as its stack made it, whatever happened above (as running the fleet layer again would).
        for tier, name in groups.items():
            if _sizes(twin, name) != capacity[tier]:
                minimum, maximum, desired = capacity[tier]
                asg.update_auto_scaling_group(
                    AutoScalingGroupName=name, MinSize=minimum, MaxSize=maximum, DesiredCapacity=desired
                )
        # The scenarios after this one need both tiers serving: wait for them (bounded) whatever happened above.
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while time.monotonic() < deadline and not all(
            len(twin.in_service(name)) >= capacity[tier][2] for tier, name in groups.items()
        ):
            time.sleep(5)
