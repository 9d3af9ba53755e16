"""The wizard at a project that already holds a toolkit: run a new task, or its last
task again, without a rebuild question (issue 32, "nothing retyped"). In-process, with
the helpers of test_wizard.py; requests counted at the fake."""

from __future__ import annotations

from pathlib import Path

from meta_prompting.face.cli import main
from tests.fake_gemini import FakeGemini
from tests.test_wizard import ENTER, FINISH, flat, pick, wizard  # noqa: F401
from tests.test_wizard_run import (  # noqa: F401  (fixtures)
    ANSWER,
    LOG,
    audit_lib,
    evidence,
    model,
    runs,
)

FIRST = "Why does login crash?"
ASKED = [("Project name", "demo" + ENTER)]


def ran_once(root: Path, model: FakeGemini) -> None:
    """demo holds an AUDIT toolkit, last run on FIRST with app.log: one call."""
    assert main(["--root", str(root), "-g", "AUDIT", "-p", "demo", "--task", FIRST,
                 "--evidence", "app.log", "--run", "-q"]) == 0
    assert model.count == 1


def test_run_a_new_task_asks_no_rebuild(wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    s = wizard("--root", audit_lib, keys=[
        *ASKED, ("What now?", pick("Run a new")),
        ("Task:", "Where is the session set?" + FINISH), ("Evidence 1:", ENTER),
        ("Grade it", "n")])
    assert s.code == 0, s.err
    assert f"Its last task: {FIRST} (evidence: 1 document)" in flat(s.out)
    for question in ("Goal:", "Build it?", "Run it now?"):
        assert question not in s.screen
    assert model.count == 2
    assert "Where is the session set?" in model.requests[1].prompt
    assert LOG not in model.requests[1].prompt  # no evidence given this time
    assert len(runs(audit_lib)) == 2
    assert ("The command that does this: python orchestrator.py --root "
            f"{audit_lib} --goal AUDIT --project demo --task 'Where is the session set?' "
            "--run") in flat(s.out)


def test_run_the_last_task_again_finds_its_kept_answer(
        wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    s = wizard("--root", audit_lib, keys=[
        *ASKED, ("What now?", pick("Run the last")), ("Grade it", "n")])
    assert s.code == 0, s.err
    assert model.count == 1  # the same request: its kept answer, no call
    assert "Task:" not in s.screen and "Evidence 1:" not in s.screen
    assert f"Using the last task of project demo: {FIRST}" in flat(s.out)
    assert "Evidence: 1 document, 31 bytes." in s.out
    assert "Cached answer: these inputs were run before; no call made." in s.out
    assert "The crash comes from a null session" in flat(s.out)
    # As --run with no --task says it: the last task is recalled again.
    assert flat(s.out).endswith("The command that does this: python orchestrator.py --root "
                                f"{audit_lib} --goal AUDIT --project demo --run")


def test_the_task_question_offers_the_last_task_first(
        wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    # -p answers the project: no "What now?"; the goal list starts at the project's.
    s = wizard("--root", audit_lib, "-p", "demo", keys=[
        ("Goal:", ENTER), ("Build it?", "y"), ("Run it now?", "y"),
        ("Task:", ENTER), ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "What now?" not in s.screen and "Evidence 1:" not in s.screen
    assert "Task: Run the last task again" in s.screen
    assert model.count == 1
    assert "Cached answer" in s.out


def test_a_new_task_instead_of_the_last(wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    s = wizard("--root", audit_lib, "-p", "demo", keys=[
        ("Goal:", ENTER), ("Build it?", "y"), ("Run it now?", "y"),
        ("Task:", pick("Run a new")), ("Task:", "Another?" + FINISH),
        ("Evidence 1:", "app.log" + ENTER), ("Evidence 2:", ENTER), ("Grade it", "n")])
    assert s.code == 0, s.err
    assert model.count == 2 and "Another?" in model.requests[1].prompt


def test_a_task_flag_answers_which_task(wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    s = wizard("--root", audit_lib, "--task", "Given by flag.", keys=[
        *ASKED, ("What now?", pick("Run a new")), ("Evidence 1:", ENTER),
        ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "Run the last task again" not in s.screen and "Its last task" not in s.out
    assert "Task:" not in s.screen
    assert "Given by flag." in model.requests[1].prompt


def test_no_run_offered_where_it_could_not_run_as_it_is(
        wizard, audit_lib: Path, model: FakeGemini) -> None:
    ran_once(audit_lib, model)
    dry = wizard("--root", audit_lib, "--dry-run", keys=[*ASKED, ("What now?", pick("Cancel"))])
    assert dry.code == 0 and "Run a new task" not in dry.screen
    other = wizard("--root", audit_lib, "-g", "TEST", keys=[*ASKED, ("What now?",
                                                                       pick("Cancel"))])
    assert other.code == 0 and "Run a new task" not in other.screen  # --goal: another goal
    (audit_lib / "output/demo/00_PERSONA.md").write_text("mine\n")
    edited = wizard("--root", audit_lib, keys=[*ASKED, ("What now?", pick("Cancel"))])
    assert edited.code == 0 and "Run a new task" not in edited.screen
    assert model.count == 1


def test_a_fresh_project_is_not_offered_a_run(wizard, audit_lib: Path,
                                              model: FakeGemini) -> None:
    assert main(["--root", str(audit_lib), "-g", "AUDIT", "-p", "demo", "-q"]) == 0
    s = wizard("--root", audit_lib, keys=[*ASKED, ("What now?", pick("Run a new")),
                                          ("Task:", "New." + FINISH), ("Evidence 1:", ENTER),
                                          ("Grade it", "n")])
    assert s.code == 0, s.err
    assert "Its last task" not in s.out and "Run the last task again" not in s.screen
    assert model.count == 1
