"""Settings from the environment: each kind parsed, every malformed value refused with the variable
named, and the type annotations in step with the table."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from core import settings as settings_module
from core.settings import DEFAULT_JWT_SECRET, FIELDS, Settings, SettingsError, render_markdown

DEV = {"ENV": "development"}
FERNET = "x0pQ8e3yBcKsG1r3PZ8mbtc0Hrpw3ygeJ9jVHIm5wGA="  # a valid Fernet key (32 bytes, url-safe base64)
PRODUCTION = {"ENV": "production", "JWT_SECRET": "s" * 40, "JWT_AUDIENCE": "abparts-assistant",
              "JWT_ISSUER": "https://parts.example.com", "CONVERSATION_ENCRYPTION_KEY": FERNET}


def test_defaults_are_typed_values() -> None:
    s = Settings(env="development")
    assert (s.port, s.llm_temperature, s.kb_seed_samples) == (8000, 0.2, True)
    assert s.allowed_origins == () and s.webhook_urls == ()
    assert s.data_dir == Path("var") and s.kb_storage_dir is None
    assert s.kb_storage_path == s.data_path / "manuals" and s.data_path.is_absolute()


@pytest.mark.parametrize(("env", "attr", "value"), [
    ({"PORT": "9000"}, "port", 9000),
    ({"LLM_TEMPERATURE": "0.7"}, "llm_temperature", 0.7),
    ({"KB_SEED_SAMPLES": "off"}, "kb_seed_samples", False),
    ({"KB_SEED_SAMPLES": "YES"}, "kb_seed_samples", True),
    ({"KB_SEED_SAMPLES": ""}, "kb_seed_samples", False),
    ({"ALLOWED_ORIGINS": " https://a.example , ,https://b.example"}, "allowed_origins",
     ("https://a.example", "https://b.example")),
    ({"KB_STORAGE_DIR": "/srv/manuals"}, "kb_storage_dir", Path("/srv/manuals")),
    ({"KB_STORAGE_DIR": ""}, "kb_storage_dir", None),
    ({"EMBEDDER": "openai"}, "embedder", "openai"),
])
def test_good_values(env: dict[str, str], attr: str, value: object) -> None:
    assert getattr(Settings.from_env({**DEV, **env}), attr) == value


@pytest.mark.parametrize(("env", "named"), [
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"LLM_TIMEOUT_SECONDS": "soon"}, "LLM_TIMEOUT_SECONDS"),
    ({"KB_SEED_SAMPLES": "maybe"}, "KB_SEED_SAMPLES"),
    ({"SMTP_SECURITY": "ssl3"}, "SMTP_SECURITY"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"JWT_ALGORITHM": "RS256"}, "JWT_JWKS_URL"),
    ({"DATA_DIR": ""}, "DATA_DIR"),
    ({"CONVERSATION_ENCRYPTION_KEY": "not-a-key"}, "CONVERSATION_ENCRYPTION_KEY"),
    ({"CONVERSATION_ENCRYPTION_PREVIOUS_KEYS": f"{FERNET},nope"}, "CONVERSATION_ENCRYPTION_PREVIOUS_KEYS"),
    ({"WEBHOOK_SECRET": "whsec_###"}, "WEBHOOK_SECRET"),
    ({"HOST": "0.0.0.0"}, "HOST"),
    ({"HOST": "192.168.1.5"}, "HOST"),
])
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**DEV, **env})


def test_env_defaults_to_production_and_the_bare_defaults_are_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({})
    for named in ("JWT_SECRET", "JWT_AUDIENCE", "JWT_ISSUER", "CONVERSATION_ENCRYPTION_KEY"):
        assert named in str(refused.value)
    assert Settings.from_env({}, strict=False).env == "production"


@pytest.mark.parametrize(("change", "named"), [
    ({"JWT_SECRET": DEFAULT_JWT_SECRET}, "JWT_SECRET"),
    ({"JWT_SECRET": "CHANGE_ME"}, "JWT_SECRET"),  # the placeholder of deploy/k8s/secret.template.yaml
    ({"JWT_SECRET": "CHANGE_ME_64_RANDOM_CHARACTERS_SHARED_WITH_THE_HOST_APP"}, "JWT_SECRET"),
    ({"JWT_SECRET": "s" * 31}, "JWT_SECRET"),
    ({"JWT_AUDIENCE": ""}, "JWT_AUDIENCE"),
    ({"JWT_ISSUER": ""}, "JWT_ISSUER"),
    ({"CONVERSATION_ENCRYPTION_KEY": ""}, "CONVERSATION_ENCRYPTION_KEY"),
    ({"WEBHOOK_URLS": "https://hooks.example/in"}, "WEBHOOK_SECRET"),
    ({"WEBHOOK_URLS": "http://hooks.example/in", "WEBHOOK_SECRET": "w" * 40}, "https"),
    ({"WEBHOOK_SECRET": "CHANGE_ME"}, "WEBHOOK_SECRET"),
    ({"WEBHOOK_SECRET": "whsec_" + "c2hvcnQ="}, "WEBHOOK_SECRET"),  # 5 bytes once decoded
])
def test_production_refuses_weak_or_missing_secrets(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({**PRODUCTION, **change})


def test_production_accepts_real_secrets_and_any_address() -> None:
    s = Settings.from_env({**PRODUCTION, "HOST": "0.0.0.0", "WEBHOOK_URLS": "https://hooks.example/in",
                           "WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" + "AAAAAAAAAAAA"})
    assert not s.development and s.jwt_secret != DEFAULT_JWT_SECRET and s.problems() == []


def test_development_listens_on_loopback_unless_told_otherwise() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert Settings.from_env({**DEV, "HOST": host}).host == host
    assert Settings.from_env({**DEV, "HOST": "0.0.0.0", "DEVELOPMENT_LISTEN_ANY": "true"}).host == "0.0.0.0"


def test_unknown_names_and_assignment_are_refused() -> None:
    with pytest.raises(SettingsError, match="no_such_setting"):
        Settings(no_such_setting=1)
    s = Settings(env="development")
    with pytest.raises(AttributeError):
        s.port = 1
    unknown = "no_such_setting"  # by name: the type checker refuses the attribute, as it should
    with pytest.raises(AttributeError):
        getattr(s, unknown)


def test_replace_validates_and_round_trips_through_the_environment() -> None:
    s = Settings(env="development", port=9001, allowed_origins=("https://a.example",), kb_seed_samples=False)
    assert Settings.from_env(s.to_env()) == s
    assert s.replace(port=9002).port == 9002 and s.port == 9001
    with pytest.raises(SettingsError):
        s.replace(env="staging")


def test_secrets_are_masked() -> None:
    s = Settings(env="development", openai_api_key="sk-live-abc", smtp_password="", jwt_secret="x" * 40)
    assert s.redacted()["OPENAI_API_KEY"] == "***" and s.redacted()["SMTP_PASSWORD"] == ""
    assert "sk-live-abc" not in repr(s) and "x" * 40 not in repr(s)


def test_configuration_doc_is_generated_from_the_settings_table() -> None:
    doc = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
    assert doc.read_text() == render_markdown(), "run: python -m server settings-doc > docs/configuration.md"
    for field in FIELDS:
        assert field.doc, field.env


KIND_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": tuple[str, ...], "path": Path | None}


def test_every_field_has_its_type_annotation() -> None:
    hints = typing.get_type_hints(Settings, vars(settings_module))
    hints.pop("_values")
    assert set(hints) == {f.attr for f in FIELDS}, "add or remove the annotation on Settings"
    for field in FIELDS:
        assert hints[field.attr] == KIND_TYPES[field.kind], field.env
