"""The wizard after a complete build: run it, show the answer, grade it (in-process).

The same pattern as test_wizard.py: keys through a prompt_toolkit pipe, the real SDK
against the fake server. The wizard's working folder is the test's `work/`, so an
evidence file is named as a person would type it there.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini, Reply, RequestRecord, error, hang, ok, split_text
from tests.test_wizard import CTRL_C, CTRL_D, ENTER, FINISH, flat, wizard  # noqa: F401

ANSWER = ("## Findings\n\nThe crash comes from a **null session** in `login()`, "
          "because the cache expires first.\n")
QUOTE = "the cache expires first"
LOG = "ERROR login(): session is None\n"
BUILD = [("Project name", "demo" + ENTER), ("Build it?", "y")]
TASK = [("Task:", "Why does login crash?" + FINISH)]
GRADED_AUDIT = {"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE_AUDIT"}}
EVIDENCE = [("Evidence 1:", "app.log" + ENTER), ("Evidence 2:", ENTER)]


@pytest.fixture
def model(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    """Runs answer ANSWER; a judge gets schema-shaped JSON whose quotes are in it."""
    monkeypatch.setenv("META_PROMPTING_RETRY_DELAY", "0.01")
    fake_gemini.responder = lambda r: None if is_judge(r) else ok(ANSWER)
    fake_gemini.schema_overrides = {"quotes": [QUOTE]}
    return fake_gemini


@pytest.fixture(autouse=True)
def evidence() -> Path:
    log = Path("app.log")  # in work/, the wizard's folder
    log.write_text(LOG)
    return log


@pytest.fixture
def audit_lib(make_library: MakeLibrary) -> Path:
    """AUDIT graded by the built-in GRADE_AUDIT: a rubric may live in a lower layer."""
    return make_library(GRADED_AUDIT, AUDIT_PARTS)


def is_judge(record: RequestRecord) -> bool:
    return record.response_schema is not None


def runs(root: Path) -> list[Path]:
    return sorted((root / "output/demo/runs").glob("*/answer.md"))


def test_run_then_grade_the_answer(wizard, audit_lib: Path, model: FakeGemini) -> None:
    s = wizard("--root", audit_lib, "-g", "AUDIT",
               keys=[*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE,
                     ("Grade it with the GRADE_AUDIT scorecard (5 criteria)?", "y")])
    assert s.code == 0, s.err
    run, judge = model.requests
    assert run.system == "You are an auditor.\n"  # 00_PERSONA.md, as the system instruction
    assert run.stream and run.contents_count == 1  # streamed, a fresh session
    assert "Why does login crash?" in run.prompt and LOG in run.prompt
    assert "app.log" in run.prompt  # the document's name, as typed
    assert run.prompt == (audit_lib / "output/demo/02_PROMPT.md").read_text()
    [answer] = runs(audit_lib)
    assert answer.read_text() == ANSWER
    assert "Evidence: 1 document, 31 bytes." in s.out
    assert "(about " in s.out and " tokens) to gemini-flash-latest." in s.out
    assert "Answer from gemini-flash-latest (as it streams)" in s.out
    assert "**null session**" in s.out  # as it came ...
    assert "The crash comes from a null session in login()" in flat(s.out)  # ... then rendered
    assert f"sample 1: answered: {answer} (" in flat(s.out)
    # The judge: the GRADE toolkit, given the answer.
    assert is_judge(judge) and ANSWER in judge.prompt
    assert "Adherence to the Review Format  PASS" in s.out
    assert "Overall: PASS" in s.out
    assert (answer.parent / "scorecard.json").is_file()


def test_a_cached_answer_is_shown_without_a_call(wizard, audit_lib: Path,
                                                 model: FakeGemini) -> None:
    flags = ("--root", audit_lib, "-g", "AUDIT", "--task", "Why does login crash?",
             "--evidence", "app.log", "--grade")
    assert wizard(*flags, keys=BUILD).code == 0
    assert model.count == 2
    s = wizard(*flags, keys=[("Project name", "demo" + ENTER),
                             ("Rebuild", "Rebuild" + ENTER), ("Build it?", "y")])
    assert s.code == 0, s.err
    assert model.count == 2  # neither the run nor the grade called the model again
    assert "Cached answer: these inputs were run before; no call made." in s.out
    assert "The crash comes from a null session" in flat(s.out)
    assert "sample 1: cached: " in flat(s.out)
    assert "Cached scorecard" in s.out and "Overall: PASS" in s.out


def test_flags_answer_the_questions(wizard, audit_lib: Path, model: FakeGemini) -> None:
    model.schema_overrides = {"quotes": ["a quote that is nowhere in the answer"]}
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--task", "Why?", "--evidence", "app.log",
               "--grade", keys=[*BUILD, ("What next?", "Stop" + ENTER)])
    # Graded, and it fails: the quotes are not in the answer. Another question: 130.
    assert s.code == 4, s.err
    for question in ("Run it now?", "Task:", "Evidence 1:", "Grade it"):
        assert question not in s.screen
    assert "Evidence: 1 document, 31 bytes." in s.out
    assert "(quote not in the answer)" in s.out and "Overall: FAIL" in s.out
    # The run, the judge, and a fresh judge asked once more about its unfound quotes.
    assert [r.stream for r in model.requests] == [True, False, False]


def test_run_flag_still_offers_to_grade(wizard, audit_lib: Path, model: FakeGemini) -> None:
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--run",
               keys=[*BUILD, *TASK, *EVIDENCE, ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "Run it now?" not in s.screen
    assert model.count == 1
    assert len(runs(audit_lib)) == 1
    assert not list((audit_lib / "output/demo/runs").glob("*/scorecard.json"))


def test_declining_the_run_sends_nothing(wizard, audit_lib: Path, model: FakeGemini) -> None:
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=[*BUILD, ("Run it now?", "n")])
    assert s.code == 0, s.err
    assert model.count == 0
    assert "Next: fill and run it from here:\n" in s.out
    assert " --goal AUDIT --project demo --task 'what you want done' --evidence PATH --run" \
        in s.out
    assert not (audit_lib / "output/demo/02_PROMPT.md").exists()


def test_no_key_no_offer(wizard, audit_lib: Path) -> None:
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=BUILD)
    assert s.code == 0, s.err
    assert "Run it now?" not in s.screen
    assert "Not offered to run it: no API key (set GEMINI_API_KEY or GOOGLE_API_KEY)." in s.out


def test_no_generate_no_offer(wizard, audit_lib: Path, model: FakeGemini) -> None:
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--no-generate", keys=BUILD)
    assert s.code == 0, s.err
    assert "Run it now?" not in s.screen
    assert "Not offered to run it: --no-generate (a run calls the model)." in s.out
    assert model.count == 0


def test_a_wrong_path_is_named_and_kept_to_correct(wizard, audit_lib: Path,
                                                   model: FakeGemini) -> None:
    Path("blob.bin").write_bytes(b"\0\1\2")
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=[
        *BUILD, ("Run it now?", "y"), *TASK,
        ("Evidence 1:", "app.lg" + ENTER),
        ("Evidence 1:", "\x7f" + "og" + ENTER),  # asked again, "app.lg" kept to fix
        ("Evidence 2:", "blob.bin" + ENTER),
        ("Evidence 2:", "\x15" + "app.log" + ENTER),  # Ctrl+U clears it
        ("Evidence 2:", ENTER), ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "app.lg: no such file or folder" in s.out
    assert "blob.bin: a binary file, not text" in s.out
    assert "No new document (already given, or no text file in it)." in s.out
    [run] = model.requests
    assert run.prompt.count(LOG) == 1 and "blob.bin" not in run.prompt


def test_a_task_in_the_editor(wizard, audit_lib: Path, model: FakeGemini,
                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDITOR", """sh -c 'echo "Find the bug." > "$1"' sh""")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    s = wizard("--root", audit_lib, "-g", "AUDIT",
               keys=[*BUILD, ("Run it now?", "y"), ("Evidence 1:", ENTER), ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "Task:" not in s.screen
    assert "Find the bug." in model.requests[0].prompt
    assert "(No evidence was given" in model.requests[0].prompt


def test_a_failed_run_says_how_to_finish(wizard, audit_lib: Path, model: FakeGemini) -> None:
    model.responder = lambda r: error(400, "INVALID_ARGUMENT")
    s = wizard("--root", audit_lib, "-g", "AUDIT",
               keys=[*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE])
    assert s.code == 3, s.err
    assert "sample 1: failed: " in s.out
    assert ("To finish, run the same command again:" in flat(s.out)
            and "--task 'Why does login crash?' --evidence app.log --run" in s.out)
    assert "Grade it" not in s.screen
    assert not (audit_lib / "output/demo/runs").exists() or not runs(audit_lib)


def test_no_grade_offer_without_a_readable_rubric(wizard, make_library: MakeLibrary,
                                                  model: FakeGemini) -> None:
    root = make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": {"persona": "auditor.txt", "protocol": "r.txt",
                                   "constraints": []}},
                        {**AUDIT_PARTS, "protocols/r.txt": "Judge it.\n"})
    s = wizard("--root", root, "-g", "AUDIT",
               keys=[*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE])
    assert s.code == 0, s.err
    assert ('Not offered to grade it: rubric GRADE: protocols/r.txt: no "Criterion N: '
            'Name" lines') in flat(s.out)
    assert model.count == 1


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D], ids=["ctrl-c", "ctrl-d"])
@pytest.mark.parametrize("at", ["Run it now?", "Task:", "Evidence 1:"])
def test_stopping_before_the_run_sends_and_writes_nothing(
        wizard, audit_lib: Path, model: FakeGemini, key: str, at: str) -> None:
    before = [*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE]
    steps = before[:[q for q, _ in before].index(at)] + [(at, key)]
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=steps)
    assert s.code == 130
    assert s.err.splitlines()[-1].endswith("Stopped by user")
    assert model.count == 0
    assert sorted(p.name for p in (audit_lib / "output/demo").iterdir()) == [
        ".locks", "00_PERSONA.md", "01_PROMPT_TEMPLATE.md", "manifest.json"]


def test_a_bad_flag_fails_before_any_question(wizard, audit_lib: Path) -> None:
    s = wizard("--root", audit_lib, "--task", "Why?", "--evidence", "missing.log")
    assert s.code == 1
    assert "--evidence missing.log: no such file or folder" in s.err
    assert s.screen == ""
    assert not (audit_lib / "output").exists()


# In a real terminal: the answer streams, then is shown rendered.

def test_the_run_streams_in_a_terminal(audit_lib: Path) -> None:
    from tests.test_wizard_pty import GENERATION, SECONDS, expect_words, finish, spawn

    pieces = split_text(ANSWER, 3)
    with FakeGemini(default=ok(ANSWER), stream_chunks=3, chunk_delay=1.5) as server:
        child = spawn(audit_lib, server, "-g", "AUDIT")
        for question, keys in [*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE]:
            child.expect_exact(question, timeout=SECONDS)
            child.send(keys)
        child.expect_exact("(as it streams)", timeout=GENERATION)
        expect_words(child, pieces[0])
        assert server.requests[0].end is None  # shown while the reply is still coming
        expect_words(child, pieces[-1])
        child.expect_exact("The answer", timeout=SECONDS)
        expect_words(child, "because the cache expires first.")  # rendered: styles between
        expect_words(child, "sample 1: answered:")
        child.expect_exact("Grade it with the GRADE_AUDIT scorecard (5 criteria)?", timeout=SECONDS)
        child.send("n")
        assert finish(child) == 0
        assert server.count == 1
    assert runs(audit_lib)[0].read_text() == ANSWER


def test_ctrl_c_during_the_run_keeps_no_answer(wizard, audit_lib: Path,
                                               model: FakeGemini) -> None:
    def interrupt(record: RequestRecord) -> Reply:
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl+C does while the answer is awaited
        return hang(30)

    model.responder = interrupt
    s = wizard("--root", audit_lib, "-g", "AUDIT",
               keys=[*BUILD, ("Run it now?", "y"), *TASK, *EVIDENCE])
    assert s.code == 130
    stopped, why, command = s.err.splitlines()[-3:]
    assert stopped.endswith("Stopped by user")
    assert why.startswith("Nothing half-made was kept. To finish, run this")
    # The flags that finish the job, asked nothing (the wizard's questions are not resumed).
    assert command.endswith(" --goal AUDIT --project demo --task 'Why does login crash?' "
                            "--evidence app.log --run")
    assert runs(audit_lib) == []
    assert not (audit_lib / "output/demo/runs").exists()  # its lock is in .locks/


FIX = "Quote the log line that shows the session is None."


def learning_judge(fake: FakeGemini, fix_seen: str = FIX) -> None:
    """Fails every criterion until the request it judges carries `fix_seen`."""
    def respond(r: RequestRecord) -> Reply | None:
        if not is_judge(r):
            return ok(ANSWER)
        return None

    def shape(at: tuple[str | int, ...], _schema: dict[str, object]) -> object:
        from tests.fake_gemini import KEEP

        judged = [x for x in fake.requests if is_judge(x)][-1]
        passing = fix_seen in judged.prompt
        if at and at[-1] == "quotes":
            return [QUOTE]
        if at[-1:] == ("verdict",) and at[0] == "criteria":
            return "PASS" if passing else "FAIL"
        if at[-1:] == ("fix",):
            return FIX
        if at == ("path_forward", "verdict"):
            return "YES"
        return KEEP

    fake.responder = respond
    fake.schema_overrides = shape


def test_after_a_fail_the_person_refines_and_runs_again(
        wizard, audit_lib: Path, model: FakeGemini) -> None:
    learning_judge(model)
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--task", "Why?", "--evidence", "app.log",
               "--grade", keys=[*BUILD, ("What next?", "Refine" + ENTER)])
    assert s.code == 0, s.err
    assert "Attempt 1 failed." in s.out and FIX in flat(s.out)
    sessions = [r for r in model.requests if not is_judge(r)]
    assert len(sessions) == 2 and "<refinements>" in sessions[1].prompt
    assert FIX in sessions[1].prompt and ANSWER.strip() not in sessions[1].prompt
    assert "attempt 2 PASS 5/5 criteria" in flat(s.out)
    assert len(runs(audit_lib)) == 2


def test_the_refinements_can_be_edited_before_the_next_session(
        wizard, audit_lib: Path, model: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = "Also say which cache entry expired first."
    learning_judge(model, fix_seen=mine)
    monkeypatch.setenv("VISUAL", f"sh -c 'echo \"{mine}\" >> \"$0\"'")
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--task", "Why?", "--evidence", "app.log",
               "--grade", keys=[*BUILD, ("What next?", "Edit" + ENTER)])
    assert s.code == 0, s.err
    second = [r for r in model.requests if not is_judge(r)][1]
    assert mine in second.prompt and FIX in second.prompt
    import json

    kept = [json.loads((p.parent / "run.json").read_text()) for p in runs(audit_lib)]
    [lineage] = [k["refined_from"] for k in kept if "refined_from" in k]
    assert lineage["revised_by_hand"] is True
