"""HTTP APIs for support staff and administrators: the escalation queue, live replies, analytics,
and machine context (docs/admin-api.md).

Roles: ``support`` works the escalation queue; ``admin`` (which includes support) sees analytics.
An operator may read the context of the machines in their token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, DependencyUnavailable, ForbiddenError, NotFound
from core.languages import LANGUAGES
from server.auth import TokenVerifier, require_principal
from server.http.bodies import read_json_object, required_text
from server.storage.store import Store
from server.support.analytics import Analytics, parse_range
from server.support.escalation import Escalations
from server.support.machines import MachineSource


async def _body(request: Request) -> dict[str, object]:
    return await read_json_object(request, code="bad_json")


def _ticket_id(request: Request) -> int:
    return int(request.path_params["escalation_id"])


class AdminRoutes:
    """``/api/escalations``, ``/api/analytics`` and ``/api/machines``."""

    def __init__(self, *, verifier: TokenVerifier, store: Store, escalations: Escalations | None,
                 analytics: Analytics, machines: MachineSource) -> None:
        self._verifier = verifier
        self._store = store
        self._escalations = escalations
        self._analytics = analytics
        self._machines = machines

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/escalations", self.list_escalations, methods=["GET"]),
            Route("/api/escalations/{escalation_id:int}", self.get_escalation, methods=["GET"]),
            Route("/api/escalations/{escalation_id:int}/reply", self.reply, methods=["POST"]),
            Route("/api/escalations/{escalation_id:int}/status", self.set_status, methods=["POST"]),
            Route("/api/analytics", self.analytics, methods=["GET"]),
            Route("/api/machines", self.machines, methods=["GET"]),
            Route("/api/machines/{machine_id}", self.machine, methods=["GET"]),
        ]

    def _tickets(self) -> Escalations:
        if self._escalations is None:
            raise DependencyUnavailable("escalation", "escalation is not available")
        return self._escalations

    async def list_escalations(self, request: Request) -> Response:
        await require_principal(request, self._verifier, role="support")
        status = request.query_params.get("status") or None
        try:
            limit = min(max(int(request.query_params.get("limit", "200")), 1), 1000)
        except ValueError as exc:
            raise BadRequest("limit must be an integer", code="bad_limit") from exc
        return JSONResponse({"escalations": await self._tickets().list(status, limit)})

    async def get_escalation(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        ticket = await self._tickets().get(_ticket_id(request))
        await self._store.audit(principal.user_id, "escalation.view", str(ticket["id"]))
        return JSONResponse(ticket)

    async def reply(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        text = required_text(await _body(request), "text")
        result = await self._tickets().reply(_ticket_id(request), principal, text)
        return JSONResponse(result, status_code=201)

    async def set_status(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        status = required_text(await _body(request), "status")
        return JSONResponse(await self._tickets().set_status(_ticket_id(request), principal, status))

    async def analytics(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="admin")
        q = request.query_params
        start, end = parse_range(q.get("from") or None, q.get("to") or None)
        lang = q.get("lang") or None
        if lang is not None and lang not in LANGUAGES:
            raise BadRequest(f"lang must be one of {', '.join(LANGUAGES)}", code="bad_lang")
        report = await self._analytics.report(start, end, model=q.get("model") or None, lang=lang)
        await self._store.audit(principal.user_id, "analytics.view", None,
                                {"from": report["from"], "to": report["to"], "model": report["filters"]["model"],
                                 "lang": lang})
        return JSONResponse(report)

    async def machine(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier)
        machine_id = request.path_params["machine_id"]
        if not principal.may_use_machine(machine_id):
            raise ForbiddenError("this machine is not one of yours", code="machine_forbidden")
        context = await self._machines.context(machine_id)
        if context is None:
            raise NotFound("unknown machine", code="machine_unknown")
        return JSONResponse(context)

    async def machines(self, request: Request) -> Response:
        """The machines in the caller's token, with model, hours and due maintenance."""
        principal = await require_principal(request, self._verifier)
        out = []
        for machine_id in principal.machines:
            context = await self._machines.context(machine_id)
            if context is not None:
                out.append({k: context.get(k) for k in ("id", "name", "model", "serial", "hours", "due", "available")
                            if k in context})
        return JSONResponse({"machines": out})
