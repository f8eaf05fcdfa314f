"""Two emulated regions behind the twin's region-aware front (tools/twin/regions.py), and disaster recovery on it.

One emulator per region (``tools.aws_emulator.start`` as tests/conftest.py does) behind one front that dispatches on
the request's SigV4 signing region, can take a region down (503) and logs every request per region.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tools.twin import regions

pytestmark = pytest.mark.emulator

PRIMARY = "us-east-1"
DR = "us-west-2"
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


@pytest.fixture(scope="module")
def front_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[regions.RegionFront]:
    state = tmp_path_factory.mktemp("regions")
    with regions.two_regions(state, [PRIMARY, DR], log_dir=state / "log") as front:
        yield front


@pytest.fixture
def front(front_session: regions.RegionFront, monkeypatch: pytest.MonkeyPatch) -> Iterator[regions.RegionFront]:
    """Both regions up and empty, the log cleared, boto3 and Ansible pointed at the front."""
    regions.reset(front_session)
    monkeypatch.setenv("AWS_ENDPOINT_URL", front_session.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY)
    monkeypatch.setenv("AWS_REGION", PRIMARY)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield front_session


def client(service: str, region: str, url: str | None = None):
    return boto3.client(service, region_name=region, endpoint_url=url or os.environ["AWS_ENDPOINT_URL"], config=NO_RETRY)


def test_front_dispatches_on_the_signing_region_and_logs_each_request(front: regions.RegionFront) -> None:
    client("ssm", PRIMARY).put_parameter(Name="/drill/where", Value="primary", Type="String")
    client("ssm", DR).put_parameter(Name="/drill/where", Value="dr", Type="String")
    client("s3", DR).create_bucket(Bucket="only-in-dr", CreateBucketConfiguration={"LocationConstraint": DR})

    # Each region's emulator holds only what was signed for it.
    primary_ssm = client("ssm", PRIMARY, front.backends[PRIMARY])
    dr_ssm = client("ssm", DR, front.backends[DR])
    assert primary_ssm.get_parameter(Name="/drill/where")["Parameter"]["Value"] == "primary"
    assert dr_ssm.get_parameter(Name="/drill/where")["Parameter"]["Value"] == "dr"
    assert [b["Name"] for b in client("s3", DR, front.backends[DR]).list_buckets()["Buckets"]] == ["only-in-dr"]
    assert client("s3", PRIMARY, front.backends[PRIMARY]).list_buckets()["Buckets"] == []
    # Through the front, each region sees its own.
    assert client("ssm", DR).get_parameter(Name="/drill/where")["Parameter"]["Value"] == "dr"

    logged = {(e.region, e.service, e.action, e.status) for e in front.log()}
    assert (PRIMARY, "ssm", "PutParameter", 200) in logged
    assert (DR, "ssm", "PutParameter", 200) in logged
    assert (DR, "ssm", "GetParameter", 200) in logged
    assert (DR, "s3", "PUT /only-in-dr", 200) in logged
    assert {e.region for e in front.log(PRIMARY)} == {PRIMARY}
    assert len(front.log(PRIMARY)) == 1 and len(front.log(DR)) == 3
    lines = (front.log_dir / f"{DR}.jsonl").read_text().splitlines()
    assert any('"action": "GetParameter"' in line for line in lines)


def test_a_region_taken_down_refuses_and_the_other_answers(front: regions.RegionFront) -> None:
    client("ssm", DR).put_parameter(Name="/drill/up", Value="yes", Type="String")
    front.take_down(PRIMARY)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client("dynamodb", PRIMARY).list_tables()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client("ssm", DR).get_parameter(Name="/drill/up")["Parameter"]["Value"] == "yes"
    assert [(e.service, e.action, e.status) for e in front.log(PRIMARY)] == [("dynamodb", "ListTables", 503)]
    front.bring_up(PRIMARY)
    assert client("dynamodb", PRIMARY).list_tables()["TableNames"] == []


def test_front_refuses_bad_settings() -> None:
    with pytest.raises(regions.RegionError, match="default region eu-west-1 has no emulator"):
        regions.RegionFront({PRIMARY: "http://127.0.0.1:1"}, "eu-west-1")
    with pytest.raises(regions.RegionError, match="must be an http://host:port URL"):
        regions.RegionFront({PRIMARY: "localhost"}, PRIMARY)


def test_unsigned_private_routes_go_to_the_region_they_name(front: regions.RegionFront) -> None:
    from tools import aws_emulator

    aws_emulator.set_public_parameter(front.url, "/aws/service/drill/image", "ami-12345678", region=DR)
    assert client("ssm", DR).get_parameter(Name="/aws/service/drill/image")["Parameter"]["Value"] == "ami-12345678"
    assert [(e.region, e.service) for e in front.log() if e.service == "emulator"] == [(DR, "emulator")]
