"""The wizard after a complete build: fill the toolkit, run it once, offer to grade it.

It only asks and shows: the filled build, the run and the scorecard are the same core
as --task/--evidence, --run and --grade (build, run_samples, grade_sample), which write
each result whole or not at all. A flag given answers its question, as for the goal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, UsageError, UserError
from meta_prompting.face import ask

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from meta_prompting.evidence.read import Evidence
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.library.goals import Library
    from meta_prompting.runs.run import RunReport, Session
    from meta_prompting.toolkit.build import BuildOptions, BuildReport


class Asked(NamedTuple):
    """What the run and grade flags said (cli's names): each answers its question."""

    task: str | None = None
    task_file: str | None = None
    evidence: Sequence[str] = ()
    run: bool = False
    samples: int | None = None
    again: bool = False
    max_tokens: int | None = None
    grade: bool = False
    grade_with: str | None = None
    judges: int = 1
    answer: str | None = None
    refine: int | None = None  # --refine N: refine after a FAIL without asking, N attempts
    judge_model: str | None = None


class Given(NamedTuple):
    """The flags' task, evidence and rubric, read before any question is asked."""

    task: str | None = None
    evidence: Evidence | None = None
    rubric: Rubric | None = None


def read_flags(library: Library, asked: Asked, options: BuildOptions) -> Given:
    """Refuse a bad task, evidence or rubric flag now, not after every question."""
    from meta_prompting.evidence.read import collect, read_task
    from meta_prompting.grading.grade import read_rubric

    if asked.answer is not None:
        raise UsageError("--answer grades an answer made elsewhere: give --goal and "
                         "--project too")
    if "-" in (asked.task_file, *asked.evidence):
        raise UsageError("the wizard asks on standard input: give the task or the evidence "
                         "as a file, or leave the flag out to be asked")
    running = asked.run or asked.grade or bool(asked.samples) or asked.again
    if running and not options.generate:
        raise UsageError("--run and --no-generate: a run calls the model")
    task = read_task(asked.task, asked.task_file)
    evidence = collect(list(asked.evidence), task or "") if asked.evidence else None
    _check_key(task or "", evidence)
    # Without --grade-with the rubric is the goal's, known once the goal is chosen.
    rubric = (read_rubric(library, asked.grade_with) if asked.grade and asked.grade_with
              else None)
    return Given(task, evidence, rubric)


def offer_run(out: Console, library: Library, built: BuildReport, options: BuildOptions,
              asked: Asked, given: Given) -> int:
    """Offer to run the toolkit just built; run it, show the answer, offer to grade it."""
    from meta_prompting.face import show_runs
    from meta_prompting.models import default_model, model_access
    from meta_prompting.runs.run import Session, Settings
    from meta_prompting.toolkit.build import build, rerun_command

    running = asked.run or asked.grade or bool(asked.samples) or asked.again
    out.print()
    if not running:
        why = ("--no-generate (a run calls the model)" if not options.generate else
               "no API key (set GEMINI_API_KEY or GOOGLE_API_KEY)"
               if model_access(options.model, options.base_url) is None else None)
        if why:
            out.print(f"Not offered to run it: {why}.")
            _print_next(out, built)
            return EXIT_OK
        if not ask.confirm("Run it now? (a fresh session)"):
            _print_next(out, built)
            return EXIT_OK
    task = given.task or _ask_task(out)
    if task is None:
        out.print("No task: not run.")
        _print_next(out, built)
        return EXIT_OK
    if given.evidence is not None:
        paths, evidence = list(asked.evidence), given.evidence
        for note in evidence.notes:
            out.print(f"  {_escape(note)}")
        _say_evidence(out, evidence)
    else:
        paths, evidence = _ask_evidence(out, task)
    filled = options._replace(filling=evidence.filling._replace(task=task), make=None,
                              progress=None, suffix=_suffix(task, paths, asked, asked.grade))
    built = build(library, built.goal, built.project, filled)
    if built.filled is None:  # a part went missing meanwhile: never send a placeholder
        show_runs.run(built, None)
        return built.exit_code or EXIT_INCOMPLETE
    session = Session(*built.filled, Settings(options.model or default_model(),
                                              asked.max_tokens, options.base_url))
    sent = len(session.system) + len(session.prompt)
    out.print(f"Sending 00_PERSONA.md and 02_PROMPT.md: {sent:,} characters (about "
              f"{sent // 4:,} tokens) to {_escape(session.settings.model)}.")
    ran = _run(out, built, session, options, asked)
    if ran.exit_code:
        return ran.exit_code
    # "Run it again to finish" after a grade: with --grade, which runs what is missing.
    again = rerun_command(options.command, built.goal, built.project) + _suffix(
        task, paths, asked, grade=True)
    return _offer_grade(out, library, built, ran._replace(command=again), session, options,
                        asked, given)


def _ask_task(out: Console) -> str | None:
    from meta_prompting.evidence.read import read_task

    about = "The task: what you want done, and what a good answer looks like"
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        out.print(f"{about}. Opening {_escape(editor)}…")
        text = ask.edit("", "task.md", lambda line: out.print(_escape(line)))
    else:
        out.print(f"{about}; {ask.FINISH_HINT}.")
        text = ask.text("Task:", multiline=True, instruction="\n", validate=lambda t: bool(
            t.strip()) or "say what you want done")
    task = read_task(text, None) if text.strip() else None
    if task is not None:
        _check_key(task, None)
    return task


def _check_key(task: str, evidence: Evidence | None) -> None:
    """Refuse now, before the run is offered or anything is written, a key in the task
    or the evidence (the build refuses it too: this only says it sooner)."""
    from meta_prompting.toolkit.build import check_filling
    from meta_prompting.toolkit.prompt import Filling

    check_filling(evidence.filling._replace(task=task) if evidence else Filling(task))


def _ask_evidence(out: Console, task: str) -> tuple[list[str], Evidence]:
    """Paths one at a time, each checked (and the total against the limit) after Enter."""
    from meta_prompting.evidence.read import collect

    out.print("The evidence: files or folders the task is about, one at a time (Tab "
              "completes a path; an empty answer ends).")
    paths: list[str] = []
    evidence = collect([], task)
    wrong = ""
    while True:
        # Checked after Enter, the reason printed right below it, as for the project name.
        typed = ask.path(f"Evidence {len(paths) + 1}:", default=wrong).strip()
        if not typed:
            return paths, evidence
        typed = os.path.expanduser(typed)
        try:
            more = collect([*paths, typed], task)
            _check_key("", more)  # another path is asked for, as for a missing one
        except UserError as e:
            out.print(f"[red]{_escape(str(e).removeprefix('--evidence '))}[/]")
            wrong = typed
            continue
        wrong = ""
        for note in more.notes[len(evidence.notes):]:
            out.print(f"  {_escape(note)}")
        if len(more.filling.documents) == len(evidence.filling.documents):
            out.print("  [yellow]No new document[/] (already given, or no text file in it).")
            continue
        paths.append(typed)
        evidence = more
        _say_evidence(out, evidence)


def _say_evidence(out: Console, evidence: Evidence) -> None:
    from meta_prompting.face.show import plural

    count = len(evidence.filling.documents)
    out.print(f"  Evidence: {plural(count, 'document')}, {_size(evidence.size)}.")


def _run(out: Console, built: BuildReport, session: Session, options: BuildOptions,
         asked: Asked) -> RunReport:
    """One fresh session (or --samples N), the answer streamed, then shown as Markdown."""
    from rich.markdown import Markdown

    from meta_prompting.face import show, show_runs
    from meta_prompting.models import open_model
    from meta_prompting.runs.run import RunOptions, read_answer, run_samples

    err = show.console(stderr=True)
    with ask.keys_ignored(), err.status("Waiting for the model… (Ctrl+C stops)") as status:
        streamed = _Streamed(out, status, session.settings.model)
        ran = run_samples(built.out_dir, session, RunOptions(
            samples=asked.samples or 1, again=asked.again, jobs=options.jobs,
            timeout=options.timeout, command=built.command, on_text=streamed,
            on_wait=lambda rid: err.print(f"  waiting: another run is making {rid}")),
            open_model(session.settings.model, timeout=options.timeout,
                       on_notice=lambda note: err.print(f"  {_escape(note)}"),
                       base_url=session.settings.base_url))
    if streamed.started:
        out.print()
    if len(ran.samples) == 1 and ran.samples[0].ok:
        sample = ran.samples[0]
        if sample.status == "cached":
            out.print("[bold]Cached answer[/]: these inputs were run before; no call made.")
        out.rule("The answer", align="left")
        out.print(Markdown(show.printable(read_answer(sample), lines=True)))
        out.rule()
    show_runs.run(built, ran)  # where each answer is kept, its tokens and seconds
    return ran


class _Streamed:
    """on_text: the spinner until the first words, then the answer as it comes."""

    def __init__(self, out: Console, status: Status, model: str) -> None:
        self.out, self.status, self.model = out, status, model
        self.started = False
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        from meta_prompting.face.show import printable

        with self._lock:  # called on the call's own thread
            if not self.started:
                self.started = True
                self.status.stop()
                self.out.rule(f"Answer from {_escape(self.model)} (as it streams)",
                              align="left")
            self.out.file.write(printable(text, lines=True))
            self.out.file.flush()


def _offer_grade(out: Console, library: Library, built: BuildReport, ran: RunReport,
                 session: Session, options: BuildOptions, asked: Asked, given: Given) -> int:
    from functools import partial

    from meta_prompting.face import show, show_runs
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.grading.scorecard import CACHED, GradeReport, grade_sample, rubric_goal
    from meta_prompting.store.step import run_all

    rubric = given.rubric
    if rubric is None:
        try:
            rubric = read_rubric(library, rubric_goal(library, built.goal, asked.grade_with))
        except UserError as e:
            if asked.grade:  # asked for by flag: a refusal, as --grade gives without the wizard
                raise
            out.print(f"Not offered to grade it: {_escape(str(e))}")
            return EXIT_OK
        # Offered only with a rubric made for this goal's output format, named.
        if not asked.grade and not ask.confirm(
                f"Grade it with the {rubric.goal} scorecard ({len(rubric.criteria)} "
                "criteria)?"):
            return EXIT_OK
    from meta_prompting.grading.scorecard import GradeOptions, open_judge
    from meta_prompting.runs.run import RunOptions

    judge_model = open_judge(session.settings, GradeOptions(judge_model=asked.judge_model),
                             RunOptions(timeout=options.timeout))
    judges = show.plural(asked.judges, "judge")
    with ask.keys_ignored(), show.console(stderr=True).status(
            f"Grading with {judges}… (Ctrl+C stops)"):
        graded = run_all(options.jobs, [partial(
            grade_sample, s, session, rubric, asked.judges,
            asked.judge_model or session.settings.model, judge_model,
            options.timeout, rubric.goal == library.goal(built.goal).rubric)
            for s in ran.samples if s.ok])
    if graded and all(g.status == CACHED for g in graded):
        out.print("[bold]Cached scorecard[/]: this answer was graded before; no call made.")
    report = GradeReport(built, ran, tuple(graded), asked.judges)
    show_runs.grade(report)
    from meta_prompting.grading.scorecard import EXIT_FAILS_SCORECARD

    if report.exit_code == EXIT_FAILS_SCORECARD and len(graded) == 1 and not asked.answer:
        from meta_prompting.face.wizard_refine import offer_refine
        from meta_prompting.models import open_model

        model = open_model(session.settings.model, timeout=options.timeout,
                           base_url=session.settings.base_url)
        return offer_refine(out, built, session, rubric, options, asked,
                            rubric.goal == library.goal(built.goal).rubric, model,
                            (asked.judge_model or session.settings.model, judge_model))
    return report.exit_code


def _suffix(task: str, paths: list[str], asked: Asked, grade: bool) -> str:
    """The flags that fill and run (or grade) it again: the "run this again" hints."""
    from shlex import quote

    flags = (f" --task-file {quote(asked.task_file)}" if asked.task_file is not None
             else f" --task {quote(task.strip(chr(10)))}")
    flags += "".join(f" --evidence {quote(p)}" for p in paths)
    if grade:
        flags += " --grade" + (f" --grade-with {asked.grade_with}"
                               if asked.grade_with else "") + (
            f" --judges {asked.judges}" if asked.judges > 1 else "")
        flags += f" --refine {asked.refine}" if asked.refine else ""
        if asked.judge_model:
            flags += f" --judge-model {quote(asked.judge_model)}"
    else:
        flags += " --run"
    return flags + (f" --max-tokens {asked.max_tokens}" if asked.max_tokens else "")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def _escape(text: str) -> str:
    from meta_prompting.face.show import markup

    return markup(text)


def _print_next(out: Console, built: BuildReport) -> None:
    """The next step, a line at a time: the command whole on its own line, to paste."""
    from meta_prompting.face import show

    for line in show.next_step(built).split("\n"):
        out.print(_escape(line), soft_wrap=True)
