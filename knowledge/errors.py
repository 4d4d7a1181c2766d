"""Knowledge-base errors, as subclasses of the service's exception tree (code, status, message)."""

from __future__ import annotations

from core.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMedia,
    UpstreamError,
)


class KnowledgeError(AppError):
    """Base for knowledge-base errors that are not one of the specific ones below."""

    default_code = "kb_error"


class UnsupportedType(UnsupportedMedia):
    """The upload is not a PDF, HTML, Markdown, text or DOCX file (judged from its bytes)."""

    default_code = "kb_unsupported_type"


class TooLarge(PayloadTooLarge):
    """The upload exceeds KB_UPLOAD_MAX_BYTES."""

    default_code = "kb_too_large"


class TooManyPages(Unprocessable):
    """The document has more pages than KB_MAX_PAGES."""

    default_code = "kb_too_many_pages"


class EncryptedDocument(Unprocessable):
    """A password-protected PDF."""

    default_code = "kb_encrypted"


class ImageOnlyDocument(Unprocessable):
    """A PDF without a text layer (scanned pages)."""

    default_code = "kb_no_text"


class CorruptDocument(Unprocessable):
    """A file that claims a format but cannot be read."""

    default_code = "kb_corrupt"


class EmptyDocument(Unprocessable):
    """A readable file that contains no text to index."""

    default_code = "kb_empty"


class EmbedderMismatch(Conflict):
    """The index was built with another embedding model; searching needs a re-index first."""

    default_code = "kb_embedder_mismatch"


class DocumentNotFound(NotFound):
    """No document with that id."""

    default_code = "kb_not_found"


class InvalidRequest(BadRequest):
    """A malformed knowledge-base request (missing field, bad parameter)."""

    default_code = "kb_bad_request"


class EmbeddingFailed(UpstreamError):
    """The embedding backend failed."""

    default_code = "kb_embedding_failed"


class ParseFailed(Unprocessable):
    """The parser could not finish this file: it ran out of its memory or time limit, or crashed."""

    default_code = "kb_parse_failed"


class IngestionBusy(KnowledgeError):
    """The version cannot be indexed right now (another worker holds it, or every slot stayed busy);
    the job queue tries again later."""

    status, default_code = 503, "kb_ingestion_busy"
