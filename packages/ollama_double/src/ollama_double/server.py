"""The double assembled: settings, model store, scheduler, handlers and HTTP transport; ``serve`` runs it.

Pure standard library (runs on the python3 of Debian 12 / Ubuntu 24.04). See the package README for the knobs, the
endpoints and the timing model. Tests start one with ``ollama_double.running_double(...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from typing import Any, TextIO

from . import knobs
from . import models as m
from .api import ModelRoutes
from .inference import InferenceRoutes
from .openai_compat import OpenAIRoutes
from .scheduler import Engine, Scheduler
from .transport import HttpServer


class Double:
    """One server: ``start()`` binds, ``stop()`` closes; ``out`` receives the log (default: stderr)."""

    def __init__(self, cfg: Any, out: TextIO | None = None) -> None:
        self.cfg = cfg
        self.store = m.ModelStore(cfg.models_dir)
        self.sched = Scheduler(cfg)
        self.engine = Engine(cfg, self.sched)
        inference = InferenceRoutes(cfg, self.store, self.sched, self.engine)
        openai = OpenAIRoutes(inference)
        routes = {**ModelRoutes(cfg, self.store, self.sched, self.engine).routes(), **inference.routes()}
        routes.update(openai.routes())
        self.http = HttpServer(
            routes, openai.prefix_routes(), api_token=cfg.api_token, log_requests=cfg.log_requests, out=out
        )

    @property
    def bound(self) -> tuple[str, int] | None:
        return self.http.bound

    def log(self, msg: str) -> None:
        self.http.log(msg)

    def seed_models(self) -> None:
        """Install OLLAMA_DOUBLE_MODELS once per models directory (a name deleted later stays deleted)."""
        self.store.ensure_dirs()
        marker = self.store.root / ".ollama-double-seeded"
        try:
            done = set(marker.read_text().split())
        except OSError:
            done = set()
        todo = [n for n in self.cfg.models if n not in done]
        for name in todo:
            if self.store.get(name) is None:
                self.store.install(name, m.spec_for(name))
        if todo:
            marker.write_text("".join(f"{n}\n" for n in sorted(done | set(todo))))

    async def start(self) -> tuple[str, int]:
        return await self.http.start(self.cfg.host, self.cfg.port)

    async def stop(self) -> None:
        await self.http.stop()


def _raise_nofile() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def serve(cfg: Any) -> int:
    """Run the server until SIGTERM/SIGINT (what ``ollama serve`` does)."""
    _raise_nofile()
    # Fewer, cheaper garbage collections: a full collection over thousands of live streams stalls the loop for
    # tens of milliseconds, which would show up as token lateness.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    double = Double(cfg)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        double.log(f"server config env={knobs.TABLE.summary(cfg)}")
        try:
            double.seed_models()
        except OSError as e:
            sys.stderr.write(
                f"Error: mkdir {e.filename or cfg.models_dir}: {(e.strerror or str(e)).lower()} "
                "(set OLLAMA_MODELS to a writable directory)\n"
            )
            return 1
        try:
            host, port = await double.start()
        except OSError as e:
            where = f"{cfg.host}:{cfg.port}"
            reason = os.strerror(e.errno) if e.errno else str(e)
            sys.stderr.write(f"Error: listen tcp {where}: bind: {reason[:1].lower()}{reason[1:]}\n")
            return 1
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        double.log(f"Listening on {shown} (version {cfg.version})")
        await stop
        await double.stop()
        return 0

    return asyncio.run(main())
