"""Release decisions for playbooks/release.yml: what a tier's instance refresh rolls out, and the schema gate.

Open-WebUI migrates its database (Alembic) when a new version first starts, and its migrations only go forward.
While a frontend refresh runs, old and new versions share one database, and an old version on a migrated schema
may fail or corrupt data. The policy, enforced here before any refresh starts:

- the database records the Open-WebUI version whose migrations it has run (SSM /ollama/<env>/frontend/schema-version);
- forward-only: a frontend image older than that version is refused (restore the snapshot taken before the
  migration to go back, docs/OPERATIONS.md);
- a release that moves Open-WebUI forward is a migrating release: an RDS snapshot is taken first, and its refresh
  runs without automatic rollback (an automatic rollback would put the old code on the new schema); a failed
  migrating release is fixed forward or restored from that snapshot, deliberately;
- a release with the same Open-WebUI version (an OS patch, a setting, a new backend) rolls back automatically.
"""

from __future__ import annotations

import re
from typing import Any

UNKNOWN = {"", "unconfigured", None}


class ReleaseError(ValueError):
    """A release that must not start; the message says why and what to do."""


def _version(text: str) -> tuple[int, ...]:
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*)", str(text).strip())
    if not match:
        raise ReleaseError(f"'{text}' is not a release version like 0.12.4")
    return tuple(int(part) for part in match.group(1).split("."))


def schema_gate(candidate: Any, schema: Any, environment: str = "") -> dict[str, Any]:
    """Decide a frontend release: {'migrating', 'auto_rollback', 'snapshot', 'schema_version'} or raise."""
    where = f" in {environment}" if environment else ""
    if candidate in UNKNOWN:
        raise ReleaseError(
            f"the frontend image{where} does not name its Open-WebUI version (AMI tag OpenWebUIVersion): "
            "re-bake it with playbooks/bake_ami.yml so the schema gate can judge it"
        )
    if schema in UNKNOWN:
        # First release of a stack: the database is created by this version.
        return {"migrating": False, "auto_rollback": True, "snapshot": False, "schema_version": str(candidate)}
    new, recorded = _version(candidate), _version(schema)
    if new < recorded:
        raise ReleaseError(
            f"refused: Open-WebUI {candidate} would run{where} on a database already migrated by {schema} "
            f"(Open-WebUI migrations only go forward). Release {schema} or later, or restore the RDS snapshot taken "
            f"before the {schema} migration (tag ollama:schema-version) and set the schema-version parameter back, "
            "as docs/OPERATIONS.md describes"
        )
    migrating = new > recorded
    return {
        "migrating": migrating,
        "auto_rollback": not migrating,
        "snapshot": migrating,
        "schema_version": str(candidate),
    }


def refresh_request(
    group: dict[str, Any],
    template: dict[str, Any],
    tier: str,
    alarms: list[str],
    auto_rollback: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The instance refresh a tier needs: {'needed', 'from', 'to', 'desired_configuration', 'preferences'}.

    group: amazon.aws.autoscaling_group_info result; template: amazon.aws.ec2_launch_template_info result (one
    template). The desired configuration names the template's latest version explicitly, never $Latest, so the
    group's current version stays recorded for the automatic rollback.
    """
    settings = settings or {}
    latest = str(template.get("latest_version_number") or template.get("LatestVersionNumber") or "")
    if not latest:
        raise ReleaseError(f"launch template {template.get('launch_template_name')} has no version: run provision.yml")
    mixed = group.get("mixed_instances_policy")
    current_spec = (
        mixed["launch_template"]["launch_template_specification"] if mixed else group.get("launch_template") or {}
    )
    aliases = {"$Latest": latest, "$Default": str(template.get("default_version_number") or "")}

    def resolve(version: Any) -> str:
        return aliases.get(str(version), str(version))

    current = resolve(current_spec.get("version", ""))
    # Instances launched from an older version (a group that followed $Default or $Latest) need replacing too.
    stale = [
        i.get("instance_id")
        for i in group.get("instances", [])
        if (i.get("launch_template") or {}).get("version") is not None
        and resolve(i["launch_template"]["version"]) != latest
    ]
    spec = {"launch_template_id": template["launch_template_id"], "version": latest}
    if mixed:
        desired = {"mixed_instances_policy": {"launch_template": {"launch_template_specification": spec}}}
    else:
        desired = {"launch_template": spec}
    preferences = {
        # Keep every instance serving while the new ones warm up (launch before terminate, up to double capacity).
        "min_healthy_percentage": settings.get("min_healthy_percentage", 100),
        "max_healthy_percentage": settings.get("max_healthy_percentage", 200),
        "instance_warmup": settings.get("instance_warmup", 300 if tier == "backend" else 120),
        # Pause after a third of the group so the alarms judge real traffic on the new version before the rest.
        "checkpoint_percentages": settings.get("checkpoint_percentages", [34, 100]),
        "checkpoint_delay": settings.get("checkpoint_delay", 300),
        "skip_matching": True,
        "auto_rollback": auto_rollback,
        # Protection only guards streams from scale-in; the refresh replaces protected instances, and each one
        # drains through its terminating lifecycle hook first.
        "scale_in_protected_instances": "Refresh",
        # Instances an operator put in standby (playbooks/configure.yml) are left to the operator.
        "standby_instances": "Ignore",
        "alarm_specification": {"alarms": list(alarms)},
    }
    return {
        "needed": current != latest or bool(stale),
        "from": current,
        "to": latest,
        "desired_configuration": desired,
        "preferences": preferences,
    }


def bake_line(plan: dict[str, Any]) -> str:
    """One tier of the bake plan (roles/ami_bake) as check mode reports it."""
    tier = plan.get("tier", "?")
    if plan.get("reuse"):
        return f"{tier}: image {plan.get('image_id')} is current (same bake inputs): no new launch template version"
    return (
        f"{tier}: would bake a new image (BakeHash {str(plan.get('bake_hash', ''))[:16]}...); the apply then writes a "
        f"new launch template version and this step starts an instance refresh of the {tier} group to it"
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "release_schema_gate": schema_gate,
            "release_refresh_request": refresh_request,
            "release_bake_line": bake_line,
        }
