"""The route map of docs/security.md holds on a real server: each protected route refuses a request
without a token (401) and from a role below the one it needs (403), whatever its path parameters."""

from __future__ import annotations

import re

import httpx

from server.http.access import PUBLIC, ROLES, ROUTES

RANK = {role: i for i, role in enumerate(ROLES)}


def concrete(path: str) -> str:
    """A path template with its parameters filled in (``{id:int}`` -> 1, ``{name}`` -> x)."""
    return re.sub(r"\{(\w+)(:int)?\}", lambda m: "1" if m.group(2) else "x", path)


def refusal(response: httpx.Response) -> str:
    """The error code of a 403 (``forbidden``: below the route's role), else ""."""
    return str(response.json()["error"]["code"]) if response.status_code == 403 else ""


async def test_every_protected_route_refuses_without_a_token_and_below_its_role(settings_factory, running_server,
                                                                               make_token) -> None:
    tokens = {role: make_token(f"access-{role}", role=role) for role in ROLES}
    checked = 0
    async with running_server(settings_factory()) as srv, httpx.AsyncClient(base_url=srv.url, timeout=30) as http:
        for (method, path), (who, _) in ROUTES.items():
            if method == "WS" or who == PUBLIC:
                continue
            url = concrete(path)
            anonymous = await http.request(method, url)
            assert anonymous.status_code == 401, (method, path, anonymous.status_code, anonymous.text)
            for role in ROLES[:RANK[who]]:
                below = await http.request(method, url, headers={"Authorization": f"Bearer {tokens[role]}"})
                assert below.status_code == 403 and refusal(below) == "forbidden", (method, path, role, below.text)
            # the role suffices (it may still be refused for this object, e.g. a machine not in the token);
            # read as a stream: an event stream (the support queue) answers 200 and stays open
            async with http.stream(method, url, headers={"Authorization": f"Bearer {tokens[who]}"}) as allowed:
                if allowed.status_code in (401, 403):
                    await allowed.aread()
                assert allowed.status_code != 401 and refusal(allowed) != "forbidden", (method, path, who)
            checked += 1
    assert checked >= 30
