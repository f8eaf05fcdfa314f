"""Fixtures of the emulator's Auto Scaling tests: a network per test, on the shared emulator or a fast one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_cloud import FAST_SCALE, Cloud, _cloud

from tools import aws_emulator


@pytest.fixture
def cloud(aws: str) -> Cloud:
    return _cloud(aws)


@pytest.fixture(scope="module")
def fast_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second emulator: lifecycle clock 50x faster, CreateImage leaves AMIs pending."""
    state_dir: Path = tmp_path_factory.mktemp("aws-emulator-fast")
    endpoint = aws_emulator.start(port=0, state_dir=state_dir, lifecycle_time_scale=FAST_SCALE, images_pending=True)
    try:
        yield endpoint.url
    finally:
        aws_emulator.stop(state_dir)


@pytest.fixture
def fast(fast_endpoint: str) -> Cloud:
    aws_emulator.reset(fast_endpoint)
    return _cloud(fast_endpoint)
