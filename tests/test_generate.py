"""Just-in-time generation, in-process, with the real SDK talking to a fake Gemini server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.parts.prompt import clean_answer
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import (
    FAKE_API_KEY,
    FakeGemini,
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

PERSONA = "components/personas/auditor.txt"
PROTOCOL = "components/protocols/review.txt"


pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    """The AUDIT library with its protocol missing."""
    return make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})


def snapshot(root: Path, under: str = "") -> dict[str, bytes]:
    base = root / under
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file()} if base.exists() else {}


def build(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), "-g", "AUDIT", "-p", "x", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_missing_part_is_generated_under_its_exact_name(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    goal_map = (lib / "goal_map.json").read_bytes()
    fake_gemini.enqueue(ok("1. Read the diff.\n2. Judge it.\n"))
    code, out, err = build(capsys, lib)
    assert code == 0, err
    assert (lib / PROTOCOL).read_text() == "1. Read the diff.\n2. Judge it.\n"
    assert "Generated: protocols/review.txt" in out
    assert "Generating protocols/review.txt with gemini-flash-latest..." in err
    assert "1. Read the diff." in (lib / "output/x/01_PROMPT_TEMPLATE.md").read_text()
    manifest = json.loads((lib / "output/x/manifest.json").read_text())
    assert manifest["complete"] is True
    assert [p["source"] for p in manifest["parts"]] == ["library", "generated", "library",
                                                        "library"]
    assert (lib / "goal_map.json").read_bytes() == goal_map
    record = json.loads((lib / "components/protocols/.review.txt.provenance.json").read_text())
    assert record["model"] == "gemini-flash-latest" and record["goal"] == "AUDIT"
    assert record["description"] == "review, for the AUDIT goal: Review a change"
    # Idempotent: a second build asks nothing of the model and changes nothing.
    before = snapshot(lib)
    assert build(capsys, lib)[0] == 0
    assert fake_gemini.count == 1
    assert snapshot(lib) == before


def test_the_request_is_fresh_specific_and_carries_the_house_voice(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    parts = {k: v for k, v in AUDIT_PARTS.items() if "evidence" not in k and "brief" not in k}
    parts["constraints/other.txt"] = "Never guess.\n"
    root = make_library({**AUDIT, "SPARE": {"persona": "auditor.txt", "protocol": "review.txt",
                                            "constraints": ["other.txt"]}}, parts)
    (root / "generation_jobs.json").write_text(json.dumps(
        {"constraints/brief.md": "Keep every answer under 200 words."}))
    assert build(capsys, root, "--describe", "evidence.txt=Cite file and line for every claim",
                 "--model", "gemini-2.5-pro")[0] == 0
    assert fake_gemini.count == 2
    prompts = {r.prompt.split("`")[1]: r for r in fake_gemini.requests}
    evidence, brief = prompts["evidence.txt"], prompts["brief.md"]
    assert {r.model for r in fake_gemini.requests} == {"gemini-2.5-pro"}
    assert "This part: Cite file and line for every claim" in evidence.prompt
    assert "This part: Keep every answer under 200 words." in brief.prompt
    assert "exactly one non-negotiable rule" in evidence.prompt
    # The nearest example: the built-in rule whose description shares the most words
    # ("claims", "file", "line") with this one, before the project's unrelated rule.
    assert evidence.prompt.index('<example file="evidence_only.txt">') < evidence.prompt.find(
        '<example file="other.txt">') or '<example file="other.txt">' not in evidence.prompt
    assert '<example file="evidence_only.txt">' in evidence.prompt
    assert "The goal: AUDIT - Review a change" in evidence.prompt
    assert "text of the part and nothing else" in (evidence.system or "")
    for request in fake_gemini.requests:  # one fresh request each: no shared history
        assert request.body is not None and len(request.body["contents"]) == 1
        assert request.api_key == FAKE_API_KEY
        assert request.api_version == "v1beta"  # named: either google-genai line sends it


def test_several_missing_parts_are_generated_concurrently(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    root = make_library(AUDIT)  # all four parts missing
    fake_gemini.latency = 0.3
    code, _, err = build(capsys, root)
    assert code == 0, err
    assert fake_gemini.count == 4
    assert fake_gemini.max_concurrent >= 2  # measured at the server, not by wall time
    texts = {p.name: p.read_text() for p in (root / "components").rglob("*.*")
             if not p.name.startswith(".") and ".locks" not in p.parts}
    assert len(set(texts.values())) == 4  # each part got its own answer


def test_jobs_1_generates_one_at_a_time(capsys: pytest.CaptureFixture[str],
                                        make_library: MakeLibrary,
                                        fake_gemini: FakeGemini) -> None:
    root = make_library(AUDIT)
    fake_gemini.latency = 0.05
    assert build(capsys, root, "--jobs", "1")[0] == 0
    assert (fake_gemini.count, fake_gemini.max_concurrent) == (4, 1)


@pytest.mark.parametrize("replies", [
    pytest.param([error(504, "DEADLINE_EXCEEDED")] * 2, id="504-twice"),
    pytest.param([error(429, "RESOURCE_EXHAUSTED")], id="429"),
    pytest.param([error(503, "UNAVAILABLE"), error(500, "INTERNAL")], id="503-500"),
])
def test_transient_failures_are_retried_by_the_sdk(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        replies: list[object]) -> None:
    fake_gemini.enqueue(*replies, ok("After the retries."))  # type: ignore[arg-type]
    code, _, err = build(capsys, lib)
    assert code == 0, err
    assert fake_gemini.count == len(replies) + 1
    assert (lib / PROTOCOL).read_text() == "After the retries.\n"


@pytest.mark.parametrize(("reply", "reason"), [
    pytest.param(error(500, "INTERNAL", "boom"), "the service answered 500 INTERNAL after 4 "
                 "attempts: boom", id="500"),
    pytest.param(blocked("PROHIBITED_CONTENT"), "the prompt was blocked (PROHIBITED_CONTENT)",
                 id="blocked"),
    pytest.param(finish("SAFETY"), "the model stopped without a usable answer (SAFETY)",
                 id="safety"),
    pytest.param(finish("RECITATION", "some text"), "stopped without a usable answer "
                 "(RECITATION)", id="recitation"),
    pytest.param(finish("MAX_TOKENS", "1. Read the di"), "cut off at the token limit "
                 "(MAX_TOKENS)", id="max-tokens"),
    pytest.param(empty_candidates(), "no answer (no candidates)", id="no-candidates"),
    pytest.param(ok("   \n"), "the model returned an empty answer", id="empty-text"),
    pytest.param(malformed(), "the service sent an answer that is not JSON", id="malformed"),
    pytest.param(drop(), "dropped the connection", id="dropped"),
    pytest.param(error(404, "NOT_FOUND"), "model 'gemini-flash-latest' not found (404) on API "
                 "version v1beta (fake NOT_FOUND); choose another with --model", id="404"),
    pytest.param(error(403, "PERMISSION_DENIED"), "access denied (403 PERMISSION_DENIED): "
                 "check GEMINI_API_KEY", id="403"),
])
def test_a_rejected_answer_writes_nothing_and_recovery_is_rerunning(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        reply: object, reason: str) -> None:
    goal_map = (lib / "goal_map.json").read_bytes()
    parts_before = snapshot(lib, "components")
    fake_gemini.default = reply  # type: ignore[assignment]
    code, out, err = build(capsys, lib)
    assert code == 3, err
    assert reason in out
    # Nothing half-done is kept: only the part's (empty) lock file is new, in the parts
    # bin's hidden .locks/, which ignores itself in git.
    after = snapshot(lib, "components")
    assert after.pop("components/.locks/protocols.review.txt.lock") == b""
    assert after.pop("components/.locks/.gitignore").startswith(b"*\n")
    assert after == parts_before
    template = (lib / "output/x/01_PROMPT_TEMPLATE.md").read_text()
    assert "> **MISSING PART: protocols/review.txt.**" in template
    assert f"--root {lib} --goal AUDIT --project x`" in template
    manifest = json.loads((lib / "output/x/manifest.json").read_text())
    assert manifest["complete"] is False and manifest["parts"][1]["source"] == "placeholder"
    # The service recovers: the same command finishes the job, no --force needed.
    fake_gemini.default = ok("1. Recovered.\n")
    code, out, err = build(capsys, lib)
    assert code == 0, err
    assert (lib / PROTOCOL).read_text() == "1. Recovered.\n"
    assert "MISSING PART" not in (lib / "output/x/01_PROMPT_TEMPLATE.md").read_text()
    assert json.loads((lib / "output/x/manifest.json").read_text())["complete"] is True
    assert (lib / "goal_map.json").read_bytes() == goal_map


def test_a_hung_server_fails_the_part_after_timeout(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.default = hang(30)
    code, out, _ = build(capsys, lib, "--timeout", "0.5")
    assert code == 3
    assert "no answer within 0.5s" in out or "no finished answer within 0.5s" in out
    assert not (lib / PROTOCOL).exists()


def test_an_invalid_key_says_which_variable_and_never_prints_the_key(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "AIzaSy-this-is-the-secret-key-42"
    monkeypatch.setenv("GEMINI_API_KEY", secret)
    fake_gemini.default = invalid_key()
    code, out, err = build(capsys, lib, "--json")
    assert code == 3
    data = json.loads(out)
    assert data["parts"][1]["reason"] == (
        "the API key was refused (API_KEY_INVALID): fix GEMINI_API_KEY")
    everything = out + err + "".join(p.decode(errors="replace")
                                     for p in snapshot(lib).values())
    assert secret not in everything
    assert fake_gemini.count == 1  # a refused key is not retried


def test_google_api_key_wins_and_is_the_one_named(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    fake_gemini.default = invalid_key()
    _, out, _ = build(capsys, lib)
    assert "fix GOOGLE_API_KEY" in out
    assert fake_gemini.requests[0].api_key == "google-key"


def test_no_key_or_no_generate_makes_no_request(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = build(capsys, lib, "--no-generate")
    assert code == 3 and "generation is off (--no-generate)" in out
    monkeypatch.delenv("GEMINI_API_KEY")
    code, out, _ = build(capsys, lib)
    assert code == 3 and "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)" in out
    assert fake_gemini.count == 0
    assert not (lib / PROTOCOL).exists()


def test_regenerate_replaces_a_part_and_a_failure_keeps_the_old_one(
        capsys: pytest.CaptureFixture[str], audit_lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("You are a new auditor.\n"))
    code, out, err = build(capsys, audit_lib, "--regenerate", "personas/auditor.txt")
    assert code == 0, err
    assert (audit_lib / PERSONA).read_text() == "You are a new auditor.\n"
    fake_gemini.default = error(500, "INTERNAL")
    code, out, err = build(capsys, audit_lib, "--regenerate", "auditor.txt")
    assert code == 3
    assert "could not regenerate personas/auditor.txt" in out
    # The command that finishes the job asks again for what is still unfinished.
    assert "--goal AUDIT --project x --regenerate personas/auditor.txt\n" in out
    assert "Next: fill and run it from here:\n" in out and out.count("--regenerate") == 1
    assert "Regenerating personas/auditor.txt" in err and "missing" not in err
    assert (audit_lib / PERSONA).read_text() == "You are a new auditor.\n"
    assert (audit_lib / "output/x/00_PERSONA.md").read_text() == "You are a new auditor.\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--regenerate", "nope.txt"], "error: --regenerate nope.txt: not a part of goal AUDIT"),
    (["--describe", "nope.txt=x"], "error: --describe nope.txt: not a part of goal AUDIT"),
    (["--describe", "novalue"], "'novalue' must look like FILE=TEXT"),
    (["--jobs", "0"], "argument --jobs/-j: '0' must be 1 or more"),
    (["--timeout", "soon"], "argument --timeout: 'soon' is not a number of seconds"),
    (["--timeout", "-1"], "'-1' must be more than 0 seconds"),
])
def test_bad_generation_flags(capsys: pytest.CaptureFixture[str], lib: Path,
                              args: list[str], message: str) -> None:
    code, out, err = build(capsys, lib, *args)
    assert code in (1, 2)
    assert message in err and out == ""
    assert not (lib / "output").exists()


def test_generate_missing_fills_the_library_and_retries_only_what_failed(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    goals = {**AUDIT, "DEBUG": {"description": "Find bugs", "persona": "auditor.txt",
                                "protocol": "rca.txt", "constraints": ["evidence.txt"]}}
    root = make_library(goals, {k: v for k, v in AUDIT_PARTS.items() if "brief" not in k})
    fake_gemini.enqueue(error(400, "INVALID_ARGUMENT"))  # one of the two fails
    code = main(["--root", str(root), "--generate-missing"])
    out = capsys.readouterr().out
    assert code == 3
    # The built-in library's parts are present too.
    assert re.search(r"1 made, 1 failed, \d+ already present", out)
    assert not (root / "output").exists()
    code = main(["--root", str(root), "--generate-missing", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["exit_code"] == 0
    assert [p["status"] for p in data["parts"]] == ["generated"]
    assert fake_gemini.count == 3
    assert main(["--root", str(root), "--generate-missing"]) == 0
    assert re.search(r"Nothing to generate: all \d+ parts are present\.",
                     capsys.readouterr().out)
    assert fake_gemini.count == 3


def test_list_and_check_show_generated_parts(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    build(capsys, lib)
    assert main(["--root", str(lib), "--list"]) == 0
    assert "  protocol    review.txt    generated\n" in capsys.readouterr().out
    assert main(["--root", str(lib), "--check"]) == 0
    out = capsys.readouterr().out
    assert " parts (1 generated), 0 errors, 0 warnings" in out  # lock and record are hidden
    (lib / PROTOCOL).write_text("edited by hand\n")
    assert main(["--root", str(lib), "--check"]) == 0
    assert "protocols/review.txt was generated by" in capsys.readouterr().out


def test_dry_run_says_what_would_be_generated(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    code, out, _ = build(capsys, lib, "--dry-run")
    assert code == 0
    assert "protocols/review.txt" in out and "will be generated" in out
    assert fake_gemini.count == 0 and not (lib / "output").exists()


def test_a_dry_run_prices_the_part_calls_and_a_budget_below_it_makes_none(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items()
                                if "review" not in k and "brief" not in k})  # 2 missing
    flash = ("--model", "gemini-2.5-flash")
    code, out, err = build(capsys, root, *flash, "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)["estimate"]
    assert (estimate["parts"], estimate["answers"], estimate["judgments"]) == (2, 0, 0)
    assert estimate["estimated"] and estimate["usd"] > 0
    code, out, _ = build(capsys, root, *flash, "--dry-run")
    assert "Estimate: 2 parts to gemini-2.5-flash" in out and "(estimated;" in out
    before = snapshot(root)
    code, out, err = build(capsys, root, *flash, "--budget", f"{estimate['usd'] / 2:.8f}")
    assert code == 1 and "the estimate is $" in err and "(2 parts, estimated)" in err
    assert len(err.splitlines()) == 1
    assert fake_gemini.count == 0 and snapshot(root) == before  # nothing written
    fake_gemini.enqueue(ok("1. Read the diff.\n2. Judge it.\n"), ok("Be brief and exact.\n"))
    code, out, err = build(capsys, root, *flash, "--budget", f"{estimate['usd'] * 2:.8f}")
    assert code == 0, out + err
    assert fake_gemini.count == 2


def test_a_conflict_in_the_toolkit_never_stops_the_missing_parts_being_made(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    (lib / "output/x").mkdir(parents=True)
    (lib / "output/x/notes.md").write_text("mine")
    code, _, err = build(capsys, lib)
    assert code == 1 and "notes.md" in err
    assert "made protocols/review.txt in the parts bin, but did not write the toolkit" in err
    assert fake_gemini.count == 1 and (lib / PROTOCOL).exists()
    assert sorted(p.name for p in (lib / "output/x").iterdir()) == ["notes.md"]


@pytest.mark.parametrize(("raw", "clean"), [
    ("Plain text.", "Plain text.\n"),
    ("```\nFenced.\n```", "Fenced.\n"),
    ("```markdown\n# Title\nBody\n```\n", "# Title\nBody\n"),
    ("Sure! Here is the persona:\nYou are X.", "You are X.\n"),
    ("Here's the constraint:\n\n```text\nOne rule.\n```", "One rule.\n"),
    ("You are X.\n\nLet me know if you want changes.", "You are X.\n"),
    ("Here is where it begins: nothing to strip because\nit is a sentence", "Here is where it "
     "begins: nothing to strip because\nit is a sentence\n"),
    ("Use ``` inline and keep it.", "Use ``` inline and keep it.\n"),
])
def test_clean_answer(raw: str, clean: str) -> None:
    assert clean_answer(raw) == clean


def test_a_full_disk_keeps_nothing_and_leaves_a_placeholder(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    real_replace = os.replace

    def full_disk(src: str, dst: str) -> None:
        if "components" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    code, out, err = build(capsys, lib)
    assert code == 3, err
    assert f"cannot write {lib / PROTOCOL}: no space left on device" in out
    assert not (lib / PROTOCOL).exists()
    assert not list((lib / "components/protocols").glob("*.tmp")) + list(
        (lib / "components/protocols").glob(".*.tmp"))


def test_the_generators_request_spells_out_what_the_library_relies_on() -> None:
    from meta_prompting.core.context import ModelChoice
    from meta_prompting.library.goals import load_library
    from meta_prompting.parts.options import SupplyOptions
    from meta_prompting.parts.prompt import (
        KIND_INSTRUCTIONS,
        SYSTEM_INSTRUCTION,
        PartRequest,
        build_prompt,
    )
    from meta_prompting.parts.supply import request_for
    from tests.conftest import REPO

    library = load_library(REPO)
    # The house has a title line on every part: the generator is no longer told otherwise.
    assert "no title" not in SYSTEM_INSTRUCTION and "title line" in SYSTEM_INSTRUCTION
    assert not [k for k, v in KIND_INSTRUCTIONS.items() if re.search(r"\d+ words", v)]
    assert '"Output format"' in KIND_INSTRUCTIONS["protocol"]
    goal = library.goals["GRADE_AUDIT"]
    request = request_for(library, goal, goal.protocol, SupplyOptions(ModelChoice()), {})
    prompt = build_prompt(request)
    assert '"Criterion 1: Name"' in prompt and '"Final question: "' in prompt
    # The siblings' text, not only their names, and the protocol the rubric grades.
    evidence_only = (REPO / "components/constraints/evidence_only.txt").read_text()
    assert evidence_only.strip() in prompt
    assert '<graded goal="AUDIT">' in prompt and "## Findings" in prompt
    # A working goal's protocol is not asked for criteria.
    audit = library.goals["AUDIT"]
    plain = build_prompt(request_for(library, audit, audit.protocol,
                                     SupplyOptions(ModelChoice()), {}))
    assert "Criterion 1: Name" not in plain and "<graded" not in plain
    assert isinstance(request, PartRequest)


def test_examples_are_the_nearest_parts_of_the_same_kind() -> None:
    from meta_prompting.library.goals import Goal, Part, load_library
    from meta_prompting.parts.supply import pick_examples
    from tests.conftest import REPO

    library = load_library(REPO)
    # A new goal with SECURITY_REVIEW's three rules, two of them AUDIT's too.
    rules = ("evidence_only.txt", "severity_ranked_findings.txt", "no_secrets_in_output.txt")
    new = Goal("NEW", "Review a service", Part("persona", "x.txt"), Part("protocol", "n.txt"),
               tuple(Part("constraint", r) for r in rules))
    names = [n for n, _ in pick_examples(library, new.protocol, new)]
    assert names == ["threat_model_review.txt", "code_review_pass.txt"]
    # With no rule shared, the words of the description decide, then the name.
    alone = new._replace(constraints=())
    names = [n for n, _ in pick_examples(library, alone.protocol, alone,
                                         description="explain code to a learner in layers")]
    assert names[0] == "layered_explanation.txt"
