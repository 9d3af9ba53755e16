"""Runs as real processes: racing, killed with SIGKILL, stopped with Ctrl+C."""

from __future__ import annotations

import json
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, hang, ok
from tests.test_processes import child_env

ANSWER = ("A whole answer, line after line. " * 300).strip() + "\n"


def run_args(root: Path, samples: int) -> list[str]:
    return ["--root", str(root), "-g", "AUDIT", "-p", "x", "--task", "Review it.",
            "--samples", str(samples)]


def kept_runs(root: Path) -> list[Path]:
    runs = root / "output/x/runs"
    return sorted(p for p in runs.iterdir() if not p.name.startswith(".")) if runs.exists() else []


def assert_whole(root: Path) -> None:
    for folder in kept_runs(root):
        assert sorted(p.name for p in folder.iterdir()) == ["answer.md", "run.json"]
        assert (folder / "answer.md").read_text() == ANSWER
        assert json.loads((folder / "run.json").read_text())["sha256"]["answer"]


def test_two_processes_running_the_same_command_make_one_call_per_sample(
        make_library: MakeLibrary) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    with FakeGemini(latency=0.5, default=ok(ANSWER)) as fake:
        procs = [subprocess.Popen([sys.executable, str(REPO / "orchestrator.py"),
                                   *run_args(root, 3), "-q"], env=child_env(fake),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
        assert [code for *_, code in results] == [0, 0, 0], results
        assert fake.count == 3
    assert len(kept_runs(root)) == 3
    assert_whole(root)


@pytest.mark.parametrize("trial", range(3))
def test_a_run_killed_at_any_moment_is_finished_by_running_it_again(
        make_library: MakeLibrary, trial: int) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    rng = random.Random(trial)
    with FakeGemini(latency=0.3, default=ok(ANSWER)) as fake:
        env = child_env(fake)
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "crashy.py"), "0.1",
                                 *run_args(root, 4), "--jobs", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.2, 2.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Every request the dead process sent is counted before the re-run starts: one
        # still arriving would otherwise be charged to the re-run (issue 30).
        assert fake.settle(timeout=30)
        assert_whole(root)  # nothing partial: each run folder whole or absent
        kept, asked = len(kept_runs(root)), fake.count
        done = subprocess.run([sys.executable, str(REPO / "orchestrator.py"),
                               *run_args(root, 4)], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        # Exactly the samples not kept were asked for again; none that was finished.
        assert fake.count - asked == 4 - kept
    assert len(kept_runs(root)) == 4
    assert_whole(root)
    assert [p.name for p in (root / "output/x/runs").iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_during_a_run_stops_at_once_and_keeps_nothing(make_library: MakeLibrary) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    with FakeGemini(default=hang(30)) as fake:
        proc = subprocess.Popen([sys.executable, str(REPO / "orchestrator.py"),
                                 *run_args(root, 2)], env=child_env(fake),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while fake.count < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "\nStopped by user\n" in err and "Traceback" not in err
    assert err.endswith(f"  python orchestrator.py {shlex.join(run_args(root, 2))}\n")
    assert kept_runs(root) == []
    assert not (root / "output/x/runs").exists()  # no run, no temporary: locks are in .locks/


@pytest.mark.parametrize("trial", range(2))
def test_a_chain_killed_at_any_moment_is_finished_by_running_it_again(
        make_library: MakeLibrary, tmp_path: Path, trial: int) -> None:
    from tests.test_chain import GOALS, PARTS, four_stages

    root = make_library(GOALS, PARTS)
    path = four_stages(tmp_path / "chain")
    args = ["--root", str(root), "--chain", str(path), "--project", "p"]
    rng = random.Random(100 + trial)
    with FakeGemini(latency=0.4, default=ok(ANSWER)) as fake:
        env = child_env(fake)
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "crashy.py"), "0.1",
                                 *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.3, 2.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kept = {stage for stage in ("state", "retries", "recovery", "synthesis")
                if list((root / "output/p" / stage / "runs").glob("*/run.json"))}
        asked = fake.count
        done = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        # No finished stage is asked for again: only those with no answer kept.
        assert fake.count - asked == 4 - len(kept)
    for stage in ("state", "retries", "recovery", "synthesis"):
        [answer] = (root / "output/p" / stage / "runs").glob("*/answer.md")
        assert answer.read_text() == ANSWER
    assert "[answer](synthesis/runs/" in (root / "output/p/CHAIN.md").read_text()


def test_ctrl_c_during_a_chain_says_the_command_that_finishes_it(
        make_library: MakeLibrary, tmp_path: Path) -> None:
    from tests.test_chain import GOALS, PARTS, four_stages

    root = make_library(GOALS, PARTS)
    path = four_stages(tmp_path / "chain")
    args = ["--root", str(root), "--chain", str(path), "--project", "p"]
    with FakeGemini(default=hang(30)) as fake:
        proc = subprocess.Popen([sys.executable, str(REPO / "orchestrator.py"), *args],
                                env=child_env(fake), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while fake.count < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130 and "Traceback" not in err
        said = err.split("Stopped by user\n")[1].splitlines()
        assert said[0].startswith("Nothing half-made was kept. To finish, run the same")
        assert said[1] == f"  python orchestrator.py {shlex.join(args)}"
        fake.default = ok(ANSWER)
        asked = fake.count
        done = subprocess.run([sys.executable, *shlex.split(said[1])[1:]], cwd=REPO,
                              env=child_env(fake), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert fake.count - asked == 4  # the three stopped mid-call, then the synthesis
