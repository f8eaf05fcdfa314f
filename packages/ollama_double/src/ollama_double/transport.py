"""HTTP/1.1 on asyncio streams: keep-alive, chunked streams, ``HEAD``, ``Expect: 100-continue``, HTTP/1.0 clients.

``HttpServer`` reads requests, answers Ollama's allowed-hosts check (403) and, when a token is configured, the
platform proxy's bearer check (401), routes by path and method like gin (404/405 texts), turns ``ApiError`` into
``{"error": ...}`` answers and logs one ``[GIN]`` line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import ipaddress
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, TextIO

from .protocol import ApiError, dumps

REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    401: "Unauthorized",
    403: "Forbidden",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    499: "Client Closed Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
MAX_BODY = 256 * 1024 * 1024
UNAUTHORIZED = b'{"error":"unauthorized: send Authorization: Bearer <token>"}\n'

Handler = Callable[["Conn"], Awaitable[None]]
Routes = dict[str, dict[str, Handler]]


@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes
    peer: str
    t0: float  # loop.time() when the request was fully read


class ClientGone(Exception):
    pass


class Conn:
    """One response on a keep-alive connection: plain (Content-Length) or streamed (chunked)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: Request, keep_alive: bool
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.req = req
        self.keep_alive = keep_alive
        self.status = 0
        self.streaming = False
        self.sent_headers = False
        self.stream_head = b""
        self.raw_stream = False
        self.finished = False

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append("Date: " + formatdate(usegmt=True))
        if not self.keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status: int, body: bytes, content_type: str, extra: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
        data = self._head(status, headers)
        if self.req.method != "HEAD":
            data += body
        self.transport.write(data)
        self.finished = True

    def json(self, status: int, obj: Any, newline: bool = False) -> None:
        self.send(status, dumps(obj) + (b"\n" if newline else b""), "application/json; charset=utf-8")

    def error(self, status: int, message: str) -> None:
        self.json(status, {"error": message})

    def start_stream(self, content_type: str) -> None:
        """Headers go out with the first chunk, as with Go's net/http (a stream's headers arrive with its data).

        HTTP/1.0 clients cannot read chunked encoding: they get the raw body and the connection closes at its end.
        """
        self.status = 200
        self.streaming = True
        if self.req.version == "HTTP/1.0":
            self.raw_stream = True
            self.keep_alive = False
            self.stream_head = self._head(200, [("Content-Type", content_type)])
        else:
            self.stream_head = self._head(200, [("Content-Type", content_type), ("Transfer-Encoding", "chunked")])

    @property
    def gone(self) -> bool:
        """The client closed or reset the connection (seen without reading: the transport keeps receiving)."""
        return self.transport.is_closing() or self.reader.at_eof() or self.reader.exception() is not None

    def chunk(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise ClientGone
        payload = data if self.raw_stream else b"%x\r\n%b\r\n" % (len(data), data)
        if not self.sent_headers:
            self.sent_headers = True
            payload = self.stream_head + payload
        self.transport.write(payload)

    def end_stream(self) -> None:
        trailer = b"" if self.raw_stream else b"0\r\n\r\n"
        if not self.sent_headers:
            self.sent_headers = True
            self.transport.write(self.stream_head + trailer)
        elif not self.transport.is_closing():
            self.transport.write(trailer)
        self.finished = True


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        writer.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        writer.transport.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
        return None
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts_b = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts_b.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts_b)
    elif headers.get("content-length"):
        length = int(headers["content-length"])
        if length > MAX_BODY:
            writer.transport.write(b"HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\n\r\n")
            return None
        body = await reader.readexactly(length)
    path, _, query = target.partition("?")
    return Request(method, path, query, version, headers, body, peer, asyncio.get_running_loop().time())


_GO_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class HttpServer:
    """The listening socket and its connections; ``routes`` map path -> method -> handler."""

    def __init__(
        self,
        routes: Routes,
        prefix_routes: dict[str, dict[str, Handler]],
        *,
        api_token: str = "",
        log_requests: bool = True,
        out: TextIO | None = None,
    ) -> None:
        self.routes = routes
        self.prefix_routes = prefix_routes
        self.api_token = api_token
        self.log_requests = log_requests
        self.out = out
        self.server: asyncio.base_events.Server | None = None
        self.bound: tuple[str, int] | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self.server = await asyncio.start_server(
            self.handle_conn, host=host or None, port=port, backlog=4096, limit=1024 * 1024, reuse_address=True
        )
        sock = self.server.sockets[0].getsockname()
        self.bound = (sock[0], sock[1])
        return self.bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self.conns):
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def _write(self, line: str) -> None:
        out = self.out or sys.stderr
        out.write(line)
        out.flush()

    def log(self, msg: str) -> None:
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        self._write(f'time={ts} level=INFO source=routes.go:1564 msg="{msg}"\n')

    def log_request(self, conn: Conn, elapsed: float) -> None:
        if not self.log_requests:
            return
        ts = time.strftime("%Y/%m/%d - %H:%M:%S")
        if elapsed >= 1:
            dur = f"{elapsed:.9g}s"
        elif elapsed >= 0.001:
            dur = f"{elapsed * 1000:.6g}ms"
        else:
            dur = f"{elapsed * 1e6:.6g}µs"
        req = conn.req
        self._write(f'[GIN] {ts} | {conn.status:3d} | {dur:>13} | {req.peer:>15} | {req.method:<7} "{req.path}"\n')

    async def handle_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.add(writer)
        peername = writer.get_extra_info("peername")
        peer = peername[0] if isinstance(peername, tuple) else "unix"
        try:
            while True:
                req = await read_request(reader, writer, peer)
                if req is None:
                    break
                conn_hdr = req.headers.get("connection", "").lower()
                keep = conn_hdr != "close" if req.version == "HTTP/1.1" else conn_hdr == "keep-alive"
                conn = Conn(reader, writer, req, keep)
                try:
                    await self.dispatch(conn)
                except ClientGone:
                    break
                except ApiError as e:
                    if conn.streaming and conn.sent_headers:
                        with contextlib.suppress(ClientGone):
                            conn.chunk(dumps({"error": e.message}) + b"\n")
                            conn.end_stream()
                    else:
                        conn.error(e.status, e.message)
                except Exception as e:  # noqa: BLE001 - report like Go's 500 instead of dropping the connection
                    if conn.streaming and conn.sent_headers:
                        with contextlib.suppress(ClientGone):
                            conn.chunk(dumps({"error": str(e)}) + b"\n")
                            conn.end_stream()
                    elif not conn.finished:
                        conn.error(500, str(e))
                self.log_request(conn, asyncio.get_running_loop().time() - req.t0)
                if not conn.keep_alive or writer.transport.is_closing():
                    break
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            pass
        finally:
            self.conns.discard(writer)
            writer.close()

    def token_ok(self, conn: Conn) -> bool:
        """The platform proxy's check (nginx in front of Ollama): ``Authorization: Bearer <token>`` when one is set."""
        if not self.api_token:
            return True
        return hmac.compare_digest(conn.req.headers.get("authorization", ""), f"Bearer {self.api_token}")

    def host_allowed(self, conn: Conn) -> bool:
        """Ollama's allowedHostsMiddleware: a server bound to loopback only answers local Host headers (else 403)."""
        if self.bound is None or not _is_loopback(self.bound[0]):
            return True
        host = conn.req.headers.get("host", "")
        if host.startswith("["):
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            return (
                ip.is_loopback
                or ip.is_unspecified
                or any(ip in net for net in _GO_PRIVATE if ip.version == net.version)
            )
        host = host.lower()
        return host in ("", "localhost", socket.gethostname().lower()) or host.endswith(
            (".localhost", ".local", ".internal")
        )

    async def dispatch(self, conn: Conn) -> None:
        if not self.token_ok(conn):
            conn.send(401, UNAUTHORIZED, "application/json", [("WWW-Authenticate", 'Bearer realm="ollama"')])
            return
        if not self.host_allowed(conn):
            conn.send(403, b"", "text/plain; charset=utf-8")
            return
        if conn.req.method == "OPTIONS":
            conn.send(204, b"", "text/plain; charset=utf-8")
            return
        path = conn.req.path
        if len(path) > 1 and path.endswith("/") and path.rstrip("/") in self.routes:
            path = path.rstrip("/")
        methods = self.routes.get(path)
        if methods is None:
            for prefix, handlers in self.prefix_routes.items():
                if path.startswith(prefix) and len(path) > len(prefix):
                    methods = handlers
                    break
        if methods is None:
            conn.send(404, b"404 page not found", "text/plain")
            return
        handler = methods.get(conn.req.method)
        if handler is None:
            conn.send(405, b"405 method not allowed", "text/plain", [("Allow", ", ".join(methods))])
            return
        await handler(conn)
