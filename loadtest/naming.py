"""Resource names of the platform: ``ollama-<purpose>`` in production, ``ollama-<env>-<purpose>`` elsewhere.

The same rule as ``filter_plugins/naming.py`` (``ollama_name``) and Terraform's ``local.name_prefix``;
kept here without the Ansible dependency so the load tests run on a machine with only the load-test packages.
``tests/loadtest/test_loadtest_naming.py`` proves the two agree.
"""

from __future__ import annotations

import re

PROJECT = "ollama"
ENVIRONMENTS = ("local", "dev", "staging", "production")
_PURPOSE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def resource_name(purpose: str, environment: str) -> str:
    """Return the name of the resource that serves ``purpose`` in ``environment`` (e.g. ``ollama-dev-asg``)."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}: use one of {', '.join(ENVIRONMENTS)}")
    if not _PURPOSE.match(purpose or ""):
        raise ValueError(f"invalid resource purpose {purpose!r}: use lower-case letters, digits and dashes")
    prefix = PROJECT if environment == "production" else f"{PROJECT}-{environment}"
    return f"{prefix}-{purpose}"
