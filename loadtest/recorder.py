"""Sample collection across Locust processes, the generator's self-check, and the run summary.

Every load-generating process (a worker, or the single local process) keeps a ``ProcessRecorder``: it buffers
request samples, folds inter-token gaps into per-second histograms and measures its own health (CPU share of a
core and event-loop lag, sampled every 100 ms). Workers ship their buffers to the master with Locust's custom
messages; the final flush happens in ``test_stop`` before the worker reports ``client_stopped``, so the master
has everything when its own ``test_stop`` fires. The master (or local process) keeps a ``RunAggregator`` and a
timeline of user count and runner state, from which the steady-state window is derived.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest import metrics

HEALTH_TICK = 0.1  # seconds between event-loop lag probes
MAX_ERROR_EXAMPLES = 5


class ProcessRecorder:
    """Per-process buffer of samples, ITL histograms and health records."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self.samples: list[dict[str, Any]] = []
        self.itl: dict[int, dict[int, int]] = {}
        self.health: list[dict[str, Any]] = []
        self.tokens_received = 0
        self.requests_started = 0

    def add(self, sample: dict[str, Any]) -> None:
        gaps = sample.pop("gaps", None)
        if gaps:
            second = int(sample["t"])
            hist = self.itl.setdefault(second, {})
            metrics.hist_add(hist, gaps)
        self.tokens_received += int(sample.get("chunks") or 0)
        self.samples.append(sample)

    def drain(self) -> dict[str, Any]:
        """Return everything recorded since the last drain (the payload of one message)."""
        payload = {
            "process": self.process_id,
            "samples": self.samples,
            "itl": {str(k): {str(b): c for b, c in v.items()} for k, v in self.itl.items()},
            "health": self.health,
        }
        self.samples, self.itl, self.health = [], {}, []
        return payload


def run_queue_wait() -> float | None:
    """Seconds this process spent runnable but waiting for a CPU (Linux schedstat), None where unavailable."""
    try:
        with open("/proc/self/schedstat") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def health_probe(recorder: ProcessRecorder, sleep: Any, tick: float = HEALTH_TICK) -> None:
    """Run forever (in a greenlet): record CPU share, run-queue wait and event-loop lag once per second."""
    lags: list[float] = []
    cpu0 = time.process_time()
    wait0 = run_queue_wait()
    wall0 = time.perf_counter()
    due = wall0 + tick
    while True:
        sleep(max(0.0, due - time.perf_counter()))
        now = time.perf_counter()
        lags.append(max(0.0, now - due))
        due = max(due + tick, now)
        if now - wall0 >= 1.0:
            cpu1 = time.process_time()
            wait1 = run_queue_wait()
            recorder.health.append(
                {
                    "t": time.time(),
                    "process": recorder.process_id,
                    "cpu": (cpu1 - cpu0) / (now - wall0),
                    "runq": None if wait0 is None or wait1 is None else (wait1 - wait0) / (now - wall0),
                    "lag_mean": statistics.fmean(lags),
                    "lag_max": max(lags),
                }
            )
            lags = []
            cpu0, wait0, wall0 = cpu1, wait1, now


class RunAggregator:
    """Everything the master (or local process) knows about the run."""

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self.itl: dict[int, dict[int, int]] = {}
        self.health: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.started: float | None = None
        self.stopped: float | None = None
        self.dropped = 0

    def ingest(self, payload: Mapping[str, Any]) -> None:
        self.dropped += int(payload.get("dropped") or 0)
        self.samples.extend(payload.get("samples") or [])
        for second, hist in (payload.get("itl") or {}).items():
            metrics.hist_merge(self.itl.setdefault(int(second), {}), hist)
        self.health.extend(payload.get("health") or [])

    def mark(self, users: int, state: str) -> None:
        now = time.time()
        if self.started is None:
            self.started = now
        self.timeline.append({"t": now, "users": int(users), "state": str(state)})


def _window_hist(itl: Mapping[int, Mapping[int, int]], windows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for second, hist in itl.items():
        if metrics.in_windows(second + 0.5, windows) is not None:
            metrics.hist_merge(merged, hist)
    return merged


def assess_trust(
    health: Sequence[Mapping[str, Any]],
    windows: Sequence[Mapping[str, Any]],
    ttft_p50: float | None,
    cpu_limit: float = 0.9,
    cpu_share: float = 0.2,
    lag_mean_limit: float = 0.010,
    lag_max_limit: float = 0.100,
    runq_limit: float = 0.2,
) -> dict[str, Any]:
    """Decide whether the generator's own numbers can be trusted over the steady-state window.

    Untrusted when any load process spent more than ``cpu_share`` of the window at >= ``cpu_limit`` of a core, when
    the event loop's mean lag exceeds ``max(lag_mean_limit, 2 % of TTFT p50)`` (every timestamp is late by about
    that much), when the 95th percentile of the per-second worst lag exceeds ``lag_max_limit``, or when the process
    spent more than ``runq_limit`` of the window runnable but waiting for a CPU (Linux schedstat): other processes
    were competing for its core, and every timestamp waited with it.
    """
    reasons: list[str] = []
    in_window = [h for h in health if metrics.in_windows(h["t"], windows) is not None] if windows else list(health)
    by_process: dict[str, list[Mapping[str, Any]]] = {}
    for record in in_window:
        by_process.setdefault(str(record["process"]), []).append(record)
    processes = {}
    for proc, records in sorted(by_process.items()):
        cpu = [r["cpu"] for r in records]
        busy = sum(1 for c in cpu if c >= cpu_limit) / len(cpu)
        lag_mean = statistics.fmean(r["lag_mean"] for r in records)
        lag_max_p95 = metrics.percentile([r["lag_max"] for r in records], 95) or 0.0
        runq = [r["runq"] for r in records if r.get("runq") is not None]
        runq_mean = statistics.fmean(runq) if runq else None
        processes[proc] = {
            "seconds": len(records),
            "runq_mean": runq_mean,
            "cpu_mean": statistics.fmean(cpu),
            "cpu_max": max(cpu),
            "cpu_busy_share": busy,
            "lag_mean_ms": lag_mean * 1000,
            "lag_max_p95_ms": lag_max_p95 * 1000,
        }
        if busy > cpu_share:
            reasons.append(
                f"load generator {proc} was CPU-bound (>= {cpu_limit:.0%} of a core) for {busy:.0%} of the "
                "steady-state window: add --processes or machines"
            )
        if runq_mean is not None and runq_mean > runq_limit:
            reasons.append(
                f"load generator {proc} waited for a CPU {runq_mean:.0%} of the steady-state window (limit "
                f"{runq_limit:.0%}): other processes compete for its core; give it a quiet machine or core"
            )
        lag_allowed = max(lag_mean_limit, 0.02 * (ttft_p50 or 0.0))
        if lag_mean > lag_allowed:
            reasons.append(
                f"load generator {proc} event loop lagged {lag_mean * 1000:.1f} ms on average "
                f"(limit {lag_allowed * 1000:.1f} ms): timings are inflated by about that much"
            )
        if lag_max_p95 > lag_max_limit:
            reasons.append(
                f"load generator {proc} event loop stalled up to {lag_max_p95 * 1000:.0f} ms (p95 of per-second "
                f"worst, limit {lag_max_limit * 1000:.0f} ms)"
            )
    if not processes:
        reasons.append("no health records from the load generator in the steady-state window")
    if not windows:
        reasons.append("no steady-state window: the run ended before the target load was held (run longer)")
    return {
        "trusted": not reasons,
        "reasons": reasons,
        "limits": {
            "cpu": cpu_limit,
            "cpu_busy_share": cpu_share,
            "lag_mean_ms": lag_mean_limit * 1000,
            "lag_max_p95_ms": lag_max_limit * 1000,
            "runq_share": runq_limit,
        },
        "processes": processes,
    }


def build_summary(
    agg: RunAggregator,
    config: Mapping[str, Any],
    request_slo: Mapping[str, Any],
    settle: float | str = "auto",
    cold_load_s: float = 0.25,
    trust_limits: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Turn everything recorded into the JSON summary (without the SLO verdict, see ``finalize``)."""
    samples = sorted(agg.samples, key=lambda s: s["t"])
    start = agg.started or (samples[0]["t"] if samples else time.time())
    end = agg.stopped or (agg.timeline[-1]["t"] if agg.timeline else time.time())
    ok_e2e = [s["e2e"] for s in samples if s.get("ok")]
    # "auto" skips one median request duration after each ramp: closed-loop users spawned together run in
    # lock-step for their first cycle (and the first requests queue behind connection setup and model loads);
    # open-loop in-flight requests keep growing for about one request duration (Little's law).
    settle_s = (metrics.percentile(ok_e2e, 50) or 0.0) if settle == "auto" else float(settle)
    phases = metrics.steady_phases(agg.timeline, settle=settle_s)
    in_window = [s for s in samples if metrics.in_windows(s["t"], phases) is not None]
    window_len = sum(p["end"] - p["start"] for p in phases)
    steady = metrics.aggregate(
        in_window, window_len, request_slo, cold_load_s=cold_load_s, itl_hist=_window_hist(agg.itl, phases)
    )
    everything = [{"start": start - 1.0, "end": end + 3600.0}]
    whole = metrics.aggregate(
        samples, end - start, request_slo, cold_load_s=cold_load_s, itl_hist=_window_hist(agg.itl, everything)
    )
    by_users: list[dict[str, Any]] = []
    for users in sorted({p["users"] for p in phases}):
        level = [p for p in phases if p["users"] == users]
        level_samples = [s for s in in_window if metrics.in_windows(s["t"], level) is not None]
        level_agg = metrics.aggregate(
            level_samples,
            sum(p["end"] - p["start"] for p in level),
            request_slo,
            cold_load_s=cold_load_s,
            itl_hist=_window_hist(agg.itl, level),
        )
        by_users.append({"users": users, **{k: level_agg[k] for k in _LEVEL_KEYS}})
    width = max(1.0, round((end - start) / 60.0))
    errors_examples: dict[str, list[str]] = {}
    for sample in samples:
        if not sample.get("ok"):
            examples = errors_examples.setdefault(sample.get("error") or "invalid_response", [])
            if len(examples) < MAX_ERROR_EXAMPLES and sample.get("message") not in examples:
                examples.append(sample.get("message") or "")
    trust = assess_trust(agg.health, phases, steady["ttft"].get("p50"), **dict(trust_limits or {}))
    return {
        "warnings": diagnose(steady),
        "schema": 1,
        "config": dict(config),
        "run": {
            "start": start,
            "end": end,
            "duration_s": end - start,
            "tokens_received": sum(int(s.get("chunks") or 0) for s in samples),
        },
        "window": {
            "rule": (
                "requests that STARTED while the runner held a constant user count in state 'running' "
                f"(ramp-up, spawning and shutdown excluded), {settle_s:.2f} s after each phase began"
            ),
            "settle_s": settle_s,
            "phases": [{**p, "start_offset_s": p["start"] - start, "end_offset_s": p["end"] - start} for p in phases],
            "duration_s": window_len,
            "requests": len(in_window),
        },
        "steady": steady,
        "whole_run": whole,
        "by_users": by_users,
        "timeline": metrics.timeline_buckets(samples, agg.timeline, start, end, width),
        "error_examples": errors_examples,
        "trust": trust,
    }


def diagnose(steady: Mapping[str, Any]) -> list[str]:
    """Hints about the target that the numbers reveal (not failures)."""
    warnings = []
    ttft, e2e, itl = steady["ttft"], steady["e2e"], steady["itl"]
    if ttft.get("count") and itl.get("count") and (itl.get("p50") or 0) < 0.0005 and ttft["p50"] > 0.9 * e2e["p50"]:
        warnings.append(
            "tokens arrive in one burst at the end (TTFT ~ end-to-end, inter-token gaps ~ 0): something between "
            "client and Ollama buffers the stream (nginx: proxy_buffering off for the API location)"
        )
    errors = steady.get("errors") or {}
    if errors.get("queue_full"):
        warnings.append(
            f"{errors['queue_full']} requests were rejected with 503 'server busy': OLLAMA_MAX_QUEUE was reached; "
            "scale out or raise OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE"
        )
    return warnings


_LEVEL_KEYS = (
    "requests",
    "error_rate",
    "ttft",
    "tpot",
    "decode_rate",
    "e2e",
    "request_throughput",
    "output_token_throughput",
    "goodput",
)


def finalize(summary: dict[str, Any], profile_name: str, profile: Mapping[str, Any], fail_untrusted: bool) -> int:
    """Add the SLO verdict to the summary and return the exit status (0 pass, 1 SLO failed, 3 untrusted)."""
    from loadtest import slo

    checks = slo.evaluate(summary["steady"], dict(profile))
    failed = [c for c in checks if c["passed"] is False]
    if summary["steady"]["requests"] == 0:
        failed.append({"metric": "requests", "value": 0, "min": 1, "passed": False, "note": "no request completed"})
        checks.append(failed[-1])
    trusted = summary["trust"]["trusted"]
    code = 1 if failed else 0
    if not trusted and fail_untrusted:
        code = 3
    summary["slo"] = {
        "profile": profile_name,
        "goodput": dict(profile.get("goodput") or {}),
        "checks": checks,
        "passed": not failed,
    }
    summary["verdict"] = {
        "slo_passed": not failed,
        "trusted": trusted,
        "exit_code": code,
        "text": ("PASS" if not failed else "FAIL") + ("" if trusted else " (UNTRUSTED measurement)"),
    }
    return code
