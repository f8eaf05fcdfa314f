"""Run a bounded Locust load test against Ollama or Open-WebUI and write the reports.

    python -m loadtest.run --host http://127.0.0.1:11434 --scenario chat --users 20 --duration 60s \
        --model llama3.2 --environment dev --report-dir reports/dev-chat

Exit status: 0 all SLOs met, 1 an SLO (or the regression limit / scale-out limit) failed, 2 bad input or an
unusable target (nothing was loaded), 3 the generator could not measure reliably (with --fail-untrusted).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from loadtest import preflight, slo
from loadtest.shapes import SHAPES, build_stages, parse_duration, total_duration

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

SCENARIOS: dict[str, tuple[str, ...]] = {
    "chat": ("OllamaChatUser",),
    "generate": ("OllamaGenerateUser",),
    "embed": ("OllamaEmbedUser",),
    "tags": ("OllamaTagsUser",),
    "show": ("OllamaShowUser",),
    "openai-chat": ("OpenAIChatUser",),
    "webui-chat": ("OpenWebUIChatUser",),
    "mixed": ("OllamaChatUser", "OllamaGenerateUser", "OllamaEmbedUser", "OllamaTagsUser", "OllamaShowUser"),
}
ENVIRONMENTS = ("local", "dev", "staging", "production")
MAX_DURATION_S = 24 * 3600.0
DEFAULT_MAX_REQUESTS = 100_000


class UsageError(Exception):
    """Bad input: the message names the problem and the fix."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.run",
        description="Bounded load test of an Ollama / Open-WebUI endpoint with LLM metrics and an SLO gate.",
    )
    p.add_argument("--host", required=True, help="Base URL of Ollama (or its bearer proxy) or of Open-WebUI")
    p.add_argument("--scenario", default="chat", help=f"One of: {', '.join(SCENARIOS)}")
    p.add_argument("--model", default=os.environ.get("OLLAMA_MODEL", "llama3.2"))
    p.add_argument("--embed-model", default="", help="Model for embed requests (default --model)")
    p.add_argument("--api-key", default=None, help="Bearer token (default: $OLLAMA_API_KEY)")
    p.add_argument("--webui-path", default="", help="Open-WebUI chat path (default /api/chat/completions)")
    p.add_argument("--users", type=int, default=10, help="Concurrent users (peak for step, baseline for spike)")
    p.add_argument("--spawn-rate", type=float, default=None, help="Users started per second (default users/10)")
    p.add_argument("--duration", default="60s", help="Run time, e.g. 90s, 5m (not used by --shape step)")
    p.add_argument("--shape", default="constant", help=f"One of: {', '.join(SHAPES)}")
    p.add_argument("--step-users", type=int, default=0)
    p.add_argument("--step-time", default="30s")
    p.add_argument("--spike-users", type=int, default=0)
    p.add_argument("--spike-at", default="")
    p.add_argument("--spike-time", default="")
    p.add_argument("--arrival-rate", type=float, default=0.0, help="poisson: requests per second")
    p.add_argument("--max-inflight", type=int, default=1000, help="poisson: in-flight cap per generator")
    p.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS, help="Hard cap on requests (0: none)")
    p.add_argument("--processes", type=int, default=0, help="Locust worker processes on this machine (0: one process)")
    p.add_argument("--num-predict", type=int, default=128)
    p.add_argument("--prompt-size", default="mix", choices=["short", "medium", "long", "mix"])
    p.add_argument("--prompts-file", default="")
    p.add_argument("--think-time", type=float, default=0.25)
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--stop-timeout", type=float, default=None, help="Grace for in-flight requests at the end")
    p.add_argument("--settle", default="auto", help="Skipped after each ramp: a duration, or auto (median e2e)")
    p.add_argument("--environment", default="local", help=f"One of: {', '.join(ENVIRONMENTS)}")
    p.add_argument("--slo-file", default="", help="SLO profiles (default loadtest/slo.yaml)")
    p.add_argument("--slo-profile", default="", help="Profile in the SLO file (default: --environment)")
    p.add_argument("--report-dir", default="reports/loadtest", help="Where reports go")
    p.add_argument("--fail-untrusted", action="store_true", help="Exit 3 when the generator could not keep up")
    p.add_argument("--skip-preflight", action="store_true", help="Do not check host, token and model first")
    p.add_argument("--store", action="store_true", help="Store the summary in DynamoDB <prefix>-data-table")
    p.add_argument("--compare", action="store_true", help="Compare with the previous stored run")
    p.add_argument("--fail-on-regression", type=float, default=None, help="Exit 1 when a metric regressed > PCT %%")
    p.add_argument("--table", default="", help="DynamoDB table (default from --environment)")
    p.add_argument("--monitor", action="store_true", help="Read CloudWatch scaling over the run window")
    p.add_argument("--scale-out-limit", default="5m", help="Scale-out must complete within this (requirement 10.5)")
    p.add_argument("--region", default=None)
    p.add_argument("--verbose", action="store_true", help="Show Locust's log on the console")
    return p


def validate(args: argparse.Namespace) -> dict[str, Any]:
    """Check every input before anything runs; return derived values. Raise UsageError otherwise."""
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}: use one of {', '.join(SCENARIOS)}")
    if args.shape not in SHAPES:
        raise UsageError(f"unknown shape {args.shape!r}: use one of {', '.join(SHAPES)}")
    if args.environment not in ENVIRONMENTS:
        raise UsageError(f"unknown environment {args.environment!r}: use one of {', '.join(ENVIRONMENTS)}")
    url = urlparse(args.host)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(f"invalid --host {args.host!r}: give a base URL such as http://127.0.0.1:11434")
    if args.users < 1:
        raise UsageError("--users must be at least 1")
    if args.max_requests < 0:
        raise UsageError("--max-requests must be >= 0 (0 means no request cap; the duration still applies)")
    if args.processes < 0:
        raise UsageError("--processes must be >= 0")
    if args.shape == "poisson" and args.arrival_rate <= 0:
        raise UsageError("--shape poisson needs --arrival-rate > 0 (requests per second)")
    try:
        duration = parse_duration(args.duration)
        stages = build_stages(
            args.shape,
            args.users if args.shape != "poisson" else max(1, args.processes),
            duration=duration,
            spawn_rate=args.spawn_rate,
            step_users=args.step_users or None,
            step_time=parse_duration(args.step_time),
            spike_users=args.spike_users or None,
            spike_at=parse_duration(args.spike_at) if args.spike_at else None,
            spike_time=parse_duration(args.spike_time) if args.spike_time else None,
        )
        scale_limit = parse_duration(args.scale_out_limit)
        settle = "auto" if args.settle == "auto" else f"{parse_duration(args.settle):g}"
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    run_length = total_duration(stages)
    if run_length > MAX_DURATION_S:
        raise UsageError(f"the run would last {run_length:.0f} s: keep it under {MAX_DURATION_S:.0f} s")
    try:
        profiles = slo.load_profiles(args.slo_file or None)
        profile_name = args.slo_profile or args.environment
        slo.get_profile(profiles, profile_name)
    except slo.SLOError as exc:
        raise UsageError(str(exc)) from exc
    if args.fail_on_regression is not None and not args.compare:
        raise UsageError("--fail-on-regression needs --compare")
    return {
        "settle": settle,
        "spawn_rate": stages[0].spawn_rate,
        "duration": duration,
        "run_length": run_length,
        "profile": profile_name,
        "scale_limit": scale_limit,
        "host": args.host.rstrip("/"),
    }


def locust_command(args: argparse.Namespace, derived: dict[str, Any], report_dir: Path) -> list[str]:
    """The headless Locust command line for this run (the API key travels in the environment, not argv)."""
    stop_timeout = args.stop_timeout if args.stop_timeout is not None else min(args.request_timeout, 60.0)
    users = args.users
    arrival_users = max(1, args.processes)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        derived["host"],
        "-u",
        str(users if args.shape != "poisson" else arrival_users),
        "-t",
        f"{round(derived['duration'])}s",
        "--stop-timeout",
        f"{stop_timeout:g}",
        "--csv",
        str(report_dir / "locust"),
        "--html",
        str(report_dir / "locust.html"),
        "--logfile",
        str(report_dir / "locust.log"),
        "--summary-json",
        str(report_dir / "summary.json"),
        "--samples-file",
        str(report_dir / "samples.jsonl"),
        "--shape",
        args.shape,
        "--model",
        args.model,
        "--num-predict",
        str(args.num_predict),
        "--prompt-size",
        args.prompt_size,
        "--think-time",
        f"{args.think_time:g}",
        "--request-timeout",
        f"{args.request_timeout:g}",
        "--max-requests",
        str(args.max_requests),
        "--slo-profile",
        derived["profile"],
        "--scenario-label",
        args.scenario,
        "--environment-name",
        args.environment,
        "--step-time",
        args.step_time,
        "--arrival-users",
        str(arrival_users),
        "--max-inflight",
        str(args.max_inflight),
        "--settle",
        derived["settle"],
        "--exit-code-on-error",
        "0",
    ]
    cmd += ["-r", f"{derived['spawn_rate']:g}"]
    for flag, value in (
        ("--embed-model", args.embed_model),
        ("--prompts-file", args.prompts_file),
        ("--slo-file", args.slo_file),
        ("--spike-at", args.spike_at),
        ("--spike-time", args.spike_time),
    ):
        if value:
            cmd += [flag, value]
    for flag, number in (
        ("--step-users", args.step_users),
        ("--spike-users", args.spike_users),
        ("--arrival-rate", args.arrival_rate),
    ):
        if number:
            cmd += [flag, f"{number:g}"]
    if args.processes:
        cmd += ["--processes", str(args.processes)]
    if args.fail_untrusted:
        cmd.append("--fail-untrusted")
    if args.webui_path:
        cmd += ["--webui-path", args.webui_path]
    cmd += list(SCENARIOS[args.scenario])
    return cmd


def run_preflight(args: argparse.Namespace, derived: dict[str, Any], api_key: str) -> dict[str, Any]:
    host = derived["host"]
    if args.scenario == "webui-chat":
        return preflight.check_webui(host, args.model, api_key)
    needs_model = args.scenario != "tags"
    found = preflight.check_ollama(host, args.model if needs_model else None, api_key)
    if args.scenario in ("embed", "mixed") and args.embed_model:
        preflight.check_ollama(host, args.embed_model, api_key)
    return found


def _interrupted(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_locust(cmd: list[str], env: dict[str, str], limit_s: float, grace_s: float, verbose: bool) -> int:
    """Run Locust in its own process group. It is stopped (SIGINT, then SIGKILL after ``grace_s`` more seconds) when
    it outlives ``limit_s`` or when this program is interrupted (SIGINT or SIGTERM): an interrupted run ends within
    ``grace_s`` even if a request hangs. While it runs both signals are caught here, so Locust starts with their
    defaults (exec resets a caught signal) even when this program inherited SIGINT ignored, as a background job does:
    a shape run of Locust stops gracefully on SIGINT only."""
    out = None if verbose else subprocess.DEVNULL
    previous = {signum: signal.signal(signum, _interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )  # fmt: skip
        try:
            return proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            print(f"loadtest: Locust ran past its {limit_s:.0f} s bound; stopping it", file=sys.stderr)
        except KeyboardInterrupt:
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    os.killpg(proc.pid, signal.SIGINT)  # Locust stops its users and writes its summary
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        print(f"loadtest: Locust did not stop within {grace_s:.0f} s of the interrupt; killed it", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api_key = args.api_key if args.api_key is not None else os.environ.get("OLLAMA_API_KEY", "")
    try:
        derived = validate(args)
        if not args.skip_preflight:
            run_preflight(args, derived, api_key)
    except (UsageError, preflight.PreflightError) as exc:
        print(f"loadtest: error: {exc}", file=sys.stderr)
        return 2
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    summary_path = report_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["OLLAMA_API_KEY"] = api_key
    env["PYTHONPATH"] = str(LOCUSTFILE.parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = locust_command(args, derived, report_dir)
    stop_timeout = args.stop_timeout if args.stop_timeout is not None else min(args.request_timeout, 60.0)
    bound = derived["run_length"] + stop_timeout + 90.0
    print(
        f"loadtest: {args.scenario} x {args.users} users ({args.shape}, {derived['run_length']:.0f} s, "
        f"max {args.max_requests or 'unlimited'} requests) against {derived['host']}",
        file=sys.stderr,
    )
    started = time.time()
    code = run_locust(cmd, env, bound, stop_timeout + 30.0, args.verbose)
    if not summary_path.exists():
        print(
            f"loadtest: error: Locust exited with {code} and wrote no summary; last log lines:\n"
            f"{_tail(report_dir / 'locust.log')}",
            file=sys.stderr,
        )
        return 2
    summary = json.loads(summary_path.read_text())
    exit_code = int(summary["verdict"]["exit_code"])
    exit_code = max(exit_code, _post_run(args, derived, summary, started))
    summary["verdict"]["exit_code"] = exit_code
    summary_path.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    from loadtest import report

    md = report.write_report(summary, report_dir)
    print(report.console_summary(summary), file=sys.stderr)
    print(f"loadtest: report {md}", file=sys.stderr)
    return exit_code


def _post_run(args: argparse.Namespace, derived: dict[str, Any], summary: dict[str, Any], started: float) -> int:
    """DynamoDB store/compare and the CloudWatch scaling check; returns 1 when one of them fails the run."""
    code = 0
    if args.store or args.compare:
        from loadtest import store

        try:
            table = args.table or store.table_name(args.environment)
            if args.compare:
                previous = store.previous_summary(table, summary, region=args.region)
                summary["comparison"] = store.compare(previous, summary) if previous else None
                regressed = store.regressions(summary["comparison"], args.fail_on_regression)
                if regressed and args.fail_on_regression is not None:
                    code = 1
                    summary["verdict"]["text"] += " (REGRESSION)"
            if args.store:
                summary["stored"] = store.put_summary(table, summary, region=args.region)
        except store.StoreError as exc:
            print(f"loadtest: error: {exc}", file=sys.stderr)
            code = max(code, 2)
    if args.monitor:
        from loadtest import monitor

        try:
            result = monitor.check_scaling(
                args.environment,
                start=started,
                end=time.time(),
                limit_s=derived["scale_limit"],
                region=args.region,
            )
            summary["scaling"] = result
            if result["verdict"] == "fail":
                code = 1
        except monitor.MonitorError as exc:
            print(f"loadtest: error: {exc}", file=sys.stderr)
            code = max(code, 2)
    return code


if __name__ == "__main__":
    sys.exit(main())
