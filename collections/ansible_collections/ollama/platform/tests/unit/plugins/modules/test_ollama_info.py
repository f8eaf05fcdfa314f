"""Unit tests for the ollama_info module (real HTTP against the Ollama API double, in-process)."""

from __future__ import annotations

import re

import pytest
from ansible_collections.ollama.platform.plugins.modules import ollama_info
from ansible_collections.ollama.platform.tests.unit.plugins._ollama_double import load, ollama, requests_since
from ansible_collections.ollama.platform.tests.unit.plugins.modules._module_runner import run_module


@pytest.fixture
def double():
    with ollama(models=["qwen2.5:0.5b"]) as server:
        load(server, "qwen2.5:0.5b")
        yield server


def run(args: dict, check_mode: bool = False) -> dict:
    return run_module(ollama_info.main, args, check_mode=check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_version_models_and_loaded_models(double, check_mode):
    start = len(double.requests())
    result = run({"api_url": double.url}, check_mode=check_mode)
    assert not result["failed"], result
    assert result["changed"] is False
    assert result["version"] == "0.12.6"
    assert [m["name"] for m in result["models"]] == ["qwen2.5:0.5b"]
    running = result["running_models"]
    assert [m["name"] for m in running] == ["qwen2.5:0.5b"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", running[0]["expires_at"]), running[0]
    assert "probe" not in result
    sent = requests_since(double, start)
    assert sent, "the module must have asked the API"
    assert all(method == "GET" for method, _path in sent), sent


def test_probe_reports_ttft_and_tokens_per_second():
    with ollama(models=["qwen2.5:0.5b"], tokens_per_second=50) as server:
        result = run({"api_url": server.url, "probe_model": "qwen2.5:0.5b", "probe_num_predict": 8})
    probe = result["probe"]
    assert probe["model"] == "qwen2.5:0.5b"
    assert probe["eval_count"] == 8
    assert 0 < probe["time_to_first_token_s"] < probe["total_time_s"]
    assert 10 < probe["tokens_per_second"] < 60
    # The server's own figure (eval_count / eval_duration): the configured 50 tokens/s, measured by the double.
    assert 30 < probe["server_tokens_per_second"] < 60


def test_probe_with_missing_model_fails_clearly(double):
    result = run({"api_url": double.url, "probe_model": "llama3.2:1b"})
    assert result["failed"]
    assert result["status"] == 404
    assert "model 'llama3.2:1b' not found" in result["msg"]
