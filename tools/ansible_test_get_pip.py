"""Stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com.

That host is not reachable from networks that only mirror PyPI, and ansible-test runs pip with a scrubbed
environment, so a CA bundle or index given through PIP_* variables is lost. tools/run_tests.sh places this file in
ansible-test's cache together with ``<this file>.json`` ({"cert": ..., "index_url": ...}) taken from the caller's
environment. Run by ansible-test with get-pip.py's options, it installs pip with Python's bundled ``ensurepip``,
writes the CA bundle and index into the virtualenv's own ``pip.conf`` (so ansible-test's later installs use them
too), then installs the pip version ansible-test asked for.
"""

from __future__ import annotations

import ensurepip
import json
import os
import subprocess
import sys
from pathlib import Path

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def venv_pip_conf(settings: dict[str, str]) -> str:
    """The virtualenv-level pip.conf for ``settings`` (keys: cert, index_url)."""
    lines = ["[global]"]
    if settings.get("cert"):
        lines.append(f"cert = {settings['cert']}")
    if settings.get("index_url"):
        lines.append(f"index-url = {settings['index_url']}")
    return "\n".join(lines) + "\n"


def main() -> int:
    sidecar = Path(os.environ.get("GET_PIP", __file__) + ".json")
    settings = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    Path(sys.prefix, "pip.conf").write_text(venv_pip_conf(settings))
    ensurepip.bootstrap(upgrade=True)
    os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points it at /dev/null; the venv's pip.conf must count
    arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, "-m", "pip", "install", *arguments])


if __name__ == "__main__":
    sys.exit(main())
