"""filter_plugins/release.py: the refresh each tier needs and the frontend's schema gate (forward-only Open-WebUI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from filter_plugins.release import ReleaseError, refresh_request, schema_gate

ROOT = Path(__file__).resolve().parents[2]
ALARMS = ["ollama-dev-alb-5xx-rate", "ollama-dev-backend-unhealthy-hosts", "ollama-dev-backend-latency-p95"]
TEMPLATE = {
    "launch_template_id": "lt-0abc",
    "launch_template_name": "ollama-dev-backend-lt",
    "latest_version_number": 3,
}


def group(version: str = "2", mixed: bool = False) -> dict:
    spec = {"launch_template_id": "lt-0abc", "version": version}
    if mixed:
        return {"mixed_instances_policy": {"launch_template": {"launch_template_specification": spec}}}
    return {"launch_template": spec}


# -- the refresh -------------------------------------------------------------------------------------------------


def test_a_new_version_needs_a_refresh_that_names_it_explicitly():
    request = refresh_request(group("2"), TEMPLATE, "backend", ALARMS)
    assert request["needed"] and (request["from"], request["to"]) == ("2", "3")
    assert request["desired_configuration"] == {"launch_template": {"launch_template_id": "lt-0abc", "version": "3"}}


def test_the_group_already_on_the_newest_version_needs_nothing():
    assert refresh_request(group("3"), TEMPLATE, "backend", ALARMS)["needed"] is False


def test_a_mixed_instances_group_keeps_its_policy_shape():
    request = refresh_request(group("2", mixed=True), TEMPLATE, "backend", ALARMS)
    spec = request["desired_configuration"]["mixed_instances_policy"]["launch_template"]
    assert spec["launch_template_specification"]["version"] == "3"


def test_preferences_roll_back_on_alarms_with_checkpoints_and_skip_matching():
    preferences = refresh_request(group(), TEMPLATE, "backend", ALARMS)["preferences"]
    assert preferences["auto_rollback"] is True and preferences["skip_matching"] is True
    assert preferences["alarm_specification"] == {"alarms": ALARMS}
    assert preferences["min_healthy_percentage"] == 100 and preferences["max_healthy_percentage"] == 200
    assert preferences["checkpoint_percentages"][-1] == 100 and preferences["checkpoint_delay"] > 0
    assert preferences["scale_in_protected_instances"] == "Refresh"
    assert preferences["instance_warmup"] == 300


def test_operator_overrides_reach_the_preferences():
    preferences = refresh_request(group(), TEMPLATE, "frontend", ALARMS, True, {"min_healthy_percentage": 90})[
        "preferences"
    ]
    assert preferences["min_healthy_percentage"] == 90 and preferences["instance_warmup"] == 120


def test_a_template_without_a_version_is_refused():
    with pytest.raises(ReleaseError, match=r"has no version: run provision\.yml"):
        refresh_request(group(), {"launch_template_id": "lt-0abc", "launch_template_name": "x"}, "backend", ALARMS)


# -- the schema gate ---------------------------------------------------------------------------------------------


def test_same_open_webui_version_rolls_back_automatically():
    assert schema_gate("0.12.4", "0.12.4") == {
        "migrating": False,
        "auto_rollback": True,
        "snapshot": False,
        "schema_version": "0.12.4",
    }


def test_a_newer_open_webui_is_a_migrating_release_snapshot_first_no_automatic_rollback():
    decision = schema_gate("0.13.0", "0.12.4")
    assert decision["migrating"] and decision["snapshot"] and decision["auto_rollback"] is False
    assert decision["schema_version"] == "0.13.0"


def test_a_rollback_after_a_migrating_release_is_refused_with_the_fix():
    with pytest.raises(ReleaseError) as refused:
        schema_gate("0.12.4", "0.13.0", "dev")
    message = str(refused.value)
    assert "refused: Open-WebUI 0.12.4 would run in dev on a database already migrated by 0.13.0" in message
    assert "restore the RDS snapshot" in message and "docs/OPERATIONS.md" in message


def test_versions_compare_numerically_not_as_text():
    assert schema_gate("0.12.10", "0.12.9")["migrating"] is True
    with pytest.raises(ReleaseError):
        schema_gate("0.9.0", "0.10.0")


def test_the_first_release_of_a_stack_records_its_version():
    assert schema_gate("0.12.4", "")["schema_version"] == "0.12.4"


@pytest.mark.parametrize("candidate", ["", "unconfigured", None])
def test_an_image_without_its_open_webui_version_is_refused(candidate):
    with pytest.raises(ReleaseError, match="AMI tag OpenWebUIVersion"):
        schema_gate(candidate, "0.12.4")


# -- the playbook wires them -------------------------------------------------------------------------------------


def test_site_releases_after_the_fleet_and_before_verify():
    plays = [p["ansible.builtin.import_playbook"] for p in yaml.safe_load((ROOT / "site.yml").read_text())]
    assert plays.index("playbooks/release.yml") == plays.index("playbooks/provision.yml", 2) + 1
    assert plays.index("playbooks/release.yml") < plays.index("playbooks/verify.yml")


def test_the_refresh_task_uses_the_decision_and_the_gate():
    tasks = yaml.safe_load((ROOT / "playbooks" / "tasks" / "release_tier.yml").read_text())
    release = next(t for t in tasks if t["name"].startswith("Release tier"))["block"]
    names = [t["name"] for t in release]
    assert names.index("Gate the database schema (frontend)") < next(
        i for i, n in enumerate(names) if n.startswith("Start and watch")
    ), "the gate must run before the refresh starts"
    refresh_tasks = yaml.safe_load((ROOT / "playbooks" / "tasks" / "release_refresh.yml").read_text())
    refresh = next(t for t in refresh_tasks if "ollama.platform.instance_refresh" in t)[
        "ollama.platform.instance_refresh"
    ]
    assert set(refresh) >= {"name", "launch_template", "preferences", "wait"}
    module = (
        ROOT
        / "collections"
        / "ansible_collections"
        / "ollama"
        / "platform"
        / "plugins"
        / "modules"
        / "instance_refresh.py"
    ).read_text()
    documented = yaml.safe_load(module.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])["options"]
    assert set(refresh) <= set(documented), f"options the module does not document: {set(refresh) - set(documented)}"
    assert "_platform_release_gate.auto_rollback" in refresh["preferences"]
    gate = yaml.safe_load((ROOT / "playbooks" / "tasks" / "release_schema_gate.yml").read_text())
    names = [t["name"] for t in gate]
    assert names.index("Snapshot the database before the migration") > names.index(
        "Decide (forward-only Open-WebUI releases; a refused rollback names the fix)"
    )


def test_the_refresh_alarms_are_alarms_terraform_creates():
    """platform_release_alarms name alarms of terraform/monitoring.tf (a refresh with an unknown alarm fails)."""
    monitoring = (ROOT / "terraform" / "monitoring.tf").read_text()
    alarms = yaml.safe_load((ROOT / "playbooks" / "vars" / "release.yml").read_text())["platform_release_alarms"]
    for tier, names in alarms.items():
        for name in names:
            purpose = re.fullmatch(r"\{\{ '([\w-]+)' \| ollama_name\(platform_environment\) \}\}", name).group(1)
            pattern = purpose.replace(tier, "${each.key}") if tier in purpose else purpose
            assert f'alarm_name          = "${{local.name_prefix}}-{pattern}"' in monitoring, (tier, purpose)


# -- the emergency path ------------------------------------------------------------------------------------------


def test_the_emergency_path_refuses_during_a_refresh_and_drains_each_host_through_standby():
    plays = yaml.safe_load((ROOT / "playbooks" / "configure.yml").read_text())
    first = [t["name"] for t in plays[0]["tasks"]]
    assert first.index("Refuse while an instance refresh runs") > first.index("Read the groups' instance refreshes")
    for play in plays[1:]:
        assert play["serial"], play["name"]
        assert play["pre_tasks"][0]["ansible.builtin.include_tasks"] == "tasks/emergency_standby.yml"
        assert play["post_tasks"][0]["ansible.builtin.include_tasks"] == "tasks/emergency_in_service.yml"
    standby = yaml.safe_load((ROOT / "playbooks" / "tasks" / "emergency_standby.yml").read_text())
    assert standby[0]["amazon.aws.autoscaling_instance"]["state"] == "standby"
    assert standby[1]["ansible.builtin.wait_for"]["state"] == "drained"
    back = yaml.safe_load((ROOT / "playbooks" / "tasks" / "emergency_in_service.yml").read_text())
    assert [t.get("amazon.aws.autoscaling_instance", {}).get("state") for t in back][-1] == "attached"


def test_check_mode_names_the_images_the_bake_would_create():
    from filter_plugins.release import bake_line

    assert "backend: would bake a new image (BakeHash 0123456789abcdef...)" in bake_line(
        {"tier": "backend", "reuse": False, "bake_hash": "0123456789abcdef0123"}
    )
    assert "is current" in bake_line({"tier": "frontend", "reuse": True, "image_id": "ami-1"})
    release = yaml.safe_load((ROOT / "playbooks" / "release.yml").read_text())[0]["tasks"][0]
    assert "release_bake_line" in release["ansible.builtin.debug"]["msg"] and "ansible_check_mode" in release["when"]


def test_a_group_following_default_is_resolved_and_its_old_instances_count():
    template = {**TEMPLATE, "default_version_number": 3}
    assert refresh_request(group("$Default"), template, "backend", ALARMS)["needed"] is False
    old_instance = {**group("$Default"), "instances": [{"instance_id": "i-1", "launch_template": {"version": "2"}}]}
    request = refresh_request(old_instance, template, "backend", ALARMS)
    assert request["needed"] is True and request["from"] == "3"
    assert refresh_request(group("$Default"), {**TEMPLATE, "default_version_number": 2}, "backend", ALARMS)["needed"]
