"""Knobs of the double shared by the server and the command line (kept free of heavy imports: the CLI starts fast).

``OLLAMA_HOST`` parsing follows Ollama's envconfig.Host(); every ``serve`` flag maps to one environment variable.
"""

from __future__ import annotations

import argparse
from typing import Any


def parse_host(raw: str | None, default_port: int = 11434) -> tuple[str, int]:
    """OLLAMA_HOST like Ollama's envconfig.Host(): ``[scheme://]host[:port][/path]``, default 127.0.0.1:11434."""
    s = (raw or "").strip()
    scheme, sep, hostport = s.partition("://")
    if not sep:
        hostport = s
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    host, port = "127.0.0.1", default_port
    if hostport.startswith("["):
        end = hostport.find("]")
        host = hostport[1:end] if end > 0 else hostport
        rest = hostport[end + 1 :] if end > 0 else ""
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif hostport.count(":") == 1:
        h, p = hostport.split(":")
        host = h
        if p.isdigit() and int(p) <= 65535:
            port = int(p)
    elif hostport:
        host = hostport
    return host, port


def connectable_host(host: str) -> str:
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ollama serve`` in the double; each overrides the environment variable of the same meaning."""
    parser.add_argument("--host", help="listen address host:port (OLLAMA_HOST)")
    parser.add_argument("--models-dir", help="model store (OLLAMA_MODELS)")
    parser.add_argument("--ttft-ms", type=float, help="time to first token in ms (OLLAMA_DOUBLE_TTFT_MS)")
    parser.add_argument("--tokens-per-second", type=float, help="generation rate (OLLAMA_DOUBLE_TOKENS_PER_SECOND)")
    parser.add_argument("--load-ms", type=float, help="model load time in ms (OLLAMA_DOUBLE_LOAD_MS)")
    parser.add_argument("--num-predict", type=int, help="default output tokens (OLLAMA_DOUBLE_NUM_PREDICT)")
    parser.add_argument("--pull-ms", type=float, help="simulated download time per pull (OLLAMA_DOUBLE_PULL_MS)")
    parser.add_argument(
        "--prompt-tokens-per-second",
        type=float,
        help="extra prompt evaluation time per prompt token, 0 = off (OLLAMA_DOUBLE_PROMPT_TOKENS_PER_SECOND)",
    )
    parser.add_argument("--num-parallel", type=int, help="parallel streams per model (OLLAMA_NUM_PARALLEL)")
    parser.add_argument("--max-queue", type=int, help="pending request limit (OLLAMA_MAX_QUEUE)")
    parser.add_argument("--keep-alive", help="default keep-alive, e.g. 5m (OLLAMA_KEEP_ALIVE)")
    parser.add_argument("--models", help="comma-separated models present at first start (OLLAMA_DOUBLE_MODELS)")
    parser.add_argument("--registry", help="comma-separated models pull can fetch (OLLAMA_DOUBLE_REGISTRY)")


_FLAG_ENV = {
    "host": "OLLAMA_HOST",
    "models_dir": "OLLAMA_MODELS",
    "ttft_ms": "OLLAMA_DOUBLE_TTFT_MS",
    "tokens_per_second": "OLLAMA_DOUBLE_TOKENS_PER_SECOND",
    "load_ms": "OLLAMA_DOUBLE_LOAD_MS",
    "num_predict": "OLLAMA_DOUBLE_NUM_PREDICT",
    "pull_ms": "OLLAMA_DOUBLE_PULL_MS",
    "prompt_tokens_per_second": "OLLAMA_DOUBLE_PROMPT_TOKENS_PER_SECOND",
    "num_parallel": "OLLAMA_NUM_PARALLEL",
    "max_queue": "OLLAMA_MAX_QUEUE",
    "keep_alive": "OLLAMA_KEEP_ALIVE",
    "models": "OLLAMA_DOUBLE_MODELS",
    "registry": "OLLAMA_DOUBLE_REGISTRY",
}


def env_from_flags(args: argparse.Namespace, env: dict[str, str]) -> dict[str, str]:
    env = dict(env)
    for attr, key in _FLAG_ENV.items():
        value = getattr(args, attr, None)
        if value is not None:
            env[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return env


def knobs_env(**knobs: Any) -> dict[str, str]:
    """Keyword knobs (ttft_ms=..., models=[...]) as the environment variables the server reads."""
    env = {}
    for attr, value in knobs.items():
        if value is None:
            continue
        if attr not in _FLAG_ENV:
            raise TypeError(f"unknown knob {attr!r}; use one of: {', '.join(sorted(_FLAG_ENV))}")
        if isinstance(value, list | tuple):
            value = ",".join(value)
        env[_FLAG_ENV[attr]] = f"{value:g}" if isinstance(value, float) else str(value)
    return env
