"""Unit tests for the dr_region_data module's documentation (AWS behaviour: tests/integration/test_dr_regions.py)."""

from ansible_collections.ollama.platform.plugins.modules import dr_region_data as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)


class _Backups:
    def __init__(self, pages):
        self.pages = pages

    def get_paginator(self, name):
        assert name == "describe_db_instance_automated_backups"
        return self

    def paginate(self, **filters):
        assert filters == {}, "DBInstanceIdentifier must name an instance of the region: the source is elsewhere"
        return self.pages


def test_the_newest_replicated_backups_are_the_restore_source():
    backups = [
        {"DBInstanceAutomatedBackupsArn": "arn:old", "Status": "retained", "DBInstanceIdentifier": "ollama-webui-db",
         "RestoreWindow": {"LatestTime": "2026-12-01T00:00:00Z"}},
        {"DBInstanceAutomatedBackupsArn": "arn:new", "Status": "replicating", "DBInstanceIdentifier": "ollama-webui-db",
         "RestoreWindow": {"LatestTime": "2026-12-05T23:55:00Z"}},
        {"DBInstanceAutomatedBackupsArn": "arn:other", "Status": "replicating", "DBInstanceIdentifier": "another-db",
         "RestoreWindow": {"LatestTime": "2026-12-06T00:00:00Z"}},
        {"DBInstanceAutomatedBackupsArn": "arn:pending", "Status": "pending",
         "DBInstanceIdentifier": "ollama-webui-db"},
    ]  # fmt: skip
    assert mod.replicated_backups(_Backups([{"DBInstanceAutomatedBackups": backups}]), "ollama-webui-db") == "arn:new"
    assert mod.replicated_backups(_Backups([{"DBInstanceAutomatedBackups": []}]), "ollama-webui-db") == ""
