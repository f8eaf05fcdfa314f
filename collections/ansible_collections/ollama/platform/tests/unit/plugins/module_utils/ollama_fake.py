"""In-process fake of the Ollama API endpoints the modules use, on a free loopback port.

Shapes follow Ollama's API (NDJSON streams, ``{"error": ...}`` bodies). Only what the unit tests need.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CATALOG = {
    "qwen2.5:0.5b": 397821319,
    "tinyllama:latest": 637700138,
    "nomic-embed-text:latest": 274302450,
}


def digest_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class FakeOllama:
    """Holds the fake server's state; ``url`` is its base URL."""

    def __init__(self, token: str | None = None, token_delay: float = 0.0) -> None:
        self.token = token
        self.token_delay = token_delay
        self.models: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.pull_error: str | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOllama:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def add(self, name: str) -> None:
        self.models[name] = CATALOG.get(name, 1000)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, items: list[dict[str, Any]], delay: float = 0.0) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for item in items:
                    line = json.dumps(item).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                    if delay:
                        time.sleep(delay)
                self.wfile.write(b"0\r\n\r\n")

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else {}

            def _authorized(self) -> bool:
                fake.requests.append((self.command, self.path, dict(self.headers)))
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._json(401, {"error": "unauthorized"})
                    return False
                return True

            def _models(self) -> list[dict[str, Any]]:
                return [
                    {
                        "name": n,
                        "model": n,
                        "size": s,
                        "digest": digest_of(n),
                        "modified_at": "2026-11-26T07:00:00Z",
                        "details": {"family": "qwen2", "parameter_size": "494M", "quantization_level": "Q4_K_M"},
                    }
                    for n, s in sorted(fake.models.items())
                ]

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path == "/api/version":
                    self._json(200, {"version": "0.12.6"})
                elif self.path == "/api/tags":
                    self._json(200, {"models": self._models()})
                elif self.path == "/api/ps":
                    models = self._models()[:1]
                    for m in models:
                        m.update(expires_at="2026-11-26T08:00:00Z", size_vram=0, context_length=4096)
                    self._json(200, {"models": models})
                else:
                    self._json(404, {"error": "not found"})

            def do_DELETE(self) -> None:
                if not self._authorized():
                    return
                name = self._body().get("model", "")
                with fake.lock:
                    if name not in fake.models:
                        self._json(404, {"error": f"model '{name}' not found"})
                        return
                    del fake.models[name]
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                body = self._body()
                name = body.get("model", "")
                full = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
                if self.path == "/api/pull":
                    if full not in CATALOG:
                        self._stream(
                            [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
                        )
                        return
                    if fake.pull_error:
                        self._stream([{"status": "pulling manifest"}, {"error": fake.pull_error}])
                        return
                    with fake.lock:
                        fake.models[full] = CATALOG[full]
                    self._stream(
                        [
                            {"status": "pulling manifest"},
                            {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 10},
                            {"status": "verifying sha256 digest"},
                            {"status": "writing manifest"},
                            {"status": "success"},
                        ]
                    )
                elif self.path == "/api/generate":
                    if full not in fake.models:
                        self._json(404, {"error": f"model '{name}' not found"})
                        return
                    count = int((body.get("options") or {}).get("num_predict", 8))
                    chunks = [{"model": full, "response": f"tok{i} ", "done": False} for i in range(count)]
                    chunks.append(
                        {
                            "model": full,
                            "response": "",
                            "done": True,
                            "done_reason": "length",
                            "eval_count": count,
                            "eval_duration": int(count * max(fake.token_delay, 0.001) * 1e9),
                            "prompt_eval_count": 5,
                            "load_duration": 1000,
                            "total_duration": 2000,
                        }
                    )
                    self._stream(chunks, delay=fake.token_delay)
                else:
                    self._json(404, {"error": "not found"})

        return Handler
