"""The shipped parts' text keeps the shape the renderer and the graders rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.library.goals import Goal, Part, load_library
from tests.conftest import REPO

LIBRARY = load_library(REPO)
GOALS = sorted(LIBRARY.goals)
PARTS = sorted({p for g in LIBRARY.goals.values() for p in g.parts}, key=lambda p: p.key)
OUTPUT_FORMAT = "Output format"
# What the grading code reads from the rubric; a rename must keep this shape.
CRITERION = re.compile(r"^Criterion (\d+): (.+)$", re.MULTILINE)
FINAL_QUESTION = "Final question: Did this give a clear, actionable, superior path forward?"
# A constraint that names a section of the answer: every goal using it must ask for it.
HEADING_A_CONSTRAINT_NAMES = {
    "state_assumptions.txt": "Assumptions",
    "people_decide.txt": "Open Questions",
    "preserve_behavior.txt": "Behavior Changes",
}


def text(part: Part) -> str:
    return (LIBRARY.folder(part.kind) / part.name).read_text(encoding="utf-8")


def split_protocol(goal: Goal) -> tuple[list[str], list[str]]:
    """The protocol's lines before its Output format line, and the lines after it."""
    lines = text(goal.protocol).splitlines()
    at = lines.index(OUTPUT_FORMAT)
    return lines[:at], lines[at + 1:]


def headings(lines: list[str]) -> list[str]:
    return [line.removeprefix("## ") for line in lines if line.startswith("## ")]


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.key)
def test_every_part_opens_with_a_title_line_or_you_are(part: Part) -> None:
    body = text(part)
    if part.kind == "persona":
        assert body.startswith("You are ")
        return
    title, blank, first, *_ = body.splitlines()
    assert title.strip() == title and 0 < len(title) <= 60
    assert not title.endswith((":", ".")), title
    assert not title.startswith("#"), "the renderer makes the title a heading"
    assert blank == "" and first.strip()


@pytest.mark.parametrize("part", PARTS, ids=lambda p: p.key)
def test_no_part_talks_to_people_or_names_files(part: Part) -> None:
    body = text(part)
    assert "<!--" not in body
    assert "paste" not in body.lower()
    assert "REPLACE THIS" not in body
    assert not re.search(r"\b[\w-]+\.(txt|md)\b", body), "a file name would reach the model"


@pytest.mark.parametrize("goal", GOALS)
def test_every_protocol_ends_with_one_output_format_of_headings(goal: str) -> None:
    lines = text(LIBRARY.goals[goal].protocol).splitlines()
    assert lines.count(OUTPUT_FORMAT) == 1
    before, after = split_protocol(LIBRARY.goals[goal])
    # The title becomes a "## " heading; a heading of the body's own would blur the format.
    assert not [line for line in before if line.startswith("#")]
    found = headings(after)
    assert len(found) >= 3
    assert len(set(h.lower() for h in found)) == len(found), "sections are found by heading"
    assert not [line for line in after if line.startswith("# ")]
    for i, line in enumerate(after):
        if line.startswith("## "):
            described = after[i + 1] if i + 1 < len(after) else ""
            assert described.strip() and not described.startswith("#"), line


@pytest.mark.parametrize(("goal", "constraint"), [
    (g, c.name) for g in GOALS for c in LIBRARY.goals[g].constraints
    if c.name in HEADING_A_CONSTRAINT_NAMES])
def test_a_section_a_constraint_asks_for_is_in_the_output_format(goal: str,
                                                                 constraint: str) -> None:
    assert HEADING_A_CONSTRAINT_NAMES[constraint] in headings(
        split_protocol(LIBRARY.goals[goal])[1])


def test_explain_asks_for_the_assumptions_its_constraint_requires() -> None:
    assert "Assumptions" in headings(split_protocol(LIBRARY.goals["EXPLAIN"])[1])


def test_the_rubric_names_five_criteria_the_grader_can_read() -> None:
    rubric = text(LIBRARY.goals["GRADE"].protocol)
    criteria = CRITERION.findall(rubric)
    assert [int(n) for n, _ in criteria] == [1, 2, 3, 4, 5]
    names = [name for _, name in criteria]
    assert len(set(names)) == 5
    assert all(name.strip() == name and len(name) < 60 and "*" not in name for name in names)
    assert FINAL_QUESTION in rubric.splitlines()


def test_the_rubric_reasons_before_each_verdict() -> None:
    _, after = split_protocol(LIBRARY.goals["GRADE"])
    example = "\n".join(after)
    assert example.index("Reasoning:") < example.index("Verdict:")


def test_simulate_asks_for_the_five_phases_and_the_justify_sections_in_order() -> None:
    found = headings(split_protocol(LIBRARY.goals["SIMULATE"])[1])
    wanted = ["Analyze", "Simulate", "Evaluate", "Decide", "Justify",
              "Flaw Analysis", "Proposed Solution", "Revised Algorithm"]
    assert [h for h in found if h in wanted] == wanted


def test_simulate_and_its_constraint_treat_a_breaking_path_the_same_way() -> None:
    simulate = LIBRARY.goals["SIMULATE"]
    protocol = text(simulate.protocol)
    constraint = text(next(c for c in simulate.constraints
                           if c.name == "respect_user_constraints.txt"))
    assert "Out of Bounds" in headings(split_protocol(simulate)[1])
    assert "out of bounds" in constraint.lower()
    # The first edition evaluated such a path and marked it INFEASIBLE.
    assert "INFEASIBLE" not in protocol


def test_synthesize_ends_with_the_final_algorithm_and_the_open_questions() -> None:
    found = headings(split_protocol(LIBRARY.goals["SYNTHESIZE"])[1])
    assert found[-2:] == ["Final Algorithm", "Open Questions"]


def test_synthesize_builds_offline(shipped: Path) -> None:
    assert main(["--root", str(shipped), "--goal", "SYNTHESIZE", "--project", "s", "-q"]) == 0
    assert (shipped / "output/s/00_PERSONA.md").read_text().startswith("You are")


# Issue 29: the third edition


def section(goal: str, heading: str) -> str:
    """The text under one heading of a goal's output format."""
    _, after = split_protocol(LIBRARY.goals[goal])
    lines = after[after.index(f"## {heading}") + 1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return "\n".join(lines[:end])


def test_the_users_constraints_are_theirs_and_none_stated_is_said(shipped: Path) -> None:
    for goal in ("SIMULATE", "SYNTHESIZE"):
        assert "None stated." in section(goal, "Constraints")
    assert main(["--root", str(shipped), "-g", "AUDIT", "-p", "r", "-q"]) == 0
    template = (shipped / "output/r/01_PROMPT_TEMPLATE.md").read_text()
    assert "<rules>\nEach rule below is non-negotiable." in template
    assert "<constraints>" not in template and "every rule" in template.splitlines()[-1]
    readme = (REPO / "README.md").read_text()
    assert "`<rules>`" in readme and "`<constraints>`" not in readme
    synthesis = " ".join((REPO / "examples/batch-recovery/tasks/synthesis.md").read_text()
                         .split())
    assert "constraint 3" not in synthesis.replace("the owner's constraint 3", "")


def test_debug_carries_on_past_a_phase_that_needs_execution() -> None:
    protocol = text(LIBRARY.goals["DEBUG"].protocol)
    flat = " ".join(protocol.split())
    assert "Pending: needs the output of the commands above" in flat
    assert "Stop only when the evidence does not support even one hypothesis" in flat
    assert "unverified" in section("DEBUG", "Fix") and "Provisional" in section("DEBUG",
                                                                                "Root Cause")
    # The first edition's three disagreeing rules are gone.
    assert "stop there" not in flat and "end after the heading" not in flat
    assert "without saying so" not in flat


def test_grade_follows_appendix_d() -> None:
    found = headings(split_protocol(LIBRARY.goals["GRADE"])[1])
    assert found.index("Final Question") < found.index("Overall Verdict")
    final = section("GRADE", "Final Question")
    assert final.index("reasoning") < final.index("YES or NO")
    rubric = " ".join(text(LIBRARY.goals["GRADE"].protocol).split())
    assert "merely rephrases the problem" in rubric
    assert "introduces new, unaddressed problems" in rubric
    # Extras Appendix D does not ask for apply only when the request asks for them.
    for extra in ("runner-up for stated reasons", "migration order"):
        sentence = next(s for s in re.split(r"(?<=[.;])\s", rubric) if extra in s)
        assert re.search(r"[Ww]here the request asks|when the request asks", sentence), extra


def test_simulate_rates_high_as_better_and_shapes_its_stops() -> None:
    decide = section("SIMULATE", "Decide")
    columns = ("Pathway | Correctness | Reliability | Simplicity | Affordability | "
               "Speed to Deliver | Reversibility")
    assert columns in decide and "High is always better" in decide
    assert "Complexity" not in decide and "Cost" not in decide
    assert "(withdrawn: breaks constraint N)" in section("SIMULATE", "Simulate")
    assert "never simulated" in text(LIBRARY.goals["SIMULATE"].protocol)
    _, after = split_protocol(LIBRARY.goals["SIMULATE"])
    assert "A stop still has a fixed shape" in after[1]
    assert "later stages find this answer's sections by heading" in text(
        LIBRARY.goals["SIMULATE"].protocol)


def test_file_line_is_asked_for_only_when_exact() -> None:
    working = [g for g in GOALS if LIBRARY.goals[g].rubric]  # the goals that are graded
    parts = {LIBRARY.goals[g].protocol for g in working} | {
        c for g in working for c in LIBRARY.goals[g].constraints}
    for part in parts:
        for line in text(part).splitlines():
            if "file:line" in line:
                assert "exact" in line or "no file:line" in line, (part.key, line)


def test_security_review_records_every_threat_considered() -> None:
    found = headings(split_protocol(LIBRARY.goals["SECURITY_REVIEW"])[1])
    assert found.index("Entry Points") + 1 == found.index("Threats")
    assert ("Entry point | STRIDE category | Threat | Kept or dismissed, and why | Finding"
            in section("SECURITY_REVIEW", "Threats"))


def test_document_keeps_provenance_out_of_the_document() -> None:
    assert "carries no provenance" in section("DOCUMENT", "Document")
    assert "Where each key fact of the document comes from" in section(
        "DOCUMENT", "Notes for the Maintainer")


def test_explain_gives_the_short_answer_first_with_the_level() -> None:
    found = headings(split_protocol(LIBRARY.goals["EXPLAIN"])[1])
    assert found[0] == "Short Answer"
    assert '"Level assumed: ..."' in section("EXPLAIN", "Short Answer")


def test_synthesize_records_baselines_and_marks_open_choices_in_the_pseudocode() -> None:
    assert "baseline it started from" in section("SYNTHESIZE", "Stages")
    assert "On the final baseline" in section("SYNTHESIZE", "Insights")
    assert '"OPEN QUESTION N"' in section("SYNTHESIZE", "Final Algorithm")


@pytest.mark.parametrize("goal", ["AUDIT", "TEST", "REFACTOR", "DEBUG", "SIMULATE"])
def test_stop_and_ask_has_a_heading_to_write_under(goal: str) -> None:
    assert headings(split_protocol(LIBRARY.goals[goal])[1])[-1] == "Questions"


def test_refactor_checks_for_unseen_files_before_the_steps() -> None:
    protocol = text(LIBRARY.goals["REFACTOR"].protocol)
    assert protocol.index("depends on files you have not seen") < protocol.index("1. Clarify")
