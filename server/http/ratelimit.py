"""Rate limits of every HTTP route: per client address, per user (the token's ``sub``), and the extra
budgets of the routes that are costly for everyone (``ROUTE_BUDGETS``).

A pure ASGI middleware in front of the routes. A refusal is a 429 in the service's error shape
(``{"error": {"code": "rate_limited", ...}}``) with ``Retry-After``. The windows are the WebSocket's
(``server/chat/limits.py``): one-minute counters in Redis shared by every replica.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import AuthError, RateLimited
from core.settings import Settings
from server.auth import TokenVerifier
from server.chat.limits import TRANSCRIBE_SCOPE, RateWindows
from server.observability import Metrics

# (method, path below the root path) -> the extra per-user budget it draws on, besides the general ones:
# a transcription holds the one speech queue every user shares
ROUTE_BUDGETS: dict[tuple[str, str], str] = {("POST", "/api/transcribe"): TRANSCRIBE_SCOPE}


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class HttpLimits:
    """Counts one request against its address's, its user's and its route's budgets."""

    def __init__(self, settings: Settings, redis: aioredis.Redis, verifier: TokenVerifier, metrics: Metrics) -> None:
        self._settings = settings
        self._verifier = verifier
        self._windows = RateWindows(redis, metrics)
        self._budgets = {TRANSCRIBE_SCOPE: settings.transcriptions_per_minute}

    async def check(self, scope: Scope) -> None:
        """``RateLimited`` when this request is over one of its budgets."""
        s = self._settings
        client = scope.get("client")
        address = client[0] if client else ""
        checks = [("http_address", address, s.http_requests_per_minute_per_address)]
        token = _bearer(scope)
        user = ""
        if token:
            try:
                user = (await self._verifier.verify(token)).user_id
            except AuthError:
                user = ""  # the route refuses it (401); the address's budget still counts it
        if user:
            checks.append(("http_user", user, s.http_requests_per_minute_per_user))
            budget = ROUTE_BUDGETS.get((scope.get("method", ""), _route_path(scope)))
            if budget:
                checks.append((budget, user, self._budgets[budget]))
        await self._windows.hit(checks)


class RateLimitMiddleware:
    """Refuses a request over its budgets with 429 and ``Retry-After`` before any route sees it."""

    def __init__(self, app: ASGIApp, limits: HttpLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the WebSocket has its own limits (server/chat/limits.py)
            await self.app(scope, receive, send)
            return
        try:
            await self.limits.check(scope)
        except RateLimited as exc:
            state = scope.get("state") or {}
            body = {"error": {**exc.to_dict(), "request_id": state.get("request_id", "")}}
            response = JSONResponse(body, status_code=exc.status, headers={"Retry-After": str(int(exc.retry_after) + 1)})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
