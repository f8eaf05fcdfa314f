"""Load shapes in real Locust runs against the Ollama double: open-loop Poisson arrivals and a step ramp
(statistics per concurrency level).
"""

from __future__ import annotations

import itertools

from loadtest_cli import MODEL, cli_args, run_cli, samples_of, summary_of


def test_poisson_open_loop(double, tmp_path):
    result = run_cli(
        *cli_args(
            host=double,
            scenario="generate",
            model=MODEL,
            shape="poisson",
            arrival_rate=10,
            duration="6s",
            num_predict=12,
            report_dir=str(tmp_path),
        )
    )
    assert result.returncode == 0, result.stderr
    summary = summary_of(tmp_path)
    starts = sorted(s["t"] for s in samples_of(tmp_path))
    # ~60 arrivals expected; Poisson noise (sd ~8) and start-up leave a wide but meaningful band
    assert 30 <= len(starts) <= 95
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # open loop: arrivals do not wait for answers (a request lasts ~0.4 s, the mean gap is ~0.1 s)
    assert sum(gaps) / len(gaps) < 0.2
    assert summary["config"]["arrival_rate"] == 10
    assert summary["window"]["settle_s"] > 0.3  # open loop settles for one median request


def test_step_ramp_reports_each_level(double, tmp_path):
    result = run_cli(
        *cli_args(
            host=double,
            scenario="chat",
            model=MODEL,
            shape="step",
            users=6,
            step_users=3,
            step_time="5s",
            num_predict=12,
            report_dir=str(tmp_path),
            settle="0.5s",
        )
    )
    assert result.returncode == 0, result.stderr
    levels = summary_of(tmp_path)["by_users"]
    assert [lvl["users"] for lvl in levels] == [3, 6]
    assert all(lvl["requests"] > 0 for lvl in levels)
    assert "| 3 |" in (tmp_path / "report.md").read_text()
