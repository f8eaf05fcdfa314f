"""The project's root folder, defined once for every test module and helper, the loader of instance programs, and
the CPU weight of the containers tests start."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
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


def container_cpu_options() -> list[str]:
    """``podman run`` options for a test's container: the CPU weight tools/run_tests.sh gives the stages it runs
    beside the twin (OLLAMA_TESTBED_CPU_SHARES, also read by tests/molecule/create.yml); none when unset."""
    shares = os.environ.get("OLLAMA_TESTBED_CPU_SHARES", "")
    return ["--cpu-shares", shares] if shares else []
