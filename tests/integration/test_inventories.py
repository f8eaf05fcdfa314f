"""The environment inventories: same aws_ec2 shape everywhere, and the twin's maps instances to containers."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import urlparse

import boto3
import pytest
import yaml

from tests.ansible_runner import ROOT, ansible_env
from tests.integration.test_posture_module import emulated_stack

ENVIRONMENTS = ["local", "dev", "staging", "production"]


def _plain(value):
    """ansible-inventory marks values from the cloud as unsafe: {"__ansible_unsafe": value}."""
    if isinstance(value, dict):
        return (
            value["__ansible_unsafe"]
            if set(value) == {"__ansible_unsafe"}
            else {k: _plain(v) for k, v in value.items()}
        )
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_inventory_shape(env):
    folder = ROOT / "inventories" / env
    (plugin_file,) = folder.glob("*aws_ec2.yml")
    config = yaml.safe_load(plugin_file.read_text())
    assert config["plugin"] == "amazon.aws.aws_ec2"
    assert config["filters"]["tag:Environment"] == env
    assert config["filters"]["instance-state-name"] == "running"
    assert config["hostnames"] == ["instance-id"]
    assert {"key": "tags.Role", "prefix": "role"} in config["keyed_groups"]  # groups role_backend, role_frontend
    assert "ansible_host" in config["compose"]
    settings = yaml.safe_load((folder / "group_vars" / "all" / "platform.yml").read_text())
    assert settings["platform_environment"] == env
    assert settings["platform_provisioner"] == ("twin" if env == "local" else "terraform")
    connection = yaml.safe_load((folder / "group_vars" / "aws_ec2.yml").read_text())
    expected = "ansible.builtin.ssh" if env == "local" else "amazon.aws.aws_ssm"
    assert connection["ansible_connection"] == expected


@pytest.mark.emulator
def test_twin_inventory_finds_the_registered_instances(aws):
    emulated_stack(aws)
    env = ansible_env(OLLAMA_TWIN_AWS_PORT=str(urlparse(aws).port))
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", "inventories/local", "--list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = _plain(json.loads(proc.stdout))
    hostvars = data["_meta"]["hostvars"]
    ec2 = boto3.client("ec2")
    running = {
        i["InstanceId"]: i
        for r in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])[
            "Reservations"
        ]
        for i in r["Instances"]
    }
    assert set(hostvars) == set(running)
    for instance_id, host in hostvars.items():
        assert host["ansible_host"] == running[instance_id]["PrivateIpAddress"]
        assert host["ansible_user"] == "root"
    groups = {g: set(data[g]["hosts"]) for g in ("role_backend", "role_frontend", "role_data")}
    assert [len(groups[g]) for g in ("role_backend", "role_frontend", "role_data")] == [1, 2, 1]
    assert all(h.startswith("i-") for h in hostvars)
