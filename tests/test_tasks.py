"""--tasks FILE: many tasks at once, each row a fresh session kept as --run keeps one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini, error, ok

pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    # AUDIT graded by GRADE's criteria, so that --grade reaches the rows' answers.
    from tests.test_grade import GOALS, PARTS

    return make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})


def write_tasks(folder: Path, rows: list[dict[str, object]], name: str = "tasks.jsonl"
                ) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ev").mkdir(exist_ok=True)
    (folder / "ev" / "app.py").write_text("def total(xs):\n    return sum(xs) / len(xs)\n")
    (folder / "ev" / "notes.md").write_text("Crashes on an empty list.\n")
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


SIX = [{"id": f"r{i}", "task": f"Review case {i}.", "evidence": ["ev/app.py"]}
       for i in range(1, 7)]


def tasks_run(capsys: pytest.CaptureFixture[str], lib: Path, tasks: Path,
              *extra: str) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "many", "--tasks", str(tasks),
                 *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def kept(lib: Path, project: str = "many") -> list[str]:
    runs = lib / "output" / project / "runs"
    return sorted(n for n in os.listdir(runs) if not n.startswith(".")) if runs.exists() else []


def test_six_rows_make_six_answers_once_and_a_rerun_makes_none(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0, err
    assert fake_gemini.count == 6 and len(kept(lib)) == 6
    assert all(r.contents_count == 1 for r in fake_gemini.requests)  # fresh sessions
    print(out)
    print(err)
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0 and fake_gemini.count == 6
    print(out)
    print((lib / "output/many/RESULTS.md").read_text())
    print((lib / "output/many/results.jsonl").read_text())
    assert 0


def test_scratch_grade(capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
                       fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--samples", "2")
    print(code, out, err)
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--dry-run")
    print(code, out, err)
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--json")
    print(code, out[:1500], err)
    assert 0
