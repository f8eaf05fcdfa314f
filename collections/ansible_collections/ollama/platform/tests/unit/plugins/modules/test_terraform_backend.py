"""Unit tests for the terraform_backend module's documentation (AWS behaviour is in the integration tests)."""

from ansible_collections.ollama.platform.plugins.modules import terraform_backend as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)
