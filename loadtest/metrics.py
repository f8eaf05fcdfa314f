"""Metric definitions and aggregation for LLM inference load tests.

Pure functions only (no Locust, no network), so every formula is unit-tested. The definitions follow vLLM's
``benchmark_serving`` / GuideLLM / llmperf; ``docs/LOADTESTING.md`` writes them down:

- TTFT: request sent -> first chunk that carries output text (message.content / response / delta.content).
- E2E latency: request sent -> final chunk (``done: true`` or ``data: [DONE]``) read.
- TPOT (time per output token, first token excluded): ``(t_last_token - ttft) / (content_chunks - 1)`` - vLLM's
  ``(latency - ttft) / (output_len - 1)``, whose latency ends at the last token; equal to the mean ITL.
- ITL (inter-token latency): every gap between two consecutive content chunks.
- Decode rate (tokens/s of one stream): ``1 / TPOT``.
- Output token throughput: output tokens of the requests in the window / window length.
- Goodput (DistServe, vLLM ``--goodput``): requests that succeeded AND met every per-request SLO, per second and as
  a fraction of all requests in the window.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PERCENTILES = (50, 90, 95, 99)

# Error kinds, in the order reports list them.
ERROR_KINDS = (
    "queue_full",  # HTTP 503 "server busy ... maximum pending requests exceeded"
    "timeout",  # connect/read timeout or the per-request deadline
    "connection",  # refused, reset, DNS
    "http_4xx",
    "http_5xx",
    "stream_error",  # a 200 stream whose line carried {"error": ...}
    "invalid_response",  # bad JSON, missing fields, no done chunk, token counts that do not add up
)

# Inter-token gaps are aggregated in logarithmic bins of 1 % width (mergeable across workers, <= 1 % error).
_HIST_BASE = 1.01
_LOG_BASE = math.log(_HIST_BASE)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Return the ``pct`` percentile with linear interpolation (numpy's default method); None when empty."""
    if not values:
        return None
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, got {pct}")
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    frac = rank - low
    return float(data[low] + (data[high] - data[low]) * frac)


def describe(values: Iterable[float | None]) -> dict[str, Any]:
    """Return count, mean, min, max, std and p50/p90/p95/p99 of the values that are not None."""
    data = sorted(v for v in values if v is not None)
    if not data:
        return {"count": 0}
    out: dict[str, Any] = {
        "count": len(data),
        "mean": statistics.fmean(data),
        "min": data[0],
        "max": data[-1],
        "std": statistics.pstdev(data) if len(data) > 1 else 0.0,
    }
    for pct in PERCENTILES:
        out[f"p{pct}"] = percentile(data, pct)
    return out


def tpot(last: float | None, ttft: float | None, chunks: int) -> float | None:
    """Time per output token excluding the first: (last token - first token) / (chunks - 1); None below 2 chunks."""
    if ttft is None or last is None or chunks < 2:
        return None
    return max(last - ttft, 0.0) / (chunks - 1)


def decode_rate(tpot_s: float | None) -> float | None:
    """Tokens per second of one stream after its first token (the inverse of TPOT)."""
    if tpot_s is None or tpot_s <= 0:
        return None
    return 1.0 / tpot_s


def server_rate(count: Any, duration_ns: Any) -> float | None:
    """Tokens per second from Ollama's ``*_count`` / ``*_duration`` (nanoseconds) fields."""
    if not isinstance(count, int) or not isinstance(duration_ns, int | float) or duration_ns <= 0:
        return None
    return count / (duration_ns / 1e9)


# --------------------------------------------------------------------------------------------- histograms (ITL)
def hist_bin(value: float) -> int:
    """Return the logarithmic bin of a positive value (seconds); values <= 1 microsecond share bin 0's floor."""
    value = max(value, 1e-6)
    return math.floor(math.log(value) / _LOG_BASE)


def hist_add(hist: dict[int, int], values: Iterable[float]) -> None:
    """Add values to a histogram in place."""
    for value in values:
        key = hist_bin(value)
        hist[key] = hist.get(key, 0) + 1


def hist_merge(target: dict[int, int], other: Mapping[Any, int]) -> None:
    """Merge ``other`` (keys may be strings after a JSON/msgpack round trip) into ``target``."""
    for key, count in other.items():
        k = int(key)
        target[k] = target.get(k, 0) + int(count)


def hist_describe(hist: Mapping[int, int]) -> dict[str, Any]:
    """Describe a histogram: count, mean and percentiles at the bins' geometric centres (<= 0.5 % error)."""
    total = sum(hist.values())
    if not total:
        return {"count": 0}
    keys = sorted(hist)
    centre = {k: _HIST_BASE ** (k + 0.5) for k in keys}
    out: dict[str, Any] = {
        "count": total,
        "mean": sum(centre[k] * hist[k] for k in keys) / total,
        "min": _HIST_BASE ** keys[0],
        "max": _HIST_BASE ** (keys[-1] + 1),
    }
    for pct in PERCENTILES:
        target = pct / 100.0 * total
        seen = 0
        for k in keys:
            seen += hist[k]
            if seen >= target:
                out[f"p{pct}"] = centre[k]
                break
    return out


# ------------------------------------------------------------------------------------------- steady-state window
def steady_phases(
    timeline: Sequence[Mapping[str, Any]], settle: float = 0.0, min_length: float = 2.0
) -> list[dict[str, Any]]:
    """Derive the steady-state phases from the master's timeline.

    ``timeline`` is a list of ``{"t": epoch seconds, "users": active users, "state": runner state}`` samples in time
    order. A phase is a maximal run of samples with state ``running`` and the same user count > 0 (ramp-up,
    spawning and stopping are excluded). The phase's window starts ``settle`` seconds after it begins and ends
    where the next sample differs; phases shorter than ``min_length`` after settling are dropped.
    """
    phases: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for point in timeline:
        steady = point.get("state") == "running" and int(point.get("users") or 0) > 0
        if current is not None and (not steady or point["users"] != current["users"]):
            current["end"] = point["t"]
            phases.append(current)
            current = None
        if steady and current is None:
            current = {"users": int(point["users"]), "begin": point["t"]}
    if current is not None and timeline:
        current["end"] = timeline[-1]["t"]
        phases.append(current)
    out = []
    for phase in phases:
        start = phase["begin"] + settle
        if phase["end"] - start >= min_length:
            out.append({"users": phase["users"], "start": start, "end": phase["end"]})
    return out


def in_windows(t: float, windows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Return the window whose [start, end) contains ``t``, else None."""
    for window in windows:
        if window["start"] <= t < window["end"]:
            return window
    return None


# ------------------------------------------------------------------------------------------------- aggregation
def request_metrics(sample: Mapping[str, Any]) -> dict[str, Any]:
    """Derive TPOT, decode rate and server rates of one recorded request."""
    tokens = int(sample.get("tokens") or 0)
    t = tpot(sample.get("last"), sample.get("ttft"), int(sample.get("chunks") or 0)) if sample.get("ok") else None
    server = sample.get("server") or {}
    return {
        "tpot": t,
        "decode_rate": decode_rate(t),
        "e2e_rate": tokens / sample["e2e"] if sample.get("ok") and tokens and sample["e2e"] > 0 else None,
        "eval_rate": server_rate(server.get("eval_count"), server.get("eval_duration")),
        "prompt_eval_rate": server_rate(server.get("prompt_eval_count"), server.get("prompt_eval_duration")),
        "load_s": (server["load_duration"] / 1e9) if isinstance(server.get("load_duration"), int | float) else None,
        "server_ttft": server_ttft(server),
    }


def server_ttft(server: Mapping[str, Any]) -> float | None:
    """The server's own view of TTFT: load (including queueing) + prompt evaluation, in seconds."""
    load, prompt = server.get("load_duration"), server.get("prompt_eval_duration")
    if not isinstance(load, int | float) or not isinstance(prompt, int | float):
        return None
    return (load + prompt) / 1e9


def is_good(sample: Mapping[str, Any], derived: Mapping[str, Any], request_slo: Mapping[str, Any]) -> bool:
    """True when the request succeeded and met every per-request SLO (``ttft_ms``, ``tpot_ms``, ``e2e_ms``)."""
    if not sample.get("ok"):
        return False
    limits = (("ttft_ms", sample.get("ttft")), ("tpot_ms", derived.get("tpot")), ("e2e_ms", sample.get("e2e")))
    for key, value in limits:
        limit = request_slo.get(key)
        if limit is None:
            continue
        if value is None:
            # A streaming SLO on a request without tokens (e.g. embeddings) does not apply.
            continue
        if value * 1000.0 > float(limit):
            return False
    return True


def aggregate(
    samples: Sequence[Mapping[str, Any]],
    duration: float,
    request_slo: Mapping[str, Any] | None = None,
    cold_load_s: float = 0.25,
    itl_hist: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Aggregate the samples of one window of ``duration`` seconds.

    Latencies in the result are in seconds, rates in tokens (or requests) per second.
    """
    request_slo = request_slo or {}
    ok = [s for s in samples if s.get("ok")]
    derived = [request_metrics(s) for s in samples]
    ok_derived = [d for s, d in zip(samples, derived, strict=True) if s.get("ok")]
    errors: dict[str, int] = {}
    for sample in samples:
        if not sample.get("ok"):
            kind = sample.get("error") or "invalid_response"
            errors[kind] = errors.get(kind, 0) + 1
    pairs = list(zip(samples, derived, strict=True))
    cold = [(s, d) for s, d in pairs if d["load_s"] is not None and d["load_s"] >= cold_load_s]
    warm_ttft = [s.get("ttft") for s, d in pairs if s.get("ok") and (d["load_s"] is None or d["load_s"] < cold_load_s)]
    good = sum(1 for s, d in pairs if is_good(s, d, request_slo))
    tokens = sum(int(s.get("tokens") or 0) for s in ok)
    n = len(samples)
    duration = max(duration, 1e-9)
    return {
        "requests": n,
        "ok": len(ok),
        "failed": n - len(ok),
        "error_rate": (n - len(ok)) / n if n else 0.0,
        "errors": errors,
        "request_throughput": len(ok) / duration,
        "output_tokens": tokens,
        "output_token_throughput": tokens / duration,
        "input_tokens": sum(int((s.get("server") or {}).get("prompt_eval_count") or 0) for s in ok),
        "ttft": describe(s.get("ttft") for s in ok),
        "ttft_warm": describe(warm_ttft),
        "ttft_server": describe(d["server_ttft"] for d in ok_derived),
        "tpot": describe(d["tpot"] for d in ok_derived),
        "itl": hist_describe(itl_hist or {}),
        "e2e": describe(s["e2e"] for s in ok),
        "decode_rate": describe(d["decode_rate"] for d in ok_derived),
        "e2e_rate": describe(d["e2e_rate"] for d in ok_derived),
        "output_tokens_per_request": describe(float(s.get("tokens") or 0) for s in ok),
        "server_eval_rate": describe(d["eval_rate"] for d in ok_derived),
        "server_prompt_eval_rate": describe(d["prompt_eval_rate"] for d in ok_derived),
        "load_time": describe(d["load_s"] for d in ok_derived),
        "cold_loads": {
            "threshold_s": cold_load_s,
            "count": len(cold),
            "load_time": describe(d["load_s"] for _, d in cold),
            "ttft": describe(s.get("ttft") for s, _ in cold),
        },
        "goodput": {
            "slo": dict(request_slo),
            "good_requests": good,
            "ratio": good / n if n else 0.0,
            "rate": good / duration,
        },
    }


def timeline_buckets(
    samples: Sequence[Mapping[str, Any]], timeline: Sequence[Mapping[str, Any]], start: float, end: float, width: float
) -> list[dict[str, Any]]:
    """Bucket requests by start time for the charts (latency percentiles and tokens/s over time)."""
    width = max(width, 1.0)
    count = max(1, math.ceil((end - start) / width))
    buckets: list[list[Mapping[str, Any]]] = [[] for _ in range(count)]
    done_tokens = [0] * count
    for sample in samples:
        idx = int((sample["t"] - start) // width)
        if 0 <= idx < count:
            buckets[idx].append(sample)
        end_idx = int((sample["t"] + sample["e2e"] - start) // width)
        if sample.get("ok") and 0 <= end_idx < count:
            done_tokens[end_idx] += int(sample.get("tokens") or 0)
    out = []
    for idx, bucket in enumerate(buckets):
        t0 = start + idx * width
        users = [p["users"] for p in timeline if t0 <= p["t"] < t0 + width]
        ok = [s for s in bucket if s.get("ok")]
        ttft = describe(s.get("ttft") for s in ok)
        e2e = describe(s["e2e"] for s in ok)
        out.append(
            {
                "t": t0 - start,
                "users": max(users) if users else None,
                "requests": len(bucket),
                "errors": len(bucket) - len(ok),
                "ttft_p50": ttft.get("p50"),
                "ttft_p90": ttft.get("p90"),
                "ttft_p99": ttft.get("p99"),
                "e2e_p50": e2e.get("p50"),
                "e2e_p95": e2e.get("p95"),
                "output_token_throughput": done_tokens[idx] / width,
            }
        )
    return out


def relative_error(measured: float | None, truth: float | None) -> float | None:
    """Signed relative error (measured - truth) / truth; None when either is missing."""
    if measured is None or truth in (None, 0):
        return None
    return (measured - truth) / truth
