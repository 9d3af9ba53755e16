"""An answer cut off at the token limit (issue 32.9): the advice names a larger
--max-tokens, and the command that finishes the job carries it, for runs, grades,
refine loops and chains, given before or not."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.models.base import cut_off_advice, suggested_limit
from meta_prompting.runs.run import larger_limit
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini, finish, ok
from tests.fake_openai import FakeOpenAI, Text
from tests.test_chain import GOALS as CHAIN_GOALS
from tests.test_chain import PARTS as CHAIN_PARTS
from tests.test_chain import write_chain
from tests.test_grade import GOALS, PARTS, grading, is_judge

pytestmark = pytest.mark.usefixtures("fast_retries")

CUT = "half an ans"  # the fake counts its words as tokens: 3


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library({**GOALS, **CHAIN_GOALS}, {**PARTS, **CHAIN_PARTS})


def finish_command(out: str) -> list[str]:
    """The command the output says finishes the job, as argv (without the program)."""
    line = [ln for ln in out.splitlines() if "orchestrator.py" in ln][-1].strip()
    return shlex.split(line)[2:]


def cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def limits(fake: FakeGemini) -> list[int | None]:
    return [r.generation_config.get("maxOutputTokens") for r in fake.requests
            if not is_judge(r)]


@pytest.mark.parametrize(("limit", "used", "advice", "larger"), [
    (100, 90, "(now 100; try 200)", 200),
    (None, 3, "(now the model's default, reached at 3 tokens; try 6)", 6),
    (None, None, "(now the model's default; try 8192)", 8192),
], ids=["given", "default-used-known", "default-used-unknown"])
def test_the_advice_names_a_larger_limit_and_reads_back(
        limit: int | None, used: int | None, advice: str, larger: int) -> None:
    said = "the answer was cut off at the token limit (MAX_TOKENS)" + cut_off_advice(limit,
                                                                                      used)
    assert advice in said and suggested_limit(said) == larger


@pytest.mark.parametrize(("command", "wanted"), [
    ("x --run", "x --run --max-tokens 6"),
    ("x --max-tokens 3 --run", "x --max-tokens 6 --run"),
    ("x --max-tokens 50 --run", "x --max-tokens 50 --run"),  # never smaller than given
], ids=["added", "raised", "kept-larger"])
def test_the_finish_command_asks_for_the_larger_limit(command: str, wanted: str) -> None:
    reason = "cut off (MAX_TOKENS)" + cut_off_advice(None, 3)
    assert larger_limit(command, [reason]) == wanted
    assert larger_limit(command, ["the service answered 504"]) == command


def test_a_run_cut_off_at_the_models_default_finishes_with_a_limit_filled_in(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(finish("MAX_TOKENS", CUT))
    code, out = cli(capsys, ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                             "Pick a cache design.", "--run"])
    assert code == 3
    assert "give a larger --max-tokens (now the model's default, reached at 3 tokens; " \
           "try 6)" in out
    again = finish_command(out)
    assert again[-2:] == ["--max-tokens", "6"]
    fake_gemini.enqueue(ok("## Decision\nA whole answer.\n"))
    assert main(again) == 0
    assert limits(fake_gemini) == [None, 6]


@pytest.mark.parametrize("given", [[], ["--max-tokens", "50"]], ids=["default", "given"])
def test_a_grade_whose_answer_is_cut_off_finishes_with_a_larger_limit(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini,
        given: list[str]) -> None:
    grading(fake_gemini)
    fake_gemini.enqueue(finish("MAX_TOKENS", CUT))
    code, out = cli(capsys, ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                             "Pick a cache design.", "--grade", *given])
    assert code == 3
    again = finish_command(out)
    larger = 100 if given else 6
    assert "--grade" in again and again[again.index("--max-tokens") + 1] == str(larger)
    assert again.count("--max-tokens") == 1
    assert main(again) == 0
    assert limits(fake_gemini) == [50 if given else None, larger]


def test_a_refine_loop_cut_off_finishes_with_twice_the_limit(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    fake_gemini.enqueue(finish("MAX_TOKENS", CUT))
    code, out = cli(capsys, ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                             "Pick a cache design.", "--grade", "--refine", "2",
                             "--max-tokens", "50"])
    assert code == 3, out
    again = finish_command(out)
    assert "--refine" in again and again[again.index("--max-tokens") + 1] == "100"
    assert main(again) == 0
    assert limits(fake_gemini) == [50, 100]


@pytest.mark.parametrize("given", [[], ["--max-tokens", "50"]], ids=["default", "given"])
def test_a_chain_stage_cut_off_finishes_with_a_larger_limit_and_keeps_the_given_one(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, given: list[str]) -> None:
    path = write_chain(tmp_path / "c", {"stages": [
        {"name": "one", "goal": "SIMULATE", "task": "Simulate one."},
        {"name": "two", "goal": "SIMULATE", "task": "Simulate two.", "after": ["one"]}]})
    fake_gemini.fail_when("Simulate one.", finish("MAX_TOKENS", CUT), times=1)
    code, out = cli(capsys, ["--root", str(lib), "--chain", str(path), "-p", "c", *given])
    assert code == 3 and "one failed: the answer was cut off" in out
    again = finish_command(out)
    assert again[again.index("--max-tokens") + 1] == ("100" if given else "6")
    assert again.count("--max-tokens") == 1
    assert main(again) == 0
    assert limits(fake_gemini)[-2:] == [100 if given else 6] * 2


def test_an_openai_compatible_answer_cut_off_names_a_larger_limit(
        capsys: pytest.CaptureFixture[str], lib: Path) -> None:
    with FakeOpenAI() as fake:
        fake.enqueue(Text(CUT, finish_reason="length"))
        code, out = cli(capsys, ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                                 "Pick a cache design.", "--run", "--model",
                                 "openai-compat:llama3.2", "--base-url", fake.base_url])
        assert code == 3
        assert "(now the model's default, reached at 3 tokens; try 6)" in out
        again = finish_command(out)
        assert again[-2:] == ["--max-tokens", "6"]
        fake.enqueue(Text("## Decision\nWhole.\n"))
        assert main(again) == 0
        assert fake.records[-1].body["max_tokens"] == 6
