"""Unit tests for asg_schedule: documentation (AWS behaviour: tests/integration/test_schedule_teardown.py)."""

from ansible_collections.ollama.platform.plugins.modules import asg_schedule as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)
