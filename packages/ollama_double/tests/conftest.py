"""Fixtures for the Ollama API double's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import ollama
import pytest

from ollama_double import RunningDouble, running_double

FAST = {"ttft_ms": 20, "tokens_per_second": 400, "load_ms": 40, "num_predict": 8, "pull_ms": 300}


@pytest.fixture(scope="module")
def double() -> Iterator[RunningDouble]:
    """A fast double (module-wide) with three models installed and a parallel limit of 4."""
    with running_double(models=["llama3.2:1b", "nomic-embed-text", "tinyllama"], num_parallel=4, **FAST) as d:
        yield d


@pytest.fixture
def client(double: RunningDouble) -> Iterator[ollama.Client]:
    with ollama.Client(host=double.url, timeout=30) as c:
        yield c
