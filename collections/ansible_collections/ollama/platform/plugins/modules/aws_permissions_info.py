#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: aws_permissions_info
short_description: Report the caller's identity and simulate the IAM permissions a run needs
version_added: 0.1.0
description:
  - Reads the caller identity (STS C(GetCallerIdentity)) and, where the API allows, simulates the given actions
    with the IAM policy simulator (C(SimulatePrincipalPolicy)) for the caller's user or role.
  - When the simulator is not available (root or federated callers, missing C(iam:SimulatePrincipalPolicy),
    an emulator without it) the result says so in RV(reason) instead of failing.
  - Read-only; safe in check mode.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  actions:
    description: IAM actions the run needs, for example C(s3:PutObject).
    type: list
    elements: str
    default: []
  resource_arns:
    description: Resources to simulate the actions on.
    type: list
    elements: str
    default: ["*"]
  allowed_account_ids:
    description: When given, RV(account_allowed) tells whether the caller's account is one of them.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check who runs and whether they may deploy
  ollama.platform.aws_permissions_info:
    actions: [ec2:RunInstances, autoscaling:UpdateAutoScalingGroup, s3:PutObject]
    allowed_account_ids: ["123456789012"]
  register: perms

- name: Refuse missing permissions
  ansible.builtin.assert:
    that: perms.denied | length == 0
    fail_msg: "missing IAM permissions: {{ perms.denied | map(attribute='action') | join(', ') }}"
"""

RETURN = r"""
account:
  description: The caller's AWS account id.
  returned: always
  type: str
  sample: "123456789012"
arn:
  description: The caller's ARN.
  returned: always
  type: str
  sample: arn:aws:sts::123456789012:assumed-role/deployer/session
account_allowed:
  description: Whether the account is in O(allowed_account_ids) (true when that list is empty).
  returned: always
  type: bool
  sample: true
account_message:
  description: Why the account is not allowed, with the fix; empty when it is.
  returned: always
  type: str
  sample: ""
simulated:
  description: Whether the permissions were simulated.
  returned: always
  type: bool
  sample: true
reason:
  description: Why the permissions were not simulated; empty when they were.
  returned: always
  type: str
  sample: ""
denied:
  description: Actions the simulator did not allow, with the decision.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "kms:CreateKey", "decision": "implicitDeny", "resource": "*"}]
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils import aws_preflight  # noqa: E402

ARGUMENT_SPEC = {
    "actions": {"type": "list", "elements": "str", "default": []},
    "resource_arns": {"type": "list", "elements": "str", "default": ["*"]},
    "allowed_account_ids": {"type": "list", "elements": "str", "default": []},
}


def simulate(module: AnsibleAWSModule, principal: str) -> tuple[bool, str, list[dict[str, str]]]:
    iam = module.client("iam")
    results = []
    try:
        paginator = iam.get_paginator("simulate_principal_policy")
        for page in paginator.paginate(
            PolicySourceArn=principal, ActionNames=module.params["actions"], ResourceArns=module.params["resource_arns"]
        ):
            results.extend(page.get("EvaluationResults", []))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return (
            False,
            f"the policy simulator answered {code}: grant iam:SimulatePrincipalPolicy to check permissions",
            [],
        )
    except Exception as exc:  # noqa: BLE001  (botocore's parser errors are not BotoCoreError; any means "not simulated")
        return False, f"the policy simulator is not available here ({type(exc).__name__})", []
    return True, "", aws_preflight.denied_actions(results)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        ident = module.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(
            exc,
            msg="Could not read the caller identity: configure AWS credentials (AWS_PROFILE or aws configure) "
            "and check that the endpoint is reachable",
        )
    result = {"account": ident["Account"], "arn": ident["Arn"], "simulated": False, "reason": "", "denied": []}
    message = None
    if module.params["allowed_account_ids"]:
        message = aws_preflight.account_check(ident["Account"], module.params["allowed_account_ids"])
    result["account_allowed"] = message is None
    result["account_message"] = message or ""
    if module.params["actions"]:
        principal = aws_preflight.principal_from_caller_arn(ident["Arn"])
        if principal is None:
            result["reason"] = f"{ident['Arn']} is not an IAM user or role: the policy simulator cannot evaluate it"
        else:
            result["simulated"], result["reason"], result["denied"] = simulate(module, principal)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
