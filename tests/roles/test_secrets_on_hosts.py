"""Nothing secret is written onto a host from the controller, printed by --check --diff, placed in user data, or
left in a versioned bucket. Each rule is checked on the tree and shown to fail on a planted violation.

Secret variables are the ones a role's meta/argument_specs.yml marks `no_log: true` (one definition), plus the role
vars built from them (open_webui__secret_spec, ...).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# Roles that run on fleet instances or their builders. twin_data is left out: it plays RDS and ElastiCache on the
# local twin's data host (AWS runs those services itself), not an instance of the product.
FLEET_ROLES = ["ollama", "open_webui", "instance_bootstrap", "backups", "cloudwatch_agent", "ssh_hardening", "ami_bake"]
WRITERS = {"template", "copy", "lineinfile", "blockinfile"}
# Derived from a secret but holding none: whether the secret is set.
DERIVED_FLAGS = {"open_webui__redis_configured"}


def secret_variables() -> set[str]:
    names: set[str] = set()
    for spec_file in ROLES.glob("*/meta/argument_specs.yml"):
        for entry in (yaml.safe_load(spec_file.read_text())["argument_specs"]).values():
            names |= {name for name, opt in (entry.get("options") or {}).items() if opt.get("no_log")}
    # Role vars derived from a secret variable are secret too (transitively), except the listed flags.
    derived = {}
    for vars_file in ROLES.glob("*/vars/main.yml"):
        derived.update(yaml.safe_load(vars_file.read_text()) or {})
    for name in DERIVED_FLAGS:
        derived.pop(name)
    changed = True
    while changed:
        changed = False
        for name, value in derived.items():
            if name not in names and references(str(value), names):
                names.add(name)
                changed = True
    return names


def references(text: str, names: set[str]) -> set[str]:
    return {name for name in names if re.search(rf"\b{re.escape(name)}\b", text)}


def tasks_in(node) -> Iterator[dict]:
    for task in node or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks_in(task.get(key))


def module_of(task: dict) -> tuple[str, dict]:
    for key, value in task.items():
        short = key.rsplit(".", 1)[-1]
        if short in WRITERS and isinstance(value, dict):
            return short, value
    return "", {}


def role_tasks(role_dir: Path) -> Iterator[tuple[str, dict]]:
    for tasks_file in sorted((role_dir / "tasks").glob("*.yml")):
        for task in tasks_in(yaml.safe_load(tasks_file.read_text())):
            yield f"{role_dir.name}/tasks/{tasks_file.name}: {task.get('name', '?')}", task


def secret_templates(role_dir: Path, secrets: set[str]) -> dict[str, set[str]]:
    found = {}
    for template in sorted((role_dir / "templates").glob("*.j2")):
        if used := references(template.read_text(), secrets):
            found[template.name] = used
    return found


def unprotected_secret_writes(role_dir: Path, secrets: set[str]) -> list[str]:
    """Tasks that write a secret onto the host but would show it in the log or a --diff."""
    templates = secret_templates(role_dir, secrets)
    problems = []
    for where, task in role_tasks(role_dir):
        module, args = module_of(task)
        if not module:
            continue
        text = yaml.safe_dump(args)
        carries = references(text, secrets) | {name for name in templates if str(args.get("src", "")) == name}
        # A copy on the host of a staged secret file (remote_src) carries it too.
        carries |= {"staged secrets"} if args.get("remote_src") and "secret" in str(args.get("src", "")) else set()
        if carries and task.get("no_log") is not True:
            problems.append(f"{where} writes {sorted(carries)} without no_log: true (its diff would print it)")
    return problems


SECRETS = secret_variables()


def test_the_secret_variables_are_known():
    expected = {"open_webui_secret_key", "open_webui_admin_password", "open_webui_database_url", "open_webui_redis_url"}
    assert expected | {"ollama_api_token", "open_webui__secret_spec"} <= SECRETS


@pytest.mark.parametrize("role", FLEET_ROLES)
def test_every_task_writing_a_secret_hides_it(role):
    assert unprotected_secret_writes(ROLES / role, SECRETS) == []


def test_secrets_reach_only_the_root_only_secret_files():
    """Secret variables may only appear in the templates that are written 0600 by a no_log task."""
    found = {role: secret_templates(ROLES / role, SECRETS) for role in FLEET_ROLES}
    assert {role: sorted(t) for role, t in found.items() if t} == {
        "ollama": ["token-map.conf.j2", "token.env.j2"],
        "open_webui": ["secrets.json.j2"],
    }


def plant(tmp_path: Path, role: str, relative: str, old: str, new: str) -> Path:
    copy = tmp_path / role
    shutil.copytree(ROLES / role, copy)
    target = copy / relative
    assert old in target.read_text(), f"{relative} no longer holds the line this test plants a violation on"
    target.write_text(target.read_text().replace(old, new, 1))
    return copy


def test_planted_secret_in_a_template_is_caught(tmp_path):
    role = plant(
        tmp_path,
        "open_webui",
        "templates/open-webui.env.j2",
        "WEBUI_AUTH=True\n",
        "WEBUI_AUTH=True\nREDIS_URL={{ open_webui_redis_url }}\n",
    )
    assert "open-webui.env.j2" in secret_templates(role, SECRETS)
    problems = unprotected_secret_writes(role, SECRETS)
    assert any("Stage the environment file" in p and "open-webui.env.j2" in p for p in problems), problems


def test_planted_task_without_no_log_is_caught(tmp_path):
    role = plant(
        tmp_path,
        "open_webui",
        "tasks/configure.yml",
        'dest: "{{ open_webui_config_dir }}/secrets.json.staged"\n    owner: root\n    group: root\n    mode: "0600"\n'
        "  no_log: true\n",
        'dest: "{{ open_webui_config_dir }}/secrets.json.staged"\n    owner: root\n    group: root\n    mode: "0600"\n',
    )
    problems = unprotected_secret_writes(role, SECRETS)
    assert any("Stage the secrets specification" in p for p in problems), problems


# --check --diff, for real: the open_webui role's configuration with sentinel secrets given directly.

SENTINELS = {
    "open_webui_secret_key": "SENTINEL-webui-key-3f9a",
    "open_webui_admin_password": "SENTINEL-admin-pw-77c1",
    "open_webui_database_url": "postgresql://u:SENTINEL-db-pw-1e2d@db:5432/openwebui",
    "open_webui_redis_url": "redis://:SENTINEL-redis-tok-9b0c@redis:6379/0",
    "open_webui_ollama_api_token": "SENTINEL-api-token-0123456789",
}


def play_configure(
    tmp_path: Path,
    roles_path: Path,
    values: dict,
    check: bool = False,
    steps: tuple[str, ...] = ("validate", "configure"),
) -> subprocess.CompletedProcess[str]:
    """The role's validate + configure steps against directories under tmp_path, as root on this machine."""
    playbook = tmp_path / "play.yml"
    variables = {
        "open_webui_config_dir": str(tmp_path / "etc"),
        "open_webui_install_dir": str(tmp_path / "opt"),
        "open_webui_group": "root",
        "open_webui_preflight": False,
        "open_webui_admin_email": "admin@example.org",
        "open_webui_ollama_base_urls": ["http://ollama:8000"],
        "open_webui_url": "https://chat.example.org",
        "open_webui_version": "0.12.4",
        **values,
    }
    (tmp_path / "opt" / "0.12.4").mkdir(parents=True, exist_ok=True)  # the installed version the link points at
    tasks = [{"ansible.builtin.include_role": {"name": "open_webui", "tasks_from": step}} for step in steps]
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "vars": variables, "tasks": tasks}])
    )
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\nroles_path = {roles_path}\ninterpreter_python = auto_silent\n")
    argv = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
    return subprocess.run(
        [*argv, *(["--check", "--diff"] if check else [])],
        cwd=tmp_path,
        env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_configure(tmp_path: Path, roles_path: Path, values: dict[str, str], check: bool) -> str:
    proc = play_configure(tmp_path, roles_path, values, check)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def check_diff_after_a_change(tmp_path: Path, roles_path: Path) -> str:
    """Configure with the sentinels, then --check --diff with every secret changed (what an operator would run)."""
    run_configure(tmp_path, roles_path, SENTINELS, check=False)
    changed = {name: value.replace("SENTINEL", "ROTATED") for name, value in SENTINELS.items()}
    # A non-secret change too, so the run shows that --diff prints what it may.
    output = run_configure(tmp_path, roles_path, {**changed, "open_webui_log_level": "DEBUG"}, check=True)
    assert "--- before" in output, "the run printed no diff at all: the check proves nothing"
    return output


def leaked(output: str) -> list[str]:
    marks = {name: re.search(r"SENTINEL-[a-z-]+-[0-9a-f]+", value).group(0) for name, value in SENTINELS.items()}
    return [name for name, mark in marks.items() if mark in output or mark.replace("SENTINEL", "ROTATED") in output]


def test_check_diff_prints_no_secret(tmp_path):
    assert leaked(check_diff_after_a_change(tmp_path, ROLES)) == []


def test_check_diff_of_a_planted_unprotected_task_prints_the_secrets(tmp_path):
    planted = tmp_path / "roles"
    planted.mkdir()
    plant(
        planted,
        "open_webui",
        "tasks/configure.yml",
        'dest: "{{ open_webui_config_dir }}/secrets.json.staged"\n    owner: root\n    group: root\n    mode: "0600"\n'
        "  no_log: true\n  diff: false\n",
        'dest: "{{ open_webui_config_dir }}/secrets.json.staged"\n    owner: root\n    group: root\n    mode: "0600"\n',
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert "open_webui_admin_password" in leaked(check_diff_after_a_change(run_dir, planted))


# User data: the instance record holds names and ARNs, never a secret value.

ASG_TF = ROOT / "terraform" / "asg.tf"
USER_DATA = ROOT / "terraform" / "templates" / "user_data.sh.tftpl"
SECRET_VALUE_IN_HCL = re.compile(
    r"random_password|secret_string|\.password\b|auth_token|data\.aws_secretsmanager_secret_version|"
    r"ephemeral\.|master_user_password|var\.[a-z_]*(password|token|secret)[a-z_]*\b(?!_arn)"
)


def record_values(text: str) -> dict[str, str]:
    """KEY = value lines of the instance record maps (upper-case keys) in asg.tf."""
    return dict(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+=\s+(.+?)\s*$", text, flags=re.M))


def record_problems(text: str, user_data: str) -> list[str]:
    # Map keys (["redis_auth_token"]) name a secret; what is read from it (.arn, .random_password) is what counts.
    values = {k: re.sub(r'\["[^"]*"\]', "", v) for k, v in record_values(text).items()}
    problems = [f"{k} = {v}" for k, v in values.items() if SECRET_VALUE_IN_HCL.search(v)]
    problems += [
        f"{k} = {v} is not an ARN"
        for k, v in record_values(text).items()
        if k.endswith("_SECRET_ARN") and "arn" not in v
    ]
    if set(re.findall(r"\$\{([^}]*)\}", user_data)) != {"instance_env"}:
        problems.append("user_data.sh.tftpl interpolates more than the instance record")
    return problems


def test_user_data_carries_no_secret_value():
    assert len(record_values(ASG_TF.read_text())) >= 10
    assert record_problems(ASG_TF.read_text(), USER_DATA.read_text()) == []


@pytest.mark.parametrize(
    "line",
    [
        '        REDIS_TOKEN = ephemeral.aws_secretsmanager_random_password.this["redis_auth_token"].random_password',
        "        DATABASE_PASSWORD = aws_db_instance.webui.password",
        "        WEBUI_ADMIN_PASSWORD = var.webui_admin_password",
    ],
)
def test_planted_secret_in_user_data_is_caught(line):
    text = ASG_TF.read_text().replace(
        '        OLLAMA_PLATFORM_ROLE           = "frontend"\n',
        f'        OLLAMA_PLATFORM_ROLE           = "frontend"\n{line}\n',
        1,
    )
    assert text != ASG_TF.read_text()
    assert record_problems(text, USER_DATA.read_text()) != []


def test_planted_interpolation_in_the_user_data_template_is_caught():
    planted = USER_DATA.read_text().replace("ENV\n", "ENV\necho '${redis_token}' > /etc/token\n", 1)
    assert record_problems(ASG_TF.read_text(), planted) != []


# The controller never reads a secret for the instances' roles.

PLAYBOOK_FILES = [ROOT / "playbooks" / "vars" / "instance_tiers.yml", ROOT / "playbooks" / "configure.yml"]
SECRET_LOOKUP = re.compile(r"lookup\(\s*'(amazon\.aws\.)?(secretsmanager_secret|aws_secret|ssm_parameter|aws_ssm)'")


def controller_secret_problems(text: str) -> list[str]:
    problems = [f"reads a secret on the controller: {m.group(0)}" for m in SECRET_LOOKUP.finditer(text)]
    data = yaml.safe_load(text)
    plays = data if isinstance(data, list) else [{"vars": data}]
    for play in plays:
        given = set(play.get("vars") or {}) | set(play) if isinstance(play, dict) else set()
        problems += [f"gives the role the secret value {name}" for name in sorted(given & SECRETS)]
    return problems


@pytest.mark.parametrize("path", PLAYBOOK_FILES, ids=lambda p: p.name)
def test_the_roles_get_secret_ids_never_values(path):
    assert controller_secret_problems(path.read_text()) == []


def test_planted_controller_lookup_is_caught():
    text = (ROOT / "playbooks" / "vars" / "instance_tiers.yml").read_text() + (
        "open_webui_database_url: >-\n"
        "  {{ lookup('amazon.aws.secretsmanager_secret', instance_settings.DATABASE_SECRET_ARN) }}\n"
    )
    problems = controller_secret_problems(text)
    assert any("reads a secret on the controller" in p for p in problems), problems
    assert any("open_webui_database_url" in p for p in problems), problems


# Session Manager's transfer bucket: module files and their arguments pass through it, so never a versioned bucket.

TRANSFER_OUTPUT = "ollama_ssm_transfer_bucket_name"


def transfer_bucket_settings() -> dict[str, str]:
    found = {}
    for path in sorted(ROOT.glob("inventories/*/group_vars/**/*.yml")) + sorted(ROOT.glob("playbooks/**/*.yml")):
        for match in re.finditer(
            r"^\s*(ansible_aws_ssm_bucket_name|ami_bake_ssm_bucket):\s*(.+)$", path.read_text(), re.M
        ):
            found[f"{path.relative_to(ROOT)}:{match.group(1)}"] = match.group(2)
    return found


def transfer_bucket_problems(settings: dict[str, str]) -> list[str]:
    return [
        f"{where} = {value}: use the unversioned transfer bucket (output {TRANSFER_OUTPUT})"
        for where, value in settings.items()
        if TRANSFER_OUTPUT not in value or re.search(r"logs|backups|assets|tfstate", value)
    ]


def test_ssm_transfers_use_the_unversioned_transfer_bucket():
    settings = transfer_bucket_settings()
    assert {k.split(":")[0] for k in settings} >= {
        f"inventories/{env}/group_vars/aws_ec2.yml" for env in ("dev", "staging", "production")
    } | {"playbooks/bake_ami.yml"}
    assert transfer_bucket_problems(settings) == []


def test_planted_versioned_transfer_bucket_is_caught():
    settings = transfer_bucket_settings()
    key = "inventories/production/group_vars/aws_ec2.yml:ansible_aws_ssm_bucket_name"
    settings[key] = "\"{{ hostvars['localhost']['platform_outputs']['ollama_logs_bucket_name'] }}\""
    assert [p for p in transfer_bucket_problems(settings) if p.startswith(key)]
