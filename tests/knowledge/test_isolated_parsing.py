"""Uploads parsed in a worker process with memory and time limits: a file that breaks its parser
fails with the reason, and the service (this process) is untouched."""

from __future__ import annotations

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
    (IsolationLimits(memory_bytes=120 * 1024 * 1024), "needs more than 120 MB to parse"),
    (IsolationLimits(seconds=0.05), "parsing took longer than 0.05 s"),
])
async def test_a_parse_beyond_its_limits_fails_with_the_reason(limits: IsolationLimits, reason: str):
    with pytest.raises(ParseFailed) as failed:
        await IsolatedParser(limits).parse(SAMPLE_PDF.read_bytes(), "application/pdf")
    assert reason in failed.value.message and failed.value.status == 422


async def test_a_version_whose_parser_dies_ends_failed_with_the_reason_and_is_not_retried(
        db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path):
    tight = IsolatedParser(IsolationLimits(memory_bytes=120 * 1024 * 1024))
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(), parser=IsolatedParser())
    added = await kb.add_document(documents.pdf(3), filename="robot.pdf", lang="en")  # no job queue: indexed inline
    assert added["status"] == "ready"
    strict = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(), parser=tight)
    [version_id] = await strict.reindex(added["id"])
    row = await db_pool.fetchrow("SELECT status, error, lease_owner FROM kb_versions WHERE id = $1", version_id)
    assert row["status"] == "failed" and "needs more than 120 MB" in row["error"] and row["lease_owner"] is None
    assert await strict.ingestor.run(version_id) == "skipped"  # a failed version is not picked up again by itself
    assert (await kb.get_document(added["id"]))["current_version_id"] != version_id  # the indexed one stays
