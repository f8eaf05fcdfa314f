"""The naming filters (filter_plugins/naming.py) and Terraform's locals (terraform/locals.tf) agree.

Terraform itself evaluates the real ``name_prefix``/``names``/``tags`` expressions, copied verbatim from
terraform/locals.tf into a provider-free config, for every environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from filter_plugins import naming
from tests.project import ROOT

LOCALS = ROOT / "terraform" / "locals.tf"
ENVIRONMENTS = ["dev", "staging", "production"]
TAG_VARIABLES = 'variable "cost_center" {\n  default = "cc"\n}\nvariable "owner" {\n  default = "o"\n}\n'


def _attribute(text: str, name: str) -> str:
    """Return the source text of ``name = <expression>``: up to the first newline outside brackets."""
    match = re.search(rf"^\s*{name}\s*=\s*", text, re.MULTILINE)
    assert match, f"{name} not found in terraform/locals.tf"
    start = match.end()
    depth = 0
    for i in range(start, len(text)):
        if text[i] in "{([":
            depth += 1
        elif text[i] in "})]":
            depth -= 1
        elif text[i] == "\n" and depth == 0:
            return text[start:i]
    raise AssertionError(f"unbalanced expression for {name} in terraform/locals.tf")


@pytest.fixture(scope="module")
def terraform_eval(tmp_path_factory):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform not found on PATH: install Terraform 1.11 (make setup)")
    text = LOCALS.read_text()
    folder = tmp_path_factory.mktemp("naming")
    tags = _attribute(text, "tags").replace("var.extra_tags", "{}")
    (folder / "main.tf").write_text(
        'variable "environment" {\n  type = string\n}\n'
        + 'variable "dr_mode" {\n  default = ""\n}\nvariable "aws_region" {\n  default = "us-east-1"\n}\n'
        + 'variable "dr_region" {\n  default = "us-west-2"\n}\n'
        + TAG_VARIABLES
        + "locals {\n"
        + "".join(
            f"  {name} = {_attribute(text, name)}\n"
            for name in (
                "primary_name_prefix",
                "name_prefix",
                "global_name_prefix",
                "is_primary",
                "primary_region",
                "iam_name_prefix",
                "instance_role_names",
                "names",
            )
        )
        + f"  tags = {tags}\n"
        + "}\n"
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}

    def evaluate(environment: str) -> dict:
        proc = subprocess.run(
            [terraform, "console", f"-var=environment={environment}"],
            input="jsonencode({prefix = local.name_prefix, names = local.names, tags = local.tags})\n",
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(json.loads(proc.stdout.strip()))

    return evaluate


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_prefix_and_every_name_agree(terraform_eval, environment):
    result = terraform_eval(environment)
    assert result["prefix"] == naming.ollama_name_prefix(environment)
    checked = 0
    for key, name in result["names"].items():
        name = name.removeprefix("alias/")  # KMS aliases: alias/<name>
        if name == naming.ollama_name_prefix(environment):
            continue
        if "/" in name:  # secrets: <prefix>/<purpose>
            assert name.startswith(naming.ollama_name_prefix(environment) + "/"), key
        else:
            purpose = name.removeprefix(naming.ollama_name_prefix(environment) + "-").rstrip("-")
            assert naming.ollama_name(purpose, environment) == name.rstrip("-"), key
            checked += 1
    assert checked >= 20, f"only {checked} names compared: did terraform/locals.tf change shape?"
    if environment == "production":
        assert result["names"]["asg"] == "ollama-asg"
    else:
        assert result["names"]["asg"] == f"ollama-{environment}-asg"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_tags_agree(terraform_eval, environment):
    tags = terraform_eval(environment)["tags"]
    expected = naming.ollama_tags(environment, {"CostCenter": "cc", "Owner": "o"})
    assert tags == expected
