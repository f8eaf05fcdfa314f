"""Ollama's OpenAI-compatible endpoints: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings`` and
``/v1/models``, answered in OpenAI's shapes (SSE streams, ``usage``, ``{"error": {"message", "type", ...}}``)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import models as m
from .api import Handlers
from .generation import TOKEN_JSON, TOKEN_TEXT, plan_generation, token_text
from .inference import InferenceRoutes
from .protocol import ApiError, dumps
from .transport import Conn, Routes


class ChatCompletion:
    """One ``/v1/chat/completions`` answer: the chat's tokens as ``chat.completion.chunk`` events or one object."""

    def __init__(self, stream: bool, usage: bool, ident: str) -> None:
        self.stream = stream
        self.usage = usage
        self.id = ident

    def writer(self, conn: Conn, model: str) -> Callable[[int, int], None]:
        conn.start_stream("text/event-stream")
        prefix = b'data: {"id":' + dumps(self.id) + b',"object":"chat.completion.chunk","created":'
        middle = (
            b',"model":'
            + dumps(model)
            + b',"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":'
        )

        def on_token(i: int, tok: int) -> None:
            conn.chunk(
                prefix
                + str(int(time.time())).encode()
                + middle
                + TOKEN_JSON[tok][0 if i == 0 else 1]
                + b'},"finish_reason":null}]}\n\n'
            )

        return on_token

    def finish(self, conn: Conn, model: str, final: dict[str, Any], text: str) -> None:
        usage = {
            "prompt_tokens": final["prompt_eval_count"],
            "completion_tokens": final["eval_count"],
            "total_tokens": final["prompt_eval_count"] + final["eval_count"],
        }
        created = int(time.time())
        if not self.stream:
            conn.json(
                200,
                {
                    "id": self.id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": final["done_reason"],
                        }
                    ],
                    "usage": usage,
                },
                newline=True,
            )
            return
        last = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": final["done_reason"]}
            ],
        }
        conn.chunk(b"data: " + dumps(last) + b"\n\n")
        if self.usage:
            conn.chunk(b"data: " + dumps({**last, "choices": [], "usage": usage}) + b"\n\n")
        conn.chunk(b"data: [DONE]\n\n")
        conn.end_stream()


def openai_error(conn: Conn, status: int, message: str, kind: str | None = None) -> None:
    kind = kind or {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    conn.json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, newline=True)


def request_object(conn: Conn) -> dict | None:
    """The request's JSON object, or None after answering 400 as Ollama does for a body that is not one."""
    try:
        req = json.loads(conn.req.body or b"null")
    except ValueError:
        req = None
    if not isinstance(req, dict):
        openai_error(conn, 400, "unexpected EOF")
        return None
    return req


def openai_options(req: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for src, dst in (
        ("max_tokens", "num_predict"),
        ("seed", "seed"),
        ("stop", "stop"),
        ("temperature", "temperature"),
    ):
        if req.get(src) is not None:
            options[dst] = req[src]
    if req.get("max_completion_tokens") is not None and "num_predict" not in options:
        options["num_predict"] = req["max_completion_tokens"]
    return options


class OpenAIRoutes(Handlers):
    """The ``/v1`` endpoints; chat and embeddings reuse the native handlers' work."""

    def __init__(self, native: InferenceRoutes) -> None:
        super().__init__(native.cfg, native.store, native.sched, native.engine)
        self.native = native

    def routes(self) -> Routes:
        return {
            "/v1/chat/completions": {"POST": self.h_v1_chat},
            "/v1/completions": {"POST": self.h_v1_completions},
            "/v1/embeddings": {"POST": self.h_v1_embeddings},
            "/v1/models": {"GET": self.h_v1_models},
        }

    def prefix_routes(self) -> Routes:
        return {"/v1/models/": {"GET": self.h_v1_model}}

    @staticmethod
    async def wrap(conn: Conn, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except ApiError as e:
            if conn.streaming and conn.sent_headers:
                raise
            # Ollama's middleware passes the handler's status through and reports it as an api_error
            openai_error(conn, e.status, e.message, "api_error")

    async def h_v1_chat(self, conn: Conn) -> None:
        try:
            req = json.loads(conn.req.body or b"null")
            if not isinstance(req, dict):
                raise ValueError("json: cannot unmarshal into Go value of type openai.ChatCompletionRequest")
        except ValueError as e:
            openai_error(conn, 400, str(e) if "Go value" in str(e) else "unexpected EOF")
            return
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            openai_error(conn, 400, "[] is too short - 'messages'")
            return
        msgs = []
        for msg in messages:
            if not isinstance(msg, dict):
                openai_error(conn, 400, "invalid message format")
                return
            content = msg.get("content")
            if isinstance(content, list):
                text = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            elif isinstance(content, str) or content is None:
                text = content or ""
            else:
                openai_error(conn, 400, "invalid message format")
                return
            msgs.append({"role": msg.get("role", "user"), "content": text})
        stream = bool(req.get("stream"))
        include_usage = bool(isinstance(req.get("stream_options"), dict) and req["stream_options"].get("include_usage"))
        body = {"model": req.get("model", ""), "messages": msgs, "options": openai_options(req), "stream": stream}
        out = ChatCompletion(stream, include_usage, f"chatcmpl-{random.randrange(999)}")  # noqa: S311
        await self.wrap(conn, lambda: self.native.chat(conn, body, openai=out))

    async def h_v1_completions(self, conn: Conn) -> None:
        req = request_object(conn)
        if req is None:
            return
        prompt = req.get("prompt")
        if not isinstance(prompt, str):
            openai_error(conn, 400, "invalid prompt: expected a string")
            return
        stream = bool(req.get("stream"))
        include_usage = bool(isinstance(req.get("stream_options"), dict) and req["stream_options"].get("include_usage"))
        cid = f"cmpl-{random.randrange(999)}"  # noqa: S311
        raw = req.get("model", "")

        async def go() -> None:
            model = self.require_model(raw)
            self.check_capability(model, raw, "generate")
            plan = plan_generation(model.name, prompt, openai_options(req), self.cfg.num_predict)
            head = {"id": cid, "object": "text_completion"}
            on_token = None
            if stream:
                conn.start_stream("text/event-stream")

                def on_token(i: int, tok: int) -> None:
                    chunk = {
                        **head,
                        "created": int(time.time()),
                        "choices": [{"text": TOKEN_TEXT[tok][0 if i == 0 else 1], "index": 0, "finish_reason": None}],
                        "model": raw,
                        "system_fingerprint": "fp_ollama",
                    }
                    conn.chunk(b"data: " + dumps(chunk) + b"\n\n")

            metrics = await self.engine.run(conn, model, {"keep_alive": req.get("keep_alive")}, plan, on_token)
            usage = {
                "prompt_tokens": metrics["prompt_eval_count"],
                "completion_tokens": metrics["eval_count"],
                "total_tokens": metrics["prompt_eval_count"] + metrics["eval_count"],
            }
            if not stream:
                conn.json(
                    200,
                    {
                        **head,
                        "created": int(time.time()),
                        "model": raw,
                        "system_fingerprint": "fp_ollama",
                        "choices": [{"text": token_text(plan.tokens), "index": 0, "finish_reason": plan.done_reason}],
                        "usage": usage,
                    },
                    newline=True,
                )
                return
            last = {
                **head,
                "created": int(time.time()),
                "choices": [{"text": "", "index": 0, "finish_reason": plan.done_reason}],
                "model": raw,
                "system_fingerprint": "fp_ollama",
            }
            conn.chunk(b"data: " + dumps(last) + b"\n\n")
            if include_usage:
                conn.chunk(b"data: " + dumps({**last, "choices": [], "usage": usage}) + b"\n\n")
            conn.chunk(b"data: [DONE]\n\n")
            conn.end_stream()

        await self.wrap(conn, go)

    async def h_v1_embeddings(self, conn: Conn) -> None:
        req = request_object(conn)
        if req is None:
            return
        inp = req.get("input")
        if inp == "":
            inp = [""]
        if inp is None or (isinstance(inp, list) and not inp):
            openai_error(conn, 400, "invalid input")
            return
        body = {"model": req.get("model", ""), "input": inp, "dimensions": req.get("dimensions")}

        def answer(raw: str, vectors: list[list[float]], metrics: dict[str, Any]) -> None:
            data = [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)]
            usage = {"prompt_tokens": metrics["prompt_eval_count"], "total_tokens": metrics["prompt_eval_count"]}
            conn.json(200, {"object": "list", "data": data, "model": raw, "usage": usage}, newline=True)

        await self.wrap(conn, lambda: self.native.embed_request(conn, body, answer))

    async def h_v1_models(self, conn: Conn) -> None:
        data = [
            {"id": sm.name, "object": "model", "created": int(sm.modified), "owned_by": m.Name.parse(sm.name).namespace}
            for sm in self.store.list()
        ]
        conn.json(200, {"object": "list", "data": data or None}, newline=True)

    async def h_v1_model(self, conn: Conn) -> None:
        name = conn.req.path[len("/v1/models/") :]
        model = self.store.get(name)
        if model is None:
            openai_error(conn, 404, f"model '{name}' not found", "api_error")
            return
        conn.json(
            200,
            {"id": name, "object": "model", "created": int(model.modified), "owned_by": m.Name.parse(name).namespace},
            newline=True,
        )
