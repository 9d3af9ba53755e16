"""Rendering runs, scorecards and chains for people (their JSON is each report's own).

Split from `show` by what it shows: the loop after a toolkit is built.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from meta_prompting.face.show import build, console, nice_path, printable, writer

if TYPE_CHECKING:
    from meta_prompting.chains.chain import ChainReport
    from meta_prompting.grading.grade import Scorecard
    from meta_prompting.grading.scorecard import Graded, GradeReport
    from meta_prompting.runs.run import RunReport, Sample
    from meta_prompting.toolkit.build import BuildReport


def run(built: BuildReport, ran: RunReport | None) -> None:
    """A run: the toolkit in a line, then each sample, then where the answers are."""
    out = nice_path(built.out_dir)
    write = writer()  # wrapped at word boundaries in a terminal, whole when piped
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
              f"them. To finish, {finish_advice([s.reason or '' for s in failed])}:\n")
        sys.stdout.write(f"  {printable(ran.command)}\n")  # whole, never wrapped: to paste


def grade(report: GradeReport) -> None:
    """The scorecard: a row a criterion (votes of K judges, or samples that passed)."""
    from rich.markup import escape

    from meta_prompting.grading.scorecard import EDITED_WORDS

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
    columns = out.width or 80
    vote = 4 + (len(f" {k}/{k}") if k > 1 else 0)  # "PASS" or "PASS 2/3"
    # The reason after the verdict while it has room; else on a line of its own below,
    # so no row is longer than the terminal (the rubric's names run to 36 characters).
    room = columns - left - vote - 3
    below = room < 16
    if below:
        room = columns - 5
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
            pad = " " * (vote - len(("PASS" if ok else "FAIL") + (
                f" {first.votes(name)}/{k}" if k > 1 else "")))
            if below:
                rows.append(f"{escape(name):<{left}}{verdict}")
                rows.append(f"    {escape(reason)}")
            else:
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
                  + f". Overall: {word}"
                  + (f" ([yellow]{EDITED_WORDS}[/])" if cards[0].edited else "")
                  + ". Scorecard: " + escape(_card_path(cards[0]))
                  + escape(f" ({how})" if (how := graded_how(cards[0], k)) else ""),
                  soft_wrap=True)
    else:
        passed = sum(bool(g.scorecard and g.scorecard.passed) for g in cards)
        edited = [g for g in cards if g.edited]
        kept = sum(g.status == "cached" for g in cards)
        out.print(f"{passed} of {len(cards)} answers pass the scorecard"
                  + (f" ({kept} grade{'s' if kept > 1 else ''} kept: no call)" if kept else "")
                  + ""
                  + (f"; [yellow]{EDITED_WORDS}[/] in " + escape(
                      ", ".join(g.sample.run_id for g in edited)) if edited else ""))
        for g in cards:  # which answers failed, and what each must fix: read, not hunted
            if g.scorecard is not None and not g.scorecard.passed:
                out.print(escape(f"FAIL {_who(g.sample)}: {_card_path(g)}"), soft_wrap=True)
                for line in _fixes(g.scorecard):
                    out.print(escape(f"  {line}"), soft_wrap=True)
    from meta_prompting.grading.structure import lacks_line

    for g in report.graded:  # beside its scorecard: what the tool checked itself
        if g.missing:
            out.print(escape(f"Structure: {_who(g.sample)} {lacks_line(g.missing)} "
                             "(checked by the tool before judging)"), soft_wrap=True)


def other_settings(graded: Graded) -> list[str]:
    """The other judging settings whose scorecards are kept beside this one's."""
    if graded.path is None:
        return []
    base = re.sub(r"-\d+j$", "", graded.path.stem)
    found = []
    try:
        names = sorted(os.listdir(graded.path.parent))
    except OSError:
        return []
    for name in names:
        m = re.fullmatch(rf"{re.escape(base)}(?:-(\d+)j)?\.json", name)
        if m and name != graded.path.name:
            k = int(m.group(1) or 1)
            found.append("1-judge" if k == 1 else f"{k}-judge")
    return found


def graded_how(graded: Graded, judges: int) -> str:
    """Whether a grade was kept or made now, and the other judging settings kept: a
    call is never said to be cached, and a kept grade is never said to be new."""
    if graded.status == "cached":
        return "kept from an earlier grade: no call"
    if graded.status != "graded":
        return ""
    setting = "1 judge" if judges == 1 else f"{judges} judges"
    others = other_settings(graded)
    if not others:
        return f"graded now, {setting}"
    return (f"graded again, {setting}; the {' and '.join(others)} scorecard"
            f"{'s are' if len(others) > 1 else ' is'} kept")


def _card_path(graded: Graded) -> str:
    """The scorecard a person reads (its .md), not the record beside it."""
    path = graded.path or graded.sample.folder / "scorecard.json"
    return nice_path(path.with_suffix(".md"))


def _who(sample: Sample) -> str:
    return "imported answer" if sample.number == 0 else f"sample {sample.number}"


def _fixes(card: Scorecard) -> list[str]:
    """A failing criterion a line, with its judges' fixes (each said once)."""
    lines = []
    for name in card.rubric.criteria:
        if card.criterion_passes(name):
            continue
        fixes = list(dict.fromkeys(" ".join(printable(v.fix).split())
                                   for j in card.judgments for v in j.verdicts
                                   if v.criterion == name and not v.passed and v.fix))
        lines.append(f"{name}: FAIL" + (f". Fix: {' / '.join(fixes)}" if fixes else ""))
    return lines


def chain(report: ChainReport) -> None:
    """A row a stage, in the chain's order, then where the index is and what to do.

    Plain lines, like a build's: a chain with every answer kept should cost about what
    its stages do, and rich's import alone was a third of a cached 50-stage chain.
    """
    rows = [("stage", "goal", "status", "grade", "tokens", "cost", "seconds")]
    for r in report.results:
        record = r.sample.record if r.sample else {}
        tokens = (record.get("tokens") or {}).get("answer")
        seconds = record.get("seconds")
        card = r.graded.scorecard if r.graded else None
        grade = "" if card is None else ("PASS" if card.passed else "FAIL")
        if r.graded is not None and r.graded.edited:
            from meta_prompting.grading.scorecard import EDITED_WORDS

            grade += f" ({EDITED_WORDS})"
        if r.sessions > 1:
            grade += f" ({r.sessions} sessions)"
        edited = " (edited by hand)" if r.sample is not None and r.sample.edited else ""
        rows.append((printable(r.stage.name), r.stage.goal, r.status + edited, grade,
                     f"{tokens:,}" if tokens else "",
                     _money(record["cost"]) if isinstance(record.get("cost"), dict) else "",
                     f"{seconds:.1f}" if seconds else ""))
    # Aligned columns, no trailing blanks: a table read by people and by grep.
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")
    write = writer()  # below the table, wrapped at word boundaries in a terminal
    for r in report.results:  # a reason is read whole, not folded in a cell
        if r.reason and r.status != "would run":
            write(f"{r.stage.name} {r.status}: {r.reason}")
        if r.lacks:  # handed on all the same: the sections it has
            from meta_prompting.grading.structure import lacks_line

            write(f"{r.stage.name} warning: its answer {lacks_line(r.lacks)}")
        if r.why:  # a dry run: why it would run, and what grading it would do
            write(f"{r.stage.name}: {r.why}")
        if r.status == "failed grade" and r.graded is not None and r.graded.path is not None:
            write(f"{r.stage.name} scorecard: {_card_path(r.graded)} (the Fix: line under "
                  "each failing criterion says what the request lacks)")
    if report.dry_run:
        from meta_prompting.models import model_blocker

        blocker = model_blocker(report.model, report.base_url)
        write("Dry run: nothing sent, nothing written."
              + (f" No model yet: {blocker}." if blocker else ""))
        return
    write(f"Index: {nice_path(report.out_dir)}/CHAIN.md")
    from meta_prompting.store.record import INCOMPLETE

    if report.outcome == INCOMPLETE:
        # A missing section is in a kept answer: only an edit, then a run, gets past it.
        write("To finish, edit the answer or the chain file as said above, then run:"
              if any(r.missing_section for r in report.results)
              else f"To finish, {finish_advice([r.reason or '' for r in report.results])}:")
        sys.stdout.write(f"  {printable(report.command)}\n")  # whole, never wrapped


# Failures a second try cannot get past: the key, access, the model's name, the API
# version, a blocked prompt. Anything else (a timeout, a 5xx, a dropped connection, a
# rate limit) may pass on the next run.
_NEEDS_A_CHANGE = ("no API key", "API key", "access denied", "not found (404)",
                   "Unknown name", "was blocked", "credentials", "is set but blank")


def finish_advice(reasons: list[str]) -> str:
    """Pure: what to do before the finish command, said only as it can help."""
    if reasons and any(any(m in r for m in _NEEDS_A_CHANGE) for r in reasons):
        return "fix the cause above, then run"
    return "run the same command again"


def _sample_line(sample: Sample, out: str) -> str:
    where = f"{out}/runs/{sample.run_id}/answer.md"
    if sample.status == "failed":
        return f"sample {sample.number}: failed: {sample.reason}"
    if sample.status == "would run":
        return f"sample {sample.number}: would run"
    tokens = (sample.record.get("tokens") or {}).get("answer")
    seconds = sample.record.get("seconds")
    cost = sample.record.get("cost")
    took = f"{seconds:.1f}s" if seconds is not None else ""
    if took and sample.status != "ran":  # kept: its seconds were spent then, not now
        date = str(sample.record.get("date") or "")[:10]
        took = f"kept, made in {took}" + (f" on {date}" if date else "")
    facts = ", ".join(x for x in (f"{tokens:,} answer tokens" if tokens else "",
                                  _money(cost) if isinstance(cost, dict) else "", took) if x)
    word = {"cached": "cached", "ran": "answered", "imported": "imported"}[sample.status]
    edited = ", edited by hand" if sample.edited else ""
    return f"{_who(sample)}: {word}{edited}: {where}" + (f" ({facts})" if facts else "")


def _money(cost: dict[str, object]) -> str:
    from meta_prompting.models.prices import money

    usd = cost.get("usd")
    return money(usd if isinstance(usd, (int, float)) else None)
