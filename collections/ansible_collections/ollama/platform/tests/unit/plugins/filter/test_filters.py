"""Unit tests for filter_plugins/naming.py and filter_plugins/platform_checks.py."""

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins import naming as f
from filter_plugins import platform_checks as c


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("production", "ollama-asg"),
        ("dev", "ollama-dev-asg"),
        ("staging", "ollama-staging-asg"),
        ("local", "ollama-local-asg"),
    ],
)
def test_name_per_environment(env, expected):
    assert f.ollama_name("asg", env) == expected


def test_name_prefix():
    assert f.ollama_name_prefix("production") == "ollama"
    assert f.ollama_name_prefix("dev") == "ollama-dev"


@pytest.mark.parametrize("env", ["prod", "", None, "Production"])
def test_unknown_environment_is_refused_with_the_fix(env):
    with pytest.raises(AnsibleFilterError, match=r"unknown environment.*use one of local, dev, staging, production"):
        f.ollama_name("asg", env)


@pytest.mark.parametrize("purpose", ["Data_Table", "-x", "x-", "", 3])
def test_invalid_purpose(purpose):
    with pytest.raises(AnsibleFilterError, match="invalid resource purpose"):
        f.ollama_name(purpose, "dev")


def test_tags():
    tags = f.ollama_tags("staging", {"Owner": "ml-team", "CostCenter": 42})
    assert tags == {
        "Project": "ollama",
        "Environment": "staging",
        "ManagedBy": "terraform",
        "Service": "ollama",
        "Owner": "ml-team",
        "CostCenter": "42",
    }
    assert f.ollama_tags("dev", managed_by="ansible")["ManagedBy"] == "ansible"


def test_state_bucket_name():
    assert f.ollama_state_bucket_name(123456789012, "us-east-1") == "ollama-tfstate-123456789012-us-east-1"
    with pytest.raises(AnsibleFilterError, match="12 digits"):
        f.ollama_state_bucket_name("1234", "us-east-1")


def test_unknown_vars_suggests_the_closest_name():
    known = ["platform_environment", "platform_provisioner"]
    msgs = c.platform_unknown_vars(["platform_enviroment", "platform_provisioner", "other_var", "platform_zzz"], known)
    assert msgs == [
        "unknown variable 'platform_enviroment': did you mean 'platform_environment'?",
        "unknown variable 'platform_zzz': see docs/OPERATIONS.md for the supported variables",
    ]
    assert c.platform_unknown_vars(known, known) == []


def test_filter_module_exports():
    assert {"ollama_name", "ollama_name_prefix", "ollama_tags", "ollama_state_bucket_name"} == set(
        f.FilterModule().filters()
    )
    assert {"platform_unknown_vars"} == set(c.FilterModule().filters())
