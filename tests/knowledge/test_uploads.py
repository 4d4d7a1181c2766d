"""Bad uploads are refused with a 4xx and a reason, and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from core.errors import AppError
from knowledge import CachedEmbedder, KnowledgeBase, Limits
from tests.knowledge import documents

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

BAD = [
    pytest.param(b"x " * 10000, "big.txt", 413, "kb_too_large", id="too-large"),
    pytest.param(PNG, "manual.pdf", 415, "kb_unsupported_type", id="image-named-pdf"),
    pytest.param(bytes(range(256)) * 8, "manual.txt", 415, "kb_unsupported_type", id="binary"),
    pytest.param(b"PK\x03\x04not really a zip", "manual.docx", 415, "kb_unsupported_type", id="corrupt-zip"),
    pytest.param(b"", "empty.md", 422, "kb_empty", id="empty"),
    pytest.param(b"%PDF-1.7\n%garbage that is not a PDF at all\n", "broken.pdf", 422, "kb_corrupt", id="corrupt-pdf"),
    pytest.param("encrypted", "locked.pdf", 422, "kb_encrypted", id="encrypted-pdf"),
    pytest.param("image-only", "scan.pdf", 422, "kb_no_text", id="image-only-pdf"),
    pytest.param("too-many-pages", "long.pdf", 422, "kb_too_many_pages", id="too-many-pages"),
]


def _payload(data: bytes | str) -> bytes:
    if data == "encrypted":
        return documents.encrypted_pdf()
    if data == "image-only":
        return documents.image_only_pdf()
    if data == "too-many-pages":
        return documents.pdf(4)
    assert isinstance(data, bytes)
    return data


@pytest.mark.parametrize("data, filename, status, code", BAD)
async def test_bad_upload_is_refused_and_nothing_is_written(db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path,
                                                            data: bytes | str, filename: str, status: int, code: str):
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(max_bytes=4096 * 4, max_pages=3))
    payload = _payload(data)
    with pytest.raises(AppError) as refused:
        await kb.add_document(payload, filename=filename, wait=True)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert refused.value.message  # a reason a person can act on
    assert await db_pool.fetchval("SELECT count(*) FROM kb_documents") == 0
    assert await db_pool.fetchval("SELECT count(*) FROM kb_versions") == 0
    assert not (tmp_path / "manuals").exists() or not any((tmp_path / "manuals").rglob("*"))


async def test_a_good_pdf_within_the_limits_is_accepted(db_pool: asyncpg.Pool, embedder: CachedEmbedder, tmp_path: Path):
    kb = KnowledgeBase(db_pool, embedder, tmp_path / "manuals", Limits(max_bytes=4096 * 4, max_pages=3))
    result = await kb.add_document(documents.pdf(3), filename="ok.pdf", lang="en", wait=True)
    doc = await kb.get_document(result["id"])
    assert doc["status"] == "ready" and doc["pages_total"] == doc["pages_done"] == 3 and doc["content_type"] == "application/pdf"


async def test_invalid_language_code_is_refused(kb: KnowledgeBase):
    with pytest.raises(AppError) as refused:
        await kb.add_document(documents.MARKDOWN, filename="m.md", lang="english; drop table")
    assert refused.value.status == 400
