"""Production never serves demo data: without HOST_DATABASE_URL machine context is off (no sample schema
installed, no demo machine or maintenance record in any frame), /health/ready says so, and the ready
frame tells the widget to offer no machine picker. Development keeps the sample schema."""

from __future__ import annotations

import asyncpg
import httpx

from testkit.wsclient import ChatClient
from tests.conftest import PRODUCTION


async def _schema_exists(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'host_demo'"))
    finally:
        await conn.close()


async def test_production_without_host_database_serves_no_demo_machine(replica_settings, running_server, make_token,
                                                                       database_url):
    settings = replica_settings(**PRODUCTION, host_database_url="")
    async with running_server(settings) as srv, httpx.AsyncClient(timeout=20) as http:
        ready = (await http.get(srv.url + "/health/ready")).json()
        client = ChatClient(srv.ws_url, make_token(machines=["AB-1001"]))
        frame = await client.connect(machine_id="AB-1001")
        await client.close()
        log_text = srv.log_text()
    assert ready["components"]["host_db"]["detail"].startswith("off: HOST_DATABASE_URL is empty")
    assert frame["machine_context"] is False
    assert frame["machine"] == {"id": "AB-1001"}, "the id alone: no model, hours or maintenance from the demo"
    assert not await _schema_exists(database_url), "the sample host schema is not installed in production"
    assert '"event": "machines.off"' in log_text


async def test_development_keeps_the_sample_schema(replica_settings, running_server, make_token, database_url):
    async with running_server(replica_settings()) as srv:
        client = ChatClient(srv.ws_url, make_token(machines=["AB-1001"]))
        frame = await client.connect(machine_id="AB-1001")
        await client.close()
    assert frame["machine_context"] is True
    assert frame["machine"]["id"] == "AB-1001" and frame["machine"]["model"]
    assert await _schema_exists(database_url)
