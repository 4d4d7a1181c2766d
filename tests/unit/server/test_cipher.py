"""The conversation cipher (server/crypto/cipher.py): text sealed at rest, what a reader sees without the key,
and key rotation (a previous key still reads; rotate re-seals under the current one)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from server.crypto.cipher import Sealing
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


def test_a_new_key_reads_what_the_previous_one_sealed_and_rotate_reseals_it() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = TextCipher(old).seal(PLAIN)
    rotating = TextCipher(new, [old])
    assert rotating.open(sealed_before) == PLAIN  # no moment where stored text is unreadable
    assert rotating.sealing(sealed_before) is Sealing.PREVIOUS
    assert rotating.sealing(rotating.seal(PLAIN)) is Sealing.CURRENT  # new text: the new key
    rotated = rotating.rotate(sealed_before)
    assert rotated != sealed_before and rotating.sealing(rotated) is Sealing.CURRENT
    assert TextCipher(new).open(rotated) == PLAIN  # the previous key can go now
    assert TextCipher(old).open(rotated) == "[unreadable: wrong CONVERSATION_ENCRYPTION_KEY]"


def test_rotate_leaves_current_plain_and_unreadable_values_alone() -> None:
    key = Fernet.generate_key().decode()
    cipher = TextCipher(key)
    current = cipher.seal(PLAIN)
    foreign = TextCipher(Fernet.generate_key().decode()).seal(PLAIN)
    assert cipher.rotate(current) == current and cipher.rotate(PLAIN) == PLAIN and cipher.rotate(foreign) == foreign
    assert cipher.sealing(foreign) is Sealing.UNREADABLE and cipher.sealing(PLAIN) is Sealing.PLAIN


def test_sealing_is_idempotent() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    sealed = cipher.seal(PLAIN)
    assert cipher.seal(sealed) == sealed  # a value already sealed is not sealed twice


STEPS = [{"step_id": "s1", "text": PLAIN, "outcome": "not_fixed", "comment": "nothing changed"}]


def test_json_values_are_sealed_as_one_string_and_open_back() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    sealed = cipher.seal_json(STEPS)
    assert isinstance(sealed, str) and sealed.startswith("enc:v1:") and "brush" not in sealed
    assert cipher.open_json(sealed) == STEPS
    assert cipher.seal_json(sealed) == sealed  # sealing twice does nothing


def test_json_stored_before_a_key_and_empty_values_read_as_they_are() -> None:
    cipher = TextCipher(Fernet.generate_key().decode())
    assert cipher.open_json(STEPS) == STEPS and cipher.open_json({"a": 1}) == {"a": 1}
    assert cipher.seal_json([]) == [] and cipher.seal_json({}) == {} and cipher.seal_json(None) is None
    assert TextCipher("").seal_json(STEPS) == STEPS  # development without a key: stored as it is


def test_json_no_configured_key_opens_gives_the_fallback() -> None:
    sealed = TextCipher(Fernet.generate_key().decode()).seal_json(STEPS)
    assert TextCipher(Fernet.generate_key().decode()).open_json(sealed, []) == []
    assert TextCipher("").open_json(sealed, []) == []
