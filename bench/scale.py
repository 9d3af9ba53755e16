"""Scale: a library of 2,000 goals and 6,000 parts (~1-2 KB each), generated in a temp dir.

It is the shipped library plus generated goals and parts, so the very same build
(AUDIT, same parts) can be timed in both: a build should not do work proportional to
the whole library beyond reading the map. Bar: that ratio <= 1.5. `--check` and
`--list --json` (which must look at everything) are reported against bare Python.
Usage: python bench/scale.py [--quick] [--rounds N]
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import tempfile
from pathlib import Path

from common import (
    ORCH,
    PY,
    Row,
    Table,
    base_env,
    command_line,
    copy_library,
    finish,
    median,
    ms,
    paired,
    parse_args,
    profile_top,
    run,
)

GOALS, PARTS = 2000, 6000
WORDS = ["evidence", "claim", "defect", "review", "finding", "severity", "test", "boundary",
         "input", "output", "state", "contract", "invariant", "failure", "regression", "cause",
         "fix", "reader", "audience", "step", "verdict", "assumption", "constraint", "risk",
         "trade-off", "latency", "budget", "owner", "rollback", "migration", "schema",
         "interface", "caller", "module", "ticket", "log", "trace", "metric", "alert"]


def text(rng: random.Random) -> str:
    """1-2 KB of prose-like lines, the size of a real part."""
    size = rng.randint(1000, 2000)
    lines: list[str] = []
    while sum(len(x) + 1 for x in lines) < size:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))).capitalize()
                     + ".")
    return "\n".join(lines) + "\n"


def make_library(root: Path) -> tuple[int, int]:
    """The shipped library plus generated goals and parts, up to GOALS and PARTS."""
    copy_library(root)
    comps = root / "components"
    goal_map = json.loads((root / "goal_map.json").read_text(encoding="utf-8"))
    have = sum(1 for p in comps.rglob("*") if p.is_file())
    rng = random.Random(2000)
    # Constraints are the most numerous kind in a real library: 1:1:4.
    extra = PARTS - have
    personas = [f"persona_{i:04d}.txt" for i in range(extra // 6)]
    protocols = [f"protocol_{i:04d}.txt" for i in range(extra // 6)]
    constraints = [f"rule_{i:04d}.txt" for i in range(extra - len(personas) - len(protocols))]
    for folder, names in (("personas", personas), ("protocols", protocols),
                          ("constraints", constraints)):
        for name in names:
            (comps / folder / name).write_text(text(rng), encoding="utf-8")
    # Every generated part used at least once (--check warns about unused ones).
    rules = itertools.cycle(constraints)
    for i in range(GOALS - len(goal_map)):
        goal_map[f"GOAL_{i:04d}"] = {
            "description": f"Generated goal {i}: " + " ".join(rng.choices(WORDS, k=10)),
            "persona": personas[i % len(personas)],
            "protocol": protocols[i % len(protocols)],
            "constraints": [next(rules) for _ in range(3)],
        }
    (root / "goal_map.json").write_text(json.dumps(goal_map, indent=2) + "\n", encoding="utf-8")
    count = sum(1 for p in comps.rglob("*") if p.is_file())
    return len(goal_map), count


def measure(rounds: int) -> Table:
    env = base_env()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        goals, parts = make_library(big)
        small = copy_library(Path(tmp) / "shipped")
        size_kib = (big / "goal_map.json").stat().st_size / 1024
        n = itertools.count()

        def build(root: Path) -> float:
            # A first build of a new project each time: the whole job, writes included.
            return run([PY, ORCH, "--root", str(root), "-g", "AUDIT", "-p", f"p{next(n)}",
                        "-q"], env)[0]

        tasks = {
            "python -c pass": lambda: run([PY, "-c", "pass"], env)[0],
            "--check": lambda: run([PY, ORCH, "--root", str(big), "--check", "-q"], env)[0],
            "--list --json": lambda: run([PY, ORCH, "--root", str(big), "--list", "--json"],
                                         env)[0],
            "build AUDIT, big library": lambda: build(big),
            "build AUDIT, shipped library": lambda: build(small),
        }
        samples = paired(tasks, rounds, warmup=1)
        # Which of the product's functions a build in the big library spends its time in.
        profile = profile_top([ORCH, "--root", str(big), "-g", "AUDIT", "-p", "prof", "-q"],
                              env)
        # For information: --list as text, a few runs only (it takes seconds here).
        text_list = [run([PY, ORCH, "--root", str(big), "--list"], env)[0]
                     for _ in range(3 if rounds > 5 else 1)]
    base = median(samples["python -c pass"])
    m = {k: median(v) for k, v in samples.items()}
    table = Table(f"Scale: {goals:,} goals, {parts:,} parts, goal_map.json {size_kib:.0f} KiB "
                  f"(median of {rounds} paired rounds)", command_line())
    table.rows += [Row(name, ms(m[name]), m[name] / base, note="(ratio to python -c pass)")
                   for name in ("python -c pass", "--check", "--list --json",
                                "build AUDIT, big library", "build AUDIT, shipped library")]
    table.rows.append(Row(f"--list, as text (info, {len(text_list)} runs)", ms(median(text_list)),
                          median(text_list) / base, note="(ratio to python -c pass)"))
    big_t, small_t = samples["build AUDIT, big library"], samples["build AUDIT, shipped library"]
    ratios = [a / b for a, b in zip(big_t, small_t, strict=True)]  # paired: same round
    table.rows.append(Row("build: big / shipped library", "", median(ratios), 1.5,
                          note=f"(median of per-round ratios; ratio of medians "
                               f"{median(big_t) / median(small_t):.2f})"))
    extra = ms(median(big_t) - median(small_t))
    table.notes.append(f"a build in the big library costs {extra} more; where its time goes:")
    table.notes += [f"  {line}" for line in profile]
    table.notes.append("the big library is the shipped one plus generated goals and 1-2 KB "
                       "parts (1:1:4 personas:protocols:constraints), all in a temp dir")
    return table


def main() -> int:
    args = parse_args(__doc__)
    rounds = args.rounds or (5 if args.quick else 15)
    return finish([measure(rounds)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
