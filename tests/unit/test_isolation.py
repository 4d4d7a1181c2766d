"""The guards of the fast layer are live: a unit test can reach no service and start no process."""

from __future__ import annotations

import ast
import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.unit.conftest import SERVICE_FIXTURES, ServiceUsed, pytest_runtest_setup


def test_a_network_connection_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(ServiceUsed):
        sock.connect(("127.0.0.1", 9))


async def test_an_asyncio_connection_is_refused() -> None:
    with pytest.raises(ServiceUsed):
        await asyncio.open_connection("127.0.0.1", 9)


def test_a_process_is_refused() -> None:
    with pytest.raises(ServiceUsed):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


async def test_an_asyncio_process_is_refused() -> None:
    with pytest.raises(ServiceUsed):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


def test_a_service_fixture_fails_the_test() -> None:
    item = SimpleNamespace(nodeid="tests/unit/test_x.py::test_x", fixturenames=["make_token", "db_pool"])
    with pytest.raises(pytest.fail.Exception, match="db_pool"):
        pytest_runtest_setup(item)  # type: ignore[arg-type]


def test_the_guarded_fixtures_exist() -> None:
    # a renamed service fixture would slip past the name guard
    tree = ast.parse((Path(__file__).parents[1] / "conftest.py").read_text())
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
               and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
    assert SERVICE_FIXTURES <= defined, SERVICE_FIXTURES - defined
