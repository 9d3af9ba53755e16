"""The wizard, in-process: cli.main([...]) with keys fed through a prompt_toolkit pipe.

Every key of a session is sent up front and the pipe closed: prompt_toolkit keeps
what one prompt did not read for the next, and a question the test did not expect
meets the end of input (Ctrl+D), which ends the run with 130 instead of hanging.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

import pytest
from prompt_toolkit.application.current import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output.vt100 import Vt100_Output

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini, Reply, error, hang, ok

ENTER, DOWN, CTRL_C, CTRL_D, BACKSPACE = "\r", "\x1b[B", "\x03", "\x04", "\x7f"
FINISH = "\x1b\r"  # Esc then Enter ends a multi-line answer
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")


def pick(title: str) -> str:
    """Choose from a list by typing part of the title (the list filters), then Enter."""
    return title + ENTER


class Session:
    def __init__(self, code: int, out: str, err: str, screen: str) -> None:
        self.code, self.out, self.err, self.screen = code, out, err, screen


Steps = list[tuple[str, str]]  # (text to wait for on the screen, keys to send then)


@pytest.fixture
def wizard(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `main([...])` as if in a terminal, answering with `keys`.

    `keys` as one string is all typed ahead (each prompt then shows only its answer);
    as steps, each waits for its text to appear on the screen, like a person would.
    """

    def run(*args: str | Path, keys: str | Steps = "") -> Session:
        # Here, not at set-up: pytest swaps sys.stdout between set-up and the test.
        monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
        screen = Screen()
        output = Vt100_Output(screen, lambda: Size(rows=40, columns=100), enable_cpr=False)
        with create_pipe_input() as pipe, create_app_session(input=pipe, output=output):
            steps = [("", keys)] if isinstance(keys, str) else keys
            typist = threading.Thread(target=screen.type, args=(pipe, steps), daemon=True)
            typist.start()
            code = main([str(a) for a in args])
            typist.join(5)
        captured = capsys.readouterr()
        assert not screen.missed, f"never saw {screen.missed!r} on the screen"
        return Session(code, ANSI.sub("", captured.out), captured.err, screen.text())

    return run


class Screen(io.StringIO):
    """What prompt_toolkit draws, readable by another thread."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()
        self.missed: str | None = None

    def write(self, s: str) -> int:
        with self.changed:
            n = super().write(s)
            self.changed.notify_all()
            return n

    def text(self, start: int = 0) -> str:
        return ANSI.sub("", self.getvalue()[start:])

    def type(self, pipe: PipeInput, steps: Steps) -> None:
        seen = 0
        for expected, keys in steps:
            with self.changed:
                if not self.changed.wait_for(lambda e=expected, n=seen: e in self.text(n), 5):
                    self.missed = expected
                    break
                seen = len(self.getvalue())
            pipe.send_text(keys)
        pipe.close()  # a question nobody expected now meets the end of input: 130


def files_under(root: Path) -> list[str]:
    """Every file, less the locks (empty; they stay, as filelock leaves them)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and ".locks" not in p.parts)


def flat(text: str) -> str:
    """`text` with rich's line wrapping undone."""
    return " ".join(text.split())


ONE_MISSING = {k: v for k, v in AUDIT_PARTS.items() if k != "protocols/review.txt"}
TWO_GOALS = {
    **AUDIT,
    "DEBUG": {"description": "Find the root cause of a bug", "persona": "auditor.txt",
              "protocol": "drill.txt", "constraints": ["evidence.txt"]},
}


@pytest.fixture
def missing_lib(make_library: MakeLibrary) -> Path:
    """AUDIT with its protocol missing."""
    return make_library(AUDIT, ONE_MISSING)


@pytest.fixture
def model(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    monkeypatch.setenv("META_PROMPTING_RETRY_DELAY", "0.01")
    return fake_gemini


# 1. Check before asking.

def test_a_broken_map_shows_every_problem_and_asks_nothing(wizard, make_library) -> None:
    root = make_library({"AUDIT": {"persona": "../a.txt", "protocol": "p.txt",
                                   "constraints": "x.txt"}})
    s = wizard("--root", root)  # no keys: a question would end the run with 130
    assert s.code == 1, s.err
    assert '"persona" \'../a.txt\' must be a bare file name' in s.out
    assert '"constraints" must be a list of file names' in s.out
    assert "nothing was asked and nothing written" in flat(s.out)
    assert s.screen == ""
    assert not (root / "output").exists()


# 2. The project name.

def test_a_bad_project_name_is_named_below_it_and_kept_to_correct(wizard, audit_lib: Path
                                                                  ) -> None:
    s = wizard("--root", audit_lib, "--goal", "audit",
               keys=[("Project name", "../x" + ENTER),
                     ("Project name", BACKSPACE * 4 + "demo" + ENTER),  # "../x" is kept
                     ("Build it?", "y")])
    assert s.code == 0, s.err
    assert s.out.startswith("project name '../x' must be a bare name, with no '/' or '..'\n")
    assert files_under(audit_lib / "output") == [
        "demo/00_PERSONA.md", "demo/01_PROMPT_TEMPLATE.md", "demo/manifest.json"]
    assert "Goal:" not in s.screen  # --goal answered it


@pytest.fixture
def built(audit_lib: Path) -> Path:
    assert main(["--root", str(audit_lib), "-g", "AUDIT", "-p", "demo", "-q"]) == 0
    return audit_lib


def test_an_existing_project_can_be_given_another_name(wizard, built: Path) -> None:
    s = wizard("--root", built, "-g", "AUDIT",
               keys="demo" + ENTER + pick("another") + "demo2" + ENTER + "y")
    assert s.code == 0, s.err
    assert ("output/demo/ holds an AUDIT toolkit. A rebuild replaces only the files this "
            "tool wrote." in flat(s.out))
    assert (built / "output" / "demo2" / "00_PERSONA.md").is_file()


def test_an_existing_project_can_be_rebuilt(wizard, built: Path) -> None:
    s = wizard("--root", built, "-g", "AUDIT", keys="demo" + ENTER + pick("Rebuild") + "y")
    assert s.code == 0, s.err
    assert "Will rebuild" in s.out
    assert "00_PERSONA.md          unchanged" in s.out


def test_cancel_at_an_existing_project_writes_nothing(wizard, built: Path) -> None:
    before = {p: p.read_bytes() for p in built.rglob("*") if p.is_file()}
    s = wizard("--root", built, "-g", "AUDIT", keys="demo" + ENTER + pick("Cancel"))
    assert (s.code, s.out.splitlines()[-1]) == (0, "Cancelled: nothing written.")
    assert {p: p.read_bytes() for p in built.rglob("*") if p.is_file()} == before


def test_a_project_with_hand_edits_is_not_offered_a_rebuild(wizard, built: Path) -> None:
    (built / "output" / "demo" / "00_PERSONA.md").write_text("mine\n")
    s = wizard("--root", built, "-g", "AUDIT",
               keys=[("Project name", "demo" + ENTER), ("Cancel", pick("Cancel"))])
    assert s.code == 0
    assert "00_PERSONA.md (edited since the last build)" in flat(s.out)
    assert "Rebuild it" not in s.screen
    assert (built / "output" / "demo" / "00_PERSONA.md").read_text() == "mine\n"


# 3. The goal, and 4. the plan.

def test_the_goal_list_shows_descriptions_and_what_will_be_generated(
        wizard, make_library: MakeLibrary, model: FakeGemini) -> None:
    root = make_library(TWO_GOALS, ONE_MISSING)
    s = wizard("--root", root, "--project", "demo",
               keys=[("DEBUG", DOWN + ENTER), ("Build it?", "n")])
    assert s.code == 0, s.err
    # Padded to the longest goal name, the built-in library's included.
    assert re.search(r"AUDIT +\(1 to generate\) Review a change", s.screen)
    assert re.search(r"DEBUG +\(1 to generate\) Find the root cause of a bug", s.screen)
    assert "Project name" not in s.screen  # --project answered it
    assert "DEBUG: Find the root cause of a bug" in s.out
    assert re.search(r"protocol\s+drill\.txt\s+will be generated", s.out)
    assert re.search(r"persona\s+auditor\.txt\s+present", s.out)
    assert "Model: gemini-flash-latest (key in GEMINI_API_KEY)" in s.out
    assert s.out.rstrip().endswith("Nothing written.")
    assert not (root / "output").exists()
    assert model.count == 0


def test_typing_filters_the_goal_list(wizard, make_library: MakeLibrary) -> None:
    root = make_library(TWO_GOALS, ONE_MISSING)
    s = wizard("--root", root, "-p", "demo",
               keys=[("DEBUG", "debu"), ("debu", ENTER), ("Build it?", "n")])
    assert s.code == 0, s.err
    assert "DEBUG: Find the root cause" in s.out
    assert "(1 missing)" in s.screen  # no key: nothing is promised to be generated


def test_the_plan_says_when_there_is_no_model(wizard, missing_lib: Path) -> None:
    s = wizard("--root", missing_lib, "-g", "AUDIT", keys="demo" + ENTER + "n")
    assert s.code == 0
    assert re.search(r"protocol\s+review\.txt\s+missing", s.out)
    assert "No model — no API key: set GEMINI_API_KEY" in s.out
    assert files_under(missing_lib) == ["components/constraints/brief.md",
                                        "components/constraints/evidence.txt",
                                        "components/personas/auditor.txt", "goal_map.json"]


# 5. Each missing part, with no key.

START = "demo" + ENTER + "y"  # with --goal: the project's name, then "Build it?"

def test_a_part_written_by_hand_is_saved_exactly(wizard, missing_lib: Path) -> None:
    text = "1. Read the diff.\n2. Judge it."
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=[("Project name", "demo" + ENTER), ("Build it?", "y"),
                     ("Write it myself", pick("Write") + text.replace("\n", ENTER) + FINISH)])
    assert s.code == 0, s.err
    assert "Generate it with the model" not in s.screen  # no key: not offered
    assert (missing_lib / "components/protocols/review.txt").read_text() == text + "\n"
    assert text in (missing_lib / "output/demo/01_PROMPT_TEMPLATE.md").read_text()
    assert "Written by you: protocols/review.txt" in s.out
    assert "Generated:" not in s.out
    assert "(complete)" in s.out
    assert "Not offered to run it: no API key" in s.out  # no key: no question
    assert "Next: fill and run it from here:\n" in s.out and " --run\n(or fill in" in s.out
    # A person's part is a library part like any other: no "generated" record.
    assert not (missing_lib / "components/protocols/.review.txt.provenance.json").exists()


def test_a_placeholder_leaves_the_toolkit_incomplete(wizard, missing_lib: Path) -> None:
    s = wizard("--root", missing_lib, "-g", "AUDIT", keys=START + pick("placeholder"))
    assert s.code == 3, s.err
    assert "(INCOMPLETE)" in s.out
    assert "Placeholder for protocols/review.txt: left as a placeholder" in s.out
    assert f"--root {missing_lib} --goal AUDIT --project demo" in s.out
    assert not (missing_lib / "components/protocols/review.txt").exists()
    manifest = json.loads((missing_lib / "output/demo/manifest.json").read_text())
    assert [p["source"] for p in manifest["parts"]][1] == "placeholder"


# 5. Each missing part, with the (fake) model.

GENERATE = START + pick("Generate") + ENTER  # generate it, keeping the description
NOT_NOW = "n"  # "Run it now?": with a key it is asked once the toolkit is complete


def test_accepted_text_is_what_the_model_wrote(wizard, missing_lib: Path,
                                               model: FakeGemini) -> None:
    model.enqueue(ok("1. Read.\n2. Rank the findings."))
    s = wizard("--root", missing_lib, "-g", "AUDIT", keys=GENERATE + pick("Accept") + NOT_NOW)
    assert s.code == 0, s.err
    assert model.count == 1
    assert "This part: Review a change" not in model.requests[0].prompt
    assert "protocols/review.txt" in s.out and "2. Rank the findings." in s.out  # the panel
    part = missing_lib / "components/protocols/review.txt"
    assert part.read_text() == "1. Read.\n2. Rank the findings.\n"
    assert "Generated: protocols/review.txt" in s.out


def test_a_description_typed_in_the_wizard_is_told_to_the_model(
        wizard, missing_lib: Path, model: FakeGemini) -> None:
    model.enqueue(ok("Steps."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=START + pick("Generate") + "\x15" + "how to review a diff" + ENTER
               + pick("Accept") + NOT_NOW)  # Ctrl+U clears the default first
    assert s.code == 0, s.err
    assert "This part: how to review a diff" in model.requests[0].prompt


def test_regenerate_asks_afresh_without_the_draft(wizard, missing_lib: Path,
                                                  model: FakeGemini) -> None:
    model.enqueue(ok("First attempt."), ok("Second attempt."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Regenerate") + pick("Accept") + NOT_NOW)
    assert s.code == 0, s.err
    assert model.count == 2
    second = model.requests[1].prompt
    assert "First attempt" not in second and "<draft>" not in second
    assert second == model.requests[0].prompt
    assert (missing_lib / "components/protocols/review.txt").read_text() == "Second attempt.\n"


def test_revise_sends_the_draft_and_the_comment(wizard, missing_lib: Path,
                                                model: FakeGemini) -> None:
    model.enqueue(ok("Draft one."), ok("Draft two."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Revise") + "Number the steps" + ENTER + pick("Accept")
               + NOT_NOW)
    assert s.code == 0, s.err
    revision = model.requests[1].prompt
    assert "<draft>\nDraft one.\n</draft>" in revision
    assert "What to change: Number the steps" in revision
    assert (missing_lib / "components/protocols/review.txt").read_text() == "Draft two.\n"


def test_edit_inline_when_no_editor_is_set(wizard, missing_lib: Path,
                                           model: FakeGemini) -> None:
    model.enqueue(ok("Draft."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Edit") + "And more." + FINISH + pick("Accept") + NOT_NOW)
    assert s.code == 0, s.err
    assert (missing_lib / "components/protocols/review.txt").read_text() == "Draft.\nAnd more.\n"
    assert "edited by hand" in s.out


def test_edit_in_the_editor(wizard, missing_lib: Path, model: FakeGemini,
                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDITOR", """sh -c 'echo "Edited." >> "$1"' sh""")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    model.enqueue(ok("Draft."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Edit") + pick("Accept") + NOT_NOW)
    assert s.code == 0, s.err
    assert (missing_lib / "components/protocols/review.txt").read_text() == "Draft.\nEdited.\n"
    assert not list(tmp_path.glob("review-*.txt"))  # the temporary file is gone


def test_a_failed_generation_can_be_tried_again(wizard, missing_lib: Path,
                                                model: FakeGemini) -> None:
    model.enqueue(error(404, "NOT_FOUND"), ok("At last."))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Try again") + pick("Accept") + NOT_NOW)
    assert s.code == 0, s.err
    assert "Generation failed: model 'gemini-flash-latest' not found (404)" in s.out
    assert (missing_lib / "components/protocols/review.txt").read_text() == "At last.\n"


def test_a_failed_generation_can_be_written_by_hand(wizard, missing_lib: Path,
                                                    model: FakeGemini) -> None:
    model.enqueue(error(404, "NOT_FOUND"))
    s = wizard("--root", missing_lib, "-g", "AUDIT",
               keys=GENERATE + pick("Write") + "Mine." + FINISH + NOT_NOW)
    assert s.code == 0, s.err
    assert (missing_lib / "components/protocols/review.txt").read_text() == "Mine.\n"


# Stopping.

@pytest.mark.parametrize("key", [CTRL_C, CTRL_D], ids=["ctrl-c", "ctrl-d"])
@pytest.mark.parametrize("before", [
    "", "demo" + ENTER, "demo" + ENTER + ENTER, "demo" + ENTER + ENTER + "y",
    "demo" + ENTER + ENTER + "y" + pick("Generate") + ENTER + pick("Revise"),
], ids=["project", "goal", "confirm", "part", "comment"])
def test_stopping_at_any_prompt_writes_nothing(wizard, missing_lib: Path, model: FakeGemini,
                                               key: str, before: str) -> None:
    model.enqueue(ok("Draft."))
    before_files = files_under(missing_lib)
    s = wizard("--root", missing_lib, keys=before + key)
    assert s.code == 130
    assert s.err.splitlines()[-1].endswith("Stopped by user")
    assert files_under(missing_lib) == before_files  # no part, no toolkit, no temporary file


def test_ctrl_c_during_generation_writes_nothing(wizard, missing_lib: Path,
                                                 model: FakeGemini) -> None:
    def interrupt(record: object) -> Reply:
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl+C does while the spinner turns
        return hang(30)

    model.responder = interrupt
    before = files_under(missing_lib)
    s = wizard("--root", missing_lib, "-g", "AUDIT", keys=GENERATE)
    assert s.code == 130
    assert s.err.splitlines()[-1].endswith("Stopped by user")
    assert files_under(missing_lib) == before


def test_dry_run_shows_the_plan_and_writes_nothing(wizard, missing_lib: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The plan names each file by its whole path, which rich folds at the terminal's edge
    # wherever it falls; a terminal wide enough for this run's temporary folder (longer
    # under xdist) keeps each on its line.
    out = missing_lib / "output/demo"
    monkeypatch.setenv("COLUMNS", str(len(str(out)) + 100))
    s = wizard("--root", missing_lib, "-g", "AUDIT", "--dry-run", keys="demo" + ENTER)
    assert s.code == 0, s.err
    assert "Build it?" not in s.screen
    assert "Dry run: nothing written. A build would:" in s.out
    assert f"  would create {out}/00_PERSONA.md" in s.out.splitlines()
    assert f"  would create {out}/01_PROMPT_TEMPLATE.md" in s.out.splitlines()
    assert not (missing_lib / "output").exists()
    assert not (missing_lib / "components/protocols/review.txt").exists()
