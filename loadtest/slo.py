"""SLO profiles (one per environment) and the gate that turns a summary into an exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_SLO_FILE = Path(__file__).with_name("slo.yaml")

# Metric names a check may use -> (path in the steady-state aggregate, scale to the unit in the name).
METRICS: dict[str, tuple[tuple[str, ...], float]] = {}
for _stat in ("mean", "p50", "p90", "p95", "p99", "max"):
    METRICS[f"ttft_ms.{_stat}"] = (("ttft", _stat), 1000.0)
    METRICS[f"tpot_ms.{_stat}"] = (("tpot", _stat), 1000.0)
    METRICS[f"itl_ms.{_stat}"] = (("itl", _stat), 1000.0)
    METRICS[f"e2e_ms.{_stat}"] = (("e2e", _stat), 1000.0)
    METRICS[f"decode_rate.{_stat}"] = (("decode_rate", _stat), 1.0)
METRICS.update(
    {
        "error_rate": (("error_rate",), 1.0),
        "goodput_ratio": (("goodput", "ratio"), 1.0),
        "goodput_rate": (("goodput", "rate"), 1.0),
        "request_throughput": (("request_throughput",), 1.0),
        "output_token_throughput": (("output_token_throughput",), 1.0),
    }
)
REQUEST_SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")


class SLOError(ValueError):
    """The SLO file or profile is unusable; the message says how to fix it."""


def load_profiles(path: str | Path | None = None) -> dict[str, Any]:
    """Load and validate every profile of an SLO file."""
    path = Path(path) if path else DEFAULT_SLO_FILE
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SLOError(f"cannot read SLO file {path}: {exc.strerror}; pass --slo-file with an existing file") from exc
    except yaml.YAMLError as exc:
        raise SLOError(f"SLO file {path} is not valid YAML: {exc}") from exc
    profiles = (data or {}).get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict) or not profiles:
        raise SLOError(f"SLO file {path} has no 'profiles:' mapping (see loadtest/slo.yaml for the format)")
    for name, profile in profiles.items():
        validate_profile(name, profile)
    return profiles


def validate_profile(name: str, profile: Any) -> None:
    """Raise SLOError naming the first unknown key or bad value of a profile."""
    if not isinstance(profile, dict):
        raise SLOError(f"SLO profile {name!r} must be a mapping with 'goodput' and 'checks'")
    unknown = set(profile) - {"description", "goodput", "checks"}
    if unknown:
        raise SLOError(f"SLO profile {name!r}: unknown key(s) {sorted(unknown)}; allowed: description, goodput, checks")
    for key, value in (profile.get("goodput") or {}).items():
        if key not in REQUEST_SLO_KEYS:
            raise SLOError(f"SLO profile {name!r}: goodput key {key!r} unknown; use {', '.join(REQUEST_SLO_KEYS)}")
        if not isinstance(value, int | float) or value <= 0:
            raise SLOError(f"SLO profile {name!r}: goodput.{key} must be a positive number of milliseconds")
    for metric, bounds in (profile.get("checks") or {}).items():
        if metric not in METRICS:
            raise SLOError(f"SLO profile {name!r}: unknown metric {metric!r}; use one of {', '.join(sorted(METRICS))}")
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"max", "min"}:
            raise SLOError(f"SLO profile {name!r}: check {metric!r} needs 'max:' and/or 'min:'")
        for bound in bounds.values():
            if not isinstance(bound, int | float):
                raise SLOError(f"SLO profile {name!r}: bounds of {metric!r} must be numbers")


def get_profile(profiles: dict[str, Any], name: str) -> dict[str, Any]:
    """Return one profile or raise SLOError listing the available ones."""
    if name not in profiles:
        raise SLOError(f"unknown SLO profile {name!r}: use one of {', '.join(sorted(profiles))}")
    return profiles[name]


def metric_value(aggregate: dict[str, Any], metric: str) -> float | None:
    """Read a metric (in the unit its name says) from an aggregate; None when it was not measured."""
    path, scale = METRICS[metric]
    node: Any = aggregate
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return None if node is None else float(node) * scale


def evaluate(aggregate: dict[str, Any], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate every check of a profile; a metric that was not measured (e.g. TPOT of embeddings) is skipped."""
    results = []
    for metric, bounds in (profile.get("checks") or {}).items():
        value = metric_value(aggregate, metric)
        if value is None:
            results.append({"metric": metric, "value": None, **bounds, "passed": None, "note": "not measured"})
            continue
        passed = True
        if "max" in bounds and value > bounds["max"]:
            passed = False
        if "min" in bounds and value < bounds["min"]:
            passed = False
        results.append({"metric": metric, "value": value, **bounds, "passed": passed})
    return results
