"""Run a test playbook with the project's ansible.cfg and collect the JSON result it writes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "tests" / "playbooks"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"


def ansible_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    env["ANSIBLE_FACT_CACHING"] = "memory"
    env.update(extra)
    return env


def run_playbook(
    playbook: str | Path,
    tmp_path: Path,
    extra_vars: dict[str, Any] | None = None,
    check: bool = False,
    inventory: str | Path | None = None,
    timeout: int = 300,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run ``playbook``; return the process and the JSON the playbook wrote to ``result_file`` (or None)."""
    result_file = tmp_path / f"result-{os.urandom(4).hex()}.json"
    variables = {"result_file": str(result_file), **(extra_vars or {})}
    cmd = [
        str(ANSIBLE_PLAYBOOK),
        str(playbook if Path(playbook).is_absolute() else PLAYBOOKS / playbook),
        "-i",
        str(inventory or PLAYBOOKS / "inventory" / "hosts.yml"),
        "-e",
        json.dumps(variables),
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    data = json.loads(result_file.read_text()) if result_file.exists() else None
    return proc, data
