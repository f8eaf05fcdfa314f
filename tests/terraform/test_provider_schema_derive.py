"""The schema derivation from the jsii assembly, on a small assembly shaped like cdktn-provider-aws's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tools.provider_schema.derive import DEFAULT_OUTPUT, derive, write

LINK = "https://registry.terraform.io/providers/hashicorp/aws/6.69.1/docs"


def _prop(name: str, tf_name: str, resource: str, type_: dict, optional: bool = True, block: bool = False) -> dict:
    docs = {"summary": f"Docs at Terraform Registry: {{@link {LINK}/resources/{resource}#{tf_name} X#{tf_name}}}."}
    if block:
        docs = {
            "summary": f"{tf_name} block.",
            "remarks": f"Docs at Terraform Registry: {{@link {LINK}/resources/{resource}#{tf_name} X#{tf_name}}}",
        }
    prop = {"name": name, "docs": docs, "type": type_}
    if optional:
        prop["optional"] = True
    return prop


def _assembly() -> dict:
    p = "@cdktn/provider-aws"
    string = {"primitive": "string"}
    mapping = f"{p}.lb.LbSubnetMapping"
    return {
        "docs": {},
        "readme": {"markdown": "AWS provider 6.69.1"},
        "types": {
            f"{p}.lb.Lb": {
                "kind": "class",
                "base": "cdktn.TerraformResource",
                "fqn": f"{p}.lb.Lb",
                "docs": {"summary": f"Represents a {{@link {LINK}/resources/lb aws_lb}}."},
                "initializer": {"parameters": [{"name": "config", "type": {"fqn": f"{p}.lb.LbConfig"}}]},
            },
            f"{p}.lb.LbConfig": {
                "kind": "interface",
                "datatype": True,
                "fqn": f"{p}.lb.LbConfig",
                "properties": [
                    _prop("name", "name", "lb", string, optional=False),
                    _prop("ipv6CidrBlock", "ipv6_cidr_block", "lb", string),
                    _prop(
                        "accessLogs",
                        "access_logs",
                        "lb",
                        {"fqn": f"{p}.lb.LbAccessLogs"},
                        block=True,
                    ),
                    _prop(
                        "subnetMapping",
                        "subnet_mapping",
                        "lb",
                        {
                            "union": {
                                "types": [
                                    {"fqn": "cdktn.IResolvable"},
                                    {
                                        "collection": {
                                            "kind": "array",
                                            "elementtype": {"fqn": mapping},
                                        }
                                    },
                                ]
                            }
                        },
                    ),
                    _prop("statement", "statement", "lb", {"primitive": "any"}, block=True),
                ],
            },
            f"{p}.lb.LbAccessLogs": {
                "kind": "interface",
                "datatype": True,
                "fqn": f"{p}.lb.LbAccessLogs",
                "properties": [_prop("bucket", "bucket", "lb", string, optional=False)],
            },
            mapping: {
                "kind": "interface",
                "datatype": True,
                "fqn": mapping,
                "properties": [_prop("subnetId", "subnet_id", "lb", string, optional=False)],
            },
            f"{p}.provider.AwsProvider": {
                "kind": "class",
                "base": "cdktn.TerraformProvider",
                "fqn": f"{p}.provider.AwsProvider",
                "docs": {"summary": f"Represents a {{@link {LINK} aws}}."},
                "initializer": {"parameters": [{"name": "config", "type": {"fqn": f"{p}.provider.AwsProviderConfig"}}]},
            },
            f"{p}.provider.AwsProviderConfig": {
                "kind": "interface",
                "datatype": True,
                "fqn": f"{p}.provider.AwsProviderConfig",
                "properties": [_prop("region", "region", "lb", string)],
            },
        },
    }


def test_derive_reads_names_blocks_and_required_arguments():
    schema = derive(_assembly())
    lb = schema["resource"]["aws_lb"]
    assert lb["a"] == ["ipv6_cidr_block", "name"]
    assert lb["r"] == ["name"]
    assert lb["b"]["access_logs"] == {"a": ["bucket"], "r": ["bucket"]}
    assert lb["b"]["statement"] == {"any": True}
    assert lb["o"]["subnet_mapping"] == {"a": ["subnet_id"], "r": ["subnet_id"]}
    assert schema["provider_config"] == {"a": ["region"]}
    assert schema["data"] == {} and schema["ephemeral"] == {}


def test_write_is_reproducible(tmp_path: Path):
    schema = derive(_assembly())
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    write(schema, first)
    write(schema, second)
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(gzip.decompress(first.read_bytes())) == schema


def test_committed_schema_is_complete_and_small():
    assert DEFAULT_OUTPUT.stat().st_size < 500_000
    schema = json.loads(gzip.decompress(DEFAULT_OUTPUT.read_bytes()))
    assert schema["package"] == "cdktn-provider-aws==25.8.1"
    assert len(schema["resource"]) > 1500 and len(schema["data"]) > 500
    listener = schema["resource"]["aws_lb_listener"]
    assert {"default_action", "load_balancer_arn"} <= set(listener["r"])
    assert "default_tags" in schema["provider_config"]["b"]
    assert "secret_string_wo" in schema["resource"]["aws_secretsmanager_secret_version"]["a"]
