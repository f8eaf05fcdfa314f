"""Ollama's wire conventions: ``{"error": ...}`` answers, Go-style JSON decoding errors, times and durations."""

from __future__ import annotations

import json
import time
from typing import Any

from . import models as m


class ApiError(Exception):
    """An error answer: ``{"error": message}`` with ``status`` (inside a started stream: a last ``error`` line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


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


def ns(seconds: float) -> int:
    """A reported duration in nanoseconds (at least 1, as Go's measured durations are never zero)."""
    return max(1, round(seconds * 1_000_000_000))


_GO_TYPES = {str: "string", bool: "bool", int: "int", float: "float64", dict: "map", list: "array", type(None): "null"}


def json_type(v: Any) -> str:
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
        raise ApiError(400, f"json: cannot unmarshal {json_type(obj)} into Go value of type api.{struct}")
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
            400, f"json: cannot unmarshal {json_type(value)} into Go struct field {struct}.{key} of type {go}"
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
