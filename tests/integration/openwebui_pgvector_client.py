"""Run Open-WebUI's own pgvector client (retrieval/vector/dbs/pgvector.py of the release wheel) as one replica would.

Usage (with a Python that has the wheelhouse's sqlalchemy, pgvector, psycopg2 and pydantic):
    python openwebui_pgvector_client.py SOURCE_DIR DB_URL insert|search < request.json > result.json

SOURCE_DIR holds the wheel's ``open_webui`` package. Only the modules the client imports for its configuration and
database session are replaced (they pull the whole application): the values are Open-WebUI's defaults plus what the
open_webui role sets (PGVECTOR_INDEX_METHOD). Everything that talks to PostgreSQL is Open-WebUI's code.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path


def install_stubs(source: Path, db_url: str, index_method: str) -> None:
    package = types.ModuleType("open_webui")
    package.__path__ = [str(source / "open_webui")]  # the package's __init__ starts the CLI: not needed here
    sys.modules["open_webui"] = package
    config = types.ModuleType("open_webui.config")
    config.__dict__.update(
        PGVECTOR_CREATE_EXTENSION=True,
        PGVECTOR_DB_URL=db_url,
        PGVECTOR_HNSW_EF_CONSTRUCTION=64,
        PGVECTOR_HNSW_M=16,
        PGVECTOR_INDEX_METHOD=index_method,
        PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH=1536,
        PGVECTOR_ITERATIVE_SCAN="relaxed_order",
        PGVECTOR_IVFFLAT_LISTS=100,
        PGVECTOR_PGCRYPTO=False,
        PGVECTOR_PGCRYPTO_KEY=None,
        PGVECTOR_POOL_MAX_OVERFLOW=0,
        PGVECTOR_POOL_RECYCLE=3600,
        PGVECTOR_POOL_SIZE=None,
        PGVECTOR_POOL_TIMEOUT=30,
        PGVECTOR_USE_HALFVEC=False,
    )
    env = types.ModuleType("open_webui.env")
    env.__dict__.update(RAG_METADATA_MAX_VALUE_CHARS=None, ENABLE_ORJSON=False)
    db = types.ModuleType("open_webui.internal.db")
    db.__dict__.update(ScopedSession=None, enable_iam_token_auth=lambda engine: None)
    misc = types.ModuleType("open_webui.utils.misc")
    misc.sanitize_text_for_db = lambda text: text.replace("\x00", "") if isinstance(text, str) else text
    codec = types.ModuleType("open_webui.utils.json_codec")
    codec.JSONCodec = types.SimpleNamespace(dumps=json.dumps, loads=json.loads)
    for module in (config, env, db, misc, codec):
        sys.modules[module.__name__] = module


def main() -> int:
    source, db_url, action = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    request = json.load(sys.stdin)
    install_stubs(source, db_url, request.get("index_method", "hnsw"))
    from open_webui.retrieval.vector.dbs.pgvector import PgvectorClient

    client = PgvectorClient()
    if action == "insert":
        client.insert(request["collection"], request["items"])
        result = {"inserted": len(request["items"])}
    else:
        found = client.search(request["collection"], [request["vector"]], limit=request.get("limit", 3))
        result = {"ids": found.ids[0], "documents": found.documents[0], "metadatas": found.metadatas[0]}
        result["distances"] = found.distances[0]
    index = client.session.execute(
        __import__("sqlalchemy").text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_document_chunk_vector'")
    ).scalar()
    json.dump({**result, "vector_index": index}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
