"""A region-aware front for the twin: one AWS endpoint, one emulator per region behind it, each region can go down.

AWS serves each region from its own endpoints; the twin's emulator serves every region from one process. To drill a
regional outage, the front listens on one port and dispatches every request to the emulator of the region the
request was signed for (the SigV4 credential scope ``Credential=<key>/<date>/<region>/<service>/aws4_request`` of
the ``Authorization`` header, or ``X-Amz-Credential`` of a presigned URL). Unsigned requests (the emulator's private
``/_emulator/`` routes) go to the region their JSON body or ``region`` query parameter names, else the default.

Global services (IAM, Route 53) have one endpoint for every region, served from us-east-1, where their control plane
is: boto3 signs their requests for us-east-1 on AWS but for the client's region when an endpoint URL is set (the
twin), so the front recognises them by service, sends them to the emulator of us-east-1 (of the default region when
the front serves no us-east-1) and logs them under the region ``global``; they go down with that region.

A region taken down answers every request with HTTP 503 ``ServiceUnavailable`` (what clients see of a regional
outage after their retries), and the request is still logged: a disaster-recovery drill fails on any request logged
for the region that is down. Every request is logged per region as (service, action, status).

Usage (the twin): ``python -m tools.twin.regions serve --port 4566 --region us-east-1=http://127.0.0.1:4567
--region us-west-2=http://127.0.0.1:4568 --log-dir DIR``; control routes on the front itself:
``GET /_regions/state``, ``POST /_regions/state {"down": ["us-east-1"]}``, ``GET /_regions/log?region=us-east-1``.
In-process (the tests): ``two_regions(state_dir, ["us-east-1", "us-west-2"])`` starts one emulator per region with
``tools.aws_emulator.start`` and the front, and stops them on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tools import aws_emulator

CONTROL_PREFIX = "/_regions/"
PRIVATE_PREFIX = "/_emulator/"
_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_QUERY_SCOPE_RE = re.compile(r"^[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request$")
# Headers a proxy must not forward (RFC 9110 hop-by-hop) or that it recomputes.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
FORWARD_TIMEOUT_S = 120.0
GLOBAL = "global"  # the log's region of a global service's requests
GLOBAL_SERVICES = frozenset({"iam", "route53"})  # SigV4 service names
GLOBAL_HOME = "us-east-1"


class RegionError(ValueError):
    """Bad front settings (unknown region, bad backend URL)."""


@dataclass(frozen=True)
class Logged:
    """One request the front received."""

    region: str
    service: str
    action: str
    method: str
    path: str
    status: int


def signing_scope(headers: Any, path: str) -> tuple[str, str]:
    """(region, service) of a SigV4-signed request, or ("", "") when it is not signed."""
    match = _SCOPE_RE.search(headers.get("Authorization") or "")
    if match:
        return match.group(1), match.group(2)
    credential = parse_qs(urlparse(path).query).get("X-Amz-Credential", [""])[0]
    match = _QUERY_SCOPE_RE.match(unquote(credential))
    return (match.group(1), match.group(2)) if match else ("", "")


def action_of(method: str, path: str, headers: Any, body: bytes) -> str:
    """The API action: X-Amz-Target (JSON protocols), Action= (query protocols), else METHOD /first-path-segment."""
    target = headers.get("X-Amz-Target") or ""
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(urlparse(path).query)
    if "Action" in query:
        return query["Action"][0]
    if (headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    segment = urlparse(path).path.strip("/").split("/", 1)[0]
    return f"{method} /{segment}" if segment else method


class RegionFront:
    """The front: ``backends`` maps each region to its emulator's URL; ``default_region`` takes unsigned requests."""

    def __init__(
        self,
        backends: dict[str, str],
        default_region: str,
        host: str = "127.0.0.1",
        port: int = 0,
        log_dir: Path | None = None,
    ) -> None:
        if default_region not in backends:
            raise RegionError(f"default region {default_region} has no emulator: add --region {default_region}=URL")
        for region, url in backends.items():
            parsed = urlparse(url)
            if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
                raise RegionError(f"the emulator of {region} must be an http://host:port URL, not {url!r}")
        self.backends = dict(backends)
        self.default_region = default_region
        self.global_home = GLOBAL_HOME if GLOBAL_HOME in backends else default_region
        self.log_dir = log_dir
        self.down: set[str] = set()
        self._log: list[Logged] = []
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RegionFront:
        self._thread = threading.Thread(target=self.server.serve_forever, name="region-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------------------------------------ outages
    def take_down(self, region: str) -> None:
        self._check_region(region)
        with self._lock:
            self.down.add(region)

    def bring_up(self, region: str) -> None:
        self._check_region(region)
        with self._lock:
            self.down.discard(region)

    def _check_region(self, region: str) -> None:
        if region not in self.backends:
            raise RegionError(f"no emulator for region {region}: the front serves {', '.join(sorted(self.backends))}")

    # ------------------------------------------------------------------------------------------------ log
    def log(self, region: str | None = None) -> list[Logged]:
        with self._lock:
            return [entry for entry in self._log if region is None or entry.region == region]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def record(self, entry: Logged) -> None:
        with self._lock:
            self._log.append(entry)
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                with (self.log_dir / f"{entry.region}.jsonl").open("a") as out:
                    out.write(json.dumps(asdict(entry)) + "\n")

    # ------------------------------------------------------------------------------------------------ routing
    def region_of(self, headers: Any, path: str, body: bytes) -> tuple[str, str]:
        """(region, service) a request is for: ``GLOBAL`` for a global service; unsigned requests name their region
        or take the default."""
        region, service = signing_scope(headers, path)
        if service in GLOBAL_SERVICES:
            return GLOBAL, service
        if region:
            return region, service
        named = parse_qs(urlparse(path).query).get("region", [""])[0]
        if not named and body[:1] == b"{":
            with contextlib.suppress(ValueError, AttributeError):
                named = str(json.loads(body).get("region") or "")
        return named or self.default_region, "emulator" if path.startswith(PRIVATE_PREFIX) else "unsigned"


def _handler(front: RegionFront) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out in two writes: with Nagle's algorithm the body waits for the client's
        # delayed ACK of the headers (about 40 ms on Linux), which made every request through the front that slow.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _control(self, body: bytes) -> None:
            parsed = urlparse(self.path)
            if parsed.path == f"{CONTROL_PREFIX}state":
                if self.command == "POST":
                    try:
                        down = set(json.loads(body or b"{}").get("down", []))
                        for region in down:
                            front._check_region(region)
                    except (ValueError, AttributeError, TypeError, RegionError) as error:
                        msg = f'the body must be JSON like {{"down": ["us-east-1"]}} naming served regions: {error}'
                        self._reply(400, json.dumps({"error": msg}).encode(), "application/json")
                        return
                    with front._lock:
                        front.down = down
                state = {"regions": sorted(front.backends), "down": sorted(front.down)}
                self._reply(200, json.dumps(state).encode(), "application/json")
                return
            if parsed.path == f"{CONTROL_PREFIX}log" and self.command == "GET":
                region = parse_qs(parsed.query).get("region", [None])[0]
                entries = [asdict(entry) for entry in front.log(region)]
                self._reply(200, json.dumps(entries).encode(), "application/json")
                return
            error = {"error": f"no route {self.command} {parsed.path}: use GET/POST {CONTROL_PREFIX}state, GET log"}
            self._reply(404, json.dumps(error).encode(), "application/json")

        def _forward(self) -> None:
            body = self._body()
            if self.path.startswith(CONTROL_PREFIX):
                self._control(body)
                return
            region, service = front.region_of(self.headers, self.path, body)
            action = action_of(self.command, self.path, self.headers, body)
            home = front.global_home if region == GLOBAL else region
            url = front.backends.get(home)
            if url is None or home in front.down:
                why = "is down" if url is not None else "is not served by this twin"
                where = f"the global endpoint of {service}, in {home}," if region == GLOBAL else f"region {region}"
                message = f"{where} {why} (twin region front)"
                payload = ("<Error><Code>ServiceUnavailable</Code><Message>" + message + "</Message></Error>").encode()
                front.record(Logged(region, service, action, self.command, self.path, 503))
                self._reply(503, payload, "application/xml", {"Connection": "close"})
                self.close_connection = True
                return
            target = urlparse(url)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = target.netloc
            headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=FORWARD_TIMEOUT_S)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                reply_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            except OSError as error:
                front.record(Logged(region, service, action, self.command, self.path, 502))
                message = f"the emulator of {region} at {url} did not answer: {error}"
                self._reply(502, message.encode(), "text/plain")
                return
            finally:
                connection.close()
            front.record(Logged(region, service, action, self.command, self.path, status))
            self.send_response(status)
            for key, value in reply_headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward

    return Handler


@contextlib.contextmanager
def two_regions(state_dir: Path, regions: list[str], log_dir: Path | None = None) -> Iterator[RegionFront]:
    """One emulator per region (``tools.aws_emulator.start``, as tests/conftest.py does) behind a started front."""
    if len(set(regions)) < 2:
        raise RegionError(f"a regional drill needs two different regions, not {regions}")
    started: list[Path] = []
    front: RegionFront | None = None
    try:
        backends = {}
        for region in regions:
            region_dir = state_dir / region
            backends[region] = aws_emulator.start(host="127.0.0.1", port=0, state_dir=region_dir).url
            started.append(region_dir)
        front = RegionFront(backends, regions[0], log_dir=log_dir).start()
        yield front
    finally:
        if front is not None:
            front.stop()
        for region_dir in started:
            aws_emulator.stop(region_dir)


def reset(front: RegionFront) -> None:
    """Empty every region's emulator, bring every region up and clear the log (a test's clean start)."""
    for url in front.backends.values():
        aws_emulator.reset(url)
    with front._lock:
        front.down.clear()
    front.clear_log()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--region", action="append", required=True, help="REGION=URL of that region's emulator")
    parser.add_argument("--log-dir", type=Path, default=None, help="one <region>.jsonl request log per region")
    parser.add_argument("--pid-file", type=Path, default=None, help="written once the front listens")
    args = parser.parse_args(argv)
    try:
        backends = dict(item.split("=", 1) for item in args.region)
        front = RegionFront(backends, args.region[0].split("=", 1)[0], args.host, args.port, args.log_dir)
    except (ValueError, OSError) as error:
        print(f"region-front: {error}", file=sys.stderr)
        return 1
    print(front.url, flush=True)
    if args.pid_file is not None:
        args.pid_file.write_text(f"{os.getpid()}\n")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=front.server.shutdown, daemon=True).start())
    with contextlib.suppress(KeyboardInterrupt):
        front.server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
