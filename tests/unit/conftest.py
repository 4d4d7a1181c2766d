"""The fast layer: pure logic, in-process, no services.

Every test below this folder runs without PostgreSQL, Redis, a provider or a server process. Two guards
keep it so: a test that asks for one of the suite's service fixtures (tests/conftest.py) errors
before it runs, and while a unit test runs, opening a network connection or starting a process
raises. A test that needs either belongs to the end-to-end tests beside this folder.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

# the fixtures of tests/conftest.py that start, or depend on, a real service
SERVICE_FIXTURES = frozenset({
    "pg_server", "_migrated_template", "database_url", "db_pool", "redis_url", "redis_client",
    "_llm_session", "llm_server", "settings_factory", "running_server",
})


class ServiceUsed(RuntimeError):
    """A unit test tried to reach something outside its process."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    used = SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
    if used:
        pytest.fail(f"{item.nodeid} is a unit test but uses service fixtures {sorted(used)}; "
                    "move it to the end-to-end tests", pytrace=False)


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise ServiceUsed(f"unit tests do not {what} (args: {args[1:] if args else ()!r})")

    return refuse


@pytest.fixture(autouse=True)
def _no_services(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # socket.socket is a Python subclass of _socket.socket, so its methods can be replaced; asyncio's
    # sock_connect and create_connection go through them too
    monkeypatch.setattr(socket.socket, "connect", _refuse("open network connections"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("open network connections"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start processes"))
    yield
