"""Issue 21, third pass: the key in what a person supplies, in a stream, in a record;
control sequences in a stream; scorecards edited by hand or cut short by a full disk."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from meta_prompting.face.cli import main
from meta_prompting.models.keys import scrub_secrets
from tests import fake_wire
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, ok
from tests.test_chain import GOALS as CHAIN_GOALS
from tests.test_chain import PARTS as CHAIN_PARTS
from tests.test_chain import write_chain
from tests.test_grade import ANSWER, GOALS, PARTS, grading
from tests.test_wizard import ENTER, FINISH, wizard  # noqa: F401

KEY = "rt3-secret-key-ABCDEFGHIJ0123"
TRACES = [KEY, KEY[:8], KEY[-8:], KEY[9:17]]  # the key, and runs of it a scrub must catch
RUN = ["-g", "AUDIT", "-p", "x"]
BUILD = [("Project name", "demo" + ENTER), ("Build it?", "y")]

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture(autouse=True)
def key(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if "fake_gemini" in request.fixturenames:
        request.getfixturevalue("fake_gemini")  # it sets a key of its own: ours wins
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    return KEY


def leaked(*texts: str, root: Path | None = None) -> list[str]:
    """The traces of the key in `texts` and in every file under `root`."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()] if root else []
    seen = "\n".join([*texts, *(p.read_bytes().decode("utf-8", "replace") for p in files)])
    return [t for t in TRACES if t in seen]


def by_characters(text: str, n: int) -> list[str]:
    """`text` cut into `n` pieces anywhere, mid-word: how a real stream may cut a key."""
    step = -(-len(text) // n)
    return [text[i:i + step] for i in range(0, len(text), step)] or [text]


# 1. The key in what a person supplies: refused before anything is written or sent.

SUPPLIED = [
    ("evidence-file", ["--evidence", "ev"], {"ev/haskey.txt": f"key is {KEY}\n"},
     "evidence document ev/haskey.txt holds the API key"),
    ("evidence-partial-key", ["--evidence", "ev"], {"ev/a.log": f"cut: {KEY[3:14]}\n"},
     "evidence document ev/a.log holds the API key"),
    ("evidence-json-spelled", ["--evidence", "ev/env.json"],
     {"ev/env.json": json.dumps({"k": KEY + "\n"})}, "ev/env.json holds the API key"),
    ("task", ["--task", f"use key {KEY}"], {}, "the task holds the API key"),
    ("task-file", ["--task-file", "t.md"], {"t.md": f"x {KEY[:10]}\n"},
     "the task holds the API key"),
    ("evidence-file-name", ["--evidence", "ev"], {f"ev/{KEY}.txt": "fine\n"},
     "the name of an evidence document holds the API key"),
]


@pytest.mark.parametrize(("flags", "files", "message"), [s[1:] for s in SUPPLIED],
                         ids=[s[0] for s in SUPPLIED])
@pytest.mark.parametrize("mode", [["--run"], ["--grade"], ["--dry-run", "--run"], []],
                         ids=["run", "grade", "dry-run", "build"])
def test_the_key_in_a_task_or_evidence_is_refused_before_anything_is_written(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary, fake_gemini: FakeGemini,
        flags: list[str], files: dict[str, str], message: str, mode: list[str]) -> None:
    # AUDIT with a rubric, so that --grade is refused for the key and nothing else.
    audit_lib = make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                              "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})
    for name, text in files.items():
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(text)
    if "--task" not in flags and "--task-file" not in flags:
        flags = ["--task", "Review it.", *flags]
    code = main(["--root", str(audit_lib), *RUN, *flags, *mode])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert message in err and "nothing was written or sent" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert fake_gemini.count == 0 and not (audit_lib / "output").exists()
    assert leaked(out, err) == []


@pytest.mark.parametrize("flag", ["--evidence", "--task-file"])
def test_the_key_on_standard_input_is_refused(
        capsys: pytest.CaptureFixture[str], audit_lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"env: {KEY}\n".encode())))
    task = [] if flag == "--task-file" else ["--task", "Review it."]
    code = main(["--root", str(audit_lib), *RUN, *task, flag, "-", "--run"])
    out, err = capsys.readouterr()
    assert code == 1 and "holds the API key" in err
    assert ("evidence document stdin" if flag == "--evidence" else "the task") in err
    assert fake_gemini.count == 0 and not (audit_lib / "output").exists()
    assert leaked(out, err) == []


def test_binary_standard_input_is_refused_as_a_binary_file_is(
        capsys: pytest.CaptureFixture[str], audit_lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"ELF\0\0\1core")))
    code = main(["--root", str(audit_lib), *RUN, "--task", "t", "--evidence", "-", "--run"])
    err = capsys.readouterr().err
    assert code == 1 and err == "error: --evidence -: standard input is binary, not text\n"
    assert fake_gemini.count == 0 and not (audit_lib / "output").exists()


@pytest.fixture
def grade_lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def grade_args(lib: Path, *extra: str) -> list[str]:
    return ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "Pick a cache design.",
            "--grade", *extra]


def test_an_imported_answer_holding_the_key_is_refused_before_the_build(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini) -> None:
    Path("chat.md").write_text(ANSWER + f"\nPS my key: {KEY}\n")
    code = main(grade_args(grade_lib, "--answer", "chat.md"))
    out, err = capsys.readouterr()
    assert code == 1
    assert "--answer chat.md: the answer holds the API key" in err
    assert fake_gemini.count == 0 and not (grade_lib / "output").exists()
    assert leaked(out, err) == []


def test_an_imported_answer_records_its_file_name_not_its_path(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini,
        tmp_path: Path) -> None:
    grading(fake_gemini)
    pasted = tmp_path / "elsewhere" / "chat.md"
    pasted.parent.mkdir()
    pasted.write_text(ANSWER)
    assert main(grade_args(grade_lib, "--answer", str(pasted))) == 0, capsys.readouterr()
    [record] = (grade_lib / "output/s/runs").glob("*/run.json")
    assert json.loads(record.read_text())["source"] == "chat.md"
    assert str(tmp_path / "elsewhere") not in record.read_text()


def test_the_key_in_a_chain_file_refuses_the_chain_before_any_stage(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    lib = make_library(CHAIN_GOALS, CHAIN_PARTS)
    folder = tmp_path / "work" / "chains"
    (folder / "ev").mkdir(parents=True)
    (folder / "ev" / "env.txt").write_text(f"GEMINI_API_KEY={KEY}\n")
    for stages, said in (
            ([{"name": "a", "goal": "SIMULATE", "task": "Fine."},
              {"name": "b", "goal": "SIMULATE", "task": f"Use {KEY}."}],
             "stage b: the task holds the API key"),
            ([{"name": "a", "goal": "SIMULATE", "task": "Fine.", "evidence": ["ev/env.txt"]}],
             "stage a: evidence document ev/env.txt holds the API key")):
        path = write_chain(folder, {"stages": stages})
        code = main(["--root", str(lib), "--chain", str(path), "--project", "p"])
        out, err = capsys.readouterr()
        assert code == 1 and said in err, err
        assert fake_gemini.count == 0 and not (lib / "output").exists()
        assert leaked(out, err) == []


def test_a_hand_edited_answer_holding_the_key_is_not_handed_on_in_a_chain(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    lib = make_library(CHAIN_GOALS, CHAIN_PARTS)
    stages = [{"name": "a", "goal": "SIMULATE", "task": "First."},
              {"name": "b", "goal": "SYNTH", "task": "Then.", "after": ["a"]}]
    path = write_chain(tmp_path / "work" / "chains", {"stages": stages})
    fake_gemini.default = ok("## Decision\nDo the simple thing, it holds up well.\n")
    assert main(["--root", str(lib), "--chain", str(path), "--project", "p"]) == 0
    [answer] = (lib / "output/p/a/runs").glob("*/answer.md")
    answer.write_text(answer.read_text() + f"My key: {KEY}\n")
    before = fake_gemini.count
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p"])
    out, err = capsys.readouterr()
    assert code == 3 and "b failed: stage b: evidence document" in out
    assert fake_gemini.count == before
    assert leaked(out, err, root=lib / "output/p/b") == []
    assert leaked((lib / "output/p/CHAIN.md").read_text()) == []


# 3. A record never holds the key: --model is refused, records are scrubbed.

@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_model_name_holding_the_key_is_refused(
        capsys: pytest.CaptureFixture[str], audit_lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "variable":
        monkeypatch.setenv("META_PROMPTING_MODEL", KEY)
        model = []
    else:
        model = ["--model", KEY]
    code = main(["--root", str(audit_lib), *RUN, *model, "--task", "t", "--run"])
    out, err = capsys.readouterr()
    assert code == 1
    assert ("--model" if how == "flag" else "META_PROMPTING_MODEL") + " holds the API key" in err
    assert fake_gemini.count == 0 and not (audit_lib / "output").exists()
    assert leaked(out, err) == []


def test_a_record_is_scrubbed_whatever_reaches_it(tmp_path: Path) -> None:
    from meta_prompting.runs.run import RUN_FILE, keep

    keep(tmp_path / "r", "an answer", {"model": f"m-{KEY}", "nested": [{"k": KEY[:9]}]})
    assert leaked(root=tmp_path) == []
    assert json.loads((tmp_path / "r" / RUN_FILE).read_text())["model"] == "m-***"


# 2 and 4. A streamed answer: scrubbed as one text, its control sequences escaped.

CONTROLS = "\x1b]0;pwned\x07 \x1b[2J \x1b]52;c;cHduZWQ=\x07"
STREAMED = f"## Findings\nThe key {KEY} is here {CONTROLS} and {KEY[:12]} again.\n"


@pytest.fixture
def char_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake cuts its stream anywhere (it cuts at word boundaries by default)."""
    monkeypatch.setattr(fake_wire, "split_text", by_characters)


@pytest.mark.parametrize("pieces", [12, 40, 200])
def test_the_stream_scrubber_passes_on_what_a_whole_scrub_would(pieces: int) -> None:
    from meta_prompting.models.keys import StreamScrubber

    for text in (STREAMED, KEY, f"{KEY[:7]}|{KEY[7:]}", "rt3-rt3-secret-k", "no key at all"):
        shown: list[str] = []
        scrubber = StreamScrubber(shown.append)
        for piece in by_characters(text, pieces):
            scrubber.feed(piece)
        scrubber.close()
        assert "".join(shown) == scrub_secrets(text)


def test_the_stream_scrubber_holds_back_only_what_could_start_a_key() -> None:
    from meta_prompting.models.keys import StreamScrubber

    shown: list[str] = []
    scrubber = StreamScrubber(shown.append)
    scrubber.feed("plain words ")
    scrubber.feed("then rt3-s")
    assert shown == ["plain words ", "then "]  # "rt3-s" could still become the key
    scrubber.feed("ecret")
    scrubber.close()
    assert "".join(shown) == "plain words then ***"


@pytest.fixture
def server() -> Iterator[FakeGemini]:
    with FakeGemini(default=ok(STREAMED)) as fake:
        yield fake


@pytest.mark.usefixtures("char_stream")
@pytest.mark.parametrize("chunks", [12, 40])
def test_a_streamed_answer_in_a_terminal_shows_no_key_and_no_raw_control_sequence(
        audit_lib: Path, server: FakeGemini, chunks: int) -> None:
    server.stream_chunks = chunks
    env = {k: v for k, v in os.environ.items() if k != "GOOGLE_API_KEY"}
    env.update(GEMINI_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=server.base_url,
               META_PROMPTING_RETRY_DELAY="0.01", TERM="xterm")
    child = pexpect.spawn(sys.executable, [str(REPO / "orchestrator.py"), "--root",
                                           str(audit_lib), *RUN, "--task", "Review.", "--run"],
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
    child.expect(pexpect.EOF)
    child.close()
    shown = child.before or ""
    assert server.count == 1 and server.requests[0].stream
    assert "The key *** is here" in shown  # it did stream, and scrubbed
    assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2J" in shown  # shown, escaped
    assert "\x1b]" not in shown and "\x1b[2J" not in shown and "\x07" not in shown
    assert leaked(shown, root=audit_lib / "output") == []
    assert child.exitstatus == 3  # the answer holds the key: refused, not kept


@pytest.mark.usefixtures("char_stream")
@pytest.mark.parametrize("chunks", [12, 40])
def test_a_streamed_answer_in_the_wizard_shows_no_key(
        wizard, audit_lib: Path, fake_gemini: FakeGemini, chunks: int) -> None:  # noqa: F811
    fake_gemini.stream_chunks = chunks
    fake_gemini.default = ok(STREAMED)
    s = wizard("--root", audit_lib, "-g", "AUDIT", "--task", "Review it.", "--run",
               keys=[*BUILD, ("Evidence 1:", ENTER)])
    assert s.code == 3 and "the answer contains the API key; refused" in s.out
    assert fake_gemini.count == 1 and fake_gemini.requests[0].stream
    assert "(as it streams)" in s.out and "The key *** is here" in s.out
    assert leaked(s.out, s.err, s.screen, root=audit_lib / "output") == []
    assert "\x1b]0;" not in s.out and "\x1b[2J" not in s.out


def test_the_wizard_refuses_a_typed_task_or_evidence_holding_the_key(
        wizard, audit_lib: Path, fake_gemini: FakeGemini) -> None:  # noqa: F811
    Path("env.txt").write_text(f"KEY={KEY}\n")
    Path("app.log").write_text("fine\n")
    fake_gemini.default = ok("## Findings\nAll is well with the login flow today.\n")
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=[
        *BUILD, ("Run it now?", "y"), ("Task:", "Why?" + FINISH),
        ("Evidence 1:", "env.txt" + ENTER), ("Evidence 1:", "\x15app.log" + ENTER),
        ("Evidence 2:", ENTER)])
    assert "evidence document env.txt holds the API key" in s.out
    assert fake_gemini.count == 1 and "KEY=" not in fake_gemini.requests[0].prompt
    s = wizard("--root", audit_lib, "-g", "AUDIT", keys=[
        ("Project name", "other" + ENTER), ("Build it?", "y"), ("Run it now?", "y"),
        ("Task:", f"Use {KEY[:12]}" + FINISH)])
    assert s.code == 1 and "the task holds the API key" in s.err
    assert fake_gemini.count == 1 and not (audit_lib / "output/other/02_PROMPT.md").exists()
    assert leaked(s.out, s.err, root=audit_lib / "output") == []  # the screen: as typed


# 5. A scorecard edited by hand: kept, marked, its quotes checked again.

def edit_card(lib: Path, verdict: str = "PASS", quote: str | None = None) -> Path:
    [path] = (lib / "output/s/runs").glob("*/scorecard.json")
    card = json.loads(path.read_text())
    for judgment in card["judgments"]:
        for v in judgment["verdicts"]:
            v["verdict"] = verdict
            if quote is not None:
                v["quotes"] = [quote]
        judgment["path_forward"] = "YES"
    card["passed"] = True
    path.write_text(json.dumps(card, indent=2))
    return path


def graded(capsys: pytest.CaptureFixture[str], lib: Path, *extra: str
           ) -> tuple[int, str, str]:
    code = main(grade_args(lib, *extra))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_hand_edited_scorecard_is_marked_kept_and_never_taken_for_the_judges(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    assert graded(capsys, grade_lib)[0] == 4
    path = edit_card(grade_lib)
    edited = path.read_bytes()
    code, out, _ = graded(capsys, grade_lib)
    assert code == 0 and "Overall: PASS (verdict edited by hand)" in out
    assert fake_gemini.count == 2  # no judge asked again
    code, out, _ = graded(capsys, grade_lib, "--json")
    [card] = json.loads(out)["grade"]["graded"]
    assert code == 0 and card["status"] == "edited" and card["verdict_edited"] is True
    # The answer changes: the person's scorecard stays theirs, its quotes checked again.
    [answer] = (grade_lib / "output/s/runs").glob("*/answer.md")
    answer.write_text("## Decision\nSomething else entirely, with nothing quoted.\n")
    code, out, _ = graded(capsys, grade_lib)
    assert code == 4 and "(quote not in the answer)" in out and "edited by hand" in out
    assert fake_gemini.count == 2 and path.read_bytes() == edited


def test_a_scorecard_whose_quotes_a_person_made_up_still_fails(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    assert graded(capsys, grade_lib)[0] == 4
    edit_card(grade_lib, quote="the answer is perfect in every way")
    code, out, _ = graded(capsys, grade_lib)
    assert code == 4 and "verdict edited by hand" in out and "(quote not in the answer)" in out


def test_a_scorecard_edited_into_nonsense_is_named_and_not_judged_over(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    assert graded(capsys, grade_lib)[0] == 0
    [path] = (grade_lib / "output/s/runs").glob("*/scorecard.json")
    path.write_text('{"passed": true')
    code, out, _ = graded(capsys, grade_lib)
    assert code == 3 and "was edited by hand and is not JSON" in out
    assert fake_gemini.count == 2 and path.read_text() == '{"passed": true'


def test_a_hand_edited_scorecard_in_a_chain_is_marked_where_it_unblocks(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    lib = make_library(CHAIN_GOALS, CHAIN_PARTS)
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(tmp_path / "work" / "chains", {"stages": stages})
    # Judgments quote "fake quote", which the answer does not hold: the grade fails.
    fake_gemini.schema_overrides = {"quotes": ["a fake quote the answer lacks"]}
    fake_gemini.responder = lambda r: None if r.response_schema else ok(ANSWER)
    args = ["--root", str(lib), "--chain", str(path), "--project", "p"]
    assert main(args) == 4
    capsys.readouterr()
    [card] = (lib / "output/p/state/runs").glob("*/scorecard.json")
    data = json.loads(card.read_text())
    for v in data["judgments"][0]["verdicts"]:
        v.update(verdict="PASS", quotes=["keys expire together"])
    data["judgments"][0]["path_forward"] = "YES"
    card.write_text(json.dumps(data))
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0 and "PASS (verdict edited by hand)" in out
    assert "(verdict edited by hand)" in (lib / "output/p/CHAIN.md").read_text()
    assert main([*args, "--json"]) == 0
    stage = json.loads(capsys.readouterr().out)["stages"][0]
    assert stage["verdict_edited"] is True


# 6. A full disk during a grade: the scorecard appears whole or not at all.

@pytest.fixture
def small_disk(grade_lib: Path) -> Iterator[Path]:
    output = grade_lib / "output"
    output.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(output)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield output
    finally:
        subprocess.run(["umount", "-l", str(output)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Fill the disk holding `folder`, then free `leave` bytes (whole pages)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: close() has nothing to write
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_during_a_grade_leaves_no_scorecard_md_alone(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, small_disk: Path,
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    key_free = ["--task", "Pick a cache design.", "--run"]
    base = ["--root", str(grade_lib), "-g", "SIMULATE", "-p", "s"]
    assert main([*base, *key_free]) == 0, capsys.readouterr()
    filler = fill(small_disk, leave=4096)  # room for the .md, none for the .json
    code, out, _ = graded(capsys, grade_lib)
    assert code == 3 and "not graded" in out and "no space left on device" in out
    [run] = [p for p in (small_disk / "s/runs").iterdir() if not p.name.startswith(".")]
    assert sorted(p.name for p in run.iterdir()) == ["answer.md", "run.json"]
    filler.unlink()
    assert graded(capsys, grade_lib)[0] == 0
    assert (run / "scorecard.md").read_text().startswith("# Scorecard: PASS")
    assert (run / "scorecard.json").is_file()


def test_a_scorecard_md_without_its_json_is_a_dead_grade_and_replaced(
        capsys: pytest.CaptureFixture[str], grade_lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    assert graded(capsys, grade_lib)[0] == 4
    [path] = (grade_lib / "output/s/runs").glob("*/scorecard.json")
    path.unlink()
    path.with_suffix(".md").write_text("# Scorecard: PASS\n")
    assert graded(capsys, grade_lib)[0] == 4
    assert path.with_suffix(".md").read_text().startswith("# Scorecard: FAIL")

