"""ollama-platform-drain: scale-in protection while streaming and the drain on a terminating lifecycle hook.

The metadata service is a real IMDSv2 double on loopback (token required); Auto Scaling is a recording fake that
answers like AWS (a completion with nothing waiting is a ValidationError); the clock is simulated.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from bootstrap_helpers import ROLE, backend_record, load
from botocore.exceptions import ClientError

drain = load(ROLE / "files" / "ollama-platform-drain.py", "ollama_platform_drain")

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def tcp_line(local_port: int, state: str) -> str:
    return f"   0: 0A00000A:{local_port:04X} 0A000014:D431 {state} 00000000:00000000 00:00000000 00000000 0 0 1\n"


class FakeIMDS(BaseHTTPRequestHandler):
    """IMDSv2: PUT a token, then GET with it; 401 without."""

    state: ClassVar[dict[str, str]] = {}
    TOKEN = "imds-token"

    def do_PUT(self) -> None:
        self._answer(200, self.TOKEN)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != self.TOKEN:
            self._answer(401, "")
            return
        values = {
            "/latest/meta-data/instance-id": "i-0123456789abcdef0",
            "/latest/meta-data/autoscaling/target-lifecycle-state": self.state.get("target", ""),
        }
        value = values.get(self.path)
        self._answer(200, value) if value else self._answer(404, "")

    def _answer(self, status: int, body: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def imds():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIMDS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeIMDS.state.clear()
    yield FakeIMDS.state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class FakeAutoScaling:
    def __init__(self, waiting: set[str], failures: list[Exception] | None = None) -> None:
        self.waiting = set(waiting)
        self.calls: list[tuple[str, dict]] = []
        self.failures = list(failures or [])  # raised by the next protection calls, in order

    def complete_lifecycle_action(self, **kwargs: Any) -> dict:
        self.calls.append(("complete_lifecycle_action", kwargs))
        if kwargs["LifecycleHookName"] not in self.waiting:
            error = {"Code": "ValidationError", "Message": "No active Lifecycle Action found with instance ID"}
            raise ClientError({"Error": error}, "CompleteLifecycleAction")
        self.waiting.discard(kwargs["LifecycleHookName"])
        return {}

    def set_instance_protection(self, **kwargs: Any) -> dict:
        self.calls.append(("set_instance_protection", kwargs))
        if self.failures:
            raise self.failures.pop(0)
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def settings(**overrides: str):
    return drain.settings_from_record(backend_record(OLLAMA_PLATFORM_DRAIN_SECONDS="120", **overrides))


def make_drainer(imds_base: str, client: FakeAutoScaling, streams: list[int], clock: Clock, tmp_path: Path, **kw):
    """streams: the in-flight count at each reading (the last repeats)."""
    readings = iter(streams)
    last = [streams[-1]]

    def in_flight() -> int:
        last[0] = next(readings, last[0])
        return last[0]

    metadata = drain.Metadata(imds_base)
    marker = tmp_path / "ready"
    marker.write_text("ready\n")
    stopped: list[str] = []
    drainer = drain.Drainer(
        settings=kw.pop("settings", settings()),
        instance_id=metadata.instance_id(),
        target_state=metadata.target_state,
        in_flight=in_flight,
        client=client,
        stop=stopped.append,
        ready_marker=marker,
        interval=5.0,
        clock=clock,
        sleep=clock.sleep,
        **kw,
    )
    return drainer, stopped, marker


# -- record, metadata, connections -------------------------------------------------------------------------------


def test_settings_derive_the_hooks_from_the_group():
    derived = drain.settings_from_record(backend_record())
    assert (derived.drain_hook, derived.launch_hook) == ("ollama-dev-asg-drain", "ollama-dev-asg-launch")
    assert derived.drain_seconds == drain.DEFAULT_DRAIN_SECONDS


def test_settings_refuse_a_bad_drain_bound_with_the_key_named():
    with pytest.raises(drain.DrainError, match="OLLAMA_PLATFORM_DRAIN_SECONDS='soon' is not a number"):
        drain.settings_from_record(backend_record(OLLAMA_PLATFORM_DRAIN_SECONDS="soon"))


def test_settings_name_missing_record_keys():
    record = backend_record()
    del record["OLLAMA_PLATFORM_ASG_NAME"]
    with pytest.raises(drain.DrainError, match="lacks OLLAMA_PLATFORM_ASG_NAME"):
        drain.settings_from_record(record)


def test_metadata_reads_the_target_state_with_a_token(imds):
    state, base = imds
    state["target"] = "Terminated"
    assert drain.Metadata(base).target_state() == "Terminated"
    state["target"] = ""
    assert drain.Metadata(base).target_state() == ""  # 404: not in a group


def test_metadata_unreachable_reads_as_unknown_not_as_a_crash():
    assert drain.Metadata("http://127.0.0.1:9").target_state() == ""


def test_established_connections_count_the_tier_port_only():
    table = TCP_HEADER + tcp_line(8000, "01") + tcp_line(8000, "01") + tcp_line(8000, "0A") + tcp_line(11434, "01")
    assert drain.established_connections(8000, [table]) == 2  # LISTEN (0A) and other ports are not streams
    assert drain.established_connections(8080, [table]) == 0


# -- decisions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "served", "hook"),
    [
        ("InService", True, None),
        ("Terminated", False, "drain"),
        ("Terminated", True, "drain"),
        ("Warmed:Stopped", True, "launch"),  # back to the warm pool after serving
        ("Warmed:Stopped", False, None),  # a new warm instance: the bootstrap's launch hook, not a drain
        ("", True, None),
    ],
)
def test_leaving(state, served, hook):
    assert drain.leaving(state, served) == hook


def test_protection_turns_on_at_the_first_stream_and_off_after_idle_rounds():
    protection = drain.Protection(idle_rounds=2)
    assert [protection.decide(n) for n in [0, 2, 1, 0, 3, 0, 0, 0]] == [None, True, None, None, None, None, False, None]


# -- the loop ---------------------------------------------------------------------------------------------------


def test_protected_while_streaming_then_released(imds, tmp_path):
    state, base = imds
    state["target"] = "InService"
    client = FakeAutoScaling(waiting=set())
    drainer, _, _ = make_drainer(base, client, [0, 3, 2, 0, 0], Clock(), tmp_path, protection=drain.Protection(2))
    assert drainer.run(rounds=5) is None
    protection = [c[1]["ProtectedFromScaleIn"] for c in client.calls if c[0] == "set_instance_protection"]
    assert protection == [True, False]
    assert client.calls[0][1]["AutoScalingGroupName"] == "ollama-dev-asg"
    assert client.calls[0][1]["InstanceIds"] == ["i-0123456789abcdef0"]


def test_an_unparseable_api_answer_is_retried_at_the_next_reading(imds, tmp_path):
    """An HTML 5xx page where the API's XML was expected (botocore's ResponseParserError) does not end the program:
    protection is asked for again at the next reading."""
    from botocore.parsers import ResponseParserError

    state, base = imds
    state["target"] = "InService"
    client = FakeAutoScaling(waiting=set(), failures=[ResponseParserError("invalid XML received")])
    drainer, _, _ = make_drainer(base, client, [3, 3, 3], Clock(), tmp_path, protection=drain.Protection(2))
    assert drainer.run(rounds=3) is None
    protection = [c[1]["ProtectedFromScaleIn"] for c in client.calls if c[0] == "set_instance_protection"]
    assert protection == [True, True]


def test_terminating_waits_for_the_streams_then_continues(imds, tmp_path):
    state, base = imds
    state["target"] = "Terminated"
    client = FakeAutoScaling(waiting={"ollama-dev-asg-drain"})
    clock = Clock()
    drainer, stopped, marker = make_drainer(base, client, [2, 2, 1, 0], clock, tmp_path)
    assert drainer.run() == "ollama-dev-asg-drain"
    assert not marker.exists(), "the backend must stop answering /ready before it waits"
    assert stopped == ["backend"]
    assert 0 < clock.now < 120, "it leaves as soon as the streams ended, not at the bound"
    completions = [c[1] for c in client.calls if c[0] == "complete_lifecycle_action"]
    assert completions == [
        {
            "LifecycleHookName": "ollama-dev-asg-drain",
            "AutoScalingGroupName": "ollama-dev-asg",
            "LifecycleActionResult": "CONTINUE",
            "InstanceId": "i-0123456789abcdef0",
        }
    ]
    assert client.waiting == set()


def test_a_stream_that_never_ends_is_cut_at_the_bound(imds, tmp_path):
    state, base = imds
    state["target"] = "Terminated"
    client = FakeAutoScaling(waiting={"ollama-dev-asg-drain"})
    clock = Clock()
    drainer, stopped, _ = make_drainer(base, client, [1], clock, tmp_path)
    assert drainer.run() == "ollama-dev-asg-drain"
    assert clock.now == pytest.approx(120), "the wait is bounded by OLLAMA_PLATFORM_DRAIN_SECONDS"
    assert stopped == ["backend"] and client.waiting == set()


def test_a_hook_not_yet_waiting_is_completed_once_it_waits(imds, tmp_path):
    """The target state reads Terminated from the scale-in on, the hook's action waits only after the deregistration
    delay (Terminating:Wait): the drain keeps trying until it can complete it, instead of leaving it to time out."""
    state, base = imds
    state["target"] = "Terminated"

    class Delayed(FakeAutoScaling):
        def complete_lifecycle_action(self, **kwargs: Any) -> dict:
            if len(self.calls) == 3:  # the deregistration delay has passed: the action waits now
                self.waiting.add("ollama-dev-asg-drain")
            return super().complete_lifecycle_action(**kwargs)

    client = Delayed(waiting=set())
    drainer, _, _ = make_drainer(base, client, [0], Clock(), tmp_path)
    assert drainer.run() == "ollama-dev-asg-drain"
    completions = [c for c in client.calls if c[0] == "complete_lifecycle_action"]
    assert len(completions) == 4 and client.waiting == set(), "completed once the action waited"


def test_services_stop_before_the_hook_completes(imds, tmp_path):
    state, base = imds
    state["target"] = "Terminated"
    order: list[str] = []

    class Ordered(FakeAutoScaling):
        def complete_lifecycle_action(self, **kwargs: Any) -> dict:
            order.append("complete")
            return super().complete_lifecycle_action(**kwargs)

    drainer, _, _ = make_drainer(base, Ordered({"ollama-dev-asg-drain"}), [0], Clock(), tmp_path)
    drainer.stop = lambda tier: order.append(f"stop {tier}")
    drainer.run()
    assert order == ["stop backend", "complete"]


def test_return_to_the_warm_pool_completes_the_launch_hook(imds, tmp_path):
    state, base = imds
    client = FakeAutoScaling(waiting={"ollama-dev-asg-launch"})
    drainer, stopped, _ = make_drainer(base, client, [0], Clock(), tmp_path)
    state["target"] = "InService"
    assert drainer.step() is None
    state["target"] = "Warmed:Stopped"
    assert drainer.step() == "ollama-dev-asg-launch"
    assert stopped == ["backend"] and client.waiting == set()


def test_nothing_waiting_is_not_a_failure(imds, tmp_path):
    """A hook already completed (a restart of the unit mid-drain) is fine: AWS answers ValidationError."""
    state, base = imds
    state["target"] = "Terminated"
    drainer, _, _ = make_drainer(base, FakeAutoScaling(waiting=set()), [0], Clock(), tmp_path)
    assert drainer.run() == "ollama-dev-asg-drain"


def test_the_unit_is_pulled_in_by_the_bootstrap_and_runs_the_installed_program():
    unit = (ROLE / "templates" / "ollama-platform-drain.service.j2").read_text()
    assert "WantedBy=ollama-platform-bootstrap.service" in unit
    assert "After=ollama-platform-bootstrap.service" in unit
    assert "{{ instance_bootstrap__drain_program }}" in unit and "Restart=on-failure" in unit
    tasks = (ROLE / "tasks" / "service.yml").read_text()
    assert "src: ollama-platform-drain.py" in tasks and "instance_bootstrap__drain_unit" in tasks


# -- a restart out of service (a secret rotation) --------------------------------------------------------------

SELF = "i-0123456789abcdef0"
TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/ollama-dev-frontend-tg/0123456789abcdef"


class FakeTargetGroup:
    """ELBv2 for one target group, as AWS answers: a deregistered target leaves the listing once drained, a
    registered one reads `initial` until its first health checks passed (here: the next reading)."""

    def __init__(self, states: dict[str, str], on_deregister: Any = None) -> None:
        self.states = dict(states)
        self.on_deregister = on_deregister
        self.calls: list[str] = []

    def describe_target_health(self, TargetGroupArn: str, Targets: list | None = None) -> dict:
        assert TargetGroupArn == TARGET_GROUP
        wanted = {t["Id"] for t in Targets} if Targets else set(self.states)
        found = [
            {"Target": {"Id": i, "Port": 8080}, "TargetHealth": {"State": s}}
            for i, s in self.states.items()
            if i in wanted
        ]
        for i, s in self.states.items():  # a health check passes between two readings
            self.states[i] = "healthy" if s == "initial" else s
        return {"TargetHealthDescriptions": found}

    def deregister_targets(self, TargetGroupArn: str, Targets: list) -> dict:
        self.calls.append(f"deregister {Targets[0]['Id']}")
        self.states.pop(Targets[0]["Id"], None)
        if self.on_deregister:
            self.on_deregister(self)
        return {}

    def register_targets(self, TargetGroupArn: str, Targets: list) -> dict:
        self.calls.append(f"register {Targets[0]['Id']}")
        self.states[Targets[0]["Id"]] = "initial"
        return {}


def make_restart(elb: FakeTargetGroup, streams: list[int], clock: Clock, events: list[str], **kw):
    def in_flight() -> int:
        return streams.pop(0) if len(streams) > 1 else streams[0]

    return drain.OutOfServiceRestart(
        target_group_arn=TARGET_GROUP, instance_id=SELF, elbv2=elb, in_flight=in_flight,
        restart=lambda: events.append("restart"), drain_seconds=60, interval=5, clock=clock, sleep=clock.sleep,
        pause=lambda: 7.0, **kw,
    )  # fmt: skip


def test_restart_leaves_the_group_waits_for_streams_and_comes_back_healthy():
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy", "i-other": "healthy"})
    restart = make_restart(elb, [2, 1, 0], clock, events)
    assert restart.run() == "out of service"
    assert elb.calls == [f"deregister {SELF}", f"register {SELF}"]
    assert events == ["restart"]
    assert elb.states[SELF] == "healthy"
    assert clock.now >= 15  # the streams ended before the restart


def test_restart_waits_while_another_replica_is_not_healthy():
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy", "i-other": "draining"})

    original = elb.describe_target_health

    def describe(**kwargs: Any) -> dict:
        if clock.now >= 30:
            elb.states["i-other"] = "healthy"
        return original(**kwargs)

    elb.describe_target_health = describe
    restart = make_restart(elb, [0], clock, events)
    restart.run()
    assert clock.now >= 30
    assert elb.calls[0] == f"deregister {SELF}"


def test_two_replicas_leaving_together_go_back_and_retry():
    clock, events = Clock(), []
    # The other replica deregisters at the same moment the first time, and is back (healthy) after the pause.
    rounds = {"n": 0}

    def other_leaves_once(elb: FakeTargetGroup) -> None:
        rounds["n"] += 1
        if rounds["n"] == 1:
            elb.states.pop("i-other")

    elb = FakeTargetGroup({SELF: "healthy", "i-other": "healthy"}, on_deregister=other_leaves_once)
    original = elb.register_targets

    def register(**kwargs: Any) -> dict:
        elb.states.setdefault("i-other", "healthy")  # the other replica came back meanwhile
        return original(**kwargs)

    elb.register_targets = register
    restart = make_restart(elb, [0], clock, events)
    assert restart.run() == "out of service"
    assert elb.calls == [f"deregister {SELF}", f"register {SELF}", f"deregister {SELF}", f"register {SELF}"]
    assert events == ["restart"]


def test_the_only_target_restarts_in_place():
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy"})
    assert make_restart(elb, [3], clock, events).run() == "in place"
    assert elb.calls == [] and events == ["restart"]


def test_a_target_that_never_becomes_healthy_again_is_reported():
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy", "i-other": "healthy"})
    original = elb.register_targets

    def register(**kwargs: Any) -> dict:
        original(**kwargs)
        elb.states[SELF] = "unhealthy"
        return {}

    elb.register_targets = register
    restart = make_restart(elb, [0], clock, events, healthy_timeout_s=30)
    with pytest.raises(drain.DrainError, match="still sees the target unhealthy"):
        restart.run()


def test_restart_without_a_target_group_in_the_record_names_the_key(tmp_path, monkeypatch, capsys):
    record = tmp_path / "instance.env"
    record.write_text("\n".join(f"{k}={v}" for k, v in backend_record(OLLAMA_PLATFORM_ROLE="frontend").items()))
    monkeypatch.setattr(drain, "unit_active", lambda unit: True)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/")
    assert drain.main(["--env-file", str(record), "--restart", "open-webui.service"]) == 1
    assert "lacks OLLAMA_PLATFORM_TARGET_GROUP_ARN" in capsys.readouterr().err


def test_a_replica_alone_for_a_moment_waits_for_the_other_to_come_back():
    """The other replica is out of service (deregistered) when this one looks: it comes back, and this one then
    restarts out of service, not in place."""
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy"})
    original = elb.describe_target_health

    def describe(**kwargs: Any) -> dict:
        if clock.now >= 40:
            elb.states.setdefault("i-other", "healthy")
        return original(**kwargs)

    elb.describe_target_health = describe
    restart = make_restart(elb, [0], clock, events, alone_wait_s=300)
    assert restart.run() == "out of service"
    assert elb.calls[0] == f"deregister {SELF}" and clock.now >= 40


def test_a_group_of_one_restarts_in_place_after_the_wait():
    clock, events = Clock(), []
    elb = FakeTargetGroup({SELF: "healthy"})
    assert make_restart(elb, [0], clock, events, alone_wait_s=120).run() == "in place"
    assert clock.now >= 120 and elb.calls == []


def test_without_a_route_to_the_load_balancer_api_it_restarts_in_place():
    """A VPC without the elasticloadbalancing endpoint (dev): the rotation is still followed, in place."""
    from botocore.exceptions import EndpointConnectionError

    class Unreachable(FakeTargetGroup):
        def describe_target_health(self, **kwargs: Any) -> dict:
            raise EndpointConnectionError(endpoint_url="https://elasticloadbalancing.us-east-1.amazonaws.com/")

    clock, events = Clock(), []
    elb = Unreachable({SELF: "healthy", "i-other": "healthy"})
    assert make_restart(elb, [0], clock, events).run() == "in place"
    assert events == ["restart"] and elb.calls == []
