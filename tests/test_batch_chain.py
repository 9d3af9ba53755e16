"""--chain --batch: each job one wave of ready stages, collected by the same command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meta_prompting.errors import EXIT_OK, EXIT_SUBMITTED
from meta_prompting.face.cli import main
from tests.fake_gemini import FakeGemini, ok
from tests.test_chain import ANSWER, four_stages, lib  # noqa: F401  (lib: a fixture)

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture(autouse=True)
def held_jobs(fake_gemini: FakeGemini) -> None:
    fake_gemini.batches.advance_on_get = False
    # Answers are ANSWER; a judge (a schema request) gets the schema's instance.
    fake_gemini.responder = lambda r: None if r.response_schema else ok(ANSWER)


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def finish_all(fake: FakeGemini) -> None:
    for name, job in list(fake.batches.jobs.items()):
        if job.state.endswith("PENDING"):
            fake.batches.finish(name)


def test_a_chain_of_four_stages_completes_in_two_waves(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(tmp_path / "chains")
    argv = ["--root", str(lib), "--chain", str(path), "--project", "p",
            "--model", "gemini-2.5-flash", "--batch"]
    code, out, err = run(capsys, argv)
    assert code == EXIT_SUBMITTED, out + err
    [first] = fake_gemini.batches.jobs.values()
    assert sorted(i.key.split("/")[0] for i in first.items) == ["recovery", "retries", "state"]
    assert "Waiting for this job's results first: 1 stage (a later job)." in out
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)  # collects the three, submits the synthesis
    assert code == EXIT_SUBMITTED, out + err
    second = list(fake_gemini.batches.jobs.values())[-1]
    assert [i.key.split("/")[0] for i in second.items] == ["synthesis"]
    # The synthesis is sent the three answers, as the interactive chain sends them.
    prompt = second.items[0].request["contents"][0]["parts"][0]["text"]
    assert prompt.count("The state is kept in memory only.") == 3
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)
    assert code == EXIT_OK, out + err
    assert fake_gemini.counts["batchGenerateContent"] == 2  # two waves, two jobs
    assert fake_gemini.counts["generateContent"] == 0
    assert "synthesis" in out and (lib / "output/p/CHAIN.md").is_file()
    for stage in ("state", "retries", "recovery", "synthesis"):
        [record] = (lib / "output/p" / stage / "runs").glob("*/run.json")
        assert json.loads(record.read_text())["record"]["batch"].startswith("batches/")
    fake_gemini.reset()
    assert run(capsys, argv)[0] == EXIT_OK and fake_gemini.count == 0
    assert run(capsys, argv[:-1])[0] == EXIT_OK and fake_gemini.count == 0


def test_a_graded_stage_is_judged_in_the_next_job_and_what_follows_after_it_passes(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    from tests.test_chain import write_chain

    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True,
               "attempts": 2},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(tmp_path / "chains", {"stages": stages})
    fake_gemini.schema_overrides = {"quotes": ["Write a journal line per item."]}
    argv = ["--root", str(lib), "--chain", str(path), "--project", "p",
            "--model", "gemini-2.5-flash", "--judges", "3", "--batch"]
    kinds = []
    for _ in range(3):
        code, out, err = run(capsys, argv)
        assert code == EXIT_SUBMITTED, out + err
        job = list(fake_gemini.batches.jobs.values())[-1]
        kinds.append(sorted(i.key.split("/")[0] + ("/judge" if i.key.count("/") > 1 else "")
                            for i in job.items))
        finish_all(fake_gemini)
    assert kinds == [["state"], ["state/judge"] * 3, ["synthesis"]]
    code, out, err = run(capsys, argv)
    assert code == EXIT_OK, out + err
    assert "PASS" in out and fake_gemini.counts["generateContent"] == 0
    [card] = (lib / "output/p/state/runs").glob("*/scorecard-3j.json")
    assert json.loads(card.read_text())["record"]["batch"] == list(fake_gemini.batches.jobs)[1]


def test_a_plain_chain_run_never_makes_a_stage_a_live_job_holds(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(tmp_path / "chains")
    argv = ["--root", str(lib), "--chain", str(path), "--project", "p",
            "--model", "gemini-2.5-flash"]
    assert run(capsys, [*argv, "--batch"])[0] == EXIT_SUBMITTED
    code, out, err = run(capsys, argv)
    assert code == 1 and "3 of the requests" in err and "paid for twice" in err
    assert fake_gemini.counts["generateContent"] == 0
    finish_all(fake_gemini)
    code, out, err = run(capsys, argv)  # collects the three, then asks for the synthesis
    assert code == EXIT_OK, out + err
    assert fake_gemini.counts["generateContent"] == 1
    assert fake_gemini.counts["batchGenerateContent"] == 1
