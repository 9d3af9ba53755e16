"""The wizard end to end: `python orchestrator.py` in a real pseudo-terminal (pexpect).

The fake Gemini server runs in this process; the child reaches it through the SDK's
own GOOGLE_GEMINI_BASE_URL. Every expect waits for text a person would see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, error, hang, ok

DOWN = "\x1b[B"
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")
SECONDS = 5  # for a screen to appear
GENERATION = 15  # the first generation also imports google-genai (~1-2 s)


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    """AUDIT with its protocol missing."""
    return make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items()
                                if k != "protocols/review.txt"})


def child_env(server: FakeGemini | None) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", "NO_COLOR": "1",
           "META_PROMPTING_RETRY_DELAY": "0.01",
           # pexpect answers no cursor-position request; a terminal would.
           "PROMPT_TOOLKIT_NO_CPR": "1"}
    if server is not None:
        env.update(GOOGLE_GEMINI_BASE_URL=server.base_url, GEMINI_API_KEY=FAKE_API_KEY)
    return env


def spawn(root: Path, server: FakeGemini | None = None, *args: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, [str(REPO / "orchestrator.py"), "--root", str(root),
                                          *args],
                         env=child_env(server), dimensions=(40, 100), encoding="utf-8",
                         timeout=SECONDS)


def expect_words(child: pexpect.spawn, text: str) -> None:
    """`text`, wherever rich wrapped its lines (long temporary paths wrap at 100)."""
    child.expect(r"\s+".join(re.escape(w) for w in text.split()), timeout=SECONDS)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF, timeout=SECONDS)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -child.signalstatus)


def answer_up_to_generation(child: pexpect.spawn) -> None:
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo\r")
    child.expect_exact("Goal:", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("Build it?", timeout=SECONDS)
    child.send("y")
    child.expect_exact("How should it be made?", timeout=SECONDS)
    child.send("\r")  # generate it
    child.expect_exact("What is it for?", timeout=SECONDS)
    child.send("\r")  # keep the description


def test_the_whole_way_with_a_generated_part(lib: Path, server: FakeGemini) -> None:
    server.enqueue(ok("1. Read the diff.\n2. Rank the findings."))
    child = spawn(lib, server)
    answer_up_to_generation(child)
    child.expect_exact("2. Rank the findings.", timeout=GENERATION)  # in the panel
    child.expect_exact("This text?", timeout=SECONDS)
    child.send("\r")  # accept
    expect_words(child, "for goal AUDIT (complete)")
    expect_words(child, "Generated: protocols/review.txt")
    child.expect_exact("Run it now?", timeout=SECONDS)
    child.send("n")
    expect_words(child, "Next: fill and run it from here:")
    assert finish(child) == 0
    assert (lib / "components/protocols/review.txt").read_text() == (
        "1. Read the diff.\n2. Rank the findings.\n")
    assert "2. Rank the findings." in (lib / "output/demo/01_PROMPT_TEMPLATE.md").read_text()
    assert server.count == 1


def test_regenerate_then_accept(lib: Path, server: FakeGemini) -> None:
    server.enqueue(ok("First attempt."), ok("Second attempt."))
    child = spawn(lib, server)
    answer_up_to_generation(child)
    child.expect_exact("First attempt.", timeout=GENERATION)
    child.expect_exact("This text?", timeout=SECONDS)
    child.send(DOWN + "\r")  # regenerate
    child.expect_exact("Second attempt.", timeout=GENERATION)
    child.expect_exact("This text?", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("Run it now?", timeout=SECONDS)
    child.send("n")
    assert finish(child) == 0
    assert server.count == 2
    assert "<draft>" not in server.requests[1].prompt
    assert (lib / "components/protocols/review.txt").read_text() == "Second attempt.\n"


def test_an_existing_project_is_named_again(audit_lib: Path) -> None:
    (audit_lib / "output/demo").mkdir(parents=True)
    child = spawn(audit_lib)
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo\r")
    expect_words(child, "already exists.")  # after the folder's path, which may wrap
    child.expect_exact("Choose another name", timeout=SECONDS)
    child.send(DOWN + "\r")
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo2\r")
    child.expect_exact("Goal:", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("Build it?", timeout=SECONDS)
    child.send("y")
    expect_words(child, "for goal AUDIT (complete)")
    assert finish(child) == 0
    assert sorted(p.name for p in (audit_lib / "output").iterdir()
                  if not p.name.startswith(".")) == ["demo", "demo2"]
    assert list((audit_lib / "output/demo").iterdir()) == []


def leftovers(root: Path) -> list[str]:
    """Anything a stopped run could have left: the part, a toolkit, a temporary file."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name == "review.txt" or p.name.endswith(".tmp") or "output" in p.parts)


def test_ctrl_c_during_generation(lib: Path, server: FakeGemini) -> None:
    server.enqueue(hang(30))
    child = spawn(lib, server)
    answer_up_to_generation(child)
    child.expect_exact("Generating review.txt", timeout=SECONDS)
    child.sendintr()
    child.expect_exact("Stopped by user", timeout=SECONDS)
    assert finish(child) == 130
    assert leftovers(lib) == []


def test_ctrl_c_at_a_prompt(lib: Path) -> None:
    child = spawn(lib)
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("demo\r")
    child.expect_exact("Goal:", timeout=SECONDS)
    child.sendcontrol("c")
    child.expect_exact("Stopped by user", timeout=SECONDS)
    assert finish(child) == 130
    assert leftovers(lib) == []


def test_no_terminal_fails_at_once_with_the_flags_to_use(lib: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), "--root", str(lib)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=child_env(None), timeout=10)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "--goal and --project needed (no terminal" in done.stderr
    assert not (lib / "output").exists()


def test_a_bad_project_name_is_named_right_below_it_in_a_tall_terminal(lib: Path) -> None:
    child = spawn(lib)
    child.setwinsize(60, 100)
    child.expect_exact("Project name", timeout=SECONDS)
    child.send("../x\r")
    child.expect_exact("must be a bare name", timeout=SECONDS)
    between = child.before.split("../x")[-1]
    # questionary's toolbar sat at the screen's bottom, some 30 rows (cursor moves) down.
    downs = sum(int(n or 1) for n in re.findall(r"\x1b\[(\d*)B", between))
    assert between.count("\n") + downs <= 2, repr(between)
    child.expect_exact("Project name", timeout=SECONDS)  # asked again, "../x" kept to fix
    child.send("\x7f" * 4 + "demo\r")
    child.expect_exact("Goal:", timeout=SECONDS)
    child.sendcontrol("c")
    assert finish(child) == 130


def test_the_goal_list_ranks_names_and_takes_only_what_it_shows(shipped: Path) -> None:
    child = spawn(shipped, None, "-p", "demo")
    child.expect_exact("Goal:", timeout=SECONDS)
    child.send("zzz")
    child.expect_exact("no goal matches", timeout=SECONDS)
    child.send("\r")  # nothing shown: nothing taken
    child.send("\x7f" * 3 + "test")
    child.expect_exact("» TEST", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("Build it?", timeout=SECONDS)
    assert re.search(r"\? Goal: TEST\r*\n", ANSI.sub("", child.before))  # stays, short
    child.send("n")
    child.expect_exact("Nothing written.", timeout=SECONDS)
    assert finish(child) == 0


def test_a_switch_of_goal_is_asked_and_no_keeps_it(shipped: Path) -> None:
    assert subprocess.run([sys.executable, str(REPO / "orchestrator.py"), "--root",
                           str(shipped), "-g", "TEST", "-p", "demo", "-q"],
                          env=child_env(None), timeout=20).returncode == 0
    child = spawn(shipped, None, "-p", "demo")
    child.expect_exact("» TEST", timeout=SECONDS)  # the list starts at the project's goal
    child.send("audit\r")
    expect_words(child, "holds a TEST toolkit.")
    child.expect_exact("Switch it to AUDIT?", timeout=SECONDS)
    child.send("\r")  # No, the default
    child.expect_exact("» TEST", timeout=SECONDS)
    child.send("\r")
    child.expect_exact("Build it?", timeout=SECONDS)
    child.send("y")
    expect_words(child, "for goal TEST (complete)")
    assert finish(child) == 0


def test_the_spinner_shows_each_retry(lib: Path, server: FakeGemini) -> None:
    server.enqueue(error(503, "UNAVAILABLE"), ok("Steps."))
    env = {**child_env(server), "META_PROMPTING_RETRY_DELAY": "1.5"}  # long enough to see
    child = pexpect.spawn(sys.executable, [str(REPO / "orchestrator.py"), "--root", str(lib)],
                          env=env, dimensions=(40, 100), encoding="utf-8", timeout=SECONDS)
    answer_up_to_generation(child)
    child.expect(r"Generating review\.txt… retrying in \d\.\ds \(the service answered 503 "
                 r"UNAVAILABLE\)", timeout=GENERATION)
    child.expect_exact("This text?", timeout=GENERATION)
    child.send("\r")
    child.expect_exact("Run it now?", timeout=SECONDS)
    child.send("n")
    assert finish(child) == 0
