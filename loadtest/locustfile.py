"""Locust scenarios for Ollama, its OpenAI-compatible API and Open-WebUI.

Run through the runner (``python -m loadtest.run --help``) or directly::

    locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:11434 -u 20 -t 60s \
        --model llama3.2 --summary-json reports/summary.json OllamaChatUser

User classes (scenarios): OllamaChatUser (chat), OllamaGenerateUser (generate), OllamaEmbedUser (embed),
OllamaTagsUser (tags), OllamaShowUser (show), OpenAIChatUser (openai-chat), OpenWebUIChatUser (webui-chat).
The one load shape, ConfiguredShape, follows ``--shape`` (constant, step, spike, soak, poisson).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.pool
import requests
from locust import LoadTestShape, User, events, task
from locust import runners as locust_runners
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest import clients, prompts, recorder, slo
from loadtest.shapes import SHAPES, Stage, stage_at, stages_from_options

log = logging.getLogger("loadtest")

# Locust drops a worker that misses 3 heartbeats (3 s). An overloaded worker stalls longer than that, and the run
# would end without data; keep it for 10 s so the run finishes and the trust verdict says what happened.
locust_runners.HEARTBEAT_LIVENESS = max(locust_runners.HEARTBEAT_LIVENESS, 10)

MSG_SAMPLES = "loadtest_samples"
MSG_EXHAUSTED = "loadtest_exhausted"
FLUSH_INTERVAL = 2.0


class _State:
    """Process-wide state (one per Locust process)."""

    def __init__(self) -> None:
        self.recorder: recorder.ProcessRecorder | None = None
        self.aggregator: recorder.RunAggregator | None = None
        self.greenlets: list[gevent.Greenlet] = []
        self.request_limit: int | None = None
        self.exhausted = False
        self.exhausted_workers: set[str] = set()
        self.prompt_set: prompts.PromptSet | None = None
        self.dropped = 0


STATE = _State()


# --------------------------------------------------------------------------------------------- options
@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("Ollama load test")
    group.add_argument("--model", default=os.environ.get("OLLAMA_MODEL", "llama3.2"), help="Model to load-test")
    group.add_argument("--embed-model", default="", help="Model for the embed scenario (default: --model)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OLLAMA_API_KEY", ""),
        is_secret=True,
        help="Bearer token (Ollama behind the platform's proxy, or an Open-WebUI API key); env OLLAMA_API_KEY",
    )
    group.add_argument("--webui-path", default="/api/chat/completions", help="Open-WebUI chat completions path")
    group.add_argument("--prompt-size", default="mix", choices=["short", "medium", "long", "mix"])
    group.add_argument("--prompts-file", default="", help="Prompt set JSON (default: loadtest/prompts.json)")
    group.add_argument("--num-predict", type=int, default=128, help="Output tokens to ask for (num_predict/max_tokens)")
    group.add_argument("--temperature", type=float, default=0.7)
    group.add_argument("--think-time", type=float, default=0.25, help="Max random wait between requests (s)")
    group.add_argument("--request-timeout", type=float, default=120.0, help="Deadline of one request (s)")
    group.add_argument(
        "--max-requests", type=int, default=0, help="Stop after this many requests (per worker in multi-machine mode)"
    )
    group.add_argument("--shape", default="constant", choices=list(SHAPES))
    group.add_argument("--step-users", type=int, default=0, help="step: users added per step (default users/5)")
    group.add_argument("--step-time", default="30s", help="step: length of each step")
    group.add_argument("--spike-users", type=int, default=0, help="spike: peak users (default 5x --users)")
    group.add_argument("--spike-at", default="", help="spike: when the spike starts (default run-time/3)")
    group.add_argument("--spike-time", default="", help="spike: how long it lasts (default run-time/3)")
    group.add_argument("--arrival-rate", type=float, default=0.0, help="poisson: requests per second (open loop)")
    group.add_argument("--arrival-users", type=int, default=1, help="poisson: arrival generators (>= processes)")
    group.add_argument("--max-inflight", type=int, default=1000, help="poisson: in-flight cap per generator")
    group.add_argument("--slo-file", default="", help="SLO profiles YAML (default: loadtest/slo.yaml)")
    group.add_argument("--slo-profile", default="local", help="SLO profile (an environment name)")
    group.add_argument("--summary-json", default="", help="Write the JSON summary here")
    group.add_argument("--samples-file", default="", help="Write every request sample here (JSON lines)")
    group.add_argument("--settle", default="auto", help="Seconds skipped after each ramp (auto: median e2e)")
    group.add_argument("--cold-load-ms", type=float, default=250.0, help="load_duration above this is a cold load")
    group.add_argument("--fail-untrusted", action="store_true", help="Exit 3 when the generator was overloaded")
    group.add_argument("--trust-cpu", type=float, default=0.9, help="CPU share of a core counted as CPU-bound")
    group.add_argument("--trust-lag-ms", type=float, default=10.0, help="Largest tolerated mean event-loop lag")
    group.add_argument("--trust-lag-max-ms", type=float, default=100.0, help="Largest tolerated p95 of 1-s worst lag")
    group.add_argument(
        "--trust-runq", type=float, default=0.2, help="Largest tolerated share of time waiting for a CPU"
    )
    group.add_argument("--scenario-label", default="", help="Scenario name recorded in the summary")
    group.add_argument("--environment-name", default="", help="Environment recorded in the summary")


def _opts(environment: Any) -> Any:
    return environment.parsed_options


# --------------------------------------------------------------------------------------------- shape
class ConfiguredShape(LoadTestShape):
    """The shape selected with ``--shape`` (constant, step, spike, soak, poisson); ends the run when it is over."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._stages: list[Stage] | None = None

    def tick(self) -> tuple[int, float] | None:
        if self._stages is None:
            self._stages = stages_from_options(self.runner.environment.parsed_options)
        stage = stage_at(self._stages, self.get_run_time())
        if stage is None:
            return None
        return stage.users, stage.spawn_rate


# --------------------------------------------------------------------------------------------- users
class LLMUser(User):
    """Common plumbing: a requests session per user, bearer token, jittered think time, open-loop mode."""

    abstract = True
    method = "POST"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        opts = _opts(environment)
        self.opts = opts
        self.base = (self.host or "").rstrip("/")
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(10, opts.max_inflight))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.headers = {"Authorization": f"Bearer {opts.api_key}"} if opts.api_key else {}
        self.rng = random.Random()
        self.timeout = float(opts.request_timeout)
        self.pool: gevent.pool.Pool | None = None

    def wait_time(self) -> float:
        # Jitter keeps users from falling into lock-step (all first tokens at once).
        return self.rng.uniform(0.0, max(0.0, float(self.opts.think_time)))

    def prompt(self) -> str:
        if STATE.prompt_set is None:
            STATE.prompt_set = prompts.load(self.opts.prompts_file or None)
        return STATE.prompt_set.pick(self.opts.prompt_size, self.rng)

    def options(self) -> dict[str, Any]:
        return {"num_predict": int(self.opts.num_predict), "temperature": float(self.opts.temperature)}

    def request(self) -> dict[str, Any]:
        raise NotImplementedError

    def one(self) -> None:
        if not _take_request_permit(self.environment):
            gevent.sleep(1.0)
            return
        sample = self.request()
        _record(self.environment, sample, self.method)

    @task
    def llm_request(self) -> None:
        if _opts(self.environment).shape == "poisson":
            self.open_loop()
        else:
            self.one()

    def open_loop(self) -> None:
        """Poisson arrivals: each generator issues requests at exponential gaps without waiting for answers."""
        opts = self.opts
        generators = max(1, int(opts.arrival_users))
        rate = float(opts.arrival_rate) / generators
        if rate <= 0:
            log.error("--shape poisson needs --arrival-rate > 0 (requests per second)")
            raise StopUser()
        self.pool = gevent.pool.Pool(max(1, int(opts.max_inflight)))
        due = time.perf_counter()
        while self._state != "stopping" and not STATE.exhausted:
            due += self.rng.expovariate(rate)
            gevent.sleep(max(0.0, due - time.perf_counter()))
            if self.pool.full():
                STATE.dropped += 1
                continue
            self.pool.spawn(self.one)
        self.pool.join(timeout=self.timeout)

    def on_stop(self) -> None:
        if self.pool is not None:
            self.pool.kill(block=False)
        self.session.close()


class OllamaChatUser(LLMUser):
    """Streaming chat: POST /api/chat."""

    weight = 6

    def request(self) -> dict[str, Any]:
        messages = [{"role": "user", "content": self.prompt()}]
        return clients.ollama_chat(
            self.session, self.base, self.opts.model, messages, self.options(), self.headers, self.timeout
        )


class OllamaGenerateUser(LLMUser):
    """Streaming completion: POST /api/generate."""

    weight = 2

    def request(self) -> dict[str, Any]:
        return clients.ollama_generate(
            self.session, self.base, self.opts.model, self.prompt(), self.options(), self.headers, self.timeout
        )


class OllamaEmbedUser(LLMUser):
    """Embeddings: POST /api/embed."""

    weight = 1

    def request(self) -> dict[str, Any]:
        model = self.opts.embed_model or self.opts.model
        return clients.ollama_embed(self.session, self.base, model, self.prompt(), self.headers, self.timeout)


class OllamaTagsUser(LLMUser):
    """Model listing: GET /api/tags."""

    weight = 1
    method = "GET"

    def request(self) -> dict[str, Any]:
        return clients.ollama_tags(self.session, self.base, self.headers, self.timeout)


class OllamaShowUser(LLMUser):
    """Model details: POST /api/show."""

    weight = 1

    def request(self) -> dict[str, Any]:
        return clients.ollama_show(self.session, self.base, self.opts.model, self.headers, self.timeout)


class OpenAIChatUser(LLMUser):
    """OpenAI-compatible streaming chat: POST /v1/chat/completions."""

    weight = 1

    def request(self) -> dict[str, Any]:
        messages = [{"role": "user", "content": self.prompt()}]
        return clients.openai_chat(
            self.session,
            self.base + "/v1/chat/completions",
            self.opts.model,
            messages,
            int(self.opts.num_predict),
            self.headers,
            self.timeout,
        )


class OpenWebUIChatUser(LLMUser):
    """Chat through Open-WebUI with an API key: POST /api/chat/completions (OpenAI-style SSE)."""

    weight = 1

    def on_start(self) -> None:
        if not self.opts.api_key:
            log.error("webui-chat needs an Open-WebUI API key: pass --api-key or set OLLAMA_API_KEY")
            raise StopUser()

    def request(self) -> dict[str, Any]:
        messages = [{"role": "user", "content": self.prompt()}]
        return clients.openai_chat(
            self.session,
            self.base + self.opts.webui_path,
            self.opts.model,
            messages,
            int(self.opts.num_predict),
            self.headers,
            self.timeout,
            scenario="webui-chat",
            name=self.opts.webui_path,
        )


# --------------------------------------------------------------------------------------------- recording
class LLMRequestError(Exception):
    """Failure entry in Locust's statistics; the message starts with the error kind."""


def _record(environment: Any, sample: dict[str, Any], method: str) -> None:
    rec = STATE.recorder
    fire = environment.events.request.fire
    exc = None if sample["ok"] else LLMRequestError(f"{sample['error']}: {sample['message']}")
    fire(
        request_type=method,
        name=sample["name"],
        response_time=sample["e2e"] * 1000.0,
        response_length=sample["bytes"],
        exception=exc,
        context={},
    )
    if sample["ok"] and sample["ttft"] is not None:
        fire(
            request_type="TTFT",
            name=sample["name"],
            response_time=sample["ttft"] * 1000.0,
            response_length=0,
            exception=None,
            context={},
        )
    if rec is not None:
        rec.add(sample)


def _take_request_permit(environment: Any) -> bool:
    rec = STATE.recorder
    if rec is None or STATE.request_limit is None:
        return True
    if rec.requests_started >= STATE.request_limit:
        if not STATE.exhausted:
            STATE.exhausted = True
            runner = environment.runner
            if isinstance(runner, WorkerRunner):
                runner.send_message(MSG_EXHAUSTED, {"worker": runner.client_id})
            else:
                gevent.spawn(_stop_run, environment, "request limit reached")
        return False
    rec.requests_started += 1
    return True


def _stop_run(environment: Any, reason: str) -> None:
    log.info("Stopping the run: %s", reason)
    environment.runner.stop()


# --------------------------------------------------------------------------------------------- lifecycle
@events.init.add_listener
def _on_init(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    opts = environment.parsed_options
    if _controls_run(runner) and opts is not None:
        # Fail before any load on options the run would only trip over at the end.
        try:
            slo.get_profile(slo.load_profiles(opts.slo_file or None), opts.slo_profile)
            prompts.load(opts.prompts_file or None)
        except (slo.SLOError, ValueError) as exc:
            log.error("loadtest: %s", exc)
            raise SystemExit(2) from exc
    if isinstance(runner, MasterRunner):
        runner.register_message(MSG_SAMPLES, _on_samples_message)
        runner.register_message(MSG_EXHAUSTED, _on_exhausted_message)


def _on_samples_message(environment: Any, msg: Any, **_kwargs: Any) -> None:
    if STATE.aggregator is not None:
        STATE.aggregator.ingest(msg.data)


def _on_exhausted_message(environment: Any, msg: Any, **_kwargs: Any) -> None:
    STATE.exhausted_workers.add(str(msg.data.get("worker")))
    if len(STATE.exhausted_workers) >= max(1, environment.runner.worker_count):
        gevent.spawn(_stop_run, environment, "request limit reached on every worker")


def _generates_load(runner: Any) -> bool:
    return isinstance(runner, WorkerRunner | LocalRunner)


def _controls_run(runner: Any) -> bool:
    return isinstance(runner, MasterRunner | LocalRunner)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    opts = _opts(environment)
    STATE.exhausted = False
    STATE.exhausted_workers = set()
    STATE.dropped = 0
    if _controls_run(runner):
        STATE.aggregator = recorder.RunAggregator()
        STATE.aggregator.mark(0, "spawning")
        STATE.greenlets.append(gevent.spawn(_timeline_loop, environment))
    if _generates_load(runner):
        process_id = f"worker-{getattr(runner, 'worker_index', 0)}" if isinstance(runner, WorkerRunner) else "local"
        STATE.recorder = recorder.ProcessRecorder(process_id)
        limit = int(opts.max_requests or 0)
        processes = int(getattr(opts, "processes", 0) or 0)
        if limit and isinstance(runner, WorkerRunner) and processes > 0:
            limit = math.ceil(limit / processes)
        STATE.request_limit = limit or None
        STATE.greenlets.append(gevent.spawn(recorder.health_probe, STATE.recorder, gevent.sleep))
        if isinstance(runner, WorkerRunner):
            STATE.greenlets.append(gevent.spawn(_flush_loop, environment))


@events.spawning_complete.add_listener
def _on_spawning_complete(user_count: int, **_kwargs: Any) -> None:
    if STATE.aggregator is not None:
        STATE.aggregator.mark(user_count, "running")


def _timeline_loop(environment: Any) -> None:
    runner = environment.runner
    while True:
        if STATE.aggregator is not None:
            STATE.aggregator.mark(runner.user_count, runner.state)
        gevent.sleep(0.5)


def _flush_loop(environment: Any) -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL)
        _flush(environment)


def _flush(environment: Any) -> None:
    rec = STATE.recorder
    if rec is None:
        return
    payload = rec.drain()
    payload["dropped"] = STATE.dropped
    STATE.dropped = 0
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message(MSG_SAMPLES, payload)
    elif STATE.aggregator is not None:
        STATE.aggregator.ingest(payload)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_kwargs: Any) -> None:
    agg = STATE.aggregator
    if agg is not None and _controls_run(environment.runner):
        agg.mark(environment.runner.user_count, "stopping")
        agg.stopped = time.time()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    for greenlet in STATE.greenlets:
        greenlet.kill(block=False)
    STATE.greenlets = []
    if _generates_load(runner):
        _flush(environment)
    if _controls_run(runner):
        try:
            _write_summary(environment)
        except Exception:  # a failed report must not hide the run's own exit status
            log.exception("Could not build the load-test summary")
            environment.process_exit_code = 2


def _write_summary(environment: Any) -> None:
    opts = _opts(environment)
    agg = STATE.aggregator
    if agg is None:
        return
    profiles = slo.load_profiles(opts.slo_file or None)
    profile = slo.get_profile(profiles, opts.slo_profile)
    users = [cls.__name__ for cls in environment.user_classes]
    config = {
        "host": environment.host,
        "scenario": opts.scenario_label or ",".join(users),
        "user_classes": users,
        "environment": opts.environment_name or opts.slo_profile,
        "shape": opts.shape,
        "users": opts.num_users,
        "spawn_rate": opts.spawn_rate,
        "run_time_s": opts.run_time,
        "arrival_rate": opts.arrival_rate if opts.shape == "poisson" else None,
        "processes": getattr(opts, "processes", None),
        "model": opts.model,
        "prompt_size": opts.prompt_size,
        "num_predict": opts.num_predict,
        "max_requests": opts.max_requests,
        "think_time_s": opts.think_time,
    }
    trust_limits = {
        "cpu_limit": opts.trust_cpu,
        "lag_mean_limit": opts.trust_lag_ms / 1000.0,
        "lag_max_limit": opts.trust_lag_max_ms / 1000.0,
        "runq_limit": opts.trust_runq,
    }
    summary = recorder.build_summary(
        agg,
        config,
        profile.get("goodput") or {},
        settle=opts.settle if opts.settle == "auto" else float(opts.settle),
        cold_load_s=opts.cold_load_ms / 1000.0,
        trust_limits=trust_limits,
    )
    if agg.dropped:
        summary["trust"]["trusted"] = False
        summary["trust"]["reasons"].append(
            f"{agg.dropped} open-loop arrivals were dropped at --max-inflight: the offered rate was not delivered"
        )
    code = recorder.finalize(summary, opts.slo_profile, profile, opts.fail_untrusted)
    environment.process_exit_code = code
    if opts.summary_json:
        path = Path(opts.summary_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if opts.samples_file:
        path = Path(opts.samples_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as handle:
            for sample in sorted(agg.samples, key=lambda s: s["t"]):
                handle.write(json.dumps(sample) + "\n")
    steady = summary["steady"]
    log.info(
        "loadtest: %s | steady window %.1f s, %d requests | TTFT p50 %s p95 %s | TPOT p50 %s | %.1f tok/s | %s",
        summary["verdict"]["text"],
        summary["window"]["duration_s"],
        steady["requests"],
        _ms(steady["ttft"].get("p50")),
        _ms(steady["ttft"].get("p95")),
        _ms(steady["tpot"].get("p50")),
        steady["output_token_throughput"],
        "; ".join(summary["trust"]["reasons"]) or "generator healthy",
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"
