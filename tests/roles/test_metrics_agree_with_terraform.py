"""Every custom metric Terraform reads has a publisher, and every published metric is read: both ways.

Terraform's readers: alarms (``namespace``/``metric_name``/``dimensions``, ``metric_query.metric``), scaling policies
(``customized_metric_specification`` with ``metric_dimension``) in any terraform/*.tf file, and the dashboard's metric
rows (``["Namespace", "Metric", "Dimension", value, ...]``). Publishers: the backend's LLM metric publisher
(``METRICS`` of roles/ollama/files/ollama-inflight-metric, namespace Ollama, dimension AutoScalingGroupName; its own
test proves it sends exactly that table) and the CloudWatch agent's configuration as the cloudwatch_agent role renders
it (namespace, measurements, aggregation dimensions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_cloudwatch_agent_config import render
from test_ollama_inflight_metric import publisher

from tools.provider_schema.check import _parse_text

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
DASHBOARD_ROW = re.compile(r'\[\s*"([^"]+)"\s*,\s*"([^"]+)"((?:\s*,\s*[^\[\]{},]+)*)')
# Agent plugins whose metrics are host-wide and must be on the dashboard; procstat (per process) and statsd (names
# chosen by the sender) are collected for ad-hoc queries.
AGENT_DASHBOARD_PLUGINS = ("mem", "disk")


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[str, ...]


def _walk(node: Any) -> list[dict]:
    found: list[dict] = []
    if isinstance(node, dict):
        if "namespace" in node and "metric_name" in node:
            found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def dashboard_bodies(text: str) -> list[str]:
    """The dashboard_body expressions of the aws_cloudwatch_dashboard resources of one file."""
    bodies = []
    for group in _parse_text(text).get("resource", []):
        for name, body in group.get("aws_cloudwatch_dashboard", {}).items():
            if name != "__is_block__":
                bodies.append(str(body["dashboard_body"]))
    return bodies


def terraform_readers(texts: dict[str, str], namespaces: set[str]) -> dict[Metric, list[dict[str, Any]]]:
    """Each custom metric Terraform reads -> its readers [{unit (or None), where}]."""
    readers: dict[Metric, list[dict[str, Any]]] = {}
    for filename, text in texts.items():
        for node in _walk(_parse_text(text)):
            namespace, name = str(node["namespace"]), str(node["metric_name"])
            if namespace not in namespaces:
                continue
            if isinstance(node.get("dimensions"), dict):
                dimensions = tuple(sorted(k for k in node["dimensions"] if k != "__is_block__"))
            else:
                dimensions = tuple(sorted(str(d["name"]) for d in node.get("metric_dimension", [])))
            reader = {"unit": node.get("unit"), "where": filename}
            readers.setdefault(Metric(namespace, name, dimensions), []).append(reader)
        for match in DASHBOARD_ROW.finditer("\n".join(dashboard_bodies(text))):
            namespace, name, rest = match.groups()
            if namespace not in namespaces:
                continue
            parts = [part.strip() for part in rest.split(",") if part.strip()]
            dimensions = tuple(sorted(part.strip('"') for part in parts[0::2]))
            reader = {"unit": None, "where": f"{filename} (dashboard)"}
            readers.setdefault(Metric(namespace, name, dimensions), []).append(reader)
    return readers


def agent_metrics(config: dict) -> dict[Metric, str]:
    """Metrics the agent publishes per aggregation dimension set -> plugin ("name_measurement" unless prefixed)."""
    metrics = config["metrics"]
    published: dict[Metric, str] = {}
    for plugin, settings in metrics["metrics_collected"].items():
        entries = settings if isinstance(settings, list) else [settings]
        for entry in entries:
            for measurement in entry.get("measurement", []):
                raw = measurement["name"] if isinstance(measurement, dict) else measurement
                name = raw if raw.startswith(f"{plugin}_") else f"{plugin}_{raw}"
                for dimensions in metrics.get("aggregation_dimensions", []):
                    published[Metric(metrics["namespace"], name, tuple(sorted(dimensions)))] = plugin
    return published


def ollama_metrics(table: dict[str, str]) -> dict[Metric, str]:
    return {Metric(publisher.NAMESPACE, name, (publisher.DIMENSION,)): unit for name, unit in table.items()}


def cross_check(texts: dict[str, str], table: dict[str, str], agent_config: dict) -> list[str]:
    ollama = ollama_metrics(table)
    agent = agent_metrics(agent_config)
    readers = terraform_readers(texts, {publisher.NAMESPACE, agent_config["metrics"]["namespace"]})
    problems = []
    for metric, metric_readers in sorted(readers.items(), key=lambda item: repr(item[0])):
        for reader in metric_readers:
            if metric not in ollama and metric not in agent:
                problems.append(f"{reader['where']} reads {metric}, which nothing publishes")
            elif reader["unit"] and metric in ollama and reader["unit"] != ollama[metric]:
                problems.append(f"{reader['where']} reads {metric} in {reader['unit']}, published in {ollama[metric]}")
    for metric in ollama:
        if metric not in readers:
            problems.append(f"the publisher sends {metric}, which no dashboard, alarm or policy reads")
    for metric, plugin in agent.items():
        if plugin in AGENT_DASHBOARD_PLUGINS and metric not in readers:
            problems.append(f"the agent sends {metric}, which the dashboard does not show")
    return problems


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(TERRAFORM.glob("*.tf"))}


@pytest.fixture(scope="module")
def agent_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return render(tmp_path_factory.mktemp("cwagent-metrics"))


def test_terraform_and_the_publishers_agree(texts: dict[str, str], agent_config: dict) -> None:
    assert cross_check(texts, publisher.METRICS, agent_config) == []


def test_the_readers_found_cover_policy_alarm_and_dashboard(texts: dict[str, str], agent_config: dict) -> None:
    readers = terraform_readers(texts, {"Ollama", "CWAgent"})
    wheres = {reader["where"] for metric_readers in readers.values() for reader in metric_readers}
    assert {"scaling.tf", "monitoring.tf", "monitoring.tf (dashboard)"} <= wheres
    assert Metric("Ollama", "InFlightRequests", ("AutoScalingGroupName",)) in readers
    assert Metric("CWAgent", "mem_used_percent", ("AutoScalingGroupName",)) in readers


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"Ollama", "TimeToFirstToken"', '"Ollama", "TimeToFirstTokens"', "TimeToFirstTokens', dimensions"),
        ('metric_name = "InFlightRequests"', 'metric_name = "InflightRequests"', "InflightRequests"),
        ('"CWAgent", "mem_used_percent"', '"CWAgent", "mem_used_percentage"', "mem_used_percentage"),
        ('name  = "AutoScalingGroupName"', 'name  = "AutoscalingGroupName"', "AutoscalingGroupName"),
        ('unit        = "Count"', 'unit        = "Percent"', "in Percent, published in Count"),
    ],
)
def test_a_planted_misspelling_in_terraform_fails(
    texts: dict[str, str], agent_config: dict, old: str, new: str, expected: str
) -> None:
    planted = {name: text.replace(old, new) for name, text in texts.items()}
    assert planted != texts, f"nothing to plant: {old!r} is not in terraform/"
    problems = cross_check(planted, publisher.METRICS, agent_config)
    assert any(expected in problem for problem in problems), problems


def test_a_planted_misspelling_in_the_publisher_fails(texts: dict[str, str], agent_config: dict) -> None:
    table = {("QueuedRequest" if name == "QueuedRequests" else name): unit for name, unit in publisher.METRICS.items()}
    problems = cross_check(texts, table, agent_config)
    assert any("QueuedRequests" in p and "nothing publishes" in p for p in problems), problems
    assert any("QueuedRequest'" in p and "no dashboard" in p for p in problems), problems


def test_an_agent_metric_missing_from_the_dashboard_fails(texts: dict[str, str], agent_config: dict) -> None:
    config = {**agent_config, "metrics": {**agent_config["metrics"]}}
    config["metrics"]["metrics_collected"] = {
        **config["metrics"]["metrics_collected"],
        "mem": {"measurement": ["mem_used_percent", "mem_available_percent"]},
    }
    problems = cross_check(texts, publisher.METRICS, config)
    assert any("mem_available_percent" in p for p in problems), problems
