"""Rendering reports for people (rich) and for programs (JSON-ready dicts).

A plain build prints a few plain lines: importing rich costs ~75 ms, four times a
bare Python start-up, and a build is meant to cost about five. Tables use rich.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.keys import scrub_secrets

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.build import BuildReport
    from meta_prompting.chain import ChainReport
    from meta_prompting.fill import FillReport
    from meta_prompting.layers import InitReport
    from meta_prompting.library import Library
    from meta_prompting.run import RunReport, Sample
    from meta_prompting.scorecard import GradeReport
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
        wanted = _terminal_columns()
    return min(max(wanted, WIDTHS[0]), WIDTHS[1])


def _terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        return 80
WOULD = {"create": "would create", "replace": "would replace", "unchanged": "would leave unchanged"}
# Failures that are the service's, not the person's: retried already, and a later run
# of the same command finishes the job (the reasons generate.GeminiGenerator.explain gives).
SERVICE_FAILURE = re.compile(r"the service answered (408|429|500|502|503|504)\b")


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


def _writer() -> Callable[[str], None]:
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
        write(next_step(report) + "\n")


def next_step(report: BuildReport) -> str:
    """What to do with a complete toolkit: run it from here, rather than copy and paste."""
    out = nice_path(report.out_dir)
    if report.filled is not None:
        return (f"Next: run it with {report.rebuild} --run, or send {out}/02_PROMPT.md "
                f"with {out}/00_PERSONA.md as the system prompt.")
    return (f"Next: fill and run it from here: {report.rebuild} --task 'what you want done' "
            f"--evidence PATH --run (or fill in the <task> and <evidence> blocks of "
            f"{out}/01_PROMPT_TEMPLATE.md by hand).")


def run(built: BuildReport, ran: RunReport | None) -> None:
    """A run: the toolkit in a line, then each sample, then where the answers are."""
    out = nice_path(built.out_dir)
    write = sys.stdout.write
    if ran is None:
        build(built)
        if not built.dry_run:
            write("Not run: the toolkit is incomplete, and a placeholder must never reach "
                  "the model.\n")
        return
    changed = [f.name for f in built.files if f.action != "unchanged"]
    verb = "would write" if built.dry_run else "wrote"
    write(f"Toolkit {out}/ for goal {built.goal}"
          + (f" ({verb} {', '.join(changed)})" if changed else " (unchanged)") + "\n")
    if ran.dry_run:
        sizes = ran.sizes
        write(f"Dry run: would send {sizes['system_chars']:,} + {sizes['prompt_chars']:,} "
              f"characters (about {sizes['estimated_tokens']:,} tokens) per sample\n")
    for sample in ran.samples:
        write(f"  {_sample_line(sample, out)}\n")
    failed = [s for s in ran.samples if not s.ok]
    if failed:
        write(f"{len(failed)} of {len(ran.samples)} sample(s) failed; nothing was kept for "
              f"them. To finish, run again: {ran.command}\n")


def grade(report: GradeReport) -> None:
    """The scorecard: a row a criterion (votes of K judges, or samples that passed)."""
    from rich.markup import escape

    cards = [g for g in report.graded if g.scorecard is not None]
    out = console()
    for g in report.graded:
        if g.scorecard is None:
            out.print(f"[red]not graded[/] {g.sample.run_id}: {escape(g.reason or '')}",
                      soft_wrap=True)
    if not cards:
        if report.graded:
            out.print(f"Run the same command again to finish: {escape(report.ran.command)}"
                      if report.ran else "", soft_wrap=True)
        return
    first = cards[0].scorecard
    assert first is not None
    k = report.judges
    names = first.rubric.criteria
    left = max(len(n) for n in names) + 2
    room = max((out.width or 80) - left - 11, 20)
    rows = []
    for name in names:
        if len(cards) == 1:
            ok = first.criterion_passes(name)
            verdict = ("[green]PASS[/]" if ok else "[red]FAIL[/]") + (
                f" {first.votes(name)}/{k}" if k > 1 else "")
            reason = next((v.reasoning for v in first.judgments[0].verdicts
                           if v.criterion == name), "")
            if any(not v.supported for j in first.judgments for v in j.verdicts
                   if v.criterion == name):
                reason = "(quote not in the answer) " + reason
            reason = " ".join(printable(reason).split())
            if len(reason) > room:
                reason = reason[:room - 1].rstrip() + "…"
            width = 4 + (len(f" {k}/{k}") if k > 1 else 0)
            pad = " " * (width - len(("PASS" if ok else "FAIL") + (
                f" {first.votes(name)}/{k}" if k > 1 else "")))
            rows.append(f"{escape(name):<{left}}{verdict}{pad}  {escape(reason)}")
        else:
            n = sum(bool(g.scorecard and g.scorecard.criterion_passes(name)) for g in cards)
            rows.append(f"{escape(name):<{left}}{n}/{len(cards)} answers pass")
    out.print("\n".join(rows), soft_wrap=True)
    if len(cards) == 1:
        word = "[green]PASS[/]" if first.passed else "[red]FAIL[/]"
        yes = first.path_votes * 2 > k
        out.print(f"Path forward: {'YES' if yes else 'NO'}"
                  + (f" ({first.path_votes}/{k})" if k > 1 else "")
                  + f". Overall: {word}. Scorecard: "
                  + escape(nice_path(cards[0].path or cards[0].sample.folder)), soft_wrap=True)
    else:
        passed = sum(bool(g.scorecard and g.scorecard.passed) for g in cards)
        out.print(f"{passed} of {len(cards)} answers pass the scorecard "
                  f"(scorecards in each runs/<id>/)")


def chain(report: ChainReport) -> None:
    """A row a stage, in the chain's order, then where the index is and what to do."""
    from rich.markup import escape

    out = console()
    style = {"cached": "green", "ran": "cyan", "failed": "red", "blocked": "yellow",
             "failed grade": "red", "would run": "cyan"}
    rows = [("stage", "goal", "status", "grade", "tokens", "seconds")]
    for r in report.results:
        record = r.sample.record if r.sample else {}
        tokens = (record.get("tokens") or {}).get("answer")
        seconds = record.get("seconds")
        card = r.graded.scorecard if r.graded else None
        grade = "" if card is None else ("PASS" if card.passed else "FAIL")
        if r.sessions > 1:
            grade += f" ({r.sessions} sessions)"
        edited = " (edited by hand)" if r.sample is not None and r.sample.edited else ""
        rows.append((printable(r.stage.name), r.stage.goal, r.status + edited, grade,
                     f"{tokens:,}" if tokens else "", f"{seconds:.1f}" if seconds else ""))
    # Plain aligned columns, no trailing blanks: a table read by people and by grep.
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i < 4 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        line = escape("  ".join(cells).rstrip())
        if n:
            status = escape(row[2])
            line = line.replace(status, f"[{style.get(row[2].split(' (')[0], '')}]"
                                        f"{status}[/]", 1)
        out.print(line, soft_wrap=True, highlight=False)
    for r in report.results:  # below the table: a reason is read whole, not folded in a cell
        if r.reason and r.status != "would run":
            out.print(f"{escape(r.stage.name)} {r.status}: {escape(printable(r.reason))}",
                      soft_wrap=True)
    where = escape(nice_path(report.out_dir))
    if report.dry_run:
        from meta_prompting.keys import key_blocker

        blocker = key_blocker()
        out.print("Dry run: nothing sent, nothing written."
                  + (f" No model yet: {escape(blocker)}." if blocker else ""), soft_wrap=True)
        return
    out.print(f"Index: {where}/CHAIN.md", soft_wrap=True)
    if report.exit_code == 3:
        out.print(f"To finish, run the same command again: {escape(report.command)}",
                  soft_wrap=True)


def _sample_line(sample: Sample, out: str) -> str:
    where = f"{out}/runs/{sample.run_id}/answer.md"
    if sample.status == "failed":
        return f"sample {sample.number}: failed: {sample.reason}"
    if sample.status == "would run":
        return f"sample {sample.number}: would run"
    tokens = (sample.record.get("tokens") or {}).get("answer")
    seconds = sample.record.get("seconds")
    facts = ", ".join(x for x in (f"{tokens:,} answer tokens" if tokens else "",
                                  f"{seconds:.1f}s" if seconds is not None else "") if x)
    word = {"cached": "cached", "ran": "answered", "imported": "imported"}[sample.status]
    edited = ", edited by hand" if sample.edited else ""
    return f"sample {sample.number}: {word}{edited}: {where}" + (f" ({facts})" if facts else "")


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
    SDK's log line, or None for any other line. step.with_deadline names the thread
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
