"""Offline reference check: what `terraform validate` would say about references, without the provider.

Every ``var.X``, ``local.X``, ``local.MAP.KEY`` (for locals that are map literals), resource, data source,
ephemeral resource, provider alias and ``module.NAME.OUTPUT`` referenced anywhere in a module must be declared in it.
Each call of a local module passes only the module's variables and every variable it requires, and the called
module is checked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.provider_schema.check import parse_file

_MARK = "__is_block__"
_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
_DATA = re.compile(r"(?<![\w.])data\.([a-z][\w]*)\.([A-Za-z_][\w-]*)(\.|\[)?")
_EPHEMERAL = re.compile(r"(?<![\w.])ephemeral\.([a-z][\w]*)\.([A-Za-z_][\w-]*)")
_RESOURCE = re.compile(r"(?<![\w.])((?:aws|terraform)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(\.|\[)?")
_PROVIDER = re.compile(r"^\$\{(aws)\.(\w+)\}$")
_MODULE = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?(?:\.([A-Za-z_][\w-]*))?")
# Arguments of a module block that Terraform itself handles.
MODULE_META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != _MARK:
                yield from _strings(key)
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _strip_literals(text: str) -> str:
    """Keep only the expression parts of a parsed value: interpolations, or the whole value when it is no string."""
    if "${" not in text:
        return ""
    return text


class Module:
    """Declarations of one Terraform module (a folder of .tf files)."""

    def __init__(self, root: Path) -> None:
        self.files = {p.name: parse_file(p) for p in sorted(root.glob("*.tf"))}
        self.variables: set[str] = set()
        self.required: set[str] = set()  # variables without a default
        self.outputs: set[str] = set()
        self.modules: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.resources: set[tuple[str, str]] = set()
        self.repeated: set[tuple[str, str]] = set()  # resources and data sources with count or for_each
        self.data: set[tuple[str, str]] = set()
        self.ephemeral: set[tuple[str, str]] = set()
        self.aliases: set[str] = set()
        for doc in self.files.values():
            for group in doc.get("variable", []):
                for name, body in group.items():
                    if name != _MARK:
                        self.variables.add(name)
                        if "default" not in body:
                            self.required.add(name)
            for group in doc.get("output", []):
                self.outputs.update(k for k in group if k != _MARK)
            for group in doc.get("module", []):
                self.modules.update({k: v for k, v in group.items() if k != _MARK})
            for group in doc.get("locals", []):
                self.locals.update({k: v for k, v in group.items() if k != _MARK})
            for kind, target in (("resource", self.resources), ("data", self.data), ("ephemeral", self.ephemeral)):
                for group in doc.get(kind, []):
                    for rtype, instances in group.items():
                        if rtype == _MARK:
                            continue
                        for name, body in instances.items():
                            if name == _MARK:
                                continue
                            target.add((rtype, name))
                            if "count" in body or "for_each" in body:
                                self.repeated.add((f"data.{rtype}" if kind == "data" else rtype, name))
            for group in doc.get("provider", []):
                for name, body in group.items():
                    if name != _MARK and isinstance(body, dict) and "alias" in body:
                        self.aliases.add(f"{name}.{body['alias']}")


def _check_module_calls(root: Path, module: Module) -> tuple[list[str], dict[str, Module]]:
    """Findings for the module blocks of module (arguments against the called module's variables), recursively."""
    findings: list[str] = []
    called: dict[str, Module] = {}
    for name, body in sorted(module.modules.items()):
        source = str(body.get("source", ""))
        where = f"module.{name}"
        if not source.startswith(("./", "../")):
            findings.append(f"{where}: source {source!r} is not a local module: the offline check cannot read it")
            continue
        folder = (root / source).resolve()
        if not any(folder.glob("*.tf")):
            findings.append(f"{where}: source {source!r} has no .tf files")
            continue
        target = Module(folder)
        called[name] = target
        for argument in body:
            if argument != _MARK and argument not in MODULE_META_ARGUMENTS and argument not in target.variables:
                findings.append(f"{where}: unknown argument '{argument}': {source} declares no such variable")
        for variable in sorted(target.required - set(body)):
            findings.append(f"{where}: missing required argument '{variable}'")
        findings += [f"{source}/{f}" for f in check_references(folder)]
    return findings, called


def check_references(root: Path) -> list[str]:
    """Findings for undeclared references in the module at root and for its calls of local modules."""
    module = Module(root)
    findings, called = _check_module_calls(root, module)
    for filename, doc in module.files.items():
        # moved {} and removed {} name state addresses, not references (tests/terraform checks them).
        for text in _strings({k: v for k, v in doc.items() if k not in ("moved", "removed")}):
            expr = _strip_literals(text)
            if not expr:
                continue
            where = f"{filename}: {text if len(text) < 90 else text[:87] + '...'}"
            for name in _VAR.findall(expr):
                if name not in module.variables:
                    findings.append(f"{where}: undeclared variable var.{name}")
            for name, key in _LOCAL.findall(expr):
                if name not in module.locals:
                    findings.append(f"{where}: undeclared local.{name}")
                elif key and isinstance(module.locals[name], dict) and key not in module.locals[name]:
                    findings.append(f"{where}: local.{name} has no key '{key}'")
            for rtype, name, follow in _DATA.findall(expr):
                if (rtype, name) not in module.data:
                    findings.append(f"{where}: undeclared data source data.{rtype}.{name}")
                elif follow == "." and (f"data.{rtype}", name) in module.repeated:
                    findings.append(f"{where}: data.{rtype}.{name} has count/for_each: index it ([0], [key] or [*])")
                elif follow == "[" and (f"data.{rtype}", name) not in module.repeated:
                    findings.append(f"{where}: data.{rtype}.{name} has no count/for_each: do not index it")
            for rtype, name in _EPHEMERAL.findall(expr):
                if (rtype, name) not in module.ephemeral:
                    findings.append(f"{where}: undeclared ephemeral resource ephemeral.{rtype}.{name}")
            for match in _RESOURCE.finditer(expr):
                start = match.start()
                if expr[max(0, start - 5) : start] == "data." or expr[max(0, start - 10) : start] == "ephemeral.":
                    continue
                address = (match.group(1), match.group(2))
                if address not in module.resources:
                    findings.append(f"{where}: undeclared resource {match.group(1)}.{match.group(2)}")
                elif match.group(3) == "." and address in module.repeated:
                    findings.append(f"{where}: {'.'.join(address)} has count/for_each: index it ([0], [key] or [*])")
                elif match.group(3) == "[" and address not in module.repeated:
                    findings.append(f"{where}: {'.'.join(address)} has no count/for_each: do not index it")
            for name, output in _MODULE.findall(expr):
                if name not in module.modules:
                    findings.append(f"{where}: undeclared module module.{name}")
                elif output and name in called and output not in called[name].outputs:
                    findings.append(f"{where}: module.{name} has no output '{output}'")
            provider = _PROVIDER.match(text)
            if provider and f"{provider.group(1)}.{provider.group(2)}" not in module.aliases:
                findings.append(f"{where}: undeclared provider alias {provider.group(1)}.{provider.group(2)}")
    return sorted(set(findings))
