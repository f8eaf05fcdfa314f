"""Ollama's model-management endpoints (``/``, version, tags, ps, show, pull, delete, copy, create, push), and the
base every group of handlers shares: settings, model store, scheduler and engine, and the checks on a model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from . import models as m
from .protocol import ApiError, dumps, field, parse_body
from .scheduler import Engine, Scheduler
from .transport import Conn, Routes


class Handlers:
    """What every handler group reads: settings, the model store, the scheduler and the generation engine."""

    def __init__(self, cfg: Any, store: m.ModelStore, sched: Scheduler, engine: Engine) -> None:
        self.cfg = cfg
        self.store = store
        self.sched = sched
        self.engine = engine

    def routes(self) -> Routes:
        raise NotImplementedError

    def require_model(self, raw: Any, *, missing_status: int = 404, missing: str | None = None) -> m.StoredModel:
        name = raw if isinstance(raw, str) else ""
        parsed = m.Name.parse(name.strip()) if name.strip() else None
        if parsed is None or not parsed.valid:
            raise ApiError(missing_status, missing if missing is not None else f"model '{name}' not found")
        model = self.store.get(name)
        if model is None:
            raise ApiError(404, f"model '{name}' not found")
        return model

    @staticmethod
    def check_capability(model: m.StoredModel, name: str, what: str) -> None:
        if model.spec.embedding_only:
            raise ApiError(400, f'"{name}" does not support {what}')

    @staticmethod
    def check_think_tools(model: m.StoredModel, name: str, body: dict[str, Any]) -> None:
        if body.get("think") not in (None, False) and "thinking" not in model.spec.capabilities:
            raise ApiError(400, f'"{name}" does not support thinking')
        fq = m.Name.parse(model.name)
        for key, capability in (("tools", "tools"), ("suffix", "insert")):
            if body.get(key) and capability not in model.spec.capabilities:
                raise ApiError(400, f"{fq.host}/{fq.namespace}/{fq.model}:{fq.tag} does not support {capability}")


class ModelRoutes(Handlers):
    """The endpoints that list, describe, fetch and remove models."""

    def routes(self) -> Routes:
        return {
            "/": {"GET": self.h_root, "HEAD": self.h_root},
            "/api/version": {"GET": self.h_version, "HEAD": self.h_version},
            "/api/tags": {"GET": self.h_tags, "HEAD": self.h_tags},
            "/api/ps": {"GET": self.h_ps},
            "/api/show": {"POST": self.h_show},
            "/api/pull": {"POST": self.h_pull},
            "/api/push": {"POST": self.h_push},
            "/api/delete": {"DELETE": self.h_delete},
            "/api/copy": {"POST": self.h_copy},
            "/api/create": {"POST": self.h_create},
        }

    async def h_root(self, conn: Conn) -> None:
        conn.send(200, b"Ollama is running", "text/plain; charset=utf-8")

    async def h_version(self, conn: Conn) -> None:
        conn.json(200, {"version": self.cfg.version})

    def tags(self) -> list[dict[str, Any]]:
        return [
            {
                "name": sm.name,
                "model": sm.name,
                "modified_at": m.go_time_local(sm.modified),
                "size": sm.size,
                "digest": sm.digest,
                "details": sm.details(),
            }
            for sm in self.store.list()
        ]

    async def h_tags(self, conn: Conn) -> None:
        conn.json(200, {"models": self.tags()})

    async def h_ps(self, conn: Conn) -> None:
        out = []
        for r in sorted(self.sched.loaded(), key=lambda r: -int(r.expires_at)):
            out.append(
                {
                    "name": r.model.name,
                    "model": r.model.name,
                    "size": r.vram_size,
                    "digest": r.model.digest,
                    "details": r.model.details(),
                    "expires_at": m.go_time_local(r.expires_at),
                    "size_vram": 0,
                    "context_length": r.context_length,
                }
            )
        conn.json(200, {"models": out})

    def show(self, model: m.StoredModel) -> dict[str, Any]:
        spec = model.spec
        arch = spec.family
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.basename": model.name.split(":")[0].split("/")[-1],
            "general.file_type": {"F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15}.get(spec.quantization, 15),
            "general.parameter_count": spec.parameter_count,
            "general.quantization_version": 2,
            f"{arch}.block_count": spec.block_count,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.embedding_length": spec.embedding_length,
            "tokenizer.ggml.model": "gpt2" if not spec.embedding_only else "bert",
        }
        blob = self.store.blob_path(model.model_digest) if model.model_digest else Path("/nonexistent")
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {model.name}\n\n"
            f"FROM {blob}\n"
        )
        out: dict[str, Any] = {
            "license": f"License of {model.name} (stand-in text for tests).\n",
            "modelfile": modelfile,
        }
        if not spec.embedding_only:
            out["parameters"] = 'stop                           "<|end|>"'
            out["template"] = model.template or m.CHAT_TEMPLATE
            out["modelfile"] += f'TEMPLATE """{out["template"]}"""\nPARAMETER stop <|end|>\n'
        out["details"] = model.details()
        out["model_info"] = info
        out["capabilities"] = list(spec.capabilities)
        out["modified_at"] = m.go_time_local(model.modified)
        return out

    async def h_show(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "ShowRequest")
        name = field(body, "model", str, "ShowRequest", "") or field(body, "name", str, "ShowRequest", "")
        if not name:
            raise ApiError(400, "model is required")
        if not m.Name.parse(name.strip()).valid:
            raise ApiError(400, "invalid model name")
        model = self.store.get(name)
        if model is None:
            raise ApiError(404, f"model '{name}' not found")
        conn.json(200, self.show(model))

    async def h_delete(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "DeleteRequest")
        name = field(body, "model", str, "DeleteRequest", "") or field(body, "name", str, "DeleteRequest", "")
        if not m.Name.parse(name.strip()).valid:
            raise ApiError(400, f'name "{name}" is invalid')
        found = self.store.get(name)
        if found is None:
            raise ApiError(404, f"model '{name}' not found")
        self.sched.expire(found.name)
        self.store.delete(name)
        conn.send(200, b"", "text/plain; charset=utf-8")

    async def h_copy(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "CopyRequest")
        src = field(body, "source", str, "CopyRequest", "")
        dst = field(body, "destination", str, "CopyRequest", "")
        if not m.Name.parse(src).valid:
            raise ApiError(400, f'source "{src}" is invalid')
        if not m.Name.parse(dst).valid:
            raise ApiError(400, f'destination "{dst}" is invalid')
        if not self.store.copy(src, dst):
            raise ApiError(404, f'model "{src}" not found')
        conn.send(200, b"", "text/plain; charset=utf-8")

    async def h_push(self, conn: Conn) -> None:
        raise ApiError(500, "push is not supported by this server: it has no registry to push to")

    async def h_create(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "CreateRequest")
        name = field(body, "model", str, "CreateRequest", "") or field(body, "name", str, "CreateRequest", "")
        src = field(body, "from", str, "CreateRequest", "")
        if not name or not m.Name.parse(name).valid:
            raise ApiError(400, "invalid model name")
        if not src:
            raise ApiError(400, "neither 'from' or 'files' was specified")
        source = self.store.get(src)
        if source is None:
            raise ApiError(404, f"model '{src}' not found")
        stream = body.get("stream") is not False
        statuses = [{"status": "gathering model components"}]
        self.store.copy(source.name, name)
        statuses += [{"status": f"using existing layer sha256:{source.model_digest[7:]}"}]
        statuses += [{"status": "writing manifest"}, {"status": "success"}]
        if not stream:
            conn.json(200, statuses[-1])
            return
        conn.start_stream("application/x-ndjson")
        for s in statuses:
            conn.chunk(dumps(s) + b"\n")
        conn.end_stream()

    async def h_pull(self, conn: Conn) -> None:
        body = parse_body(conn.req.body, "PullRequest")
        raw = field(body, "model", str, "PullRequest", "") or field(body, "name", str, "PullRequest", "")
        parsed = m.Name.parse(raw.strip())
        if not raw.strip() or not parsed.valid:
            raise ApiError(400, "invalid model name")
        name = parsed.display()
        existing = self.store.find(raw)
        if existing:
            name = existing[0].display()
        stream = body.get("stream") is not False
        loop = asyncio.get_running_loop()
        if stream:
            conn.start_stream("application/x-ndjson")
        last: dict[str, Any] = {}

        def emit(obj: dict[str, Any]) -> None:
            nonlocal last
            last = obj
            if stream:
                conn.chunk(dumps(obj) + b"\n")

        emit({"status": "pulling manifest"})
        registry = {n.lower(): n for n in self.cfg.registry}
        if name.lower() not in registry:
            msg = "pull model manifest: file does not exist"
            if stream:
                conn.chunk(dumps({"error": msg}) + b"\n")
                conn.end_stream()
                return
            raise ApiError(500, msg)
        canonical = registry[name.lower()]
        if existing is None:
            name = canonical
        manifest, blobs = self.store.build(canonical, m.spec_for(canonical))
        mf = json.loads(manifest)
        layers = [*mf["layers"], mf["config"]]
        total = sum(layer["size"] for layer in layers) or 1
        budget = self.cfg.pull_ms / 1000.0
        for layer in layers:
            digest, size = layer["digest"], layer["size"]
            status = f"pulling {digest[7:19]}"
            if self.store.has_blob(digest):
                emit({"status": status, "digest": digest, "total": size, "completed": size})
                continue
            emit({"status": status, "digest": digest, "total": size})
            share = budget * size / total
            t_start = loop.time()
            while True:
                await asyncio.sleep(min(0.06, max(share, 0.0)))
                frac = 1.0 if share <= 0 else min(1.0, (loop.time() - t_start) / share)
                done = int(size * frac)
                emit({"status": status, "digest": digest, "total": size, "completed": max(done, 1)})
                if frac >= 1.0:
                    break
            self.store.write_blob(digest, blobs[digest])
        emit({"status": "verifying sha256 digest"})
        emit({"status": "writing manifest"})
        self.store.write_manifest(name, manifest)
        emit({"status": "success"})
        if stream:
            conn.end_stream()
        else:
            conn.json(200, last)
