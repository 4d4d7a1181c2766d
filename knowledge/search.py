"""Hybrid retrieval: pgvector HNSW (cosine), sparse latent terms and PostgreSQL full text, fused by
reciprocal rank.

Exact error-code and part-number matches add a strong bonus; expert knowledge and corrections are
weighted above manual text; an optional reranker reorders the fused candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import numpy as np
from pgvector import SparseVector

from knowledge.codes import extract_codes
from knowledge.models import Kind, Passage, document_url

Reranker = Callable[[str, list[Passage]], Awaitable[list[Passage]]]

RRF_K = 60
CODE_BONUS = 2.0 / (RRF_K + 1)  # an exact code match outweighs being first in both lists
KIND_WEIGHT = {Kind.CORRECTION.value: 1.2, Kind.EXPERT.value: 1.15, Kind.RESOLUTION.value: 1.1, Kind.MANUAL.value: 1.0}
# A passage of the reader's edition of a manual may pass the passage of another edition of the same
# manual (same machine models, another language) just above it when its score is within this share:
# the same content, read in the reader's language. It never passes a passage of another manual.
EDITION_TIE = 0.2


@dataclasses.dataclass(frozen=True)
class LiveDocument:
    """A document search may see: its current version and what filters and weights need."""

    document_id: int
    version_id: int
    kind: str
    title: str
    machine_models: list[str]
    lang: str | None
    embedder: str | None


@dataclasses.dataclass(frozen=True)
class SearchOptions:
    """Which retrievers take part and how they are weighted (the defaults are the measured best)."""

    candidates: int = 50
    use_vector: bool = True
    use_text: bool = True
    use_codes: bool = True
    ef_search: int = 100
    use_sparse: bool = True
    vector_weight: float = 1.0
    text_weight: float = 1.0
    sparse_weight: float = 1.0
    common_word_share: float = 0.2  # words in more chunks than this share are left out of full-text queries


LIVE_SQL = """
SELECT d.id, d.current_version_id, d.kind, d.title, d.machine_models, d.lang, v.embedder
FROM kb_documents d JOIN kb_versions v ON v.id = d.current_version_id
WHERE ($1::text IS NULL OR cardinality(d.machine_models) = 0
       OR EXISTS (SELECT 1 FROM unnest(d.machine_models) m WHERE lower(m) = lower($1)))
  AND ($2::text IS NULL OR lower(d.lang) = lower($2))
  AND ($3::bigint IS NULL OR d.id = $3)
"""


async def live_documents(conn: asyncpg.Connection, machine_model: str | None, lang: str | None,
                         document_id: int | None) -> list[LiveDocument]:
    """The documents with a visible version for a machine model (or none), a language, a document."""
    rows = await conn.fetch(LIVE_SQL, machine_model, lang, document_id)
    return [LiveDocument(r[0], r[1], r[2], r[3], list(r[4]), r[5], r[6]) for r in rows]


async def vector_candidates(conn: asyncpg.Connection, vector: np.ndarray, versions: list[int], limit: int,
                            ef_search: int = 100) -> list[int]:
    """Nearest chunks by cosine distance (HNSW with iterative scan so filters keep enough rows)."""
    dim = int(vector.shape[0])
    async with conn.transaction():
        await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = await conn.fetch(
            f"""SELECT id FROM (
                    SELECT id, embedding::vector({dim}) <=> $1::vector({dim}) AS dist FROM kb_chunks
                    WHERE dim = {dim} AND version_id = ANY($2::bigint[])
                    ORDER BY embedding::vector({dim}) <=> $1::vector({dim}) LIMIT $3
                ) c ORDER BY dist""",
            vector, versions, limit)
    return [r[0] for r in rows]


async def sparse_candidates(conn: asyncpg.Connection, sparse: SparseVector, versions: list[int], limit: int,
                            ef_search: int = 100) -> list[int]:
    """Chunks with the largest inner product of sparse latent-term vectors."""
    dim = int(sparse.dimensions())
    async with conn.transaction():
        await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = await conn.fetch(
            f"""SELECT id FROM (
                    SELECT id, sparse::sparsevec({dim}) <#> $1::sparsevec({dim}) AS dist FROM kb_chunks
                    WHERE sparse_dim = {dim} AND version_id = ANY($2::bigint[])
                    ORDER BY sparse::sparsevec({dim}) <#> $1::sparsevec({dim}) LIMIT $3
                ) c ORDER BY dist""",
            sparse, versions, limit)
    return [r[0] for r in rows]


async def common_words(conn: asyncpg.Connection, threshold: float) -> list[str]:
    """Lexemes found in more than ``threshold`` of all chunks, from the planner statistics (ANALYZE)."""
    row = await conn.fetchrow(
        """SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS freqs FROM pg_stats
           WHERE schemaname = current_schema() AND tablename = 'kb_chunks' AND attname = 'tsv'""")
    if row is None or row["words"] is None:
        return []
    return [w for w, f in zip(row["words"], row["freqs"], strict=False) if f > threshold]


async def text_candidates(conn: asyncpg.Connection, query: str, versions: list[int], limit: int,
                          skip: Sequence[str] = ()) -> list[int]:
    """Chunks matching the full-text query (``skip``: common words left out), best ``ts_rank`` first."""
    rows = await conn.fetch(
        """SELECT c.id FROM kb_chunks c, kb_tsquery($1, $4::text[]) q
           WHERE c.version_id = ANY($2::bigint[]) AND c.tsv @@ q
           ORDER BY ts_rank(c.tsv, q) DESC, c.id LIMIT $3""",
        query, versions, limit, list(skip))
    return [r[0] for r in rows]


async def code_candidates(conn: asyncpg.Connection, codes: Sequence[str], versions: list[int], limit: int) -> list[int]:
    """Chunks that contain any of ``codes`` (error codes, part numbers) exactly."""
    rows = await conn.fetch(
        "SELECT id FROM kb_chunks WHERE version_id = ANY($2::bigint[]) AND codes && $1::text[] ORDER BY id LIMIT $3",
        list(codes), versions, limit)
    return [r[0] for r in rows]


async def hybrid_search(conn: asyncpg.Connection, *, query: str, vector: np.ndarray | None, docs: list[LiveDocument],
                        k: int, options: SearchOptions | None = None, sparse: SparseVector | None = None,
                        skip_words: Sequence[str] = ()) -> list[Passage]:
    """Fuse the three candidate lists by reciprocal rank and build passages for the best ``k``."""
    options = options or SearchOptions()
    if not docs:
        return []
    by_version = {d.version_id: d for d in docs}
    versions = list(by_version)
    scores: dict[int, float] = {}
    if options.use_vector and vector is not None:
        for rank, cid in enumerate(await vector_candidates(conn, vector, versions, options.candidates, options.ef_search)):
            scores[cid] = scores.get(cid, 0.0) + options.vector_weight / (RRF_K + rank + 1)
    if options.use_sparse and sparse is not None:
        for rank, cid in enumerate(await sparse_candidates(conn, sparse, versions, options.candidates, options.ef_search)):
            scores[cid] = scores.get(cid, 0.0) + options.sparse_weight / (RRF_K + rank + 1)
    if options.use_text:
        for rank, cid in enumerate(await text_candidates(conn, query, versions, options.candidates, skip_words)):
            scores[cid] = scores.get(cid, 0.0) + options.text_weight / (RRF_K + rank + 1)
    codes = extract_codes(query) if options.use_codes else ()
    if codes:
        for cid in await code_candidates(conn, codes, versions, options.candidates * 4):
            scores.setdefault(cid, 0.0)
    if not scores:
        return []
    dim_sql = f"::vector({int(vector.shape[0])})" if vector is not None else ""
    similarity = f"1 - (embedding{dim_sql} <=> $2{dim_sql})" if vector is not None else "0.0::float8"
    args: list[object] = [list(scores)]
    if vector is not None:
        args.append(vector)
    rows = await conn.fetch(
        f"""SELECT id, version_id, document_id, page, section, text, codes, anchor,
                   CASE WHEN dim = {int(vector.shape[0]) if vector is not None else 0} THEN {similarity} ELSE 0 END AS sim
            FROM kb_chunks WHERE id = ANY($1::bigint[])""", *args)
    passages: list[Passage] = []
    wanted = set(codes)
    for r in rows:
        doc = by_version[r["version_id"]]
        matched = [c for c in r["codes"] if c in wanted]
        score = scores[r["id"]]
        if wanted:
            score += CODE_BONUS * len(matched) / len(wanted)
        score *= KIND_WEIGHT.get(doc.kind, 1.0)
        passages.append(Passage(
            chunk_id=r["id"], document_id=r["document_id"], title=doc.title, machine_models=doc.machine_models,
            lang=doc.lang, page=r["page"], section=r["section"], text=r["text"], score=round(score, 6),
            kind=doc.kind, url=document_url(r["document_id"], r["page"], r["anchor"]), similarity=round(float(r["sim"] or 0.0), 4),
            matched_codes=matched))
    passages.sort(key=lambda p: (-p.score, -p.similarity, p.chunk_id))
    return passages


def editions(a: Passage, b: Passage) -> bool:
    """Passages of two editions of one manual: manuals for the same machine models in two languages."""
    return (a.document_id != b.document_id and a.kind == b.kind == Kind.MANUAL.value and bool(a.machine_models)
            and {m.lower() for m in a.machine_models} == {m.lower() for m in b.machine_models}
            and (a.lang or "") != (b.lang or ""))


def prefer_reader_edition(passages: list[Passage], reader_lang: str | None) -> list[Passage]:
    """Relevance first, language second: ``passages`` (best first) with the reader's edition of a manual
    moved above another edition's passage that ranks just above it by less than ``EDITION_TIE``.

    Only ties between editions of the same manual are broken; a passage of another document is
    never passed, so a relevant English FAQ stays above a less relevant passage of a manual that
    happens to be in the reader's language.
    """
    if not reader_lang:
        return passages
    out = list(passages)
    for i in range(1, len(out)):
        j = i
        while (j > 0 and out[j].lang == reader_lang and out[j - 1].lang != reader_lang and editions(out[j], out[j - 1])
               and out[j].score >= out[j - 1].score * (1 - EDITION_TIE)):
            out[j - 1], out[j] = out[j], out[j - 1]
            j -= 1
    return out
