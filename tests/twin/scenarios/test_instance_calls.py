"""Every AWS call the twin's instances made with their role's credentials is one the role's policy allows and one
the tier's program table names (requirement 7.2, least-privilege instance roles, seen on running instances).

The metadata double gives every instance its role's own access key (tools/twin/imds.py ``role_access_key``), and the
emulator records each request with the key that signed it (``GET /_emulator/calls``). The actions recorded for the
frontend and backend roles are held by ``recorded_findings`` (tests/terraform/instance_calls.py, the evaluator of
the static check: no second one) to the roles' inline policies and the tiers' program table, as terraform/ has them
for the dev environment (the environments' instance policies differ in names only, and the static check compares
every environment; the twin's secrets are all in Secrets Manager, as dev's).

Compared: each recorded action is allowed by a statement of the role (IAM's wildcards) that names a resource of the
action's service, and it is one the tier's programs call. Not compared: which resource a call named and the condition
values (the metric namespace, kms:ViaService), which the record does not hold (the static check holds them), and the
data-key requests AWS makes to KMS for the caller (never signed with the role's key). Not IAM-checked: sts
GetCallerIdentity, which needs no permission (counted, never compared), and the metadata double's answers (IMDS is
no AWS API: it never reaches the emulator).

The record holds what the instances did during the whole run (this scenario runs after all the others: conftest.py
RUN_LAST): their boots (secrets, lifecycle hooks), the log shipper, the metrics, and what the scenarios exercised
(the fleet operations' release and drain, scale-out, the night schedule, the rotations' restarts out of the target
group, document uploads to S3). Paths no scenario takes are not in it; the static check covers those.
"""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from types import ModuleType

import pytest

from tests.twin.scenarios.conftest import ROOT, Twin
from tools import aws_emulator
from tools.twin.imds import role_access_key

pytestmark = pytest.mark.twin

GROUP_OUTPUTS = {"frontend": "ollama_frontend_asg_name", "backend": "ollama_backend_asg_name"}
ENVIRONMENT = "dev"  # the terraform/environments/*.tfvars the policies are evaluated for
EVERY_INSTANCE_CALLS = "autoscaling:CompleteLifecycleAction"  # each instance's bootstrap completes its launch hook


def _instance_calls() -> ModuleType:
    """tests/terraform/instance_calls.py (it and its helpers import each other by module name, from their folder)."""
    folder = str(ROOT / "tests" / "terraform")
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module("instance_calls")


def instance_role(twin: Twin, tier: str) -> str:
    """The role of the instance profile the tier's group launches with, read as the controller reads it: the group's
    launch template version, its instance profile, the profile's role."""
    template = twin.group(twin.outputs[GROUP_OUTPUTS[tier]])["LaunchTemplate"]
    which = (
        {"LaunchTemplateId": template["LaunchTemplateId"]}
        if template.get("LaunchTemplateId")
        else {"LaunchTemplateName": template["LaunchTemplateName"]}
    )
    version = twin.client("ec2").describe_launch_template_versions(**which, Versions=[str(template["Version"])])
    profile = version["LaunchTemplateVersions"][0]["LaunchTemplateData"]["IamInstanceProfile"]
    name = profile.get("Name") or profile["Arn"].rsplit("/", 1)[-1]
    roles = twin.client("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    assert roles, f"instance profile {name} of the {tier} tier has no role"
    return roles[0]["RoleName"]


def recorded(twin: Twin, role: str) -> Counter[str]:
    """IAM action -> how many requests the emulator recorded with the role's key."""
    calls = _instance_calls()
    return Counter(
        calls.recorded_action(c["service"], c["action"])
        for c in aws_emulator.calls(twin.endpoint, role_access_key(role))
    )


def test_instance_calls_stay_within_their_roles(twin: Twin, record_property):
    calls = _instance_calls()
    stack = calls.Stack(calls.TERRAFORM_DIR, calls.Scenario(ENVIRONMENT))
    roles = {tier: instance_role(twin, tier) for tier in GROUP_OUTPUTS}
    assert len(set(roles.values())) == len(roles), f"the tiers share a role: {roles}"
    findings, counts = [], {}
    for tier, role in roles.items():
        actions = recorded(twin, role)
        counts[role] = dict(sorted(actions.items()))
        print(f"{tier} ({role}, key {role_access_key(role)}): {sum(actions.values())} calls")
        for action, count in sorted(actions.items()):
            skipped = " (not IAM-checked)" if action in calls.NOT_IAM_CHECKED else ""
            print(f"  {count:7d}  {action or '(unnamed)'}{skipped}")
        record_property(f"calls_{tier}", counts[role])
        assert actions[EVERY_INSTANCE_CALLS], (
            f"no {EVERY_INSTANCE_CALLS} recorded with the {tier} role's key {role_access_key(role)}: the instances do "
            "not sign with their role's credentials (tools/twin/imds.py per_role, the controller's metadata server)"
        )
        findings += calls.recorded_findings(f"twin, {tier} ({role})", stack.tier(tier), actions)
    assert findings == [], "\n".join(findings)
