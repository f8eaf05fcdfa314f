"""Small HTTP servers for the load-test tests: canned (malformed) responses, a bearer-token proxy in front of the
Ollama double (the platform's nginx tier), and an Open-WebUI stand-in (API key, /api/models, /api/chat/completions).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

Canned = tuple[int, str, list[bytes], float]  # status, content type, body chunks, delay between chunks


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self.server.app(self, "GET", self._body())

    def do_POST(self) -> None:
        self.server.app(self, "POST", self._body())

    def send_chunks(self, status: int, content_type: str, chunks: list[bytes], delay: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if delay:
                time.sleep(delay)
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app(handler, method, body)`` on 127.0.0.1 and a free port; yield the base URL."""
    server = _Server(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def canned(routes: dict[tuple[str, str], Canned]) -> Any:
    """An app answering each (method, path) with a fixed response."""

    def app(handler: _Handler, method: str, body: bytes) -> None:
        status, ctype, chunks, delay = routes.get((method, handler.path), (404, "application/json", [b"{}"], 0.0))
        handler.send_chunks(status, ctype, chunks, delay)

    return app


def _forward(handler: _Handler, upstream: str, method: str, path: str, body: bytes) -> None:
    url = urlparse(upstream)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "application/json")
        handler.send_response(resp.status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while True:
            data = resp.read1(65536)
            if not data:
                break
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    finally:
        conn.close()


def auth_proxy(upstream: str, token: str, webui: bool = False) -> Any:
    """Require ``Authorization: Bearer <token>``, then forward to ``upstream``.

    With ``webui=True`` it speaks like Open-WebUI: /api/models and /api/chat/completions map to the upstream's
    OpenAI-compatible /v1/models and /v1/chat/completions.
    """

    def app(handler: _Handler, method: str, body: bytes) -> None:
        if handler.headers.get("Authorization") != f"Bearer {token}":
            handler.send_json(401, {"detail": "Not authenticated"})
            return
        path = handler.path
        if webui:
            mapping = {"/api/models": "/v1/models", "/api/chat/completions": "/v1/chat/completions"}
            if path not in mapping:
                handler.send_json(404, {"detail": "Not Found"})
                return
            path = mapping[path]
        _forward(handler, upstream, method, path, body)

    return app


def ndjson(*objs: Any) -> list[bytes]:
    """One chunk per JSON line."""
    return [json.dumps(o).encode() + b"\n" for o in objs]


def chat_line(text: str) -> dict[str, Any]:
    return {
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": text},
        "done": False,
    }


def chat_done(eval_count: int) -> dict[str, Any]:
    return {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 900_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": 7,
        "prompt_eval_duration": 50_000_000,
        "eval_count": eval_count,
        "eval_duration": 800_000_000,
    }
