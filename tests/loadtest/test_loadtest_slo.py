"""SLO profiles, the gate's exit status and the generator's self-check (trust)."""

from __future__ import annotations

import pytest

from loadtest import recorder, slo


def steady(ttft_p95=0.5, tpot_p95=0.05, error_rate=0.0, goodput=1.0, requests=100):
    return {
        "requests": requests,
        "ttft": {"p50": ttft_p95 / 2, "p95": ttft_p95},
        "tpot": {"p95": tpot_p95},
        "itl": {"count": 0},
        "e2e": {"p99": 3.0},
        "decode_rate": {"mean": 20.0},
        "error_rate": error_rate,
        "goodput": {"ratio": goodput, "rate": 1.0},
        "request_throughput": 2.0,
        "output_token_throughput": 40.0,
    }


def summary(**kw):
    return {"steady": steady(**kw), "trust": {"trusted": True, "reasons": []}}


def test_shipped_profiles_cover_every_environment():
    profiles = slo.load_profiles()
    assert {"local", "dev", "staging", "production"} <= set(profiles)
    assert profiles["production"]["checks"]["ttft_ms.p95"]["max"] <= profiles["dev"]["checks"]["ttft_ms.p95"]["max"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles: {dev: {checks: {ttft.p95: {max: 1}}}}", "unknown metric 'ttft.p95'"),
        ("profiles: {dev: {checks: {ttft_ms.p95: {below: 1}}}}", "needs 'max:'"),
        ("profiles: {dev: {goodput: {ttft: 5}}}", "goodput key 'ttft' unknown"),
        ("profiles: {dev: {gates: {}}}", "unknown key"),
        ("nothing: here", "no 'profiles:'"),
        ("profiles: [", "not valid YAML"),
    ],
)
def test_bad_slo_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    with pytest.raises(slo.SLOError, match=message):
        slo.load_profiles(path)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(slo.SLOError, match="dev, local, production, staging"):
        slo.get_profile(slo.load_profiles(), "prod")


def test_gate_passes_and_fails():
    profile = {"checks": {"ttft_ms.p95": {"max": 1000}, "error_rate": {"max": 0.01}, "goodput_ratio": {"min": 0.9}}}
    ok = summary()
    assert recorder.finalize(ok, "dev", profile, fail_untrusted=False) == 0
    assert ok["verdict"]["text"] == "PASS"
    slow = summary(ttft_p95=1.5, error_rate=0.02)
    assert recorder.finalize(slow, "dev", profile, fail_untrusted=False) == 1
    failed = {c["metric"] for c in slow["slo"]["checks"] if c["passed"] is False}
    assert failed == {"ttft_ms.p95", "error_rate"}
    assert slow["slo"]["checks"][0]["value"] == pytest.approx(1500.0)


def test_untrusted_run_exit_code():
    profile = {"checks": {"ttft_ms.p95": {"max": 1000}}}
    untrusted = summary()
    untrusted["trust"] = {"trusted": False, "reasons": ["CPU-bound"]}
    assert recorder.finalize(untrusted, "dev", profile, fail_untrusted=False) == 0
    assert "UNTRUSTED" in untrusted["verdict"]["text"]
    assert recorder.finalize(untrusted, "dev", profile, fail_untrusted=True) == 3


def test_no_requests_fails_the_gate():
    assert recorder.finalize(summary(requests=0), "dev", {"checks": {}}, fail_untrusted=False) == 1


def test_metric_not_measured_is_skipped():
    checks = slo.evaluate({"tpot": {"count": 0}}, {"checks": {"tpot_ms.p95": {"max": 10}}})
    assert checks[0]["passed"] is None


def health(process, t, cpu=0.3, lag_mean=0.001, lag_max=0.005):
    return {"t": t, "process": process, "cpu": cpu, "lag_mean": lag_mean, "lag_max": lag_max}


WINDOW = [{"start": 0.0, "end": 100.0}]


def test_trust_healthy_generator():
    result = recorder.assess_trust([health("local", t) for t in range(10)], WINDOW, ttft_p50=0.2)
    assert result["trusted"], result["reasons"]
    assert result["processes"]["local"]["cpu_mean"] == pytest.approx(0.3)


def test_trust_cpu_bound_generator():
    records = [health("worker-0", t, cpu=0.97 if t % 2 else 0.5) for t in range(10)]
    result = recorder.assess_trust(records, WINDOW, ttft_p50=0.2)
    assert not result["trusted"]
    assert "CPU-bound" in result["reasons"][0]
    assert "worker-0" in result["reasons"][0]


def test_trust_event_loop_lag():
    records = [health("local", t, lag_mean=0.02, lag_max=0.3) for t in range(10)]
    result = recorder.assess_trust(records, WINDOW, ttft_p50=0.2)
    assert len(result["reasons"]) == 2
    assert "lagged 20.0 ms" in result["reasons"][0]
    # lag is judged relative to what is measured: 20 ms is 2 % of a 1 s TTFT
    relaxed = recorder.assess_trust(records, WINDOW, ttft_p50=1.5, lag_max_limit=0.5)
    assert relaxed["trusted"], relaxed["reasons"]


def test_trust_ignores_health_outside_the_window():
    records = [health("local", t, cpu=1.0) for t in range(5)] + [health("local", t) for t in range(10, 20)]
    result = recorder.assess_trust(records, [{"start": 10.0, "end": 20.0}], ttft_p50=0.2)
    assert result["trusted"]


def test_no_window_is_untrusted():
    result = recorder.assess_trust([health("local", 1.0)], [], ttft_p50=None)
    assert not result["trusted"]
    assert any("no steady-state window" in r for r in result["reasons"])


def test_diagnose_buffering_proxy_and_full_queue():
    buffered = {
        "ttft": {"count": 10, "p50": 3.0},
        "e2e": {"p50": 3.01},
        "itl": {"count": 300, "p50": 0.00001},
        "errors": {"queue_full": 4},
    }
    warnings = recorder.diagnose(buffered)
    assert "buffers the stream" in warnings[0]
    assert "4 requests were rejected with 503" in warnings[1]
    streaming = {"ttft": {"count": 10, "p50": 0.2}, "e2e": {"p50": 3.0}, "itl": {"count": 300, "p50": 0.05}}
    assert recorder.diagnose(streaming) == []


def test_trust_cpu_contention_from_run_queue_wait():
    # a process that is idle most of the time but, when it has work, waits for a CPU other processes hold
    records = [{**health("worker-1", t), "runq": 0.45} for t in range(10)]
    result = recorder.assess_trust(records, WINDOW, ttft_p50=0.2)
    assert not result["trusted"]
    assert "waited for a CPU 45%" in result["reasons"][0]
    assert result["processes"]["worker-1"]["runq_mean"] == pytest.approx(0.45)
    quiet = [{**health("worker-1", t), "runq": 0.02} for t in range(10)]
    assert recorder.assess_trust(quiet, WINDOW, ttft_p50=0.2)["trusted"]
