"""AMI bake and AMI retention, run for real against the AWS emulator (DR: tests/integration/test_dr_regions.py).

The playbooks run as ``ansible-playbook ... -i inventories/local`` with the emulator of the ``aws`` fixture as
the twin's endpoint. The builders are emulated EC2 instances, so the bake's configuration is switched off
(``ami_bake_configure=false``); every AWS step of the bake (roles/ami_bake) runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

from tests.ansible_runner import ansible_env, ansible_playbook
from tests.project import ROOT
from tools import aws_emulator

pytestmark = pytest.mark.emulator

INVENTORY = ROOT / "inventories" / "local"
PRIMARY = "us-east-1"
DR = "us-west-2"
TABLE = "ollama-local-data-table"
TIERS = ("backend", "frontend")
PARAMETERS = {tier: f"/ollama/local/{tier}/ami-id" for tier in TIERS}
BASE_NAME = "debian-12-amd64-20261101-1900"
RECAP_RE = re.compile(r"^localhost\s*: ok=\d+\s+changed=(\d+)", re.MULTILINE)


def run(
    playbook: str,
    aws: str,
    extra: dict[str, Any] | None = None,
    check: bool = False,
    timeout: int = 180,
    env: dict[str, str] | None = None,
):
    """Run a product playbook against the emulator; returns the completed process."""
    env = ansible_env(OLLAMA_TWIN_AWS_PORT=str(urlparse(aws).port), **(env or {}))
    return ansible_playbook(ROOT / "playbooks" / playbook, INVENTORY, extra, check=check, timeout=timeout, env=env)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def create_table(region: str = PRIMARY) -> None:
    boto3.client("dynamodb", region_name=region).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )


def base_image(region: str = PRIMARY) -> str:
    """Register a Debian-12-named image of this account (the emulator ships no Debian images)."""
    ec2 = boto3.client("ec2", region_name=region)
    seed = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=seed, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name=BASE_NAME)["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return image


def bake(aws: str, base: str, env: dict[str, str] | None = None, **extra: Any) -> subprocess.CompletedProcess[str]:
    return run("bake_ami.yml", aws, {"ami_bake_configure": False, "ami_bake_base_ami_id": base, **extra}, env=env)


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def our_images(region: str = PRIMARY) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=region)
    return ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:Role", "Values": ["ollama-ami"]}])["Images"]


def images_of(tier: str, region: str = PRIMARY) -> list[dict[str, Any]]:
    return [i for i in our_images(region) if tags_of(i).get("Tier") == tier]


def parameter(name: str, region: str = PRIMARY) -> str:
    return boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]


def bake_records() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=PRIMARY).Table(TABLE)
    return table.query(KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("AMI#local"))["Items"]


def builders() -> list[dict[str, Any]]:
    found = boto3.client("ec2").describe_instances(Filters=[{"Name": "tag:Role", "Values": ["ami-builder"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def builder_groups() -> list[dict[str, Any]]:
    groups = boto3.client("ec2").describe_security_groups()["SecurityGroups"]
    return [g for g in groups if g["GroupName"].startswith("ollama-local-ami-builder-")]


def assert_builders_gone() -> None:
    """Every builder terminated; its own security group existed while it ran and is deleted now."""
    instances = builders()
    assert instances and all(i["State"]["Name"] in ("shutting-down", "terminated") for i in instances), instances
    for instance in instances:
        names = [g["GroupName"] for g in instance["SecurityGroups"]]
        assert names == [f"ollama-local-ami-builder-{tags_of(instance)['Tier']}-sg"], names
    assert not builder_groups(), "a builder security group was left behind"


def localhost_changed(proc: subprocess.CompletedProcess[str]) -> int:
    match = RECAP_RE.search(proc.stdout)
    assert match, proc.stdout[-2000:]
    return int(match.group(1))


def test_parameter_names_match_terraform() -> None:
    locals_tf = (ROOT / "terraform" / "locals.tf").read_text()
    pattern = r'ami_parameter_names\s*=\s*\{\s*for\s+tier\s+in\s+\[([^\]]+)\]\s*:\s*tier\s*=>\s*"([^"]+)"'
    match = re.search(pattern, locals_tf)
    assert match, "terraform/locals.tf no longer defines ami_parameter_names per tier"
    assert sorted(t.strip().strip('"') for t in match.group(1).split(",")) == sorted(TIERS)
    for tier in TIERS:
        assert match.group(2).replace("${var.environment}", "local").replace("${tier}", tier) == PARAMETERS[tier]
    defaults = (ROOT / "roles" / "ami_bake" / "defaults" / "main.yml").read_text()
    assert 'ami_bake_parameter_prefix: "/ollama/{{ ami_bake_environment }}"' in defaults
    assert "<prefix>/<tier>/ami-id" in (ROOT / "roles" / "ami_bake" / "meta" / "argument_specs.yml").read_text()


def test_bake_publishes_per_tier_images_records_copies_and_terminates(aws: str) -> None:
    create_table()
    base = base_image()
    in_service = {tier: seeded_image(PRIMARY, f"ollama-local-ami-{tier}-20261001T000000Z") for tier in TIERS}
    dr_in_service = {tier: seeded_image(DR, f"ollama-local-ami-{tier}-20261001T000000Z") for tier in TIERS}
    for tier in TIERS:
        put_parameter(PARAMETERS[tier], in_service[tier])
        put_parameter(PARAMETERS[tier], dr_in_service[tier], DR)

    proc = bake(aws, base, dr_region=DR)
    assert proc.returncode == 0, output(proc)

    records = {r["tier"]: r for r in bake_records()}
    assert set(records) == set(TIERS), records
    hashes = set()
    for tier in TIERS:
        images = [i for i in images_of(tier) if i["ImageId"] != in_service[tier]]
        assert len(images) == 1, images
        new = images[0]
        tags = tags_of(new)
        assert tags["Project"] == "ollama" and tags["Environment"] == "local" and tags["ManagedBy"] == "ansible"
        assert tags["BaseAmi"] == base and tags["Tier"] == tier and re.fullmatch(r"[0-9a-f]{64}", tags["BakeHash"])
        assert tags["Name"] == new["Name"] and new["Name"].startswith(f"ollama-local-ami-{tier}-")
        assert ("Models" in tags) == (tier == "backend") and ("OpenWebUIVersion" in tags) == (tier == "frontend")
        if tier == "backend":
            assert tags["Models"] == "llama3.2:1b nomic-embed-text" and tags["OllamaVersion"] == "unconfigured"
        hashes.add(tags["BakeHash"])
        snapshot_ids = [m["Ebs"]["SnapshotId"] for m in new["BlockDeviceMappings"] if "Ebs" in m]
        assert snapshot_ids, new
        for snapshot in boto3.client("ec2").describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]:
            assert tags_of(snapshot).get("BakeId") == tags["BakeId"], snapshot

        # The tier's launch template now reads the new AMI; the one in service before is the rollback target.
        assert parameter(PARAMETERS[tier]) == new["ImageId"]
        assert parameter(PARAMETERS[tier] + "-previous") == in_service[tier]

        dr_images = [i for i in images_of(tier, DR) if i["ImageId"] != dr_in_service[tier]]
        assert len(dr_images) == 1, dr_images
        dr_tags = tags_of(dr_images[0])
        assert dr_tags["SourceAmi"] == new["ImageId"] and dr_tags["SourceRegion"] == PRIMARY
        assert dr_tags["BakeHash"] == tags["BakeHash"]
        assert parameter(PARAMETERS[tier], DR) == dr_images[0]["ImageId"]
        assert parameter(PARAMETERS[tier] + "-previous", DR) == dr_in_service[tier]

        record = records[tier]
        assert record["ami_id"] == new["ImageId"] and record["previous_ami_id"] == in_service[tier]
        assert record["dr_ami_id"] == dr_images[0]["ImageId"] and record["bake_hash"] == tags["BakeHash"]
        assert record["models"] == (["llama3.2:1b", "nomic-embed-text"] if tier == "backend" else [])
        assert record["base_ami_id"] == base and record["snapshot_ids"] == snapshot_ids
        assert record["sk"] == f"BAKE#{tags['BakeId']}" and record["configured"] is False
    assert len(hashes) == 2, "the two tiers must have different bake hashes"
    assert_builders_gone()


def frozen_roles(tmp_path: Path) -> dict[str, str]:
    """A copy of the roles for a test that compares bake hashes (others may edit roles/ while the tests run)."""
    roles = tmp_path / "roles"
    shutil.copytree(ROOT / "roles", roles, ignore=shutil.ignore_patterns("molecule", "__pycache__"))
    return {"ANSIBLE_ROLES_PATH": str(roles)}


def test_unchanged_inputs_reuse_the_images_and_change_nothing(aws: str, tmp_path: Path) -> None:
    create_table()
    base = base_image()
    env = frozen_roles(tmp_path)
    first = bake(aws, base, env=env)
    assert first.returncode == 0, output(first)
    images = {i["ImageId"] for i in our_images()}
    assert len(images) == 2
    launched = len(builders())

    second = bake(aws, base, env=env)
    assert second.returncode == 0, output(second)
    assert {i["ImageId"] for i in our_images()} == images, "a second bake with unchanged inputs made a new image"
    assert len(builders()) == launched, "a second bake with unchanged inputs launched a builder"
    assert localhost_changed(second) == 0, second.stdout[-3000:]
    assert len(bake_records()) == 2
    for tier in TIERS:
        assert parameter(PARAMETERS[tier]) == images_of(tier)[0]["ImageId"]

    # A parameter pointed elsewhere (e.g. by hand) is put back; nothing is rebuilt.
    put_parameter(PARAMETERS["frontend"], "ami-0123456789abcdef0")
    third = bake(aws, base, env=env)
    assert third.returncode == 0, output(third)
    assert parameter(PARAMETERS["frontend"]) == images_of("frontend")[0]["ImageId"]
    assert {i["ImageId"] for i in our_images()} == images
    assert localhost_changed(third) > 0


# Actions that only read (IAM's policy simulation included, which preflight and the bake's identity check run).
READS = re.compile(r"^(Describe|List|Get|Head|Simulate)[A-Z]")


def test_check_mode_names_the_tier_it_would_bake_and_changes_nothing(aws: str, tmp_path: Path) -> None:
    """site.yml --check with a new backend model: the plan names the backend's new image, reuses the frontend's,
    launches no builder and sends only reads (the emulator's call record), so the release step can show the
    refresh the new image would start."""
    create_table()
    base = base_image()
    env = frozen_roles(tmp_path)
    first = bake(aws, base, env=env)
    assert first.returncode == 0, output(first)

    def state() -> dict[str, Any]:
        return {
            "images": sorted(i["ImageId"] for i in our_images()),
            "builders": len(builders()),
            "builder_groups": len(builder_groups()),
            "parameters": {tier: parameter(PARAMETERS[tier]) for tier in TIERS},
            "records": len(bake_records()),
        }

    before = state()
    mark = len(aws_emulator.calls(aws))
    models = ["llama3.2:1b", "nomic-embed-text", "qwen2.5:0.5b"]
    settings = {"ami_bake_configure": False, "ami_bake_base_ami_id": base, "ami_bake_models": models}
    proc = run("bake_ami.yml", aws, settings, check=True, env=env)
    assert proc.returncode == 0, output(proc)
    text = " ".join(proc.stdout.split())
    assert f"backend: would launch a builder from {base} and bake a new image" in text, text[-3000:]
    assert f"frontend: image {before['parameters']['frontend']} was baked from the same inputs" in text
    assert "backend: would bake a new image (check mode)" in text
    sent = aws_emulator.calls(aws)[mark:]
    assert sent and [(c["service"], c["action"]) for c in sent if not READS.match(c["action"])] == []
    assert state() == before


def test_changed_role_file_gives_a_new_bake_hash(aws: str, tmp_path: Path) -> None:
    create_table()
    base = base_image()
    env = frozen_roles(tmp_path)
    roles = Path(env["ANSIBLE_ROLES_PATH"])
    backend_only = {"ami_bake_tiers": ["backend"]}

    assert (proc := bake(aws, base, env=env, **backend_only)).returncode == 0, output(proc)
    (first,) = images_of("backend")

    # Documentation is not part of an image: same hash, image reused.
    readme = roles / "ollama" / "README.md"
    readme.write_text(readme.read_text() + "\nA note.\n")
    assert (proc := bake(aws, base, env=env, **backend_only)).returncode == 0, output(proc)
    assert [i["ImageId"] for i in images_of("backend")] == [first["ImageId"]]

    # A task file is: new hash, new image, parameter moved, old one kept as the rollback target.
    tasks = roles / "ollama" / "tasks" / "main.yml"
    tasks.write_text(tasks.read_text() + "# changed\n")
    assert (proc := bake(aws, base, env=env, **backend_only)).returncode == 0, output(proc)
    images = images_of("backend")
    assert len(images) == 2, images
    (second,) = [i for i in images if i["ImageId"] != first["ImageId"]]
    assert tags_of(second)["BakeHash"] != tags_of(first)["BakeHash"]
    assert parameter(PARAMETERS["backend"]) == second["ImageId"]
    assert parameter(PARAMETERS["backend"] + "-previous") == first["ImageId"]

    # So are the models.
    models = {**backend_only, "ami_bake_models": ["llama3.2:3b", "nomic-embed-text"]}
    assert (proc := bake(aws, base, env=env, **models)).returncode == 0, output(proc)
    assert len(images_of("backend")) == 3


def test_failed_configuration_creates_no_ami_and_removes_the_builders(aws: str) -> None:
    create_table()
    base = base_image()
    unreachable = {
        "ami_bake_configure": True,
        "ami_bake_connect_timeout": 3,
        "ami_bake_role_vars": {"all": {"cloudwatch_agent_install": False}},
        # A builder nobody can reach: the configure play fails, the publish play still cleans up.
        "ami_bake_builder_connection": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9},
    }
    proc = bake(aws, base, **unreachable)
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", output(proc))
    assert re.search(r"configuring builder i-[0-9a-f]+ \(backend\) failed \(.*\): no AMI created", text), text
    assert not our_images(), "an AMI was created from a builder whose configuration failed"
    assert_builders_gone()
    assert len(builders()) == 2, "both tiers' builders were launched"
    for tier in TIERS:
        with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
            parameter(PARAMETERS[tier])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"ami_bake_tiers": ["backend", "gpu"]},
            "ami_bake_tiers ['backend', 'gpu'] names unknown tier(s) ['gpu']: use a list of backend, frontend",
        ),
        ({"ami_bake_models": []}, "ami_bake_models is empty or has empty names"),
        ({"ami_bake_models": ["llama3.2:1b"]}, "lacks the embedding model nomic-embed-text"),
        ({"ami_bake_models": ["nomic-embed-text", "llama3.2:1b"]}, "put a chat model first"),
        (
            {"ami_bake_base_ami_id": ""},
            "SSM parameter /aws/service/debian/release/12/latest/amd64 gives no image in us-east-1: "
            "set ami_bake_base_ami_id",
        ),
        ({"ami_bake_tiers": ["frontend"], "ami_bake_tpyo": 1}, "Unknown role variable(s) ami_bake_tpyo"),
    ],
    ids=["unknown-tier", "no-models", "no-embedding-model", "embedding-model-first", "no-base-image", "typo"],
)
def test_bad_input_fails_before_anything_is_created(aws: str, extra: dict[str, Any], message: str) -> None:
    create_table()
    base = base_image()
    groups_before = len(boto3.client("ec2").describe_security_groups()["SecurityGroups"])
    proc = bake(aws, base, **extra)
    assert proc.returncode != 0
    assert message in re.sub(r"\s+", " ", output(proc)), output(proc)
    assert not builders() and not our_images()
    assert len(boto3.client("ec2").describe_security_groups()["SecurityGroups"]) == groups_before


def test_missing_data_table_fails_before_anything_is_created(aws: str) -> None:
    proc = bake(aws, base_image())
    assert proc.returncode != 0
    assert "DynamoDB table ollama-local-data-table not found in us-east-1" in output(proc)
    assert not builders() and not builder_groups()


def seeded_image(region: str, name: str, tier: str = "") -> str:
    """An image of this account tagged like a bake (stands in for earlier bakes)."""
    ec2 = boto3.client("ec2", region_name=region)
    seed = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=seed, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    tier = tier or next((t for t in TIERS if f"-{t}-" in name), "")
    tags = [
        {"Key": "Project", "Value": "ollama"},
        {"Key": "Environment", "Value": "local"},
        {"Key": "Role", "Value": "ollama-ami"},
    ] + ([{"Key": "Tier", "Value": tier}] if tier else [])
    image = ec2.create_image(
        InstanceId=instance["InstanceId"],
        Name=name,
        TagSpecifications=[{"ResourceType": resource, "Tags": tags} for resource in ("image", "snapshot")],
    )["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return image


def put_parameter(name: str, value: str, region: str = PRIMARY) -> None:
    boto3.client("ssm", region_name=region).put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def test_prune_lists_in_check_mode_then_keeps_newest_and_protected(aws: str) -> None:
    names = [f"ollama-local-ami-2026110{day}T000000Z" for day in range(1, 7)]
    images = [seeded_image(PRIMARY, name) for name in names]  # oldest first
    put_parameter(PARAMETERS["backend"], images[0])  # the oldest is in service (e.g. after a rollback)
    put_parameter(PARAMETERS["frontend"] + "-previous", images[1])  # every tier's parameters are protected
    ec2 = boto3.client("ec2")
    snapshot_of = {
        image["ImageId"]: image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        for image in ec2.describe_images(ImageIds=images)["Images"]
    }
    settings = {"prune_keep_newest": 2, "prune_older_than_days": 0}
    expected_gone = set(images[2:4])  # not the newest two, not in service, not the rollback target

    proc = run("prune_amis.yml", aws, settings)
    assert proc.returncode != 0, "a real prune ran without confirmation"
    assert "-e prune_confirm=local" in output(proc)

    proc = run("prune_amis.yml", aws, settings, check=True)
    assert proc.returncode == 0, output(proc)
    listed = set(re.findall(r"us-east-1 (ami-[0-9a-f]+) \(", proc.stdout))
    assert listed == expected_gone, proc.stdout
    assert {i["ImageId"] for i in our_images()} == set(images), "check mode deregistered an image"

    proc = run("prune_amis.yml", aws, {**settings, "prune_confirm": "local"})
    assert proc.returncode == 0, output(proc)
    assert {i["ImageId"] for i in our_images()} == set(images) - expected_gone
    remaining_snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not remaining_snapshots & {snapshot_of[i] for i in expected_gone}, "snapshots of pruned AMIs remain"
    assert {snapshot_of[i] for i in set(images) - expected_gone} <= remaining_snapshots
