"""A scorecard as the report reads it: whatever a hand edit or an old version left."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.report.records import list_of as _list
from meta_prompting.report.records import read_json
from meta_prompting.report.records import total as _total


class Verdict(NamedTuple):
    criterion: str
    verdict: str  # "PASS", "FAIL" or whatever a hand edit says
    quotes: tuple[str, ...]
    reasoning: str
    fix: str
    supported: bool


class Judge(NamedTuple):
    model: str
    path_forward: str
    path_reason: str
    verdicts: tuple[Verdict, ...]
    tokens: int | None


class Card(NamedTuple):
    file: str  # scorecard.json or scorecard-<rubric>.json
    rubric: str
    criteria: tuple[str, ...]
    question: str
    judges: tuple[Judge, ...]
    passed: bool | None
    edited: bool = False  # the verdict was edited by hand
    problem: str | None = None
    answer_sha256: str | None = None  # the answer as it was graded
    usd: float | None = None  # what its judges cost, when the record says

    def votes(self, criterion: str) -> tuple[int, int]:
        """(judges whose PASS stands, judges), as grading counts them: a PASS whose
        quote is not in the answer is no pass."""
        found = [v for j in self.judges for v in j.verdicts if v.criterion == criterion]
        return sum(passes(v) for v in found), len(self.judges) if found else 0


def passes(verdict: Verdict) -> bool:
    return verdict.verdict == "PASS" and verdict.supported


def read_card(path: Path) -> Card:
    from meta_prompting.grading.scorecard import record_hash

    data, why = read_json(path)
    if not isinstance(data, dict):
        return Card(path.name, "?", (), "", (), None, problem=why or f"{path.name}: not a "
                    "scorecard (edited by hand?)")
    edited = data.get("sha256") != record_hash(data)
    judges = tuple(_judge(j) for j in _list(data.get("judgments")) if isinstance(j, dict))
    criteria = tuple(str(c) for c in _list(data.get("criteria")))
    if not criteria:  # an old or edited card: the criteria its verdicts name
        criteria = tuple(dict.fromkeys(v.criterion for j in judges for v in j.verdicts))
    passed = data.get("passed") if isinstance(data.get("passed"), bool) else None
    graded = data.get("answer_sha256")
    cost = data.get("cost")
    usd = cost.get("usd") if isinstance(cost, dict) else None
    return Card(path.name, str(data.get("rubric", "?")), criteria, str(data.get("question", "")),
                judges, passed, edited, None if judges else f"{path.name}: no judgments",
                graded if isinstance(graded, str) else None,
                float(usd) if isinstance(usd, (int, float)) else None)


def requote(card: Card, answer: str) -> Card:
    """`card` with each quote checked again against `answer` as it stands."""
    from meta_prompting.grading.quotes import is_quoted, normalise

    haystack = normalise(answer)
    return card._replace(judges=tuple(j._replace(verdicts=tuple(
        v._replace(supported=bool(v.quotes) and all(is_quoted(q, haystack) for q in v.quotes))
        for v in j.verdicts)) for j in card.judges))


def _judge(data: dict[str, Any]) -> Judge:
    verdicts = []
    for v in _list(data.get("verdicts")):
        if not isinstance(v, dict):
            continue
        quotes = v.get("quotes", [v["quote"]] if isinstance(v.get("quote"), str) else [])
        verdicts.append(Verdict(str(v.get("criterion", "?")), str(v.get("verdict", "?")),
                                tuple(str(q) for q in _list(quotes)),
                                str(v.get("reasoning", "")), str(v.get("fix") or ""),
                                v.get("supported") is True))
    return Judge(str(data.get("model", "?")), str(data.get("path_forward", "?")),
                 str(data.get("path_reason", "")), tuple(verdicts), _total(data.get("tokens")))


