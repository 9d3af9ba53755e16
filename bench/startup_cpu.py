"""CPU time (user + system) of a rebuild and a first build, two checkouts side by side.

Wall time on a shared machine swings by 2x between runs; CPU time is far steadier, and
interleaving the two checkouts round by round puts the same noise on both.
Usage: python bench/startup_cpu.py BEFORE_CHECKOUT [AFTER_CHECKOUT] [--rounds N]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_ms(cmd: list[str], cwd: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=str(REPO))
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    repos = {"before": args.before, "after": args.after}
    libs = {}
    for name, repo in repos.items():
        lib = tempfile.mkdtemp(prefix=f"startup-cpu-{name}-")
        shutil.copytree(f"{repo}/components", f"{lib}/components")
        shutil.copy(f"{repo}/goal_map.json", lib)
        libs[name] = lib
        subprocess.run([sys.executable, f"{repo}/orchestrator.py", "--root", lib, "-g",
                        "AUDIT", "-p", "x", "-q"], check=True, timeout=60)
    times: dict[str, list[float]] = {}
    for i in range(args.rounds):
        times.setdefault("python -c pass", []).append(cpu_ms([sys.executable, "-c", "pass"],
                                                             "/"))
        for name, repo in repos.items():
            build = [sys.executable, f"{repo}/orchestrator.py", "--root", libs[name], "-q"]
            times.setdefault(f"{name}: rebuild", []).append(
                cpu_ms([*build, "-g", "AUDIT", "-p", "x"], repo))
            times.setdefault(f"{name}: first build", []).append(
                cpu_ms([*build, "-g", "DEBUG", "-p", f"n{i}"], repo))
    base = statistics.median(times["python -c pass"])
    for label, values in times.items():
        m = statistics.median(values)
        print(f"{label:28s} {m:7.1f} ms CPU  {m / base:5.2f}x")
    for lib in libs.values():
        shutil.rmtree(lib, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
