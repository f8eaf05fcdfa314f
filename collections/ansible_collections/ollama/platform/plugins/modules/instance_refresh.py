#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: instance_refresh
short_description: Start, watch, cancel or roll back an Auto Scaling instance refresh
version_added: 0.1.0
description:
  - Rolls an Auto Scaling group to a launch template version with an instance refresh, with every preference AWS
    offers (C(amazon.aws.autoscaling_instance_refresh) lacks the desired configuration, the maximum healthy
    percentage, checkpoints, automatic rollback and the alarm specification).
  - The group's own launch template changes only when the refresh succeeds, so with I(preferences.auto_rollback)
    AWS restores the previous version by itself when new instances do not become ready or an alarm fires.
  - Idempotent; C(started) does nothing when the group and all its instances already run the desired version, and
    joins a refresh already rolling out the same version. Check mode reports the refresh it would start.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  name:
    description: The Auto Scaling group.
    type: str
    required: true
  state:
    description:
      - C(started) starts a refresh (or joins the active one rolling out the same version).
      - C(cancelled) cancels the active refresh (CancelInstanceRefresh); changes already made stay.
      - C(rolled_back) rolls the active refresh back to the previous configuration (RollbackInstanceRefresh).
    type: str
    default: started
    choices: [started, cancelled, rolled_back]
  launch_template:
    description: The desired configuration. Without it the refresh replaces instances with the group's own template.
    type: dict
    suboptions:
      id:
        description: Launch template id.
        type: str
      name:
        description: Launch template name (when no id).
        type: str
      version:
        description: A version number, C($Latest) or C($Default).
        type: str
  preferences:
    description: The refresh's preferences (RefreshPreferences).
    type: dict
    suboptions:
      min_healthy_percentage:
        description: Share of the desired capacity kept in service and healthy (0-100; AWS default 90).
        type: int
      max_healthy_percentage:
        description:
          - Share of the desired capacity allowed in service or pending (100-200), at most 100 above the minimum.
        type: int
      instance_warmup:
        description: Seconds a new instance is given after InService before the next replacement.
        type: int
      checkpoint_percentages:
        description: Percentages of replaced instances at which the refresh pauses, ascending.
        type: list
        elements: int
      checkpoint_delay:
        description: Seconds to pause at each checkpoint (AWS default 3600).
        type: int
      skip_matching:
        description: Skip instances already on the desired configuration.
        type: bool
      auto_rollback:
        description: Roll back to the previous configuration when the refresh fails or an alarm fires.
        type: bool
      scale_in_protected_instances:
        description: What to do with instances protected from scale in.
        type: str
        choices: [Refresh, Ignore, Wait]
      standby_instances:
        description: What to do with instances in Standby.
        type: str
        choices: [Terminate, Ignore, Wait]
      alarms:
        description: CloudWatch alarms that fail the refresh when they go to ALARM (AlarmSpecification).
        type: list
        elements: str
  wait:
    description:
      - Wait until the refresh ends; fail unless it ends as I(state) asks (Successful, Cancelled, RollbackSuccessful).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait at most.
    type: int
    default: 3600
  wait_delay:
    description: Seconds between two looks at the refresh.
    type: int
    default: 15
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Roll the backend to launch template version 7, rolling back by itself on failure
  ollama.platform.instance_refresh:
    name: ollama-prod-asg
    launch_template:
      id: lt-0123456789abcdef0
      version: "7"
    preferences:
      min_healthy_percentage: 100
      max_healthy_percentage: 200
      instance_warmup: 300
      skip_matching: true
      auto_rollback: true
      scale_in_protected_instances: Wait
      alarms: [ollama-prod-backend-5xx]
    wait: true

- name: Roll back the refresh in progress
  ollama.platform.instance_refresh:
    name: ollama-prod-asg
    state: rolled_back
    wait: true
"""

RETURN = r"""
instance_refresh:
  description: The refresh as DescribeInstanceRefreshes shows it (snake_case), after waiting when I(wait).
  returned: when a refresh was started, joined, cancelled or rolled back
  type: dict
  sample: {"instance_refresh_id": "0f1e...", "status": "Successful", "percentage_complete": 100,
           "instances_to_update": 0, "rollback_details": {}}
would_start:
  description: In check mode, the request StartInstanceRefresh would get and the instances it would replace.
  returned: check mode, when a refresh would start
  type: dict
  sample: {"desired_configuration": {"launch_template": {"launch_template_id": "lt-0123", "version": "7"}},
           "preferences": {"min_healthy_percentage": 100}, "instances_to_update": ["i-0123"]}
"""

import time  # noqa: E402
from typing import Any  # noqa: E402

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils import instance_refresh as refresh_utils  # noqa: E402

PREFERENCE_OPTIONS = {
    "min_healthy_percentage": {"type": "int"},
    "max_healthy_percentage": {"type": "int"},
    "instance_warmup": {"type": "int"},
    "checkpoint_percentages": {"type": "list", "elements": "int"},
    "checkpoint_delay": {"type": "int"},
    "skip_matching": {"type": "bool"},
    "auto_rollback": {"type": "bool"},
    "scale_in_protected_instances": {"type": "str", "choices": ["Refresh", "Ignore", "Wait"]},
    "standby_instances": {"type": "str", "choices": ["Terminate", "Ignore", "Wait"]},
    "alarms": {"type": "list", "elements": "str"},
}

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "started", "choices": ["started", "cancelled", "rolled_back"]},
    "launch_template": {
        "type": "dict",
        "options": {"id": {"type": "str"}, "name": {"type": "str"}, "version": {"type": "str"}},
        "mutually_exclusive": [["id", "name"]],
    },
    "preferences": {"type": "dict", "options": PREFERENCE_OPTIONS},
    "wait": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 3600},
    "wait_delay": {"type": "int", "default": 15},
}


def describe(client: Any, name: str, refresh_id: str | None = None) -> dict[str, Any] | None:
    """The group's newest refresh (or the one with ``refresh_id``), or None."""
    kwargs = {"AutoScalingGroupName": name}
    if refresh_id:
        kwargs["InstanceRefreshIds"] = [refresh_id]
    refreshes = client.describe_instance_refreshes(**kwargs)["InstanceRefreshes"]
    return refreshes[0] if refreshes else None


def resolve_version(ec2: Any, desired: dict[str, Any] | None, group: dict[str, Any]) -> tuple[str, str]:
    """(template id, version number) the refresh would launch from."""
    spec = (desired or {}).get("LaunchTemplate") or group.get("LaunchTemplate") or {}
    kwargs = {"Versions": [str(spec.get("Version") or "$Default")]}
    if spec.get("LaunchTemplateId"):
        kwargs["LaunchTemplateId"] = spec["LaunchTemplateId"]
    else:
        kwargs["LaunchTemplateName"] = spec["LaunchTemplateName"]
    version = ec2.describe_launch_template_versions(**kwargs)["LaunchTemplateVersions"][0]
    return version["LaunchTemplateId"], str(version["VersionNumber"])


def watch(module: Any, client: Any, name: str, refresh: dict[str, Any]) -> dict[str, Any]:
    """Poll until ``refresh`` ends; fail unless it ends as the state asks."""
    state = module.params["state"]
    deadline = time.monotonic() + module.params["wait_timeout"]
    while True:
        ended, succeeded = refresh_utils.outcome(state, refresh)
        if ended:
            if not succeeded:
                module.fail_json(
                    msg=f"instance refresh {refresh['InstanceRefreshId']} of {name} ended {refresh['Status']}: "
                    f"{refresh.get('StatusReason', '')}",
                    instance_refresh=camel_dict_to_snake_dict(refresh),
                )
            return refresh
        if time.monotonic() > deadline:
            module.fail_json(
                msg=f"instance refresh {refresh['InstanceRefreshId']} of {name} still {refresh['Status']} after "
                f"{module.params['wait_timeout']} s: raise wait_timeout or watch it with DescribeInstanceRefreshes",
                instance_refresh=camel_dict_to_snake_dict(refresh),
            )
        time.sleep(module.params["wait_delay"])
        refresh = describe(client, name, refresh["InstanceRefreshId"])


def start(module: Any, client: Any, group: dict[str, Any]) -> tuple[bool, Any, Any]:
    """Start (or join) the refresh; (changed, refresh, what check mode would start)."""
    name = module.params["name"]
    try:
        desired = refresh_utils.desired_configuration(module.params["launch_template"])
        prefs = refresh_utils.preferences(module.params["preferences"])
        refresh_utils.check_rollback(group, desired, prefs)
    except ValueError as exc:
        module.fail_json(msg=f"{name}: {exc}")
    current = describe(client, name)
    if current is not None and current["Status"] in refresh_utils.ACTIVE:
        if not refresh_utils.same_configuration(current, desired):
            module.fail_json(
                msg=f"{name} already runs instance refresh {current['InstanceRefreshId']} to another configuration: "
                "wait for it, or cancel it (state: cancelled) first",
                instance_refresh=camel_dict_to_snake_dict(current),
            )
        return False, current, None
    template_id, version = resolve_version(module.client("ec2"), desired, group)
    group_spec = group.get("LaunchTemplate") or {}
    on_desired = not desired or (
        group_spec.get("LaunchTemplateId") == template_id
        and str(group_spec.get("Version")) == str(desired["LaunchTemplate"].get("Version", version))
    )
    replace = refresh_utils.to_update(group, template_id, version, skip_matching=True)
    if desired and on_desired and not replace:
        return False, None, None
    request = {"AutoScalingGroupName": name, "Preferences": prefs}
    if desired:
        request["DesiredConfiguration"] = desired
    if module.check_mode:
        would = {"DesiredConfiguration": desired or {}, "Preferences": prefs}
        instances = refresh_utils.to_update(group, template_id, version, bool(prefs.get("SkipMatching")))
        return True, None, {**camel_dict_to_snake_dict(would), "instances_to_update": instances}
    refresh_id = client.start_instance_refresh(**request)["InstanceRefreshId"]
    return True, describe(client, name, refresh_id), None


def stop(module: Any, client: Any) -> tuple[bool, Any]:
    """Cancel or roll back the active refresh; (changed, refresh)."""
    name = module.params["name"]
    current = describe(client, name)
    if current is None or current["Status"] not in refresh_utils.ACTIVE:
        return False, current
    wanted = "Cancelling" if module.params["state"] == "cancelled" else "RollbackInProgress"
    if current["Status"] in (wanted, "Cancelled" if wanted == "Cancelling" else "RollbackSuccessful"):
        return False, current
    if module.check_mode:
        return True, current
    try:
        if module.params["state"] == "cancelled":
            client.cancel_instance_refresh(AutoScalingGroupName=name)
        else:
            client.rollback_instance_refresh(AutoScalingGroupName=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ActiveInstanceRefreshNotFound":  # it ended meanwhile
            return False, describe(client, name)
        raise
    return True, describe(client, name, current["InstanceRefreshId"])


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    client = module.client("autoscaling")
    name = module.params["name"]
    would = None
    try:
        groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not groups:
            module.fail_json(msg=f"Auto Scaling group {name} not found: check the environment's outputs")
        if module.params["state"] == "started":
            changed, refresh, would = start(module, client, groups[0])
        else:
            changed, refresh = stop(module, client)
        if refresh is not None and module.params["wait"] and not module.check_mode:
            refresh = watch(module, client, name, refresh)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(
            exc, msg=f"Could not manage the instance refresh of {name}: check the request and the credentials"
        )
    result = {"changed": changed}
    if refresh is not None:
        result["instance_refresh"] = camel_dict_to_snake_dict(refresh)
    if would is not None:
        result["would_start"] = would
    module.exit_json(**result)


if __name__ == "__main__":
    main()
