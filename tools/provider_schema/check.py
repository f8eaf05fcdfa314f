"""Check every resource, data source and provider block of a Terraform configuration against the AWS provider schema.

Finds, without the provider binary: unknown resource/data source types, unknown arguments, unknown nested blocks
(also inside ``dynamic`` blocks), arguments written as blocks (and the reverse) and missing required arguments.

Usage: python3 -m tools.provider_schema.check [DIR ...]   (default: terraform/; exit 1 on findings)
The command line also runs the reference check (references.py) on each folder.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from tools.provider_schema.derive import DEFAULT_OUTPUT

# Meta-arguments Terraform itself handles in resource/data blocks.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
# Built-in resource types (terraform.io/builtin/terraform) that need no provider.
BUILTIN_TYPES = {"resource": {"terraform_data"}, "data": {"terraform_remote_state"}, "ephemeral": set()}
_MARK = "__is_block__"


@cache
def load_schema(path: Path = DEFAULT_OUTPUT) -> dict[str, Any]:
    """The derived provider schema (see derive.py for its format)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def parse_file(path: Path) -> dict[str, Any]:
    """One .tf/.tfvars file parsed, blocks marked with __is_block__ (comments dropped)."""
    return _parse_text(path.read_text(encoding="utf-8"))


@cache
def _parse_text(text: str) -> dict[str, Any]:
    # Cached by content: callers must not modify the result.
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=True, with_comments=False)
    return hcl2.loads(text, serialization_options=options)


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get(_MARK) for v in value)


def _check_body(body: dict[str, Any], schema: dict[str, Any], where: str, meta: frozenset[str]) -> list[str]:
    if schema.get("any"):
        return []
    findings: list[str] = []
    arguments, blocks, objects = set(schema.get("a", ())), schema.get("b", {}), schema.get("o", {})
    present: set[str] = set()
    for key, value in body.items():
        if key in (_MARK, "__comments__", "__inline_comments__") or key in meta:
            continue
        if key == "dynamic" and isinstance(value, list):
            for item in value:
                for name, dyn in item.items():
                    if name == _MARK or not isinstance(dyn, dict):
                        continue
                    present.add(name)
                    if name not in blocks:
                        findings.append(f"{where}: unknown dynamic block '{name}'{_hint(name, schema)}")
                        continue
                    for content in dyn.get("content", []):
                        findings += _check_body(content, blocks[name], f"{where}.{name}", frozenset())
            continue
        present.add(key)
        if _is_block(value):
            # Nested attributes ("o") also take block syntax: the SDK's attributes-as-blocks (e.g. route tables).
            nested = blocks.get(key) or objects.get(key)
            if nested is not None:
                for item in value:
                    findings += _check_body(item, nested, f"{where}.{key}", frozenset())
            elif key in arguments:
                findings.append(f"{where}: '{key}' is an argument, write '{key} = ...' instead of a block")
            else:
                findings.append(f"{where}: unknown block '{key}'{_hint(key, schema)}")
            continue
        if key in arguments:
            continue
        if key in objects:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    findings += _check_body(item, objects[key], f"{where}.{key}", frozenset())
            continue
        if key in blocks:
            findings.append(f"{where}: '{key}' is a block, write '{key} {{ ... }}' instead of '{key} = ...'")
            continue
        findings.append(f"{where}: unknown argument '{key}'{_hint(key, schema)}")
    findings += [f"{where}: missing required argument '{name}'" for name in schema.get("r", ()) if name not in present]
    return findings


def _hint(name: str, schema: dict[str, Any]) -> str:
    known = set(schema.get("a", ())) | set(schema.get("b", {})) | set(schema.get("o", {}))
    from difflib import get_close_matches

    close = get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_document(doc: dict[str, Any], filename: str, schema: dict[str, Any] | None = None) -> list[str]:
    """Findings for one parsed .tf file."""
    schema = schema or load_schema()
    findings: list[str] = []
    for kind in ("resource", "data", "ephemeral"):
        for group in doc.get(kind, []):
            for rtype, instances in group.items():
                if rtype == _MARK:
                    continue
                for rname, body in instances.items():
                    if rname == _MARK:
                        continue
                    prefix = "" if kind == "resource" else f"{kind}."
                    where = f"{filename}: {prefix}{rtype}.{rname}"
                    if rtype in BUILTIN_TYPES[kind]:
                        continue
                    if rtype not in schema[kind]:
                        word = {"resource": "resource type", "data": "data source", "ephemeral": "ephemeral type"}
                        findings.append(f"{where}: unknown {word[kind]} '{rtype}' in hashicorp/aws {schema['version']}")
                        continue
                    findings += _check_body(body, schema[kind][rtype], where, frozenset(META_ARGUMENTS))
    for group in doc.get("provider", []):
        for name, body in group.items():
            if name == "aws":
                findings += _check_body(body, schema["provider_config"], f"{filename}: provider.aws", frozenset())
            elif name != _MARK:
                findings.append(f"{filename}: provider '{name}' is not hashicorp/aws: the schema check knows only aws")
    return findings


def check_directory(root: Path, schema: dict[str, Any] | None = None) -> list[str]:
    """Findings for every .tf file under root (recursively, skipping .terraform/)."""
    findings: list[str] = []
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            doc = parse_file(path)
        except Exception as exc:  # noqa: BLE001 - any parser error is reported as a finding
            findings.append(f"{rel}: cannot parse: {exc}")
            continue
        findings += check_document(doc, rel, schema)
    return findings


def main(argv: list[str] | None = None) -> int:
    # Imported here: references.py imports this module.
    from tools.provider_schema.references import check_references

    parser = argparse.ArgumentParser(
        description="Check Terraform files against the offline AWS provider schema and check their references."
    )
    parser.add_argument("dirs", nargs="*", type=Path, default=[Path("terraform")])
    args = parser.parse_args(argv)
    findings = [f for d in args.dirs for f in (*check_directory(d), *check_references(d))]
    for finding in findings:
        print(finding)
    schema = load_schema()
    print(
        f"schema and reference check (hashicorp/aws {schema['version']}): {len(findings)} finding(s)", file=sys.stderr
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
