"""Unit tests for the ollama_model module (real HTTP against the Ollama API double, in-process, behind a token)."""

from __future__ import annotations

import contextlib

import pytest
from ansible_collections.ollama.platform.plugins.modules import ollama_model
from ansible_collections.ollama.platform.tests.unit.plugins._ollama_double import installed, ollama, requests_since
from ansible_collections.ollama.platform.tests.unit.plugins.modules._module_runner import run_module

TOKEN = "unit-test-token-0001"


@pytest.fixture
def start():
    """Start a double with the token and the given models installed (a function, so each test picks its models)."""
    with contextlib.ExitStack() as stack:
        yield lambda *models: stack.enter_context(ollama(api_token=TOKEN, models=list(models)))


def run(args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    return run_module(ollama_model.main, args, check_mode=check_mode, diff=diff)


def base(double, **kwargs) -> dict:
    return {"api_url": double.url, "api_token": TOKEN, **kwargs}


def models(double) -> list[str]:
    return list(installed(double, TOKEN))


def test_pulls_missing_model_and_reports_digest(start):
    double = start("tinyllama:latest")
    result = run(base(double, name=["tinyllama", "qwen2.5:0.5b"]))
    assert not result["failed"], result
    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    digests = installed(double, TOKEN)
    assert {m["name"]: m["digest"] for m in result["models"]}["qwen2.5:0.5b"] == digests["qwen2.5:0.5b"]
    pulls = [path for _method, path in requests_since(double, 0) if path == "/api/pull"]
    assert len(pulls) == 1, "only the missing model may be pulled"


def test_second_run_is_idempotent(start):
    double = start()
    run(base(double, name=["qwen2.5:0.5b"]))
    result = run(base(double, name=["qwen2.5:0.5b"]))
    assert result["changed"] is False
    assert result["pulled"] == []


def test_check_mode_reports_but_does_not_pull(start):
    double = start()
    result = run(base(double, name=["qwen2.5:0.5b"]), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    assert result["diff"] == {"before": {"models": []}, "after": {"models": ["qwen2.5:0.5b"]}}
    sent = requests_since(double, 0)
    assert sent and all(method == "GET" for method, _path in sent), f"check mode must only read: {sent}"
    assert models(double) == []


def test_prune_removes_unlisted_models(start):
    double = start("tinyllama:latest", "qwen2.5:0.5b")
    result = run(base(double, name=["qwen2.5:0.5b"], prune=True))
    assert result["removed"] == ["tinyllama:latest"]
    assert models(double) == ["qwen2.5:0.5b"]


def test_prune_in_check_mode_changes_nothing(start):
    double = start("tinyllama:latest")
    result = run(base(double, name=["qwen2.5:0.5b"], prune=True), check_mode=True)
    assert result["changed"] is True
    assert result["removed"] == ["tinyllama:latest"]
    assert models(double) == ["tinyllama:latest"]


def test_prune_with_empty_list_is_refused(start):
    double = start("tinyllama:latest")
    result = run(base(double, name=[], prune=True))
    assert result["failed"]
    assert "would delete every model" in result["msg"]
    assert models(double) == ["tinyllama:latest"]


def test_state_absent_deletes(start):
    double = start("tinyllama:latest")
    result = run(base(double, name=["tinyllama"], state="absent"))
    assert result["changed"] is True
    assert models(double) == []
    assert run(base(double, name=["tinyllama"], state="absent"))["changed"] is False


def test_unknown_model_fails_with_ollama_message(start):
    double = start()
    result = run(base(double, name=["no-such-model:7b"]))
    assert result["failed"]
    assert "file does not exist" in result["msg"]
    assert "api_url" in result["msg"]


def test_missing_token_gives_401_hint(start):
    double = start()
    result = run({"api_url": double.url, "name": ["tinyllama"]})
    assert result["failed"]
    assert result["status"] == 401
    assert "api_token" in result["msg"]


def test_bad_url_is_rejected():
    result = run({"api_url": "127.0.0.1:11434", "name": ["tinyllama"]})
    assert result["failed"]
    assert "http://" in result["msg"]


def test_api_settings_from_environment(start, monkeypatch):
    double = start()
    monkeypatch.setenv("OLLAMA_API_URL", double.url)
    monkeypatch.setenv("OLLAMA_API_TOKEN", TOKEN)
    result = run({"name": ["tinyllama"]})
    assert not result["failed"], result
    assert result["pulled"] == ["tinyllama"]
