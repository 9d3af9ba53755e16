"""Grades as JUnit XML (--junit FILE), the results file GitHub, GitLab and Jenkins show.

One test suite per graded answer (or chain stage), named by goal and project (or
stage): "SIMULATE state". In it, the answer's scorecard is one test case and each
criterion its own, named so a CI page reads "SIMULATE state › Soundness of the Revised
Algorithm". A failing criterion carries each judge's reasoning, quotes and fix; an
answer or grade that could not be made is an error (exit 3 says the same), a stage
that never ran is skipped. Kept results are reported like fresh ones, marked as kept.

The file follows the Jenkins xUnit plugin's junit-10.xsd (tests/junit-10.xsd), the
strictest of the common readers; every text is scrubbed of the API key and of the
characters XML 1.0 cannot hold, and the file is written whole or not at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import UserError
from meta_prompting.store.files import os_reason, write_atomic

if TYPE_CHECKING:
    from meta_prompting.chains.chain import ChainReport, StageResult
    from meta_prompting.grading.grade import Scorecard
    from meta_prompting.grading.scorecard import Graded, GradeReport
    from meta_prompting.runs.run import Sample

SEP = " › "
_MESSAGE = 200  # characters of a failure's message attribute: CI shows it on one line
# XML 1.0 allows tab, newline, carriage return and these ranges, nothing else.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Case(NamedTuple):
    name: str
    failure: tuple[str, str] | None = None  # (message, text)
    error: tuple[str, str] | None = None
    skipped: str | None = None
    out: str | None = None  # shown beside the case: kept, edited, where the files are


class Suite(NamedTuple):
    name: str
    cases: tuple[Case, ...]
    seconds: float = 0.0


def grade_suites(report: GradeReport) -> list[Suite]:
    """A suite per answer of a --grade run: its scorecard and its criteria."""
    label = f"{report.built.goal} {report.built.project}"
    samples = report.ran.samples if report.ran else ()
    many = len(samples) > 1
    graded = {g.sample.run_id: g for g in report.graded}
    suites = []
    for sample in samples:
        name = f"{label} #{sample.number}" if many else label
        suites.append(_answer_suite(name, sample, graded.get(sample.run_id)))
    return suites


def chain_suites(report: ChainReport) -> list[Suite]:
    """A suite per stage of a chain, in the chain's order."""
    return [_stage_suite(r) for r in report.results]


def _stage_suite(r: StageResult) -> Suite:
    from meta_prompting.chains.chain import BLOCKED, FAILED, WOULD_RUN

    name = f"{r.stage.goal} {r.stage.name}"
    if r.graded is not None and r.graded.scorecard is not None:
        sample = r.sample or r.graded.sample
        return _answer_suite(name, sample, r.graded, r.reason)
    if r.status in (BLOCKED, WOULD_RUN):
        return Suite(name, (Case(name + SEP + "answer", skipped=f"{r.status}: {r.reason}"),))
    if r.status == FAILED or r.sample is None:
        return Suite(name, (Case(name + SEP + "answer", error=_detail(
            f"{r.status}: {r.reason}", "")),))
    return _answer_suite(name, r.sample, None)  # not graded: the answer is the test


def _answer_suite(name: str, sample: Sample, graded: Graded | None,
                  why: str | None = None) -> Suite:
    from meta_prompting.grading.scorecard import CACHED, EDITED_WORDS

    seconds = sample.record.get("seconds")
    seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    where = [f"answer: {sample.answer_path}"] if sample.ok else []
    if sample.ok and sample.status == CACHED:
        where.append("answer kept from an earlier run")
    if sample.edited:
        where.append("answer edited by hand")
    if not sample.ok:
        return Suite(name, (Case(name + SEP + "answer", error=_detail(
            f"no answer: {sample.reason}", "")),), seconds)
    if graded is None:
        return Suite(name, (Case(name + SEP + "answer", out="\n".join(where)),), seconds)
    card = graded.scorecard
    if card is None:
        return Suite(name, (Case(name + SEP + "scorecard", error=_detail(
            f"not graded: {graded.reason}", "\n".join(where))),), seconds)
    if graded.path is not None:
        where.append(f"scorecard: {graded.path.with_suffix('.md')}")
    if graded.status == CACHED:
        where.append("grade kept from an earlier run: no call made")
    if graded.edited:
        where.append(EDITED_WORDS)
    out = "\n".join(where)
    cases = [_scorecard_case(name, card, out, why)]
    cases += [_criterion_case(name, card, c) for c in card.rubric.criteria]
    return Suite(name, tuple(cases), seconds)


def _scorecard_case(name: str, card: Scorecard, out: str, why: str | None) -> Case:
    if card.passed:
        return Case(name + SEP + "scorecard", out=out)
    failed = [c for c in card.rubric.criteria if not card.criterion_passes(c)]
    k = len(card.judgments)
    path_ok = card.path_votes * 2 > k
    parts = [f"{len(failed)} of {len(card.rubric.criteria)} criteria failed"] if failed \
        else []
    if not path_ok:
        parts.append("path forward: NO")
    lines = [f"failed: {', '.join(failed)}"] if failed else []
    for i, j in enumerate(card.judgments, 1):
        who = f"judge {i}: " if k > 1 else ""
        lines.append(f"{who}path forward {j.path_forward}: {j.path_reason}")
    if why:
        lines.append(why)
    return Case(name + SEP + "scorecard", failure=_detail(
        "; ".join(parts) or "failed", "\n".join(lines + ["", out])), out=out)


def _criterion_case(name: str, card: Scorecard, criterion: str) -> Case:
    title = name + SEP + criterion
    if card.criterion_passes(criterion):
        return Case(title)
    k = len(card.judgments)
    lines = [f"FAIL ({card.votes(criterion)} of {k} judges passed it)"] if k > 1 else []
    message = ""
    for i, j in enumerate(card.judgments, 1):
        for v in j.verdicts:
            if v.criterion != criterion or v.passed:
                continue
            said = v.verdict if v.supported else f"{v.verdict}, but a quote is not in the " \
                                                   "answer (or none was given)"
            lines.append((f"judge {i}: " if k > 1 else "") + said)
            lines.append(f"reasoning: {v.reasoning}")
            lines += [f"quote: {q}" for q in v.quotes]
            lines.append(f"fix: {v.fix}")
            message = message or v.reasoning
    return Case(title, failure=_detail(message or "FAIL", "\n".join(lines)))


def _detail(message: str, text: str) -> tuple[str, str]:
    line = " ".join(message.split())
    if len(line) > _MESSAGE:
        line = line[:_MESSAGE - 1].rstrip() + "…"
    return line, text


def render(suites: list[Suite], name: str) -> bytes:
    """The JUnit XML document, testsuites at its root."""
    root = ET.Element("testsuites", name=_clean(name))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for suite in suites:
        counts = {"tests": len(suite.cases),
                  "failures": sum(c.failure is not None for c in suite.cases),
                  "errors": sum(c.error is not None for c in suite.cases),
                  "skipped": sum(c.skipped is not None for c in suite.cases)}
        node = ET.SubElement(root, "testsuite", {
            "name": _clean(suite.name), **{k: str(v) for k, v in counts.items()},
            "time": f"{suite.seconds:.3f}"})
        for case in suite.cases:
            _case(node, case, suite.name)
        for key in totals:
            totals[key] += counts[key]
        seconds += suite.seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _case(parent: ET.Element, case: Case, classname: str) -> None:
    node = ET.SubElement(parent, "testcase", name=_clean(case.name),
                         classname=_clean(classname))
    for tag, detail in (("failure", case.failure), ("error", case.error)):
        if detail is not None:
            element = ET.SubElement(node, tag, message=_clean(detail[0]),
                                    type="FAIL" if tag == "failure" else "ERROR")
            element.text = _clean(detail[1])
    if case.skipped is not None:
        ET.SubElement(node, "skipped", message=_clean(case.skipped))
    if case.out:
        ET.SubElement(node, "system-out").text = _clean(case.out)


def _clean(text: str) -> str:
    from meta_prompting.models.keys import scrub_secrets

    # A judge's quote is the model's text: it can hold any character, and the key.
    return _NOT_XML.sub("\ufffd", scrub_secrets(text))


def check_junit_path(given: str) -> None:
    """Refuse a --junit FILE that cannot be written, before any call is made."""
    folder = Path(given).parent
    if not folder.is_dir():
        raise UserError(f"--junit {given}: no folder {folder}; make it first")


def write_junit(given: str, suites: list[Suite], name: str) -> Path:
    """Write the file --junit names, whole or not at all; one line saying why not."""
    path = Path(given)
    if path.is_dir():
        raise UserError(f"--junit {given}: is a folder; name a file, e.g. junit.xml")
    try:
        write_atomic(path, render(suites, name))
    except OSError as e:
        raise UserError(f"--junit {given}: cannot write: {os_reason(e)} (the grades are "
                        "kept; run the same command again once fixed: it makes no calls)"
                        ) from e
    return path
