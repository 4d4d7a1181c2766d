"""The components of a running app, assembled by the lifespan in app.py and passed to handlers.

Handlers reach them as ``request.app.state.services``; nothing here is global.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from core.settings import Settings
from server.observability import Metrics


@dataclasses.dataclass
class Services:
    settings: Settings
    metrics: Metrics
    db: asyncpg.Pool = None  # type: ignore[assignment]
    redis: aioredis.Redis = None  # type: ignore[assignment]
    store: Any = None  # server.store.Store
    state: Any = None  # server.sessions.SessionState
    fanout: Any = None  # server.fanout.Fanout
    verifier: Any = None  # server.auth.TokenVerifier
    jobs: Any = None  # server.jobs.JobQueue
    llm: Any = None  # server.llm.OpenAIChat | None
    kb: Any = None  # knowledge.KnowledgeBase | None
    transcriber: Any = None  # server.voice.Transcriber | None
    engine: Any = None  # server.conversation.ConversationEngine
    turns: Any = None  # server.turns.TurnRunner
    actions: Any = None  # server.actions.Actions
    machines: Any = None  # server.machines.MachineDirectory | None
    escalations: Any = None  # server.escalation.Escalations | None
    language: Any = None  # server.language.LanguageDetector
    tracing: Any = None  # server.tracing.Tracing (set by the app lifespan)
    extra_health: list[Callable[[], Awaitable[Any]]] = dataclasses.field(default_factory=list)

    async def machine_context(self, machine_id: str) -> dict[str, Any] | None:
        if self.machines is None:
            return {"id": machine_id}
        return await self.machines.context(machine_id)
