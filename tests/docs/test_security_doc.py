"""docs/SECURITY.md names each control's tests: every test it names exists (a renamed or deleted test fails here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "SECURITY.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def missing_tests(text: str) -> list[str]:
    missing = []
    for path, name in REFERENCE.findall(text):
        file = ROOT / path
        if not file.is_file():
            missing.append(f"{path} does not exist")
            continue
        tree = ast.parse(file.read_text())
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{path} has no {name}")
    return missing


def test_every_test_named_in_security_md_exists():
    text = SECURITY.read_text()
    assert len(REFERENCE.findall(text)) >= 20
    assert missing_tests(text) == []


def test_a_planted_missing_test_is_caught():
    planted = SECURITY.read_text() + "\n| x | `tests/roles/test_secrets_on_hosts.py::test_that_was_renamed` |\n"
    assert missing_tests(planted) == ["tests/roles/test_secrets_on_hosts.py has no test_that_was_renamed"]
    assert missing_tests("`tests/roles/test_gone.py::test_x`") == ["tests/roles/test_gone.py does not exist"]
