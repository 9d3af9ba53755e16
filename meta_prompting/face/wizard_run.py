"""The wizard after a complete build: fill the toolkit, run it once, offer to grade it.

It only asks and shows: it fills the same requests as --task/--evidence, --run and
--grade and calls the same core functions (core.build.build, core.answers.run and
grade), with its own events (a spinner, the answer streamed). A flag given answers its
question, as for the goal.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import (
    EXIT_FAILS_SCORECARD,
    EXIT_INCOMPLETE,
    EXIT_OK,
    UsageError,
    UserError,
)
from meta_prompting.face import ask
from meta_prompting.face.exits import exit_of

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from meta_prompting.core.build import BuildRequest
    from meta_prompting.core.context import Context
    from meta_prompting.evidence.read import Evidence
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.library.goals import Library
    from meta_prompting.runs.run import RunReport
    from meta_prompting.toolkit.build import BuildReport
    from meta_prompting.toolkit.prompt import Filling


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


def read_flags(library: Library, asked: Asked, ctx: Context) -> Given:
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
    if running and not ctx.generate:
        raise UsageError("--run and --no-generate: a run calls the model")
    task = read_task(asked.task, asked.task_file)
    evidence = collect(list(asked.evidence), task or "") if asked.evidence else None
    _check_key(task or "", evidence)
    # Without --grade-with the rubric is the goal's, known once the goal is chosen.
    rubric = (read_rubric(library, asked.grade_with) if asked.grade and asked.grade_with
              else None)
    return Given(task, evidence, rubric)


def offer_run(out: Console, ctx: Context, built: BuildReport, request: BuildRequest,
              asked: Asked, given: Given, start: str | None = None,
              last: Filling | None = None) -> int:
    """Offer to run the toolkit just built; run it, show the answer, offer to grade it.

    `start` is a run a person already chose at the project (RUN_NEW: straight to the
    task question; RUN_LAST: `last`, its last task and evidence, asked nothing)."""
    from meta_prompting.core.build import build
    from meta_prompting.face import show, show_runs
    from meta_prompting.face.existing import (
        RUN_LAST,
        RUN_NEW,
        ask_which_task,
        last_task,
        say_last,
    )
    from meta_prompting.toolkit.build import rerun_command

    running = asked.run or asked.grade or bool(asked.samples) or asked.again or bool(start)
    out.print()
    if not running:
        why = ("--no-generate (a run calls the model)" if not ctx.generate else
               "no API key (set GEMINI_API_KEY or GOOGLE_API_KEY)"
               if ctx.model.access() is None else None)
        if why:
            out.print(f"Not offered to run it: {why}.")
            _print_next(out, built)
            return EXIT_OK
        if not ask.confirm("Run it now? (a fresh session)"):
            _print_next(out, built)
            return EXIT_OK
    if given.task is None and start is None:  # the last task, offered first
        last = last_task(built.out_dir)
        start = ask_which_task(out, last) if last is not None else RUN_NEW
    recalled = start == RUN_LAST and given.task is None and last is not None
    task = last.task if recalled and last is not None else given.task or _ask_task(out)
    if task is None:
        out.print("No task: not run.")
        _print_next(out, built)
        return EXIT_OK
    if given.evidence is not None:
        paths, evidence = list(asked.evidence), given.evidence
        for note in evidence.notes:
            out.print(f"  {_escape(note)}")
        _say_evidence(out, evidence)
    elif recalled and last is not None:  # as --run with no --task: said, not asked
        from meta_prompting.evidence.read import Evidence

        paths, evidence = [], Evidence(last, size=sum(len(d.text.encode()) for d in
                                                     last.documents))
        say_last(last, out, f"Using the last task of project {built.project}")
        _say_evidence(out, evidence)
    else:
        paths, evidence = _ask_evidence(out, task)
    def again(grade: bool) -> str:  # the flags that fill and run (or grade) it again
        return _suffix(task, paths, asked, grade, recalled)

    filled = request._replace(filling=evidence.filling._replace(task=task),
                              again=again(asked.grade))
    # The wizard's own events: the person watches a spinner, and the answer as it comes.
    err = show.console(stderr=True)
    ctx = ctx._replace(events=ctx.events._replace(
        progress=None, make_part=None, notice=lambda note: err.print(f"  {_escape(note)}"),
        run_waiting=lambda rid: err.print(f"  waiting: another run is making {rid}")))
    built = build(ctx, filled)
    if built.filled is None:  # a part went missing meanwhile: never send a placeholder
        show_runs.run(built, None)
        return exit_of(built) or EXIT_INCOMPLETE
    model = ctx.model.name
    sent = len(built.filled[0]) + len(built.filled[1])
    out.print(f"Sending 00_PERSONA.md and 02_PROMPT.md: {sent:,} characters (about "
              f"{sent // 4:,} tokens) to {_escape(model)}.")
    base = rerun_command(ctx.command, built.goal, built.project)
    ran = _run(out, ctx, built, filled, asked, base + again(asked.grade))
    if ran is None or exit_of(ran):
        return exit_of(ran) if ran is not None else EXIT_INCOMPLETE
    # "Run it again to finish" after a grade: with --grade, which runs what is missing.
    graded = base + again(grade=True)
    code, did_grade = _offer_grade(out, ctx, built, ran._replace(command=graded), filled,
                                   asked, given)
    if code in (EXIT_OK, EXIT_FAILS_SCORECARD):  # each choice made, as flags
        out.print("The command that does this:")
        out.print(f"  {_escape(base + again(did_grade))}", soft_wrap=True)
    return code


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


def _run(out: Console, ctx: Context, built: BuildReport, filled: BuildRequest,
         asked: Asked, command: str) -> RunReport | None:
    """One fresh session (or --samples N), the answer streamed, then shown as Markdown.
    Stopped by Ctrl+C, it says `command`: what finishes the job, without questions."""
    from rich.markdown import Markdown

    from meta_prompting.core.answers import RunRequest, run
    from meta_prompting.face import show, show_runs
    from meta_prompting.face.interrupt import finishing
    from meta_prompting.runs.run import read_answer

    err = show.console(stderr=True)
    with finishing(command), ask.keys_ignored(), err.status(
            "Waiting for the model… (Ctrl+C stops)") as status:
        streamed = _Streamed(out, status, ctx.model.name)
        rebuilt, ran = run(ctx._replace(events=ctx.events._replace(text=streamed)), RunRequest(
            filled, samples=asked.samples or 1, one_more=asked.again,
            max_tokens=asked.max_tokens, command=built.command))
    if ran is None:  # a part went missing since the build just shown
        show_runs.run(rebuilt, None)
        return None
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
    """on_text: the spinner until the first words, then the answer as it comes, through
    face.streams: Ctrl+C then ends its line before "Stopped by user", and hides what
    comes after."""

    def __init__(self, out: Console, status: Status, model: str) -> None:
        self.out, self.status, self.model = out, status, model
        self.started = False
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        from meta_prompting.face import streams
        from meta_prompting.face.show import printable

        with self._lock:  # called on the call's own thread
            if not self.started:
                self.started = True
                self.status.stop()
                self.out.rule(f"Answer from {_escape(self.model)} (as it streams)",
                              align="left")
            streams.stream(printable(text, lines=True))


def _offer_grade(out: Console, ctx: Context, built: BuildReport, ran: RunReport,
                 filled: BuildRequest, asked: Asked, given: Given) -> tuple[int, bool]:
    """The exit code, and whether it was graded."""
    from meta_prompting.core.answers import GradeRequest, RunRequest, grade, rubric_for
    from meta_prompting.face import show, show_runs
    from meta_prompting.face.interrupt import finishing
    from meta_prompting.grading.scorecard import CACHED

    rubric = given.rubric
    if rubric is None:
        try:
            rubric = rubric_for(ctx, built.goal, asked.grade_with)
        except UserError as e:
            if asked.grade:  # asked for by flag: a refusal, as --grade gives without the wizard
                raise
            out.print(f"Not offered to grade it: {_escape(str(e))}")
            return EXIT_OK, False
        # Offered only with a rubric made for this goal's output format, named.
        if not asked.grade and not ask.confirm(
                f"Grade it with the {rubric.goal} scorecard ({len(rubric.criteria)} "
                "criteria)?"):
            return EXIT_OK, False
    # The answers just shown, and only those: every one of them is kept, so nothing runs.
    request = GradeRequest(RunRequest(filled, samples=max(s.number for s in ran.samples),
                                      max_tokens=asked.max_tokens, command=ran.command),
                           asked.grade_with, asked.judges, asked.judge_model,
                           every_kept=False)
    judges = show.plural(asked.judges, "judge")
    with finishing(ran.command), ask.keys_ignored(), show.console(stderr=True).status(
            f"Grading with {judges}… (Ctrl+C stops)"):
        report = grade(ctx, request)
    if report.ran is not None:  # as shown: the answers just run, and how to finish
        report = report._replace(built=built, ran=ran)
    graded = report.graded
    if graded and all(g.status == CACHED for g in graded):
        out.print("[bold]Cached scorecard[/]: this answer was graded before; no call made.")
    show_runs.grade(report)
    if exit_of(report) == EXIT_FAILS_SCORECARD and len(graded) == 1 and not asked.answer:
        from meta_prompting.face.wizard_refine import offer_refine

        return offer_refine(out, ctx, request, asked), True
    return exit_of(report), True


def _suffix(task: str, paths: list[str], asked: Asked, grade: bool,
            recalled: bool = False) -> str:
    """The flags that fill and run (or grade) it again: the "run this again" hints.
    A recalled task is recalled again by the same command, as --run does."""
    from shlex import quote

    flags = ("" if recalled else f" --task-file {quote(asked.task_file)}"
             if asked.task_file is not None else f" --task {quote(task.strip(chr(10)))}")
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
