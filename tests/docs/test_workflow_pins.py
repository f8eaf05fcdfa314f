"""Every third-party GitHub Action is pinned to a full commit SHA with its release in a comment.

A tag (`@v5`) can be moved to other code by whoever controls the action's repository; a commit SHA cannot. Offline,
the test checks the form, not that the SHA is the tag's (the pins were read from the actions' repositories).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILES = sorted((ROOT / ".github").rglob("*.yml")) + sorted((ROOT / ".github").rglob("*.yaml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+(\.\d+){0,2}\s*$")


def uses_lines(text: str) -> list[tuple[int, str, str]]:
    return [
        (n, m["ref"].strip("'\""), m["rest"]) for n, line in enumerate(text.splitlines(), 1) if (m := USES.match(line))
    ]


def pin_problems(text: str) -> list[str]:
    problems = []
    for number, ref, rest in uses_lines(text):
        if ref.startswith("./"):
            continue  # an action or reusable workflow of this repository
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"line {number}: {ref} is not pinned to an image digest")
            continue
        if not PINNED.match(ref):
            problems.append(f"line {number}: {ref} is not pinned to a full commit SHA")
        elif not VERSION_COMMENT.match(rest):
            problems.append(f"line {number}: {ref} has no '# vX.Y.Z' comment naming its release")
    return problems


def test_the_workflows_use_third_party_actions():
    refs = [ref for path in WORKFLOW_FILES for _, ref, _ in uses_lines(path.read_text()) if not ref.startswith("./")]
    assert len(refs) >= 10


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    assert pin_problems(path.read_text()) == []


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v5",
        "      - uses: actions/checkout@v5.1.0",
        "      - uses: actions/checkout@main",
        "      - uses: actions/checkout@fbc6f39 # v5.1.0",
        "      - uses: actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09",
        "        uses: docker://alpine:3.20",
    ],
    ids=["major-tag", "release-tag", "branch", "short-sha", "no-version-comment", "docker-tag"],
)
def test_a_planted_tag_reference_is_caught(line):
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert pin_problems(ci) == []
    assert pin_problems(ci + f"\n{line}\n") != []
