"""service_quota_info: the applied quota or its default, and a refusal that names the increase to request."""

from unittest import mock

import pytest
from ansible_collections.ollama.platform.plugins.modules import service_quota_info as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec
from botocore.exceptions import ClientError

QUOTA = {"QuotaName": "Running On-Demand G and VT instances", "Value": 64.0}


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)


def test_reads_the_applied_quota():
    client = mock.Mock()
    client.get_service_quota.return_value = {"Quota": QUOTA}
    assert mod.read_quota(client, "ec2", "L-DB2E81BA") == (QUOTA, "applied")
    client.get_aws_default_service_quota.assert_not_called()


def test_falls_back_to_the_aws_default_when_none_was_applied():
    client = mock.Mock()
    client.get_service_quota.side_effect = ClientError(
        {"Error": {"Code": "NoSuchResourceException", "Message": "none"}}, "GetServiceQuota"
    )
    client.get_aws_default_service_quota.return_value = {"Quota": dict(QUOTA, Value=0.0)}
    assert mod.read_quota(client, "ec2", "L-DB2E81BA") == (dict(QUOTA, Value=0.0), "default")


def test_other_errors_are_raised():
    client = mock.Mock()
    client.get_service_quota.side_effect = ClientError({"Error": {"Code": "AccessDeniedException"}}, "x")
    with pytest.raises(ClientError):
        mod.read_quota(client, "ec2", "L-DB2E81BA")


def test_a_sufficient_quota():
    result = mod.compare(QUOTA, "applied", 52, "ec2", "L-DB2E81BA", "us-east-1")
    assert result["sufficient"] is True
    expected = "Running On-Demand G and VT instances (ec2/L-DB2E81BA) is 64 in us-east-1, the stack needs 52"
    assert result["message"] == expected


def test_an_insufficient_quota_names_the_increase_to_request():
    result = mod.compare(dict(QUOTA, Value=0.0), "default", 52, "ec2", "L-DB2E81BA", "us-east-1")
    assert result["sufficient"] is False
    assert "is 0 in us-east-1 but the stack needs 52: request an increase to at least 52" in result["message"]
    assert "--quota-code L-DB2E81BA --desired-value 52 --region us-east-1" in result["message"]
