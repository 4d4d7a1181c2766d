"""Who may call what: the role every HTTP route and every client frame needs, as one table each.

The routes themselves check the role (``require_principal`` in each endpoint); these tables say the
same thing as data, so docs/security.md's route-and-frame map is generated from them
(``python -m server access-map``) and tests keep them true: every route the app serves has its row
(tests/unit/server/test_access.py), and a real server refuses each protected route without a token
and below its role (tests/server/test_access_enforced.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Route, WebSocketRoute

from core.settings import Settings
from server.chat.actions import HANDLERS as ACTION_HANDLERS
from server.chat.hub import ATTACHED_FRAMES, HUB_HANDLERS
from server.chat.limits import LIMITED_ELSEWHERE, parse_frame_limits
from server.protocol import CLIENT_FRAMES

PUBLIC = "public"
ROLES = ("operator", "support", "admin")

# (method, path template as the routes table writes it) -> (who, what else is checked)
ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("WS", "/ws"): ("operator", "the token in `hello`, for the socket's whole life (close 4002 at `exp`); frames below"),
    ("GET", "/health/live"): (PUBLIC, "process alive; no detail"),
    ("GET", "/health/ready"): (PUBLIC, "details only to internal callers or an admin token"),
    ("GET", "/metrics"): (PUBLIC, "nginx serves it to internal addresses only"),
    ("GET", "/api/me"): ("operator", "the caller's own profile"),
    ("GET", "/api/sessions"): ("operator", "the caller's own sessions"),
    ("GET", "/api/sessions/{session_id}"): ("operator", "own sessions; support reads any (audited `session.read`)"),
    ("POST", "/api/kb/documents"): ("admin", "audited"),
    ("GET", "/api/kb/documents"): ("admin", ""),
    ("GET", "/api/kb/documents/{document_id:int}"): ("admin", ""),
    ("PUT", "/api/kb/documents/{document_id:int}"): ("admin", "audited"),
    ("DELETE", "/api/kb/documents/{document_id:int}"): ("admin", "audited"),
    ("POST", "/api/kb/documents/{document_id:int}/reindex"): ("admin", "audited"),
    ("GET", "/api/kb/documents/{document_id:int}/file"): ("operator", "operators: manuals only, of their machines' models"),
    ("GET", "/api/kb/documents/{document_id:int}/view"): ("operator", "operators: manuals only, of their machines' models"),
    ("GET", "/api/kb/search"): ("admin", ""),
    ("POST", "/api/kb/entries"): ("admin", "audited"),
    ("GET", "/api/kb/entries"): ("admin", ""),
    ("GET", "/api/me/consent"): ("operator", "own"),
    ("POST", "/api/me/consent"): ("operator", "own"),
    ("GET", "/api/me/export"): ("operator", "own data, audited"),
    ("DELETE", "/api/me/data"): ("operator", "own data, audited"),
    ("GET", "/api/admin/users/{user_id}/export"): ("admin", "audited"),
    ("DELETE", "/api/admin/users/{user_id}/data"): ("admin", "audited"),
    ("GET", "/api/resolutions"): ("support", "audited"),
    ("GET", "/api/resolutions/{proposal_id:int}"): ("support", "audited"),
    ("POST", "/api/resolutions/{proposal_id:int}/approve"): ("support", "audited"),
    ("POST", "/api/resolutions/{proposal_id:int}/reject"): ("support", "audited"),
    ("POST", "/api/transcribe"): ("operator", "TRANSCRIPTIONS_PER_MINUTE per user"),
    ("GET", "/api/escalations"): ("support", ""),
    ("GET", "/api/escalations/{escalation_id:int}"): ("support", "audited"),
    ("POST", "/api/escalations/{escalation_id:int}/reply"): ("support", "stored as the agent's, audited"),
    ("POST", "/api/escalations/{escalation_id:int}/status"): ("support", "audited"),
    ("GET", "/api/escalations/events"): ("support", ""),
    ("POST", "/api/escalations/{escalation_id:int}/claim"): ("support", "audited"),
    ("POST", "/api/escalations/{escalation_id:int}/release"): ("support", "audited"),
    ("POST", "/api/escalations/{escalation_id:int}/close"): ("support", "audited"),
    ("GET", "/api/analytics"): ("admin", "audited"),
    ("GET", "/api/machines"): ("operator", "the machines the token lists (support: any)"),
    ("GET", "/api/machines/{machine_id}"): ("operator", "one of the token's machines (support: any)"),
    ("GET", "/widget.js"): (PUBLIC, "static"),
    ("GET", "/admin"): (PUBLIC, "static page; every call it makes needs support or admin"),
    ("GET", "/admin.js"): (PUBLIC, "static"),
    ("GET", "/admin.css"): (PUBLIC, "static"),
    ("GET", "/"): (PUBLIC, "ENV=development only (demo host page)"),
    ("GET", "/demo.js"): (PUBLIC, "ENV=development only"),
    ("GET", "/demo.css"): (PUBLIC, "ENV=development only"),
    ("GET", "/demo/token"): (PUBLIC, "ENV=development only: mints tokens of any role"),
}

# client frame type -> the role it needs beyond a valid token (operator), when it needs more
FRAME_ROLES: dict[str, str] = {"typing": "support"}


def served(app_routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route in a routes table (``WS`` for the WebSocket)."""
    out: list[tuple[str, str]] = []
    for route in app_routes:
        if isinstance(route, WebSocketRoute):
            out.append(("WS", route.path))
        elif isinstance(route, Route):
            out += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return out


def route_rows(routes: Iterable[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(method, path, who, note) of each route the app serves, in the table's order."""
    served = set(routes)
    return [(method, path, who, note) for (method, path), (who, note) in ROUTES.items() if (method, path) in served]


def frame_rows(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(frame type, handled by, who, per-user limit) of every client frame."""
    limits = parse_frame_limits(settings.ws_frame_limits)
    hub = {k.TYPE for k in HUB_HANDLERS.kinds}
    actions = {k.TYPE for k in ACTION_HANDLERS.kinds}
    attached = {k.TYPE for k in ATTACHED_FRAMES}
    rows = []
    for name in CLIENT_FRAMES:
        handler = "hub" if name in hub else "actions" if name in actions else "none"
        who = FRAME_ROLES.get(name, "operator")
        if name == "hello":
            who, handler = "a valid token", "hub (opening)"
        elif name not in attached:
            who += " (the session's owner; not staff attached to it)"
        limit = (f"MESSAGES_PER_MINUTE ({settings.messages_per_minute})" if name in LIMITED_ELSEWHERE
                 else str(limits[name]))
        rows.append((name, handler, who, limit))
    return rows


def render_access_map(routes: Iterable[tuple[str, str]], settings: Settings) -> str:
    """The route-and-frame map of docs/security.md (between its access-map markers)."""
    lines = ["| Method | Path | Needs | Also |", "|---|---|---|---|"]
    for method, path, who, note in route_rows(routes):
        lines.append(f"| {method} | `{path}` | {who} | {note} |")
    lines += ["", "| Frame | Handled by | Needs | Per user and minute (default) |", "|---|---|---|---|"]
    for name, handler, who, limit in frame_rows(settings):
        lines.append(f"| `{name}` | {handler} | {who} | {limit} |")
    return "\n".join(lines) + "\n"
