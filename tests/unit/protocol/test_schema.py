"""docs/protocol.schema.json is generated from the frame types, and docs/protocol.md names the same frames."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from server import protocol
from server.protocol import schema_text

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_committed_schema_is_the_generated_one() -> None:
    committed = (DOCS / "protocol.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/protocol.schema.json is stale: run .venv/bin/python -m server.protocol --schema "
        "> docs/protocol.schema.json")


def test_schema_is_valid_and_accepts_real_frames() -> None:
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for text in ('{"type":"hello","v":1,"token":"t","session_id":null,"last_seq":null}',
                 '{"type":"message","client_id":"c-1","text":"Error E04"}',
                 '{"type":"delta","seq":3,"message_id":"a1","text":"E04 means "}',
                 '{"type":"error","code":"bad_json","message":"frame is not valid JSON"}'):
        validator.validate(json.loads(text))
    for text in ('{"type":"teleport"}', '{"type":"delta","message_id":"a1","text":"no seq"}',
                 '{"type":"step_outcome","step_id":"s","outcome":"maybe"}'):
        assert not validator.is_valid(json.loads(text)), text


def _tables(markdown: str) -> dict[str, set[str]]:
    """Frame names in the first column of the client and server tables of protocol.md."""
    out: dict[str, set[str]] = {}
    for heading, body in re.findall(r"^## (Client → server|Server → client)\n(.*?)(?=^## )", markdown, re.M | re.S):
        out[heading] = set(re.findall(r"^\| `([a-z_]+)` \|", body, re.M))
    return out


def test_protocol_md_names_exactly_the_frames_of_the_code() -> None:
    tables = _tables((DOCS / "protocol.md").read_text(encoding="utf-8"))
    assert tables["Client → server"] == set(protocol.CLIENT_FRAMES)
    assert tables["Server → client"] == set(protocol.SERVER_FRAMES)
