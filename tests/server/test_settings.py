"""Settings: typed, validated, documented, secrets masked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import FIELDS, Settings, SettingsError, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_is_generated_from_the_settings_table():
    assert (ROOT / "docs/configuration.md").read_text() == render_markdown(), \
        "run: python -m server settings-doc > docs/configuration.md"
    for field in FIELDS:
        assert field.doc, field.env


@pytest.mark.parametrize("env,message", [
    ({"PORT": "eighty"}, "PORT"),
    ({"LLM_TIMEOUT_SECONDS": "soon"}, "LLM_TIMEOUT_SECONDS"),
    ({"SMTP_SECURITY": "ssl3"}, "SMTP_SECURITY"),
    ({"KB_SEED_SAMPLES": "maybe"}, "KB_SEED_SAMPLES"),
    ({"ENV": "production"}, "JWT_SECRET"),
    ({"JWT_ALGORITHM": "RS256"}, "JWT_JWKS_URL"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_secrets_are_masked():
    s = Settings.from_env({"OPENAI_API_KEY": "sk-live-abc", "JWT_SECRET": "x" * 40})
    assert "sk-live-abc" not in repr(s) and "x" * 40 not in repr(s)
    assert s.redacted()["OPENAI_API_KEY"] == "***"


def test_cli_refuses_default_secret_in_production():
    out = subprocess.run([sys.executable, "-m", "server", "token", "--user", "a"], cwd=ROOT,
                         env={"ENV": "production", "PATH": "/usr/bin"}, capture_output=True, text=True)
    assert out.returncode == 2 and "JWT_SECRET" in out.stderr


def test_cli_token_is_accepted_by_the_verifier():
    import asyncio

    from server.auth import TokenVerifier

    out = subprocess.run([sys.executable, "-m", "server", "token", "--user", "demo", "--role", "admin", "--lang", "el",
                          "--machines", "AB-1001"], cwd=ROOT, env={"JWT_SECRET": "k" * 40, "PATH": "/usr/bin"},
                         capture_output=True, text=True, check=True)
    principal = asyncio.run(TokenVerifier(Settings(jwt_secret="k" * 40)).verify(out.stdout.strip()))
    assert (principal.user_id, principal.role, principal.lang, principal.machines) == ("demo", "admin", "el", ("AB-1001",))
    bad = subprocess.run([sys.executable, "-m", "server", "token", "--user", "a", "--role", "root"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--role" in bad.stderr
