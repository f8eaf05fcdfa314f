"""Serving fleet hosts are hardened by their image: the ssh_hardening and os_hardening roles run in the bake, so
every instance the Auto Scaling group launches starts hardened, with no play run against it.

Product: the same bake and the same configuration run on AWS. Twin: the hosts are containers, so lynis cannot see
the kernel settings, the boot loader or the file systems of a real instance (the waived suggestions are listed in
roles/os_hardening/README.md, "lynis suggestions not taken"); its index here is a floor, not AWS's number.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.twin.scenarios.conftest import Twin, console

pytestmark = pytest.mark.twin

SSH_POLICY = "Hardened Debian 12 (version 3)"
# Measured on the twin's serving hosts (roles/os_hardening/README.md lists what a container cannot show); a drop fails.
LYNIS_INDEX_FLOOR = {"backend": 72, "frontend": 72}


def _serving_hosts(twin: Twin) -> dict[str, list[tuple[str, str]]]:
    """{tier: [(instance id, private address)]} of the InService instances of each group."""
    ec2 = twin.client("ec2")
    hosts = {}
    for tier, output in (("backend", "ollama_backend_asg_name"), ("frontend", "ollama_frontend_asg_name")):
        ids = twin.in_service(twin.outputs[output])
        assert ids, f"the {tier} group has no InService instance"
        reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        hosts[tier] = [(i["InstanceId"], i["PrivateIpAddress"]) for r in reservations for i in r["Instances"]]
    return hosts


def test_serving_hosts_pass_the_hardened_debian_ssh_policy(twin: Twin):
    """ssh-audit's built-in policy, from the twin's host, against every serving instance's sshd."""
    ssh_audit = Path(sys.executable).with_name("ssh-audit")
    failures = {}
    for tier, hosts in _serving_hosts(twin).items():
        for instance_id, address in hosts:
            result = subprocess.run(
                [str(ssh_audit), "-P", SSH_POLICY, "-t", "20", address],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if result.returncode != 0:
                failures[f"{tier} {instance_id}"] = result.stdout[-1500:]
    assert not failures, f"hosts failing {SSH_POLICY!r}: {failures}"


def _lynis_bundle() -> Path:
    """Debian's lynis (program, include files, plugins, database, default profile) in one folder it runs from."""
    lynis = shutil.which("lynis") or "/usr/sbin/lynis"
    if not Path(lynis).exists() or not Path("/usr/share/lynis/include").is_dir():
        pytest.fail("lynis is not installed: run `make setup` (tools/bootstrap.sh installs Debian's lynis)")
    bundle = Path(tempfile.mkdtemp(prefix="lynis-audit-"))
    shutil.copy(lynis, bundle / "lynis")
    for part in ("include", "db"):
        shutil.copytree(f"/usr/share/lynis/{part}", bundle / part)
    shutil.copytree("/etc/lynis/plugins", bundle / "plugins")
    shutil.copy("/etc/lynis/default.prf", bundle / "default.prf")
    return bundle


def test_serving_hosts_keep_their_lynis_hardening_index(twin: Twin, record_property):
    """lynis runs on one serving instance per tier through its console (copied in for the audit and removed after:
    no audit tool is baked into the image for its score)."""
    bundle = _lynis_bundle()
    try:
        for tier, hosts in _serving_hosts(twin).items():
            instance_id = hosts[0][0]
            container = f"ollama-twin-{instance_id}"
            subprocess.run(["podman", "cp", str(bundle), f"{container}:/tmp/lynis-audit"], check=True)
            try:
                result = console(
                    instance_id,
                    "sh",
                    "-c",
                    "cd /tmp/lynis-audit && chown -R 0:0 . && "
                    "./lynis audit system --quick --no-colors --no-log --profile default.prf 2>&1",
                )
            finally:
                console(instance_id, "rm", "-rf", "/tmp/lynis-audit")
            found = re.search(r"Hardening index : (\d+)", result.stdout)
            assert found, f"lynis printed no hardening index on {instance_id}: {result.stdout[-1500:]}"
            index = int(found.group(1))
            record_property(f"lynis_hardening_index_{tier}", index)
            print(f"lynis hardening index {tier} ({instance_id}): {index}")
            assert index >= LYNIS_INDEX_FLOOR[tier], (
                f"{tier} lynis hardening index {index} fell below {LYNIS_INDEX_FLOOR[tier]}: "
                + "; ".join(re.findall(r"\* (.+?) \[", result.stdout)[:10])
            )
    finally:
        shutil.rmtree(bundle, ignore_errors=True)
