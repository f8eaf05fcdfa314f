"""The twin's load balancers (tools/twin/proxy.py), each test from AWS's Application Load Balancer documentation.

Rendering is pure; ``read_state`` runs against the emulator; the rest runs a real HAProxy in front of small HTTP
servers on loopback addresses (127.0.0.11-13). No podman needed. Without haproxy these tests fail: run make setup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import http.server
import itertools
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from tools.twin import proxy
from tools.twin.proxy import Backend, FixedResponse, Frontend, HealthCheck, Proxy, ProxyState, Target

WAIT_S = 15.0
TARGET_IPS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


def _state(**backend: object) -> ProxyState:
    targets = (Target("i-0aaa", "10.0.0.21", 8080), Target("i-0bbb", "10.0.0.22", 8080))
    be = dataclasses.replace(Backend("web-tg", targets=targets), **backend)
    fe = Frontend("web-alb", 80, 18080, backend="web-tg", idle_timeout_s=be.idle_timeout_s)
    return ProxyState((fe,), (be,), ("10.88.0.1", "127.0.0.1"))


def _section(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" ")), len(lines))
    return [line.strip() for line in lines[start + 1 : end] if line.strip()]


# ------------------------------------------------------------------------------------------------ rendering (pure)
def test_each_listener_is_a_frontend_forwarding_to_its_target_group_on_the_callers_addresses():
    text = proxy.render(_state(), Path("/run/twin"))
    frontend = _section(text, "frontend web-alb:80")
    assert "bind 10.88.0.1:18080" in frontend and "bind 127.0.0.1:18080" in frontend
    assert "default_backend web-tg" in frontend
    assert "server i-0aaa 10.0.0.21:8080 check" in _section(text, "backend web-tg")
    assert "stats socket /run/twin/haproxy.sock mode 600 level admin expose-fd listeners" in _section(text, "global")


def test_https_listener_listens_in_plain_http_and_says_so():
    state = ProxyState((Frontend("web-alb", 443, 18443, protocol="HTTPS", backend="web-tg"),), _state().backends)
    frontend = _section(proxy.render(state, Path("/run/twin")), "frontend web-alb:443")
    assert any(line.startswith("#") and "HTTPS" in line and "plain HTTP" in line for line in frontend), frontend
    assert "bind 127.0.0.1:18443" in frontend
    assert not any("ssl" in line for line in frontend if not line.startswith("#"))


def test_health_check_takes_the_target_groups_settings():
    # "HealthCheckPath, HealthCheckPort, HealthCheckIntervalSeconds, HealthCheckTimeoutSeconds,
    # HealthyThresholdCount, UnhealthyThresholdCount, Matcher" (target group health check settings).
    hc = HealthCheck(path="/health", port=8081, interval_s=15, timeout_s=10, healthy_threshold=2, unhealthy_threshold=3)
    backend = _section(proxy.render(_state(health_check=hc), Path("/run/twin")), "backend web-tg")
    assert "option httpchk" in backend
    assert "http-check send meth GET uri /health ver HTTP/1.1 hdr Host web-tg" in backend
    assert "http-check expect status 200" in backend
    assert "timeout check 10s" in backend
    assert "default-server inter 15s rise 2 fall 3" in backend
    assert "server i-0bbb 10.0.0.22:8080 check port 8081" in backend


@pytest.mark.parametrize(
    ("matcher", "expect"),
    [
        ("200", "status 200"),
        ("200-399", "rstatus ^(2[0-9][0-9]|3[0-9][0-9])$"),
        ("200,202", "rstatus ^(200|202)$"),
        ("200-209,302", "rstatus ^(20[0-9]|302)$"),
    ],
)
def test_matcher_http_codes_become_the_expected_statuses(matcher, expect):
    backend = _section(proxy.render(_state(health_check=HealthCheck(matcher=matcher)), Path("/r")), "backend web-tg")
    assert f"http-check expect {expect}" in backend


def test_a_matcher_that_is_not_a_code_list_names_the_fix():
    with pytest.raises(proxy.ProxyError, match=r"use e\.g\. '200' or '200-399'"):
        proxy.status_regex("ok")


def test_disabled_health_check_renders_servers_without_checks():
    backend = _section(proxy.render(_state(health_check=HealthCheck(enabled=False)), Path("/r")), "backend web-tg")
    assert "server i-0aaa 10.0.0.21:8080" in backend and "option httpchk" not in backend


def test_time_scale_divides_check_intervals_with_a_one_second_floor_and_a_check_waits_its_timeout():
    # The interval is scaled; a check's timeout is AWS's (the twin's instances answer slower), at most the interval.
    hc = HealthCheck(interval_s=30, timeout_s=5, healthy_threshold=5, unhealthy_threshold=2)
    state = _state(health_check=hc)
    fast = ProxyState(state.frontends, state.backends, state.bind_addresses, time_scale=10)
    backend = _section(proxy.render(fast, Path("/r")), "backend web-tg")
    assert "default-server inter 3s rise 5 fall 2" in backend and "timeout check 3s" in backend
    faster = ProxyState(state.frontends, state.backends, state.bind_addresses, time_scale=100)
    assert "timeout check 1s" in _section(proxy.render(faster, Path("/r")), "backend web-tg")
    with pytest.raises(proxy.ProxyError, match="must be positive"):
        proxy.render(ProxyState(time_scale=0), Path("/r"))


def test_idle_timeout_bounds_streams_and_websockets():
    # "The load balancer ... idle timeout ... default 60 seconds"; a websocket is a tunnel once upgraded.
    text = proxy.render(_state(idle_timeout_s=300), Path("/r"))
    backend = _section(text, "backend web-tg")
    assert "timeout server 300s" in backend and "timeout tunnel 300s" in backend
    assert "timeout client 300s" in _section(text, "frontend web-alb:80")
    assert "timeout server 60s" in _section(proxy.render(_state(), Path("/r")), "backend web-tg")


def test_round_robin_no_stickiness_no_compression_and_the_serving_target_is_named():
    text = proxy.render(_state(), Path("/r"))
    backend = _section(text, "backend web-tg")
    assert "balance roundrobin" in backend
    assert "http-response set-header X-Served-By %[srv_name,field(1,.)]" in backend
    assert not [line for line in text.splitlines() if line.split()[:1] in (["cookie"], ["stick"], ["compression"])]


def test_fail_open_servers_are_backups_of_the_registered_targets():
    backend = _section(proxy.render(_state(), Path("/r")), "backend web-tg")
    assert "option allbackups" in backend
    assert "server i-0aaa.failopen 10.0.0.21:8080 backup" in backend


def test_fixed_response_default_action_answers_itself():
    fe = Frontend("web-alb", 80, 18080, fixed=FixedResponse(403, "text/plain", "Forbidden"))
    frontend = _section(proxy.render(ProxyState((fe,)), Path("/r")), "frontend web-alb:80")
    assert 'http-request return status 403 content-type "text/plain" string "Forbidden"' in frontend


def test_host_ports_from_a_map_or_a_base_port():
    listeners = {"public": [443, 80], "internal": [80]}
    assert proxy.host_ports(listeners, {"public": 18080, "internal": 18090}) == {
        "public:80": 18080,
        "public:443": 18081,
        "internal:80": 18090,
    }
    assert proxy.host_ports(listeners, {"public": 18080, "public:443": 18443, "internal": 18090})["public:443"] == 18443
    assert proxy.host_ports(listeners, 20000) == {"internal:80": 20000, "public:80": 20001, "public:443": 20002}
    with pytest.raises(proxy.ProxyError, match="add 'internal' or 'internal:80' to the port map"):
        proxy.host_ports(listeners, {"public": 18080})
    with pytest.raises(proxy.ProxyError, match="give each listener its own port"):
        proxy.host_ports(listeners, {"public": 18080, "internal": 18081})


def test_missing_haproxy_says_to_run_make_setup(monkeypatch):
    monkeypatch.setattr(proxy.shutil, "which", lambda _name: None)
    monkeypatch.setattr(proxy.os, "access", lambda _path, _mode: False)
    with pytest.raises(proxy.ProxyError, match="install haproxy: make setup"):
        proxy.haproxy_binary()


# ----------------------------------------------------------------------------------------- read_state (emulator)
@pytest.mark.emulator
def test_read_state_from_the_emulators_load_balancers(aws):
    ec2, elb, acm = boto3.client("ec2"), boto3.client("elbv2"), boto3.client("acm")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for i, z in ((0, "a"), (1, "b"))
    ]
    ids = [
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0], PrivateIpAddress=ip)[
            "Instances"
        ][0]["InstanceId"]
        for ip in ("10.0.0.21", "10.0.0.22")
    ]
    lb = elb.create_load_balancer(Name="web-alb", Subnets=subnets, Type="application")["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "300"}]
    )
    tg = elb.create_target_group(
        Name="web-tg",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        HealthCheckPath="/ready",
        HealthCheckIntervalSeconds=15,
        HealthCheckTimeoutSeconds=10,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=3,
        Matcher={"HttpCode": "200-399"},
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": ids[0]}, {"Id": ids[1], "Port": 9000}])
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    elb.create_listener(LoadBalancerArn=lb, Port=80, Protocol="HTTP", DefaultActions=forward)
    certificate = acm.request_certificate(DomainName="twin.example.com")["CertificateArn"]
    elb.create_listener(
        LoadBalancerArn=lb,
        Port=443,
        Protocol="HTTPS",
        Certificates=[{"CertificateArn": certificate}],
        DefaultActions=forward,
    )

    state = proxy.read_state(elb, ec2, {"web-alb": 18080}, bind_addresses=("127.0.0.1",), time_scale=5)

    assert [(f.name, f.host_port, f.protocol, f.backend, f.idle_timeout_s) for f in state.frontends] == [
        ("web-alb:80", 18080, "HTTP", "web-tg", 300),
        ("web-alb:443", 18081, "HTTPS", "web-tg", 300),
    ]
    (backend,) = state.backends
    assert backend.health_check == HealthCheck(
        path="/ready", interval_s=15, timeout_s=10, healthy_threshold=2, unhealthy_threshold=3, matcher="200-399"
    )
    assert set(backend.targets) == {Target(ids[0], "10.0.0.21", 8080), Target(ids[1], "10.0.0.22", 9000)}
    assert backend.idle_timeout_s == 300 and state.time_scale == 5
    assert "frontend web-alb:443" in proxy.render(state, Path("/r"))


# ------------------------------------------------------------------------------------------------- real HAProxy
class _Target(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TargetServer

    def do_GET(self) -> None:
        if self.path == "/stream":
            self._stream()
            return
        ready = self.path != "/ready" or self.server.ready
        body = b"ok\n" if ready else b"not ready\n"
        self.send_response(200 if ready else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # health checks close as soon as they have the status line
            self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, line in enumerate((b'{"chunk":1}\n', b'{"chunk":2,"done":true}\n')):
            if index:
                self.server.release.wait(WAIT_S)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _TargetServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ip: str) -> None:
        super().__init__((ip, 0), _Target)
        self.ready = True
        self.release = threading.Event()


@pytest.fixture
def targets() -> Iterator[dict[str, _TargetServer]]:
    """Three HTTP servers on 127.0.0.11-13, keyed by a made-up instance id."""
    servers = {f"i-00000000000000{ip.rsplit('.', 1)[1]}": _TargetServer(ip) for ip in TARGET_IPS}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield servers
    for server in servers.values():
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def haproxy() -> Iterator[Proxy]:
    """A Proxy in a short runtime directory (unix socket paths are limited); stops every haproxy it started."""
    try:
        proxy.haproxy_binary()
    except proxy.ProxyError as exc:
        pytest.fail(f"{exc}: these tests need haproxy; run make setup")
    runtime = Path(tempfile.mkdtemp(prefix="twin-proxy-"))
    runner = Proxy(runtime / "haproxy.cfg", runtime / "haproxy.pid")
    try:
        yield runner
    finally:
        runner.stop()
        shutil.rmtree(runtime, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _loopback_state(servers: dict[str, _TargetServer], port: int, **backend: object) -> ProxyState:
    hc = HealthCheck(path="/ready", interval_s=1, timeout_s=1, healthy_threshold=2, unhealthy_threshold=2)
    found = tuple(Target(iid, *server.server_address[:2]) for iid, server in servers.items())
    be = dataclasses.replace(Backend("web-tg", hc, found), **backend)
    return ProxyState((Frontend("web-alb", 80, port, backend="web-tg"),), (be,), ("127.0.0.1",))


def _wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S:.0f} s for {what}")
        time.sleep(0.1)


def _get(port: int, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Served-By", "")
    finally:
        conn.close()


def _ask(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    """GET / on a kept-alive connection; the response, read."""
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    return response


def _serving(haproxy: Proxy, port: int, servers: dict[str, _TargetServer], unready: set[str]) -> None:
    for iid in unready:
        servers[iid].ready = False
    haproxy.apply(haproxy.render(_loopback_state(servers, port)))
    want = {iid: "DOWN" if iid in unready else "UP" for iid in servers}
    _wait_for(f"server states {want}", lambda: haproxy.server_states().get("web-tg") == want)


def test_round_robin_over_healthy_targets_and_never_the_unhealthy_one(haproxy, targets):
    # "routes requests only to the healthy targets"; round robin is the default routing algorithm.
    port = _free_port()
    _serving(haproxy, port, targets, unready={"i-0000000000000013"})
    served = [_get(port) for _ in range(8)]
    assert {status for status, _ in served} == {200}
    order = [who for _, who in served]
    assert Counter(order) == {"i-0000000000000011": 4, "i-0000000000000012": 4}, order
    assert all(a != b for a, b in itertools.pairwise(order)), order


def test_unhealthy_target_recovers_after_healthy_threshold(haproxy, targets):
    port = _free_port()
    _serving(haproxy, port, targets, unready={"i-0000000000000013"})
    targets["i-0000000000000013"].ready = True
    _wait_for("i-0000000000000013 back UP", lambda: haproxy.server_states()["web-tg"]["i-0000000000000013"] == "UP")
    assert {_get(port)[1] for _ in range(6)} == set(targets)


def test_all_targets_unhealthy_fails_open_to_all_of_them(haproxy, targets):
    # "If a target group contains only unhealthy registered targets, the load balancer routes requests to all
    # those targets, regardless of their health status" (target group health checks).
    port = _free_port()
    _serving(haproxy, port, targets, unready=set(targets))
    served = [_get(port) for _ in range(6)]
    assert {status for status, _ in served} == {200}
    assert Counter(who for _, who in served) == dict.fromkeys(targets, 2)


def test_no_registered_target_answers_503(haproxy, targets):
    # HTTP 503: "The target groups for the load balancer have no registered targets."
    port = _free_port()
    haproxy.apply(haproxy.render(_loopback_state(targets, port, targets=())))
    assert _get(port)[0] == 503


def test_a_target_refusing_connections_is_an_error_not_a_hang(haproxy, targets):
    # AWS answers 502 when the target resets the connection; HAProxy answers 503 after its retries.
    port = _free_port()
    state = _loopback_state(targets, port, targets=(Target("i-0000000000000099", "127.0.0.19", _free_port()),))
    haproxy.apply(haproxy.render(state))
    assert _get(port)[0] == 503


def test_streamed_response_is_not_buffered(haproxy, targets):
    port = _free_port()
    _serving(haproxy, port, targets, unready=set())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.readline() == b'{"chunk":1}\n'  # the target has not finished: it waits for release
        targets[response.getheader("X-Served-By")].release.set()
        assert response.read() == b'{"chunk":2,"done":true}\n'
    finally:
        conn.close()


def test_reload_keeps_an_in_flight_stream_alive(haproxy, targets):
    port = _free_port()
    _serving(haproxy, port, targets, unready={"i-0000000000000013"})
    before = haproxy.pids()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.readline() == b'{"chunk":1}\n'
        changed = _loopback_state(targets, port, idle_timeout_s=120)
        assert haproxy.apply(haproxy.render(changed)) is True
        assert haproxy.pids() and set(haproxy.pids()).isdisjoint(before)
        targets[response.getheader("X-Served-By")].release.set()
        assert response.read() == b'{"chunk":2,"done":true}\n'
    finally:
        conn.close()
    # the reloaded process kept the health states and serves new requests
    assert haproxy.server_states()["web-tg"]["i-0000000000000013"] == "DOWN"
    assert _get(port)[0] == 200
    assert haproxy.apply(haproxy.render(changed)) is False


def test_reload_keeps_an_idle_client_connection_usable(haproxy, targets):
    # An ALB's listeners do not drop the clients' keep-alive connections when targets register or deregister. A
    # reload that closed them at once would fail the next request a client sends on its idle connection (the
    # client sees the connection closed without a response), so the old process answers it, then closes.
    port = _free_port()
    _serving(haproxy, port, targets, unready=set())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        first = _ask(conn)
        assert first.status == 200 and not first.will_close
        assert haproxy.apply(haproxy.render(_loopback_state(targets, port, idle_timeout_s=120))) is True
        time.sleep(0.5)  # the old process has begun its soft stop
        second = _ask(conn)
        assert second.status == 200
        assert second.will_close  # told to reconnect, which reaches the new process
    finally:
        conn.close()
    assert _get(port)[0] == 200


def test_after_a_reload_no_new_request_reaches_a_target_that_left_its_group(haproxy, targets):
    # "Elastic Load Balancing stops sending requests to targets that are deregistering": the process that answers
    # the idle connections' next requests after a reload must not pick the target the reload removed.
    port = _free_port()
    _serving(haproxy, port, targets, unready=set())
    leaving = "i-0000000000000011"
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(6)]
    try:
        before = [_ask(conn).getheader("X-Served-By") for conn in conns]
        assert leaving in before, before  # round robin: the leaving target served some of these connections
        staying = {iid: server for iid, server in targets.items() if iid != leaving}
        assert haproxy.apply(haproxy.render(_loopback_state(staying, port))) is True
        after = [(response.status, response.getheader("X-Served-By")) for response in map(_ask, conns)]
    finally:
        for conn in conns:
            conn.close()
    assert all(status == 200 and who in staying for status, who in after), after


def test_invalid_configuration_is_rejected_and_the_running_one_stays(haproxy, targets):
    port = _free_port()
    _serving(haproxy, port, targets, unready=set())
    good = haproxy.config_path.read_text()
    with pytest.raises(proxy.ProxyError, match="haproxy rejects the rendered configuration"):
        haproxy.apply(good + "\nbackend broken\n    balance nonsense\n")
    assert haproxy.config_path.read_text() == good
    assert _get(port)[0] == 200


def test_a_new_target_is_initial_and_gets_no_request_until_it_passed_its_checks(haproxy, targets):
    # "initial - The load balancer is registering the target or performing the initial health checks on the
    # target"; "the load balancer starts routing requests to the target as soon as the registration process
    # completes and the target passes the initial health checks" (ELB user guide). HAProxy would start a new
    # server up; the proxy starts it down.
    port = _free_port()
    first = {iid: server for iid, server in targets.items() if iid != "i-0000000000000013"}
    _serving(haproxy, port, first, unready=set())
    hc = HealthCheck(path="/ready", interval_s=1, timeout_s=1, healthy_threshold=3, unhealthy_threshold=2)
    haproxy.apply(haproxy.render(_loopback_state(targets, port, health_check=hc)))
    assert haproxy.target_health()["web-tg"] == {
        "i-0000000000000011": "healthy", "i-0000000000000012": "healthy", "i-0000000000000013": "initial",
    }  # fmt: skip
    assert "i-0000000000000013" not in {_get(port)[1] for _ in range(6)}
    _wait_for("the new target healthy", lambda: haproxy.target_health()["web-tg"]["i-0000000000000013"] == "healthy")
    assert {_get(port)[1] for _ in range(6)} == set(targets)


def test_the_first_targets_start_initial_and_the_group_fails_open_meanwhile(haproxy, targets):
    # A proxy's first start: every target is initial, none healthy, so requests go to all of them (fail open).
    port = _free_port()
    hc = HealthCheck(path="/ready", interval_s=1, timeout_s=1, healthy_threshold=3, unhealthy_threshold=2)
    haproxy.apply(haproxy.render(_loopback_state(targets, port, health_check=hc)))
    assert set(haproxy.target_health()["web-tg"].values()) == {"initial"}
    assert {_get(port)[0] for _ in range(3)} == {200}
    _wait_for("every target healthy", lambda: set(haproxy.target_health()["web-tg"].values()) == {"healthy"})


def test_a_target_that_fails_its_checks_is_unhealthy_and_one_leaving_is_not_reported(haproxy, targets):
    # "unhealthy - The target did not respond to a health check or failed the health check"; a target in
    # maintenance (deregistering) is no longer the proxy's to report.
    port = _free_port()
    _serving(haproxy, port, targets, unready={"i-0000000000000013"})
    haproxy.command("disable server web-tg/i-0000000000000011")
    assert haproxy.target_health()["web-tg"] == {"i-0000000000000012": "healthy", "i-0000000000000013": "unhealthy"}


@pytest.mark.parametrize(
    ("state", "check", "health"),
    [
        ("UP", "L7OK", "healthy"),
        ("DOWN", "INI", "initial"),  # no check yet
        ("DOWN", "* L7OK", "initial"),  # rising: passed checks, not yet healthy_threshold of them
        ("DOWN", "L7STS", "unhealthy"),  # wrong status code
        ("DOWN", "L4CON", "unhealthy"),  # connection refused
        ("DOWN", "L7TOUT", "unhealthy"),  # timed out
        ("MAINT", "L7OK", ""),  # leaving its group
    ],
)
def test_haproxys_server_state_maps_to_elbs_target_health(state, check, health):
    assert proxy._target_health(state, check) == health


def test_server_states_show_maintenance(haproxy, targets):
    port = _free_port()
    _serving(haproxy, port, targets, unready=set())
    haproxy.command("disable server web-tg/i-0000000000000011")
    assert haproxy.server_states()["web-tg"]["i-0000000000000011"] == "MAINT"
    assert "i-0000000000000011" not in {_get(port)[1] for _ in range(4)}
