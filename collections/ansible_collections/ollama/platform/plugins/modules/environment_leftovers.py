#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: environment_leftovers
short_description: List or remove what an environment leaves in a region outside Terraform's state
version_added: 0.1.0
description:
  - Finds, in one region, the resources of an environment that Terraform does not own or cannot remove at once -
    images baked for it and their snapshots (tags C(Project=ollama), C(Environment)), SSM parameters under
    C(/ollama/<environment>/), log groups under C(/ollama/<environment>/) and C(aws-waf-logs-<prefix>),
    and secrets named C(<prefix>/...) including those scheduled for deletion and replicas.
  - O(state=absent) deregisters the images, deletes their snapshots, the parameters and the log groups, and deletes
    the secrets without a recovery window (replicas are removed from their primary secret's replication first).
  - Refuses the production environment unless O(allow_production=true).
  - Check mode lists what would go and changes nothing.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  environment:
    description: The environment (C(local), C(dev), C(staging), C(production)).
    type: str
    required: true
  name_prefix:
    description: The environment's name prefix (C(ollama) in production, C(ollama-<environment>) elsewhere).
    type: str
    required: true
  state:
    description: C(present) lists, C(absent) removes.
    type: str
    choices: [present, absent]
    default: present
  allow_production:
    description: Allow O(state=absent) for production (the teardown playbook sets it after its confirmations).
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: List what dev leaves in us-west-2
  ollama.platform.environment_leftovers:
    region: us-west-2
    environment: dev
    name_prefix: ollama-dev
  register: leftovers

- name: Remove it
  ollama.platform.environment_leftovers:
    region: us-west-2
    environment: dev
    name_prefix: ollama-dev
    state: absent
"""

RETURN = r"""
resources:
  description: What was found (and, with O(state=absent), removed), as C(<kind> <id>).
  returned: always
  type: list
  elements: str
  sample: ["image ami-0123456789abcdef0", "secret ollama-dev/webui-secret-key"]
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass

from typing import Any  # noqa: E402

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402

ARGUMENT_SPEC = {
    "environment": {"type": "str", "required": True},
    "name_prefix": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "allow_production": {"type": "bool", "default": False},
}


def find(module: AnsibleAWSModule, env: str, prefix: str) -> dict[str, list[Any]]:
    ec2, ssm, logs, sm = (module.client(s) for s in ("ec2", "ssm", "logs", "secretsmanager"))
    ours = [{"Name": "tag:Project", "Values": ["ollama"]}, {"Name": "tag:Environment", "Values": [env]}]
    found: dict[str, list[Any]] = {}
    found["image"] = [i["ImageId"] for i in ec2.describe_images(Owners=["self"], Filters=ours)["Images"]]
    found["snapshot"] = [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=ours)["Snapshots"]]
    found["parameter"] = [
        p["Name"]
        for page in ssm.get_paginator("describe_parameters").paginate(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"/ollama/{env}/"]}]
        )
        for p in page["Parameters"]
    ]
    found["log group"] = [
        g["logGroupName"]
        for group_prefix in (f"/ollama/{env}/", f"aws-waf-logs-{prefix}")
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group_prefix)
        for g in page["logGroups"]
    ]
    found["secret"] = [
        s
        for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True)
        for s in page["SecretList"]
        if s["Name"].startswith(prefix + "/")
    ]
    return found


def remove(module: AnsibleAWSModule, found: dict[str, list[Any]]) -> None:
    ec2, ssm, logs, sm = (module.client(s) for s in ("ec2", "ssm", "logs", "secretsmanager"))
    for image in found["image"]:
        ec2.deregister_image(ImageId=image)
    for snapshot in found["snapshot"]:
        ec2.delete_snapshot(SnapshotId=snapshot)
    for start in range(0, len(found["parameter"]), 10):
        ssm.delete_parameters(Names=found["parameter"][start : start + 10])
    for group in found["log group"]:
        logs.delete_log_group(logGroupName=group)
    for secret in found["secret"]:
        primary = secret.get("PrimaryRegion")
        if primary and primary != module.region:
            continue  # a replica: it goes with its primary secret (removed in that region)
        regions = [r["Region"] for r in secret.get("ReplicationStatus", [])]
        if regions:
            sm.remove_regions_from_replication(SecretId=secret["ARN"], RemoveReplicaRegions=regions)
        sm.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["state"] == "absent" and p["environment"] == "production" and not p["allow_production"]:
        module.fail_json(msg="refusing to remove production's images, parameters, logs and secrets: use teardown.yml")
    try:
        found = find(module, p["environment"], p["name_prefix"])
        if p["state"] == "absent" and not module.check_mode:
            remove(module, found)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"leftovers of {p['environment']} in {module.region} ({p['state']}) failed")
    resources = [
        f"{kind} {item['Name'] if kind == 'secret' else item}" for kind, items in found.items() for item in items
    ]
    module.exit_json(changed=p["state"] == "absent" and bool(resources), resources=resources)


if __name__ == "__main__":
    main()
