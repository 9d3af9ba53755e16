"""Rendering reports for people (rich) and for programs (JSON-ready dicts).

A plain build prints a few plain lines: importing rich costs ~75 ms, four times a
bare Python start-up, and a build is meant to cost about five. Tables use rich.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.build import BuildReport, FillReport
    from meta_prompting.library import Library
    from meta_prompting.survey import CheckReport, GoalListing

STATUS_STYLE = {"present": "green", "generated": "cyan", "missing": "yellow",
                "empty": "yellow", "placeholder": "yellow", "unreadable": "red", "unsafe": "red"}
ACTION_WORD = {"create": "created", "replace": "replaced", "unchanged": "unchanged"}
WOULD = {"create": "would create", "replace": "would replace", "unchanged": "would leave unchanged"}
# Failures that are the service's, not the person's: retried already, and a later run
# of the same command finishes the job (the reasons generate.GeminiGenerator.explain gives).
SERVICE_FAILURE = re.compile(r"the service answered (408|429|500|502|503|504)\b")


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def nice_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it: shorter to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def service_failed(report: BuildReport) -> bool:
    """True when every reason the toolkit is unfinished is the service failing."""
    reasons = [p.reason or "" for p in report.parts if p.status == "placeholder"]
    reasons += list(report.notes)
    return bool(reasons) and all(SERVICE_FAILURE.search(r) for r in reasons)


def finish_advice(report: BuildReport) -> str:
    if service_failed(report):
        return ("To finish: the model's service failed (busy or down; not your set-up). "
                "Run the same command again later:")
    return "To finish: fix the cause above, then run again:"


def terminal_width() -> int | None:
    """The width to wrap stdout at, or None when it is not a terminal: piped output keeps
    one logical line a line, unpadded, for programs that read it."""
    if not sys.stdout.isatty():
        return None
    try:
        return int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.stdout.fileno())[0])
    except (ValueError, OSError):
        return 80


def _writer() -> Callable[[str], None]:
    """sys.stdout.write, wrapping each line at word boundaries in a terminal."""
    width = terminal_width()

    def write(line: str) -> None:
        if width is None:
            sys.stdout.write(line)
            return
        import textwrap  # only for a terminal

        text = line.rstrip("\n")
        indent = " " * (len(text) - len(text.lstrip(" ")) + 2)
        wrapped = textwrap.wrap(text, max(width - 1, 20), subsequent_indent=indent,
                                break_long_words=False, break_on_hyphens=False)
        sys.stdout.write("\n".join(wrapped or [""]) + "\n")

    return write


def build(report: BuildReport) -> None:
    out = nice_path(report.out_dir)
    write = _writer()
    if report.dry_run:
        write(f"Dry run: goal {report.goal} into {out}/ (nothing written)\n")
        for part in report.parts:
            extra = f" ({part.reason})" if part.reason else ""
            write(f"  {part.file:<44} {part.status}{extra}\n")
        for f in report.files:
            write(f"  {WOULD[f.action]} {out}/{f.name}\n")
        return
    state = "complete" if report.complete else "INCOMPLETE"
    write(f"Built {out}/ for goal {report.goal} ({state})\n")
    for f in report.files:
        write(f"  {f.name:<24} {ACTION_WORD[f.action]}\n")
    for status, label in (("generated", "Generated"), ("written", "Written by you")):
        files = [p.file for p in report.parts if p.status == status]
        if files:
            write(f"{label}: {', '.join(files)}\n")
    for p in report.parts:
        if p.status == "placeholder":
            write(f"Placeholder for {p.file}: {p.reason}\n")
    for note in report.notes:
        write(f"Note: {note}\n")
    if report.exit_code:
        write(finish_advice(report) + "\n")
        sys.stdout.write(f"  {report.command}\n")  # whole, never wrapped: to paste
    if report.complete:
        write(f"Next: use {out}/00_PERSONA.md as the system prompt, then fill in the <task> and"
              f" <evidence> blocks of {out}/01_PROMPT_TEMPLATE.md and send it.\n")


@contextmanager
def retries_told(say: Callable[[str], None] | None, named: bool = True) -> Iterator[None]:
    """Meanwhile, tell `say` of each retry of a generation: "retrying x.txt in 2.0s (...)"
    (without the part's name unless `named`).

    google-genai retries inside the SDK (tenacity) and takes no callback, but before
    each wait it logs one INFO line to its logger ("Retrying ... in 2.0 seconds as it
    raised ServerError: 503 UNAVAILABLE. ..."): that line is the hook.
    """
    if say is None:
        yield
        return
    import logging

    tell = say

    class Told(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            note = retry_note(record.getMessage(), (named and record.threadName) or "")
            if note:
                tell(note)

    logger = logging.getLogger("google_genai._api_client")
    handler, level = Told(logging.INFO), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


_RETRY = re.compile(r"^Retrying .* in ([\d.]+) seconds as it raised (\w+): ?(.*)", re.DOTALL)


def retry_note(message: str, thread: str) -> str | None:
    """Pure: "retrying x.txt in 2.0s (the service answered 503 UNAVAILABLE)" from the
    SDK's log line, or None for any other line. supply.with_deadline names the thread
    that generates a part "gen-<file name>"."""
    found = _RETRY.match(message)
    if not found:
        return None
    seconds, kind, value = found.groups()
    status = re.match(r"(\d{3}) ([A-Z_]+)", value)
    cause = f"the service answered {status[1]} {status[2]}" if status else kind
    name = f" {thread[4:]}" if thread.startswith("gen-") else ""
    return f"retrying{name} in {float(seconds):.1f}s ({cause})"


def incomplete(report: BuildReport) -> None:
    """The one line --quiet keeps for an incomplete toolkit (exit 3): on stderr."""
    sys.stderr.write(f"{nice_path(report.out_dir)}/ is incomplete; to finish, run again: "
                     f"{report.command}\n")


def fill(report: FillReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    if not report.parts:
        out.print(f"Nothing to generate: all {report.present} parts are present.")
        return
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("part", no_wrap=True)
    table.add_column("result")
    word = {"generated": "[cyan]generated[/]", "present": "[green]made by another run[/]",
            "placeholder": "[red]failed[/]"}
    for p in report.parts:
        why = f": {escape(p.reason)}" if p.reason else ""
        table.add_row(p.file, word.get(p.status, p.status) + why)
    out.print(table)
    failed = sum(p.status == "placeholder" for p in report.parts)
    made = len(report.parts) - failed
    out.print(f"{made} made, {failed} failed, {report.present} already present"
              + ("; run the same command again to retry what failed" if failed else ""))


def listing(library: Library, listings: list[GoalListing]) -> None:
    # One block a goal rather than a table: file names stay whole at 60 columns. Built
    # as one text and printed once: a print per line cost rich ~0.3 ms each.
    from rich.markup import escape

    lines = [f"[dim]Goals in {escape(nice_path(library.map_path))}[/]"]
    width = max((len(s.part.name) for item in listings for s in item.states), default=0)
    for item in listings:
        lines += ["", f"[bold]{item.goal.name}[/]  {escape(item.goal.description)}"]
        for s in item.states:
            status = "generated" if s.part in item.generated else s.status
            lines.append(f"  {s.part.kind:<10}  {escape(s.part.name):<{width}}  "
                         f"[{STATUS_STYLE.get(status, '')}]{status}[/]")
    # A terminal folds long lines; a pipe gets each line whole, and never padded.
    piped = terminal_width() is None
    console().print("\n".join(lines), overflow=None if piped else "fold", soft_wrap=piped)


def list_json(library: Library, listings: list[GoalListing]) -> dict[str, Any]:
    return {
        "ok": True,
        "root": str(library.root),
        "goals": [
            {
                "name": item.goal.name,
                "description": item.goal.description,
                "complete": item.complete,
                "parts": [{"kind": s.part.kind, "file": s.part.key, "status": s.status,
                           "generated": s.part in item.generated}
                          for s in item.states],
            }
            for item in listings
        ],
    }


def check(report: CheckReport) -> None:
    from rich.markup import escape

    out = console()
    for f in report.findings:
        style = "red" if f.level == "error" else "yellow"
        out.print(f"[{style}]{f.level}:[/] {escape(f.message)}", soft_wrap=True)
    errors = sum(f.level == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
    made = f" ({report.generated} generated)" if report.generated else ""
    where = nice_path(report.root)
    where = "the current folder" if where == "." else f"{escape(where)}/"
    out.print(f"{verdict}: {plural(report.goals, 'goal')}, {plural(report.parts, 'part')}"
              f"{made}, {plural(errors, 'error')}, {plural(warnings, 'warning')} in {where}",
              soft_wrap=True)


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "exit_code": 0 if report.ok else 1,
        "root": str(report.root),
        "goals": report.goals,
        "parts": report.parts,
        "generated": report.generated,
        "findings": [{"level": f.level, "message": f.message} for f in report.findings],
    }
