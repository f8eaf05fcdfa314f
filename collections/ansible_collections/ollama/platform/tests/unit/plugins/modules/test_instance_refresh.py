"""Unit tests for instance_refresh: documentation and the request it builds (AWS behaviour:
tests/integration/test_instance_refresh_module.py against the emulator)."""

import pytest
import yaml
from ansible_collections.ollama.platform.plugins.module_utils import instance_refresh as utils
from ansible_collections.ollama.platform.plugins.modules import instance_refresh as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)
    documented = yaml.safe_load(mod.DOCUMENTATION)["options"]["preferences"]["suboptions"]
    assert set(documented) == set(mod.PREFERENCE_OPTIONS) == set(utils.PREFERENCES) | {"alarms"}
    for name, option in documented.items():
        assert option["type"] == mod.PREFERENCE_OPTIONS[name]["type"], name
        assert option.get("choices") == mod.PREFERENCE_OPTIONS[name].get("choices"), name


def test_every_preference_maps_to_its_refresh_preferences_member():
    prefs = utils.preferences(
        {
            "min_healthy_percentage": 100,
            "max_healthy_percentage": 200,
            "instance_warmup": 300,
            "checkpoint_percentages": [50, 100],
            "checkpoint_delay": 600,
            "skip_matching": True,
            "auto_rollback": True,
            "scale_in_protected_instances": "Wait",
            "standby_instances": "Terminate",
            "alarms": ["ollama-prod-backend-5xx"],
        }
    )
    assert prefs == {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": 300,
        "CheckpointPercentages": [50, 100],
        "CheckpointDelay": 600,
        "SkipMatching": True,
        "AutoRollback": True,
        "ScaleInProtectedInstances": "Wait",
        "StandbyInstances": "Terminate",
        "AlarmSpecification": {"Alarms": ["ollama-prod-backend-5xx"]},
    }
    assert utils.preferences({"min_healthy_percentage": None}) == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_healthy_percentage": 150}, "needs preferences.min_healthy_percentage"),
        ({"min_healthy_percentage": 101}, "0-100"),
        ({"min_healthy_percentage": 50, "max_healthy_percentage": 160}, "at most 100 above"),
        ({"checkpoint_percentages": [100, 50]}, "ascending"),
        ({"checkpoint_delay": 60}, "needs preferences.checkpoint_percentages"),
    ],
)
def test_bad_preferences_are_refused_with_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        utils.preferences(options)


def test_auto_rollback_needs_a_desired_configuration_and_a_numbered_group_version():
    desired = utils.desired_configuration({"id": "lt-1", "version": "7"})
    assert desired == {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}}
    group = {"AutoScalingGroupName": "ollama-prod-asg", "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "6"}}
    utils.check_rollback(group, desired, {"AutoRollback": True})
    with pytest.raises(ValueError, match="needs launch_template"):
        utils.check_rollback(group, None, {"AutoRollback": True})
    latest = {**group, "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "$Latest"}}
    with pytest.raises(ValueError, match=r"\$Latest"):
        utils.check_rollback(latest, desired, {"AutoRollback": True})
    utils.check_rollback(latest, desired, {})
    with pytest.raises(ValueError, match="id or a name"):
        utils.desired_configuration({"version": "7"})


def test_instances_to_update_and_joining_an_active_refresh():
    group = {
        "Instances": [
            {"InstanceId": "i-old", "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "6"}},
            {"InstanceId": "i-new", "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}},
        ]
    }
    assert utils.to_update(group, "lt-1", "7", skip_matching=True) == ["i-old"]
    assert utils.to_update(group, "lt-1", "7", skip_matching=False) == ["i-old", "i-new"]
    active = {"DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "7"}}}
    assert utils.same_configuration(active, utils.desired_configuration({"id": "lt-1", "version": "7"}))
    assert not utils.same_configuration(active, utils.desired_configuration({"id": "lt-1", "version": "8"}))


def test_outcome_per_state():
    assert utils.outcome("started", {"Status": "InProgress"}) == (False, False)
    assert utils.outcome("started", {"Status": "Successful"}) == (True, True)
    assert utils.outcome("started", {"Status": "RollbackSuccessful"}) == (True, False)
    assert utils.outcome("rolled_back", {"Status": "RollbackSuccessful"}) == (True, True)
    assert utils.outcome("cancelled", {"Status": "Cancelled"}) == (True, True)
