#!/opt/ollama-platform/venv/bin/python3
"""Leave service without cutting a stream: the instance's side of scale-in, instance refresh and schedules.

Installed by the instance_bootstrap role as /usr/local/sbin/ollama-platform-drain and run by
ollama-platform-drain.service for as long as the instance runs. Every --interval seconds it reads the Auto Scaling
target lifecycle state (IMDSv2) and counts the streams in flight (established connections to the tier's port:
backend nginx :8000, frontend Open-WebUI :8080).

  protect    while streams run, the instance is protected from scale-in (SetInstanceProtection); the protection is
             lifted once it has been idle for --idle-rounds readings, so scale-in picks idle instances first
  drain      when the target state becomes Terminated (scale-in, instance refresh, scheduled stop), or Warmed:* after
             the instance served (a return to the warm pool): stop taking new work (the backend's /ready answers 503),
             wait until no stream is in flight or --drain-seconds pass, stop the tier's services, then complete the
             waiting lifecycle hook (<asg>-drain, or the launch hook for a return to the warm pool) with CONTINUE

The record (/etc/ollama-platform/instance.env, written by the user data) names the group, the hooks and the drain
bound (OLLAMA_PLATFORM_DRAIN_SECONDS, derived by Terraform from the longest generation) and the tier's target group
(OLLAMA_PLATFORM_TARGET_GROUP_ARN, for --restart). The metadata service is
AWS_EC2_METADATA_SERVICE_ENDPOINT when set (as for the AWS SDKs), else AWS's address.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AWS_METADATA_ENDPOINT = "http://169.254.169.254/"  # only on EC2, when AWS_EC2_METADATA_SERVICE_ENDPOINT is unset
DEFAULT_DRAIN_SECONDS = 330
TIER_PORTS = {"backend": 8000, "frontend": 8080}
TIER_SERVICES = {"backend": ("nginx", "ollama"), "frontend": ("open-webui",)}
READY_MARKERS = {"backend": Path("/run/ollama/ready")}  # nginx answers /ready with 200 only while it exists
TCP_ESTABLISHED = "01"


class DrainError(Exception):
    """A failure the operator can act on."""


# -- record and metadata ---------------------------------------------------------------------------------------


def parse_record(text: str) -> dict[str, str]:
    """KEY=VALUE lines (the instance record); comments and blank lines ignored."""
    record = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            record[key.strip()] = value.strip()
    return record


@dataclass(frozen=True)
class Settings:
    tier: str
    region: str
    asg_name: str
    drain_hook: str
    launch_hook: str
    drain_seconds: float
    endpoint_url: str | None
    target_group_arn: str = ""


def settings_from_record(record: dict[str, str]) -> Settings:
    missing = [
        k for k in ("OLLAMA_PLATFORM_ROLE", "OLLAMA_PLATFORM_REGION", "OLLAMA_PLATFORM_ASG_NAME") if not record.get(k)
    ]
    if missing:
        raise DrainError(
            f"the instance record lacks {', '.join(missing)}: the launch template user data wrote an incomplete record"
        )
    tier = record["OLLAMA_PLATFORM_ROLE"]
    if tier not in TIER_PORTS:
        raise DrainError(f"OLLAMA_PLATFORM_ROLE={tier!r} is not a tier (backend, frontend)")
    try:
        drain_seconds = float(record.get("OLLAMA_PLATFORM_DRAIN_SECONDS") or DEFAULT_DRAIN_SECONDS)
    except ValueError as exc:
        raise DrainError(
            f"OLLAMA_PLATFORM_DRAIN_SECONDS={record['OLLAMA_PLATFORM_DRAIN_SECONDS']!r} is not a number of seconds"
        ) from exc
    asg = record["OLLAMA_PLATFORM_ASG_NAME"]
    return Settings(
        tier=tier,
        region=record["OLLAMA_PLATFORM_REGION"],
        asg_name=asg,
        drain_hook=record.get("OLLAMA_PLATFORM_DRAIN_HOOK") or f"{asg}-drain",
        launch_hook=record.get("OLLAMA_PLATFORM_LIFECYCLE_HOOK") or f"{asg}-launch",
        drain_seconds=drain_seconds,
        endpoint_url=record.get("AWS_ENDPOINT_URL") or None,
        target_group_arn=record.get("OLLAMA_PLATFORM_TARGET_GROUP_ARN", ""),
    )


class Metadata:
    """IMDSv2 reads: a token per reading (cheap), instance id once."""

    def __init__(self, base: str, timeout: float = 3.0) -> None:
        if not base.startswith(("http://", "https://")):
            raise DrainError(f"metadata endpoint {base} is not http(s): fix AWS_EC2_METADATA_SERVICE_ENDPOINT")
        self.base = base.rstrip("/") + "/"
        self.timeout = timeout

    def _get(self, path: str) -> str:
        put = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.base + "latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        with urllib.request.urlopen(put, timeout=self.timeout) as response:  # noqa: S310
            token = response.read().decode()
        get = urllib.request.Request(  # noqa: S310
            self.base + "latest/meta-data/" + path, headers={"X-aws-ec2-metadata-token": token}
        )
        try:
            with urllib.request.urlopen(get, timeout=self.timeout) as response:  # noqa: S310
                return response.read().decode().strip()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return ""
            raise

    def instance_id(self) -> str:
        value = self._get("instance-id")
        if not value:
            raise DrainError(f"the metadata service at {self.base} has no instance-id: is this an EC2 instance?")
        return value

    def target_state(self) -> str:
        """The Auto Scaling target lifecycle state; "" when unknown (not in a group yet, metadata unreachable)."""
        try:
            return self._get("autoscaling/target-lifecycle-state")
        except (urllib.error.URLError, OSError):
            return ""


# -- streams in flight -----------------------------------------------------------------------------------------


def established_connections(port: int, tables: Iterable[str]) -> int:
    """Established TCP connections whose local port is `port`, from /proc/net/tcp-format tables."""
    count = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == TCP_ESTABLISHED:
                count += 1
    return count


def read_proc_tables(paths: Iterable[Path] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))) -> list[str]:
    return [path.read_text() for path in paths if path.exists()]


# -- decisions -------------------------------------------------------------------------------------------------


def leaving(target_state: str, served: bool) -> str | None:
    """Which hook waits for this instance to leave service: "drain" (Terminated), "launch" (back to the warm
    pool after serving), or None (stay)."""
    if target_state == "Terminated":
        return "drain"
    if served and target_state.startswith("Warmed:"):
        return "launch"
    return None


@dataclass
class Protection:
    """Scale-in protection with hysteresis: on at the first stream, off after idle_rounds idle readings."""

    idle_rounds: int = 2
    protected: bool = False
    idle: int = field(default=0)

    def decide(self, in_flight: int) -> bool | None:
        """The new protection to set, or None when it stays."""
        if in_flight > 0:
            self.idle = 0
            if not self.protected:
                self.protected = True
                return True
            return None
        self.idle += 1
        if self.protected and self.idle >= self.idle_rounds:
            self.protected = False
            return False
        return None


# terraform/asg.tf: the terminating hook's heartbeat is the drain bound plus this margin.
HOOK_HEARTBEAT_MARGIN_S = 90


def wait_for_streams(
    count: Callable[[], int],
    bound: float,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, float]:
    """Wait until no stream is in flight or `bound` seconds passed; (streams left, seconds waited)."""
    start = clock()
    left = count()
    while left > 0 and clock() - start < bound:
        sleep(min(interval, max(0.0, bound - (clock() - start))))
        left = count()
    return left, clock() - start


# -- actions ---------------------------------------------------------------------------------------------------


def complete_hook(client: Any, settings: Settings, hook: str, instance_id: str) -> str:
    """CompleteLifecycleAction CONTINUE on `hook`; returns "completed" or "nothing waiting"."""
    from ollama_platform_lifecycle import complete_lifecycle_action  # the role installs it beside the SDK

    return complete_lifecycle_action(client, settings.asg_name, hook, instance_id, "CONTINUE")


def set_protection(client: Any, settings: Settings, instance_id: str, protected: bool) -> None:
    client.set_instance_protection(
        InstanceIds=[instance_id], AutoScalingGroupName=settings.asg_name, ProtectedFromScaleIn=protected
    )


def stop_services(tier: str, run: Callable[[list[str]], Any] = subprocess.run) -> None:
    for service in TIER_SERVICES[tier]:
        run(["systemctl", "stop", f"{service}.service"])


def info(message: str) -> None:
    print(f"ollama-platform-drain: {message}", flush=True)


@dataclass
class Drainer:
    """One instance's drain loop, with every outside effect injected (tests use a fake IMDS and client)."""

    settings: Settings
    instance_id: str
    target_state: Callable[[], str]
    in_flight: Callable[[], int]
    client: Any
    stop: Callable[[str], None] = stop_services
    ready_marker: Path | None = None
    interval: float = 5.0
    protection: Protection = field(default_factory=Protection)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    served: bool = False

    def step(self) -> str | None:
        """One reading: protection, then whether to leave. Returns the hook completed when the instance left."""
        state = self.target_state()
        self.served = self.served or state == "InService"
        hook = leaving(state, self.served)
        if hook is not None:
            return self.drain(hook)
        change = self.protection.decide(self.in_flight()) if state == "InService" else None
        if change is not None:
            from botocore.exceptions import BotoCoreError, ClientError
            from botocore.parsers import ResponseParserError

            try:
                set_protection(self.client, self.settings, self.instance_id, change)
            # An answer botocore cannot parse is as passing as an API error: asked again at the next reading.
            except (BotoCoreError, ClientError, ResponseParserError) as exc:
                self.protection.protected = not change  # try again at the next reading
                info(f"could not set scale-in protection to {change} on {self.settings.asg_name}: {exc}")
            else:
                info(f"scale-in protection {'on (streams in flight)' if change else 'off (idle)'}")
        return None

    def drain(self, hook: str) -> str:
        info(
            f"leaving service (hook {hook}): no new work, waiting up to {self.settings.drain_seconds:.0f} s for streams"
        )
        if self.ready_marker is not None:
            self.ready_marker.unlink(missing_ok=True)
        left, waited = wait_for_streams(
            self.in_flight, self.settings.drain_seconds, self.interval, self.clock, self.sleep
        )
        if left:
            info(f"{left} stream(s) still open after {waited:.0f} s (the bound): stopping anyway")
        else:
            info(f"no stream in flight after {waited:.0f} s")
        self.stop(self.settings.tier)
        name = self.settings.drain_hook if hook == "drain" else self.settings.launch_hook
        # The target lifecycle state reads Terminated as soon as a scale-in picks the instance, but the terminating
        # hook's action waits only once the load balancer's deregistration delay has passed (Terminating:Wait): until
        # then Auto Scaling answers that nothing waits. Try again until the hook's heartbeat would have ended it.
        deadline = self.clock() + self.settings.drain_seconds + HOOK_HEARTBEAT_MARGIN_S
        outcome = complete_hook(self.client, self.settings, name, self.instance_id)
        while outcome == "nothing waiting" and self.clock() < deadline:
            self.sleep(self.interval)
            outcome = complete_hook(self.client, self.settings, name, self.instance_id)
        info(f"lifecycle hook {name}: CONTINUE ({outcome})")
        return name

    def run(self, rounds: int | None = None) -> str | None:
        done = 0
        while rounds is None or done < rounds:
            completed = self.step()
            if completed is not None:
                return completed
            done += 1
            self.sleep(self.interval)
        return None


# -- a restart out of service ----------------------------------------------------------------------------------

# What a replica out of service needs besides its drain: Open-WebUI's start and the load balancer's health checks.
RESTART_ALLOWANCE_S = 240


@dataclass
class OutOfServiceRestart:
    """Restart a service without a failed request: leave the target group, let the streams end, restart, come back.

    Only one replica of a group leaves at a time: this one waits until every other registered target is healthy,
    and when two replicas deregister at the same moment, the one that finds no other healthy target left goes back
    and tries again after a random pause. Finding no other target at all means either a group of one or another
    replica out of service right now: it waits up to ``alone_wait_s`` (that replica's drain bound and restart) for
    one to come back, and only then restarts in place (a gap cannot be avoided with one replica; it is said in the
    journal).
    """

    target_group_arn: str
    instance_id: str
    elbv2: Any
    in_flight: Callable[[], int]
    restart: Callable[[], None]
    drain_seconds: float
    interval: float = 5.0
    wait_for_others_s: float = 900.0
    alone_wait_s: float = 0.0
    healthy_timeout_s: float = 600.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    pause: Callable[[], float] = lambda: random.uniform(5.0, 20.0)  # noqa: S311 - spreads retries, not a secret

    def others(self) -> tuple[list[str], list[str]]:
        """(the other registered targets, those of them that are healthy)."""
        described = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        others = [d for d in described["TargetHealthDescriptions"] if d["Target"]["Id"] != self.instance_id]
        healthy = [d["Target"]["Id"] for d in others if d["TargetHealth"]["State"] == "healthy"]
        return [d["Target"]["Id"] for d in others], healthy

    def own_state(self) -> str:
        described = self.elbv2.describe_target_health(
            TargetGroupArn=self.target_group_arn, Targets=[{"Id": self.instance_id}]
        )["TargetHealthDescriptions"]
        return described[0]["TargetHealth"]["State"] if described else "unused"

    def _wait_until_others_serve(self) -> bool:
        """True once every other target is healthy (at least one); False when this stayed the only target."""
        started = self.clock()
        while True:
            others, healthy = self.others()
            waited = self.clock() - started
            if healthy and (len(healthy) == len(others) or waited >= self.wait_for_others_s):
                return True
            if not others and waited >= self.alone_wait_s:
                return False
            self.sleep(self.interval)

    def run(self) -> str:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        try:
            self.others()
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            # No route to the load balancer API (no elasticloadbalancing endpoint in the VPC, as in dev).
            info(f"the load balancer API cannot be reached ({exc}): restarting in place")
            self.restart()
            return "in place"
        while True:
            if not self._wait_until_others_serve():
                info("the only target of its group: restarting in place (one replica cannot restart without a gap)")
                self.restart()
                return "in place"
            self.elbv2.deregister_targets(TargetGroupArn=self.target_group_arn, Targets=[{"Id": self.instance_id}])
            if self.others()[1]:
                break
            # Another replica left at the same moment: go back, and try again after a pause.
            self.elbv2.register_targets(TargetGroupArn=self.target_group_arn, Targets=[{"Id": self.instance_id}])
            info("another replica is leaving its target group at the same time: trying again after a pause")
            self.sleep(self.pause())
        info("deregistered from the target group: no new requests; waiting for the streams in flight")
        self.sleep(self.interval)  # the load balancer stops routing new requests to a deregistered target
        left, waited = wait_for_streams(self.in_flight, self.drain_seconds, self.interval, self.clock, self.sleep)
        info(
            f"{left} stream(s) still open after {waited:.0f} s (the bound)"
            if left
            else f"no stream after {waited:.0f} s"
        )
        try:
            self.restart()
        finally:
            self.elbv2.register_targets(TargetGroupArn=self.target_group_arn, Targets=[{"Id": self.instance_id}])
        deadline = self.clock() + self.healthy_timeout_s
        while (state := self.own_state()) != "healthy":
            if self.clock() >= deadline:
                raise DrainError(
                    f"registered again, but the load balancer still sees the target {state} after "
                    f"{self.healthy_timeout_s:.0f} s: read the service's journal"
                )
            self.sleep(self.interval)
        info("back in the target group and healthy")
        return "out of service"


def unit_active(unit: str, run: Callable[..., Any] = subprocess.run) -> bool:
    return run(["systemctl", "is-active", "--quiet", unit], check=False).returncode == 0


def restart_unit(unit: str, run: Callable[..., Any] = subprocess.run) -> None:
    run(["systemctl", "restart", unit], check=True)


def parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ollama-platform-drain", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=Path("/etc/ollama-platform/instance.env"))
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between readings (default 5)")
    parser.add_argument("--idle-rounds", type=int, default=6, help="idle readings before protection is lifted")
    parser.add_argument("--restart", metavar="UNIT", default="", help="restart UNIT out of service, then exit")
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_from_record(parse_record(args.env_file.read_text()))
        metadata = Metadata(os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or AWS_METADATA_ENDPOINT)
        import boto3

        session = boto3.session.Session(region_name=settings.region)
        if args.restart:
            return restart_out_of_service(args, settings, metadata, session)
        client = session.client("autoscaling", endpoint_url=settings.endpoint_url)
        drainer = Drainer(
            settings=settings,
            instance_id=metadata.instance_id(),
            target_state=metadata.target_state,
            in_flight=lambda: established_connections(TIER_PORTS[settings.tier], read_proc_tables()),
            client=client,
            ready_marker=READY_MARKERS.get(settings.tier),
            interval=args.interval,
            protection=Protection(idle_rounds=args.idle_rounds),
        )
        drainer.run()
    except (DrainError, OSError, subprocess.CalledProcessError) as exc:
        print(f"ollama-platform-drain: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def restart_out_of_service(args: argparse.Namespace, settings: Settings, metadata: Metadata, session: Any) -> int:
    if not unit_active(args.restart):
        info(f"{args.restart} is not running: nothing to restart")
        return 0
    if not settings.target_group_arn:
        raise DrainError(
            "the instance record lacks OLLAMA_PLATFORM_TARGET_GROUP_ARN: the launch template user data names the "
            "tier's target group (terraform/asg.tf)"
        )
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    restarter = OutOfServiceRestart(
        target_group_arn=settings.target_group_arn,
        instance_id=metadata.instance_id(),
        # Fail fast where the VPC has no route to the API (then: in place), instead of the SDK's minutes of retries.
        elbv2=session.client(
            "elbv2",
            endpoint_url=settings.endpoint_url,
            config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2}),
        ),
        in_flight=lambda: established_connections(TIER_PORTS[settings.tier], read_proc_tables()),
        restart=lambda: restart_unit(args.restart),
        drain_seconds=settings.drain_seconds,
        interval=args.interval,
        # Another replica may be out of service right now: its drain bound, its restart and its health checks.
        alone_wait_s=settings.drain_seconds + RESTART_ALLOWANCE_S,
    )
    try:
        info(f"{args.restart}: restarted {restarter.run()}")
    except (BotoCoreError, ClientError) as exc:
        raise DrainError(
            f"the load balancer call failed ({exc}): the instance role allows the tier's target group"
        ) from exc
    return 0


if __name__ == "__main__":
    sys.exit(main())
