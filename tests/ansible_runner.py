"""The one way tests run ansible-playbook: the project's ansible.cfg, the virtualenv's binaries, a JSON result."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.project import ROOT

PLAYBOOKS = ROOT / "tests" / "playbooks"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of a test run: project ansible.cfg, no colour, per-task timing, no fact cache on disk."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    env["PATH"] = f"{ANSIBLE_PLAYBOOK.parent}:{os.environ.get('PATH', '')}"
    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    env["ANSIBLE_FACT_CACHING"] = "memory"
    env.update(extra)
    return env


def ansible_playbook(
    playbook: str | Path,
    inventory: str | Path,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    timeout: int = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``ansible-playbook playbook -i inventory [-e extra_vars] [--check]`` from the project root."""
    cmd = [str(ANSIBLE_PLAYBOOK), str(playbook), "-i", str(inventory)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    return subprocess.run(
        cmd, cwd=ROOT, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def run_playbook(
    playbook: str | Path,
    tmp_path: Path,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    inventory: str | Path | None = None,
    timeout: int = 300,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run a test playbook (under tests/playbooks unless absolute); return the process and the JSON the playbook
    wrote to ``result_file`` (or None)."""
    result_file = tmp_path / f"result-{os.urandom(4).hex()}.json"
    proc = ansible_playbook(
        playbook if Path(playbook).is_absolute() else PLAYBOOKS / playbook,
        inventory or PLAYBOOKS / "inventory" / "hosts.yml",
        {"result_file": str(result_file), **(extra_vars or {})},
        check=check,
        timeout=timeout,
        env=env,
    )
    data = json.loads(result_file.read_text()) if result_file.exists() else None
    return proc, data
