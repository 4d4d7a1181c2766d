"""The hybrid search as one statement: one round trip per search, the filters folded into it, the HNSW
settings applied inside it, and the bounded full-text pool against the exact ranking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from knowledge import CachedEmbedder, KnowledgeBase, Limits
from knowledge.search import SearchFilter, SearchOptions, hybrid_search

V4, M6 = "AutoBoss V4", "AutoBoss M6"

DOCS = {  # name: (text, machine models, language)
    "v4-en": ("# Nozzles\n\nReplace the spray nozzles of the AutoBoss V4 every 250 operating hours.", [V4], "en"),
    "m6-en": ("# Nozzles\n\nReplace the spray nozzles of the AutoBoss M6 every 300 operating hours.", [M6], "en"),
    "all-en": ("# Nozzle care\n\nClean the spray nozzles of any machine with warm water every week.", [], "en"),
    "v4-es": ("# Boquillas\n\nSustituya las boquillas del AutoBoss V4 cada 250 horas de funcionamiento.", [V4], "es"),
    "v4-el": ("# Ακροφύσια\n\nΑντικαταστήστε τα ακροφύσια του AutoBoss V4 κάθε 250 ώρες λειτουργίας.", [V4], "el"),
}
QUERY = "How often should I replace the spray nozzles?"


class Statements:
    """Every statement the knowledge base's connections send, from asyncpg's query logger (but the
    pool's own reset of a released connection)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def _log(self, record: asyncpg.connection.LoggedQuery) -> None:
        if not record.query.startswith("SELECT pg_advisory_unlock_all()"):
            self.queries.append(record.query)

    async def init(self, conn: asyncpg.Connection) -> None:
        await register_vector(conn)
        conn.add_query_logger(self._log)


@pytest.fixture
async def logged(database_url: str, embedder: CachedEmbedder, tmp_path: Path,
                 limits: Limits) -> AsyncIterator[tuple[KnowledgeBase, Statements, dict[str, int]]]:
    statements = Statements()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=3, init=statements.init)
    try:
        kb = KnowledgeBase(pool, embedder, tmp_path / "manuals", limits)
        ids = {}
        for name, (text, models, lang) in DOCS.items():
            result = await kb.add_document(text.encode(), filename=f"{name}.md", machine_models=models, lang=lang, wait=True)
            assert result["status"] == "ready"
            ids[name] = result["id"]
        ids["expert-no"] = await kb.add_entry("expert", "Dyser", "Bytt dysene på AutoBoss V4 hver 250. driftstime.",
                                              machine_model=V4, lang="no")
        await pool.execute("ANALYZE kb_chunks")
        yield kb, statements, ids
    finally:
        await pool.close()


async def test_a_search_is_three_statements_side_by_side(logged: tuple[KnowledgeBase, Statements, dict[str, int]]) -> None:
    kb, statements, ids = logged
    await kb.search(QUERY, k=5)  # the common words are read once, then kept for a few minutes
    statements.queries.clear()
    passages = await kb.search(QUERY, k=5, machine_model=V4, reader_lang="en")
    assert passages and ids["m6-en"] not in {p.document_id for p in passages}
    # no separate look-up of the live documents, no SET, no fetch of the rows afterwards: the dense
    # HNSW query, full text, and sparse with codes, each one statement with the filters folded in
    assert len(statements.queries) == 3, statements.queries
    assert all(q.lstrip().startswith("WITH live AS MATERIALIZED") for q in statements.queries)
    retrievers = {q: {name for name in ("dense", "sparse", "fulltext") if f"{name} AS MATERIALIZED" in q}
                  for q in statements.queries}
    assert sorted(sorted(names) for names in retrievers.values()) == [["dense"], ["fulltext"], ["sparse"]]
    # the assistant fills up from other models' manuals with a second search only when the first found too few
    statements.queries.clear()
    await kb.search_as_assistant(QUERY, k=10, machine_model=M6, reader_lang="en")
    assert len(statements.queries) == 6


async def test_with_the_pool_busy_a_search_is_one_statement_on_one_connection(
        logged: tuple[KnowledgeBase, Statements, dict[str, int]]) -> None:
    """A burst of questions: a search takes one connection instead of three, with the same ranking."""
    kb, statements, _ = logged
    free = await kb.search(QUERY, k=5, machine_model=V4, reader_lang="en")
    held = [await kb.pool.acquire() for _ in range(2)]  # of 3: one left
    try:
        statements.queries.clear()
        busy = await kb.search(QUERY, k=5, machine_model=V4, reader_lang="en")
    finally:
        for conn in held:
            await kb.pool.release(conn)
    assert len(statements.queries) == 1, statements.queries
    assert all(f"{name} AS MATERIALIZED" in statements.queries[0] for name in ("dense", "sparse", "fulltext"))
    assert busy == free


async def test_side_by_side_statements_fuse_like_one(logged: tuple[KnowledgeBase, Statements, dict[str, int]]) -> None:
    kb, _, _ = logged
    vector, sparse = await kb._embed_query(QUERY)
    skip = await kb._common_words()
    kwargs = dict(query=QUERY, vector=vector, sparse=sparse, filters=SearchFilter(reader_lang="es"), skip_words=skip,
                  embedder=kb.embedder.name, rows=20)
    side_by_side = await hybrid_search(kb.pool, **kwargs)  # type: ignore[arg-type]
    async with kb.pool.acquire() as conn:
        one = await hybrid_search(conn, **kwargs)  # type: ignore[arg-type]
        exact = await hybrid_search(conn, exact=True, **kwargs)  # type: ignore[arg-type]
    assert side_by_side.passages == one.passages == exact.passages
    assert len(one.passages) == len(DOCS)  # every visible chunk (the Greek manual is left out), no duplicates


async def test_filters_are_applied_in_the_statement(logged: tuple[KnowledgeBase, Statements, dict[str, int]]) -> None:
    kb, _, ids = logged

    async def found(**kwargs: object) -> set[int]:
        return {p.document_id for p in await kb.search(QUERY, k=20, **kwargs)}  # type: ignore[arg-type]

    assert await found() == set(ids.values())
    # a model (any case): its documents, documents for every model, never another model's
    assert await found(machine_model="autoboss v4") == set(ids.values()) - {ids["m6-en"]}
    assert await found(machine_model=M6) == {ids["m6-en"], ids["all-en"]}
    assert await found(lang="ES") == {ids["v4-es"]}
    assert await found(document_id=ids["m6-en"]) == {ids["m6-en"]}
    assert await found(machine_model="AutoBoss Z9") == {ids["all-en"]}
    # a Spanish reader: no Greek manual (a third language), but expert entries in any language
    assert await found(reader_lang="es") == set(ids.values()) - {ids["v4-el"]}
    assert await found(reader_lang="el", machine_model=V4) == {ids["v4-en"], ids["all-en"], ids["v4-el"], ids["expert-no"]}


async def test_fused_scores_and_similarity_come_with_every_row(logged: tuple[KnowledgeBase, Statements, dict[str, int]]) -> None:
    kb, _, ids = logged
    passages = await kb.search(QUERY, k=10)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert all(0 < p.similarity <= 1 for p in passages)
    expert = next(p for p in passages if p.document_id == ids["expert-no"])
    assert expert.kind == "expert" and expert.machine_models == [V4] and expert.lang == "no"


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(0, 1, (n, 384)).astype(np.float32)
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


async def _synthetic_document(conn: asyncpg.Connection, title: str, vectors: np.ndarray, words: list[str]) -> int:
    doc = await conn.fetchval("INSERT INTO kb_documents (title, lang) VALUES ($1, 'en') RETURNING id", title)
    ver = await conn.fetchval(
        """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, title, status)
           VALUES ($1, $2, 'text/plain', 0, 'none', $2, 'ready') RETURNING id""", doc, title)
    await conn.execute("UPDATE kb_documents SET current_version_id = $1 WHERE id = $2", ver, doc)
    await conn.executemany(
        """INSERT INTO kb_chunks (version_id, document_id, ordinal, text, dim, embedding, tsv)
           VALUES ($1, $2, $3, $4, 384, $5, to_tsvector('english', $4))""",
        [(ver, doc, i, words[i % len(words)], vectors[i]) for i in range(len(vectors))])
    return int(doc)


async def test_the_hnsw_settings_take_effect_inside_the_statement(db_pool: asyncpg.Pool) -> None:
    """A filter that keeps 30 of 430 chunks: without the iterative scan (set in the statement itself)
    the index would stop after ef_search neighbours and return only the few of them in the document."""
    rng = np.random.default_rng(3)
    async with db_pool.acquire() as conn:
        await _synthetic_document(conn, "big", _unit(rng, 400), ["winch cable"])
        small = await _synthetic_document(conn, "small", _unit(rng, 30), ["brush motor"])
        query = _unit(rng, 1)[0]
        options = SearchOptions(use_text=False, use_codes=False, use_sparse=False, ef_search=40)
        filters = SearchFilter(document_id=small)
        approximate = await hybrid_search(conn, query="x", vector=query, filters=filters, options=options, rows=50)
        exact = await hybrid_search(conn, query="x", vector=query, filters=filters, options=options, rows=50, exact=True)
    assert len(approximate.passages) == 30
    assert [p.chunk_id for p in approximate.passages] == [p.chunk_id for p in exact.passages]


async def test_the_bounded_full_text_pool_ranks_two_word_matches_first(db_pool: asyncpg.Pool) -> None:
    """More one-word matches than the pool holds: the chunks with both words are still all ranked, so
    the top of the full-text list equals the exact ranking of every match."""
    rng = np.random.default_rng(4)
    words = ["hydraulic oil"] * 2 + ["hydraulic hose"] * 20 + ["oil filter"] * 20 + ["brush motor"] * 8  # 8 of 200 have both
    async with db_pool.acquire() as conn:
        await _synthetic_document(conn, "mixed", _unit(rng, 200), words)
        options = SearchOptions(use_vector=False, use_sparse=False, use_codes=False, text_pool=10, candidates=5)
        bounded = await hybrid_search(conn, query="hydraulic oil", vector=None, filters=SearchFilter(), options=options)
        exact = await hybrid_search(conn, query="hydraulic oil", vector=None, filters=SearchFilter(), options=options,
                                    exact=True)
        texts = await conn.fetch("SELECT text FROM kb_chunks WHERE id = ANY($1::bigint[])", [p.chunk_id for p in bounded.passages])
    assert len(bounded.passages) == 5
    assert {r["text"] for r in texts} == {"hydraulic oil"}
    assert [p.chunk_id for p in bounded.passages] == [p.chunk_id for p in exact.passages]
