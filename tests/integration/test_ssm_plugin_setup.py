"""make setup installs AWS's Session Manager plugin from the .deb the user supplies (SSM_PLUGIN_DEB), and nothing
when it is unset. dpkg is replaced by a stand-in that unpacks into a scratch root, so the machine is not changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "tools" / "bootstrap.sh"


def build_deb(tmp_path: Path, package: str = "session-manager-plugin") -> Path:
    tree = tmp_path / f"pkg-{package}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.2.707.0-1\nArchitecture: all\nMaintainer: test <t@example.org>\n"
        "Description: stand-in\n"
    )
    binary = tree / "usr" / "local" / "bin" / "session-manager-plugin"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\necho 1.2.707.0\n")
    binary.chmod(0o755)
    deb = tmp_path / f"{package}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture
def machine(tmp_path):
    """PATH with a dpkg stand-in that unpacks into tmp_path/root and records its calls."""
    stub = tmp_path / "stub"
    stub.mkdir()
    root = tmp_path / "root"
    log = tmp_path / "dpkg.log"
    (stub / "dpkg").write_text(f'#!/bin/sh\necho "$@" >> {log}\n[ "$1" = "-i" ] && exec dpkg-deb -x "$2" {root}\n')
    (stub / "dpkg").chmod(0o755)
    path = f"{stub}:{root / 'usr' / 'local' / 'bin'}:/usr/bin:/bin"
    return {"path": path, "root": root, "log": log}


def setup_plugin(machine, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(BOOTSTRAP), "--only-ssm-plugin"],
        env={"PATH": machine["path"], "HOME": os.environ.get("HOME", "/root"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nothing_happens_without_ssm_plugin_deb(machine):
    proc = setup_plugin(machine)
    assert proc.returncode == 0, proc.stderr
    assert not machine["log"].exists()


def test_installs_the_plugin_from_a_local_deb(machine, tmp_path):
    deb = build_deb(tmp_path)
    proc = setup_plugin(
        machine, SSM_PLUGIN_DEB=str(deb), SSM_PLUGIN_SHA256=hashlib.sha256(deb.read_bytes()).hexdigest()
    )
    assert proc.returncode == 0, proc.stderr
    assert machine["log"].read_text().split() == ["-i", str(deb)]
    assert (machine["root"] / "usr" / "local" / "bin" / "session-manager-plugin").exists()
    # A second run only checks.
    again = setup_plugin(machine, SSM_PLUGIN_DEB=str(deb))
    assert again.returncode == 0 and "already installed" in again.stdout
    assert machine["log"].read_text().count("-i") == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing", "is not a file: download session-manager-plugin.deb and pass its path"),
        ("http://example.org/p.deb", "give a local .deb file or an https:// URL"),
        ("other-package", "holds package 'awscli-helper', not session-manager-plugin"),
        ("not-a-deb", "is not a .deb package"),
        ("bad-checksum", "does not match SSM_PLUGIN_SHA256"),
    ],
)
def test_bad_input_is_refused_with_the_fix(machine, tmp_path, source, message):
    env = {}
    if source == "missing":
        env["SSM_PLUGIN_DEB"] = str(tmp_path / "nowhere.deb")
    elif source == "other-package":
        env["SSM_PLUGIN_DEB"] = str(build_deb(tmp_path, "awscli-helper"))
    elif source == "not-a-deb":
        (tmp_path / "plain.deb").write_text("not a package")
        env["SSM_PLUGIN_DEB"] = str(tmp_path / "plain.deb")
    elif source == "bad-checksum":
        env |= {"SSM_PLUGIN_DEB": str(build_deb(tmp_path)), "SSM_PLUGIN_SHA256": "0" * 64}
    else:
        env["SSM_PLUGIN_DEB"] = source
    proc = setup_plugin(machine, **env)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not machine["log"].exists()
