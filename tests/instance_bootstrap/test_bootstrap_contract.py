"""One instance record contract across HCL, YAML and Python; pins; the packed configuration code."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from bootstrap_helpers import PACKER, PROGRAM, ROLE, ROOT, load

from tests.ansible_runner import ANSIBLE_PLAYBOOK

bootstrap = load(PROGRAM, "ollama_platform_bootstrap_contract")
packer = load(PACKER, "pack_instance_code")
CONTRACT = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
ASG_TF = ROOT / "terraform" / "asg.tf"


def _block(text: str, opener: str) -> str:
    """The text of the first {...} after opener (brace-matched)."""
    start = text.index(opener)
    start = text.index("{", start)
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    raise AssertionError(f"unbalanced braces after {opener}")


def _keys(block: str) -> set[str]:
    return set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=", block, re.MULTILINE))


def terraform_record_keys(text: str) -> dict[str, set[str]]:
    """Keys of each tier's instance record in asg.tf: common_settings merged with the tier's settings."""
    common = _keys(_block(text, "common_settings = {"))
    tiers = _block(text, "tiers = {")
    return {
        tier: common | _keys(_block(tiers[tiers.index(f"{tier} = {{") :], "settings = merge("))
        for tier in ("backend", "frontend")
    }


def contract_problems(tf_keys: dict[str, set[str]]) -> list[str]:
    common = set(CONTRACT["instance_bootstrap_record_common_keys"])
    optional = set(CONTRACT["instance_bootstrap_record_optional_keys"])
    problems = []
    for tier, keys in tf_keys.items():
        required = common | set(CONTRACT["instance_bootstrap_record_tier_keys"][tier])
        if missing := sorted(required - keys):
            problems.append(f"{tier}: asg.tf lacks {missing}")
        if unknown := sorted(keys - required - optional):
            problems.append(f"{tier}: asg.tf sets keys the bootstrap does not read {unknown}")
    return problems


def test_asg_tf_writes_exactly_the_record_keys_of_the_contract():
    assert contract_problems(terraform_record_keys(ASG_TF.read_text())) == []


def test_a_planted_divergence_is_caught():
    text = ASG_TF.read_text().replace("OLLAMA_PLATFORM_LIFECYCLE_HOOK", "OLLAMA_LIFECYCLE_HOOK", 1)
    problems = contract_problems(terraform_record_keys(text))
    assert any("lacks ['OLLAMA_PLATFORM_LIFECYCLE_HOOK']" in p for p in problems), problems
    assert any("OLLAMA_LIFECYCLE_HOOK" in p and "does not read" in p for p in problems), problems


def test_the_program_reads_the_contract_of_the_role():
    assert list(bootstrap.COMMON_KEYS) == CONTRACT["instance_bootstrap_record_common_keys"]
    assert {tier: list(keys) for tier, keys in bootstrap.TIER_KEYS.items()} == CONTRACT[
        "instance_bootstrap_record_tier_keys"
    ]
    assert list(bootstrap.OPTIONAL_KEYS) == CONTRACT["instance_bootstrap_record_optional_keys"]


def test_the_readme_documents_every_record_key():
    readme = (ROLE / "README.md").read_text()
    keys = [*CONTRACT["instance_bootstrap_record_common_keys"], *CONTRACT["instance_bootstrap_record_optional_keys"]]
    keys += [key for tier in CONTRACT["instance_bootstrap_record_tier_keys"].values() for key in tier]
    assert [key for key in keys if f"`{key}`" not in readme] == []


def test_the_tier_mapping_and_configure_use_only_record_keys():
    known = set(bootstrap.COMMON_KEYS) | set(bootstrap.OPTIONAL_KEYS)
    known |= {key for keys in bootstrap.TIER_KEYS.values() for key in keys}
    used = set(
        re.findall(r"instance_settings\.([A-Z][A-Z0-9_]*)", (ROOT / "playbooks/vars/instance_tiers.yml").read_text())
    )
    configure = yaml.safe_load((ROOT / "playbooks/configure.yml").read_text())
    for play in configure:
        used |= set((play.get("vars") or {}).get("instance_settings", {}))
    assert sorted(used - known) == []


def test_user_data_template_takes_only_the_instance_env():
    template = (ROOT / "terraform/templates/user_data.sh.tftpl").read_text()
    assert set(re.findall(r"\$\{(\w+)", template)) == {"instance_env"}
    assert "systemctl start --no-block ollama-platform-bootstrap.service" in template
    assert "chmod 0640" in template


def test_virtualenv_pins_follow_requirements_txt():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert DEFAULTS["instance_bootstrap_ansible_core_version"] == pins["ansible-core"]
    assert DEFAULTS["instance_bootstrap_boto3_version"] == pins["boto3"]
    assert DEFAULTS["instance_bootstrap_botocore_version"] == pins["botocore"]


def test_service_unit_runs_the_program_once_per_boot():
    unit = (ROLE / "templates" / "ollama-platform-bootstrap.service.j2").read_text()
    for line in (
        "Type=oneshot",
        "RemainAfterExit=yes",
        "ConditionPathExists={{ instance_bootstrap_config_dir }}/instance.env",
        "After=network-online.target",
        "TimeoutStartSec={{ instance_bootstrap_timeout_start_sec }}",
        "StandardOutput=journal+console",
        "WantedBy=multi-user.target",
    ):
        assert line in unit.splitlines(), line
    # cloud-final.service is ordered after multi-user.target: ordering after it would be a cycle systemd breaks by
    # dropping a job (the bootstrap, on a later boot). The user data starts the unit at first boot instead.
    after = [line for line in unit.splitlines() if line.startswith("After=")]
    assert all("cloud-final" not in line for line in after), after


# -- packed configuration code ----------------------------------------------------------------------------------


# The roles the image's boot runs (the role's default tier lists, as the bake packs them).
TIER_ROLES = list(
    dict.fromkeys(
        role
        for roles in yaml.safe_load((ROOT / "roles/instance_bootstrap/defaults/main.yml").read_text())[
            "instance_bootstrap_tier_roles"
        ].values()
        for role in roles
    )
)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("packed")
    archive = folder / "code.tar.gz"
    manifest = packer.pack(
        archive,
        ROOT / "playbooks/instance.yml",
        [ROOT / "playbooks/vars/instance_tiers.yml"],
        ROOT / "roles",
        TIER_ROLES,
        [ROOT / "collections", *packer.default_search()],
    )
    assert sorted(manifest["roles"]) == sorted(TIER_ROLES) == ["cloudwatch_agent", "ollama", "open_webui"]
    return archive


def test_pack_is_reproducible(packed: Path, tmp_path: Path):
    again = tmp_path / "again.tar.gz"
    packer.pack(
        again,
        ROOT / "playbooks/instance.yml",
        [ROOT / "playbooks/vars/instance_tiers.yml"],
        ROOT / "roles",
        TIER_ROLES,
        [ROOT / "collections", *packer.default_search()],
    )
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(packed.read_bytes()).hexdigest()


def test_pack_ships_plugins_not_whole_collections(packed: Path):
    with tarfile.open(packed) as archive:
        names = archive.getnames()
    assert "instance.yml" in names and "vars/instance_tiers.yml" in names
    assert "roles/ollama/tasks/main.yml" in names and "roles/open_webui/files/open-webui-helper.py" in names
    assert not [name for name in names if "/molecule/" in name]
    for plugin in (
        "ollama/platform/plugins/modules/ollama_model.py",
        "community/general/plugins/modules/filesystem.py",
        "ansible/posix/plugins/modules/mount.py",
    ):
        assert f"collections/ansible_collections/{plugin}" in names
    # The configuration code reads no secret: the roles' own units read them on the host at service start.
    assert not [name for name in names if "/plugins/lookup/" in name and "secret" in name]
    assert len([name for name in names if name.startswith("collections/")]) < 60
    assert packed.stat().st_size < 1_000_000


def test_packed_playbook_resolves_every_plugin_without_the_controllers_collections(packed: Path, tmp_path: Path):
    code = tmp_path / "ansible"
    code.mkdir()
    with tarfile.open(packed) as archive:
        archive.extractall(code, filter="data")
    config = f"roles_path = {code}/roles\ncollections_path = {code}/collections\ncollections_scan_sys_path = false\n"
    (code / "ansible.cfg").write_text("[defaults]\n" + config)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(code / "ansible.cfg")}
    for tier in ("backend", "frontend"):
        result = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "--syntax-check", "instance.yml",
             "-e", f'{{"instance_settings": {{"OLLAMA_PLATFORM_ROLE": "{tier}"}}}}'],
            cwd=code, env={**env, "HOME": str(tmp_path)},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def test_pack_refuses_an_unknown_plugin(tmp_path: Path):
    playbook = tmp_path / "instance.yml"
    playbook.write_text("- hosts: localhost\n  tasks:\n    - community.general.no_such_module_here: {}\n")
    roles = tmp_path / "roles"
    (roles / "empty" / "tasks").mkdir(parents=True)
    with pytest.raises(packer.PackError, match=r"community\.general\.no_such_module_here names no module"):
        packer.pack(tmp_path / "x.tar.gz", playbook, [], roles, ["empty"], packer.default_search())
