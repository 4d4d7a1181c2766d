"""HTTP APIs of the operator's own data: who am I, my sessions and their transcripts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import NotFound
from server.auth import require_principal
from server.services import Services


async def me(request: Request) -> Response:
    principal = await require_principal(request)
    return JSONResponse(principal.public())


async def list_sessions(request: Request) -> Response:
    principal = await require_principal(request)
    services: Services = request.app.state.services
    return JSONResponse({"sessions": await services.store.list_sessions(principal.user_id)})


async def get_session(request: Request) -> Response:
    principal = await require_principal(request)
    services: Services = request.app.state.services
    session = await services.store.get_session(request.path_params["session_id"])
    if session is None or (session.user_id != principal.user_id and not principal.has_role("support")):
        raise NotFound("no such session", code="session_unknown")
    return JSONResponse({
        "id": session.id, "status": session.status, "lang": session.lang, "machine_id": session.machine_id,
        "last_seq": session.last_seq, "messages": await services.store.history(session.id),
    })


def routes() -> list[BaseRoute]:
    return [
        Route("/api/me", me),
        Route("/api/sessions", list_sessions),
        Route("/api/sessions/{session_id}", get_session),
    ]
