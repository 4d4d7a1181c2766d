"""HTTP APIs of privacy: consent, export and erasure (docs/security.md, "Privacy features").

A user acts on their own data with their own token (``/api/me/...``); an admin acts on any user's
(``/api/admin/users/{user_id}/...``). Exports and erasures are written to the audit log (who, whose,
counts), never the data itself.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest
from server.auth import Principal, TokenVerifier, require_principal
from server.http.bodies import read_json_object
from server.privacy.consent import Consents
from server.privacy.erasure import Eraser
from server.privacy.export import Exporter
from server.storage.store import Store

USER_ID_MAX = 200


def _user_id(request: Request) -> str:
    user_id = str(request.path_params["user_id"]).strip()
    if not user_id or len(user_id) > USER_ID_MAX:
        raise BadRequest(f"the user id must be 1 to {USER_ID_MAX} characters", code="bad_user_id")
    return user_id


class PrivacyRoutes:
    """``/api/me/consent``, ``/api/me/export``, ``/api/me/data`` and their admin forms."""

    def __init__(self, *, verifier: TokenVerifier, store: Store, consents: Consents, exporter: Exporter,
                 eraser: Eraser) -> None:
        self._verifier = verifier
        self._store = store
        self._consents = consents
        self._exporter = exporter
        self._eraser = eraser

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/me/consent", self.get_consent, methods=["GET"]),
            Route("/api/me/consent", self.set_consent, methods=["POST"]),
            Route("/api/me/export", self.export_me, methods=["GET"]),
            Route("/api/me/data", self.erase_me, methods=["DELETE"]),
            Route("/api/admin/users/{user_id}/export", self.export_user, methods=["GET"]),
            Route("/api/admin/users/{user_id}/data", self.erase_user, methods=["DELETE"]),
        ]

    async def get_consent(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        lang = request.query_params.get("lang") or principal.lang
        decision = await self._consents.latest(principal.user_id)
        return JSONResponse(self._consents.describe(decision, lang))

    async def set_consent(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        body = await read_json_object(request, code="bad_consent")
        granted = body.get("granted")
        version = body.get("version", self._consents.policy.version)
        if not isinstance(granted, bool):
            raise BadRequest("'granted' must be true or false", code="bad_consent")
        if not isinstance(version, str) or not version:
            raise BadRequest("'version' must be the version of the text shown", code="bad_consent")
        decision = await self._consents.record(principal.user_id, granted=granted, version=version)
        return JSONResponse(self._consents.describe(decision, principal.lang), status_code=201)

    async def export_me(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        return await self._export(principal, principal.user_id)

    async def export_user(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        return await self._export(principal, _user_id(request))

    async def erase_me(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        erased = await self._eraser.erase_user(principal.user_id, actor=principal.user_id)
        return JSONResponse({"user_id": principal.user_id, "erased": erased.__dict__})

    async def erase_user(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        user_id = _user_id(request)
        erased = await self._eraser.erase_user(user_id, actor=principal.user_id)
        return JSONResponse({"user_id": user_id, "erased": erased.__dict__})

    async def _export(self, principal: Principal, user_id: str) -> Response:
        document = await self._exporter.export_user(user_id)
        await self._store.audit(principal.user_id, "privacy.export", user_id,
                                {"sessions": len(document["sessions"]), "tickets": len(document["tickets"])})
        # a header is latin-1: keep only ASCII letters and digits of the id in the file name
        safe = "".join(ch for ch in user_id if (ch.isascii() and ch.isalnum()) or ch in "-_")[:60] or "user"
        return Response(json.dumps(document, ensure_ascii=False, default=str), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="abparts-export-{safe}.json"',
                                 "Cache-Control": "no-store"})
