"""A backend group with a warm pool of one: the warmed instance configures itself and completes its launch hook on
the way into the pool (target state Warmed:Stopped), rests stopped, and on scale-out is started, completes the hook
again (target state InService) and serves, also when the scale-out comes the moment the instance rests.

Product: the bootstrap reads autoscaling/target-lifecycle-state and completes the hook in both passes (the same code
on AWS). Twin: the emulator plays the warm pool's lifecycle (tests/foundation/test_emulator_warm_pools.py, from AWS's
documentation), and a stopped instance is a stopped container that the controller starts again.
"""

from __future__ import annotations

import time

import pytest

from tests.twin.scenarios.conftest import STATE_DIR, Twin, console, explained, http, wait_for
from tools import aws_emulator

pytestmark = pytest.mark.twin


def _ec2_state(twin: Twin, instance_id: str) -> str:
    reservations = twin.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def _warm_instances(twin: Twin, group: str) -> dict[str, str]:
    pool = twin.client("autoscaling").describe_warm_pool(AutoScalingGroupName=group)
    return {i["InstanceId"]: i["LifecycleState"] for i in pool.get("Instances", [])}


def _completions(twin: Twin, instance_id: str) -> list[str]:
    return [a["result"] for a in aws_emulator.lifecycle_actions(twin.endpoint) if a["instance_id"] == instance_id]


def _history(twin: Twin, instance_id: str) -> str:
    """Why the instance's lifecycle actions ended (the instance's call, or the hook's timeout) and what its bootstrap
    wrote on the console: running, from the journal; terminated, from the console the controller kept."""
    actions = [
        f"{a['lifecycle_transition']} {a['result']} by {a['cause']} at {a['time']}"
        for a in aws_emulator.lifecycle_actions(twin.endpoint)
        if a["instance_id"] == instance_id
    ]
    saved = STATE_DIR / "console" / f"{instance_id}.log"
    if saved.exists():
        text = saved.read_text(errors="replace")
    else:
        text = console(instance_id, "journalctl", "-u", "ollama-platform-bootstrap", "--no-pager", "-o", "cat").stdout
    said = [line for line in text.splitlines() if "bootstrap" in line or "FAILED" in line][-25:]
    return "lifecycle actions: " + "; ".join(actions) + "\nbootstrap on the console:\n" + "\n".join(said)


def test_scale_out_takes_the_warmed_instance_which_completes_both_hooks_and_serves(twin: Twin, record_property):
    asg, group = twin.client("autoscaling"), twin.outputs["ollama_backend_asg_name"]
    twin.wait_settled(group)
    desired, minimum = twin.group(group)["DesiredCapacity"], twin.group(group)["MinSize"]
    before = set(twin.in_service(group))
    asg.put_warm_pool(AutoScalingGroupName=group, MaxGroupPreparedCapacity=desired + 1, PoolState="Stopped")
    try:
        with explained(twin, [group]):
            warmed = wait_for(
                "a warm-pool instance resting in Warmed:Stopped",
                lambda: [i for i, s in _warm_instances(twin, group).items() if s == "Warmed:Stopped"],
                timeout=900,
                interval=1,
            )[0]
            print(f"warm pool: {warmed} rests in Warmed:Stopped; in service before: {sorted(before)}")
            assert _completions(twin, warmed) == ["CONTINUE"], "the warmed instance did not complete its launch hook"
            assert _ec2_state(twin, warmed) == "stopped", "a Stopped pool's instance rests as a stopped EC2 instance"
            # Scale-out comes at once, as it may on AWS: the instance boots again even when its machine had no time
            # to stop before EC2 started it (the twin's controller sees the new LaunchTime).
            started = time.monotonic()
            # The minimum rises too: the in-flight target tracking policy would scale the idle group back in.
            asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=desired + 1, DesiredCapacity=desired + 1)
            new = wait_for(
                "the warmed instance InService",
                lambda: sorted(set(twin.in_service(group)) - before),
                timeout=600,
                interval=3,
            )
            assert new == [warmed], (
                f"scale-out launched {new} instead of taking the warmed {warmed}; the pool now: "
                f"{_warm_instances(twin, group)}; {warmed}: EC2 {_ec2_state(twin, warmed)}\n{_history(twin, warmed)}"
            )
            seconds = round(time.monotonic() - started, 1)
            assert _completions(twin, warmed) == ["CONTINUE", "CONTINUE"], _history(twin, warmed)
            journal = console(warmed, "journalctl", "-u", "ollama-platform-bootstrap", "--no-pager", "-o", "cat").stdout
            assert "target lifecycle state InService" in journal, journal[-1500:]
            token = {"Authorization": f"Bearer {twin.token()}"}
            version_url = f"{twin.outputs['ollama_internal_api_url']}/api/version"

            def served() -> bool:
                for _ in range(6):
                    try:
                        status, headers, _ = http(version_url, token, timeout=10)
                    except OSError:
                        continue
                    if status == 200 and headers.get("x-served-by") == warmed:
                        return True
                return False

            wait_for("the warmed instance serving through the internal load balancer", served, timeout=180)
            record_property("warm_pool_scale_out_to_in_service_seconds", seconds)
            print(f"warm pool: scale-out to InService in {seconds} s")
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=minimum, DesiredCapacity=desired)
        asg.delete_warm_pool(AutoScalingGroupName=group, ForceDelete=True)
