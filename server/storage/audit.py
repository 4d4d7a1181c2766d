"""The audit log of staff actions: append-only and hash-chained (migration 0400_privacy.sql).

Rows are written with ``Store.audit``; the database numbers each row, links it to the one before
(``prev_hash``) and hashes it, under one lock, and refuses any UPDATE, DELETE or TRUNCATE. Rows hold
who did what to which target, never conversation text. ``verify_chain`` recomputes every hash here,
in Python, so a row changed or removed behind the triggers' back (by a role that could drop them)
is found: ``python -m server audit-verify``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

import asyncpg

# What the staff actions are called in the log (docs/security.md lists them).
ACTIONS = (
    "kb.upload", "kb.replace", "kb.delete", "kb.reindex", "kb.entry",
    "session.read", "session.attach",
    "escalation.view", "escalation.reply", "escalation.status", "analytics.view",
    "resolution.list", "resolution.approve", "resolution.reject",
    "privacy.export", "privacy.erase", "privacy.retention",
)


def canonical(row_id: int, actor: str, action: str, target: str | None, data_text: str, created_at: str,
              prev_hash: str) -> str:
    """The text a row's hash covers: each field length-prefixed (no separator can be forged), the
    previous hash last. Must match ``audit_log_canonical`` in the migration."""
    parts = (str(row_id), actor, action, target or "", data_text, created_at, prev_hash)
    return "".join(f"{len(p)}:{p}" for p in parts)


def row_hash(row_id: int, actor: str, action: str, target: str | None, data_text: str, created_at: str,
             prev_hash: str) -> str:
    return hashlib.sha256(canonical(row_id, actor, action, target, data_text, created_at, prev_hash)
                          .encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class ChainRow:
    id: int
    actor: str
    action: str
    target: str | None
    data_text: str  # the row's jsonb as PostgreSQL prints it
    created_at: str  # UTC, microseconds, as the migration formats it
    prev_hash: str
    hash: str


@dataclasses.dataclass(frozen=True)
class ChainReport:
    rows: int
    ok: bool
    first_bad_id: int | None = None
    problem: str = ""


def check_chain(rows: Iterable[ChainRow], *, after: str = "") -> ChainReport:
    """Walk the rows in id order: each links to the previous hash (``after`` for the first) and
    hashes to its own."""
    prev = after
    count = 0
    for row in rows:
        count += 1
        if row.prev_hash != prev:
            return ChainReport(count, False, row.id, "its prev_hash is not the hash of the row before it "
                                                     "(a row was removed or inserted out of order)")
        expected = row_hash(row.id, row.actor, row.action, row.target, row.data_text, row.created_at, row.prev_hash)
        if expected != row.hash:
            return ChainReport(count, False, row.id, "its hash does not match its content (the row was changed)")
        prev = row.hash
    return ChainReport(count, True)


_SELECT = """SELECT id, actor, action, target, data::text AS data_text,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
                    prev_hash, hash
             FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"""


async def verify_chain(conn: asyncpg.Connection | asyncpg.Pool, *, batch: int = 5000) -> ChainReport:
    """Read the whole log in id order, in batches, and check the chain."""
    prev = ""
    last_id = 0
    total = 0
    while True:
        records = await conn.fetch(_SELECT, last_id, batch)
        if not records:
            return ChainReport(total, True)
        rows = [ChainRow(**dict(r)) for r in records]
        report = check_chain(rows, after=prev)
        if not report.ok:
            return dataclasses.replace(report, rows=total + report.rows)
        total += len(rows)
        prev = rows[-1].hash
        last_id = rows[-1].id
