"""The twin's load balancers as real proxies: the emulator's ELBv2 state rendered as one HAProxy configuration.

Every listener of every load balancer becomes a ``frontend``, every target group a ``backend`` whose servers are the
group's registered targets (named by instance id, addressed by the instance's private IP) with the group's health
check. One HAProxy process serves them all, with its own configuration file; it is not the Debian system service::

    state = read_state(boto3.client("elbv2"), boto3.client("ec2"), {"ollama-local-alb": 18080},
                       bind_addresses=("127.0.0.1", "10.88.0.1"))
    proxy = Proxy(Path(".cache/twin/haproxy.cfg"), Path(".cache/twin/haproxy.pid"))
    proxy.apply(proxy.render(state))     # start, or reload with -sf so running streams finish
    proxy.server_states()                # {"ollama-local-frontend-tg": {"i-0abc...": "UP", ...}}
    proxy.target_health()                # {"ollama-local-frontend-tg": {"i-0abc...": "healthy", ...}}
    proxy.stop()

Like an ALB: round robin across healthy targets, the target group's health check (path, port, interval, timeout,
healthy/unhealthy thresholds, matcher), fail open when every registered target is unhealthy, 503 when a target group
has no registered target, the load balancer's idle timeout (``idle_timeout.timeout_seconds``, default 60 s) on idle
connections, websockets and streamed responses passed through unbuffered.

Twin differences, all of them here:
- HTTPS listeners listen in plain HTTP (the twin has no certificates); the configuration says so in a comment.
- Listeners bind a host port from the caller's port map, not their own port (two load balancers both use 80).
- ``time_scale`` divides health-check intervals (minimum 1 s) so the twin converges faster; a check's timeout is
  AWS's, at most the interval (the twin's instances share two cores and answer slower than AWS's).
- Every response carries ``X-Served-By: <instance-id>``; an ALB adds no such header.
- Only default actions (``forward`` to one target group, ``fixed-response``) are rendered; listener rules,
  redirects, weighted forwards to several groups, stickiness and the deregistration delay are not.
- Target health is HAProxy's: a new server starts down (HAProxy would start it up; the server-state file says
  down) and takes requests once ``healthy_threshold`` checks passed, as an ALB routes to a new target once it is
  healthy. ``target_health()`` says it in ELB's words (initial, healthy, unhealthy). Server states survive
  reloads (``server-state-file``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_IDLE_TIMEOUT_S = 60  # an ALB's idle timeout when none is set
# The one stream-timeout setting the stack's load balancers and CloudFront derive from (terraform/timeouts.tf).
STREAM_TIMEOUTS_FILE = Path(__file__).resolve().parents[2] / "terraform" / "stream_timeouts.json"
CONNECT_TIMEOUT_S = 10
FAIL_OPEN_SUFFIX = ".failopen"
SOCKET_NAME = "haproxy.sock"
STATE_NAME = "haproxy.state"
# The server-state file's format (`show servers state`); a new server's line says: stopped, health 0, checks on.
STATE_VERSION = "1"
STATE_FIELDS = (
    "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state "
    "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr "
    "srv_agent_addr srv_agent_port"
)
# HAProxy's check results (`show stat` check_status) that mean the last check passed, or that none has run yet.
CHECK_PASSED = ("L4OK", "L6OK", "L7OK", "L7OKC")
CHECK_NOT_RUN = ("", "INI", "UNK")
START_TIMEOUT_S = 10.0
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


class ProxyError(RuntimeError):
    """A problem the operator can fix; the message says how."""


def stream_idle_timeout_s(path: Path = STREAM_TIMEOUTS_FILE) -> int:
    """The idle timeout the stack gives its load balancers, from the shared setting: the longer of the worst-case time
    to the first byte (a cold model load) and the longest gap between tokens, plus the margin (terraform/timeouts.tf
    computes the same ``local.stream_idle_timeout``). Set it as ``idle_timeout.timeout_seconds`` of the twin's load
    balancers so their proxies time out like the ALBs."""
    try:
        setting = json.loads(path.read_text(encoding="utf-8"))
        first_byte, token_gap, margin = (
            int(setting[k]) for k in ("first_byte_seconds", "token_gap_seconds", "margin_seconds")
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProxyError(
            f"{path}: cannot read the stream timeouts ({exc}): it must hold first_byte_seconds, token_gap_seconds and "
            "margin_seconds as whole seconds"
        ) from exc
    return max(first_byte, token_gap) + margin


# ----------------------------------------------------------------------------------------------------------- state
@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check, in the ELBv2 API's terms."""

    enabled: bool = True
    path: str = "/"
    port: int | None = None  # None: the traffic port
    interval_s: int = 30
    timeout_s: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    protocol: str = "HTTP"


@dataclass(frozen=True)
class Target:
    """A registered target: the instance id names the HAProxy server."""

    instance_id: str
    ip: str
    port: int


@dataclass(frozen=True)
class Backend:
    """A target group."""

    name: str
    health_check: HealthCheck = field(default_factory=HealthCheck)
    targets: tuple[Target, ...] = ()
    idle_timeout_s: int = DEFAULT_IDLE_TIMEOUT_S
    arn: str = ""


@dataclass(frozen=True)
class FixedResponse:
    """A listener's fixed-response default action."""

    status: int
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class Frontend:
    """A listener: ``backend`` names the target group it forwards to, or ``fixed`` answers instead."""

    load_balancer: str
    port: int
    host_port: int
    protocol: str = "HTTP"
    backend: str | None = None
    fixed: FixedResponse | None = None
    idle_timeout_s: int = DEFAULT_IDLE_TIMEOUT_S
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.load_balancer}:{self.port}"


@dataclass(frozen=True)
class ProxyState:
    """Everything the configuration is rendered from."""

    frontends: tuple[Frontend, ...] = ()
    backends: tuple[Backend, ...] = ()
    bind_addresses: tuple[str, ...] = ("127.0.0.1",)
    time_scale: float = 1.0


def host_ports(load_balancers: Mapping[str, Sequence[int]], port_map: Mapping[str, int] | int) -> dict[str, int]:
    """Host port of each listener, keyed ``"<lb>:<port>"``.

    A mapping gives each load balancer a base port: its listeners, lowest port first, take base, base+1, ...; a key
    ``"<lb>:<port>"`` pins one listener. An int is the base for all: load balancers by name, listeners by port.
    """
    result: dict[str, int] = {}
    if isinstance(port_map, int):
        next_port = port_map
        for lb in sorted(load_balancers):
            for port in sorted(load_balancers[lb]):
                result[f"{lb}:{port}"] = next_port
                next_port += 1
        return result
    for lb, ports in load_balancers.items():
        for index, port in enumerate(sorted(ports)):
            key = f"{lb}:{port}"
            if key in port_map:
                result[key] = port_map[key]
            elif lb in port_map:
                result[key] = port_map[lb] + index
            else:
                raise ProxyError(
                    f"load balancer {lb} (listener {port}) has no host port: add {lb!r} or {key!r} to the port map"
                )
    clashes = sorted(p for p in set(result.values()) if list(result.values()).count(p) > 1)
    if clashes:
        raise ProxyError(f"host ports {clashes} are given to several listeners: give each listener its own port")
    return result


def read_state(
    elbv2_client: Any,
    ec2_client: Any,
    port_map: Mapping[str, int] | int,
    *,
    bind_addresses: Sequence[str] = ("127.0.0.1",),
    time_scale: float = 1.0,
) -> ProxyState:
    """Read every load balancer, listener and target group of the (emulated) ELBv2 API into a ProxyState."""
    pages = elbv2_client.get_paginator("describe_load_balancers").paginate()
    lbs = [lb for page in pages for lb in page["LoadBalancers"]]
    listeners: dict[str, list[dict[str, Any]]] = {}
    idle: dict[str, int] = {}
    for lb in lbs:
        arn, name = lb["LoadBalancerArn"], lb["LoadBalancerName"]
        listeners[name] = [
            listener
            for page in elbv2_client.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn)
            for listener in page["Listeners"]
        ]
        attrs = elbv2_client.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        value = next((a["Value"] for a in attrs if a["Key"] == "idle_timeout.timeout_seconds"), "")
        idle[name] = int(value) if value.isdigit() else DEFAULT_IDLE_TIMEOUT_S
    ports = host_ports({name: [li["Port"] for li in items] for name, items in listeners.items()}, port_map)

    groups = {
        tg["TargetGroupArn"]: tg
        for page in elbv2_client.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    }
    frontends: list[Frontend] = []
    group_idle: dict[str, int] = {}
    for lb_name, items in sorted(listeners.items()):
        for listener in sorted(items, key=lambda li: li["Port"]):
            frontend = _frontend(lb_name, listener, groups, ports[f"{lb_name}:{listener['Port']}"], idle[lb_name])
            frontends.append(frontend)
            if frontend.backend:
                group_idle[frontend.backend] = max(group_idle.get(frontend.backend, 0), idle[lb_name])

    backends = []
    for arn, tg in sorted(groups.items(), key=lambda item: item[1]["TargetGroupName"]):
        descriptions = elbv2_client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        registered = [d["Target"] for d in descriptions if d.get("TargetHealth", {}).get("State") != "draining"]
        ips = _private_ips(ec2_client, [t["Id"] for t in registered])
        targets = tuple(
            Target(t["Id"], ips[t["Id"]], int(t.get("Port") or tg["Port"])) for t in registered if t["Id"] in ips
        )
        name = tg["TargetGroupName"]
        backends.append(
            Backend(name, _health_check(tg), targets, group_idle.get(name, DEFAULT_IDLE_TIMEOUT_S), arn),
        )
    return ProxyState(tuple(frontends), tuple(backends), tuple(bind_addresses), time_scale)


def _frontend(lb: str, listener: dict[str, Any], groups: dict[str, Any], host_port: int, idle_s: int) -> Frontend:
    actions = sorted(listener.get("DefaultActions", []), key=lambda a: a.get("Order", 0))
    action = actions[-1] if actions else {}
    common = {
        "load_balancer": lb,
        "port": listener["Port"],
        "host_port": host_port,
        "protocol": listener.get("Protocol", "HTTP"),
        "idle_timeout_s": idle_s,
    }
    if action.get("Type") == "forward":
        arns = [action["TargetGroupArn"]] if action.get("TargetGroupArn") else []
        arns += [g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])]
        arns = list(dict.fromkeys(arns))
        if arns and arns[0] in groups:
            note = "" if len(arns) == 1 else "weighted forward to several target groups: the twin uses the first"
            return Frontend(backend=groups[arns[0]]["TargetGroupName"], note=note, **common)
    if action.get("Type") == "fixed-response":
        config = action.get("FixedResponseConfig", {})
        fixed = FixedResponse(
            int(config.get("StatusCode", "503")), config.get("ContentType", "text/plain"), config.get("MessageBody", "")
        )
        return Frontend(fixed=fixed, **common)
    kind = action.get("Type", "none")
    return Frontend(
        fixed=FixedResponse(503, body="the twin does not render this action"),
        note=f"default action {kind!r} is not rendered by the twin: it answers 503",
        **common,
    )


def _health_check(tg: dict[str, Any]) -> HealthCheck:
    port = str(tg.get("HealthCheckPort") or "traffic-port")
    defaults = HealthCheck()
    return HealthCheck(
        enabled=bool(tg.get("HealthCheckEnabled", True)),
        path=tg.get("HealthCheckPath") or defaults.path,
        port=int(port) if port.isdigit() else None,
        interval_s=int(tg.get("HealthCheckIntervalSeconds") or defaults.interval_s),
        timeout_s=int(tg.get("HealthCheckTimeoutSeconds") or defaults.timeout_s),
        healthy_threshold=int(tg.get("HealthyThresholdCount") or defaults.healthy_threshold),
        unhealthy_threshold=int(tg.get("UnhealthyThresholdCount") or defaults.unhealthy_threshold),
        matcher=(tg.get("Matcher") or {}).get("HttpCode") or defaults.matcher,
        protocol=tg.get("HealthCheckProtocol") or defaults.protocol,
    )


def _private_ips(ec2_client: Any, instance_ids: list[str]) -> dict[str, str]:
    if not instance_ids:
        return {}
    reservations = ec2_client.describe_instances(InstanceIds=sorted(set(instance_ids)))["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    return {i["InstanceId"]: i["PrivateIpAddress"] for i in instances if i.get("PrivateIpAddress")}


# ------------------------------------------------------------------------------------------------------- rendering
def status_regex(matcher: str) -> str:
    """An ALB matcher ("200", "200,202", "200-399") as an anchored regex over status codes, compact per hundred."""
    codes: set[int] = set()
    for part in matcher.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ProxyError(f"health check matcher {matcher!r} is not an HTTP code list: use e.g. '200' or '200-399'")
        codes.update(range(int(low), int(high or low) + 1))
    alternatives: list[str] = []
    for hundred in sorted({c // 100 for c in codes}):
        rest = {c % 100 for c in codes if c // 100 == hundred}
        if len(rest) == 100:
            alternatives.append(f"{hundred}[0-9][0-9]")
            continue
        for ten in sorted({r // 10 for r in rest}):
            units = sorted(r % 10 for r in rest if r // 10 == ten)
            if len(units) == 10:
                alternatives.append(f"{hundred}{ten}[0-9]")
            else:
                alternatives.extend(f"{hundred}{ten}{u}" for u in units)
    return "^(" + "|".join(alternatives) + ")$"


def _scaled(seconds: int, scale: float) -> int:
    return max(1, round(seconds / scale)) if scale > 0 else seconds


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render(state: ProxyState, runtime_dir: Path) -> str:
    """The HAProxy configuration for ``state``; ``runtime_dir`` holds the stats socket and the server-state file."""
    if state.time_scale <= 0:
        raise ProxyError(f"time_scale {state.time_scale} must be positive: 1 is AWS timing, 10 runs checks 10x faster")
    sock = runtime_dir / SOCKET_NAME
    if len(str(sock)) > SOCKET_PATH_MAX:
        raise ProxyError(f"stats socket path {sock} is too long for a unix socket: use a shorter runtime directory")
    lines = [
        "# Rendered by tools/twin/proxy.py from the emulator's ELBv2 state. Do not edit: the next apply overwrites it.",
        "global",
        f"    stats socket {sock} mode 600 level admin expose-fd listeners",
        f"    server-state-file {runtime_dir / STATE_NAME}",
        "",
        "defaults",
        "    mode http",
        "    option forwardfor",
        "    load-server-state-from-file global",
        "    # a reload answers the next request on an idle client connection, then closes it: an ALB keeps its",
        "    # clients' connections when targets change, so a reload must not fail a request a client is sending",
        "    option idle-close-on-response",
        f"    timeout connect {CONNECT_TIMEOUT_S}s",
        f"    timeout client {DEFAULT_IDLE_TIMEOUT_S}s",
        f"    timeout server {DEFAULT_IDLE_TIMEOUT_S}s",
        "",
    ]
    known = {b.name for b in state.backends}
    for fe in sorted(state.frontends, key=lambda f: f.host_port):
        lines.append(f"frontend {fe.name}")
        if fe.protocol == "HTTPS":
            lines.append(f"    # HTTPS listener {fe.port} on AWS: plain HTTP in the twin, which has no certificates")
        if fe.note:
            lines.append(f"    # {fe.note}")
        lines.extend(f"    bind {_bind(address)}:{fe.host_port}" for address in state.bind_addresses)
        lines.append(f"    timeout client {fe.idle_timeout_s}s")
        lines.append("    http-request set-header X-Forwarded-Proto http")
        lines.append(f"    http-request set-header X-Forwarded-Port {fe.host_port}")
        if fe.backend and fe.backend in known:
            lines.append(f"    default_backend {fe.backend}")
        else:
            fixed = fe.fixed or FixedResponse(503, body=f"target group {fe.backend} not found")
            body = f" string {_quote(fixed.body)}" if fixed.body else ""
            content_type = _quote(fixed.content_type)
            lines.append(f"    http-request return status {fixed.status} content-type {content_type}{body}")
        lines.append("")
    for be in sorted(state.backends, key=lambda b: b.name):
        lines.extend(_backend(be, state.time_scale))
    return "\n".join(lines)


def _bind(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _backend(be: Backend, scale: float) -> list[str]:
    hc = be.health_check
    lines = [
        f"backend {be.name}",
        "    balance roundrobin",
        "    # every registered target unhealthy: fail open to all of them, as an ALB does (backup servers)",
        "    option allbackups",
        f"    timeout server {be.idle_timeout_s}s",
        f"    timeout tunnel {be.idle_timeout_s}s",
        f"    http-response set-header X-Served-By %[srv_name,field(1,{FAIL_OPEN_SUFFIX[0]})]",
    ]
    check = ""
    if hc.enabled:
        if hc.protocol == "HTTPS":
            lines.append("    # HTTPS health check on AWS: plain HTTP in the twin")
        codes = status_regex(hc.matcher)
        expect = f"status {hc.matcher}" if hc.matcher.isdigit() else f"rstatus {codes}"
        interval = _scaled(hc.interval_s, scale)
        lines += [
            "    option httpchk",
            f"    http-check send meth GET uri {hc.path} ver HTTP/1.1 hdr Host {be.name}",
            f"    http-check expect {expect}",
            f"    timeout check {min(hc.timeout_s, interval)}s",
            f"    default-server inter {interval}s rise {hc.healthy_threshold} fall {hc.unhealthy_threshold}",
        ]
        check = " check" + (f" port {hc.port}" if hc.port else "")
    for target in sorted(be.targets, key=lambda t: t.instance_id):
        lines.append(f"    server {target.instance_id} {_bind(target.ip)}:{target.port}{check}")
    for target in sorted(be.targets, key=lambda t: t.instance_id):
        lines.append(f"    server {target.instance_id}{FAIL_OPEN_SUFFIX} {_bind(target.ip)}:{target.port} backup")
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------------------- runner
class Proxy:
    """One HAProxy process serving a rendered configuration; reloads keep established connections until they end."""

    def __init__(self, config_path: Path, pid_path: Path) -> None:
        self.config_path = Path(config_path)
        self.pid_path = Path(pid_path)
        self.runtime_dir = self.config_path.parent
        self.socket_path = self.runtime_dir / SOCKET_NAME
        self.state_path = self.runtime_dir / STATE_NAME
        self._old_pids: set[int] = set()

    def render(self, state: ProxyState) -> str:
        """The configuration text for ``state`` (pure; see ``render``)."""
        return render(state, self.runtime_dir)

    def apply(self, text: str) -> bool:
        """Write, validate and serve ``text``. Returns True when the configuration changed."""
        binary = haproxy_binary()
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        serving = self.config_path.read_text() if self.config_path.exists() else ""
        changed = serving != text
        running = self.pids()
        if not changed and running:
            return False
        if changed:
            candidate = self.config_path.with_name(self.config_path.name + ".new")
            candidate.write_text(text)
            check = subprocess.run([binary, "-c", "-q", "-f", str(candidate)], capture_output=True, text=True)
            if check.returncode != 0:
                candidate.unlink()
                raise ProxyError(
                    f"haproxy rejects the rendered configuration ({check.stdout}{check.stderr}".strip()
                    + "): fix the load balancer or target group it names"
                )
            candidate.replace(self.config_path)
        command = [binary, "-D", "-f", str(self.config_path), "-p", str(self.pid_path)]
        if running:
            self._save_server_states(_checked_servers(text, skip=_servers(serving)))
            self._stop_routing_to(_servers(serving) - _servers(text))
            command += ["-x", str(self.socket_path), "-sf", *map(str, running)]
            self._old_pids.update(running)
        else:
            self.state_path.write_text(_state_text("", _checked_servers(text)))
        started = subprocess.run(command, capture_output=True, text=True)
        if started.returncode != 0:
            raise ProxyError(
                f"haproxy did not start ({started.stdout}{started.stderr}".strip()
                + "): is a listener's host port taken by another process? Change the port map or stop that process"
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket_path.exists() or set(self.pids()) & set(running):
            if time.monotonic() > deadline:
                raise ProxyError(f"haproxy started but wrote no pid file {self.pid_path}: see its output above")
            time.sleep(0.05)
        return changed

    def pids(self) -> list[int]:
        """Live haproxy processes listed in the pid file."""
        try:
            listed = [int(p) for p in self.pid_path.read_text().split() if p.isdigit()]
        except FileNotFoundError:
            return []
        return [pid for pid in listed if _is_haproxy(pid)]

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the serving process and any old one still finishing connections after a reload."""
        pids = set(self.pids()) | {p for p in self._old_pids if _is_haproxy(p)}
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(_is_haproxy(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if _is_haproxy(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._old_pids.clear()
        self.pid_path.unlink(missing_ok=True)

    def command(self, line: str) -> str:
        """One command on the stats socket (e.g. "show stat"); returns its answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(str(self.socket_path))
                conn.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise ProxyError(
                f"haproxy's stats socket {self.socket_path} does not answer ({exc}): start the proxy with apply()"
            ) from exc
        return b"".join(chunks).decode()

    def server_states(self) -> dict[str, dict[str, str]]:
        """Per backend (target group), per server (instance id): UP, DOWN or MAINT (others as HAProxy says them)."""
        states: dict[str, dict[str, str]] = {}
        for backend, server, row in self._servers_stat():
            states.setdefault(backend, {})[server] = _state_word(row.get("status", ""))
        return states

    def target_health(self) -> dict[str, dict[str, str]]:
        """Per backend (target group), per server (instance id): its target health in ELB's words. ``healthy``: up;
        ``unhealthy``: down after a failed check; ``initial``: down and no check failed yet (new, or rising).
        Servers in maintenance (leaving the group) are left out."""
        health: dict[str, dict[str, str]] = {}
        for backend, server, row in self._servers_stat():
            state = _target_health(_state_word(row.get("status", "")), row.get("check_status", ""))
            if state:
                health.setdefault(backend, {})[server] = state
        return health

    def _servers_stat(self) -> list[tuple[str, str, dict[str, str]]]:
        """(backend, server, its `show stat` row) of each target's server; the fail-open backups left out."""
        text = self.command("show stat").lstrip("# ")
        return [
            (row["pxname"], row["svname"], row)
            for row in csv.DictReader(io.StringIO(text))
            if row.get("pxname")
            and row.get("svname", "") not in ("FRONTEND", "BACKEND", "")
            and not row["svname"].endswith(FAIL_OPEN_SUFFIX)
        ]

    def _stop_routing_to(self, removed: set[tuple[str, str]]) -> None:
        """Put the servers the new configuration drops in maintenance in the serving process, before it hands over.

        The old process answers one more request on each idle client connection (idle-close-on-response) with its
        own server list and without health checks; as an ALB sends no new request to a deregistering target, it must
        not send one to a target that left its group (and may be gone). Requests in flight there finish."""
        for backend, server in sorted(removed):
            with contextlib.suppress(ProxyError):
                self.command(f"set server {backend}/{server} state maint")

    def _save_server_states(self, new: list[tuple[str, str, str, int]]) -> None:
        """Keep each server's state for the next process, and start the ``new`` servers down."""
        saved = ""
        with contextlib.suppress(ProxyError):
            saved = self.command("show servers state")
        self.state_path.write_text(_state_text(saved, new))


def _state_text(saved: str, new: list[tuple[str, str, str, int]]) -> str:
    """A server-state file: ``saved`` (`show servers state`) plus a stopped line per new (backend, server, address,
    port). Lines name their backend and server (ids 0: HAProxy finds them by name)."""
    lines = [line for line in saved.splitlines() if line.strip()] or [STATE_VERSION, f"# {STATE_FIELDS}"]
    for backend, server, address, port in new:
        # op state 0 (stopped), admin 0, weights 1, check status 1 (INI), result 0, health 0, check state 6 (on)
        lines.append(f"0 {backend} 0 {server} {address} 0 0 1 1 0 1 0 0 6 0 0 0 - {port} - 0 0 - - 0")
    return "\n".join(lines) + "\n"


def _target_health(state: str, check_status: str) -> str:
    """ELB's target health for a HAProxy server state and its last check's status ("" for maintenance)."""
    check = check_status.removeprefix("* ").strip()  # "* " marks a check running now
    if state == "UP":
        return "healthy"
    if state == "DOWN":
        return "initial" if check in CHECK_PASSED or check in CHECK_NOT_RUN else "unhealthy"
    return ""


def _server_lines(text: str) -> list[tuple[str, list[str]]]:
    """(backend, words of the line) of each server line of a rendered configuration, fail-open backups included."""
    found: list[tuple[str, list[str]]] = []
    backend = ""
    for line in text.splitlines():
        words = line.split()
        if line and not line[0].isspace():
            backend = words[1] if len(words) > 1 and words[0] == "backend" else ""
        elif backend and len(words) > 2 and words[0] == "server":
            found.append((backend, words))
    return found


def _servers(text: str) -> set[tuple[str, str]]:
    """(backend, server) of each server line of a rendered configuration, fail-open backups included."""
    return {(backend, words[1]) for backend, words in _server_lines(text)}


def _checked_servers(text: str, skip: set[tuple[str, str]] = frozenset()) -> list[tuple[str, str, str, int]]:
    """(backend, server, address, port) of each health-checked server of a rendered configuration not in ``skip``."""
    found = []
    for backend, words in _server_lines(text):
        if "check" in words[3:] and (backend, words[1]) not in skip:
            address, _, port = words[2].rpartition(":")
            found.append((backend, words[1], address.strip("[]"), int(port)))
    return found


def _state_word(status: str) -> str:
    if status == "no check" or status.startswith("UP"):
        return "UP"
    if status.startswith("DOWN"):
        return "DOWN"
    if status.startswith("MAINT"):
        return "MAINT"
    return status


def _is_haproxy(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "haproxy" and not _is_zombie(pid)
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return re.sub(r"^.*\) ", "", stat).startswith("Z")


def haproxy_binary() -> str:
    """Path of the haproxy executable, or a ProxyError saying how to install it."""
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)
    if not found:
        raise ProxyError("haproxy not found: install haproxy: make setup (tools/bootstrap.sh installs it from Debian)")
    return found
