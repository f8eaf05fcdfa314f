"""Load shapes: constant concurrency, step ramp, spike, soak and open-loop Poisson arrivals.

Pure stage arithmetic, importable without Locust (importing Locust monkey-patches the process). The Locust
``LoadTestShape`` that follows these stages is ``ConfiguredShape`` in the locustfile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SHAPES = ("constant", "step", "spike", "soak", "poisson")
DEFAULT_DURATION = {"constant": 60.0, "step": 0.0, "spike": 90.0, "soak": 1800.0, "poisson": 60.0}

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)?")


def parse_duration(text: str | float | int) -> float:
    """Parse ``90``, ``90s``, ``5m``, ``1h30m`` or ``500ms`` into seconds; raise ValueError with the accepted forms."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text}")
        return float(text)
    raw = str(text).strip().lower()
    pos = 0
    total = 0.0
    factors = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}
    while pos < len(raw):
        match = _SPAN.match(raw, pos)
        if not match or match.end() == pos:
            raise ValueError(f"invalid duration {text!r}: use seconds or units like 90s, 5m, 1h30m")
        total += float(match.group(1)) * factors[match.group(2)]
        pos = match.end()
        while pos < len(raw) and raw[pos] == " ":
            pos += 1
    if not raw:
        raise ValueError("empty duration: use seconds or units like 90s, 5m, 1h30m")
    return total


@dataclass(frozen=True)
class Stage:
    """Until ``end`` seconds after the start, run ``users`` users, starting/stopping ``spawn_rate`` per second."""

    end: float
    users: int
    spawn_rate: float


def build_stages(
    shape: str,
    users: int,
    duration: float | None = None,
    spawn_rate: float | None = None,
    step_users: int | None = None,
    step_time: float = 30.0,
    spike_users: int | None = None,
    spike_at: float | None = None,
    spike_time: float | None = None,
) -> list[Stage]:
    """Return the stages of a shape. ``users`` is the target (or, for ``poisson``, the number of arrival users)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    if users < 1:
        raise ValueError(f"users must be >= 1, got {users}")
    if shape == "step":
        size = step_users or max(1, users // 5)
        if step_time <= 0:
            raise ValueError("step time must be > 0")
        levels = [*range(size, users, size), users]
        rate = spawn_rate or float(max(size, 1))
        return [Stage(step_time * (i + 1), level, rate) for i, level in enumerate(levels)]
    total = duration if duration else DEFAULT_DURATION[shape]
    if total <= 0:
        raise ValueError("duration must be > 0")
    if shape == "spike":
        peak = spike_users or users * 5
        start = spike_at if spike_at is not None else total / 3
        length = spike_time if spike_time is not None else total / 3
        if start + length >= total:
            raise ValueError("the spike must end before the run does: lower --spike-at/--spike-time or raise -t")
        rate = spawn_rate or float(max(users, 1))
        burst = float(max(peak - users, 1)) / 2.0  # reach the peak within ~2 s
        return [Stage(start, users, rate), Stage(start + length, peak, burst), Stage(total, users, burst)]
    if shape == "poisson":
        return [Stage(total, users, float(users))]
    rate = spawn_rate or max(users / min(10.0, total / 4.0), 1.0)  # default: ramp over 10 s or a quarter of the run
    return [Stage(total, users, rate)]


def total_duration(stages: list[Stage]) -> float:
    """Length of a staged run in seconds."""
    return stages[-1].end if stages else 0.0


def stage_at(stages: list[Stage], elapsed: float) -> Stage | None:
    """Return the stage active ``elapsed`` seconds after the start, None once the run is over."""
    for stage in stages:
        if elapsed < stage.end:
            return stage
    return None


def stages_from_options(opts: Any) -> list[Stage]:
    """Build the stages from Locust's parsed options (ours plus -u/-r/-t)."""
    shape = getattr(opts, "shape", "constant") or "constant"
    users = int(getattr(opts, "num_users", None) or 1)
    if shape == "poisson":
        users = int(getattr(opts, "arrival_users", None) or 1)
    run_time = getattr(opts, "run_time", None)
    return build_stages(
        shape,
        users,
        duration=float(run_time) if run_time else None,
        spawn_rate=float(opts.spawn_rate) if getattr(opts, "spawn_rate", None) else None,
        step_users=getattr(opts, "step_users", None) or None,
        step_time=parse_duration(getattr(opts, "step_time", "30s") or "30s"),
        spike_users=getattr(opts, "spike_users", None) or None,
        spike_at=parse_duration(opts.spike_at) if getattr(opts, "spike_at", None) else None,
        spike_time=parse_duration(opts.spike_time) if getattr(opts, "spike_time", None) else None,
    )
