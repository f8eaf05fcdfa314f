# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance refresh requests and statuses (Amazon EC2 Auto Scaling StartInstanceRefresh / DescribeInstanceRefreshes)."""

from __future__ import annotations

from typing import Any

ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
# Where each module state ends, and which of those ends is a success.
ENDS = {
    "started": (("Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"), "Successful"),
    "cancelled": (("Cancelled", "Successful", "Failed", "RollbackSuccessful", "RollbackFailed"), "Cancelled"),
    "rolled_back": (("RollbackSuccessful", "RollbackFailed", "Cancelled"), "RollbackSuccessful"),
}
# Module preference option -> RefreshPreferences member.
PREFERENCES = {
    "min_healthy_percentage": "MinHealthyPercentage",
    "max_healthy_percentage": "MaxHealthyPercentage",
    "instance_warmup": "InstanceWarmup",
    "checkpoint_percentages": "CheckpointPercentages",
    "checkpoint_delay": "CheckpointDelay",
    "skip_matching": "SkipMatching",
    "auto_rollback": "AutoRollback",
    "scale_in_protected_instances": "ScaleInProtectedInstances",
    "standby_instances": "StandbyInstances",
}


def preferences(options: dict[str, Any] | None) -> dict[str, Any]:
    """RefreshPreferences from the module's ``preferences`` option; ValueError naming the fix for bad combinations
    (checked here so a play fails before anything starts)."""
    options = options or {}
    result = {PREFERENCES[k]: v for k, v in options.items() if k in PREFERENCES and v is not None}
    if options.get("alarms"):
        result["AlarmSpecification"] = {"Alarms": list(options["alarms"])}
    low = result.get("MinHealthyPercentage")
    high = result.get("MaxHealthyPercentage")
    if high is not None and low is None:
        raise ValueError("preferences.max_healthy_percentage needs preferences.min_healthy_percentage: set both")
    if low is not None and not 0 <= low <= 100:
        raise ValueError(f"preferences.min_healthy_percentage must be 0-100, not {low}")
    if high is not None and (not 100 <= high <= 200 or high - low > 100):
        raise ValueError(
            f"preferences.max_healthy_percentage must be 100-200 and at most 100 above min_healthy_percentage, "
            f"not {high} with {low}"
        )
    checkpoints = result.get("CheckpointPercentages") or []
    if checkpoints and (checkpoints != sorted(set(checkpoints)) or checkpoints[0] < 1 or checkpoints[-1] > 100):
        raise ValueError(f"preferences.checkpoint_percentages must be unique, ascending, 1-100: {checkpoints}")
    if "CheckpointDelay" in result and not checkpoints:
        raise ValueError("preferences.checkpoint_delay needs preferences.checkpoint_percentages")
    return result


def desired_configuration(launch_template: dict[str, Any] | None) -> dict[str, Any] | None:
    """DesiredConfiguration from the module's ``launch_template`` option (id or name, and a version)."""
    if not launch_template:
        return None
    spec: dict[str, Any] = {}
    if launch_template.get("id"):
        spec["LaunchTemplateId"] = launch_template["id"]
    elif launch_template.get("name"):
        spec["LaunchTemplateName"] = launch_template["name"]
    else:
        raise ValueError("launch_template needs an id or a name")
    if launch_template.get("version"):
        spec["Version"] = str(launch_template["version"])
    return {"LaunchTemplate": spec}


def check_rollback(group: dict[str, Any], desired: dict[str, Any] | None, prefs: dict[str, Any]) -> None:
    """AWS refuses AutoRollback without a desired configuration or for a group on $Latest/$Default: say so first."""
    if not prefs.get("AutoRollback"):
        return
    if not desired:
        raise ValueError("preferences.auto_rollback needs launch_template: without one there is nothing to roll back")
    version = str((group.get("LaunchTemplate") or {}).get("Version") or "$Default")
    if version in ("$Latest", "$Default"):
        raise ValueError(
            f"preferences.auto_rollback is not supported while group {group['AutoScalingGroupName']} uses its launch "
            f"template's {version} version: set a version number on the group (Terraform: launch_template.version)"
        )


def same_configuration(active: dict[str, Any], desired: dict[str, Any] | None) -> bool:
    """Whether an active refresh already rolls out ``desired``."""
    theirs = (active.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {}
    ours = (desired or {}).get("LaunchTemplate") or {}
    keys = ("LaunchTemplateId", "LaunchTemplateName", "Version")
    return all(ours.get(k) in (None, theirs.get(k)) for k in keys)


def to_update(group: dict[str, Any], template_id: str, version: str, skip_matching: bool) -> list[str]:
    """The instances a refresh to ``template_id``/``version`` (a number) would replace."""
    result = []
    for instance in group.get("Instances", []):
        spec = instance.get("LaunchTemplate") or {}
        if skip_matching and (spec.get("LaunchTemplateId"), str(spec.get("Version"))) == (template_id, version):
            continue
        result.append(instance["InstanceId"])
    return result


def outcome(state: str, refresh: dict[str, Any]) -> tuple[bool, bool]:
    """(ended, succeeded) of ``refresh`` for the module ``state``."""
    ends, success = ENDS[state]
    status = refresh.get("Status", "")
    return status in ends, status == success
