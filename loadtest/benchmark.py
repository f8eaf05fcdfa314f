"""Accuracy benchmark: how close are the suite's numbers to a server whose timings are known?

Runs the chat scenario against the Ollama API double (the ``ollama-double`` package, configured with a fixed TTFT, token
rate and model load time) at several concurrency levels, with the server pinned to one CPU and the load generator
to another, and reports per metric the measurement error against the configured truth, the generator's CPU
seconds per 1,000 tokens received, and whether the suite itself judged the run trustworthy.

    python -m loadtest.benchmark --streams 10,50,100,200,1000 --duration 60s --markdown bench.md

This is a benchmark, not a unit test: it takes minutes and wants a quiet machine. It needs the ``ollama-double``
package (``packages/ollama_double``, installed into the project's virtualenv by ``make setup``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtest import metrics, run
from loadtest.shapes import parse_duration

ROOT = Path(__file__).resolve().parent.parent
MODEL = "llama3.2:1b"


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pin(pid: int, cpus: set[int]) -> None:
    available = os.sched_getaffinity(0)
    wanted = cpus & available
    if wanted:
        os.sched_setaffinity(pid, wanted)


def _cpus(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x.strip()}


class Probe:
    """A reference client: one blocking stream at a time, in its own thread, measuring TTFT on a raw connection.

    It uses almost no CPU, so the kernel wakes it promptly even on a busy machine; if the server itself is late
    (slow to accept, its own loop lagging), the probe sees that too. The generator's own error is then its TTFT
    minus the probe's over the same window.
    """

    def __init__(self, url: str, interval: float = 0.5, delay: float = 0.0) -> None:
        import threading

        self.url = url
        self.delay = delay  # start after the ramp: the generator's first request must be the one loading the model
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="ttft-probe")

    def _loop(self) -> None:
        import http.client
        from urllib.parse import urlparse

        target = urlparse(self.url)
        body = json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "probe"}], "options": {"num_predict": 2}}
        ).encode()
        self.stop.wait(self.delay)
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                conn.connect()
                started_wall = time.time()
                t0 = time.perf_counter()
                conn.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                ttft = None
                for line in iter(resp.readline, b""):
                    if ttft is None and b'"content":""' not in line and b'"done":false' in line.replace(b" ", b""):
                        ttft = time.perf_counter() - t0
                if ttft is not None:
                    self.samples.append((started_wall, ttft))
            except OSError:
                pass
            finally:
                conn.close()
            self.stop.wait(self.interval)

    def in_window(self, windows: list[dict[str, Any]]) -> list[float]:
        return [ttft for t, ttft in self.samples if metrics.in_windows(t, windows) is not None]


def run_level(
    streams: int,
    processes: int,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """One concurrency level: start the double, run Locust headless, compare with the truth."""
    from ollama_double import running_double

    report_dir = workdir / f"streams-{streams}"
    report_dir.mkdir(parents=True, exist_ok=True)
    duration = parse_duration(args.duration)
    with running_double(
        ttft_ms=args.ttft_ms,
        tokens_per_second=args.tokens_per_second,
        load_ms=args.load_ms,
        num_predict=args.num_predict,
        num_parallel=streams,
        max_queue=streams * 2,
        models=[MODEL],
    ) as double:
        if double.process is not None:
            _pin(double.process.pid, _cpus(args.server_cpus))
        cli = run.build_parser().parse_args(
            [
                "--host",
                double.url,
                "--scenario",
                "chat",
                "--users",
                str(streams),
                "--spawn-rate",
                f"{max(streams / args.ramp_s, 1.0):g}",
                "--duration",
                f"{duration:g}s",
                "--model",
                MODEL,
                "--num-predict",
                str(args.num_predict),
                "--processes",
                str(processes),
                "--report-dir",
                str(report_dir),
                "--max-requests",
                "0",
                "--think-time",
                f"{args.think_time:g}",
            ]
        )
        derived = run.validate(cli)
        cmd = run.locust_command(cli, derived, report_dir)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        load_before = os.getloadavg()
        started = time.time()
        probe = Probe(double.url, delay=args.ramp_s)
        probe.thread.start()
        with (report_dir / "locust.out").open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            _pin(proc.pid, _cpus(args.generator_cpus))
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.time() - started
        probe.stop.set()
        probe.thread.join(35)
    summary_path = report_dir / "summary.json"
    if not summary_path.exists():
        return {"streams": streams, "processes": processes, "error": f"Locust exited {proc.returncode}, no summary"}
    summary = json.loads(summary_path.read_text())
    row = evaluate(summary, args, streams, processes, usage.ru_utime + usage.ru_stime, elapsed, load_before)
    probe_ttft = probe.in_window(summary["window"]["phases"])
    row["probe_requests"] = len(probe_ttft)
    row["probe_ttft_mean_ms"] = _ms(statistics.fmean(probe_ttft)) if probe_ttft else None
    row["ttft_mean_err_vs_probe"] = (
        metrics.relative_error(row["ttft_mean_ms"], row["probe_ttft_mean_ms"]) if probe_ttft else None
    )
    return row


def evaluate(
    summary: dict[str, Any],
    args: argparse.Namespace,
    streams: int,
    processes: int,
    cpu_s: float,
    elapsed: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """Errors against the configured truth (and against the server's own account of each request)."""
    steady = summary["steady"]
    truth_ttft = args.ttft_ms / 1000.0
    truth_tps = args.tokens_per_second
    tokens = summary["run"]["tokens_received"]
    trust = summary["trust"]
    steady_cpu = sum(p["cpu_mean"] * p["seconds"] for p in trust["processes"].values())
    window_tokens = steady["output_tokens"]
    window_s = summary["window"]["duration_s"]
    cold = summary["whole_run"]["cold_loads"]
    return {
        "streams": streams,
        "processes": processes or 1,
        "window_s": window_s,
        "window_offset_s": [(p["start_offset_s"], p["end_offset_s"]) for p in summary["window"]["phases"]],
        "requests": steady["requests"],
        "errors": steady["failed"],
        "ttft_mean_ms": _ms(steady["ttft"].get("mean")),
        "ttft_p95_ms": _ms(steady["ttft"].get("p95")),
        "ttft_mean_err": metrics.relative_error(steady["ttft"].get("mean"), truth_ttft),
        "ttft_p95_err": metrics.relative_error(steady["ttft"].get("p95"), truth_ttft),
        "server_ttft_mean_ms": _ms(steady["ttft_server"].get("mean")),
        "ttft_mean_err_vs_server": metrics.relative_error(
            steady["ttft"].get("mean"), steady["ttft_server"].get("mean")
        ),
        "decode_tps_mean": steady["decode_rate"].get("mean"),
        "tps_err": metrics.relative_error(steady["decode_rate"].get("mean"), truth_tps),
        "itl_p50_err": metrics.relative_error(steady["itl"].get("p50"), 1.0 / truth_tps),
        "load_time_ms": _ms(cold["load_time"].get("max")),
        "load_time_err": metrics.relative_error(cold["load_time"].get("max"), args.load_ms / 1000.0),
        "tokens_received": tokens,
        "cpu_s_total": cpu_s,
        # With --processes the workers are forked by the master and not in its rusage: only the steady figure counts.
        "cpu_s_per_1k_tokens": cpu_s / tokens * 1000.0 if tokens and not processes else None,
        "steady_cpu_s_per_1k_tokens": steady_cpu / window_tokens * 1000.0 if window_tokens else None,
        "generator_cpu_busy_max": max((p["cpu_busy_share"] for p in trust["processes"].values()), default=None),
        "loop_lag_mean_ms": max((p["lag_mean_ms"] for p in trust["processes"].values()), default=None),
        "runq_share": max((p.get("runq_mean") or 0.0 for p in trust["processes"].values()), default=None),
        "trusted": trust["trusted"],
        "trust_reasons": trust["reasons"],
        "elapsed_s": elapsed,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000.0


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _num3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def markdown_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The table for docs/LOADTESTING.md."""
    lines = [
        f"Truth: TTFT {args.ttft_ms:g} ms, {args.tokens_per_second:g} tokens/s per stream, model load "
        f"{args.load_ms:g} ms, {args.num_predict} tokens per answer; server on CPU {args.server_cpus}, generator "
        f"on CPU {args.generator_cpus}; {args.duration} per level, ramp {args.ramp_s:g} s (excluded, plus one "
        "median request).",
        "",
        "| streams | processes | steady window | requests | TTFT mean (err) | TTFT p95 (err) | TTFT err vs server "
        "| reference probe TTFT (generator err vs probe) | tokens/s (err) | ITL p50 err | load time | "
        "CPU-s / 1k tokens (steady) | loop lag mean | waiting for CPU | trusted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r or r.get("ttft_mean_ms") is None:
            reason = r.get("error") or "no steady-state request: " + "; ".join(r.get("trust_reasons") or [])
            lines.append(f"| {r['streams']} | {r['processes']} | {reason} ||||||||||||")
            continue
        cpu = r["cpu_s_per_1k_tokens"]
        steady_cpu = r["steady_cpu_s_per_1k_tokens"]
        trusted = "yes" if r["trusted"] else "**no**: " + "; ".join(x.split(":")[0] for x in r["trust_reasons"])
        lines.append(
            f"| {r['streams']} | {r['processes']} | {r['window_s']:.0f} s | {r['requests']} | "
            f"{r['ttft_mean_ms']:.1f} ms ({_pct(r['ttft_mean_err'])}) | {r['ttft_p95_ms']:.1f} ms "
            f"({_pct(r['ttft_p95_err'])}) | {_pct(r['ttft_mean_err_vs_server'])} | "
            f"{_num(r.get('probe_ttft_mean_ms'))} ms ({_pct(r.get('ttft_mean_err_vs_probe'))}) | "
            f"{r['decode_tps_mean']:.2f} "
            f"({_pct(r['tps_err'])}) | {_pct(r['itl_p50_err'])} | "
            f"{(r['load_time_ms'] or 0):.0f} ms ({_pct(r['load_time_err'])}) | "
            f"{_num3(cpu)} ({_num3(steady_cpu)}) | {_num(r['loop_lag_mean_ms'])} ms | {_share(r.get('runq_share'))} | "
            f"{trusted} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="10,50,100,200,1000", help="concurrency levels")
    parser.add_argument("--processes-from", type=int, default=500, help="use --processes N at or above this")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for the large levels")
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--ramp-s", type=float, default=10.0)
    parser.add_argument("--ttft-ms", type=float, default=250.0)
    parser.add_argument("--tokens-per-second", type=float, default=20.0)
    parser.add_argument("--load-ms", type=float, default=2000.0)
    parser.add_argument("--num-predict", type=int, default=64)
    parser.add_argument("--think-time", type=float, default=0.25)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--generator-cpus", default="1")
    parser.add_argument("--workdir", default="", help="keep every level's reports here (default: a temp dir)")
    parser.add_argument("--json", default="", help="write all results here")
    parser.add_argument("--markdown", default="", help="write the table here")
    args = parser.parse_args(argv)
    try:
        levels = [int(x) for x in args.streams.split(",") if x.strip()]
    except ValueError:
        print(f"loadtest.benchmark: error: --streams must be numbers like 10,50,200, got {args.streams!r}")
        return 2
    _raise_nofile()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="loadtest-benchmark-"))
    rows = []
    header = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "loadavg_start": os.getloadavg(),
    }
    print(json.dumps(header), file=sys.stderr)
    for streams in levels:
        processes = args.processes if streams >= args.processes_from else 0
        row = run_level(streams, processes, args, workdir)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    header["loadavg_end"] = os.getloadavg()
    table = markdown_table(rows, args)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "args": vars(args), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
