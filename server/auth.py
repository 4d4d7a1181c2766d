"""Authentication by the host app: short-lived JWTs carrying the user's identity and permissions.

The host app signs the token (HS256 with a shared secret, or RS256 with keys published at a JWKS
URL); the widget sends it in ``hello``, HTTP clients as ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import jwt
from starlette.requests import HTTPConnection

from core.errors import AuthError, ForbiddenError
from core.languages import LANGUAGES
from core.settings import Settings

ROLES = ("operator", "support", "admin")
_ROLE_RANK = {r: i for i, r in enumerate(ROLES)}


class TokenExpired(AuthError):
    default_code = "token_expired"


@dataclasses.dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    lang: str
    role: str
    machines: tuple[str, ...]
    expires_at: float

    def has_role(self, role: str) -> bool:
        return _ROLE_RANK.get(self.role, -1) >= _ROLE_RANK[role]

    def seconds_left(self, leeway: float, now: float | None = None) -> float:
        """Seconds until the token stops being accepted (its ``exp`` plus the tolerated clock skew)."""
        return self.expires_at + leeway - (time.time() if now is None else now)

    def may_use_machine(self, machine_id: str) -> bool:
        return machine_id in self.machines or self.has_role("support")

    def public(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "lang": self.lang, "role": self.role,
                "machines": list(self.machines)}


class TokenVerifier:
    """Verifies host-app tokens according to the settings (HS256 secret or RS256 JWKS)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None

    async def verify(self, token: str | None) -> Principal:
        if not token or not isinstance(token, str):
            raise AuthError("a token is required", code="token_missing")
        s = self._settings
        try:
            if s.jwt_algorithm == "RS256":
                assert self._jwks is not None
                key: Any = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            else:
                key = s.jwt_secret
            # aud and iss, once configured (always in production), must be present and equal: a token the
            # host signs with the same secret for anything else is refused
            required = ["sub", "exp"] + (["aud"] if s.jwt_audience else []) + (["iss"] if s.jwt_issuer else [])
            claims = jwt.decode(
                token, key, algorithms=[s.jwt_algorithm], leeway=s.jwt_leeway_seconds,
                audience=s.jwt_audience or None, issuer=s.jwt_issuer or None,
                options={"require": required, "verify_aud": bool(s.jwt_audience)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("the token has expired; get a new one from the host app") from exc
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise AuthError(f"invalid token: {exc}", code="token_invalid") from exc
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    role = claims.get("role", "operator")
    if role not in ROLES:
        raise AuthError(f"invalid token: unknown role {role!r}", code="token_invalid")
    lang = claims.get("lang", "en")
    if lang == "nb":
        lang = "no"
    if lang not in LANGUAGES:
        lang = "en"
    machines = claims.get("machines") or []
    if not isinstance(machines, list):
        raise AuthError("invalid token: machines must be a list", code="token_invalid")
    return Principal(
        user_id=str(claims["sub"]), name=str(claims.get("name", "")), lang=lang, role=role,
        machines=tuple(str(m) for m in machines), expires_at=float(claims["exp"]),
    )


def mint_token(settings: Settings, *, user_id: str, name: str = "", role: str = "operator", lang: str = "en",
               machines: list[str] | None = None, ttl_seconds: int = 3600) -> str:
    """Sign an HS256 token with the configured secret (development, scripts and tests)."""
    if settings.jwt_algorithm != "HS256":
        raise ValueError("tokens can only be minted with JWT_ALGORITHM=HS256")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "name": name or user_id, "role": role, "lang": lang,
                              "machines": machines or [], "iat": now, "exp": now + ttl_seconds}
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def origin_allowed(settings: Settings, origin: str | None, host: str | None) -> bool:
    """Browsers send Origin; non-browser clients don't. Same-origin is always allowed."""
    if not origin:
        return True
    allowed = settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    bare = origin.split("://", 1)[-1]
    return host is not None and bare == host


async def require_principal(conn: HTTPConnection, verifier: TokenVerifier, role: str = "operator") -> Principal:
    """The caller of an HTTP API, from ``Authorization: Bearer``; 401 without, 403 below ``role``."""
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("send the host token as 'Authorization: Bearer <token>'", code="token_missing")
    principal = await verifier.verify(token.strip())
    if not principal.has_role(role):
        raise ForbiddenError(f"this needs the {role} role", code="forbidden")
    return principal
