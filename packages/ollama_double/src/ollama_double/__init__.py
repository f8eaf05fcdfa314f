"""Ollama API double: a stand-in for ``ollama serve`` and the ``ollama`` CLI, for tests, local twins and load tests.

``from ollama_double import running_double`` starts one for a ``with`` block; ``python -m ollama_double serve``
runs one as a program; ``python -m ollama_double.build_release`` builds a release archive shaped like Ollama's.
See the package README.
"""

from __future__ import annotations

from typing import Any

from ._version import VERSION

__all__ = ["VERSION", "LoggedRequest", "RunningDouble", "running_double"]


def __getattr__(name: str) -> Any:
    # The test helper is imported on first use: the `ollama` command line must start without it.
    if name in ("LoggedRequest", "RunningDouble", "running_double"):
        from . import running

        return getattr(running, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
