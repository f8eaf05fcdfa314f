"""A document uploaded through one Open-WebUI replica is found through the other: the replicas share one vector
store (pgvector in the PostgreSQL that plays RDS), embedded by the backend image's embedding model.

Product: the open_webui role's VECTOR_DB=pgvector with PGVECTOR_DB_URL read at start from the database secret; the
bake's model list carries the embedding model. Twin: the data host's pgvector comes from the twin_data role, and
HAProxy names the replica that served each response in X-Served-By. Everything goes through the public URL.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.twin.scenarios.conftest import Twin, http, multipart_file, wait_for, webui_api

pytestmark = pytest.mark.twin

FACT = f"The twin's shared vector store remembers the code word {uuid.uuid4().hex[:12]}."


@pytest.fixture(scope="module")
def webui(twin: Twin, webui_account: dict[str, str]) -> dict:
    base = twin.outputs["ollama_service_url"].rstrip("/")
    status, body, _ = webui_api(f"{base}/api/v1/auths/signin", body=webui_account)
    if status != 200 or not body.get("token"):
        pytest.fail(f"the deployment's admin cannot sign in on {base} (HTTP {status}: {body})")
    frontends = set(twin.in_service(twin.outputs["ollama_frontend_asg_name"]))
    return {"base": base, "token": body["token"], "frontends": frontends}


@pytest.fixture(scope="module")
def uploaded(webui: dict) -> dict:
    """Upload a text file through whichever replica the load balancer picks; wait until it is embedded."""
    assert len(webui["frontends"]) >= 2, f"the scenario needs two frontends, the group has {webui['frontends']}"
    body, content_type = multipart_file("twin-notes.txt", f"{FACT}\n".encode())
    headers = {"Authorization": f"Bearer {webui['token']}", "Content-Type": content_type}
    status, response_headers, raw = http(f"{webui['base']}/api/v1/files/", headers, body, timeout=120)
    assert status == 200, f"upload answered {status}: {raw[:500]!r}"
    file_id = json.loads(raw)["id"]
    uploader = response_headers.get("x-served-by", "")
    assert uploader in webui["frontends"], f"X-Served-By {uploader!r} is not one of {webui['frontends']}"

    def processed() -> bool:
        status, body, _ = webui_api(f"{webui['base']}/api/v1/files/{file_id}/process/status", webui["token"])
        state = body.get("status", "") if status == 200 else ""
        if state == "failed":
            pytest.fail(f"embedding the upload failed: {body} (is the embedding model on the backend image?)")
        return state == "completed"

    wait_for("the upload to be embedded", processed, timeout=180, interval=3)
    return {"file_id": file_id, "uploader": uploader}


def _through_the_other_replica(webui: dict, uploader: str, path: str, body: dict, timeout: float) -> dict:
    """POST through the public URL until a replica other than the uploader answers 200; return its JSON."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        status, answer, served_by = webui_api(f"{webui['base']}{path}", webui["token"], body, timeout=120)
        seen.append((served_by, status))
        if served_by != uploader and served_by in webui["frontends"]:
            assert status == 200, f"{served_by} answered {status}: {answer}"
            return answer
    pytest.fail(f"no other replica than {uploader} answered {path} within {timeout:.0f} s: {seen}")


def test_another_replica_retrieves_the_uploaded_document(webui: dict, uploaded: dict):
    """Product: the chunks the uploader embedded are in the shared store; the other replica's query finds them."""
    answer = _through_the_other_replica(
        webui,
        uploaded["uploader"],
        "/api/v1/retrieval/query/doc",
        {"collection_name": f"file-{uploaded['file_id']}", "query": "Which code word does the store remember?", "k": 3},
        timeout=60,
    )
    documents = [text for group in answer.get("documents", []) for text in group]
    assert any(FACT in text for text in documents), answer


def test_another_replica_answers_with_the_document_as_a_source(webui: dict, uploaded: dict):
    """Product: a chat about the file, served by the replica that did not embed it, cites the file as its source."""
    answer = _through_the_other_replica(
        webui,
        uploaded["uploader"],
        "/api/chat/completions",
        {
            "model": "llama3.2:1b",
            "stream": False,
            "messages": [{"role": "user", "content": "Which code word does the store remember?"}],
            "files": [{"type": "file", "id": uploaded["file_id"]}],
        },
        timeout=120,
    )
    sources = answer.get("sources", [])
    # Open-WebUI 0.12.4 names the cited file by its id (the name is empty for a file attached by id).
    cited = {source.get("source", {}).get("id", "") for source in sources}
    assert uploaded["file_id"] in cited, answer
    assert any(FACT in text for source in sources for text in source.get("document", [])), sources
