"""`site.yml --check` on the twin names what a run would do and does nothing: the plan difference, the image it would
bake and the refreshes it would start, with the emulator's state the same before and after.

Product: check mode of the whole run. The twin's stand-in for Terraform runs its own check mode
(tools/twin/stack.py --check, playbooks/provision.yml), the bake plans each tier without launching a builder
(roles/ami_bake), and the release shows the refresh to each launch template version the apply would write
(playbooks/tasks/release_tier.yml); preflight and verify only read.

The pending change is passed as extra variables, as an operator would try one before committing it to the inventory:
a new Open-WebUI admin e-mail (a setting of the frontend's instance record, so its launch template's user data) and
one more backend model (an input of the backend's bake hash).

Judged through the emulator: the launch template versions, the groups' launch template and capacity, the SSM
parameters and the images are the same after the run, and the emulator recorded no mutating call signed with the
controller-side key (``testing``) while the run lasted. The instances sign with their roles' own keys
(tools/twin/imds.py) and are left out; the twin's controller (tools/twin/controller.py) shares the key and plays
EC2's and Auto Scaling's own actions (an unhealthy container reported, a warm instance stopped), which are left out by
name. Other scenarios may leave differences of their own (test_fleet_operations.py writes a backend version the
stack did not): the assertions name this change's lines, not the whole plan.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
import yaml

from tests.ansible_runner import ansible_env, ansible_playbook
from tests.twin.scenarios.conftest import ROOT, Twin
from tools import aws_emulator

pytestmark = pytest.mark.twin

CONTROLLER_KEY = "testing"  # inventories/local platform_aws_access_key, the key Ansible and the stack sign with
READS = re.compile(r"^(Describe|List|Get|Head|Simulate|Query|Scan|BatchGet)[A-Z]")
# What tools/twin/controller.py calls with the same key, standing in for AWS's own health and warm pool actions.
TWIN_CONTROLLER_ACTIONS = {("autoscaling", "SetInstanceHealth"), ("ec2", "StopInstances")}
LAUNCH_TEMPLATES = {"backend": "ollama-local-backend-lt", "frontend": "ollama-local-frontend-lt"}
GROUPS = {"backend": "ollama_backend_asg_name", "frontend": "ollama_frontend_asg_name"}
RUN_TIMEOUT_S = 1800


def pending_change() -> dict[str, Any]:
    """A new admin e-mail (the frontend's user data) and one more backend model (the backend's bake inputs)."""
    platform = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "platform.yml").read_text())
    models = yaml.safe_load((ROOT / "roles" / "ami_bake" / "defaults" / "main.yml").read_text())["ami_bake_models"]
    email = "operator@ollama.test"
    assert platform["platform_webui_admin_email"] != email and "qwen2.5:0.5b" not in models
    return {"platform_webui_admin_email": email, "ami_bake_models": [*models, "qwen2.5:0.5b"]}


def emulator_state(twin: Twin) -> dict[str, Any]:
    """What a run could change: each launch template's versions (image, user data digest, default), the groups'
    launch template and capacity, the platform's SSM parameters and the account's images."""
    ec2, ssm = twin.client("ec2"), twin.client("ssm")
    templates = {}
    for name in LAUNCH_TEMPLATES.values():
        pages = ec2.get_paginator("describe_launch_template_versions").paginate(LaunchTemplateName=name)
        templates[name] = sorted(
            (
                v["VersionNumber"],
                v["DefaultVersion"],
                v["LaunchTemplateData"].get("ImageId"),
                hashlib.sha256(v["LaunchTemplateData"].get("UserData", "").encode()).hexdigest(),
            )
            for page in pages
            for v in page["LaunchTemplateVersions"]
        )
    groups = {}
    for output in GROUPS.values():
        group = twin.group(twin.outputs[output])
        groups[group["AutoScalingGroupName"]] = (
            group.get("LaunchTemplate"), group["MinSize"], group["MaxSize"], group["DesiredCapacity"],
        )  # fmt: skip
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path="/ollama/local", Recursive=True)
    parameters = {p["Name"]: (p["Value"], p["Version"]) for page in pages for p in page["Parameters"]}
    images = sorted((i["ImageId"], i["State"]) for i in ec2.describe_images(Owners=["self"])["Images"])
    return {"templates": templates, "groups": groups, "parameters": parameters, "images": images}


def controller_calls(twin: Twin, started: float, ended: float) -> list[tuple[str, str, int]]:
    """(service, action, status) of the calls signed with the controller-side key between ``started`` and ``ended``,
    without the twin controller's own actions."""
    return [
        (c["service"], c["action"], c["status"])
        for c in aws_emulator.calls(twin.endpoint, CONTROLLER_KEY)
        if started <= c["time"] <= ended and (c["service"], c["action"]) not in TWIN_CONTROLLER_ACTIONS
    ]


def test_site_check_mode_names_the_plan_the_bake_and_the_refreshes_and_changes_nothing(twin: Twin, record_property):
    before = emulator_state(twin)
    latest = {tier: max(v[0] for v in before["templates"][name]) for tier, name in LAUNCH_TEMPLATES.items()}
    started = time.time()
    proc = ansible_playbook(
        ROOT / "site.yml", ROOT / "inventories" / "local", pending_change(), check=True, timeout=RUN_TIMEOUT_S,
        env=ansible_env(),
    )  # fmt: skip
    ended = time.time()
    record_property("check_seconds", round(ended - started, 1))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    text = " ".join(proc.stdout.split())  # the YAML callback wraps long lines

    # (a) the plan difference: the frontend's launch template gets a new version for its user data's setting.
    assert "TASK [Show the twin's plan]" in proc.stdout
    assert "new version of launch template ollama-local-frontend-lt: user data: WEBUI_ADMIN_EMAIL differs" in text
    # (b) the image the bake would make: the backend's (a new model); the frontend's inputs did not change.
    assert "backend: would launch a builder from" in text and "backend: would bake a new image (BakeHash" in text
    assert re.search(r"frontend: image ami-[0-9a-f]+ is current \(same bake inputs\)", text), text[-6000:]
    # (c) the refreshes it would start, each to the version the apply would write.
    frontend = twin.outputs[GROUPS["frontend"]]
    match = re.search(
        rf"would start an instance refresh of {frontend}: launch template version (\d+) -> (\d+) \(the version the "
        r"apply would write: user data: WEBUI_ADMIN_EMAIL differs",
        text,
    )
    assert match and int(match[2]) == latest["frontend"] + 1, text[-6000:]
    backend = twin.outputs[GROUPS["backend"]]
    match = re.search(
        rf"would start an instance refresh of {backend}: launch template version (\d+) -> (\d+) \(the version the "
        r"apply would write: [^)]*the new image the bake would make",
        text,
    )
    assert match and int(match[2]) == latest["backend"] + 1, text[-6000:]

    # Nothing changed: the emulator's state, and no write signed by the controller while the run lasted.
    assert emulator_state(twin) == before
    calls = controller_calls(twin, started, ended)
    assert any(action == "DescribeLaunchTemplateVersions" for _, action, _ in calls), "the run's calls are not recorded"
    assert [call for call in calls if not READS.match(call[1])] == []
