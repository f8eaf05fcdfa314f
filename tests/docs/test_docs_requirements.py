"""docs/REQUIREMENTS.md traces every acceptance criterion exactly once, to code and tests that exist."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from docs_helpers import (
    PROOF_KINDS,
    REQUIREMENTS_DOC,
    ROOT,
    STATUSES,
    TRACE_HEADER,
    backticked,
    load_criteria,
    path_exists,
    table_headers,
    trace_rows,
)

CRITERIA = load_criteria()
TEST_FILE_RE = re.compile(
    r"^(tests/.+/test_[a-z0-9_]+\.py"
    r"|collections/ansible_collections/ollama/platform/tests/.+/test_[a-z0-9_]+\.py"
    r"|roles/[a-z_]+/molecule/[a-z_]+(/[a-z_]+\.yml)?"
    r"|tests/testbed/molecule/default(/[a-z_]+\.yml)?"
    r"|tests/docs/test_docs_[a-z_]+\.py"
    r"|tools/twin\.sh)$"  # runs site.yml twice against the local twin and fails unless the second run changes nothing
)
# Proofs that run on the twin's production boot path: its scenarios, and the site.yml runs of tools/twin.sh.
TWIN_PROOF_RE = re.compile(r"^(tests/twin/scenarios/test_[a-z0-9_]+\.py|tools/twin\.sh)$")


@pytest.fixture(scope="module")
def rows():
    assert REQUIREMENTS_DOC.is_file(), "docs/REQUIREMENTS.md is missing: write the traceability table"
    return trace_rows(REQUIREMENTS_DOC.read_text())


def test_criteria_list_is_complete() -> None:
    per_requirement = Counter(c.cid.split(".")[0] for c in CRITERIA)
    expected = {"1": 8, "2": 7, "3": 7, "4": 6, "5": 7, "6": 7, "7": 8, "8": 7, "9": 7, "10": 8, "11": 7, "12": 7}
    assert dict(per_requirement) == expected
    assert len({c.cid for c in CRITERIA}) == 86


def test_every_criterion_is_traced_exactly_once(rows) -> None:
    counts = Counter(r.cid for r in rows)
    missing = [c.cid for c in CRITERIA if counts[c.cid] == 0]
    duplicated = sorted(cid for cid, n in counts.items() if n > 1)
    unknown = sorted(set(counts) - {c.cid for c in CRITERIA})
    assert not missing, f"docs/REQUIREMENTS.md does not trace {missing}: add a row for each"
    assert not duplicated, f"docs/REQUIREMENTS.md traces {duplicated} more than once: keep one row each"
    assert not unknown, f"docs/REQUIREMENTS.md has rows for unknown criteria {unknown}"


def test_titles_match_the_criteria(rows) -> None:
    titles = {c.cid: c.title for c in CRITERIA}
    wrong = [
        f"{r.cid} (line {r.line}): {r.title!r} != {titles[r.cid]!r}"
        for r in rows
        if r.cid in titles and r.title != titles[r.cid]
    ]
    assert not wrong, "criterion titles differ from tests/docs/acceptance_criteria.tsv: " + "; ".join(wrong)


def test_statuses_are_known(rows) -> None:
    bad = [f"{r.cid}: {r.status!r}" for r in rows if r.status not in STATUSES]
    assert not bad, f"status must be one of {STATUSES}: {bad}"


def reason_findings(rows) -> list[str]:
    """A row that is not done says why (partial: what is missing) in at least six words."""
    return [r.cid for r in rows if r.status != "done" and len(r.notes.split()) < 6]


def test_rows_that_are_not_done_give_a_reason(rows) -> None:
    bad = reason_findings(rows)
    assert not bad, f"partial/superseded/open criteria need a reason of at least six words in Notes: {bad}"


def header_findings(text: str) -> list[str]:
    """Each traceability table has the columns of TRACE_HEADER, "Proven on" among them."""
    headers = [(line, cells) for line, cells in table_headers(text) if cells and cells[0] == "#"]
    if not headers:
        return ["no traceability table found"]
    return [
        f"line {line}: columns {list(cells)} != {list(TRACE_HEADER)}"
        for line, cells in headers
        if cells != TRACE_HEADER
    ]


def proven_on_findings(rows) -> list[str]:
    """The 'Proven on' cell holds known kinds; a done row is proven somewhere other than only on AWS; the twin kind
    and the twin's tests go together."""
    bad = []
    for r in rows:
        kinds = r.kinds
        unknown = [k for k in kinds if k not in PROOF_KINDS]
        if not kinds or unknown:
            bad.append(f"{r.cid}: 'Proven on' {r.proven_on!r} must list one or more of {PROOF_KINDS}")
            continue
        if len(set(kinds)) != len(kinds):
            bad.append(f"{r.cid}: 'Proven on' lists a kind twice: {r.proven_on!r}")
        if r.status == "done" and set(kinds) == {"AWS only"}:
            bad.append(f"{r.cid}: proven only on AWS, so it cannot be done: make it partial and say what is missing")
        twin_proofs = [p for p in backticked(r.proof) if TWIN_PROOF_RE.match(p.split("::")[0])]
        if twin_proofs and "twin" not in kinds:
            bad.append(f"{r.cid}: names twin tests {twin_proofs} but 'Proven on' has no twin")
        if "twin" in kinds and not twin_proofs:
            bad.append(f"{r.cid}: 'Proven on' says twin but Proof names no tests/twin/scenarios/ test or tools/twin.sh")
    return bad


def test_every_table_has_the_proven_on_column() -> None:
    findings = header_findings(REQUIREMENTS_DOC.read_text())
    assert not findings, "docs/REQUIREMENTS.md tables: " + "; ".join(findings)


def test_proven_on_is_known_and_done_is_proven_here(rows) -> None:
    findings = proven_on_findings(rows)
    assert not findings, "; ".join(findings)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("| 1.1 | t | done | `a` | `tools/twin.sh` | everywhere | n |", "must list one or more of"),
        ("| 1.1 | t | done | `a` | `tools/twin.sh` |  | n |", "must list one or more of"),
        ("| 1.1 | t | done | `a` | `tests/docs/test_docs_content.py` | AWS only | n |", "cannot be done"),
        ("| 1.1 | t | done | `a` | `tests/twin/scenarios/test_boot_path.py` | static | n |", "has no twin"),
        ("| 1.1 | t | done | `a` | `tests/docs/test_docs_content.py` | static, twin | n |", "names no tests/twin"),
        ("| 1.1 | t | done | `a` | `tests/docs/test_docs_content.py` | static, static | n |", "lists a kind twice"),
    ],
)
def test_a_planted_bad_proven_on_is_caught(row: str, expected: str) -> None:
    findings = proven_on_findings(trace_rows(row))
    assert any(expected in f for f in findings), findings


def test_partial_rows_need_a_reason_and_tables_need_the_proven_on_column() -> None:
    row = "| 1.1 | t | partial | `a` | `tests/docs/test_docs_content.py` | AWS only | only on GitHub with an account |"
    assert proven_on_findings(trace_rows(row)) == []
    assert reason_findings(
        trace_rows("| 1.1 | t | partial | `a` | `tests/docs/test_docs_content.py` | static | |")
    ) == ["1.1"]
    old = "| # | Criterion | Status | Where | Proof | Notes |\n| --- | --- | --- | --- | --- | --- |\n"
    assert any("Proven on" in f for f in header_findings(old))


def test_done_and_partial_rows_name_where_and_a_test(rows) -> None:
    bad = []
    for r in rows:
        if r.status not in ("done", "partial"):
            continue
        if not backticked(r.where):
            bad.append(f"{r.cid}: no path in 'Where'")
        if not any(TEST_FILE_RE.match(p.split("::")[0]) for p in backticked(r.proof)):
            bad.append(f"{r.cid}: no test file in 'Proof'")
    assert not bad, "; ".join(bad)


def test_every_path_in_the_trace_exists(rows) -> None:
    missing = []
    for r in rows:
        for cell in (r.where, r.proof):
            for item in backticked(cell):
                path = item.split("::")[0]
                if ("/" in path or "." in path) and not path_exists(path):
                    missing.append(f"{r.cid}: {path}")
    assert not missing, f"paths in docs/REQUIREMENTS.md that do not exist: {missing}"


def test_every_proof_is_a_test_file_and_named_tests_exist(rows) -> None:
    bad = []
    for r in rows:
        for item in backticked(r.proof):
            path, _, name = item.partition("::")
            if not TEST_FILE_RE.match(path):
                bad.append(f"{r.cid}: {path} is not a test file (tests/**/test_*.py or a molecule scenario)")
                continue
            if name and (ROOT / path).is_file():
                source = (ROOT / path).read_text()
                if not re.search(rf"^\s*(async\s+)?(def|class)\s+{re.escape(name)}\b", source, re.MULTILINE):
                    bad.append(f"{r.cid}: {path} has no test named {name}")
    assert not bad, "; ".join(bad)
