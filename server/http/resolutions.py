"""HTTP APIs of saved-resolution review: support and admins list the proposals users made with
"Problem solved", and approve (possibly edited) or reject them. Only approved ones become
knowledge-base entries; every review is written to the audit log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.auth import TokenVerifier, require_principal
from server.http.bodies import optional_text, read_json_object
from server.storage.store import Store
from server.support.resolution import Resolutions


def _proposal_id(request: Request) -> int:
    return int(request.path_params["proposal_id"])


class ResolutionRoutes:
    """``/api/resolutions``: the review queue of proposed resolutions (support role)."""

    def __init__(self, *, verifier: TokenVerifier, store: Store, resolutions: Resolutions) -> None:
        self._verifier = verifier
        self._store = store
        self._resolutions = resolutions

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/resolutions", self.list_proposals, methods=["GET"]),
            Route("/api/resolutions/{proposal_id:int}", self.get_proposal, methods=["GET"]),
            Route("/api/resolutions/{proposal_id:int}/approve", self.approve, methods=["POST"]),
            Route("/api/resolutions/{proposal_id:int}/reject", self.reject, methods=["POST"]),
        ]

    async def list_proposals(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        status = request.query_params.get("status", "pending")
        proposals = await self._resolutions.proposals(None if status == "all" else status)
        await self._store.audit(principal.user_id, "resolution.list", None, {"status": status, "count": len(proposals)})
        return JSONResponse({"resolutions": proposals})

    async def get_proposal(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        proposal = await self._resolutions.get(_proposal_id(request))
        await self._store.audit(principal.user_id, "resolution.list", str(proposal["id"]))
        return JSONResponse(proposal)

    async def approve(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        body = await read_json_object(request, code="bad_resolution")  # {} approves it as proposed
        result = await self._resolutions.approve(
            _proposal_id(request), principal, title=optional_text(body, "title", code="bad_resolution"),
            text=optional_text(body, "text", code="bad_resolution"),
            machine_model=optional_text(body, "machine_model", code="bad_resolution"))
        return JSONResponse(result)

    async def reject(self, request: Request) -> Response:
        principal = await require_principal(request, self._verifier, role="support")
        return JSONResponse(await self._resolutions.reject(_proposal_id(request), principal))
