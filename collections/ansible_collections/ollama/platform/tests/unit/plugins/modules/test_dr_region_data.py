"""Unit tests for the dr_region_data module's documentation (AWS behaviour: tests/integration/test_dr_regions.py)."""

from ansible_collections.ollama.platform.plugins.modules import dr_region_data as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)
