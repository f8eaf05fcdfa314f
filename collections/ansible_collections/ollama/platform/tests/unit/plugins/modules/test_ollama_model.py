"""Unit tests for the ollama_model module (real HTTP against an in-process fake Ollama)."""

from __future__ import annotations

import pytest
from ansible_collections.ollama.platform.plugins.modules import ollama_model
from ansible_collections.ollama.platform.tests.unit.plugins.module_utils.ollama_fake import FakeOllama, digest_of
from ansible_collections.ollama.platform.tests.unit.plugins.modules._module_runner import run_module


@pytest.fixture
def fake():
    server = FakeOllama(token="unit-test-token-0001").start()
    yield server
    server.stop()


def run(args: dict, check_mode: bool = False, diff: bool = False) -> dict:
    return run_module(ollama_model.main, args, check_mode=check_mode, diff=diff)


def base(fake: FakeOllama, **kwargs) -> dict:
    return {"api_url": fake.url, "api_token": "unit-test-token-0001", **kwargs}


def test_pulls_missing_model_and_reports_digest(fake):
    fake.add("tinyllama:latest")
    result = run(base(fake, name=["tinyllama", "qwen2.5:0.5b"]))
    assert not result["failed"], result
    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    assert {m["name"]: m["digest"] for m in result["models"]}["qwen2.5:0.5b"] == digest_of("qwen2.5:0.5b")
    pulls = [r for r in fake.requests if r[1] == "/api/pull"]
    assert len(pulls) == 1, "only the missing model may be pulled"


def test_second_run_is_idempotent(fake):
    run(base(fake, name=["qwen2.5:0.5b"]))
    result = run(base(fake, name=["qwen2.5:0.5b"]))
    assert result["changed"] is False
    assert result["pulled"] == []


def test_check_mode_reports_but_does_not_pull(fake):
    result = run(base(fake, name=["qwen2.5:0.5b"]), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    assert result["diff"] == {"before": {"models": []}, "after": {"models": ["qwen2.5:0.5b"]}}
    assert fake.models == {}
    assert not [r for r in fake.requests if r[0] != "GET"], "check mode must only read"


def test_prune_removes_unlisted_models(fake):
    fake.add("tinyllama:latest")
    fake.add("qwen2.5:0.5b")
    result = run(base(fake, name=["qwen2.5:0.5b"], prune=True))
    assert result["removed"] == ["tinyllama:latest"]
    assert list(fake.models) == ["qwen2.5:0.5b"]


def test_prune_in_check_mode_changes_nothing(fake):
    fake.add("tinyllama:latest")
    result = run(base(fake, name=["qwen2.5:0.5b"], prune=True), check_mode=True)
    assert result["changed"] is True
    assert result["removed"] == ["tinyllama:latest"]
    assert list(fake.models) == ["tinyllama:latest"]


def test_prune_with_empty_list_is_refused(fake):
    fake.add("tinyllama:latest")
    result = run(base(fake, name=[], prune=True))
    assert result["failed"]
    assert "would delete every model" in result["msg"]
    assert list(fake.models) == ["tinyllama:latest"]


def test_state_absent_deletes(fake):
    fake.add("tinyllama:latest")
    result = run(base(fake, name=["tinyllama"], state="absent"))
    assert result["changed"] is True
    assert fake.models == {}
    assert run(base(fake, name=["tinyllama"], state="absent"))["changed"] is False


def test_unknown_model_fails_with_ollama_message(fake):
    result = run(base(fake, name=["no-such-model:7b"]))
    assert result["failed"]
    assert "file does not exist" in result["msg"]
    assert "api_url" in result["msg"]


def test_missing_token_gives_401_hint(fake):
    result = run({"api_url": fake.url, "name": ["tinyllama"]})
    assert result["failed"]
    assert result["status"] == 401
    assert "api_token" in result["msg"]


def test_bad_url_is_rejected(fake):
    result = run({"api_url": "127.0.0.1:11434", "name": ["tinyllama"]})
    assert result["failed"]
    assert "http://" in result["msg"]


def test_api_settings_from_environment(fake, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_URL", fake.url)
    monkeypatch.setenv("OLLAMA_API_TOKEN", "unit-test-token-0001")
    result = run({"name": ["tinyllama"]})
    assert not result["failed"], result
    assert result["pulled"] == ["tinyllama"]
