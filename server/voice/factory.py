"""Builds the speech transcriber for the app from the settings (VOICE_ENABLED, WHISPER_*, VOICE_*)."""

from __future__ import annotations

from typing import Any

from server.voice.transcriber import Transcriber


async def build(services: Any) -> Transcriber | None:
    """The app's Transcriber, or None when VOICE_ENABLED is off. The app calls ``start()`` (the model
    then loads in the background) and ``aclose()`` at shutdown."""
    settings = services.settings
    if not settings.voice_enabled:
        return None
    return Transcriber.from_settings(settings, services.metrics)
