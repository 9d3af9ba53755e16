"""--tasks as real processes: killed with SIGKILL mid-way, then finished by re-running."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, ok
from tests.test_processes import child_env

ANSWER = ("A whole answer, line after line. " * 300).strip() + "\n"
ROWS = 6


def tasks_file(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ev.txt").write_text("The evidence every row shares.\n")
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps({"id": f"row-{i}", "task": f"Review case {i}.",
                                        "evidence": ["ev.txt"]}) + "\n"
                            for i in range(1, ROWS + 1)))
    return path


def args(root: Path, tasks: Path) -> list[str]:
    return ["--root", str(root), "-g", "AUDIT", "-p", "many", "--tasks", str(tasks),
            "--jobs", "2"]


def kept_runs(root: Path) -> list[Path]:
    runs = root / "output/many/runs"
    return sorted(p for p in runs.iterdir() if not p.name.startswith(".")) \
        if runs.exists() else []


def assert_whole(root: Path) -> None:
    for folder in kept_runs(root):
        assert sorted(p.name for p in folder.iterdir()) == ["answer.md", "run.json"]
        assert (folder / "answer.md").read_text() == ANSWER


def finish(root: Path, tasks: Path, fake: FakeGemini) -> None:
    """Re-run: exactly the rows not kept are asked for; then a run that asks nothing."""
    # Every request the killed process sent is counted first: one still arriving would
    # otherwise be charged to the re-run (issue 30).
    assert fake.settle(timeout=30)
    kept, asked = len(kept_runs(root)), fake.count
    done = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *args(root, tasks)],
                          env=child_env(fake), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.count - asked == ROWS - kept  # nothing finished was asked for again
    assert len(kept_runs(root)) == ROWS
    assert_whole(root)
    again = subprocess.run([sys.executable, str(REPO / "orchestrator.py"),
                            *args(root, tasks)], env=child_env(fake), capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0 and fake.count - asked == ROWS - kept
    lines = (root / "output/many/results.jsonl").read_text().splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["cached"] * ROWS
    leftovers = [n for d in (root / "output/many", root / "output/many/runs")
                 for n in os.listdir(d) if n.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("point", ["answer:3", "publish:4", "index:1"])
def test_tasks_killed_at_a_named_moment_are_finished_by_running_again(
        make_library: MakeLibrary, tmp_path: Path, point: str) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    tasks = tasks_file(tmp_path / "t")
    with FakeGemini(latency=0.2, default=ok(ANSWER)) as fake:
        env = {**child_env(fake), "MP_CRASH_AT": point}
        proc = subprocess.run([sys.executable, str(REPO / "tests" / "crashpoint.py"),
                               *args(root, tasks)], env=env, capture_output=True, timeout=60)
        assert proc.returncode == -signal.SIGKILL  # it died there, as kill -9 kills
        assert_whole(root)
        if point == "index:1":  # every row was kept before the results were written
            assert len(kept_runs(root)) == ROWS
        else:
            assert len(kept_runs(root)) < ROWS
        finish(root, tasks, fake)


@pytest.mark.parametrize("trial", range(2))
def test_tasks_killed_at_any_moment_are_finished_by_running_again(
        make_library: MakeLibrary, tmp_path: Path, trial: int) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    tasks = tasks_file(tmp_path / "t")
    rng = random.Random(200 + trial)
    with FakeGemini(latency=0.3, default=ok(ANSWER)) as fake:
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "crashy.py"), "0.1",
                                 *args(root, tasks)], env=child_env(fake),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.2, 2.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert_whole(root)
        finish(root, tasks, fake)
