"""The production boot path on the twin: images baked, instances launched by Auto Scaling from them, each configuring
itself and completing its launch lifecycle hook, the load balancers serving what is ready, nothing pushed.

What each proof shows about the product (the same code runs on AWS: the bake role, the user data template, the
bootstrap and the instance playbook) and what only about the twin is said in each docstring.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time

import pytest

from tests.twin.scenarios.conftest import STATE_DIR, Twin, console, http, serving_targets, wait_for
from tools import aws_emulator

pytestmark = pytest.mark.twin
TIERS = ("backend", "frontend")


def _groups(twin: Twin) -> dict[str, str]:
    return {"backend": twin.outputs["ollama_backend_asg_name"], "frontend": twin.outputs["ollama_frontend_asg_name"]}


def _served_by(url: str, headers: dict[str, str] | None = None, requests: int = 8) -> set[str]:
    served = set()
    for _ in range(requests):
        status, response_headers, _ = http(url, headers)
        assert status == 200, f"{url} answered {status}"
        served.add(response_headers.get("x-served-by", ""))
    return served


def test_every_instance_runs_its_tiers_baked_image(twin: Twin):
    """Product: each group launches from the image the bake published for its tier (no image is shared; the
    frontend does not carry the models, the backend not Open-WebUI). Twin: images are podman images."""
    ssm, ec2 = twin.client("ssm"), twin.client("ec2")
    images = {}
    for tier, group in _groups(twin).items():
        parameter = twin.outputs["ollama_ami_parameter_names"][tier]
        images[tier] = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
        instances = twin.group(group)["Instances"]
        assert instances, f"group {group} has no instance"
        described = ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in instances])["Reservations"]
        assert {i["ImageId"] for r in described for i in r["Instances"]} == {images[tier]}
        tags = {t["Key"]: t["Value"] for t in ec2.describe_images(ImageIds=[images[tier]])["Images"][0]["Tags"]}
        assert tags["Tier"] == tier and tags["BakeHash"]
    assert images["backend"] != images["frontend"]
    backend = twin.in_service(_groups(twin)["backend"])[0]
    frontend = twin.in_service(_groups(twin)["frontend"])[0]
    assert console(backend, "test", "-d", "/opt/open-webui").returncode != 0, "the backend image carries Open-WebUI"
    assert console(frontend, "test", "-x", "/usr/local/bin/ollama").returncode != 0, "the frontend image has Ollama"


def test_the_images_carry_no_installation_leftovers(twin: Twin):
    """Product: what the bake copied in to install is not in the images (on AWS it would be stored again in every
    image's snapshot and its DR copy): the Ollama release archive (removed once extracted) and the frontend's copy of
    the wheelhouse (removed in the bake). Read on serving instances. Not shown here: pip's cache (pip now runs
    without one), which only a download from a package index fills; the twin installs from a wheelhouse."""
    leftovers = "/opt/ollama/.downloads/*.tgz /opt/open-webui/wheelhouse"
    for tier, group in _groups(twin).items():
        instance = twin.in_service(group)[0]
        found = console(instance, "sh", "-c", f"ls -d {leftovers} 2>/dev/null; true")
        assert found.returncode == 0, f"cannot read {tier} instance {instance}: {found.stderr}"
        assert found.stdout.split() == [], f"the {tier} image carries {found.stdout.split()}"


def test_every_launch_completed_its_lifecycle_hook_with_continue(twin: Twin):
    """Product: the instance's own bootstrap completed each launch hook with CONTINUE (read back from the
    emulator's record of CompleteLifecycleAction calls); the groups are at desired capacity, all InService."""
    actions = aws_emulator.lifecycle_actions(twin.endpoint)
    for group_name in _groups(twin).values():
        group = twin.group(group_name)
        in_service = twin.in_service(group_name)
        assert len(in_service) == group["DesiredCapacity"] > 0
        results = {a["instance_id"]: a for a in actions if a["auto_scaling_group_name"] == group_name}
        for instance_id in in_service:
            assert results[instance_id]["result"] == "CONTINUE", results.get(instance_id)
            assert results[instance_id]["cause"] == "api", "completed by a timeout, not by the instance"


def test_the_deployment_abandoned_no_launch(twin: Twin):
    """Product: the first deployment's instances, both frontends booting together on an empty database, all
    configure themselves: no bootstrap of the fleet abandoned its launch (before migrations ran one replica at a
    time, the second frontend's migration failed; with the start's health wait watching the main process that is
    an ABANDON by the instance). A hook that timed out on a slow machine is the twin's compressed heartbeat, not the
    product, and the group replaces it. This file runs first, so the emulator's record holds only site.yml's
    launches; later scenarios abandon on purpose."""
    groups = set(_groups(twin).values())
    abandoned = [
        a
        for a in aws_emulator.lifecycle_actions(twin.endpoint)
        if a["auto_scaling_group_name"] in groups and a["lifecycle_transition"].endswith("LAUNCHING")
        if a["result"] == "ABANDON" and a["cause"] == "api"
    ]
    assert not abandoned, abandoned


def test_the_public_load_balancer_balances_both_frontends(twin: Twin):
    """Product: one Open-WebUI URL for every replica. Twin: HAProxy names the target in X-Served-By."""
    frontends = set(twin.in_service(_groups(twin)["frontend"]))
    assert len(frontends) >= 2
    served = _served_by(f"{twin.outputs['ollama_service_url']}/health")
    assert served == frontends


def test_the_internal_load_balancer_needs_the_bearer_token(twin: Twin):
    """Product: the Ollama API is never reachable without the token the instance fetched at boot with its role."""
    url = f"{twin.outputs['ollama_internal_api_url']}/api/tags"
    status, _, _ = http(url)
    assert status in (401, 403)
    status, headers, body = http(url, {"Authorization": f"Bearer {twin.token()}"})
    assert status == 200
    names = {m["name"] for m in json.loads(body)["models"]}
    assert {"llama3.2:1b", "nomic-embed-text:latest"} <= names, names
    assert headers["x-served-by"] in twin.in_service(_groups(twin)["backend"])


def test_nothing_logs_in_to_the_fleet(twin: Twin):
    """Product: fleet instances launch without a key pair; no play pushes configuration into them."""
    for group_name in _groups(twin).values():
        for instance_id in twin.in_service(group_name):
            keys = console(instance_id, "sh", "-c", "cat /root/.ssh/authorized_keys 2>/dev/null; true")
            assert keys.stdout.strip() == "", f"{instance_id} accepts an SSH key"


def test_the_link_local_metadata_address_is_unreachable_in_every_instance(twin: Twin):
    """Twin: every container routes 169.254.169.254 to a prohibit route (never contacted); consumers are pointed
    at the twin's metadata double. The address is only looked up in the routing table here."""
    for group_name in _groups(twin).values():
        for instance_id in twin.in_service(group_name):
            route = console(instance_id, "ip", "route", "show", "169.254.169.254")
            assert route.stdout.startswith("prohibit"), route.stdout
            # cloud-init asked the double only (its log names every URL it tried).
            log = console(instance_id, "cat", "/var/log/cloud-init.log").stdout
            assert "DataSourceEc2" in log and ":1338" in log
            assert "169.254.169.254" not in log and "fd00:ec2::254" not in log


def test_the_bootstrap_read_its_secrets_with_the_instance_role_and_wrote_no_value(twin: Twin):
    """Product: the user data recorded names and ARNs only; the token came from Secrets Manager at boot."""
    token = twin.token()
    for group_name in _groups(twin).values():
        instance_id = twin.in_service(group_name)[0]
        record = console(instance_id, "cat", "/etc/ollama-platform/instance.env")
        assert record.returncode == 0 and "SECRET_ARN=arn:aws:secretsmanager:" in record.stdout
        assert token not in record.stdout
        journal = console(instance_id, "journalctl", "-u", "ollama-platform-bootstrap", "--no-pager", "-o", "cat")
        assert token not in journal.stdout


def test_the_bootstraps_configuration_run_uses_nothing_ansible_core_deprecated(twin: Twin):
    """Product: the tier's configuration, run by the bootstrap at every boot with the image's pinned ansible-core,
    uses nothing that ansible-core has deprecated (it would stop every boot on the release that removes it); the
    journal of each serving instance's bootstrap holds no deprecation warning."""
    for group_name in _groups(twin).values():
        for instance_id in twin.in_service(group_name):
            journal = console(instance_id, "journalctl", "-u", "ollama-platform-bootstrap", "--no-pager", "-o", "cat")
            assert journal.returncode == 0 and "PLAY RECAP" in journal.stdout, journal.stderr
            warnings = [line for line in journal.stdout.splitlines() if "DEPRECATION WARNING" in line]
            assert not warnings, f"{instance_id}: {warnings[:3]}"


def test_a_killed_backend_is_replaced_from_the_image_and_serves(twin: Twin, record_property):
    """Product: the group replaces an instance that stops, and the replacement configures itself from the image.
    Twin: killing the container plays a failed instance; the controller reports it unhealthy as EC2's status
    check would."""
    group = _groups(twin)["backend"]
    victim = twin.in_service(group)[0]
    started = time.monotonic()
    assert console(victim, "true").returncode == 0
    subprocess.run(["podman", "kill", f"ollama-twin-{victim}"], check=True, capture_output=True)
    replacement = wait_for(
        "a replacement backend InService",
        lambda: [i for i in twin.in_service(group) if i != victim],
        timeout=600,
    )[0]
    served = wait_for(
        "the replacement serving through the internal load balancer",
        lambda: (
            replacement
            in serving_targets(
                f"{twin.outputs['ollama_internal_api_url']}/api/version",
                {"Authorization": f"Bearer {twin.token()}"},
            )
        ),
        timeout=300,
    )
    assert served
    seconds = round(time.monotonic() - started, 1)
    record_property("backend_replacement_seconds", seconds)
    print(f"backend replaced and serving {seconds} s after the kill")


def test_scale_out_serves_with_no_play(twin: Twin, record_property):
    """Product: an instance added by the group (scale-out, the morning schedule) configures itself and serves;
    the time from launch to InService is the baked image's boot-to-ready. The minimum rises with the desired
    capacity, as an operator raises it with a target tracking policy on the group (the in-flight policy would
    otherwise scale the idle group back in)."""
    asg, group = twin.client("autoscaling"), _groups(twin)["backend"]
    twin.wait_settled(group)  # the killed backend's replacement
    before = set(twin.in_service(group))
    desired, minimum = twin.group(group)["DesiredCapacity"], twin.group(group)["MinSize"]
    started = time.monotonic()
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=desired + 1, DesiredCapacity=desired + 1)
    try:
        new = wait_for("the new backend InService", lambda: sorted(set(twin.in_service(group)) - before), 600)[0]
        ready = round(time.monotonic() - started, 1)
        wait_for(
            "the new backend serving",
            lambda: (
                new
                in serving_targets(
                    f"{twin.outputs['ollama_internal_api_url']}/api/version",
                    {"Authorization": f"Bearer {twin.token()}"},
                )
            ),
            timeout=120,
        )
        record_property("backend_boot_to_ready_seconds", ready)
        print(f"baked backend image: launch to InService in {ready} s")
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=minimum, DesiredCapacity=desired)


def test_a_bad_secret_name_abandons_the_launch_and_the_fleet_keeps_serving(twin: Twin):
    """Product: a bootstrap that cannot read its secret completes the hook with ABANDON and says why on the
    console; AWS terminates the instance. The instances already serving keep serving. A canary group launches the
    backend image with user data that names a secret that does not exist."""
    ec2, asg = twin.client("ec2"), twin.client("autoscaling")
    group = _groups(twin)["backend"]
    source = twin.group(group)
    template = ec2.describe_launch_template_versions(
        LaunchTemplateName=source["LaunchTemplate"]["LaunchTemplateName"], Versions=["$Default"]
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    canary = f"{group}-canary"
    user_data = base64.b64decode(template["UserData"]).decode()
    bad = re.sub(
        r"OLLAMA_API_TOKEN_SECRET_ARN=\S+", "OLLAMA_API_TOKEN_SECRET_ARN=ollama-local/no-such-secret", user_data
    )
    bad = re.sub(r"OLLAMA_PLATFORM_ASG_NAME=\S+", f"OLLAMA_PLATFORM_ASG_NAME={canary}", bad)
    bad = re.sub(r"OLLAMA_PLATFORM_LIFECYCLE_HOOK=\S+", f"OLLAMA_PLATFORM_LIFECYCLE_HOOK={canary}-launch", bad)
    assert "no-such-secret" in bad and f"={canary}-launch" in bad
    ec2.create_launch_template(
        LaunchTemplateName=f"{canary}-lt",
        LaunchTemplateData={**template, "UserData": base64.b64encode(bad.encode()).decode()},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=canary,
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": f"{canary}-lt", "Version": "$Default"},
        VPCZoneIdentifier=source["VPCZoneIdentifier"],
        Tags=[{"Key": "Role", "Value": "backend-canary", "PropagateAtLaunch": True}],
    )
    asg.put_lifecycle_hook(
        AutoScalingGroupName=canary,
        LifecycleHookName=f"{canary}-launch",
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=900,
        DefaultResult="ABANDON",
    )
    try:
        asg.set_desired_capacity(AutoScalingGroupName=canary, DesiredCapacity=1)
        instances = wait_for("the canary instance", lambda: twin.group(canary)["Instances"], 60)
        first = instances[0]["InstanceId"]
        abandoned = wait_for(
            "an ABANDON of the canary",
            lambda: [
                a
                for a in aws_emulator.lifecycle_actions(twin.endpoint)
                if a["instance_id"] == first and a["result"] == "ABANDON"
            ],
            timeout=300,
        )
        assert abandoned[0]["cause"] == "api", "the hook timed out instead of the bootstrap abandoning it"
        saved = STATE_DIR / "console" / f"{first}.log"
        output = wait_for("the canary's console output", lambda: saved.exists() and saved.read_text(), 120)
        assert "ollama-platform-bootstrap: FAILED: secrets" in output, output[-3000:]
        # The serving backend still answers (a proxy reload may hold one request: ask again within a minute).
        wait_for(
            "the serving backends answering",
            lambda: serving_targets(
                f"{twin.outputs['ollama_internal_api_url']}/api/version",
                {"Authorization": f"Bearer {twin.token()}"},
                requests=1,
            ),
            timeout=60,
        )
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=canary, MinSize=0, DesiredCapacity=0)
        asg.delete_auto_scaling_group(AutoScalingGroupName=canary, ForceDelete=True)
        ec2.delete_launch_template(LaunchTemplateName=f"{canary}-lt")
