"""Fixtures shared by the load-test end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loadtest_cli import EMBED, MODEL

from ollama_double import running_double


@pytest.fixture(scope="module")
def double() -> Iterator[str]:
    """An Ollama double with fast, known timings and room for many streams; yields its URL."""
    with running_double(
        ttft_ms=150,
        tokens_per_second=40,
        load_ms=100,
        num_predict=12,
        num_parallel=64,
        max_queue=512,
        models=[MODEL, EMBED],
    ) as handle:
        yield handle.url
