"""Knowledge-base admin API under /api/kb: manuals, ingestion status, test search, expert entries.

Every endpoint needs the admin role except downloading a document's file (citation links), which
any signed-in user may open. Bad uploads are refused with a 4xx naming the reason before anything
is stored.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, BusyError, PayloadTooLarge
from core.logs import get_logger
from server.auth import require_principal

log = get_logger("server.kb_api")

_MULTIPART_OVERHEAD = 64 * 1024


def _kb(request: Request) -> Any:
    kb = request.app.state.services.kb
    if kb is None:
        raise BusyError("the knowledge base is not available", code="kb_unavailable")
    return kb


def _doc_id(request: Request) -> int:
    return int(request.path_params["document_id"])


async def _upload(request: Request, kb: Any) -> tuple[bytes, str, dict[str, Any]]:
    """The uploaded file's bytes and name plus the form fields; size checked before reading."""
    limit = kb.limits.max_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + _MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"the upload is {length} bytes; the limit is {limit}", code="kb_too_large")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("send the document as multipart/form-data with a 'file' field", code="kb_bad_request")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:  # the multipart parser raises several types; all mean a malformed body
        raise BadRequest(f"malformed multipart body: {exc}", code="kb_bad_request") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("the 'file' field is missing", code="kb_bad_request")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes", code="kb_too_large")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return data, upload.filename or "", fields
    finally:
        await form.close()


def _models_field(fields: dict[str, Any]) -> list[str] | None:
    raw = fields.get("model") or fields.get("models")
    return [m.strip() for m in raw.split(",") if m.strip()] if raw else None


async def upload_document(request: Request) -> Response:
    principal = await require_principal(request, role="admin")
    kb = _kb(request)
    data, filename, fields = await _upload(request, kb)
    result = await kb.add_document(data, filename=filename, machine_models=_models_field(fields) or [],
                                   lang=fields.get("lang") or None, title=fields.get("title") or None)
    log.info("kb_api.uploaded", user=principal.user_id, document_id=result["id"], duplicate=result["duplicate"])
    return JSONResponse({**result, "document": await kb.get_document(result["id"])},
                        status_code=200 if result["duplicate"] else 202)


async def replace_document(request: Request) -> Response:
    principal = await require_principal(request, role="admin")
    kb = _kb(request)
    document_id = _doc_id(request)
    await kb.get_document(document_id)  # 404 before reading the body
    data, filename, fields = await _upload(request, kb)
    result = await kb.replace_document(document_id, data, filename=filename, machine_models=_models_field(fields),
                                       lang=fields.get("lang") or None)
    log.info("kb_api.replaced", user=principal.user_id, document_id=document_id, duplicate=result["duplicate"])
    return JSONResponse({**result, "document": await kb.get_document(document_id)},
                        status_code=200 if result["duplicate"] else 202)


async def list_documents(request: Request) -> Response:
    await require_principal(request, role="admin")
    return JSONResponse({"documents": await _kb(request).list_documents()})


async def get_document(request: Request) -> Response:
    await require_principal(request, role="admin")
    return JSONResponse(await _kb(request).get_document(_doc_id(request)))


async def delete_document(request: Request) -> Response:
    principal = await require_principal(request, role="admin")
    await _kb(request).delete_document(_doc_id(request))
    log.info("kb_api.deleted", user=principal.user_id, document_id=_doc_id(request))
    return Response(status_code=204)


async def reindex_document(request: Request) -> Response:
    await require_principal(request, role="admin")
    kb = _kb(request)
    versions = await kb.reindex(_doc_id(request))
    return JSONResponse({"id": _doc_id(request), "version_ids": versions, "status": "queued"}, status_code=202)


async def document_file(request: Request) -> Response:
    await require_principal(request, role="operator")
    data, content_type, filename = await _kb(request).get_file(_doc_id(request))
    media = f"{content_type}; charset=utf-8" if content_type.startswith("text/") else content_type
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._- ") or f"document-{_doc_id(request)}"
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'inline; filename="{safe}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=300",
    })


async def search(request: Request) -> Response:
    await require_principal(request, role="admin")
    q = request.query_params.get("q", "").strip()
    if not q:
        raise BadRequest("the query parameter 'q' is required", code="kb_bad_request")
    try:
        k = int(request.query_params.get("k", "5"))
        document = request.query_params.get("document")
        document_id = int(document) if document else None
    except ValueError as exc:
        raise BadRequest("'k' and 'document' must be integers", code="kb_bad_request") from exc
    passages = await _kb(request).search(q, k=k, machine_model=request.query_params.get("model") or None,
                                         lang=request.query_params.get("lang") or None, document_id=document_id)
    return JSONResponse({"query": q, "passages": [dataclasses.asdict(p) for p in passages]})


async def add_entry(request: Request) -> Response:
    principal = await require_principal(request, role="admin")
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
    except ValueError as exc:
        raise BadRequest(f"send a JSON object: {exc}", code="kb_bad_request") from exc
    entry_id = await _kb(request).add_entry(
        str(body.get("kind", "expert")), str(body.get("title", "")), str(body.get("text", "")),
        machine_model=body.get("machine_model") or None, lang=body.get("lang") or None,
        source=body.get("source") or f"admin:{principal.user_id}")
    return JSONResponse({"id": entry_id}, status_code=201)


async def list_entries(request: Request) -> Response:
    await require_principal(request, role="admin")
    return JSONResponse({"entries": await _kb(request).list_entries(request.query_params.get("kind") or None)})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/kb/documents", upload_document, methods=["POST"]),
        Route("/api/kb/documents", list_documents, methods=["GET"]),
        Route("/api/kb/documents/{document_id:int}", get_document, methods=["GET"]),
        Route("/api/kb/documents/{document_id:int}", replace_document, methods=["PUT"]),
        Route("/api/kb/documents/{document_id:int}", delete_document, methods=["DELETE"]),
        Route("/api/kb/documents/{document_id:int}/reindex", reindex_document, methods=["POST"]),
        Route("/api/kb/documents/{document_id:int}/file", document_file, methods=["GET"]),
        Route("/api/kb/search", search, methods=["GET"]),
        Route("/api/kb/entries", add_entry, methods=["POST"]),
        Route("/api/kb/entries", list_entries, methods=["GET"]),
    ]
