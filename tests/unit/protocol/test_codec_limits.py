"""Hostile JSON is refused as ``bad_json`` before it can hurt the parser (deep nesting, huge numbers)."""

from __future__ import annotations

import pytest

from server.protocol import ProtocolError, parse_client_frame
from server.protocol.codec import MAX_NESTING, loads_bounded, nesting_depth


@pytest.mark.parametrize("raw", [
    "[" * 100_000,                                              # would raise RecursionError in json.loads
    '{"type":"message","client_id":"c","text":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}",
    "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),
    '{"type":"hello","last_seq":' + "9" * 5000 + "}",           # int() refuses more than 4,300 digits
    '{"type":"ping"',
])
def test_hostile_json_is_a_protocol_error(raw):
    with pytest.raises(ProtocolError) as refused:
        parse_client_frame(raw, max_text_chars=100)
    assert refused.value.code == "bad_json"


def test_brackets_inside_strings_do_not_count():
    text = '{"type":"message","client_id":"c","text":"' + "[{" * 500 + '"}'
    assert nesting_depth(text) == 1
    assert parse_client_frame(text, max_text_chars=2000).TYPE == "message"


def test_escaped_quotes_do_not_end_a_string():
    text = '{"text":"\\"' + "[" * 100 + '"}'
    assert nesting_depth(text) == 1


def test_nesting_at_the_limit_is_parsed():
    raw = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert nesting_depth(raw) <= MAX_NESTING
    assert nesting_depth("[" + raw + "]") == MAX_NESTING + 1
    assert isinstance(loads_bounded(raw), list)


def test_depth_count_stops_early():
    assert nesting_depth("[" * 1_000_000) == MAX_NESTING + 1
