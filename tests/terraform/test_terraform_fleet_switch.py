"""The fleet switch (var.ollama_fleet_enabled): with it false the root plans without any baked image.

A new account applies the foundation first (fleet off), bakes, then applies with the fleet on. That only works if
everything that needs an image - the per-tier AMI lookups, the launch templates, the groups and whatever references
them, directly, through another fleet resource or through a local - is keyed on the switch. The references are
walked over the parsed HCL; planted mistakes prove the walk bites. Addresses of a deployed stack must survive: the
tier-keyed resources keep their keys, the singletons that gained `count` have `moved` blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from terraform_helpers import TERRAFORM_DIR, planted_copy

from tools.provider_schema.check import parse_file

SWITCH = "var.ollama_fleet_enabled"
# What needs a baked image: the lookups of the image and what launches it. Everything referencing these follows.
SEEDS = frozenset(
    {"data.aws_ssm_parameter.ami", "data.aws_ami.baked", "aws_launch_template.this", "aws_autoscaling_group.this"}
)
_MARK = "__is_block__"
_REFERENCE = re.compile(
    r"(?<![\w.])(data\.[a-z][\w]*\.[A-Za-z_][\w-]*|(?:aws|terraform)_[a-z0-9_]+\.[A-Za-z_][\w-]*"
    r"|local\.[A-Za-z_][\w-]*|var\.[A-Za-z_][\w-]*)"
)
_META = ("count", "for_each")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "${" in value:  # expressions only: literal strings (descriptions) name nothing
            yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != _MARK:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _references(value: Any) -> set[str]:
    return {ref for text in _strings(value) for ref in _REFERENCE.findall(text)}


class Graph:
    """Resources, data sources, locals and outputs of a module, with what each references (guard apart)."""

    def __init__(self, root: Path) -> None:
        self.guards: dict[str, set[str]] = {}  # resource/data address -> references of its count/for_each
        self.bodies: dict[str, set[str]] = {}  # resource/data/local/output -> references of the rest
        self.texts: dict[str, list[str]] = {}  # local/output -> its expression text
        self.where: dict[str, str] = {}
        self.moved: list[tuple[str, str]] = []
        for path in sorted(root.glob("*.tf")):
            doc = parse_file(path)
            for kind in ("resource", "data"):
                for group in doc.get(kind, []):
                    for rtype, instances in group.items():
                        if rtype == _MARK:
                            continue
                        for name, body in instances.items():
                            if name == _MARK:
                                continue
                            address = f"data.{rtype}.{name}" if kind == "data" else f"{rtype}.{name}"
                            self.guards[address] = _references([body.get(m) for m in _META])
                            self.bodies[address] = _references({k: v for k, v in body.items() if k not in _META})
                            self.where[address] = path.name
            for group in doc.get("locals", []):
                for name, value in group.items():
                    if name != _MARK:
                        self._expression(f"local.{name}", value, path.name)
            for group in doc.get("output", []):
                for name, body in group.items():
                    if name != _MARK:
                        self._expression(f"output.{name}", body.get("value"), path.name)
            for block in doc.get("moved", []):
                self.moved.append((_address(block["from"]), _address(block["to"])))

    def _expression(self, node: str, value: Any, filename: str) -> None:
        self.bodies[node] = _references(value)
        self.texts[node] = list(_strings(value))
        self.where[node] = filename

    def switch_locals(self) -> set[str]:
        """Locals computed from the switch (directly or through another such local)."""
        derived: set[str] = set()
        changed = True
        while changed:
            changed = False
            for node, refs in self.bodies.items():
                if node.startswith("local.") and node not in derived and refs & ({SWITCH} | derived):
                    derived.add(node)
                    changed = True
        return derived

    def fleet(self) -> set[str]:
        """The seeds and every resource, data source, local or output that references one, transitively."""
        fleet = set(SEEDS) & set(self.bodies)
        changed = True
        while changed:
            changed = False
            for node, refs in self.bodies.items():
                if node not in fleet and (refs | self.guards.get(node, set())) & fleet:
                    fleet.add(node)
                    changed = True
        return fleet


def _address(value: str) -> str:
    return value.removeprefix("${").removesuffix("}")


def _switch_conditional(texts: list[str], switch: set[str]) -> bool:
    """The expression chooses on the switch (`var.ollama_fleet_enabled ? ... : ""`)."""
    names = "|".join(re.escape(s) for s in sorted(switch))
    return any(re.search(rf"(?<![\w.])({names})\s*\?", text) for text in texts)


def fleet_findings(root: Path) -> list[str]:
    """What would still need a baked image with the fleet switched off."""
    graph = Graph(root)
    switch = {SWITCH} | graph.switch_locals()
    fleet = graph.fleet()
    findings = []
    for node in sorted(fleet):
        where = f"{graph.where[node]}: {node}"
        if node in graph.guards:
            # Keyed on the switch, or iterating over a fleet resource that is (empty when that one is).
            if not graph.guards[node] & (switch | fleet):
                findings.append(
                    f"{where} needs a baked image but is not keyed on {SWITCH}: "
                    f"add `for_each = {SWITCH} ? ... : {{}}` or `count = {SWITCH} ? 1 : 0`"
                )
        elif not _switch_conditional(graph.texts[node], switch):
            findings.append(
                f'{where} reads a fleet resource unguarded: write `{SWITCH} ? <fleet value> : ""` (or null, {{}})'
            )
    return findings


def test_a_disabled_fleet_needs_no_baked_image():
    findings = fleet_findings(TERRAFORM_DIR)
    assert findings == [], "\n".join(findings)


def test_the_walk_finds_the_whole_fleet():
    """The seeds and what hangs on them, so the check above judges what it should."""
    fleet = Graph(TERRAFORM_DIR).fleet()
    expected = {
        *SEEDS,
        "aws_autoscaling_policy.cpu", "aws_autoscaling_policy.requests", "aws_autoscaling_policy.inflight",
        "aws_autoscaling_policy.step_out",
        "aws_autoscaling_schedule.stop", "aws_autoscaling_schedule.start",
        "aws_cloudwatch_metric_alarm.high_cpu", "aws_cloudwatch_metric_alarm.low_cpu",
        "aws_cloudwatch_metric_alarm.frontend_cpu",
        "output.ollama_backend_asg_name", "output.ollama_frontend_asg_name",
    }  # fmt: skip
    assert expected <= fleet, f"not reached by the walk: {sorted(expected - fleet)}"
    assert not {n for n in fleet - expected if not n.startswith("output.")}, sorted(fleet - expected)


def test_outputs_of_the_fleet_fall_back_when_it_is_off():
    """Outputs naming fleet resources keep their name and type: "" when the fleet is off."""
    graph = Graph(TERRAFORM_DIR)
    outputs = sorted(n for n in graph.fleet() if n.startswith("output."))
    assert outputs == ["output.ollama_backend_asg_name", "output.ollama_frontend_asg_name"], outputs
    guarded = re.compile(r'\$\{var\.ollama_fleet_enabled \? aws_autoscaling_group\.this\["\w+"\]\.name : ""\}')
    for node in outputs:
        (text,) = graph.texts[node]
        assert guarded.fullmatch(text), f"{node}: {text}"


def test_the_image_lookups_are_keyed_on_the_switch():
    graph = Graph(TERRAFORM_DIR)
    assert graph.guards["data.aws_ssm_parameter.ami"] == {"local.fleet_ami_parameter_names"}
    assert "local.fleet_ami_parameter_names" in graph.switch_locals()
    assert graph.guards["data.aws_ami.baked"] == {"data.aws_ssm_parameter.ami"}


PLANTED = [
    pytest.param(
        "planted.tf",
        "",
        'resource "aws_autoscaling_notification" "fleet" {\n'
        '  group_names   = [aws_autoscaling_group.this["backend"].name]\n'
        '  notifications = ["autoscaling:EC2_INSTANCE_LAUNCH_ERROR"]\n'
        "  topic_arn     = aws_sns_topic.alarms.arn\n}\n",
        "planted.tf: aws_autoscaling_notification.fleet needs a baked image but is not keyed on",
        id="new-resource-on-the-group",
    ),
    pytest.param(
        "planted.tf",
        "",
        'resource "aws_cloudwatch_metric_alarm" "planted" {\n'
        "  for_each = local.tiers\n\n"
        '  alarm_name          = "${local.name_prefix}-${each.key}-planted"\n'
        '  namespace           = "AWS/EC2"\n'
        '  metric_name         = "CPUUtilization"\n'
        "  alarm_actions       = [aws_autoscaling_policy.step_out[0].arn]\n}\n",
        "planted.tf: aws_cloudwatch_metric_alarm.planted needs a baked image but is not keyed on",
        id="through-a-fleet-resource-over-all-tiers",
    ),
    pytest.param(
        "planted.tf",
        "",
        'locals {\n  planted_group = aws_autoscaling_group.this["frontend"].arn\n}\n',
        "planted.tf: local.planted_group reads a fleet resource unguarded",
        id="local",
    ),
    pytest.param(
        "scaling.tf",
        'resource "aws_autoscaling_policy" "step_out" {\n  count = var.ollama_fleet_enabled ? 1 : 0\n',
        'resource "aws_autoscaling_policy" "step_out" {\n',
        "scaling.tf: aws_autoscaling_policy.step_out needs a baked image but is not keyed on",
        id="switch-removed",
    ),
    pytest.param(
        "asg.tf",
        'data "aws_ssm_parameter" "ami" {\n  for_each = local.fleet_ami_parameter_names\n',
        'data "aws_ssm_parameter" "ami" {\n  for_each = local.ami_parameter_names\n',
        "asg.tf: data.aws_ssm_parameter.ami needs a baked image but is not keyed on",
        id="image-lookup",
    ),
    pytest.param(
        "outputs.tf",
        'value       = var.ollama_fleet_enabled ? aws_autoscaling_group.this["frontend"].name : ""',
        'value       = aws_autoscaling_group.this["frontend"].name',
        "outputs.tf: output.ollama_frontend_asg_name reads a fleet resource unguarded",
        id="output",
    ),
]


@pytest.mark.parametrize(("filename", "old", "new", "expected"), PLANTED)
def test_planted_unguarded_reference_is_caught(tmp_path: Path, filename: str, old: str, new: str, expected: str):
    findings = fleet_findings(planted_copy(tmp_path, filename, old, new))
    assert len(findings) == 1 and findings[0].startswith(expected), findings


# --- addresses of a deployed stack ---

# The fleet's addresses in every stack applied before the switch existed (state of those stacks), less the two
# removed on purpose: the backend's CPU target tracking and its low-CPU step scale-in (scaling.tf: CPU only guards
# the backend, it never scales it in).
DEPLOYED_ADDRESSES = (
    *(f'{r}["{tier}"]' for r in (
        "aws_launch_template.this", "aws_autoscaling_group.this",
        "aws_autoscaling_policy.requests", "aws_autoscaling_schedule.stop", "aws_autoscaling_schedule.start",
    ) for tier in ("backend", "frontend")),
    'aws_autoscaling_policy.cpu["frontend"]',
    "aws_autoscaling_policy.inflight", "aws_autoscaling_policy.step_out",
    "aws_cloudwatch_metric_alarm.high_cpu", "aws_cloudwatch_metric_alarm.low_cpu",
    "aws_cloudwatch_metric_alarm.frontend_cpu",
)  # fmt: skip


def _addresses(root: Path) -> set[str]:
    """Managed-resource addresses the module declares with the fleet on (for_each over local.tiers: its keys)."""
    addresses = set()
    for path in sorted(root.glob("*.tf")):
        for group in parse_file(path).get("resource", []):
            for rtype, instances in group.items():
                if rtype == _MARK:
                    continue
                for name, body in instances.items():
                    if name == _MARK:
                        continue
                    if "count" in body:
                        addresses.add(f"{rtype}.{name}[0]")
                    elif "local.tiers" in str(body.get("for_each", "")):
                        addresses.update(f'{rtype}.{name}["{tier}"]' for tier in ("backend", "frontend"))
                    elif "for_each" in body:
                        addresses.add(f"{rtype}.{name}[*]")
                    else:
                        addresses.add(f"{rtype}.{name}")
    return addresses


def moved_findings(root: Path) -> list[str]:
    """Deployed addresses that neither still exist nor are moved to an address that exists."""
    declared = _addresses(root)
    moved = dict(Graph(root).moved)
    findings = []
    for address in DEPLOYED_ADDRESSES:
        if address in declared:
            continue
        target = moved.get(address)
        if target is None:
            findings.append(f"{address} is gone and has no moved block: terraform would destroy and recreate it")
        elif target not in declared:
            findings.append(f"moved {address} -> {target}: the target is not declared")
    return findings


def test_deployed_addresses_survive_the_switch():
    findings = moved_findings(TERRAFORM_DIR)
    assert findings == [], "\n".join(findings)


def test_a_missing_moved_block_is_caught(tmp_path: Path):
    old = "moved {\n  from = aws_cloudwatch_metric_alarm.low_cpu\n  to   = aws_cloudwatch_metric_alarm.low_cpu[0]\n}\n"
    findings = moved_findings(planted_copy(tmp_path, "moved.tf", old, ""))
    assert findings == [
        "aws_cloudwatch_metric_alarm.low_cpu is gone and has no moved block: terraform would destroy and recreate it"
    ], findings


def test_a_rekeyed_tier_resource_is_caught(tmp_path: Path):
    old = 'resource "aws_autoscaling_policy" "requests" {\n  for_each = var.ollama_fleet_enabled ? local.tiers : {}\n'
    new = 'resource "aws_autoscaling_policy" "requests" {\n  count = var.ollama_fleet_enabled ? 2 : 0\n'
    findings = moved_findings(planted_copy(tmp_path, "scaling.tf", old, new))
    assert len(findings) == 2 and all(f.startswith("aws_autoscaling_policy.requests[") for f in findings), findings
