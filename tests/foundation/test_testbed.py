"""The container test bed builder: host-derived podman settings, image reuse, and errors that name the fix."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
from pathlib import Path

import pytest

from tests.project import ROOT

TESTBED = [str(ROOT / "tools" / "testbed.sh")]
IMAGE = "localhost/ollama-platform/debian12:latest"
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".cache" / "containers.conf")}


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TESTBED, *args], capture_output=True, text=True, env=env or ENV, timeout=timeout)


def image_id() -> str:
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 0, f"{IMAGE} is missing: run 'make testbed' before the tests"
    return result.stdout.strip()


def test_containers_conf_is_derived_from_the_host_limits() -> None:
    assert run("conf").returncode == 0
    conf = (ROOT / ".cache" / "containers.conf").read_text()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], int(Path("/proc/sys/kernel/pid_max").read_text()))
    assert f'"nofile={nofile}:{nofile}"' in conf
    assert f'"nproc={nproc}:{nproc}"' in conf
    assert 'runtime = "runc"' in conf


def test_an_image_whose_inputs_did_not_change_is_reused() -> None:
    before = image_id()
    result = run("images")
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
    assert image_id() == before


def test_the_image_boots_systemd_with_sshd() -> None:
    name = "testbed-boot-probe"
    subprocess.run(["podman", "rm", "-f", name], capture_output=True, env=ENV)
    started = subprocess.run(
        ["podman", "run", "-d", "--name", name, "--systemd=always", IMAGE],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert started.returncode == 0, started.stderr
    try:
        state = ""
        for _ in range(60):
            state = subprocess.run(
                ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
                capture_output=True,
                text=True,
                env=ENV,
                timeout=60,
            ).stdout.strip()
            if state in ("running", "degraded"):
                break
        assert state == "running", f"systemd state {state!r}"
        sshd = subprocess.run(["podman", "exec", name, "systemctl", "is-active", "ssh"], capture_output=True, text=True)
        assert sshd.stdout.strip() == "active"
        machine_id = subprocess.run(["podman", "exec", name, "cat", "/etc/machine-id"], capture_output=True, text=True)
        assert len(machine_id.stdout.strip()) == 32, "each container must get its own machine-id at boot"
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, env=ENV)


def test_unreachable_mirror_is_named_and_the_old_image_survives() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    before = image_id()
    result = run("images", env={**ENV, "TESTBED_MIRROR": f"http://127.0.0.1:{port}/debian"}, timeout=300)
    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/debian" in result.stderr
    assert "TESTBED_MIRROR" in result.stderr
    assert image_id() == before
    assert not list((ROOT / ".cache").glob("rootfs.*")), "a failed build must not leave its rootfs behind"


@pytest.mark.parametrize("target", ["bogus", "image"])
def test_unknown_target_is_refused(target: str) -> None:
    result = run(target)
    assert result.returncode == 1
    assert f"unknown target '{target}'" in result.stderr


@pytest.mark.parametrize("missing", ["podman", "debootstrap"])
def test_missing_tool_is_named_with_the_fix(missing: str, tmp_path: Path) -> None:
    """A PATH without the tool (everything else linked in) gets a one-line error naming it and `make setup`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        for tool in Path(directory).glob("*"):
            link = bin_dir / tool.name
            if tool.name != missing and not link.exists():
                link.symlink_to(tool)
    result = run("images", env={**ENV, "PATH": str(bin_dir)})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, "the error must be one line"
    assert f"{missing} not found" in result.stderr
    assert "make setup" in result.stderr
