"""Start-up: a complete offline build, --help and --list against a bare `python -c pass`.

Each round runs the baseline and every command once, in rotating order, so that
machine noise falls on all of them alike; we report medians and the ratio of medians.
Bar: <= 8x a bare start-up (goal <= 5x; issue 22: <= 3x for an unchanged rebuild and
<= 4x for a first build). On a MISS, `-X importtime` names the cause. `--against DIR`
times another checkout's builds in the same rounds (before/after a change).
Usage: python bench/startup.py [--quick] [--rounds N] [--against CHECKOUT]
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import (  # bench/ is on sys.path: scripts are run as files
    ORCH,
    PY,
    REPO,
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
    run,
)

BAR, GOAL = 8.0, 5.0
# Issue 22's goals for the two builds; the other commands keep the general one.
GOALS = {"build AUDIT (unchanged rebuild)": 3.0, "build DEBUG (new project)": 4.0}


# Run a script or `pass`, then print this process's own peak RSS (VmHWM). Read from
# inside, because the kernel's ru_maxrss for a child also counts the memory of the
# parent it was forked from (the whole benchmark process), not just the child's.
_RSS_WRAPPER = """
import atexit, runpy, sys
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            sys.stderr.write('VMHWM ' + line.split()[1] + '\\n')
atexit.register(hwm)
if len(sys.argv) > 1:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name='__main__')
"""


def peak_rss_mib(script_args: list[str], env: dict[str, str]) -> float:
    """Peak resident memory (MiB) of `python script args...`, or of a bare `python`."""
    proc = subprocess.run([PY, "-c", _RSS_WRAPPER, *script_args], env=env, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    kib = [int(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("VMHWM ")]
    if proc.returncode != 0 or not kib:
        raise RuntimeError(f"{script_args} exited {proc.returncode}: {proc.stderr[-300:]}")
    return kib[-1] / 1024


def import_profile(cmd: list[str], env: dict[str, str], top: int = 8) -> list[str]:
    """The slowest imports of one run (cumulative), from `python -X importtime`."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            self_us, cum_us, name = (x.strip() for x in line[12:].split("|", 2))
            rows.append((int(cum_us), int(self_us), name))
    rows.sort(reverse=True)
    return [f"{name}: {cum / 1000:.1f} ms cumulative ({own / 1000:.1f} ms self)"
            for cum, own, name in rows[:top]]


def measure(rounds: int, against: Path | None = None) -> Table:
    env = base_env()
    # This harness exports PYTHONDONTWRITEBYTECODE=1: every run then compiles
    # meta_prompting/ from source. Measured on a copy of the code with no __pycache__
    # (the repository's may or may not exist), stdlib .pyc files as usual.
    cold_env = base_env(PYTHONDONTWRITEBYTECODE="1")
    cold_env.pop("PYTHONPYCACHEPREFIX")
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_library(Path(tmp) / "lib")
        cold = Path(tmp) / "cold"
        shutil.copytree(REPO / "meta_prompting", cold / "meta_prompting",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ORCH, cold)
        lib = ["--root", str(root)]
        commands = {
            "python -c pass": [PY, "-c", "pass"],
            "build AUDIT (unchanged rebuild)": [PY, ORCH, *lib, "-g", "AUDIT", "-p", "b", "-q"],
            "--help": [PY, ORCH, "--help"],
            "--list": [PY, ORCH, *lib, "--list"],
        }
        tasks: dict[str, Callable[[], float]] = {
            name: partial(lambda c: run(c, env)[0], cmd) for name, cmd in commands.items()}
        fresh = itertools.count()
        # A first build of a new project: creates the folder and writes three files.
        tasks["build DEBUG (new project)"] = lambda: run(
            [PY, ORCH, *lib, "-g", "DEBUG", "-p", f"f{next(fresh)}", "-q"], env)[0]
        # What this harness's PYTHONDONTWRITEBYTECODE=1 costs: no .pyc, recompile each run.
        tasks["build AUDIT, no .pyc (info)"] = lambda: run(
            [PY, str(cold / "orchestrator.py"), *lib, "-g", "AUDIT", "-p", "b", "-q"],
            cold_env)[0]
        if against is not None:  # the same two builds, by another checkout's code
            other = copy_library(Path(tmp) / "against-lib")
            orch = str(against / "orchestrator.py")
            olib = ["--root", str(other)]
            run([PY, orch, *olib, "-g", "AUDIT", "-p", "b", "-q"], env)
            tasks["against: build AUDIT (unchanged rebuild)"] = lambda: run(
                [PY, orch, *olib, "-g", "AUDIT", "-p", "b", "-q"], env)[0]
            tasks["against: build DEBUG (new project)"] = lambda: run(
                [PY, orch, *olib, "-g", "DEBUG", "-p", f"f{next(fresh)}", "-q"], env)[0]
        samples = paired(tasks, rounds, warmup=2)
        rss_build = peak_rss_mib(commands["build AUDIT (unchanged rebuild)"][1:], env)
        rss_bare = peak_rss_mib([], env)
        base = median(samples["python -c pass"])
        table = Table(f"Start-up (median of {rounds} paired rounds)", command_line())
        if against is not None:
            table.notes.append(f"against: {against}")
        for name, xs in samples.items():
            info = "(info)" in name or name == "python -c pass"
            info = info or name.startswith("against: ")
            table.rows.append(Row(name, ms(median(xs)), median(xs) / base,
                                  None if info else BAR, None if info else GOALS.get(name, GOAL)))
        table.rows.append(Row("peak RSS of a build", f"{rss_build:.1f} MiB", rss_build / rss_bare,
                              note=f"bare python: {rss_bare:.1f} MiB"))
        for row in table.rows:
            if row.result == "MISS":
                cmd = commands.get(row.name, commands["build AUDIT (unchanged rebuild)"])
                table.notes.append(f"MISS {row.name}: slowest imports (-X importtime):")
                table.notes += [f"  {line}" for line in import_profile(cmd, env)]
    return table


def main() -> int:
    args = parse_args(__doc__, lambda p: p.add_argument(
        "--against", metavar="CHECKOUT", type=Path,
        help="also time this checkout's builds in the same rounds (e.g. before a change)"))
    rounds = args.rounds or (9 if args.quick else 21)
    return finish([measure(rounds, args.against)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
