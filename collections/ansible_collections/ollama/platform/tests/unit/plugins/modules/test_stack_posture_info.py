"""Unit tests for stack_posture_info: documentation and wiring (AWS behaviour: integration tests)."""

from types import SimpleNamespace

from ansible_collections.ollama.platform.plugins.modules import stack_posture_info as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)


def test_run_checks_with_nothing_to_check_still_checks_alarms(monkeypatch):
    calls = []

    def fake(name):
        def collector(*args):
            calls.append(name)
            return ([], []) if name in {"dynamodb", "buckets", "asgs", "alarms"} else []

        return collector

    for name in ("asgs", "targets", "alarms", "dynamodb", "buckets", "log_groups", "kms"):
        monkeypatch.setattr(mod.aws_posture, f"collect_{name}", fake(name))
    params = {k: v.get("default") for k, v in mod.ARGUMENT_SPEC.items()}
    params["name_prefix"] = "ollama-dev"
    result = mod.run_checks(SimpleNamespace(params=params, client=lambda s: None))
    assert result == {
        "findings": [],
        "healthy": True,
        "checked": {
            "asgs": 0,
            "target_groups": 0,
            "alarm_prefix": "ollama-dev",
            "tables": 0,
            "buckets": 0,
            "kms_keys": 0,
        },
        "pending_subscriptions": [],
    }
    assert calls == ["targets", "alarms", "dynamodb", "buckets", "kms"]


def test_findings_make_the_result_unhealthy(monkeypatch):
    finding = {"check": "dynamodb_pitr", "resource": "t", "message": "m", "remediation": "r"}
    monkeypatch.setattr(mod.aws_posture, "collect_dynamodb", lambda client, names: ([finding], ["k"]))
    monkeypatch.setattr(mod.aws_posture, "collect_buckets", lambda client, names, unversioned: ([], []))
    monkeypatch.setattr(mod.aws_posture, "collect_targets", lambda client, arns: [])
    pending = [{"topic_arn": "arn:aws:sns:us-east-1:1:t", "protocol": "email", "endpoint": "ops@example.com"}]
    monkeypatch.setattr(mod.aws_posture, "collect_alarms", lambda client, prefix, topic: ([], pending))
    monkeypatch.setattr(mod.aws_posture, "collect_kms", lambda client, keys: [])
    params = {k: v.get("default") for k, v in mod.ARGUMENT_SPEC.items()}
    params.update(name_prefix="ollama", dynamodb_tables=["t"], alarm_prefix="custom")
    result = mod.run_checks(SimpleNamespace(params=params, client=lambda s: None))
    assert result["findings"] == [finding]
    assert result["healthy"] is False
    assert result["checked"]["alarm_prefix"] == "custom"
    assert result["checked"]["kms_keys"] == 1
    assert result["pending_subscriptions"] == pending
