"""Machine context from the host app's database: model, serial, operating hours, maintenance, parts.

The host schema is not ours, so every query comes from a mapping file (``HOST_SCHEMA_MAPPING``, YAML
or JSON; docs/escalation.md). The connection is read-only (``default_transaction_read_only``) on
top of whatever rights the host's database role has. When the host database is unreachable the
assistant keeps working without context: ``context`` returns ``{"id": ..., "available": False}``,
the event is counted in ``degraded_events_total{component="machines"}`` and /health shows it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from core.health import ComponentHealth, Status
from core.logs import get_logger
from server.observability import Metrics

log = get_logger("server.machines")

DEFAULT_MAPPING = Path(__file__).parent / "host_demo" / "mapping.yaml"
HOST_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


# the columns each mapping query must return (see host_demo/mapping.yaml); extra columns pass through
MAPPING_COLUMNS: dict[str, frozenset[str]] = {
    "machine": frozenset({"id", "model", "serial", "hours"}),
    "maintenance": frozenset({"date", "hours", "interval_hours", "description"}),
    "parts": frozenset({"date", "part_number", "name", "quantity"}),
    "service_intervals": frozenset({"interval_hours", "task"}),
    "models": frozenset({"id", "model"}),
}


class MappingError(ValueError):
    """The mapping file is missing, unreadable or lacks a required query."""


@dataclasses.dataclass(frozen=True)
class SchemaMapping:
    """The SQL that reads the host schema; see server/support/host_demo/mapping.yaml for the contract."""

    machine: str
    maintenance: str | None = None
    parts: str | None = None
    service_intervals: str | None = None
    intervals: dict[str, list[dict[str, Any]]] | None = None
    models: str | None = None

    @classmethod
    def load(cls, path: Path) -> SchemaMapping:
        try:
            raw = path.read_text()
        except OSError as exc:
            raise MappingError(f"HOST_SCHEMA_MAPPING: cannot read {path}: {exc}") from exc
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(raw)
            else:
                data = json.loads(raw)
        except Exception as exc:  # JSONDecodeError or yaml.YAMLError: reported with the file name
            raise MappingError(f"HOST_SCHEMA_MAPPING: {path} is not valid: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("machine"), str):
            raise MappingError(f"HOST_SCHEMA_MAPPING: {path} needs at least a `machine` query")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise MappingError(f"HOST_SCHEMA_MAPPING: unknown key(s) {', '.join(sorted(unknown))} in {path}")
        return cls(**data)


def jsonable(value: Any) -> Any:
    """Host values as JSON: dates as ISO strings, numerics as int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def due_maintenance(hours: float | None, intervals: list[dict[str, Any]],
                    maintenance: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(schedule, due): for each service interval, when it is next due and whether it is due now.

    The last service at an interval is the latest maintenance record whose ``interval_hours`` is a
    multiple of it (a 1000 h service includes the 250 h and 500 h tasks). Without one, the first
    service is due at the interval itself. An interval is ``overdue`` when the operating hours passed
    the due point, ``due_soon`` within 10 % of the interval (at least 25 h) before it.
    """
    schedule: list[dict[str, Any]] = []
    if hours is None:
        return schedule, []
    for item in sorted(intervals, key=lambda i: i["interval_hours"]):
        every = int(item["interval_hours"])
        if every <= 0:
            continue
        covering = [m for m in maintenance
                    if m.get("interval_hours") and int(m["interval_hours"]) % every == 0 and m.get("hours") is not None]
        last = max(covering, key=lambda m: float(m["hours"]), default=None)
        last_hours = float(last["hours"]) if last else 0.0
        next_due = last_hours + every
        remaining = next_due - float(hours)
        margin = max(25.0, every * 0.10)
        status = "overdue" if remaining < 0 else "due_soon" if remaining <= margin else "ok"
        schedule.append({
            "interval_hours": every, "task": item.get("task", ""), "next_due_hours": _num(next_due),
            "hours_remaining": _num(remaining), "status": status,
            "last_service_hours": _num(last_hours) if last else None,
            "last_service_date": last.get("date") if last else None,
        })
    return schedule, [s for s in schedule if s["status"] != "ok"]


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 1)


class MachineSource(Protocol):
    """Where machine context comes from: the host database, or nothing but the machine's id."""

    enabled: bool  # True when a host database gives machine context (the widget offers a machine picker)

    async def context(self, machine_id: str) -> dict[str, Any] | None:
        """The machine's context, ``None`` when the machine is unknown."""
        ...

    async def models(self, machine_ids: list[str]) -> dict[str, str]:
        """Machine id -> model for the machines whose model is known."""
        ...


class NoMachineDirectory:
    """No host database: machine context is off; every machine is known by its id alone, with no model."""

    enabled = False

    async def context(self, machine_id: str) -> dict[str, Any] | None:
        return {"id": machine_id}

    async def models(self, machine_ids: list[str]) -> dict[str, str]:
        return {}


class MachineDirectory:
    """Reads machine context through ``mapping`` from the host database at ``dsn`` (read-only)."""

    enabled = True

    def __init__(self, dsn: str, mapping: SchemaMapping, metrics: Metrics, *, cache_seconds: float = 60.0,
                 pool_max: int = 4, query_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._mapping = mapping
        self._metrics = metrics
        self._cache_seconds = cache_seconds
        self._pool_max = pool_max
        self._timeout = query_timeout
        self._pool: asyncpg.Pool | None = None
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._last_error: str = ""

    async def _connection_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            # min_size=0: no connection at start, so an unreachable host database does not stop the service
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=0, max_size=self._pool_max, command_timeout=self._timeout,
                server_settings={"default_transaction_read_only": "on",
                                 "statement_timeout": str(int(self._timeout * 1000)),
                                 "application_name": "abparts-assistant-machines"})
        assert self._pool is not None
        return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def context(self, machine_id: str) -> dict[str, Any] | None:
        """The machine's context, ``None`` when the host does not know it, or a stub when unreachable."""
        cached = self._cache.get(machine_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            value = await self._read(machine_id)
        except HOST_ERRORS as exc:
            self._last_error = type(exc).__name__  # the text is in the log line below, not in /health/ready
            self._metrics.degraded.labels("machines").inc()
            log.warning("machines.unavailable", machine_id=machine_id, error=type(exc).__name__, detail=str(exc)[:200])
            return {"id": machine_id, "available": False}
        self._last_error = ""
        self._cache[machine_id] = (time.monotonic() + self._cache_seconds, value)
        if len(self._cache) > 1000:
            self._cache.clear()
        return value

    async def _read(self, machine_id: str) -> dict[str, Any] | None:
        m = self._mapping
        pool = await self._connection_pool()
        async with pool.acquire() as conn:
            row = await conn.fetchrow(m.machine, machine_id)
            if row is None:
                return None
            machine = jsonable(dict(row))
            maintenance = [jsonable(dict(r)) for r in await conn.fetch(m.maintenance, machine_id)] if m.maintenance else []
            parts = [jsonable(dict(r)) for r in await conn.fetch(m.parts, machine_id)] if m.parts else []
            model = machine.get("model")
            if m.intervals is not None:
                intervals = list(m.intervals.get(str(model), []))
            elif m.service_intervals and model:
                intervals = [jsonable(dict(r)) for r in await conn.fetch(m.service_intervals, model)]
            else:
                intervals = []
        machine["id"] = str(machine.get("id", machine_id))
        machine.setdefault("name", model)
        schedule, due = due_maintenance(machine.get("hours"), intervals, maintenance)
        return {**machine, "available": True, "maintenance": maintenance, "parts": parts,
                "service_schedule": schedule, "due": due}

    async def models(self, machine_ids: list[str]) -> dict[str, str]:
        """Machine id -> model for many machines at once (analytics); empty when unknown or unreachable."""
        ids = sorted({i for i in machine_ids if i})
        if not ids:
            return {}
        try:
            if self._mapping.models:
                pool = await self._connection_pool()
                rows = await pool.fetch(self._mapping.models, ids)
                return {str(r["id"]): str(r["model"]) for r in rows}
            out = {}
            for machine_id in ids:
                ctx = await self.context(machine_id)
                if ctx and ctx.get("model"):
                    out[machine_id] = str(ctx["model"])
            return out
        except HOST_ERRORS as exc:
            self._metrics.degraded.labels("machines").inc()
            log.warning("machines.models_unavailable", error=type(exc).__name__)
            return {}

    async def health(self) -> ComponentHealth:
        started = time.perf_counter()
        try:
            pool = await self._connection_pool()
            await pool.fetchval("SELECT 1")
        except HOST_ERRORS as exc:
            return ComponentHealth("host_db", Status.DEGRADED, (time.perf_counter() - started) * 1000,
                                   f"machine context unavailable: {type(exc).__name__}", critical=False)
        latency = (time.perf_counter() - started) * 1000
        if self._last_error:
            return ComponentHealth("host_db", Status.DEGRADED, latency, f"last query failed: {self._last_error[:200]}",
                                   critical=False)
        return ComponentHealth("host_db", Status.HEALTHY, latency, "", critical=False)
