"""Resource addresses of a Terraform configuration, derived offline from its HCL, and the state-migration check.

An address is what Terraform keys the state on: ``[module.NAME[*].]TYPE.NAME[*]`` (``[*]`` when the resource or
module call has count or for_each; instance keys are not known without a plan). Data sources hold no state and are
left out. ``moved {}`` blocks carry an existing state to a new address; ``removed {}`` blocks drop one on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tools.provider_schema.check import parse_file

_MARK = "__is_block__"
_INDEX = re.compile(r"\[[^\]]*\]")
NOT_MIGRATED = "not declared any more and no moved {} or removed {} block says where"


def normalize(address: str) -> str:
    """An address with every instance key ([0], ["frontend"]) written as [*]."""
    return _INDEX.sub("[*]", address.strip().removeprefix("${").removesuffix("}"))


def _documents(folder: Path) -> list[dict[str, Any]]:
    return [parse_file(path) for path in sorted(folder.glob("*.tf"))]


def _repeated(body: dict[str, Any]) -> str:
    return "[*]" if "count" in body or "for_each" in body else ""


def resource_addresses(folder: Path, prefix: str = "") -> set[str]:
    """Every managed resource address of the module in folder, with the local modules it calls expanded."""
    addresses: set[str] = set()
    for doc in _documents(folder):
        for group in doc.get("resource", []):
            for rtype, instances in group.items():
                if rtype == _MARK:
                    continue
                for name, body in instances.items():
                    if name != _MARK:
                        addresses.add(f"{prefix}{rtype}.{name}{_repeated(body)}")
        for group in doc.get("module", []):
            for name, body in group.items():
                if name == _MARK:
                    continue
                source = str(body.get("source", ""))
                if not source.startswith(("./", "../")):
                    raise ValueError(f"module.{name}: only local modules can be expanded offline, not {source!r}")
                addresses |= resource_addresses((folder / source).resolve(), f"{prefix}module.{name}{_repeated(body)}.")
    return addresses


def migrations(folder: Path) -> tuple[dict[str, str], set[str]]:
    """The root module's moved blocks (from -> to, normalized) and the addresses its removed blocks drop."""
    moved: dict[str, str] = {}
    removed: set[str] = set()
    for doc in _documents(folder):
        for block in doc.get("moved", []):
            moved[normalize(block["from"])] = normalize(block["to"])
        for block in doc.get("removed", []):
            removed.add(normalize(block["from"]))
    return moved, removed


def _covers(address: str, target: str) -> bool:
    """True when target (a resource or a whole module call, with or without its instances: a removed {} block names
    a counted resource without an index) is address or contains it."""
    return any(address == t or address.startswith(f"{t}.") for t in (target, f"{target}[*]"))


def _indexed_by(address: str, source: str, target: str) -> bool:
    """True when a move from source to target only adds an index (target is source[*]) and address is already there."""
    return target == f"{source}[*]" and _covers(address, target)


def unmigrated(previous: set[str], folder: Path) -> list[str]:
    """Addresses of the previous layout that the configuration in folder neither declares nor moves or removes.

    Each is a resource Terraform would destroy (and, when still wanted, create again empty) on the next apply.
    """
    current = resource_addresses(folder)
    moved, removed = migrations(folder)
    findings = []
    for old in sorted(previous):
        address, seen = old, set()
        while address not in current:
            if any(_covers(address, target) for target in removed):
                break
            # A move that adds an index (module.x to module.x[0]) does not apply again to what it moved.
            source = next((f for f in moved if _covers(address, f) and not _indexed_by(address, f, moved[f])), None)
            if source is None or address in seen:
                where = "" if address == old else f" (moved to {address}, which is not declared)"
                findings.append(f"{old}: {NOT_MIGRATED}{where}")
                break
            seen.add(address)
            address = moved[source] + address[len(source) :]
    return findings
