"""The Ollama API the module tests talk to: the project's ``ollama-double`` package, in-process on a free port.

Real HTTP against a stand-in that speaks Ollama's API as Ollama 0.12.6 does (the unit tests' requirements.txt lists
it; the README beside it says how to install it). ``api_token`` puts the platform proxy's bearer check in front.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

from ollama_double import RunningDouble, running_double

# No waiting unless a test asks for a rate: loads, pulls and first tokens are immediate.
INSTANT = {"ttft_ms": 0, "tokens_per_second": 0, "load_ms": 0, "pull_ms": 0}


@contextlib.contextmanager
def ollama(**knobs: Any) -> Iterator[RunningDouble]:
    """A fresh double (its own model store) with the given knobs, e.g. ``models=[...]``, ``api_token=...``."""
    with running_double(in_process=True, **{**INSTANT, **knobs}) as double:
        yield double


def call(double: RunningDouble, method: str, path: str, body: dict | None = None, token: str | None = None) -> Any:
    """One API call straight to the double (not through the module under test); the decoded JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(double.url + path, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a loopback http:// URL
        raw = response.read()
    return json.loads(raw) if raw.strip() else None


def installed(double: RunningDouble, token: str | None = None) -> dict[str, str]:
    """Model name -> digest, as ``/api/tags`` lists them (newest first)."""
    return {m["name"]: m["digest"] for m in call(double, "GET", "/api/tags", token=token)["models"]}


def load(double: RunningDouble, model: str) -> None:
    """Load a model as Ollama does for a generate request without a prompt (``/api/ps`` then lists it)."""
    call(double, "POST", "/api/generate", {"model": model})


def requests_since(double: RunningDouble, start: int) -> list[tuple[str, str]]:
    """(method, path) of the requests the double answered after the first ``start`` ones."""
    return [(r.method, r.path) for r in double.requests()[start:]]
