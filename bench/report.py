"""The report of 100 runs: how big it is, how long --report takes, how fast it opens.

A toolkit is built offline from the shipped library, then 100 runs are laid down as the
tool keeps them (answer.md of ~4 KB of Markdown, run.json, a 3-judge scorecard.json),
in 5 inputs of 20 samples. Then:
A. `--report` wall time (a fresh process, as a person runs it), median of N rounds.
B. The file's size. Bar < 2 MB.
C. Opening it in headless Chromium from file://: the page's own time to
   DOMContentLoaded after its script ran (performance.now(), which the page records),
   and the wall time of `chromium --dump-dom` against a blank page, paired round by
   round. Bar: under 1 s to DOMContentLoaded.
Usage: python bench/report.py [--rounds N]   (needs chromium on PATH for C)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from meta_prompting.grading.scorecard import record_hash  # noqa: E402
from meta_prompting.store.files import sha256_bytes  # noqa: E402

CRITERIA = ["Structure", "Flaw Analysis", "Solution", "Evidence", "Clarity"]
PARAGRAPH = ("The retry loop re-reads `state.json` on every attempt, so a torn write "
             "between two attempts is seen as **corruption** rather than as a partial "
             "update; journal each item before acting on it. ")


def answer(i: int) -> str:
    body = [f"## Analysis {i}", PARAGRAPH * 3, "## Simulation", *(f"{n}. Step {n}: " + PARAGRAPH
            for n in range(1, 8)), "## Decision", PARAGRAPH * 2, "```python",
            "def recover(journal):\n    for item in journal:\n        replay(item)", "```"]
    return "\n\n".join(body) + "\n"


def lay_runs(out: Path, count: int) -> None:
    prompt = (out / "02_PROMPT.md").read_bytes()
    for n in range(count):
        key = sha256_bytes(f"input {n // 20}".encode())[:12]
        folder = out / "runs" / f"{key}-{n % 20 + 1}"
        folder.mkdir(parents=True)
        text = answer(n)
        (folder / "answer.md").write_text(text)
        (folder / "run.json").write_text(json.dumps({
            "run_id": folder.name, "sample": n % 20 + 1, "model": "gemini-flash-latest",
            "tokens": {"prompt": 3000, "answer": 900, "total": 3900},
            "date": "2026-01-01T00:00:00Z",
            "sha256": {"prompt": sha256_bytes(prompt) if n < 20 else "old",
                       "answer": sha256_bytes(text.encode())}}))
        verdicts = [{"criterion": c, "verdict": "PASS" if (n + k) % 4 else "FAIL",
                     "quotes": ["journal each item before acting on it"],
                     "reasoning": "The answer names the torn write and its fix. " * 3,
                     "fix": "Say what happens when the journal itself is torn.",
                     "supported": True} for k, c in enumerate(CRITERIA)]
        card = {"rubric": "GRADE", "criteria": CRITERIA, "question": "Clear path forward?",
                "judges": 3, "passed": n % 3 != 0,
                "judgments": [{"model": "gemini-flash-latest", "tokens": {"total": 2500},
                               "path_forward": "YES", "path_reason": "It is actionable.",
                               "verdicts": verdicts}] * 3}
        card["sha256"] = record_hash(card)
        (folder / "scorecard.json").write_text(json.dumps(card))


def chromium(url: str, profile: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    root = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        shutil.copy(REPO / "goal_map.json", root)
        shutil.copytree(REPO / "components", root / "components")
        orch = [sys.executable, str(REPO / "orchestrator.py"), "--root", str(root)]
        subprocess.run([*orch, "-g", "SIMULATE", "-p", "bench", "--task", "Simulate it.",
                        "-q"], check=True)
        out = root / "output/bench"
        lay_runs(out, 100)
        made = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([*orch, "--report", "-p", "bench", "-q"], check=True)
            made.append(time.perf_counter() - start)
        page = out / "report.html"
        size = page.stat().st_size
        print(f"A. --report of 100 runs: median {statistics.median(made):.2f} s "
              f"(min {min(made):.2f}, max {max(made):.2f}) over {rounds} rounds")
        print(f"B. report.html: {size / 1e6:.2f} MB (bar < 2 MB)")
        if shutil.which("chromium") is None:
            print("C. skipped: no chromium on PATH")
            return 0 if size < 2e6 else 1
        blank = root / "blank.html"
        blank.write_text("<!DOCTYPE html><title>blank</title>")
        loaded, walls, bases = [], [], []
        for i in range(rounds):
            wall, dom = chromium(page.as_uri(), root / f"p{i}")
            base, _ = chromium(blank.as_uri(), root / f"b{i}")
            found = re.search(r'data-ready="(\d+)"', dom)
            assert found, "the page's script did not run"
            loaded.append(int(found.group(1)))
            walls.append(wall)
            bases.append(base)
        print(f"C. open from file://: DOMContentLoaded after its script, median "
              f"{statistics.median(loaded)} ms (max {max(loaded)} ms; bar < 1000 ms); "
              f"chromium --dump-dom wall {statistics.median(walls):.2f} s against "
              f"{statistics.median(bases):.2f} s for a blank page (paired, median of {rounds})")
        return 0 if size < 2e6 and statistics.median(loaded) < 1000 else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
