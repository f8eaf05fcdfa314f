"""provision.yml's twin branch against the emulator (inventories/local, tools/twin/stack.py in place of Terraform):
the fleet layer applied through the playbook, then check mode shows the twin's plan (a new admin e-mail names the
frontend's user data), hands the release the versions it would write, keeps the last outputs, and changes nothing:
the emulator's state is the same and its call record holds only reads for the run.

The foundation is created with the stack directly (its apply tags the base image's container with podman, which
these tests do not run) and the groups have no instance (the twin's counts at 0), so nothing waits for a boot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest

from tests.ansible_runner import ROOT, ansible_env, run_playbook
from tests.twin.test_stack import PUBLIC_KEY, SUBNET, emulator_state
from tools import aws_emulator
from tools.twin import scaling as twin_scaling
from tools.twin import stack as twin_stack

pytestmark = pytest.mark.emulator

PROVISION = ROOT / "tests" / "playbooks" / "provision_outputs.yml"
INVENTORY = ROOT / "inventories" / "local"
COUNTS = {"backend": 0, "frontend": 0}
READ = re.compile(r"^(Describe|List|Get)[A-Z]")


@pytest.fixture
def twin_state(aws: str, tmp_path: Path) -> Path:
    """The foundation in the emulator, the bake's images behind the tiers' parameters, and the twin's state
    directory (the data host's public key, the foundation's outputs) where the playbook reads them."""
    twin_scaling.start_working_day(aws, twin_scaling.twin_schedule())
    state = tmp_path / "twin"
    (state / "ssh").mkdir(parents=True)
    (state / "ssh" / "id_ed25519.pub").write_text(PUBLIC_KEY + "\n")
    base = twin_stack.foundation(twin_stack.Stack(aws, "us-east-1"), SUBNET, PUBLIC_KEY, container_image="")
    (state / "foundation.json").write_text(json.dumps(base))
    ec2, ssm = boto3.client("ec2"), boto3.client("ssm")
    for tier, parameter in base["ollama_ami_parameter_names"].items():
        image = ec2.register_image(Name=f"baked-{tier}", RootDeviceName="/dev/xvda")["ImageId"]
        ssm.put_parameter(Name=parameter, Value=image, Type="String", Overwrite=True)
    return state


def provision(aws: str, tmp_path: Path, state: Path, check: bool, **extra: object):
    settings = {"platform_layer": "fleet", "platform_twin_state_dir": str(state), "platform_twin_counts": COUNTS}
    env = ansible_env(OLLAMA_TWIN_AWS_PORT=str(urlparse(aws).port))
    return run_playbook(PROVISION, tmp_path, {**settings, **extra}, check=check, inventory=INVENTORY, env=env)


def test_check_mode_shows_the_twins_plan_and_changes_nothing(aws: str, tmp_path: Path, twin_state: Path) -> None:
    proc, result = provision(aws, tmp_path, twin_state, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    applied = json.loads((twin_state / "fleet.json").read_text())
    assert result["outputs"] == applied and applied["ollama_frontend_asg_name"] == "ollama-local-frontend-asg"

    before = emulator_state()
    mark = len(aws_emulator.calls(aws))
    proc, result = provision(aws, tmp_path, twin_state, check=True, platform_webui_admin_email="operator@example.com")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    plan = " ".join(proc.stdout[proc.stdout.index("TASK [Show the twin's plan]") :].split())  # YAML wraps lines
    assert "new version of launch template ollama-local-frontend-lt: user data: WEBUI_ADMIN_EMAIL differs" in plan
    assert result["outputs"] == applied, "check mode hands the later plays the last run's outputs"
    sent = aws_emulator.calls(aws)[mark:]
    assert {c["action"] for c in sent} >= {"DescribeLaunchTemplateVersions", "DescribeAutoScalingGroups"}
    assert [(c["service"], c["action"]) for c in sent if not READ.match(c["action"])] == []
    assert emulator_state() == before

    proc, _ = provision(aws, tmp_path, twin_state, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "no changes: the emulator matches the settings" in proc.stdout
