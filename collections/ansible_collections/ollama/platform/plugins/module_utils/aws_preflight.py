# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the preflight checks: who is calling, what they may do, and the account's quotas."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import ClientError
except ImportError:
    pass

_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/[^/]+$")
_IAM_PRINCIPAL = re.compile(r"^arn:[^:]+:iam::\d{12}:(user|role)/.+$")


def principal_from_caller_arn(arn: str) -> str | None:
    """Return the IAM principal ARN the policy simulator accepts for a caller ARN (None for root/federated)."""
    match = _ASSUMED_ROLE.match(arn)
    if match:
        return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"
    if _IAM_PRINCIPAL.match(arn):
        return arn
    if ":sts::" in arn and ":user/" in arn:  # some emulators answer sts-style user ARNs
        return arn.replace(":sts::", ":iam::")
    return None


def denied_actions(results: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """Return the actions whose simulated decision is not ``allowed``."""
    return [
        {
            "action": r.get("EvalActionName", "?"),
            "decision": r.get("EvalDecision", "?"),
            "resource": r.get("EvalResourceName", "*"),
        }
        for r in results
        if r.get("EvalDecision") != "allowed"
    ]


def account_check(account: str, allowed: Iterable[str]) -> str | None:
    """Return an error message when ``account`` is not one of ``allowed`` (None when it is)."""
    allowed = [str(a) for a in allowed]
    if not allowed:
        return (
            "no account is allowed for this environment: set platform_allowed_account_ids in the inventory's group_vars"
        )
    if str(account) not in allowed:
        return (
            f"account {account} is not allowed for this environment (allowed: {', '.join(allowed)}): "
            "use credentials of the right account (AWS_PROFILE) or fix platform_allowed_account_ids"
        )
    return None


def read_quota(client: Any, service_code: str, quota_code: str) -> tuple[dict, str]:
    """A quota as applied to the account, else its AWS default (a Service Quotas client): (quota, "applied" |
    "default")."""
    try:
        return client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"], "applied"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchResourceException":
            raise
    return client.get_aws_default_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"], "default"
