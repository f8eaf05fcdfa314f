"""The deploy workflow's helper and arguments: the instance-refresh wait against a scripted `aws` CLI, and the
extra variables the workflows pass to the playbooks (preflight refuses unknown platform_* names)."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from docs_helpers import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "wait_instance_refresh.sh"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def fake_aws(tmp_path: Path, answers: dict[str, list[str]]) -> dict[str, str]:
    """An `aws` on PATH that answers describe-instance-refreshes per ASG from a list (the last answer repeats)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for asg, lines in answers.items():
        (tmp_path / f"{asg}.answers").write_text("\n".join(lines) + "\n")
    script = bin_dir / "aws"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        'asg=""; while [ $# -gt 0 ]; do [ "$1" = --auto-scaling-group-name ] && asg="$2"; shift; done\n'
        f'state="{tmp_path}/$asg.answers"\n'
        '[ -f "$state" ] || { echo "An error occurred (ValidationError): no ASG $asg" >&2; exit 254; }\n'
        'head -n1 "$state"\n'
        '[ "$(wc -l < "$state")" -gt 1 ] && sed -i 1d "$state"\n'
        "exit 0\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "POLL_SECONDS": "0"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30)


def test_successful_and_absent_refreshes_pass(tmp_path: Path) -> None:
    env = fake_aws(tmp_path, {"ollama-asg": ["InProgress\tNone", "InProgress\tNone", "Successful\tNone"],
                              "ollama-frontend-asg": ["None"]})  # fmt: skip
    result = run(env, "ollama-asg", "ollama-frontend-asg")
    assert result.returncode == 0, result.stderr
    assert "ollama-asg: instance refresh Successful" in result.stdout
    assert "ollama-frontend-asg: instance refresh not started" in result.stdout


def test_rolled_back_refresh_fails_and_says_why(tmp_path: Path) -> None:
    env = fake_aws(tmp_path, {"ollama-asg": ["RollbackInProgress\tx", "RollbackSuccessful\tAlarm ollama-alb-5xx-rate"]})
    result = run(env, "ollama-asg")
    assert result.returncode == 1
    assert "RollbackSuccessful (Alarm ollama-alb-5xx-rate)" in result.stderr


def test_timeout_and_bad_input(tmp_path: Path) -> None:
    env = fake_aws(tmp_path, {"ollama-asg": ["InProgress\tNone"]})
    result = run(env, "--timeout", "0", "ollama-asg")
    assert result.returncode == 2 and "still InProgress" in result.stderr
    assert run(env).returncode == 2
    bad = run(env, "--timeout", "soon", "ollama-asg")
    assert bad.returncode == 2 and "--timeout needs a number" in bad.stderr
    missing = run(env, "ollama-nope-asg")
    assert missing.returncode == 2 and "cannot read its instance refreshes" in missing.stderr


def declared_platform_variables() -> set[str]:
    spec = yaml.safe_load((ROOT / "playbooks" / "vars" / "argument_spec.yml").read_text())
    return set(spec["platform_argument_spec"]) | set(spec["platform_internal_vars"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_pass_only_declared_variables(path: Path) -> None:
    declared = declared_platform_variables()
    passed = set(re.findall(r"-e\s+\"?(platform_\w+)=", path.read_text()))
    unknown = sorted(passed - declared)
    assert not unknown, f"{path.name} passes variables preflight would refuse: {unknown}"


def test_production_confirmation_value_matches_preflight() -> None:
    inputs = (ROOT / "playbooks" / "tasks" / "inputs.yml").read_text()
    assert "platform_confirm | default('') == 'production'" in inputs
    deploy = (ROOT / ".github" / "workflows" / "deploy-environment.yml").read_text()
    # The job passes the environment name, which is "production" for production.
    assert '-e "platform_confirm=$ENVIRONMENT"' in deploy


# Values the jobs give the variables their load-test steps use.
JOB_VALUES = {
    "OLLAMA_HOST": "127.0.0.1:11434",
    "SERVICE_URL": "https://ollama.example.org",
    "ENVIRONMENT": "staging",
    "MODEL": "llama3.2:1b",
    "REGION": "us-east-1",
}


def loadtest_invocations() -> list[tuple[str, str]]:
    """Every `python -m loadtest.run ...` in a workflow step (line continuations joined)."""
    found = []
    for path in WORKFLOWS:
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                for line in step.get("run", "").replace("\\\n", " ").splitlines():
                    if "python -m loadtest.run" in line:
                        found.append((path.name, line.split("python -m loadtest.run", 1)[1]))
    return found


def test_workflows_run_load_tests() -> None:
    names = {name for name, _ in loadtest_invocations()}
    assert {"ci.yml", "deploy-environment.yml"} <= names, names


@pytest.mark.parametrize(("workflow", "command"), loadtest_invocations(), ids=[w for w, _ in loadtest_invocations()])
def test_workflow_load_tests_pass_the_runners_own_validation(workflow: str, command: str) -> None:
    from loadtest import run as loadtest_run

    unknown = sorted(set(re.findall(r"\$\{?(\w+)", command)) - set(JOB_VALUES))
    assert not unknown, f"{workflow}: add the job's value of {unknown} to JOB_VALUES"
    argv = shlex.split(re.sub(r"\$\{?(\w+)\}?", lambda m: JOB_VALUES[m[1]], command))
    args = loadtest_run.build_parser().parse_args(argv)
    derived = loadtest_run.validate(args)
    assert derived["run_length"] <= 600, f"{workflow}: a CI load test must stay bounded (10 minutes at most)"
    assert args.fail_untrusted, f"{workflow}: gate runs must pass --fail-untrusted"
