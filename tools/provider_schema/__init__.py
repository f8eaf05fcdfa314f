"""Offline schema of the pinned AWS provider and a check of Terraform configurations against it."""
