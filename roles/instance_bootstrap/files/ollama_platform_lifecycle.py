"""The instance's side of its Auto Scaling group's lifecycle hooks, shared by the instance programs.

Installed by the instance_bootstrap role into the virtualenv the programs run with (its site-packages), so
ollama-platform-bootstrap (the launch hook) and ollama-platform-drain (the terminating hook, a return to the warm
pool) complete a hook the same way.
"""

from __future__ import annotations

from typing import Any

# What Auto Scaling answers when no lifecycle action waits for the instance (a reboot, a restarted unit, a hook
# already completed or timed out): nothing is left to do.
NO_ACTIVE_ACTION = "No active Lifecycle Action"


def complete_lifecycle_action(client: Any, group: str, hook: str, instance_id: str, result: str) -> str:
    """CompleteLifecycleAction for this instance; returns "completed", or "nothing waiting" when no action waits.

    Any other error (access denied, throttling, an unknown hook) is raised for the caller to report.
    """
    from botocore.exceptions import ClientError

    try:
        client.complete_lifecycle_action(
            LifecycleHookName=hook,
            AutoScalingGroupName=group,
            LifecycleActionResult=result,
            InstanceId=instance_id,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and NO_ACTIVE_ACTION in error.get("Message", ""):
            return "nothing waiting"
        raise
    return "completed"
