"""--tasks FILE: many tasks at once, each row a fresh session kept as --run keeps one."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini, error, json_reply, ok
from tests.fake_wire import RequestRecord

pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits
CRITERIA = ["Structure", "Flaw Analysis", "Solution"]


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    # AUDIT graded by GRADE's criteria, so that --grade reaches the rows' answers.
    from tests.test_grade import GOALS, PARTS

    return make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})


def write_tasks(folder: Path, rows: list[dict[str, Any]], name: str = "tasks.jsonl") -> Path:
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


def results(lib: Path) -> list[dict[str, Any]]:
    text = (lib / "output/many/results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def is_judge(record: RequestRecord) -> bool:
    return record.response_schema is not None


def judged(fake: FakeGemini, failing: tuple[str, ...] = ()) -> None:
    """Answers name their case; a judge fails the answers whose case is in `failing`
    (unless the request carries refinements: then the fixed answer passes)."""
    def respond(record: RequestRecord) -> Any:
        case = re.search(r"Review case (\d+)\.", record.prompt)
        number = case.group(1) if case else "?"
        if not is_judge(record):
            return ok(f"## Findings\nCase {number}: the division by zero guard is missing.\n")
        bad = f"r{number}" in failing and "<refinements>" not in record.prompt
        verdict = "FAIL" if bad else "PASS"
        return json_reply({
            "criteria": {c: {"reasoning": "Looked.", "quotes": [
                "the division by zero guard is missing"], "verdict": verdict,
                "fix": "Name the line." if bad else ""} for c in CRITERIA},
            "path_forward": {"reasoning": "Clear.", "verdict": "NO" if bad else "YES"}})

    fake.responder = respond


def test_six_rows_make_six_fresh_sessions_once_and_a_rerun_makes_none(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0, err
    assert fake_gemini.count == 6 and len(kept(lib)) == 6
    assert all(r.contents_count == 1 and r.system == "You are an auditor.\n"
               for r in fake_gemini.requests)  # each row a fresh session
    assert sorted(re.search(r"Review case \d", p)[0] for p in fake_gemini.prompts()) == [
        f"Review case {i}" for i in range(1, 7)]
    assert all('<document name="ev/app.py">' in p for p in fake_gemini.prompts())
    assert "Running 6 answer(s) for 6 row(s)" in err and "6 rows: 6 ran" in out
    assert out.splitlines()[1].split() == ["row", "status", "verdict", "tokens", "seconds",
                                           "cost"]
    lines = results(lib)
    assert [r["id"] for r in lines] == [f"r{i}" for i in range(1, 7)]
    assert all(r["status"] == "ran" and (lib / "output/many" / r["answer"]).is_file()
               for r in lines)
    markdown = (lib / "output/many/RESULTS.md").read_text()
    assert all(f"[answer]({r['answer']})" in markdown for r in lines)

    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0 and fake_gemini.count == 6  # made once: no call for a kept row
    assert "6 rows: 6 cached" in out and "Running" not in err
    assert [r["status"] for r in results(lib)] == ["cached"] * 6
    views = [lib / "output/many" / n for n in ("RESULTS.md", "results.jsonl")]
    before = [p.stat().st_mtime_ns for p in views]
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0 and fake_gemini.count == 6
    assert [p.stat().st_mtime_ns for p in views] == before  # unchanged: not rewritten
    views[0].unlink()  # a view, not a source of truth: the next run writes it again
    assert tasks_run(capsys, lib, tasks)[0] == 0 and views[0].is_file()
    assert fake_gemini.count == 6


def test_a_row_is_the_same_run_as_a_single_run_of_its_task_and_evidence(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    monkeypatch.chdir(tmp_path / "t")  # evidence named as the tasks file names it
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "many", "--task", "Review case 1.",
                 "--evidence", "ev/app.py", "--run"])
    assert code == 0 and fake_gemini.count == 1
    [single] = kept(lib)
    capsys.readouterr()
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0, err
    assert fake_gemini.count == 2  # row r1 is that run: only r2 was asked for
    assert results(lib)[0]["answer"] == f"runs/{single}/answer.md"
    assert results(lib)[0]["status"] == "cached" and results(lib)[1]["status"] == "ran"


def test_a_csv_file_gives_the_same_rows_as_jsonl(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    rows = [{"id": "a", "task": "Review case 1.", "evidence": ["ev/app.py", "ev/notes.md"]},
            {"id": "b", "task": "Review case 2, \"quoted\"."}]
    tasks = write_tasks(tmp_path / "t", rows)
    assert tasks_run(capsys, lib, tasks)[0] == 0 and fake_gemini.count == 2
    csv = tmp_path / "t" / "tasks.csv"
    csv.write_text('id,task,evidence\na,Review case 1.,ev/app.py; ev/notes.md\n'
                   'b,"Review case 2, ""quoted"".",\n')
    code, out, err = tasks_run(capsys, lib, csv)
    assert code == 0, err
    assert fake_gemini.count == 2 and "2 rows: 2 cached" in out


@pytest.mark.parametrize(("lines", "expected"), [
    ([{"id": "a", "task": "x"}, {"id": "a", "task": "y"}],
     r'tasks\.jsonl:2: row "a": the id is used twice \(first at line 1\)'),
    ([{"id": "a", "task": "x"}, {"id": "A", "task": "y"}],
     r'tasks\.jsonl:2: row "A": the id is used twice \(first at line 1 as "a": ids that '
     r"differ only in case"),
    ([{"id": "../up", "task": "x"}],
     r'tasks\.jsonl:1: row "\.\./up": "id" the id .* must be a bare name'),
    ([{"id": "a b", "task": "x"}], r'tasks\.jsonl:1: row "a b": "id" the id .* may use only'),
    ([{"id": 7, "task": "x"}], r'tasks\.jsonl:1: row: "id" must be given, as a string'),
    ([{"id": "a", "task_file": "nope.md"}],
     r'tasks\.jsonl:1: row "a": "task_file" nope\.md: no such file \(relative to the tasks '
     r"file\)"),
    ([{"id": "a", "task": "x", "evidence": ["ev/gone.py"]}],
     r'tasks\.jsonl:1: row "a": "evidence" ev/gone\.py: no such file or folder'),
    ([{"id": "a", "task": "x", "evidence": ["../outside"]}],
     r'tasks\.jsonl:1: row "a": "evidence" \.\./outside: leads outside the tasks file\'s '
     r"folder"),
    ([{"id": "a", "task": "x", "evdience": ["ev/app.py"]}],
     r'tasks\.jsonl:1: row "a": "evdience" is not a known field \(did you mean "evidence"\?\)'),
    ([{"id": "a", "task": "x", "task_file": "ev/notes.md"}],
     r'tasks\.jsonl:1: row "a": "task" or "task_file": give exactly one'),
    ([{"id": "a", "task": "x", "evidence": "ev/app.py"}],
     r'tasks\.jsonl:1: row "a": "evidence" must be a list of paths'),
    ([], r"tasks\.jsonl: holds no rows"),
    ([{"id": "a", "task": "x"}, {"id": "b", "task": " "}, {"id": "c"}],
     r'tasks\.jsonl:2: row "b": "task" must be a non-empty string \(and 1 more\)'),
], ids=["duplicate", "duplicate-case", "path-id", "space-id", "number-id", "no-task-file",
        "no-evidence", "outside", "unknown-field", "both", "evidence-string", "empty",
        "several"])
def test_a_bad_tasks_file_is_refused_whole_in_one_line_before_anything(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, lines: list[dict[str, Any]], expected: str) -> None:
    (tmp_path / "outside").mkdir()
    tasks = write_tasks(tmp_path / "t", lines)
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and re.search(expected, err), err
    assert fake_gemini.count == 0 and not (lib / "output").exists()  # nothing written


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("tasks.jsonl", '{"id": "a", "task": "x"}\nnot json\n',
     r"tasks\.jsonl:2:1: invalid JSON: Expecting value"),
    ("tasks.jsonl", '{"id": "a", "id": "b", "task": "x"}\n',
     r'tasks\.jsonl:1: field "id" appears twice'),
    ("tasks.jsonl", '["a", "x"]\n', r"tasks\.jsonl:1: a row is a JSON object"),
    ("tasks.csv", "id,task\na,x,y\n", r"tasks\.csv:2: has 3 fields; the header has 2"),
    ("tasks.csv", "id,taks\na,x\n",
     r'tasks\.csv:1: column "taks" is not a known field \(did you mean "task"\?\)'),
    ("tasks.csv", "task\nx\n", r'tasks\.csv:1: the header has no "id" column'),
    ("tasks.csv", "id,task\n", r"tasks\.csv: holds no rows"),
    ("tasks.txt", "id,task\n", r"a tasks file is JSONL \(\.jsonl"),
], ids=["json", "twice", "array", "csv-fields", "csv-unknown", "csv-no-id", "csv-empty",
        "suffix"])
def test_a_tasks_file_that_cannot_be_read_says_where(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    code, out, err = tasks_run(capsys, lib, path, "--json")
    assert code == 1 and re.search(expected, err), err
    assert json.loads(out)["ok"] is False  # --json: the one document, on failure too
    assert fake_gemini.count == 0 and not (lib / "output").exists()


def test_a_row_whose_evidence_cannot_be_sent_refuses_the_file_before_any_call(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", [*SIX[:2], {"id": "bin", "task": "x",
                                                     "evidence": ["ev/core.bin"]}])
    (tmp_path / "t/ev/core.bin").write_bytes(b"\x00\x01")
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 1 and fake_gemini.count == 0 and not (lib / "output").exists()
    assert re.search(r'tasks\.jsonl:3: row "bin": evidence .*core\.bin: a binary file', err)


def test_a_failed_row_keeps_the_others_and_the_same_command_finishes_it(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    rule = fake_gemini.fail_when("Review case 4.", error(503, "UNAVAILABLE"))
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 3 and len(kept(lib)) == 5
    assert re.search(r"^r4 +failed", out, re.MULTILINE) and "r4 failed: " in out
    command = out.split("To finish, run the same command again:\n")[1].strip()
    assert command.endswith(f"--project many --tasks {tasks}")
    assert [r["status"] for r in results(lib)][3] == "failed"
    fake_gemini.clear_failures()
    asked = fake_gemini.count
    assert rule.hits >= 1
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0 and fake_gemini.count - asked == 1  # exactly the missing row
    assert "6 rows: 5 cached, 1 ran" in out


def test_rows_run_side_by_side_on_one_bounded_pool(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.latency = 0.3
    tasks = write_tasks(tmp_path / "t", SIX)
    code, _, err = tasks_run(capsys, lib, tasks, "--jobs", "3", "--samples", "2")
    assert code == 0, err
    assert fake_gemini.count == 12 and fake_gemini.max_concurrent == 3


def test_graded_rows_a_failing_one_exits_4_and_min_pass_rate_is_over_rows(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini, failing=("r2",))
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    code, out, err = tasks_run(capsys, lib, tasks, "--grade")
    assert code == 4, err
    assert sum(is_judge(r) for r in fake_gemini.requests) == 3
    assert re.search(r"^r2 +ran +FAIL", out, re.MULTILINE)
    assert "3 rows: 3 ran; graded: 2 pass, 1 fail" in out
    lines = results(lib)
    assert [r["verdict"] for r in lines] == ["PASS", "FAIL", "PASS"]
    assert lines[1]["scorecard"].endswith("/scorecard.json")
    assert "[FAIL](runs/" in (lib / "output/many/RESULTS.md").read_text()
    asked = fake_gemini.count
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--min-pass-rate", "0.6")
    assert code == 0 and fake_gemini.count == asked  # the scorecards are kept
    assert "pass rate 2/3 (67%): --min-pass-rate 0.6 met, exit 0" in err
    assert tasks_run(capsys, lib, tasks, "--grade", "--min-pass-rate", "0.7")[0] == 4
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "-q")
    assert code == 4 and out == "" and "RESULTS.md" in err


def test_samples_judges_and_a_hand_edited_answer_apply_per_row(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini)
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--samples", "2",
                               "--judges", "3")
    assert code == 0, err
    assert fake_gemini.count == 4 + 4 * 3
    assert re.search(r"^r1 +ran +PASS 2/2", out, re.MULTILINE)
    first = results(lib)[0]
    assert len(first["answers"]) == 2 and first["scorecard"].endswith("scorecard-3j.json")
    answer = lib / "output/many" / first["answer"]
    answer.write_text(answer.read_text() + "\nA person's note: the division by zero guard "
                      "is missing.\n")
    asked = fake_gemini.count
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--samples", "2",
                               "--judges", "3")
    assert code == 0, err
    assert fake_gemini.count - asked == 3  # only the edited answer is judged again
    assert answer.read_text().endswith("A person's note: the division by zero guard "
                                       "is missing.\n")  # kept, never remade
    assert "r1: answer edited by hand" in out and results(lib)[0]["edited"] is True


def test_a_dry_run_lists_what_each_row_would_make_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:3])
    code, out, err = tasks_run(capsys, lib, tasks, "--dry-run", "--grade", "--samples", "2")
    assert code == 0, err
    assert fake_gemini.count == 0 and not (lib / "output").exists()
    assert re.search(r"^r1 +would run", out, re.MULTILINE)
    assert "Estimate: 6 answers + 6 judgments to gemini-flash-latest" in out
    code, out, _ = tasks_run(capsys, lib, tasks, "--dry-run", "--json")
    document = json.loads(out)
    assert document["tasks"]["estimate"]["answers"] == 3
    assert [r["would_make"] for r in document["tasks"]["rows"]] == [
        {"answers": 1, "judgments": 0}] * 3


def test_json_is_one_document_with_every_row(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    code, out, err = tasks_run(capsys, lib, tasks, "--json")
    assert code == 0 and err == ""
    document = json.loads(out)
    assert document["exit_code"] == 0 and document["tasks"]["summary"] == {"rows": 2, "ran": 2}
    assert [r["id"] for r in document["tasks"]["rows"]] == ["r1", "r2"]
    assert all(len(r["run_ids"]) == 1 for r in document["tasks"]["rows"])


def test_the_table_fits_sixty_columns_with_a_long_id(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    long = "a-very-long-row-identifier-that-names-the-case-" + "x" * 17
    tasks = write_tasks(tmp_path / "t", [{"id": long, "task": "Review case 1."}])
    code, out, _ = tasks_run(capsys, lib, tasks)
    assert code == 0
    table = out.splitlines()[1:3]
    assert all(len(line) <= 60 for line in table) and "…" in table[1]
    assert long in (lib / "output/many/RESULTS.md").read_text()  # whole where it fits


@pytest.mark.parametrize(("extra", "expected"), [
    (("--task", "x"), "--tasks takes each row's task and evidence from the file, not --task"),
    (("--chain", "c.json"), "not --chain"),
    (("--refine", "2", "--samples", "2"), "--refine with --samples"),
    (("--junit", "j.xml", "--grade"), "--junit with --tasks: not supported yet"),
    (("--min-pass-rate", "0.5"), "--min-pass-rate reports grades: add --grade"),
    (("--no-generate",), "--tasks and --no-generate"),
])
def test_flags_that_do_not_fit_tasks_are_refused(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, extra: tuple[str, ...], expected: str) -> None:
    tasks = write_tasks(tmp_path / "t", SIX[:1])
    code, _, err = tasks_run(capsys, lib, tasks, *extra)
    assert code == 2 and expected in err and fake_gemini.count == 0


def test_a_budget_too_small_is_refused_before_any_call(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", SIX)
    code, _, err = tasks_run(capsys, lib, tasks, "--model", "gemini-2.5-flash",
                             "--budget", "0.0001")
    assert code == 1 and "--budget $0.0001: the estimate is" in err
    assert fake_gemini.count == 0 and not kept(lib)


def test_refine_runs_each_rows_loop_side_by_side(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini, failing=("r1",))
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--refine", "3")
    assert code == 0, out + err
    # r1: two attempts (the second refined), r2: one; each an answer and a judgment.
    assert fake_gemini.count == 6
    assert sum("<refinements>" in p for p in fake_gemini.prompts()) == 2  # answer and judge
    first = results(lib)[0]
    assert first["verdict"] == "PASS" and len(first["answers"]) == 2
    assert first["answer"] == first["answers"][1]  # the passing attempt, the refined one
    asked = fake_gemini.count
    code, out, err = tasks_run(capsys, lib, tasks, "--grade", "--refine", "3")
    assert code == 0 and fake_gemini.count == asked and "2 rows: 2 cached" in out


def test_refine_rows_are_estimated_at_their_worst_case_and_held_to_a_budget(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini, failing=("r1",))
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    flags = ("--grade", "--refine", "2", "--model", "gemini-2.5-flash")
    code, out, err = tasks_run(capsys, lib, tasks, *flags, "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)["tasks"]["estimate"]
    # 2 rows × at most 2 attempts × (1 answer + 1 judgment)
    assert (estimate["answers"], estimate["judgments"]) == (4, 4) and estimate["worst_case"]
    attempt = estimate["usd"] / 4
    # Below the rows' first attempts: refused whole, nothing sent.
    code, out, err = tasks_run(capsys, lib, tasks, *flags, "--budget", f"{attempt:.8f}")
    assert code == 1 and "2 answers + 2 judgments, estimated" in err
    assert fake_gemini.count == 0 and not kept(lib)
    # The first attempts fit, and a refined attempt on top of what they spent does too.
    code, out, err = tasks_run(capsys, lib, tasks, *flags, "--budget", f"{attempt * 3:.8f}")
    assert code == 0, out + err
    assert fake_gemini.count == 6 and results(lib)[0]["verdict"] == "PASS"


def test_rows_with_the_same_task_and_evidence_are_one_run_made_once(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    judged(fake_gemini)
    same = {"task": "Review case 1.", "evidence": ["ev/app.py"]}
    tasks = write_tasks(tmp_path / "t", [{"id": "a", **same}, {"id": "b", **same}])
    code, out, err = tasks_run(capsys, lib, tasks, "--grade")
    assert code == 0, err
    assert fake_gemini.count == 2 and "waiting" not in err  # one answer, one judgment
    first, second = results(lib)
    assert first["answer"] == second["answer"] and second["verdict"] == "PASS"


def test_what_an_evidence_walk_leaves_out_is_said_once(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    tasks = write_tasks(tmp_path / "t", [{"id": f"r{i}", "task": f"Review case {i}.",
                                          "evidence": ["ev"]} for i in (1, 2)])
    (tmp_path / "t/ev/core.bin").write_bytes(b"\x00\x01")
    code, out, err = tasks_run(capsys, lib, tasks)
    assert code == 0 and err.count("skipped binary file ev/core.bin") == 1
    assert all('<document name="ev/notes.md">' in p for p in fake_gemini.prompts())


def test_the_missing_work_is_listed_with_its_requests_and_a_reply_made_elsewhere_is_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    """The seam a batch job uses: what is missing, decided from the store with nothing
    sent; each request exactly what the interactive call sends; replies handed back."""
    from meta_prompting.core.build import BuildRequest, build_options
    from meta_prompting.core.context import Context, ModelChoice
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import load_library
    from meta_prompting.models.base import Reply
    from meta_prompting.runs.run import RunOptions, Settings, keep_answer
    from meta_prompting.tasks.plan import missing_work
    from meta_prompting.tasks.runner import TasksOptions, prepare_tasks
    from meta_prompting.tasks.taskfile import load_tasks

    judged(fake_gemini)
    path = write_tasks(tmp_path / "t", SIX[:3])
    assert tasks_run(capsys, lib, path, "-p", "interactive")[0] == 0  # the reference
    sent = {r.prompt: r.system for r in fake_gemini.requests}
    asked = fake_gemini.count

    def prepare() -> Any:
        library = load_library(lib)
        options = build_options(Context(lib, library, ModelChoice()),
                                BuildRequest("AUDIT", "many"))
        return prepare_tasks(library, "AUDIT", "many", load_tasks(path),
                             options, RunOptions(), Settings("gemini-flash-latest"),
                             TasksOptions(grading=GradeOptions()))

    prepared = prepare()
    work = missing_work(prepared.plans, prepared.grading)
    assert fake_gemini.count == asked  # deciding sends nothing
    answers = [w for w in work if w.need.kind == "answer"]
    assert len(answers) == 3 and len(work) == 6  # and three scorecards, to come after
    assert all(w.request is None for w in work if w.need.kind == "scorecard")
    for w in answers:
        assert w.request is not None and sent[w.request.user] == w.request.system
        keep_answer(w.plan.runs, w.plan.session, w.need.number, Reply(
            f"## Findings\nCase {w.plan.row.id[1:]}: the division by zero guard is "
            "missing.\n", "STOP", {"answer": 12}, "gemini-2.5-flash"), 1.5, RunOptions(),
            made_by={"batch": {"job": "batches/123"}})
    work = missing_work(prepare().plans, prepared.grading)
    assert [w.need.kind for w in work] == ["scorecard"] * 3
    assert all(w.request is not None and w.request.json_schema for w in work)
    code, out, err = tasks_run(capsys, lib, path, "--grade")
    assert code == 0, err
    assert fake_gemini.count - asked == 3  # the judges only: every answer was kept
    record = json.loads((lib / "output/many" / results(lib)[0]["answer"]).with_name(
        "run.json").read_text())
    assert record["batch"] == {"job": "batches/123"} and record["record"]["status"] == "made"


def test_a_429_across_rows_is_waited_out_once_with_fewer_calls_in_flight(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    from tests.fake_gemini import rate_limited

    fake_gemini.latency = 0.2  # long enough for calls in flight to overlap
    fake_gemini.fail_when(lambda rec: True, rate_limited(delay=1), times=6)
    tasks = write_tasks(tmp_path / "t", SIX)
    code, out, err = tasks_run(capsys, lib, tasks, "--jobs", "6")
    assert code == 0, out + err
    limited = [r for r in fake_gemini.requests if r.status == 429]
    answered = [r for r in fake_gemini.requests if r.status == 200]
    assert len(limited) == 6 and len(answered) == 6  # each row asked again once, no more
    # The rows share one model's limiter: nothing went out before the asked delay.
    assert min(r.start for r in answered) >= max(r.end or 0 for r in limited) + 1.0
    assert err.count("rate-limited: waiting 1 s, as the service asked; 3 calls at a time "
                     "now") == 1
    assert len(kept(lib)) == 6


def test_an_incomplete_toolkit_runs_no_row_and_says_the_command_that_finishes(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        tmp_path: Path) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items()
                                if not k.endswith("brief.md")})  # no key: not made
    tasks = write_tasks(tmp_path / "t", SIX[:2])
    code, out, err = tasks_run(capsys, root, tasks)
    assert code == 3
    assert f"then run again:\n  python orchestrator.py --root {root} --goal AUDIT --project " \
           f"many --tasks {tasks}\n" in out
    assert "Not run: the toolkit is incomplete" in out
    assert not (root / "output/many/runs").exists()
    code, out, err = tasks_run(capsys, root, tasks, "--json")
    rows = json.loads(out)["tasks"]["rows"]
    assert code == 3 and [r["status"] for r in rows] == ["not run", "not run"]
