"""Knowledge-base admin API under /api/kb: manuals, ingestion status, test search, expert entries.

Every endpoint needs the admin role except downloading a document's file (citation links): an
operator may download manuals only (and, when their token lists machines, only manuals for those
machines' models or for every model); support and admins may download any document. Every staff
change (upload, replacement, deletion, re-index, entry) is written to the audit log. Bad uploads are
refused with a 4xx naming the reason before anything is stored.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, DependencyUnavailable, NotFound
from core.logs import get_logger
from knowledge import KnowledgeBase, view
from server.auth import Principal, TokenVerifier, require_principal
from server.http.bodies import (
    MULTIPART_OVERHEAD,
    Upload,
    UploadRules,
    optional_text,
    read_json_object,
    read_upload,
)
from server.storage.store import Store
from server.support.machines import MachineSource

log = get_logger("server.kb_api")


def _doc_id(request: Request) -> int:
    return int(request.path_params["document_id"])


def _models_field(fields: dict[str, str]) -> list[str] | None:
    raw = fields.get("model") or fields.get("models")
    return [m.strip() for m in raw.split(",") if m.strip()] if raw else None


def upload_rules(limit: int) -> UploadRules:
    """The refusals of a document upload (codes ``kb_too_large`` and ``kb_bad_request``)."""

    def body_too_large(declared: int | None) -> str:
        if declared is None:
            return f"the upload is larger than the limit of {limit + MULTIPART_OVERHEAD} bytes"
        return f"the upload is {declared} bytes; the limit is {limit}"

    return UploadRules(
        limit=limit, max_fields=20, too_large_code="kb_too_large", body_too_large=body_too_large,
        file_too_large=f"the file is larger than the limit of {limit} bytes",
        malformed_code="kb_bad_request", missing_code="kb_bad_request", missing_message="the 'file' field is missing",
        not_multipart_message="send the document as multipart/form-data with a 'file' field")


class KnowledgeRoutes:
    """``/api/kb``: documents, their files, search and expert entries (503 ``kb_unavailable`` without a KB)."""

    def __init__(self, kb: KnowledgeBase | None, verifier: TokenVerifier, *, store: Store,
                 machines: MachineSource) -> None:
        self._kb = kb
        self._verifier = verifier
        self._store = store
        self._machines = machines

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/kb/documents", self.upload_document, methods=["POST"]),
            Route("/api/kb/documents", self.list_documents, methods=["GET"]),
            Route("/api/kb/documents/{document_id:int}", self.get_document, methods=["GET"]),
            Route("/api/kb/documents/{document_id:int}", self.replace_document, methods=["PUT"]),
            Route("/api/kb/documents/{document_id:int}", self.delete_document, methods=["DELETE"]),
            Route("/api/kb/documents/{document_id:int}/reindex", self.reindex_document, methods=["POST"]),
            Route("/api/kb/documents/{document_id:int}/file", self.document_file, methods=["GET"]),
            Route("/api/kb/documents/{document_id:int}/view", self.document_view, methods=["GET"]),
            Route("/api/kb/search", self.search, methods=["GET"]),
            Route("/api/kb/entries", self.add_entry, methods=["POST"]),
            Route("/api/kb/entries", self.list_entries, methods=["GET"]),
        ]

    def _base(self) -> KnowledgeBase:
        if self._kb is None:
            raise DependencyUnavailable("kb", "the knowledge base is not available")
        return self._kb

    async def _upload(self, request: Request, kb: KnowledgeBase) -> Upload:
        return await read_upload(request, upload_rules(kb.limits.max_bytes))

    async def upload_document(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        kb = self._base()
        upload = await self._upload(request, kb)
        fields = upload.fields
        result = await kb.add_document(upload.data, filename=upload.filename,
                                       machine_models=_models_field(fields) or [],
                                       lang=fields.get("lang") or None, title=fields.get("title") or None)
        log.info("kb_api.uploaded", user=principal.user_id, document_id=result["id"], duplicate=result["duplicate"])
        await self._store.audit(principal.user_id, "kb.upload", str(result["id"]),
                                {"version_id": result["version_id"], "duplicate": result["duplicate"],
                                 "filename": upload.filename})
        return JSONResponse({**result, "document": await kb.get_document(result["id"])},
                            status_code=200 if result["duplicate"] else 202)

    async def replace_document(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        kb = self._base()
        document_id = _doc_id(request)
        await kb.get_document(document_id)  # 404 before reading the body
        upload = await self._upload(request, kb)
        result = await kb.replace_document(document_id, upload.data, filename=upload.filename,
                                           machine_models=_models_field(upload.fields),
                                           lang=upload.fields.get("lang") or None)
        log.info("kb_api.replaced", user=principal.user_id, document_id=document_id, duplicate=result["duplicate"])
        await self._store.audit(principal.user_id, "kb.replace", str(document_id),
                                {"version_id": result["version_id"], "duplicate": result["duplicate"],
                                 "filename": upload.filename})
        return JSONResponse({**result, "document": await kb.get_document(document_id)},
                            status_code=200 if result["duplicate"] else 202)

    async def list_documents(self, request: Request) -> Response:
        await require_principal(request, self._verifier, role="admin")
        return JSONResponse({"documents": await self._base().list_documents()})

    async def get_document(self, request: Request) -> Response:
        await require_principal(request, self._verifier, role="admin")
        return JSONResponse(await self._base().get_document(_doc_id(request)))

    async def delete_document(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        await self._base().delete_document(_doc_id(request))
        log.info("kb_api.deleted", user=principal.user_id, document_id=_doc_id(request))
        await self._store.audit(principal.user_id, "kb.delete", str(_doc_id(request)))
        return Response(status_code=204)

    async def reindex_document(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        versions = await self._base().reindex(_doc_id(request))
        await self._store.audit(principal.user_id, "kb.reindex", str(_doc_id(request)), {"version_ids": versions})
        return JSONResponse({"id": _doc_id(request), "version_ids": versions, "status": "queued"}, status_code=202)

    async def document_file(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="operator")
        kb = self._base()
        if not principal.has_role("support"):
            await self._check_operator_may_read(principal, kb, _doc_id(request))
        data, content_type, filename = await kb.get_file(_doc_id(request))
        media = f"{content_type}; charset=utf-8" if content_type.startswith("text/") else content_type
        safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._- ") or f"document-{_doc_id(request)}"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'inline; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=300",
        })

    async def document_view(self, request: Request) -> Response:
        """The manual as a readable page with each section at its anchor (``?at=``: the cited one, marked):
        where citations of HTML, Markdown, text and DOCX manuals open (``knowledge.view``; the same access
        as the file)."""
        principal = await require_principal(request, self._verifier, role="operator")
        kb = self._base()
        if not principal.has_role("support"):
            await self._check_operator_may_read(principal, kb, _doc_id(request))
        cited = request.query_params.get("at", "")
        if len(cited) > 200:
            raise BadRequest("at: an anchor of at most 200 characters", code="kb_bad_request")
        page = await kb.document_view(_doc_id(request), cited=cited)
        return Response(page, media_type="text/html; charset=utf-8", headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": view.CSP,
            "Cache-Control": "private, max-age=300",
        })

    async def _check_operator_may_read(self, principal: Principal, kb: KnowledgeBase, document_id: int) -> None:
        """Operators read manuals only; with machines in their token, only those for their models.
        Anything else is answered as if it did not exist (ids are sequential: no probing)."""
        document = await kb.get_document(document_id)
        if document["kind"] != "manual":
            raise NotFound(f"document {document_id} does not exist", code="kb_not_found")
        models = document["machine_models"]
        if not principal.machines or not models:
            return  # a manual for every model, or a user the host app does not restrict to machines
        mine = set()
        for machine_id in principal.machines:
            context = await self._machines.context(machine_id)
            if context and context.get("model"):
                mine.add(str(context["model"]))
        if not mine.intersection(models):
            raise NotFound(f"document {document_id} does not exist", code="kb_not_found")

    async def search(self, request: Request) -> Response:
        await require_principal(request, self._verifier, role="admin")
        q = request.query_params.get("q", "").strip()
        if not q:
            raise BadRequest("the query parameter 'q' is required", code="kb_bad_request")
        try:
            k = int(request.query_params.get("k", "5"))
            document = request.query_params.get("document")
            document_id = int(document) if document else None
        except ValueError as exc:
            raise BadRequest("'k' and 'document' must be integers", code="kb_bad_request") from exc
        model = request.query_params.get("model") or None
        reader_lang = request.query_params.get("reader_lang") or None
        lang = request.query_params.get("lang") or None
        if reader_lang and not lang and document_id is None:
            # exactly the assistant's search (server/engine/conversation.py) for this machine model and reader
            passages = await self._base().search_as_assistant(q, k=k, machine_model=model, reader_lang=reader_lang)
        else:
            passages = await self._base().search(q, k=k, machine_model=model, lang=lang, document_id=document_id,
                                                 reader_lang=reader_lang)
        return JSONResponse({"query": q, "passages": [dataclasses.asdict(p) for p in passages]})

    async def add_entry(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        body = await read_json_object(request, code="kb_bad_request")
        entry_id = await self._base().add_entry(
            str(body.get("kind", "expert")), str(body.get("title", "")), str(body.get("text", "")),
            machine_model=optional_text(body, "machine_model", code="kb_bad_request"),
            lang=optional_text(body, "lang", code="kb_bad_request"),
            source=optional_text(body, "source", code="kb_bad_request") or f"admin:{principal.user_id}")
        await self._store.audit(principal.user_id, "kb.entry", str(entry_id), {"kind": str(body.get("kind", "expert"))})
        return JSONResponse({"id": entry_id}, status_code=201)

    async def list_entries(self, request: Request) -> Response:
        await require_principal(request, self._verifier, role="admin")
        return JSONResponse({"entries": await self._base().list_entries(request.query_params.get("kind") or None)})
