"""Runs and grades: samples and judges behind a slow model, and what the cached paths cost.

The fake Gemini server (in this process) answers every run with one fixed answer and
every judge with a passing scorecard that quotes it, after LATENCY seconds.
A. `--run --samples 8` (default --jobs 8) behind a 1.5 s model: (time with that
   latency - the same command with none) / LATENCY, as in generation.py; one at a
   time would give 8, all at once 1. Bar <= 2 (goal <= 1.2).
B. `--run` with its answer kept and `--grade` with its scorecard kept, against a plain
   build of the same toolkit (no task), paired round by round. Neither may make a
   request or import google-genai (checked). Bar <= 2 (goal <= 1.5).
C. `--grade --judges 3` against `--judges 1`, both behind a 1.5 s model, each on a fresh
   copy of one kept answer. One judge after another would add 2 x LATENCY (a ratio
   near 2.4 here). Bar <= 1.5 (goal <= 1.2).
Correctness checks (exit 1 if wrong): exactly 8 requests and 8 answers per 8-sample
run, 1 per single run, 0 for every cached command, K per grade with K judges.
Usage: python bench/runs.py [--quick] [--rounds N]
"""

from __future__ import annotations

import itertools
import shutil
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
    imported,
    median,
    ms,
    paired,
    parse_args,
    run,
    secs,
)

from tests.fake_gemini import FakeGemini, Reply, RequestRecord, ok  # after common (sys.path)

LATENCY = 1.5
TASK = "Review the retry loop in the evidence for defects and rank them."
EVIDENCE = "def fetch(url):\n    while True:\n        try:\n            return get(url)\n" \
           "        except Timeout:\n            pass\n"
ANSWER = ("## Findings\n\n1. The retry loop never gives up: a dead host hangs the caller "
          "forever.\n2. Timeouts are swallowed without a log line.\n\n## Fix\n\nBound the "
          "retries, back off exponentially and log each failure.\n")
QUOTE = "a dead host hangs the caller forever"  # in ANSWER: every verdict is supported


def answer_runs(rec: RequestRecord) -> Reply | None:
    # Judges (schema requests) fall through to the schema instance, quoting the answer.
    return None if rec.response_schema is not None else ok(ANSWER)


def workspace(dest: Path) -> Path:
    """A library copy and an evidence file beside it; children run from `dest`, so the
    evidence's path in the prompt (and so every run id) is the same in every copy."""
    copy_library(dest / "lib")
    (dest / "evidence.txt").write_text(EVIDENCE, encoding="utf-8")
    return dest


def command(project: str, *extra: str) -> list[str]:
    return [PY, ORCH, "--root", "lib", "-g", "AUDIT", "-p", project, "--task", TASK,
            "--evidence", "evidence.txt", *extra]


def answers(work: Path, project: str) -> int:
    return sum(1 for _ in (work / "lib" / "output" / project / "runs").glob("*/answer.md"))


def samples(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    """A: eight samples behind a slow model, against the same with none, and one sample."""
    table = Table(f"Samples: --run --samples 8, {LATENCY:g} s per request (median of {rounds} "
                  "paired rounds)", command_line())
    work = workspace(tmp / "samples")
    env = gen_env(fake.base_url)
    fresh = itertools.count()
    counts: dict[str, list[int]] = {"8": [], "1": []}
    kept: list[int] = []
    peak = 0

    def trial(n: int, latency: float) -> float:
        nonlocal peak
        project = f"s{next(fresh)}"  # a new project: no answer is kept yet
        fake.latency = latency
        fake.reset()
        seconds, _ = run(command(project, "--samples", str(n)), env, cwd=work, timeout=180)
        counts[str(n)].append(fake.count)
        if n == 8:
            kept.append(answers(work, project))
            peak = max(peak, fake.max_concurrent) if latency else peak
        return seconds

    tasks: dict[str, Callable[[], float]] = {
        "8 samples, no latency": lambda: trial(8, 0.0),
        f"8 samples, {LATENCY:g} s latency": lambda: trial(8, LATENCY),
        f"1 sample, {LATENCY:g} s latency": lambda: trial(1, LATENCY),
    }
    got = paired(tasks, rounds, warmup=1)  # the warm-up compiles google-genai's bytecode
    none, slow, one = (got[name] for name in tasks)
    added = [(s - n) / LATENCY for s, n in zip(slow, none, strict=True)]
    table.rows += [
        *(Row(name, secs(median(xs))) for name, xs in got.items()),
        Row(f"8 samples: added / {LATENCY:g} s", "", median(added), 2.0, 1.2,
            note=f"(one at a time: 8; server saw up to {peak} at once)"),
        Row(f"8 samples / 1 sample, both {LATENCY:g} s (info)", "",
            median([s / o for s, o in zip(slow, one, strict=True)])),
        Row("requests per 8-sample run (must be 8)", f"{sorted(set(counts['8']))} "
            f"in {len(counts['8'])} runs", check=set(counts["8"]) == {8}),
        Row("answers kept per 8-sample run (must be 8)",
            f"{sorted(set(kept))} in {len(kept)} runs",
            check=set(kept) == {8}),
        Row("requests per 1-sample run (must be 1)", f"{sorted(set(counts['1']))} "
            f"in {len(counts['1'])} runs",
            check=set(counts["1"]) == {1}),
    ]
    table.notes.append("added = median over rounds of (t_latency - t_none) / latency; every "
                       "run a new project in one library copy (builds the AUDIT toolkit, "
                       "then runs); default --jobs (8)")
    return table


def cached(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    """B: a cached --run and a cached --grade against a plain build of the same toolkit."""
    table = Table(f"Cached runs and grades, ratio to a plain build (median of {rounds} "
                  "paired rounds)", command_line())
    work = workspace(tmp / "cached")
    env = gen_env(fake.base_url)
    fake.latency = LATENCY  # an unexpected call would also show in the times
    run(command("x", "--grade"), env, cwd=work, timeout=180)  # keep an answer, a scorecard
    fake.reset()
    commands = {
        "python -c pass": [PY, "-c", "pass"],
        # Its own project: a plain build of x would rewrite x's manifest (see BENCHMARKS.md).
        "plain build AUDIT (no task)": [PY, ORCH, "--root", "lib", "-g", "AUDIT", "-p",
                                        "plain"],
        "--run, answer kept": command("x", "--run"),
        "--grade, scorecard kept": command("x", "--grade"),
        "--grade -q, scorecard kept (info)": command("x", "--grade", "-q"),
    }
    tasks: dict[str, Callable[[], float]] = {
        name: partial(lambda c: run(c, env, cwd=work)[0], cmd) for name, cmd in commands.items()}
    got = paired(tasks, rounds, warmup=2)
    requests = fake.count
    bare = median(got["python -c pass"])
    build = got["plain build AUDIT (no task)"]
    for name, xs in got.items():
        table.rows.append(Row(name, ms(median(xs)), median(xs) / bare,
                              note="(ratio to python -c pass)"))
    for name, bar in (("--run, answer kept", 2.0), ("--grade, scorecard kept", 2.0),
                      ("--grade -q, scorecard kept (info)", None)):
        per_round = [c / b for c, b in zip(got[name], build, strict=True)]
        table.rows.append(Row(f"{name.replace(' (info)', '')} / plain build", "",
                              median(per_round), bar, 1.5 if bar else None,
                              note="(median of per-round ratios)"))
    table.rows.append(Row(f"requests in {rounds + 2} rounds (must be 0)", str(requests),
                          check=requests == 0))
    for name in ("plain build AUDIT (no task)", "--run, answer kept",
                 "--grade, scorecard kept", "--grade -q, scorecard kept (info)"):
        mods = imported(commands[name], env, work)
        table.rows.append(Row(f"{name}: imports google.genai? (must not)",
                              "yes" if "google.genai" in mods else "no",
                              check=None if "plain" in name else "google.genai" not in mods,
                              note=f"(heavy modules imported: {', '.join(mods) or 'none'})"))
    # The control: a run that does call must show google.genai, or the check sees nothing.
    fake.latency = 0.0
    mods = imported(command("control", "--run"), env, work)
    table.rows.append(Row("uncached --run (control): imports google.genai? (must)",
                          "yes" if "google.genai" in mods else "no",
                          check="google.genai" in mods,
                          note=f"(heavy modules imported: {', '.join(mods) or 'none'})"))
    table.notes.append("one library copy; project x holds one answer and its scorecard "
                       "(made once, before timing), project plain the same AUDIT toolkit "
                       "built without a task; stdout to /dev/null, not a terminal")
    return table


def judges(fake: FakeGemini, tmp: Path, rounds: int) -> Table:
    """C: three judges against one, both behind a slow model, on fresh copies of one answer."""
    table = Table(f"Judges: --grade --judges 3 against --judges 1, {LATENCY:g} s per request "
                  f"(median of {rounds} paired rounds)", command_line())
    base = workspace(tmp / "judge-base")
    env = gen_env(fake.base_url)
    fake.latency = 0.0
    run(command("j", "--run"), env, cwd=base, timeout=180)  # one answer, no scorecard
    fresh = itertools.count()
    counts: dict[int, list[int]] = {1: [], 3: []}
    peak = 0

    def trial(k: int) -> float:
        nonlocal peak
        work = tmp / f"judge-{next(fresh)}"
        shutil.copytree(base, work)
        fake.latency = LATENCY
        fake.reset()
        try:
            seconds, _ = run(command("j", "--grade", "--judges", str(k)), env, cwd=work,
                             timeout=180)  # exit 0: every judgment passes, quotes found
        finally:
            shutil.rmtree(work, ignore_errors=True)
        counts[k].append(fake.count)
        peak = max(peak, fake.max_concurrent) if k == 3 else peak
        return seconds

    got = paired({"--judges 1": lambda: trial(1), "--judges 3": lambda: trial(3)}, rounds)
    one, three = got["--judges 1"], got["--judges 3"]
    table.rows += [
        Row(f"--judges 1, {LATENCY:g} s latency", secs(median(one))),
        Row(f"--judges 3, {LATENCY:g} s latency", secs(median(three))),
        Row("--judges 3 / --judges 1", "", median([t / o for t, o in zip(three, one,
                                                                         strict=True)]),
            1.5, 1.2, note=f"(median of per-round ratios; server saw up to {peak} at once)"),
        Row(f"--judges 3: added / {LATENCY:g} s (info)", "",
            median([(t - o) / LATENCY for t, o in zip(three, one, strict=True)]),
            note="(one after another: 2)"),
        Row("requests per grade, --judges 1 (must be 1)", f"{sorted(set(counts[1]))}",
            check=set(counts[1]) == {1}),
        Row("requests per grade, --judges 3 (must be 3)", f"{sorted(set(counts[3]))}",
            check=set(counts[3]) == {3}),
    ]
    table.notes.append("each grade on a fresh copy of a library holding one answer and no "
                       "scorecard; the fake's judgments all pass (exit 0)")
    return table


def main() -> int:
    args = parse_args(__doc__)
    quick = args.quick
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(responder=answer_runs,
                                                          schema_overrides={"quote": QUOTE}
                                                          ) as fake:
        tables = [samples(fake, Path(tmp), args.rounds or (3 if quick else 7)),
                  cached(fake, Path(tmp), args.rounds or (9 if quick else 21)),
                  judges(fake, Path(tmp), args.rounds or (3 if quick else 7))]
    return finish(tables, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
