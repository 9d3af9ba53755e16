"""The wizard at an existing project in a real terminal (pexpect, issue 32): "Run a new
task" at 60 columns, its last task run again with no call, and Ctrl+C mid-stream."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.conftest import REPO
from tests.fake_gemini import FakeGemini, ok
from tests.test_wizard_pty import ANSI, DOWN, SECONDS, child_env, finish, server  # noqa: F401

ANSWER = "## Findings\n\nThe session is None after the cache expires.\n"
FINISH = "\x1b\r"  # Esc then Enter ends a multi-line answer


def wizard(root: Path, server: FakeGemini, columns: int) -> pexpect.spawn:  # noqa: F811
    return pexpect.spawn(sys.executable, [str(REPO / "orchestrator.py"), "--root", str(root)],
                         env=child_env(server), dimensions=(40, columns), encoding="utf-8",
                         timeout=SECONDS)


def screen_of(child: pexpect.spawn) -> str:
    return ANSI.sub("", child.before or "").replace("\r", "")


def test_run_a_new_task_then_the_last_again_at_60_columns(
        audit_lib: Path, server: FakeGemini) -> None:  # noqa: F811
    server.default = ok(ANSWER)
    first = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), "--root",
                            str(audit_lib), "-g", "AUDIT", "-p", "demo", "--task",
                            "Why does login crash?", "--run", "-q"],
                           env=child_env(server), capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert server.count == 1
    child = wizard(audit_lib, server, 60)
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo\r")
    child.expect_exact("What now?", timeout=SECONDS)
    said = screen_of(child)
    assert "Its last task: Why does login crash?" in " ".join(said.split())
    child.expect_exact("Run a new task", timeout=SECONDS)  # the first choice
    child.send("\r")
    child.expect_exact("Task:", timeout=SECONDS)  # no goal, no plan, no "Build it?"
    assert "Build it?" not in screen_of(child)
    child.send("Where is the session set?" + FINISH)
    child.expect_exact("Evidence 1:", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("The command that does this:", timeout=30)
    child.expect(pexpect.EOF, timeout=SECONDS)
    tail = screen_of(child)
    child.close()
    assert child.exitstatus == 0, tail
    assert server.count == 2
    assert "Where is the session set?" in server.requests[1].prompt
    command = tail.strip().splitlines()[0].strip()  # whole, to paste
    assert command.endswith("--goal AUDIT --project demo --task 'Where is the session set?' "
                            "--run")
    # Its last task is now that one: run again, its kept answer is found, no call.
    child = wizard(audit_lib, server, 60)
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo\r")
    child.expect_exact("Run the last task again", timeout=SECONDS)
    child.send(DOWN + "\r")
    child.expect_exact("Cached answer", timeout=30)
    child.expect_exact("The command that does this:", timeout=SECONDS)
    child.expect(pexpect.EOF, timeout=SECONDS)
    tail = screen_of(child)
    assert finish(child) == 0
    assert server.count == 2
    assert tail.strip().endswith("--goal AUDIT --project demo --run")


def test_ctrl_c_mid_stream_ends_the_line_and_names_what_finishes(
        audit_lib: Path, server: FakeGemini) -> None:  # noqa: F811
    server.chunk_delay = 30.0  # the second piece never comes before the Ctrl+C
    server.enqueue(ok("The checksum ends in 6c9 and then the rest of the answer follows."))
    child = wizard(audit_lib, server, 100)
    for question, keys in [("Project name", "demo\r"), ("Goal:", "\r"), ("Build it?", "y"),
                           ("Run it now?", "y"), ("Task:", "Review it." + FINISH),
                           ("Evidence 1:", "\r")]:
        child.expect_exact(question, timeout=SECONDS)
        child.send(keys)
    child.expect_exact("The checksum ends in", timeout=30)  # the first of three pieces
    child.kill(signal.SIGINT)
    child.expect(pexpect.EOF, timeout=10)
    screen = screen_of(child)
    child.close()
    assert child.exitstatus == 130, screen
    assert re.search(r"\nStopped by user\n", screen), screen  # on a line of its own
    assert "Nothing half-made was kept. To finish, run this" in screen
    command = next(ln for ln in screen.splitlines() if ln.startswith("  python orchestrator.py"))
    assert command.endswith("--goal AUDIT --project demo --task 'Review it.' --run")
    runs = audit_lib / "output/demo/runs"
    assert not runs.exists() or [n for n in os.listdir(runs) if not n.startswith(".")] == []
    # The command said finishes the job, asked nothing: exactly the one missing call.
    server.chunk_delay = 0.0
    asked = server.count
    done = subprocess.run([sys.executable, *shlex.split(command)[1:]], env=child_env(server),
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.count == asked + 1
