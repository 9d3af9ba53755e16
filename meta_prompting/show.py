"""Rendering reports for people (rich) and for programs (JSON-ready dicts).

A plain build prints a few plain lines: importing rich costs ~75 ms, four times a
bare Python start-up, and a build is meant to cost about five. Tables use rich.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.parts import PRESENT

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.build import BuildReport, FillReport
    from meta_prompting.layers import InitReport
    from meta_prompting.library import Library
    from meta_prompting.survey import CheckReport, GoalListing

STATUS_STYLE = {"present": "green", "generated": "cyan", "missing": "yellow",
                "empty": "yellow", "placeholder": "yellow", "unreadable": "red", "unsafe": "red"}
ACTION_WORD = {"create": "created", "replace": "replaced", "unchanged": "unchanged"}


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def nice_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it: shorter to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build(report: BuildReport) -> None:
    out = nice_path(report.out_dir)
    write = sys.stdout.write
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

    layers = ", ".join(f"{layer.name} {nice_path(layer.root)}" for layer in library.layers)
    lines = [f"[dim]Libraries, highest first: {escape(layers)}[/]"]
    for item in listings:
        goal_layers = library.goal_layers.get(item.goal.name, ())
        lines += ["", f"[bold]{item.goal.name}[/]  {escape(item.goal.description)}"
                      f"{_origin(goal_layers)}"]
        for s in item.states:
            status = "generated" if s.part in item.generated else s.status
            mark = "" if status == PRESENT else (
                f"  [{STATUS_STYLE.get(status, '')}]({status})[/]")
            # A part's layer only where it is news: not the goal's own, or hiding another.
            found = library.part_layers(s.part) if s.status != "missing" else []
            news = found and (len(found) > 1 or found[0] != (goal_layers or ("",))[0])
            lines.append(f"  {s.part.kind:<10}  {s.part.name}{mark}"
                         f"{_origin(found) if news else ''}")
    console().print("\n".join(lines), overflow="fold")


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
        out.print(f"[{style}]{f.level}:[/] {escape(f.message)}", soft_wrap=True)
    errors = sum(f.level == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    verdict = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
    made = f" ({report.generated} generated)" if report.generated else ""
    out.print(f"{verdict}: {report.goals} goals, {report.parts} parts{made}, "
              f"{errors} errors, {warnings} warnings ({nice_path(report.root)})", soft_wrap=True)


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
