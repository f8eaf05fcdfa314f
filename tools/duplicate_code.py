"""Duplicate-code ratchet: pylint's duplicate-code checker over every Python file, against a recorded baseline.

``python -m tools.duplicate_code`` prints each similar block pylint finds and compares their number with
tools/duplicate_code_baseline.txt: more than the baseline fails (factor out the new copy); fewer also fails until
the baseline is lowered to the new number, so the recorded count only ever goes down. docs/CI.md explains each
pair the baseline still allows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tools" / "duplicate_code_baseline.txt"
# pylint's defaults (4 similar lines), not counting imports, docstrings, comments or signatures.
PYLINT_ARGS = (
    "--disable=all",
    "--enable=duplicate-code",
    "--ignore-imports=yes",
    "--ignore-docstrings=yes",
    "--ignore-comments=yes",
    "--ignore-signatures=yes",
    "--score=no",
    "--persistent=no",
)
BLOCK_RE = re.compile(r"R0801: Similar lines in \d+ files\n((?:==.*\n)+)")


def python_files(root: Path) -> list[str]:
    """Python files git tracks or would track (new, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", "*.py"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [name for name in out.splitlines() if (root / name).is_file()]


def similar_blocks(report: str) -> list[str]:
    """One line per similar block of a pylint report: ``a:[1:9] == b:[4:12]``."""
    return [" == ".join(line[2:] for line in m.group(1).splitlines()) for m in BLOCK_RE.finditer(report)]


def read_baseline(path: Path = BASELINE) -> int:
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1 or not lines[0].isdigit():
        raise SystemExit(f"{path} must hold one number (the allowed similar blocks), got {lines}")
    return int(lines[0])


def verdict(count: int, baseline: int) -> tuple[bool, str]:
    """Whether the count passes against the baseline, and what to tell the developer."""
    where = BASELINE.relative_to(ROOT)
    if count > baseline:
        return False, (
            f"duplicate-code: {count} similar blocks, more than the baseline of {baseline} in {where}: factor the "
            "new copy out into a shared helper (the blocks are listed above)"
        )
    if count < baseline:
        return False, (
            f"duplicate-code: {count} similar blocks, fewer than the baseline of {baseline}: lower the number in "
            f"{where} to {count} (and drop the pair from the list in docs/CI.md)"
        )
    return True, f"duplicate-code: {count} similar blocks (baseline {baseline})"


def run_pylint(root: Path, files: list[str]) -> str:
    pylint = shutil.which("pylint")
    if pylint is None:
        raise SystemExit("pylint is not installed: run 'make setup' (it installs requirements.txt into .venv)")
    proc = subprocess.run([pylint, *PYLINT_ARGS, *files], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode & 1 or proc.returncode & 32:  # fatal message or usage error, not findings
        raise SystemExit(f"pylint failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT
    baseline = read_baseline(Path(argv[1]) if len(argv) > 1 else BASELINE)
    blocks = similar_blocks(run_pylint(root, python_files(root)))
    for block in blocks:
        print(f"  {block}")
    ok, message = verdict(len(blocks), baseline)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
