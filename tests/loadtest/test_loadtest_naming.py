"""The load tests derive resource names with the platform's naming rule."""

from __future__ import annotations

import importlib

import pytest

from loadtest import naming


def _filter_plugin():
    return importlib.import_module("filter_plugins.naming")


@pytest.mark.parametrize("environment", naming.ENVIRONMENTS)
@pytest.mark.parametrize("purpose", ["asg", "alb", "data-table", "frontend-asg"])
def test_agrees_with_the_filter_plugin(environment, purpose):
    assert naming.resource_name(purpose, environment) == _filter_plugin().ollama_name(purpose, environment)


def test_examples():
    assert naming.resource_name("asg", "production") == "ollama-asg"
    assert naming.resource_name("asg", "dev") == "ollama-dev-asg"
    with pytest.raises(ValueError, match="unknown environment 'prod'"):
        naming.resource_name("asg", "prod")
    with pytest.raises(ValueError, match="invalid resource purpose"):
        naming.resource_name("ASG", "dev")
