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

    from meta_prompting.build import BuildReport
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
            write(f"  {part.file:<48} {part.status}\n")
        for f in report.files:
            write(f"  would {f.action} {out}/{f.name}\n")
        return
    state = "complete" if report.complete else "INCOMPLETE"
    write(f"Built {out}/ for goal {report.goal} ({state})\n")
    for f in report.files:
        write(f"  {f.name:<24} {ACTION_WORD[f.action]}\n")
    generated = [p.file for p in report.parts if p.status == "generated"]
    if generated:
        write(f"Generated: {', '.join(generated)}\n")
    for p in report.parts:
        if p.status == "placeholder":
            write(f"Missing: {p.file} ({p.reason}); placeholder written\n")
    for note in report.notes:
        write(f"{note}\n")
    write(f"Next: use {out}/00_PERSONA.md as the system prompt, then fill in the <task> and"
          f" <evidence> blocks of {out}/01_PROMPT_TEMPLATE.md and send it.\n")


def listing(library: Library, listings: list[GoalListing]) -> None:
    # One block a goal rather than a table: file names stay whole at 60 columns.
    from rich.markup import escape

    out = console()
    out.print(f"[dim]Goals in {escape(nice_path(library.map_path))}[/]")
    for item in listings:
        out.print()
        out.print(f"[bold]{item.goal.name}[/]  {escape(item.goal.description)}")
        for s in item.states:
            mark = "" if s.status == PRESENT else (
                f"  [{STATUS_STYLE.get(s.status, '')}]({s.status})[/]")
            out.print(f"  {s.part.kind:<10}  {s.part.name}{mark}", overflow="fold")


def list_json(library: Library, listings: list[GoalListing]) -> dict[str, Any]:
    return {
        "ok": True,
        "root": str(library.root),
        "goals": [
            {
                "name": item.goal.name,
                "description": item.goal.description,
                "complete": item.complete,
                "parts": [{"kind": s.part.kind, "file": s.part.key, "status": s.status}
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
    out.print(f"{verdict}: {report.goals} goals, {report.parts} parts, "
              f"{errors} errors, {warnings} warnings ({nice_path(report.root)})", soft_wrap=True)


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "exit_code": 0 if report.ok else 1,
        "root": str(report.root),
        "goals": report.goals,
        "parts": report.parts,
        "findings": [{"level": f.level, "message": f.message} for f in report.findings],
    }
