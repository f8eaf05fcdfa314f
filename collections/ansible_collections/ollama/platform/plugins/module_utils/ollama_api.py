# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small HTTP client for the Ollama REST API (stdlib only, bearer token support).

Used by the ``ollama.platform.ollama_model`` and ``ollama.platform.ollama_info`` modules.  It talks either to
Ollama directly (``http://127.0.0.1:11434``) or through the authenticating nginx proxy (``http://host:8000`` with
``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from ansible.module_utils.basic import env_fallback

DEFAULT_API_URL = "http://127.0.0.1:11434"
DEFAULT_TAG = "latest"


class OllamaAPIError(Exception):
    """An Ollama API call failed (transport error, HTTP error or an ``{"error": ...}`` body)."""

    def __init__(self, message: str, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{code}{self.message}{where}"


def normalize_model_name(name: str) -> str:
    """Return the canonical form Ollama lists a model under: lower case, ``:latest`` added when no tag is given.

    ``tinyllama`` -> ``tinyllama:latest``; ``hf.co/org/repo:Q4_K_M`` keeps its tag; a registry host with a port
    (``registry:5000/lib/model``) is not mistaken for a tag.
    """
    cleaned = name.strip()
    if not cleaned:
        raise ValueError("model name is empty")
    last = cleaned.rsplit("/", 1)[-1]
    if ":" not in last:
        cleaned = f"{cleaned}:{DEFAULT_TAG}"
    return cleaned.lower()


def plan_models(wanted: list[str], present: list[str], state: str, prune: bool) -> tuple[list[str], list[str]]:
    """Decide which models to pull and which to delete.

    ``wanted`` are the requested names (any form), ``present`` the names ``/api/tags`` lists. Returns
    ``(to_pull, to_remove)`` with names in the form the user gave (pull) or Ollama lists (remove), order kept.
    """
    present_map = {normalize_model_name(p): p for p in present}
    wanted_norm: dict[str, str] = {}
    for name in wanted:
        wanted_norm.setdefault(normalize_model_name(name), name)
    if state == "present":
        to_pull = [orig for norm, orig in wanted_norm.items() if norm not in present_map]
        to_remove = [orig for norm, orig in present_map.items() if prune and norm not in wanted_norm]
        return to_pull, to_remove
    if state == "absent":
        return [], [present_map[norm] for norm in wanted_norm if norm in present_map]
    raise ValueError(f"unknown state {state!r}; use 'present' or 'absent'")


def summarize_models(tags: dict[str, Any]) -> list[dict[str, Any]]:
    """Reduce an ``/api/tags`` (or ``/api/ps``) answer to name, digest, size (+ details when present)."""
    result = []
    for item in tags.get("models") or []:
        entry = {
            "name": item.get("name") or item.get("model"),
            "digest": item.get("digest"),
            "size": item.get("size"),
        }
        for key in ("modified_at", "expires_at", "size_vram", "context_length"):
            if key in item:
                entry[key] = item[key]
        details = item.get("details") or {}
        if details:
            entry["parameter_size"] = details.get("parameter_size")
            entry["quantization_level"] = details.get("quantization_level")
            entry["family"] = details.get("family")
        result.append(entry)
    return result


def generation_metrics(
    started: float, first_token_at: float | None, finished: float, final: dict[str, Any], tokens_seen: int
) -> dict[str, Any]:
    """Compute client-side and server-side speed figures of one streamed generation.

    ``started``/``first_token_at``/``finished`` are ``time.monotonic()`` readings; ``final`` is the last stream
    object (``done: true``) with Ollama's nanosecond durations; ``tokens_seen`` the non-empty chunks received.
    """
    eval_count = int(final.get("eval_count") or tokens_seen)
    eval_duration_ns = int(final.get("eval_duration") or 0)
    ttft = (first_token_at - started) if first_token_at is not None else None
    stream_time = (finished - first_token_at) if first_token_at is not None else None
    client_tps = None
    if stream_time and stream_time > 0 and eval_count > 1:
        client_tps = (eval_count - 1) / stream_time
    server_tps = (eval_count / (eval_duration_ns / 1e9)) if eval_duration_ns > 0 else None
    return {
        "time_to_first_token_s": round(ttft, 4) if ttft is not None else None,
        "total_time_s": round(finished - started, 4),
        "tokens_per_second": round(client_tps, 2) if client_tps is not None else None,
        "server_tokens_per_second": round(server_tps, 2) if server_tps is not None else None,
        "eval_count": eval_count,
        "prompt_eval_count": final.get("prompt_eval_count"),
        "load_duration_s": round(int(final.get("load_duration") or 0) / 1e9, 4),
        "done_reason": final.get("done_reason"),
    }


class OllamaClient:
    """Minimal Ollama API client on ``urllib`` (the modules must not depend on third-party packages)."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        timeout: float = 30,
        validate_certs: bool = True,
        ca_path: str | None = None,
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url {api_url!r} must start with http:// or https://")
        self.api_url = api_url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = []
        if self.api_url.startswith("https://"):
            context = ssl.create_default_context(cafile=ca_path or None)
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    # -- transport -------------------------------------------------------------------------------------------
    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "ollama.platform"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def open(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Send a request and return the open response; raise ``OllamaAPIError`` for transport or HTTP errors."""
        url = f"{self.api_url}{path}"
        data = json.dumps(body).encode() if body is not None else None
        # The scheme is limited to http/https in __init__.
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers(data is not None))  # noqa: S310
        try:
            return self._opener.open(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise OllamaAPIError(_error_text(exc), status=exc.code, url=url) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OllamaAPIError(f"cannot reach the Ollama API: {reason}", url=url) from None

    def request_json(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send a request and decode a JSON object answer (an empty body gives ``{}``)."""
        with self.open(method, path, body, timeout) as response:
            raw = response.read()
        if not raw.strip():
            return {}
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise OllamaAPIError(f"answer is not JSON: {raw[:200]!r}", url=f"{self.api_url}{path}") from None
        if isinstance(decoded, dict) and decoded.get("error"):
            raise OllamaAPIError(str(decoded["error"]), url=f"{self.api_url}{path}")
        return decoded

    def stream(
        self, method: str, path: str, body: dict[str, Any], timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield the NDJSON objects of a streaming answer; an ``{"error": ...}`` line raises ``OllamaAPIError``."""
        url = f"{self.api_url}{path}"
        with self.open(method, path, body, timeout) as response:
            while True:
                line = response.readline()
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    raise OllamaAPIError(f"malformed stream line: {line[:200]!r}", url=url) from None
                if isinstance(item, dict) and item.get("error"):
                    raise OllamaAPIError(str(item["error"]), url=url)
                yield item

    # -- API -------------------------------------------------------------------------------------------------
    def version(self) -> str:
        return str(self.request_json("GET", "/api/version").get("version", ""))

    def tags(self) -> dict[str, Any]:
        return self.request_json("GET", "/api/tags")

    def ps(self) -> dict[str, Any]:
        return self.request_json("GET", "/api/ps")

    def model_names(self) -> list[str]:
        return [m.get("name") or m.get("model") for m in self.tags().get("models") or []]

    def pull(self, name: str, insecure: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Pull a model (streamed progress); return the last status object, which must say ``success``."""
        last: dict[str, Any] = {}
        for item in self.stream("POST", "/api/pull", {"model": name, "insecure": insecure, "stream": True}, timeout):
            last = item
        if last.get("status") != "success":
            raise OllamaAPIError(f"pull of {name!r} ended without success (last status: {last.get('status')!r})")
        return last

    def delete(self, name: str) -> None:
        self.request_json("DELETE", "/api/delete", {"model": name})

    def probe_generate(
        self,
        model: str,
        prompt: str,
        num_predict: int = 32,
        keep_alive: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one streamed generation and measure time to first token and tokens per second."""
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "stream": True,
            "options": {"num_predict": num_predict},
        }
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        started = time.monotonic()
        first_token_at: float | None = None
        tokens_seen = 0
        text: list[str] = []
        final: dict[str, Any] = {}
        for item in self.stream("POST", "/api/generate", body, timeout):
            piece = item.get("response") or ""
            if piece:
                if first_token_at is None:
                    first_token_at = time.monotonic()
                tokens_seen += 1
                text.append(piece)
            if item.get("done"):
                final = item
        finished = time.monotonic()
        if not final:
            raise OllamaAPIError(f"generation with {model!r} ended without a final 'done' object")
        metrics = generation_metrics(started, first_token_at, finished, final, tokens_seen)
        metrics["model"] = model
        metrics["response"] = "".join(text)
        return metrics


def common_argument_spec() -> dict[str, Any]:
    """Connection options of every Ollama module (documented in the ``ollama.platform.ollama`` doc fragment)."""
    return {
        "api_url": {"type": "str", "fallback": (env_fallback, ["OLLAMA_API_URL"])},
        "api_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["OLLAMA_API_TOKEN"])},
        "timeout": {"type": "int", "default": 30},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
    }


def client_from_module(module: Any) -> OllamaClient:
    """Build a client from the module's connection options; fail the module on a malformed URL."""
    params = module.params
    try:
        return OllamaClient(
            api_url=params.get("api_url") or DEFAULT_API_URL,
            token=params.get("api_token"),
            timeout=params.get("timeout") or 30,
            validate_certs=params.get("validate_certs", True),
            ca_path=params.get("ca_path"),
        )
    except ValueError as exc:
        module.fail_json(msg=f"{exc}; set api_url like http://127.0.0.1:11434")
        raise  # unreachable: fail_json exits


def _error_text(exc: urllib.error.HTTPError) -> str:
    """Ollama answers errors as ``{"error": "..."}``; fall back to the reason phrase."""
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    try:
        decoded = json.loads(raw) if raw else {}
    except ValueError:
        decoded = {}
    if isinstance(decoded, dict) and decoded.get("error"):
        return str(decoded["error"])
    text = raw.decode("utf-8", "replace").strip()[:200] if raw else ""
    return text or str(exc.reason)
