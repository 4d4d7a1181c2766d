"""The diagnostic state: steps from answers, outcomes and what follows, and its stored JSON."""

from __future__ import annotations

import dataclasses

import pytest

from server.engine.diagnostics import (
    DiagnosticState,
    Phase,
    Step,
    UnknownStep,
    extract_steps,
    steps_from_passages,
)

CITATIONS = [{"n": 1, "title": "Manual", "page": 12}, {"n": 2, "title": "Manual", "page": 30}]


def three_steps() -> DiagnosticState:
    steps = [Step("s1", "Check fuse F3"), Step("s2", "Inspect the cable"), Step("s3", "Replace the motor")]
    return DiagnosticState.start("a1", steps, None)


def test_numbered_lines_become_steps_with_their_citation() -> None:
    text = ("E04 is an overload.\n\n1. Stop the machine and check fuse F3 [1]\n2) **Inspect** the brush cable [2]\n"
            "3. ok\n- a bullet that is not a step")
    steps = extract_steps(text, CITATIONS)
    assert [s.text for s in steps] == ["Stop the machine and check fuse F3 [1]", "Inspect the brush cable [2]"]
    assert [s.citation for s in steps] == CITATIONS
    assert all(len(s.step_id) == 12 and s.outcome is None for s in steps)


def test_bullets_count_when_there_are_no_numbers_and_at_most_six_steps() -> None:
    assert [s.text for s in extract_steps("- Check the fuse\n* Reset the drive", [])] == ["Check the fuse",
                                                                                           "Reset the drive"]
    many = "\n".join(f"{i}. Step number {i}" for i in range(1, 10))
    assert len(extract_steps(many, [])) == 6
    assert extract_steps("No steps here.", []) == []


@dataclasses.dataclass(frozen=True)
class Passage:
    text: str


def test_retrieval_only_steps_come_from_the_first_passage_with_a_procedure() -> None:
    passages = [Passage("E04 means overload."), Passage("1. Open the cover\n2. Check fuse F3")]
    steps = steps_from_passages(passages, CITATIONS)
    assert [s.text for s in steps] == ["Open the cover", "Check fuse F3"]
    assert {s.citation["page"] for s in steps if s.citation} == {30}
    assert steps_from_passages([Passage("1. Only one step")], CITATIONS) == []


def test_not_fixed_moves_to_the_next_step_and_counts_a_failure() -> None:
    result = three_steps().apply("s1", "not_fixed")
    assert result.next_index == 1 and result.next_step == Step("s2", "Inspect the cable")
    assert (result.state.phase, result.state.failed, result.state.current) == (Phase.ACTIVE, 1, 1)
    assert result.state.steps[0].outcome == "not_fixed"
    assert not result.solved and not result.exhausted


def test_cannot_do_moves_on_without_counting_a_failure() -> None:
    result = three_steps().apply("s1", "cannot_do")
    assert result.next_index == 1 and result.state.failed == 0


def test_fixed_solves_it() -> None:
    result = three_steps().apply("s1", "not_fixed").state.apply("s2", "fixed")
    assert result.solved and result.next_step is None
    assert result.state.phase is Phase.SOLVED and result.state.failed == 1


def test_every_step_failed_exhausts_it() -> None:
    state = three_steps()
    for step_id in ("s1", "s2"):
        state = state.apply(step_id, "not_fixed").state
    result = state.apply("s3", "cannot_do")
    assert result.exhausted and result.next_index is None
    assert result.state.phase is Phase.EXHAUSTED and result.state.failed == 2


def test_the_state_is_not_changed_in_place() -> None:
    state = three_steps()
    state.apply("s1", "fixed")
    assert state.steps[0].outcome is None and state.phase is Phase.ACTIVE


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(UnknownStep):
        three_steps().apply("nope", "fixed")


def test_escalation_offer_after_failed_steps_once() -> None:
    state = three_steps().apply("s1", "not_fixed").state.apply("s2", "not_fixed").state
    assert state.offer_due(2) and not state.offer_due(3)
    offered = state.with_offer()
    assert not offered.offer_due(2) and offered.to_json()["offered"] is True


def test_a_new_answer_carries_tried_steps_and_failures_over() -> None:
    before = three_steps().apply("s1", "not_fixed").state
    after = DiagnosticState.start("a2", [Step("t1", "Check the encoder")], before.with_offer())
    assert after.message_id == "a2" and after.failed == 1 and not after.offered
    assert [s.step_id for s in after.tried] == ["s1"]
    assert after.attempted_texts() == {"Check fuse F3", "Check the encoder"}
    assert after.summary() == "- Check fuse F3 -> did NOT fix the problem"
    assert DiagnosticState.start("a3", [], after).phase is Phase.NONE


def test_stored_json_shape_is_kept() -> None:
    state = three_steps().apply("s1", "not_fixed").state
    assert state.to_json() == {
        "message_id": "a1", "current": 1, "failed": 1, "tried": [], "state": "active",
        "steps": [{"step_id": "s1", "text": "Check fuse F3", "citation": None, "outcome": "not_fixed"},
                  {"step_id": "s2", "text": "Inspect the cable", "citation": None, "outcome": None},
                  {"step_id": "s3", "text": "Replace the motor", "citation": None, "outcome": None}]}
    assert state.session_patch() == {"diagnostic": state.to_json()}
    assert DiagnosticState.from_json(state.to_json()) == state


def test_earlier_and_partial_shapes_load() -> None:
    loaded = DiagnosticState.from_session({"diagnostic": {"steps": [
        {"id": "s1", "text": "Check fuse F3", "outcome": "not_fixed"}, {"step_id": "s2", "outcome": "bogus"}, 7]}})
    assert loaded is not None
    assert loaded.steps == (Step("s1", "Check fuse F3", None, "not_fixed"), Step("s2", "", None, None))
    assert loaded.phase is Phase.ACTIVE and loaded.failed == 0
    assert DiagnosticState.from_session({}) is None
    assert DiagnosticState.from_session(None) is None
    assert DiagnosticState.from_session({"diagnostic": "garbage"}) is None
