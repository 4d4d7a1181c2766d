"""Indexing one version of a document: parse, chunk, embed, store, then swap it in atomically."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import numpy as np
from pgvector import SparseVector

from core.errors import AppError
from core.logs import get_logger
from knowledge.chunking import Chunker
from knowledge.embedders import Embedder, embed_documents, sparse_head
from knowledge.errors import EmbeddingFailed, EmptyDocument, IngestionBusy
from knowledge.files import FileStore
from knowledge.isolated import IsolatedParser
from knowledge.models import Chunk, Limits, ParsedDocument, Status
from knowledge.ports import KnowledgeMetrics

log = get_logger("knowledge.ingest")

Progress = Callable[[int, int], None]  # (pages_done, pages_total)
_RELEASE_TIMEOUT = 3.0  # seconds the release of a lease may take (it runs at shutdown too)


class _LeaseLost(Exception):
    """Another worker took the version over (this one's lease ran out): stop without writing."""

# A batch of chunks is written with COPY into a temporary table (dropped at commit), then moved into
# kb_chunks in one statement that computes the full-text vectors: one round trip per batch instead of
# one per row. The HNSW indexes stay in place: a manual adds a few hundred rows, each insert updates
# the graph (measured in bench/bench_ingest.py: the write is a small share of an ingestion).
STAGING = """
CREATE TEMP TABLE kb_chunk_staging (ordinal integer, page integer, section text, text text, codes text[],
                                    embedding vector, sparse sparsevec, anchor text) ON COMMIT DROP
"""
STAGING_COLUMNS = ("ordinal", "page", "section", "text", "codes", "embedding", "sparse", "anchor")
MOVE_CHUNKS = """
INSERT INTO kb_chunks (version_id, document_id, ordinal, page, section, text, codes, dim, embedding, tsv, sparse, sparse_dim,
                       anchor)
SELECT $1, $2, ordinal, page, section, text, codes, $3, embedding,
       setweight(to_tsvector(kb_ts_config($4), $5 || ' ' || section), 'C')
       || setweight(to_tsvector(kb_ts_config($4), text), 'A')
       || to_tsvector('simple', array_to_string(codes, ' ')),
       sparse, $6, anchor
FROM kb_chunk_staging ORDER BY ordinal
"""


@dataclasses.dataclass
class IngestTimings:
    """Where one ingestion's time went, in seconds (logged with ``kb.ingested``)."""

    parse: float = 0.0
    chunk: float = 0.0
    embed: float = 0.0  # waiting for the embedder
    store: float = 0.0  # writing the batches (overlapping the next batch's embedding)
    store_wait: float = 0.0  # of which the pipeline waited for, with nothing else to do
    swap: float = 0.0
    total: float = 0.0
    pages: int = 0
    chunks: int = 0

    def rounded(self) -> dict[str, float | int]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items()}


class Ingestor:
    """Runs the indexing of versions; used by the job handler and directly by the CLI.

    ``pool`` should be the background pool (never the one the chat path uses). Indexing runs in at
    most ``concurrency`` slots at once; a version is claimed with a lease row (``lease_owner``,
    ``lease_until`` of ``kb_versions``) renewed every ``lease_seconds / 3``, so no connection is held
    while a document is parsed or embedded: each write takes a connection for its own short
    transaction. Parsing runs in a worker process with limits (``parser``); chunking and embedding
    run in threads, off the event loop.
    """

    def __init__(self, pool: asyncpg.Pool, embedder: Embedder, files: FileStore, limits: Limits,
                 metrics: KnowledgeMetrics | None = None, max_attempts: int = 3, *,
                 parser: IsolatedParser | None = None, concurrency: int = 2, lease_seconds: float = 120.0,
                 slot_timeout: float = 900.0) -> None:
        self._pool = pool
        self._embedder = embedder
        self._files = files
        self._limits = limits
        self._metrics = metrics
        self._max_attempts = max_attempts
        self.parser = parser or IsolatedParser()
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._lease = lease_seconds
        self._slot_timeout = slot_timeout
        self.last_timings: IngestTimings | None = None  # of the most recently indexed version (benchmarks read it)

    def chunker(self) -> Chunker:
        """A chunker sized by the limits, counting tokens as the embedder does."""
        return Chunker(self._embedder.count_tokens, target=self._limits.chunk_tokens, overlap=self._limits.chunk_overlap,
                       table_target=self._limits.table_tokens)

    async def run(self, version_id: int, progress: Progress | None = None) -> str:
        """Index ``version_id``; returns the final status. Safe to call again after a crash.

        Waits (at most ``slot_timeout`` seconds) for one of the ``concurrency`` slots, then claims
        the version. A version another worker holds raises ``IngestionBusy`` (the job queue tries
        again later, by when that worker has finished or its lease has run out); a version that is
        no longer waiting to be indexed returns ``"skipped"``. Cancelled (shutdown), the version is
        left ``processing`` with its lease released, for the next start to resume.
        """
        try:
            await asyncio.wait_for(self._slots.acquire(), self._slot_timeout)
        except TimeoutError:
            log.warning("kb.ingest_slot_timeout", version_id=version_id, seconds=self._slot_timeout)
            self._count("busy")
            raise IngestionBusy(f"no ingestion slot free within {self._slot_timeout:g} s") from None
        try:
            return await self._run_claimed(version_id, progress)
        finally:
            self._slots.release()

    async def _run_claimed(self, version_id: int, progress: Progress | None) -> str:
        owner = uuid.uuid4().hex
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE kb_versions SET status = 'processing', started_at = now(), attempts = attempts + 1,
                          pages_done = 0, chunks = 0, error = NULL,
                          lease_owner = $2, lease_until = now() + make_interval(secs => $3)
                   WHERE id = $1 AND status IN ('queued', 'processing') AND (lease_until IS NULL OR lease_until < now())
                   RETURNING document_id, storage_key, content_type, filename, title, lang, attempts""",
                version_id, owner, self._lease)
            if row is not None:
                # chunks of an interrupted earlier attempt: never visible, removed before starting again
                await conn.execute("DELETE FROM kb_chunks WHERE version_id = $1", version_id)
        if row is None:
            held = await self._pool.fetchval(
                "SELECT status IN ('queued', 'processing') AND lease_until >= now() FROM kb_versions WHERE id = $1",
                version_id)
            if held:
                raise IngestionBusy(f"version {version_id} is being indexed by another worker")
            return "skipped"
        renewal = asyncio.create_task(self._renew(version_id, owner), name=f"kb.lease.{version_id}")
        try:
            return await self._run_locked(version_id, owner, row, progress)
        except _LeaseLost:
            log.warning("kb.ingest_lease_lost", version_id=version_id)
            return "skipped"
        finally:
            renewal.cancel()
            await asyncio.wait([renewal])  # a cancel of this task itself still propagates
            await self._release(version_id, owner)

    async def _renew(self, version_id: int, owner: str) -> None:
        """Keep the lease while the version is being worked on (parsing and embedding take minutes)."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                done = await self._pool.execute(
                    "UPDATE kb_versions SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2",
                    version_id, owner, self._lease)
            except (AppError, OSError, asyncpg.PostgresError) as exc:  # an outage: try again at the next beat
                log.warning("kb.ingest_lease_renew_failed", version_id=version_id, error=type(exc).__name__)
                continue
            if done != "UPDATE 1":
                return

    async def _release(self, version_id: int, owner: str) -> None:
        """Let go of the lease if it is still ours (bounded: it also runs when the job is cancelled)."""
        release = self._pool.execute(
            "UPDATE kb_versions SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
            version_id, owner)
        try:
            await asyncio.wait_for(asyncio.shield(release), _RELEASE_TIMEOUT)
        except (TimeoutError, AppError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # the lease runs out by itself after KB_INGEST_LEASE_SECONDS
            log.warning("kb.ingest_lease_release_failed", version_id=version_id, error=type(exc).__name__)

    async def _run_locked(self, version_id: int, owner: str, row: asyncpg.Record, progress: Progress | None) -> str:
        started = time.perf_counter()
        timings = IngestTimings()
        try:
            data = await asyncio.to_thread(self._files.read, row["storage_key"])
            parsed = await self.parser.parse(data, row["content_type"], filename=row["filename"],
                                             max_pages=self._limits.max_pages)
            del data
            timings.parse = time.perf_counter() - started
            chunks = await self._index(version_id, owner, row["document_id"], row["title"] or parsed.title, row["lang"],
                                       parsed, progress, timings)
            mark = time.perf_counter()
            status = await self._swap(version_id, owner)
            timings.swap = time.perf_counter() - mark
        except AppError as exc:
            if exc.status >= 500 and row["attempts"] < self._max_attempts:
                raise  # an outage (embeddings endpoint, PostgreSQL): the job queue retries with backoff
            await self._fail(version_id, owner, exc.message)
            return Status.FAILED.value
        except (OSError, asyncpg.PostgresError) as exc:
            if row["attempts"] < self._max_attempts:
                raise
            await self._fail(version_id, owner, f"{type(exc).__name__}: {exc}")
            return Status.FAILED.value
        timings.total = time.perf_counter() - started
        timings.pages, timings.chunks = parsed.pages, chunks
        self.last_timings = timings
        log.info("kb.ingested", version_id=version_id, pages=parsed.pages, chunks=chunks,
                 seconds=round(timings.total, 2), status=status, **{f"{k}_s": v for k, v in timings.rounded().items()
                                                                    if k not in ("pages", "chunks", "total")})
        self._count(status)
        return status

    async def _index(self, version_id: int, owner: str, document_id: int, title: str, lang: str | None,
                     parsed: ParsedDocument, progress: Progress | None, timings: IngestTimings) -> int:
        """Chunk, embed and write the document as a pipeline; returns the number of chunks.

        The next batch is chunked (in a thread) while the current ones are embedded, two batches are
        in the embedder at once (its workers go from one straight to the next instead of waiting for
        the slowest part of a batch), and each embedded batch is written while the next ones are
        embedded. At most four batches are held: one being chunked, two embedding, one writing.
        """
        batch = max(1, self._limits.embed_batch)
        chunks = self.chunker().iter_chunks(parsed.blocks, title)

        def take() -> tuple[list[Chunk], float]:
            mark = time.perf_counter()
            part = list(itertools.islice(chunks, batch))
            return part, time.perf_counter() - mark

        async def next_part() -> list[Chunk]:
            part, seconds = await asyncio.to_thread(take)
            timings.chunk += seconds
            return part

        first = await next_part()
        if not first:
            raise EmptyDocument("the document contains no text to index")
        total = parsed.pages
        updated = await self._pool.execute(
            "UPDATE kb_versions SET pages_total = $2, embedder = $3, embedding_dim = $4 WHERE id = $1 AND lease_owner = $5",
            version_id, total, self._embedder.name, self._embedder.dim or None, owner)
        if updated != "UPDATE 1":
            raise _LeaseLost
        if progress:
            progress(0, total)
        head = sparse_head(self._embedder)
        sdim = head.sparse_dim if head is not None else 0
        chunking: asyncio.Task[list[Chunk]] | None = asyncio.create_task(next_part(), name=f"kb.chunk.{version_id}")
        embedding: collections.deque[tuple[list[Chunk], asyncio.Task[tuple[np.ndarray, list[dict[int, float]]]]]]
        embedding = collections.deque()
        writing: asyncio.Task[None] | None = None
        count = 0

        def embed(part: list[Chunk]) -> None:
            embedding.append((part, asyncio.create_task(
                embed_documents(self._embedder, [c.embedding_text(title) for c in part]), name=f"kb.embed.{version_id}")))

        try:
            embed(first)
            while embedding:
                if chunking is not None and len(embedding) < 2:
                    part = await chunking
                    chunking = None
                    if part:
                        embed(part)
                        chunking = asyncio.create_task(next_part(), name=f"kb.chunk.{version_id}")
                        continue
                part, task = embedding.popleft()
                mark = time.perf_counter()
                vectors, sparse = await self._embedded(version_id, task, len(part))
                timings.embed += time.perf_counter() - mark
                if writing is not None:
                    mark = time.perf_counter()
                    await writing  # at most one batch in flight to PostgreSQL: order is kept
                    timings.store_wait += time.perf_counter() - mark
                count += len(part)
                last = chunking is None and not embedding
                done = total if last or not parsed.paged else max(0, max(c.page or 0 for c in part) - 1)
                rows = [(c.ordinal, c.page if parsed.paged else None, c.section, c.text, list(c.codes), vectors[i],
                         SparseVector(sparse[i], sdim) if sdim else None, c.anchor) for i, c in enumerate(part)]
                writing = asyncio.create_task(
                    self._write(version_id, owner, document_id, title, lang, rows, int(vectors.shape[1]), sdim, done,
                                total, progress, timings), name=f"kb.write.{version_id}")
            if writing is not None:
                mark = time.perf_counter()
                await writing
                timings.store_wait += time.perf_counter() - mark
        finally:
            # a failure or a cancellation: what is still running is dropped (a part already in an
            # embedding worker finishes in its thread; nothing of this version becomes visible)
            left: list[asyncio.Task[Any]] = [t for t in (chunking, writing) if t is not None]
            left += [t for _, t in embedding]
            for t in left:
                if not t.done():
                    t.cancel()
            if left:
                await asyncio.wait(left)
                for t in left:
                    if not t.cancelled():
                        t.exception()  # retrieved here when another error is already on its way up
        return count

    async def _embedded(self, version_id: int, task: asyncio.Task[tuple[np.ndarray, list[dict[int, float]]]],
                        chunks: int) -> tuple[np.ndarray, list[dict[int, float]]]:
        """The vectors of one batch, waited for at most ``Limits.embed_timeout`` seconds: then the
        attempt fails with ``EmbeddingFailed`` (the job is retried), counted and logged."""
        seconds = self._limits.embed_timeout
        try:
            async with asyncio.timeout(seconds):
                return await task
        except TimeoutError:
            if self._metrics is not None:
                self._metrics.degraded.labels("ingest_embedding").inc()
            log.warning("kb.ingest_embedding_timeout", version_id=version_id, chunks=chunks, seconds=seconds)
            raise EmbeddingFailed(f"embedding {chunks} chunks took longer than {seconds:g} s "
                                  "(KB_EMBED_BATCH_TIMEOUT_SECONDS)") from None

    async def _write(self, version_id: int, owner: str, document_id: int, title: str, lang: str | None,
                     rows: Sequence[tuple[object, ...]], dim: int, sdim: int, done: int, total: int,
                     progress: Progress | None, timings: IngestTimings) -> None:
        """One batch in one short transaction (COPY to a temporary table, then into kb_chunks), with the progress."""
        mark = time.perf_counter()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(STAGING)
            await conn.copy_records_to_table("kb_chunk_staging", records=rows, columns=STAGING_COLUMNS)
            await conn.execute(MOVE_CHUNKS, version_id, document_id, dim, lang, title, sdim or None)
            updated = await conn.execute(
                """UPDATE kb_versions SET pages_done = GREATEST(pages_done, $2), chunks = chunks + $3, embedding_dim = $4,
                          lease_until = now() + make_interval(secs => $6)
                   WHERE id = $1 AND lease_owner = $5""",
                version_id, done, len(rows), dim, owner, self._lease)
            if updated != "UPDATE 1":
                raise _LeaseLost  # rolls this batch back
        timings.store += time.perf_counter() - mark
        if progress:
            progress(done, total)

    async def _swap(self, version_id: int, owner: str) -> str:
        """Make ``version_id`` the document's visible version, in one transaction."""
        old_keys: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            v = await conn.fetchrow(
                """SELECT document_id, title, machine_models, lang, filename FROM kb_versions
                   WHERE id = $1 AND lease_owner = $2 FOR UPDATE""", version_id, owner)
            if v is None:
                raise _LeaseLost
            doc = await conn.fetchrow("SELECT current_version_id FROM kb_documents WHERE id = $1 FOR UPDATE", v["document_id"])
            if doc is None:
                return "skipped"  # deleted meanwhile; cascade removed the rows
            newer = await conn.fetchval(
                "SELECT id FROM kb_versions WHERE document_id = $1 AND id > $2 AND status = 'ready'", v["document_id"], version_id)
            if newer is not None:  # a later replacement finished first: it stays
                await conn.execute(
                    """UPDATE kb_versions SET status = 'superseded', finished_at = now(), lease_owner = NULL, lease_until = NULL
                       WHERE id = $1""", version_id)
                await conn.execute("DELETE FROM kb_chunks WHERE version_id = $1", version_id)
                return Status.SUPERSEDED.value
            await conn.execute(
                "UPDATE kb_versions SET status = 'ready', finished_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = $1",
                version_id)
            await conn.execute(
                """UPDATE kb_documents SET current_version_id = $2, title = $3, machine_models = $4, lang = $5,
                          filename = $6, updated_at = now() WHERE id = $1""",
                v["document_id"], version_id, v["title"], v["machine_models"], v["lang"], v["filename"])
            old = await conn.fetch(
                """UPDATE kb_versions SET status = 'superseded' WHERE document_id = $1 AND id < $2 AND status = 'ready'
                   RETURNING id, storage_key""", v["document_id"], version_id)
            if old:
                await conn.execute("DELETE FROM kb_chunks WHERE version_id = ANY($1::bigint[])", [r["id"] for r in old])
                old_keys = [r["storage_key"] for r in old]
        await self.drop_unreferenced(old_keys)
        # fresh planner statistics: they also give search the corpus's most common words
        await self._pool.execute("ANALYZE kb_chunks")
        return Status.READY.value

    async def drop_unreferenced(self, keys: list[str]) -> None:
        """Delete stored files that only superseded (or deleted) versions referred to."""
        for key in set(keys):
            used = await self._pool.fetchval(
                "SELECT count(*) FROM kb_versions WHERE storage_key = $1 AND status <> 'superseded'", key)
            if not used:
                await asyncio.to_thread(self._files.delete, key)

    async def _fail(self, version_id: int, owner: str, reason: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            # the file is kept so the version can be retried (POST .../reindex) after a fix
            failed = await conn.execute(
                """UPDATE kb_versions SET status = 'failed', error = $2, finished_at = now(), lease_owner = NULL, lease_until = NULL
                   WHERE id = $1 AND lease_owner = $3""", version_id, reason[:2000], owner)
            if failed != "UPDATE 1":
                raise _LeaseLost
            await conn.execute("DELETE FROM kb_chunks WHERE version_id = $1", version_id)
        log.warning("kb.ingest_failed", version_id=version_id, reason=reason[:300])
        self._count(Status.FAILED.value)

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.ingestion_jobs.labels(outcome).inc()
