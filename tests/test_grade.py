"""Grading with the scorecard, against the fake server and the real SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from meta_prompting.grading.grade import criteria_of, parse_judgment
from tests.conftest import MakeLibrary
from tests.fake_gemini import KEEP, FakeGemini, Reply, RequestRecord, error, json_reply, ok

RUBRIC = """Simulation grading rubric

Judge the answer.

Criterion 1: Structure
Criterion 2: Flaw Analysis
Criterion 3: Solution

Final question: Did this give a clear, actionable, superior path forward?

Output format
## Scorecard
One row per criterion.
"""
GOALS = {
    "SIMULATE": {"description": "Simulate", "persona": "architect.txt",
                 "protocol": "simulate.txt", "constraints": ["rules.txt"], "rubric": "GRADE"},
    "GRADE": {"description": "Grade", "persona": "reviewer.txt", "protocol": "rubric.txt",
              "constraints": ["rules.txt"]},
}
PARTS = {
    "personas/architect.txt": "You are an architect.\n",
    "personas/reviewer.txt": "You are a senior staff reviewer.\n",
    "protocols/simulate.txt": ("Simulation\n\nAnalyze, simulate, decide.\n\nOutput format\n"
                               "## Decision\n"),
    "protocols/rubric.txt": RUBRIC,
    "constraints/rules.txt": "Evidence only\n\nCite the material.\n",
}
ANSWER = "## Decision\nUse a write-through cache keyed by tenant, because keys expire together.\n"
QUOTE = "keys expire together"
CRITERIA = ["Structure", "Flaw Analysis", "Solution"]


pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def is_judge(record: RequestRecord) -> bool:
    return record.response_schema is not None


def grading(fake: FakeGemini, verdicts: dict[str, str] | None = None, quote: str = QUOTE,
            path: str = "YES") -> None:
    """Answer runs with ANSWER, and judgments shaped by the schema the request sent."""
    def shape(at: tuple[str | int, ...], _schema: dict[str, Any]) -> Any:
        if at and at[-1] == "quotes":
            return [quote]
        if at[-1:] == ("verdict",) and at[0] == "criteria":
            return (verdicts or {}).get(str(at[1]), "PASS")
        if at == ("path_forward", "verdict"):
            return path
        return KEEP

    fake.schema_overrides = shape
    fake.responder = lambda r: None if is_judge(r) else ok(ANSWER)


def grade(capsys: pytest.CaptureFixture[str], lib: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                 "Pick a cache design.", "--grade", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def scorecard(lib: Path) -> dict[str, Any]:
    [path] = (lib / "output/s/runs").glob("*/scorecard*.json")  # -3j: three judges
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_a_passing_answer_passes_and_the_judge_is_the_rubric_toolkit(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    code, out, err = grade(capsys, lib)
    assert code == 0, out + err
    run, judge = fake_gemini.requests
    assert run.api_version == judge.api_version == "v1beta"
    assert run.system == "You are an architect.\n" and run.response_schema is None
    assert judge.system == "You are a senior staff reviewer.\n" and judge.contents_count == 1
    schema = judge.response_schema
    assert schema is not None
    assert schema["properties"]["criteria"]["required"] == CRITERIA
    assert ANSWER.strip() in judge.prompt and "Pick a cache design." in judge.prompt
    assert "Analyze, simulate, decide." in judge.prompt  # the blueprint the answer followed
    assert "Overall: PASS" in out
    card = scorecard(lib)
    assert card["passed"] is True and card["criteria"] == CRITERIA and card["judges"] == 1
    assert (lib / "output/s/runs").glob("*/scorecard.md")


def test_a_failing_criterion_fails_the_answer_with_exit_4(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    code, out, _ = grade(capsys, lib)
    assert code == 4
    assert "Overall: FAIL" in out
    assert [m["passed"] for m in scorecard(lib)["majority"].values()] == [True, True, False]


def test_a_no_to_the_final_question_fails_the_answer(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, path="NO")
    assert grade(capsys, lib)[0] == 4


def test_a_quote_that_is_not_in_the_answer_is_unsupported(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, quote="keys never expire at all")
    code, out, _ = grade(capsys, lib)
    assert code == 4 and "(quote not in the answer)" in out
    assert sum(map(is_judge, fake_gemini.requests)) == 2  # a fresh judge was asked once more
    [judgment] = scorecard(lib)["judgments"]
    assert judgment["requests"] == 2
    verdicts = judgment["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["PASS"] * 3  # what the judge said...
    assert [v["supported"] for v in verdicts] == [False] * 3  # ...does not count
    assert grade(capsys, lib)[0] == 4 and sum(map(is_judge, fake_gemini.requests)) == 2


def test_an_invalid_judgment_is_asked_again_once_then_the_grade_fails(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    missing = {"criteria": {"Structure": {"reasoning": "r", "quotes": [QUOTE],
                                          "verdict": "PASS"}},
               "path_forward": {"reasoning": "r", "verdict": "YES"}}
    fake_gemini.responder = lambda r: json_reply(missing) if is_judge(r) else ok(ANSWER)
    code, out, _ = grade(capsys, lib)
    assert code == 3
    assert sum(map(is_judge, fake_gemini.requests)) == 2
    assert "no valid judgment in 2 fresh requests (criteria do not match the rubric; " \
           "missing Flaw Analysis, Solution)" in out
    assert not list((lib / "output/s/runs").glob("*/scorecard*"))


def test_malformed_json_then_a_valid_judgment(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    fake_gemini.fail_when(is_judge, ok("{not json"), times=1)
    assert grade(capsys, lib)[0] == 0
    assert sum(map(is_judge, fake_gemini.requests)) == 2


def test_the_criteria_come_from_the_library_text(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    renamed = RUBRIC.replace("Criterion 2: Flaw Analysis", "Criterion 2: Second-Order Effects")
    renamed = renamed.replace("Criterion 3: Solution\n", "Criterion 3: Solution\n"
                              "Criterion 4: Operability\n")
    lib = make_library(GOALS, {**PARTS, "protocols/rubric.txt": renamed})
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    assert scorecard(lib)["criteria"] == ["Structure", "Second-Order Effects", "Solution",
                                          "Operability"]
    judge = [r for r in fake_gemini.requests if is_judge(r)][0]
    assert judge.response_schema is not None
    assert list(judge.response_schema["properties"]["criteria"]["properties"]) == [
        "Structure", "Second-Order Effects", "Solution", "Operability"]


def test_three_judges_decide_by_majority_and_show_the_split(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    judgments = iter([{"Solution": "FAIL"}, {}, {"Solution": "FAIL", "Structure": "FAIL"}])

    def split(r: RequestRecord) -> Any:
        if not is_judge(r):
            return ok(ANSWER)
        wanted = next(judgments)
        return json_reply({"criteria": {c: {"reasoning": "because", "quotes": [QUOTE],
                                            "verdict": wanted.get(c, "PASS")} for c in CRITERIA},
                           "path_forward": {"reasoning": "r", "verdict": "YES"}})

    fake_gemini.responder = split
    code, out, _ = grade(capsys, lib, "--judges", "3")
    assert code == 4
    assert "PASS 2/3" in out and "FAIL 1/3" in out  # Structure 2 of 3, Solution 1 of 3
    majority = scorecard(lib)["majority"]
    assert majority["Structure"] == {"passed": True, "votes": 2}
    assert majority["Solution"] == {"passed": False, "votes": 1}


def test_grading_again_makes_no_call_and_an_edit_is_judged_again(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    assert grade(capsys, lib)[0] == 0 and fake_gemini.count == 2
    [answer] = (lib / "output/s/runs").glob("*/answer.md")
    answer.write_text(ANSWER + "\nA person's correction: keys expire together at midnight.\n")
    assert grade(capsys, lib)[0] == 0
    assert fake_gemini.count == 3 and is_judge(fake_gemini.requests[-1])
    assert "A person's correction" in fake_gemini.requests[-1].prompt
    assert "correction" in answer.read_text()


def test_a_grade_that_fails_is_made_alone_by_the_rerun(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    fake_gemini.fail_when(is_judge, error(504, "DEADLINE_EXCEEDED"), times=4)
    code, out, _ = grade(capsys, lib)
    assert code == 3 and "not graded" in out
    before = fake_gemini.count
    assert grade(capsys, lib)[0] == 0
    assert fake_gemini.count == before + 1 and is_judge(fake_gemini.requests[-1])


def test_an_answer_made_elsewhere_is_imported_and_graded(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    pasted = tmp_path / "work" / "chat.md"
    pasted.write_text(ANSWER)
    code, out, err = grade(capsys, lib, "--answer", "chat.md")
    assert code == 0, out + err
    assert fake_gemini.count == 1 and is_judge(fake_gemini.requests[0])
    [record] = (lib / "output/s/runs").glob("*/run.json")
    assert json.loads(record.read_text())["imported"] is True
    assert "imported" in out
    assert grade(capsys, lib, "--answer", "chat.md")[0] == 0 and fake_gemini.count == 1


def test_check_reports_a_rubric_whose_criteria_cannot_be_read(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary) -> None:
    lib = make_library(GOALS, {**PARTS, "protocols/rubric.txt": "Rubric\n\nJudge it well.\n"})
    assert main(["--root", str(lib), "--check"]) == 1
    assert ("protocols/rubric.txt: the GRADE rubric's criteria cannot be read: no "
            '"Criterion N: Name" lines') in capsys.readouterr().out


def test_grading_with_an_unreadable_rubric_calls_nothing(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    lib = make_library(GOALS, {**PARTS, "protocols/rubric.txt": "Criterion 2: B\n"})
    code, _, err = grade(capsys, lib)
    assert code == 1 and fake_gemini.count == 0
    assert "rubric GRADE: protocols/rubric.txt: criteria are not numbered" in err


def test_criteria_are_read_from_lines_of_their_own() -> None:
    assert criteria_of(RUBRIC) == (tuple(CRITERIA), "Did this give a clear, actionable, "
                                   "superior path forward?", None)
    assert criteria_of("Criterion 1: A\nCriterion 1: B\n")[2] == (
        "criteria are not numbered 1, 2, 3... in order")
    assert criteria_of("Criterion 1: A\nCriterion 2: a\n")[2] == "two criteria have the same name"


def test_a_judgment_naming_an_unknown_criterion_is_invalid() -> None:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.toolkit.prompt import Sections

    rubric = Rubric("GRADE", ("A",), "Q?", "s", Sections("p", ()), "0")
    text = json.dumps({"criteria": {"A": {"verdict": "PASS", "quote": "q"},
                                    "Z": {"verdict": "PASS", "quote": "q"}},
                       "path_forward": {"verdict": "YES"}})
    with pytest.raises(ValueError, match="not in the rubric: Z"):
        parse_judgment(text, rubric, "answer")


def test_several_samples_show_how_many_passed_each_criterion(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    verdicts = iter([{}, {"Solution": "FAIL"}, {}])

    def judge(r: RequestRecord) -> Any:
        if not is_judge(r):
            return ok(ANSWER)
        wanted = next(verdicts)
        return json_reply({"criteria": {c: {"reasoning": "r", "quotes": [QUOTE],
                                            "verdict": wanted.get(c, "PASS")} for c in CRITERIA},
                           "path_forward": {"reasoning": "r", "verdict": "YES"}})

    fake_gemini.responder = judge
    fake_gemini.latency = 0.05
    code, out, _ = grade(capsys, lib, "--samples", "3", "--jobs", "1")
    assert code == 4
    assert "Structure      3/3 answers pass" in out
    assert "Solution       2/3 answers pass" in out
    assert "2 of 3 answers pass the scorecard" in out
    data = json.loads(grade(capsys, lib, "--samples", "3", "--json")[1])
    assert [g["passed"] for g in data["grade"]["graded"]] == [True, False, True]


def test_quiet_keeps_one_line_when_an_answer_fails(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    code, out, err = grade(capsys, lib, "-q")
    assert (code, out) == (4, "")
    assert err.startswith("a graded answer failed the scorecard: see ") and err.endswith(
        "/scorecard.md\n") and err.count("\n") == 1


def test_a_quote_not_in_the_answer_is_asked_of_a_fresh_judge_whose_judgment_stands(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    quotes = iter(["keys never expire at all", "Keys expire **together**"])

    def judge(r: RequestRecord) -> Any:
        if not is_judge(r):
            return ok(ANSWER)
        quote = next(quotes)
        return json_reply({"criteria": {c: {"reasoning": "r", "quotes": [quote],
                                            "verdict": "PASS"} for c in CRITERIA},
                           "path_forward": {"reasoning": "r", "verdict": "YES"}})

    fake_gemini.responder = judge
    code, out, err = grade(capsys, lib)
    assert code == 0, out + err
    judges = [r for r in fake_gemini.requests if is_judge(r)]
    assert len(judges) == 2 and judges[0].prompt == judges[1].prompt  # fresh, not a reply
    assert judges[1].contents_count == 1
    [judgment] = scorecard(lib)["judgments"]
    assert judgment["requests"] == 2
    assert {v["quotes"][0] for v in judgment["verdicts"]} == {"Keys expire **together**"}
    assert grade(capsys, lib)[0] == 0 and fake_gemini.count == 3  # made once: kept


def test_a_re_ask_that_fails_writes_nothing_and_the_rerun_makes_the_grade_whole(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    replies = iter([json_reply({"criteria": {c: {"reasoning": "r", "quotes": ["invented words"
                                                                              " here"],
                                                 "verdict": "PASS"} for c in CRITERIA},
                                "path_forward": {"reasoning": "r", "verdict": "YES"}})]
                   + [error(504, "DEADLINE_EXCEEDED")] * 4)
    fake_gemini.responder = lambda r: next(replies, None) if is_judge(r) else ok(ANSWER)
    code, out, _ = grade(capsys, lib)
    assert code == 3 and "not graded" in out
    assert not list((lib / "output/s/runs").glob("*/scorecard*"))
    before = fake_gemini.count
    assert grade(capsys, lib)[0] == 0  # this judge quotes the answer
    assert fake_gemini.count == before + 1 and scorecard(lib)["judgments"][0]["requests"] == 1


def test_several_quotes_must_all_be_in_the_answer(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    given = {"Structure": ["## Decision", "a write-through cache keyed by tenant"],
             "Flaw Analysis": ["keys expire together", "and nothing else"],
             "Solution": ["Use a write-through cache", "because keys expire together."]}

    def judge(r: RequestRecord) -> Any:
        if not is_judge(r):
            return ok(ANSWER)
        return json_reply({"criteria": {c: {"reasoning": "r", "quotes": given[c],
                                            "verdict": "PASS"} for c in CRITERIA},
                           "path_forward": {"reasoning": "r", "verdict": "YES"}})

    fake_gemini.responder = judge
    assert grade(capsys, lib)[0] == 4
    verdicts = scorecard(lib)["judgments"][0]["verdicts"]
    # "## Decision" is short, so Structure is unsupported too: each quote must hold.
    assert [v["supported"] for v in verdicts] == [False, False, True]
    card = next((lib / "output/s/runs").glob("*/scorecard.md")).read_text()
    assert "> a write-through cache keyed by tenant\n" in card


def test_a_scorecard_written_with_one_quote_a_verdict_is_still_read(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    [path] = (lib / "output/s/runs").glob("*/scorecard*.json")  # -3j: three judges
    record = json.loads(path.read_text())
    for judgment in record["judgments"]:
        del judgment["requests"]
        for v in judgment["verdicts"]:
            v["quote"] = v.pop("quotes")[0]
    path.write_text(json.dumps(record))
    code, out, _ = grade(capsys, lib)
    assert code == 0 and fake_gemini.count == 2 and "Overall: PASS" in out


JUDGMENT = {"criteria": {"A": {"reasoning": "r", "quotes": ["keys expire together"],
                               "verdict": "PASS"}},
            "path_forward": {"reasoning": "r", "verdict": "YES"}}


@pytest.mark.parametrize("text", [
    json.dumps(JUDGMENT),
    f"```json\n{json.dumps(JUDGMENT, indent=2)}\n```\n",
    f"```JSON\n{json.dumps(JUDGMENT)}\n```",
    f"~~~\n{json.dumps(JUDGMENT)}\n~~~",
    f"Here is my judgment:\n\n```json\n{json.dumps(JUDGMENT)}\n```\n\nI hope it helps.",
    f"Here is my judgment: {json.dumps(JUDGMENT)} (end)",
    f"Note {{braces}} first. {json.dumps(JUDGMENT)}",
    json.dumps({**JUDGMENT, "criteria": {"A": {"reasoning": "r", "verdict": "PASS",
                                                "quote": "keys expire together"}}}),
    f"````json\n{json.dumps(JUDGMENT)}\n`````",
    f"```json\n{json.dumps(JUDGMENT)}",
], ids=["bare", "json-fence", "upper-case-fence", "tilde-fence", "fence-with-words",
        "words-around", "braces-before", "one-quote-field", "longer-closing-fence",
        "fence-never-closed"])
def test_a_judgment_is_read_as_real_models_write_it(text: str) -> None:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.toolkit.prompt import Sections

    rubric = Rubric("GRADE", ("A",), "Q?", "s", Sections("p", ()), "0")
    judged = parse_judgment(text, rubric, ANSWER)
    assert judged.verdicts[0].quotes == ("keys expire together",)
    assert judged.verdicts[0].passed and judged.path_forward == "YES"


@pytest.mark.parametrize("text", [
    "", "I cannot grade this.", "```json\n{not json}\n```", "[1, 2]",
    '```json\n{"criteria": {}}\n```',
], ids=["empty", "words-only", "fenced-garbage", "a-list", "fenced-but-invalid"])
def test_a_reply_without_a_valid_judgment_is_refused(text: str) -> None:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.toolkit.prompt import Sections

    rubric = Rubric("GRADE", ("A",), "Q?", "s", Sections("p", ()), "0")
    with pytest.raises(ValueError):
        parse_judgment(text, rubric, ANSWER)


def test_the_judge_is_told_how_quotes_are_checked(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    judge = next(r for r in fake_gemini.requests if is_judge(r))
    assert "Copy each quote character for character from the answer" in judge.prompt
    assert "write ... in their place and nothing else" in judge.prompt
    assert "in the order you give them" in judge.prompt


MARKDOWN_ANSWER = """\
### 1. **Decision**

Use a **write-through** cache keyed by `tenant_id`, because keys expire together.

**2. Risks**

- A cold start reads every tenant's keys from the database at once.
"""


@pytest.mark.parametrize("fenced", [False, True], ids=["plain-json", "fenced-json"])
def test_the_fakes_judge_writes_as_real_judges_do_and_an_honest_answer_passes(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        fenced: bool) -> None:
    from tests.fake_wire import structured_reply

    def judge_as(r: RequestRecord) -> Reply:
        # The fake's own judgment, its fence set by the test rather than by the prompt's
        # checksum, so both shapes are proven whatever the judge's request says.
        reply = structured_reply(r)
        assert reply.payload is not None
        text = reply.payload["candidates"][0]["content"]["parts"][0]["text"]
        text = text.removeprefix("```json\n").removesuffix("\n```")
        return ok(f"```json\n{text}\n```" if fenced else text)

    fake_gemini.responder = lambda r: judge_as(r) if is_judge(r) else ok(MARKDOWN_ANSWER)
    code, out, err = grade_task(capsys, lib, "Pick a cache design.")
    assert code == 0, out + err
    [verdict, *_] = scorecard(lib)["judgments"][0]["verdicts"]
    assert "**" not in verdict["quotes"][0] and "`" not in verdict["quotes"][0]
    assert verdict["quotes"][0] not in MARKDOWN_ANSWER  # the Markdown really was dropped


def grade_task(capsys: pytest.CaptureFixture[str], lib: Path, task: str
               ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", task, "--grade"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("quote", ["Pick a cache design.", "You are a senior staff reviewer",
                                   "Analyze, simulate, decide."],
                         ids=["from-the-task", "from-the-persona", "from-the-protocol"])
def test_a_quote_from_anywhere_but_the_answer_never_passes(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        quote: str) -> None:
    grading(fake_gemini, quote=quote)
    code, out, _ = grade(capsys, lib)
    assert code == 4 and "(quote not in the answer)" in out
    assert not any(v["supported"] for v in scorecard(lib)["judgments"][0]["verdicts"])


def test_a_scorecard_json_whose_md_was_not_yet_renamed_in_gets_its_md_without_a_judge(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    """The state a kill between the .json's rename and the .md's leaves (another
    grade's kill can land there: found by bench/resume_stress.py under load): the .json
    is the commit, so the next look writes the .md from it and asks no judge."""
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    [md] = (lib / "output/s/runs").glob("*/scorecard.md")
    written, record = md.read_bytes(), md.with_suffix(".json").read_bytes()
    md.unlink()
    asked = fake_gemini.count
    code, out, err = grade(capsys, lib)
    assert code == 0, out + err
    assert fake_gemini.count == asked  # kept: no answer, no judge
    assert md.read_bytes() == written and md.with_suffix(".json").read_bytes() == record
