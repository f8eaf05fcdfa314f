"""The release archive builds deterministically and its ``bin/ollama`` behaves like the real CLI as a subprocess."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_double import build_release
from ollama_double.running import stop_process

# Run by its path, as tools/testbed.sh and the molecule scenarios do: it needs no installed package.
BUILDER = Path(build_release.__file__)
NOT_RUNNING = (
    "Error: ollama server not responding - could not connect to ollama server, run 'ollama serve' to start it\n"
)


def build(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILDER), "--output-dir", str(out), *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    result = build(out)
    assert result.returncode == 0, result.stderr
    root = out / "usr"
    root.mkdir()
    with tarfile.open(out / "ollama-linux-amd64.tgz") as tar:
        tar.extractall(root, filter="tar")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA")}
    env.update(
        {
            "OLLAMA_MODELS": str(models),
            "OLLAMA_DOUBLE_LOAD_MS": "20",
            "OLLAMA_DOUBLE_TOKENS_PER_SECOND": "500",
            "OLLAMA_DOUBLE_PULL_MS": "100",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


@contextlib.contextmanager
def serving(ollama_bin: Path, env: dict[str, str], *flags: str, host: str = "127.0.0.1:0") -> Iterator[dict[str, str]]:
    """``bin/ollama serve`` in the background; yields the environment a client needs (OLLAMA_HOST set)."""
    log = Path(env["OLLAMA_MODELS"]).parent / f"serve-{time.monotonic_ns()}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(ollama_bin), "serve", *flags],
            env={**env, "OLLAMA_HOST": host},
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 15
        while "Listening on " not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        address = log.read_text().split("Listening on ", 1)[1].split(" ", 1)[0]
        yield {**env, "OLLAMA_HOST": address}
    finally:
        stop_process(proc)


def cli(ollama_bin: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ollama_bin), *args], env=env, capture_output=True, text=True, timeout=60)


def test_archive_is_release_shaped_and_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert build(a).returncode == 0
    assert build(b).returncode == 0
    archive = (a / "ollama-linux-amd64.tgz").read_bytes()
    assert archive == (b / "ollama-linux-amd64.tgz").read_bytes()
    digest = hashlib.sha256(archive).hexdigest()
    assert (a / "sha256sum.txt").read_text() == f"{digest}  ./ollama-linux-amd64.tgz\n"
    with tarfile.open(a / "ollama-linux-amd64.tgz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [".", "./bin", "./bin/ollama", "./lib", "./lib/ollama"]
        binary = members["./bin/ollama"]
        assert binary.isfile() and binary.mode == 0o755
        assert (binary.uid, binary.gid) == (0, 0)
        assert members["./lib/ollama"].isdir()
        assert tar.extractfile(binary).read().startswith(b"#!/usr/bin/env python3\n")
        app = zipfile.ZipFile(io.BytesIO(tar.extractfile(binary).read()))
    packaged = {name for name in app.namelist() if name.startswith("ollama_double/")}
    modules = {f"ollama_double/{p.name}" for p in BUILDER.parent.glob("*.py") if p.name != "build_release.py"}
    assert packaged == modules, "bin/ollama must hold every module of the package but the builder"
    before = (a / "ollama-linux-amd64.tgz").stat().st_mtime_ns
    again = build(a)
    assert "unchanged" in again.stdout
    assert (a / "ollama-linux-amd64.tgz").stat().st_mtime_ns == before


def test_version_option(tmp_path: Path) -> None:
    assert build(tmp_path, "--version", "0.13.1").returncode == 0
    with tarfile.open(tmp_path / "ollama-linux-amd64.tgz") as tar:
        tar.extractall(tmp_path / "root", filter="tar")
    env = base_env(tmp_path / "models")
    with serving(tmp_path / "root" / "bin" / "ollama", env) as client_env:
        out = cli(tmp_path / "root" / "bin" / "ollama", client_env, "-v")
    assert out.stdout == "ollama version is 0.13.1\n"
    bad = build(tmp_path / "bad", "--version", "latest")
    assert bad.returncode == 2
    assert "use the form 0.12.6" in bad.stderr


def test_cli_without_a_server(release: Path, tmp_path: Path) -> None:
    env = {**base_env(tmp_path / "models"), "OLLAMA_HOST": f"127.0.0.1:{free_port()}"}
    ollama = release / "bin" / "ollama"
    version = cli(ollama, env, "--version")
    assert version.returncode == 0
    assert (
        version.stdout == "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.12.6\n"
    )
    for args in (["list"], ["ps"], ["pull", "tinyllama"]):
        result = cli(ollama, env, *args)
        assert result.returncode == 1
        assert result.stderr == NOT_RUNNING


def test_cli_against_serve(release: Path, tmp_path: Path) -> None:
    ollama = release / "bin" / "ollama"
    env = base_env(tmp_path / "models")
    with serving(ollama, env, "--ttft-ms", "10") as client_env:
        assert cli(ollama, client_env, "--version").stdout == "ollama version is 0.12.6\n"
        empty = cli(ollama, client_env, "list")
        assert empty.returncode == 0
        assert empty.stdout.split() == ["NAME", "ID", "SIZE", "MODIFIED"]

        pulled = cli(ollama, client_env, "pull", "tinyllama")
        assert pulled.returncode == 0, pulled.stderr
        lines = pulled.stderr.splitlines()
        assert lines[0] == "pulling manifest" and lines[-1] == "success"
        assert any(re.match(r"pulling [0-9a-f]{12}: 100% 637 MB", line) for line in lines)

        failed = cli(ollama, client_env, "pull", "no-such-model")
        assert failed.returncode == 1
        assert failed.stderr.endswith("Error: pull model manifest: file does not exist\n")

        listed = cli(ollama, client_env, "list").stdout.splitlines()
        assert re.match(
            r"tinyllama:latest\s+[0-9a-f]{12}\s+637 MB\s+(Less than a second|1 second|\d+ seconds) ago", listed[1]
        )

        ran = cli(ollama, client_env, "run", "tinyllama", "why is the sky blue?")
        assert ran.returncode == 0, ran.stderr
        assert len(ran.stdout.split()) == 24

        ps = cli(ollama, client_env, "ps").stdout.splitlines()
        assert ps[0].split() == ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
        assert re.match(
            r"tinyllama:latest\s+[0-9a-f]{12}\s+[\d.]+ [MG]B\s+100% CPU\s+2048\s+\d+ minutes from now", ps[1]
        )

        shown = cli(ollama, client_env, "show", "tinyllama")
        assert re.search(r"architecture\s+llama", shown.stdout)

        assert cli(ollama, client_env, "cp", "tinyllama", "mine").stdout == "copied 'tinyllama' to 'mine'\n"
        removed = cli(ollama, client_env, "rm", "mine")
        assert removed.stdout == "deleted 'mine'\n"
        assert cli(ollama, client_env, "rm", "mine").stderr == "Error: model 'mine' not found\n"


def test_models_persist_across_restarts_and_seed_once(release: Path, tmp_path: Path) -> None:
    ollama = release / "bin" / "ollama"
    env = {**base_env(tmp_path / "models"), "OLLAMA_DOUBLE_MODELS": "qwen2.5:0.5b"}
    with serving(ollama, env) as client_env:
        assert cli(ollama, client_env, "pull", "tinyllama").returncode == 0
        assert cli(ollama, client_env, "rm", "qwen2.5:0.5b").returncode == 0
    assert (tmp_path / "models" / "manifests" / "registry.ollama.ai" / "library" / "tinyllama" / "latest").is_file()
    with serving(ollama, env) as client_env:
        names = [line.split()[0] for line in cli(ollama, client_env, "list").stdout.splitlines()[1:]]
    assert names == ["tinyllama:latest"]  # pulled model kept, deleted seed model not re-created


def test_serve_reports_a_busy_port(release: Path, tmp_path: Path) -> None:
    ollama = release / "bin" / "ollama"
    env = base_env(tmp_path / "models")
    with serving(ollama, env) as client_env:
        second = subprocess.run(
            [str(ollama), "serve"], env=client_env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    assert second.returncode == 1
    assert f"Error: listen tcp {client_env['OLLAMA_HOST']}: bind: address already in use" in second.stderr
