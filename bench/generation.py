"""Concurrent generation: how much a slow model adds to a build with many missing parts.

The fake Gemini server (in this process) answers each request after LATENCY seconds.
Figure: (build time with that latency - the same build with no latency) / LATENCY,
each pair run back to back on fresh copies of the library (so the parts are missing
again). One request after another would give N (8 for 8 parts); all at once gives 1.
Bar: <= 2.0 for 8 parts (goal <= 1.2). 32 parts are run with --jobs 32 and with the
default --jobs 8 (four waves of 8: ideal 4).
Usage: python bench/generation.py [--quick] [--rounds N]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
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
    missing_goal,
    parse_args,
    run,
    secs,
)

from tests.fake_gemini import FakeGemini  # after common: it puts the repo on sys.path

LATENCY = 1.5
# (label, missing parts, --jobs or None for the default, bar, goal)
CASES = [
    ("8 parts, default --jobs (8)", 8, None, 2.0, 1.2),
    ("32 parts, --jobs 32", 32, 32, None, None),
    ("32 parts, default --jobs (8)", 32, None, None, None),
]


def one_build(fake: FakeGemini, tmp: Path, n_parts: int, jobs: int | None,
              latency: float) -> tuple[float, int]:
    """Time one generating build on a fresh copy; return (seconds, peak requests at once)."""
    work = Path(tempfile.mkdtemp(dir=tmp))
    try:
        root = copy_library(work / "lib")
        missing_goal(root, "GEN", n_parts)
        fake.latency = latency
        fake.reset()
        cmd = [PY, ORCH, "--root", str(root), "-g", "GEN", "-p", "bench", "-q"]
        if jobs is not None:
            cmd += ["--jobs", str(jobs)]
        seconds, _ = run(cmd, gen_env(fake.base_url), timeout=120)
        if fake.count != n_parts:  # every part must have been asked for exactly once
            raise RuntimeError(f"{n_parts} missing parts but {fake.count} requests")
        return seconds, fake.max_concurrent
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(rounds: int) -> Table:
    table = Table(f"Concurrent generation, {LATENCY:g} s per request (median of {rounds} "
                  "paired rounds)", command_line())
    with tempfile.TemporaryDirectory() as tmp, FakeGemini() as fake:
        # Warm-up: the first run compiles google-genai's bytecode into the cache.
        one_build(fake, Path(tmp), 2, None, 0.0)
        times: dict[str, dict[float, list[float]]] = {c[0]: {0.0: [], LATENCY: []}
                                                      for c in CASES}
        added: dict[str, list[float]] = {c[0]: [] for c in CASES}
        peak: dict[str, int] = {c[0]: 0 for c in CASES}
        for r in range(rounds):
            for label, n, jobs, _, _ in CASES:
                # Alternate which of the pair goes first, so drift favours neither.
                order = (0.0, LATENCY) if r % 2 == 0 else (LATENCY, 0.0)
                got = {}
                for latency in order:
                    got[latency], concurrent = one_build(fake, Path(tmp), n, jobs, latency)
                    times[label][latency].append(got[latency])
                    if latency:
                        peak[label] = max(peak[label], concurrent)
                added[label].append((got[LATENCY] - got[0.0]) / LATENCY)
    for label, n, _, bar, goal in CASES:
        table.rows.append(Row(f"{label}: no latency", secs(median(times[label][0.0]))))
        table.rows.append(Row(f"{label}: {LATENCY:g} s latency",
                              secs(median(times[label][LATENCY]))))
        serial = f"one at a time: {n}"
        table.rows.append(Row(f"{label}: added / {LATENCY:g} s", "", median(added[label]), bar,
                              goal, note=f"({serial}; server saw up to {peak[label]} at once)"))
    table.notes.append("ratio = median over rounds of (t_latency - t_none) / latency; "
                       "each build on a fresh copy of the shipped library plus one goal "
                       "whose parts are all missing")
    return table


def main() -> int:
    args = parse_args(__doc__)
    rounds = args.rounds or (3 if args.quick else 7)
    return finish([measure(rounds)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
