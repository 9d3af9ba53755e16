"""What a newcomer met (issues 15 and 16): the goal picker, a goal switch, the overwrite
screen, words and layout, progress from parallel generation, retries shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from questionary import Choice

from meta_prompting.face import show
from meta_prompting.face.ask import rank
from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, error, ok
from tests.test_wizard import BACKSPACE, ENTER, wizard  # noqa: F401  (a fixture)

SHIPPED = json.loads((REPO / "goal_map.json").read_text())
GOALS = [Choice(f"{name}  {goal['description']}", value=name) for name, goal in SHIPPED.items()]


# The goal picker: a match on the name ranks first; nothing matching shows so.

@pytest.mark.parametrize(("typed", "first"), [
    ("test", "TEST"), ("ex", "EXPLAIN"), ("sec", "SECURITY_REVIEW"), ("EXP", "EXPLAIN"),
    ("security rev", "SECURITY_REVIEW"), ("review", "SECURITY_REVIEW"),
], ids=["test", "ex", "sec", "case", "space-for-underscore", "inside-a-name"])
def test_a_match_on_the_name_ranks_above_one_in_a_description(typed: str, first: str) -> None:
    ranked = [c.value for c in rank(GOALS, typed)]
    assert ranked[0] == first
    assert len(ranked) > 1 or typed != "test"  # DEBUG's description mentions a test


def test_a_filter_that_matches_nothing_leaves_nothing() -> None:
    assert rank(GOALS, "zzz") == []


def test_typing_test_builds_test_not_debug(wizard, shipped: Path) -> None:
    s = wizard("--root", shipped, "-p", "demo",
               keys=[("Goal:", "test"), ("test", ENTER), ("Build it?", "n")])
    assert s.code == 0, s.err
    assert s.out.lstrip().startswith("TEST:")
    assert "? Goal: TEST" in s.screen  # the answer stays on screen, short


def test_ex_builds_explain(wizard, shipped: Path) -> None:
    s = wizard("--root", shipped, "-p", "demo",
               keys=[("Goal:", "ex"), ("ex", ENTER), ("Build it?", "n")])
    assert s.out.lstrip().startswith("EXPLAIN:")


def test_nothing_matching_says_so_and_enter_takes_nothing(wizard, shipped: Path) -> None:
    s = wizard("--root", shipped, "-p", "demo",
               keys=[("Goal:", "zzz"), ("no goal matches", ENTER)])
    assert s.code == 130  # Enter did nothing; the end of input then stopped the run
    assert "Build it?" not in s.screen
    assert s.out == ""
    assert not (shipped / "output").exists()


# A rebuild starts at the project's goal; a switch is a question.

@pytest.fixture
def two_goals(make_library: MakeLibrary) -> Path:
    goals = {**AUDIT, "TEST": {**AUDIT["AUDIT"], "description": "Write tests"}}
    root = make_library(goals, AUDIT_PARTS)
    assert main(["--root", str(root), "-g", "TEST", "-p", "demo", "-q"]) == 0
    return root


def held(root: Path) -> str:
    return str(json.loads((root / "output/demo/manifest.json").read_text())["goal"])


def test_rebuild_starts_the_goal_list_at_the_projects_goal(wizard, two_goals: Path) -> None:
    s = wizard("--root", two_goals, keys=[("Project name", "demo" + ENTER),
                                          ("Rebuild it", ENTER), ("Goal:", ENTER),
                                          ("Build it?", "y")])
    assert s.code == 0, s.err
    assert "output/demo/ holds a TEST toolkit. A rebuild replaces only" in " ".join(s.out.split())
    assert "TEST: Write tests" in s.out
    assert held(two_goals) == "TEST"


def test_switching_the_goal_is_confirmed(wizard, two_goals: Path) -> None:
    s = wizard("--root", two_goals, "-p", "demo",
               keys=[("Goal:", "audit" + ENTER), ("Switch it to AUDIT?", "y"),
                     ("Build it?", "y")])
    assert s.code == 0, s.err
    assert "output/demo/ holds a TEST toolkit." in " ".join(s.out.split())
    assert "Switch it to AUDIT? Yes" in s.screen
    assert held(two_goals) == "AUDIT"


def test_no_to_a_switch_goes_back_to_the_list(wizard, two_goals: Path) -> None:
    s = wizard("--root", two_goals, "-p", "demo",
               keys=[("Goal:", "audit" + ENTER), ("Switch it to AUDIT?", "n"),
                     ("Goal:", ENTER), ("Build it?", "y")])  # the list starts at TEST
    assert s.code == 0, s.err
    assert held(two_goals) == "TEST"


def test_no_to_a_switch_the_goal_flag_asked_for_writes_nothing(wizard, two_goals: Path) -> None:
    before = (two_goals / "output/demo/manifest.json").read_bytes()
    s = wizard("--root", two_goals, "-g", "AUDIT",
               keys=[("Project name", "demo" + ENTER), ("Rebuild it", ENTER),
                     ("Switch it to AUDIT?", ENTER)])  # Enter is No
    assert (s.code, s.out.splitlines()[-1]) == (0, "Nothing written.")
    assert (two_goals / "output/demo/manifest.json").read_bytes() == before


# The overwrite screen says what happens to each edited file, and offers the choice.

@pytest.fixture
def edited(two_goals: Path) -> Path:
    (two_goals / "output/demo/00_PERSONA.md").write_text("mine\n")
    return two_goals


def test_edits_are_named_and_overwriting_them_is_a_choice(wizard, edited: Path) -> None:
    s = wizard("--root", edited, "-g", "TEST",
               keys=[("Project name", "demo" + ENTER), ("Overwrite my edits", pick_first()),
                     ("Build it?", "y")])
    assert s.code == 0, s.err
    said = " ".join(s.out.split())
    assert ("output/demo/ holds a TEST toolkit. You edited 00_PERSONA.md (edited since the "
            "last build): a rebuild would overwrite your edits") in said
    assert "Rebuild it" not in s.screen
    assert (edited / "output/demo/00_PERSONA.md").read_text() == "You are an auditor.\n"


def test_with_force_the_screen_says_the_edits_will_be_overwritten(wizard, edited: Path) -> None:
    s = wizard("--root", edited, "-g", "TEST", "--force",
               keys=[("Project name", "demo" + ENTER), ("Cancel", "cancel" + ENTER)])
    assert s.code == 0, s.err
    assert ("You edited 00_PERSONA.md (edited since the last build): with --force, a rebuild "
            "overwrites your edits.") in " ".join(s.out.split())
    assert (edited / "output/demo/00_PERSONA.md").read_text() == "mine\n"


def pick_first() -> str:
    return ENTER


# The provenance record keeps the description the person gave the model.

def test_an_edited_description_is_the_one_recorded(wizard, make_library: MakeLibrary,
                                                   fake_gemini: FakeGemini,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_PROMPTING_RETRY_DELAY", "0.01")
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    fake_gemini.enqueue(ok("Steps."))
    s = wizard("--root", root, "-g", "AUDIT",
               keys="demo" + ENTER + "y" + "generate" + ENTER + "\x15" + "how to review a diff"
               + ENTER + "accept" + ENTER + "n")  # not "Run it now?"
    assert s.code == 0, s.err
    record = json.loads((root / "components/protocols/.review.txt.provenance.json").read_text())
    assert record["description"] == "how to review a diff"


# The parts bin ships an ignore pattern for its locks and temporaries.

def test_locks_and_temporaries_stay_out_of_git_status(shipped: Path) -> None:
    assert (shipped / "components/.gitignore").is_file()  # copied with the library
    git = ["git", "-C", str(shipped)]
    subprocess.run([*git, "init", "-q"], check=True)
    folder = shipped / "components/protocols"
    for name in (".x.txt.lock", ".x.txt.123.abcd.tmp", "x.txt", ".x.txt.provenance.json"):
        (folder / name).write_text("")
    status = subprocess.run([*git, "status", "--porcelain", "-uall", "components/protocols"],
                            capture_output=True, text=True, check=True).stdout
    assert sorted(line[3:] for line in status.splitlines() if "/x." in line or "/.x" in line) == [
        "components/protocols/.x.txt.provenance.json", "components/protocols/x.txt"]
    assert main(["--root", str(shipped), "--check"]) == 0  # .gitignore is not a part


# Words and layout, flag mode.

def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_says_what_it_would_do_in_words(capsys, audit_lib: Path) -> None:
    run(capsys, "--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    _, out, _ = run(capsys, "--root", audit_lib, "-g", "AUDIT", "-p", "demo", "--dry-run")
    assert f"  would leave unchanged {audit_lib}/output/demo/00_PERSONA.md" in out
    _, out, _ = run(capsys, "--root", audit_lib, "-g", "AUDIT", "-p", "new", "--dry-run")
    assert f"  would create {audit_lib}/output/new/00_PERSONA.md" in out


def test_an_unknown_goal_ends_its_sentence(capsys, audit_lib: Path) -> None:
    _, _, err = run(capsys, "--root", audit_lib, "-g", "NOPE", "-p", "x")
    assert err.startswith('error: unknown goal "NOPE". Valid goals: AUDIT, ')


def test_quiet_says_in_one_line_that_the_toolkit_is_incomplete(capsys, make_library) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    code, out, err = run(capsys, "--root", root, "-g", "AUDIT", "-p", "x", "-q")
    assert (code, out) == (3, "")
    assert err == (f"{root}/output/x/ is incomplete; to finish, run again: python "
                   f"orchestrator.py --root {root} --goal AUDIT --project x\n")


def test_list_aligns_every_status_and_pipes_whole_lines(capsys, make_library) -> None:
    goals = {**AUDIT, "AUDIT": {**AUDIT["AUDIT"], "description": "word " * 30}}
    root = make_library(goals, {k: v for k, v in AUDIT_PARTS.items() if "brief" not in k})
    _, out, _ = run(capsys, "--root", root, "--list")
    assert out.splitlines()[2:7] == [
        # piped: one line, not folded at 80, no padding
        "AUDIT  " + "word " * 29 + "word  · project, overrides built-in",
        "  persona     auditor.txt   present",
        "  protocol    review.txt    present",
        "  constraint  evidence.txt  present",
        "  constraint  brief.md      missing",
    ]


def test_check_names_the_current_folder_in_words(capsys, audit_lib: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(audit_lib)
    _, out, _ = run(capsys, "--check")
    assert re.fullmatch(r"ok: \d+ goals, \d+ parts, 0 errors, 0 warnings in the current "
                        r"folder\n", out)


@pytest.mark.parametrize(("count", "word", "said"), [
    (0, "warning", "0 warnings"), (1, "warning", "1 warning"), (2, "goal", "2 goals")])
def test_plural(count: int, word: str, said: str) -> None:
    assert show.plural(count, word) == said


def test_a_terminal_gets_lines_wrapped_at_words_and_a_pipe_never(
        capsys, audit_lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(audit_lib)
    _, piped, _ = run(capsys, "-g", "AUDIT", "-p", "demo")
    at = piped.splitlines().index("Next: fill and run it from here:")
    command, tail = piped.splitlines()[at + 1:at + 3]
    assert command.startswith("  python orchestrator.py ") and command.endswith(" --run")
    assert len(tail) > 60  # piped: one logical line, whole
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "60")
    _, out, _ = run(capsys, "-g", "AUDIT", "-p", "demo")
    lines = out.splitlines()
    # The command stands whole on its own line, to paste; every other line fits.
    assert command in lines
    assert max(len(line) for line in lines if line != command) < 60
    assert not any(line.endswith(" ") for line in lines)
    wrapped = lines[lines.index(command) + 1:]
    assert " ".join(" ".join(wrapped).split()) == tail  # broken only between words


# Generation: the progress line for one part, --regenerate, retries, the service's fault.

@pytest.fixture
def model(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    monkeypatch.setenv("META_PROMPTING_RETRY_DELAY", "0.01")
    return fake_gemini


def test_regenerate_says_regenerating_the_part(capsys, audit_lib: Path, model) -> None:
    model.enqueue(ok("New steps."))
    code, _, err = run(capsys, "--root", audit_lib, "-g", "AUDIT", "-p", "x",
                       "--regenerate", "review.txt")
    assert code == 0, err
    assert err.splitlines()[0] == "Regenerating protocols/review.txt with gemini-flash-latest..."


def test_each_retry_is_shown(capsys, make_library, model) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    model.enqueue(error(503, "UNAVAILABLE"), ok("Steps."))
    code, _, err = run(capsys, "--root", root, "-g", "AUDIT", "-p", "x")
    assert code == 0, err
    assert re.search(r"^  retrying review\.txt in \d+\.\ds \(the service answered 503 "
                     r"UNAVAILABLE\)$", err, re.MULTILINE), err


def test_a_failing_service_is_called_its_fault(capsys, make_library, model) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    model.default = error(503, "UNAVAILABLE")
    code, out, err = run(capsys, "--root", root, "-g", "AUDIT", "-p", "x")
    assert code == 3
    assert err.count("  retrying review.txt") == 3  # four attempts
    assert ("To finish: the model's service failed (busy or down; not your set-up). Run the "
            "same command again later:") in out
    assert "fix the cause" not in out


def test_a_failing_key_still_says_fix_the_cause(capsys, make_library, model) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    model.default = error(403, "PERMISSION_DENIED")
    _, out, _ = run(capsys, "--root", root, "-g", "AUDIT", "-p", "x")
    assert "To finish: fix the cause above, then run again:" in out


def test_parallel_progress_lines_are_never_run_together(make_library: MakeLibrary) -> None:
    names = [f"rule_{i:02}.txt" for i in range(22)]
    root = make_library({"BIG": {"description": "Many parts", "persona": "who.txt",
                                 "protocol": "how.txt", "constraints": names}})
    shape = re.compile(r"  generated (personas/who|protocols/how|constraints/rule_\d\d)\.txt "
                       r"\(\d+\.\ds\)")
    with FakeGemini(latency=0.2, default=ok("A part.")) as fake:
        env = {**os.environ, "GOOGLE_GEMINI_BASE_URL": fake.base_url,
               "GEMINI_API_KEY": "fake-key", "PYTHONUNBUFFERED": "1"}
        for project in ("a", "b", "c"):  # again over the parts made: each run makes all 24
            for part in (root / "components").rglob("*.txt"):
                part.unlink()
            done = subprocess.run(
                [sys.executable, str(REPO / "orchestrator.py"), "--root", str(root), "-g",
                 "BIG", "-p", project, "--jobs", "12"],
                capture_output=True, text=True, env=env, timeout=60)
            assert done.returncode == 0, done.stderr
            lines = done.stderr.splitlines()
            assert lines[0] == "Generating 24 parts with gemini-flash-latest..."
            bad = [line for line in lines[1:] if not shape.fullmatch(line)]
            assert (bad, len(lines)) == ([], 25)
        assert fake.count == 72


def test_the_wizard_calls_a_failing_service_its_fault(wizard, make_library, model) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    model.default = error(503, "UNAVAILABLE")
    s = wizard("--root", root, "-g", "AUDIT",
               keys="demo" + ENTER + "y" + "generate" + ENTER + ENTER + "placeholder" + ENTER)
    assert s.code == 3, s.err
    assert ("The model's service is busy or down, not your set-up: try again now, or later "
            "(the same command finishes it).") in " ".join(s.out.split())
