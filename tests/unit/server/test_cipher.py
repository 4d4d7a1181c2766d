"""server/storage/store.py ``TextCipher``: message text sealed at rest, and what a reader sees without the key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from server.storage.store import TextCipher

PLAIN = "The brush motor fuse is F3 — Σφάλμα E3"


def test_round_trip() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    sealed = cipher.seal(PLAIN)
    assert sealed.startswith("enc:v1:")
    assert "brush motor" not in sealed and "Σφάλμα" not in sealed
    assert cipher.open(sealed) == PLAIN


def test_each_seal_is_fresh() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    assert cipher.seal(PLAIN) != cipher.seal(PLAIN)


def test_another_key_cannot_read_it() -> None:
    sealed = TextCipher(Fernet.generate_key().decode()).seal(PLAIN)
    assert TextCipher(Fernet.generate_key().decode()).open(sealed) == "[unreadable: wrong CONVERSATION_ENCRYPTION_KEY]"


def test_without_a_key_text_is_stored_as_is_and_sealed_text_stays_hidden() -> None:
    plain = TextCipher("")
    assert plain.seal(PLAIN) == PLAIN
    assert plain.open(PLAIN) == PLAIN
    sealed = TextCipher(Fernet.generate_key().decode()).seal(PLAIN)
    assert plain.open(sealed) == "[encrypted]"


def test_text_stored_before_a_key_was_set_still_reads() -> None:
    assert TextCipher(Fernet.generate_key().decode()).open("stored in plain text") == "stored in plain text"


def test_empty_text_stays_empty() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    assert cipher.seal("") == ""
    assert cipher.open("") == ""


def test_a_malformed_key_is_refused_at_once() -> None:
    with pytest.raises(ValueError):
        TextCipher("not-a-fernet-key")
