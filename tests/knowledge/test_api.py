"""The /api/kb endpoints on a real uvicorn server: roles, uploads, progress, search, files, entries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.knowledge import documents


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DATA_DIR for the servers of this module, so the embedding cache is shared between them."""
    return tmp_path_factory.mktemp("kb-data")


def _settings(settings_factory: Callable[..., Any], shared_data_dir: Path, tmp_path: Path) -> Any:
    return settings_factory(data_dir=shared_data_dir, kb_storage_dir=tmp_path / "manuals", kb_upload_max_bytes=200_000,
                            kb_max_pages=5)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _wait_ready(client: httpx.AsyncClient, doc_id: int, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(900):
        body = (await client.get(f"/api/kb/documents/{doc_id}", headers=headers)).json()
        if body["status"] in ("ready", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"document {doc_id} not indexed: {body}")


ADMIN_ENDPOINTS = [
    ("POST", "/api/kb/documents"), ("GET", "/api/kb/documents"), ("GET", "/api/kb/documents/1"),
    ("PUT", "/api/kb/documents/1"), ("DELETE", "/api/kb/documents/1"), ("POST", "/api/kb/documents/1/reindex"),
    ("GET", "/api/kb/search?q=pump"), ("POST", "/api/kb/entries"), ("GET", "/api/kb/entries"),
]


async def test_every_admin_endpoint_needs_the_admin_role(settings_factory, running_server, make_token, shared_data_dir, tmp_path):
    async with running_server(_settings(settings_factory, shared_data_dir, tmp_path)) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
            for method, path in [*ADMIN_ENDPOINTS, ("GET", "/api/kb/documents/1/file"), ("GET", "/api/kb/documents/1/view")]:
                r = await client.request(method, path)
                assert r.status_code == 401, (method, path)
                assert r.json()["error"]["code"] == "token_missing"
            for role in ("operator", "support"):
                headers = _auth(make_token(role=role))
                for method, path in ADMIN_ENDPOINTS:
                    r = await client.request(method, path, headers=headers)
                    assert r.status_code == 403, (role, method, path, r.text)
            admin = _auth(make_token(role="admin"))
            for method, path in ADMIN_ENDPOINTS:
                r = await client.request(method, path, headers=admin)
                assert r.status_code not in (401, 403), (method, path, r.text)


async def test_upload_progress_search_file_replace_reindex_delete(settings_factory, running_server, make_token,
                                                                   shared_data_dir, tmp_path):
    async with running_server(_settings(settings_factory, shared_data_dir, tmp_path)) as srv:
        admin = _auth(make_token(role="admin"))
        operator = _auth(make_token(role="operator"))
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
            pdf = documents.pdf(3)
            r = await client.post("/api/kb/documents", headers=admin, files={"file": ("robot.pdf", pdf, "application/pdf")},
                                  data={"model": "AutoBoss V4, AutoBoss M6", "lang": "en"})
            assert r.status_code == 202, r.text
            doc_id = r.json()["id"]
            doc = await _wait_ready(client, doc_id, admin)
            assert doc["status"] == "ready" and doc["pages_done"] == doc["pages_total"] == 3 and doc["chunks"] >= 3
            assert doc["machine_models"] == ["AutoBoss M6", "AutoBoss V4"] and doc["error"] is None

            again = await client.post("/api/kb/documents", headers=admin, files={"file": ("copy.pdf", pdf, "application/pdf")})
            assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["id"] == doc_id
            listed = (await client.get("/api/kb/documents", headers=admin)).json()["documents"]
            assert [d["id"] for d in listed] == [doc_id]

            found = (await client.get("/api/kb/search", headers=admin,
                                      params={"q": "E22 pump cavitation", "k": 3, "model": "AutoBoss V4"})).json()
            top = found["passages"][0]
            assert top["document_id"] == doc_id and top["page"] == 3 and "E22" in top["text"]
            assert top["url"] == f"/api/kb/documents/{doc_id}/file#page=3" and top["section"].endswith("3.1 Error codes")

            file = await client.get(top["url"].split("#")[0], headers=operator)
            assert file.status_code == 200 and file.headers["content-type"] == "application/pdf" and file.content == pdf

            r = await client.put(f"/api/kb/documents/{doc_id}", headers=admin, files={"file": ("robot.md", documents.MARKDOWN)})
            assert r.status_code == 202
            doc = await _wait_ready(client, doc_id, admin)
            assert [v["status"] for v in doc["versions"]] == ["ready", "superseded"]
            file = await client.get(f"/api/kb/documents/{doc_id}/file", headers=operator)
            assert file.headers["content-type"].startswith("text/markdown") and file.content == documents.MARKDOWN

            # a citation of the Markdown edition opens the readable page at the cited section
            found = (await client.get("/api/kb/search", headers=admin, params={"q": "E22 pump cavitation", "k": 3})).json()
            top = found["passages"][0]
            assert top["page"] is None and top["url"] == f"/api/kb/documents/{doc_id}/view#troubleshooting", top
            page = await client.get(top["url"].split("#")[0], headers=operator)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "script-src" not in page.headers["content-security-policy"]
            assert "default-src 'none'" in page.headers["content-security-policy"]
            section = page.text.split('<section id="troubleshooting">', 1)[1].split("</section>", 1)[0]
            assert "<td>E22</td><td>Pump cavitation</td>" in section and "Replace the filter" not in section
            assert '<section id="every-250-h">' in page.text

            r = await client.post(f"/api/kb/documents/{doc_id}/reindex", headers=admin)
            assert r.status_code == 202
            doc = await _wait_ready(client, doc_id, admin)
            assert doc["status"] == "ready" and len(doc["versions"]) == 3

            r = await client.delete(f"/api/kb/documents/{doc_id}", headers=admin)
            assert r.status_code == 204
            assert (await client.get(f"/api/kb/documents/{doc_id}", headers=admin)).status_code == 404
            assert (await client.get(f"/api/kb/documents/{doc_id}/file", headers=operator)).status_code == 404
            assert (await client.get(f"/api/kb/documents/{doc_id}/view", headers=operator)).status_code == 404


async def test_bad_uploads_get_a_reason_and_leave_nothing(settings_factory, running_server, make_token, shared_data_dir, tmp_path):
    async with running_server(_settings(settings_factory, shared_data_dir, tmp_path)) as srv:
        admin = _auth(make_token(role="admin"))
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
            cases = [
                (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "manual.pdf", 415, "kb_unsupported_type"),
                (b"word " * 50_000, "big.txt", 413, "kb_too_large"),
                (documents.encrypted_pdf(), "locked.pdf", 422, "kb_encrypted"),
                (documents.image_only_pdf(), "scan.pdf", 422, "kb_no_text"),
                (documents.pdf(6), "long.pdf", 422, "kb_too_many_pages"),
                (b"%PDF-1.4\nnot a pdf\n", "broken.pdf", 422, "kb_corrupt"),
            ]
            for data, name, status, code in cases:
                r = await client.post("/api/kb/documents", headers=admin, files={"file": (name, data)}, data={"lang": "en"})
                assert (r.status_code, r.json()["error"]["code"]) == (status, code), (name, r.text)
                assert r.json()["error"]["message"]
            r = await client.post("/api/kb/documents", headers=admin, data={"lang": "en"})
            assert r.status_code == 400
            assert (await client.get("/api/kb/documents", headers=admin)).json()["documents"] == []
            assert not (tmp_path / "manuals").exists() or not any((tmp_path / "manuals").rglob("*.*"))


async def test_expert_entries_are_added_listed_and_found(settings_factory, running_server, make_token, shared_data_dir, tmp_path):
    async with running_server(_settings(settings_factory, shared_data_dir, tmp_path)) as srv:
        admin = _auth(make_token(role="admin"))
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
            r = await client.post("/api/kb/entries", headers=admin, json={
                "kind": "expert", "title": "Slip ring cleaning",
                "text": "Clean the winch slip ring with contact spray when E05 appears after rain.",
                "machine_model": "AutoBoss V4", "lang": "en"})
            assert r.status_code == 201, r.text
            entry_id = r.json()["id"]
            entries = (await client.get("/api/kb/entries", headers=admin)).json()["entries"]
            assert entries[0]["id"] == entry_id and entries[0]["kind"] == "expert" and entries[0]["source"].startswith("admin:")
            found = (await client.get("/api/kb/search", headers=admin, params={"q": "E05 after rain"})).json()["passages"]
            assert found[0]["document_id"] == entry_id and found[0]["kind"] == "expert"
            bad = await client.post("/api/kb/entries", headers=admin, json={"kind": "rumour", "title": "x", "text": "y"})
            assert bad.status_code == 400
