"""Shared helpers of the instance bootstrap tests: the program loaded as a module, paths, record builders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.project import ROOT

ROLE = ROOT / "roles" / "instance_bootstrap"
PROGRAM = ROLE / "files" / "ollama-platform-bootstrap.py"
PACKER = ROLE / "files" / "pack_instance_code.py"


def load(path: Path, name: str) -> ModuleType:
    """Import a script that is not a package module (its file name has dashes). Its folder goes on sys.path, as
    Python puts a script's own folder there: the programs import the lifecycle module beside them (on an instance,
    from the virtualenv's site-packages)."""
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def backend_record(**overrides: str) -> dict[str, str]:
    record = {
        "OLLAMA_PLATFORM_ENVIRONMENT": "dev",
        "OLLAMA_PLATFORM_REGION": "us-east-1",
        "OLLAMA_PLATFORM_ROLE": "backend",
        "OLLAMA_PLATFORM_LOG_PREFIX": "/ollama/dev",
        "OLLAMA_PLATFORM_ASG_NAME": "ollama-dev-asg",
        "OLLAMA_PLATFORM_LIFECYCLE_HOOK": "ollama-dev-asg-launch",
        "OLLAMA_API_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:ollama-dev-api-token",
        "OLLAMA_DATA_TABLE": "ollama-dev-data-table",
    }
    record.update(overrides)
    return record


def env_text(record: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in record.items())
