"""Re-encryption after a key rotation: every sealed value in the database re-sealed under the current key.

``python -m server reencrypt`` walks every table of the service's database: each text column whose
value is sealed, and each JSON column with sealed strings inside (a ticket snapshot's transcript, a
notification payload, a feedback comment), wherever they are, or that is one sealed string (an answer's
steps and citations, a session's diagnostic state, a snapshot's user, machine and steps). A value sealed with a key from
``CONVERSATION_ENCRYPTION_PREVIOUS_KEYS`` is re-sealed with ``CONVERSATION_ENCRYPTION_KEY``; values
already under the current key, plain values and values no configured key opens are left as they are
(the last are counted: removing the previous keys would make them unreadable for good).

Rows are read and rewritten in batches, each batch in its own short transaction, so the service keeps
running meanwhile; the pass can be run again at any time (it only rewrites what still needs it).
The append-only audit log is never rewritten. The Redis frame streams are not touched: they expire
SESSION_TTL_SECONDS after a session's last frame, so keep a previous key at least that long.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import asyncpg

from server.crypto.cipher import SEALED_PREFIX, Sealing, TextCipher

BATCH = 500
SKIP_TABLES = frozenset({"audit_log"})  # append-only by design (its trigger refuses updates)
_LIKE = SEALED_PREFIX.replace("_", "\\_") + "%"


@dataclasses.dataclass
class Pass:
    """What one re-encryption pass found: values re-sealed, and values no configured key opens."""

    rotated: int = 0
    unreadable: int = 0
    tables: dict[str, int] = dataclasses.field(default_factory=dict)  # table -> values re-sealed


def _walk(value: Any, cipher: TextCipher, found: Pass) -> Any:
    """``value`` with every sealed string re-sealed under the current key."""
    if isinstance(value, str):
        if not value.startswith(SEALED_PREFIX):
            return value
        sealing = cipher.sealing(value)
        if sealing is Sealing.PREVIOUS:
            found.rotated += 1
            return cipher.rotate(value)
        if sealing is Sealing.UNREADABLE:
            found.unreadable += 1
        return value
    if isinstance(value, dict):
        return {k: _walk(v, cipher, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, cipher, found) for v in value]
    return value


async def _columns(conn: asyncpg.Connection) -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, 'text' | 'json' | 'jsonb')] of every text-like and JSON column of the public schema."""
    rows = await conn.fetch(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
        " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('text', 'character varying', 'jsonb', 'json')"
        " ORDER BY c.table_name, c.ordinal_position")
    out: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        if r["table_name"] not in SKIP_TABLES:
            kind = r["data_type"] if r["data_type"] in ("jsonb", "json") else "text"
            out.setdefault(r["table_name"], []).append((r["column_name"], kind))
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def reencrypt(pool: asyncpg.Pool, cipher: TextCipher) -> Pass:
    """Re-seal every value sealed with a previous key under the current one; returns what it found."""
    if not cipher.enabled:
        raise ValueError("CONVERSATION_ENCRYPTION_KEY is empty: there is no current key to re-seal under")
    found = Pass()
    async with pool.acquire() as conn:
        tables = await _columns(conn)
    for table, columns in tables.items():
        before = found.rotated
        await _reencrypt_table(pool, cipher, table, columns, found)
        if found.rotated > before:
            found.tables[table] = found.rotated - before
    return found


async def _reencrypt_table(pool: asyncpg.Pool, cipher: TextCipher, table: str, columns: list[tuple[str, str]],
                           found: Pass) -> None:
    # JSON columns are read and written as their JSON text, whatever codec the pool has: a value that is
    # one sealed JSON string (an answer's steps, a session's diagnostic) reads like any other JSON
    names = ", ".join(_ident(c) if kind == "text" else f"{_ident(c)}::text AS {_ident(c)}" for c, kind in columns)
    kinds = dict(columns)
    # a row is a candidate when one of its columns holds a sealed value (a JSON one: somewhere inside)
    where = " OR ".join(f"{_ident(c)} LIKE $2" if kind == "text" else f"{_ident(c)}::text LIKE ('%\"' || $2)"
                        for c, kind in columns)
    last: Any = (0, 0)  # the tid after which the next batch starts
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT ctid, {names} FROM {_ident(table)} WHERE ctid > $1::tid AND ({where})"  # noqa: S608
                f" ORDER BY ctid LIMIT {BATCH} FOR UPDATE", last, _LIKE)
            for row in rows:
                changes: dict[str, Any] = {}
                for column, kind in columns:
                    value = row[column]
                    if value is None:
                        continue
                    decoded = value if kind == "text" else json.loads(value)
                    rotated = _walk(decoded, cipher, found)
                    if rotated != decoded:
                        changes[column] = rotated if kind == "text" else json.dumps(rotated, ensure_ascii=False)
                if changes:
                    sets = ", ".join(f"{_ident(c)} = ${i + 2}" if kinds[c] == "text" else
                                     f"{_ident(c)} = ${i + 2}::text::{kinds[c]}" for i, c in enumerate(changes))
                    await conn.execute(f"UPDATE {_ident(table)} SET {sets} WHERE ctid = $1::tid",  # noqa: S608
                                       row["ctid"], *changes.values())
        if len(rows) < BATCH:
            return
        last = rows[-1]["ctid"]
