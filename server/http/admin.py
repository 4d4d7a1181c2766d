"""HTTP APIs for support staff and administrators: the escalation queue, live replies, analytics,
and machine context (docs/admin-api.md).

Roles: ``support`` works the escalation queue; ``admin`` (which includes support) sees analytics.
An operator may read the context of the machines in their token.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from core.errors import BadRequest, BusyError, ForbiddenError, NotFound
from server.auth import require_principal
from server.chat.protocol import LANGS
from server.services import Services
from server.support.analytics import Analytics, parse_range
from server.support.escalation import Escalations


def _services(request: Request) -> Services:
    return request.app.state.services


def _escalations(request: Request) -> Escalations:
    escalations = _services(request).escalations
    if escalations is None:
        raise BusyError("escalation is not available", code="escalation_unavailable")
    return escalations


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be JSON", code="bad_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="bad_json")
    return body


def _ticket_id(request: Request) -> int:
    return int(request.path_params["escalation_id"])


async def list_escalations(request: Request) -> Response:
    await require_principal(request, role="support")
    status = request.query_params.get("status") or None
    try:
        limit = min(max(int(request.query_params.get("limit", "200")), 1), 1000)
    except ValueError as exc:
        raise BadRequest("limit must be an integer", code="bad_limit") from exc
    return JSONResponse({"escalations": await _escalations(request).list(status, limit)})


async def get_escalation(request: Request) -> Response:
    principal = await require_principal(request, role="support")
    ticket = await _escalations(request).get(_ticket_id(request))
    await _services(request).store.audit(principal.user_id, "escalation.view", str(ticket["id"]))
    return JSONResponse(ticket)


async def reply(request: Request) -> Response:
    principal = await require_principal(request, role="support")
    body = await _body(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise BadRequest("'text' is required", code="missing_field")
    result = await _escalations(request).reply(_ticket_id(request), principal, text)
    return JSONResponse(result, status_code=201)


async def set_status(request: Request) -> Response:
    principal = await require_principal(request, role="support")
    body = await _body(request)
    status = body.get("status")
    if not isinstance(status, str):
        raise BadRequest("'status' is required", code="missing_field")
    return JSONResponse(await _escalations(request).set_status(_ticket_id(request), principal, status))


async def analytics(request: Request) -> Response:
    principal = await require_principal(request, role="admin")
    q = request.query_params
    start, end = parse_range(q.get("from") or None, q.get("to") or None)
    lang = q.get("lang") or None
    if lang is not None and lang not in LANGS:
        raise BadRequest(f"lang must be one of {', '.join(LANGS)}", code="bad_lang")
    services = _services(request)
    report = await Analytics(services).report(start, end, model=q.get("model") or None, lang=lang)
    await services.store.audit(principal.user_id, "analytics.view", None,
                               {"from": report["from"], "to": report["to"], "model": report["filters"]["model"],
                                "lang": lang})
    return JSONResponse(report)


async def machine(request: Request) -> Response:
    principal = await require_principal(request)
    machine_id = request.path_params["machine_id"]
    if not principal.may_use_machine(machine_id):
        raise ForbiddenError("this machine is not one of yours", code="machine_forbidden")
    context = await _services(request).machine_context(machine_id)
    if context is None:
        raise NotFound("unknown machine", code="machine_unknown")
    return JSONResponse(context)


async def machines(request: Request) -> Response:
    """The machines in the caller's token, with model, hours and due maintenance."""
    principal = await require_principal(request)
    services = _services(request)
    out = []
    for machine_id in principal.machines:
        context = await services.machine_context(machine_id)
        if context is not None:
            out.append({k: context.get(k) for k in ("id", "name", "model", "serial", "hours", "due", "available")
                        if k in context})
    return JSONResponse({"machines": out})


def routes() -> list[BaseRoute]:
    return [
        Route("/api/escalations", list_escalations, methods=["GET"]),
        Route("/api/escalations/{escalation_id:int}", get_escalation, methods=["GET"]),
        Route("/api/escalations/{escalation_id:int}/reply", reply, methods=["POST"]),
        Route("/api/escalations/{escalation_id:int}/status", set_status, methods=["POST"]),
        Route("/api/analytics", analytics, methods=["GET"]),
        Route("/api/machines", machines, methods=["GET"]),
        Route("/api/machines/{machine_id}", machine, methods=["GET"]),
    ]
