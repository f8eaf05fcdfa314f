"""Where the repository names its own paths: every Markdown file and the comments of code and configuration.

A repository path is a token whose first component is a top-level entry of the repository (``roles/...``,
``terraform/...``, ``tools/...``). Instance paths (``/etc/...``), parameter and log-group names
(``/ollama/<env>/...``) and URL paths start with ``/`` or ``://`` and are never repository paths.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

from docs_helpers import ROOT, inline_spans, path_candidates, path_exists, top_level_entries

COMMENTED = (".tf", ".hcl", ".py", ".yml", ".yaml", ".sh")
# A comment: `#` at the start of a line or after whitespace (not `${#x}`, `"#fff"` or a URL anchor); `//` in HCL.
HASH_COMMENT_RE = re.compile(r"(?:^|\s)#(?!!)\s?(.*)$")
HCL_COMMENT_RE = re.compile(r"(?:^|\s)(?:#|//)\s?(.*)$")
BLOCK_COMMENT_RE = re.compile(r"/\*(.*?)\*/", re.DOTALL)


def repository_files(root: Path = ROOT) -> list[Path]:
    """Files git tracks or would track (new, not ignored), sorted."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    return sorted(root / name for name in out.splitlines() if (root / name).is_file())


def markdown_files(root: Path = ROOT) -> list[Path]:
    return [p for p in repository_files(root) if p.suffix == ".md"]


def commented_files(root: Path = ROOT) -> list[Path]:
    return [p for p in repository_files(root) if p.suffix in COMMENTED]


def python_comments(text: str) -> list[tuple[int, str]]:
    """``#`` comments and docstrings of a Python file, with their line numbers."""
    found = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                found.append((tok.start[0], tok.string.lstrip("#").strip()))
        tree = ast.parse(text)
    except (tokenize.TokenError, SyntaxError):
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                found.append((node.body[0].lineno, doc))
    return found


def comments(path: Path, text: str) -> list[tuple[int, str]]:
    """The comments of a code or configuration file, with their line numbers."""
    if path.suffix == ".py":
        return python_comments(text)
    pattern = HCL_COMMENT_RE if path.suffix in (".tf", ".hcl") else HASH_COMMENT_RE
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = pattern.search(line)
        if match:
            found.append((number, match.group(1)))
    if path.suffix in (".tf", ".hcl"):
        found += [(text[: m.start()].count("\n") + 1, m.group(1)) for m in BLOCK_COMMENT_RE.finditer(text)]
    return found


def stale_paths_in_markdown(path: Path, text: str, top: set[str]) -> list[str]:
    """Paths in inline code that exist neither from the repository root nor beside the file (the README of a
    self-contained folder, such as the collection, names the folder's own test directories)."""
    return sorted(
        {t for span in inline_spans(text) for t in path_candidates(span, top)
         if not path_exists(t) and not (path.parent / t).exists()}
    )  # fmt: skip


def stale_paths_in_comments(path: Path, text: str, top: set[str]) -> list[str]:
    return sorted(
        {f"line {n}: {t}" for n, comment in comments(path, text) for t in path_candidates(comment, top)
         if not path_exists(t)}
    )  # fmt: skip


def stale_paths(path: Path, top: set[str] | None = None) -> list[str]:
    """Repository paths a file names that do not exist."""
    top = top_level_entries() if top is None else top
    text = path.read_text(errors="replace")
    if path.suffix == ".md":
        return stale_paths_in_markdown(path, text, top)
    return stale_paths_in_comments(path, text, top)
