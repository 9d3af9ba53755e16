"""--tasks FILE: what re-running a thousand kept rows costs, against one kept --run.

The fake Gemini server (in this process, no latency) answers every row and passes
every judge, once, before timing. Then, paired round by round:
  baseline   `--run` of one task with its answer kept (one row's worth of work, plus
             start-up: the cheapest command that reads a kept answer)
  N rows     `--tasks` over N rows, every answer kept
  N graded   `--tasks --grade` over N rows, every answer and scorecard kept
each with stdout to /dev/null. The figure is time per hundred rows,
(t_rows - t_baseline) / (N / 100): what the rows add over start-up. Bar: well under a
second per hundred rows (<= 0.5 s, goal <= 0.2 s).
Correctness checks (exit 1 if wrong): N requests to make N rows, none on any re-run.
Usage: python bench/tasks.py [--quick] [--rounds N] [--rows N]
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import (
    ORCH,
    PY,
    Row,
    Table,
    command_line,
    copy_library,
    finish,
    gen_env,
    machine,
    median,
    ms,
    paired,
    parse_args,
    profile_top,
    run,
)

from tests.fake_gemini import FakeGemini, Reply, RequestRecord, ok  # after common (sys.path)

ANSWER = ("## Findings\n\n1. Division by zero on an empty list: `average([])` raises "
          "ZeroDivisionError.\n\n## Fix\n\nReturn None for an empty list, or raise a "
          "ValueError that names the input.\n")
MODULES = 10  # evidence files, shared by the rows as real task lists share them


def answer_runs(rec: RequestRecord) -> Reply | None:
    # Judges (schema requests) fall through to the schema instance, quoting the answer.
    return None if rec.response_schema is not None else ok(ANSWER)


def workspace(dest: Path, rows: int) -> Path:
    """A library copy, evidence and a tasks file of `rows` rows beside it."""
    copy_library(dest / "lib")
    folder = dest / "t"
    (folder / "src").mkdir(parents=True)
    for i in range(MODULES):
        (folder / "src" / f"m{i}.py").write_text(
            f"def average_{i}(values):\n    return sum(values) / len(values) + {i}\n")
    with open(folder / "tasks.jsonl", "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"id": f"row-{i:04d}", "task": f"Review module {i % MODULES} "
                                f"for defects, case {i}.",
                                "evidence": [f"src/m{i % MODULES}.py"]}) + "\n")
    return dest


def tasks_command(project: str, *extra: str) -> list[str]:
    return [PY, ORCH, "--root", "lib", "-g", "AUDIT", "-p", project, "--tasks",
            "t/tasks.jsonl", *extra]


# The first row as a single --run, from the tasks file's folder: the same run as row 0.
SINGLE = [PY, ORCH, "--root", "../lib", "-g", "AUDIT", "-p", "rows", "--task",
          "Review module 0 for defects, case 0.", "--evidence", "src/m0.py", "--run"]


def rerun(fake: FakeGemini, tmp: Path, rows: int, rounds: int) -> Table:
    table = Table(f"--tasks re-run, {rows:,} rows kept (median of {rounds} paired rounds)",
                  command_line())
    work = workspace(tmp / "tasks", rows)
    env = gen_env(fake.base_url)
    made: dict[str, int] = {}
    for project, extra in (("rows", ()), ("graded", ("--grade",))):
        fake.reset()
        run(tasks_command(project, "--jobs", "32", *extra), env, cwd=work, timeout=900)
        made[project] = fake.count
    fake.reset()
    commands: dict[str, tuple[list[str], Path]] = {
        "baseline: --run, answer kept": (SINGLE, work / "t"),
        f"--tasks, {rows:,} rows kept": (tasks_command("rows"), work),
        f"--tasks --grade, {rows:,} rows and scorecards kept": (
            tasks_command("graded", "--grade"), work),
        f"--tasks -q, {rows:,} rows kept (info)": (tasks_command("rows", "-q"), work),
    }
    timed: dict[str, Callable[[], float]] = {
        name: partial(lambda c, d: run(c, env, cwd=d)[0], cmd, cwd)
        for name, (cmd, cwd) in commands.items()}
    got = paired(timed, rounds, warmup=1)
    requests = fake.count
    base = got["baseline: --run, answer kept"]
    for name, xs in got.items():
        table.rows.append(Row(name, ms(median(xs)), median(xs) / median(base),
                              note="(ratio to the baseline)"))
    hundreds = rows / 100
    for name in list(got)[1:3]:
        per = [(t - b) / hundreds for t, b in zip(got[name], base, strict=True)]
        table.rows.append(Row(f"{name.split(',')[0]}: added per 100 rows", ms(median(per)),
                              median(per), 0.5, 0.2, note="(seconds per 100 rows)"))
    table.rows += [
        Row(f"requests to make {rows:,} rows (must be {rows:,})", str(made["rows"]),
            check=made["rows"] == rows),
        Row(f"requests to make and grade {rows:,} rows (must be {2 * rows:,})",
            str(made["graded"]), check=made["graded"] == 2 * rows),
        Row(f"requests in {rounds + 1} rounds of re-runs (must be 0)", str(requests),
            check=requests == 0),
    ]
    table.notes.append(f"{machine()}; one library copy; {rows:,} rows over {MODULES} shared "
                       "evidence files; the baseline is row 0 as a single --run from the "
                       "tasks file's folder, which is the same run (it is kept)")
    wrappers = ("cli.py:", "face.py:", "costs.py:held_to", "<lambda>", "runner.py:run_tasks")
    lines = profile_top([ORCH, *tasks_command("graded", "--grade", "-q")[2:]], env,
                        cwd=work, top=16)
    for line in [x for x in lines if not x.startswith(wrappers)][:6]:
        table.notes.append(f"profile of the graded re-run: {line}")
    return table


def main() -> int:
    args = parse_args(__doc__, lambda p: p.add_argument("--rows", type=int,
                                                         help="rows (default 1000)"))
    rows = args.rows or (200 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(responder=answer_runs) as fake:
        tables = [rerun(fake, Path(tmp), rows, rounds)]
    return finish(tables, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
