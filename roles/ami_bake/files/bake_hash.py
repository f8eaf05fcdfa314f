#!/usr/bin/env python3
"""Content address of an image bake: one SHA-256 over its inputs and the files of the roles baked.

Reads a JSON document on stdin: {"inputs": <any JSON>, "paths": ["<dir or file>", ...], "exclude": ["<glob>", ...]}
and prints {"hash": "<64 hex>", "files": <count>, "missing": [<paths that do not exist>]}.

Each path is walked in sorted order; every regular file contributes its path (relative to the parent of the given
path, so "ollama/tasks/main.yml") and its bytes. Names matching an exclude glob (a file or a whole directory) are
skipped. Timestamps, owners and modes do not count: the same content gives the same hash on any machine.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sys
from pathlib import Path


def excluded(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def files_under(root: Path, patterns: list[str]) -> list[Path]:
    """Regular files under ``root`` (or ``root`` itself), sorted, without excluded names."""
    if root.is_file():
        return [root]
    found = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not excluded(d, patterns))
        found += [Path(current) / n for n in sorted(names) if not excluded(n, patterns)]
    return sorted(p for p in found if p.is_file())


def bake_hash(inputs: object, paths: list[str], patterns: list[str]) -> dict:
    digest = hashlib.sha256()
    digest.update(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())
    count, missing = 0, []
    for path in sorted(paths):
        root = Path(path)
        if not root.exists():
            missing.append(path)
            digest.update(f"\0missing\0{root.name}".encode())
            continue
        for file in files_under(root, patterns):
            digest.update(f"\0{file.relative_to(root.parent).as_posix()}\0".encode())
            digest.update(hashlib.sha256(file.read_bytes()).digest())
            count += 1
    return {"hash": digest.hexdigest(), "files": count, "missing": missing}


def main() -> int:
    try:
        request = json.load(sys.stdin)
        result = bake_hash(request.get("inputs", {}), request.get("paths", []), request.get("exclude", []))
    except (OSError, ValueError) as error:
        print(f"cannot compute the bake hash: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
