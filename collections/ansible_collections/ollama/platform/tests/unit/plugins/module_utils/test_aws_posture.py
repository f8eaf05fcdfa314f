"""Unit tests for the pure posture checks in module_utils/aws_posture.py."""

from ansible_collections.ollama.platform.plugins.module_utils import aws_posture as p


def _asg(instances, azs=("us-east-1a", "us-east-1b"), min_size=2):
    return {
        "AutoScalingGroupName": "ollama-dev-asg",
        "MinSize": min_size,
        "AvailabilityZones": list(azs),
        "Instances": [{"LifecycleState": s, "AvailabilityZone": z} for s, z in instances],
    }


def checks(findings):
    return sorted(f["check"] for f in findings)


def test_healthy_asg_has_no_findings():
    assert p.check_asg(_asg([("InService", "us-east-1a"), ("InService", "us-east-1b")])) == []


def test_asg_below_minimum_counts_only_in_service():
    findings = p.check_asg(_asg([("InService", "us-east-1a"), ("Pending", "us-east-1b")]))
    assert checks(findings) == ["asg_capacity"]
    assert findings[0]["resource"] == "ollama-dev-asg"
    assert "1 instance(s) InService, minimum is 2" in findings[0]["message"]


def test_asg_in_one_zone():
    findings = p.check_asg(_asg([("InService", "us-east-1a"), ("InService", "us-east-1a")], azs=["us-east-1a"]))
    assert checks(findings) == ["asg_spread", "asg_zones"]


def test_single_instance_asg_spread_needs_one_zone_only():
    assert p.check_asg(_asg([("InService", "us-east-1a")], min_size=1)) == []


def test_target_health():
    assert p.check_target_health("tg", [{"Target": {"Id": "i-1"}, "TargetHealth": {"State": "healthy"}}]) == []
    bad = p.check_target_health(
        "tg", [{"Target": {"Id": "i-2"}, "TargetHealth": {"State": "unhealthy", "Description": "Health checks failed"}}]
    )
    assert bad[0]["resource"] == "tg/i-2" and "unhealthy: Health checks failed" in bad[0]["message"]
    assert checks(p.check_target_health("tg", [])) == ["targets_healthy"]
    rising = p.check_target_health(
        "tg",
        [{"Target": {"Id": "i-3"}, "TargetHealth": {"State": "initial", "Reason": "Elb.RegistrationInProgress"}}],
    )
    assert checks(rising) == ["targets_initial"] and "wait for its first health checks" in rising[0]["remediation"]


def test_alarms():
    topic = "arn:aws:sns:us-east-1:123456789012:ollama-dev-alarms"
    policy = (
        "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:abc:autoScalingGroupName/ollama-dev-asg:policyName/in"
    )
    ok = {"AlarmName": "ollama-dev-high-cpu", "AlarmActions": [policy, topic]}
    silent = {"AlarmName": "ollama-dev-silent", "AlarmActions": []}
    scaling_only = {"AlarmName": "ollama-dev-low-cpu", "AlarmActions": [policy]}
    billing = {"AlarmName": "ollama-dev-estimated-charges", "AlarmActions": ["arn:aws:sns:us-east-1:1:billing"]}
    findings = p.check_alarms([ok, silent, scaling_only, billing], topic, "ollama-dev")
    assert [(f["check"], f["resource"]) for f in findings] == [
        ("alarm_actions", "ollama-dev-silent"),
        ("alarm_actions", "ollama-dev-low-cpu"),
    ]
    assert "only triggers" in findings[1]["message"] and topic in findings[1]["remediation"]
    assert checks(p.check_alarms([], topic, "ollama-dev")) == ["alarms_exist"]
    assert p.notified_topics([ok, billing], topic) == [topic, "arn:aws:sns:us-east-1:1:billing"]
    assert p.is_sns_topic("arn:aws-us-gov:sns:us-gov-west-1:1:t") and not p.is_sns_topic(policy)


def test_alarm_topics_need_a_subscriber_and_pending_ones_are_listed():
    topic = "arn:aws:sns:us-east-1:123456789012:ollama-dev-alarms"
    alarm = {"AlarmName": "ollama-dev-high-cpu", "AlarmActions": [topic]}
    confirmed = {"SubscriptionArn": f"{topic}:1f2e", "Protocol": "https", "Endpoint": "https://on-call.example.com/sns"}
    pending = {"SubscriptionArn": "PendingConfirmation", "Protocol": "email", "Endpoint": "ops@example.com"}
    findings, waiting = p.evaluate_alarms([alarm], topic, "ollama-dev", {topic: [confirmed, pending]})
    assert findings == []
    assert waiting == [{"topic_arn": topic, "protocol": "email", "endpoint": "ops@example.com"}]
    findings, waiting = p.evaluate_alarms([alarm], topic, "ollama-dev", {topic: []})
    assert [(f["check"], f["resource"]) for f in findings] == [("alarm_subscribers", topic)]
    assert "alarm_emails or alarm_https_endpoints" in findings[0]["remediation"]
    findings = p.evaluate_alarms([alarm], topic, "ollama-dev", {topic: None})[0]
    assert checks(findings) == ["sns_topic"]


def test_dynamodb():
    table = {"SSEDescription": {"Status": "ENABLED", "SSEType": "KMS"}}
    pitr_on = {"PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED"}}
    assert p.check_dynamodb("t", table, pitr_on) == []
    assert checks(p.check_dynamodb("t", {}, {})) == ["dynamodb_encryption", "dynamodb_pitr"]
    assert checks(p.check_dynamodb("t", None, None)) == ["dynamodb_exists"]


def test_bucket():
    enc = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    pab = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    assert p.check_bucket("b", enc, {"Status": "Enabled"}, pab) == []
    bad = p.check_bucket("b", None, {}, {**pab, "BlockPublicPolicy": False})
    assert checks(bad) == ["s3_encryption", "s3_public_access", "s3_versioning"]
    assert "BlockPublicPolicy off" in next(f for f in bad if f["check"] == "s3_public_access")["message"]
    assert p.check_bucket("logs", enc, {}, pab, require_versioning=False) == []


def test_log_groups():
    groups = [{"logGroupName": "/ollama/dev/a", "retentionInDays": 30}, {"logGroupName": "/ollama/dev/b"}]
    findings = p.check_log_groups("/ollama/dev/", groups, 7)
    assert [f["resource"] for f in findings] == ["/ollama/dev/b"]
    assert checks(p.check_log_groups("/ollama/dev/", [{"logGroupName": "x", "retentionInDays": 1}], 7)) == [
        "log_retention"
    ]
    assert checks(p.check_log_groups("/ollama/dev/", [], 7)) == ["log_groups_exist"]


def test_kms():
    meta = {"KeyManager": "CUSTOMER", "KeyState": "Enabled"}
    assert p.check_kms_key("k", meta, True) == []
    assert checks(p.check_kms_key("k", meta, False)) == ["kms_rotation"]
    assert checks(p.check_kms_key("k", {**meta, "KeyState": "PendingDeletion"}, True)) == ["kms_state"]
    assert p.check_kms_key("aws/s3", {"KeyManager": "AWS"}, None) == []
    assert checks(p.check_kms_key("k", None, None)) == ["kms_exists"]


def test_every_finding_names_a_fix():
    findings = p.check_bucket("b", None, None, None) + p.check_dynamodb("t", {}, {}) + p.check_alarms([], None, "x")
    assert findings and all(f["remediation"] and f["message"] and f["resource"] for f in findings)
