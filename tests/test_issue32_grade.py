"""Issue 32, grading as a newcomer meets it: the failing answer named with its fixes,
imported answers graded with the rest, a kept grade said as kept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fake_gemini import FakeGemini, RequestRecord, json_reply, ok
from tests.test_grade import (
    ANSWER,
    CRITERIA,
    QUOTE,
    grade,
    grading,
    is_judge,
    lib,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.usefixtures("fast_retries")


def judged(fake: FakeGemini, failing: list[dict[str, str]]) -> None:
    """Judgments in order: each a criterion -> fix for the criteria that fail."""
    grading(fake)
    queue = iter(failing)

    def reply(r: RequestRecord) -> Any:
        if not is_judge(r):
            return ok(ANSWER)
        wanted = next(queue, {})
        return json_reply({"criteria": {c: {
            "reasoning": "r", "quotes": [QUOTE], "verdict": "FAIL" if c in wanted else "PASS",
            **({"fix": wanted[c]} if c in wanted else {})} for c in CRITERIA},
            "path_forward": {"reasoning": "r", "verdict": "YES"}})

    fake.responder = reply


def test_the_failing_answer_is_named_with_its_scorecard_and_fixes(
        capsys: pytest.CaptureFixture[str], lib: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini, [{}, {"Solution": "Name the eviction policy."}, {}])
    code, out, _ = grade(capsys, lib, "--samples", "3", "--jobs", "1")
    assert code == 4
    assert "2 of 3 answers pass the scorecard" in out
    [rid] = [p.parent.name for p in (lib / "output/s/runs").glob("*-2/run.json")]
    assert f"FAIL sample 2: output/s/runs/{rid}/scorecard.md" in out.replace(str(lib) + "/", "")
    assert "Solution: FAIL. Fix: Name the eviction policy." in out
    assert "FAIL sample 1" not in out and "FAIL sample 3" not in out


def test_grade_grades_an_imported_answer_kept_beside_the_samples(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    pasted = tmp_path / "work" / "chat.md"
    pasted.write_text(ANSWER + "\nPasted from a chat.\n")
    code, out, _ = grade(capsys, lib, "--answer", "chat.md")
    assert code == 0 and "imported answer: imported" in out and "sample 0" not in out
    assert fake_gemini.count == 1
    code, out, _ = grade(capsys, lib)
    assert code == 0
    assert fake_gemini.count == 3  # sample 1 made and judged; the import's grade is kept
    assert "2 of 2 answers pass the scorecard" in out
    assert "imported answer: imported" in out and "sample 1: answered" in out


def test_each_judging_setting_keeps_its_scorecard_and_says_how_it_was_made(
        capsys: pytest.CaptureFixture[str], lib: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    code, out, _ = grade(capsys, lib)
    assert code == 0 and fake_gemini.count == 2 and "(graded now, 1 judge)" in out
    code, out, _ = grade(capsys, lib)
    assert fake_gemini.count == 2 and "(kept from an earlier grade: no call)" in out
    assert re.search(r"sample 1: cached: .*kept, made in \d+\.\ds on \d{4}-\d\d-\d\d", out)
    code, out, _ = grade(capsys, lib, "--judges", "3")
    assert code == 0 and fake_gemini.count == 5
    assert "graded again, 3 judges; the 1-judge scorecard is kept" in out
    [folder] = (lib / "output/s/runs").glob("*-1")
    assert {p.name for p in folder.glob("scorecard*.json")} == {
        "scorecard.json", "scorecard-3j.json"}
    code, out, _ = grade(capsys, lib)  # back to one judge: its scorecard, no call
    assert code == 0 and fake_gemini.count == 5
    [line] = [ln for ln in out.splitlines() if "Scorecard:" in ln]
    assert "kept from an earlier grade: no call" in line and "cached" not in line
    code, out, _ = grade(capsys, lib, "--judges", "3", "--samples", "2")
    assert fake_gemini.count == 9  # sample 2 made and judged thrice; sample 1's is kept
    assert "(1 grade kept: no call)" in out


def test_a_chain_re_graded_under_new_judges_never_says_cached(
        capsys: pytest.CaptureFixture[str], make_library: Any, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    from tests.test_chain import ANSWER as CHAIN_ANSWER
    from tests.test_chain import GOALS, PARTS, write_chain
    from tests.test_chain import chain as run_chain

    lib = make_library(GOALS, PARTS)
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True}]
    path = write_chain(tmp_path / "work" / "chains", {"stages": stages})
    fake_gemini.responder = lambda r: None if r.response_schema else ok(CHAIN_ANSWER)
    fake_gemini.schema_overrides = {"quotes": ["Write a journal line per item."]}
    code, out, err = run_chain(capsys, lib, path)
    assert code == 0 and fake_gemini.count == 2, out + err
    code, out, _ = run_chain(capsys, lib, path, "--judges", "3")
    assert code == 0 and fake_gemini.count == 5
    [row] = [ln for ln in out.splitlines() if ln.split()[:2] == ["state", "SIMULATE"]]
    assert row.split()[2] == "ran" and "cached" not in row
    code, out, _ = run_chain(capsys, lib, path)  # the 1-judge scorecard is still kept
    assert fake_gemini.count == 5
    [row] = [ln for ln in out.splitlines() if ln.split()[:2] == ["state", "SIMULATE"]]
    assert row.split()[2] == "cached"
