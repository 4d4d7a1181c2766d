"""Browser-facing static routes: the widget script, the admin console and, in development, a demo host app.

The files live in ``widget/`` and are served as they are (no build step). Each response carries a
strong ETag and Cache-Control so browsers and nginx revalidate cheaply; compression is done by the
app's GZip middleware. The demo host page and the demo token endpoint exist only when
``ENV=development``: in production those paths are plain 404s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, NotFound
from core.languages import LANGUAGES
from core.logs import get_logger
from core.settings import Settings
from server.auth import ROLES, mint_token

log = get_logger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]

WIDGET_DIR = Path(__file__).resolve().parents[2] / "widget"

DEMO_MACHINES = ({"id": "AB-1001", "name": "AutoBoss V4"}, {"id": "AB-2002", "name": "AutoBoss M6"})

# The admin console and the demo page load only their own files; nothing inline, nothing third-party.
ADMIN_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
DEMO_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
            "object-src 'none'; base-uri 'none'")


@dataclass(frozen=True)
class _Cached:
    mtime_ns: int
    body: bytes
    etag: str


class AssetFiles:
    """Reads files from one directory on request, caching each by modification time (so edits show at once)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: dict[str, _Cached] = {}

    def get(self, name: str) -> _Cached:
        path = self._root / name
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError as exc:
            raise NotFound(f"{name} is not installed", code="asset_missing") from exc
        hit = self._cache.get(name)
        if hit is None or hit.mtime_ns != mtime:
            body = path.read_bytes()
            hit = _Cached(mtime, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            self._cache[name] = hit
        return hit

    def endpoint(self, name: str, media_type: str, cache_control: str, csp: str | None = None) -> Endpoint:
        """A Starlette endpoint serving ``name`` with ETag revalidation (304 when unchanged)."""

        async def serve(request: Request) -> Response:
            asset = self.get(name)
            headers = {"ETag": asset.etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
            if csp:
                headers["Content-Security-Policy"] = csp
                headers["Referrer-Policy"] = "same-origin"
            if _etag_matches(request.headers.get("if-none-match"), asset.etag):
                return Response(status_code=304, headers=headers)
            if request.method == "HEAD":
                return Response(status_code=200, headers=headers, media_type=media_type)
            return Response(asset.body, headers=headers, media_type=media_type)

        return serve


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


def demo_token_endpoint(settings: Settings) -> Endpoint:
    """GET /demo/token?user=&name=&role=&lang= -> {"token", "user"}: what a host app's token endpoint returns."""

    async def demo_token(request: Request) -> Response:
        q = request.query_params
        user = (q.get("user") or "demo-operator").strip()[:64]
        role = q.get("role") or "operator"
        lang = q.get("lang") or "en"
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="bad_role")
        if lang not in LANGUAGES:
            raise BadRequest(f"lang must be one of {', '.join(LANGUAGES)}", code="bad_lang")
        if not user:
            raise BadRequest("user must not be empty", code="bad_user")
        name = (q.get("name") or user.replace("-", " ").title()).strip()[:80]
        machines = [m["id"] for m in DEMO_MACHINES]
        token = mint_token(settings, user_id=user, name=name, role=role, lang=lang, machines=machines)
        log.info("demo.token_minted", role=role, lang=lang)
        return JSONResponse({"token": token, "user": {"id": user, "name": name, "role": role, "lang": lang,
                                                      "machines": list(DEMO_MACHINES)}},
                            headers={"Cache-Control": "no-store"})

    return demo_token


class WebRoutes:
    """The widget, admin and (development only) demo routes, relative to the app root (``/ai`` behind nginx)."""

    def __init__(self, settings: Settings, files: AssetFiles | None = None) -> None:
        self._settings = settings
        self._files = files or AssetFiles(WIDGET_DIR)

    def routes(self) -> list[BaseRoute]:
        files = self._files
        js, css, html = "application/javascript; charset=utf-8", "text/css; charset=utf-8", "text/html; charset=utf-8"
        # widget.js is embedded by other sites: short max-age + ETag, so a deploy reaches everyone within minutes.
        widget_cache = "public, max-age=300, stale-while-revalidate=86400"
        admin_cache = "no-cache"
        table: list[BaseRoute] = [
            Route("/widget.js", files.endpoint("widget.js", js, widget_cache), methods=["GET", "HEAD"]),
            Route("/admin", files.endpoint("admin.html", html, admin_cache, ADMIN_CSP), methods=["GET", "HEAD"]),
            Route("/admin.js", files.endpoint("admin.js", js, admin_cache), methods=["GET", "HEAD"]),
            Route("/admin.css", files.endpoint("admin.css", css, admin_cache), methods=["GET", "HEAD"]),
        ]
        if self._settings.development:
            table += [
                Route("/", files.endpoint("demo.html", html, admin_cache, DEMO_CSP), methods=["GET", "HEAD"]),
                Route("/demo.js", files.endpoint("demo.js", js, admin_cache), methods=["GET", "HEAD"]),
                Route("/demo.css", files.endpoint("demo.css", css, admin_cache), methods=["GET", "HEAD"]),
                Route("/demo/token", demo_token_endpoint(self._settings), methods=["GET"]),
            ]
        return table
