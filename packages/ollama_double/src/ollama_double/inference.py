"""Ollama's inference endpoints: ``/api/generate``, ``/api/chat``, ``/api/embed`` and the legacy ``/api/embeddings``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from . import models as m
from .api import Handlers
from .generation import TOKEN_JSON, Plan, count_words, embedding_vector, plan_generation, token_ids, token_text
from .protocol import ApiError, dumps, field, json_type, keep_alive_of, now_utc, parse_body
from .transport import Conn, Routes

EmbedAnswer = Callable[[str, list[list[float]], dict[str, Any]], None]


class ChatOutput(Protocol):
    """How a chat answers when it is not Ollama's own format (the OpenAI-compatible chat completions)."""

    stream: bool

    def writer(self, conn: Conn, model: str) -> Callable[[int, int], None]: ...

    def finish(self, conn: Conn, model: str, final: dict[str, Any], text: str) -> None: ...


class InferenceRoutes(Handlers):
    """Generation and embeddings, run on the scheduler's slots by the engine."""

    def routes(self) -> Routes:
        return {
            "/api/generate": {"POST": self.h_generate},
            "/api/chat": {"POST": self.h_chat},
            "/api/embed": {"POST": self.h_embed},
            "/api/embeddings": {"POST": self.h_embeddings},
        }

    async def h_generate(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "GenerateRequest")
        raw = field(body, "model", str, "GenerateRequest", "")
        prompt = field(body, "prompt", str, "GenerateRequest", "")
        system = field(body, "system", str, "GenerateRequest", "")
        options = field(body, "options", dict, "GenerateRequest", {})
        stream = field(body, "stream", bool, "GenerateRequest", True)
        model = self.require_model(raw)
        given, keep_ns = keep_alive_of(body)
        if prompt == "" and given and keep_ns == 0:
            self.sched.expire(model.name)
            conn.json(
                200, {"model": raw, "created_at": now_utc(), "response": "", "done": True, "done_reason": "unload"}
            )
            return
        self.check_capability(model, raw, "generate")
        self.check_think_tools(model, raw, body)
        if prompt == "":
            await self.engine.load_only(conn, model, body)
            conn.json(200, {"model": raw, "created_at": now_utc(), "response": "", "done": True, "done_reason": "load"})
            return
        text = f"{system}\n{prompt}" if system else prompt
        plan = plan_generation(model.name, text, options, self.cfg.num_predict)
        prefix = b'{"model":' + dumps(raw) + b',"created_at":"'
        on_token = None
        if stream:
            conn.start_stream("application/x-ndjson")

            def on_token(i: int, tok: int) -> None:
                conn.chunk(
                    prefix
                    + now_utc().encode()
                    + b'","response":'
                    + TOKEN_JSON[tok][0 if i == 0 else 1]
                    + b',"done":false}\n'
                )

        metrics = await self.engine.run(conn, model, body, plan, on_token)
        final: dict[str, Any] = {
            "model": raw,
            "created_at": now_utc(),
            "response": "" if stream else token_text(plan.tokens),
            "done": True,
            "done_reason": plan.done_reason,
        }
        if not body.get("raw"):
            final["context"] = plan.prompt_ids + token_ids(plan.tokens)
        final.update(metrics)
        if stream:
            conn.chunk(dumps(final) + b"\n")
            conn.end_stream()
        else:
            conn.json(200, final)

    @staticmethod
    def chat_prompt(messages: list[Any]) -> str:
        parts = []
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise ApiError(
                    400,
                    f"json: cannot unmarshal {json_type(msg)} into Go struct field ChatRequest.messages "
                    "of type api.Message",
                )
            content = msg.get("content", "")
            if not isinstance(content, str):
                raise ApiError(
                    400,
                    f"json: cannot unmarshal {json_type(content)} into Go struct field "
                    f"ChatRequest.messages.content of type string (message {i})",
                )
            parts.append(content)
        return "\n".join(parts)

    async def h_chat(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "ChatRequest")
        await self.chat(conn, body, openai=None)

    async def chat(self, conn: Conn, body: dict[str, Any], openai: ChatOutput | None) -> None:
        raw = field(body, "model", str, "ChatRequest", "")
        messages = field(body, "messages", list, "ChatRequest", [])
        options = field(body, "options", dict, "ChatRequest", {})
        stream = field(body, "stream", bool, "ChatRequest", True)
        model = self.require_model(raw, missing_status=400, missing="model is required")
        given, keep_ns = keep_alive_of(body)
        empty = {"model": raw, "created_at": now_utc(), "message": {"role": "assistant", "content": ""}, "done": True}
        if not messages and given and keep_ns == 0:
            self.sched.expire(model.name)
            conn.json(200, {**empty, "done_reason": "unload"})
            return
        self.check_capability(model, raw, "chat")
        self.check_think_tools(model, raw, body)
        if not messages:
            await self.engine.load_only(conn, model, body)
            conn.json(200, {**empty, "created_at": now_utc(), "done_reason": "load"})
            return
        prompt = self.chat_prompt(messages)
        plan = plan_generation(model.name, prompt, options, self.cfg.num_predict)
        on_token = None
        if openai is not None:
            on_token = openai.writer(conn, raw) if openai.stream else None
        elif stream:
            conn.start_stream("application/x-ndjson")
            prefix = b'{"model":' + dumps(raw) + b',"created_at":"'

            def on_token(i: int, tok: int) -> None:
                conn.chunk(
                    prefix
                    + now_utc().encode()
                    + b'","message":{"role":"assistant","content":'
                    + TOKEN_JSON[tok][0 if i == 0 else 1]
                    + b'},"done":false}\n'
                )

        metrics = await self.engine.run(conn, model, body, plan, on_token)
        content = "" if (stream if openai is None else openai.stream) else token_text(plan.tokens)
        final = {
            "model": raw,
            "created_at": now_utc(),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": plan.done_reason,
            **metrics,
        }
        if openai is not None:
            openai.finish(conn, raw, final, token_text(plan.tokens))
        elif stream:
            conn.chunk(dumps(final) + b"\n")
            conn.end_stream()
        else:
            conn.json(200, final)

    async def embed(self, conn: Conn, model: m.StoredModel, body: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
        plan = Plan([], "stop", max(1, count_words(*inputs)), [])
        return await self.engine.run(conn, model, body, plan, None)

    async def embed_request(self, conn: Conn, body: dict[str, Any], answer: EmbedAnswer) -> None:
        """Embed an ``/api/embed``-shaped body and ``answer(model as asked, vectors, metrics)``; no input only loads."""
        raw = field(body, "model", str, "EmbedRequest", "")
        inp = body.get("input")
        inputs: list[str] = []
        if isinstance(inp, str):
            if inp:
                inputs.append(inp)
        elif isinstance(inp, list):
            for v in inp:
                if not isinstance(v, str):
                    raise ApiError(400, "invalid input type")
                inputs.append(v)
        elif inp is not None:
            raise ApiError(400, "invalid input type")
        dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) else 0
        model = self.require_model(raw)
        if not inputs:
            await self.engine.load_only(conn, model, body)
            conn.json(200, {"model": raw, "embeddings": []})
            return
        metrics = await self.embed(conn, model, body, inputs)
        size = model.spec.embedding_length
        if 0 < dims < size:
            size = dims
        answer(raw, [embedding_vector(model.name, text, size) for text in inputs], metrics)

    async def h_embed(self, conn: Conn) -> None:
        def answer(raw: str, vectors: list[list[float]], metrics: dict[str, Any]) -> None:
            conn.json(
                200,
                {
                    "model": raw,
                    "embeddings": vectors,
                    "total_duration": metrics["total_duration"],
                    "load_duration": metrics["load_duration"],
                    "prompt_eval_count": metrics["prompt_eval_count"],
                },
            )

        await self.embed_request(conn, parse_body(conn.req.body, "EmbedRequest"), answer)

    async def h_embeddings(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "EmbeddingRequest")
        raw = field(body, "model", str, "EmbeddingRequest", "")
        prompt = field(body, "prompt", str, "EmbeddingRequest", "")
        if not raw.strip() or not m.Name.parse(raw.strip()).valid:
            raise ApiError(400, "model is required")
        model = self.store.get(raw)
        if model is None:
            raise ApiError(404, f'model "{raw}" not found, try pulling it first')
        if not prompt:
            await self.engine.load_only(conn, model, body)
            conn.json(200, {"embedding": []})
            return
        await self.embed(conn, model, body, [prompt])
        conn.json(200, {"embedding": embedding_vector(model.name, prompt, model.spec.embedding_length)})
