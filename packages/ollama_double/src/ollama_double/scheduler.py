"""Scheduling like Ollama's: loaded models, parallel slots, the queue limit and keep-alive; then token emission.

``Scheduler`` owns the loaded models (``Runner``): a request waits for its model's load and for one of
``OLLAMA_NUM_PARALLEL`` slots, counted against ``OLLAMA_MAX_QUEUE``; an idle model unloads after its keep-alive.
``Engine`` runs one generation on a slot: tokens leave on absolute deadlines (``loop.time()``), so lateness never
accumulates, and the reported durations are measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from . import models as m
from .generation import Plan
from .protocol import ApiError, keep_alive_of, ns
from .transport import ClientGone, Conn

QUEUE_FULL = "server busy, please try again.  maximum pending requests exceeded"
FAR_FUTURE_S = 292 * 365 * 24 * 3600  # Go's time.Now().Add(math.MaxInt64): keep_alive < 0 never expires


class QueueFull(Exception):
    pass


class Runner:
    def __init__(self, model: m.StoredModel, cfg: Any, loop: asyncio.AbstractEventLoop, num_ctx: int | None) -> None:
        self.model = model
        self.ready: asyncio.Future[None] = loop.create_future()
        self.sem = asyncio.Semaphore(cfg.num_parallel)
        self.refs = 0
        self.session_ns: int | None = cfg.keep_alive_ns
        self.expires_at = time.time() + FAR_FUTURE_S
        self.timer: asyncio.TimerHandle | None = None
        self.context_length = min(num_ctx or cfg.context_length, model.spec.context_length)
        self.unloaded = False

    @property
    def vram_size(self) -> int:
        spec = self.model.spec
        return spec.size + self.context_length * spec.embedding_length * spec.block_count // 4


class Scheduler:
    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.runners: dict[str, Runner] = {}
        self.pending = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def _set_expiry(self, runner: Runner) -> None:
        if runner.session_ns is None:
            runner.expires_at = time.time() + FAR_FUTURE_S
        else:
            runner.expires_at = time.time() + runner.session_ns / 1e9

    async def _load(self, runner: Runner) -> None:
        await asyncio.sleep(self.cfg.load_ms / 1000.0)
        if not runner.ready.done():
            runner.ready.set_result(None)

    def _evict_for(self, key: str) -> None:
        loaded = [r for k, r in self.runners.items() if k != key]
        if len(loaded) < self.cfg.max_loaded_models:
            return
        idle = [r for r in loaded if r.refs == 0]
        if idle:
            self._unload(min(idle, key=lambda r: r.expires_at))

    async def acquire(
        self, model: m.StoredModel, keep_alive_given: bool, keep_alive_ns: int | None, num_ctx: int | None
    ) -> tuple[Runner, float]:
        """Wait for the model to be loaded and for a free slot; returns (runner, time the model was ready)."""
        if self.pending >= self.cfg.max_queue:
            raise QueueFull
        self.pending += 1
        runner = None
        try:
            key = model.name
            runner = self.runners.get(key)
            if runner is None or runner.unloaded:
                self._evict_for(key)
                runner = Runner(model, self.cfg, self.loop, num_ctx)
                self.runners[key] = runner
                self.loop.create_task(self._load(runner))
            runner.refs += 1
            if runner.timer is not None:
                runner.timer.cancel()
                runner.timer = None
            if keep_alive_given:
                runner.session_ns = keep_alive_ns
            self._set_expiry(runner)
            if not runner.ready.done():
                await asyncio.shield(runner.ready)
            loaded_at = self.loop.time()
            await runner.sem.acquire()
        except BaseException:
            if runner is not None:
                runner.refs -= 1
                self._idle(runner)
            raise
        finally:
            self.pending -= 1
        return runner, loaded_at

    def release(self, runner: Runner) -> None:
        runner.sem.release()
        runner.refs -= 1
        self._idle(runner)

    def _idle(self, runner: Runner) -> None:
        if runner.refs > 0 or runner.unloaded:
            return
        self._set_expiry(runner)
        if runner.session_ns == 0:
            self._unload(runner)
        elif runner.session_ns is not None:
            runner.timer = self.loop.call_later(runner.session_ns / 1e9, self._unload, runner)

    def _unload(self, runner: Runner) -> None:
        if runner.refs > 0:
            return
        runner.unloaded = True
        if runner.timer is not None:
            runner.timer.cancel()
            runner.timer = None
        if self.runners.get(runner.model.name) is runner:
            del self.runners[runner.model.name]

    def expire(self, name: str) -> None:
        runner = self.runners.get(name)
        if runner is None:
            return
        runner.session_ns = 0
        if runner.refs == 0:
            self._unload(runner)

    def loaded(self) -> list[Runner]:
        return [r for r in self.runners.values() if r.ready.done() and not r.unloaded]


class Engine:
    """Runs requests on the scheduler's slots: a generation's tokens, or a load alone."""

    def __init__(self, cfg: Any, sched: Scheduler) -> None:
        self.cfg = cfg
        self.sched = sched
        self.interval = 1.0 / cfg.tokens_per_second if cfg.tokens_per_second > 0 else 0.0
        self.ttft = cfg.ttft_ms / 1000.0
        self.active_streams = 0

    async def run(
        self,
        conn: Conn,
        model: m.StoredModel,
        body: dict[str, Any],
        plan: Plan,
        on_token: Callable[[int, int], None] | None,
    ) -> dict[str, int]:
        """Schedule, then emit ``plan.tokens`` against absolute deadlines; returns the metrics in nanoseconds."""
        loop = asyncio.get_running_loop()
        given, keep_ns = keep_alive_of(body)
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        num_ctx = options.get("num_ctx") if isinstance(options.get("num_ctx"), int) else None
        try:
            runner, loaded_at = await self.schedule(conn, model, given, keep_ns, num_ctx)
        except QueueFull:
            raise ApiError(503, QUEUE_FULL) from None
        self.active_streams += 1
        try:
            start = loop.time()
            prompt_eval = self.ttft
            if self.cfg.prompt_tokens_per_second > 0:
                prompt_eval += plan.prompt_tokens / self.cfg.prompt_tokens_per_second
            t_first, t_end = await self.emit(conn, plan.tokens, start + prompt_eval, on_token)
        finally:
            self.active_streams -= 1
            self.sched.release(runner)
        return {
            "total_duration": ns(t_end - conn.req.t0),
            "load_duration": ns(loaded_at - conn.req.t0),
            "prompt_eval_count": plan.prompt_tokens,
            "prompt_eval_duration": ns(t_first - start),
            "eval_count": len(plan.tokens),
            "eval_duration": ns(t_end - t_first),
        }

    async def schedule(
        self, conn: Conn, model: m.StoredModel, given: bool, keep_ns: int | None, num_ctx: int | None
    ) -> tuple[Runner, float]:
        """``Scheduler.acquire``, abandoned when the client goes away while waiting (as Ollama cancels it)."""
        task = asyncio.ensure_future(self.sched.acquire(model, given, keep_ns, num_ctx))
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if conn.gone:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, QueueFull):
                    await task
                if task.cancelled() or task.exception() is not None:
                    raise ClientGone
                self.sched.release(task.result()[0])
                raise ClientGone

    def emit(
        self, conn: Conn, tokens: list[int], first_deadline: float, on_token: Callable[[int, int], None] | None
    ) -> asyncio.Future[tuple[float, float]]:
        """Token i goes out at ``first_deadline + i / rate``, the end at ``first_deadline + n / rate``.

        Driven by timer callbacks on absolute deadlines (no coroutine per token): lateness of one token never
        shifts the next one, and a thousand concurrent streams cost one timer each. Resolves to the loop times
        (first token written, end reached).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[float, float]] = loop.create_future()
        interval = self.interval
        n = len(tokens)
        state = {"i": 0, "first": 0.0}

        def fail(exc: BaseException) -> None:
            if not done.done():
                done.set_exception(exc)

        def finish() -> None:
            if done.done():
                return
            if conn.gone:
                fail(ClientGone())
                return
            t_end = loop.time()
            done.set_result((state["first"] or t_end, t_end))

        def step() -> None:
            if done.done():
                return
            i = state["i"]
            if conn.gone:
                fail(ClientGone())
                return
            try:
                if on_token is not None:
                    on_token(i, tokens[i])
            except ClientGone as e:
                fail(e)
                return
            except Exception as e:  # noqa: BLE001 - surfaced to the awaiting handler
                fail(e)
                return
            if i == 0:
                state["first"] = loop.time()
            state["i"] = i = i + 1
            if i < n:
                loop.call_at(first_deadline + i * interval, step)
            else:
                loop.call_at(first_deadline + n * interval, finish)

        if n:
            loop.call_at(first_deadline, step)
        else:
            loop.call_at(first_deadline, finish)
        return done

    async def load_only(self, conn: Conn, model: m.StoredModel, body: dict[str, Any]) -> None:
        given, keep_ns = keep_alive_of(body)
        try:
            runner, _ = await self.schedule(conn, model, given, keep_ns, None)
        except QueueFull:
            raise ApiError(503, QUEUE_FULL) from None
        self.sched.release(runner)
