"""Input checks for the Ollama platform playbooks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def platform_unknown_vars(names: Iterable[str], known: Iterable[str], prefix: str = "platform_") -> list[str]:
    """Return one message per variable that starts with ``prefix`` but is not a known variable.

    Catches typos such as ``platform_enviroment`` before anything changes.
    """
    known_set = set(known)
    messages = []
    for name in sorted(set(names)):
        if not name.startswith(prefix) or name in known_set:
            continue
        close = difflib.get_close_matches(name, sorted(known_set), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]!r}?" if close else "see docs/OPERATIONS.md for the supported variables"
        messages.append(f"unknown variable {name!r}: {hint}")
    return messages


class FilterModule:
    """Ollama platform input-check filters."""

    def filters(self) -> dict[str, Any]:
        return {"platform_unknown_vars": platform_unknown_vars}
