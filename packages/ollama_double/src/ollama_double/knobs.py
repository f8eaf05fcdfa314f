"""The double's knobs, declared once in ``KNOBS``: everything else is generated from that table.

One row per knob (name, environment variable, ``serve`` flag, kind, default, help). ``TABLE`` derives from it the
``serve`` flags, the flag-to-variable and keyword-to-variable mappings (``running_double``'s keyword check),
``Config`` (its fields, defaults and ``from_env``) and the ``server config`` summary line the server logs at start.
Kept free of heavy imports: the CLI starts fast. ``OLLAMA_HOST`` parsing follows Ollama's envconfig.Host().
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import models as m
from ._version import VERSION


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


# --------------------------------------------------------------------------------------------------------------------
# kinds: how a knob's variable is read into Config fields and shown in the summary


class Kind:
    """Plain text: an empty variable means the default."""

    flag_type: type = str

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(knob.name, str)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        return {knob.name: (raw or "").strip() or knob.default}

    def show(self, knob: Knob, cfg: Any) -> str:
        return str(getattr(cfg, knob.name))


class Host(Kind):
    """``OLLAMA_HOST``: fields ``host`` and ``port``."""

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [("host", str), ("port", int)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        host, port = parse_host(raw or knob.default)
        return {"host": host, "port": port}

    def show(self, knob: Knob, cfg: Any) -> str:
        return f"http://{cfg.host}:{cfg.port}"


class Directory(Kind):
    """A path; ``~`` is the user's home."""

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        return {knob.name: raw or str(Path(knob.default).expanduser())}


class Number(Kind):
    """A float >= 0 (a bad value stops ``serve`` with a message naming the variable)."""

    flag_type = float

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(knob.name, float)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        default = float(knob.default)
        text = (raw or "").strip()
        if not text:
            return {knob.name: default}
        try:
            value = float(text)
        except ValueError:
            raise SystemExit(
                f"Error: {knob.env}={text!r} is not a number; set it to a number such as {default:g}"
            ) from None
        if value < 0 or math.isnan(value):
            raise SystemExit(
                f"Error: {knob.env}={text!r} must be zero or positive; set it to a number such as {default:g}"
            )
        return {knob.name: value}

    def show(self, knob: Knob, cfg: Any) -> str:
        return f"{getattr(cfg, knob.name):g}"


@dataclasses.dataclass(frozen=True)
class Integer(Kind):
    """An integer >= 0; with ``zero_is_default`` a 0 means the default (as Ollama reads its own variables)."""

    zero_is_default: bool = False
    flag_type: type = int

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(knob.name, int)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        default = int(knob.default)
        text = (raw or "").strip()
        if not text:
            return {knob.name: default}
        try:
            value = int(text)
        except ValueError:
            raise SystemExit(
                f"Error: {knob.env}={text!r} is not an integer; set it to an integer such as {default}"
            ) from None
        if value < 0:
            raise SystemExit(
                f"Error: {knob.env}={text!r} must be zero or positive; set it to an integer such as {default}"
            )
        return {knob.name: value or default if self.zero_is_default else value}


class Duration(Kind):
    """A keep-alive (Go duration or seconds) in field ``<name>_ns``; None = forever. Unparsable: the default."""

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(f"{knob.name}_ns", int | None)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        default = m.parse_duration_ns(knob.default, env=True)
        value = default
        if (raw or "").strip():
            try:
                value = m.parse_duration_ns(raw, env=True)
            except ValueError:
                value = default  # Ollama ignores an unparsable value and keeps the default
        return {f"{knob.name}_ns": value}

    def show(self, knob: Knob, cfg: Any) -> str:
        ns = getattr(cfg, f"{knob.name}_ns")
        return "-1" if ns is None else f"{ns / 1e9:g}s"


class Names(Kind):
    """Comma-separated model names, normalised like Ollama; set but empty means none."""

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(knob.name, tuple[str, ...])]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        names = []
        for part in (knob.default if raw is None else raw).replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                names.append(m.normalize(part))
            except m.InvalidName:
                raise SystemExit(
                    f"Error: {knob.env} contains {part!r}, which is not a valid model name (e.g. llama3.2:1b)"
                ) from None
        return {knob.name: tuple(names)}

    def show(self, knob: Knob, cfg: Any) -> str:
        return ",".join(getattr(cfg, knob.name))


class Switch(Kind):
    """On unless the variable says 0, false or no."""

    def fields(self, knob: Knob) -> list[tuple[str, Any]]:
        return [(knob.name, bool)]

    def parse(self, knob: Knob, raw: str | None) -> dict[str, Any]:
        text = knob.default if raw is None else raw
        return {knob.name: text.strip().lower() not in ("0", "false", "no")}

    def show(self, knob: Knob, cfg: Any) -> str:
        return "true" if getattr(cfg, knob.name) else "false"


class Secret(Kind):
    """Text the summary line never prints."""

    def show(self, knob: Knob, cfg: Any) -> str:
        return "(set)" if getattr(cfg, knob.name) else ""


TEXT, HOST, DIRECTORY, NUMBER, INTEGER, DURATION, NAMES, SWITCH, SECRET = (
    Kind(),
    Host(),
    Directory(),
    Number(),
    Integer(),
    Duration(),
    Names(),
    Switch(),
    Secret(),
)
POSITIVE = Integer(zero_is_default=True)


# --------------------------------------------------------------------------------------------------------------------
# the table


@dataclasses.dataclass(frozen=True)
class Knob:
    """One knob: ``name`` is the running_double keyword (and the flag's dest), ``default`` as the variable spells it."""

    name: str
    env: str
    flag: str | None
    kind: Kind
    default: str
    help: str


KNOBS: tuple[Knob, ...] = (
    Knob("host", "OLLAMA_HOST", "--host", HOST, "127.0.0.1:11434", "listen address host:port"),
    Knob("models_dir", "OLLAMA_MODELS", "--models-dir", DIRECTORY, "~/.ollama/models", "model store"),
    Knob("ttft_ms", "OLLAMA_DOUBLE_TTFT_MS", "--ttft-ms", NUMBER, "150", "time to first token in ms"),
    Knob("tokens_per_second", "OLLAMA_DOUBLE_TOKENS_PER_SECOND", "--tokens-per-second", NUMBER, "30", "output rate"),
    Knob("load_ms", "OLLAMA_DOUBLE_LOAD_MS", "--load-ms", NUMBER, "300", "model load time in ms"),
    Knob("num_predict", "OLLAMA_DOUBLE_NUM_PREDICT", "--num-predict", INTEGER, "24", "default output tokens"),
    Knob("pull_ms", "OLLAMA_DOUBLE_PULL_MS", "--pull-ms", NUMBER, "300", "simulated download time per pull"),
    Knob(
        "prompt_tokens_per_second",
        "OLLAMA_DOUBLE_PROMPT_TOKENS_PER_SECOND",
        "--prompt-tokens-per-second",
        NUMBER,
        "0",
        "extra prompt evaluation time per prompt token, 0 = off",
    ),
    Knob("num_parallel", "OLLAMA_NUM_PARALLEL", "--num-parallel", POSITIVE, "1", "parallel streams per model"),
    Knob("max_queue", "OLLAMA_MAX_QUEUE", "--max-queue", INTEGER, "512", "pending request limit"),
    Knob("keep_alive", "OLLAMA_KEEP_ALIVE", "--keep-alive", DURATION, "5m", "default keep-alive, e.g. 5m"),
    Knob("max_loaded_models", "OLLAMA_MAX_LOADED_MODELS", None, POSITIVE, "3", "models loaded at once"),
    Knob("context_length", "OLLAMA_CONTEXT_LENGTH", None, POSITIVE, "4096", "context length of a loaded model"),
    Knob("models", "OLLAMA_DOUBLE_MODELS", "--models", NAMES, "", "comma-separated models present at first start"),
    Knob(
        "registry",
        "OLLAMA_DOUBLE_REGISTRY",
        "--registry",
        NAMES,
        ",".join(m.DEFAULT_REGISTRY),
        "comma-separated models pull can fetch",
    ),
    Knob(
        "api_token",
        "OLLAMA_DOUBLE_API_TOKEN",
        "--api-token",
        SECRET,
        "",
        "answer 401 unless requests send 'Authorization: Bearer <token>' (the platform's proxy), empty = off",
    ),
    Knob("version", "OLLAMA_DOUBLE_VERSION", None, TEXT, VERSION, "version the server reports"),
    Knob("log_requests", "OLLAMA_DOUBLE_LOG_REQUESTS", None, SWITCH, "1", "0 silences the per-request log lines"),
)


def _to_env(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ",".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


class KnobTable:
    """Everything derived from a knob table: flags, variable mappings, ``Config`` and its summary line."""

    def __init__(self, knobs: Iterable[Knob]) -> None:
        self.knobs = tuple(knobs)
        self.by_name = {k.name: k for k in self.knobs}
        defaults: dict[str, Any] = {}
        for knob in self.knobs:
            defaults.update(knob.kind.parse(knob, None))
        fields = [
            (field, kind, dataclasses.field(default=defaults[field]))
            for knob in self.knobs
            for field, kind in knob.kind.fields(knob)
        ]
        table = self

        def from_env(cls: type, env: Mapping[str, str] | None = None) -> Any:
            return table.from_env(env)

        def env_summary(cfg: Any) -> str:
            return table.summary(cfg)

        self.config: type = dataclasses.make_dataclass(
            "Config",
            fields,
            namespace={
                "__doc__": "The server's settings, one field per knob (see ollama_double.knobs.KNOBS).",
                "__module__": __name__,
                "from_env": classmethod(from_env),
                "env_summary": env_summary,
            },
        )

    def add_serve_flags(self, parser: argparse.ArgumentParser) -> None:
        """Flags of ``ollama serve`` in the double; each overrides the environment variable of the same meaning."""
        for knob in self.knobs:
            if knob.flag:
                parser.add_argument(
                    knob.flag, dest=knob.name, type=knob.kind.flag_type, help=f"{knob.help} ({knob.env})"
                )

    def env_from_flags(self, args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
        out = dict(env)
        for knob in self.knobs:
            value = getattr(args, knob.name, None) if knob.flag else None
            if value is not None:
                out[knob.env] = _to_env(value)
        return out

    def env_for(self, **knobs: Any) -> dict[str, str]:
        """Keyword knobs (ttft_ms=..., models=[...]) as the environment variables the server reads."""
        env = {}
        for name, value in knobs.items():
            if value is None:
                continue
            if name not in self.by_name:
                raise TypeError(f"unknown knob {name!r}; use one of: {', '.join(sorted(self.by_name))}")
            env[self.by_name[name].env] = _to_env(value)
        return env

    def from_env(self, env: Mapping[str, str] | None = None) -> Any:
        import os

        source = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for knob in self.knobs:
            values.update(knob.kind.parse(knob, source.get(knob.env)))
        return self.config(**values)

    def summary(self, cfg: Any) -> str:
        """Like Ollama's ``server config env=map[...]`` line: every knob, sorted by variable (as Go prints a map)."""
        shown = sorted((k.env, k.kind.show(k, cfg)) for k in self.knobs)
        return "map[" + " ".join(f"{env}:{value}" for env, value in shown) + "]"


TABLE = KnobTable(KNOBS)
Config = TABLE.config
