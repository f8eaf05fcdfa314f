"""The posture rules of stack_posture_info on the parsed Terraform of each environment's settings.

The rules are the collection's own functions (module_utils/aws_posture.py: ``evaluate_alarms``, ``check_log_groups``),
the ones the module applies to what AWS answers (tests/integration/test_posture_module.py runs them on the emulator).
This file only translates Terraform into the shapes those APIs return: each alarm resource with its resolved
``alarm_actions``, each topic's subscriptions from ``for_each`` over the environment's variables (an e-mail or HTTPS
subscription starts ``PendingConfirmation``), each log group under ``/ollama/<env>/`` with its retention.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from ansible_collections.ollama.platform.plugins.module_utils import aws_posture
from terraform_helpers import ENVIRONMENTS, TERRAFORM_DIR

from tools.provider_schema.check import _parse_text

MIN_LOG_RETENTION_DAYS = 7  # playbooks/verify.yml's default
REFERENCE = re.compile(r"^\$\{(.*)\}$")


class Unsupported(Exception):
    """An expression this translation does not evaluate: extend it rather than guess."""


def sources() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(TERRAFORM_DIR.glob("*.tf"))}


def tfvars_text(environment: str) -> str:
    return (TERRAFORM_DIR / "environments" / f"{environment}.tfvars").read_text(encoding="utf-8")


class Stack:
    """One environment's Terraform: the parsed files and the variables' values (tfvars over defaults)."""

    def __init__(self, texts: dict[str, str], tfvars: str, environment: str) -> None:
        self.docs = [_parse_text(text) for text in texts.values()]
        self.environment = environment
        self.variables: dict[str, Any] = {}
        for doc in self.docs:
            for group in doc.get("variable", []):
                for name, body in group.items():
                    if name != "__is_block__" and "default" in body:
                        self.variables[name] = body["default"]
        self.variables.update({k: v for k, v in _parse_text(tfvars).items() if not k.startswith("__")})
        self.locals = {k: v for doc in self.docs for group in doc.get("locals", []) for k, v in group.items()}

    def resources(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (name, body)
            for doc in self.docs
            for group in doc.get("resource", [])
            for name, body in group.get(kind, {}).items()
            if name != "__is_block__"
        ]

    def resolve(self, value: Any) -> list[str]:
        """ARNs of an actions/topic expression; topics and policies get ARNs named after their resource."""
        if isinstance(value, list):
            return [arn for item in value for arn in self.resolve(item)]
        match = REFERENCE.match(str(value))
        if match is None:
            raise Unsupported(f"not a reference: {value!r}")
        expression = match.group(1)
        if expression.startswith("local."):
            return self.resolve(self.locals[expression.removeprefix("local.")])
        topic = re.fullmatch(r"aws_sns_topic\.(\w+)(?:\[0\])?\.arn", expression)
        if topic:
            return [f"arn:aws:sns:terraform:000000000000:{topic.group(1)}"]
        policy = re.fullmatch(r"aws_autoscaling_policy\.(\w+)(\[0\])?\.arn", expression)
        if policy:
            return [f"arn:aws:autoscaling:terraform:000000000000:scalingPolicy:{policy.group(1)}"]
        raise Unsupported(f"cannot resolve {expression}")

    @property
    def primary(self) -> bool:
        """local.is_primary: the primary stack (no var.dr_mode), which owns the billing alarm and its topic."""
        return self.variables.get("dr_mode", "") == ""

    def created(self, body: dict[str, Any]) -> bool:
        """Whether a counted resource exists under these settings (count = var.X ? 1 : 0, local.is_primary ? 1 : 0,
        or none)."""
        count = body.get("count")
        if count is None:
            return True
        if str(count) == "${local.is_primary ? 1 : 0}":
            return self.primary
        match = re.fullmatch(r"\$\{var\.(\w+) \? 1 : 0\}", str(count))
        if match is None:
            raise Unsupported(f"count {count!r}")
        return bool(self.variables[match.group(1)])

    def each(self, body: dict[str, Any]) -> list[Any]:
        """The for_each keys of a subscription (toset(var.X), or the primary stack's only)."""
        match = re.fullmatch(r"\$\{toset\(var\.(\w+)\)\}", str(body["for_each"]))
        primary = re.fullmatch(r"\$\{local\.is_primary \? toset\(var\.(\w+)\) : toset\(\[\]\)\}", str(body["for_each"]))
        if match is None and primary is None:
            raise Unsupported(f"for_each {body['for_each']!r}")
        if primary is not None:
            return list(self.variables.get(primary.group(1), [])) if self.primary else []
        return list(self.variables.get(match.group(1), []))

    def alarms(self) -> list[dict[str, Any]]:
        return [
            {"AlarmName": f"aws_cloudwatch_metric_alarm.{name}", "AlarmActions": self.resolve(body["alarm_actions"])}
            if "alarm_actions" in body
            else {"AlarmName": f"aws_cloudwatch_metric_alarm.{name}", "AlarmActions": []}
            for name, body in self.resources("aws_cloudwatch_metric_alarm")
            if self.created(body)
        ]

    def subscriptions(self) -> dict[str, list[dict[str, Any]] | None]:
        by_topic: dict[str, list[dict[str, Any]] | None] = {
            arn: []
            for name, _ in self.resources("aws_sns_topic")
            for arn in self.resolve(f"${{aws_sns_topic.{name}.arn}}")
        }
        for _, body in self.resources("aws_sns_topic_subscription"):
            (topic,) = self.resolve(body["topic_arn"])
            for endpoint in self.each(body):
                entry = {"SubscriptionArn": "PendingConfirmation", "Protocol": body["protocol"], "Endpoint": endpoint}
                by_topic[topic].append(entry)
        return by_topic

    def log_groups(self, prefix: str) -> list[dict[str, Any]]:
        """Log groups under prefix: local.log_groups' names for this environment, retention from its variable."""
        groups = []
        for _, body in self.resources("aws_cloudwatch_log_group"):
            retention = body.get("retention_in_days")
            days = None
            if retention is not None:
                match = re.fullmatch(r"\$\{var\.(\w+)\}", str(retention))
                days = int(self.variables[match.group(1)]) if match else int(retention)
            for value in self.locals["log_groups"].values():
                name = str(value).replace("${local.log_group_prefix}", f"/ollama/{self.environment}")
                if name.startswith(prefix):
                    groups.append({"logGroupName": name, "retentionInDays": days})
        return groups


def findings(texts: dict[str, str], tfvars: str, environment: str) -> list[tuple[str, str]]:
    stack = Stack(texts, tfvars, environment)
    topic = stack.resolve("${aws_sns_topic.alarms.arn}")[0]
    alarm_findings, _ = aws_posture.evaluate_alarms(stack.alarms(), topic, "ollama", stack.subscriptions())
    prefix = f"/ollama/{environment}/"
    log_findings = aws_posture.check_log_groups(prefix, stack.log_groups(prefix), MIN_LOG_RETENTION_DAYS)
    return sorted((f["check"], f["resource"]) for f in alarm_findings + log_findings)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_meets_the_posture_rules(environment: str) -> None:
    assert findings(sources(), tfvars_text(environment), environment) == []


def test_the_translation_sees_every_alarm_and_subscription() -> None:
    stack = Stack(sources(), tfvars_text("production"), "production")
    names = {alarm["AlarmName"] for alarm in stack.alarms()}
    assert {"aws_cloudwatch_metric_alarm.low_cpu", "aws_cloudwatch_metric_alarm.billing"} <= names
    topics = stack.subscriptions()
    assert all(topics.values()), topics  # every topic, the billing one too, has a subscriber
    assert len(stack.log_groups("/ollama/production/")) >= 4


def test_a_low_cpu_alarm_that_notifies_nobody_is_a_finding() -> None:
    planted = sources()
    old = (
        'dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this["backend"].name }\n'
        "  alarm_actions       = local.alarm_actions\n"
        "  ok_actions          = local.alarm_actions\n"
    )
    assert planted["monitoring.tf"].count(old) == 1
    planted["monitoring.tf"] = planted["monitoring.tf"].replace(
        old, 'dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this["backend"].name }\n'
    )
    assert findings(planted, tfvars_text("dev"), "dev") == [("alarm_actions", "aws_cloudwatch_metric_alarm.low_cpu")]


def test_an_environment_without_subscribers_is_a_finding() -> None:
    tfvars = re.sub(r"(?m)^alarm_emails\s*=.*$", "alarm_emails = []", tfvars_text("staging"))
    assert tfvars != tfvars_text("staging")
    assert findings(sources(), tfvars, "staging") == [
        ("alarm_subscribers", "arn:aws:sns:terraform:000000000000:alarms"),
        ("alarm_subscribers", "arn:aws:sns:terraform:000000000000:billing"),
    ]


def test_a_short_or_missing_retention_is_a_finding() -> None:
    tfvars = re.sub(r"(?m)^log_retention_days\s*=.*$", "log_retention_days = 3", tfvars_text("dev"))
    assert {check for check, _ in findings(sources(), tfvars, "dev")} == {"log_retention"}
    planted = sources()
    planted["monitoring.tf"] = planted["monitoring.tf"].replace("retention_in_days = var.log_retention_days\n", "")
    missing = findings(planted, tfvars_text("dev"), "dev")
    assert missing and all(check == "log_retention" for check, _ in missing)


def test_an_expression_it_cannot_evaluate_stops_the_test() -> None:
    planted = sources()
    planted["monitoring.tf"] = planted["monitoring.tf"].replace(
        "alarm_actions       = local.alarm_actions", "alarm_actions       = var.some_actions", 1
    )
    with pytest.raises(Unsupported, match=re.escape("var.some_actions")):
        findings(planted, tfvars_text("dev"), "dev")
