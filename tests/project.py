"""The project's root folder, defined once for every test module and helper, the loader of instance programs, and
how a test stops one the way systemd does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_program(path: Path, name: str) -> ModuleType:
    """Import an instance program (a Python file without the .py suffix, installed on hosts by a role) as module
    ``name``, registered in sys.modules so its dataclasses can find it."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


def stop_like_systemd(process: subprocess.Popen) -> tuple[float, str]:
    """Send ``process`` SIGTERM, as systemd stops or restarts a unit, and wait for it: (seconds it took, its stderr).
    It is killed when it has not ended after 15 s."""
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return time.monotonic() - stopped_at, stderr or ""
