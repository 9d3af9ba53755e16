"""output/<project>/CHAIN.md: each stage's answer and scorecard, in order, linked.

Written whole (atomically) after every run of the chain, and only when it changes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.chains.chainfile import CHAIN_FILE
from meta_prompting.errors import UserError
from meta_prompting.store.files import (
    os_reason,
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)

if TYPE_CHECKING:
    from meta_prompting.chains.chain import ChainReport


def write_index(report: ChainReport) -> None:
    """output/<project>/CHAIN.md: each stage's answer and scorecard, in order."""
    lines = [f"# Chain: {report.chain.description or report.chain.path.name}", "",
             f"From `{report.chain.path}`. Re-run: `{report.command}`", "",
             "| # | Stage | Goal | Status | Answer | Scorecard |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(report.results, 1):
        answer = scorecard = ""
        if r.sample is not None:
            answer = f"[answer]({_relative(r.sample.answer_path, report.out_dir)})"
            if r.sample.edited:
                answer += " (edited by hand)"
        if r.graded is not None and r.graded.path is not None and r.graded.scorecard:
            verdict = "PASS" if r.graded.scorecard.passed else "FAIL"
            card = _relative(r.graded.path.with_suffix(".md"), report.out_dir)
            scorecard = f"[{verdict}]({card})"
            if r.graded.edited:
                from meta_prompting.grading.scorecard import EDITED_WORDS

                scorecard += f" ({EDITED_WORDS})"
        status = r.status + (f": {r.reason}" if r.reason else "")
        if r.lacks and not r.reason:
            from meta_prompting.grading.structure import lacks_line

            status += f": its answer {lacks_line(r.lacks)}"
        lines.append(f"| {i} | {r.stage.name} | {r.stage.goal} | {status.replace('|', '/')} "
                     f"| {answer} | {scorecard} |")
    if any(r.attempts for r in report.results):
        from meta_prompting.chains.refined import attempt_lines

        lines += attempt_lines(report)
    from meta_prompting.models.keys import scrub_secrets  # a reason or command may quote it

    data = (scrub_secrets("\n".join(lines)) + "\n").encode("utf-8")
    path = report.out_dir / CHAIN_FILE
    # A run killed mid-write left its temporary file, and nothing else ever clears it;
    # only a dead process's are removed, as another chain may be writing the index now.
    remove_stale_temporaries(report.out_dir, CHAIN_FILE)
    try:
        if read_regular(path, len(data), follow_links=False) == data:
            return
    except OSError:
        pass  # none yet, or not ours to keep (check_index refused the rest): replaced
    try:
        report.out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as e:
        raise UserError(f"{path}: cannot write the chain's index: {os_reason(e)} (every "
                        "stage's answer is kept; run the same command again once fixed)"
                        ) from e


def check_index(path: Path) -> None:
    """Refuse a CHAIN.md that is not a regular file: it is this tool's, written whole."""
    from meta_prompting.store.files import check_own

    check_own(path, folder=False, keeps="the chain's index")


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


# The rows write_index writes, read back (by --report and a dry run's reasons).
_ROW = re.compile(r"^\|\s*\d+\s*\|(.*)\|\s*$")
_RUN_LINK = re.compile(r"\]\([^)]*?runs/([^/)]+)/answer\.md\)")
STATUSES = ("failed grade", "would run", "cached", "ran", "failed", "blocked")


def parse_index(text: str) -> dict[str, tuple[str, str, str, str | None]]:
    """CHAIN.md's rows: stage -> (goal, status, reason, run id handed on)."""
    rows: dict[str, tuple[str, str, str, str | None]] = {}
    for line in text.splitlines():
        if not (m := _ROW.match(line)):
            continue
        cells = [c.strip() for c in m.group(1).split("|")]
        if len(cells) < 3:
            continue
        state = cells[2]
        status = next((s for s in STATUSES if state == s or state.startswith(s + ":")),
                      "unknown")
        reason = state[len(status) + 1:].strip() if status != "unknown" else state
        link = _RUN_LINK.search(cells[3]) if len(cells) > 3 else None
        rows[cells[0]] = (cells[1], status, reason, link.group(1) if link else None)
    return rows
