from __future__ import annotations

import pytest


@pytest.fixture
def llm_settings(settings_factory, llm_server):
    """Settings for a server whose provider is the scripted LLM (primary + fallback models)."""

    def make(**kw):
        base = dict(openai_base_url=llm_server.base_url, openai_api_key="test-key", openai_model="primary",
                    openai_fallback_model="fallback", llm_max_retries=2, llm_backoff_seconds=0.01,
                    llm_timeout_seconds=5)
        base.update(kw)
        return settings_factory(**base)

    return make
