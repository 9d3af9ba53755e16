"""Helpers shared by the benchmarks: library copies, child environments, paired timing, tables.

Every benchmark measures the product against a baseline *in the same run*, interleaved
round by round, because the machine is shared and noisy: a figure from another day (or
another minute) is not comparable, a ratio of medians taken side by side is.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable  # run the benchmarks with the project's .venv/bin/python
ORCH = str(REPO / "orchestrator.py")
CRASHY = str(REPO / "tests" / "crashy.py")
# So `from tests.fake_gemini import FakeGemini` works when a script is run as a file.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Variables that would send a child to the real service or to another library.
SCRUBBED = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_PROJECT",
            "META_PROMPTING_ROOT", "META_PROMPTING_MODEL", "CI", "PYTHONDONTWRITEBYTECODE",
            "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")

_pycache: str | None = None


def pycache_dir() -> str:
    """A private bytecode cache, so children start the way an installed tool does.

    The harness exports PYTHONDONTWRITEBYTECODE=1, which makes every run recompile
    meta_prompting/ from source; a user's install has .pyc files. A prefix directory
    gives children a warm cache without writing __pycache__ into the repository.
    """
    global _pycache
    if _pycache is None:
        _pycache = tempfile.mkdtemp(prefix="mp-bench-pyc-")
        atexit.register(shutil.rmtree, _pycache, True)
    return _pycache


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(PYTHONPYCACHEPREFIX=pycache_dir(), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", COLUMNS="100")
    env.update(extra)
    return env


def gen_env(base_url: str, **extra: str) -> dict[str, str]:
    """A child environment that generates against the fake server, never the network."""
    from tests.fake_gemini import FAKE_API_KEY

    return base_env(GEMINI_API_KEY=FAKE_API_KEY, GOOGLE_GEMINI_BASE_URL=base_url,
                    META_PROMPTING_RETRY_DELAY="0.01", **extra)


def copy_library(dest: Path) -> Path:
    """A private copy of the shipped library (map, descriptions, parts bin)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "goal_map.json", dest)
    if (REPO / "generation_jobs.json").exists():
        shutil.copy(REPO / "generation_jobs.json", dest)
    shutil.copytree(REPO / "components", dest / "components")
    return dest


def withheld(key: str) -> str:
    """The name a withheld part goes by: in no layer, so generation must make it."""
    folder, name = key.split("/", 1)
    stem, ext = os.path.splitext(name)
    return f"{folder}/{stem}_withheld{ext}"


def withhold(root: Path, keys: tuple[str, ...] | list[str]) -> None:
    """Make parts missing in a library copy by renaming them in its map.

    Deleting the file no longer does: the built-in library beneath still has it, and a
    part is taken from the highest layer that has it. Only the copy's map is changed.
    """
    path = root / "goal_map.json"
    text = path.read_text()
    for key in keys:
        old, new = key.split("/", 1)[1], withheld(key).split("/", 1)[1]
        text = text.replace(f'"{old}"', f'"{new}"')
    path.write_text(text)


def add_goal(root: Path, name: str, persona: str, protocol: str,
             constraints: Sequence[str], description: str = "") -> None:
    """Add a goal to a copy's map (the copy's, never the repository's)."""
    path = root / "goal_map.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data[name] = {"description": description or f"Benchmark goal {name}.",
                  "persona": persona, "protocol": protocol, "constraints": list(constraints)}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def missing_goal(root: Path, name: str, n_parts: int) -> list[str]:
    """A goal whose n_parts parts (persona, protocol, constraints) are all missing."""
    tag = name.lower()
    constraints = [f"{tag}_rule_{i:02d}.txt" for i in range(n_parts - 2)]
    add_goal(root, name, f"{tag}_persona.txt", f"{tag}_protocol.txt", constraints,
             "Review a change for defects and report ranked findings.")
    return [f"personas/{tag}_persona.txt", f"protocols/{tag}_protocol.txt",
            *(f"constraints/{c}" for c in constraints)]


def run(cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300, check: bool = True) -> tuple[float, int]:
    """Wall time and exit code of one child; output discarded (printing is not the work)."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), env=env or base_env(), cwd=cwd, timeout=timeout,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed, proc.returncode


def paired(tasks: dict[str, Callable[[], float]], rounds: int, warmup: int = 1
           ) -> dict[str, list[float]]:
    """Run every task once per round, rotating the order so no task always goes first.

    Interleaving puts a burst of machine noise on all tasks alike; the rotation stops
    one task from always running on a cache warmed (or a CPU heated) by another.
    """
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(tasks[name]())
    return samples


# Profile one run of a script in-process; print its own functions' cumulative times.
# Threads are profiled too (a chain runs its stages in worker threads) and merged in.
_PROFILER = """
import cProfile, os, pstats, runpy, sys, threading
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
profiles = []
thread_run = threading.Thread.run
def profiled_run(self):
    prof = cProfile.Profile()
    profiles.append(prof)
    prof.enable()
    try:
        thread_run(self)
    finally:
        prof.disable()
threading.Thread.run = profiled_run
prof = cProfile.Profile()
prof.enable()
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit:
    pass
prof.disable()
stats = pstats.Stats(prof)
for other in profiles:
    stats.add(other)
for (file, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
    if 'meta_prompting' in file and func != '<module>':
        sys.stderr.write(f'PROF {ct} {nc} {file.rsplit("/", 1)[-1]}:{func}\\n')
"""


def profile_top(script_args: Sequence[str], env: dict[str, str], top: int = 8,
                cwd: Path | None = None) -> list[str]:
    """The product's functions with the most cumulative time in one run (cProfile), with
    call counts: a count that grows with the library names work proportional to it."""
    proc = subprocess.run([PY, "-c", _PROFILER, *script_args], env=env, text=True, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    rows = sorted(((float(ct), int(nc), name) for line in proc.stderr.splitlines()
                   if line.startswith("PROF ") for ct, nc, name in [line.split()[1:4]]),
                  reverse=True)
    return [f"{name}: {ct * 1000:.1f} ms cumulative, {nc} calls (under cProfile)"
            for ct, nc, name in rows[:top]]


# Run a script, then print which heavy modules it imported (read at exit, from inside).
HEAVY = ("google.genai", "httpx", "pydantic", "rich", "questionary", "filelock")
_IMPORTS_WRAPPER = """
import atexit, os, runpy, sys
names = sys.argv[-1].split(',')
def seen():
    sys.stderr.write('IMPORTED ' + ','.join(n for n in names if n in sys.modules) + '\\n')
atexit.register(seen)
sys.argv = sys.argv[1:-1]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def imported(cmd: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The heavy modules one run of `cmd` (a script under PY) imported."""
    proc = subprocess.run([PY, "-c", _IMPORTS_WRAPPER, *cmd[1:], ",".join(HEAVY)], env=env,
                          cwd=cwd, text=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=120)
    lines = [x for x in proc.stderr.splitlines() if x.startswith("IMPORTED ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {proc.stderr[-300:]}")
    return [n for n in lines[-1][len("IMPORTED "):].split(",") if n]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


@dataclass
class Row:
    """One line of a table. `ratio` is judged against `bar` (and the softer `goal`)."""

    name: str
    median: str  # formatted, with its unit
    ratio: float | None = None
    bar: float | None = None
    goal: float | None = None
    check: bool | None = None  # a correctness check: True passes, False fails
    note: str = ""

    @property
    def result(self) -> str:
        if self.check is not None:
            return "OK" if self.check else "FAIL"
        if self.bar is None or self.ratio is None:
            return ""
        if self.ratio > self.bar:
            return "MISS"
        return "PASS" if self.goal is None or self.ratio <= self.goal else "PASS (bar only)"


@dataclass
class Table:
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.check is False for r in self.rows)

    def render(self) -> str:
        head = ("name", "median", "ratio", "bar", "result")
        body = [(r.name, r.median, "" if r.ratio is None else f"{r.ratio:.2f}",
                 _bar(r), r.result + (f"  {r.note}" if r.note else "")) for r in self.rows]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]
        lines = [f"## {self.title}", f"$ {self.command}", ""]
        for cells in [head, tuple("-" * w for w in widths) + ("------",), *body]:
            padded = (c.ljust(w) for c, w in zip(cells[:4], widths, strict=True))
            lines.append("  ".join(padded) + "  " + cells[4])
        lines += [f"  * {n}" for n in self.notes]
        return "\n".join(lines)


def _bar(r: Row) -> str:
    if r.bar is None:
        return ""
    return f"<= {r.bar:g}" + (f" (goal <= {r.goal:g})" if r.goal is not None else "")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def parse_args(doc: str, extra: Callable[[argparse.ArgumentParser], object] | None = None
               ) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast version")
    parser.add_argument("--rounds", type=int, help="paired rounds (default: set per script)")
    parser.add_argument("--json-out", metavar="PATH", help="also write the tables as JSON "
                        "(bench/run.py collects them)")
    if extra:
        extra(parser)
    return parser.parse_args()


def finish(tables: list[Table], json_out: str | None) -> int:
    """Print the tables; exit 1 only if a correctness check failed (a MISS still exits 0)."""
    for t in tables:
        print(t.render(), flush=True)
        print(flush=True)
    if json_out:
        data = [{"title": t.title, "command": t.command, "notes": t.notes,
                 "rows": [asdict(r) | {"result": r.result} for r in t.rows]} for t in tables]
        Path(json_out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if any(t.failed for t in tables) else 0


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"


def command_line() -> str:
    """How this script was run, for the table header (paths relative to the repository)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_s = str(script.relative_to(REPO))
    except ValueError:
        script_s = str(script)
    args = [a for i, a in enumerate(sys.argv[1:]) if a != "--json-out"
            and (i == 0 or sys.argv[i] != "--json-out")]
    return " ".join([".venv/bin/python", script_s, *args])
