# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale Auto Scaling groups to zero and back, remembering their capacity in a tag."""

from __future__ import annotations

from typing import Any

SAVED_TAG = "ollama:scheduled-capacity"


def encode(group: dict[str, Any]) -> str:
    """The capacity to restore, as ``min/max/desired``."""
    return f"{group['MinSize']}/{group['MaxSize']}/{group['DesiredCapacity']}"


def decode(value: str) -> dict[str, int]:
    """Parse ``min/max/desired``; raise ValueError with the fix when the tag is malformed."""
    parts = value.split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"tag {SAVED_TAG}={value!r} is not min/max/desired: fix or delete the tag, then set the sizes")
    low, high, desired = (int(p) for p in parts)
    return {"MinSize": low, "MaxSize": high, "DesiredCapacity": desired}


def saved(group: dict[str, Any]) -> str | None:
    return next((t["Value"] for t in group.get("Tags", []) if t.get("Key") == SAVED_TAG), None)


def plan(group: dict[str, Any], action: str) -> dict[str, Any] | None:
    """What to change for ``action`` (``down`` or ``up``); None when the group is already there."""
    if action == "down":
        if group["MinSize"] == 0 and group["MaxSize"] == 0 and group["DesiredCapacity"] == 0:
            return None
        return {"save": encode(group), "sizes": {"MinSize": 0, "MaxSize": 0, "DesiredCapacity": 0}}
    value = saved(group)
    if value is None:
        return None
    return {"restore": True, "sizes": decode(value)}
