"""Value types shared by the knowledge modules (no I/O here)."""

from __future__ import annotations

import dataclasses
import enum
from typing import NotRequired, TypedDict
from urllib.parse import quote


class Kind(enum.StrEnum):
    """Where a passage comes from; expert knowledge and corrections rank above manuals."""

    MANUAL = "manual"
    EXPERT = "expert"
    CORRECTION = "correction"
    RESOLUTION = "resolution"


class Status(enum.StrEnum):
    """Life cycle of one version of a document."""

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@dataclasses.dataclass(frozen=True)
class Block:
    """One structural unit of a parsed document: a paragraph, a list, a table or a preformatted text.

    ``units`` are the pieces a chunk boundary may fall between (list items, table rows with the
    header kept separately in ``header``, sentences of a long paragraph are split later).
    """

    kind: str  # paragraph | list | table | pre
    units: tuple[str, ...]
    page: int | None
    section: tuple[str, ...]
    header: str = ""
    anchor: str = ""  # the id of the section's heading (HTML: its own; other formats: its slug); a citation opens it

    @property
    def text(self) -> str:
        body = "\n".join(self.units)
        return f"{self.header}\n{body}" if self.header else body


@dataclasses.dataclass(frozen=True)
class ParsedDocument:
    """A document turned into blocks, with its page count (1 for formats without pages)."""

    title: str
    content_type: str
    pages: int
    blocks: tuple[Block, ...]
    paged: bool  # True when page numbers are real (PDF, text with form feeds)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedder; ``heading`` is prepended when embedding."""

    ordinal: int
    page: int | None
    section: str
    text: str
    codes: tuple[str, ...]
    anchor: str = ""  # the section's anchor in the original file (HTML), "" when it has none

    def embedding_text(self, title: str) -> str:
        """The text embedded: document title and section path first (measured: helps ranking)."""
        head = " > ".join(p for p in (title, self.section) if p)
        return f"{head}\n{self.text}" if head else self.text


@dataclasses.dataclass(frozen=True)
class Limits:
    """Upload and chunking limits (from settings)."""

    max_bytes: int = 50_000_000
    max_pages: int = 2000
    chunk_tokens: int = 220
    chunk_overlap: int = 30
    table_tokens: int | None = None  # measured: cutting tables into row groups lowered hit@5
    embed_batch: int = 16
    embed_timeout: float = 300.0  # seconds one batch's embedding may take during ingestion


class AddResult(TypedDict):
    """What adding or replacing a document returns (the JSON body of the upload response)."""

    id: int
    version_id: int
    status: str  # a Status value, or "skipped"
    duplicate: bool  # the same bytes were already indexed or being indexed: nothing was done


class DocumentInfo(TypedDict):
    """A document with its newest version's status and progress (JSON for the admin API)."""

    id: int
    kind: str
    title: str
    filename: str
    machine_models: list[str]
    lang: str | None
    current_version_id: int | None  # None until a first version is indexed
    created_at: str
    updated_at: str
    version_id: int | None
    status: str | None
    pages_total: int | None
    pages_done: int | None
    chunks: int | None
    error: str | None
    content_type: str | None
    byte_size: int | None
    visible: bool
    file_url: str
    versions: NotRequired[list[dict[str, object]]]  # every version, newest first (single-document reads)


class EntryInfo(TypedDict):
    """An expert entry, correction or saved resolution, with its indexed text."""

    id: int
    kind: str
    title: str
    machine_models: list[str]
    lang: str | None
    source: str | None
    created_at: str
    text: str | None


@dataclasses.dataclass
class Passage:
    """One search hit, ready to be cited."""

    chunk_id: int
    document_id: int
    title: str
    machine_models: list[str]
    lang: str | None
    page: int | None
    section: str
    text: str
    score: float
    kind: str = Kind.MANUAL.value
    url: str = ""
    similarity: float = 0.0  # raw cosine similarity of the query and the passage
    matched_codes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def document_url(document_id: int, page: int | None, anchor: str = "") -> str:
    """Where a citation opens the manual: a paged file (PDF) at its page; any other format as the
    readable page of ``knowledge.view``, at the section's anchor when it has one."""
    if page:
        return f"/api/kb/documents/{document_id}/file#page={page}"
    base = f"/api/kb/documents/{document_id}/view"
    return f"{base}#{quote(anchor, safe='-._~:')}" if anchor else base
