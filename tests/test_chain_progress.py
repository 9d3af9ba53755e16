"""Progress you can see in chains (issue 32): a line per stage state on stderr, retries
named by their stage, and a dry run that says why each stage would run."""

from __future__ import annotations

from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini, error, ok
from tests.test_chain import ANSWER, GOALS, PARTS, four_stages, write_chain
from tests.test_grade import is_judge

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def chain(capsys: pytest.CaptureFixture[str], lib: Path, path: Path, *extra: str
          ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def states(err: str) -> list[str]:
    return [ln.strip() for ln in err.splitlines() if ln.startswith("  ")]


def test_each_stage_says_waiting_running_and_done(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.default = ok(ANSWER)
    path = four_stages(tmp_path / "c")
    code, _, err = chain(capsys, lib, path, "--jobs", "1")
    assert code == 0, err
    said = states(err)
    for stage in ("state", "retries", "recovery", "synthesis"):
        assert said.index(f"{stage}: running") < said.index(f"{stage}: done (ran)")
    waiting = "synthesis: waiting for recovery, retries, state"
    assert said.count(waiting) == 1 and said.index(waiting) < said.index("synthesis: running")
    # Kept, it says nothing per stage: the table shows them.
    code, _, err = chain(capsys, lib, path)
    assert code == 0 and states(err) == []
    # Quiet: nothing at all.
    (tmp_path / "c/ev/state.txt").write_text("changed\n")
    code, _, err = chain(capsys, lib, path, "-q")
    assert code == 0 and err == ""


def test_a_graded_stage_says_grading_and_a_retry_names_its_stage(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.responder = lambda r: None if is_judge(r) else ok(ANSWER)
    fake_gemini.schema_overrides = {"quotes": ["Write a journal line per item."]}
    fake_gemini.fail_when("Simulate the retries design.", error(503, "UNAVAILABLE"), times=1)
    path = write_chain(tmp_path / "c", {"stages": [
        {"name": "state", "goal": "SIMULATE", "task": "Simulate the state design.",
         "grade": True},
        {"name": "retries", "goal": "SIMULATE", "task": "Simulate the retries design."}]})
    code, out, err = chain(capsys, lib, path)
    assert code == 0, out + err
    said = states(err)
    assert said.index("state: running") < said.index("state: grading") < said.index(
        "state: done (ran, PASS)")
    assert any(s.startswith("retries: retrying in ") and "503 UNAVAILABLE" in s
               for s in said), said


def test_a_failed_stage_and_the_stage_it_blocks_say_so(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.default = ok(ANSWER)
    fake_gemini.fail_when("Simulate the retries design.", error(400, "INVALID_ARGUMENT"))
    path = four_stages(tmp_path / "c")
    code, _, err = chain(capsys, lib, path)
    assert code == 3
    said = states(err)
    assert any(s.startswith("retries: failed: ") for s in said), said
    assert "synthesis: blocked: stage retries is failed" in said


def test_a_dry_run_says_why_each_stage_would_run_and_what_grading_it_would_do(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.responder = lambda r: None if is_judge(r) else ok(ANSWER)
    fake_gemini.schema_overrides = {"quotes": ["Write a journal line per item."]}
    path = write_chain(tmp_path / "c", {"stages": [
        {"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True},
        {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries."},
        {"name": "synthesis", "goal": "SYNTH", "task": "Merge.",
         "after": [{"stage": "state", "section": "Revised Algorithm"}, "retries"]}]})
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    assert "\nstate: would run: new; would then be graded with GRADE's scorecard, " \
           "1 judge\n" in out
    assert "\nsynthesis: would run: upstream state, retries run first\n" in out
    fake_gemini.fail_when("Simulate retries.", error(400, "INVALID_ARGUMENT"))
    assert chain(capsys, lib, path)[0] == 3
    fake_gemini.clear_failures()
    code, out, _ = chain(capsys, lib, path, "--dry-run", "--judges", "3")
    assert "\nstate: kept; would be graded with GRADE's scorecard, 3 judges\n" in out
    assert "\nretries: would run: it failed last time\n" in out
    assert "\nsynthesis: would run: upstream retries runs first\n" in out
    assert chain(capsys, lib, path)[0] == 0
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    assert "\nstate: kept; its grade is kept (GRADE, 1 judge)\n" in out
    assert "would run" not in out
    # A person edits the answer the synthesis is handed: upstream changed.
    [answer] = (lib / "output/p/state/runs").glob("*/answer.md")
    answer.write_text(ANSWER.replace("Skip journalled items", "Skip journalled rows"))
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    assert "\nsynthesis: would run: upstream state's answer changed since\n" in out


def test_a_board_redraws_in_place_and_turns_plain_when_the_screen_is_too_short(
        capsys: pytest.CaptureFixture[str]) -> None:
    from meta_prompting.face import streams
    from meta_prompting.face.board import Board

    board = Board(40, 5)  # room for 3 stage lines
    streams.hold(board)
    try:
        board.set("a", "running")
        board.set("b", "waiting for a")
        streams.say("a: retrying in 2.0s")  # said above the board, which is drawn again
        board.set("a", "done (ran) " + "x" * 60)  # cut to the width
        board.set("c", "running")
        board.set("d", "running")  # a fourth line: no room, plain from here on
        board.set("a", "done")
    finally:
        streams.hold(None)
    err = capsys.readouterr().err
    assert err.startswith("  a  running\n\x1b[1F\x1b[J  a  running\n  b  waiting for a\n"
                          "\x1b[2F\x1b[Ja: retrying in 2.0s\n  a  running\n")
    assert "  a  done (ran) " + "x" * 22 + "…\n" in err  # 39 columns: none wraps
    assert err.endswith("\x1b[3F\x1b[J  d: running\n  a: done\n")
