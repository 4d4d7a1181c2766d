"""``KnowledgeBase``: the one entry point the server and the CLI use."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import cast

import asyncpg
import numpy as np
from pgvector import SparseVector

from core.errors import AppError
from core.health import ComponentHealth, Status
from core.logs import get_logger
from knowledge import sniff, view
from knowledge.embedders import DimensionProbe, Embedder, sparse_head
from knowledge.errors import DocumentNotFound, EmbedderMismatch, InvalidRequest
from knowledge.files import FileStore
from knowledge.ingest import Ingestor, Progress
from knowledge.isolated import IsolatedParser
from knowledge.models import AddResult, DocumentInfo, EntryInfo, Kind, Limits, Passage
from knowledge.ports import JobPayload, JobQueue, KnowledgeMetrics
from knowledge.search import (
    Reranker,
    SearchFilter,
    SearchOptions,
    common_words,
    hybrid_search,
    prefer_reader_edition,
)

log = get_logger("knowledge")

JOB_NAME = "kb.ingest"
SAMPLES_DIR = Path(__file__).parent / "samples"


def _models(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return sorted({m.strip() for m in items if m and m.strip()})


def _lang(value: str | None) -> str | None:
    lang = (value or "").strip().lower()
    if lang and not (lang.isascii() and lang.isalpha() and 2 <= len(lang) <= 3):
        raise InvalidRequest("lang must be a 2- or 3-letter language code such as en, el, ar, es, tr, no")
    return lang or None


class KnowledgeBase:
    """Documents, their ingestion and hybrid search over PostgreSQL + pgvector.

    ``jobs`` (a :class:`knowledge.ports.JobQueue`, in the service its pgqueuer queue) runs ingestion
    in the background; without it (the CLI) ``add_document`` indexes inline. ``metrics`` (a
    :class:`knowledge.ports.KnowledgeMetrics`) is optional too. Nothing here is global: every
    dependency comes in.
    """

    def __init__(self, pool: asyncpg.Pool, embedder: Embedder, storage_dir: Path, limits: Limits | None = None, *,
                 jobs: JobQueue | None = None, metrics: KnowledgeMetrics | None = None, reranker: Reranker | None = None,
                 options: SearchOptions | None = None, seed_on_start: bool = False,
                 ingest_pool: asyncpg.Pool | None = None, parser: IsolatedParser | None = None,
                 ingest_concurrency: int = 2, lease_seconds: float = 120.0) -> None:
        self.pool = pool
        self.embedder = embedder
        self.files = FileStore(Path(storage_dir))
        self.limits = limits = limits or Limits()
        self.jobs = jobs
        self.metrics = metrics
        self.reranker = reranker
        self.options = options or SearchOptions()
        self.seed_on_start = seed_on_start
        self._common: tuple[float, list[str]] = (-1e9, [])
        self._warming: asyncio.Future[None] | None = None
        # ingestion uses the background pool when there is one: it never takes the search path's connections
        self.ingestor = Ingestor(ingest_pool or pool, embedder, self.files, limits, metrics, parser=parser,
                                 concurrency=ingest_concurrency, lease_seconds=lease_seconds)
        if jobs is not None:
            jobs.register(JOB_NAME, self._job)

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume interrupted ingestion; on the very first start, queue the sample manuals."""
        if isinstance(self.embedder, DimensionProbe) and not self.embedder.dim:
            try:
                await self.embedder.ensure_dim()
            except AppError as exc:  # the endpoint is down: start anyway, searches fail until it is back
                log.warning("kb.embedder_unavailable", embedder=self.embedder.name, error=exc.message)
                if self.metrics is not None:
                    self.metrics.degraded.labels("knowledge").inc()
        self._warming = asyncio.ensure_future(self._warm_model())  # beside the start, not in its way
        await self.resume()
        if self.seed_on_start and not await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM kb_documents WHERE kind = 'manual')"):
            await self.seed_samples()
        await self._update_gauge()

    async def _warm_model(self) -> None:
        """Load the local model before the first question needs it (wrappers such as the cache and the
        query batcher expose the model they wrap as ``inner``)."""
        model: object = self.embedder
        while model is not None and not hasattr(model, "warm"):
            model = getattr(model, "inner", None)
        if model is None:
            return
        try:
            await model.warm()
        except Exception as exc:  # the first question loads it again and reports the failure there
            log.warning("kb.model_warm_up_failed", error=type(exc).__name__, detail=str(exc)[:200])

    async def aclose(self) -> None:
        """Nothing to release: the pool belongs to the caller; a model still loading finishes in its thread."""
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()

    # -- ingestion ---------------------------------------------------------------------------------

    async def _job(self, payload: JobPayload) -> None:
        version_id = payload.get("version_id")
        if not isinstance(version_id, int):
            raise InvalidRequest(f"a {JOB_NAME} job needs an integer version_id, got {version_id!r}")
        await self.ingestor.run(version_id)
        await self._update_gauge()

    async def resume(self) -> int:
        """Index again the versions an interrupted process left queued or half-indexed (queued as jobs,
        or inline without a job queue)."""
        rows = await self.pool.fetch("SELECT id, attempts FROM kb_versions WHERE status IN ('queued', 'processing') ORDER BY id")
        ids = [r["id"] for r in rows]
        for r in rows:
            if self.jobs is None:
                await self.ingestor.run(r["id"])
            else:
                # a job of a crashed process may still be marked as taken: queue a new one; the
                # ingestor's advisory lock keeps two workers off the same version
                await self.jobs.enqueue(JOB_NAME, {"version_id": r["id"]}, dedupe_key=f"kb-resume-{r['id']}-{r['attempts']}")
        if ids:
            log.info("kb.resumed", versions=len(ids))
        return len(ids)

    async def _schedule(self, version_id: int, conn: asyncpg.Connection | None) -> None:
        if self.jobs is not None:
            await self.jobs.enqueue(JOB_NAME, {"version_id": version_id}, conn=conn, dedupe_key=f"kb-version-{version_id}")

    async def add_document(self, data: bytes, *, filename: str = "", machine_models: str | list[str] | None = None,
                           lang: str | None = None, title: str | None = None, document_id: int | None = None,
                           wait: bool = False, progress: Progress | None = None) -> AddResult:
        """Store an upload as a new document (or a new version of ``document_id``) and index it.

        Bad input raises a 4xx error before anything is written. The same bytes already indexed (or
        being indexed) are a no-op returning ``duplicate: true``.
        """
        checked = await self.ingestor.parser.check(data, filename, self.limits)  # in a worker process with limits
        models = _models(machine_models)
        lang = _lang(lang)
        async with self.pool.acquire() as conn:
            if document_id is not None and not await conn.fetchval("SELECT 1 FROM kb_documents WHERE id = $1", document_id):
                raise DocumentNotFound(f"document {document_id} does not exist")
            dup = await conn.fetchrow(
                """SELECT v.document_id, v.id, v.status FROM kb_versions v JOIN kb_documents d ON d.id = v.document_id
                   WHERE v.sha256 = $1 AND v.status IN ('queued', 'processing', 'ready') AND d.kind = 'manual'
                     AND ($2::bigint IS NULL OR (v.document_id = $2 AND v.machine_models = $3
                                                 AND v.lang IS NOT DISTINCT FROM $4))
                   ORDER BY v.id DESC LIMIT 1""",
                checked.sha256, document_id, models, lang)
        if dup is not None:
            return {"id": dup[0], "version_id": dup[1], "status": dup[2], "duplicate": True}
        key = self.files.key(checked.sha256, sniff.EXTENSIONS[checked.content_type])
        await asyncio.to_thread(self.files.put, key, data)
        doc_title = title or checked.title or Path(filename).stem or "Untitled"
        async with self.pool.acquire() as conn, conn.transaction():
            if document_id is None:
                document_id = await conn.fetchval(
                    "INSERT INTO kb_documents (kind, title, filename, machine_models, lang) VALUES ('manual', $1, $2, $3, $4) RETURNING id",
                    doc_title, filename, models, lang)
            version_id = await conn.fetchval(
                """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, filename, title,
                                           machine_models, lang, pages_total)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
                document_id, checked.sha256, checked.content_type, len(data), key, filename, doc_title, models, lang, checked.pages)
            if not wait:
                await self._schedule(version_id, conn)
        log.info("kb.document_added", document_id=document_id, version_id=version_id, bytes=len(data), content_type=checked.content_type)
        status = "queued"
        if wait or self.jobs is None:
            status = await self.ingestor.run(version_id, progress)
            await self._update_gauge()
        return {"id": document_id, "version_id": version_id, "status": status, "duplicate": False}

    async def replace_document(self, document_id: int, data: bytes, *, filename: str = "", machine_models: str | list[str] | None = None,
                               lang: str | None = None, wait: bool = False) -> AddResult:
        """A new version of an existing document; it becomes visible in one step when indexed."""
        current = await self.get_document(document_id)
        if machine_models is None:
            machine_models = current["machine_models"]
        if lang is None:
            lang = current["lang"]
        return await self.add_document(data, filename=filename or current["filename"], machine_models=machine_models,
                                       lang=lang, document_id=document_id, wait=wait)

    async def reindex(self, document_id: int | None = None, *, wait: bool = False, progress: Progress | None = None) -> list[int]:
        """Index documents again from their stored files (after a change of embedder or chunking)."""
        rows = await self.pool.fetch(
            """SELECT DISTINCT ON (v.document_id) v.* FROM kb_versions v
               WHERE ($1::bigint IS NULL OR v.document_id = $1) AND v.status IN ('ready', 'failed')
               ORDER BY v.document_id, (v.status = 'ready') DESC, v.id DESC""", document_id)
        if document_id is not None and not rows:
            raise DocumentNotFound(f"document {document_id} has no version to re-index")
        new_ids: list[int] = []
        for r in rows:
            async with self.pool.acquire() as conn, conn.transaction():
                vid = await conn.fetchval(
                    """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, filename, title,
                                               machine_models, lang, pages_total)
                       SELECT document_id, sha256, content_type, byte_size, storage_key, filename, title, machine_models, lang, pages_total
                       FROM kb_versions WHERE id = $1 RETURNING id""", r["id"])
                if not wait:
                    await self._schedule(vid, conn)
            new_ids.append(vid)
            if wait or self.jobs is None:
                await self.ingestor.run(vid, progress)
        await self._update_gauge()
        return new_ids

    async def delete_document(self, document_id: int) -> None:
        """Remove a document, its versions, chunks and stored files; raises ``DocumentNotFound``."""
        keys = [r[0] for r in await self.pool.fetch("SELECT storage_key FROM kb_versions WHERE document_id = $1", document_id)]
        deleted = await self.pool.fetchval("DELETE FROM kb_documents WHERE id = $1 RETURNING id", document_id)
        if deleted is None:
            raise DocumentNotFound(f"document {document_id} does not exist")
        await self.ingestor.drop_unreferenced(keys)
        await self._update_gauge()
        log.info("kb.document_deleted", document_id=document_id)

    # -- entries (expert knowledge, corrections, saved resolutions) -------------------------------

    async def add_entry(self, kind: str, title: str, text: str, machine_model: str | None = None,
                        lang: str | None = None, source: str | None = None) -> int:
        """Add a short text that search returns with priority; indexed before this returns."""
        if kind not in {k.value for k in Kind} - {Kind.MANUAL.value}:
            raise InvalidRequest("kind must be expert, correction or resolution")
        if not title.strip() or not text.strip():
            raise InvalidRequest("title and text are required")
        if len(text) > 20_000:
            raise InvalidRequest("an entry is at most 20000 characters")
        data = text.encode()
        sha = hashlib.sha256(f"{kind}\0{title}\0{machine_model}\0{lang}\0".encode() + data).hexdigest()
        existing = await self.pool.fetchval("SELECT document_id FROM kb_versions WHERE sha256 = $1 AND status = 'ready'", sha)
        if existing is not None:
            return int(existing)
        key = self.files.key(sha, ".txt")
        await asyncio.to_thread(self.files.put, key, data)
        models = _models(machine_model)
        lang = _lang(lang)
        async with self.pool.acquire() as conn, conn.transaction():
            doc_id = await conn.fetchval(
                "INSERT INTO kb_documents (kind, title, filename, machine_models, lang, source) VALUES ($1, $2, '', $3, $4, $5) RETURNING id",
                kind, title.strip(), models, lang, source)
            vid = await conn.fetchval(
                """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, title, machine_models, lang)
                   VALUES ($1, $2, 'text/plain', $3, $4, $5, $6, $7) RETURNING id""",
                doc_id, sha, len(data), key, title.strip(), models, lang)
        status = await self.ingestor.run(vid)
        if status != "ready":
            error = await self.pool.fetchval("SELECT error FROM kb_versions WHERE id = $1", vid)
            await self.pool.execute("DELETE FROM kb_documents WHERE id = $1", doc_id)
            raise InvalidRequest(f"the entry could not be indexed: {error}")
        await self._update_gauge()
        return int(doc_id)

    async def list_entries(self, kind: str | None = None, limit: int = 200) -> list[EntryInfo]:
        """Expert entries, corrections and saved resolutions (of one ``kind``), newest first."""
        rows = await self.pool.fetch(
            """SELECT d.id, d.kind, d.title, d.machine_models, d.lang, d.source, d.created_at,
                      (SELECT string_agg(text, E'\\n' ORDER BY ordinal) FROM kb_chunks c WHERE c.version_id = d.current_version_id) AS text
               FROM kb_documents d WHERE d.kind <> 'manual' AND ($1::text IS NULL OR d.kind = $1)
               ORDER BY d.id DESC LIMIT $2""", kind, limit)
        return [cast(EntryInfo, {**dict(r), "created_at": r["created_at"].isoformat()}) for r in rows]

    # -- reading -----------------------------------------------------------------------------------

    async def list_documents(self, *, kind: str | None = "manual") -> list[DocumentInfo]:
        """Every document (of ``kind``; None: all kinds) with its newest version's status."""
        rows = await self.pool.fetch(
            """SELECT d.id, d.kind, d.title, d.filename, d.machine_models, d.lang, d.current_version_id, d.created_at, d.updated_at,
                      v.id AS version_id, v.status, v.pages_total, v.pages_done, v.chunks, v.error, v.content_type, v.byte_size
               FROM kb_documents d
               LEFT JOIN LATERAL (SELECT * FROM kb_versions WHERE document_id = d.id ORDER BY id DESC LIMIT 1) v ON true
               WHERE ($1::text IS NULL OR d.kind = $1) ORDER BY d.id""", kind)
        return [_document_dict(r) for r in rows]

    async def get_document(self, document_id: int) -> DocumentInfo:
        """One document with all its versions; raises ``DocumentNotFound``."""
        row = await self.pool.fetchrow(
            """SELECT d.id, d.kind, d.title, d.filename, d.machine_models, d.lang, d.current_version_id, d.created_at, d.updated_at,
                      v.id AS version_id, v.status, v.pages_total, v.pages_done, v.chunks, v.error, v.content_type, v.byte_size
               FROM kb_documents d
               LEFT JOIN LATERAL (SELECT * FROM kb_versions WHERE document_id = d.id ORDER BY id DESC LIMIT 1) v ON true
               WHERE d.id = $1""", document_id)
        if row is None:
            raise DocumentNotFound(f"document {document_id} does not exist")
        versions = await self.pool.fetch(
            """SELECT id, status, sha256, content_type, byte_size, pages_total, pages_done, chunks, error, embedder, embedding_dim,
                      attempts, created_at, finished_at FROM kb_versions WHERE document_id = $1 ORDER BY id DESC""", document_id)
        out = _document_dict(row)
        out["versions"] = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(r).items()} for r in versions]
        return out

    async def get_file(self, document_id: int) -> tuple[bytes, str, str]:
        """The original bytes of the visible version (else the newest), its content type and file name."""
        row = await self.pool.fetchrow(
            """SELECT v.storage_key, v.content_type, v.filename FROM kb_documents d JOIN kb_versions v ON v.document_id = d.id
               WHERE d.id = $1 ORDER BY (v.id = d.current_version_id) DESC, v.id DESC LIMIT 1""", document_id)
        if row is None:
            raise DocumentNotFound(f"document {document_id} does not exist")
        try:
            data = await asyncio.to_thread(self.files.read, row["storage_key"])
        except FileNotFoundError as exc:
            raise DocumentNotFound(f"the file of document {document_id} is missing from storage") from exc
        return data, row["content_type"], row["filename"]

    async def document_view(self, document_id: int, *, cited: str = "") -> str:
        """The visible version as a readable HTML page with each section at its anchor and the ``cited``
        one marked (``knowledge.view``), parsed again in a worker process like an upload (the original
        markup is never passed on)."""
        data, content_type, filename = await self.get_file(document_id)
        row = await self.pool.fetchrow("SELECT title, lang FROM kb_documents WHERE id = $1", document_id)
        parsed = await self.ingestor.parser.parse(data, content_type, filename=filename, max_pages=self.limits.max_pages)
        if row is not None and row["title"]:
            parsed = dataclasses.replace(parsed, title=row["title"])
        return view.render(parsed, lang=row["lang"] if row is not None else None, cited=cited)

    # -- search ------------------------------------------------------------------------------------

    async def search(self, query: str, *, k: int = 5, machine_model: str | None = None, lang: str | None = None,
                     document_id: int | None = None, reader_lang: str | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query`` (any of the six languages), best first.

        ``reader_lang``: the asker's language. Manuals in a third language (neither the reader's nor
        English, the language every manual exists in) are left out: an Arabic-speaking operator is
        not shown a Greek manual, and such passages would crowd out the English ones. Relevance
        ranks; the reader's language only breaks near-ties between editions of one manual
        (``search.prefer_reader_edition``). The assistant and the admin test search both come here.
        """
        query = (query or "").strip()
        if not query:
            return []
        k = max(1, min(int(k), 50))
        reader_lang = _lang(reader_lang)
        filters = SearchFilter(machine_model or None, lang or None, document_id, reader_lang)
        started = time.perf_counter()
        # the query is embedded while the common words are read (when their cache is stale); no pooled
        # connection is held across the embedding; then the retrieval is two statements side by side
        # (knowledge.search.hybrid_search: the dense HNSW query, and the other retrievers with the filters)
        embedded = asyncio.ensure_future(self._embed_query(query))
        try:
            skip = await self._common_words()
            vector, sparse = await embedded
        finally:
            if not embedded.done():
                embedded.cancel()
        embedded_at = time.perf_counter()
        # enough rows for the reranker's head and the reader-edition tie-breaks below
        result = await hybrid_search(self.pool, query=query, vector=vector, filters=filters, options=self.options,
                                     sparse=sparse, skip_words=skip, embedder=self.embedder.name, rows=max(k * 4, 40))
        if result.foreign_embedders:
            raise EmbedderMismatch(
                f"the index was built with {', '.join(result.foreign_embedders)} but the configured embedder is "
                f"{self.embedder.name}; re-index (python -m knowledge reindex, or POST /api/kb/documents/{{id}}/reindex) "
                "before searching")
        passages = result.passages
        if self.reranker is not None and passages:
            head = await self.reranker(query, passages[: max(k * 3, 20)])
            passages = head + passages[len(head):]
        passages = prefer_reader_edition(passages, reader_lang)
        finished = time.perf_counter()
        if self.metrics is not None:
            self.metrics.retrieval_latency.observe(finished - started)
        log.debug("kb.searched", embed_ms=round((embedded_at - started) * 1000, 1),
                  search_ms=round((finished - embedded_at) * 1000, 1), passages=min(k, len(passages)))
        return passages[:k]

    async def search_as_assistant(self, query: str, *, k: int = 5, machine_model: str | None = None,
                                  reader_lang: str | None = None) -> list[Passage]:
        """What the assistant retrieves for a question: the manuals of the machine's model (and those for
        every model) first, then other models' to fill up to ``k``. The admin test search with
        ``reader_lang`` runs this too, so it shows exactly what a conversation gets."""
        passages = await self.search(query, k=k, machine_model=machine_model, reader_lang=reader_lang)
        if machine_model and len(passages) < k:
            seen = {p.chunk_id for p in passages}
            more = await self.search(query, k=k, reader_lang=reader_lang)
            passages += [p for p in more if p.chunk_id not in seen][: k - len(passages)]
        return passages

    async def _common_words(self) -> list[str]:
        """The corpus's most common words, refreshed every few minutes (they change only with ANALYZE)."""
        now = time.monotonic()
        if now - self._common[0] > 300:
            async with self.pool.acquire() as conn:
                self._common = (now, await common_words(conn, self.options.common_word_share))
        return self._common[1]

    async def _embed_query(self, query: str) -> tuple[np.ndarray | None, SparseVector | None]:
        """The dense and (when the embedder has a sparse head) sparse query vectors, computed concurrently."""
        head = sparse_head(self.embedder)

        async def dense() -> np.ndarray | None:
            return (await self.embedder.embed_queries([query]))[0] if self.options.use_vector else None

        async def sparse() -> SparseVector | None:
            if head is None or not self.options.use_sparse:
                return None
            return SparseVector((await head.embed_sparse([query], query=True))[0], head.sparse_dim)

        vector, sparse_vector = await asyncio.gather(dense(), sparse())
        return vector, sparse_vector

    # -- operations --------------------------------------------------------------------------------

    async def stats(self) -> dict[str, int]:
        """Counts of documents, visible chunks, versions being indexed and versions of another embedder."""
        row = await self.pool.fetchrow(
            """SELECT (SELECT count(*) FROM kb_documents) AS documents,
                      (SELECT count(*) FROM kb_chunks c JOIN kb_documents d ON d.current_version_id = c.version_id) AS chunks,
                      (SELECT count(*) FROM kb_versions WHERE status IN ('queued', 'processing')) AS pending,
                      (SELECT count(*) FROM kb_versions v JOIN kb_documents d ON d.current_version_id = v.id
                        WHERE v.embedder IS DISTINCT FROM $1) AS foreign_embedder""", self.embedder.name)
        return dict(row)

    async def health(self) -> ComponentHealth:
        """Healthy when searchable; degraded while indexing, when empty or when a re-index is needed."""
        started = time.perf_counter()
        try:
            s = await self.stats()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            return ComponentHealth("knowledge", Status.UNHEALTHY, (time.perf_counter() - started) * 1000, type(exc).__name__)
        latency = (time.perf_counter() - started) * 1000
        detail = f"{s['documents']} documents, {s['chunks']} chunks, {s['pending']} indexing, embedder {self.embedder.name}"
        if s["foreign_embedder"]:
            return ComponentHealth("knowledge", Status.DEGRADED, latency, detail + f"; {s['foreign_embedder']} need re-index", critical=False)
        if s["chunks"] == 0:
            return ComponentHealth("knowledge", Status.DEGRADED, latency, detail + "; nothing indexed yet", critical=False)
        return ComponentHealth("knowledge", Status.HEALTHY, latency, detail, critical=False)

    async def seed_samples(self, *, wait: bool = False, progress: Progress | None = None) -> list[AddResult]:
        """Index the sample AutoBoss manuals listed in ``samples/manifest.json`` (idempotent)."""
        manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
        results = []
        for item in manifest["seed"]:
            data = (SAMPLES_DIR / item["file"]).read_bytes()
            results.append(await self.add_document(data, filename=item["file"], machine_models=item["models"], lang=item["lang"],
                                                   title=item.get("title"), wait=wait, progress=progress))
        log.info("kb.samples_seeded", documents=len(results), new=sum(1 for r in results if not r["duplicate"]))
        return results

    async def _update_gauge(self) -> None:
        if self.metrics is not None:
            n = await self.pool.fetchval("SELECT count(*) FROM kb_chunks c JOIN kb_documents d ON d.current_version_id = c.version_id")
            self.metrics.kb_chunks.set(n)


def _document_dict(r: asyncpg.Record) -> DocumentInfo:
    out = dict(r)
    for key in ("created_at", "updated_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    out["visible"] = out.get("current_version_id") is not None
    out["file_url"] = f"/api/kb/documents/{out['id']}/file"
    return cast(DocumentInfo, out)
