"""``running_double()``: a double on 127.0.0.1 and a free port for the length of a ``with`` block (for tests)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import knobs

_GIN = re.compile(r'^\[GIN\] [^|]*\| *(\d+) \|[^|]*\|[^|]*\| (\S+) +"(.*)"$')


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request as the server's ``[GIN]`` log line records it."""

    method: str
    path: str
    status: int


@dataclasses.dataclass
class RunningDouble:
    """A double started by ``running_double``: ``url`` is the base URL, ``host`` the OLLAMA_HOST value."""

    url: str
    host: str
    models_dir: str
    log_path: str | None
    process: subprocess.Popen[bytes] | None = None
    settle: Callable[[], None] | None = dataclasses.field(default=None, repr=False)

    def __str__(self) -> str:
        return self.url

    def log(self) -> str:
        """The server's log so far (in-process: every request answered before this call is in it)."""
        if self.settle is not None:
            self.settle()
        if not self.log_path:
            return ""
        return Path(self.log_path).read_text(errors="replace")

    def requests(self) -> list[LoggedRequest]:
        """Requests the server answered, in order (needs request logging, the default)."""
        found = []
        for line in self.log().splitlines():
            match = _GIN.match(line)
            if match:
                found.append(LoggedRequest(match.group(2), match.group(3), int(match.group(1))))
        return found


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL when the process has not ended within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started the double dies (no orphaned servers in CI)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _package_parent() -> Path:
    return Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def running_double(
    *, in_process: bool = False, extra_env: dict[str, str] | None = None, startup_timeout: float = 15.0, **knobs_: Any
) -> Iterator[RunningDouble]:
    """Start a double on 127.0.0.1 and a free port; stop it (and remove its temporary model store) on exit.

    Knobs are keyword arguments named after ``ollama_double.knobs.KNOBS`` (ttft_ms, tokens_per_second, load_ms,
    num_predict, pull_ms, models (list), registry (list), api_token, models_dir, host, ...); an unknown one raises
    TypeError. By default the server runs in a child process (its own interpreter and GIL, so the caller's load does
    not disturb its timing); ``in_process=True`` runs it on a thread of this process instead.
    """
    tmp = None
    if knobs_.get("models_dir") is None:
        tmp = tempfile.mkdtemp(prefix="ollama-double-")
        knobs_["models_dir"] = str(Path(tmp) / "models")
    knobs_.setdefault("host", "127.0.0.1:0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(extra_env or {})
    try:
        env.update(knobs.TABLE.env_for(**knobs_))
        log_dir = tmp or tempfile.mkdtemp(prefix="ollama-double-log-")
        try:
            if in_process:
                with _thread_double(env, log_dir) as handle:
                    yield handle
            else:
                with _process_double(env, startup_timeout, log_dir) as handle:
                    yield handle
        finally:
            if tmp is None:
                shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _thread_double(env: dict[str, str], log_dir: str) -> Iterator[RunningDouble]:
    from .server import Double

    cfg = knobs.TABLE.from_env(env)
    log_path = str(Path(log_dir) / "serve.log")
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed after the server thread ends
    double = Double(cfg, out=log)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop_event: dict[str, asyncio.Future[None]] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        try:
            double.log(f"server config env={knobs.TABLE.summary(cfg)}")
            double.seed_models()
            host, port = await double.start()
            double.log(f"Listening on {host}:{port} (version {cfg.version})")
        except Exception as e:  # noqa: BLE001 - handed to the starting thread
            errors.append(e)
            started.set()
            return
        stop_event["f"] = loop.create_future()
        started.set()
        await stop_event["f"]
        await double.stop()

    def settle() -> None:
        """Wait until the server's loop has finished what it was doing (its log lines are then written)."""
        if not loop.is_closed() and loop.is_running():
            with contextlib.suppress(RuntimeError, TimeoutError):
                asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="ollama-double")
    thread.start()
    started.wait(15)
    try:
        if errors or double.bound is None:
            raise RuntimeError(f"the Ollama double did not start: {errors[0] if errors else 'timeout'}")
        host, port = double.bound
        yield RunningDouble(f"http://{host}:{port}", f"{host}:{port}", cfg.models_dir, log_path, settle=settle)
    finally:
        if "f" in stop_event:
            loop.call_soon_threadsafe(lambda: stop_event["f"].done() or stop_event["f"].set_result(None))
        thread.join(10)
        loop.close()
        log.close()


@contextlib.contextmanager
def _process_double(env: dict[str, str], timeout: float, log_dir: str) -> Iterator[RunningDouble]:
    log_path = str(Path(log_dir) / "serve.log")
    env["PYTHONPATH"] = str(_package_parent()) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", Path(__file__).resolve().parent.name, "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # PR_SET_PDEATHSIG fires when the forking *thread* ends: only use it from the main thread
            preexec_fn=_die_with_parent if sys.platform == "linux" and _in_main_thread() else None,
        )
    try:
        deadline = time.monotonic() + timeout
        address = None
        while time.monotonic() < deadline:
            text = Path(log_path).read_text(errors="replace")
            marker = text.find("Listening on ")
            if marker >= 0:
                address = text[marker + len("Listening on ") :].split(" ", 1)[0]
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the Ollama double exited with {proc.returncode}:\n{text}")
            time.sleep(0.02)
        if address is None:
            raise RuntimeError(f"the Ollama double did not start within {timeout}s:\n{Path(log_path).read_text()}")
        yield RunningDouble(f"http://{address}", address, env["OLLAMA_MODELS"], log_path, proc)
    finally:
        stop_process(proc)
