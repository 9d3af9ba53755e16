"""Resume under stress: real runs killed with SIGKILL at many moments, then run again.

Six groups, in turns of 25 trials so that a run stopped early has covered them all:
the chain (three independent stages, the first graded, then a synthesis),
`--samples 4 --grade` and a `--grade --refine 3` loop (two attempts, the first failing
its scorecard), each without and with busy-loop processes on the CPUs. Each
group kills at every named moment (tests/crashpoint.py, and `request:N` from the fake),
then at times drawn uniformly over an uninterrupted run's measured length. Every trial
is checked (tests/resume_stress.py says how) and logged as a JSON line; a failure is
replayed with --replay LOG --trial N.

Usage: python bench/resume_stress.py [--quick] [--trials N] [--seed S] [--latency S]
       [--load N] [--log PATH] [--scenarios chain,samples,refine]
       | --replay LOG [--trial N] | --summary LOG
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import Row, Table, command_line, finish, parse_args, secs

from tests import resume_stress as rs  # after common: it puts the repo on sys.path

TURN = 25


def summarise(records: list[dict[str, Any]], table: Table) -> int:
    failures = [r for r in records if r["problems"]]
    landed: Counter[str] = Counter(r["landed"] for r in records)
    hooks = {r["hook"] for r in records if r["hook"]}
    late = sum(r["late"] for r in records)
    for scenario in ("chain", "samples", "refine"):
        for load in sorted({r["load"] for r in records}):
            group = [r for r in records if r["scenario"] == scenario and r["load"] == load]
            if group:
                bad = sum(bool(r["problems"]) for r in group)
                table.rows.append(Row(f"{scenario}, {load} busy CPU(s): trials", str(len(group)),
                                      note=f"{bad} failed"))
    table.rows.append(Row("named moments hit", str(len(hooks))))
    table.rows.append(Row("distinct states a kill left", str(len(landed)),
                          note="(requests sent, results kept, half-done files)"))
    table.rows.append(Row("killed run's requests recorded after it was reaped", str(late),
                          note="(what a count started when the fake looked idle would "
                               "have charged to the re-run)"))
    table.rows.append(Row("trials with a rule broken (must be 0)", str(len(failures)),
                          check=not failures))
    for where, n in landed.most_common(12):
        table.notes.append(f"{n:4d} x {where}")
    table.notes += [f"FAILED trial {r['trial']} ({r['scenario']}, {r['hook'] or r['kill_at']}): "
                    f"{'; '.join(r['problems'])}" for r in failures[:10]]
    return len(failures)


def main() -> int:
    args = parse_args(__doc__, lambda p: (
        p.add_argument("--trials", type=int), p.add_argument("--seed", type=int, default=1),
        p.add_argument("--latency", type=float, default=0.2),
        p.add_argument("--load", type=int, default=2, help="busy loops in the loaded groups"),
        p.add_argument("--log", help="the JSONL trial log (default: a temp file)"),
        p.add_argument("--scenarios", default="chain,samples,refine",
                       help="comma-separated: chain, samples, refine"),
        p.add_argument("--replay", metavar="LOG"), p.add_argument("--trial", type=int),
        p.add_argument("--summary", metavar="LOG")))
    work = Path(tempfile.mkdtemp(prefix="mp-resume-stress-"))
    table = Table("Resume under stress: SIGKILL at a moment, settle, re-run", command_line())
    if args.summary:
        summarise([json.loads(line) for line in Path(args.summary).read_text().splitlines()],
                  table)
        return finish([table], args.json_out)
    if args.replay:
        records = [json.loads(line) for line in Path(args.replay).read_text().splitlines()]
        specs = [rs.Spec.from_dict(r) for r in records
                 if args.trial is None or r["trial"] == args.trial]
        outcomes = rs.run_batch(specs, work, workers=1)
        for o in outcomes:
            print(json.dumps(o.to_dict()), flush=True)
        summarise([o.to_dict() for o in outcomes], table)
        return finish([table], args.json_out)
    n = args.trials or (40 if args.quick else 1000)
    log = Path(args.log) if args.log else work / "trials.jsonl"
    print(f"logging to {log}", flush=True)
    start = time.monotonic()
    pycache = str(work / "pyc")
    groups = [(s, load) for s in args.scenarios.split(",") for load in (0, args.load)]
    spans = {g: rs.calibrate(g[0], work, args.latency, pycache, g[1], runs=3) for g in groups}
    plans = {}
    for i, (scenario, load) in enumerate(groups):
        size = n // len(groups) + (i < n % len(groups))
        plans[scenario, load] = rs.plan(scenario, size, args.seed, load, args.latency,
                                        spans[scenario, load], first=i * 100_000)
    outcomes: list[rs.Outcome] = []
    while any(plans.values()):
        for g in groups:
            turn, plans[g] = plans[g][:TURN], plans[g][TURN:]
            if turn:
                outcomes += rs.run_batch(turn, work, workers=1, log=log, pycache=pycache)
                print(f"{len(outcomes)}/{n} trials, {sum(not o.ok for o in outcomes)} failed, "
                      f"{time.monotonic() - start:.0f} s", flush=True)
    summarise([o.to_dict() for o in outcomes], table)
    table.notes.append(f"seed {args.seed}; model latency {args.latency:g} s; kill spans "
                       + ", ".join(f"{s}/{load} busy {secs(v)}" for (s, load), v in spans.items())
                       + f"; {time.monotonic() - start:.0f} s in all; log {log}")
    return finish([table], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
