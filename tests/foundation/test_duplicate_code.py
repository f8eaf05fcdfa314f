"""The duplicate-code ratchet of `make lint` fails when copies rise above the baseline and asks to lower it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.project import ROOT
from tools import duplicate_code

REPORT = """************* Module b
b.py:1:0: R0801: Similar lines in 2 files
==a:[0:9]
==b:[0:9]
dup() (duplicate-code)
"""
FUNCTION = "".join(f"    total{i} = values[{i}] * {i} + offset\n" for i in range(10))


def test_the_report_is_read_block_by_block():
    assert duplicate_code.similar_blocks(REPORT) == ["a:[0:9] == b:[0:9]"]
    assert duplicate_code.similar_blocks("") == []


def test_more_copies_than_the_baseline_fail():
    ok, message = duplicate_code.verdict(11, 10)
    assert not ok and "more than the baseline of 10" in message and "factor the new copy out" in message


def test_fewer_copies_ask_to_lower_the_baseline():
    ok, message = duplicate_code.verdict(9, 10)
    assert not ok and "lower the number in tools/duplicate_code_baseline.txt to 9" in message


def test_the_baseline_count_passes():
    assert duplicate_code.verdict(10, 10)[0]
    assert duplicate_code.read_baseline() >= 0


def test_a_malformed_baseline_is_refused(tmp_path: Path):
    planted = tmp_path / "baseline.txt"
    planted.write_text("# comment\nten\n")
    with pytest.raises(SystemExit, match="must hold one number"):
        duplicate_code.read_baseline(planted)


def test_a_planted_copy_fails_the_check(tmp_path: Path):
    for name in ("first.py", "second.py"):
        (tmp_path / name).write_text(f"def {name[:-3]}(values, offset):\n{FUNCTION}    return offset\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    baseline = tmp_path / "baseline.txt"
    baseline.write_text("0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.duplicate_code", str(tmp_path), str(baseline)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "first:[" in proc.stdout and "second:[" in proc.stdout
    assert "1 similar blocks, more than the baseline of 0" in proc.stderr
    baseline.write_text("1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.duplicate_code", str(tmp_path), str(baseline)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
