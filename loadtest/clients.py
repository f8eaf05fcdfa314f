"""Timed, validated requests against Ollama, its OpenAI-compatible API and Open-WebUI.

Each function performs ONE request with a ``requests.Session`` and returns a sample dict (see ``new_sample``).
Streaming responses are read with ``iter_lines(chunk_size=None)``: urllib3 then hands over every HTTP chunk as it
arrives, so the time of the first content line is the time the first token reached the client (Locust's
FastHttpUser buffers 1 KiB and would delay it). Timing uses ``time.perf_counter``; the start time for windows is
wall-clock (``time.time``) so samples from several machines line up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

_loads = json.loads
_perf = time.perf_counter

DONE_REASONS = {"stop", "length", "load", "unload"}


class InvalidResponse(Exception):
    """The server answered, but not the way the API promises."""


class StreamError(Exception):
    """The server reported an error inside a 200 stream."""


def new_sample(scenario: str, name: str) -> dict[str, Any]:
    """Return an empty sample: one request's measurements."""
    return {
        "scenario": scenario,
        "name": name,
        "t": time.time(),
        "e2e": 0.0,
        "ttft": None,
        "last": None,
        "tokens": 0,
        "chunks": 0,
        "ok": False,
        "error": None,
        "message": None,
        "status": None,
        "bytes": 0,
        "server": None,
        "served_by": None,
        "gaps": [],
    }


def classify_exception(exc: BaseException) -> str:
    """Map a client-side exception to an error kind."""
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError) or "timed out" in str(exc):
        return "timeout"
    if isinstance(exc, InvalidResponse | ValueError):
        return "invalid_response"
    if isinstance(exc, StreamError):
        return "stream_error"
    return "connection"


def classify_status(status: int, body: str) -> str:
    """Map a non-2xx status to an error kind; Ollama's full queue is a 503 saying the server is busy."""
    if status == 503 and ("server busy" in body or "maximum pending requests" in body):
        return "queue_full"
    if status == 408 or status == 504:
        return "timeout"
    return "http_4xx" if 400 <= status < 500 else "http_5xx"


def _fail(sample: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    sample["ok"] = False
    sample["error"] = kind
    sample["message"] = message[:300]
    return sample


def _error_text(resp: requests.Response) -> str:
    try:
        text = resp.text[:500]
    except requests.RequestException:
        return ""
    try:
        payload = _loads(text)
    except ValueError:
        return text.strip()
    if isinstance(payload, dict) and "error" in payload:
        err = payload["error"]
        return err.get("message", str(err)) if isinstance(err, dict) else str(err)
    return text.strip()


def _run(
    sample: dict[str, Any],
    session: requests.Session,
    method: str,
    url: str,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    timeout: float,
    reader: Callable[[dict[str, Any], requests.Response, float, float], None],
    stream: bool,
) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = dict(headers)
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    sample["t"] = time.time()
    t0 = _perf()
    resp = None
    try:
        resp = session.request(
            method, url, data=data, headers=hdrs, stream=stream, timeout=(min(10.0, timeout), timeout)
        )
        sample["status"] = resp.status_code
        # The target a load balancer names in X-Served-By (the local twin's proxies do; an ALB does not).
        sample["served_by"] = resp.headers.get("X-Served-By")
        if resp.status_code != 200:
            text = _error_text(resp)
            sample["e2e"] = _perf() - t0
            return _fail(sample, classify_status(resp.status_code, text), f"HTTP {resp.status_code}: {text}")
        reader(sample, resp, t0, t0 + timeout)
        sample["ok"] = True
    except (requests.RequestException, OSError) as exc:
        sample["e2e"] = _perf() - t0
        return _fail(sample, classify_exception(exc), f"{type(exc).__name__}: {exc}")
    except (InvalidResponse, StreamError, ValueError, KeyError, TypeError, AttributeError) as exc:
        sample["e2e"] = _perf() - t0
        kind = "stream_error" if isinstance(exc, StreamError) else "invalid_response"
        return _fail(sample, kind, f"{type(exc).__name__}: {exc}")
    finally:
        if resp is not None:
            resp.close()
    return sample


# --------------------------------------------------------------------------------------------- Ollama NDJSON
def _read_ollama_stream(kind: str) -> Callable[[dict[str, Any], requests.Response, float, float], None]:
    def reader(sample: dict[str, Any], resp: requests.Response, t0: float, deadline: float) -> None:
        first = last = None
        gaps = sample["gaps"]
        chunks = 0
        nbytes = 0
        final = None
        for line in resp.iter_lines(chunk_size=None):
            now = _perf()
            if not line:
                continue
            nbytes += len(line)
            if now > deadline:
                raise requests.exceptions.ReadTimeout(f"request exceeded its {deadline - t0:.0f} s deadline")
            obj = _loads(line)
            if final is not None:
                raise InvalidResponse("data after the final done:true chunk")
            if "error" in obj:
                raise StreamError(str(obj["error"]))
            if obj.get("done"):
                final = obj
                continue
            if kind == "chat":
                msg = obj["message"]
                piece = msg.get("content") or msg.get("thinking")
            else:
                piece = obj["response"] or obj.get("thinking")
            if piece:
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
                chunks += 1
        end = _perf()
        sample["bytes"] = nbytes
        sample["e2e"] = end - t0
        sample["chunks"] = chunks
        if first is not None:
            sample["ttft"] = first - t0
            sample["last"] = last - t0
        if final is None:
            raise InvalidResponse("stream ended without a done:true chunk")
        validate_ollama_final(final, chunks)
        sample["server"] = {
            k: final.get(k)
            for k in (
                "total_duration",
                "load_duration",
                "prompt_eval_count",
                "prompt_eval_duration",
                "eval_count",
                "eval_duration",
                "done_reason",
            )
        }
        sample["tokens"] = int(final.get("eval_count") or chunks)

    return reader


def validate_ollama_final(final: Mapping[str, Any], chunks: int) -> None:
    """Check the final chunk of /api/chat or /api/generate against the content chunks that were streamed."""
    eval_count = final.get("eval_count")
    if not isinstance(eval_count, int):
        raise InvalidResponse("final chunk has no integer eval_count")
    for key in ("total_duration", "eval_duration"):
        if not isinstance(final.get(key), int | float):
            raise InvalidResponse(f"final chunk has no {key}")
    reason = final.get("done_reason")
    if reason is not None and reason not in DONE_REASONS:
        raise InvalidResponse(f"unknown done_reason {reason!r}")
    if chunks == 0 and eval_count > 0 and reason not in ("load", "unload"):
        raise InvalidResponse(f"eval_count is {eval_count} but no content was streamed")
    # Ollama holds back partial UTF-8 sequences, so chunks <= tokens; more chunks than tokens is a broken count.
    if chunks > eval_count + 1:
        raise InvalidResponse(f"streamed {chunks} content chunks but eval_count says {eval_count}")


def ollama_chat(
    session: requests.Session,
    base: str,
    model: str,
    messages: list[dict[str, str]],
    options: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: float,
    scenario: str = "chat",
) -> dict[str, Any]:
    """Stream one /api/chat request."""
    sample = new_sample(scenario, "/api/chat")
    body = {"model": model, "messages": messages, "stream": True, "options": dict(options)}
    return _run(sample, session, "POST", base + "/api/chat", body, headers, timeout, _read_ollama_stream("chat"), True)


def ollama_generate(
    session: requests.Session,
    base: str,
    model: str,
    prompt: str,
    options: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: float,
    scenario: str = "generate",
) -> dict[str, Any]:
    """Stream one /api/generate request."""
    sample = new_sample(scenario, "/api/generate")
    body = {"model": model, "prompt": prompt, "stream": True, "options": dict(options)}
    return _run(
        sample, session, "POST", base + "/api/generate", body, headers, timeout, _read_ollama_stream("generate"), True
    )


# --------------------------------------------------------------------------------------------- plain JSON calls
def _read_json(validator: Callable[[Any, dict[str, Any]], None]) -> Callable[..., None]:
    def reader(sample: dict[str, Any], resp: requests.Response, t0: float, deadline: float) -> None:
        content = resp.content
        sample["e2e"] = _perf() - t0
        sample["bytes"] = len(content)
        validator(_loads(content), sample)

    return reader


def _validate_embed(payload: Any, sample: dict[str, Any]) -> None:
    embeddings = payload.get("embeddings")
    if not isinstance(embeddings, list) or not embeddings:
        raise InvalidResponse("response has no embeddings list")
    dims = {len(vec) for vec in embeddings}
    if 0 in dims or len(dims) != 1:
        raise InvalidResponse(f"embeddings have inconsistent or empty dimensions {sorted(dims)}")
    if not all(isinstance(x, int | float) for x in embeddings[0]):
        raise InvalidResponse("embedding values are not numbers")
    sample["server"] = {k: payload.get(k) for k in ("total_duration", "load_duration", "prompt_eval_count")}


def _validate_tags(payload: Any, sample: dict[str, Any]) -> None:
    models = payload.get("models")
    if not isinstance(models, list):
        raise InvalidResponse("response has no models list")
    for entry in models:
        if not isinstance(entry, dict) or not entry.get("name") or "details" not in entry:
            raise InvalidResponse("a models[] entry lacks name or details")


def _validate_show(payload: Any, sample: dict[str, Any]) -> None:
    for key in ("details", "model_info"):
        if not isinstance(payload.get(key), dict):
            raise InvalidResponse(f"response has no {key} object")


def ollama_embed(
    session: requests.Session, base: str, model: str, text: str, headers: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """One /api/embed request."""
    sample = new_sample("embed", "/api/embed")
    body = {"model": model, "input": text}
    reader = _read_json(_validate_embed)
    return _run(sample, session, "POST", base + "/api/embed", body, headers, timeout, reader, False)


def ollama_tags(session: requests.Session, base: str, headers: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """One /api/tags request (model listing)."""
    sample = new_sample("tags", "/api/tags")
    return _run(sample, session, "GET", base + "/api/tags", None, headers, timeout, _read_json(_validate_tags), False)


def ollama_show(
    session: requests.Session, base: str, model: str, headers: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """One /api/show request (model details)."""
    sample = new_sample("show", "/api/show")
    body = {"model": model}
    return _run(sample, session, "POST", base + "/api/show", body, headers, timeout, _read_json(_validate_show), False)


# --------------------------------------------------------------------------------------------- OpenAI-style SSE
def _read_sse(sample: dict[str, Any], resp: requests.Response, t0: float, deadline: float) -> None:
    first = last = None
    gaps = sample["gaps"]
    chunks = 0
    nbytes = 0
    done = False
    usage = None
    finish = None
    for line in resp.iter_lines(chunk_size=None):
        now = _perf()
        if not line or line.startswith(b":"):
            continue
        nbytes += len(line)
        if now > deadline:
            raise requests.exceptions.ReadTimeout(f"request exceeded its {deadline - t0:.0f} s deadline")
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            continue
        if done:
            raise InvalidResponse("data after data: [DONE]")
        obj = _loads(data)
        if obj.get("error"):
            err = obj["error"]
            raise StreamError(err.get("message", str(err)) if isinstance(err, dict) else str(err))
        if obj.get("usage"):
            usage = obj["usage"]
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            piece = delta.get("content") or delta.get("reasoning") or delta.get("reasoning_content")
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if piece:
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
                chunks += 1
    end = _perf()
    sample["bytes"] = nbytes
    sample["e2e"] = end - t0
    sample["chunks"] = chunks
    if first is not None:
        sample["ttft"] = first - t0
        sample["last"] = last - t0
    if not done:
        raise InvalidResponse("stream ended without data: [DONE]")
    if chunks == 0:
        raise InvalidResponse("stream carried no content")
    tokens = chunks
    if usage is not None:
        completion = usage.get("completion_tokens")
        if not isinstance(completion, int):
            raise InvalidResponse("usage has no integer completion_tokens")
        if chunks > completion + 1:
            raise InvalidResponse(f"streamed {chunks} content chunks but usage says {completion} tokens")
        tokens = completion
    sample["tokens"] = tokens
    sample["server"] = {
        "prompt_eval_count": (usage or {}).get("prompt_tokens"),
        "eval_count": (usage or {}).get("completion_tokens"),
        "done_reason": finish,
    }


def openai_chat(
    session: requests.Session,
    url: str,
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int | None,
    headers: Mapping[str, str],
    timeout: float,
    scenario: str = "openai-chat",
    name: str = "/v1/chat/completions",
) -> dict[str, Any]:
    """Stream one OpenAI-compatible chat completion (Ollama's /v1 or Open-WebUI's /api/chat/completions)."""
    sample = new_sample(scenario, name)
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    return _run(sample, session, "POST", url, body, headers, timeout, _read_sse, True)
