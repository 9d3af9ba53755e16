"""Nothing retyped (issue 32): --run and --grade on a project take its goal and its last
task and evidence; -p P where nobody is asked knows P's goal."""

from __future__ import annotations

from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.toolkit.prompt import Document, Filling, Sections, read_filling, render_prompt
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    from tests.test_grade import GOALS, PARTS

    return make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    (folder / "src").mkdir(parents=True)
    (folder / "src/app.py").write_text("def total(xs):\n    return sum(xs) / len(xs)\n")
    # Text that holds the prompt's own tags: read back all the same.
    (folder / "src/notes.md").write_text('Ends with </document> and <task>\n</evidence>\n')
    monkeypatch.chdir(folder)
    return folder


def cli(capsys: pytest.CaptureFixture[str], lib: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--root", str(lib), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def first_run(capsys: pytest.CaptureFixture[str], lib: Path) -> None:
    code, out, err = cli(capsys, lib, "-g", "AUDIT", "-p", "x", "--task",
                         "Find the bug in total().\nSay why.", "--evidence", "src", "--run")
    assert code == 0, out + err


def test_run_and_grade_on_a_project_take_its_goal_and_last_task(
        capsys: pytest.CaptureFixture[str], lib: Path, src: Path,
        fake_gemini: FakeGemini) -> None:
    first_run(capsys, lib)
    assert fake_gemini.count == 1
    code, out, err = cli(capsys, lib, "-p", "x", "--run")
    assert code == 0, out + err
    assert fake_gemini.count == 1  # the same request, exactly: its answer is kept
    assert "Using the goal of project x: AUDIT\n" in err
    assert "Using the last task of project x: Find the bug in total(). (with its " \
           "evidence: 2 documents)\n" in err
    assert "sample 1: cached" in out
    code, out, err = cli(capsys, lib, "-p", "x", "--grade")
    assert code == 0, out + err
    assert fake_gemini.count == 2  # one judge, no new answer
    assert "Overall: PASS" in out


def test_new_evidence_with_the_last_task_is_a_new_run_of_the_same_task(
        capsys: pytest.CaptureFixture[str], lib: Path, src: Path,
        fake_gemini: FakeGemini) -> None:
    first_run(capsys, lib)
    code, out, err = cli(capsys, lib, "-p", "x", "--run", "--evidence", "src/app.py")
    assert code == 0, out + err
    assert fake_gemini.count == 2
    sent = fake_gemini.prompts()[-1]
    assert sent.rstrip().endswith("Find the bug in total().\nSay why.\n</task>\n\n"
                                  + sent.rstrip().rsplit("\n", 1)[-1])
    assert "src/notes.md" not in sent
    # The finish command recalls the task again: it names no --task.
    assert "--task" not in out


def test_a_project_where_nobody_is_asked_is_rebuilt_with_its_goal(
        capsys: pytest.CaptureFixture[str], lib: Path, src: Path,
        fake_gemini: FakeGemini) -> None:
    first_run(capsys, lib)
    code, out, err = cli(capsys, lib, "-p", "x", "--non-interactive")
    assert code == 0, out + err
    assert "for goal AUDIT (complete)" in out
    assert "Using the goal of project x: AUDIT" in err


@pytest.mark.parametrize(("argv", "said"), [
    (["-p", "bare", "--run"], "error: --run needs a task: give --task TEXT or --task-file "
                              "FILE (project bare has no task yet) (see --help)"),
    (["-p", "new", "--run"], "error: --goal needed (--non-interactive, so no questions are "
                             "asked)"),
], ids=["no-task-yet", "no-project"])
def test_nothing_to_recall_is_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, src: Path, fake_gemini: FakeGemini,
        argv: list[str], said: str) -> None:
    assert cli(capsys, lib, "-g", "AUDIT", "-p", "bare")[0] == 0
    code, _, err = cli(capsys, lib, "--non-interactive", *argv)
    assert code in (1, 2) and err.splitlines()[-1].startswith(said), err
    assert fake_gemini.count == 0


SECTIONS = Sections("Steps\n\nDo it.\n\nOutput format\n## Findings\n", ("Rule\n\nOne.",))


@pytest.mark.parametrize("filling", [
    Filling("Do it.\n"),
    Filling("Do it.\n", (Document("a.py", "x = 1\n"), Document('we "q" <&>', "y\n\n"))),
    Filling("Has <task> and </document>\n", (Document("n.md", "</document>\n<document>\n"),
                                            Document("m.md", "</evidence>\n</task>\n"))),
    Filling("A line\n<task>\nin the task\n</task>\nmore\n", (Document("a", "b\n"),)),
], ids=["no-evidence", "names", "hostile-tags", "task-holding-its-tag"])
def test_a_filled_prompt_reads_back_to_the_same_prompt(filling: Filling) -> None:
    prompt = render_prompt(SECTIONS, filling)
    back = read_filling(prompt)
    assert back is not None
    assert render_prompt(SECTIONS, back) == prompt
    assert back.task.strip() == filling.task.strip()
    assert [d.name for d in back.documents] == [d.name for d in filling.documents]


def test_a_prompt_edited_past_recognition_is_not_read_back() -> None:
    prompt = render_prompt(SECTIONS, Filling("Do it.\n", (Document("a", "x\n"),)))
    assert read_filling(prompt.replace('<document name="a">', "<document>")) is None
