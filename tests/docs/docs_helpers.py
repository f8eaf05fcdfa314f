"""Markdown and repository helpers shared by the documentation tests (tests/docs/test_docs_*.py)."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from tests.project import ROOT

DOCS = ROOT / "docs"
CRITERIA_FILE = Path(__file__).with_name("acceptance_criteria.tsv")
REQUIREMENTS_DOC = DOCS / "REQUIREMENTS.md"

# Top-level entries that are generated or local, never committed: a path under them is not a repository path.
GENERATED = {".git", ".venv", ".venv-checkov", ".cache", "reports", ".pytest_cache", ".ruff_cache"}

FENCE_RE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE_RE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# <env>, $ENVIRONMENT, ${ENV} and ${{ inputs.environment }} stand for any one name.
PLACEHOLDER_RE = re.compile(r"<[^<>/]+>|\$\{\{[^}]*\}\}|\$\{?\w+\}?")
STATUSES = ("done", "partial", "superseded", "open")
# Where a criterion's proving tests run: offline code and Terraform, the moto emulator, a real service in a throwaway
# container (molecule, PostgreSQL), the twin's production boot path, or only on AWS (cannot run here).
PROOF_KINDS = ("static", "emulator", "container", "twin", "AWS only")
TRACE_HEADER = ("#", "Criterion", "Status", "Where", "Proof", "Proven on", "Notes")


def doc_files() -> list[Path]:
    """Every Markdown file of docs/ plus the top-level README.md."""
    files = sorted(DOCS.glob("*.md"))
    readme = ROOT / "README.md"
    if readme.is_file():
        files.append(readme)
    return files


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def fenced_blocks(text: str) -> list[str]:
    return [m.group(2) for m in FENCE_RE.finditer(text)]


def inline_spans(text: str) -> list[str]:
    """Inline code spans outside fenced blocks."""
    return [m.group(2).strip() for m in INLINE_CODE_RE.finditer(FENCE_RE.sub("", text))]


def code_texts(text: str) -> list[str]:
    """Everything a reader would copy: inline code spans and fenced blocks."""
    return inline_spans(text) + fenced_blocks(text)


def top_level_entries() -> set[str]:
    return {p.name for p in ROOT.iterdir()} - GENERATED


def path_candidates(code: str, top_level: set[str]) -> list[str]:
    """Tokens of a code snippet that name something inside the repository (first component is a top-level entry)."""
    found = []
    for raw in re.split(r"[\s,;()\[\]{}|&]+|=", code):
        token = raw.strip("'\"`").removesuffix("'s").rstrip(":.").removeprefix("./")
        token = re.sub(r":\d+$", "", token.split("::", 1)[0])
        if "/" not in token or "://" in raw or token.startswith(("/", "~", "$")):
            continue
        if token.split("/", 1)[0] in top_level:
            found.append(token)
    return found


def path_exists(token: str) -> bool:
    """True when the token names an existing file or folder; <placeholder>, $VAR, * and a lone x or y (as in the
    error messages `Workspace "x" ...`) stand for any name."""
    pattern = PLACEHOLDER_RE.sub("*", token.rstrip("/"))
    pattern = "/".join("*" if part in ("x", "y") else part for part in pattern.split("/"))
    if any(ch in pattern for ch in "*?["):
        return bool(glob.glob(str(ROOT / pattern), recursive=True))
    return (ROOT / pattern).exists()


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


def make_invocations(code: str) -> list[str]:
    """Targets of every `make ...` command in a code snippet (flags and VAR=value skipped)."""
    targets = []
    command = r"(?:^|[;&|(`])[ \t]*(?:sudo[ \t]+(?:-\S+[ \t]+)*)?make((?:[ \t]+[^\s;&|#)`]+)*)"
    for match in re.finditer(command, code, re.MULTILINE):
        for word in match.group(1).split():
            if word.startswith("-") or "=" in word:
                continue
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", word):
                break
            targets.append(word)
    return targets


@dataclass(frozen=True)
class Criterion:
    cid: str
    title: str


def load_criteria() -> list[Criterion]:
    rows = []
    for line in CRITERIA_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cid, title = line.split("\t")
        rows.append(Criterion(cid.strip(), title.strip()))
    return rows


@dataclass(frozen=True)
class TraceRow:
    cid: str
    title: str
    status: str
    where: str
    proof: str
    proven_on: str
    notes: str
    line: int

    @property
    def kinds(self) -> list[str]:
        """The proof kinds of the "Proven on" cell, in order."""
        return [k.strip() for k in self.proven_on.split(",") if k.strip()]


ROW_RE = re.compile(r"^\|\s*(\d+\.\d+)\s*\|(.*)\|\s*$")


def trace_rows(text: str) -> list[TraceRow]:
    """Rows of the traceability tables: | id | criterion | status | where | proof | proven on | notes |."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = ROW_RE.match(line)
        if not match:
            continue
        cells = [c.strip() for c in match.group(2).split("|")]
        cells += [""] * (6 - len(cells))
        status = cells[1].strip("*")
        rows.append(TraceRow(match.group(1), cells[0], status, cells[2], cells[3], cells[4], cells[5], number))
    return rows


def table_headers(text: str) -> list[tuple[int, tuple[str, ...]]]:
    """(line, cells) of each traceability table's header row: the row above a '| --- |' separator."""
    lines = text.splitlines()
    headers = []
    for number, line in enumerate(lines[1:], start=2):
        if re.match(r"^\|(\s*-+\s*\|)+\s*$", line):
            header = lines[number - 2]
            headers.append((number - 1, tuple(c.strip() for c in header.strip().strip("|").split("|"))))
    return headers


def backticked(cell: str) -> list[str]:
    return [m.group(2).strip() for m in INLINE_CODE_RE.finditer(cell)]
