"""Refine: what a cached --grade --refine loop costs over a cached --grade.

The fake Gemini server (in this process) answers every run with one fixed answer; its
judge fails the first criterion unless the request it judges carries a <refinements>
block, so `--grade --refine 3` makes two attempts and two scorecards, then passes.
Both commands are then run again with everything kept, paired round by round: the loop
walks two kept attempts (two run folders, two scorecards, the refinements derived
again from the first) where the grade walks one. Bar <= 1.5 (goal <= 1.2).
Correctness checks (exit 1 if wrong): 4 requests to make the loop (2 answers, 2
judges), 0 for every cached command.
Usage: python bench/refine.py [--quick] [--rounds N]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from common import Row, Table, command_line, finish, gen_env, median, ms, paired, parse_args, run
from runs import ANSWER, QUOTE, command, workspace

from tests.fake_gemini import KEEP, FakeGemini, RequestRecord, ok  # after common (sys.path)


def judge_learns(fake: FakeGemini) -> None:
    def shape(at: tuple[str | int, ...], _schema: dict[str, Any]) -> Any:
        judged = [r for r in fake.requests if r.response_schema is not None][-1]
        if at and at[-1] == "quotes":
            return [QUOTE]
        if at[-1:] == ("verdict",) and at[0] == "criteria":
            first = next(iter(judged.response_schema["properties"]["criteria"]["properties"]))
            return "FAIL" if at[1] == first and "<refinements>" not in judged.prompt else "PASS"
        if at == ("path_forward", "verdict"):
            return "YES"
        return KEEP

    def answer(rec: RequestRecord) -> Any:
        return None if rec.response_schema is not None else ok(ANSWER)

    fake.schema_overrides = shape
    fake.responder = answer


def cached(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    table = Table(f"Cached refine loop (2 attempts) against a cached grade (median of {rounds} "
                  "paired rounds)", command_line())
    work = workspace(tmp / "refine")
    env = gen_env(fake.base_url)
    judge_learns(fake)
    run(command("g", "--grade"), env, cwd=work, check=False, timeout=180)  # FAIL: exit 4
    fake.reset()
    made, code = run(command("r", "--grade", "--refine", "3"), env, cwd=work, timeout=180)
    loop_requests = fake.count
    fake.reset()
    commands = {
        "--grade, scorecard kept (exit 4)": command("g", "--grade"),
        "--grade --refine 3, 2 attempts kept": command("r", "--grade", "--refine", "3"),
        "--grade -q, scorecard kept (exit 4)": command("g", "--grade", "-q"),
        "--grade --refine 3 -q, 2 attempts kept": command("r", "--grade", "--refine", "3", "-q"),
    }
    tasks: dict[str, Callable[[], float]] = {
        name: partial(lambda c: run(c, env, cwd=work, check=False)[0], cmd)
        for name, cmd in commands.items()}
    got = paired(tasks, rounds, warmup=1)
    grade, loop, grade_q, loop_q = (got[name] for name in commands)
    for name, xs in got.items():
        table.rows.append(Row(name, ms(median(xs))))
    table.rows += [
        Row("cached refine loop / cached grade", "",
            median([lp / g for lp, g in zip(loop, grade, strict=True)]), 1.5, 1.2,
            note="(median of per-round ratios)"),
        Row("the same, both -q (no table drawn)", "",
            median([lp / g for lp, g in zip(loop_q, grade_q, strict=True)]), 1.5, 1.2,
            note="(median of per-round ratios)"),
        Row("requests to make the loop (must be 4)", str(loop_requests),
            check=loop_requests == 4),
        Row(f"requests in {rounds + 1} cached rounds (must be 0)", str(fake.count),
            check=fake.count == 0),
    ]
    table.notes.append("the grade draws its scorecard table with rich; the loop prints a "
                       "plain line per attempt: the -q rows compare the work alone")
    table.notes.append(f"the loop made once first ({made:.2f} s, exit {code}); both "
                       "commands build the AUDIT toolkit from the built-in library, the "
                       "grade's own project failing its scorecard like the loop's attempt 1")
    return table


def main() -> int:
    args = parse_args(__doc__)
    rounds = args.rounds or (5 if args.quick else 15)
    with FakeGemini() as fake, tempfile.TemporaryDirectory() as tmp:
        tables = [cached(fake, Path(tmp), rounds)]
    return finish(tables, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
