"""Unit tests for the pure parts of module_utils/terraform_backend.py and module_utils/aws_preflight.py."""

import pytest
from ansible_collections.ollama.platform.plugins.module_utils import aws_preflight
from ansible_collections.ollama.platform.plugins.module_utils import terraform_backend as tb

DENY = tb.tls_only_policy("state")["Statement"][0]


def test_tls_only_policy_is_recognised():
    policy = tb.tls_only_policy("state")
    assert policy["Statement"][0]["Resource"] == ["arn:aws:s3:::state", "arn:aws:s3:::state/*"]
    assert tb.policy_denies_insecure_transport(policy, "state")
    assert not tb.policy_denies_insecure_transport(policy, "other-bucket")


@pytest.mark.parametrize(
    "policy",
    [
        None,
        {"Statement": []},
        {"Statement": [{"Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
        {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]},
        # only one principal, only reads, or only another prefix: not a TLS-only policy
        {"Statement": [{**DENY, "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]},
        {"Statement": [{**DENY, "Action": "s3:GetObject"}]},
        {"Statement": [{**DENY, "Resource": ["arn:aws:s3:::state/none/*"]}]},
    ],
)
def test_policies_without_tls_deny(policy):
    assert not tb.policy_denies_insecure_transport(policy, "state")


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        ("arn:aws:sts::123456789012:assumed-role/deployer/ci-42", "arn:aws:iam::123456789012:role/deployer"),
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
        ("arn:aws:sts::123456789012:user/moto", "arn:aws:iam::123456789012:user/moto"),
        ("arn:aws:iam::123456789012:root", None),
        ("arn:aws:sts::123456789012:federated-user/bob", None),
    ],
)
def test_principal_from_caller_arn(arn, principal):
    assert aws_preflight.principal_from_caller_arn(arn) == principal


def test_denied_actions():
    results = [
        {"EvalActionName": "s3:PutObject", "EvalDecision": "allowed"},
        {"EvalActionName": "kms:CreateKey", "EvalDecision": "implicitDeny", "EvalResourceName": "*"},
    ]
    assert aws_preflight.denied_actions(results) == [
        {"action": "kms:CreateKey", "decision": "implicitDeny", "resource": "*"}
    ]


def test_account_check():
    assert aws_preflight.account_check("123456789012", ["123456789012"]) is None
    assert "not allowed" in aws_preflight.account_check("123456789012", ["210987654321"])
    assert "platform_allowed_account_ids" in aws_preflight.account_check("123456789012", [])
