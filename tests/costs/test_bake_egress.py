"""The bake's way out agrees with the network: a builder takes a public subnet exactly where Terraform creates no
NAT gateway (inventory platform_bake_public_subnet == not nat_gateway_enabled), and the role puts it there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.hcl_eval import environment_variables, load_configuration

REPO = Path(__file__).resolve().parents[2]


def _inventory_setting(environment: str, platform: Path | None = None) -> bool:
    platform = platform or REPO / "inventories" / environment / "group_vars" / "all" / "platform.yml"
    return bool(yaml.safe_load(platform.read_text()).get("platform_bake_public_subnet", False))


def _nat_enabled(environment: str) -> bool:
    documents = load_configuration(REPO / "terraform")
    tfvars = REPO / "terraform" / "environments" / f"{environment}.tfvars"
    return bool(environment_variables(documents, tfvars)["nat_gateway_enabled"])


def _disagreement(environment: str, platform: Path | None = None) -> str:
    nat = _nat_enabled(environment)
    if _inventory_setting(environment, platform) is not nat:
        return ""
    return (
        f"{environment}: set platform_bake_public_subnet: {str(not nat).lower()} in inventories/{environment}/"
        "group_vars/all/platform.yml (Terraform nat_gateway_enabled decides the bake's way out)"
    )


@pytest.mark.parametrize("environment", ["dev", "staging", "production"])
def test_the_builder_takes_a_public_subnet_exactly_where_there_is_no_nat(environment):
    assert _disagreement(environment) == ""


def test_a_planted_disagreement_is_caught(tmp_path):
    planted = tmp_path / "platform.yml"
    planted.write_text("platform_environment: dev\n")  # setting removed: dev's builder would have no way out
    assert "platform_bake_public_subnet: true" in _disagreement("dev", planted)


def test_the_role_launches_a_public_builder_in_the_public_subnet():
    tasks = yaml.safe_load((REPO / "roles" / "ami_bake" / "tasks" / "launch.yml").read_text())
    names = {task["name"]: task for task in tasks}
    lookup = names["Look up a public subnet of the same VPC for a builder with a public IP (no NAT gateway)"]
    assert lookup["amazon.aws.ec2_vpc_subnet_info"]["filters"]["tag:Tier"] == "public"
    (launch,) = [t for t in tasks if "amazon.aws.ec2_instance" in t and "image_id" in t["amazon.aws.ec2_instance"]]
    assert "assign_public_ip" in launch["amazon.aws.ec2_instance"]["network_interfaces"]
    playbook = (REPO / "playbooks" / "bake_ami.yml").read_text()
    assert 'ami_bake_builder_public_ip: "{{ platform_bake_public_subnet | default(false) }}"' in playbook
