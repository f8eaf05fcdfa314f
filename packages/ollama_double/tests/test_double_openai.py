"""OpenAI-compatible endpoints of the double, read with ``requests`` as an OpenAI-style client would."""

from __future__ import annotations

import json

import requests

from ollama_double import RunningDouble, running_double

MESSAGES = [{"role": "user", "content": "tell me something"}]


def _sse(resp: requests.Response) -> list[str]:
    return [line for line in resp.iter_lines(decode_unicode=True) if line]


def test_chat_completions_sse_with_usage(double: RunningDouble) -> None:
    body = {
        "model": "llama3.2:1b",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 5,
        "stream_options": {"include_usage": True},
    }
    with requests.post(double.url + "/v1/chat/completions", json=body, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        events = _sse(r)
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    content = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] is None]
    assert len(content) == 5
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "llama3.2:1b" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in content)
    last = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert last[0]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_chat_completions_json(double: RunningDouble) -> None:
    r = requests.post(
        double.url + "/v1/chat/completions", json={"model": "llama3.2:1b", "messages": MESSAGES}, timeout=30
    )
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["system_fingerprint"] == "fp_ollama"
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    assert data["usage"]["completion_tokens"] == 8
    native = requests.post(
        double.url + "/api/chat", json={"model": "llama3.2:1b", "messages": MESSAGES, "stream": False}, timeout=30
    ).json()
    assert native["message"]["content"] == choice["message"]["content"]


def test_chat_completions_errors(double: RunningDouble) -> None:
    r = requests.post(double.url + "/v1/chat/completions", json={"model": "missing", "messages": MESSAGES}, timeout=30)
    assert r.status_code == 404
    assert r.json() == {
        "error": {"message": "model 'missing' not found", "type": "api_error", "param": None, "code": None}
    }
    r = requests.post(double.url + "/v1/chat/completions", json={"model": "llama3.2:1b", "messages": []}, timeout=30)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"] == "[] is too short - 'messages'"


def test_completions_stream(double: RunningDouble) -> None:
    body = {"model": "llama3.2:1b", "prompt": "once upon", "stream": True, "max_tokens": 3}
    with requests.post(double.url + "/v1/completions", json=body, stream=True, timeout=30) as r:
        events = _sse(r)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "length"]
    assert all(c["object"] == "text_completion" for c in chunks)


def test_models_and_embeddings(double: RunningDouble) -> None:
    models = requests.get(double.url + "/v1/models", timeout=30).json()
    assert models["object"] == "list"
    ids = {m["id"] for m in models["data"]}
    assert {"llama3.2:1b", "nomic-embed-text:latest"} <= ids
    assert all(m["object"] == "model" and m["owned_by"] == "library" for m in models["data"])
    one = requests.get(double.url + "/v1/models/llama3.2:1b", timeout=30)
    assert one.status_code == 200 and one.json()["id"] == "llama3.2:1b"
    assert requests.get(double.url + "/v1/models/missing", timeout=30).status_code == 404
    emb = requests.post(
        double.url + "/v1/embeddings", json={"model": "nomic-embed-text", "input": ["a b", "c"]}, timeout=30
    ).json()
    assert [d["index"] for d in emb["data"]] == [0, 1]
    assert len(emb["data"][0]["embedding"]) == 768
    assert emb["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_models_list_is_null_without_models() -> None:
    with running_double(in_process=True) as empty:
        assert requests.get(empty.url + "/v1/models", timeout=30).json() == {"object": "list", "data": None}
