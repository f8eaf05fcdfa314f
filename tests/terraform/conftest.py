"""Fixtures of the Terraform checks (helpers live in terraform_helpers.py)."""

from terraform_helpers import evaluated_names, hcl, provider_free_copy, terraform_bin, tf_env

__all__ = ["evaluated_names", "hcl", "provider_free_copy", "terraform_bin", "tf_env"]
