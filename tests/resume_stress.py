"""Resume under stress: real runs killed with SIGKILL at many moments, then run again.

Shared by tests/test_resume_stress.py (a hundred trials in CI) and
bench/resume_stress.py (a thousand, with --replay). Three scenarios:

  chain    three independent stages (the first graded), then a synthesis after all three
  samples  one goal, --samples 4 --grade (four answers, four scorecards)
  refine   one goal, --grade --refine 3: attempt 1 fails its scorecard (the judge passes
           only an answer whose request carries <refinements>), attempt 2 passes

A trial starts `python orchestrator.py` on a fresh library and kills it either at a
time (uniform over an uninterrupted run's measured length) or at a named moment:
`request:N` (the fake kills it when its Nth model request has arrived) or one of the
points tests/crashpoint.py offers (`answer:N`, `publish:N`, `index:1`...). Then:

1. the fake settles: every request the dead process sent is recorded and finished
   (FakeGemini.settle, which also covers connections not yet accepted or half read);
2. what is on disk is checked (a run folder is whole or absent, a scorecard.json has
   its .md) and what was kept is noted, byte for byte;
3. the same command runs again, to the end, and must exit 0 having asked for exactly
   what was missing: every missing answer or scorecard once, nothing kept, nothing
   twice; every kept file unchanged; afterwards nothing half-written anywhere (no
   hidden temporary file or folder, every scorecard whole).

Requests are told apart by API key: the killed run sends one, the re-run another, so
which process asked for what never depends on timing; only the kill moment does. The
killed run's requests recorded after it was reaped are counted as `late`: they are the
ones a count started when the fake looked idle would have charged to the re-run.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from bench/ as a file
    sys.path.insert(0, str(REPO))

from tests.fake_gemini import KEEP, FakeGemini, Reply, RequestRecord, ok  # noqa: E402

ORCH = str(REPO / "orchestrator.py")
CRASHPOINT = str(REPO / "tests" / "crashpoint.py")
KILLED_KEY = "test-key-killed-run-1"
RERUN_KEY = "test-key-rerun-run-22"
STAGES = ("state", "retries", "recovery", "synthesis")
GRADED = "state"
SAMPLES = 4
TASK = "Pick a design for the nightly batch."
ANSWER = ("## Analysis\nThe state is kept in memory only.\n\n## Revised Algorithm\n"
          "1. Write a journal line per item.\n2. Skip journalled items on restart.\n\n"
          "## Risks\nThe journal grows.\n")
QUOTE = "Write a journal line per item."  # in ANSWER: every scorecard passes
GOALS = {
    "SIMULATE": {"description": "Simulate", "persona": "architect.txt",
                 "protocol": "simulate.txt", "constraints": ["rules.txt"], "rubric": "GRADE"},
    "GRADE": {"description": "Grade", "persona": "reviewer.txt", "protocol": "rubric.txt",
              "constraints": ["rules.txt"]},
    "SYNTH": {"description": "Synthesize", "persona": "principal.txt",
              "protocol": "synthesis.txt", "constraints": ["rules.txt"]},
}
PARTS = {
    "personas/architect.txt": "You are an architect.\n",
    "personas/reviewer.txt": "You are a senior staff reviewer.\n",
    "personas/principal.txt": "You are a principal engineer.\n",
    "protocols/simulate.txt": "Simulation\n\nAnalyze, simulate, decide.\n\nOutput format\n"
                              "## Decision\n",
    "protocols/rubric.txt": "Grading rubric\n\nJudge the answer.\n\nCriterion 1: Structure\n"
                            "Criterion 2: Solution\n\nFinal question: Is it a clear path?\n\n"
                            "Output format\n## Scorecard\nOne row per criterion.\n",
    "protocols/synthesis.txt": "Synthesis\n\nMerge the stages.\n\nOutput format\n## Design\n",
    "constraints/rules.txt": "Evidence only\n\nCite the material.\n",
}
SCRUBBED = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL",
            "GOOGLE_GENAI_API_VERSION", "GOOGLE_GENAI_USE_VERTEXAI",
            "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_PROJECT", "META_PROMPTING_ROOT",
            "META_PROMPTING_HOME", "META_PROMPTING_MODEL", "XDG_CONFIG_HOME", "CI",
            "PYTHONDONTWRITEBYTECODE", "MP_CRASH_AT", "HTTP_PROXY", "HTTPS_PROXY",
            "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")
# Named moments per scenario, each the Nth time it is reached: every narrow window a
# timed kill would rarely land in (a request in flight, an answer not yet kept, a folder
# not yet renamed, a scorecard half written, the index being replaced).
HOOKS = {
    "chain": ([f"request:{n}" for n in range(1, 6)] + [f"lock:{n}" for n in range(1, 5)]
              + [f"call:{n}" for n in range(1, 6)] + [f"answer:{n}" for n in range(1, 6)]
              + [f"publish:{n}" for n in range(1, 5)] + [f"published:{n}" for n in range(1, 5)]
              + ["scorecard:1", "index:1"]),
    "samples": ([f"request:{n}" for n in range(1, 9)] + [f"lock:{n}" for n in range(1, 5)]
                + [f"call:{n}" for n in range(1, 9)] + [f"answer:{n}" for n in range(1, 9)]
                + [f"publish:{n}" for n in range(1, 5)]
                + [f"published:{n}" for n in range(1, 5)]
                + [f"scorecard:{n}" for n in range(1, 5)]),
    "refine": ([f"request:{n}" for n in range(1, 5)] + [f"lock:{n}" for n in range(1, 3)]
               + [f"call:{n}" for n in range(1, 5)] + [f"answer:{n}" for n in range(1, 3)]
               + [f"publish:{n}" for n in range(1, 3)] + [f"published:{n}" for n in range(1, 3)]
               + [f"scorecard:{n}" for n in range(1, 3)]),
}
REFINE_ARGS = ["--grade", "--refine", "3"]


@dataclass
class Spec:
    """Everything a trial depends on: enough to replay it."""

    trial: int
    seed: int
    scenario: str  # "chain", "samples" or "refine"
    load: int  # busy-loop processes running meanwhile
    latency: float  # the fake's seconds per model reply
    kill_at: float | None = None  # seconds after start
    hook: str | None = None  # "request:N" or a crashpoint "POINT:N"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @property
    def moment(self) -> str:
        return self.hook if self.hook else f"at {self.kill_at:.3f}s"


@dataclass
class Outcome:
    spec: Spec
    killed: bool = False  # False: the run finished before the kill
    killed_requests: int = 0  # generation requests the killed run sent
    late: int = 0  # of those, recorded only after the process was reaped
    kept: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # by the re-run
    leftovers: list[str] = field(default_factory=list)  # half-done state the kill left
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def landed(self) -> str:
        """Where the kill landed, from what it left: the row it counts in."""
        if not self.killed:
            return "finished before the kill"
        if self.killed_requests == 0:
            return "before any request"
        what = f"{self.killed_requests} requests sent, {len(self.kept)} results kept"
        return what + (f" ({', '.join(sorted(set(self.leftovers)))})" if self.leftovers else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.spec), "killed": self.killed,
                "killed_requests": self.killed_requests, "late": self.late,
                "kept": self.kept, "asked": self.asked, "leftovers": self.leftovers,
                "landed": self.landed, "problems": self.problems,
                "seconds": round(self.seconds, 3)}


# --- a trial's world ---------------------------------------------------------------


def make_world(folder: Path) -> Path:
    """A fresh library (and, for chains, the chain file) in `folder`; returns the root."""
    root = folder / "lib"
    for key, text in PARTS.items():
        (root / "components" / key).parent.mkdir(parents=True, exist_ok=True)
        (root / "components" / key).write_text(text)
    (root / "goal_map.json").write_text(json.dumps(GOALS, indent=2))
    chains = folder / "chains"
    (chains / "ev").mkdir(parents=True)
    for name in STAGES[:3]:
        (chains / "ev" / f"{name}.txt").write_text(f"Evidence for {name}.\n")
    stages: list[dict[str, Any]] = [
        {"name": n, "goal": "SIMULATE", "task": f"Simulate the {n} design.",
         "evidence": [f"ev/{n}.txt"]} for n in STAGES[:3]]
    stages[0]["grade"] = True
    stages.append({"name": "synthesis", "goal": "SYNTH", "task": "Merge them.",
                   "after": list(STAGES[:3])})
    (chains / "chain.json").write_text(json.dumps({"description": "Resume under stress",
                                                   "stages": stages}, indent=2))
    return root


def command(scenario: str, folder: Path, hooked: bool) -> list[str]:
    root = folder / "lib"
    what = (["--chain", str(folder / "chains" / "chain.json"), "--project", "p"]
            if scenario == "chain" else
            ["-g", "SIMULATE", "-p", "r", "--task", TASK, *REFINE_ARGS]
            if scenario == "refine" else
            ["-g", "SIMULATE", "-p", "s", "--task", TASK, "--samples", str(SAMPLES), "--grade"])
    return [sys.executable, CRASHPOINT if hooked else ORCH, "--root", str(root), *what, "-q"]


def child_env(fake: FakeGemini, key: str, folder: Path, pycache: str,
              hook: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(GEMINI_API_KEY=key, GOOGLE_GEMINI_BASE_URL=fake.base_url,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               META_PROMPTING_RETRY_DELAY="0.01", META_PROMPTING_HOME=str(folder / "home"),
               PYTHONPYCACHEPREFIX=pycache, COLUMNS="100")
    if hook:
        env["MP_CRASH_AT"] = hook
    return env


def new_fake(latency: float, scenario: str = "chain") -> FakeGemini:
    fake = FakeGemini(latency=latency, schema_overrides={"quotes": [QUOTE]})
    fake.responder = lambda r: None if r.response_schema is not None else ok(ANSWER)
    if scenario == "refine":
        fake.schema_overrides = learning_judge(fake)
    return fake


def learning_judge(fake: FakeGemini) -> Any:
    """A judge that fails the first criterion of an answer whose request carried no
    <refinements> block: attempt 1 fails, attempt 2 passes. A refine loop asks one judge
    at a time, so the judge being answered is the latest judge request."""
    def shape(at: tuple[str | int, ...], _schema: dict[str, Any]) -> Any:
        judged = [r for r in fake.requests if r.response_schema is not None][-1]
        if at and at[-1] == "quotes":
            return [QUOTE]
        if at[-1:] == ("verdict",) and at[0] == "criteria":
            assert judged.response_schema is not None
            first = next(iter(judged.response_schema["properties"]["criteria"]["properties"]))
            return "FAIL" if at[1] == first and "<refinements>" not in judged.prompt else "PASS"
        if at == ("path_forward", "verdict"):
            return "YES"
        return KEEP
    return shape


# --- what is on disk ---------------------------------------------------------------


def results_dirs(scenario: str, root: Path) -> dict[str, Path]:
    """Each place run folders live, by the name its results are known by."""
    if scenario == "chain":
        return {s: root / "output" / "p" / s / "runs" for s in STAGES}
    if scenario == "refine":
        return {"attempt": root / "output" / "r" / "runs"}
    return {"sample": root / "output" / "s" / "runs"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def survey(scenario: str, root: Path) -> tuple[dict[str, dict[str, bytes]], list[str], list[str]]:
    """What is kept (result name -> its files' bytes), half-done state the rules allow
    a kill to leave, and every broken rule."""
    kept: dict[str, dict[str, bytes]] = {}
    leftovers: list[str] = []
    problems: list[str] = []
    for name, runs in results_dirs(scenario, root).items():
        if not runs.is_dir():
            continue
        for entry in sorted(runs.iterdir()):
            if entry.name.startswith("."):
                if entry.name.endswith(".tmp"):
                    leftovers.append("run folder not yet renamed" if entry.is_dir()
                                     else "temporary file")
                continue
            where = f"{entry.relative_to(root)}"
            files = {p.name for p in entry.iterdir()} if entry.is_dir() else set()
            if not {"answer.md", "run.json"} <= files:
                problems.append(f"{where} is not whole: {sorted(files)}")
                continue
            try:
                record = json.loads((entry / "run.json").read_text())
            except ValueError:
                problems.append(f"{where}/run.json is not JSON")
                continue
            if record.get("sha256", {}).get("answer") != sha256(entry / "answer.md"):
                problems.append(f"{where}/answer.md does not match its run.json")
            label = (name if scenario == "chain" else
                     f"attempt {(record.get('refined_from') or {}).get('attempt', 1)}"
                     if scenario == "refine" else f"sample {record.get('sample')}")
            if label in kept:
                problems.append(f"{label} is kept twice")
            kept[label] = {f: (entry / f).read_bytes() for f in ("answer.md", "run.json")}
            for p in entry.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    leftovers.append("temporary scorecard file")
                elif p.name not in ("answer.md", "run.json", "scorecard.md", "scorecard.json"):
                    problems.append(f"{where}/{p.name} does not belong in a run folder")
            if "scorecard.json" in files:
                # The .json is the commit and the .md is renamed in after it
                # (grading.scorecard.publish_scorecard): a kill between the two renames,
                # which another grade's kill can land in, leaves the .json alone, and the
                # next look writes the .md from it without asking a judge.
                if "scorecard.md" not in files:
                    leftovers.append("scorecard.json whose .md is not yet renamed in")
                try:
                    json.loads((entry / "scorecard.json").read_text())["key"]
                except (ValueError, KeyError, TypeError):
                    problems.append(f"{where}/scorecard.json is not a whole scorecard")
                kept[f"{label}:scorecard"] = {"scorecard.json":
                                              (entry / "scorecard.json").read_bytes()}
            elif "scorecard.md" in files:
                leftovers.append("scorecard.md without .json")
    out = root / "output"
    if out.is_dir():
        for p in out.rglob(".*.tmp"):
            if p.parent.name != "runs" and p.parent.parent.name != "runs":
                leftovers.append(f"temporary {p.name.split('.')[1]}")
    return kept, leftovers, problems


def expected(scenario: str) -> list[str]:
    if scenario == "chain":
        return [*STAGES, f"{GRADED}:scorecard"]
    if scenario == "refine":
        return ["attempt 1", "attempt 1:scorecard", "attempt 2", "attempt 2:scorecard"]
    return [x for n in range(1, SAMPLES + 1) for x in (f"sample {n}", f"sample {n}:scorecard")]


def named(scenario: str, record: RequestRecord) -> str:
    """The result a request asks for. A sample's number is not in its prompt (all four
    are the same session), so samples are told apart only by count."""
    judge = record.response_schema is not None
    if scenario == "refine":
        # the judge's request quotes the answer's request: a refined one carries the block
        attempt = 2 if "<refinements>" in record.prompt else 1
        return f"attempt {attempt}" + (":scorecard" if judge else "")
    if scenario == "samples":
        return "sample ?:scorecard" if judge else "sample ?"
    if judge:
        return f"{GRADED}:scorecard"
    task = record.prompt.split("<task>\n")[-1].split("\n</task>")[0]
    for stage in STAGES:
        if f"the {stage} design" in task:
            return stage
    return "synthesis" if "Merge them." in task else f"unknown request ({task[:40]!r})"


def generic(scenario: str, names: Sequence[str]) -> Counter[str]:
    if scenario != "samples":
        return Counter(names)
    return Counter("sample ?:scorecard" if n.endswith(":scorecard") else "sample ?"
                   for n in names)


# --- running ------------------------------------------------------------------------


def run_clean(scenario: str, folder: Path, latency: float, pycache: str) -> float:
    """One uninterrupted run: its length, and proof it asks for each result once."""
    make_world(folder)
    with new_fake(latency, scenario) as fake:
        start = time.monotonic()
        done = subprocess.run(command(scenario, folder, False),
                              env=child_env(fake, RERUN_KEY, folder, pycache), cwd=folder,
                              capture_output=True, text=True, timeout=300)
        seconds = time.monotonic() - start
        asked = generic(scenario, [named(scenario, r) for r in fake.requests])
    if done.returncode != 0 or asked != generic(scenario, expected(scenario)):
        raise RuntimeError(f"an uninterrupted {scenario} run exited {done.returncode} "
                           f"asking for {dict(asked)}: {done.stderr[-2000:]}")
    return seconds


def run_trial(spec: Spec, folder: Path, pycache: str) -> Outcome:
    start = time.monotonic()
    outcome = Outcome(spec)
    root = make_world(folder)
    with new_fake(spec.latency, spec.scenario) as fake:
        point, _, nth = (spec.hook or "").partition(":")
        hooked = bool(spec.hook) and point != "request"
        env = child_env(fake, KILLED_KEY, folder, pycache, spec.hook if hooked else None)
        proc = subprocess.Popen(command(spec.scenario, folder, hooked), env=env, cwd=folder,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if point == "request":
            arrived = itertools.count(1)  # next() is atomic: handlers run on threads

            def kill_on_arrival(r: RequestRecord) -> Reply | None:
                if r.api_key == KILLED_KEY and next(arrived) == int(nth):
                    proc.send_signal(signal.SIGKILL)
                return None if r.response_schema is not None else ok(ANSWER)

            fake.responder = kill_on_arrival
        try:
            code = proc.wait(timeout=spec.kill_at if spec.kill_at is not None else 300)
            outcome.killed = code == -signal.SIGKILL
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            outcome.killed = True
        if not outcome.killed and code != 0:
            outcome.problems.append(f"the run to be killed exited {code} by itself")
        reaped = sum(r.api_key == KILLED_KEY for r in fake.requests)
        if not fake.settle(timeout=120):
            outcome.problems.append("the fake did not settle within 120 s")
        killed_reqs = [r for r in fake.requests if r.api_key == KILLED_KEY]
        outcome.killed_requests = len(killed_reqs)
        outcome.late = len(killed_reqs) - reaped
        kept, outcome.leftovers, problems = survey(spec.scenario, root)
        outcome.problems += [f"after the kill: {p}" for p in problems]
        outcome.kept = sorted(kept)
        missing = [x for x in expected(spec.scenario) if x not in kept]
        fake.responder = lambda r: None if r.response_schema is not None else ok(ANSWER)
        rerun = subprocess.run(command(spec.scenario, folder, False),
                               env=child_env(fake, RERUN_KEY, folder, pycache), cwd=folder,
                               capture_output=True, text=True, timeout=300)
        if rerun.returncode != 0:
            outcome.problems.append(f"the re-run exited {rerun.returncode}: "
                                    f"{rerun.stderr.strip()[-500:]}")
        settled = fake.settle(timeout=120)
        asked = [named(spec.scenario, r) for r in fake.requests if r.api_key == RERUN_KEY]
        outcome.asked = asked
        after = sum(r.api_key == KILLED_KEY for r in fake.requests)
        if settled and after != outcome.killed_requests:
            outcome.problems.append(f"{after - outcome.killed_requests} request(s) of the "
                                    "killed run arrived after the fake had settled")
    want, got = generic(spec.scenario, missing), Counter(asked)
    if got != want:
        extra, lacking = got - want, want - got
        outcome.problems.append(
            f"the re-run asked for {sorted(got.elements())} where {sorted(want.elements())} "
            f"were missing" + (f"; asked needlessly: {sorted(extra.elements())}" if extra else "")
            + (f"; never asked: {sorted(lacking.elements())}" if lacking else ""))
    final, leftovers, problems = survey(spec.scenario, root)
    outcome.problems += [f"after the re-run: {p}" for p in problems]
    outcome.problems += [f"after the re-run: {x} left" for x in sorted(set(leftovers))]
    if sorted(final) != sorted(expected(spec.scenario)):
        outcome.problems.append(f"after the re-run, kept {sorted(final)}")
    for name, files in kept.items():
        if final.get(name) != files:
            outcome.problems.append(f"the re-run changed {name}, which was kept")
    if spec.scenario == "chain" and not (root / "output" / "p" / "CHAIN.md").is_file():
        outcome.problems.append("after the re-run there is no CHAIN.md")
    outcome.seconds = time.monotonic() - start
    return outcome


# --- batches ------------------------------------------------------------------------


def calibrate(scenario: str, workdir: Path, latency: float, pycache: str, load: int = 0,
              runs: int = 1) -> float:
    """The span kill times are drawn from: an uninterrupted run's length (the longest of
    `runs`, under the same load), and a tenth more so that some kills find it finished."""
    with busy(load):
        return 1.1 * max(run_clean(scenario, Path(tempfile.mkdtemp(dir=workdir)), latency,
                                   pycache) for _ in range(runs))


def plan(scenario: str, trials: int, seed: int, load: int, latency: float, span: float,
         first: int = 0, hooks: Sequence[str] | None = None) -> list[Spec]:
    """`trials` kills for one scenario: the named moments `hooks` (default: all), then
    kill times drawn uniformly over [0, span]."""
    rng = random.Random(f"{seed}/{scenario}/{load}")
    names = list(HOOKS[scenario] if hooks is None else hooks)[:trials]
    specs = [Spec(first + i, seed, scenario, load, latency, hook=h) for i, h in enumerate(names)]
    while len(specs) < trials:
        specs.append(Spec(first + len(specs), seed, scenario, load, latency,
                          kill_at=round(rng.uniform(0.0, span), 3)))
    return specs


@contextmanager
def busy(n: int) -> Iterator[None]:
    """`n` processes spinning on a CPU each: a machine with less to spare."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def run_batch(specs: Sequence[Spec], workdir: Path, workers: int = 1,
              log: Path | None = None, pycache: str | None = None) -> list[Outcome]:
    """Run the trials (`workers` at a time), logging each as a JSON line when done.

    Busy loops run for the whole batch when its specs ask for them (all the same load).
    """
    pycache = pycache or tempfile.mkdtemp(prefix="mp-stress-pyc-", dir=workdir)
    load = max((s.load for s in specs), default=0)
    outcomes: list[Outcome] = []

    def one(spec: Spec) -> Outcome:
        folder = Path(tempfile.mkdtemp(prefix=f"t{spec.trial}-", dir=workdir))
        try:
            outcome = run_trial(spec, folder, pycache)
        except Exception as e:  # noqa: BLE001 - a harness fault is a failed trial, logged
            return Outcome(spec, problems=[f"the harness failed: {e!r}"])
        if outcome.ok:  # a failed trial's folder stays, to be looked at
            shutil.rmtree(folder, ignore_errors=True)
        return outcome

    with busy(load), concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for outcome in pool.map(one, specs):
            outcomes.append(outcome)
            if log is not None:
                with log.open("a") as f:
                    f.write(json.dumps(outcome.to_dict()) + "\n")
    return outcomes
