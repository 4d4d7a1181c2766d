"""RS256 tokens verified with the host app's published keys (JWKS), through a real server."""

from __future__ import annotations

import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from testkit.scripted_llm import ThreadedServer
from testkit.wsclient import ChatClient


async def test_rs256_token_from_jwks_is_accepted_and_foreign_key_refused(settings_factory, running_server):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "host-1", "use": "sig", "alg": "RS256"})

    async def jwks(request):
        return JSONResponse({"keys": [jwk]})

    def token(signer, kid="host-1"):
        now = int(time.time())
        return jwt.encode({"sub": "op-7", "name": "Ola", "lang": "no", "role": "operator", "machines": ["AB-1001"],
                           "iat": now, "exp": now + 300, "aud": "abparts-assistant"}, signer, algorithm="RS256",
                          headers={"kid": kid})

    with ThreadedServer(Starlette(routes=[Route("/.well-known/jwks.json", jwks)])) as host:
        settings = settings_factory(jwt_algorithm="RS256", jwt_jwks_url=host.url + "/.well-known/jwks.json",
                                    jwt_audience="abparts-assistant")
        async with running_server(settings) as srv:
            client = ChatClient(srv.ws_url, token(key))
            ready = await client.connect()
            assert ready["user"]["id"] == "op-7" and ready["lang"] == "no"
            await client.close()
            forged = ChatClient(srv.ws_url, token(other))
            try:
                await forged.connect()
                raise AssertionError("a token signed with another key was accepted")
            except AssertionError as exc:
                assert "token_invalid" in str(exc)
