"""``QueryBatcher``: concurrent query embeddings merged into one model call.

When many questions arrive at once, each turn embeds its query (dense, and sparse when the model has
a sparse head). One call of the model for 200 queries costs far less than 200 calls of one query (the
per-call overhead and the threads' start-up dominate short texts), and a call of one query waits
behind the calls before it anyway. So a call arriving while the model is idle waits a short window
for company; calls arriving while the model is busy wait for it to be free; then everything waiting
(up to ``max_batch`` texts) goes to the model as one call, and each caller gets its own rows back.

It wraps any :class:`knowledge.embedders.Embedder` and is one itself; passages (ingestion) pass
straight through. Every wait is bounded by ``timeout``; batches and their sizes are counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import numpy as np

from core.logs import get_logger
from knowledge.embedders import DimensionProbe, Embedder, SparseVector, sparse_head
from knowledge.errors import EmbeddingFailed
from knowledge.ports import BatchMetrics

log = get_logger("knowledge.query_batch")

Row = TypeVar("Row")


@dataclasses.dataclass
class _Request(Generic[Row]):
    texts: list[str]
    future: asyncio.Future[list[Row]]


class _Lane(Generic[Row]):
    """One kind of query embedding (dense or sparse): its waiting requests and the task that drains them."""

    def __init__(self, kind: str, call: Callable[[list[str]], Awaitable[list[Row]]], *, max_batch: int,
                 window: float, timeout: float, metrics: BatchMetrics | None) -> None:
        self.kind = kind
        self._call = call
        self._max_batch = max_batch
        self._window = window
        self._timeout = timeout
        self._metrics = metrics
        self._waiting: list[_Request[Row]] = []
        self._drainer: asyncio.Task[None] | None = None
        self.calls = 0  # model calls made (for tests and the benchmark)

    async def submit(self, texts: list[str]) -> list[Row]:
        if not texts:
            return []
        future: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(list(texts), future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=f"query_batch.{self.kind}")
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            self._count_degraded()
            log.warning("query_batch.timeout", kind=self.kind, seconds=self._timeout, texts=len(texts))
            raise EmbeddingFailed(f"query embedding did not finish within {self._timeout:g} s") from exc

    def _count_degraded(self) -> None:
        if self._metrics is not None:
            self._metrics.degraded.labels("query_batch").inc()

    def _take(self) -> list[_Request[Row]]:
        """The requests of the next call: in arrival order, up to ``max_batch`` texts (at least one request)."""
        taken: list[_Request[Row]] = []
        size = 0
        while self._waiting:
            request = self._waiting[0]
            if taken and size + len(request.texts) > self._max_batch:
                break
            taken.append(self._waiting.pop(0))
            size += len(request.texts)
        return taken

    async def _drain(self) -> None:
        if self._window > 0:  # the model was idle: give the calls of the same instant a moment to join
            await asyncio.sleep(self._window)
        while self._waiting:
            batch = [r for r in self._take() if not r.future.done()]  # a caller that gave up is skipped
            if not batch:
                continue
            unique = list(dict.fromkeys(t for r in batch for t in r.texts))  # a query asked twice is embedded once
            self.calls += 1
            if self._metrics is not None:
                self._metrics.query_batch_size.labels(self.kind).observe(len(unique))
            try:
                rows = await self._call(unique)
            except Exception as exc:  # every caller of this batch gets the failure, translated once
                failure = exc if isinstance(exc, EmbeddingFailed) else EmbeddingFailed(
                    f"query embedding failed: {type(exc).__name__}")
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(failure)
                continue
            by_text = dict(zip(unique, rows, strict=True))
            for r in batch:
                if not r.future.done():
                    r.future.set_result([by_text[t] for t in r.texts])


class QueryBatcher:
    """An :class:`Embedder` whose query embeddings (dense and sparse) are batched across callers.

    ``max_batch``: most texts in one model call; ``window``: seconds a call waits for others when the
    model is idle; ``timeout``: seconds a caller waits at most (then ``EmbeddingFailed``).
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 64, window: float = 0.002, timeout: float = 10.0,
                 metrics: BatchMetrics | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.inner = inner
        self._dense: _Lane[np.ndarray] = _Lane("dense", self._embed_dense, max_batch=max_batch, window=window,
                                               timeout=timeout, metrics=metrics)
        self._sparse: _Lane[SparseVector] = _Lane("sparse", self._embed_sparse_queries, max_batch=max_batch,
                                                  window=window, timeout=timeout, metrics=metrics)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def sparse_dim(self) -> int:
        head = sparse_head(self.inner)
        return head.sparse_dim if head is not None else 0

    @property
    def model_calls(self) -> int:
        """Dense query calls made to the model so far."""
        return self._dense.calls

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def ensure_dim(self) -> int:
        return await self.inner.ensure_dim() if isinstance(self.inner, DimensionProbe) else self.inner.dim

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        rows = await self._dense.submit(texts)
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self.inner.embed_passages(texts)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        if query:
            return await self._sparse.submit(texts)
        head = sparse_head(self.inner)
        if head is None:
            raise EmbeddingFailed(f"{self.inner.name} has no sparse head")
        return await head.embed_sparse(texts, query=False)

    async def _embed_dense(self, texts: list[str]) -> list[np.ndarray]:
        return list(np.asarray(await self.inner.embed_queries(texts), dtype=np.float32))

    async def _embed_sparse_queries(self, texts: list[str]) -> list[SparseVector]:
        head = sparse_head(self.inner)
        if head is None:
            raise EmbeddingFailed(f"{self.inner.name} has no sparse head")
        return await head.embed_sparse(texts, query=True)
