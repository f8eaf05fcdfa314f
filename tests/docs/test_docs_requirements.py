"""docs/REQUIREMENTS.md traces every acceptance criterion exactly once, to code and tests that exist."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from docs_helpers import (
    REQUIREMENTS_DOC,
    ROOT,
    STATUSES,
    backticked,
    load_criteria,
    path_exists,
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


def test_superseded_and_open_rows_give_a_reason(rows) -> None:
    bad = [r.cid for r in rows if r.status != "done" and len(r.notes.split()) < 6]
    assert not bad, f"superseded/open criteria need a reason of at least six words in Notes: {bad}"


def test_done_rows_name_where_and_a_test(rows) -> None:
    bad = []
    for r in rows:
        if r.status != "done":
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
