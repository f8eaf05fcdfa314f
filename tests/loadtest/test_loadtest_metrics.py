"""Unit tests of the metric definitions (percentiles, TPOT, ITL histograms, steady-state window, goodput)."""

from __future__ import annotations

import random

import pytest

from loadtest import metrics


def sample(t: float, ttft: float | None = 0.2, chunks: int = 11, tpot: float = 0.05, ok: bool = True, **extra):
    last = None if ttft is None else ttft + (chunks - 1) * tpot
    base = {
        "t": t,
        "ttft": ttft,
        "last": last,
        "e2e": (last or 0.0) + tpot,
        "chunks": chunks,
        "tokens": chunks,
        "ok": ok,
        "error": None if ok else "queue_full",
        "server": None,
    }
    base.update(extra)
    return base


def test_percentile_matches_linear_interpolation():
    data = [15, 20, 35, 40, 50]
    assert metrics.percentile(data, 0) == 15
    assert metrics.percentile(data, 100) == 50
    assert metrics.percentile(data, 50) == 35
    assert metrics.percentile(data, 40) == pytest.approx(29.0)  # numpy.percentile(data, 40)
    assert metrics.percentile(data, 95) == pytest.approx(48.0)
    assert metrics.percentile([], 50) is None
    with pytest.raises(ValueError):
        metrics.percentile(data, 101)


def test_describe_ignores_missing_values():
    stats = metrics.describe([1.0, None, 3.0])
    assert stats["count"] == 2
    assert stats["mean"] == 2.0
    assert stats["p50"] == 2.0
    assert metrics.describe([None]) == {"count": 0}


def test_tpot_excludes_first_token_and_needs_two_chunks():
    # first token at 0.2 s, last (11th) at 0.7 s -> 10 gaps of 50 ms
    assert metrics.tpot(0.7, 0.2, 11) == pytest.approx(0.05)
    assert metrics.tpot(0.2, 0.2, 1) is None
    assert metrics.tpot(None, 0.2, 5) is None
    assert metrics.decode_rate(0.05) == pytest.approx(20.0)
    assert metrics.decode_rate(None) is None


def test_server_rates_use_nanoseconds():
    assert metrics.server_rate(40, 2_000_000_000) == pytest.approx(20.0)
    assert metrics.server_rate(None, 1) is None
    assert metrics.server_rate(5, 0) is None
    server = {"load_duration": 500_000_000, "prompt_eval_duration": 200_000_000}
    assert metrics.server_ttft(server) == pytest.approx(0.7)


def test_histogram_percentiles_within_one_percent():
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    values = [rng.lognormvariate(-3, 0.4) for _ in range(20000)]
    hist: dict[int, int] = {}
    metrics.hist_add(hist, values[:10000])
    other: dict[int, int] = {}
    metrics.hist_add(other, values[10000:])
    metrics.hist_merge(hist, {str(k): v for k, v in other.items()})  # keys survive a JSON round trip
    described = metrics.hist_describe(hist)
    assert described["count"] == 20000
    for pct in (50, 90, 99):
        exact = metrics.percentile(values, pct)
        assert described[f"p{pct}"] == pytest.approx(exact, rel=0.01)
    assert described["mean"] == pytest.approx(sum(values) / len(values), rel=0.01)


def test_steady_phases_exclude_ramp_and_stopping():
    timeline = [
        {"t": 0.0, "users": 2, "state": "spawning"},
        {"t": 1.0, "users": 5, "state": "spawning"},
        {"t": 2.0, "users": 10, "state": "running"},
        {"t": 12.0, "users": 10, "state": "running"},
        {"t": 12.5, "users": 15, "state": "spawning"},
        {"t": 13.0, "users": 20, "state": "running"},
        {"t": 23.0, "users": 20, "state": "running"},
        {"t": 24.0, "users": 20, "state": "stopping"},
    ]
    phases = metrics.steady_phases(timeline, settle=1.0)
    assert phases == [
        {"users": 10, "start": 3.0, "end": 12.5},
        {"users": 20, "start": 14.0, "end": 24.0},
    ]
    # a phase shorter than min_length after settling is dropped
    assert metrics.steady_phases(timeline, settle=9.0) == [{"users": 20, "start": 22.0, "end": 24.0}]
    assert metrics.in_windows(13.0, phases) is None
    assert metrics.in_windows(14.0, phases)["users"] == 20


def test_aggregate_goodput_errors_and_throughput():
    samples = [sample(float(i), ttft=0.2 + 0.1 * (i % 2)) for i in range(10)]
    samples.append(sample(10.0, ttft=None, ok=False, chunks=0))
    slow = sample(11.0, ttft=3.0)
    samples.append(slow)
    agg = metrics.aggregate(samples, duration=12.0, request_slo={"ttft_ms": 1000, "tpot_ms": 60})
    assert agg["requests"] == 12
    assert agg["failed"] == 1
    assert agg["errors"] == {"queue_full": 1}
    assert agg["error_rate"] == pytest.approx(1 / 12)
    assert agg["goodput"]["good_requests"] == 10  # the failure and the 3 s TTFT do not count
    assert agg["goodput"]["ratio"] == pytest.approx(10 / 12)
    assert agg["tpot"]["mean"] == pytest.approx(0.05)
    assert agg["decode_rate"]["mean"] == pytest.approx(20.0)
    assert agg["output_tokens"] == 11 * 11
    assert agg["output_token_throughput"] == pytest.approx(121 / 12.0)
    assert agg["ttft"]["max"] == pytest.approx(3.0)


def test_cold_loads_reported_separately():
    warm = sample(0.0, server={"load_duration": 2_000_000, "prompt_eval_duration": 1})
    cold = sample(1.0, ttft=2.2, server={"load_duration": 2_000_000_000, "prompt_eval_duration": 1})
    agg = metrics.aggregate([warm, cold], duration=2.0, cold_load_s=0.25)
    assert agg["cold_loads"]["count"] == 1
    assert agg["cold_loads"]["load_time"]["mean"] == pytest.approx(2.0)
    assert agg["ttft_warm"]["count"] == 1
    assert agg["ttft_warm"]["mean"] == pytest.approx(0.2)


def test_timeline_buckets_count_tokens_at_completion():
    samples = [sample(0.5), sample(1.5), sample(2.5, ok=False, ttft=None, chunks=0)]
    buckets = metrics.timeline_buckets(samples, [{"t": 0.0, "users": 3}], start=0.0, end=3.0, width=1.0)
    assert [b["requests"] for b in buckets] == [1, 1, 1]
    assert buckets[2]["errors"] == 1
    assert buckets[0]["users"] == 3
    # the first request (0.5 s + 0.75 s) completes in bucket 1, the second in bucket 2
    assert [b["output_token_throughput"] for b in buckets] == [0.0, 11.0, 11.0]


def test_relative_error():
    assert metrics.relative_error(102.0, 100.0) == pytest.approx(0.02)
    assert metrics.relative_error(None, 1.0) is None
