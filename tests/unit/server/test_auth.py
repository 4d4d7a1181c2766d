"""server/auth.py: host tokens minted and verified (HS256), their claims, roles and allowed origins."""

from __future__ import annotations

import time

import jwt
import pytest

from core.errors import AuthError
from core.languages import LANGUAGES
from core.settings import Settings
from server.auth import (
    ROLES,
    Principal,
    TokenExpired,
    TokenVerifier,
    mint_token,
    origin_allowed,
    principal_from_claims,
)

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4  # long enough for HS512 too


def settings(**overrides: object) -> Settings:
    return Settings(**{"env": "development", "jwt_secret": SECRET, **overrides})


def principal(role: str = "operator", machines: tuple[str, ...] = ()) -> Principal:
    return Principal(user_id="u1", name="Ann", lang="en", role=role, machines=machines, expires_at=0.0)


async def test_a_minted_token_verifies_to_its_principal() -> None:
    s = settings()
    before = time.time()
    token = mint_token(s, user_id="u-42", name="Ann Operator", role="support", lang="el", machines=["m1", "m2"],
                       ttl_seconds=600)
    who = await TokenVerifier(s).verify(token)
    assert (who.user_id, who.name, who.role, who.lang, who.machines) == ("u-42", "Ann Operator", "support", "el",
                                                                         ("m1", "m2"))
    assert before + 599 <= who.expires_at <= time.time() + 601
    assert who.public() == {"id": "u-42", "name": "Ann Operator", "lang": "el", "role": "support",
                            "machines": ["m1", "m2"]}


async def test_the_name_defaults_to_the_user_id() -> None:
    s = settings()
    who = await TokenVerifier(s).verify(mint_token(s, user_id="u-7"))
    assert (who.name, who.role, who.lang, who.machines) == ("u-7", "operator", "en", ())


async def test_an_expired_token_is_refused_as_expired() -> None:
    s = settings(jwt_leeway_seconds=30)
    with pytest.raises(TokenExpired) as caught:
        await TokenVerifier(s).verify(mint_token(s, user_id="u", ttl_seconds=-60))
    assert (caught.value.status, caught.value.code) == (401, "token_expired")
    assert isinstance(caught.value, AuthError)


async def test_the_leeway_tolerates_clock_skew() -> None:
    s = settings(jwt_leeway_seconds=30)
    who = await TokenVerifier(s).verify(mint_token(s, user_id="u", ttl_seconds=-10))
    assert who.user_id == "u"


async def test_a_token_signed_with_another_secret_is_invalid() -> None:
    token = mint_token(Settings(env="development", jwt_secret="another-secret-0123456789abcdefgh"), user_id="u")
    with pytest.raises(AuthError) as caught:
        await TokenVerifier(settings()).verify(token)
    assert (caught.value.status, caught.value.code) == (401, "token_invalid")


@pytest.mark.parametrize("token", [None, ""])
async def test_no_token_is_missing(token: str | None) -> None:
    with pytest.raises(AuthError) as caught:
        await TokenVerifier(settings()).verify(token)
    assert caught.value.code == "token_missing"


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, "", algorithm="none"),  # unsigned
    jwt.encode({"sub": "u"}, SECRET, algorithm="HS256"),  # no expiry
    jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),  # no subject
    jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512"),  # other algorithm
], ids=["garbage", "unsigned", "no exp", "no sub", "HS512"])
async def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(AuthError) as caught:
        await TokenVerifier(settings()).verify(token)
    assert caught.value.code == "token_invalid"


async def test_audience_and_issuer_are_checked_when_configured() -> None:
    host = settings(jwt_audience="abparts", jwt_issuer="https://host.example")
    assert (await TokenVerifier(host).verify(mint_token(host, user_id="u"))).user_id == "u"
    for other in (settings(jwt_audience="someone-else", jwt_issuer="https://host.example"),
                  settings(jwt_audience="abparts", jwt_issuer="https://other.example")):
        with pytest.raises(AuthError, match="invalid token"):
            await TokenVerifier(host).verify(mint_token(other, user_id="u"))
    with pytest.raises(AuthError, match="invalid token"):  # a token without the audience
        await TokenVerifier(host).verify(mint_token(settings(), user_id="u"))


def test_only_hs256_tokens_can_be_minted() -> None:
    rs256 = Settings(env="development", jwt_algorithm="RS256", jwt_jwks_url="https://host.example/.well-known/jwks.json")
    with pytest.raises(ValueError, match="HS256"):
        mint_token(rs256, user_id="u")


def test_roles_are_ranked() -> None:
    assert ROLES == ("operator", "support", "admin")
    assert [principal(r).has_role("operator") for r in ROLES] == [True, True, True]
    assert [principal(r).has_role("support") for r in ROLES] == [False, True, True]
    assert [principal(r).has_role("admin") for r in ROLES] == [False, False, True]


def test_machines_are_the_operators_own_and_all_for_support() -> None:
    assert principal("operator", ("m1",)).may_use_machine("m1")
    assert not principal("operator", ("m1",)).may_use_machine("m2")
    assert principal("support").may_use_machine("m2")
    assert principal("admin").may_use_machine("m2")


def test_an_unknown_role_is_invalid() -> None:
    with pytest.raises(AuthError, match="unknown role 'root'") as caught:
        principal_from_claims({"sub": "u", "exp": 1, "role": "root"})
    assert caught.value.code == "token_invalid"


@pytest.mark.parametrize(("claimed", "lang"), [("nb", "no"), ("no", "no"), ("el", "el"), ("fr", "en"), (None, "en")])
def test_languages_fall_back_to_english(claimed: str | None, lang: str) -> None:
    claims: dict[str, object] = {"sub": "u", "exp": 1}
    if claimed is not None:
        claims["lang"] = claimed
    assert principal_from_claims(claims).lang == lang
    assert lang in LANGUAGES


def test_machines_must_be_a_list() -> None:
    with pytest.raises(AuthError, match="machines must be a list"):
        principal_from_claims({"sub": "u", "exp": 1, "machines": "m1"})
    assert principal_from_claims({"sub": 7, "exp": 1, "machines": [1, "m2"]}).machines == ("1", "m2")


@pytest.mark.parametrize(("allowed", "origin", "host", "ok"), [
    ([], None, "assist.example", True),  # not a browser
    ([], "", "assist.example", True),
    ([], "https://assist.example", "assist.example", True),  # same origin
    ([], "https://evil.example", "assist.example", False),
    ([], "https://evil.example", None, False),
    (["https://parts.example"], "https://parts.example", "assist.example", True),
    (["https://parts.example"], "http://parts.example", "assist.example", False),  # scheme counts
    (["*"], "https://anyone.example", "assist.example", True),
])
def test_origins(allowed: list[str], origin: str | None, host: str | None, ok: bool) -> None:
    assert origin_allowed(settings(allowed_origins=allowed), origin, host) is ok


async def test_audience_and_issuer_are_required_once_configured() -> None:
    checked = settings(jwt_audience="abparts-assistant", jwt_issuer="https://host.example")
    who = await TokenVerifier(checked).verify(mint_token(checked, user_id="u"))
    assert who.user_id == "u"
    for other in (settings(), settings(jwt_audience="another-app", jwt_issuer="https://host.example"),
                  settings(jwt_audience="abparts-assistant", jwt_issuer="https://elsewhere.example")):
        # signed with the same secret, but without (or with another) aud / iss: refused
        with pytest.raises(AuthError) as caught:
            await TokenVerifier(checked).verify(mint_token(other, user_id="u"))
        assert caught.value.code == "token_invalid"
