"""Naming and tagging filters for the Ollama platform playbooks.

The naming rule is the same one Terraform applies in ``terraform/locals.tf``
(``local.name_prefix``): ``ollama-<purpose>`` in production and
``ollama-<environment>-<purpose>`` in every other environment.
``tests/integration/test_naming_agrees_with_terraform.py`` proves both agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

PROJECT = "ollama"
ENVIRONMENTS = ("local", "dev", "staging", "production")
PRODUCTION = "production"
_PURPOSE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _check_environment(environment: Any) -> str:
    if environment not in ENVIRONMENTS:
        raise AnsibleFilterError(
            f"unknown environment {environment!r}: use one of {', '.join(ENVIRONMENTS)} "
            "(set platform_environment in inventories/<env>/group_vars/all)"
        )
    return str(environment)


def ollama_name_prefix(environment: str) -> str:
    """Return the resource name prefix: ``ollama`` in production, ``ollama-<env>`` elsewhere."""
    env = _check_environment(environment)
    return PROJECT if env == PRODUCTION else f"{PROJECT}-{env}"


def ollama_name(purpose: str, environment: str) -> str:
    """Return the name of the resource that serves ``purpose`` in ``environment``."""
    if not isinstance(purpose, str) or not _PURPOSE_RE.match(purpose):
        raise AnsibleFilterError(
            f"invalid resource purpose {purpose!r}: use lower-case letters, digits and dashes (e.g. 'data-table')"
        )
    return f"{ollama_name_prefix(environment)}-{purpose}"


def ollama_tags(
    environment: str,
    extra: Mapping[str, Any] | None = None,
    managed_by: str = "terraform",
    service: str = "ollama",
) -> dict[str, str]:
    """Return the tags every resource carries (Terraform's provider ``default_tags``)."""
    tags = {
        "Project": PROJECT,
        "Environment": _check_environment(environment),
        "ManagedBy": managed_by,
        "Service": service,
    }
    for key, value in (extra or {}).items():
        tags[str(key)] = str(value)
    return tags


def ollama_state_bucket_name(account_id: Any, region: str) -> str:
    """Return the Terraform state bucket of an account and region (shared by all environments)."""
    account = str(account_id)
    if not re.fullmatch(r"\d{12}", account):
        raise AnsibleFilterError(f"invalid AWS account id {account!r}: expected 12 digits")
    return f"{PROJECT}-tfstate-{account}-{region}"


class FilterModule:
    """Ollama platform naming and tagging filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "ollama_name_prefix": ollama_name_prefix,
            "ollama_name": ollama_name,
            "ollama_tags": ollama_tags,
            "ollama_state_bucket_name": ollama_state_bucket_name,
        }
