"""Fixtures of the Terraform checks (helpers live in terraform_helpers.py)."""

from terraform_helpers import hcl, provider_free_copy, terraform_bin, tf_env

__all__ = ["hcl", "provider_free_copy", "terraform_bin", "tf_env"]
