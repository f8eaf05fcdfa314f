"""Fixtures shared by every test: the AWS emulator (moto server with the project's patches)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import aws_emulator

TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A patched moto server on 127.0.0.1 and a free port for the whole session; yields its URL."""
    state_dir: Path = tmp_path_factory.mktemp("aws-emulator")
    endpoint = aws_emulator.start(host="127.0.0.1", port=0, state_dir=state_dir)
    try:
        yield endpoint.url
    finally:
        aws_emulator.stop(state_dir)


@pytest.fixture
def aws(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Empty emulated AWS for one test, with the environment boto3 and Ansible's AWS modules read."""
    aws_emulator.reset(aws_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield aws_endpoint
