"""--runs: a project's kept runs, newest first, a line each; --runs RUN: one of them whole.

A run is one request (the persona and the filled prompt) and its samples: the answers
kept in runs/<run>-<n>/. Each line says when, what it was asked (the first line of its
task, read from the request kept with it), the model, the verdict and which samples
passed, hand edits marked, and what it cost. Read from the records on disk through the
report's readers, which take a record as it may be (edited, old, unreadable); no model
is called and nothing is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import EXIT_OK, UserError

if TYPE_CHECKING:
    from meta_prompting.library.goals import Library
    from meta_prompting.library.survey import GoalListing
    from meta_prompting.report.cards import Card
    from meta_prompting.report.gather import Group, Toolkit

NOT_KEPT = "(its task was not kept: made before each run kept its request)"
EDITED_MARK = "*"  # after a verdict: an answer or verdict edited by hand (said below)


class SampleView(NamedTuple):
    label: str  # "1", "2", ... or "imported"
    run_id: str
    folder: Path
    passed: bool | None  # None: not graded
    edited: bool  # its answer was edited by hand
    verdict_edited: bool
    scorecard: str | None  # the scorecard's file name, in the run folder


class RunView(NamedTuple):
    run: str  # the request's id: its samples are runs/<run>-<n>
    date: str  # the newest sample's, as recorded (UTC)
    stage: str | None  # a chain's stage, else None
    goal: str | None
    task: str | None
    model: str
    samples: tuple[SampleView, ...]
    tokens: int | None
    seconds: float | None
    usd: float | None  # None: unknown (a model with no price)
    toolkit: Path
    request: str | None  # the kept prompt, relative to the toolkit
    made: int = 0  # its newest record's mtime: the order within one recorded second

    @property
    def verdict(self) -> str:
        graded = [s.passed for s in self.samples if s.passed is not None]
        word = "ungraded" if not graded else "PASS" if all(graded) else "FAIL"
        return word

    @property
    def edited(self) -> bool:
        return any(s.edited or s.verdict_edited for s in self.samples)

    @property
    def passing(self) -> str:
        """Which samples passed: "2/3 pass: 1,3", "1/1 pass", or "3 samples"."""
        n = len(self.samples)
        if all(s.passed is None for s in self.samples):
            return f"{n} sample{'s' if n != 1 else ''}"
        passed = [s.label for s in self.samples if s.passed]
        which = f": {','.join(passed)}" if 0 < len(passed) < n else ""
        return f"{len(passed)}/{n} pass{which}"

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "date": self.date, "stage": self.stage, "goal": self.goal,
                "task": self.task, "model": self.model, "verdict": self.verdict,
                "edited": self.edited, "passing": self.passing,
                "samples": [{"sample": s.label, "run_id": s.run_id, "passed": s.passed,
                             "edited": s.edited, "verdict_edited": s.verdict_edited,
                             "answer": str(s.folder / "answer.md"),
                             "scorecard": str(s.folder / s.scorecard) if s.scorecard
                             else None} for s in self.samples],
                "tokens": self.tokens, "seconds": self.seconds, "usd": self.usd,
                "request": str(self.toolkit / self.request) if self.request else None}


def project_folder(root: Path, project: str) -> Path:
    from meta_prompting.face.recall import project_folder as folder_of

    folder = folder_of(root, project)
    if not folder.is_dir():
        raise UserError(f"--project {project}: no such project under {folder.parent}")
    return folder


def collect(library: Library, project: str, folder: Path, goal: str | None = None
            ) -> list[RunView]:
    """Every kept run of the project (each stage's, for a chain), newest first."""
    from meta_prompting.report.gather import gather_project

    found = gather_project(library, project, folder)
    toolkits: list[tuple[str | None, Toolkit]] = []
    if found.toolkit is not None:
        toolkits.append((None, found.toolkit))
    if found.chain is not None:
        toolkits += [(s.name, s.toolkit) for s in found.chain.stages if s.toolkit]
    runs = [_view(group._replace(runs=kept), toolkit, stage) for stage, toolkit in toolkits
            if goal is None or toolkit.goal == goal for group in toolkit.groups
            # a run set aside by --fresh is kept, but no longer one of the samples
            if (kept := tuple(r for r in group.runs if ".replaced-" not in r.run_id))]
    return sorted(runs, key=lambda r: (r.date, r.made), reverse=True)


def _view(group: Group, toolkit: Toolkit, stage: str | None) -> RunView:
    from meta_prompting.report.records import total
    from meta_prompting.runs.requests import read_request, task_of

    samples, tokens, seconds, usd = [], [], [], []
    for run in group.runs:
        card = _latest(run.cards, toolkit.folder / "runs" / run.run_id)
        samples.append(SampleView(run.sample, run.run_id, toolkit.folder / "runs" / run.run_id,
                                  card.passed if card else None, run.edited,
                                  bool(card and card.edited), card.file if card else None))
        tokens.append(total(run.record.get("tokens")))
        for c in run.cards:
            tokens += [j.tokens for j in c.judges]
            usd.append(c.usd)
        took = run.record.get("seconds")
        seconds.append(took if isinstance(took, (int, float)) else None)
        cost = run.record.get("cost")
        if not isinstance(cost, dict) and isinstance(run.record.get("tokens"), dict):
            from meta_prompting.models.prices import cost_of  # a record from before costs

            cost = cost_of(str(run.record.get("model") or ""), [
                (run.record["tokens"], run.record.get("model_version"))])
        usd.append(0.0 if run.record.get("imported") else
                   cost.get("usd") if isinstance(cost, dict) else None)
    record = next((r.record for r in group.runs if r.record), {})
    prompt = read_request(toolkit.folder, record)
    kept = record.get("request")
    link = kept.get("prompt") if isinstance(kept, dict) else None
    return RunView(
        group.key, max((str(r.record.get("date") or "") for r in group.runs), default=""),
        stage, toolkit.goal, task_of(prompt) if prompt is not None else None,
        str(record.get("model") or "?"), tuple(samples),
        _sum(tokens), _sum(seconds), _sum(usd) if all(u is not None for u in usd) else None,
        toolkit.folder, link if isinstance(link, str) and prompt is not None else None,
        max((_mtime(toolkit.folder / "runs" / r.run_id / "run.json") for r in group.runs),
            default=0))


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _latest(cards: tuple[Card, ...], folder: Path) -> Card | None:
    """The scorecard written last: the verdict of the grade made most recently."""
    def written(card: Card) -> float:
        try:
            return os.stat(folder / card.file).st_mtime
        except OSError:
            return 0.0

    readable = [c for c in cards if c.passed is not None]
    return max(readable, key=written, default=None)


def _sum(values: list[Any]) -> Any:
    known = [v for v in values if isinstance(v, (int, float))]
    return sum(known) if known else None


def show_runs(root: Path, args: argparse.Namespace,
              print_json: Callable[[dict[str, Any]], None]) -> int:
    """--runs [RUN] with --project P (and --goal G to keep only its toolkits' runs)."""
    from meta_prompting.library.goals import load_library

    if args.project is None:
        raise UserError("--runs lists a project's runs: give --project NAME")
    folder = project_folder(root, args.project)
    library = load_library(root)
    goal = library.goal(args.goal).name if args.goal else None
    runs = collect(library, args.project, folder, goal)
    if args.runs:  # one run, whole
        chosen = [r for r in runs if r.run.startswith(args.runs) or any(
            s.run_id == args.runs for s in r.samples)]
        if len(chosen) != 1:
            why = "no run" if not chosen else f"{len(chosen)} runs"
            raise UserError(f"--runs {args.runs}: {why} of project {args.project} "
                            "matches; --runs alone lists them")
        if args.json:
            print_json({"ok": True, "project": args.project, "run": _whole(chosen[0])})
        else:
            show_run(chosen[0], args.project)
        return EXIT_OK
    if args.json:
        print_json({"ok": True, "project": args.project, "folder": str(folder),
                    "runs": [r.to_dict() for r in runs]})
        return EXIT_OK
    from meta_prompting.face.show import nice_path, terminal_width, writer

    if not runs:  # no table of headings alone
        if not args.quiet:
            writer()(f"No runs kept in {nice_path(folder)}/ yet: --run makes one.")
        return EXIT_OK
    sys.stdout.write("".join(f"{line}\n" for line in table(runs, terminal_width(),
                                                           args.quiet)))
    if not args.quiet:
        where, write = nice_path(folder), writer()
        if any(r.edited for r in runs):
            write(f"{EDITED_MARK} an answer or a verdict edited by hand")
        write(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}/, newest first; "
              "--runs RUN shows what one was asked" if runs else
              f"No runs kept in {where}/ yet: --run makes one")
    return EXIT_OK


def _whole(run: RunView) -> dict[str, Any]:
    from meta_prompting.runs.requests import read_request
    from meta_prompting.toolkit.prompt import read_filling

    data = run.to_dict()
    prompt = read_request(run.toolkit, {"sha256": {"prompt": _sha(run.request)}})
    filling = read_filling(prompt) if prompt is not None else None
    data["evidence"] = [d.name for d in filling.documents] if filling else None
    return data


def _sha(link: str | None) -> str | None:
    found = re.search(r"([0-9a-f]{64})\.md$", link or "")
    return found.group(1) if found else None


# Columns of the listing: (title, right-aligned); the task last, cut to the width left.
COLUMNS = (("date", False), ("run", False), ("verdict", False), ("samples", False),
           ("tokens", True), ("seconds", True), ("cost", True), ("model", False))
DROPPED_FIRST = ("seconds", "model", "tokens", "cost", "samples")  # on a narrow terminal
TASK_MIN = 12


def table(runs: list[RunView], width: int | None, quiet: bool) -> list[str]:
    """Pure: the listing's lines, fitted to `width` (None: a pipe, every column whole)."""
    from meta_prompting.face.show import printable
    from meta_prompting.models.prices import money
    from meta_prompting.runs.requests import first_line

    rows = []
    narrow = width is not None and width < 120  # the day alone: room for the rest
    for r in runs:
        task = first_line(r.task) if r.task is not None else NOT_KEPT
        verdict = r.verdict + (EDITED_MARK if r.edited else "")
        date = r.date[:10] if narrow else r.date[:16].replace("T", " ")
        rows.append({"date": date, "run": r.run, "verdict": verdict,
                     "samples": r.passing,
                     "tokens": f"{r.tokens:,}" if r.tokens is not None else "",
                     "seconds": f"{r.seconds:.1f}" if r.seconds is not None else "",
                     "cost": money(r.usd), "model": printable(r.model),
                     "task": printable(f"{r.stage}: {task}" if r.stage else task)})
    shown = [c for c in COLUMNS if not quiet or c[0] in ("date", "run", "verdict")]
    head = [] if quiet else [dict({c: c for c, _ in shown}, task="task")]

    def widths(columns: list[tuple[str, bool]]) -> dict[str, int]:
        return {c: max(len(row[c]) for row in head + rows) for c, _ in columns}

    while width is not None and rows:
        sizes = widths(shown)
        used = sum(sizes.values()) + 2 * len(shown)
        droppable = [c for c in DROPPED_FIRST if any(s[0] == c for s in shown)]
        if used + TASK_MIN <= width or not droppable:
            break
        shown = [c for c in shown if c[0] != droppable[0]]
    sizes = widths(shown) if rows else {}
    lines = []
    for row in head + rows:
        cells = [row[c].rjust(sizes[c]) if right else row[c].ljust(sizes[c])
                 for c, right in shown]
        line = "  ".join([*cells, row["task"]])
        if width is not None and len(line) > width - 1:
            line = line[:width - 2].rstrip() + "…"
        lines.append(line.rstrip())
    return lines


def show_run(run: RunView, project: str) -> None:
    """One run: when, what it was asked (the whole task), its evidence, its answers."""
    from meta_prompting.face.show import nice_path, printable

    data = _whole(run)
    write = sys.stdout.write
    where = f" (stage {run.stage})" if run.stage else ""
    write(f"Run {run.run} of project {project}{where}: goal {run.goal or '?'}, "
          f"{run.date.replace('T', ' ').rstrip('Z')} UTC, {printable(run.model)}\n")
    write("Task:\n")
    for line in (run.task or NOT_KEPT).splitlines():
        write(f"  {printable(line)}\n")
    evidence = data["evidence"]
    write("Evidence: " + ("(unknown)" if evidence is None else
                          ", ".join(printable(n) for n in evidence) or "none") + "\n")
    if run.request:
        write(f"Request as sent: {nice_path(run.toolkit / run.request)}\n")
    for s in run.samples:
        verdict = "ungraded" if s.passed is None else "PASS" if s.passed else "FAIL"
        marks = [m for m, yes in (("answer edited by hand", s.edited),
                                  ("verdict edited by hand", s.verdict_edited)) if yes]
        card = (f"  {nice_path(s.folder / s.scorecard).removesuffix('.json')}.md"
                if s.scorecard else "")
        write(f"  sample {s.label}: {verdict}{' (' + ', '.join(marks) + ')' if marks else ''}"
              f"  {nice_path(s.folder / 'answer.md')}{card}\n")


def project_goals(root: Path, project: str) -> list[str]:
    """The goals of a project's toolkit (or of each stage of its chain), in order."""
    from meta_prompting.face.recall import toolkit_goal

    folder = project_folder(root, project)
    goals = [toolkit_goal(folder)]
    try:
        stages = sorted(e.name for e in os.scandir(folder)
                        if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except OSError:
        stages = []
    goals += [toolkit_goal(folder / name) for name in stages if name != "runs"]
    found = list(dict.fromkeys(g for g in goals if g))
    if not found:
        raise UserError(f"--project {project}: {folder} holds no toolkit yet (no "
                        "manifest.json names its goal)")
    return found


def list_project(root: Path, args: argparse.Namespace, library: Library,
                 listings: list[GoalListing],
                 print_json: Callable[[dict[str, Any]], None]) -> int:
    """--list -p P: P's goals and their parts, not every goal (a person naming a project
    asks about that project)."""
    from meta_prompting.face import show

    goals = project_goals(root, args.project)
    listings = [x for x in listings if x.goal.name in goals]
    if args.json:
        print_json({**show.list_json(library, listings),
                    "project": {"name": args.project, "goals": goals}})
    else:
        sys.stdout.write(f"Project {args.project}: {', '.join(goals)}\n")
        show.listing(library, listings)
    return EXIT_OK
