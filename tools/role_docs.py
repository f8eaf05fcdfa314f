"""Keeps each role's README variable table in step with its meta/argument_specs.yml.

    python tools/role_docs.py            # rewrite the "## Variables" section of every roles/*/README.md
    python tools/role_docs.py --check    # exit 1 and name the roles whose README drifted

The table is generated from the ``main`` entry point: one row per option, in the order of the spec.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Variables"
MARKUP = re.compile(r"\b([CMIVOBL])\(([^)]*)\)")


def markdown(text: str) -> str:
    """Ansible doc markup (C(), M(), I(), O(), V(), B()) to Markdown, on one line."""

    def replace(match: re.Match[str]) -> str:
        kind, body = match.groups()
        return f"**{body}**" if kind == "B" else f"`{body}`"

    return MARKUP.sub(replace, " ".join(text.split())).replace("|", "\\|")


def describe(value: object) -> str:
    """A spec default as it appears in the table."""
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value)}`"


def table(spec: dict) -> str:
    """The Markdown variable table for one role's ``main`` entry point."""
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, option in (spec.get("options") or {}).items():
        description = option.get("description", "")
        if isinstance(description, list):
            description = " ".join(description)
        if option.get("required"):
            default = "*required*"
        elif "default" in option:
            default = describe(option["default"])
        else:
            default = "—"
        kind = option.get("type", "str")
        if kind == "list" and option.get("elements"):
            kind = f"list of {option['elements']}"
        if option.get("choices"):
            description += " Choices: " + ", ".join(f"`{choice}`" for choice in option["choices"]) + "."
        rows.append(f"| `{name}` | {kind} | {default} | {markdown(description)} |")
    return "\n".join(rows) + "\n"


def render(readme: str, generated: str) -> str:
    """``readme`` with its Variables section replaced by ``generated`` (appended when there is none)."""
    section = f"{HEADING}\n\nGenerated from `meta/argument_specs.yml` by `tools/role_docs.py`; do not edit by hand.\n\n"
    section += generated
    start = readme.find(f"\n{HEADING}\n")
    if start == -1:
        return readme.rstrip("\n") + "\n\n" + section
    following = readme.find("\n## ", start + len(HEADING) + 2)
    tail = readme[following:] if following != -1 else ""
    return readme[: start + 1] + section + tail


def roles() -> list[Path]:
    return sorted(path.parent.parent for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of rewriting")
    args = parser.parse_args(argv)
    drifted = []
    for role in roles():
        spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
        readme_path = role / "README.md"
        current = readme_path.read_text() if readme_path.exists() else f"# {role.name}\n"
        wanted = render(current, table(spec))
        if wanted != current:
            drifted.append(role.name)
            if not args.check:
                readme_path.write_text(wanted)
    if args.check and drifted:
        print(f"role README out of date with argument_specs: {', '.join(drifted)}; run: python tools/role_docs.py")
        return 1
    if not args.check and drifted:
        print(f"rewrote: {', '.join(drifted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
