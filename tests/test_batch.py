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


def test_wait_polls_with_a_progress_line_then_collects_and_reports_as_usual(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.batches.advance_on_get = True  # PENDING -> RUNNING -> SUCCEEDED, a poll each
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--wait"))
    assert code == EXIT_OK, out + err
    [name] = fake_gemini.batches.jobs
    assert f"batch {name}: PENDING, ? of ? requests done" in err \
        or f"batch {name}: PENDING, 0 of 6 requests done" in err
    assert f"batch {name}: RUNNING" in err and "elapsed" in err
    assert "6 rows: 6 ran" in out or "6 rows: 6 cached" in out
    assert fake_gemini.counts["batchGenerateContent"] == 1
    assert fake_gemini.counts["generateContent"] == 0
    # Two polls, then the ended job read once more for its results.
    assert fake_gemini.counts["batches.get"] == 3 and len(run_records(lib)) == 6


def test_an_interactive_run_never_makes_what_a_live_job_holds(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_SUBMITTED
    [name] = fake_gemini.batches.jobs
    for flags in (["--no-batch"], []):  # a plain run looks at the project's live jobs too
        code, out, err = run(capsys, tasks_cmd(lib, tasks, *flags))
        assert code == 1 and f"in the project's batch job {name} (PENDING)" in err
        assert "paid for twice" in err and "--cancel-batch" in err
    assert fake_gemini.counts["generateContent"] == 0 and run_records(lib) == []
    fake_gemini.batches.finish(name)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--no-batch"))
    assert code == EXIT_OK, out + err  # the ended job collected first: nothing made twice
    assert fake_gemini.counts["generateContent"] == 0 and len(run_records(lib)) == 2
    assert "2 rows: 2 cached" in out


def test_batches_lists_the_jobs_and_cancel_batch_frees_their_requests(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    assert run(capsys, tasks_cmd(lib, tasks, "--batch"))[0] == EXIT_SUBMITTED
    [name] = fake_gemini.batches.jobs
    listing = ["--root", str(lib), "-p", "many", "--batches"]
    record = next((lib / "output/many/.batches").glob("*.json"))
    dead = record.with_name(f".{record.name}.999999.0123abcd.tmp")  # a write killed mid-way
    dead.write_text("{")
    code, out, err = run(capsys, listing)
    assert code == EXIT_OK and not dead.exists()  # found by tests/test_batch_stress.py
    assert out.splitlines()[0].split() == ["name", "state", "requests", "created", "collected"]
    assert out.splitlines()[1].split()[:3] == [name, "pending", "6"]
    code, out, err = run(capsys, ["--root", str(lib), "-p", "many", "--cancel-batch", name])
    assert code == EXIT_OK and f"Cancelled {name} (6 request(s))" in err
    assert fake_gemini.batches.job(name).state.endswith("CANCELLED")
    code, out, err = run(capsys, ["--root", str(lib), "-p", "many", "--cancel-batch", name])
    assert code == 1 and "collected already" in err
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == EXIT_SUBMITTED and fake_gemini.counts["batchGenerateContent"] == 2
    assert len(list(fake_gemini.batches.jobs.values())[-1].items) == 6
    code, out, err = run(capsys, listing + ["--json"])
    jobs = json.loads(out)["jobs"]
    assert [j["state"] for j in jobs] == ["CANCELLED", "PENDING"]
    assert jobs[0]["collected"] and jobs[0]["kept"] == 0
    code, out, err = run(capsys, ["--root", str(lib), "-p", "many", "--cancel-batch", "nope"])
    assert code == 1 and "not a job of this project" in err


def test_one_task_samples_go_as_one_job_and_the_collecting_run_shows_them_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    argv = ["--root", str(lib), "-g", "AUDIT", "-p", "one", "--model", MODEL,
            "--task", "Review it.", "--samples", "3", "--batch"]
    code, out, err = run(capsys, argv)
    assert code == EXIT_SUBMITTED, out + err
    assert "--samples 3 --batch" in out.splitlines()[-1]
    [job] = fake_gemini.batches.jobs.values()
    assert len(job.items) == 3 and len({i.key for i in job.items}) == 3
    fake_gemini.batches.finish(job.name)
    code, out, err = run(capsys, argv)
    assert code == EXIT_OK, out + err
    assert out.count("cached") == 3 and fake_gemini.counts["generateContent"] == 0
    assert len(run_records(lib, "one")) == 3


def test_a_dry_run_says_what_one_job_would_hold_and_its_cost_at_the_batch_rate(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--dry-run"))
    assert code == EXIT_OK, out + err
    assert "Would submit one batch job of 6 requests (6 answers)" in out
    assert "at the batch rate (x0.5): $" in out and "Dry run: nothing sent" in out
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--dry-run", "--json"))
    data = json.loads(out)["batch"]
    interactive = json.loads(run(capsys, tasks_cmd(lib, tasks, "--dry-run", "--json"))[1])
    assert data["requests"] == 6
    assert data["estimate"]["usd"] == pytest.approx(interactive["tasks"]["estimate"]["usd"] / 2)
    assert fake_gemini.count == 0 and not (lib / "output/many/.batches").exists()


def test_refused_in_one_line_before_anything_is_sent(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:1])
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--wait"))
    assert code == 2 and "--wait waits for a batch job" in err
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--no-batch"))
    assert code == 2
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--budget", "1"))
    assert code == 2 and "--budget" in err
    argv = tasks_cmd(lib, tasks, "--batch")
    argv[argv.index(MODEL)] = "ollama:llama3.2"
    code, out, err = run(capsys, argv)
    assert code == 1 and "not a Gemini model" in err
    monkeypatch.delenv("GEMINI_API_KEY")
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch"))
    assert code == 1 and "--batch:" in err and "GEMINI_API_KEY" in err
    assert fake_gemini.count == 0 and not (lib / "output/many/.batches").exists()


def scorecards(lib: Path, project: str = "many") -> list[dict[str, Any]]:
    runs = lib / "output" / project / "runs"
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*/scorecard*.json"))]


@pytest.mark.parametrize("judges", [1, 3])
def test_grades_are_a_second_wave_each_judge_a_request_keyed_by_run_and_judge(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, judges: int) -> None:
    judged(fake_gemini, failing=("r2",))
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    argv = tasks_cmd(lib, tasks, "--grade", "--judges", str(judges), "--batch")
    code, out, err = run(capsys, argv)
    assert code == EXIT_SUBMITTED, out + err
    assert "Waiting for this job's results first: 3 scorecards (a later job)." in out
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)  # collects the answers, submits their judgments
    assert code == EXIT_SUBMITTED, out + err
    assert fake_gemini.counts["batchGenerateContent"] == 2
    second = list(fake_gemini.batches.jobs.values())[-1]
    keys = sorted(i.key for i in second.items)
    assert len(keys) == 3 * judges
    answers = sorted(r["run_id"] for r in run_records(lib))
    stem = "scorecard" if judges == 1 else f"scorecard-{judges}j"
    assert keys == sorted(f"{a}/{stem}/{j}" for a in answers for j in range(1, judges + 1))
    assert all(i.request["generationConfig"].get("responseJsonSchema")
               or i.request["generationConfig"].get("responseSchema") for i in second.items)
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)
    assert code == 4, out + err  # r2's answer fails its scorecard, as interactively
    assert "3 rows: 3 cached; graded: 2 pass, 1 fail" in out
    assert fake_gemini.counts["generateContent"] == 0
    cards = scorecards(lib)
    assert len(cards) == 3 and all(len(c["judgments"]) == judges for c in cards)
    assert all(c["record"]["batch"] == second.name for c in cards)
    from meta_prompting.models.prices import cost_of

    for c in cards:
        full = cost_of(MODEL, [(j["tokens"], j["model"]) for j in c["judgments"]])["usd"]
        assert c["cost"]["usd"] == pytest.approx(full / 2)
    fake_gemini.reset()
    assert run(capsys, argv)[0] == 4 and fake_gemini.count == 0
    assert run(capsys, argv[:-1])[0] == 4 and fake_gemini.count == 0  # the same, interactively


def test_a_judgment_to_ask_again_is_asked_at_once_and_a_failed_judge_resubmits_its_card(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini)
    respond = fake_gemini.responder
    assert respond is not None

    def invalid_in_batch(record: Any) -> Any:  # row r1's judge answers no JSON in the job
        if record.action == "batchRequest" and record.response_schema is not None \
                and "Review case 1." in record.prompt:
            from tests.fake_gemini import ok

            return ok("I cannot judge this.")
        return respond(record)

    fake_gemini.responder = invalid_in_batch
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    argv = tasks_cmd(lib, tasks, "--grade", "--judges", "3", "--batch")
    assert run(capsys, argv)[0] == EXIT_SUBMITTED
    finish_all(fake_gemini)
    assert run(capsys, argv)[0] == EXIT_SUBMITTED  # the judgments' wave
    second = list(fake_gemini.batches.jobs.values())[-1]
    r3 = [i.key for i in second.items if "Review case 3." in json.dumps(i.request)]
    fake_gemini.batches.fail_keys = {r3[1]: error(500, "INTERNAL", "judge lost")}
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)
    assert code == EXIT_INCOMPLETE, out + err
    # r1's three invalid judgments were asked again at once, interactively (two fresh
    # requests each at most): its scorecard is whole; r3's is not made, its 3 judges wait.
    assert 3 <= fake_gemini.counts["generateContent"] <= 6
    [card] = [c for c in scorecards(lib) if all(j["requests"] > 1 for j in c["judgments"])]
    assert card["record"]["batch"] == second.name  # made by the job, asked again at once:
    from meta_prompting.models.prices import cost_of  # priced at the full rate, not guessed

    assert card["cost"]["usd"] == pytest.approx(cost_of(MODEL, [
        (j["tokens"], j["model"]) for j in card["judgments"]])["usd"])
    assert len(scorecards(lib)) == 2
    assert "judge lost" in out and "asked again with its scorecard's other judgments" in out
    fake_gemini.batches.fail_keys = {}
    asked = fake_gemini.counts["generateContent"]
    assert run(capsys, argv)[0] == EXIT_SUBMITTED
    assert sorted(i.key for i in list(fake_gemini.batches.jobs.values())[-1].items) \
        == sorted(r3)
    finish_all(fake_gemini)
    assert run(capsys, argv)[0] == EXIT_OK
    assert len(scorecards(lib)) == 3 and fake_gemini.counts["generateContent"] == asked


def test_a_kept_scorecard_whose_markdown_a_kill_left_aside_is_made_whole_by_a_look(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    """Found by tests/test_batch_stress.py: a kill between publish_scorecard's two renames
    (the .json in place, the .md still aside) left the .md missing for good, and its
    temporary file too. A look at the kept scorecard now restores both, asking nothing."""
    judged(fake_gemini)
    tasks = write_tasks(tmp_path / "t", SIX[:1])
    assert run(capsys, tasks_cmd(lib, tasks, "--grade"))[0] == EXIT_OK
    [card] = (lib / "output/many/runs").glob("*/scorecard.md")
    text = card.read_text()
    card.unlink()
    dead = card.with_name(".scorecard.md.999999.0123abcd.tmp")
    dead.write_text(text[:10])
    asked = fake_gemini.count
    assert run(capsys, tasks_cmd(lib, tasks, "--grade"))[0] == EXIT_OK
    assert card.read_text() == text and not dead.exists() and fake_gemini.count == asked


def test_quiet_keeps_one_line_to_go_on_and_json_is_one_document(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "-q"))
    assert code == EXIT_SUBMITTED and out == ""
    assert err.count("\n") == 1 and "submitted; to collect, run again:" in err
    assert err.rstrip().endswith("--batch")
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--json"))
    data = json.loads(out)
    assert code == EXIT_SUBMITTED and data["exit_code"] == EXIT_SUBMITTED
    [name] = fake_gemini.batches.jobs
    assert data["batch"]["live"] == [name] and data["batch"]["submitted"] is None
    assert data["batch"]["jobs"][0]["requests"] == 2
    fake_gemini.batches.finish(name)
    code, out, err = run(capsys, tasks_cmd(lib, tasks, "--batch", "--json"))
    assert code == EXIT_OK and json.loads(out)["tasks"]["summary"]["rows"] == 2


def test_one_task_given_with_batch_alone_is_run_in_the_job(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    argv = ["--root", str(lib), "-g", "AUDIT", "-p", "one", "--model", MODEL,
            "--task", "Review it.", "--batch"]
    code, out, err = run(capsys, argv)
    assert code == EXIT_SUBMITTED and "--run --batch" in out.splitlines()[-1]
    fake_gemini.batches.finish(next(iter(fake_gemini.batches.jobs)))
    code, out, err = run(capsys, argv)
    assert code == EXIT_OK and "sample 1: cached" in out and len(run_records(lib, "one")) == 1


def test_one_task_graded_takes_two_jobs_and_ends_as_grade_does(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    judged(fake_gemini)
    argv = ["--root", str(lib), "-g", "AUDIT", "-p", "one", "--model", MODEL,
            "--task", "Review case 1.", "--samples", "2", "--grade", "--batch"]
    assert run(capsys, argv)[0] == EXIT_SUBMITTED
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)
    assert code == EXIT_SUBMITTED, out + err
    assert len(list(fake_gemini.batches.jobs.values())[-1].items) == 2  # two judgments
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)
    assert code == EXIT_OK, out + err
    assert "2 of 2 answers pass the scorecard" in out
    assert fake_gemini.counts["generateContent"] == 0
    assert len(scorecards(lib, "one")) == 2
