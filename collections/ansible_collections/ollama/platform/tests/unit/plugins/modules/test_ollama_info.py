"""Unit tests for the ollama_info module (real HTTP against an in-process fake Ollama)."""

from __future__ import annotations

import pytest
from ansible_collections.ollama.platform.plugins.modules import ollama_info
from ansible_collections.ollama.platform.tests.unit.plugins.module_utils.ollama_fake import FakeOllama
from ansible_collections.ollama.platform.tests.unit.plugins.modules._module_runner import run_module


@pytest.fixture
def fake():
    server = FakeOllama().start()
    server.add("qwen2.5:0.5b")
    yield server
    server.stop()


def run(args: dict, check_mode: bool = False) -> dict:
    return run_module(ollama_info.main, args, check_mode=check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_version_models_and_loaded_models(fake, check_mode):
    result = run({"api_url": fake.url}, check_mode=check_mode)
    assert not result["failed"], result
    assert result["changed"] is False
    assert result["version"] == "0.12.6"
    assert [m["name"] for m in result["models"]] == ["qwen2.5:0.5b"]
    assert result["running_models"][0]["expires_at"] == "2026-11-26T08:00:00Z"
    assert "probe" not in result
    assert all(r[0] == "GET" for r in fake.requests)


def test_probe_reports_ttft_and_tokens_per_second(fake):
    fake.token_delay = 0.02
    result = run({"api_url": fake.url, "probe_model": "qwen2.5:0.5b", "probe_num_predict": 8})
    probe = result["probe"]
    assert probe["model"] == "qwen2.5:0.5b"
    assert probe["eval_count"] == 8
    assert 0 < probe["time_to_first_token_s"] < probe["total_time_s"]
    assert 10 < probe["tokens_per_second"] < 60
    assert probe["server_tokens_per_second"] == pytest.approx(50, rel=0.01)


def test_probe_with_missing_model_fails_clearly(fake):
    result = run({"api_url": fake.url, "probe_model": "llama3.2:1b"})
    assert result["failed"]
    assert result["status"] == 404
    assert "model 'llama3.2:1b' not found" in result["msg"]
