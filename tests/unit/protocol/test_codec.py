"""Client frames parse into their types (or fail with the documented code); server frames serialise to
exactly the JSON clients read."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from server import protocol
from server.engine.diagnostics import OUTCOMES, Phase
from server.protocol import ProtocolError, dumps, parse_client_frame, to_wire


def parse(frame: object, max_text_chars: int = 100) -> protocol.ClientFrame:
    raw = frame if isinstance(frame, str) else json.dumps(frame)
    return parse_client_frame(raw, max_text_chars=max_text_chars)


def refused(frame: object, max_text_chars: int = 100) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as caught:
        parse(frame, max_text_chars)
    return caught.value.code, caught.value.message


GOOD = [
    ({"type": "hello", "v": 1, "token": "t", "session_id": "s1", "last_seq": 3, "lang": "el", "machine_id": "AB-1"},
     protocol.Hello(token="t", session_id="s1", last_seq=3, lang="el", machine_id="AB-1")),
    ({"type": "hello"}, protocol.Hello()),
    ({"type": "hello", "token": 42}, protocol.Hello(token=None)),  # the verifier answers token_missing
    ({"type": "hello", "lang": "nb"}, protocol.Hello(lang="no")),
    ({"type": "message", "client_id": "c1", "text": "E04 on the brush drive"},
     protocol.Message(text="E04 on the brush drive", client_id="c1")),
    ({"type": "message", "client_id": "c1", "text": "hola", "lang": "es"},
     protocol.Message(text="hola", client_id="c1", lang="es")),
    ({"type": "cancel"}, protocol.Cancel()),
    ({"type": "ping", "extra": "ignored"}, protocol.Ping()),
    ({"type": "select_machine", "machine_id": "AB-1"}, protocol.SelectMachine("AB-1")),
    ({"type": "step_outcome", "step_id": "s", "outcome": "not_fixed"}, protocol.StepOutcome("not_fixed", "s")),
    ({"type": "step_outcome", "step_id": "s", "outcome": "fixed", "comment": "yes"},
     protocol.StepOutcome("fixed", "s", "yes")),
    ({"type": "feedback", "message_id": "m", "rating": "down"}, protocol.Feedback("down", "m")),
    ({"type": "escalate"}, protocol.Escalate(reason="")),
    ({"type": "escalate", "reason": "help"}, protocol.Escalate(reason="help")),
    ({"type": "resolve", "resolved": True}, protocol.Resolve(True, save=False)),
    ({"type": "resolve", "resolved": False, "save": 1}, protocol.Resolve(False, save=True)),
    ({"type": "audio_start"}, protocol.AudioStart(format="webm")),
    ({"type": "audio_start", "format": "", "lang": "tr"}, protocol.AudioStart(format="webm", lang="tr")),
    ({"type": "audio_start", "format": "wav"}, protocol.AudioStart(format="wav")),
    ({"type": "audio_end"}, protocol.AudioEnd()),
    ({"type": "audio_cancel"}, protocol.AudioCancel()),
    ({"type": "typing", "active": True}, protocol.Typing(True)),
]


@pytest.mark.parametrize(("raw", "expected"), GOOD, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_good_frames_parse_to_their_type(raw: dict[str, object], expected: protocol.ClientFrame) -> None:
    assert parse(raw) == expected


def test_every_client_frame_type_has_a_good_example() -> None:
    assert {frame.TYPE for _, frame in GOOD} == set(protocol.CLIENT_FRAMES)


BAD = [
    ("{not json", "bad_json", "frame is not valid JSON: Expecting property name enclosed in double quotes"),
    ("[1, 2]", "bad_frame", "a frame must be a JSON object"),
    ({"text": "no type"}, "bad_frame", "a frame needs a string 'type'"),
    ({"type": 7}, "bad_frame", "a frame needs a string 'type'"),
    ({"type": "teleport"}, "unknown_type", "unknown frame type 'teleport'"),
    ({"type": "hello", "v": 2}, "bad_version", "protocol version 2 is not supported (use 1)"),
    ({"type": "hello", "v": None}, "bad_version", "protocol version None is not supported (use 1)"),
    ({"type": "hello", "last_seq": -1}, "bad_field", "'last_seq' must be a non-negative integer"),
    ({"type": "hello", "last_seq": True}, "bad_field", "'last_seq' must be a non-negative integer"),
    ({"type": "hello", "session_id": 5}, "bad_field", "'session_id' must be a string"),
    ({"type": "hello", "lang": "fr"}, "bad_field", "'lang' must be one of en, el, ar, es, tr, no"),
    ({"type": "hello", "lang": "norwegian"}, "bad_field", "'lang' is longer than 8 characters"),
    ({"type": "message", "text": "hi"}, "missing_field", "'client_id' is required in a message frame"),
    ({"type": "message", "client_id": "c"}, "missing_field", "'text' is required in a message frame"),
    ({"type": "message", "client_id": "c", "text": "x" * 101}, "message_too_long",
     "the message is longer than 100 characters"),
    ({"type": "message", "client_id": "c", "text": "x" * 401}, "bad_field", "'text' is longer than 400 characters"),
    ({"type": "message", "client_id": "c", "text": "  \n "}, "message_empty", "the message is empty"),
    ({"type": "message", "client_id": "c" * 101, "text": "hi"}, "bad_field",
     "'client_id' is longer than 100 characters"),
    # the text is checked before the client id
    ({"type": "message", "text": " "}, "message_empty", "the message is empty"),
    ({"type": "select_machine"}, "missing_field", "'machine_id' is required in a select_machine frame"),
    ({"type": "step_outcome", "step_id": "s", "outcome": "maybe"}, "bad_field",
     "'outcome' must be one of fixed, not_fixed, cannot_do"),
    ({"type": "step_outcome", "outcome": "fixed"}, "missing_field", "'step_id' is required in a step_outcome frame"),
    ({"type": "feedback", "message_id": "nope", "rating": "meh"}, "bad_field", "'rating' must be 'up' or 'down'"),
    ({"type": "feedback", "rating": "up", "comment": "x" * 2001}, "missing_field",
     "'message_id' is required in a feedback frame"),
    ({"type": "feedback", "rating": "up", "message_id": "m", "comment": "x" * 2001}, "bad_field",
     "'comment' is longer than 2000 characters"),
    ({"type": "resolve"}, "bad_field", "'resolved' must be true or false"),
    ({"type": "resolve", "resolved": "yes"}, "bad_field", "'resolved' must be true or false"),
    ({"type": "audio_start", "format": "flac"}, "bad_field", "'format' must be one of webm, wav, ogg, mp3, m4a"),
]


@pytest.mark.parametrize(("raw", "code", "message"), BAD)
def test_bad_frames_are_refused_with_code_and_message(raw: object, code: str, message: str) -> None:
    assert refused(raw) == (code, message)


@pytest.mark.parametrize(("raw", "_"), GOOD, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_client_frames_round_trip(raw: object, _: object) -> None:
    frame = parse(raw)
    assert parse(dumps(frame)) == frame
    assert to_wire(frame)["type"] == frame.TYPE


# what clients (widget/widget.js, tests/) read today, key for key and in order
WIRE = [
    (protocol.Error("bad_json", "frame is not valid JSON"), None,
     '{"type":"error","code":"bad_json","message":"frame is not valid JSON"}'),
    (protocol.Error("rate_limited", "slow down", client_id="c1"), None,
     '{"type":"error","code":"rate_limited","message":"slow down","client_id":"c1"}'),
    (protocol.Error("internal_error", message_id="a1", message="Something went wrong"), 5,
     '{"type":"error","seq":5,"code":"internal_error","message_id":"a1","message":"Something went wrong"}'),
    (protocol.Delta("a1", "E04 means "), 3, '{"type":"delta","seq":3,"message_id":"a1","text":"E04 means "}'),
    (protocol.Status("a1", "thinking", 900), 2,
     '{"type":"status","seq":2,"message_id":"a1","state":"thinking","eta_ms":900}'),
    (protocol.UserMessage("m1", "c-1", "Γεια", "el"), 1,
     '{"type":"user_message","seq":1,"message_id":"m1","client_id":"c-1","text":"Γεια","lang":"el"}'),
    (protocol.Ack("c-1", "m1", duplicate=False), None,
     '{"type":"ack","client_id":"c-1","message_id":"m1","duplicate":false}'),
    (protocol.Done("a1", "complete", "llm", [{"n": 1}], {"model": "m"}, lang="en"), 6,
     '{"type":"done","seq":6,"message_id":"a1","status":"complete","mode":"llm","citations":[{"n":1}],'
     '"usage":{"model":"m"},"lang":"en"}'),
    (protocol.Done("a1", "failed", "llm", [], {}, error_code="interrupted"), 7,
     '{"type":"done","seq":7,"message_id":"a1","status":"failed","mode":"llm","citations":[],"usage":{},'
     '"error_code":"interrupted"}'),
    (protocol.Step("a1", "s1", 1, 3, "Check fuse F3", None), 8,
     '{"type":"step","seq":8,"message_id":"a1","step_id":"s1","index":1,"total":3,"text":"Check fuse F3",'
     '"citation":null}'),
    (protocol.StepResult("s1", "not_fixed", protocol.StepState.ACTIVE, 1), 9,
     '{"type":"step_result","seq":9,"step_id":"s1","outcome":"not_fixed","state":"active","failed":1}'),
    (protocol.EscalationOffer("failed_steps"), 10, '{"type":"escalation_offer","seq":10,"reason":"failed_steps"}'),
    (protocol.Pong(12.5), None, '{"type":"pong","ts":12.5}'),
    (protocol.Transcript(True, "E04", "en", 1.25), None,
     '{"type":"transcript","partial":true,"text":"E04","language":"en","duration":1.25}'),
    (protocol.History([{"id": "m1"}], 4), None, '{"type":"history","messages":[{"id":"m1"}],"last_seq":4}'),
    (protocol.Ready(protocol=1, session_id="s", last_seq=0, resumed=False, lang="en", user={"id": "u"},
                    machine=None, limits={"message_max_chars": 4000}), None,
     '{"type":"ready","protocol":1,"session_id":"s","last_seq":0,"resumed":false,"lang":"en","user":{"id":"u"},'
     '"machine":null,"limits":{"message_max_chars":4000},"machine_context":true}'),
    (protocol.Machine({"id": "AB-1"}), 11, '{"type":"machine","seq":11,"machine":{"id":"AB-1"}}'),
    (protocol.FeedbackRecorded("a1", "up"), 12,
     '{"type":"feedback_recorded","seq":12,"message_id":"a1","rating":"up"}'),
    (protocol.Escalated(1, "ABP-000001", {"email": "e", "phone": "p"}, "user", "open", True), 13,
     '{"type":"escalated","seq":13,"ticket_id":1,"ticket_number":"ABP-000001","contact":{"email":"e","phone":"p"},'
     '"trigger":"user","status":"open","new":true}'),
    (protocol.SupportMessage("m9", "Kari", "On my way"), 14,
     '{"type":"support_message","seq":14,"message_id":"m9","agent":"Kari","text":"On my way"}'),
    (protocol.Resolved(True, False), 15, '{"type":"resolved","seq":15,"resolved":true,"saved":false}'),
    (protocol.Handover("joined", "human", "Maria", "Maria from support has joined the conversation."), 16,
     '{"type":"handover","seq":16,"event":"joined","mode":"human","agent":"Maria",'
     '"text":"Maria from support has joined the conversation."}'),
    (protocol.Handover("unclaimed", "assistant", "", "Nobody yet", {"email": "s@x", "phone": "1"}), 17,
     '{"type":"handover","seq":17,"event":"unclaimed","mode":"assistant","agent":"","text":"Nobody yet",'
     '"contact":{"email":"s@x","phone":"1"}}'),
    (protocol.AgentTyping("Maria", True, "Maria is typing…"), 18,
     '{"type":"agent_typing","seq":18,"agent":"Maria","active":true,"text":"Maria is typing…"}'),
]


@pytest.mark.parametrize(("frame", "seq", "text"), WIRE, ids=lambda v: getattr(v, "TYPE", ""))
def test_server_frames_serialise_exactly(frame: protocol.ServerFrame, seq: int | None, text: str) -> None:
    assert dumps(frame, seq=seq) == text


def test_every_server_frame_type_has_a_wire_example() -> None:
    assert {frame.TYPE for frame, _, _ in WIRE} == set(protocol.SERVER_FRAMES)


def test_the_diagnostic_words_of_the_wire_are_the_engines() -> None:
    assert get_args(protocol.Outcome) == OUTCOMES
    assert [s.value for s in protocol.StepState] == [p.value for p in Phase]
    assert protocol.StepState(Phase.EXHAUSTED) is protocol.StepState.EXHAUSTED


def test_session_and_connection_frames() -> None:
    session = {t for t, c in protocol.SERVER_FRAMES.items() if issubclass(c, protocol.SessionFrame)}
    connection = {t for t, c in protocol.SERVER_FRAMES.items() if issubclass(c, protocol.ConnectionFrame)}
    assert connection == {"ready", "history", "ack", "pong", "transcript", "error"}
    assert session & connection == {"error"}
    assert session | connection == set(protocol.SERVER_FRAMES)
