"""Chains: four stages behind a slow model, and what a cached 50-stage chain costs.

The fake Gemini server (in this process) answers every stage after LATENCY seconds.
A. A 4-stage chain (three independent SIMULATE stages, then a SYNTHESIZE stage after
   all three), cold (a new project each time), behind a 1.5 s model: (time with that
   latency - the same command with none) / LATENCY, as in generation.py. Three side by
   side then one gives 2; one after another would give 4. Bar <= 3 (goal <= 2.2).
B. A 50-stage chain (10 roots, 40 stages each after one or two earlier ones) with every
   answer kept, against one plain build of one toolkit (`--goal SIMULATE --project
   plain`), paired round by round; the issue sets no bar, so a target of ours:
   bar <= 5 (goal <= 3). Info rows split the cost: the same chain with -q (no table,
   so no rich), with --jobs 1 (one worker thread), with both, and the cached 4-stage
   chain. Where the chain's time goes is profiled (cProfile in-process, worker threads
   included; -X importtime) and printed under the table.
Correctness checks (exit 1 if wrong): exactly 4 requests per cold 4-stage run, with 3
in flight at once behind the slow model; 0 requests for every cached chain.
Usage: python bench/chains.py [--quick] [--rounds N]
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from common import (
    ORCH,
    PY,
    Row,
    Table,
    command_line,
    copy_library,
    finish,
    gen_env,
    imported,
    median,
    ms,
    paired,
    parse_args,
    profile_top,
    run,
    secs,
)

from tests.fake_gemini import FakeGemini  # after common (sys.path)

LATENCY = 1.5
ROOTS, STAGES = 10, 50


def four_stages() -> dict[str, Any]:
    """Three independent focused stages, then a synthesis after all three."""
    stages: list[dict[str, Any]] = [
        {"name": n, "goal": "SIMULATE", "task": f"Simulate the {n} design.",
         "evidence": [f"ev/{n}.txt"]} for n in ("state", "retries", "recovery")]
    stages.append({"name": "synthesis", "goal": "SYNTHESIZE", "task": "Merge them.",
                   "after": ["state", "retries", "recovery"]})
    return {"description": "Three focused simulations and a synthesis", "stages": stages}


def fifty_stages() -> dict[str, Any]:
    """10 roots, then 40 stages: each after the stage ten before it, every other one also
    after the stage three before it (a synthesis of two). Depth 5, 60 edges."""
    stages: list[dict[str, Any]] = []
    for i in range(STAGES):
        after = [] if i < ROOTS else [f"s{i - ROOTS:02d}"]
        if i >= ROOTS and i % 2 == 0:
            after.append(f"s{i - 3:02d}")
        stage: dict[str, Any] = {"name": f"s{i:02d}",
                                 "goal": "SYNTHESIZE" if len(after) == 2 else "SIMULATE",
                                 "task": f"Stage {i}: simulate one focused design question.",
                                 "evidence": [f"ev/e{i % ROOTS}.txt"]}
        if after:
            stage["after"] = after
        stages.append(stage)
    return {"description": "Fifty stages", "stages": stages}


def workspace(dest: Path) -> Path:
    """A library copy, evidence and both chain files beside it; children run from `dest`."""
    copy_library(dest / "lib")
    (dest / "ev").mkdir()
    for name in ("state", "retries", "recovery", *(f"e{i}" for i in range(ROOTS))):
        (dest / "ev" / f"{name}.txt").write_text(f"Evidence for {name}: the nightly batch "
                                                 "loses its place after a 504.\n",
                                                 encoding="utf-8")
    for name, data in (("four.json", four_stages()), ("fifty.json", fifty_stages())):
        (dest / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return dest


def chain(name: str, project: str, *extra: str) -> list[str]:
    return [PY, ORCH, "--root", "lib", "--chain", name, "--project", project, *extra]


def four(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    """A: the cold 4-stage chain behind a slow model, against the same with none."""
    table = Table(f"Chain of 4 stages (3 side by side, then 1), {LATENCY:g} s per request "
                  f"(median of {rounds} paired rounds)", command_line())
    work = workspace(tmp / "four")
    env = gen_env(fake.base_url)
    fresh = itertools.count()
    counts: list[int] = []
    peaks: list[int] = []

    def trial(latency: float) -> float:
        project = f"c{next(fresh)}"  # a new project: no stage's answer is kept yet
        fake.latency = latency
        fake.reset()
        seconds, _ = run(chain("four.json", project), env, cwd=work, timeout=180)
        counts.append(fake.count)
        if latency:
            peaks.append(fake.max_concurrent)
        return seconds

    got = paired({"4 stages, no latency": lambda: trial(0.0),
                  f"4 stages, {LATENCY:g} s latency": lambda: trial(LATENCY)},
                 rounds, warmup=1)  # the warm-up compiles google-genai's bytecode
    none, slow = got.values()
    added = [(s - n) / LATENCY for s, n in zip(slow, none, strict=True)]
    table.rows += [
        *(Row(name, secs(median(xs))) for name, xs in got.items()),
        Row(f"4 stages: added / {LATENCY:g} s", "", median(added), 3.0, 2.2,
            note=f"(3 side by side, then 1: 2; one after another: 4; server saw up to "
                 f"{max(peaks)} at once)"),
        Row("requests per cold run (must be 4)", f"{sorted(set(counts))} in {len(counts)} runs",
            check=set(counts) == {4}),
        Row(f"peak in flight, {LATENCY:g} s latency (must be 3)",
            f"{sorted(set(peaks))} in {len(peaks)} runs", check=set(peaks) == {3}),
    ]
    table.notes.append("added = median over rounds of (t_latency - t_none) / latency; every "
                       "run a new project in one library copy (builds 4 toolkits, then runs "
                       "the stages); default --jobs (8)")
    return table


def imports_top(cmd: list[str], env: dict[str, str], cwd: Path, top: int = 8) -> list[str]:
    """The slowest imports made by the script itself (-X importtime, cumulative)."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, cwd=cwd, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    rows = []
    for line in proc.stderr.splitlines():
        cells = line.removeprefix("import time:").split("|")
        # Top level only: a nested import is indented by two blanks a level.
        if len(cells) == 3 and cells[1].strip().isdigit() and not cells[2].startswith("  "):
            rows.append((int(cells[1]), cells[2].strip()))
    return [f"import {name}: {us / 1000:.1f} ms cumulative (-X importtime)"
            for us, name in sorted(rows, reverse=True)[:top]]


def cached(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    """B: the 50-stage chain with every answer kept, against a plain build of one toolkit."""
    table = Table(f"Cached chain of {STAGES} stages, ratio to a plain build (median of "
                  f"{rounds} paired rounds)", command_line())
    work = workspace(tmp / "cached")
    env = gen_env(fake.base_url)
    fake.latency = 0.0
    fake.reset()
    run(chain("fifty.json", "x"), env, cwd=work, timeout=300)  # keep every answer
    run(chain("four.json", "x4"), env, cwd=work, timeout=180)
    made = fake.count
    fake.latency = LATENCY  # an unexpected call would also show in the times
    fake.reset()
    big = f"chain of {STAGES} stages, all kept"
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        "plain build SIMULATE": [PY, ORCH, "--root", "lib", "-g", "SIMULATE", "-p", "plain"],
        "chain of 4 stages, all kept (info)": chain("four.json", "x4"),
        "chain of 4 stages, all kept, -q (info)": chain("four.json", "x4", "-q"),
        big: chain("fifty.json", "x"),
        f"{big}, -q (info)": chain("fifty.json", "x", "-q"),
        f"{big}, --jobs 1 (info)": chain("fifty.json", "x", "--jobs", "1"),
        f"{big}, -q --jobs 1 (info)": chain("fifty.json", "x", "-q", "--jobs", "1"),
    }
    tasks: dict[str, Callable[[], float]] = {
        name: partial(lambda c: run(c, env, cwd=work)[0], cmd) for name, cmd in commands.items()}
    got = paired(tasks, rounds, warmup=2)
    requests = fake.count
    bare = median(got["python -c pass"])
    build = got["plain build SIMULATE"]
    for name, xs in got.items():
        table.rows.append(Row(name, ms(median(xs)), median(xs) / bare,
                              note="(ratio to python -c pass)"))
    for name, xs in got.items():
        if name not in ("python -c pass", "plain build SIMULATE"):
            info = "(info)" in name
            table.rows.append(Row(f"{name.replace(' (info)', '')} / plain build", "",
                                  median([c / b for c, b in zip(xs, build, strict=True)]),
                                  None if info else 5.0, None if info else 3.0,
                                  note="(median of per-round ratios)"))
    def diff(a: str, b: str) -> str:  # median of per-round differences
        return ms(median([x - y for x, y in zip(got[a], got[b], strict=True)]))

    table.rows += [
        Row("each stage past the 4th, -q (info)", ms(median(
            [(b - s) / (STAGES - 4) for b, s in zip(got[f"{big}, -q (info)"],
                                                    got["chain of 4 stages, all kept, -q (info)"],
                                                    strict=True)])),
            note=f"((chain of {STAGES} - chain of 4, both -q) / {STAGES - 4}; default --jobs)"),
        Row("the table (info)", diff(big, f"{big}, -q (info)"),
            note=f"(chain of {STAGES} - the same with -q: rich's import and one print a line)"),
        Row("8 worker threads instead of 1, -q (info)",
            diff(f"{big}, -q (info)", f"{big}, -q --jobs 1 (info)"),
            note="(default --jobs - --jobs 1, both -q)"),
        Row(f"requests made to keep the answers (must be {STAGES + 4})", str(made),
            check=made == STAGES + 4),
        Row(f"requests in {rounds + 2} cached rounds (must be 0)", str(requests),
            check=requests == 0),
    ]
    for name in ("plain build SIMULATE", big, f"{big}, -q (info)"):
        mods = imported(commands[name], env, work)
        table.rows.append(Row(f"{name.replace(' (info)', '')}: imports google.genai? "
                              "(must not)", "yes" if "google.genai" in mods else "no",
                              check=None if "plain" in name else "google.genai" not in mods,
                              note=f"(heavy modules imported: {', '.join(mods) or 'none'})"))
    table.notes += [
        f"one library copy; project x holds the {STAGES}-stage chain's answers, x4 the "
        "4-stage chain's, plain the SIMULATE toolkit built without a task; stdout to "
        "/dev/null, not a terminal",
        f"the {STAGES}-stage chain: {ROOTS} roots; stage i >= {ROOTS} after stage i-{ROOTS}, "
        "and even ones also after stage i-3 (those are SYNTHESIZE, the rest SIMULATE)",
        f"where a cached {STAGES}-stage chain's time goes (--jobs 1, so one worker thread; "
        "the main thread's wait for it is in run_chain and schedule):",
        *(f"  {line}" for line in profile_top(
            chain("fifty.json", "x", "--jobs", "1")[1:], env, top=20, cwd=work)),
        *(f"  {line}" for line in imports_top(chain("fifty.json", "x"), env, work)),
    ]
    if fake.count != requests:
        table.rows.append(Row("requests while profiling (must be 0)",
                              str(fake.count - requests), check=False))
    return table


def main() -> int:
    args = parse_args(__doc__)
    quick = args.quick
    with tempfile.TemporaryDirectory() as tmp, FakeGemini() as fake:
        tables = [four(fake, Path(tmp), args.rounds or (3 if quick else 7)),
                  cached(fake, Path(tmp), args.rounds or (7 if quick else 15))]
    return finish(tables, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
