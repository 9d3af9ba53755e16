"""Rendering reports for people (rich) and for programs (JSON-ready dicts).

A plain build prints a few plain lines: importing rich costs ~75 ms, four times a
bare Python start-up, and a build is meant to cost about five. Tables use rich.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.models.keys import scrub_secrets
from meta_prompting.store.files import nice_path as nice_path  # said in reasons below too

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.library.goals import Library
    from meta_prompting.library.layers import InitReport
    from meta_prompting.library.survey import CheckReport, GoalListing
    from meta_prompting.parts.fill import FillReport
    from meta_prompting.toolkit.build import BuildReport

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


def markup(text: str) -> str:
    """`text` from the library, a flag or the model, for rich to print: printable (one
    line, no key) and then markup-escaped, so "[red]" in it is shown, not obeyed."""
    from rich.markup import escape

    return escape(printable(text))


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
        wanted = _terminal_columns()
    return min(max(wanted, WIDTHS[0]), WIDTHS[1])


def _terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        return 80
WOULD = {"create": "would create", "replace": "would replace", "unchanged": "would leave unchanged"}
# Failures that are the service's, not the person's: retried already, and a later run
# of the same command finishes the job (the reasons models.gemini.GeminiModel.explain gives).
SERVICE_FAILURE = re.compile(r"the service answered (408|429|500|502|503|504)\b")


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 itself; cli.main gives every gone reader the same exit.
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console(stderr=stderr, highlight=False, soft_wrap=False, width=width())


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
    return width() or _terminal_columns()


def writer() -> Callable[[str], None]:
    """sys.stdout.write, wrapping each line at word boundaries in a terminal."""
    width = terminal_width()

    def write(line: str) -> None:
        # Reasons, paths and the command quote the input: escaped before they are shown.
        text = printable(line.rstrip("\n"))
        if width is None:
            sys.stdout.write(text + "\n")
            return
        import textwrap  # only for a terminal

        indent = " " * (len(text) - len(text.lstrip(" ")) + 2)
        wrapped = textwrap.wrap(text, max(width - 1, 20), subsequent_indent=indent,
                                break_long_words=False, break_on_hyphens=False)
        sys.stdout.write("\n".join(wrapped or [""]) + "\n")

    return write


def build(report: BuildReport) -> None:
    out = nice_path(report.out_dir)
    write = writer()
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
    from meta_prompting.face.exits import exit_of

    if exit_of(report):
        write(finish_advice(report) + "\n")
        sys.stdout.write(f"  {report.command}\n")  # whole, never wrapped: to paste
    if report.complete:
        lead, command, tail = next_step(report).split("\n")
        write(lead + "\n")
        sys.stdout.write(f"{command}\n")  # whole, never wrapped: to paste
        write(tail + "\n")


def next_step(report: BuildReport) -> str:
    """What to do with a complete toolkit: run it from here, rather than copy and paste.

    The command stands on a line of its own, whole, so that a narrow terminal wraps the
    words around it and never cuts the command in the middle of a word.
    """
    out = nice_path(report.out_dir)
    if report.filled is not None:
        return (f"Next: run it with\n  {report.rebuild} --run\nor send {out}/02_PROMPT.md "
                f"with {out}/00_PERSONA.md as the system prompt.")
    return (f"Next: fill and run it from here:\n  {report.rebuild} --task 'what you want "
            f"done' --evidence PATH --run\n(or fill in the <task> and <evidence> blocks of "
            f"{out}/01_PROMPT_TEMPLATE.md by hand).")


def incomplete(report: BuildReport) -> None:
    """The one line --quiet keeps for an incomplete toolkit (exit 3): on stderr."""
    unfinished(report.out_dir, report.command)


def unfinished(out_dir: Path, command: str) -> None:
    """The one line --quiet keeps when something could not be made (exit 3)."""
    sys.stderr.write(printable(f"{nice_path(out_dir)}/ is incomplete; to finish, run again: "
                               f"{command}") + "\n")


def failed_scorecard(where: Path) -> None:
    """The one line --quiet keeps when a graded answer failed (exit 4)."""
    sys.stderr.write(printable(f"a graded answer failed the scorecard: see {nice_path(where)}")
                     + "\n")


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

    layers = ", ".join(f"{layer.name} {nice_path(layer.root)}" for layer in library.layers)
    lines = [f"[dim]Libraries, highest first: {safe(layers)}[/]"]
    for item in listings:
        goal_layers = library.goal_layers.get(item.goal.name, ())
        lines += ["", f"[bold]{safe(item.goal.name)}[/]  {safe(item.goal.description)}"
                      f"{_origin(goal_layers) if len(library.layers) > 1 else ''}"]
        width = max((len(s.part.name) for s in item.states), default=0)  # a goal's column
        for s in item.states:
            status = "generated" if s.part in item.generated else s.status
            # A part's layer only where it is news: not the goal's own, or hiding another.
            found = library.part_layers(s.part) if s.status != "missing" else []
            news = found and (len(found) > 1 or found[0] != (goal_layers or ("",))[0])
            lines.append(f"  {s.part.kind:<10}  {safe(s.part.name):<{width}}  "
                         f"[{STATUS_STYLE.get(status, '')}]{status}[/]"
                         f"{_origin(found) if news else ''}")
    # A terminal folds long lines; a pipe gets each line whole, and never padded.
    piped = terminal_width() is None
    console().print("\n".join(lines), overflow=None if piped else "fold", soft_wrap=piped)


def _origin(layers: tuple[str, ...] | list[str]) -> str:
    """"  · user, overrides built-in": the layer a goal or part comes from, what it hides."""
    if not layers:
        return ""
    hidden = f", overrides {' and '.join(layers[1:])}" if len(layers) > 1 else ""
    return f"  [dim]· {layers[0]}{hidden}[/]"


def list_json(library: Library, listings: list[GoalListing]) -> dict[str, Any]:
    def layers(found: tuple[str, ...] | list[str]) -> dict[str, Any]:
        return {"layer": found[0] if found else None, "overrides": list(found[1:])}

    return {
        "ok": True,
        "root": str(library.root),
        "layers": [{"name": layer.name, "root": str(layer.root)} for layer in library.layers],
        "goals": [
            {
                "name": item.goal.name,
                "description": item.goal.description,
                "complete": item.complete,
                **layers(library.goal_layers.get(item.goal.name, ())),
                "parts": [{"kind": s.part.kind, "file": s.part.key, "status": s.status,
                           "generated": s.part in item.generated, "path": str(s.path),
                           **layers(library.part_layers(s.part))}
                          for s in item.states],
            }
            for item in listings
        ],
    }


def init(report: InitReport) -> None:
    where = nice_path(report.folder)
    write = sys.stdout.write
    if not report.created:
        write(f"Nothing to do: {where} already has all {len(report.kept)} files of the "
              "built-in library.\n")
        return
    write(f"Copied {len(report.created)} files of the built-in library into {where}/.\n")
    if report.kept:
        write(f"Left alone (already there): {', '.join(report.kept)}\n")
    write("It is now a project library: edit goal_map.json and components/ there; "
          "goals and parts you remove still come from the built-in library.\n")


def init_json(report: InitReport) -> dict[str, Any]:
    return {"ok": True, "folder": str(report.folder), "created": list(report.created),
            "kept": list(report.kept)}


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
    where = nice_path(report.root)
    where = "the current folder" if where == "." else f"{escape(printable(where))}/"
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
