"""AMI bake, AMI retention and DR prerequisite checks, run for real against the AWS emulator.

The playbooks run as ``ansible-playbook ... -i inventories/local`` with the emulator of the ``aws`` fixture as
the twin's endpoint. The builder is an emulated EC2 instance, so the bake's configuration play is switched off
(``bake_configure=false``); every AWS step of the bake runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "local"
PRIMARY = "us-east-1"
DR = "us-west-2"
TABLE = "ollama-local-data-table"
PARAMETER = "/ollama/local/ami-id"
PREVIOUS = "/ollama/local/ami-id-previous"
BASE_NAME = "debian-12-amd64-20261101-1900"


def run(playbook: str, aws: str, extra: dict[str, Any] | None = None, check: bool = False, timeout: int = 120):
    """Run a product playbook against the emulator; returns the completed process."""
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_FACT_CACHING": "memory",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "OLLAMA_TWIN_AWS_PORT": str(urlparse(aws).port),
    }
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / playbook), "-i", str(INVENTORY)]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


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


BAKE_VARS = {"bake_configure": False, "bake_base_ami_owners": ["self"]}


def bake(aws: str, **extra: Any) -> subprocess.CompletedProcess[str]:
    return run("bake_ami.yml", aws, {**BAKE_VARS, **extra})


def our_images(region: str = PRIMARY) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=region)
    return ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:Role", "Values": ["ollama-ami"]}])["Images"]


def parameter(name: str, region: str = PRIMARY) -> str:
    return boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]


def bake_records() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=PRIMARY).Table(TABLE)
    return table.query(KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("AMI#local"))["Items"]


def test_parameter_name_matches_terraform() -> None:
    locals_tf = (ROOT / "terraform" / "locals.tf").read_text()
    match = re.search(r'ami_parameter_name\s*=\s*"([^"]+)"', locals_tf)
    assert match, "terraform/locals.tf no longer defines ami_parameter_name"
    assert match.group(1).replace("${var.environment}", "local") == PARAMETER
    assert "bake_ami_parameter_name" in (ROOT / "playbooks" / "bake_ami.yml").read_text()


def seeded_image(region: str, name: str) -> str:
    """An image of this account tagged like a bake (stands in for earlier bakes)."""
    ec2 = boto3.client("ec2", region_name=region)
    seed = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=seed, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    image = ec2.create_image(
        InstanceId=instance["InstanceId"],
        Name=name,
        TagSpecifications=[
            {
                "ResourceType": resource,
                "Tags": [
                    {"Key": "Project", "Value": "ollama"},
                    {"Key": "Environment", "Value": "local"},
                    {"Key": "Role", "Value": "ollama-ami"},
                ],
            }
            for resource in ("image", "snapshot")
        ],
    )["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return image


def put_parameter(name: str, value: str, region: str = PRIMARY) -> None:
    boto3.client("ssm", region_name=region).put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def test_bake_publishes_records_copies_and_terminates(aws: str) -> None:
    create_table()
    base = base_image()
    in_service = seeded_image(PRIMARY, "ollama-local-ami-20261001T000000Z")
    dr_in_service = seeded_image(DR, "ollama-local-ami-20261001T000000Z")
    put_parameter(PARAMETER, in_service)
    put_parameter(PARAMETER, dr_in_service, DR)

    proc = bake(aws, dr_region=DR)
    assert proc.returncode == 0, output(proc)

    images = [i for i in our_images() if i["ImageId"] != in_service]
    assert len(images) == 1, images
    new = images[0]
    tags = {t["Key"]: t["Value"] for t in new["Tags"]}
    assert tags["Project"] == "ollama" and tags["Environment"] == "local" and tags["ManagedBy"] == "ansible"
    assert tags["BaseAmi"] == base and tags["Models"] == "llama3.2:1b"
    assert tags["Name"] == new["Name"] and new["Name"].startswith("ollama-local-ami-")
    snapshot_ids = [m["Ebs"]["SnapshotId"] for m in new["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshot_ids, new
    for snapshot in boto3.client("ec2").describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]:
        snapshot_tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
        assert snapshot_tags.get("BakeId") == tags["BakeId"], snapshot

    # The launch templates now read the new AMI; the one in service before is the rollback target.
    assert parameter(PARAMETER) == new["ImageId"]
    assert parameter(PREVIOUS) == in_service

    dr_images = [i for i in our_images(DR) if i["ImageId"] != dr_in_service]
    assert len(dr_images) == 1, dr_images
    dr_tags = {t["Key"]: t["Value"] for t in dr_images[0]["Tags"]}
    assert dr_tags["SourceAmi"] == new["ImageId"] and dr_tags["SourceRegion"] == PRIMARY
    assert parameter(PARAMETER, DR) == dr_images[0]["ImageId"]
    assert parameter(PREVIOUS, DR) == dr_in_service

    builders = boto3.client("ec2").describe_instances(Filters=[{"Name": "tag:Role", "Values": ["ami-builder"]}])
    states = [i["State"]["Name"] for r in builders["Reservations"] for i in r["Instances"]]
    assert states and all(s in ("shutting-down", "terminated") for s in states), states

    records = bake_records()
    assert len(records) == 1, records
    record = records[0]
    assert record["ami_id"] == new["ImageId"] and record["previous_ami_id"] == in_service
    assert record["dr_ami_id"] == dr_images[0]["ImageId"] and record["models"] == ["llama3.2:1b"]
    assert record["base_ami_id"] == base and record["snapshot_ids"] == snapshot_ids
    assert record["sk"] == f"BAKE#{tags['BakeId']}" and record["configured"] is False


def test_failed_configuration_creates_no_ami_and_terminates_the_builder(aws: str) -> None:
    base_image()
    proc = bake(aws, dr_region=DR)
    assert proc.returncode != 0
    assert "DynamoDB table ollama-local-data-table not found in us-east-1" in output(proc)
    ec2 = boto3.client("ec2")
    assert not ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["ami-builder"]}])["Reservations"]

    create_table()
    unreachable = {
        "bake_configure": True,
        "bake_connect_timeout": 3,
        # A builder nobody can reach: the configuration play fails, the last play still cleans up.
        "bake_builder_connection": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9},
    }
    proc = bake(aws, **unreachable)
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", output(proc))
    assert re.search(r"configuring builder i-[0-9a-f]+ failed \(.*\): no AMI created", text), text
    assert not our_images(), "an AMI was created from a builder whose configuration failed"
    builders = ec2.describe_instances(Filters=[{"Name": "tag:Role", "Values": ["ami-builder"]}])
    states = [i["State"]["Name"] for r in builders["Reservations"] for i in r["Instances"]]
    assert states and all(s in ("shutting-down", "terminated") for s in states), states
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        parameter(PARAMETER)


def test_prune_lists_in_check_mode_then_keeps_newest_and_protected(aws: str) -> None:
    names = [f"ollama-local-ami-2026110{day}T000000Z" for day in range(1, 7)]
    images = [seeded_image(PRIMARY, name) for name in names]  # oldest first
    put_parameter(PARAMETER, images[0])  # the oldest is in service (e.g. after a rollback)
    put_parameter(PREVIOUS, images[1])
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


def test_dr_prerequisites_fail_with_the_fix_when_the_dr_region_is_empty(aws: str) -> None:
    create_table()  # the primary has everything; the DR region has nothing
    proc = run("dr.yml", aws, {"dr_region": DR, "dr_check_only": True})
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", output(proc))
    assert "DR prerequisites missing in us-west-2" in text, text
    assert (
        "no baked AMI recorded in us-west-2 (SSM /ollama/local/ami-id): copy one with ansible-playbook "
        "playbooks/bake_ami.yml -i inventories/local -e dr_region=us-west-2" in text
    )
    assert "no replicated backups bucket ollama-local-backups-dr-* in us-west-2" in text
    assert "no DynamoDB table ollama-local-data-table in us-west-2" in text
    assert "-e dr_restore_table=true" in text


STUB = """---
- name: Stand-in for site.yml - records what the DR rebuild passed
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record the inputs
      ansible.builtin.copy:
        dest: "{out}"
        mode: "0600"
        content: >-
          {{{{ {{'region': platform_aws_region, 'state_key': platform_state_key,
                 'bootstrap': platform_state_bootstrap, 'sources': ansible_inventory_sources,
                 'var_file': platform_terraform_var_file,
                 'inventory': lookup('ansible.builtin.file', ansible_inventory_sources[0] ~ '/local.aws_ec2.yml')
                              | from_yaml}}
             | to_json }}}}
"""


def test_dr_drill_rebuilds_in_the_dr_region_and_records_the_rto(aws: str, tmp_path: Path) -> None:
    ami = seeded_image(DR, "ollama-local-ami-20261101T000000Z")
    put_parameter(PARAMETER, ami, DR)
    s3 = boto3.client("s3", region_name=DR)
    s3.create_bucket(Bucket="ollama-local-backups-dr-0001", CreateBucketConfiguration={"LocationConstraint": DR})
    s3.put_bucket_versioning(Bucket="ollama-local-backups-dr-0001", VersioningConfiguration={"Status": "Enabled"})
    create_table(DR)
    out = tmp_path / "rebuild.json"
    stub = tmp_path / "stub.yml"
    stub.write_text(STUB.format(out=out))
    drill = {
        "dr_region": DR,
        "dr_drill": True,
        "dr_recreate_playbook": str(stub),
        "dr_work_dir": str(tmp_path / "dr"),
        # The twin has no Terraform variables; production's shows the region swap.
        "platform_terraform_var_file": str(ROOT / "terraform" / "environments" / "production.tfvars"),
    }

    proc = run("dr.yml", aws, drill)
    assert proc.returncode != 0 and "-e dr_confirm=local/us-west-2" in output(proc)
    assert not out.exists()

    proc = run("dr.yml", aws, {**drill, "dr_confirm": "local/us-west-2"})
    assert proc.returncode == 0, output(proc)
    rebuild = json.loads(out.read_text())
    assert rebuild["region"] == DR and rebuild["state_key"] == "ollama/dr/terraform.tfstate" and rebuild["bootstrap"]
    assert rebuild["sources"] == [str(tmp_path / "dr" / "inventories" / "local")]
    assert rebuild["inventory"]["regions"] == [DR]
    assert rebuild["inventory"]["filters"]["tag:Environment"] == "local"
    assert rebuild["var_file"] == "", "the twin's fleet provisioner takes no Terraform variables"
    tfvars = (tmp_path / "dr" / "local-us-west-2.tfvars").read_text()
    assert re.search(r'(?m)^aws_region\s*= "us-west-2"$', tfvars)
    assert re.search(r'(?m)^dr_region\s*= "us-east-1"$', tfvars)
    assert 'environment         = "production"' in tfvars

    table = boto3.resource("dynamodb", region_name=DR).Table(TABLE)
    drills = table.query(KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("DRDRILL#local"))["Items"]
    assert len(drills) == 1, drills
    record = drills[0]
    assert record["result"] == "success" and record["dr_region"] == DR and record["source_region"] == PRIMARY
    assert record["ami_id"] == ami and record["backups_bucket"] == "ollama-local-backups-dr-0001"
    assert record["table_source"] == "replica"
    assert 0 < float(record["rto_seconds"]) < 120
