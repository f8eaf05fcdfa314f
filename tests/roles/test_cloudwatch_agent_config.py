"""The cloudwatch_agent role's generated configuration, rendered with the role's defaults, against the agent's schema.

The template is rendered by Ansible itself (`ansible localhost -m template`) with the role's defaults and vars, so
the test sees exactly what the role writes to /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.project import ROOT

ROLE = ROOT / "roles" / "cloudwatch_agent"
SCHEMA = ROLE / "files" / "schema.json"
ANSIBLE = Path(sys.executable).with_name("ansible")


def render(tmp_path: Path, vars_files: tuple[Path, ...] = (), **overrides: object) -> dict:
    """Render the role's config template with its defaults and vars, then vars_files (the boot's mapping), then
    overrides; return the parsed JSON."""
    dest = tmp_path / "amazon-cloudwatch-agent.json"
    extra = {
        "cloudwatch_agent_environment": "production",
        "ansible_facts": {"architecture": "x86_64"},
        "ansible_python_interpreter": sys.executable,
    }
    extra.update(overrides)
    extra = {key: value for key, value in extra.items() if value is not None}  # None: leave it to vars_files
    # An empty configuration keeps the project's ansible.cfg (dynamic inventory, fact cache) out of the rendering.
    config_file = tmp_path / "ansible.cfg"
    config_file.write_text("[defaults]\n", encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(config_file), ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [
            str(ANSIBLE),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={ROLE / 'templates' / 'amazon-cloudwatch-agent.json.j2'} dest={dest} mode=0644",
            "-e",
            f"@{ROLE / 'defaults' / 'main.yml'}",
            "-e",
            f"@{ROLE / 'vars' / 'main.yml'}",
            *[arg for path in vars_files for arg in ("-e", f"@{path}")],
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"rendering failed: {result.stdout}\n{result.stderr}"
    return json.loads(dest.read_text(encoding="utf-8"))


def schema_errors(config: object) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(config)]


@pytest.fixture(scope="module")
def default_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return render(tmp_path_factory.mktemp("cwagent"))


def test_default_config_is_valid_for_the_agent(default_config: dict) -> None:
    assert schema_errors(default_config) == []


def test_schema_check_catches_a_bad_config(default_config: dict) -> None:
    bad = json.loads(json.dumps(default_config))
    bad["agent"]["metrics_collection_interval"] = 0
    bad["logs"]["logs_collected"]["files"]["collect_list"][0]["timezone"] = "Mars"
    errors = schema_errors(bad)
    assert any(e.startswith("agent/metrics_collection_interval") for e in errors), errors
    assert any("timezone" in e for e in errors), errors


def test_role_validator_script_refuses_a_bad_config(default_config: dict) -> None:
    script = ROLE / "files" / "validate_config.py"
    good = subprocess.run(
        [sys.executable, str(script), str(SCHEMA)],
        input=json.dumps(default_config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    bad_config = dict(default_config, metrics={"namespace": ""})
    bad = subprocess.run(
        [sys.executable, str(script), str(SCHEMA)],
        input=json.dumps(bad_config),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "violates the agent's schema at metrics" in bad.stderr


def terraform_log_groups() -> set[str]:
    """Service names of the /ollama/<environment>/<service> log groups Terraform creates (terraform/locals.tf)."""
    text = (ROOT / "terraform" / "locals.tf").read_text(encoding="utf-8")
    return set(re.findall(r'"\$\{local\.log_group_prefix\}/([a-z0-9-]+)"', text))


def instance_role_log_groups(tier: str) -> set[str]:
    """Service names of the groups the tier's instance role may write to (terraform/iam.tf instance_log_groups)."""
    locals_text = (ROOT / "terraform" / "locals.tf").read_text(encoding="utf-8")
    services = dict(re.findall(r'(\w+)\s*=\s*"\$\{local\.log_group_prefix\}/([a-z0-9-]+)"', locals_text))
    iam = (ROOT / "terraform" / "iam.tf").read_text(encoding="utf-8")
    keys = re.search(rf"instance_log_groups = \{{.*?\n\s*{tier}\s*=\s*\[([^\]]*)\]", iam, re.DOTALL).group(1)
    return {services[key] for key in re.findall(r"local\.log_groups\.(\w+)", keys)}


def test_log_groups_are_the_ones_terraform_creates(default_config: dict) -> None:
    entries = default_config["logs"]["logs_collected"]["files"]["collect_list"]
    groups = {e["log_group_name"] for e in entries}
    assert groups == {f"/ollama/production/{s}" for s in ("ollama", "nginx", "open-webui", "system")}
    created = terraform_log_groups()
    assert {g.rsplit("/", 1)[1] for g in groups} <= created, f"Terraform creates {sorted(created)}"
    # Retention belongs to Terraform; the agent must not fight it.
    assert all("retention_in_days" not in e for e in entries)
    assert len({e["log_stream_name"] for e in entries}) == len(entries)


def test_metrics_match_the_dashboard_and_scaling(default_config: dict) -> None:
    metrics = default_config["metrics"]
    assert metrics["namespace"] == "CWAgent"
    assert metrics["metrics_collected"]["mem"]["measurement"] == ["mem_used_percent"]
    assert metrics["aggregation_dimensions"] == [["AutoScalingGroupName"]]
    assert metrics["append_dimensions"]["AutoScalingGroupName"] == "${aws:AutoScalingGroupName}"
    assert metrics["metrics_collected"]["statsd"]["service_address"] == "127.0.0.1:8125"
    monitoring = (ROOT / "terraform" / "monitoring.tf").read_text(encoding="utf-8")
    assert '"CWAgent", "mem_used_percent", "AutoScalingGroupName"' in monitoring


def test_environment_and_switches_change_the_output(tmp_path: Path) -> None:
    config = render(
        tmp_path,
        cloudwatch_agent_environment="dev",
        cloudwatch_agent_statsd_enabled=False,
        cloudwatch_agent_procstat=[],
        cloudwatch_agent_region="eu-west-1",
    )
    assert schema_errors(config) == []
    entries = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {e["log_group_name"].rsplit("/", 2)[1] for e in entries} == {"dev"}
    assert "statsd" not in config["metrics"]["metrics_collected"]
    assert "procstat" not in config["metrics"]["metrics_collected"]
    assert config["agent"]["region"] == "eu-west-1"


def record(tier: str, environment: str) -> dict[str, str]:
    """An instance record (/etc/ollama-platform/instance.env) as the user data writes it, the keys this role reads."""
    return {
        "OLLAMA_PLATFORM_ENVIRONMENT": environment,
        "OLLAMA_PLATFORM_ROLE": tier,
        "OLLAMA_PLATFORM_REGION": "eu-central-1",
        "OLLAMA_PLATFORM_ASG_NAME": f"ollama-{environment}-asg",
    }


@pytest.mark.parametrize(
    ("tier", "services", "processes"),
    [
        ("backend", {"ollama", "nginx", "system"}, {"ollama serve", "^nginx$"}),
        ("frontend", {"open-webui", "system"}, {"open-webui serve"}),
    ],
)
def test_boot_renders_the_configuration_for_the_instance_record(
    tmp_path: Path, tier: str, services: set[str], processes: set[str]
) -> None:
    """What the boot writes: playbooks/vars/instance_tiers.yml maps the instance record onto this role."""
    config = render(
        tmp_path,
        vars_files=(ROOT / "playbooks" / "vars" / "instance_tiers.yml",),
        instance_settings=record(tier, "staging"),
        cloudwatch_agent_environment=None,
    )
    assert schema_errors(config) == []
    entries = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {e["log_group_name"] for e in entries} == {f"/ollama/staging/{s}" for s in services}
    # The tier's instance role may write to exactly these groups (an extra one would be AccessDenied).
    assert instance_role_log_groups(tier) == services
    assert config["agent"]["region"] == "eu-central-1"
    procstat = config["metrics"]["metrics_collected"]["procstat"]
    assert {p.get("pattern") or p.get("exe") for p in procstat} == processes
    assert all("tiers" not in p for p in procstat)


def test_boot_mapping_sets_only_what_the_role_reads() -> None:
    tiers = yaml.safe_load((ROOT / "playbooks" / "vars" / "instance_tiers.yml").read_text(encoding="utf-8"))
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    mapped = {k for k in tiers if k.startswith("cloudwatch_agent_")}
    assert mapped <= set(spec["argument_specs"]["main"]["options"])
    assert tiers["cloudwatch_agent_install"] is False, "the boot must not download the agent"
    for playbook in ("instance.yml", "configure.yml"):
        text = (ROOT / "playbooks" / playbook).read_text(encoding="utf-8")
        assert "- role: cloudwatch_agent" in text, f"playbooks/{playbook} does not run the cloudwatch_agent role"


def test_defaults_match_argument_specs() -> None:
    for role in ("cloudwatch_agent", "ssh_hardening"):
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8"))
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        options = spec["argument_specs"]["main"]["options"]
        assert set(defaults) == set(options), role
        for name, value in defaults.items():
            assert options[name].get("default") == value, f"{role}: {name} default differs between defaults and specs"


def test_schema_copy_names_its_source_and_license() -> None:
    notice = (ROLE / "files" / "schema.json.LICENSE").read_text(encoding="utf-8")
    assert "aws/amazon-cloudwatch-agent" in notice and "MIT License" in notice
    assert json.loads(SCHEMA.read_text(encoding="utf-8"))["$schema"].startswith("http://json-schema.org/draft-04/")
