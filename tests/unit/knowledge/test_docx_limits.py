"""DOCX zip-bomb guard: members that unpack too large, or far larger than they are packed, are refused
before python-docx unpacks anything; ordinary documents pass."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from knowledge import sniff
from knowledge.errors import TooLarge
from knowledge.parsing import docx as docx_parser
from knowledge.parsing import parse
from tests.unit.knowledge.docs import docx_bytes


def with_extra_member(data: bytes, name: str, payload: bytes) -> bytes:
    """The DOCX ``data`` with one more (deflated) member."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr(name, payload)
    return out.getvalue()


def test_a_highly_compressed_member_is_refused() -> None:
    bomb = with_extra_member(docx_bytes(), "word/media/zeros.bin", b"\0" * (8 << 20))  # 8 MB of zeros, ~8 KB packed
    assert len(bomb) < 100_000
    with pytest.raises(TooLarge) as refused:
        parse(bomb, sniff.DOCX)
    assert refused.value.code == "kb_archive_ratio" and refused.value.status == 413


def test_members_over_the_size_limits_are_refused() -> None:
    big = with_extra_member(docx_bytes(), "word/media/noise.bin", random.Random(7).randbytes(2 << 20))  # 2 MB, packs ~1:1
    docx_parser.check_archive(big)  # within the default limits
    for limits in ({"max_member_bytes": 1 << 20}, {"max_total_bytes": 1 << 20}):
        with pytest.raises(TooLarge) as refused:
            docx_parser.check_archive(big, **limits)
        assert refused.value.code == "kb_archive_too_large"


def test_an_ordinary_document_passes_the_guard() -> None:
    data = docx_bytes(title="Blade guide")
    docx_parser.check_archive(data)
    assert parse(data, sniff.DOCX).title == "Blade guide"
