"""Unit tests for module_utils/asg_schedule.py."""

import pytest
from ansible_collections.ollama.platform.plugins.module_utils import asg_schedule as s


def group(low, high, desired, tag=None):
    tags = [{"Key": s.SAVED_TAG, "Value": tag}] if tag else []
    return {"MinSize": low, "MaxSize": high, "DesiredCapacity": desired, "Tags": tags}


def test_down_saves_and_zeroes():
    assert s.plan(group(1, 4, 2), "down") == {
        "save": "1/4/2",
        "sizes": {"MinSize": 0, "MaxSize": 0, "DesiredCapacity": 0},
    }


def test_down_when_already_zero_is_a_no_op():
    assert s.plan(group(0, 0, 0, "1/4/2"), "down") is None


def test_up_restores_the_saved_capacity():
    assert s.plan(group(0, 0, 0, "1/4/2"), "up") == {
        "restore": True,
        "sizes": {"MinSize": 1, "MaxSize": 4, "DesiredCapacity": 2},
    }


def test_up_without_a_saved_capacity_is_a_no_op():
    assert s.plan(group(1, 4, 2), "up") is None


@pytest.mark.parametrize("value", ["1/4", "a/b/c", "1/4/2/3", ""])
def test_malformed_tag_names_the_fix(value):
    with pytest.raises(ValueError, match="fix or delete the tag"):
        s.decode(value)
