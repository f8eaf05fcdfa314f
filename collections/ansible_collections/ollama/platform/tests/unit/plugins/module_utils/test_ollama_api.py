"""Unit tests for the Ollama API client and its pure helpers."""

from __future__ import annotations

import socket

import pytest
from ansible_collections.ollama.platform.plugins.module_utils.ollama_api import (
    OllamaAPIError,
    OllamaClient,
    generation_metrics,
    normalize_model_name,
    plan_models,
    summarize_models,
)
from ansible_collections.ollama.platform.tests.unit.plugins._ollama_double import call, installed, load, ollama


@pytest.fixture
def double():
    with ollama() as server:
        yield server


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tinyllama", "tinyllama:latest"),
        ("qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("  Llama3.2:1B ", "llama3.2:1b"),
        ("registry:5000/library/model", "registry:5000/library/model:latest"),
        ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:q4_k_m"),
    ],
)
def test_normalize_model_name(name, expected):
    assert normalize_model_name(name) == expected


def test_normalize_model_name_rejects_empty():
    with pytest.raises(ValueError, match="empty"):
        normalize_model_name("  ")


def test_plan_present_pulls_only_missing():
    to_pull, to_remove = plan_models(["tinyllama", "qwen2.5:0.5b"], ["tinyllama:latest"], "present", prune=False)
    assert to_pull == ["qwen2.5:0.5b"]
    assert to_remove == []


def test_plan_present_with_prune_removes_unlisted():
    to_pull, to_remove = plan_models(["tinyllama"], ["tinyllama:latest", "llama3.2:1b"], "present", prune=True)
    assert to_pull == []
    assert to_remove == ["llama3.2:1b"]


def test_plan_absent_removes_only_existing():
    to_pull, to_remove = plan_models(["tinyllama", "nope"], ["tinyllama:latest"], "absent", prune=False)
    assert to_pull == []
    assert to_remove == ["tinyllama:latest"]


def test_plan_deduplicates_equivalent_names():
    to_pull, _to_remove = plan_models(["tinyllama", "tinyllama:latest"], [], "present", prune=False)
    assert to_pull == ["tinyllama"]


def test_plan_rejects_unknown_state():
    with pytest.raises(ValueError, match="unknown state"):
        plan_models([], [], "latest", prune=False)


def test_summarize_models_keeps_digest_and_details():
    tags = {"models": [{"name": "a:1", "digest": "d", "size": 3, "details": {"parameter_size": "1B"}}]}
    assert summarize_models(tags) == [
        {"name": "a:1", "digest": "d", "size": 3, "parameter_size": "1B", "quantization_level": None, "family": None}
    ]
    assert summarize_models({}) == []


def test_generation_metrics():
    final = {"eval_count": 11, "eval_duration": 500_000_000, "prompt_eval_count": 4, "load_duration": 2_000_000_000}
    metrics = generation_metrics(10.0, 10.5, 12.5, final, tokens_seen=11)
    assert metrics["time_to_first_token_s"] == 0.5
    assert metrics["total_time_s"] == 2.5
    assert metrics["tokens_per_second"] == 5.0  # 10 intervals in 2 s
    assert metrics["server_tokens_per_second"] == 22.0
    assert metrics["load_duration_s"] == 2.0


def test_generation_metrics_without_tokens():
    metrics = generation_metrics(1.0, None, 2.0, {"done": True}, tokens_seen=0)
    assert metrics["time_to_first_token_s"] is None
    assert metrics["tokens_per_second"] is None
    assert metrics["server_tokens_per_second"] is None


def test_client_rejects_url_without_scheme():
    with pytest.raises(ValueError, match="http://"):
        OllamaClient("127.0.0.1:11434")


def test_client_reads_version_tags_and_ps():
    with ollama(models=["qwen2.5:0.5b"]) as server:
        load(server, "qwen2.5:0.5b")
        client = OllamaClient(server.url)
        assert client.version() == "0.12.6"
        assert client.model_names() == ["qwen2.5:0.5b"]
        assert client.tags()["models"][0]["digest"] == installed(server)["qwen2.5:0.5b"]
        assert client.ps()["models"][0]["context_length"] == 4096


def test_client_sends_bearer_token():
    with ollama(api_token="s3cret-token-value") as server:
        assert OllamaClient(server.url, token="s3cret-token-value").version() == "0.12.6"
        with pytest.raises(OllamaAPIError) as err:
            OllamaClient(server.url).version()
    assert err.value.status == 401
    assert "unauthorized" in str(err.value)


def test_client_pull_reads_stream_until_success(double):
    client = OllamaClient(double.url)
    assert client.pull("tinyllama")["status"] == "success"
    assert "tinyllama:latest" in installed(double)


def test_client_pull_error_in_stream_raises(double):
    with pytest.raises(OllamaAPIError, match="file does not exist"):
        OllamaClient(double.url).pull("does-not-exist")


def test_client_delete_missing_model_reports_ollama_error(double):
    with pytest.raises(OllamaAPIError) as err:
        OllamaClient(double.url).delete("ghost:1")
    assert err.value.status == 404
    assert "model 'ghost:1' not found" in str(err.value)


def test_client_probe_measures_stream():
    with ollama(models=["qwen2.5:0.5b"], tokens_per_second=50) as server:
        probe = OllamaClient(server.url).probe_generate("qwen2.5:0.5b", "hi", num_predict=6)
        body = {"model": "qwen2.5:0.5b", "prompt": "hi", "stream": False, "options": {"num_predict": 6}}
        whole = call(server, "POST", "/api/generate", body)
    assert probe["eval_count"] == 6
    assert probe["response"] == whole["response"], "the streamed pieces, joined, are the whole answer"
    assert probe["time_to_first_token_s"] < probe["total_time_s"]
    # 5 intervals of 20 ms (50 tokens/s): the client-side rate must be in the right range, not a constant.
    assert 10 < probe["tokens_per_second"] < 60


def test_client_unreachable_port_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OllamaAPIError, match="cannot reach the Ollama API"):
        OllamaClient(f"http://127.0.0.1:{port}", timeout=2).version()
