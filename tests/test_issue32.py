"""What a newcomer met in the loop (issue 32): a fresh answer asked for, scorecards per
judging setting, the failing answer named, chain-file errors on the right stage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fake_gemini import FakeGemini, ok
from tests.test_chain import ANSWER, four_stages
from tests.test_chain import chain as run_chain
from tests.test_chain import lib as chain_lib  # noqa: F401  (a fixture)
from tests.test_run import answers, evidence, lib, run  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fast_retries")


def test_fresh_sets_the_kept_sample_aside_and_makes_it_again(
        capsys: pytest.CaptureFixture[str], lib: Path, evidence: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("## Findings\nfirst\n"), ok("## Findings\nsecond\n"))
    assert run(capsys, lib, "--run")[0] == 0
    [rid] = answers(lib)
    runs = lib / "output/x/runs"
    (runs / rid / "answer.md").write_text("## Findings\nmy edit\n")
    code, out, _ = run(capsys, lib, "--fresh", "1", "--dry-run")
    assert code == 0 and "would run" in out and fake_gemini.count == 1
    assert answers(lib) == [rid]  # a dry run moves nothing
    code, out, err = run(capsys, lib, "--fresh", "1")
    assert code == 0, out + err
    assert fake_gemini.count == 2
    [now, aside] = answers(lib)
    assert now == rid and aside.startswith(f"{rid}.replaced-")
    assert (runs / rid / "answer.md").read_text() == "## Findings\nsecond\n"
    assert (runs / aside / "answer.md").read_text() == "## Findings\nmy edit\n"  # kept
    assert f"Set aside {runs / rid} as {aside}" in out + err
    assert "--fresh" not in out.split("answered")[-1]  # the rerun command never repeats it
    code, out, _ = run(capsys, lib, "--run")
    assert code == 0 and fake_gemini.count == 2  # the new one is the kept one now


def test_fresh_stage_asks_that_stage_and_those_after_it_again(
        capsys: pytest.CaptureFixture[str], chain_lib: Path, tmp_path: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    fake_gemini.default = ok(ANSWER)
    path = four_stages(tmp_path / "work" / "chains")
    assert run_chain(capsys, chain_lib, path)[0] == 0 and fake_gemini.count == 4
    code, out, _ = run_chain(capsys, chain_lib, path, "--fresh-stage", "nope")
    assert code == 2 and "--fresh-stage nope:" in out + _ and fake_gemini.count == 4
    code, out, _ = run_chain(capsys, chain_lib, path, "--fresh-stage", "retries", "--dry-run")
    assert code == 0 and fake_gemini.count == 4, out + _
    assert [ln.split()[0] for ln in out.splitlines() if "would run" in ln] == [
        "retries", "synthesis", "retries:", "synthesis:"]  # the rows, then why
    assert "\nretries: would run: asked again (--fresh-stage)\n" in out
    fake_gemini.default = ok(ANSWER + "\nOne more risk.\n")
    code, out, err = run_chain(capsys, chain_lib, path, "--fresh-stage", "retries")
    assert code == 0, out + err
    assert fake_gemini.count == 6  # retries, then the synthesis that reads it
    names = os.listdir(chain_lib / "output/p/retries/runs")
    assert len([n for n in names if ".replaced-" in n]) == 1


def test_check_chain_names_the_right_stage_and_line_after_an_invalid_stage(
        capsys: pytest.CaptureFixture[str], chain_lib: Path, tmp_path: Path) -> None:  # noqa: F811
    from meta_prompting.face.cli import main

    folder = tmp_path / "work" / "chains"
    folder.mkdir(parents=True)
    stages = [
        {"name": "state", "goal": "SIMULATE", "task": "One."},
        {"name": "retries", "goal": "SIMULATE", "taskfile": "t.md"},
        {"name": "recovery", "goal": "SIMULATE", "task": "Three.", "after": ["retrys"]},
        {"name": "synthesis", "goal": "SYNTH", "task": "Four.", "after": ["retries"]},
    ]
    text = json.dumps({"stages": stages}, indent=2)
    (folder / "chain.json").write_text(text)
    lines = text.splitlines()
    recovery_after = next(i for i, ln in enumerate(lines, 1) if '"retrys"' in ln)
    code = main(["--root", str(chain_lib), "--check", "--chain", str(folder / "chain.json")])
    out = "".join(capsys.readouterr())
    assert code == 1
    [wrong] = [ln for ln in out.splitlines() if "names no stage" in ln]
    assert 'stage "recovery"' in wrong and '"retrys"' in wrong
    assert f"chain.json:{recovery_after - 1}:" in wrong  # its "after" key
    # a stage with a typo of its own still exists: naming it is no second problem
    assert 'names no stage "retries"' not in out and '"taskfile"' in out


def test_a_failed_chain_grade_names_its_scorecard_and_chain_md_links_every_attempt(
        capsys: pytest.CaptureFixture[str], chain_lib: Path, tmp_path: Path,  # noqa: F811
        fake_gemini: FakeGemini) -> None:
    from tests.test_chain import write_chain

    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True,
               "attempts": 2},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(tmp_path / "work" / "chains", {"stages": stages})
    fake_gemini.schema_overrides = {"quotes": ["words that no answer holds"]}
    code, out, _ = run_chain(capsys, chain_lib, path)
    assert code == 4
    cards = sorted((chain_lib / "output/p/state/runs").glob("*/scorecard.md"))
    assert len(cards) == 2
    assert f"state scorecard: {cards[-1]}" in out.replace("\n", " ") or (
        f"state scorecard: {cards[-1].relative_to(chain_lib)}" in out.replace("\n", " "))
    index = (chain_lib / "output/p/CHAIN.md").read_text()
    for card in cards:  # each attempt: its answer and its scorecard
        rid = card.parent.name
        assert f"[{rid}](state/runs/{rid}/answer.md)" in index
        assert f"(state/runs/{rid}/scorecard.md)" in index


def test_the_example_readme_names_what_the_scorecard_has() -> None:
    from meta_prompting.grading.card_text import render_markdown  # noqa: F401  (it renders)
    from tests.conftest import REPO

    text = (REPO / "examples/batch-recovery/README.md").read_text()
    assert "Required Fixes" not in text  # no such section: the fixes are per criterion
    assert "`Fix:`" in text and "scorecard.md" in text
    source = (REPO / "meta_prompting/grading/card_text.py").read_text()
    assert 'f"Fix: {v.fix}"' in source
