"""Unit tests for the environment_leftovers module docs (AWS behaviour: tests/integration/test_dr_regions.py)."""

from ansible_collections.ollama.platform.plugins.modules import environment_leftovers as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)
