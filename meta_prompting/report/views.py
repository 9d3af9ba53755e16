"""HTML for one toolkit: its parts, its prompt, its runs side by side, their scorecards.

Every text from a file is escaped here (`esc`) or rendered as safe Markdown; nothing
from a record reaches the page as markup. Pure: gathered data in, HTML text out.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markdown_it import MarkdownIt

from meta_prompting.report.cards import Card
from meta_prompting.report.gather import Group, Run, Toolkit
from meta_prompting.report.markdown import render


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def first_line(text: str | None) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def cost_of(record: dict[str, Any]) -> float | None:
    """The cost a record states (none does today: the service does not say); never
    guessed from a price list that would go stale."""
    for key in ("cost", "cost_usd"):
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def toolkit_html(md: MarkdownIt, toolkit: Toolkit, anchor: str) -> str:
    out = [f'<p class="meta">Folder <code>{esc(toolkit.folder)}</code>'
           f" · goal <b>{esc(toolkit.goal or '(no manifest)')}</b></p>"]
    out += [f'<p class="problem">{esc(p)}</p>' for p in toolkit.problems]
    if toolkit.parts:
        out.append('<table class="parts"><thead><tr><th>Part</th><th>File</th>'
                   "<th>Source</th><th>Where it is now</th></tr></thead><tbody>")
        for part in toolkit.parts:
            made = ""
            if part.provenance:
                p = part.provenance
                made = (f'<div class="small">made by {esc(p.get("model", "?"))} on '
                        f'{esc(p.get("generated_at", "?"))} for goal {esc(p.get("goal", "?"))}'
                        + (f": {esc(p.get('description'))}" if p.get("description") else "")
                        + "</div>")
            out.append(f"<tr><td>{esc(part.kind)}</td><td><code>{esc(part.file)}</code>{made}"
                       f'</td><td class="src-{esc(part.source)}">{esc(part.source)}</td>'
                       f"<td>{esc(part.layer or '—')}</td></tr>")
        out.append("</tbody></table>")
    if toolkit.prompt is not None:
        cut = ("" if toolkit.prompt_size <= len(toolkit.prompt) else
               f' (the first {len(toolkit.prompt):,} of {toolkit.prompt_size:,} characters)')
        out.append(f"<details><summary>The prompt as sent (02_PROMPT.md){cut}</summary>"
                   f'<pre class="prompt">{esc(toolkit.prompt)}</pre></details>')
    if not toolkit.groups:
        out.append('<p class="meta">No runs kept yet.</p>')
    for i, group in enumerate(toolkit.groups):
        out.append(group_html(md, group, toolkit, f"{anchor}-g{i}"))
    return "\n".join(out)


def group_html(md: MarkdownIt, group: Group, toolkit: Toolkit, anchor: str) -> str:
    task = (toolkit.task if group.current else
            next((r.record.get("task") for r in group.runs
                  if isinstance(r.record.get("task"), str)), None))
    title = first_line(task) or ("(the task of an earlier prompt: not kept)"
                                 if not group.current else "(no task)")
    label = "current inputs" if group.current else "earlier inputs"
    out = [f'<section class="group" id="{esc(anchor)}"><h4>{esc(title)} '
           f'<span class="tag">{label}</span> <span class="tag">{len(group.runs)} '
           f"run{'s' if len(group.runs) != 1 else ''}</span></h4>",
           runs_table(group.runs)]
    for file in dict.fromkeys(c.file for r in group.runs for c in r.cards):
        out.append(matrix_html(file, [(r, c) for r in group.runs for c in r.cards
                                      if c.file == file]))
    out.append('<div class="samples">')
    for run in group.runs:
        out.append(sample_html(md, run))
    out.append("</div></section>")
    return "\n".join(out)


def runs_table(runs: tuple[Run, ...]) -> str:
    rows = []
    for run in runs:
        r = run.record
        cost = cost_of(r)
        marks = [m for m, on in (("answer edited by hand", run.edited),
                                 ("imported", bool(r.get("imported")))) if on]
        rows.append(f"<tr><td>{esc(run.sample)}</td><td><code>{esc(run.run_id)}</code></td>"
                    f"<td>{esc(r.get('date', '—'))}</td>"
                    f"<td>{esc(r.get('model_version') or r.get('model') or '—')}</td>"
                    f'<td class="num">{number(run.tokens)}</td>'
                    f'<td class="num">{"—" if cost is None else f"${cost:.4f}"}</td>'
                    f"<td>{esc(', '.join(marks))}"
                    + (f' <span class="problem">{esc(run.problem)}</span>' if run.problem else "")
                    + "</td></tr>")
    return ('<table class="runs"><thead><tr><th>Sample</th><th>Run</th><th>Date</th>'
            '<th>Model</th><th class="num">Tokens</th><th class="num">Cost</th><th>Notes</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def matrix_html(file: str, cards: list[tuple[Run, Card]]) -> str:
    """Criteria down, samples across: each cell the majority and the judges' split."""
    rubric = next((c.rubric for _, c in cards if c.rubric != "?"), "?")
    criteria = list(dict.fromkeys(x for _, c in cards for x in c.criteria))
    head = "".join(f"<th>sample {esc(r.sample)}"
                   + ('<div class="edited">verdict edited by hand</div>' if c.edited else "")
                   + ('<div class="edited">graded an earlier version of the answer</div>'
                      if _stale(r, c) else "") + "</th>" for r, c in cards)
    out = [f'<table class="matrix"><caption>Scorecard <code>{esc(file)}</code> · rubric '
           f"{esc(rubric)}</caption><thead><tr><th>Criterion</th>{head}</tr></thead><tbody>"]
    for criterion in criteria:
        cells = []
        for _, card in cards:
            yes, of = card.votes(criterion)
            if not of:
                cells.append('<td class="none">—</td>')
                continue
            ok = yes * 2 > of
            cells.append(f'<td class="{"pass" if ok else "fail"}"><details><summary>'
                         f'{"PASS" if ok else "FAIL"} <span class="split">{yes}/{of}</span>'
                         f"</summary>{_verdicts(card, criterion)}</details></td>")
        passed = sum(1 for _, c in cards if _passes(c, criterion))
        out.append(f"<tr><th>{esc(criterion)} <span class=\"split\">{passed}/{len(cards)} "
                   f"pass</span></th>{''.join(cells)}</tr>")
    question = next((c.question for _, c in cards if c.question), "Final question")
    cells = []
    for _, card in cards:
        yes = sum(j.path_forward.upper() == "YES" for j in card.judges)
        reasons = "".join(f"<p><b>Judge {i}</b> ({esc(j.model)}): {esc(j.path_forward)}. "
                          f"{esc(j.path_reason)}</p>" for i, j in enumerate(card.judges, 1))
        cells.append(f'<td class="{"pass" if yes * 2 > len(card.judges) else "fail"}">'
                     f"<details><summary>{yes}/{len(card.judges)} yes</summary>{reasons}"
                     "</details></td>")
    out.append(f"<tr><th>{esc(question)}</th>{''.join(cells)}</tr>")
    overall = "".join(
        f'<td class="{"pass" if c.passed else "fail" if c.passed is False else "none"}">'
        f'<b>{"PASS" if c.passed else "FAIL" if c.passed is False else "?"}</b>'
        + (f'<div class="problem">{esc(c.problem)}</div>' if c.problem else "") + "</td>"
        for _, c in cards)
    out.append(f"<tr><th>Scorecard</th>{overall}</tr></tbody></table>")
    return "\n".join(out)


def _stale(run: Run, card: Card) -> bool:
    from meta_prompting.store.files import sha256_bytes

    return (card.answer_sha256 is not None and run.answer is not None and not card.edited
            and card.answer_sha256 != sha256_bytes(run.answer.encode("utf-8")))


def _passes(card: Card, criterion: str) -> bool:
    yes, of = card.votes(criterion)
    return bool(of) and yes * 2 > of


def _verdicts(card: Card, criterion: str) -> str:
    out = []
    for i, judge in enumerate(card.judges, 1):
        for v in judge.verdicts:
            if v.criterion != criterion:
                continue
            quotes = "".join(
                f'<blockquote class="{"verified" if v.supported else "unverified"}">'
                f"{esc(q)}<div class=\"small\">"
                f"{'found in the answer' if v.supported else 'NOT found in the answer'}"
                "</div></blockquote>" for q in v.quotes) or '<p class="small">(no quote)</p>'
            fix = f'<p class="fix"><b>Fix:</b> {esc(v.fix)}</p>' if v.fix else ""
            if v.verdict == "PASS" and not v.supported:
                fix = ('<p class="problem">A PASS whose quote is not in the answer counts as '
                       "FAIL.</p>") + fix
            out.append(f"<div class=\"judge\"><b>Judge {i}</b> ({esc(judge.model)}): "
                       f"<b>{esc(v.verdict)}</b><p>{esc(v.reasoning)}</p>{quotes}{fix}</div>")
    return "".join(out)


def sample_html(md: MarkdownIt, run: Run) -> str:
    passed = [c.passed for c in run.cards if c.passed is not None]
    state = "none" if not passed else "pass" if all(passed) else "fail"
    quotes = [q for c in run.cards for j in c.judges for v in j.verdicts if v.supported
              for q in v.quotes]
    badges = "".join(f'<span class="badge {"pass" if c.passed else "fail"}">'
                     f'{"PASS" if c.passed else "FAIL"}</span>' for c in run.cards
                     if c.passed is not None)
    if run.edited:
        badges += '<span class="badge edited">answer edited by hand</span>'
    if any(c.edited for c in run.cards):
        badges += '<span class="badge edited">verdict edited by hand</span>'
    body = (render(md, run.answer, quotes) if run.answer is not None else
            f'<p class="problem">{esc(run.problem or "no answer")}</p>')
    return (f'<article class="sample" data-pass="{state}"><header>Sample {esc(run.sample)} '
            f"<code>{esc(run.run_id)}</code> {badges}</header>"
            f'<div class="answer">{body}</div></article>')
