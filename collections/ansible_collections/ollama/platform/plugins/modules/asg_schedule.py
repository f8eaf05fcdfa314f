#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: asg_schedule
short_description: Scale the Auto Scaling groups of an environment to zero and back
version_added: 0.1.0
description:
  - C(down) records each group's min/max/desired capacity in the tag C(ollama:scheduled-capacity) and sets all
    three to zero. C(up) restores the recorded capacity and removes the tag.
  - Idempotent; check mode reports what would change. Used by C(playbooks/schedule.yml) for non-production
    environments at night.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  names:
    description: Auto Scaling groups to scale.
    type: list
    elements: str
    required: true
  action:
    description: C(down) scales to zero, C(up) restores the recorded capacity.
    type: str
    required: true
    choices: [down, up]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Scale dev to zero for the night
  ollama.platform.asg_schedule:
    names: [ollama-dev-asg, ollama-dev-frontend-asg]
    action: down
"""

RETURN = r"""
groups:
  description: Per group, the capacity before and after and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "ollama-dev-asg", "changed": true, "before": "1/4/2", "after": "0/0/0"}]
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils import asg_schedule  # noqa: E402

ARGUMENT_SPEC = {
    "names": {"type": "list", "elements": "str", "required": True},
    "action": {"type": "str", "required": True, "choices": ["down", "up"]},
}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    client = module.client("autoscaling")
    names = module.params["names"]
    results = []
    try:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"]
        found = {g["AutoScalingGroupName"]: g for g in groups}
        missing = [n for n in names if n not in found]
        if missing:
            module.fail_json(
                msg=f"Auto Scaling group(s) {', '.join(missing)} not found: check the environment's outputs"
            )
        for name in names:
            group = found[name]
            try:
                change = asg_schedule.plan(group, module.params["action"])
            except ValueError as exc:
                module.fail_json(msg=f"{name}: {exc}")
            before = asg_schedule.encode(group)
            if change is None:
                results.append({"name": name, "changed": False, "before": before, "after": before})
                continue
            sizes = change["sizes"]
            after = f"{sizes['MinSize']}/{sizes['MaxSize']}/{sizes['DesiredCapacity']}"
            results.append({"name": name, "changed": True, "before": before, "after": after})
            if module.check_mode:
                continue
            tag = {"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": asg_schedule.SAVED_TAG}
            if "save" in change:
                client.create_or_update_tags(Tags=[{**tag, "Value": change["save"], "PropagateAtLaunch": False}])
            client.update_auto_scaling_group(AutoScalingGroupName=name, **sizes)
            if change.get("restore"):
                client.delete_tags(Tags=[tag])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="Could not scale the Auto Scaling groups: check the credentials and region")
    module.exit_json(changed=any(r["changed"] for r in results), groups=results)


if __name__ == "__main__":
    main()
