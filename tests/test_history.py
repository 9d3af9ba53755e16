"""A project's runs in the terminal (issue 32): each run keeps what it was asked, and
--runs lists them newest first; --list -p shows the project's goal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini, RequestRecord, json_reply, ok
from tests.test_chain import GOALS as CHAIN_GOALS
from tests.test_chain import PARTS as CHAIN_PARTS
from tests.test_chain import write_chain
from tests.test_grade import is_judge
from tests.test_refine import judgment

pytestmark = pytest.mark.usefixtures("fast_retries")

GOOD = "## Decision\nA write-through cache, because keys expire together.\n"
BAD = "## Decision\nBAD-ANSWER: a cache, because keys expire together.\n"
FIRST = "Pick a cache design.\nTenants share keys; say what is evicted first."


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(CHAIN_GOALS, CHAIN_PARTS)


def answers(fake: FakeGemini) -> None:
    """The first session answers GOOD, the second BAD; the judges fail BAD only."""
    def respond(r: RequestRecord) -> Any:
        if is_judge(r):
            return json_reply(judgment({"Solution"} if "BAD-ANSWER" in r.prompt else set()))
        sessions = [x for x in fake.requests if not is_judge(x)]
        return ok(GOOD if len(sessions) <= 1 else BAD)

    fake.responder = respond


def cli(capsys: pytest.CaptureFixture[str], lib: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--root", str(lib), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def two_runs(capsys: pytest.CaptureFixture[str], lib: Path, fake: FakeGemini) -> None:
    """A graded run of two samples (one fails), then an ungraded run of another task."""
    answers(fake)
    assert cli(capsys, lib, "-g", "SIMULATE", "-p", "s", "--task", FIRST, "--samples", "2",
               "--grade", "--jobs", "1")[0] == 4
    fake.responder = lambda r: ok(GOOD)
    assert cli(capsys, lib, "-g", "SIMULATE", "-p", "s", "--task", "Second task.",
               "--run")[0] == 0


def test_each_run_keeps_what_it_was_asked_and_runs_lists_them_newest_first(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    two_runs(capsys, lib, fake_gemini)
    runs = lib / "output/s/runs"
    bad = next(p for p in runs.iterdir() if (p / "answer.md").read_text() == BAD)
    (bad / "answer.md").write_text(BAD + "\nMy own note.\n")  # a person's edit
    code, out, _ = cli(capsys, lib, "--runs", "-p", "s", "--json")
    assert code == 0
    listed = json.loads(out)["runs"]
    assert [r["task"] for r in listed] == ["Second task.", FIRST]  # newest first
    second, first = listed
    assert (second["verdict"], second["passing"], second["edited"]) == ("ungraded",
                                                                       "1 sample", False)
    assert first["verdict"] == "FAIL" and first["edited"] is True
    good = "1" if bad.name.endswith("-2") else "2"
    assert first["passing"] == f"1/2 pass: {good}"
    assert first["goal"] == "SIMULATE" and first["model"] == "gemini-flash-latest"
    assert first["tokens"] > 0 and first["seconds"] > 0
    # The older run's request is kept whole, though 02_PROMPT.md now holds the newer.
    request = Path(first["request"]).read_text()
    assert request == fake_gemini.prompts()[0] and FIRST in request
    assert "Second task." in (lib / "output/s/02_PROMPT.md").read_text()
    record = json.loads((bad / "run.json").read_text())
    assert record["request"]["prompt"] == f".requests/{record['sha256']['prompt']}.md"
    # For people: a line each, newest first, hand edits marked.
    code, out, _ = cli(capsys, lib, "--runs", "-p", "s")
    lines = out.splitlines()
    assert lines[0].split() == ["date", "run", "verdict", "samples", "tokens", "seconds",
                                "cost", "model", "task"]
    assert lines[1].endswith("  Second task.") and " ungraded " in lines[1]
    assert " FAIL* " in lines[2] and f"1/2 pass: {good}" in lines[2]
    assert lines[2].endswith("  Pick a cache design.")  # the task's first line
    assert lines[3] == "* an answer or a verdict edited by hand"
    assert lines[4] == "2 runs in " + f"{lib}/output/s/, newest first; --runs RUN shows " \
                                      "what one was asked"
    # --runs RUN: the whole task, and where its answers are.
    code, out, _ = cli(capsys, lib, "--runs", first["run"][:6], "-p", "s")
    assert code == 0
    assert "Task:\n  Pick a cache design.\n  Tenants share keys; say what is evicted " \
           "first.\n" in out
    assert "Evidence: none\n" in out
    assert f"sample {bad.name[-1]}: FAIL (answer edited by hand)" in out


def test_a_run_made_before_requests_were_kept_says_so(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    two_runs(capsys, lib, fake_gemini)
    shutil.rmtree(lib / "output/s/.requests")  # as an older version left the project
    code, out, _ = cli(capsys, lib, "--runs", "-p", "s", "--json")
    second, first = json.loads(out)["runs"]
    assert second["task"] == "Second task."  # 02_PROMPT.md is still its request
    assert first["task"] is None and first["request"] is None
    code, out, _ = cli(capsys, lib, "--runs", "-p", "s", "-q")
    assert out.splitlines()[1].endswith("  (its task was not kept: made before each run "
                                        "kept its request)")
    assert not out.startswith("date")  # quiet: the rows alone


def test_runs_lists_each_stage_of_a_chain_and_list_shows_a_projects_goals(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    path = write_chain(tmp_path / "c", {"stages": [
        {"name": "one", "goal": "SIMULATE", "task": "Simulate one."},
        {"name": "two", "goal": "SYNTH", "task": "Merge.", "after": ["one"]}]})
    assert cli(capsys, lib, "--chain", str(path), "-p", "c")[0] == 0
    code, out, _ = cli(capsys, lib, "--runs", "-p", "c", "--json")
    assert [(r["stage"], r["goal"], r["task"]) for r in json.loads(out)["runs"]] == [
        ("two", "SYNTH", "Merge."), ("one", "SIMULATE", "Simulate one.")]
    code, out, _ = cli(capsys, lib, "--runs", "-p", "c", "--goal", "synth", "--json")
    assert [r["stage"] for r in json.loads(out)["runs"]] == ["two"]
    code, out, _ = cli(capsys, lib, "--list", "-p", "c")
    assert code == 0 and out.startswith("Project c: SIMULATE, SYNTH\n")
    assert "\nSIMULATE  " in out and "\nSYNTH  " in out and "\nGRADE  " not in out
    code, out, _ = cli(capsys, lib, "--list", "-p", "c", "--json")
    data = json.loads(out)
    assert data["project"] == {"name": "c", "goals": ["SIMULATE", "SYNTH"]}
    assert [g["name"] for g in data["goals"]] == ["SIMULATE", "SYNTH"]


@pytest.mark.parametrize(("argv", "said"), [
    (["--runs"], "error: --runs lists a project's runs: give --project NAME"),
    (["--runs", "-p", "nope"], "error: --project nope: no such project under "),
    (["--list", "-p", "nope"], "error: --project nope: no such project under "),
    (["--runs", "-p", "../x"], "error: --project: project name '../x' must be a bare name"),
    (["--runs", "zzz", "-p", "s"], "error: --runs zzz: no run of project s matches"),
], ids=["no-project", "unknown", "list-unknown", "unsafe", "unknown-run"])
def test_runs_refuses_what_it_cannot_show_in_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        argv: list[str], said: str) -> None:
    assert cli(capsys, lib, "-g", "SIMULATE", "-p", "s")[0] == 0
    code, _, err = cli(capsys, lib, *argv)
    assert code == 1 and err.startswith(said) and len(err.splitlines()) == 1


def test_a_run_set_aside_by_fresh_is_not_counted_among_the_samples(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.default = ok(GOOD)
    argv = ["-g", "SIMULATE", "-p", "s", "--task", "T."]
    assert cli(capsys, lib, *argv, "--run")[0] == 0
    assert cli(capsys, lib, *argv, "--fresh", "1")[0] == 0
    assert len(list((lib / "output/s/runs").iterdir())) == 2  # the old one kept, aside
    code, out, _ = cli(capsys, lib, "--runs", "-p", "s", "--json")
    [run] = json.loads(out)["runs"]
    assert run["passing"] == "1 sample" and [s["sample"] for s in run["samples"]] == ["1"]


@pytest.mark.parametrize("quiet", [(), ("-q",)], ids=["table", "quiet"])
def test_a_project_with_no_run_kept_says_so_in_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, quiet: tuple[str, ...]) -> None:
    """A project built but never run (or whose only run failed, keeping nothing): a line,
    not a traceback from a table of headings alone."""
    assert cli(capsys, lib, "-g", "SIMULATE", "-p", "none")[0] == 0
    code, out, err = cli(capsys, lib, "--runs", "-p", "none", *quiet)
    assert code == 0 and "Traceback" not in out + err
    if quiet:
        assert out == ""
    else:
        assert out.startswith("No runs kept in ")
        assert out.endswith("/output/none/ yet: --run makes one.\n")
