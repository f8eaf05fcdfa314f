"""The project's root folder, defined once for every test module and helper, the loader of instance programs, and
the CPU weight of the containers tests start."""

from __future__ import annotations

import importlib.machinery
import importlib.util
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
