"""--grade --refine N: a failing scorecard refines the next fresh session, every attempt
kept, made once and resumable; a chain stage's "refine": N hands on the passing one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from meta_prompting.grading.refine import with_refinements
from meta_prompting.toolkit.prompt import Filling, Sections, render_prompt
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, RequestRecord, json_reply, ok
from tests.test_chain import GOALS as CHAIN_GOALS
from tests.test_chain import PARTS as CHAIN_PARTS
from tests.test_chain import chain, write_chain
from tests.test_grade import CRITERIA, QUOTE, is_judge

pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits

FIX = "Name the eviction policy and what happens when two tenants share a key."
REASON = "The answer never says what is evicted first."
FIRST = "## Decision\nFIRST-ATTEMPT-ONLY: a cache, because keys expire together.\n"
LATER = "## Decision\nA write-through cache keyed by tenant, because keys expire together.\n"


@pytest.fixture
def lib(make_library: Any) -> Path:
    return make_library(CHAIN_GOALS, CHAIN_PARTS)  # type: ignore[no-any-return]


def judgment(failing: set[str], path: str = "YES") -> dict[str, Any]:
    return {"criteria": {c: {"reasoning": REASON if c in failing else "Fine.",
                             "quotes": [QUOTE], "verdict": "FAIL" if c in failing else "PASS",
                             "fix": FIX if c in failing else ""} for c in CRITERIA},
            "path_forward": {"reasoning": "r", "verdict": path}}


def answers(fake: FakeGemini, judge: Any) -> None:
    """The first session answers FIRST, every later one LATER; `judge(record)` judges."""
    def respond(r: RequestRecord) -> Any:
        if is_judge(r):
            return json_reply(judge(r))
        sessions = [x for x in fake.requests if not is_judge(x)]
        return ok(FIRST if len(sessions) <= 1 else LATER)

    fake.responder = respond


def learns(r: RequestRecord) -> dict[str, Any]:
    """Fails Solution until the request it judges carries the fix."""
    return judgment(set() if FIX in r.prompt else {"Solution"})


def refine(capsys: pytest.CaptureFixture[str], lib: Path, n: int = 3, *extra: str
           ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                 "Pick a cache design.", "--grade", "--refine", str(n), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def runs(lib: Path) -> list[Path]:
    return sorted((lib / "output/s/runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)


def records(lib: Path) -> list[dict[str, Any]]:
    found = [json.loads((p / "run.json").read_text()) for p in (lib / "output/s/runs").iterdir()
             if p.is_dir()]
    return sorted(found, key=lambda r: (r.get("refined_from") or {}).get("attempt", 1))


def sessions(fake: FakeGemini) -> list[RequestRecord]:
    return [r for r in fake.requests if not is_judge(r)]


def judges(fake: FakeGemini) -> list[RequestRecord]:
    return [r for r in fake.requests if is_judge(r)]


def test_a_failing_answer_is_refined_and_the_refined_session_passes(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    answers(fake_gemini, learns)
    code, out, err = refine(capsys, lib)
    assert code == 0, out + err
    assert len(sessions(fake_gemini)) == 2 and len(judges(fake_gemini)) == 2
    first, second = sessions(fake_gemini)
    assert "<refinements>" not in first.prompt
    assert "<refinements>" in second.prompt and FIX in second.prompt and REASON in second.prompt
    assert "FIRST-ATTEMPT-ONLY" not in second.prompt  # the clean slate: never the answer
    assert QUOTE not in second.prompt.split("<refinements>")[1]  # nor its quoted words
    # Before the task, which stays last; the rest of the request is the toolkit's own.
    assert second.prompt.index("</refinements>") < second.prompt.index("<task>")
    assert second.prompt.replace(second.prompt[second.prompt.index("<refinements>"):
                                               second.prompt.index("<task>")], "") == first.prompt
    assert second.system == first.system
    one, two = records(lib)
    assert "refined_from" not in one
    lineage = two["refined_from"]
    assert lineage["attempt"] == 2 and lineage["parent"] == one["run_id"]
    assert len(lineage["refinements_sha256"]) == 64
    for rec in (one, two):  # every attempt kept whole, with its own scorecard
        folder = lib / "output/s/runs" / rec["run_id"]
        assert (folder / "answer.md").exists() and (folder / "scorecard.json").exists()
    assert (lib / f"output/s/runs/{two['run_id']}/answer.md").read_text() == LATER
    card_md = (lib / f"output/s/runs/{two['run_id']}/scorecard.md").read_text()
    assert f"refined from attempt 1: [its scorecard](../{one['run_id']}/scorecard.md)" in card_md
    assert "attempt 1  FAIL 2/3 criteria" in out and "attempt 2  PASS 3/3 criteria" in out
    assert f"refined from {one['run_id']}" in out and "PASS at attempt 2" in out
    # Made once: the same command again finds every attempt and judgment.
    before = fake_gemini.count
    code, out, _ = refine(capsys, lib)
    assert code == 0 and fake_gemini.count == before
    assert "attempt 1  FAIL 2/3 criteria" in out and "(refined from" in out


def test_the_same_failing_criteria_twice_is_no_progress(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    answers(fake_gemini, lambda r: judgment({"Solution"}))
    code, out, _ = refine(capsys, lib, 5)
    assert code == 4
    assert len(sessions(fake_gemini)) == 2 and len(judges(fake_gemini)) == 2
    assert "Stopped: no progress (attempt 2 failed the same criteria as attempt 1: " \
           "Solution)" in out
    # Ties go to the later attempt: attempt 2 is the result.
    assert "Best: attempt 2," in out


def test_the_limit_reached_exits_4_with_every_attempt_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    verdicts: Iterator[set[str]] = iter([{"Solution", "Structure"}, {"Solution"},
                                         {"Structure"}])
    answers(fake_gemini, lambda r: judgment(next(verdicts)))
    code, out, _ = refine(capsys, lib, 3, "--json")
    assert code == 4
    data = json.loads(out)
    attempts = data["refine"]["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["criteria_passed"] for a in attempts] == [1, 2, 2]
    assert [a["refined_from"] for a in attempts] == [None, attempts[0]["run_id"],
                                                     attempts[1]["run_id"]]
    assert data["refine"]["stopped"] == "limit"
    assert data["refine"]["result"] == attempts[2]["run_id"]  # 2 of 3, the later of a tie
    assert len(sessions(fake_gemini)) == 3 and len(judges(fake_gemini)) == 3
    assert len([p for p in (lib / "output/s/runs").iterdir() if p.is_dir()]) == 3


def test_a_dry_run_shows_the_refinements_the_next_attempt_would_carry(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    answers(fake_gemini, learns)
    assert refine(capsys, lib, 1)[0] == 4  # one attempt, failed
    before = fake_gemini.count
    listing = sorted(p.name for p in (lib / "output/s/runs").iterdir())
    code, out, _ = refine(capsys, lib, 3, "--dry-run")
    assert code == 0 and fake_gemini.count == before
    assert "attempt 1  FAIL 2/3 criteria" in out and "Dry run: attempt 2 would run" in out
    assert FIX in out and REASON in out and "1. Solution" in out
    assert sorted(p.name for p in (lib / "output/s/runs").iterdir()) == listing


def test_a_hand_edited_answer_is_what_the_next_attempt_refines_from(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    answers(fake_gemini, lambda r: judgment(set() if FIX in r.prompt else (
        {"Structure"} if "by hand" in r.prompt else {"Solution"})))
    assert refine(capsys, lib, 1)[0] == 4
    [folder] = [p for p in (lib / "output/s/runs").iterdir() if p.is_dir()]
    (folder / "answer.md").write_text(FIRST + "Improved by hand, because keys expire "
                                      "together.\n")
    code, out, _ = refine(capsys, lib, 3)
    assert code == 0, out
    # The edit was judged again (Structure fails now), and attempt 2 carries that.
    assert len(judges(fake_gemini)) == 3 and len(sessions(fake_gemini)) == 2
    assert "Structure" in sessions(fake_gemini)[1].prompt.split("<refinements>")[1]
    assert "answer edited by hand" in out
    assert records(lib)[1]["refined_from"]["parent_edited"] == ["answer"]


def test_refine_is_refused_with_samples(capsys: pytest.CaptureFixture[str], lib: Path,
                                        fake_gemini: FakeGemini) -> None:
    code, _, err = refine(capsys, lib, 2, "--samples", "2")
    assert code == 2 and "--refine and --samples" in err and fake_gemini.count == 0
    assert not (lib / "output/s").exists()


def test_the_block_goes_before_the_task_with_a_tag_no_text_holds() -> None:
    prompt = render_prompt(Sections("Steps.\n\nOutput format\n## A\n", ("Rule.",)),
                           Filling("Do it; mind <refinements> in the text.", ()))
    refined = with_refinements(prompt, "1. Solution\n   Refinement: do better.")
    assert "<refinements-1>\n1. Solution" in refined
    assert refined.index("</output_format>") < refined.index("<refinements-1>") \
        < refined.index("<task")
    assert refined.endswith(prompt[prompt.index("<task"):])


# --- a kill -9 mid-loop: re-running makes exactly what is missing ----------------------

@pytest.mark.parametrize(("hook", "before", "after"), [
    ("answer:3", 3, 2),  # attempt 2's answer returned, not kept: it and its judge
    ("published:2", 3, 1),  # attempt 2 kept, its parent not synced: only its judge
    ("scorecard:1", 2, 3),  # attempt 1's scorecard half-written: it, attempt 2, its judge
], ids=["answer", "published", "scorecard"])
def test_a_kill_mid_loop_then_the_same_command_makes_exactly_the_missing_calls(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        tmp_path: Path, hook: str, before: int, after: int) -> None:
    from tests.conftest import REPO
    from tests.resume_stress import child_env

    answers(fake_gemini, learns)
    args = ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "Pick a cache design.",
            "--grade", "--refine", "3", "-q"]
    env = child_env(fake_gemini, FAKE_API_KEY, tmp_path, str(tmp_path / "pyc"), hook)
    done = subprocess.run([sys.executable, str(REPO / "tests/crashpoint.py"), *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    assert fake_gemini.count == before
    code, out, err = refine(capsys, lib)
    assert code == 0, out + err
    assert fake_gemini.count == before + after
    assert len([p for p in (lib / "output/s/runs").iterdir() if p.is_dir()]) == 2
    assert not [p for p in (lib / "output/s/runs").rglob(".*") if ".lock" not in p.name]


# --- a chain stage with "refine": N ----------------------------------------------------

def test_a_chain_stage_hands_on_its_passing_attempt(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True,
               "refine": 3},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(tmp_path / "chains", {"stages": stages})
    answers(fake_gemini, learns)
    code, out, err = chain(capsys, lib, path)
    assert code == 0, out + err
    assert len(judges(fake_gemini)) == 2 and len(sessions(fake_gemini)) == 3
    synthesis = sessions(fake_gemini)[-1].prompt
    assert LATER.strip() in synthesis and "FIRST-ATTEMPT-ONLY" not in synthesis
    index = (lib / "output/p/CHAIN.md").read_text()
    assert "## Refined stages" in index
    assert "| state | 2 (handed on) |" in index and "[attempt 1](state/runs/" in index
    before = fake_gemini.count
    assert chain(capsys, lib, path)[0] == 0 and fake_gemini.count == before


@pytest.mark.parametrize(("stage", "message"), [
    ({"refine": 2}, '"refine" goes with "grade": true'),
    ({"grade": True, "refine": 2, "attempts": 2}, '"refine" and "attempts" are two ways'),
    ({"grade": True, "refine": 0}, '"refine" must be a whole number from 1 to 10'),
], ids=["without-grade", "with-attempts", "zero"])
def test_a_bad_refine_in_a_chain_file_is_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, stage: dict[str, Any], message: str) -> None:
    path = write_chain(tmp_path / "chains", {"stages": [
        {"name": "a", "goal": "SIMULATE", "task": "t", **stage}]})
    code, _, err = chain(capsys, lib, path)
    assert code == 1 and message in err and fake_gemini.count == 0


@pytest.mark.parametrize("flag", [["--junit", "j.xml"],
                                  ["--min-pass-rate", "0.5"]])
def test_refine_with_a_flag_it_does_not_honour_yet_is_refused_not_ignored(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        flag: list[str]) -> None:
    code, _, err = refine(capsys, lib, 3, *flag)
    assert code == 2 and f"--refine with {flag[0]}: not supported yet" in err
    assert fake_gemini.count == 0 and not (lib / "output").exists()
