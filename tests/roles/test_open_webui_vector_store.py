"""The open_webui role's vector store settings, rendered by Ansible with the role's defaults and vars.

Documents go to pgvector in PostgreSQL, shared by every replica: the environment file names the store, its URL is a
secret (secrets.json, read at service start) built from the same source as DATABASE_URL, and bad input stops the role
before anything changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "open_webui"
BIN = Path(sys.executable).parent
DB_URL = "postgresql://webui:p%40ss@db.internal:5432/openwebui"
BASE = {
    "open_webui_ollama_base_urls": ["http://ollama.internal:8000"],
    "open_webui_secret_key_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webui-key",
    # The admin every deployment creates (the role refuses to run without one).
    "open_webui_admin_email": "admin@example.com",
    "open_webui_admin_password_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:webui-admin",
    "ansible_python_interpreter": sys.executable,
}


def ansible_env(tmp_path: Path) -> dict[str, str]:
    # An empty configuration keeps the project's ansible.cfg (dynamic inventory, fact cache) out of the run.
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n", encoding="utf-8")
    return dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1")


def render(tmp_path: Path, **overrides: object) -> tuple[str, dict]:
    """Render open-webui.env and secrets.json as the role does; return the env text and the parsed spec."""
    out = {}
    for template, name in (("open-webui.env.j2", "open-webui.env"), ("secrets.json.j2", "secrets.json")):
        dest = tmp_path / name
        result = subprocess.run(
            [str(BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template",
             "-a", f"src={ROLE / 'templates' / template} dest={dest} mode=0600",
             "-e", f"@{ROLE / 'defaults' / 'main.yml'}", "-e", f"@{ROLE / 'vars' / 'main.yml'}",
             "-e", json.dumps({**BASE, **overrides})],
            capture_output=True, text=True, timeout=120, env=ansible_env(tmp_path), check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"rendering {template} failed: {result.stdout}\n{result.stderr}"
        out[name] = dest.read_text(encoding="utf-8")
    return out["open-webui.env"], json.loads(out["secrets.json"])


def env_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_documents_go_to_pgvector_with_the_database_url_as_a_secret(tmp_path: Path) -> None:
    env_text, spec = render(tmp_path, open_webui_database_url=DB_URL)
    env = env_lines(env_text)
    assert env["VECTOR_DB"] == "pgvector"
    assert env["PGVECTOR_INDEX_METHOD"] == "hnsw"
    assert env["PGVECTOR_CREATE_EXTENSION"] == "True"
    assert env["RAG_EMBEDDING_ENGINE"] == "ollama"
    assert env["RAG_EMBEDDING_MODEL"] == "nomic-embed-text"
    assert "PGVECTOR_DB_URL" not in env, "the vector store's URL carries the password: it belongs in secrets.json"
    assert "p%40ss" not in env_text
    assert spec["env"]["PGVECTOR_DB_URL"] == {
        "setting": "open_webui_database_url_secret_id",
        "secret_id": "",
        "value": DB_URL,
        "required": True,
    }
    assert spec["env"]["PGVECTOR_DB_URL"]["value"] == spec["env"]["DATABASE_URL"]["value"]


def test_the_vector_store_reads_the_database_secret_at_service_start(tmp_path: Path) -> None:
    _, spec = render(tmp_path, open_webui_database_url_secret_id="ollama-prod/open-webui/database-url")
    assert spec["env"]["PGVECTOR_DB_URL"]["secret_id"] == "ollama-prod/open-webui/database-url"
    assert spec["env"]["PGVECTOR_DB_URL"]["value"] == ""


def test_a_separate_vector_database_has_its_own_secret(tmp_path: Path) -> None:
    _, spec = render(
        tmp_path,
        open_webui_database_url=DB_URL,
        open_webui_pgvector_db_url_secret_id="ssm:/ollama-prod/open-webui/vectors-url",
    )
    assert spec["env"]["PGVECTOR_DB_URL"] == {
        "setting": "open_webui_pgvector_db_url_secret_id",
        "secret_id": "ssm:/ollama-prod/open-webui/vectors-url",
        "value": "",
        "required": True,
    }


def test_chroma_keeps_documents_local_and_needs_no_url(tmp_path: Path) -> None:
    env_text, spec = render(tmp_path, open_webui_vector_db="chroma", open_webui_pgvector_index_method="ivfflat")
    env = env_lines(env_text)
    assert env["VECTOR_DB"] == "chroma"
    assert "PGVECTOR_INDEX_METHOD" not in env
    assert "PGVECTOR_DB_URL" not in spec["env"]


VALIDATE_PLAY = """\
- name: Validate as the role does
  hosts: localhost
  gather_facts: false
  vars_files: [{defaults}, {vars}]
  tasks:
    - name: Validate
      ansible.builtin.include_tasks: {validate}
"""


def validate(tmp_path: Path, **overrides: object) -> subprocess.CompletedProcess[str]:
    play = tmp_path / "validate.yml"
    play.write_text(
        VALIDATE_PLAY.format(
            defaults=ROLE / "defaults" / "main.yml",
            vars=ROLE / "vars" / "main.yml",
            validate=ROLE / "tasks" / "validate.yml",
        )
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play),
         "-e", json.dumps({**BASE, **overrides})],
        capture_output=True, text=True, timeout=120, env=ansible_env(tmp_path), check=False,
    )  # fmt: skip


def test_valid_vector_store_settings_pass(tmp_path: Path) -> None:
    result = validate(tmp_path, open_webui_database_url_secret_id="ollama-prod/open-webui/database-url")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "no database is set: set open_webui_database_secret_id"),
        ({"open_webui_database_url": "sqlite:////var/lib/open-webui/webui.db"}, "got a 'sqlite' URL"),
        (
            {"open_webui_database_url": DB_URL, "open_webui_pgvector_db_url": DB_URL,
             "open_webui_pgvector_db_url_secret_id": "vectors-url"},
            "Set only one of open_webui_pgvector_db_url_secret_id or open_webui_pgvector_db_url",
        ),
    ],
    ids=["no-database", "sqlite", "url-and-secret"],
)  # fmt: skip
def test_bad_vector_store_settings_stop_the_role_with_the_fix(tmp_path: Path, overrides: dict, message: str) -> None:
    result = validate(tmp_path, **overrides)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout
    assert "p%40ss" not in result.stdout


def test_chroma_needs_no_database(tmp_path: Path) -> None:
    result = validate(tmp_path, open_webui_vector_db="chroma")
    assert result.returncode == 0, result.stdout + result.stderr


def load_helper() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("open_webui_helper", ROLE / "files" / "open-webui-helper.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_start_check_refuses_pgvector_without_a_postgresql_url() -> None:
    helper = load_helper()
    with pytest.raises(helper.HelperError, match="no PostgreSQL URL is set: set open_webui_database_secret_id"):
        helper.check_vector_store({"VECTOR_DB": "pgvector", "DATABASE_URL": "sqlite:///x.db"}, create=True)
    helper.check_vector_store({"VECTOR_DB": "chroma"}, create=True)
