"""HTTP APIs of the operator's own data: who am I, my sessions and their transcripts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import NotFound
from server.auth import TokenVerifier, require_principal
from server.storage.store import Store


class SessionRoutes:
    """``/api/me`` and ``/api/sessions``: a user sees their own sessions; support sees any."""

    def __init__(self, store: Store, verifier: TokenVerifier) -> None:
        self._store = store
        self._verifier = verifier

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/me", self.me),
            Route("/api/sessions", self.list_sessions),
            Route("/api/sessions/{session_id}", self.get_session),
        ]

    async def me(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        return JSONResponse(principal.public())

    async def list_sessions(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        return JSONResponse({"sessions": await self._store.list_sessions(principal.user_id)})

    async def get_session(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        session = await self._store.get_session(request.path_params["session_id"])
        if session is None or (session.user_id != principal.user_id and not principal.has_role("support")):
            raise NotFound("no such session", code="session_unknown")
        if session.user_id != principal.user_id:  # support reading a user's conversation
            await self._store.audit(principal.user_id, "session.read", session.id, {"owner": session.user_id})
        return JSONResponse({
            "id": session.id, "status": session.status, "lang": session.lang, "machine_id": session.machine_id,
            "last_seq": session.last_seq, "messages": await self._store.history(session.id),
        })
