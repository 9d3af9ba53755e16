"""Issue 32, grading as a newcomer meets it: the failing answer named with its fixes,
imported answers graded with the rest, a kept grade said as kept."""

from __future__ import annotations

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
