"""Builds the knowledge base for the running service (``server.app`` calls ``build``)."""

from __future__ import annotations

from typing import Any

from knowledge import create_knowledge_base


async def build(services: Any) -> Any:
    """The knowledge base wired to the service's pool, job queue and metrics."""
    settings = services.settings
    return create_knowledge_base(settings, services.db, jobs=services.jobs, metrics=services.metrics,
                                 seed_on_start=settings.kb_seed_samples)
