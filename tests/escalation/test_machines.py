"""Machine context from the host database: the sample schema, a custom mapping, read-only access."""

from __future__ import annotations

import json

import asyncpg
import httpx

from server.support.machines import due_maintenance
from testkit.wsclient import ChatClient

from .helpers import bearer, fetch


async def test_machine_context_from_the_sample_host_schema(esc_settings, running_server, make_token):
    operator = make_token("op-20", machines=["AB-1001", "AB-2002"])
    async with running_server(esc_settings()) as srv, httpx.AsyncClient() as http:
        r = await http.get(f"{srv.url}/api/machines/AB-1001", headers=bearer(operator))
        assert r.status_code == 200, r.text
        m = r.json()
        assert (m["id"], m["model"], m["serial"], m["hours"]) == ("AB-1001", "AutoBoss V4", "V4-2021-0342", 1240)
        assert m["maintenance"][0]["description"].startswith("Repair: brush motor cable")
        assert {p["part_number"] for p in m["parts"]} >= {"CB-7711", "BR-4410", "HF-220"}
        # 1000 h service at 1003 h covers the 250 h tasks: next 250 h service at 1253 h, 13 h from now
        [due] = m["due"]
        assert (due["interval_hours"], due["status"], due["next_due_hours"], due["hours_remaining"]) == (250, "due_soon", 1253, 13)
        assert due["last_service_hours"] == 1003
        assert [s["interval_hours"] for s in m["service_schedule"]] == [250, 500, 1000, 2000]

        m6 = (await http.get(f"{srv.url}/api/machines/AB-2002", headers=bearer(operator))).json()
        assert m6["hours"] == 2980
        assert {(d["interval_hours"], d["status"]) for d in m6["due"]} == {(250, "overdue"), (500, "overdue"),
                                                                            (1000, "due_soon")}

        listing = (await http.get(f"{srv.url}/api/machines", headers=bearer(operator))).json()["machines"]
        assert [x["id"] for x in listing] == ["AB-1001", "AB-2002"] and listing[0]["due"][0]["interval_hours"] == 250

        other = make_token("op-21", machines=["AB-1001"])
        r = await http.get(f"{srv.url}/api/machines/AB-2002", headers=bearer(other))
        assert r.status_code == 403
        r = await http.get(f"{srv.url}/api/machines/NOPE-1", headers=bearer(make_token("sup-20", role="support")))
        assert r.status_code == 404
        assert (await http.get(f"{srv.url}/api/machines/AB-1001")).status_code == 401

        # the same context reaches the chat: in ready, and when the user picks a machine
        client = ChatClient(srv.ws_url, operator)
        ready = await client.connect(machine_id="AB-1001")
        assert ready["machine"]["serial"] == "V4-2021-0342" and ready["machine"]["due"][0]["status"] == "due_soon"
        await client.send({"type": "select_machine", "machine_id": "AB-2002"})
        picked = await client.until("machine")
        assert picked["machine"]["model"] == "AutoBoss M6" and len(picked["machine"]["due"]) == 3
        await client.close()
        health = (await http.get(f"{srv.url}/health/ready")).json()["components"]
        assert health["host_db"]["status"] == "healthy"


MAPPING = {
    "machine": "SELECT asset_no AS id, type_name AS model, serial AS serial, run_hours AS hours"
               " FROM hostapp.assets WHERE asset_no = $1",
    "maintenance": "SELECT done_on AS date, at_hours AS hours, service_hours AS interval_hours, note AS description"
                   " FROM hostapp.services WHERE asset_no = $1 ORDER BY done_on DESC",
    # a write disguised as a read: the read-only connection must refuse it
    "parts": "WITH w AS (INSERT INTO hostapp.services (asset_no, done_on, at_hours, note)"
             " VALUES ($1, current_date, 0, 'written by the assistant') RETURNING 1)"
             " SELECT current_date AS date, 'X' AS part_number, 'x' AS name, 1 AS quantity FROM w",
    "intervals": {"Netbot 2": [{"interval_hours": 100, "task": "Grease the axles"}]},
}


async def test_custom_mapping_over_a_read_only_connection(esc_settings, running_server, make_token, database_url,
                                                          tmp_path):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("""
            CREATE SCHEMA hostapp;
            CREATE TABLE hostapp.assets (asset_no text PRIMARY KEY, type_name text, serial text, run_hours int);
            CREATE TABLE hostapp.services (asset_no text, done_on date, at_hours int, service_hours int, note text);
            INSERT INTO hostapp.assets VALUES ('NB-7', 'Netbot 2', 'NB2-0007', 310);
            INSERT INTO hostapp.services VALUES ('NB-7', current_date - 20, 205, 100, 'axles greased');""")
    finally:
        await conn.close()
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    no_parts = dict(MAPPING)
    del no_parts["parts"]
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps(no_parts))
    support = make_token("sup-22", role="support")
    async with running_server(esc_settings(host_database_url=database_url, host_schema_mapping=clean)) as srv, \
            httpx.AsyncClient() as http:
        m = (await http.get(f"{srv.url}/api/machines/NB-7", headers=bearer(support))).json()
        assert (m["model"], m["serial"], m["hours"], m["available"]) == ("Netbot 2", "NB2-0007", 310, True)
        assert m["maintenance"][0]["description"] == "axles greased" and m["parts"] == []
        [due] = m["due"]  # last 100 h service at 205 h: next at 305 h, 5 h overdue at 310 h
        assert (due["interval_hours"], due["status"], due["hours_remaining"]) == (100, "overdue", -5)
    async with running_server(esc_settings(host_database_url=database_url, host_schema_mapping=mapping)) as srv, \
            httpx.AsyncClient() as http:
        m = (await http.get(f"{srv.url}/api/machines/NB-7", headers=bearer(support))).json()
        assert m == {"id": "NB-7", "available": False}  # the write was refused; the assistant carries on without context
        health = (await http.get(f"{srv.url}/health/ready")).json()["components"]["host_db"]
        assert health["status"] == "degraded" and "ReadOnlySQLTransactionError" in health["detail"]
        assert 'abparts_degraded_events_total{component="machines"}' in (await http.get(f"{srv.url}/metrics")).text
    rows = await fetch(database_url, "SELECT count(*) AS n FROM hostapp.services")
    assert rows[0]["n"] == 1
    # with HOST_DATABASE_URL set, the sample schema is not created
    rows = await fetch(database_url, "SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = 'host_demo'")
    assert rows[0]["n"] == 0


def test_due_maintenance_counts_a_larger_service_as_covering_smaller_intervals():
    intervals = [{"interval_hours": 250, "task": "a"}, {"interval_hours": 500, "task": "b"}]
    history = [{"hours": 480, "interval_hours": 500, "date": "2026-01-01"}, {"hours": 260, "interval_hours": 250}]
    schedule, due = due_maintenance(740, intervals, history)
    assert [(s["interval_hours"], s["next_due_hours"], s["status"]) for s in schedule] == [(250, 730, "overdue"), (500, 980, "ok")]
    assert [d["interval_hours"] for d in due] == [250]
    assert due_maintenance(None, intervals, history) == ([], [])
    _, due = due_maintenance(10, intervals, [])  # never serviced: first service at the interval itself
    assert due == []
