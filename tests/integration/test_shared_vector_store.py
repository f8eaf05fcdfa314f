"""The shared vector store for real: the twin_data role on a Debian 12 container builds pgvector and creates the
extension; Open-WebUI's own pgvector client, in two separate processes as two replicas, stores a document chunk
through one and finds it through the other; the frontend's start check names a database it cannot use, and its
migrations run one replica at a time.

Needs podman, the test bed image (make testbed) and the Open-WebUI wheelhouse (.cache/wheelhouse/open-webui).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_double.generation import embedding_vector
from tests.project import ROOT

pytestmark = pytest.mark.podman

IMAGE = "localhost/ollama-platform/debian12:latest"
WHEELHOUSE = ROOT / ".cache" / "wheelhouse" / "open-webui"
CLIENT = Path(__file__).with_name("openwebui_pgvector_client.py")
HELPER = ROOT / "roles" / "open_webui" / "files" / "open-webui-helper.py"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".cache" / "containers.conf")}
PASSWORD = "vec-" + secrets.token_hex(8)
MODEL = "nomic-embed-text:latest"

PLAY = """\
- name: The twin's data host
  hosts: all
  gather_facts: false
  roles:
    - role: twin_data
      twin_data_postgres_password: "{password}"
      twin_data_redis_password: redis-test
"""


def podman(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=ENV, timeout=timeout, check=False)


def run_role(workdir: Path, container: str) -> subprocess.CompletedProcess[str]:
    (workdir / "play.yml").write_text(PLAY.format(password=PASSWORD))
    (workdir / "ansible.cfg").write_text(f"[defaults]\nroles_path = {ROOT / 'roles'}\n")
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", f"{container},", "-c", "containers.podman.podman",
         "-e", "ansible_python_interpreter=/usr/bin/python3", str(workdir / "play.yml")],
        capture_output=True, text=True, timeout=1500, check=False,
        env={**ENV, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip


def psql(container: str, database: str, sql: str) -> str:
    result = podman("exec", "-u", "postgres", container, "psql", "-XAtv", "ON_ERROR_STOP=1", "-d", database, "-c", sql)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def data_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if podman("image", "exists", IMAGE).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run 'make testbed' before the tests")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = f"vector-store-test-{secrets.token_hex(3)}"
    started = podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:5432", "--systemd=always", IMAGE)
    assert started.returncode == 0, started.stderr
    try:
        for _ in range(60):
            state = podman("exec", name, "systemctl", "is-system-running", "--wait", timeout=90).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
        workdir = tmp_path_factory.mktemp("twin-data")
        first = run_role(workdir, name)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        yield {"name": name, "port": port, "workdir": workdir, "first": first}
    finally:
        podman("rm", "-f", name)


@pytest.fixture(scope="module")
def client_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the database packages the frontends run (the wheelhouse's pinned versions)."""
    if not (WHEELHOUSE / ".wheelhouse-stamp").is_file():
        pytest.fail(f"{WHEELHOUSE} is not built: run 'make testbed' (tools/open_webui_wheelhouse.sh)")
    venv = tmp_path_factory.mktemp("client-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(WHEELHOUSE),
         "sqlalchemy", "pgvector", "psycopg2-binary", "pydantic"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def open_webui_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release's vector store code, unpacked from the wheel the frontends install."""
    wheels = sorted(WHEELHOUSE.glob("open_webui-*.whl"))
    assert wheels, f"no Open-WebUI wheel in {WHEELHOUSE}: run 'make testbed'"
    target = tmp_path_factory.mktemp("open-webui-source")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        members = [n for n in wheel.namelist() if n.startswith("open_webui/retrieval/vector/")]
        wheel.extractall(target, members)
    return target


def url(data_host: dict, database: str = "openwebui") -> str:
    return f"postgresql://openwebui:{PASSWORD}@127.0.0.1:{data_host['port']}/{database}"


def run_client(python: Path, source: Path, db_url: str, action: str, request: dict) -> dict:
    result = subprocess.run(
        [str(python), str(CLIENT), str(source), db_url, action],
        input=json.dumps(request), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def run_helper_check(python: Path, db_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "check.env"
    env_file.write_text(
        f'VECTOR_DB=pgvector\nPGVECTOR_DB_URL="{db_url}"\nDATABASE_URL="{db_url}"\nWEBUI_SECRET_KEY=k\n'
    )
    return subprocess.run(
        [str(python), str(HELPER), "check", f"--env-file={env_file}"],
        capture_output=True, text=True, timeout=120, check=False, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip


def test_the_role_builds_the_pinned_pgvector_and_creates_the_extension(data_host: dict) -> None:
    name = data_host["name"]
    assert psql(name, "openwebui", "SELECT extversion FROM pg_extension WHERE extname = 'vector'") == "0.8.0"
    assert psql(name, "openwebui", "SELECT rolsuper FROM pg_roles WHERE rolname = 'openwebui'") == "f"
    leftovers = podman("exec", name, "dpkg-query", "-W", "-f", "${Status}\n", "gcc", "postgresql-server-dev-15")
    assert "install ok installed" not in leftovers.stdout, "the build tools must be removed after the build"


def test_the_role_changes_nothing_on_a_second_run(data_host: dict) -> None:
    again = run_role(data_host["workdir"], data_host["name"])
    assert again.returncode == 0, again.stdout[-4000:]
    assert "changed=0" in again.stdout, again.stdout[-4000:]


def test_a_chunk_stored_by_one_replica_is_found_by_another(
    data_host: dict, client_python: Path, open_webui_source: Path
) -> None:
    text = "The platform keeps uploaded documents in pgvector on the shared PostgreSQL."
    other = "Redis carries the websocket sessions between the replicas."
    items = [
        {"id": "chunk-1", "text": text, "vector": embedding_vector(MODEL, text, 768),
         "metadata": {"name": "notes.txt", "file_id": "file-1", "source": "notes.txt"}},
        {"id": "chunk-2", "text": other, "vector": embedding_vector(MODEL, other, 768),
         "metadata": {"name": "notes.txt", "file_id": "file-1", "source": "notes.txt"}},
    ]  # fmt: skip
    stored = run_client(
        client_python, open_webui_source, url(data_host), "insert", {"collection": "file-1", "items": items}
    )
    assert stored["inserted"] == 2
    assert "USING hnsw (vector vector_cosine_ops)" in stored["vector_index"]
    # A second process (another replica) asks with the embedding of the same text.
    found = run_client(
        client_python, open_webui_source, url(data_host), "search",
        {"collection": "file-1", "vector": embedding_vector(MODEL, text, 768), "limit": 1},
    )  # fmt: skip
    assert found["ids"] == ["chunk-1"]
    assert found["documents"] == [text]
    assert found["metadatas"][0]["file_id"] == "file-1"
    assert found["distances"][0] == pytest.approx(1.0)
    miss = run_client(
        client_python, open_webui_source, url(data_host), "search",
        {"collection": "file-other", "vector": embedding_vector(MODEL, text, 768)},
    )  # fmt: skip
    assert miss["ids"] == []


def test_the_start_check_names_a_database_without_the_extension(
    data_host: dict, client_python: Path, tmp_path: Path
) -> None:
    name = data_host["name"]
    psql(name, "postgres", "CREATE DATABASE plain OWNER openwebui")
    hba = podman("exec", name, "sh", "-c", "ls /etc/postgresql/*/main/pg_hba.conf").stdout.strip()
    podman("exec", name, "sh", "-c", f"echo 'host plain openwebui 0.0.0.0/0 scram-sha-256' >> {hba}")
    psql(name, "postgres", "SELECT pg_reload_conf()")
    refused = run_helper_check(client_python, url(data_host, "plain"), tmp_path)
    assert refused.returncode == 1
    assert "the vector extension is missing and cannot be created" in refused.stderr
    assert "permission denied to create extension" in refused.stderr
    assert PASSWORD not in refused.stderr
    # A user allowed to create it (the RDS master user is): two replicas starting together both pass.
    psql(name, "postgres", "ALTER ROLE openwebui SUPERUSER")
    try:
        checks = [
            subprocess.Popen(
                [str(client_python), str(HELPER), "check", f"--env-file={tmp_path / 'check.env'}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [check.communicate(timeout=120) for check in checks]
    finally:
        psql(name, "postgres", "ALTER ROLE openwebui NOSUPERUSER")
    assert [check.returncode for check in checks] == [0, 0], outputs
    assert psql(name, "plain", "SELECT extversion FROM pg_extension WHERE extname = 'vector'") == "0.8.0"


RECORD = """\
import sys, time
with open(sys.argv[1], "a") as log:
    log.write(f"start {time.monotonic()}\\n")
time.sleep(1.5)
with open(sys.argv[1], "a") as log:
    log.write(f"end {time.monotonic()}\\n")
sys.exit(int(sys.argv[2]))
"""


def run_migrate(python: Path, db_url: str, command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(python), str(HELPER), "migrate", "--timeout", "60", "--command", command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": os.environ["PATH"], "DATABASE_URL": db_url},
    )  # fmt: skip


def test_replicas_starting_together_migrate_one_at_a_time(data_host: dict, client_python: Path, tmp_path: Path) -> None:
    """Open-WebUI migrates at start without a lock; two replicas starting on a database that needs migrating both
    ran the migrations and one failed. The helper runs them under a PostgreSQL advisory lock: the second waits."""
    script, log = tmp_path / "record.py", tmp_path / "migrations.log"
    script.write_text(RECORD)
    runs = [run_migrate(client_python, url(data_host), f"{client_python} {script} {log} 0") for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"], "the two migrations overlapped"
    assert sorted(int(out.split("(")[1].split()[0]) for out, _ in outputs)[-1] >= 1, "the second waited for the first"

    failed = run_migrate(client_python, url(data_host), f"{client_python} {script} {log} 3")
    _, err = failed.communicate(timeout=120)
    assert failed.returncode == 1
    assert "database migrations failed (exit 3)" in err
    again = run_migrate(client_python, url(data_host), f"{client_python} {script} {log} 0")
    again.communicate(timeout=120)
    assert again.returncode == 0, "a failed run must release the lock"
