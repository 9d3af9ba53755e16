"""Hostile input and faults at the edges: the key never leaves, answers with no substance,
the output streams, control characters, the --json contract, odd widths, absurd flags."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from meta_prompting.errors import GenerationError
from meta_prompting.face import show
from meta_prompting.face.cli import main
from meta_prompting.models.keys import check_no_key, find_key, key_blocker, scrub_secrets
from meta_prompting.parts.prompt import check_substance, clean_answer
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import (
    FakeGemini,
    Reply,
    RequestRecord,
    blocked,
    drop,
    empty_candidates,
    error,
    finish,
    hang,
    invalid_key,
    malformed,
    ok,
)

KEY = "AIzaSyD-LeakMe_0123456789abcdefghijklmn"  # the shape of a real key: 39 characters
NEWLINE_KEY = "AIzaSyNEWLINE\nsecond-half-of-key-98765"


pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    """The AUDIT library with its protocol missing."""
    return make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})


def traces(key: str) -> list[str]:
    """Every spelling of `key`, and of each piece of it, that must appear nowhere."""
    pieces = [key, key[:8], key[-8:], json.dumps(key)[1:-1], repr(key)[1:-1],
              repr(key.encode())[2:-1], quote(key, safe="")]
    pieces += [line[:8] for line in key.splitlines() if len(line) >= 8]
    return [p for p in pieces if p]


def everything(root: Path, *streams: str) -> str:
    """Stdout, stderr and every file under components/ and output/."""
    files = [p for d in ("components", "output") for p in sorted((root / d).rglob("*"))
             if p.is_file()]
    return "\n".join([*streams, *(p.read_bytes().decode("utf-8", "replace") for p in files)])


def echo_key(prefix: str) -> Callable[[RequestRecord], Reply]:
    """A server whose error message repeats the key it was sent, after `prefix`."""
    return lambda rec: error(500, "INTERNAL", prefix + (rec.api_key or ""))


# Each fault: a reply (or a responder), the key to use, extra flags, and a reason expected.
FAULTS: list[tuple[str, Reply | Callable[[RequestRecord], Reply], str, list[str], str]] = [
    ("500-after-retries", error(500, "INTERNAL", "boom"), KEY, [], "500 INTERNAL after 4"),
    ("blocked", blocked("PROHIBITED_CONTENT"), KEY, [], "blocked"),
    ("safety", finish("SAFETY"), KEY, [], "(SAFETY)"),
    ("max-tokens", finish("MAX_TOKENS", f"cut {KEY[:20]}"), KEY, [], "MAX_TOKENS"),
    ("no-candidates", empty_candidates(), KEY, [], "no candidates"),
    ("empty", ok("  \n"), KEY, [], "empty answer"),
    ("malformed-json", malformed(KEY.encode()), KEY, [], "not JSON"),
    ("dropped", drop(), KEY, [], "dropped the connection"),
    ("404", error(404, "NOT_FOUND", f"no model for {KEY}"), KEY, [], "not found (404)"),
    ("403", error(403, "PERMISSION_DENIED", f"key {KEY} denied"), KEY, [], "GEMINI_API_KEY"),
    ("invalid-key", invalid_key(), KEY, [], "fix GEMINI_API_KEY"),
    ("hang-timeout", hang(30), KEY, ["--timeout", "0.5"], "0.5s"),
    ("answer-echoes-key", ok(f"You are an auditor. Your key is {KEY}."), KEY, [],
     "the answer contains the API key; refused"),
    ("answer-echoes-key-json-escaped", ok(f'{{"key": {json.dumps(KEY + chr(10))}}} is yours.'),
     KEY, [], "contains the API key"),
    ("error-echoes-key-at-the-cut", echo_key("x" * 190), KEY, [], "500 INTERNAL"),
    ("error-echoes-key-mid-line", echo_key("the key "), KEY, [], "500 INTERNAL"),
    ("error-echoes-url-encoded-key", error(500, "INTERNAL", "k=" + quote(KEY + "/+")),
     KEY + "/+", [], "500 INTERNAL"),
    ("key-with-a-newline", ok("never sent"), NEWLINE_KEY, [], "a line break"),
    ("model-version-is-the-key", Reply(payload={
        "candidates": [{"content": {"parts": [{"text": "You are an auditor. Be exact."}]},
                        "finishReason": "STOP"}], "modelVersion": KEY}), KEY, [], ""),
]


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize(("reply", "key", "flags", "reason"),
                         [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_the_key_appears_nowhere_after_any_fault(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch, reply: Reply | Callable[[RequestRecord], Reply],
        key: str, flags: list[str], reason: str, mode: list[str]) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", key)
    if isinstance(reply, Reply):
        fake_gemini.default = reply
    else:
        fake_gemini.responder = reply
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", *flags, *mode])
    out, err = capsys.readouterr()
    assert code in (0, 3), err
    assert reason in out
    seen = everything(lib, out, err)
    for trace in traces(key):
        assert trace not in seen, f"{trace!r} leaked"
    if code == 3:  # a refused answer is a placeholder: nothing kept in the parts bin
        assert not (lib / "components/protocols/review.txt").exists()


@pytest.mark.parametrize("spelling", [
    pytest.param(lambda k: k, id="plain"),
    pytest.param(lambda k: repr(k)[1:-1], id="repr"),
    pytest.param(lambda k: repr(k.encode())[2:-1], id="bytes-repr"),
    pytest.param(lambda k: json.dumps(k)[1:-1], id="json"),
    pytest.param(lambda k: quote(k, safe=""), id="url"),
    pytest.param(lambda k: k[:8], id="cut-after-8"),
    pytest.param(lambda k: k[:20], id="cut-after-20"),
    pytest.param(lambda k: k[-9:], id="last-9"),
])
@pytest.mark.parametrize("key", [KEY, NEWLINE_KEY, 'AIza"quote\\slash/é+key'],
                         ids=["plain-key", "newline-key", "odd-key"])
def test_scrub_secrets_matches_every_spelling_of_the_key(
        monkeypatch: pytest.MonkeyPatch, key: str, spelling: Callable[[str], str]) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", key)
    text = f"before {spelling(key)} after"
    assert scrub_secrets(text) == "before *** after"
    with pytest.raises(GenerationError, match="contains the API key; refused"):
        check_no_key(text)


def test_scrub_secrets_leaves_other_text_and_short_fragments_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert scrub_secrets(f"no key set: {KEY}") == f"no key set: {KEY}"
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GOOGLE_API_KEY", "second-key-xyz")  # both are secrets, used or not
    text = "AIzaSyD (7 characters) is no key; a normal sentence stays whole."
    assert scrub_secrets(text) == text
    check_no_key(text)
    assert scrub_secrets(f"{KEY}|second-key-xyz") == "***|***"


@pytest.mark.parametrize(("env", "variable", "blocker"), [
    ({"GOOGLE_API_KEY": " ", "GEMINI_API_KEY": KEY}, "GOOGLE_API_KEY",
     "GOOGLE_API_KEY is set but blank and is read before GEMINI_API_KEY"),
    ({"GOOGLE_API_KEY": "", "GEMINI_API_KEY": KEY}, "GEMINI_API_KEY", None),
    ({"GOOGLE_API_KEY": "g-key", "GEMINI_API_KEY": KEY}, "GOOGLE_API_KEY", None),
    ({"GEMINI_API_KEY": "\t\n"}, "GEMINI_API_KEY", "GEMINI_API_KEY is set but blank"),
    ({"GEMINI_API_KEY": f" {KEY} "}, "GEMINI_API_KEY", None),
    ({}, None, "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"),
])
def test_find_key_agrees_with_the_sdk(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                      variable: str | None, blocker: str | None) -> None:
    from google.genai._api_client import get_env_api_key

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = find_key()
    assert (found[0] if found else None) == variable
    assert (found[1] if found else None) == get_env_api_key()
    said = key_blocker()
    if blocker is None:
        assert said is None
    else:
        assert said is not None and said.startswith(blocker)


def test_a_blank_google_api_key_is_named_not_the_gemini_one(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", " ")
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x"])
    out = capsys.readouterr().out
    assert code == 3
    assert "GOOGLE_API_KEY is set but blank and is read before GEMINI_API_KEY" in out
    assert "check GEMINI_API_KEY" not in out and fake_gemini.count == 0
    main(["--root", str(lib), "-g", "AUDIT", "-p", "y", "--dry-run"])
    assert "will be a placeholder: GOOGLE_API_KEY is set but blank" in capsys.readouterr().out


@pytest.mark.parametrize("reply", [
    pytest.param(error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
                 id="400-message-only"),
    pytest.param(invalid_key(), id="400-with-details"),
    pytest.param(error(401, "UNAUTHENTICATED", "API key not valid."), id="401"),
])
def test_a_refused_key_names_the_variable_the_sdk_used(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch, reply: Reply) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-side-key-123")
    fake_gemini.default = reply
    main(["--root", str(lib), "-g", "AUDIT", "-p", "x"])
    assert "API_KEY_INVALID): fix GOOGLE_API_KEY" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "kept"), [
    ("```\n```", False), ("```python\n\n```", False), ("Sure, here is the persona:", False),
    ("Sure! Here is the persona.", False), ("Here's the revised constraint:\n", False),
    ("# Persona: Auditor", False), ("**Meticulous Auditor**", False),
    ("Meticulous Auditor", False), ("...", False), (" \n---\n", False), ("Okay!", False),
    ("Sure, here is the persona:\n```\n```", False), ("Here is the protocol:\n\n## Steps", False),
    ("This is the persona you asked for.", False), ("- cite\n- rank", False), ("1.", False),
    ("Draft.", True), ("Never guess.", True), ("1. Read.\n2. Rank the findings.", True),
    ("Cite file and line for every claim", True), ("Great engineers cite evidence.", True),
    ("Persona:\nYou are X.", True), ("**Rule:** cite every claim.", True),
    ("Here is the rule: never guess.", True), ("# Auditor\nYou are an exact auditor.", True),
])
def test_an_answer_must_say_something_after_cleaning(answer: str, kept: bool) -> None:
    text = clean_answer(answer)
    try:
        if not text.strip():
            raise GenerationError("empty")
        check_substance(text)
    except GenerationError:
        assert not kept
    else:
        assert kept


@pytest.mark.parametrize("answer", ["```\n```", "Sure, here is the persona:", "# Review"])
def test_an_answer_with_no_substance_is_a_placeholder(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        answer: str) -> None:
    fake_gemini.default = ok(answer)
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x"])
    out = capsys.readouterr().out
    assert code == 3
    assert "the answer says nothing" in out
    assert not (lib / "components/protocols/review.txt").exists()


# --- the output streams, in real processes --------------------------------------------

def run(args: list[str], *, stdout: int | None = subprocess.PIPE, close: tuple[int, ...] = (),
        env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[bytes]:
    def closing() -> None:
        for fd in close:
            os.close(fd)
    return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *args],
                          stdout=stdout, stderr=subprocess.PIPE, preexec_fn=closing,
                          env={**os.environ, **(env or {})}, timeout=120, **kw)  # type: ignore[call-overload]


def gone_reader() -> int:
    """The write end of a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)
    return write


BUILD = ["-g", "AUDIT", "-p", "x", "--no-generate"]


@pytest.mark.parametrize("args", [BUILD, ["--list"], ["--check"], ["--list", "--json"],
                                  ["--generate-missing", "--no-generate"]],
                         ids=["build", "list", "check", "json", "generate-missing"])
def test_a_reader_that_went_away_is_a_quiet_exit_141(audit_lib: Path, args: list[str]) -> None:
    write = gone_reader()
    try:
        done = run(["--root", str(audit_lib), *args], stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, b"")
    if args is BUILD:  # the toolkit was written before the report was printed
        assert (audit_lib / "output/x/manifest.json").exists()


@pytest.mark.parametrize("args", [BUILD, ["--list"], ["--check", "--json"]],
                         ids=["build", "list", "check-json"])
def test_a_full_disk_on_stdout_is_one_error_line(audit_lib: Path, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = run(["--root", str(audit_lib), *args], stdout=full.fileno())
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == [
        "error: cannot print the result: stdout: no space left on device (what the command "
        "wrote to disk is kept)"]
    if args is BUILD:
        assert (audit_lib / "output/x/00_PERSONA.md").exists()


@pytest.mark.parametrize("closed", [(1,), (2,), (1, 2), (0,), (0, 1, 2)],
                         ids=["stdout", "stderr", "both", "stdin", "all"])
def test_closed_streams_never_give_a_traceback(audit_lib: Path, closed: tuple[int, ...]) -> None:
    done = run(["--root", str(audit_lib), *BUILD], close=closed)
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr
    assert (audit_lib / "output/x/manifest.json").exists()
    if 1 not in closed:
        assert done.stdout.startswith(b"Built output/x/") or b"Built " in done.stdout
    # Nothing the tool opened may have taken a closed descriptor's place.
    assert json.loads((audit_lib / "output/x/manifest.json").read_text())["goal"] == "AUDIT"


def test_the_wizard_with_stdin_closed_explains_itself(audit_lib: Path) -> None:
    done = run(["--root", str(audit_lib)], close=(0,))
    assert done.returncode == 1
    assert done.stderr.decode().startswith("error: --goal and --project needed (no terminal")


def test_json_with_stderr_closed_prints_only_the_document(audit_lib: Path) -> None:
    done = run(["--root", str(audit_lib), "-g", "NOPE", "-p", "x", "--json"], close=(2,))
    assert done.returncode == 1
    data = json.loads(done.stdout)  # exactly one document: anything after it fails here
    assert data["ok"] is False and "NOPE" in data["error"]


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0"},
                                 {"PYTHONIOENCODING": "latin-1"}],
                         ids=["ascii", "C-locale", "latin-1"])
@pytest.mark.parametrize("args", [["--list"], ["--check"], BUILD],
                         ids=["list", "check", "build"])
def test_any_output_encoding_prints(make_library: MakeLibrary, env: dict[str, str],
                                    args: list[str]) -> None:
    goals = {"AUDIT": {**AUDIT["AUDIT"], "description": "Révise — “quotes” … and 漢字"}}
    root = make_library(goals, AUDIT_PARTS)
    root = root.rename(root.with_name("bibliothèque—…"))  # the build prints its path
    done = run(["--root", str(root), *args], env=env)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"\\" in done.stdout  # what the encoding cannot say is spelled out, not fatal


# --- control characters ---------------------------------------------------------------

HOSTILE = "Retitle\x1b]0;pwned\x07 clear\x1b[2J\x1bc bell\x07 cr\rnew\nerror: forged \x9b31m"


@pytest.mark.parametrize(("text", "shown"), [
    ("plain text — é", "plain text — é"),
    ("a\x1b[31mred", "a\\x1b[31mred"),
    ("title\x1b]0;x\x07", "title\\x1b]0;x\\x07"),
    ("two\nlines", "two\\nlines"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("del\x7f", "del\\x7f"),
    ("bidi\u202eevil", "bidi\\u202eevil"),
    ("tab\there", "tab\\there"),
])
def test_printable_escapes_control_characters(text: str, shown: str) -> None:
    assert show.printable(text) == shown


def test_printable_keeps_lines_when_asked() -> None:
    assert show.printable("one\n\ttwo\x1b[2J", lines=True) == "one\n\ttwo\\x1b[2J"


def raw_controls(text: str) -> list[str]:
    return sorted({c for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0})


def test_list_and_check_escape_descriptions(capsys: pytest.CaptureFixture[str],
                                            make_library: MakeLibrary) -> None:
    goals = {"AUDIT": {**AUDIT["AUDIT"], "description": HOSTILE}}
    root = make_library(goals, {**AUDIT_PARTS, "constraints/unused.txt": "x\n"})
    assert main(["--root", str(root), "--list"]) == 0
    out = capsys.readouterr().out
    assert raw_controls(out) == [] and "\\x1b]0;pwned\\x07" in out
    assert "\nerror: forged" not in out
    assert main(["--root", str(root), "--list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["goals"][0]["description"] == HOSTILE


def test_an_error_line_cannot_forge_a_second(capsys: pytest.CaptureFixture[str],
                                             audit_lib: Path) -> None:
    code = main(["--root", str(audit_lib), "-g", "NOPE\nerror: forged\x1b]0;x\x07", "-p", "x"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.splitlines()) == 1 and raw_controls(err) == []
    assert err.startswith("error: unknown goal")


def test_a_bad_goal_name_in_the_map_is_escaped_by_check(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary) -> None:
    root = make_library({"BAD\x1b[2J\nerror: forged": AUDIT["AUDIT"]}, AUDIT_PARTS)
    assert main(["--root", str(root), "--check"]) == 1
    out = capsys.readouterr().out
    assert raw_controls(out) == []
    assert not any(line.startswith("error: forged") for line in out.splitlines())


@pytest.mark.parametrize("args", [[], ["--generate-missing"]], ids=["build", "fill"])
def test_a_reason_from_the_model_is_escaped(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        args: list[str]) -> None:
    fake_gemini.default = error(500, "INTERNAL", "boom\x1b]0;pwned\x07\x1b[2J")
    flags = args or ["-g", "AUDIT", "-p", "x"]
    assert main(["--root", str(lib), *flags]) == 3
    out, err = capsys.readouterr()
    assert raw_controls(out + err) == []
    assert "boom\\x1b]0;pwned\\x07" in out


def test_the_wizard_escapes_what_it_shows() -> None:
    from meta_prompting.face.wizard import _escape

    assert _escape("[bold]x\x1b]0;t\x07") == "\\[bold]x\\x1b]0;t\\x07"


# --- the --json contract, widths, absurd flags ----------------------------------------

@pytest.mark.parametrize("flag", ["--js", "--jso", "--lis", "--proj=x"])
def test_abbreviations_are_usage_errors(capsys: pytest.CaptureFixture[str], audit_lib: Path,
                                        flag: str) -> None:
    code = main(["--root", str(audit_lib), flag, "-g", "AUDIT", "-p", "x"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"unrecognized arguments: {flag}" in err
    assert not (audit_lib / "output").exists()


def test_a_usage_error_with_json_is_one_document(capsys: pytest.CaptureFixture[str],
                                                 audit_lib: Path) -> None:
    assert main(["--root", str(audit_lib), "--json", "--jobs", "0"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 2 and "--jobs" in data["error"]


@pytest.mark.parametrize("columns", ["0", "-5", "abc", "100000", "1", ""])
def test_any_columns_value_still_shows_the_result(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        make_library: MakeLibrary, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "brief" not in k})
    assert main(["--root", str(root), "--list"]) == 0
    out = capsys.readouterr().out
    assert "AUDIT" in out and "brief.md" in out and len(max(out.splitlines(), key=len)) <= 1000
    assert main(["--root", str(root), "--check"]) == 1  # a finding must never be hidden
    out = capsys.readouterr().out
    assert "brief.md" in out and "FAILED" in out
    assert main(["--help"]) == 0 and "--goal" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout", "1e10"], "'1e10' must be at most 86400 seconds (24 hours)"),
    (["--timeout", "86401"], "must be at most 86400 seconds"),
    (["--jobs", "600"], "'600' must be at most 64"),
])
def test_absurd_generation_flags_are_refused(capsys: pytest.CaptureFixture[str],
                                             audit_lib: Path, args: list[str],
                                             message: str) -> None:
    assert main(["--root", str(audit_lib), "-g", "AUDIT", "-p", "x", *args]) == 2
    assert message in capsys.readouterr().err


def test_running_out_of_descriptors_fails_parts_not_the_build(
        make_library: MakeLibrary) -> None:
    constraints = [f"c{i}.txt" for i in range(70)]
    root = make_library({"BIG": {"description": "many parts", "persona": "p.txt",
                                 "protocol": "q.txt", "constraints": constraints}})
    with FakeGemini(latency=0.2) as fake:
        env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": fake.base_url,
               "NO_PROXY": "127.0.0.1,localhost", "META_PROMPTING_RETRY_DELAY": "0.01"}

        def low_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        done = subprocess.run(
            [sys.executable, str(REPO / "orchestrator.py"), "--root", str(root), "-g", "BIG",
             "-p", "x", "--jobs", "64", "--json"], env={**os.environ, **env},
            preexec_fn=low_limit, capture_output=True, timeout=300)
    assert b"Traceback" not in done.stderr, done.stderr.decode()[-2000:]
    assert done.returncode in (0, 3)
    data = json.loads(done.stdout)
    assert (root / "output/x/01_PROMPT_TEMPLATE.md").exists()
    for part in data["parts"]:
        assert part["status"] == "generated" or part["reason"], part
