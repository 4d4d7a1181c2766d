"""Pure logic of the privacy features: consent texts, sealed values opened, the audit hash chain."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.fernet import Fernet

from core.languages import LANGUAGES
from server.privacy.consent import DEFAULT_TEXT, ConsentPolicy, parse_texts
from server.privacy.erasure import anonymous_agent, row_count
from server.privacy.records import reveal
from server.privacy.retention import slot_key
from server.storage.audit import ChainRow, check_chain, row_hash
from server.storage.store import TextCipher


def test_consent_texts_cover_the_six_languages_and_fall_back_to_english() -> None:
    assert set(DEFAULT_TEXT) == set(LANGUAGES) and parse_texts("") == DEFAULT_TEXT
    assert parse_texts("We keep your chats.") == {lang: "We keep your chats." for lang in LANGUAGES}
    texts = parse_texts(json.dumps({"en": "Keep?", "el": "Κρατάμε;"}))
    assert texts["el"] == "Κρατάμε;" and texts["tr"] == "Keep?"
    assert ConsentPolicy(True, "2", texts).text("xx") == "Keep?"
    for bad in ('{"de": "Behalten?"}', '{"en": ""}', "{not json", '{"en": 3}'):
        with pytest.raises(ValueError, match="CONSENT_TEXT"):
            parse_texts(bad)


def test_reveal_opens_sealed_text_objects_and_nested_json() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    sealed_json = cipher.seal(json.dumps({"reason": "smoke", "steps": [cipher.seal("inner")]}))
    value = {"text": cipher.seal("hello"), "payload": {"sealed": sealed_json}, "n": 3, "list": [cipher.seal("x")]}
    assert reveal(value, cipher) == {"text": "hello", "payload": {"reason": "smoke", "steps": ["inner"]}, "n": 3,
                                     "list": ["x"]}
    plain = TextCipher("")  # without a key a {"sealed": ...} payload is plain JSON text
    assert reveal({"sealed": json.dumps({"a": 1})}, plain) == {"a": 1}


def test_erasure_helpers() -> None:
    assert row_count("DELETE 12") == 12 and row_count("UPDATE 0") == 0 and row_count("") == 0
    assert anonymous_agent("sup-1") == anonymous_agent("sup-1") != anonymous_agent("sup-2")
    assert "sup-1" not in anonymous_agent("sup-1")
    assert slot_key(7200.5, 3600) == slot_key(10799, 3600) != slot_key(10800, 3600)


def _chain(n: int) -> list[ChainRow]:
    rows, prev = [], ""
    for i in range(1, n + 1):
        args = (i, "admin-1", "kb.delete", str(i), '{"x": 1}', f"2026-12-01T00:00:0{i}.000000Z", prev)
        h = row_hash(*args)
        rows.append(ChainRow(*args, hash=h))
        prev = h
    return rows


def test_the_audit_chain_finds_a_changed_a_removed_and_a_reordered_row() -> None:
    rows = _chain(4)
    assert check_chain(rows).ok and check_chain(rows).rows == 4
    changed = [*rows[:2], dataclasses.replace(rows[2], target="99"), rows[3]]
    report = check_chain(changed)
    assert not report.ok and report.first_bad_id == 3 and "changed" in report.problem
    removed = [rows[0], rows[2], rows[3]]
    report = check_chain(removed)
    assert not report.ok and report.first_bad_id == 3 and "removed" in report.problem
    assert not check_chain([rows[1], rows[0]]).ok
    # a later batch continues from the last hash of the one before
    assert check_chain(rows[2:], after=rows[1].hash).ok and not check_chain(rows[2:]).ok


def test_length_prefixes_keep_fields_from_running_together() -> None:
    a = row_hash(1, "ab", "c", None, "{}", "t", "")
    b = row_hash(1, "a", "bc", None, "{}", "t", "")
    assert a != b
