"""Checks that run before any load: the host answers, the token is accepted, the model exists."""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT = 5.0


class PreflightError(Exception):
    """The target is not usable; the message says what is wrong and how to fix it."""


def _get(session: requests.Session, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
    try:
        return session.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
    except requests.exceptions.Timeout as exc:
        raise PreflightError(
            f"{url} did not answer within {TIMEOUT:.0f} s: check --host and that the server is up"
        ) from exc
    except requests.exceptions.RequestException as exc:
        reason = str(exc.__context__ or exc).split(":")[-1].strip() or type(exc).__name__
        raise PreflightError(f"cannot reach {url} ({reason}): check --host and that the server is running") from exc


def _check_auth(resp: requests.Response, what: str, api_key: str) -> None:
    if resp.status_code in (401, 403):
        hint = "the token was rejected" if api_key else "no token was given"
        raise PreflightError(
            f"{what} answered HTTP {resp.status_code} ({hint}): pass the right bearer token with --api-key "
            "or OLLAMA_API_KEY"
        )


def _models(payload: Any, key: str, field: str) -> list[str]:
    entries = payload.get(key) if isinstance(payload, dict) else None
    return sorted(str(e.get(field)) for e in entries or [] if isinstance(e, dict) and e.get(field))


def _same_model(wanted: str, available: str) -> bool:
    return wanted == available or f"{wanted}:latest" == available


def check_ollama(base: str, model: str | None, api_key: str, session: requests.Session | None = None) -> dict[str, Any]:
    """Check an Ollama endpoint (directly or behind the platform's bearer-token proxy); return what was found."""
    session = session or requests.Session()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    resp = _get(session, "GET", base + "/api/version", headers)
    _check_auth(resp, base, api_key)
    if resp.status_code != 200:
        raise PreflightError(
            f"{base}/api/version answered HTTP {resp.status_code}: is --host an Ollama server (or the platform's "
            "Ollama proxy)?"
        )
    try:
        version = resp.json().get("version")
    except ValueError as exc:
        raise PreflightError(f"{base}/api/version did not return JSON: is --host an Ollama server?") from exc
    found: dict[str, Any] = {"version": version}
    if not model:
        return found
    resp = _get(session, "POST", base + "/api/show", headers, json={"model": model})
    _check_auth(resp, base, api_key)
    if resp.status_code == 404:
        tags = _get(session, "GET", base + "/api/tags", headers)
        names = _models(tags.json() if tags.status_code == 200 else {}, "models", "name")
        listing = ", ".join(names) if names else "none"
        raise PreflightError(
            f"model {model!r} does not exist on {base}: pull it (ollama pull {model}) or pass --model with one of: "
            f"{listing}"
        )
    if resp.status_code != 200:
        raise PreflightError(f"{base}/api/show for model {model!r} answered HTTP {resp.status_code}: {resp.text[:200]}")
    found["model"] = model
    return found


def check_webui(base: str, model: str, api_key: str, session: requests.Session | None = None) -> dict[str, Any]:
    """Check an Open-WebUI endpoint: the API key works and the model is offered."""
    if not api_key:
        raise PreflightError(
            "webui-chat needs an Open-WebUI API key (Settings > Account > API keys): pass --api-key or set "
            "OLLAMA_API_KEY"
        )
    session = session or requests.Session()
    headers = {"Authorization": f"Bearer {api_key}"}
    resp = _get(session, "GET", base + "/api/models", headers)
    _check_auth(resp, base, api_key)
    if resp.status_code != 200:
        raise PreflightError(f"{base}/api/models answered HTTP {resp.status_code}: is --host an Open-WebUI server?")
    try:
        names = _models(resp.json(), "data", "id")
    except ValueError as exc:
        raise PreflightError(f"{base}/api/models did not return JSON: is --host an Open-WebUI server?") from exc
    if not any(_same_model(model, name) for name in names):
        raise PreflightError(
            f"model {model!r} is not offered by {base}: pass --model with one of: {', '.join(names) or 'none'}"
        )
    return {"model": model, "models": names}
