"""The other scenarios and run modes, each a short real Locust run against the Ollama double:
Open-WebUI chat with an API key, Locust's distributed mode (--processes 2), the mixed scenario bounded by
--max-requests.
"""

from __future__ import annotations

import collections
import time

import pytest
from loadtest_cli import EMBED, MODEL, cli_args, run_cli, samples_of, summary_of
from loadtest_fakes import auth_proxy, serve


def test_open_webui_chat_with_api_key(double, tmp_path):
    with serve(auth_proxy(double, token="sk-webui", webui=True)) as webui:
        bad = run_cli(*cli_args(host=webui, scenario="webui-chat", api_key="sk-wrong", model=MODEL))
        assert bad.returncode == 2
        assert "HTTP 401" in bad.stderr
        result = run_cli(
            *cli_args(
                host=webui,
                scenario="webui-chat",
                api_key="sk-webui",
                model=MODEL,
                users=3,
                spawn_rate=3,
                duration="5s",
                num_predict=12,
                report_dir=str(tmp_path),
            )
        )
    assert result.returncode == 0, result.stderr
    steady = summary_of(tmp_path)["steady"]
    assert steady["requests"] > 0
    assert steady["failed"] == 0
    assert steady["ttft"]["p50"] == pytest.approx(0.15, rel=0.2)
    assert {s["name"] for s in samples_of(tmp_path)} == {"/api/chat/completions"}


def test_distributed_processes(double, tmp_path):
    result = run_cli(
        *cli_args(
            host=double,
            scenario="openai-chat",
            model=MODEL,
            users=8,
            spawn_rate=8,
            duration="7s",
            processes=2,
            num_predict=12,
            report_dir=str(tmp_path),
        )
    )
    assert result.returncode == 0, result.stderr
    summary = summary_of(tmp_path)
    # both workers generated load and reported their health; the master merged their samples
    assert set(summary["trust"]["processes"]) == {"worker-0", "worker-1"}
    assert summary["steady"]["requests"] > 0
    assert summary["steady"]["failed"] == 0
    assert summary["steady"]["itl"]["count"] > 0
    assert summary["steady"]["ttft"]["p50"] == pytest.approx(0.15, rel=0.2)


def test_mixed_scenario_is_bounded_by_max_requests(double, tmp_path):
    started = time.monotonic()
    result = run_cli(
        *cli_args(
            host=double,
            scenario="mixed",
            model=MODEL,
            embed_model=EMBED,
            users=6,
            duration="60s",
            max_requests=30,
            num_predict=12,
            report_dir=str(tmp_path),
        )
    )
    elapsed = time.monotonic() - started
    assert (tmp_path / "summary.json").exists(), result.stderr
    samples = samples_of(tmp_path)
    assert len(samples) == 30
    assert elapsed < 45  # stopped by the request cap, long before the 60 s duration
    kinds = collections.Counter(s["scenario"] for s in samples)
    assert kinds["chat"] > 0
    assert len(kinds) >= 3, kinds
    assert all(s["ok"] for s in samples), [s["message"] for s in samples if not s["ok"]]
