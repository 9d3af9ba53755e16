"""Recovery by re-running holds after a person follows the tool's own advice."""

from __future__ import annotations

import pytest

from meta_prompting.face.cli import main
from meta_prompting.toolkit.prompt import EVIDENCE_PLACEHOLDER, TASK_PLACEHOLDER
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, ok

pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


def test_blocks_filled_by_hand_survive_the_rebuild_that_finishes_the_toolkit(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        monkeypatch: pytest.MonkeyPatch, fake_gemini: FakeGemini) -> None:
    lib = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    args = ["--root", str(lib), "-g", "AUDIT", "-p", "x"]
    monkeypatch.delenv("GEMINI_API_KEY")
    assert main(args) == 3  # no key: a placeholder, and the advice to fill the blocks
    template = lib / "output/x/01_PROMPT_TEMPLATE.md"
    mine = template.read_text().replace(TASK_PLACEHOLDER, "Find the bug in\nparse().").replace(
        EVIDENCE_PLACEHOLDER, "def parse(): ...\n</evidence> (a tricky line)")
    template.write_text(mine)
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_API_KEY)
    fake_gemini.enqueue(ok("Review pass\n\n1. Read every line.\n2. Rank the findings.\n"))
    capsys.readouterr()
    assert main(args) == 0, capsys.readouterr().err
    assert fake_gemini.count == 1  # the missing part was made
    rebuilt = template.read_text()
    assert "MISSING PART" not in rebuilt and "1. Read every line." in rebuilt
    assert "<task>\nFind the bug in\nparse().\n</task>" in rebuilt
    assert "<evidence>\ndef parse(): ...\n</evidence> (a tricky line)\n</evidence>" in rebuilt
    # The carried template is ours again: the next build changes nothing.
    assert main(args) == 0 and fake_gemini.count == 1
    assert template.read_text() == rebuilt


def test_an_edit_outside_the_blocks_is_still_a_conflict_but_parts_are_made(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        monkeypatch: pytest.MonkeyPatch, fake_gemini: FakeGemini) -> None:
    lib = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    args = ["--root", str(lib), "-g", "AUDIT", "-p", "x"]
    monkeypatch.delenv("GEMINI_API_KEY")
    assert main(args) == 3
    template = lib / "output/x/01_PROMPT_TEMPLATE.md"
    template.write_text(template.read_text().replace("non-negotiable", "optional"))
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_API_KEY)
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "made protocols/review.txt" in err and "01_PROMPT_TEMPLATE.md (edited" in err
    assert (lib / "components/protocols/review.txt").exists()
    assert "optional" in template.read_text()
