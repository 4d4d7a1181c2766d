"""WS_FRAME_LIMITS: every client frame type has its budget; a typo, a missing type or a bad count is refused
at start-up with the setting named."""

from __future__ import annotations

import pytest

from core.settings import FIELDS, Settings, SettingsError
from server.chat.limits import LIMITED_ELSEWHERE, parse_frame_limits, subject_key
from server.protocol import CLIENT_FRAMES

DEFAULT = next(f for f in FIELDS if f.env == "WS_FRAME_LIMITS")


def test_the_default_covers_every_client_frame_type() -> None:
    limits = parse_frame_limits(Settings(env="development").ws_frame_limits)
    assert set(limits) == set(CLIENT_FRAMES) - LIMITED_ELSEWHERE
    assert all(count > 0 for count in limits.values())
    assert limits["escalate"] < limits["ping"]  # the costly frames get the small budgets


@pytest.mark.parametrize("entries", [
    ("helo=30",),  # a typo
    ("message=5",),  # questions have MESSAGES_PER_MINUTE
    ("ping=often",),
    ("ping",),
])
def test_bad_entries_are_refused(entries: tuple[str, ...]) -> None:
    full = tuple(e for e in str(DEFAULT.default).split(",") if not e.startswith(entries[0].split("=")[0] + "="))
    with pytest.raises(SettingsError, match="WS_FRAME_LIMITS"):
        parse_frame_limits(full + entries)


def test_a_missing_type_is_refused() -> None:
    without_typing = tuple(e for e in str(DEFAULT.default).split(",") if not e.startswith("typing="))
    with pytest.raises(SettingsError, match="typing"):
        parse_frame_limits(without_typing)


def test_counters_never_hold_the_identifier_in_clear() -> None:
    assert "user-42" not in subject_key("user-42") and subject_key("user-42") == subject_key("user-42")
    assert subject_key("user-42") != subject_key("user-43")
