"""OpenAI-compatible servers (issue 28): parts, runs, grades and chains against a fake
chat-completions server, through the real `openai` client; the judge stays there."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.fake_openai import FAKE_OPENAI_KEY, Failure, FakeOpenAI, Text

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    from tests.test_grade import GOALS, PARTS

    return make_library({"AUDIT": {**AUDIT["AUDIT"], "rubric": "GRADE"},
                         "GRADE": GOALS["GRADE"]}, {**AUDIT_PARTS, **PARTS})


def cli(capsys: pytest.CaptureFixture[str], lib: Path, fake: FakeOpenAI, *extra: str,
        model: str = "openai-compat:llama3.2") -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "Find the bug.",
                 "--model", model, "--base-url", fake.base_url, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def only_run(lib: Path) -> Path:
    [folder] = [p for p in (lib / "output/x/runs").iterdir() if not p.name.startswith(".")]
    return folder


def test_a_run_goes_to_the_server_and_its_record_names_provider_and_host(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI,
        fake_gemini: FakeGemini) -> None:
    fake_openai.enqueue(Text("## Findings\nDivision by zero.\n"))
    code, _, err = cli(capsys, lib, fake_openai, "--run")
    assert code == 0, err
    [rec] = fake_openai.records
    assert rec.body["model"] == "llama3.2" and not rec.stream
    assert rec.system == "You are an auditor.\n"
    assert rec.user == (lib / "output/x/02_PROMPT.md").read_text()
    folder = only_run(lib)
    assert (folder / "answer.md").read_text() == "## Findings\nDivision by zero.\n"
    record = json.loads((folder / "run.json").read_text())
    host = fake_openai.base_url.split("//")[1].split("/")[0]
    assert record["provider"] == "openai-compat" and record["endpoint"] == host
    assert record["model"] == "openai-compat:llama3.2" and record["finish_reason"] == "STOP"
    assert record["tokens"]["answer"] == 5 and record["tokens"]["cached"] == 0
    assert fake_gemini.count == 0
    # Made once: the same command makes no request.
    assert cli(capsys, lib, fake_openai, "--run")[0] == 0 and fake_openai.count == 1


def test_a_streamed_run_is_shown_as_it_comes_with_its_usage(
        lib: Path, fake_openai: FakeOpenAI) -> None:
    from meta_prompting.models import open_model
    from meta_prompting.runs.run import RunOptions, Session, Settings, run_samples

    fake_openai.enqueue(Text("one two three four five six"))
    shown: list[str] = []
    session = Session("You are an auditor.\n", "Review it.\n",
                      Settings("ollama:llama3.2", None, fake_openai.base_url))
    report = run_samples(lib / "output/s", session, RunOptions(on_text=shown.append),
                         open_model("ollama:llama3.2", timeout=10,
                                    base_url=fake_openai.base_url))
    assert report.outcome == "done" and len(shown) >= 3
    assert fake_openai.records[0].stream
    assert fake_openai.records[0].body["stream_options"] == {"include_usage": True}
    assert "".join(shown) == report.samples[0].answer_path.read_text()
    assert report.samples[0].record["tokens"]["answer"] == 6


def test_a_missing_part_is_generated_there(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_openai: FakeOpenAI, fake_gemini: FakeGemini) -> None:
    parts = {k: v for k, v in AUDIT_PARTS.items() if k != "constraints/brief.md"}
    lib = make_library(AUDIT, parts)
    fake_openai.enqueue(Text("Brief answers\n\nKeep every answer under 200 words.\n\n"
                             "Check: count the words."))
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--model", "ollama:llama3.2",
                 "--base-url", fake_openai.base_url])
    assert code == 0, capsys.readouterr().err
    assert (lib / "components/constraints/brief.md").read_text().startswith("Brief answers")
    [rec] = fake_openai.records
    assert "Write the constraint `brief.md`" in rec.user
    from meta_prompting.library.parts import PROVENANCE_SUFFIX

    provenance = lib / "components/constraints" / f".brief.md{PROVENANCE_SUFFIX}"
    assert json.loads(provenance.read_text())["model"] == "ollama:llama3.2"
    assert fake_gemini.count == 0


def test_three_judges_stay_on_the_same_server_without_judge_model(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI,
        fake_gemini: FakeGemini) -> None:
    code, _, err = cli(capsys, lib, fake_openai, "--grade", "--judges", "3")
    assert code in (0, 4), err
    judged = [r for r in fake_openai.records if r.body.get("response_format")]
    assert len(judged) >= 3 and len(fake_openai.records) >= 4
    fmt = judged[0].body["response_format"]
    assert fmt["type"] == "json_schema" and "criteria" in fmt["json_schema"]["schema"][
        "properties"]
    assert fake_gemini.count == 0  # never silently a cloud judge for local answers
    # Three judges keep their own scorecard beside the one-judge one (scorecard-3j.json).
    card = json.loads((only_run(lib) / "scorecard-3j.json").read_text())
    assert card["judge_model"] == "openai-compat:llama3.2" and len(card["judgments"]) == 3
    assert all(j["model"] == "openai-compat:llama3.2" for j in card["judgments"])


def test_a_server_without_structured_outputs_is_asked_for_json_in_words(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.structured = False
    code, _, err = cli(capsys, lib, fake_openai, "--grade")
    assert code in (0, 4), err
    refused = [r for r in fake_openai.records if r.body.get("response_format")]
    worded = [r for r in fake_openai.records if "JSON schema:\n" in r.system]
    assert len(refused) == 1 and refused[0].status == 400 and len(worded) == 1
    assert (only_run(lib) / "scorecard.json").exists()


def test_judge_model_sends_the_judges_elsewhere(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI,
        fake_gemini: FakeGemini) -> None:
    code, _, err = cli(capsys, lib, fake_openai, "--grade", "--judge-model",
                       "gemini-2.5-flash")
    assert code in (0, 4), err
    assert fake_openai.count == 1 and fake_gemini.count == 1
    assert fake_gemini.requests[0].model == "gemini-2.5-flash"


def test_429_and_500_are_retried_as_the_server_asks(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Failure(429, "Rate limit reached", retry_after=0.01),
                        Failure(500, "The server had an error"), Text("Fine.\n"))
    code, _, err = cli(capsys, lib, fake_openai, "--run")
    assert code == 0, err
    assert [r.status for r in fake_openai.records] == [429, 500, 200]
    assert "rate-limited: waiting 0.01 s, as the service asked" in err
    assert "retrying in " in err and "(the service answered 500)" in err


def test_a_key_in_an_error_is_scrubbed(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake_openai.key = "sk-the-right-one-0000000000"
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    code, out, err = cli(capsys, lib, fake_openai, "--run", model="openai:gpt-4.1-mini")
    assert code == 3
    assert "the API key was refused (401): fix OPENAI_API_KEY" in out
    assert FAKE_OPENAI_KEY[:8] not in out + err and "provided: ***" in out
    assert fake_openai.records[0].authorization == f"Bearer {FAKE_OPENAI_KEY}"


def test_the_openai_key_is_refused_in_a_task(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_openai: FakeOpenAI,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--model", "openai:gpt-4.1-mini",
                 "--task", f"use {FAKE_OPENAI_KEY}", "--run"])
    assert code == 1 and "the task holds the API key" in capsys.readouterr().err
    assert fake_openai.count == 0 and not (lib / "output/x").exists()


def test_an_unreachable_local_server_is_one_line_naming_the_url(
        capsys: pytest.CaptureFixture[str], lib: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "Find the bug.",
                 "--model", "ollama:llama3.2", "--base-url", url, "--run"])
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert code == 3
    lines = [line for line in err.splitlines() if f"cannot reach {url}" in line]
    assert len(lines) == 1 and "Traceback" not in err
    assert "ollama serve" in lines[0]


def test_a_two_stage_chain_runs_there(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary, tmp_path: Path,
        fake_openai: FakeOpenAI, fake_gemini: FakeGemini) -> None:
    from tests.test_chain import GOALS, PARTS, write_chain

    lib = make_library(GOALS, PARTS)
    path = write_chain(tmp_path / "work" / "chains", {"stages": [
        {"name": "first", "goal": "SIMULATE", "task": "Simulate it."},
        {"name": "second", "goal": "SYNTH", "task": "Merge them.", "after": ["first"]}]})
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p", "--model",
                 "openai-compat:qwen2.5", "--base-url", fake_openai.base_url])
    assert code == 0, capsys.readouterr().err
    assert fake_openai.count == 2 and fake_gemini.count == 0
    assert "Generated text for" in fake_openai.records[1].user  # the first stage's answer


def test_base_url_is_refused_for_a_gemini_model(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "Find the bug.",
                 "--base-url", "http://127.0.0.1:9/v1", "--run"])
    assert code == 3 and "--base-url is for OpenAI-compatible servers" in \
        capsys.readouterr().out
    assert fake_gemini.count == 0


def test_a_provider_without_a_model_name_is_refused_before_anything_is_written(
        capsys: pytest.CaptureFixture[str], lib: Path) -> None:
    code = main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "Find the bug.",
                 "--model", "openai-compat:", "--run"])
    assert code == 1 and capsys.readouterr().err.strip() == (
        "error: --model openai-compat: name the model, as openai-compat:NAME")
    assert not (lib / "output/x").exists()


def test_the_gemini_provider_knows_nothing_of_the_library() -> None:
    import ast

    from tests.conftest import REPO

    for module in ("gemini", "gemini_log", "openai_compat", "base", "__init__"):
        tree = ast.parse((REPO / f"meta_prompting/models/{module}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {m for m in imported if m and not m.startswith(
            ("meta_prompting.models", "meta_prompting.errors", "meta_prompting.store"))
            and m.startswith("meta_prompting")}, module
