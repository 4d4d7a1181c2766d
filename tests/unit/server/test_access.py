"""The route-and-frame map: every route the app serves and every client frame has its row, and the map
in docs/security.md is the one generated from the tables (``python -m server access-map``)."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from server.app import create_app
from server.http.access import FRAME_ROLES, PUBLIC, ROLES, ROUTES, frame_rows, render_access_map, served
from server.protocol import CLIENT_FRAMES

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"
START, END = "<!-- access-map:start -->\n", "<!-- access-map:end -->"
UNUSED = dict(database_url="postgresql://unused/unused", redis_url="redis://unused:6379/0")


def app_routes(env: str) -> list[tuple[str, str]]:
    extra = dict(jwt_secret="s" * 40, jwt_audience="a", jwt_issuer="i",
                 conversation_encryption_key="x0pQ8e3yBcKsG1r3PZ8mbtc0Hrpw3ygeJ9jVHIm5wGA=") if env == "production" else {}
    return served(create_app(Settings(env=env, **UNUSED, **extra)).routes)


async def test_every_served_route_has_its_row_and_every_row_is_served() -> None:  # the app binds to a loop
    development, production = set(app_routes("development")), set(app_routes("production"))
    assert production <= development
    assert development == set(ROUTES), (f"no row for {development - set(ROUTES)}; "
                                        f"rows for routes not served: {set(ROUTES) - development}")
    for route in development - production:  # only development serves these: say so
        assert "ENV=development only" in ROUTES[route][1], route
    assert {who for who, _ in ROUTES.values()} <= {PUBLIC, *ROLES}


def test_every_client_frame_has_its_row_and_a_handler() -> None:
    rows = frame_rows(Settings(env="development"))
    assert [r[0] for r in rows] == list(CLIENT_FRAMES)
    assert all(handler != "none" for _, handler, _, _ in rows)
    assert set(FRAME_ROLES) <= set(CLIENT_FRAMES) and set(FRAME_ROLES.values()) <= set(ROLES)


async def test_the_security_doc_holds_the_generated_map() -> None:
    text = DOC.read_text()
    assert START in text and END in text, f"docs/security.md needs the {START.strip()} ... {END} markers"
    section = text.split(START, 1)[1].split(END, 1)[0]
    settings = Settings(env="development", **UNUSED)
    assert section == render_access_map(app_routes("development"), settings), (
        "docs/security.md's map is out of date: paste the output of python -m server access-map between the markers")
