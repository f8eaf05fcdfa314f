#!/usr/bin/env python3
"""Validate a CloudWatch agent configuration (JSON on stdin) against the agent's JSON schema.

Usage: validate_config.py SCHEMA.json < amazon-cloudwatch-agent.json
Exit 0 when valid; otherwise one line per problem on stderr (JSON path and message) and exit 1.
"""

from __future__ import annotations

import json
import sys


def problems(config: object, schema: dict) -> list[str]:
    """Return one readable line per schema violation (empty when the configuration is valid)."""
    import jsonschema

    validator = jsonschema.Draft4Validator(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        lines.append(f"{path}: {error.message}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: validate_config.py SCHEMA.json < CONFIG.json", file=sys.stderr)
        return 2
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        print(
            f"jsonschema is not installed for {sys.executable}: pip install -r requirements.txt "
            "(or set cloudwatch_agent_validate_schema: false)",
            file=sys.stderr,
        )
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        schema = json.load(handle)
    try:
        config = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"the agent configuration is not JSON: {exc}", file=sys.stderr)
        return 1
    found = problems(config, schema)
    for line in found:
        print(f"CloudWatch agent configuration violates the agent's schema at {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
