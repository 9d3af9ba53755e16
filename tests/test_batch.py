"""--batch: the missing model work as one Batch job, collected by running the same command.

Counted at the fake: jobs created (batchGenerateContent), polls (batches.get), lists,
uploads, and interactive calls (generateContent), so "never submitted twice" and
"a re-run asks for nothing" are facts about what reached the service.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_SUBMITTED
from meta_prompting.face.cli import main
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, error
from tests.test_tasks import SIX, judged, lib, write_tasks  # noqa: F401  (lib: a fixture)

pytestmark = pytest.mark.usefixtures("fast_retries")
MODEL = "gemini-2.5-flash"


@pytest.fixture(autouse=True)
def held_jobs(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs stay PENDING until a test ends them; --wait polls every 10 ms."""
    fake_gemini.batches.advance_on_get = False
    monkeypatch.setenv("META_PROMPTING_BATCH_POLL", "0.01")


def tasks_cmd(lib: Path, tasks: Path, *extra: str) -> list[str]:
    return ["--root", str(lib), "-g", "AUDIT", "-p", "many", "--model", MODEL,
            "--tasks", str(tasks), *extra]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jobs_of(lib: Path, project: str = "many") -> list[dict[str, Any]]:
    folder = lib / "output" / project / ".batches"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] \
        if folder.is_dir() else []


def run_records(lib: Path, project: str = "many") -> list[dict[str, Any]]:
    runs = lib / "output" / project / "runs"
    return [json.loads((runs / n / "run.json").read_text()) for n in sorted(os.listdir(runs))
            if not n.startswith(".") and (runs / n / "run.json").is_file()] \
        if runs.is_dir() else []


def finish_all(fake: FakeGemini) -> None:
    for name, job in list(fake.batches.jobs.items()):
        if job.state.endswith("PENDING"):
            fake.batches.finish(name)


def test_six_rows_go_as_one_job_are_collected_by_the_same_command_then_nothing_is_asked(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_SUBMITTED, out + err
    assert fake_gemini.counts["batchGenerateContent"] == 1
    assert fake_gemini.counts["generateContent"] == 0
    [job] = fake_gemini.batches.jobs.values()
    assert len(job.items) == 6
    assert sorted(i.key for i in job.items) == sorted(r["run_id"] for r in [
        {"run_id": k} for k in jobs_of(lib)[0]["keys"]])
    assert "Submitted batches/" in out and "--batch" in out.splitlines()[-1]
    # The same system instruction, settings and prompt an interactive call carries.
    assert all(i.request["systemInstruction"]["parts"][0]["text"] == "You are an auditor.\n"
               for i in job.items)
    [record] = jobs_of(lib)
    assert record["name"] == job.name and len(record["keys"]) == 6
    assert FAKE_API_KEY not in json.dumps(record)

    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_SUBMITTED and "Waiting for " + job.name in out  # still PENDING
    fake_gemini.batches.finish(job.name)
    before = fake_gemini.counts
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_OK, out + err
    after = fake_gemini.counts
    assert after["batchGenerateContent"] == before["batchGenerateContent"] == 1  # no new job
    assert after["generateContent"] == 0
    assert f"Collected {job.name} (SUCCEEDED): 6 of 6 kept" in err
    assert "6 rows: 6 cached" in out  # the usual table, every row's answer kept
    records = run_records(lib)
    assert len(records) == 6
    assert all(r["record"]["batch"] == job.name for r in records)
    assert all(r["seconds"] is None for r in records)
    # Priced at the batch rate: half of what the same tokens cost interactively.
    from meta_prompting.models.prices import cost_of

    for r in records:
        full = cost_of(MODEL, [(r["tokens"], r["model_version"])])["usd"]
        assert r["cost"]["usd"] == pytest.approx(full / 2)
    assert jobs_of(lib)[0]["collected"] and jobs_of(lib)[0]["kept"] == 6

    fake_gemini.reset()
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_OK and fake_gemini.count == 0  # a third run: no request of any kind
    code, out, err = run(capsys, tasks_cmd(lib, tasks))
    assert code == EXIT_OK and fake_gemini.count == 0


def test_shuffled_results_land_on_their_own_rows(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.batches.shuffle = True
    judged(fake_gemini)  # each answer names its case
    tasks = write_tasks(tmp_path / "t", SIX)
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_SUBMITTED
    finish_all(fake_gemini)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_OK, out + err
    rows = [json.loads(x) for x in (lib / "output/many/results.jsonl").read_text().splitlines()]
    for row in rows:
        answer = (lib / "output/many" / row["answer"]).read_text()
        assert f"Case {row['id'][1:]}:" in answer


def test_two_failed_requests_are_reported_then_exactly_they_are_submitted_again(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_SUBMITTED
    keys = jobs_of(lib)[0]["keys"]
    fake_gemini.batches.fail_keys = {keys[1]: error(500, "INTERNAL", "boom"),
                                     keys[4]: error(503, "UNAVAILABLE", "busy")}
    finish_all(fake_gemini)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_INCOMPLETE, out + err
    assert "4 of 6 requests kept" in out and "500 INTERNAL: boom" in out
    assert "--no-batch" in out  # or made now, interactively
    assert fake_gemini.counts["batchGenerateContent"] == 1  # reported, not yet resubmitted
    assert len(run_records(lib)) == 4
    fake_gemini.batches.fail_keys = {}
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_SUBMITTED
    assert fake_gemini.counts["batchGenerateContent"] == 2
    second = list(fake_gemini.batches.jobs.values())[-1]
    assert sorted(i.key for i in second.items) == sorted([keys[1], keys[4]])  # exactly 2
    finish_all(fake_gemini)
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_OK
    assert len(run_records(lib)) == 6 and fake_gemini.counts["generateContent"] == 0


@pytest.mark.parametrize("how", ["expire", "fail"])
def test_an_expired_or_failed_job_is_reported_and_its_requests_submitted_again(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, how: str) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_SUBMITTED
    [name] = fake_gemini.batches.jobs
    getattr(fake_gemini.batches, how)(name)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_INCOMPLETE, out + err
    state = "EXPIRED" if how == "expire" else "FAILED"
    assert f"Collected {name} ({state}): 0 of 3" in out and "without results" in out
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_SUBMITTED and fake_gemini.counts["batchGenerateContent"] == 2
    assert len(list(fake_gemini.batches.jobs.values())[-1].items) == 3
    finish_all(fake_gemini)
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_OK
    assert len(run_records(lib)) == 3 and fake_gemini.counts["generateContent"] == 0
