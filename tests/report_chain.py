"""A 4-stage chain whose graded stage fails and whose first answer is hostile: the
project a report is tested on, with and without a browser."""

from __future__ import annotations

from pathlib import Path

from meta_prompting.face.cli import main
from tests.fake_gemini import FakeGemini, RequestRecord, ok
from tests.test_chain import write_chain
from tests.test_grade import ANSWER, QUOTE, grading, is_judge


def hostile(port: int = 9) -> str:
    """An answer that would run script, load a frame or an image, or leave by a link,
    were any of it taken as markup."""
    return ("## Decision\nKeep the state in a journal.\n\n"
            "<script>document.title='pwned'</script>\n\n"
            "<img src=x onerror=\"document.title='pwned'\">\n\n"
            "[click me](javascript:document.title='pwned') "
            "[data](data:text/html,<script>alert(1)</script>)\n\n"
            f"<iframe src=\"http://127.0.0.1:{port}/frame\"></iframe>\n\n"
            f"![pixel](http://127.0.0.1:{port}/pixel.png)\n\n"
            f"<link rel=\"stylesheet\" href=\"http://127.0.0.1:{port}/style.css\">\n")


def make_chain(lib: Path, work: Path, fake: FakeGemini, port: int = 9) -> Path:
    """Run the chain: state (hostile) -> retries (graded: fails) and recovery (handed
    the Decision section) -> synthesis (blocked behind retries). Returns the file."""
    (work / "ev").mkdir(parents=True, exist_ok=True)
    (work / "ev/state.txt").write_text("Evidence for state.\n")
    stages = [
        {"name": "state", "goal": "SIMULATE", "task": "Simulate state.\nIn detail.",
         "evidence": ["ev/state.txt"]},
        {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.", "grade": True,
         "after": ["state"]},
        {"name": "recovery", "goal": "SIMULATE", "task": "Simulate recovery.",
         "after": [{"stage": "state", "section": "Decision"}]},
        {"name": "synthesis", "goal": "SYNTH", "task": "Merge.",
         "after": ["retries", "recovery"]}]
    path = write_chain(work, {"description": "Four stages", "stages": stages})
    grading(fake, {"Flaw Analysis": "FAIL"})  # one criterion fails; the quote is in the answer

    def answer(r: RequestRecord) -> object:
        if is_judge(r):
            return None
        return ok(hostile(port) if "Simulate state." in r.prompt else ANSWER)

    fake.responder = answer  # type: ignore[assignment]
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p", "-q"])
    assert code == 4  # the graded stage failed its scorecard
    return path


__all__ = ["QUOTE", "hostile", "make_chain"]
