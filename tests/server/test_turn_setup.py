"""A turn's setup on the path to the first token: how many statements it sends to PostgreSQL, and that
it does not search an empty knowledge base (but does search once a document is ready).

The turn runner runs in-process over a real PostgreSQL (a pool of one connection whose query logger
records every statement) and real Redis; the answers are retrieval-only (no model configured).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.db import create_pool
from knowledge import KnowledgeBase, create_knowledge_base
from server import protocol
from server.auth import Principal
from server.chat.sessions import SessionState
from server.chat.turns import TurnRunner
from server.engine.conversation import ConversationEngine
from server.engine.language import LanguageDetector
from server.observability import Metrics
from server.privacy.consent import ConsentPolicy, ConsentRequired, Consents, parse_texts
from server.storage.store import SessionRow, Store, TextCipher
from server.support.machines import NoMachineDirectory
from server.tracing import Tracing

FINISH = "UPDATE messages SET text"  # the first statement after the answer: everything before it is setup
KB_SEARCH = "FROM kb_documents d JOIN kb_versions v"  # the search's first statement (its live documents)
RESET = "SELECT pg_advisory_unlock_all()"  # the pool's reset of a released connection (asyncpg's, not ours)


@dataclass
class Rig:
    runner: TurnRunner
    store: Store
    consents: Consents
    metrics: Metrics
    statements: list[str] = field(default_factory=list)

    async def ask(self, session: SessionRow, text: str) -> tuple[protocol.Ack, list[str]]:
        """Ask, wait for the answer to finish; the statements sent meanwhile."""
        self.statements.clear()
        principal = Principal(session.user_id, session.user_name, "en", "operator", (), time.time() + 3600)
        ack = await self.runner.submit(session, principal,
                                       protocol.Message(text=text, client_id=uuid.uuid4().hex, lang="en"))
        running = self.runner.running.get(session.id)
        if running is not None:
            await asyncio.wait_for(asyncio.shield(running[1]), timeout=60)
        return ack, list(self.statements)

    async def session(self) -> SessionRow:
        return await self.store.create_session(uuid.uuid4().hex, "u-" + uuid.uuid4().hex[:8], "Ann", "en", None)


def setup_of(statements: list[str]) -> list[str]:
    ends = [i for i, q in enumerate(statements) if q.lstrip().startswith(FINISH)]
    assert ends, f"the answer was not finished: {statements}"
    return statements[:ends[0]]


@pytest.fixture
async def rig_factory(settings_factory: Callable[..., Any], redis_url: str,
                      database_url: str) -> AsyncIterator[Callable[..., Any]]:
    closers: list[Any] = []

    async def make(*, with_kb: bool = False, **overrides: Any) -> tuple[Rig, KnowledgeBase | None]:
        settings = settings_factory(require_grounding=True, **overrides)
        pool = create_pool(database_url, min_size=1, max_size=1, name="test")
        await pool
        closers.append(pool.close)
        statements: list[str] = []
        async with pool.acquire() as conn:  # the pool's only connection: every statement passes here
            conn.add_query_logger(lambda logged: None if logged.query.startswith(RESET)
                                  else statements.append(logged.query))
        redis = aioredis.from_url(redis_url)
        closers.append(redis.aclose)
        metrics = Metrics()
        cipher = TextCipher(settings.conversation_encryption_key, settings.conversation_encryption_previous_keys)
        store = Store(pool, cipher)
        state = SessionState(redis, ttl_seconds=600, max_frames=1000, metrics=metrics, cipher=cipher)
        kb = create_knowledge_base(settings, pool, metrics=metrics) if with_kb else None
        engine = ConversationEngine(settings=settings, metrics=metrics, llm=None, kb=kb)
        consents = Consents(pool, ConsentPolicy(settings.consent_required, settings.consent_version,
                                                parse_texts(settings.consent_text)))
        runner = TurnRunner(settings=settings, metrics=metrics, tracing=Tracing(None), pool=pool, store=store,
                            state=state, engine=engine, language=LanguageDetector(), machines=NoMachineDirectory(),
                            escalations=None, consents=consents)
        rig = Rig(runner, store, consents, metrics)
        rig.statements = statements
        return rig, kb

    yield make
    for close in reversed(closers):
        await close()


async def test_turn_setup_takes_two_statements(rig_factory):
    rig, _ = await rig_factory()
    session = await rig.session()
    for question in ("The brushes do not turn", "What else can I check?"):
        ack, statements = await rig.ask(session, question)
        assert not ack.duplicate
        setup = setup_of(statements)
        # the gate (consent and who answers), then one statement storing both rows and reading the context
        assert len(setup) == 2, setup
        assert "user_consents" in setup[0] and "INSERT INTO messages" in setup[1]
    history = await rig.store.history(session.id)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[2]["text"] == "What else can I check?" and history[3]["status"] == "complete"


async def test_resend_stores_nothing_twice(rig_factory):
    rig, _ = await rig_factory()
    session = await rig.session()
    principal = Principal(session.user_id, "Ann", "en", "operator", (), time.time() + 3600)
    frame = protocol.Message(text="The brushes do not turn", client_id="same", lang="en")
    first = await rig.runner.submit(session, principal, frame)
    await asyncio.wait_for(asyncio.shield(rig.runner.running[session.id][1]), timeout=60)
    again = await rig.runner.submit(session, principal, frame)
    assert again.duplicate and again.message_id == first.message_id
    assert [m["role"] for m in await rig.store.history(session.id)] == ["user", "assistant"]


async def test_withdrawal_counts_from_the_next_message(rig_factory):
    rig, _ = await rig_factory()
    session = await rig.session()
    await rig.ask(session, "The brushes do not turn")
    await rig.consents.record(session.user_id, granted=False, version=rig.consents.policy.version)
    with pytest.raises(ConsentRequired):
        await rig.ask(session, "And now?")
    assert len(await rig.store.history(session.id)) == 2  # nothing stored after the withdrawal


async def test_history_is_the_latest_messages(rig_factory):
    rig, _ = await rig_factory()
    session = await rig.session()
    for n in range(12):
        await rig.ask(session, f"Question number {n} about the brushes")
    context = await rig.store.turn_context(session.id, history_limit=4)
    assert [h["text"] for h in context.history if h["role"] == "user"] == [
        "Question number 10 about the brushes", "Question number 11 about the brushes"]


async def test_empty_knowledge_base_is_not_searched_until_a_document_is_ready(rig_factory):
    rig, kb = await rig_factory(with_kb=True)
    session = await rig.session()
    _, statements = await rig.ask(session, "The brushes do not turn")
    assert not any(KB_SEARCH in q for q in statements), "an empty knowledge base was searched"
    assert "user_consents" in statements[0] and "INSERT INTO messages" in statements[1]
    answer = (await rig.store.history(session.id))[-1]
    assert answer["mode"] == "not_covered"

    await kb.add_entry("expert", "Brushes do not turn", "When the brushes do not turn, replace the brush fuse F3.")
    _, statements = await rig.ask(session, "The brushes do not turn")
    assert any(KB_SEARCH in q for q in statements), "a ready document was not searched"
    answer = (await rig.store.history(session.id))[-1]
    assert answer["mode"] == "retrieval_only" and answer["citations"]
    # the query went through the batcher (one model call, counted)
    samples = {s.labels.get("kind"): s.value for m in rig.metrics.registry.collect()
               if m.name == "abparts_kb_query_batch_size" for s in m.samples if s.name.endswith("_count")}
    assert samples.get("dense", 0) >= 1

    await kb.delete_document(answer["citations"][0]["document_id"] and int(answer["citations"][0]["document_id"]))
    _, statements = await rig.ask(session, "The brushes do not turn")
    assert not any(KB_SEARCH in q for q in statements), "a knowledge base emptied again was searched"
