"""Start-up cost: a complete offline build, --help and --list against bare `python -c pass`.

Each round runs the baseline and every command once, in turn, so that machine noise
falls on all of them alike; we report medians and the ratio of medians.
Usage: python bench/startup.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def copy_library(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "goal_map.json", dest)
    shutil.copytree(REPO / "components", dest / "components")
    return dest


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def peak_rss_mib(cmd: list[str], cwd: Path) -> float:
    """Peak resident memory of one run of `cmd`, from the kernel's own accounting."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the largest child so far (KiB on Linux); run after a smaller child.
    return max(after, before) / 1024


def measure(rounds: int) -> dict[str, object]:
    py = sys.executable
    orch = str(REPO / "orchestrator.py")
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_library(Path(tmp) / "lib")
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "build (AUDIT, unchanged)": [py, orch, "--root", str(root), "-g", "AUDIT",
                                         "-p", "bench", "-q"],
            "--help": [py, orch, "--help"],
            "--list": [py, orch, "--root", str(root), "--list"],
        }
        # Warm the page cache and write the toolkit once, so every timed build is the
        # ordinary "nothing changed" rebuild; the first write is timed separately below.
        for cmd in commands.values():
            timed(cmd, root)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        fresh: list[float] = []
        for i in range(rounds):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, root))
            fresh.append(timed([py, orch, "--root", str(root), "-g", "DEBUG", "-p", f"f{i}",
                                "-q"], root))
        samples["build (DEBUG, new project)"] = fresh
        rss = peak_rss_mib(commands["build (AUDIT, unchanged)"], root)
    base = statistics.median(samples["python -c pass"])
    rows = [{"command": name, "median_ms": round(statistics.median(s) * 1000, 1),
             "ratio": round(statistics.median(s) / base, 2)} for name, s in samples.items()]
    return {"rounds": rounds, "rows": rows, "build_peak_rss_mib": round(rss, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"start-up, median of {result['rounds']} paired rounds")
    for row in result["rows"]:  # type: ignore[attr-defined]
        print(f"  {row['command']:<28} {row['median_ms']:>8.1f} ms  {row['ratio']:>5.2f}x")
    print(f"  peak RSS of a build: {result['build_peak_rss_mib']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
