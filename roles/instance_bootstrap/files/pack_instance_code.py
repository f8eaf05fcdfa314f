"""Pack an instance's configuration code into one archive (runs on the controller at bake time).

The archive holds the instance playbook and its vars files, the roles it runs (with their meta/main.yml
dependencies) and, of every collection those use, only the plugins they name plus what those plugins import
(module_utils, plugin_utils, doc fragments): the image carries a few hundred kilobytes, not whole collections.

    python pack_instance_code.py --output code.tar.gz --playbook playbooks/instance.yml \
        --vars-file playbooks/vars/instance_tiers.yml --roles-path roles --role ollama --role open_webui \
        [--collections-path DIR ...]

Layout: instance.yml, vars/<file>, roles/<role>/..., collections/ansible_collections/<ns>/<name>/...,
PACKED.json (what went in). The archive is reproducible (sorted, mtime 0, root-owned): an unchanged
input gives the same checksum, which the role uses to skip the transfer.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import io
import json
import re
import sys
import tarfile
from pathlib import Path

import yaml

FQCN = re.compile(r"(?<![\w.])([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)(?![\w.])")
BUILTIN = {("ansible", "builtin"), ("ansible", "legacy")}
PLUGIN_DIRS = ("modules", "action", "lookup", "filter", "test")
ROLE_SKIP = {"molecule", "tests", "__pycache__", ".pytest_cache"}
SCANNED_ROLE_DIRS = ("tasks", "handlers", "defaults", "vars", "meta")


class PackError(Exception):
    """A plugin or role that cannot be packed; the message says what to fix."""


def role_dependencies(role_dir: Path) -> list[str]:
    """Names of the roles a role depends on (meta/main.yml)."""
    meta = role_dir / "meta" / "main.yml"
    if not meta.is_file():
        return []
    deps = (yaml.safe_load(meta.read_text()) or {}).get("dependencies") or []
    return [dep if isinstance(dep, str) else dep.get("role", dep.get("name", "")) for dep in deps]


def resolve_roles(names: list[str], roles_path: Path) -> list[str]:
    """The roles and, recursively, their dependencies, in a stable order."""
    seen: list[str] = []
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        if not (roles_path / name / "tasks").is_dir():
            raise PackError(f"role {name} is not in {roles_path}: fix the role list or the roles path")
        seen.append(name)
        pending.extend(role_dependencies(roles_path / name))
    return seen


def role_files(role_dir: Path) -> list[Path]:
    """Files of a role that an instance needs (no molecule scenarios or caches)."""
    return sorted(
        path
        for path in role_dir.rglob("*")
        if path.is_file() and not ROLE_SKIP.intersection(path.relative_to(role_dir).parts) and path.suffix != ".pyc"
    )


def scan_fqcns(texts: list[str]) -> set[tuple[str, str, str]]:
    """Every namespace.collection.name that appears in the texts (builtins left out)."""
    found = set()
    for text in texts:
        for ns, coll, name in FQCN.findall(text):
            if (ns, coll) not in BUILTIN:
                found.add((ns, coll, name))
    return found


def find_collection(ns: str, coll: str, search: list[Path]) -> Path | None:
    for root in search:
        candidate = root / "ansible_collections" / ns / coll
        if candidate.is_dir():
            return candidate
    return None


def plugin_file(collection: Path, name: str) -> list[Path]:
    """The plugin files of a short name (a module can come with an action plugin of the same name)."""
    return [
        collection / "plugins" / kind / f"{name}.py"
        for kind in PLUGIN_DIRS
        if (collection / "plugins" / kind / f"{name}.py").is_file()
    ]


def redirect(collection: Path, name: str) -> str | None:
    """A runtime.yml redirect of a short plugin name, if any."""
    runtime = collection / "meta" / "runtime.yml"
    if not runtime.is_file():
        return None
    routing = (yaml.safe_load(runtime.read_text()) or {}).get("plugin_routing") or {}
    for kind in routing.values():
        target = (kind or {}).get(name, {}) or {}
        if target.get("redirect"):
            return str(target["redirect"])
    return None


def module_to_paths(dotted: str, search: list[Path]) -> list[Path]:
    """Files for an ansible_collections.ns.coll.plugins... module or package (empty when not one)."""
    parts = dotted.split(".")
    if len(parts) < 4 or parts[0] != "ansible_collections":
        return []
    collection = find_collection(parts[1], parts[2], search)
    if collection is None:
        return []
    base = collection.joinpath(*parts[3:])
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        return [base / "__init__.py"]
    return []


def python_imports(path: Path, dotted_self: str) -> list[str]:
    """Dotted names a Python file imports (relative imports resolved against its own module name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = dotted_self if path.name == "__init__.py" else dotted_self.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def doc_fragments(path: Path) -> list[str]:
    """extends_documentation_fragment names of a plugin's DOCUMENTATION."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
            try:
                doc = yaml.safe_load(ast.literal_eval(node.value)) or {}
            except (ValueError, yaml.YAMLError):
                return []
            fragments = doc.get("extends_documentation_fragment") or []
            return [fragments] if isinstance(fragments, str) else list(fragments)
    return []


def dotted_name(path: Path, search: list[Path]) -> str:
    for root in search:
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join(parts)
    raise PackError(f"{path} is outside the collection paths")


def collection_closure(fqcns: set[tuple[str, str, str]], search: list[Path]) -> dict[Path, Path]:
    """Collection files to ship: {source: path inside the archive's collections/ folder}."""
    files: dict[Path, Path] = {}
    queue: list[Path] = []
    for ns, coll, name in sorted(fqcns):
        collection = find_collection(ns, coll, search)
        if collection is None:
            continue  # not a collection (e.g. a dotted variable path)
        targets = plugin_file(collection, name)
        if not targets and (target := redirect(collection, name)):
            return_to = collection_closure({tuple(target.split(".", 2))}, search)  # type: ignore[arg-type]
            files.update(return_to)
            continue
        if not targets:
            raise PackError(
                f"{ns}.{coll}.{name} names no module, action, lookup, filter or test plugin in {collection}: "
                "fix the name or install the collection version the roles need"
            )
        runtime = collection / "meta" / "runtime.yml"
        if runtime.is_file():
            queue.append(runtime)
        queue.extend(targets)
    while queue:
        path = queue.pop()
        if path in files:
            continue
        root = next(r for r in search if path.is_relative_to(r))
        files[path] = path.relative_to(root)
        if path.suffix != ".py":
            continue
        # Package __init__ files along the way (plain namespace packages have none).
        parent = path.parent
        while parent != root and parent.name != "ansible_collections":
            if (parent / "__init__.py").is_file() and parent / "__init__.py" not in files:
                queue.append(parent / "__init__.py")
            parent = parent.parent
        for name in python_imports(path, dotted_name(path, search)):
            queue.extend(module_to_paths(name, search))
        for fragment in doc_fragments(path):
            ns, coll, rest = [*fragment.split(".", 2), "", ""][:3]
            collection = find_collection(ns, coll, search)
            if collection is not None and rest:
                candidate = collection / "plugins" / "doc_fragments" / f"{rest.split('.')[0]}.py"
                if candidate.is_file():
                    queue.append(candidate)
    return files


def add_file(archive: tarfile.TarFile, source: Path, name: str) -> None:
    data = source.read_bytes()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def pack(
    output: Path,
    playbook: Path,
    vars_files: list[Path],
    roles_path: Path,
    roles: list[str],
    search: list[Path],
) -> dict[str, object]:
    """Write the archive; return what went in."""
    all_roles = resolve_roles(roles, roles_path)
    members: dict[str, Path] = {playbook.name: playbook}
    members.update({f"vars/{path.name}": path for path in vars_files})
    for role in all_roles:
        for path in role_files(roles_path / role):
            members[f"roles/{role}/{path.relative_to(roles_path / role).as_posix()}"] = path
    scanned = [playbook.read_text(), *(path.read_text() for path in vars_files)]
    for role in all_roles:
        for folder in SCANNED_ROLE_DIRS:
            scanned.extend(p.read_text() for p in sorted((roles_path / role / folder).rglob("*.yml")))
    fqcns = scan_fqcns(scanned)
    for source, relative in collection_closure(fqcns, search).items():
        members[f"collections/{relative.as_posix()}"] = source
    collections = sorted({".".join(name.split("/")[2:4]) for name in members if name.startswith("collections/")})
    manifest = {"roles": all_roles, "collections": collections, "files": sorted(members)}
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        output.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in sorted(members):
            add_file(archive, members[name], name)
        info = tarfile.TarInfo("PACKED.json")
        info.size, info.mode, info.mtime = len(manifest_bytes), 0o644, 0
        info.uname = info.gname = "root"
        archive.addfile(info, io.BytesIO(manifest_bytes))
    return manifest


def default_search() -> list[Path]:
    """Collection roots on sys.path (where pip's `ansible` package installs its collections)."""
    return [Path(entry) for entry in sys.path if entry and (Path(entry) / "ansible_collections").is_dir()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--playbook", type=Path, required=True)
    parser.add_argument("--vars-file", type=Path, action="append", default=[])
    parser.add_argument("--roles-path", type=Path, required=True)
    parser.add_argument("--role", action="append", default=[], required=True)
    parser.add_argument("--collections-path", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    search = [path.resolve() for path in args.collections_path if path.is_dir()] + default_search()
    try:
        manifest = pack(args.output, args.playbook, args.vars_file, args.roles_path, args.role, search)
    except (PackError, OSError, SyntaxError) as exc:
        print(f"pack_instance_code: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({key: manifest[key] for key in ("roles", "collections")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
