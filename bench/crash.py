"""Crash safety: builds killed with SIGKILL at random moments, writes slowed so kills land
mid-write (tests/crashy.py makes every fsync sleep, between writing a temporary file
and renaming it into place).

A. Generating builds (two parts missing, fake server with latency), killed anywhere.
B. Toolkit writes: all parts present, killed within the toolkit-writing window; in every
   other trial a part is then edited before the next build, which must still finish.
After each kill: no part partial or empty; every visible file in components/ is a part
(temporary files are hidden `.*.tmp`); goal_map.json byte-identical; 00_PERSONA.md and
01_PROMPT_TEMPLATE.md absent or byte-equal to a clean build's; manifest.json absent or
vouching for every toolkit file present (mid-write, as an intent naming old and new
sha256); then an ordinary build completes the toolkit. Any failure exits 1.
Usage: python bench/crash.py [--quick] [--trials N] [--seed S]
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import (
    CRASHY,
    ORCH,
    PY,
    REPO,
    Row,
    Table,
    base_env,
    command_line,
    copy_library,
    finish,
    gen_env,
    parse_args,
    run,
    secs,
    withheld,
    withhold,
)

from tests.fake_gemini import FakeGemini, ok  # after common: it puts the repo on sys.path

FSYNC_DELAY = 0.15  # per fsync; a part or toolkit file costs two (file, then folder)
LATENCY = 0.3
WITHHELD = ("protocols/root_cause_analysis_drilldown.txt", "constraints/tests_must_fail_first.txt")
MISSING = tuple(withheld(k) for k in WITHHELD)
ANSWER = ("A whole answer, written at once or not at all. " * 150).strip() + "\n"  # ~7 KB
TOOLKIT = ("00_PERSONA.md", "01_PROMPT_TEMPLATE.md")


def fresh(tmp: Path, missing: tuple[str, ...]) -> Path:
    root = copy_library(Path(tempfile.mkdtemp(dir=tmp)) / "lib")
    withhold(root, [k for k, m in zip(WITHHELD, MISSING, strict=True) if m in missing])
    return root


def kill_at(seconds: float, cmd: list[str], env: dict[str, str]) -> bool:
    """Start `cmd`, SIGKILL it `seconds` later; False if it had already finished."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def timed_clean_run(cmd: list[str], env: dict[str, str], out: Path
                    ) -> tuple[float, dict[str, bytes]]:
    seconds, _ = run(cmd, env, timeout=120)
    return seconds, {name: (out / name).read_bytes() for name in TOOLKIT}


def inspect(root: Path, missing: tuple[str, ...], reference: dict[str, bytes],
            goal_map: bytes) -> tuple[str, list[str]]:
    """Where the kill landed (inferred from what exists) and every rule broken."""
    problems: list[str] = []
    comps = root / "components"
    shipped = {str(p.relative_to(REPO / "components")) for p in (REPO / "components").rglob("*")
               if p.is_file()}
    visible = {str(p.relative_to(comps)) for p in comps.rglob("*")
               if p.is_file() and not p.name.startswith(".")}
    for key in sorted(visible - shipped - set(missing)):
        problems.append(f"components/{key} is not a part (a temporary file taken for one?)")
    for key in missing:
        path = comps / key
        if path.exists() and path.read_bytes() != ANSWER.encode():
            problems.append(f"{key} is partial or empty ({path.stat().st_size} bytes)")
    part_tmp = [p for key in missing for p in (comps / key).parent.glob(
        f".{Path(key).name}.*.tmp")]
    if (root / "goal_map.json").read_bytes() != goal_map:
        problems.append("goal_map.json changed")
    out = root / "output" / "x"
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    for name in TOOLKIT:
        if name in names and (out / name).read_bytes() != reference[name]:
            problems.append(f"{name} is partial or differs from a clean build")
    writing = False
    if "manifest.json" in names:
        problems += _manifest_problems(out, names)
        writing = bool(json.loads((out / "manifest.json").read_bytes()).get("writing")) \
            if not problems else False
    strays = {n for n in names if not n.startswith(".")} - {*TOOLKIT, "manifest.json"}
    problems += [f"output/x/{n} is not a toolkit file" for n in sorted(strays)]
    parts_done = all((comps / k).exists() for k in missing)
    toolkit_tmp = any(n.startswith(".") and n.endswith(".tmp") for n in names)
    in_place = sum(n in names for n in (*TOOLKIT, "manifest.json")) - writing
    if in_place == 3:
        where = "after all three files were in place"
    elif parts_done and (in_place or toolkit_tmp):
        where = f"during toolkit write ({in_place}/3 files in place" + (
            ", a temporary file left)" if toolkit_tmp else ")")
    elif missing and (part_tmp or any((comps / k).exists() for k in missing)):
        where = "during part write" + (" (a temporary file left)" if part_tmp else "")
    else:
        where = "before any write"
    return where, problems


def _manifest_problems(out: Path, names: set[str]) -> list[str]:
    """A manifest must vouch for every toolkit file that is there.

    Mid-write it is a statement of intent ("writing": true) that accepts each file's old
    or new sha256; once final, it must match the files exactly.
    """
    import hashlib

    try:
        data = json.loads((out / "manifest.json").read_bytes())
    except ValueError:
        return ["manifest.json is not valid JSON"]
    problems: list[str] = []
    for name in TOOLKIT:
        ok = {data["files"].get(name)}
        if data.get("writing"):
            ok.add(data.get("previous", {}).get(name))
        if name not in names:
            if not data.get("writing"):
                problems.append(f"the final manifest.json vouches for {name}, which is absent")
            continue
        if hashlib.sha256((out / name).read_bytes()).hexdigest() not in ok:
            problems.append(f"manifest.json does not vouch for {name} as it is")
    return problems


CHANGED = "A line added to a part between the kill and the next build."


def follow_up(root: Path, env: dict[str, str], reference: dict[str, bytes],
              missing: tuple[str, ...], change_a_part: bool = False) -> list[str]:
    """An ordinary build after the kill must finish the job, byte-equal to a clean one.

    With `change_a_part`, a part is edited first (a person improving the library before
    re-running): the next build must still finish, without --force, and use the edit.
    """
    if change_a_part:
        with open(root / "components" / "constraints" / "evidence_only.txt", "a") as f:
            f.write(CHANGED + "\n")
    cmd = [PY, ORCH, "--root", str(root), "-g", "DEBUG", "-p", "x", "-q"]
    _, code = run(cmd, env, timeout=120, check=False)
    if code != 0:
        return [f"the following build exited {code}"]
    out = root / "output" / "x"
    if change_a_part:
        template = (out / "01_PROMPT_TEMPLATE.md").read_text()
        return [] if CHANGED in template else ["the next build did not use the changed part"]
    problems = [f"after the next build, {n} differs from a clean build"
                for n in TOOLKIT if (out / n).read_bytes() != reference[n]]
    problems += [f"after the next build, {k} is wrong" for k in missing
                 if (root / "components" / k).read_bytes() != ANSWER.encode()]
    return problems


PHASES = ("before", "during generation", "during part write", "during toolkit write", "after",
          "not killed")


def phase(where: str) -> int:
    """Rows in the order a build goes through them."""
    return next((i for i, p in enumerate(PHASES) if where.startswith(p)), len(PHASES))


def args(root: Path) -> list[str]:
    return ["--root", str(root), "-g", "DEBUG", "-p", "x", "-q"]


def trials(kind: str, n: int, rng: random.Random, tmp: Path, fake: FakeGemini,
           table: Table) -> int:
    missing = MISSING if kind == "generating" else ()
    env = gen_env(fake.base_url) if missing else base_env()
    # Calibrate: one clean, unkilled, slowed build gives the reference toolkit and the
    # length of the window the kills are spread over.
    # The first run also compiles google-genai into the bytecode cache: take the median.
    runs = []
    for _ in range(3):
        root = fresh(tmp, missing)
        runs.append(timed_clean_run([PY, CRASHY, str(FSYNC_DELAY), *args(root)], env,
                                    root / "output" / "x"))
        shutil.rmtree(root.parent)
    total, reference = sorted(runs, key=lambda r: r[0])[1]
    if any(r[1] != reference for r in runs):
        table.notes.append(f"{kind}: clean builds differ from each other")
    # Generating: anywhere in the run. Toolkit: the last three slowed writes (2 fsyncs each).
    lo, hi = (0.2, total) if missing else (max(0.0, total - 6 * FSYNC_DELAY - 0.05), total)
    landed: Counter[str] = Counter()
    failures: list[str] = []
    for i in range(n):
        root = fresh(tmp, missing)
        goal_map = (root / "goal_map.json").read_bytes()
        at = rng.uniform(lo, hi)
        fake.reset()
        killed = kill_at(at, [PY, CRASHY, str(FSYNC_DELAY), *args(root)], env)
        where, problems = inspect(root, missing, reference, goal_map)
        if missing and fake.count == 0:
            where = "before the request"
        elif missing and where == "before any write":
            where = "during generation"
        landed[where if killed else "not killed (finished first)"] += 1
        # Idempotent: the next build asks only for what is still missing, once each.
        still = sum(not (root / "components" / k).exists() for k in missing)
        fake.reset()
        # Every other toolkit-write trial: a part changes before the re-run.
        problems += follow_up(root, env, reference, missing,
                              change_a_part=not missing and i % 2 == 1)
        if fake.count != still:
            problems.append(f"the next build made {fake.count} requests for {still} "
                            "missing part(s)")
        failures += [f"trial {i} (kill at {at:.2f} s, {where}): {p}" for p in problems]
        shutil.rmtree(root.parent, ignore_errors=True)
    label = "A. generating build" if missing else "B. toolkit write"
    table.rows.append(Row(f"{label}: trials", str(n), note=f"(kills uniform in {lo:.2f}-"
                          f"{hi:.2f} s; an unkilled slowed build takes {secs(total)})"))
    for where, count in sorted(landed.items(), key=lambda kv: (phase(kv[0]), kv[0])):
        name = where if where.startswith("not") else f"killed {where}"
        table.rows.append(Row(f"{label}: {name}", str(count)))
    table.rows.append(Row(f"{label}: failures (must be 0)", str(len(failures)),
                          check=not failures))
    table.notes += failures[:10]
    return len(failures)


def main() -> int:
    args = parse_args(__doc__, lambda p: (p.add_argument("--trials", type=int),
                                          p.add_argument("--seed", type=int, default=1)))
    if args.rounds:
        raise SystemExit("crash.py takes --trials, not --rounds")
    n = args.trials or (6 if args.quick else 30)
    rng = random.Random(args.seed)
    table = Table(f"Crash safety: SIGKILL at random, fsync slowed by {FSYNC_DELAY:g} s, "
                  f"model latency {LATENCY:g} s", command_line())
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(latency=LATENCY,
                                                          default=ok(ANSWER)) as fake:
        run([PY, ORCH, "--help"], base_env())  # warm the bytecode cache
        trials("generating", n, rng, Path(tmp), fake, table)
        trials("toolkit", n, rng, Path(tmp), fake, table)
    table.notes.append(f"seed {args.seed}; {time.monotonic() - start:.0f} s in all; each trial "
                       "on a fresh copy of the shipped library, goal DEBUG, project x")
    return finish([table], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
