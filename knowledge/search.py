"""Hybrid retrieval: pgvector HNSW (cosine), sparse latent terms and PostgreSQL full text, fused by
reciprocal rank.

Exact error-code and part-number matches add a strong bonus; expert knowledge and corrections are
weighted above manual text; an optional reranker reorders the fused candidates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
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
    text_pool: int = 500  # full text: at most this many matching chunks are ranked (those with two words first)
    pair_width: int = 12  # full text: "two of the words" looks at the query's first this many lexemes


@dataclasses.dataclass(frozen=True)
class SearchFilter:
    """Which documents a search sees: a machine model (documents for no model count for every model),
    a language, one document, and the reader's language (manuals in a third language are left out)."""

    machine_model: str | None = None
    lang: str | None = None
    document_id: int | None = None
    reader_lang: str | None = None


@dataclasses.dataclass
class SearchResult:
    """The fused passages, best first, and the embedders of visible documents other than the query's."""

    passages: list[Passage]
    foreign_embedders: list[str]


# The version filter of the retrievers the GIN indexes drive (full text, codes): ``+ 0`` keeps the
# planner from AND-ing a bitmap of the version index in, which reads every chunk's entry when most
# versions are visible (10 ms at 100k chunks for nothing); the filter is checked on the rows instead.
GIN_SCOPE = "version_id + 0 = ANY((SELECT ids FROM versions)::bigint[])"


class Part(enum.Enum):
    """Which retrievers one statement runs: all of them, or one group of them (the groups run side by
    side): the dense HNSW query; full text; the sparse HNSW query and the codes."""

    ALL = "all"
    DENSE = "dense"
    TEXT = "text"
    REST = "rest"


class _Args:
    """Positional parameters of one statement: ``args(value, "type")`` returns ``$n::type``."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object, cast: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{cast}"


def _live_sql(args: _Args, filters: SearchFilter) -> str:
    """The current version of every document passing the filters (``live``), those the reader may see
    (``visible``) and their version ids (``versions``): the filter every retriever applies."""
    model, lang, doc, reader = (args(filters.machine_model, "text"), args(filters.lang, "text"),
                                args(filters.document_id, "bigint"), args(filters.reader_lang, "text"))
    return f"""live AS MATERIALIZED (
        SELECT d.current_version_id AS version_id, d.kind, d.title, d.machine_models, d.lang, v.embedder
        FROM kb_documents d JOIN kb_versions v ON v.id = d.current_version_id
        WHERE ({model} IS NULL OR cardinality(d.machine_models) = 0
               OR EXISTS (SELECT 1 FROM unnest(d.machine_models) m WHERE lower(m) = lower({model})))
          AND ({lang} IS NULL OR lower(d.lang) = lower({lang}))
          AND ({doc} IS NULL OR d.id = {doc})
    ), visible AS MATERIALIZED (
        SELECT * FROM live WHERE {reader} IS NULL OR kind <> 'manual' OR coalesce(lang, '') IN ('', {reader}, 'en')
    ), versions AS MATERIALIZED (
        SELECT coalesce(array_agg(version_id), '{{}}') AS ids FROM visible
    )"""


def _nearest_sql(name: str, column: str, cast: str, operator: str, value: str, where: str, limit: str,
                 ef_search: int, exact: bool) -> str:
    """The ``limit`` nearest chunks by ``operator`` through the HNSW index (ranked 1, 2, ...).

    The query value comes from a one-row CTE that also sets ``hnsw.ef_search`` and the iterative
    scan for this transaction only: the index scan needs the value before it starts, so the
    settings are in place without a round trip of their own. ``exact``: a full scan and sort (the
    ``+ 0`` keeps the planner off the index), the ground truth for recall.
    """
    distance = f"{column}::{cast} {operator} (SELECT value FROM {name}_q)"
    order = f"({distance}) + 0" if exact else distance
    return f"""{name}_q AS MATERIALIZED (
        SELECT {value} AS value, set_config('hnsw.ef_search', '{int(ef_search)}', true) AS ef,
               set_config('hnsw.iterative_scan', 'relaxed_order', true) AS scan
    ), {name} AS MATERIALIZED (
        SELECT id, row_number() OVER (ORDER BY dist, id) AS rank FROM (
            SELECT id, {distance} AS dist FROM kb_chunks
            WHERE {where} AND version_id = ANY((SELECT ids FROM versions)::bigint[])
            ORDER BY {order} LIMIT {limit}
        ) nearest
    )"""


def _text_sql(args: _Args, query: str, skip: Sequence[str], options: SearchOptions, limit: str, exact: bool) -> str:
    """Full-text candidates ranked by ``ts_rank`` against an OR of the query's words (per-language
    stemmings, common words left out), through the GIN index.

    Only a bounded pool is ranked: up to ``text_pool`` chunks containing two of the words, and, when
    those are fewer than the candidates wanted, up to ``text_pool`` containing one. ``exact``: every
    match is ranked (the ground truth for recall).
    """
    lexemes = f"kb_query_lexemes({args(query, 'text')}, {args(list(skip), 'text[]')})"
    head = f"""text_q AS MATERIALIZED (
        SELECT kb_tsquery_any(lex) AS anyq, kb_tsquery_pairs(lex, {int(options.pair_width)}) AS pairq
        FROM (SELECT {lexemes} AS lex) l
    )"""
    scope = GIN_SCOPE
    if exact:
        pool = f"SELECT id, tsv FROM kb_chunks WHERE {scope} AND tsv @@ (SELECT anyq FROM text_q)"
        return f"""{head}, text_pool AS MATERIALIZED ({pool}), {_text_rank(limit)}"""
    cap = args(options.text_pool, "int")
    return f"""{head}, text_two AS MATERIALIZED (
        SELECT id, tsv FROM kb_chunks WHERE {scope} AND tsv @@ (SELECT pairq FROM text_q) LIMIT {cap}
    ), text_one AS MATERIALIZED (
        SELECT id, tsv FROM kb_chunks
        WHERE (SELECT count(*) FROM text_two) < {limit} AND {scope} AND tsv @@ (SELECT anyq FROM text_q)
        LIMIT {cap}
    ), text_pool AS (
        SELECT id, tsv FROM text_two
        UNION ALL SELECT id, tsv FROM text_one o WHERE NOT EXISTS (SELECT 1 FROM text_two t WHERE t.id = o.id)
    ), {_text_rank(limit)}"""


def _text_rank(limit: str) -> str:
    return f"""fulltext AS MATERIALIZED (
        SELECT id, row_number() OVER (ORDER BY r DESC, id) AS rank FROM (
            SELECT id, ts_rank(tsv, (SELECT anyq FROM text_q)) AS r FROM text_pool ORDER BY r DESC, id LIMIT {limit}
        ) ranked
    )"""


def hybrid_statement(*, query: str, vector: np.ndarray | None, sparse: SparseVector | None, filters: SearchFilter,
                     options: SearchOptions, skip_words: Sequence[str] = (), codes: Sequence[str] = (),
                     embedder: str = "", exact: bool = False, rows: int | None = 40,
                     part: Part = Part.ALL) -> tuple[str, list[object]]:
    """One statement for the whole retrieval: the live-version filter, each retriever as a LIMITed CTE
    over its index (dense HNSW, sparse HNSW, full text GIN, codes GIN), their reciprocal-rank sum per
    chunk, and the rows of the fused chunks with their cosine similarity.

    The result has a row for each of the ``rows`` best fused chunks (every candidate when ``rows`` is
    None; at least one row: with ``id`` NULL when nothing matched); every row carries ``foreign``,
    the embedders of live documents other than ``embedder``. ``part``: only the dense retriever, only
    full text, or sparse and codes (statements run side by side, fused by the caller).
    """
    args = _Args()
    ctes = [_live_sql(args, filters)]
    # a literal (a setting, not user input): a parameter would be left unused by a statement whose
    # retrievers do not take it (codes only), and PostgreSQL refuses a parameter it cannot type
    limit = str(int(options.candidates))
    hits: list[str] = []
    dim = int(vector.shape[0]) if vector is not None else 0
    if vector is not None and part not in (Part.ALL, Part.DENSE):  # only for the similarity of the rows
        ctes.append(f"dense_q AS MATERIALIZED (SELECT {args(vector, f'vector({dim})')} AS value)")
    elif vector is not None:
        ctes.append(_nearest_sql("dense", "embedding", f"vector({dim})", "<=>", args(vector, f"vector({dim})"),
                                 f"dim = {dim}", limit, options.ef_search, exact))
        hits.append(f"SELECT id, {args(float(options.vector_weight), 'float8')} / ({RRF_K} + rank) FROM dense")
    if part in (Part.DENSE, Part.TEXT):
        sparse, codes = None, ()
    if sparse is not None:
        sdim = int(sparse.dimensions())
        ctes.append(_nearest_sql("sparse", "sparse", f"sparsevec({sdim})", "<#>", args(sparse, f"sparsevec({sdim})"),
                                 f"sparse_dim = {sdim}", limit, options.ef_search, exact))
        hits.append(f"SELECT id, {args(float(options.sparse_weight), 'float8')} / ({RRF_K} + rank) FROM sparse")
    if options.use_text and part in (Part.ALL, Part.TEXT):
        ctes.append(_text_sql(args, query, skip_words, options, limit, exact))
        hits.append(f"SELECT id, {args(float(options.text_weight), 'float8')} / ({RRF_K} + rank) FROM fulltext")
    if codes:
        ctes.append(f"""code AS MATERIALIZED (
            SELECT id FROM kb_chunks
            WHERE codes && {args(list(codes), 'text[]')} AND {GIN_SCOPE}
            LIMIT {args(int(options.candidates) * 4, 'int')}
        )""")
        hits.append("SELECT id, 0.0::float8 FROM code")
    if not hits:
        hits.append("SELECT NULL::bigint, 0.0::float8 WHERE false")
    similarity = (f"CASE WHEN c.dim = {dim} THEN 1 - (c.embedding::vector({dim}) <=> (SELECT value FROM dense_q)) ELSE 0 END"
                  if vector is not None else "0.0::float8")
    bonus = "0.0"
    if codes:
        wanted = args(list(codes), "text[]")
        bonus = f"{CODE_BONUS!r} * (SELECT count(*) FROM unnest(c.codes) x WHERE x = ANY({wanted})) / {len(codes)}"
    weight = "CASE v.kind " + " ".join(f"WHEN '{kind}' THEN {w!r}" for kind, w in KIND_WEIGHT.items()) + " ELSE 1.0 END"
    name = args(embedder, "text")
    ctes.append(f"""hits (id, score) AS ({" UNION ALL ".join(hits)}
    ), fused AS (
        SELECT id, sum(score) AS score FROM hits GROUP BY id
    ), found AS (
        SELECT c.id, c.document_id, c.page, c.section, c.text, c.codes, c.anchor, f.score AS rrf, {similarity} AS sim,
               (f.score + {bonus}) * {weight} AS score, v.kind, v.title, v.machine_models, v.lang
        FROM fused f JOIN kb_chunks c ON c.id = f.id JOIN visible v ON v.version_id = c.version_id
        ORDER BY score DESC, sim DESC, c.id{f" LIMIT {args(int(rows), 'int')}" if rows is not None else ""}
    )""")
    sql = f"""WITH {", ".join(ctes)}
    SELECT (SELECT coalesce(array_agg(DISTINCT embedder ORDER BY embedder), '{{}}') FROM live
            WHERE embedder IS NOT NULL AND embedder <> {name}) AS foreign, found.*
    FROM (SELECT 1) one LEFT JOIN found ON true"""
    return sql, args.values


def free_connections(pool: asyncpg.Pool) -> int:
    """Connections a pool can hand out now: idle ones, and those it may still open."""
    return int(pool.get_idle_size()) + max(0, int(pool.get_max_size()) - int(pool.get_size()))


async def hybrid_search(db: asyncpg.Connection | asyncpg.Pool, *, query: str, vector: np.ndarray | None,
                        filters: SearchFilter, options: SearchOptions | None = None, sparse: SparseVector | None = None,
                        skip_words: Sequence[str] = (), embedder: str = "", exact: bool = False,
                        rows: int = 40) -> SearchResult:
    """The ``rows`` best fused candidates for ``query`` (best first); see :func:`hybrid_statement`.

    On a connection: one statement, one round trip. On a pool, with more than one group of
    retrievers: a statement per group side by side, each on a connection of its own taken for that
    statement only (the dense HNSW query; full text; sparse and codes), fused here; when the pool
    has fewer connections free than that, the one statement on one connection (the same ranking). Reciprocal-rank fusion
    (``RRF_K``), plus ``CODE_BONUS`` for exact codes, times the kind's weight.
    """
    options = options or SearchOptions()
    codes = extract_codes(query) if options.use_codes else ()
    vector = vector if options.use_vector else None
    sparse = sparse if options.use_sparse else None
    common = dict(query=query, vector=vector, sparse=sparse, filters=filters, options=options, skip_words=skip_words,
                  codes=codes, embedder=embedder, exact=exact)
    groups = [part for part, used in ((Part.DENSE, vector is not None), (Part.TEXT, options.use_text),
                                      (Part.REST, sparse is not None or bool(codes))) if used]
    parts = groups if isinstance(db, asyncpg.Pool) and not exact and len(groups) > 1 else [Part.ALL]
    if len(parts) > 1 and free_connections(db) < len(parts):
        # the pool is busy (a burst of questions): one statement on one connection, so a search takes
        # one connection instead of three and the questions queued behind it get theirs sooner
        parts = [Part.ALL]

    async def run(part: Part) -> list[asyncpg.Record]:
        sql, args = hybrid_statement(**common, rows=rows if part is Part.ALL else None, part=part)  # type: ignore[arg-type]
        if isinstance(db, asyncpg.Pool):
            async with db.acquire() as conn:
                return list(await conn.fetch(sql, *args))
        return list(await db.fetch(sql, *args))

    results = await asyncio.gather(*(run(part) for part in parts))
    foreign = sorted({e for result in results for e in (result[0]["foreign"] if result else [])})
    found: dict[int, asyncpg.Record] = {}
    rrf: dict[int, float] = {}
    for result in results:
        for r in result:
            if r["id"] is not None:
                found.setdefault(r["id"], r)
                rrf[r["id"]] = rrf.get(r["id"], 0.0) + float(r["rrf"])
    passages: list[Passage] = []
    wanted = set(codes)
    for cid, r in found.items():
        matched = [c for c in r["codes"] if c in wanted]
        score = rrf[cid]
        if wanted:
            score += CODE_BONUS * len(matched) / len(wanted)
        score *= KIND_WEIGHT.get(r["kind"], 1.0)
        passages.append(Passage(
            chunk_id=cid, document_id=r["document_id"], title=r["title"], machine_models=list(r["machine_models"]),
            lang=r["lang"], page=r["page"], section=r["section"], text=r["text"], score=round(score, 6),
            kind=r["kind"], url=document_url(r["document_id"], r["page"], r["anchor"]),
            similarity=round(float(r["sim"] or 0.0), 4), matched_codes=matched))
    passages.sort(key=lambda p: (-p.score, -p.similarity, p.chunk_id))
    return SearchResult(passages[:rows], foreign)


async def vector_candidates(conn: asyncpg.Connection, vector: np.ndarray, versions: list[int], limit: int,
                            ef_search: int = 100) -> list[int]:
    """The dense HNSW query alone (the benchmark's baseline), one statement like the hybrid search's."""
    dim = int(vector.shape[0])
    rows = await conn.fetch(
        f"""WITH versions AS (SELECT $2::bigint[] AS ids), {_nearest_sql("dense", "embedding", f"vector({dim})", "<=>",
                                                                       f"$1::vector({dim})", f"dim = {dim}", "$3::int",
                                                                       ef_search, False)}
            SELECT id FROM dense ORDER BY rank""", vector, versions, limit)
    return [r[0] for r in rows]


async def common_words(conn: asyncpg.Connection, threshold: float) -> list[str]:
    """Lexemes found in more than ``threshold`` of all chunks, from the planner statistics (ANALYZE)."""
    row = await conn.fetchrow(
        """SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS freqs FROM pg_stats
           WHERE schemaname = current_schema() AND tablename = 'kb_chunks' AND attname = 'tsv'""")
    if row is None or row["words"] is None:
        return []
    return [w for w, f in zip(row["words"], row["freqs"], strict=False) if f > threshold]


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
