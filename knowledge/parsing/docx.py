"""DOCX (python-docx): headings by paragraph style, list paragraphs grouped into lists, tables."""

from __future__ import annotations

import io
import zipfile

from knowledge import sniff
from knowledge.errors import CorruptDocument, TooLarge
from knowledge.models import Block, ParsedDocument
from knowledge.parsing.blocks import Sections, title_from

# A DOCX is a zip archive: a small upload can unpack to gigabytes (a "zip bomb"). Its members are
# checked before anything is unpacked; zipfile never yields more than a member's declared size (and
# fails on a CRC mismatch), so the declared sizes bound what parsing can unpack.
MAX_MEMBERS = 5000
MAX_MEMBER_BYTES = 64 << 20  # one part (document.xml of a long manual is a few MB)
MAX_TOTAL_BYTES = 256 << 20  # every part together
MAX_RATIO = 100  # unpacked / packed size of one member; Word's XML packs 5-20 times
RATIO_FLOOR_BYTES = 1 << 20  # members smaller than this unpack to little whatever their ratio


def check_archive(data: bytes, *, max_member_bytes: int = MAX_MEMBER_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES,
                  max_ratio: int = MAX_RATIO) -> None:
    """Refuse a DOCX whose members unpack too large or too much larger than they are packed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise CorruptDocument(f"cannot read DOCX: {exc}") from exc
    if len(members) > MAX_MEMBERS:
        raise TooLarge(f"the DOCX has {len(members)} parts (at most {MAX_MEMBERS})", code="kb_archive_too_large")
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > max_member_bytes:
            raise TooLarge(f"a part of the DOCX ({member.filename}) unpacks to {member.file_size} bytes "
                           f"(at most {max_member_bytes})", code="kb_archive_too_large")
        if member.file_size > RATIO_FLOOR_BYTES and member.file_size > max_ratio * max(member.compress_size, 1):
            raise TooLarge(f"a part of the DOCX ({member.filename}) unpacks {member.file_size // max(member.compress_size, 1)}"
                           f" times larger than it is packed (at most {max_ratio})", code="kb_archive_ratio")
    if total > max_total_bytes:
        raise TooLarge(f"the DOCX unpacks to {total} bytes (at most {max_total_bytes})", code="kb_archive_too_large")


def parse(data: bytes, *, filename: str = "", max_pages: int = 0) -> ParsedDocument:
    """Blocks of a Word document; one page (DOCX has no fixed pages, ``max_pages`` does not apply)."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_archive(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types on bad input (zip, XML, missing parts)
        raise CorruptDocument(f"cannot read DOCX: {exc}") from exc
    sections = Sections()
    blocks: list[Block] = []
    pending: list[str] = []  # list items waiting for the end of their list
    number = 0  # the last number given in the current numbered list

    def flush() -> None:
        if pending:
            blocks.append(Block("list", tuple(pending), 1, sections.current, anchor=sections.anchor))
            pending.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush()
            rows = [" | ".join(c.text.strip() for c in r.cells) for r in item.rows]
            if rows:
                header = rows[0] if len(rows) > 1 else ""
                blocks.append(Block("table", tuple(rows[1:]) or tuple(rows), 1, sections.current, header=header, anchor=sections.anchor))
            continue
        if not isinstance(item, Paragraph):
            continue
        style = (item.style.name if item.style is not None else "") or ""
        text = item.text.strip()
        if not text:
            continue
        if style.startswith("Heading") or style == "Title":
            flush()
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 1
            sections.push(level, text)
            number = 0
        elif "List" in style:
            if "Number" in style:
                number += 1
                pending.append(f"{number}. {text}")
            else:
                pending.append(f"- {text}")
        else:
            flush()
            number = 0
            blocks.append(Block("paragraph", (text,), 1, sections.current, anchor=sections.anchor))
    flush()
    title = document.core_properties.title or title_from(blocks, "document")
    return ParsedDocument(title, sniff.DOCX, 1, tuple(blocks), paged=False)
