"""Settings at the command line: the CLI refuses a default secret in production, and its tokens verify.
(Parsing, validation and the generated docs are unit-tested in tests/unit/core/test_settings.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_cli_refuses_default_secret_in_production():
    out = subprocess.run([sys.executable, "-m", "server", "token", "--user", "a"], cwd=ROOT,
                         env={"ENV": "production", "PATH": "/usr/bin"}, capture_output=True, text=True)
    assert out.returncode == 2 and "JWT_SECRET" in out.stderr


def test_cli_token_is_accepted_by_the_verifier():
    import asyncio

    from server.auth import TokenVerifier

    out = subprocess.run([sys.executable, "-m", "server", "token", "--user", "demo", "--role", "admin", "--lang", "el",
                          "--machines", "AB-1001"], cwd=ROOT,
                         env={"ENV": "development", "JWT_SECRET": "k" * 40, "PATH": "/usr/bin"},
                         capture_output=True, text=True, check=True)
    principal = asyncio.run(TokenVerifier(Settings(env="development", jwt_secret="k" * 40)).verify(out.stdout.strip()))
    assert (principal.user_id, principal.role, principal.lang, principal.machines) == ("demo", "admin", "el", ("AB-1001",))
    bad = subprocess.run([sys.executable, "-m", "server", "token", "--user", "a", "--role", "root"], cwd=ROOT,
                         env={"ENV": "development", "PATH": "/usr/bin"}, capture_output=True, text=True)
    assert bad.returncode == 2 and "--role" in bad.stderr
