"""--batch as real processes: killed with SIGKILL between a job's create and its record,
and while a job's results are being kept; two at once. Counted at the fake: never a
second job, never an interactive call, nothing kept twice or half."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from meta_prompting.errors import EXIT_OK, EXIT_SUBMITTED
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, ok
from tests.test_processes import child_env
from tests.test_tasks_processes import ANSWER, ROWS, assert_whole, kept_runs, tasks_file


def batch_args(root: Path, tasks: Path) -> list[str]:
    return ["--root", str(root), "-g", "AUDIT", "-p", "many", "--model", "gemini-2.5-flash",
            "--tasks", str(tasks), "--batch"]


def orchestrate(root: Path, tasks: Path, fake: FakeGemini, crash: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    env = child_env(fake)
    script = REPO / "orchestrator.py"
    jobs: list[str] = []
    if crash:
        env["MP_CRASH_AT"], script = crash, REPO / "tests" / "crashpoint.py"
        # Results are kept on --jobs threads: with one, the Nth publish is the last one
        # made before the kill, so "some kept, not all" holds on any machine's timing.
        jobs = ["--jobs", "1"]
    return subprocess.run([sys.executable, str(script), *batch_args(root, tasks), *jobs],
                          env=env, capture_output=True, text=True, timeout=120)


def records(root: Path) -> list[dict[str, object]]:
    folder = root / "output/many/.batches"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def finish_and_collect(root: Path, tasks: Path, fake: FakeGemini) -> None:
    for name in list(fake.batches.jobs):
        fake.batches.finish(name)
    done = orchestrate(root, tasks, fake)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert len(kept_runs(root)) == ROWS
    assert_whole(root)
    assert fake.counts["batchGenerateContent"] == 1 and fake.counts["generateContent"] == 0
    before = fake.count
    again = orchestrate(root, tasks, fake)
    assert again.returncode == EXIT_OK and fake.count == before  # nothing asked at all


def test_killed_between_the_create_and_its_record_the_job_is_found_never_made_again(
        make_library: MakeLibrary, tmp_path: Path) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    tasks = tasks_file(tmp_path / "t")
    with FakeGemini(default=ok(ANSWER)) as fake:
        fake.batches.advance_on_get = False
        killed = orchestrate(root, tasks, fake, crash="created:1")
        assert killed.returncode == -signal.SIGKILL
        assert fake.counts["batchGenerateContent"] == 1
        [intent] = records(root)
        assert intent["name"] is None and len(intent["keys"]) == ROWS  # the intent, kept
        again = orchestrate(root, tasks, fake)
        assert again.returncode == EXIT_SUBMITTED, again.stdout + again.stderr
        assert fake.counts["batchGenerateContent"] == 1  # found by display name, not made
        assert fake.counts["batches.list"] == 1
        [found] = records(root)
        assert found["name"] == next(iter(fake.batches.jobs))
        finish_and_collect(root, tasks, fake)


@pytest.mark.parametrize("point", ["publish:3", "published:4"])
def test_killed_while_collecting_the_rerun_keeps_the_rest_with_no_new_job(
        make_library: MakeLibrary, tmp_path: Path, point: str) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    tasks = tasks_file(tmp_path / "t")
    with FakeGemini(default=ok(ANSWER)) as fake:
        fake.batches.advance_on_get = False
        assert orchestrate(root, tasks, fake).returncode == EXIT_SUBMITTED
        [name] = fake.batches.jobs
        fake.batches.finish(name)
        killed = orchestrate(root, tasks, fake, crash=point)
        assert killed.returncode == -signal.SIGKILL
        assert_whole(root)
        assert 0 < len(kept_runs(root)) < ROWS
        assert records(root)[0]["collected"] is None  # not marked: collected again
        finish_and_collect(root, tasks, fake)


def test_two_processes_at_once_make_one_job(make_library: MakeLibrary, tmp_path: Path) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    tasks = tasks_file(tmp_path / "t")
    with FakeGemini(default=ok(ANSWER), latency=0.3) as fake:
        fake.batches.advance_on_get = False
        procs = [subprocess.Popen([sys.executable, str(REPO / "orchestrator.py"),
                                   *batch_args(root, tasks)], env=child_env(fake),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        codes = [p.wait(timeout=120) for p in procs]
        for p in procs:
            assert p.stdout is not None and p.stderr is not None
            p.stdout.close(), p.stderr.close()
        assert codes == [EXIT_SUBMITTED, EXIT_SUBMITTED]
        assert fake.counts["batchGenerateContent"] == 1 and len(records(root)) == 1
        finish_and_collect(root, tasks, fake)
