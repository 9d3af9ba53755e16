"""The shipped parts' text keeps the shape the renderer and the graders rely on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meta_prompting.cli import main
from meta_prompting.library import Goal, Part, load_library
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
