"""Every response is validated: real endpoints of the Ollama double, and malformed answers from a canned server."""

from __future__ import annotations

import json

import pytest
import requests
from loadtest_fakes import canned, chat_done, chat_line, ndjson, serve

from loadtest import clients
from ollama_double import running_double

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
OPTS = {"num_predict": 12, "temperature": 0}


@pytest.fixture(scope="module")
def double():
    with running_double(
        ttft_ms=100,
        tokens_per_second=100,
        load_ms=50,
        num_predict=12,
        num_parallel=8,
        models=["llama3.2:1b", "nomic-embed-text"],
    ) as handle:
        yield handle.url


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def test_chat_and_generate_streams(double, session):
    messages = [{"role": "user", "content": "hello"}]
    chat = clients.ollama_chat(session, double, "llama3.2:1b", messages, OPTS, {}, 30)
    assert chat["ok"], chat["message"]
    assert chat["tokens"] == chat["chunks"] == 12
    assert 0.09 < chat["ttft"] < chat["last"] < chat["e2e"]
    assert len(chat["gaps"]) == 11
    assert chat["server"]["eval_count"] == 12
    gen = clients.ollama_generate(session, double, "llama3.2:1b", "hello", OPTS, {}, 30)
    assert gen["ok"], gen["message"]
    assert gen["name"] == "/api/generate"
    assert gen["tokens"] == 12


def test_openai_chat_stream(double, session):
    messages = [{"role": "user", "content": "hello"}]
    sample = clients.openai_chat(session, double + "/v1/chat/completions", "llama3.2:1b", messages, 12, {}, 30)
    assert sample["ok"], sample["message"]
    assert sample["chunks"] >= 10
    assert sample["ttft"] is not None


def test_embed_tags_show(double, session):
    embed = clients.ollama_embed(session, double, "nomic-embed-text", "some text", {}, 30)
    assert embed["ok"], embed["message"]
    tags = clients.ollama_tags(session, double, {}, 30)
    assert tags["ok"], tags["message"]
    show = clients.ollama_show(session, double, "llama3.2:1b", {}, 30)
    assert show["ok"], show["message"]
    missing = clients.ollama_show(session, double, "no-such-model", {}, 30)
    assert (missing["ok"], missing["error"], missing["status"]) == (False, "http_4xx", 404)
    assert "not found" in missing["message"]


def test_missing_model_on_chat_is_an_http_error(double, session):
    sample = clients.ollama_chat(session, double, "absent:7b", [{"role": "user", "content": "x"}], OPTS, {}, 30)
    assert sample["error"] == "http_4xx"
    assert "model 'absent:7b' not found" in sample["message"]


BROKEN = {
    ("POST", "/error-line"): (200, NDJSON, ndjson(chat_line("a"), {"error": "model runner crashed"}), 0.0),
    ("POST", "/no-done"): (200, NDJSON, ndjson(chat_line("a"), chat_line("b")), 0.0),
    ("POST", "/after-done"): (200, NDJSON, ndjson(chat_line("a"), chat_done(1), chat_line("b")), 0.0),
    ("POST", "/bad-count"): (200, NDJSON, ndjson(*[chat_line("a")] * 5, chat_done(2)), 0.0),
    ("POST", "/bad-json"): (200, NDJSON, [b'{"model": "m", "message": {"con\n'], 0.0),
    ("POST", "/no-message"): (200, NDJSON, ndjson({"model": "m", "done": False}, chat_done(0)), 0.0),
    ("POST", "/busy"): (
        503,
        "application/json",
        [json.dumps({"error": "server busy, please try again.  maximum pending requests exceeded"}).encode()],
        0.0,
    ),
    ("POST", "/bad-gateway"): (502, "text/html", [b"<html>bad gateway</html>"], 0.0),
    ("POST", "/slow"): (200, NDJSON, ndjson(chat_line("a"), chat_line("b"), chat_done(2)), 0.6),
    ("POST", "/good"): (200, NDJSON, ndjson(chat_line("a"), chat_line("b"), chat_done(2)), 0.0),
    ("POST", "/sse-no-done"): (200, SSE, [b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n'], 0.0),
    ("POST", "/sse-error"): (200, SSE, [b'data: {"error": {"message": "upstream failed"}}\n\n'], 0.0),
    ("POST", "/embed-empty"): (200, "application/json", [b'{"embeddings": []}'], 0.0),
}


@pytest.fixture(scope="module")
def broken():
    with serve(canned(BROKEN)) as url:
        yield url


def _chat(session, url, timeout=10.0):
    sample = clients.new_sample("chat", "/x")
    reader = clients._read_ollama_stream("chat")
    return clients._run(sample, session, "POST", url, {"model": "m"}, {}, timeout, reader, True)


@pytest.mark.parametrize(
    ("path", "kind", "text"),
    [
        ("/error-line", "stream_error", "model runner crashed"),
        ("/no-done", "invalid_response", "without a done:true chunk"),
        ("/after-done", "invalid_response", "after the final done"),
        ("/bad-count", "invalid_response", "5 content chunks but eval_count says 2"),
        ("/bad-json", "invalid_response", "JSONDecodeError"),
        ("/no-message", "invalid_response", "KeyError"),
        ("/busy", "queue_full", "HTTP 503"),
        ("/bad-gateway", "http_5xx", "HTTP 502"),
    ],
)
def test_invalid_ollama_streams_are_classified(broken, session, path, kind, text):
    sample = _chat(session, broken + path)
    assert not sample["ok"]
    assert sample["error"] == kind
    assert text in sample["message"]


def test_good_canned_stream_passes(broken, session):
    sample = _chat(session, broken + "/good")
    assert sample["ok"], sample["message"]
    assert sample["tokens"] == 2


def test_deadline_is_a_timeout(broken, session):
    sample = _chat(session, broken + "/slow", timeout=0.3)
    assert sample["error"] == "timeout"


def test_unreachable_is_a_connection_error(session):
    with serve(canned({})) as url:
        pass  # the port is closed again
    sample = _chat(session, url + "/good")
    assert sample["error"] == "connection"


def test_invalid_sse_and_embeddings(broken, session):
    msgs = [{"role": "user", "content": "x"}]
    no_done = clients.openai_chat(session, broken + "/sse-no-done", "m", msgs, 4, {}, 10)
    assert (no_done["error"], "[DONE]" in no_done["message"]) == ("invalid_response", True)
    err = clients.openai_chat(session, broken + "/sse-error", "m", msgs, 4, {}, 10)
    assert (err["error"], err["message"]) == ("stream_error", "StreamError: upstream failed")
    sample = clients.new_sample("embed", "/api/embed")
    reader = clients._read_json(clients._validate_embed)
    empty = clients._run(sample, session, "POST", broken + "/embed-empty", {}, {}, 10, reader, False)
    assert empty["error"] == "invalid_response"


def test_the_target_a_load_balancer_names_is_kept_with_each_answer(session):
    """A failed request is traced to the target that answered it (the local twin's proxies name it in X-Served-By);
    without the header the sample says none."""

    def app(handler, method, body):
        handler.send_response(502)
        if handler.path == "/named":
            handler.send_header("X-Served-By", "i-0123456789abcdef0")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with serve(app) as url:
        named = _chat(session, url + "/named")
        unnamed = _chat(session, url + "/unnamed")
    assert (named["error"], named["served_by"]) == ("http_5xx", "i-0123456789abcdef0")
    assert (unnamed["error"], unnamed["served_by"]) == ("http_5xx", None)
