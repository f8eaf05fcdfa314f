"""Unit checks of the double's parsing rules (names, durations, OLLAMA_HOST, knobs) and its in-process mode."""
# ruff: noqa: S104 - these tests parse bind addresses; nothing binds to 0.0.0.0

from __future__ import annotations

import time

import pytest
import requests

from ollama_double import models as m
from ollama_double import running_double
from ollama_double.knobs import Config, connectable_host, parse_host
from ollama_double.protocol import go_time_utc


@pytest.mark.parametrize(
    ("raw", "display"),
    [
        ("tinyllama", "tinyllama:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("library/qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("team/model", "team/model:latest"),
        ("registry.example.com:5000/team/model:v1", "registry.example.com:5000/team/model:v1"),
    ],
)
def test_names_normalise_like_ollama(raw: str, display: str) -> None:
    assert m.normalize(raw) == display


@pytest.mark.parametrize("raw", ["", "bad name", "model:", "-model", "a/b/c/d"])
def test_invalid_names_are_rejected(raw: str) -> None:
    with pytest.raises(m.InvalidName):
        m.normalize(raw)


@pytest.mark.parametrize(
    ("value", "ns"),
    [(0, 0), (1.5, 1_500_000_000), ("5m", 300_000_000_000), ("1h30m", 5_400_000_000_000), ("250ms", 250_000_000)],
)
def test_keep_alive_durations(value: object, ns: int) -> None:
    assert m.parse_duration_ns(value) == ns


def test_negative_keep_alive_means_forever_and_bad_units_fail() -> None:
    assert m.parse_duration_ns(-1) is None
    assert m.parse_duration_ns("-1s") is None
    assert m.parse_duration_ns("10", env=True) == 10_000_000_000
    with pytest.raises(ValueError, match="missing unit"):
        m.parse_duration_ns("10")
    with pytest.raises(ValueError, match="invalid duration"):
        m.parse_duration_ns("soon")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ("127.0.0.1", 11434)),
        ("", ("127.0.0.1", 11434)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        ("http://example.com", ("example.com", 80)),
        ("https://example.com", ("example.com", 443)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_ollama_host(raw: str | None, expected: tuple[str, int]) -> None:
    assert parse_host(raw) == expected


def test_connectable_host() -> None:
    assert connectable_host("0.0.0.0") == "127.0.0.1"
    assert connectable_host("example.com") == "example.com"


def test_config_from_env_and_bad_values() -> None:
    cfg = Config.from_env(
        {
            "OLLAMA_HOST": "0.0.0.0:1234",
            "OLLAMA_KEEP_ALIVE": "-1",
            "OLLAMA_DOUBLE_TTFT_MS": "12.5",
            "OLLAMA_DOUBLE_MODELS": "tinyllama, llama3.2:1b",
            "OLLAMA_DOUBLE_REGISTRY": "tinyllama",
        }
    )
    assert (cfg.host, cfg.port, cfg.keep_alive_ns, cfg.ttft_ms) == ("0.0.0.0", 1234, None, 12.5)
    assert cfg.models == ("tinyllama:latest", "llama3.2:1b")
    assert cfg.registry == ("tinyllama:latest",)
    assert cfg.num_parallel == 1 and cfg.max_queue == 512
    with pytest.raises(SystemExit, match="OLLAMA_DOUBLE_TOKENS_PER_SECOND='fast' is not a number"):
        Config.from_env({"OLLAMA_DOUBLE_TOKENS_PER_SECOND": "fast"})
    with pytest.raises(SystemExit, match="OLLAMA_DOUBLE_MODELS contains 'bad name'"):
        Config.from_env({"OLLAMA_DOUBLE_MODELS": "bad name"})


def test_go_time_format() -> None:
    assert go_time_utc(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert go_time_utc(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert go_time_utc(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_in_process_mode_and_unknown_knob() -> None:
    with running_double(in_process=True, models=["tinyllama"], ttft_ms=0, tokens_per_second=0) as d:
        r = requests.post(
            d.url + "/api/generate", json={"model": "tinyllama", "prompt": "hi", "stream": False}, timeout=10
        )
        assert r.status_code == 200 and r.json()["eval_count"] == 24
    with pytest.raises(TypeError, match="unknown knob 'ttft'"), running_double(ttft=5):
        pass


@pytest.mark.parametrize("in_process", [True, False], ids=["thread", "process"])
def test_requests_are_read_back_from_the_log(in_process: bool) -> None:
    with running_double(in_process=in_process, models=["tinyllama"], ttft_ms=0, tokens_per_second=0) as d:
        requests.get(d.url + "/api/tags", timeout=10)
        requests.post(d.url + "/api/show", json={"model": "nope"}, timeout=10)
        requests.delete(d.url + "/api/delete", json={"model": "tinyllama"}, timeout=10)
        deadline = time.monotonic() + 5  # a child process writes its line just after the answer
        while len(d.requests()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        seen = [(r.method, r.path, r.status) for r in d.requests()]
    assert seen == [("GET", "/api/tags", 200), ("POST", "/api/show", 404), ("DELETE", "/api/delete", 200)]
