"""Markdown report with PNG charts from a load-test JSON summary.

python -m loadtest.report reports/loadtest/summary.json [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

CHARTS = {
    "latency": "latency_over_time.png",
    "throughput": "tokens_per_second_over_time.png",
    "concurrency": "ttft_and_tokens_vs_concurrency.png",
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_charts(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    """Draw the PNG charts; return name -> path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    timeline = summary.get("timeline") or []
    xs = [b["t"] for b in timeline]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, label in (
        ("ttft_p50", "TTFT p50"),
        ("ttft_p90", "TTFT p90"),
        ("ttft_p99", "TTFT p99"),
        ("e2e_p50", "E2E p50"),
    ):
        ax.plot(xs, [(b[key] * 1000 if b[key] is not None else None) for b in timeline], label=label, marker=".")
    for phase in (summary.get("window") or {}).get("phases", []):
        ax.axvspan(phase["start_offset_s"], phase["end_offset_s"], color="green", alpha=0.08)
    ax.set_xlabel("seconds since start (shaded: steady-state window)")
    ax.set_ylabel("ms")
    ax.set_title("Latency percentiles over time (by request start)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.step(xs, [b["users"] for b in timeline], where="post", color="grey", alpha=0.6, label="users")
    ax2.set_ylabel("users")
    ax.legend(loc="upper left")
    fig.tight_layout()
    paths["latency"] = out / CHARTS["latency"]
    fig.savefig(paths["latency"], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(xs, [b["output_token_throughput"] for b in timeline], label="output tokens/s (all streams)", marker=".")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("tokens/s")
    ax.set_title("Output token throughput over time (by completion)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    paths["throughput"] = out / CHARTS["throughput"]
    fig.savefig(paths["throughput"], dpi=90)
    plt.close(fig)

    levels = summary.get("by_users") or []
    fig, ax = plt.subplots(figsize=(9, 4.5))
    users = [lvl["users"] for lvl in levels]
    ax.plot(users, [_scale(lvl["ttft"].get("p50"), 1000) for lvl in levels], marker="o", label="TTFT p50 (ms)")
    ax.plot(users, [_scale(lvl["ttft"].get("p95"), 1000) for lvl in levels], marker="o", label="TTFT p95 (ms)")
    ax.set_xlabel("concurrent users")
    ax.set_ylabel("ms")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(users, [lvl["output_token_throughput"] for lvl in levels], marker="s", color="tab:green", label="tokens/s")
    ax2.plot(
        users,
        [lvl["decode_rate"].get("mean") for lvl in levels],
        marker="^",
        color="tab:olive",
        label="tokens/s per stream",
    )
    ax2.set_ylabel("tokens/s")
    ax.set_title("TTFT and tokens/s against concurrency (steady-state phases)")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper left")
    fig.tight_layout()
    paths["concurrency"] = out / CHARTS["concurrency"]
    fig.savefig(paths["concurrency"], dpi=90)
    plt.close(fig)
    return paths


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _stat_row(name: str, stats: dict[str, Any], unit: str) -> str:
    scale = 1000.0 if unit == "ms" else 1.0
    cells = [_num(_scale(stats.get(k), scale), 1) for k in ("mean", "p50", "p90", "p95", "p99", "max")]
    return f"| {name} ({unit}) | {stats.get('count', 0)} | " + " | ".join(cells) + " |"


def render_markdown(summary: dict[str, Any], charts: dict[str, Path] | None = None) -> str:
    """The Markdown report (charts are linked by file name, next to the report)."""
    cfg = summary["config"]
    steady = summary["steady"]
    window = summary["window"]
    verdict = summary.get("verdict", {})
    trust = summary["trust"]
    lines = [
        f"# Load test: {cfg.get('scenario')} on {cfg.get('environment')} - {verdict.get('text', '?')}",
        "",
        f"- Target: `{cfg.get('host')}`, model `{cfg.get('model')}`, shape `{cfg.get('shape')}`, users "
        f"{cfg.get('users')}, processes {cfg.get('processes') or 1}, prompts `{cfg.get('prompt_size')}`, "
        f"num_predict {cfg.get('num_predict')}",
        f"- Run: {_when(summary['run']['start'])} for {summary['run']['duration_s']:.1f} s; "
        f"{summary['whole_run']['requests']} requests, {summary['run']['tokens_received']} tokens received",
        f"- Steady-state window: {window['duration_s']:.1f} s, {window['requests']} requests. Rule: {window['rule']}.",
    ]
    for phase in window["phases"]:
        lines.append(
            f"  - {phase['users']} users: {phase['start_offset_s']:.1f} s to {phase['end_offset_s']:.1f} s after start"
        )
    if summary.get("warnings"):
        lines += ["", "## Warnings", ""]
        lines += [f"- {warning}" for warning in summary["warnings"]]
    lines += ["", "## Measurement trust", ""]
    if trust["trusted"]:
        lines.append("Trusted: the load generator had spare CPU and its event loop kept time.")
    else:
        lines.append("**UNTRUSTED**: the numbers below cannot be relied on:")
        lines += [f"- {reason}" for reason in trust["reasons"]]
    lines += [
        "",
        "| process | seconds | CPU mean | CPU max | busy share | waiting for CPU | loop lag mean (ms) | lag p95 (ms) |",
    ]
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for proc, h in trust["processes"].items():
        runq = "-" if h.get("runq_mean") is None else f"{h['runq_mean']:.0%}"
        lines.append(
            f"| {proc} | {h['seconds']} | {h['cpu_mean']:.0%} | {h['cpu_max']:.0%} | {h['cpu_busy_share']:.0%} | "
            f"{runq} | {h['lag_mean_ms']:.2f} | {h['lag_max_p95_ms']:.1f} |"
        )
    lines += ["", "## SLO gate", "", f"Profile `{summary.get('slo', {}).get('profile')}`.", ""]
    lines += ["| check | value | limit | result |", "| --- | --- | --- | --- |"]
    for check in summary.get("slo", {}).get("checks", []):
        limit = " ".join(f"{k} {check[k]}" for k in ("min", "max") if k in check)
        result = {True: "pass", False: "**FAIL**", None: "n/a"}[check["passed"]]
        lines.append(f"| {check['metric']} | {_num(check['value'], 3)} | {limit} | {result} |")
    lines += [
        "",
        "## Steady-state results",
        "",
        "| metric | n | mean | p50 | p90 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        _stat_row("TTFT", steady["ttft"], "ms"),
        _stat_row("TTFT, server side", steady.get("ttft_server", {}), "ms"),
        _stat_row("TPOT", steady["tpot"], "ms"),
        _stat_row("ITL", steady["itl"], "ms"),
        _stat_row("E2E latency", steady["e2e"], "ms"),
        _stat_row("decode tokens/s per stream", steady["decode_rate"], "tok/s"),
        _stat_row("server eval rate", steady["server_eval_rate"], "tok/s"),
        _stat_row("server prompt eval rate", steady["server_prompt_eval_rate"], "tok/s"),
        _stat_row("output tokens per request", steady["output_tokens_per_request"], "tokens"),
        "",
        f"- Request throughput: {steady['request_throughput']:.2f} req/s; output token throughput: "
        f"{steady['output_token_throughput']:.1f} tokens/s",
        f"- Goodput: {steady['goodput']['good_requests']} of {steady['requests']} requests "
        f"({steady['goodput']['ratio']:.1%}, {steady['goodput']['rate']:.2f} req/s) met {steady['goodput']['slo']}",
        f"- Errors: {steady['failed']} ({steady['error_rate']:.2%}) in the window, "
        f"{summary['whole_run']['failed']} in the whole run: {summary['whole_run']['errors'] or 'none'}",
    ]
    cold = summary["whole_run"]["cold_loads"]
    lines += [
        "",
        "## Model load time (cold loads, whole run)",
        "",
        f"{cold['count']} requests had load_duration >= {cold['threshold_s'] * 1000:.0f} ms"
        + (
            f": load time mean {_ms(cold['load_time'].get('mean'))} ms, max {_ms(cold['load_time'].get('max'))} ms; "
            f"their TTFT mean {_ms(cold['ttft'].get('mean'))} ms."
            if cold["count"]
            else "."
        ),
    ]
    if summary["by_users"]:
        lines += [
            "",
            "## By concurrency",
            "",
            "| users | requests | TTFT p50 (ms) | TTFT p95 (ms) | TPOT p50 (ms) | tok/s/stream | tok/s all | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for lvl in summary["by_users"]:
            lines.append(
                f"| {lvl['users']} | {lvl['requests']} | {_ms(lvl['ttft'].get('p50'))} | {_ms(lvl['ttft'].get('p95'))} "
                f"| {_ms(lvl['tpot'].get('p50'))} | {_num(lvl['decode_rate'].get('mean'), 1)} | "
                f"{lvl['output_token_throughput']:.1f} | {lvl['error_rate']:.2%} |"
            )
    if summary.get("error_examples"):
        lines += ["", "## Error examples", ""]
        for kind, examples in summary["error_examples"].items():
            for example in examples:
                lines.append(f"- `{kind}`: {example}")
    comparison = summary.get("comparison")
    if comparison:
        lines += ["", f"## Compared with the previous run ({comparison['previous_run']})", ""]
        lines += ["| metric | previous | now | change | regression |", "| --- | --- | --- | --- | --- |"]
        for row in comparison["metrics"]:
            change = "-" if row["change_pct"] is None else f"{row['change_pct']:+.1f} %"
            lines.append(
                f"| {row['metric']} | {_num(row['previous'], 3)} | {_num(row['current'], 3)} | {change} | "
                f"{'yes' if row['regression'] else 'no'} |"
            )
    scaling = summary.get("scaling")
    if scaling:
        lines += ["", "## Scaling (CloudWatch)", "", scaling.get("text", "")]
    if charts:
        lines += ["", "## Charts", ""]
        for name, path in charts.items():
            lines.append(f"![{name}]({path.name})")
    lines += [
        "",
        "Definitions: docs/LOADTESTING.md. Locust's own CSV/HTML (locust_stats.csv, locust.html) time the whole "
        "request; its `TTFT` rows come from this suite.",
    ]
    return "\n".join(lines) + "\n"


def write_report(summary: dict[str, Any], out: Path) -> Path:
    """Write report.md and the charts into ``out``; return the Markdown path."""
    charts = render_charts(summary, out)
    path = out / "report.md"
    path.write_text(render_markdown(summary, charts))
    return path


def console_summary(summary: dict[str, Any]) -> str:
    """A few lines for the terminal / CI log."""
    steady = summary["steady"]
    lines = [
        f"loadtest: {summary['verdict']['text']} (exit {summary['verdict']['exit_code']}) - "
        f"steady window {summary['window']['duration_s']:.0f} s, {steady['requests']} requests, "
        f"errors {steady['error_rate']:.2%}",
        f"  TTFT p50/p95 {_ms(steady['ttft'].get('p50'))}/{_ms(steady['ttft'].get('p95'))} ms, TPOT p50 "
        f"{_ms(steady['tpot'].get('p50'))} ms, {steady['output_token_throughput']:.1f} tokens/s, goodput "
        f"{steady['goodput']['ratio']:.1%}",
    ]
    for check in summary.get("slo", {}).get("checks", []):
        if check["passed"] is False:
            limit = " ".join(f"{k} {check[k]}" for k in ("min", "max") if k in check)
            lines.append(f"  SLO failed: {check['metric']} = {_num(check['value'], 3)} (limit {limit})")
    lines += [f"  untrusted: {reason}" for reason in summary["trust"]["reasons"]]
    lines += [f"  warning: {warning}" for warning in summary.get("warnings", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.report", description=__doc__.splitlines()[0])
    parser.add_argument("summary", help="summary.json written by a run")
    parser.add_argument("--out", default="", help="output directory (default: next to the summary)")
    args = parser.parse_args(argv)
    path = Path(args.summary)
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"loadtest.report: error: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else path.parent
    print(write_report(summary, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
