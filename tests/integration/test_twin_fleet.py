"""The twin's fleet provisioner: placement, and idempotent emulated AWS resources (no containers needed)."""

from __future__ import annotations

import boto3
import pytest

from tools import twin_fleet


def test_nodes_alternate_between_the_two_zones():
    nodes = twin_fleet.plan_nodes({"backend": 1, "frontend": 2, "data": 1}, "10.213.0.0/16")
    assert [(n.name, n.ip, n.zone) for n in nodes] == [
        ("ollama-twin-backend-1", "10.213.0.11", 0),
        ("ollama-twin-frontend-1", "10.213.0.21", 0),
        ("ollama-twin-frontend-2", "10.213.128.22", 1),
        ("ollama-twin-data-1", "10.213.0.31", 0),
    ]


@pytest.mark.parametrize(
    ("counts", "network", "message"),
    [
        ({"backend": 1}, "10.213.0.0/25", "too small"),
        ({"backend": 10}, "10.213.0.0/16", "out of range"),
    ],
)
def test_bad_plans_name_the_fix(counts, network, message):
    with pytest.raises(twin_fleet.TwinError, match=message):
        twin_fleet.plan_nodes(counts, network)


def test_unreachable_emulator_names_the_fix():
    with pytest.raises(twin_fleet.TwinError, match=r"run 'tools/twin.sh up' first"):
        twin_fleet.check_prerequisites("http://127.0.0.1:9")


@pytest.mark.emulator
def test_emulated_stack_is_idempotent_and_terraform_shaped(aws):
    nodes = twin_fleet.plan_nodes({"backend": 1, "frontend": 2, "data": 1}, "10.213.0.0/16")
    first: list[str] = []
    outputs = twin_fleet.provision_aws(twin_fleet.Aws(aws, "us-east-1", first), nodes, "10.213.0.0/16")
    second: list[str] = []
    again = twin_fleet.provision_aws(twin_fleet.Aws(aws, "us-east-1", second), nodes, "10.213.0.0/16")
    assert first and second == [], second
    assert again == outputs

    assert outputs["ollama_backend_asg_name"] == "ollama-local-asg"
    assert outputs["ollama_frontend_asg_name"] == "ollama-local-frontend-asg"
    reservations = boto3.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Environment", "Values": ["local"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    instances = {i["PrivateIpAddress"]: i for r in reservations for i in r["Instances"]}
    assert set(instances) == {n.ip for n in nodes}
    tags = {t["Key"]: t["Value"] for t in instances["10.213.128.22"]["Tags"]}
    assert (
        tags["Role"] == "frontend" and tags["Project"] == "ollama" and tags["TwinContainer"] == "ollama-twin-frontend-2"
    )
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=outputs["ollama_api_token_secret_arn"])
    assert len(secret["SecretString"]) >= 32
