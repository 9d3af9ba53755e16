"""Contention: 8 processes build the same goal, with one part missing, at the same moment.

The part's lock must make them share one model call: exactly 1 request per round, and
every process exits 0 with a complete toolkit. All 8 write the same project folder
(the harder case: their toolkit writes race too). Wall time (first start to last exit)
is reported against a single build of the same thing, paired round by round.
Usage: python bench/contention.py [--quick] [--rounds N] [--procs N]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
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
    median,
    parse_args,
    secs,
    withheld,
    withhold,
)

from tests.fake_gemini import FakeGemini  # after common: it puts the repo on sys.path

LATENCY = 1.5
WITHHELD = "protocols/root_cause_analysis_drilldown.txt"  # one of DEBUG's parts
MISSING = withheld(WITHHELD)


def fresh_library(tmp: Path) -> Path:
    root = copy_library(Path(tempfile.mkdtemp(dir=tmp)) / "lib")
    withhold(root, [WITHHELD])
    return root


def build_at_once(fake: FakeGemini, tmp: Path, procs: int) -> tuple[float, list[int], int,
                                                                     list[str]]:
    """Start `procs` builds together; return wall time, exit codes, requests, problems."""
    root = fresh_library(tmp)
    goal_map = (root / "goal_map.json").read_bytes()
    fake.reset()
    env = gen_env(fake.base_url)
    cmd = [PY, ORCH, "--root", str(root), "-g", "DEBUG", "-p", "shared", "-q"]
    start = time.perf_counter()
    children = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE) for _ in range(procs)]
    errors = [c.communicate(timeout=180)[1] for c in children]
    wall = time.perf_counter() - start
    codes = [c.returncode for c in children]
    problems = [e.decode(errors="replace").strip()[-300:]
                for e, c in zip(errors, codes, strict=True) if c]
    template = root / "output" / "shared" / "01_PROMPT_TEMPLATE.md"
    if not template.exists() or "MISSING PART" in template.read_text():
        problems.append("the shared toolkit is missing or incomplete")
    if (root / "goal_map.json").read_bytes() != goal_map:
        problems.append("goal_map.json changed")
    shutil.rmtree(root.parent, ignore_errors=True)
    return wall, codes, fake.count, problems


def measure(rounds: int, procs: int) -> Table:
    table = Table(f"Contention: {procs} processes, 1 missing part, {LATENCY:g} s per request "
                  f"(median of {rounds} paired rounds)", command_line())
    single: list[float] = []
    crowd: list[float] = []
    requests: list[int] = []
    codes: list[int] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(latency=LATENCY) as fake:
        build_at_once(fake, Path(tmp), 1)  # warm the bytecode cache
        for r in range(rounds):
            for n in ((1, procs) if r % 2 == 0 else (procs, 1)):
                wall, got_codes, got_requests, got_problems = build_at_once(fake, Path(tmp), n)
                (crowd if n == procs else single).append(wall)
                if n == procs:
                    requests.append(got_requests)
                    codes += got_codes
                problems += got_problems
    table.rows += [
        Row("1 build alone (wall)", secs(median(single))),
        Row(f"{procs} builds at once (wall)", secs(median(crowd)), median(crowd) / median(single),
            note="(ratio to 1 build alone)"),
        Row("model requests per round (must be 1)", ", ".join(map(str, requests)),
            check=all(x == 1 for x in requests)),
        Row(f"exit codes 0 ({len(codes)} processes)", f"{codes.count(0)}/{len(codes)}",
            check=all(c == 0 for c in codes)),
        Row("complete toolkit, map untouched", f"{len(problems)} problems", check=not problems),
    ]
    table.notes += [f"problem: {p}" for p in problems[:5]]
    table.notes.append(f"every process builds --goal DEBUG --project shared into one fresh "
                       f"library copy missing {MISSING}")
    return table


def main() -> int:
    args = parse_args(__doc__, lambda p: p.add_argument("--procs", type=int, default=8))
    rounds = args.rounds or (2 if args.quick else 5)
    return finish([measure(rounds, args.procs)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
