"""Run every benchmark, each in its own process, and print their tables and a summary.

Usage: python bench/run.py [--quick] [--only NAME ...]
Exit 0 even when a figure misses its bar (benchmarks report); exit 1 when a
correctness check fails (requests != 1 under contention, a wrong request count for
runs, judges or chain stages, a crash-trial failure) or a benchmark itself fails to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine

HERE = Path(__file__).resolve().parent
# Cheapest first, so a broken set-up shows at once; peers last (they need the registry).
SCRIPTS = ("startup", "generation", "contention", "runs", "refine", "batch_collect", "chains",
           "tasks", "scale", "crash", "peers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast versions")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run just these")
    args = parser.parse_args()
    print(f"# META_PROMPTING benchmarks ({machine()}, {time.strftime('%Y-%m-%d %H:%M %Z')})\n",
          flush=True)
    summary: list[tuple[str, str, str, str]] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or SCRIPTS:
            out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, str(HERE / f"{name}.py"), "--json-out", str(out)]
            if args.quick:
                cmd.append("--quick")
            start = time.monotonic()
            code = subprocess.run(cmd).returncode  # tables stream straight through
            print(f"({name}: {time.monotonic() - start:.0f} s, exit {code})\n", flush=True)
            if code != 0:
                failed.append(name)
            if out.exists():
                for table in json.loads(out.read_text()):
                    for row in table["rows"]:
                        if row["result"]:
                            ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
                            summary.append((name, row["name"], ratio or row["median"],
                                            row["result"]))
    print("## Summary")
    widths = [max(len(r[i]) for r in summary) if summary else 0 for i in range(3)]
    for row in summary:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    if failed:
        print(f"FAILED: {', '.join(failed)} (a correctness check failed or a script crashed)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
