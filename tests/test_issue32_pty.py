"""Issue 32 in a real terminal: the grade table fits 60 columns and 100, with the
shipped rubric's long criterion names (up to 36 characters)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import REPO, MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.fake_gemini import ok as ok_reply
from tests.test_grade import GOALS, PARTS, RUBRIC, grading
from tests.test_wizard_pty import ANSI, child_env, finish, server  # noqa: F401  (a fixture)

LONG = ["Adherence to the Requested Structure", "Depth of Flaw Analysis",
        "Soundness of the Revised Algorithm"]


def long_reasons(shape: Any) -> Any:
    """The judges' reasoning as long as real judges write it: it must be cut to fit."""
    def longer(at: tuple[str | int, ...], schema: dict[str, Any]) -> Any:
        if at and at[-1] == "reasoning":
            return "The answer follows the requested structure closely. " * 3
        return shape(at, schema)

    return longer


@pytest.mark.parametrize("columns", [60, 100])
@pytest.mark.parametrize("judges", ["1", "3"])
def test_the_grade_table_fits_the_terminal(
        make_library: MakeLibrary, server: FakeGemini,  # noqa: F811
        columns: int, judges: str) -> None:
    rubric = RUBRIC.replace("Structure", LONG[0]).replace("Flaw Analysis", LONG[1]).replace(
        "Criterion 3: Solution", f"Criterion 3: {LONG[2]}")
    lib: Path = make_library(GOALS, {**PARTS, "protocols/rubric.txt": rubric})
    grading(server)
    env = {k: v for k, v in child_env(server).items() if k not in ("COLUMNS", "LINES")}
    server.schema_overrides = long_reasons(server.schema_overrides)
    child = pexpect.spawn(sys.executable, [
        str(REPO / "orchestrator.py"), "--root", str(lib), "-g", "SIMULATE", "-p", "s",
        "--task", "Pick a cache design.", "--grade", "--judges", judges],
        env=env, dimensions=(40, columns), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF, timeout=30)
    screen = ANSI.sub("", child.before or "").replace("\r", "")
    assert finish(child) == 0, screen
    rows = [ln for ln in screen.splitlines() if ln.startswith(tuple(LONG))]
    assert len(rows) == 3, screen
    table = screen[screen.index(LONG[0]):screen.index("Path forward")]
    assert all(len(ln) <= columns for ln in table.splitlines()), table
    assert "PASS" in rows[0] and "The answer follows" in table


# --- Ctrl+C mid-stream (issue 32.10) ----------------------------------------------------


def test_ctrl_c_mid_stream_starts_its_own_line_and_says_how_to_finish(
        make_library: MakeLibrary, server: FakeGemini) -> None:  # noqa: F811
    import os
    import shlex
    import signal

    from tests.conftest import AUDIT, AUDIT_PARTS
    from tests.fake_gemini import ok

    lib: Path = make_library(AUDIT, AUDIT_PARTS)
    server.chunk_delay = 30.0  # the second piece never comes before the Ctrl+C
    server.enqueue(ok("The checksum ends in 6c9 and then the rest of the answer follows."))
    child = pexpect.spawn(sys.executable, [
        str(REPO / "orchestrator.py"), "--root", str(lib), "-g", "AUDIT", "-p", "x",
        "--task", "Review it.", "--run"],
        env=child_env(server), dimensions=(40, 100), encoding="utf-8", timeout=30)
    child.expect_exact("The checksum ends in", timeout=30)  # the first of three pieces
    child.kill(signal.SIGINT)
    child.expect(pexpect.EOF, timeout=10)
    screen = ANSI.sub("", (child.before or "")).replace("\r", "")
    child.close()
    assert child.exitstatus == 130, screen
    lines = screen.splitlines()
    # The partial answer's line is ended: not "...ends in Stopped by user".
    assert lines[0].strip() == "" and lines[1] == "Stopped by user", screen
    assert "Nothing half-made was kept. To finish, run the same command again" in screen
    command = next(ln for ln in lines if ln.startswith("  python orchestrator.py"))
    runs = lib / "output/x/runs"
    assert not runs.exists() or [n for n in os.listdir(runs)
                                 if not n.startswith(".")] == []  # half: not kept
    # The command said finishes the job: exactly the one missing call.
    server.chunk_delay = 0.0
    asked = server.count
    done = subprocess.run([sys.executable, *shlex.split(command)[1:]], env=child_env(server),
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.count == asked + 1
    assert [n for n in os.listdir(runs) if not n.startswith(".")] != []


# --- --runs in a terminal -------------------------------------------------------------


@pytest.mark.parametrize("columns", [60, 100])
def test_runs_fits_the_terminal(make_library: MakeLibrary, server: FakeGemini,  # noqa: F811
                                columns: int) -> None:
    lib: Path = make_library(GOALS, PARTS)
    grading(server)
    base = [sys.executable, str(REPO / "orchestrator.py"), "--root", str(lib), "-p", "s"]
    for task in ("Pick a cache design for tenants whose keys expire together, and say why.",
                 "Second task."):
        done = subprocess.run([*base, "-g", "SIMULATE", "--task", task, "--grade"],
                              env=child_env(server), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    env = {k: v for k, v in child_env(server).items() if k not in ("COLUMNS", "LINES")}
    child = pexpect.spawn(base[0], [*base[1:], "--runs"], env=env,
                          dimensions=(40, columns), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF, timeout=30)
    screen = ANSI.sub("", child.before or "").replace("\r", "")
    assert finish(child) == 0, screen
    lines = screen.splitlines()[:3]  # the table; the line below names a (long) path
    assert all(len(ln) < columns for ln in lines), screen  # never wrapped by the terminal
    assert lines[0].startswith("date") and "  run           verdict  samples" in lines[0]
    assert lines[1].endswith("  Second task.") and " PASS " in lines[1]
    assert lines[2].startswith(lines[1][:4]) and "  Pick a cache" in lines[2]
    if columns == 100:
        assert " gemini-flash-latest " in lines[1]  # room for the model
    else:
        assert lines[2].endswith("…")  # the task cut to the width, not wrapped


# --- a chain's stages in a terminal ---------------------------------------------------


def test_a_chain_shows_its_stages_in_place_at_60_columns(
        make_library: MakeLibrary, server: FakeGemini, tmp_path: Path) -> None:  # noqa: F811
    from tests.test_chain import ANSWER, four_stages
    from tests.test_chain import GOALS as CHAIN_GOALS
    from tests.test_chain import PARTS as CHAIN_PARTS

    lib: Path = make_library(CHAIN_GOALS, CHAIN_PARTS)
    server.default = ok_reply(ANSWER)
    server.latency = 0.3
    path = four_stages(tmp_path / "c")
    child = pexpect.spawn(sys.executable, [
        str(REPO / "orchestrator.py"), "--root", str(lib), "--chain", str(path), "-p", "p"],
        env=child_env(server), dimensions=(40, 60), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF, timeout=30)
    raw = child.before or ""
    assert finish(child) == 0, raw
    assert "\x1b[" in raw and "F\x1b[J" in raw  # redrawn in place, not line after line
    screen = ANSI.sub("", raw).replace("\r", "")
    lines = screen.splitlines()
    table = lines.index(next(ln for ln in lines if ln.startswith("stage ")))
    board = lines[table - 4:table]  # the board as it was left: every stage done
    assert sorted(ln.split()[0] for ln in board) == ["recovery", "retries", "state",
                                                     "synthesis"], screen
    assert all(ln.split()[1:] == ["done", "(ran)"] for ln in board), board
    # The board's lines are cut to the width (what is said above it may wrap).
    drawn = [ln for ln in lines[:table] if ln.startswith("  ") and ":" not in ln]
    assert drawn and all(len(ln) < 60 for ln in drawn), screen
