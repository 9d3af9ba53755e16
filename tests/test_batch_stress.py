"""Batch collection under stress (issue 30's last point): a collecting run killed with
SIGKILL at named moments and at random times, then the same command run to the end.

The scenario is --tasks --grade --batch over 6 rows: job 1 holds the 6 answers, job 2
(submitted by the run that collects job 1) the 6 judgments. A trial kills the run
that collects job 1 (keeping answers, then creating job 2) or job 2 (keeping
scorecards), then re-runs the same command until it finishes. Every trial must end
with exactly 2 jobs ever created, 0 interactive calls, every file kept before the
re-run unchanged byte for byte, every answer and scorecard naming the job that made
it, and nothing half-written anywhere. Each trial's moment is in its test id, so a
failure replays with `pytest -k`.
"""

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

from meta_prompting.errors import EXIT_OK, EXIT_SUBMITTED
from tests.conftest import REPO, MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.test_processes import child_env
from tests.test_tasks import judged

ROWS = 6
# (the job whose collection is killed, the moment): crash points counted from the
# start of the collecting run; "t=S" kills it S seconds in, with every fsync slowed.
NAMED = [(1, "publish:1"), (1, "publish:4"), (1, "published:6"), (1, "index:1"),
         (1, "created:1"), (2, "lock:2"), (2, "scorecard:1"), (2, "scorecard:5"),
         (2, "index:2")]
# More, or other, random moments: MP_BATCH_STRESS_SEED=S MP_BATCH_STRESS_TRIALS=N.
SEED = int(os.environ.get("MP_BATCH_STRESS_SEED") or 30)
TIMED = [(1 + i % 2, f"t={random.Random(SEED + i).uniform(0.6, 2.2):.2f}")
         for i in range(int(os.environ.get("MP_BATCH_STRESS_TRIALS") or 8))]
QUICK = {"publish:4", "created:1", "scorecard:5"}  # run in every suite; the rest: stress


def library(make_library: MakeLibrary) -> Path:
    from tests.test_grade import GOALS, PARTS
    from tests.test_tasks import AUDIT, AUDIT_PARTS

    return make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})


def args(root: Path, tasks: Path) -> list[str]:
    return ["--root", str(root), "-g", "AUDIT", "-p", "many", "--model", "gemini-2.5-flash",
            "--tasks", str(tasks), "--grade", "--batch", "--jobs", "3"]


def orchestrate(fake: FakeGemini, argv: list[str], moment: str | None = None
                ) -> subprocess.CompletedProcess[str] | int:
    env = child_env(fake)
    if moment is None:
        return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *argv],
                              env=env, capture_output=True, text=True, timeout=120)
    if not moment.startswith("t="):
        env["MP_CRASH_AT"] = moment
        return subprocess.run([sys.executable, str(REPO / "tests" / "crashpoint.py"), *argv],
                              env=env, capture_output=True, text=True, timeout=120)
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "crashy.py"), "0.05", *argv],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(float(moment[2:]))
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


def kept_files(root: Path) -> dict[str, bytes]:
    runs = root / "output/many/runs"
    if not runs.is_dir():
        return {}
    return {str(p.relative_to(runs)): p.read_bytes() for p in runs.glob("*/*")
            if p.suffix in (".md", ".json") and not p.parent.name.startswith(".")
            and not p.name.startswith(".")}  # a dead run's temporaries are not kept


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in (root / "output").rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("job", "moment"), [
    pytest.param(j, m, marks=() if m in QUICK else pytest.mark.stress, id=f"{n}-job{j}-{m}")
    for n, (j, m) in enumerate(NAMED + TIMED)])
def test_a_collection_killed_at_any_moment_is_finished_with_no_job_or_call_too_many(
        make_library: MakeLibrary, tmp_path: Path, job: int, moment: str) -> None:
    root = library(make_library)
    folder = tmp_path / "t"
    folder.mkdir()
    tasks = folder / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"r{i}", "task": f"Review case {i}."}) + "\n"
                             for i in range(1, ROWS + 1)))
    argv = args(root, tasks)
    with FakeGemini() as fake:
        judged(fake)
        fake.batches.advance_on_get = False

        def finish_jobs() -> None:
            for name, made in list(fake.batches.jobs.items()):
                if made.state.endswith("PENDING"):
                    fake.batches.finish(name)

        first = orchestrate(fake, argv)
        assert isinstance(first, subprocess.CompletedProcess)
        assert first.returncode == EXIT_SUBMITTED, first.stdout + first.stderr
        finish_jobs()
        if job == 2:
            second = orchestrate(fake, argv)
            assert isinstance(second, subprocess.CompletedProcess)
            assert second.returncode == EXIT_SUBMITTED, second.stdout + second.stderr
            finish_jobs()
        killed = orchestrate(fake, argv, moment)
        code = killed if isinstance(killed, int) else killed.returncode
        assert code in (-signal.SIGKILL, EXIT_SUBMITTED, EXIT_OK, 4)  # a late kill: done
        assert fake.settle()
        before = kept_files(root)
        for _ in range(4):  # each wave: finish the job, collect it
            finish_jobs()
            done = orchestrate(fake, argv)
            assert isinstance(done, subprocess.CompletedProcess)
            if done.returncode != EXIT_SUBMITTED:
                break
        assert done.returncode == EXIT_OK, done.stdout + done.stderr
        assert fake.counts["batchGenerateContent"] == 2, moment  # never a job too many
        assert fake.counts["generateContent"] == 0
        names = list(fake.batches.jobs)
        after = kept_files(root)
        assert {k: after.get(k) for k in before} == before  # nothing kept was rewritten
        answers = [json.loads(v) for k, v in after.items() if k.endswith("run.json")]
        cards = [json.loads(v) for k, v in after.items() if k.endswith("scorecard.json")]
        assert len(answers) == ROWS and len(cards) == ROWS
        assert {a["record"]["batch"] for a in answers} == {names[0]}
        assert {c["record"]["batch"] for c in cards} == {names[1]}
        assert leftovers(root) == []
        records = [json.loads(p.read_text())
                   for p in (root / "output/many/.batches").glob("*.json")]
        # A kill between an intent and its create leaves a job never made: so recorded.
        records = [r for r in records if r["state"] != "NOT_CREATED"]
        assert sorted(r["name"] for r in records) == sorted(names)
        assert all(r["collected"] and not r["failures"] for r in records)
        assert sum(r["kept"] for r in records) <= 2 * ROWS
        final = kept_files(root)
        again = orchestrate(fake, argv)
        assert isinstance(again, subprocess.CompletedProcess) and again.returncode == EXIT_OK
        assert fake.counts["batchGenerateContent"] == 2 and kept_files(root) == final
    assert not os.path.exists(root / "output/many/runs/.tmp")
