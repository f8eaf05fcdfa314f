"""Derive the AWS provider's resource schema, offline, from the registry package that carries it.

The PyPI package ``cdktn-provider-aws`` is generated from the Terraform AWS provider's schema: its jsii assembly
(``_jsii/provider-aws@<version>.jsii.tgz`` -> ``package/.jsii``) lists, for every resource, data source and
ephemeral resource, each argument and nested block with its Terraform name (in the registry link of its docs) and
whether it is optional. This script reduces that 155 MB assembly to the small file the schema check reads:

    {"provider": "hashicorp/aws", "version": "6.69.1", "package": "cdktn-provider-aws==25.8.1",
     "provider_config": BLOCK, "resource": {TYPE: BLOCK}, "data": {TYPE: BLOCK}, "ephemeral": {TYPE: BLOCK}}
    BLOCK = {"a": [argument names], "r": [required names], "b": {block name: BLOCK}, "o": {nested attribute: BLOCK}}
    (a block whose contents the package does not describe is {"any": true})

Usage (needs PyPI, nothing else):
    python3 -m tools.provider_schema.derive                # download the pinned package and rewrite the file
    python3 -m tools.provider_schema.derive --jsii FILE    # from an already extracted .jsii or .jsii.tgz
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "cdktn-provider-aws"
PACKAGE_VERSION = "25.8.1"
PROVIDER_VERSION = "6.69.1"
HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / f"aws-{PROVIDER_VERSION}.json.gz"

_KIND_BY_BASE = {
    "cdktn.TerraformResource": "resource",
    "cdktn.TerraformDataSource": "data",
    "cdktn.TerraformEphemeralResource": "ephemeral",
}
_TYPE_LINK = re.compile(r"/docs/(?:resources|data-sources|ephemeral-resources)/\S+ (aws_\w+)\}")
_ARG_LINK = re.compile(r"registry\.terraform\.io/\S+#(\w+) ")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _argument_name(prop: dict[str, Any]) -> str:
    """The Terraform name of a jsii property: the anchor of its registry link, else its camelCase name converted."""
    docs = prop.get("docs", {})
    for text in (docs.get("summary", ""), docs.get("remarks", "")):
        match = _ARG_LINK.search(text)
        if match:
            return match.group(1)
    return _snake(prop["name"])


def _nested_fqn(type_ref: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The fqn of the struct a property holds (directly, in a list/map, or in a union), or None for plain values."""
    if "fqn" in type_ref:
        target = types.get(type_ref["fqn"])
        if target and target.get("kind") == "interface" and target.get("datatype"):
            return type_ref["fqn"]
        return None
    if "collection" in type_ref:
        return _nested_fqn(type_ref["collection"]["elementtype"], types)
    if "union" in type_ref:
        for member in type_ref["union"]["types"]:
            found = _nested_fqn(member, types)
            if found:
                return found
    return None


def _properties(fqn: str, types: dict[str, Any]) -> list[dict[str, Any]]:
    struct = types[fqn]
    props = list(struct.get("properties", []))
    for parent in struct.get("interfaces", []):
        if parent in types:
            props.extend(_properties(parent, types))
    return props


def _block(fqn: str, types: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    arguments: list[str] = []
    required: list[str] = []
    blocks: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    for prop in _properties(fqn, types):
        name = _argument_name(prop)
        if not prop.get("optional"):
            required.append(name)
        is_block = prop.get("docs", {}).get("summary", "").endswith(" block.")
        nested = _nested_fqn(prop["type"], types)
        if nested is None or nested in seen:
            if is_block:
                # A block the package types as "any" (e.g. WAF rule statements): known name, contents unchecked.
                blocks[name] = {"any": True}
            else:
                arguments.append(name)
            continue
        schema = _block(nested, types, (*seen, fqn))
        if is_block:
            blocks[name] = schema
        else:
            objects[name] = schema
    result: dict[str, Any] = {"a": sorted(set(arguments))}
    if required:
        result["r"] = sorted(set(required))
    if blocks:
        result["b"] = dict(sorted(blocks.items()))
    if objects:
        result["o"] = dict(sorted(objects.items()))
    return result


def _config_fqn(cls: dict[str, Any]) -> str:
    for param in cls.get("initializer", {}).get("parameters", []):
        if param["name"] == "config":
            return param["type"]["fqn"]
    raise ValueError(f"{cls['fqn']} has no config parameter: the package layout changed, update derive.py")


def derive(assembly: dict[str, Any]) -> dict[str, Any]:
    """Reduce a jsii assembly of the AWS provider to the schema the check reads."""
    types = assembly["types"]
    result: dict[str, Any] = {
        "provider": "hashicorp/aws",
        "version": PROVIDER_VERSION,
        "package": f"{PACKAGE}=={PACKAGE_VERSION}",
        "resource": {},
        "data": {},
        "ephemeral": {},
    }
    for cls in types.values():
        if cls.get("kind") != "class":
            continue
        base = cls.get("base")
        if base == "cdktn.TerraformProvider":
            result["provider_config"] = _block(_config_fqn(cls), types)
            continue
        kind = _KIND_BY_BASE.get(base or "")
        if kind is None:
            continue
        match = _TYPE_LINK.search(cls.get("docs", {}).get("summary", ""))
        if not match:
            raise ValueError(f"{cls['fqn']}: no registry link naming its Terraform type; update derive.py")
        result[kind][match.group(1)] = _block(_config_fqn(cls), types)
    for kind in ("resource", "data", "ephemeral"):
        result[kind] = dict(sorted(result[kind].items()))
    if PROVIDER_VERSION not in json.dumps(assembly.get("docs", {})) + assembly.get("readme", {}).get("markdown", ""):
        print(f"derive: warning: provider version {PROVIDER_VERSION} not named in the package docs", file=sys.stderr)
    return result


def _load_assembly(path: Path) -> dict[str, Any]:
    if path.name.endswith(".tgz"):
        with tarfile.open(path) as archive:
            member = archive.extractfile("package/.jsii")
            if member is None:
                raise ValueError(f"{path} has no package/.jsii")
            return json.load(member)
    with path.open("rb") as handle:
        return json.load(handle)


def _download(workdir: Path) -> Path:
    """pip download the pinned wheel into workdir and return the path of its jsii tarball."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            f"{PACKAGE}=={PACKAGE_VERSION}",
            "-d",
            workdir,
        ],
        check=True,
    )
    wheel = next(workdir.glob("*.whl"))
    inner = f"cdktn_provider_aws/_jsii/provider-aws@{PACKAGE_VERSION}.jsii.tgz"
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(inner, workdir)
    return workdir / inner


def write(schema: dict[str, Any], output: Path) -> None:
    data = json.dumps(schema, separators=(",", ":"), sort_keys=True).encode()
    # No name and mtime=0 in the gzip header: the file is byte-identical across regenerations.
    with (
        output.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as handle,
    ):
        handle.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsii", type=Path, help="an extracted package/.jsii or the .jsii.tgz (skips the download)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT.name}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="provider-schema-") as tmp:
        source = args.jsii or _download(Path(tmp))
        schema = derive(_load_assembly(source))
    write(schema, args.output)
    counts = ", ".join(f"{len(schema[k])} {k}" for k in ("resource", "data", "ephemeral"))
    print(f"derive: wrote {args.output} ({args.output.stat().st_size} bytes): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
