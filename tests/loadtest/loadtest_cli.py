"""Running the load-test CLI as a user does, and reading the reports it writes; shared by the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.project import ROOT

MODEL = "llama3.2:1b"
EMBED = "nomic-embed-text"


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``python -m loadtest.run ARGS`` from the repository root, no stdin, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "loadtest.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def summary_of(report: Path) -> dict:
    return json.loads((report / "summary.json").read_text())


def samples_of(report: Path) -> list[dict]:
    return [json.loads(line) for line in (report / "samples.jsonl").read_text().splitlines()]


def cli_args(**options: object) -> list[str]:
    """``report_dir=p, num_predict=12`` -> ``["--report-dir", "p", "--num-predict", "12"]`` for ``run_cli``."""
    return [word for name, value in options.items() for word in (f"--{name.replace('_', '-')}", str(value))]
