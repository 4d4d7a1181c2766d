"""Diagnostics that adapt to each outcome: dependent steps skipped, planned steps, the whole history kept."""

from __future__ import annotations

import dataclasses
import json

from server.engine.diagnostics import (
    PLAN_FORMAT,
    DiagnosticState,
    Step,
    parse_plan,
    plan_messages,
    steps_from_passages,
)


@dataclasses.dataclass(frozen=True)
class Passage:
    text: str


CITES = [{"n": 1, "title": "Help", "page": None}, {"n": 2, "title": "Help", "page": 4}]
TABLE = Passage("Symptom | Cause | Remedy\n- Printer not found: the USB cable is loose, reseat it\n"
                "- Printer not found: a USB hub is in between, plug it in directly")
PROCEDURE = Passage("1. Open a terminal.\n2. Run hp-check -t.\n3. Fix what it reports.")


def test_table_rows_are_independent_causes_and_procedure_steps_chain() -> None:
    steps = steps_from_passages([TABLE, PROCEDURE], CITES)
    assert [s.depends_on for s in steps[:2]] == [None, None]  # table rows: each its own cause
    assert steps[2].depends_on is None and steps[3].depends_on == steps[2].step_id
    assert steps[4].depends_on == steps[3].step_id
    assert steps[0].citation == CITES[0] and steps[2].citation == CITES[1]


def test_cannot_do_skips_the_steps_that_depend_on_it_and_goes_to_the_next_cause() -> None:
    procedure = steps_from_passages([PROCEDURE], CITES)
    other = Step("x1", "Check the printer is powered on")
    state = DiagnosticState.start("a1", [*procedure, other], None, problem="Yazıcı bulunamıyor")
    result = state.apply(procedure[0].step_id, "cannot_do", "I have no terminal on this PC")
    assert result.next_step == other
    assert [s.skipped for s in result.state.steps] == [False, True, True, False]
    assert result.state.steps[0].comment == "I have no terminal on this PC"
    assert not result.needs_alternative


def test_cannot_do_with_nothing_independent_left_asks_for_an_alternative_or_a_human() -> None:
    procedure = steps_from_passages([PROCEDURE], CITES)
    result = DiagnosticState.start("a1", procedure, None).apply(procedure[0].step_id, "cannot_do")
    assert result.exhausted and result.needs_alternative
    assert not DiagnosticState.start("a1", procedure, None).apply(procedure[0].step_id, "fixed").needs_alternative


def test_not_fixed_goes_on_with_the_procedure() -> None:
    procedure = steps_from_passages([PROCEDURE], CITES)
    result = DiagnosticState.start("a1", procedure, None).apply(procedure[0].step_id, "not_fixed")
    assert result.next_step == procedure[1] and not any(s.skipped for s in result.state.steps)


def test_a_planned_step_comes_next_and_is_not_proposed_twice() -> None:
    state = DiagnosticState.start("a1", [Step("s1", "Reseat the USB cable"), Step("s2", "Restart CUPS")], None)
    after = state.apply("s1", "not_fixed").state
    planned = after.with_planned(Step("p1", "Try another USB port"))
    assert planned.next_step == Step("p1", "Try another USB port")
    assert [s.step_id for s in planned.state.steps] == ["s1", "p1", "s2"]
    again = planned.state.with_planned(Step("p2", "Reseat the USB cable"))  # already tried: the next open step stays
    assert again.next_step is not None and again.next_step.step_id == "p1"


def test_every_step_and_answer_survives_follow_ups_for_the_ticket() -> None:
    first = DiagnosticState.start("a1", [Step("s1", "Reseat the cable")], None, problem="Η UPS δεν επικοινωνεί")
    first = first.apply("s1", "not_fixed", "did it twice").state
    second = DiagnosticState.start("a2", [Step("s2", "Check the cable type")], first)  # a follow-up: no new problem
    second = second.apply("s2", "cannot_do", "no spare cable").state
    third = DiagnosticState.start("a3", [Step("s3", "Run apctest")], second)
    stored = DiagnosticState.from_json(json.loads(json.dumps(third.to_json())))
    assert stored is not None and stored.problem == "Η UPS δεν επικοινωνεί"
    history = stored.history()
    assert [(h["text"], h["outcome"], h.get("comment")) for h in history] == [
        ("Reseat the cable", "not_fixed", "did it twice"), ("Check the cable type", "cannot_do", "no spare cable"),
        ("Run apctest", None, None)]
    query = stored.followup_query()
    assert query.startswith("Η UPS δεν επικοινωνεί") and "Reseat the cable" in query
    assert '(the user said: "no spare cable")' in stored.summary()


def test_the_plan_is_asked_as_structured_output_and_read_back() -> None:
    state = DiagnosticState.start("a1", [Step("s1", "Reseat the cable")], None, problem="UPS not seen")
    state = state.apply("s1", "cannot_do", "cable is glued in").state
    messages = plan_messages(state, state.steps[0], "cannot_do", "Turkish", [(1, "Use apctest to check the link.")])
    system = messages[0]["content"]
    assert "Write the step in Turkish" in system and "cable is glued in" in system and "[1] Use apctest" in system
    assert PLAN_FORMAT["type"] == "json_schema"
    plan = parse_plan('{"action": "step", "step": "apctest ile bağlantıyı kontrol edin", "passage": 1}', CITES)
    assert plan is not None and not plan.human and plan.step is not None
    assert plan.step.text == "apctest ile bağlantıyı kontrol edin" and plan.step.citation == CITES[0]
    assert parse_plan('{"action": "human", "step": "", "passage": 0}', CITES) == parse_plan(
        '```json\n{"action": "human", "step": "", "passage": 0}\n```', CITES)
    assert parse_plan("Check the cable.", CITES) is None
    assert parse_plan('{"action": "step", "step": "", "passage": 1}', CITES) is None


def test_the_matching_table_row_gives_its_remedies_as_independent_steps() -> None:
    table = Passage("Symptom | Possible cause | Remedy\n"
                    "The net is not getting clean | Worn nozzles or pressure too low | Replace the nozzles; raise the pressure to 200 bar.\n"
                    "The camera image is blurred | Dirty camera window | Clean the window.")
    steps = steps_from_passages([table, PROCEDURE], CITES, "the net is not clean after cleaning")
    assert [s.text for s in steps[:2]] == ["Replace the nozzles.", "raise the pressure to 200 bar."]
    assert steps[0].depends_on is None and steps[1].depends_on is None and steps[0].citation == CITES[0]
    assert steps[2].text == "Open a terminal." and steps[2].citation == CITES[1]
    # a question that shares nothing with any row: the table gives no steps, the procedure does
    assert [s.text for s in steps_from_passages([table, PROCEDURE], CITES, "zzz")][0] == "Open a terminal."


def test_a_remedy_that_only_points_to_a_procedure_is_not_a_step() -> None:
    table = Passage("Code | Symptom | Cause | Remedy\nE04 | Brushes stop | Brush motor overload | Follow procedure 2.1")
    assert [s.text for s in steps_from_passages([table, PROCEDURE], CITES, "E04")][0] == "Open a terminal."
