"""Ollama API double: an asyncio HTTP/1.1 server that behaves like ``ollama serve`` with configurable timings.

Pure standard library (runs on the python3 of Debian 12 / Ubuntu 24.04). See README.md next to this file for the
knobs, the endpoints and the timing model. For tests, ``running_double(...)`` starts a server on a free port::

    from tests.ollama_double.server import running_double

    with running_double(ttft_ms=200, tokens_per_second=50, models=["llama3.2:1b"]) as double:
        requests.post(double.url + "/api/chat", json={...})
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import ipaddress
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from . import models as m
from ._version import VERSION
from .knobs import knobs_env, parse_host

QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
FAR_FUTURE_S = 292 * 365 * 24 * 3600  # Go's time.Now().Add(math.MaxInt64): keep_alive < 0 never expires

WORDS = (
    "the",
    "model",
    "answers",
    "with",
    "plain",
    "words",
    "that",
    "look",
    "like",
    "text",
    "so",
    "clients",
    "can",
    "count",
    "tokens",
    "and",
    "measure",
    "time",
    "while",
    "streams",
    "arrive",
    "in",
    "order",
    "from",
    "a",
    "small",
    "server",
    "running",
    "on",
    "loopback",
    "for",
    "tests",
    "of",
    "load",
    "balancers",
    "proxies",
    "and",
    "dashboards",
    "which",
    "expect",
    "steady",
    "output",
    "at",
    "a",
    "known",
    "rate;",
    "every",
    "request",
    "gets",
    "the",
    "same",
    "words",
    "for",
    "the",
    "same",
    "prompt",
    "unless",
    "a",
    "seed",
    "option",
    "says",
    "otherwise,",
    "and",
    "long",
    "answers",
    "simply",
    "continue",
    "until",
    "the",
    "limit",
    "is",
    "reached.",
)
TOKEN_TEXT = [(w, " " + w) for w in WORDS]
TOKEN_JSON = [
    (json.dumps(a, ensure_ascii=False).encode(), json.dumps(b, ensure_ascii=False).encode()) for a, b in TOKEN_TEXT
]


# --------------------------------------------------------------------------------------------------------------------
# configuration


def _env_float(env: dict[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"Error: {key}={raw!r} is not a number; set it to a number such as {default:g}") from None
    if value < 0 or math.isnan(value):
        raise SystemExit(f"Error: {key}={raw!r} must be zero or positive; set it to a number such as {default:g}")
    return value


def _env_int(env: dict[str, str], key: str, default: int) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"Error: {key}={raw!r} is not an integer; set it to an integer such as {default}") from None
    if value < 0:
        raise SystemExit(f"Error: {key}={raw!r} must be zero or positive; set it to an integer such as {default}")
    return value


def _env_names(env: dict[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(key)
    if raw is None:
        return default
    names = []
    for part in raw.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            names.append(m.normalize(part))
        except m.InvalidName:
            raise SystemExit(
                f"Error: {key} contains {part!r}, which is not a valid model name (e.g. llama3.2:1b)"
            ) from None
    return tuple(names)


@dataclasses.dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 11434
    models_dir: str = "~/.ollama/models"
    num_parallel: int = 1
    max_queue: int = 512
    max_loaded_models: int = 3
    keep_alive_ns: int | None = 5 * 60 * 1_000_000_000
    context_length: int = 4096
    ttft_ms: float = 150.0
    tokens_per_second: float = 30.0
    load_ms: float = 300.0
    num_predict: int = 24
    pull_ms: float = 300.0
    prompt_tokens_per_second: float = 0.0
    models: tuple[str, ...] = ()
    registry: tuple[str, ...] = m.DEFAULT_REGISTRY
    version: str = VERSION
    log_requests: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        host, port = parse_host(env.get("OLLAMA_HOST"))
        keep_alive: int | None = 5 * 60 * 1_000_000_000
        if env.get("OLLAMA_KEEP_ALIVE", "").strip():
            try:
                keep_alive = m.parse_duration_ns(env["OLLAMA_KEEP_ALIVE"], env=True)
            except ValueError:
                keep_alive = 5 * 60 * 1_000_000_000  # Ollama ignores an unparsable value and keeps the default
        num_parallel = _env_int(env, "OLLAMA_NUM_PARALLEL", 1) or 1
        return cls(
            host=host,
            port=port,
            models_dir=env.get("OLLAMA_MODELS") or str(Path.home() / ".ollama" / "models"),
            num_parallel=num_parallel,
            max_queue=_env_int(env, "OLLAMA_MAX_QUEUE", 512),
            max_loaded_models=_env_int(env, "OLLAMA_MAX_LOADED_MODELS", 3) or 3,
            keep_alive_ns=keep_alive,
            context_length=_env_int(env, "OLLAMA_CONTEXT_LENGTH", 4096) or 4096,
            ttft_ms=_env_float(env, "OLLAMA_DOUBLE_TTFT_MS", 150.0),
            tokens_per_second=_env_float(env, "OLLAMA_DOUBLE_TOKENS_PER_SECOND", 30.0),
            load_ms=_env_float(env, "OLLAMA_DOUBLE_LOAD_MS", 300.0),
            num_predict=_env_int(env, "OLLAMA_DOUBLE_NUM_PREDICT", 24),
            pull_ms=_env_float(env, "OLLAMA_DOUBLE_PULL_MS", 300.0),
            prompt_tokens_per_second=_env_float(env, "OLLAMA_DOUBLE_PROMPT_TOKENS_PER_SECOND", 0.0),
            models=_env_names(env, "OLLAMA_DOUBLE_MODELS", ()),
            registry=_env_names(env, "OLLAMA_DOUBLE_REGISTRY", m.DEFAULT_REGISTRY),
            version=env.get("OLLAMA_DOUBLE_VERSION", "").strip() or VERSION,
            log_requests=env.get("OLLAMA_DOUBLE_LOG_REQUESTS", "1").strip().lower() not in ("0", "false", "no"),
        )

    def env_summary(self) -> str:
        ka = "-1" if self.keep_alive_ns is None else f"{self.keep_alive_ns / 1e9:g}s"
        return (
            f"map[OLLAMA_HOST:http://{self.host}:{self.port} OLLAMA_KEEP_ALIVE:{ka} "
            f"OLLAMA_MAX_LOADED_MODELS:{self.max_loaded_models} OLLAMA_MAX_QUEUE:{self.max_queue} "
            f"OLLAMA_MODELS:{self.models_dir} OLLAMA_NUM_PARALLEL:{self.num_parallel} "
            f"OLLAMA_DOUBLE_TTFT_MS:{self.ttft_ms:g} OLLAMA_DOUBLE_TOKENS_PER_SECOND:{self.tokens_per_second:g} "
            f"OLLAMA_DOUBLE_LOAD_MS:{self.load_ms:g} OLLAMA_DOUBLE_NUM_PREDICT:{self.num_predict} "
            f"OLLAMA_DOUBLE_PULL_MS:{self.pull_ms:g} "
            f"OLLAMA_DOUBLE_PROMPT_TOKENS_PER_SECOND:{self.prompt_tokens_per_second:g}]"
        )


# --------------------------------------------------------------------------------------------------------------------
# time formatting


_last_sec: list[Any] = [None, ""]


def go_time_utc(ns: int) -> str:
    """Go's JSON encoding of time.Now().UTC(): RFC 3339 with trimmed nanoseconds."""
    sec, frac = divmod(ns, 1_000_000_000)
    if _last_sec[0] != sec:
        _last_sec[0] = sec
        _last_sec[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        return f"{_last_sec[1]}.{frac:09d}".rstrip("0") + "Z"
    return _last_sec[1] + "Z"


def now_utc() -> str:
    return go_time_utc(time.time_ns())


def _ns(seconds: float) -> int:
    return max(1, round(seconds * 1_000_000_000))


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------------------------------
# errors and request parsing


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_GO_TYPES = {str: "string", bool: "bool", int: "int", float: "float64", dict: "map", list: "array", type(None): "null"}


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def parse_body(body: bytes, struct: str) -> dict[str, Any]:
    if not body.strip():
        raise ApiError(400, "missing request body")
    try:
        obj = json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid character looking for beginning of value") from None
    except json.JSONDecodeError as e:
        if e.pos >= len(e.doc.rstrip()):
            raise ApiError(400, "unexpected EOF") from None
        ch = e.doc[e.pos]
        raise ApiError(400, f"invalid character '{ch}' looking for beginning of value") from None
    if not isinstance(obj, dict):
        raise ApiError(400, f"json: cannot unmarshal {_json_type(obj)} into Go value of type api.{struct}")
    return obj


def field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], struct: str, default: Any = None) -> Any:
    value = obj.get(key, default)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        go = _GO_TYPES.get(kinds[0], kinds[0].__name__)
        raise ApiError(
            400, f"json: cannot unmarshal {_json_type(value)} into Go struct field {struct}.{key} of type {go}"
        )
    return value


def keep_alive_of(obj: dict[str, Any]) -> tuple[bool, int | None]:
    """(given, nanoseconds or None for forever)."""
    if "keep_alive" not in obj or obj["keep_alive"] is None:
        return False, 0
    try:
        return True, m.parse_duration_ns(obj["keep_alive"])
    except ValueError as e:
        raise ApiError(400, str(e)) from None


def count_words(*texts: Any) -> int:
    return sum(len(t.split()) for t in texts if isinstance(t, str))


# --------------------------------------------------------------------------------------------------------------------
# scheduler: loaded models, parallel slots, queue limit, keep-alive


class QueueFull(Exception):
    pass


class Runner:
    def __init__(self, model: m.StoredModel, cfg: Config, loop: asyncio.AbstractEventLoop, num_ctx: int | None) -> None:
        self.model = model
        self.ready: asyncio.Future[None] = loop.create_future()
        self.sem = asyncio.Semaphore(cfg.num_parallel)
        self.refs = 0
        self.session_ns: int | None = cfg.keep_alive_ns
        self.expires_at = time.time() + FAR_FUTURE_S
        self.timer: asyncio.TimerHandle | None = None
        self.context_length = min(num_ctx or cfg.context_length, model.spec.context_length)
        self.unloaded = False

    @property
    def vram_size(self) -> int:
        spec = self.model.spec
        return spec.size + self.context_length * spec.embedding_length * spec.block_count // 4


class Scheduler:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.runners: dict[str, Runner] = {}
        self.pending = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _set_expiry(self, runner: Runner) -> None:
        if runner.session_ns is None:
            runner.expires_at = time.time() + FAR_FUTURE_S
        else:
            runner.expires_at = time.time() + runner.session_ns / 1e9

    async def _load(self, runner: Runner) -> None:
        await asyncio.sleep(self.cfg.load_ms / 1000.0)
        if not runner.ready.done():
            runner.ready.set_result(None)

    def _evict_for(self, key: str) -> None:
        loaded = [r for k, r in self.runners.items() if k != key]
        if len(loaded) < self.cfg.max_loaded_models:
            return
        idle = [r for r in loaded if r.refs == 0]
        if idle:
            self._unload(min(idle, key=lambda r: r.expires_at))

    async def acquire(
        self, model: m.StoredModel, keep_alive_given: bool, keep_alive_ns: int | None, num_ctx: int | None
    ) -> tuple[Runner, float]:
        """Wait for the model to be loaded and for a free slot; returns (runner, time the model was ready)."""
        if self.pending >= self.cfg.max_queue:
            raise QueueFull
        self.pending += 1
        runner = None
        try:
            key = model.name
            runner = self.runners.get(key)
            if runner is None or runner.unloaded:
                self._evict_for(key)
                runner = Runner(model, self.cfg, self.loop, num_ctx)
                self.runners[key] = runner
                self.loop.create_task(self._load(runner))
            runner.refs += 1
            if runner.timer is not None:
                runner.timer.cancel()
                runner.timer = None
            if keep_alive_given:
                runner.session_ns = keep_alive_ns
            self._set_expiry(runner)
            if not runner.ready.done():
                await asyncio.shield(runner.ready)
            loaded_at = self.loop.time()
            await runner.sem.acquire()
        except BaseException:
            if runner is not None:
                runner.refs -= 1
                self._idle(runner)
            raise
        finally:
            self.pending -= 1
        return runner, loaded_at

    def release(self, runner: Runner) -> None:
        runner.sem.release()
        runner.refs -= 1
        self._idle(runner)

    def _idle(self, runner: Runner) -> None:
        if runner.refs > 0 or runner.unloaded:
            return
        self._set_expiry(runner)
        if runner.session_ns == 0:
            self._unload(runner)
        elif runner.session_ns is not None:
            runner.timer = self.loop.call_later(runner.session_ns / 1e9, self._unload, runner)

    def _unload(self, runner: Runner) -> None:
        if runner.refs > 0:
            return
        runner.unloaded = True
        if runner.timer is not None:
            runner.timer.cancel()
            runner.timer = None
        if self.runners.get(runner.model.name) is runner:
            del self.runners[runner.model.name]

    def expire(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is None:
            return
        runner.session_ns = 0
        if runner.refs == 0:
            self._unload(runner)

    def loaded(self) -> list[Runner]:
        return [r for r in self.runners.values() if r.ready.done() and not r.unloaded]


# --------------------------------------------------------------------------------------------------------------------
# HTTP plumbing


REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
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


# --------------------------------------------------------------------------------------------------------------------
# generation plan


@dataclasses.dataclass
class Plan:
    tokens: list[int]
    done_reason: str
    prompt_tokens: int
    prompt_ids: list[int]


def plan_generation(model: str, prompt_text: str, options: dict[str, Any], default_n: int) -> Plan:
    seed = options.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        seed = int.from_bytes(hashlib.sha256(f"{model}\0{prompt_text}".encode()).digest()[:8], "big")
    num_predict = options.get("num_predict")
    if isinstance(num_predict, float) and num_predict.is_integer():
        num_predict = int(num_predict)
    if isinstance(num_predict, int) and not isinstance(num_predict, bool) and num_predict > 0:
        n, reason = num_predict, "length"
    else:
        n, reason = default_n, "stop"
    rng = random.Random(seed)  # noqa: S311 - deterministic pseudo-text, not security
    tokens = [rng.randrange(len(WORDS)) for _ in range(n)]
    stop = options.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    if stops:
        for i, t in enumerate(tokens):
            if any(s.strip() and s.strip() in WORDS[t] for s in stops):
                tokens, reason = tokens[:i], "stop"
                break
    words = prompt_text.split()
    prompt_ids = [zlib.crc32(w.encode()) % 128000 for w in words] or [1]
    return Plan(tokens, reason, max(1, len(words)), prompt_ids)


def token_text(tokens: list[int]) -> str:
    return "".join(TOKEN_TEXT[t][0 if i == 0 else 1] for i, t in enumerate(tokens))


def embedding_vector(model: str, text: str, dims: int) -> list[float]:
    rng = random.Random(hashlib.sha256(f"{model}\0{text}".encode()).digest())  # noqa: S311
    vec = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [float(f"{v / norm:.8g}") for v in vec]


# --------------------------------------------------------------------------------------------------------------------
# the application


class Double:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.store = m.ModelStore(cfg.models_dir)
        self.sched = Scheduler(cfg)
        self.server: asyncio.base_events.Server | None = None
        self.bound: tuple[str, int] | None = None
        self.interval = 1.0 / cfg.tokens_per_second if cfg.tokens_per_second > 0 else 0.0
        self.ttft = cfg.ttft_ms / 1000.0
        self.conns: set[asyncio.StreamWriter] = set()
        self.active_streams = 0
        self.routes: dict[str, dict[str, Callable[[Conn], Any]]] = {
            "/": {"GET": self.h_root, "HEAD": self.h_root},
            "/api/version": {"GET": self.h_version, "HEAD": self.h_version},
            "/api/tags": {"GET": self.h_tags, "HEAD": self.h_tags},
            "/api/ps": {"GET": self.h_ps},
            "/api/show": {"POST": self.h_show},
            "/api/generate": {"POST": self.h_generate},
            "/api/chat": {"POST": self.h_chat},
            "/api/embed": {"POST": self.h_embed},
            "/api/embeddings": {"POST": self.h_embeddings},
            "/api/pull": {"POST": self.h_pull},
            "/api/push": {"POST": self.h_push},
            "/api/delete": {"DELETE": self.h_delete},
            "/api/copy": {"POST": self.h_copy},
            "/api/create": {"POST": self.h_create},
            "/v1/chat/completions": {"POST": self.h_v1_chat},
            "/v1/completions": {"POST": self.h_v1_completions},
            "/v1/embeddings": {"POST": self.h_v1_embeddings},
            "/v1/models": {"GET": self.h_v1_models},
        }

    # ---- lifecycle ----------------------------------------------------------------------------------------------

    def seed_models(self) -> None:
        """Install OLLAMA_DOUBLE_MODELS once per models directory (a name deleted later stays deleted)."""
        self.store.ensure_dirs()
        marker = self.store.root / ".ollama-double-seeded"
        try:
            done = set(marker.read_text().split())
        except OSError:
            done = set()
        todo = [n for n in self.cfg.models if n not in done]
        for name in todo:
            if self.store.get(name) is None:
                self.store.install(name, m.spec_for(name))
        if todo:
            marker.write_text("".join(f"{n}\n" for n in sorted(done | set(todo))))

    async def start(self) -> tuple[str, int]:
        host = self.cfg.host or None
        self.server = await asyncio.start_server(
            self.handle_conn, host=host, port=self.cfg.port, backlog=4096, limit=1024 * 1024, reuse_address=True
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

    def log(self, msg: str) -> None:
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        sys.stderr.write(f'time={ts} level=INFO source=routes.go:1564 msg="{msg}"\n')
        sys.stderr.flush()

    def log_request(self, conn: Conn, elapsed: float) -> None:
        if not self.cfg.log_requests:
            return
        ts = time.strftime("%Y/%m/%d - %H:%M:%S")
        if elapsed >= 1:
            dur = f"{elapsed:.9g}s"
        elif elapsed >= 0.001:
            dur = f"{elapsed * 1000:.6g}ms"
        else:
            dur = f"{elapsed * 1e6:.6g}µs"
        req = conn.req
        sys.stderr.write(f'[GIN] {ts} | {conn.status:3d} | {dur:>13} | {req.peer:>15} | {req.method:<7} "{req.path}"\n')
        sys.stderr.flush()

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
        if methods is None and path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
            methods = {"GET": self.h_v1_model}
        if methods is None:
            conn.send(404, b"404 page not found", "text/plain")
            return
        handler = methods.get(conn.req.method)
        if handler is None:
            conn.send(405, b"405 method not allowed", "text/plain", [("Allow", ", ".join(methods))])
            return
        await handler(conn)

    # ---- helpers ------------------------------------------------------------------------------------------------

    def require_model(self, raw: Any, *, missing_status: int = 404, missing: str | None = None) -> m.StoredModel:
        name = raw if isinstance(raw, str) else ""
        parsed = m.Name.parse(name.strip()) if name.strip() else None
        if parsed is None or not parsed.valid:
            raise ApiError(missing_status, missing if missing is not None else f"model '{name}' not found")
        model = self.store.get(name)
        if model is None:
            raise ApiError(404, f"model '{name}' not found")
        return model

    async def run(
        self,
        conn: Conn,
        model: m.StoredModel,
        body: dict[str, Any],
        plan: Plan,
        on_token: Callable[[int, int], None] | None,
    ) -> dict[str, int]:
        """Schedule, then emit ``plan.tokens`` against absolute deadlines; returns the metrics in nanoseconds."""
        loop = asyncio.get_running_loop()
        given, keep_ns = keep_alive_of(body)
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        num_ctx = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else None
        try:
            runner, loaded_at = await self.schedule(conn, model, given, keep_ns, num_ctx)
        except QueueFull:
            raise ApiError(503, QUEUE_FULL) from None
        self.active_streams += 1
        try:
            start = loop.time()
            prompt_eval = self.ttft
            if self.cfg.prompt_tokens_per_second > 0:
                prompt_eval += plan.prompt_tokens / self.cfg.prompt_tokens_per_second
            t_first, t_end = await self._emit(conn, plan.tokens, start + prompt_eval, on_token)
        finally:
            self.active_streams -= 1
            self.sched.release(runner)
        return {
            "total_duration": _ns(t_end - conn.req.t0),
            "load_duration": _ns(loaded_at - conn.req.t0),
            "prompt_eval_count": plan.prompt_tokens,
            "prompt_eval_duration": _ns(t_first - start),
            "eval_count": len(plan.tokens),
            "eval_duration": _ns(t_end - t_first),
        }

    async def schedule(
        self, conn: Conn, model: m.StoredModel, given: bool, keep_ns: int | None, num_ctx: int | None
    ) -> tuple[Runner, float]:
        """``Scheduler.acquire``, abandoned when the client goes away while waiting (as Ollama cancels it)."""
        task = asyncio.ensure_future(self.sched.acquire(model, given, keep_ns, num_ctx))
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if conn.gone:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, QueueFull):
                    await task
                if task.cancelled() or task.exception() is not None:
                    raise ClientGone
                self.sched.release(task.result()[0])
                raise ClientGone

    def _emit(
        self, conn: Conn, tokens: list[int], first_deadline: float, on_token: Callable[[int, int], None] | None
    ) -> asyncio.Future[tuple[float, float]]:
        """Token i goes out at ``first_deadline + i / rate``, the end at ``first_deadline + n / rate``.

        Driven by timer callbacks on absolute deadlines (no coroutine per token): lateness of one token never
        shifts the next one, and a thousand concurrent streams cost one timer each. Resolves to the loop times
        (first token written, end reached).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[float, float]] = loop.create_future()
        interval = self.interval
        n = len(tokens)
        state = {"i": 0, "first": 0.0}

        def fail(exc: BaseException) -> None:
            if not done.done():
                done.set_exception(exc)

        def finish() -> None:
            if done.done():
                return
            if conn.gone:
                fail(ClientGone())
                return
            t_end = loop.time()
            done.set_result((state["first"] or t_end, t_end))

        def step() -> None:
            if done.done():
                return
            i = state["i"]
            if conn.gone:
                fail(ClientGone())
                return
            try:
                if on_token is not None:
                    on_token(i, tokens[i])
            except ClientGone as e:
                fail(e)
                return
            except Exception as e:  # noqa: BLE001 - surfaced to the awaiting handler
                fail(e)
                return
            if i == 0:
                state["first"] = loop.time()
            state["i"] = i = i + 1
            if i < n:
                loop.call_at(first_deadline + i * interval, step)
            else:
                loop.call_at(first_deadline + n * interval, finish)

        if n:
            loop.call_at(first_deadline, step)
        else:
            loop.call_at(first_deadline, finish)
        return done

    async def load_only(self, conn: Conn, model: m.StoredModel, body: dict[str, Any]) -> None:
        given, keep_ns = keep_alive_of(body)
        try:
            runner, _ = await self.schedule(conn, model, given, keep_ns, None)
        except QueueFull:
            raise ApiError(503, QUEUE_FULL) from None
        self.sched.release(runner)

    def check_capability(self, model: m.StoredModel, name: str, what: str) -> None:
        if model.spec.embedding_only:
            raise ApiError(400, f'"{name}" does not support {what}')

    @staticmethod
    def check_think_tools(model: m.StoredModel, name: str, body: dict[str, Any]) -> None:
        if body.get("think") not in (None, False) and "thinking" not in model.spec.capabilities:
            raise ApiError(400, f'"{name}" does not support thinking')
        fq = m.Name.parse(model.name)
        for key, capability in (("tools", "tools"), ("suffix", "insert")):
            if body.get(key) and capability not in model.spec.capabilities:
                raise ApiError(400, f"{fq.host}/{fq.namespace}/{fq.model}:{fq.tag} does not support {capability}")

    # ---- simple endpoints ---------------------------------------------------------------------------------------

    async def h_root(self, conn: Conn) -> None:
        conn.send(200, b"Ollama is running", "text/plain; charset=utf-8")

    async def h_version(self, conn: Conn) -> None:
        conn.json(200, {"version": self.cfg.version})

    def tags(self) -> list[dict[str, Any]]:
        return [
            {
                "name": sm.name,
                "model": sm.name,
                "modified_at": m.go_time_local(sm.modified),
                "size": sm.size,
                "digest": sm.digest,
                "details": sm.details(),
            }
            for sm in self.store.list()
        ]

    async def h_tags(self, conn: Conn) -> None:
        conn.json(200, {"models": self.tags()})

    async def h_ps(self, conn: Conn) -> None:
        out = []
        for r in sorted(self.sched.loaded(), key=lambda r: -int(r.expires_at)):
            out.append(
                {
                    "name": r.model.name,
                    "model": r.model.name,
                    "size": r.vram_size,
                    "digest": r.model.digest,
                    "details": r.model.details(),
                    "expires_at": m.go_time_local(r.expires_at),
                    "size_vram": 0,
                    "context_length": r.context_length,
                }
            )
        conn.json(200, {"models": out})

    def show(self, model: m.StoredModel) -> dict[str, Any]:
        spec = model.spec
        arch = spec.family
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.basename": model.name.split(":")[0].split("/")[-1],
            "general.file_type": {"F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15}.get(spec.quantization, 15),
            "general.parameter_count": spec.parameter_count,
            "general.quantization_version": 2,
            f"{arch}.block_count": spec.block_count,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.embedding_length": spec.embedding_length,
            "tokenizer.ggml.model": "gpt2" if not spec.embedding_only else "bert",
        }
        blob = self.store.blob_path(model.model_digest) if model.model_digest else Path("/nonexistent")
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {model.name}\n\n"
            f"FROM {blob}\n"
        )
        out: dict[str, Any] = {
            "license": f"License of {model.name} (stand-in text for tests).\n",
            "modelfile": modelfile,
        }
        if not spec.embedding_only:
            out["parameters"] = 'stop                           "<|end|>"'
            out["template"] = model.template or m.CHAT_TEMPLATE
            out["modelfile"] += f'TEMPLATE """{out["template"]}"""\nPARAMETER stop <|end|>\n'
        out["details"] = model.details()
        out["model_info"] = info
        out["capabilities"] = list(spec.capabilities)
        out["modified_at"] = m.go_time_local(model.modified)
        return out

    async def h_show(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "ShowRequest")
        name = field(body, "model", str, "ShowRequest", "") or field(body, "name", str, "ShowRequest", "")
        if not name:
            raise ApiError(400, "model is required")
        if not m.Name.parse(name.strip()).valid:
            raise ApiError(400, "invalid model name")
        model = self.store.get(name)
        if model is None:
            raise ApiError(404, f"model '{name}' not found")
        conn.json(200, self.show(model))

    async def h_delete(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "DeleteRequest")
        name = field(body, "model", str, "DeleteRequest", "") or field(body, "name", str, "DeleteRequest", "")
        if not m.Name.parse(name.strip()).valid:
            raise ApiError(400, f'name "{name}" is invalid')
        found = self.store.get(name)
        if found is None:
            raise ApiError(404, f"model '{name}' not found")
        self.sched.expire(found.name)
        self.store.delete(name)
        conn.send(200, b"", "text/plain; charset=utf-8")

    async def h_copy(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "CopyRequest")
        src = field(body, "source", str, "CopyRequest", "")
        dst = field(body, "destination", str, "CopyRequest", "")
        if not m.Name.parse(src).valid:
            raise ApiError(400, f'source "{src}" is invalid')
        if not m.Name.parse(dst).valid:
            raise ApiError(400, f'destination "{dst}" is invalid')
        if not self.store.copy(src, dst):
            raise ApiError(404, f'model "{src}" not found')
        conn.send(200, b"", "text/plain; charset=utf-8")

    async def h_push(self, conn: Conn) -> None:
        raise ApiError(500, "push is not supported by this server: it has no registry to push to")

    async def h_create(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "CreateRequest")
        name = field(body, "model", str, "CreateRequest", "") or field(body, "name", str, "CreateRequest", "")
        src = field(body, "from", str, "CreateRequest", "")
        if not name or not m.Name.parse(name).valid:
            raise ApiError(400, "invalid model name")
        if not src:
            raise ApiError(400, "neither 'from' or 'files' was specified")
        source = self.store.get(src)
        if source is None:
            raise ApiError(404, f"model '{src}' not found")
        stream = body.get("stream") is not False
        statuses = [{"status": "gathering model components"}]
        self.store.copy(source.name, name)
        statuses += [{"status": f"using existing layer sha256:{source.model_digest[7:]}"}]
        statuses += [{"status": "writing manifest"}, {"status": "success"}]
        if not stream:
            conn.json(200, statuses[-1])
            return
        conn.start_stream("application/x-ndjson")
        for s in statuses:
            conn.chunk(dumps(s) + b"\n")
        conn.end_stream()

    # ---- pull ---------------------------------------------------------------------------------------------------

    async def h_pull(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "PullRequest")
        raw = field(body, "model", str, "PullRequest", "") or field(body, "name", str, "PullRequest", "")
        parsed = m.Name.parse(raw.strip())
        if not raw.strip() or not parsed.valid:
            raise ApiError(400, "invalid model name")
        name = parsed.display()
        existing = self.store.find(raw)
        if existing:
            name = existing[0].display()
        stream = body.get("stream") is not False
        loop = asyncio.get_running_loop()
        if stream:
            conn.start_stream("application/x-ndjson")
        last: dict[str, Any] = {}

        def emit(obj: dict[str, Any]) -> None:
            nonlocal last
            last = obj
            if stream:
                conn.chunk(dumps(obj) + b"\n")

        emit({"status": "pulling manifest"})
        registry = {n.lower(): n for n in self.cfg.registry}
        if name.lower() not in registry:
            msg = "pull model manifest: file does not exist"
            if stream:
                conn.chunk(dumps({"error": msg}) + b"\n")
                conn.end_stream()
                return
            raise ApiError(500, msg)
        canonical = registry[name.lower()]
        if existing is None:
            name = canonical
        manifest, blobs = self.store.build(canonical, m.spec_for(canonical))
        mf = json.loads(manifest)
        layers = [*mf["layers"], mf["config"]]
        total = sum(layer["size"] for layer in layers) or 1
        budget = self.cfg.pull_ms / 1000.0
        for layer in layers:
            digest, size = layer["digest"], layer["size"]
            status = f"pulling {digest[7:19]}"
            if self.store.has_blob(digest):
                emit({"status": status, "digest": digest, "total": size, "completed": size})
                continue
            emit({"status": status, "digest": digest, "total": size})
            share = budget * size / total
            t_start = loop.time()
            while True:
                await asyncio.sleep(min(0.06, max(share, 0.0)))
                frac = 1.0 if share <= 0 else min(1.0, (loop.time() - t_start) / share)
                done = int(size * frac)
                emit({"status": status, "digest": digest, "total": size, "completed": max(done, 1)})
                if frac >= 1.0:
                    break
            self.store.write_blob(digest, blobs[digest])
        emit({"status": "verifying sha256 digest"})
        emit({"status": "writing manifest"})
        self.store.write_manifest(name, manifest)
        emit({"status": "success"})
        if stream:
            conn.end_stream()
        else:
            conn.json(200, last)

    # ---- generate / chat ----------------------------------------------------------------------------------------

    async def h_generate(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "GenerateRequest")
        raw = field(body, "model", str, "GenerateRequest", "")
        prompt = field(body, "prompt", str, "GenerateRequest", "")
        system = field(body, "system", str, "GenerateRequest", "")
        options = field(body, "options", dict, "GenerateRequest", {})
        stream = field(body, "stream", bool, "GenerateRequest", True)
        model = self.require_model(raw)
        given, keep_ns = keep_alive_of(body)
        if prompt == "" and given and keep_ns == 0:
            self.sched.expire(model.name)
            conn.json(
                200, {"model": raw, "created_at": now_utc(), "response": "", "done": True, "done_reason": "unload"}
            )
            return
        self.check_capability(model, raw, "generate")
        self.check_think_tools(model, raw, body)
        if prompt == "":
            await self.load_only(conn, model, body)
            conn.json(200, {"model": raw, "created_at": now_utc(), "response": "", "done": True, "done_reason": "load"})
            return
        text = f"{system}\n{prompt}" if system else prompt
        plan = plan_generation(model.name, text, options, self.cfg.num_predict)
        prefix = b'{"model":' + dumps(raw) + b',"created_at":"'
        on_token = None
        if stream:
            conn.start_stream("application/x-ndjson")

            def on_token(i: int, tok: int) -> None:
                conn.chunk(
                    prefix
                    + now_utc().encode()
                    + b'","response":'
                    + TOKEN_JSON[tok][0 if i == 0 else 1]
                    + b',"done":false}\n'
                )

        metrics = await self.run(conn, model, body, plan, on_token)
        final: dict[str, Any] = {
            "model": raw,
            "created_at": now_utc(),
            "response": "" if stream else token_text(plan.tokens),
            "done": True,
            "done_reason": plan.done_reason,
        }
        if not body.get("raw"):
            final["context"] = plan.prompt_ids + [zlib.crc32(WORDS[t].encode()) % 128000 for t in plan.tokens]
        final.update(metrics)
        if stream:
            conn.chunk(dumps(final) + b"\n")
            conn.end_stream()
        else:
            conn.json(200, final)

    def chat_prompt(self, messages: list[Any]) -> str:
        parts = []
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise ApiError(
                    400,
                    f"json: cannot unmarshal {_json_type(msg)} into Go struct field ChatRequest.messages "
                    "of type api.Message",
                )
            content = msg.get("content", "")
            if not isinstance(content, str):
                raise ApiError(
                    400,
                    f"json: cannot unmarshal {_json_type(content)} into Go struct field "
                    f"ChatRequest.messages.content of type string (message {i})",
                )
            parts.append(content)
        return "\n".join(parts)

    async def h_chat(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "ChatRequest")
        await self.chat(conn, body, openai=None)

    async def chat(self, conn: Conn, body: dict[str, Any], openai: dict[str, Any] | None) -> None:
        raw = field(body, "model", str, "ChatRequest", "")
        messages = field(body, "messages", list, "ChatRequest", [])
        options = field(body, "options", dict, "ChatRequest", {})
        stream = field(body, "stream", bool, "ChatRequest", True)
        model = self.require_model(raw, missing_status=400, missing="model is required")
        given, keep_ns = keep_alive_of(body)
        empty = {"model": raw, "created_at": now_utc(), "message": {"role": "assistant", "content": ""}, "done": True}
        if not messages and given and keep_ns == 0:
            self.sched.expire(model.name)
            conn.json(200, {**empty, "done_reason": "unload"})
            return
        self.check_capability(model, raw, "chat")
        self.check_think_tools(model, raw, body)
        if not messages:
            await self.load_only(conn, model, body)
            conn.json(200, {**empty, "created_at": now_utc(), "done_reason": "load"})
            return
        prompt = self.chat_prompt(messages)
        plan = plan_generation(model.name, prompt, options, self.cfg.num_predict)
        on_token = None
        if openai is not None:
            on_token = self.openai_chat_writer(conn, raw, openai) if openai["stream"] else None
        elif stream:
            conn.start_stream("application/x-ndjson")
            prefix = b'{"model":' + dumps(raw) + b',"created_at":"'

            def on_token(i: int, tok: int) -> None:
                conn.chunk(
                    prefix
                    + now_utc().encode()
                    + b'","message":{"role":"assistant","content":'
                    + TOKEN_JSON[tok][0 if i == 0 else 1]
                    + b'},"done":false}\n'
                )

        metrics = await self.run(conn, model, body, plan, on_token)
        content = "" if (stream if openai is None else openai["stream"]) else token_text(plan.tokens)
        final = {
            "model": raw,
            "created_at": now_utc(),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": plan.done_reason,
            **metrics,
        }
        if openai is not None:
            self.openai_chat_final(conn, raw, openai, final, token_text(plan.tokens))
        elif stream:
            conn.chunk(dumps(final) + b"\n")
            conn.end_stream()
        else:
            conn.json(200, final)

    # ---- embeddings ---------------------------------------------------------------------------------------------

    async def embed(self, conn: Conn, model: m.StoredModel, body: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
        plan = Plan([], "stop", max(1, count_words(*inputs)), [])
        metrics = await self.run(conn, model, body, plan, None)
        return metrics

    async def h_embed(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "EmbedRequest")
        await self.embed_common(conn, body, openai=False)

    async def embed_common(self, conn: Conn, body: dict[str, Any], openai: bool) -> None:
        raw = field(body, "model", str, "EmbedRequest", "")
        inp = body.get("input")
        inputs: list[str] = []
        if isinstance(inp, str):
            if inp:
                inputs.append(inp)
        elif isinstance(inp, list):
            for v in inp:
                if not isinstance(v, str):
                    raise ApiError(400, "invalid input type")
                inputs.append(v)
        elif inp is not None:
            raise ApiError(400, "invalid input type")
        dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) else 0
        model = self.require_model(raw)
        if not inputs:
            await self.load_only(conn, model, body)
            conn.json(200, {"model": raw, "embeddings": []})
            return
        metrics = await self.embed(conn, model, body, inputs)
        size = model.spec.embedding_length
        if 0 < dims < size:
            size = dims
        vectors = [embedding_vector(model.name, text, size) for text in inputs]
        if openai:
            conn.json(
                200,
                {
                    "object": "list",
                    "data": [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)],
                    "model": raw,
                    "usage": {
                        "prompt_tokens": metrics["prompt_eval_count"],
                        "total_tokens": metrics["prompt_eval_count"],
                    },
                },
                newline=True,
            )
            return
        conn.json(
            200,
            {
                "model": raw,
                "embeddings": vectors,
                "total_duration": metrics["total_duration"],
                "load_duration": metrics["load_duration"],
                "prompt_eval_count": metrics["prompt_eval_count"],
            },
        )

    async def h_embeddings(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "EmbeddingRequest")
        raw = field(body, "model", str, "EmbeddingRequest", "")
        prompt = field(body, "prompt", str, "EmbeddingRequest", "")
        if not raw.strip() or not m.Name.parse(raw.strip()).valid:
            raise ApiError(400, "model is required")
        model = self.store.get(raw)
        if model is None:
            raise ApiError(404, f'model "{raw}" not found, try pulling it first')
        if not prompt:
            await self.load_only(conn, model, body)
            conn.json(200, {"embedding": []})
            return
        await self.embed(conn, model, body, [prompt])
        conn.json(200, {"embedding": embedding_vector(model.name, prompt, model.spec.embedding_length)})

    # ---- OpenAI compatibility -----------------------------------------------------------------------------------

    @staticmethod
    def openai_error(conn: Conn, status: int, message: str) -> None:
        kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
        conn.json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, newline=True)

    async def openai_wrap(self, conn: Conn, fn: Callable[[], Any]) -> None:
        try:
            await fn()
        except ApiError as e:
            if conn.streaming and conn.sent_headers:
                raise
            # Ollama's middleware passes the handler's status through and reports it as an api_error
            conn.json(
                e.status,
                {"error": {"message": e.message, "type": "api_error", "param": None, "code": None}},
                newline=True,
            )

    def openai_options(self, req: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for src, dst in (
            ("max_tokens", "num_predict"),
            ("seed", "seed"),
            ("stop", "stop"),
            ("temperature", "temperature"),
        ):
            if req.get(src) is not None:
                options[dst] = req[src]
        if req.get("max_completion_tokens") is not None and "num_predict" not in options:
            options["num_predict"] = req["max_completion_tokens"]
        return options

    async def h_v1_chat(self, conn: Conn) -> None:
        try:
            req = json.loads(conn.req.body or b"null")
            if not isinstance(req, dict):
                raise ValueError("json: cannot unmarshal into Go value of type openai.ChatCompletionRequest")
        except ValueError as e:
            self.openai_error(conn, 400, str(e) if "Go value" in str(e) else "unexpected EOF")
            return
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            self.openai_error(conn, 400, "[] is too short - 'messages'")
            return
        msgs = []
        for msg in messages:
            if not isinstance(msg, dict):
                self.openai_error(conn, 400, "invalid message format")
                return
            content = msg.get("content")
            if isinstance(content, list):
                text = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            elif isinstance(content, str) or content is None:
                text = content or ""
            else:
                self.openai_error(conn, 400, "invalid message format")
                return
            msgs.append({"role": msg.get("role", "user"), "content": text})
        stream = bool(req.get("stream"))
        include_usage = bool(isinstance(req.get("stream_options"), dict) and req["stream_options"].get("include_usage"))
        body = {"model": req.get("model", ""), "messages": msgs, "options": self.openai_options(req), "stream": stream}
        ctx = {"stream": stream, "usage": include_usage, "id": f"chatcmpl-{random.randrange(999)}"}  # noqa: S311
        await self.openai_wrap(conn, lambda: self.chat(conn, body, openai=ctx))

    def openai_chat_writer(self, conn: Conn, model: str, ctx: dict[str, Any]) -> Callable[[int, int], None]:
        conn.start_stream("text/event-stream")
        prefix = b'data: {"id":' + dumps(ctx["id"]) + b',"object":"chat.completion.chunk","created":'
        middle = (
            b',"model":'
            + dumps(model)
            + b',"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":'
        )

        def on_token(i: int, tok: int) -> None:
            conn.chunk(
                prefix
                + str(int(time.time())).encode()
                + middle
                + TOKEN_JSON[tok][0 if i == 0 else 1]
                + b'},"finish_reason":null}]}\n\n'
            )

        return on_token

    def openai_chat_final(self, conn: Conn, model: str, ctx: dict[str, Any], final: dict[str, Any], text: str) -> None:
        usage = {
            "prompt_tokens": final["prompt_eval_count"],
            "completion_tokens": final["eval_count"],
            "total_tokens": final["prompt_eval_count"] + final["eval_count"],
        }
        base = {
            "id": ctx["id"],
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_ollama",
        }
        if not ctx["stream"]:
            conn.json(
                200,
                {
                    "id": ctx["id"],
                    "object": "chat.completion",
                    "created": base["created"],
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": final["done_reason"],
                        }
                    ],
                    "usage": usage,
                },
                newline=True,
            )
            return
        last = {
            "id": ctx["id"],
            "object": "chat.completion.chunk",
            **{k: base[k] for k in ("created", "model", "system_fingerprint")},
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": final["done_reason"]}
            ],
        }
        conn.chunk(b"data: " + dumps(last) + b"\n\n")
        if ctx["usage"]:
            conn.chunk(b"data: " + dumps({**last, "choices": [], "usage": usage}) + b"\n\n")
        conn.chunk(b"data: [DONE]\n\n")
        conn.end_stream()

    async def h_v1_completions(self, conn: Conn) -> None:
        try:
            req = json.loads(conn.req.body or b"null")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            self.openai_error(conn, 400, "unexpected EOF")
            return
        prompt = req.get("prompt")
        if not isinstance(prompt, str):
            self.openai_error(conn, 400, "invalid prompt: expected a string")
            return
        stream = bool(req.get("stream"))
        include_usage = bool(isinstance(req.get("stream_options"), dict) and req["stream_options"].get("include_usage"))
        cid = f"cmpl-{random.randrange(999)}"  # noqa: S311
        raw = req.get("model", "")

        async def go() -> None:
            model = self.require_model(raw)
            self.check_capability(model, raw, "generate")
            plan = plan_generation(model.name, prompt, self.openai_options(req), self.cfg.num_predict)
            head = {"id": cid, "object": "text_completion"}
            on_token = None
            if stream:
                conn.start_stream("text/event-stream")

                def on_token(i: int, tok: int) -> None:
                    chunk = {
                        **head,
                        "created": int(time.time()),
                        "choices": [{"text": TOKEN_TEXT[tok][0 if i == 0 else 1], "index": 0, "finish_reason": None}],
                        "model": raw,
                        "system_fingerprint": "fp_ollama",
                    }
                    conn.chunk(b"data: " + dumps(chunk) + b"\n\n")

            metrics = await self.run(conn, model, {"keep_alive": req.get("keep_alive")}, plan, on_token)
            usage = {
                "prompt_tokens": metrics["prompt_eval_count"],
                "completion_tokens": metrics["eval_count"],
                "total_tokens": metrics["prompt_eval_count"] + metrics["eval_count"],
            }
            if not stream:
                conn.json(
                    200,
                    {
                        **head,
                        "created": int(time.time()),
                        "model": raw,
                        "system_fingerprint": "fp_ollama",
                        "choices": [{"text": token_text(plan.tokens), "index": 0, "finish_reason": plan.done_reason}],
                        "usage": usage,
                    },
                    newline=True,
                )
                return
            last = {
                **head,
                "created": int(time.time()),
                "choices": [{"text": "", "index": 0, "finish_reason": plan.done_reason}],
                "model": raw,
                "system_fingerprint": "fp_ollama",
            }
            conn.chunk(b"data: " + dumps(last) + b"\n\n")
            if include_usage:
                conn.chunk(b"data: " + dumps({**last, "choices": [], "usage": usage}) + b"\n\n")
            conn.chunk(b"data: [DONE]\n\n")
            conn.end_stream()

        await self.openai_wrap(conn, go)

    async def h_v1_embeddings(self, conn: Conn) -> None:
        try:
            req = json.loads(conn.req.body or b"null")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            self.openai_error(conn, 400, "unexpected EOF")
            return
        inp = req.get("input")
        if inp == "":
            inp = [""]
        if inp is None or (isinstance(inp, list) and not inp):
            self.openai_error(conn, 400, "invalid input")
            return
        body = {"model": req.get("model", ""), "input": inp, "dimensions": req.get("dimensions")}
        await self.openai_wrap(conn, lambda: self.embed_common(conn, body, openai=True))

    async def h_v1_models(self, conn: Conn) -> None:
        data = [
            {"id": sm.name, "object": "model", "created": int(sm.modified), "owned_by": m.Name.parse(sm.name).namespace}
            for sm in self.store.list()
        ]
        conn.json(200, {"object": "list", "data": data or None}, newline=True)

    async def h_v1_model(self, conn: Conn) -> None:
        name = conn.req.path[len("/v1/models/") :]
        model = self.store.get(name)
        if model is None:
            conn.json(
                404,
                {"error": {"message": f"model '{name}' not found", "type": "api_error", "param": None, "code": None}},
                newline=True,
            )
            return
        conn.json(
            200,
            {"id": name, "object": "model", "created": int(model.modified), "owned_by": m.Name.parse(name).namespace},
            newline=True,
        )


# --------------------------------------------------------------------------------------------------------------------
# entry points


_GO_PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _raise_nofile() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def serve(cfg: Config) -> int:
    """Run the server until SIGTERM/SIGINT (what ``ollama serve`` does)."""
    _raise_nofile()
    # Fewer, cheaper garbage collections: a full collection over thousands of live streams stalls the loop for
    # tens of milliseconds, which would show up as token lateness.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    double = Double(cfg)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        double.log(f"server config env={cfg.env_summary()}")
        try:
            double.seed_models()
        except OSError as e:
            sys.stderr.write(
                f"Error: mkdir {e.filename or cfg.models_dir}: {(e.strerror or str(e)).lower()} "
                "(set OLLAMA_MODELS to a writable directory)\n"
            )
            return 1
        try:
            host, port = await double.start()
        except OSError as e:
            where = f"{cfg.host}:{cfg.port}"
            reason = os.strerror(e.errno) if e.errno else str(e)
            sys.stderr.write(f"Error: listen tcp {where}: bind: {reason[:1].lower()}{reason[1:]}\n")
            return 1
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        double.log(f"Listening on {shown} (version {cfg.version})")
        await stop
        await double.stop()
        return 0

    return asyncio.run(main())


@dataclasses.dataclass
class RunningDouble:
    """A double started by ``running_double``: ``url`` is the base URL, ``host`` the OLLAMA_HOST value."""

    url: str
    host: str
    models_dir: str
    log_path: str | None
    process: subprocess.Popen[bytes] | None = None

    def __str__(self) -> str:
        return self.url

    def log(self) -> str:
        if not self.log_path:
            return ""
        return Path(self.log_path).read_text(errors="replace")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started the double dies (no orphaned servers in CI)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _package_parent() -> Path:
    return Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running_double(
    *, in_process: bool = False, extra_env: dict[str, str] | None = None, startup_timeout: float = 15.0, **knobs: Any
) -> Iterator[RunningDouble]:
    """Start a double on 127.0.0.1 and a free port; stop it (and remove its temporary model store) on exit.

    Knobs are keyword arguments named after the serve flags: ttft_ms, tokens_per_second, load_ms, num_predict,
    pull_ms, prompt_tokens_per_second, num_parallel, max_queue, keep_alive, models (list), registry (list),
    models_dir, host.
    By default the server runs in a child process (its own interpreter and GIL, so the caller's load does not
    disturb its timing); ``in_process=True`` runs it on a thread of this process instead.
    """
    tmp = None
    if knobs.get("models_dir") is None:
        tmp = tempfile.mkdtemp(prefix="ollama-double-")
        knobs["models_dir"] = str(Path(tmp) / "models")
    knobs.setdefault("host", "127.0.0.1:0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(extra_env or {})
    env.update(knobs_env(**knobs))
    try:
        if in_process:
            with _thread_double(env) as handle:
                yield handle
        else:
            with _process_double(env, startup_timeout, tmp) as handle:
                yield handle
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _thread_double(env: dict[str, str]) -> Iterator[RunningDouble]:
    cfg = Config.from_env(env)
    cfg.log_requests = False
    double = Double(cfg)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop_event: dict[str, asyncio.Future[None]] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        try:
            double.seed_models()
            await double.start()
        except Exception as e:  # noqa: BLE001 - handed to the starting thread
            errors.append(e)
            started.set()
            return
        stop_event["f"] = loop.create_future()
        started.set()
        await stop_event["f"]
        await double.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="ollama-double")
    thread.start()
    started.wait(15)
    if errors or double.bound is None:
        raise RuntimeError(f"the Ollama double did not start: {errors[0] if errors else 'timeout'}")
    host, port = double.bound
    try:
        yield RunningDouble(f"http://{host}:{port}", f"{host}:{port}", cfg.models_dir, None)
    finally:
        loop.call_soon_threadsafe(lambda: stop_event["f"].done() or stop_event["f"].set_result(None))
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def _process_double(env: dict[str, str], timeout: float, tmp: str | None) -> Iterator[RunningDouble]:
    log_dir = tmp or tempfile.mkdtemp(prefix="ollama-double-log-")
    log_path = str(Path(log_dir) / "serve.log")
    env["PYTHONPATH"] = str(_package_parent()) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", Path(__file__).resolve().parent.name, "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # PR_SET_PDEATHSIG fires when the forking *thread* ends: only use it from the main thread
            preexec_fn=_die_with_parent if sys.platform == "linux" and _in_main_thread() else None,
        )
    try:
        deadline = time.monotonic() + timeout
        address = None
        while time.monotonic() < deadline:
            text = Path(log_path).read_text(errors="replace")
            marker = text.find("Listening on ")
            if marker >= 0:
                address = text[marker + len("Listening on ") :].split(" ", 1)[0]
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the Ollama double exited with {proc.returncode}:\n{text}")
            time.sleep(0.02)
        if address is None:
            raise RuntimeError(f"the Ollama double did not start within {timeout}s:\n{Path(log_path).read_text()}")
        yield RunningDouble(f"http://{address}", address, env["OLLAMA_MODELS"], log_path, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if tmp is None:
            shutil.rmtree(log_dir, ignore_errors=True)
