"""Rendering reports for people (rich) and for programs (JSON-ready dicts).

A plain build prints a few plain lines: importing rich costs ~75 ms, four times a
bare Python start-up, and a build is meant to cost about five. Tables use rich.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.generate import scrub_secrets
from meta_prompting.parts import PRESENT

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.build import BuildReport, FillReport
    from meta_prompting.library import Library
    from meta_prompting.survey import CheckReport, GoalListing

STATUS_STYLE = {"present": "green", "generated": "cyan", "missing": "yellow",
                "empty": "yellow", "placeholder": "yellow", "unreadable": "red", "unsafe": "red"}
ACTION_WORD = {"create": "created", "replace": "replaced", "unchanged": "unchanged"}
WIDTHS = (20, 1000)  # what $COLUMNS may ask for; beyond it, the nearest of the two

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown:
# from a map, a flag or a model they could retitle the terminal, clear it, forge a line.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_CONTROLS.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                             0x2028, 0x2029)})
_LINES = {k: v for k, v in _CONTROLS.items() if k not in (0x09, 0x0A)}


def printable(text: str, lines: bool = False) -> str:
    """`text` safe for a terminal: control characters escaped, any API key scrubbed.

    For everything shown that came from the library, a flag, the model or the SDK.
    `lines=True` keeps line breaks and tabs (a part's text); otherwise the result is
    one line, so an error line cannot forge a second one.
    """
    return scrub_secrets(text).translate(_LINES if lines else _CONTROLS)


def width() -> int | None:
    """A sane width when $COLUMNS asks for one; None lets rich ask the terminal.

    COLUMNS=0 made rich print nothing at all: a result must never be hidden.
    """
    columns = os.environ.get("COLUMNS")
    if columns is None:
        return None
    try:
        wanted = int(columns)
    except ValueError:
        wanted = 0
    if wanted < 1:
        try:
            wanted = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            wanted = 80
    return min(max(wanted, WIDTHS[0]), WIDTHS[1])


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 itself; cli.main gives every gone reader the same exit.
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console(stderr=stderr, highlight=False, soft_wrap=False, width=width())


def nice_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it: shorter to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build(report: BuildReport) -> None:
    out = nice_path(report.out_dir)

    def write(line: str) -> None:  # reasons, paths and the command quote the input
        sys.stdout.write(printable(line.rstrip("\n")) + "\n")

    if report.dry_run:
        write(f"Dry run: goal {report.goal} into {out}/ (nothing written)\n")
        for part in report.parts:
            extra = f" ({part.reason})" if part.reason else ""
            write(f"  {part.file:<44} {part.status}{extra}\n")
        for f in report.files:
            write(f"  would {f.action} {out}/{f.name}\n")
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
        write(f"To finish: fix the cause above, then run again: {report.command}\n")
    if report.complete:
        write(f"Next: use {out}/00_PERSONA.md as the system prompt, then fill in the <task> and"
              f" <evidence> blocks of {out}/01_PROMPT_TEMPLATE.md and send it.\n")


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
        why = f": {escape(printable(p.reason))}" if p.reason else ""
        table.add_row(escape(printable(p.file)), word.get(p.status, p.status) + why)
    out.print(table)
    failed = sum(p.status == "placeholder" for p in report.parts)
    made = len(report.parts) - failed
    out.print(f"{made} made, {failed} failed, {report.present} already present"
              + ("; run the same command again to retry what failed" if failed else ""))


def listing(library: Library, listings: list[GoalListing]) -> None:
    # One block a goal rather than a table: file names stay whole at 60 columns. Built
    # as one text and printed once: a print per line cost rich ~0.3 ms each.
    from rich.markup import escape

    def safe(text: str) -> str:
        return escape(printable(text))

    lines = [f"[dim]Goals in {safe(nice_path(library.map_path))}[/]"]
    for item in listings:
        lines += ["", f"[bold]{safe(item.goal.name)}[/]  {safe(item.goal.description)}"]
        for s in item.states:
            status = "generated" if s.part in item.generated else s.status
            mark = "" if status == PRESENT else (
                f"  [{STATUS_STYLE.get(status, '')}]({status})[/]")
            lines.append(f"  {s.part.kind:<10}  {safe(s.part.name)}{mark}")
    console().print("\n".join(lines), overflow="fold")


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
        out.print(f"[{style}]{f.level}:[/] {escape(printable(f.message))}", soft_wrap=True)
    errors = sum(f.level == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
    made = f" ({report.generated} generated)" if report.generated else ""
    out.print(f"{verdict}: {report.goals} goals, {report.parts} parts{made}, "
              f"{errors} errors, {warnings} warnings ({escape(printable(nice_path(report.root)))})",
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
