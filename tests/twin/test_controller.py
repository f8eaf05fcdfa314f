"""The twin controller's pure rules: what instance metadata shows, names, where the proxies listen."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tools.twin import controller


@pytest.mark.parametrize(
    ("lifecycle_state", "target"),
    [
        ("Pending", "InService"),
        ("Pending:Wait", "InService"),
        ("Pending:Proceed", "InService"),
        ("InService", "InService"),
        ("Warmed:Pending:Wait", "Warmed:Stopped"),
        ("Warmed:Stopped", "Warmed:Stopped"),
        ("Warmed:Running", "Warmed:Running"),
        ("Terminating:Wait", "Terminated"),
        ("Standby", "Standby"),
        ("Detaching", "Detached"),
        ("", ""),
    ],
)
def test_target_lifecycle_state_shows_where_the_instance_is_going(lifecycle_state, target):
    """AWS: autoscaling/target-lifecycle-state shows the state the instance is transitioning to ("Retrieve the
    target lifecycle state through instance metadata"); an instance outside a group has none."""
    assert controller.target_lifecycle_state(lifecycle_state) == target


def test_names_follow_ec2():
    assert controller.hostname_for("10.213.0.12") == "ip-10-213-0-12"
    assert controller.image_ref("ami-0123") == "localhost/ollama-platform/ami:ami-0123"
    assert controller.container_name("i-0abc") == "ollama-twin-i-0abc"


def test_each_load_balancer_of_the_environment_has_its_own_port():
    ports = controller.proxy_ports("local")
    assert ports == {"ollama-local-alb": 18080, "ollama-local-internal-alb": 18000}
    assert controller.proxy_ports("production") == {"ollama-alb": 18080, "ollama-internal-alb": 18000}


def test_each_region_of_the_twin_has_its_own_network_metadata_port_and_load_balancer_ports():
    """The DR region's controller runs beside the primary's: nothing it binds or creates may collide."""
    primary, dr = controller.TWIN_REGIONS["us-east-1"], controller.TWIN_REGIONS["us-west-2"]
    assert len({primary.network, dr.network}) == len({primary.subnet, dr.subnet}) == 2
    assert primary.metadata_port != dr.metadata_port
    assert set(controller.proxy_ports("local", "us-west-2").values()).isdisjoint(
        controller.proxy_ports("local").values()
    )
    args = controller.parse_args(
        ["run", "--endpoint", "http://127.0.0.1:4566", "--state-dir", "x", "--region", "us-west-2"]
    )
    assert (args.network, args.subnet, args.metadata_port) == (dr.network, dr.subnet, dr.metadata_port)
    assert json.loads(args.proxy_ports) == controller.proxy_ports("local", "us-west-2")
    with pytest.raises(SystemExit):
        controller.parse_args(
            ["run", "--endpoint", "http://127.0.0.1:4566", "--state-dir", "x", "--region", "eu-west-1"]
        )


def test_the_inventory_and_twin_sh_agree_with_the_twins_regions():
    """TWIN_REGIONS is the one definition; the local inventory (a DR stack's network and load balancers) and
    tools/twin.sh (which network it removes) name the DR region's the same way."""
    root = Path(__file__).resolve().parents[2]
    dr = controller.TWIN_REGIONS["us-west-2"]
    inventory = (root / "inventories" / "local" / "group_vars" / "all" / "platform.yml").read_text()
    assert f"'{dr.subnet}' if platform_aws_region == 'us-west-2'" in inventory
    script = (root / "tools" / "twin.sh").read_text()
    assert f"\nDR_REGION=us-west-2\nDR_NETWORK={dr.network}\n" in script
    assert f'SUBNET="${{OLLAMA_TWIN_SUBNET:-{controller.TWIN_REGIONS["us-east-1"].subnet}}}"' in script


def test_a_controller_lists_only_its_own_regions_containers(monkeypatch: pytest.MonkeyPatch):
    """Each controller removes the containers whose instance its region does not have: it must never list another
    region's, or the DR region's controller would remove the primary's fleet."""
    calls = []

    def run(args, **_):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "[]", "")

    monkeypatch.setattr(controller.subprocess, "run", run)
    assert controller.Podman("us-west-2").containers() == {}
    assert "label=ollama-twin-region=us-west-2" in calls[0]


def test_the_link_local_metadata_address_is_only_ever_a_prohibit_route():
    """The controller names AWS's link-local address once, to make it unreachable inside each container."""
    source = Path(controller.__file__).read_text()
    uses = [line for line in source.splitlines() if "LINK_LOCAL_METADATA" in line]
    assert any('"prohibit", LINK_LOCAL_METADATA' in line for line in uses), uses


class _Images:
    """The emulator's DescribeImages (available, owned) and the podman images the twin holds."""

    def __init__(self, images: list[dict], have: set[str]) -> None:
        self.images, self.have, self.calls = images, have, []

    def describe_images(self, **_: object) -> dict:
        return {"Images": self.images}

    def image_exists(self, ref: str) -> bool:
        return ref in self.have

    def __call__(self, *args: str, check: bool = True) -> None:
        self.calls.append(args)
        if args[0] == "tag":
            self.have.add(args[2])


def test_a_copied_image_runs_its_sources_container_image(tmp_path: Path):
    """A CopyImage copy (DescribeImages SourceImageId) gets its source's container image once; a copy whose source
    the twin cannot run is left without one (its instances stay unplayed, as the controller does for any image)."""
    fake = _Images(
        [{"ImageId": "ami-baked"}, {"ImageId": "ami-copy", "SourceImageId": "ami-baked"},
         {"ImageId": "ami-foreign", "SourceImageId": "ami-elsewhere"}],
        {controller.image_ref("ami-baked")},
    )  # fmt: skip
    twin = object.__new__(controller.Controller)
    twin.ec2, twin.podman, twin.state_dir, twin.events, twin._copies_seen = fake, fake, tmp_path, [], set()
    twin.give_copies_their_images()
    twin.give_copies_their_images()
    assert fake.calls == [("tag", controller.image_ref("ami-baked"), controller.image_ref("ami-copy"))]
    assert [e["image"] for e in twin.events if e["event"] == "copy"] == ["ami-copy"]


def test_an_instance_whose_launch_template_is_gone_does_not_stop_the_controller(tmp_path: Path):
    """A launch template deleted while one of its instances still terminates (a group and its template removed
    together, ForceDelete) leaves that instance without a known profile instead of failing every reconcile."""
    from moto import mock_aws

    with mock_aws():
        import boto3

        ec2 = boto3.client("ec2", region_name="us-east-1")
        template = ec2.create_launch_template(
            LaunchTemplateName="gone", LaunchTemplateData={"IamInstanceProfile": {"Name": "backend"}}
        )["LaunchTemplate"]["LaunchTemplateId"]
        twin = object.__new__(controller.Controller)
        twin.ec2, twin._template_profiles = ec2, {}
        tags = {"aws:ec2launchtemplate:id": template, "aws:ec2launchtemplate:version": "1"}
        assert twin.template_profile(tags) == "arn:aws:iam::123456789012:instance-profile/backend"
        ec2.delete_launch_template(LaunchTemplateId=template)
        twin._template_profiles = {}
        assert twin.template_profile(tags) == ""


def test_a_podman_call_that_hangs_is_an_error_the_next_pass_retries(monkeypatch: pytest.MonkeyPatch):
    """A podman call that does not return becomes a ControllerError (logged; the loop goes on)."""

    def hang(*args, **kwargs):
        raise controller.subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(controller.subprocess, "run", hang)
    with pytest.raises(controller.ControllerError, match="did not finish in 5 s"):
        controller.Podman()("run", "--detach", "x", timeout=5)


class _Fleet:
    """The emulator's instances, one running container per instance, and the podman calls the controller makes."""

    def __init__(self, instance: controller.Instance) -> None:
        self.instance, self.calls = instance, []

    def containers(self) -> dict:
        return {
            self.instance.instance_id: {"name": controller.container_name(self.instance.instance_id), "running": True}
        }

    def image_exists(self, ref: str) -> bool:
        return True

    def __call__(self, *args: str, check: bool = True) -> None:
        self.calls.append(args[0])


class _Registry:
    def get(self, ip: str) -> object:
        return object()

    def put(self, record: object) -> None:
        pass

    def set_lifecycle_state(self, instance_id: str, state: str) -> None:
        pass


def test_an_instance_ec2_stopped_and_started_between_two_looks_boots_again(tmp_path: Path):
    """A warm-pool instance taken by scale-out just after it rested may be stopped and started by EC2 between two
    reconciles: its container never stopped, so nothing would run its bootstrap for the new target lifecycle state.
    A LaunchTime later than the one the container booted for means a new boot (AWS sets it at every start)."""
    inst = controller.Instance(
        "i-0warm", "running", "10.213.1.9", "ami-baked", "t3.medium", "us-east-1a", launch_time=100.0
    )
    fleet = _Fleet(inst)
    twin = object.__new__(controller.Controller)
    twin.podman, twin.registry, twin.proxy, twin.state_dir, twin.events = fleet, _Registry(), None, tmp_path, []
    twin._stopped, twin._booted_for = set(), {}
    twin.commit_pending_images = lambda containers: None
    twin.give_copies_their_images = lambda: None
    twin.instances = lambda: [inst]
    twin.metadata_record = lambda i: object()
    twin.block_link_local = lambda name: None
    twin.reconcile()
    twin.reconcile()
    assert fleet.calls == [], "a container is adopted as booted for the launch time it shows (a controller restart)"
    inst.launch_time = 160.0
    twin.reconcile()
    assert fleet.calls == ["stop", "start"]
    assert [e["event"] for e in twin.events] == ["stop", "start"]
    twin.reconcile()
    assert fleet.calls == ["stop", "start"], "booted once for that launch"


class _DeadFleet(_Fleet):
    def containers(self) -> dict:
        return {
            self.instance.instance_id: {"name": controller.container_name(self.instance.instance_id), "running": False}
        }


class _Health:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def set_instance_health(self, **kwargs: str) -> None:
        self.calls.append(kwargs)


def test_a_dead_instance_is_reported_unhealthy_once_not_while_the_group_terminates_it(tmp_path: Path):
    """A machine that stopped running fails its status check once; the group then terminates it, which waits on
    the terminating hook (its drain program died with it), and the controller does not report it again meanwhile."""
    inst = controller.Instance(
        "i-0dead", "running", "10.213.1.9", "ami-baked", "t3.medium", "us-east-1a", launch_time=100.0,
        group="ollama-local-asg", lifecycle_state="InService",
    )  # fmt: skip
    twin = object.__new__(controller.Controller)
    twin.podman, twin.registry, twin.proxy, twin.state_dir, twin.events = (
        _DeadFleet(inst),
        _Registry(),
        None,
        tmp_path,
        [],
    )
    twin.asg, twin._stopped, twin._booted_for = _Health(), set(), {}
    twin.commit_pending_images = lambda containers: None
    twin.give_copies_their_images = lambda: None
    twin.instances = lambda: [inst]
    twin.reconcile()
    assert twin.asg.calls == [{"InstanceId": "i-0dead", "HealthStatus": "Unhealthy"}]
    inst.lifecycle_state = "Terminating:Wait"
    twin.reconcile()
    twin.reconcile()
    assert len(twin.asg.calls) == 1
    assert [e["event"] for e in twin.events] == ["unhealthy"]


class _FollowingProxy:
    def __init__(self) -> None:
        self.synced: list[float] = []

    def sync(self) -> bool:
        self.synced.append(time.monotonic())
        return False

    def target_health(self) -> dict | None:
        return {}


def test_the_load_balancers_follow_their_target_groups_while_a_reconcile_waits():
    """An ALB stops routing to a deregistered target within seconds, whatever EC2 is doing: the twin's proxy keeps
    following the target groups while the reconcile waits on a container's stop or an image's commit."""
    twin = object.__new__(controller.Controller)
    twin.proxy = _FollowingProxy()
    waiting = threading.Event()

    def slow_reconcile() -> None:
        waiting.set()
        time.sleep(2.5)

    twin.reconcile = slow_reconcile
    stop = threading.Event()
    runner = threading.Thread(target=twin.run, args=(stop, 0.2))
    runner.start()
    assert waiting.wait(5)
    started = time.monotonic()
    time.sleep(2)
    stop.set()
    runner.join(10)
    assert not runner.is_alive()
    during = [t for t in twin.proxy.synced if started <= t <= started + 2]
    assert len(during) >= 5, f"the proxy synced {len(during)} times in 2 s while the reconcile waited"


class _CheckingProxy:
    """HAProxy's view of two target groups: what FleetProxy reads through ``Proxy.target_health``."""

    def __init__(self, health: dict) -> None:
        self.health = health

    def pids(self) -> list[int]:
        return [1]

    def target_health(self) -> dict:
        return self.health


def _fleet_proxy(health: dict) -> controller.FleetProxy:
    fleet = object.__new__(controller.FleetProxy)
    fleet.proxy = _CheckingProxy(health)
    fleet._arns = {"web-tg": "arn:tg/web", "api-tg": "arn:tg/api"}
    return fleet


def test_target_health_is_reported_per_target_group_arn_and_only_failed_checks_are_down():
    """The emulator's DescribeTargetHealth answers what the proxy found, by target group ARN, every group listed (a
    group with no target yet too). Auto Scaling's ELB health check marks an instance unhealthy when the load
    balancer reports it unhealthy; an ``initial`` target has not failed a check, it is still being checked."""
    fleet = _fleet_proxy({"web-tg": {"i-1": "healthy", "i-2": "initial", "i-3": "unhealthy"}})
    assert fleet.target_health() == {
        "arn:tg/web": {"i-1": "healthy", "i-2": "initial", "i-3": "unhealthy"},
        "arn:tg/api": {},
    }
    assert fleet.down_targets() == {"i-3"}


def test_the_proxy_checks_at_the_twins_speed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The twin's time scale multiplies AWS's timers (0.2: five times faster); the proxy's is a speed. A target
    group's 15 s interval is checked every 3 s, not every 75 s."""
    from tools.twin import proxy

    seen = []

    def read_state(*args, time_scale: float, **kwargs) -> proxy.ProxyState:
        seen.append(time_scale)
        return proxy.ProxyState()

    monkeypatch.setattr(proxy, "read_state", read_state)
    fleet = controller.FleetProxy(None, None, tmp_path, {}, time_scale=0.2)
    fleet.sync()
    assert seen == [5.0]
    hc = proxy.HealthCheck(interval_s=15, timeout_s=5, healthy_threshold=2, unhealthy_threshold=3)
    rendered = proxy.render(proxy.ProxyState((), (proxy.Backend("web-tg", hc),), time_scale=seen[0]), tmp_path)
    assert "default-server inter 3s rise 2 fall 3" in rendered
    with pytest.raises(controller.ControllerError, match="must be positive"):
        controller.FleetProxy(None, None, tmp_path, {}, time_scale=0)


class _ReportingProxy(_FollowingProxy):
    def __init__(self, reports: list) -> None:
        super().__init__()
        self.reports = reports

    def target_health(self) -> dict | None:
        return self.reports.pop(0) if self.reports else {"arn:tg/web": {"i-1": "healthy"}}


def test_the_follower_reports_each_change_of_target_health_to_the_emulator(monkeypatch: pytest.MonkeyPatch):
    sent = []
    monkeypatch.setattr(controller.aws_emulator, "report_target_health", lambda endpoint, h: sent.append(h))
    twin = object.__new__(controller.Controller)
    twin.endpoint = "http://emulator"
    twin.proxy = _ReportingProxy([None, {}, {"arn:tg/web": {"i-1": "initial"}}, {"arn:tg/web": {"i-1": "initial"}}])
    stop = threading.Event()
    follower = threading.Thread(target=twin.follow_load_balancers, args=(stop, 0.01))
    follower.start()
    time.sleep(0.3)
    stop.set()
    follower.join(5)
    assert sent == [{"arn:tg/web": {"i-1": "initial"}}, {"arn:tg/web": {"i-1": "healthy"}}]
