"""A tasks file's results as views: RESULTS.md for people, results.jsonl for programs.

Both are rendered from the rows' records (run.json, scorecard.json) each run and
never read back: the records in runs/ are the one source of truth, and deleting
either file loses nothing. Each is written whole (atomic), and only when it changes.
Paths in them are relative to output/<project>/, where they sit, so the folder can
be moved or kept as a CI artifact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import UserError
from meta_prompting.store.files import (
    check_own,
    os_reason,
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)

if TYPE_CHECKING:
    from meta_prompting.grading.scorecard import Graded
    from meta_prompting.runs.run import Sample
    from meta_prompting.tasks.runner import RowResult, TasksReport

RESULTS_FILE, RESULTS_JSONL = "RESULTS.md", "results.jsonl"


class Facts(NamedTuple):
    """What a row's sessions and judges cost, as their records say."""

    tokens: int | None  # total tokens (None: no record says)
    usd: float | None  # None: unknown (a model with no price, or an old record)
    seconds: float | None  # the answers' own seconds, summed


def facts(result: RowResult) -> Facts:
    from meta_prompting.models.prices import cost_of

    tokens: int | None = None
    usd: float | None = 0.0
    seconds: float | None = None
    priced = False
    for sample in result.samples:
        if not sample.ok or sample.status == "would run":
            continue
        record = sample.record
        total = (record.get("tokens") or {}).get("total")
        if isinstance(total, int):
            tokens = (tokens or 0) + total
        took = record.get("seconds")
        if isinstance(took, (int, float)):
            seconds = (seconds or 0.0) + took
        cost = record.get("cost")
        spent = cost.get("usd") if isinstance(cost, dict) else None
        usd = None if usd is None or not isinstance(spent, (int, float)) else usd + spent
        priced = True
    for graded in result.cards:
        card = graded.scorecard
        assert card is not None
        for judgment in card.judgments:
            total = (judgment.tokens or {}).get("total")
            if isinstance(total, int):
                tokens = (tokens or 0) + total
        spent = cost_of(card.judgments[0].model if card.judgments else "",
                        [(j.tokens or {}, j.model) for j in card.judgments])["usd"]
        usd = None if usd is None or spent is None else usd + spent
        priced = True
    return Facts(tokens, usd if priced else None, seconds)


def verdict(result: RowResult) -> str:
    """PASS or FAIL ("FAIL 2/3": answers passing of those graded), "" when not graded."""
    passed = result.passed
    if passed is None:
        return ""
    word = "PASS" if passed else "FAIL"
    if result.refined is not None or len(result.verdicts) < 2:
        return word
    return f"{word} {sum(result.verdicts)}/{len(result.verdicts)}"


def answer_of(result: RowResult) -> Sample | None:
    """The answer a row hands on: a refined row's result, else its first."""
    if result.refined is not None:
        best = result.refined.result
        return best.sample if best is not None else None
    return next((s for s in result.samples if s.ok and s.status != "would run"), None)


def row_dict(result: RowResult, out_dir: Path, found: Facts | None = None
             ) -> dict[str, Any]:
    """One row for programs: results.jsonl's line, and --json's row."""
    found = found or facts(result)
    answer = answer_of(result)
    kept = [s for s in result.samples if s.ok and s.status != "would run"]
    card = _card_of(result, answer)
    return {"id": result.row.id, "line": result.row.line, "status": result.status,
            "reason": result.reason,
            "answer": _relative(answer.answer_path, out_dir) if answer else None,
            "answers": [_relative(s.answer_path, out_dir) for s in kept],
            "edited": any(s.edited for s in kept),
            "verdict": verdict(result).split(" ")[0] or None,
            "graded": len(result.verdicts),
            "passed": sum(result.verdicts),
            "scorecard": _relative(card.path, out_dir) if card and card.path else None,
            "verdict_edited": any(g.edited for g in result.cards),
            "tokens": found.tokens, "cost_usd": found.usd, "seconds": found.seconds}


def results_jsonl(report: TasksReport, found: list[Facts]) -> bytes:
    return "".join(json.dumps(row_dict(r, report.out_dir, f)) + "\n"
                   for r, f in zip(report.rows, found, strict=True)).encode("utf-8")


def results_markdown(report: TasksReport, found: list[Facts]) -> bytes:
    from meta_prompting.models.prices import money

    out = report.out_dir
    counts = report.counts()
    lines = [f"# Results: {report.built.project}", "",
             f"Goal {report.built.goal}, {counts['rows']} rows from `{report.tasks.path}`. "
             f"Re-run: `{report.command}`", "", summary(report) + ".", "",
             "| # | Row | Status | Verdict | Answer | Scorecard | Tokens | Cost | Seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, (r, facts_of) in enumerate(zip(report.rows, found, strict=True), 1):
        kept = [s for s in r.samples if s.ok and s.status != "would run"]
        if r.refined is not None:
            kept = [s for s in kept if s is answer_of(r)]
        answers = " ".join(
            f"[{'answer' if len(kept) == 1 else s.number or 'imported'}]"
            f"({_relative(s.answer_path, out)})" + (" (edited by hand)" if s.edited else "")
            for s in kept)
        cards = " ".join(_card_link(g, out) for g in r.cards
                         if r.refined is None or g.sample is answer_of(r))
        status = r.status + (f": {r.reason}" if r.reason else "")
        tokens, usd, seconds = facts_of
        lines.append(" | ".join([
            f"| {i}", r.row.id, status.replace("|", "/").replace("\n", " "), verdict(r),
            answers, cards, f"{tokens:,}" if tokens is not None else "",
            money(usd) if r.ok else "", f"{seconds:.1f}" if seconds is not None else ""])
            + " |")
    from meta_prompting.models.keys import scrub_secrets  # a reason may quote the key

    return (scrub_secrets("\n".join(lines)) + "\n").encode("utf-8")


def summary(report: TasksReport) -> str:
    """"6 rows: 4 cached, 2 ran; graded: 5 pass, 1 fail" (the table's last line)."""
    counts = report.counts()
    order = ("cached", "ran", "would run", "failed", "not run")
    said = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    line = f"{counts['rows']} row{'s' if counts['rows'] != 1 else ''}: {', '.join(said)}"
    if report.graded and not report.dry_run:
        line += f"; graded: {counts['passed']} pass, {counts['failed_grade']} fail"
    return line


def _card_of(result: RowResult, answer: Sample | None) -> Graded | None:
    if answer is None:
        return None
    return next((g for g in result.cards if g.sample.run_id == answer.run_id), None)


def _card_link(graded: Graded, out: Path) -> str:
    card = graded.scorecard
    assert card is not None and graded.path is not None
    where = _relative(graded.path.with_suffix(".md"), out)
    link = f"[{'PASS' if card.passed else 'FAIL'}]({where})"
    if graded.edited:
        from meta_prompting.grading.scorecard import EDITED_WORDS

        link += f" ({EDITED_WORDS})"
    return link


def _relative(path: Path, base: Path) -> str:
    # Strings, not Path.relative_to: a thousand rows' paths, each made under `base`.
    text, top = str(path), str(base)
    if text.startswith(top + os.sep):
        return text[len(top) + 1:].replace(os.sep, "/")
    return path.as_posix()


def check_results(out: Path) -> None:
    """Refuse a RESULTS.md or results.jsonl that is not a regular file: they are this
    tool's, written whole, never through a link."""
    for name in (RESULTS_FILE, RESULTS_JSONL):
        check_own(out / name, folder=False, keeps="the results of --tasks")


def write_results(report: TasksReport) -> None:
    """RESULTS.md and results.jsonl, each rewritten whole when its content changes."""
    out = report.out_dir
    found = [facts(r) for r in report.rows]
    for name, data in ((RESULTS_JSONL, results_jsonl(report, found)),
                       (RESULTS_FILE, results_markdown(report, found))):
        path = out / name
        # A run killed mid-write left its temporary; only a dead process's are removed,
        # as another run of this project may be writing the file now.
        remove_stale_temporaries(out, name)
        try:
            if read_regular(path, len(data), follow_links=False) == data:
                continue
        except OSError:
            pass  # none yet, or a different size: written
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as e:
            raise UserError(f"{path}: cannot write the results: {os_reason(e)} (every "
                            "row's answer is kept; run the same command again once fixed)"
                            ) from e
