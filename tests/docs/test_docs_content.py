"""The documentation matches the repository: paths exist, make targets exist, names follow the ollama- rule."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from docs_helpers import (
    FENCE_RE,
    ROOT,
    code_texts,
    doc_files,
    make_invocations,
    make_targets,
    path_candidates,
    path_exists,
    rel,
)
from repo_paths import commented_files, comments, markdown_files, repository_files, stale_paths

DOCS = doc_files()
MARKDOWN = markdown_files()
OLD_NAMES_RE = re.compile(r"crud[\s_-]*app|education[\s_-]*portal", re.IGNORECASE)
# An AWS resource name: words joined by hyphens ending in the kind of resource. A name must start with "ollama-".
RESOURCE_KINDS = (
    "asg|alb|alb-sg|sg|tg|lt|table|role|bucket|vpc|cdn|waf|dashboard|alarms|high-cpu|low-cpu|lock|vault|"
    "backup-plan|webui-db|webui-redis|monthly-budget|data-table|internal-alb"
)
RESOURCE_NAME_RE = re.compile(rf"(?<![\w<>.${{}}/-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:{RESOURCE_KINDS}))(?![\w-])")
# Words that end like a resource kind but are not AWS resource names.
NOT_RESOURCES = {"least-privilege-role", "pre-commit-role"}
# AWS CLI subcommands (describe-alarms, list-roles, ...) are verbs, not names.
CLI_VERB_RE = re.compile(r"^(describe|get|list|put|set|create|delete|update|start|stop|attach|detach)-")


# Documents the README links that their owners are still writing: excused while missing, with a warning in the test
# summary. An entry has no effect once the file exists; delete it then.
PENDING_PATHS: dict[str, str] = {}
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def excused(path: str) -> bool:
    if path in PENDING_PATHS:
        warnings.warn(f"{path} is not written yet ({PENDING_PATHS[path]})", stacklevel=2)
        return True
    return False


def _ids(path: Path) -> str:
    return rel(path)


def test_documentation_exists() -> None:
    names = {p.name for p in DOCS}
    for required in ("ARCHITECTURE.md", "TROUBLESHOOTING.md", "REQUIREMENTS.md", "CI.md"):
        assert required in names, f"docs/{required} is missing"


@pytest.mark.parametrize("doc", MARKDOWN, ids=_ids)
def test_repository_paths_in_backticks_exist(doc: Path) -> None:
    missing = [t for t in stale_paths(doc) if not excused(t)]
    assert not missing, f"{rel(doc)} names paths that do not exist: {missing}"


def test_repository_paths_in_comments_exist() -> None:
    """Comments of .tf, .hcl, .py, .yml and .sh files that name a repository path name one that exists."""
    stale = [f"{rel(path)} {finding}" for path in commented_files() for finding in stale_paths(path)]
    assert not stale, "comments name repository paths that do not exist (fix the comment):\n" + "\n".join(stale)


def test_the_path_check_covers_every_markdown_file_and_commented_file() -> None:
    tracked = repository_files()
    assert [p for p in tracked if p.suffix == ".md"] == MARKDOWN
    assert {ROOT / "README.md", ROOT / "terraform" / "standin" / "README.md"} <= set(MARKDOWN)
    kinds = {p.suffix for p in commented_files()}
    assert {".tf", ".hcl", ".py", ".yml", ".sh"} <= kinds
    assert ROOT / "tests" / "terraform" / "fixtures" / "variables.tftest.hcl" in commented_files()


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_make_targets_exist(doc: Path) -> None:
    targets = make_targets()
    unknown = sorted({t for code in code_texts(doc.read_text()) for t in make_invocations(code) if t not in targets})
    assert not unknown, f"{rel(doc)} mentions make targets the Makefile does not have: {unknown}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_no_names_of_the_old_project(doc: Path) -> None:
    lines = enumerate(doc.read_text().splitlines(), 1)
    hits = [f"line {n}: {line.strip()[:80]}" for n, line in lines if OLD_NAMES_RE.search(line)]
    assert not hits, f"{rel(doc)} uses names of the old project: {hits}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_aws_resource_names_follow_the_ollama_rule(doc: Path) -> None:
    wrong = sorted(
        {
            name
            for code in code_texts(doc.read_text())
            for name in RESOURCE_NAME_RE.findall(code)
            if not name.startswith("ollama-") and name not in NOT_RESOURCES and not CLI_VERB_RE.match(name)
        }
    )
    assert not wrong, f"{rel(doc)} names AWS resources without the ollama- prefix: {wrong}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK_RE.findall(FENCE_RE.sub("", doc.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URLs, mailto:, anchors within the page
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        if not resolved.exists() and not excused(str(resolved.relative_to(ROOT))):
            broken.append(target)
    assert not broken, f"{rel(doc)} links to files that do not exist: {broken}"


# The checks above must be able to fail: each helper on planted input.
def test_path_check_catches_a_missing_path() -> None:
    top = {"roles", "playbooks", "terraform"}
    assert path_candidates("ansible-playbook playbooks/nope.yml -i inventories/dev", top) == ["playbooks/nope.yml"]
    assert not path_exists("playbooks/nope.yml")
    assert path_exists("terraform/environments/<env>.tfvars")
    assert path_exists("inventories/x") and not path_exists("inventories/nope")
    assert path_candidates("/etc/ollama/token.env http://x/roles/a .cache/twin", top | {".cache"}) == [".cache/twin"]


@pytest.mark.parametrize(
    ("name", "text", "stale"),
    [
        ("guide.md", "Run `tools/nope.sh` then `tools/run_tests.sh` and read `/etc/ollama/x.env`.", ["tools/nope.sh"]),
        (
            "main.tf",
            '# see terraform/nope.tf\n// and docs/NOPE.md\n/* tools/gone.py */\nx = "/ollama/<env>/y"\n',
            ["line 1: terraform/nope.tf", "line 2: docs/NOPE.md", "line 3: tools/gone.py"],
        ),
        (
            "case.tftest.hcl",
            "# Run by tests/terraform/test_variables.py\n",
            ["line 1: tests/terraform/test_variables.py"],
        ),
        (
            "mod.py",
            '"""Reads roles/nope/vars/main.yml."""\nX = 1  # and tools/gone.sh\nY = "roles/nope"\n',
            ["line 1: roles/nope/vars/main.yml", "line 2: tools/gone.sh"],
        ),
        (
            "task.yml",
            "# templates come from roles/nope/templates\nurl: http://x/roles/nope  # /ollama/dev/logs\n",
            ["line 1: roles/nope/templates"],
        ),
        (
            "run.sh",
            "#!/bin/bash\necho ${#x} # calls tools/nope.sh, not /var/log/x or https://h/tools/y\n",
            ["line 2: tools/nope.sh"],
        ),
    ],
)
def test_path_check_fails_on_a_planted_stale_path(tmp_path: Path, name: str, text: str, stale: list[str]) -> None:
    planted = tmp_path / name
    planted.write_text(text)
    assert stale_paths(planted) == stale


def test_comments_are_read_per_language(tmp_path: Path) -> None:
    assert comments(tmp_path / "a.sh", 'x="#fff" # real\n') == [(1, "real")]
    assert comments(tmp_path / "a.py", 's = "# not a comment"\n') == []


def test_make_check_reads_targets_and_invocations() -> None:
    assert {"lint", "pytest", "test"} <= make_targets()
    assert make_invocations("make lint pytest && make -j2 ENV=dev demo # make x") == ["lint", "pytest", "demo"]
    assert make_invocations("cmake build") == []


def test_link_pattern_reads_targets() -> None:
    text = 'See [ops](docs/OPERATIONS.md#backups), [site](https://example.org) and [t](../x.md "title").'
    assert LINK_RE.findall(text) == ["docs/OPERATIONS.md#backups", "https://example.org", "../x.md"]


def test_naming_check_catches_a_wrong_name() -> None:
    found = RESOURCE_NAME_RE.findall("aws autoscaling describe-auto-scaling-groups --names app-asg ollama-dev-asg")
    assert found == ["app-asg", "ollama-dev-asg"]
    assert RESOURCE_NAME_RE.findall("<name_prefix>-data-table ${prefix}-asg") == []
    assert OLD_NAMES_RE.search("the CRUD app") and OLD_NAMES_RE.search("EducationPortal")
