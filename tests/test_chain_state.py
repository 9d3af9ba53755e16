"""A chain's state in records: stage.json per stage, kept stages decided without workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meta_prompting.store import record as records
from tests.fake_gemini import FakeGemini
from tests.test_chain import GOALS, PARTS, answer_path, chain, four_stages
from tests.test_grade import grading

pytestmark = pytest.mark.usefixtures("fast_retries")
STAGES = ("state", "retries", "recovery", "synthesis")


@pytest.fixture
def lib(make_library: object) -> Path:
    return make_library(GOALS, PARTS)  # type: ignore[operator, no-any-return]


@pytest.fixture
def chains(tmp_path: Path) -> Path:
    return tmp_path / "work" / "chains"


def stage_records(lib: Path) -> dict[str, bytes]:
    return {s: (lib / "output/p" / s / "stage.json").read_bytes() for s in STAGES}


def test_each_stage_keeps_a_record_under_the_one_header(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    for stage in STAGES:
        data = json.loads(stage_records(lib)[stage])
        run = json.loads(answer_path(lib, stage).with_name("run.json").read_text())
        head = records.read_header(data)
        assert head is not None and head["kind"] == "stage" and head["status"] == "made"
        assert head["key"] == run["inputs"] and head["tokens"] == run["tokens"]
        assert data["answer"] == answer_path(lib, stage).relative_to(
            lib / "output/p" / stage).as_posix()
        assert data["ok"] is True and data["stage"] == stage
    assert json.loads(stage_records(lib)["synthesis"])["after"] == list(STAGES[:3])


def test_a_rerun_leaves_kept_stages_records_as_they_were_and_rewrites_what_changed(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    before = stage_records(lib)
    assert chain(capsys, lib, path)[0] == 0 and stage_records(lib) == before
    (chains / "ev" / "state.txt").write_text("changed\n")
    assert chain(capsys, lib, path)[0] == 0 and fake_gemini.count == 6
    after = stage_records(lib)
    assert [s for s in STAGES if after[s] != before[s]] == ["state", "synthesis"]


def test_a_chain_of_0_2_0_without_stage_records_is_kept_and_recorded_as_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    for stage in STAGES:
        (lib / "output/p" / stage / "stage.json").unlink()
    code, out, _ = chain(capsys, lib, path, "--json")
    assert code == 0 and fake_gemini.count == 4
    assert [s["status"] for s in json.loads(out)["stages"]] == ["cached"] * 4
    for data in stage_records(lib).values():
        assert json.loads(data)[records.HEADER]["status"] == "kept"


def test_a_grade_made_now_for_a_kept_answer_is_not_called_cached(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    chains.mkdir(parents=True)
    path = chains / "chain.json"
    path.write_text(json.dumps({"stages": [{"name": "a", "goal": "SIMULATE", "task": "t",
                                            "grade": True}]}))
    assert chain(capsys, lib, path)[0] == 0
    [card] = (lib / "output/p/a/runs").glob("*/scorecard.json")
    card.unlink()
    card.with_suffix(".md").unlink()
    code, out, _ = chain(capsys, lib, path, "--json")
    assert code == 0 and fake_gemini.count == 3  # the answer kept, the judge asked again
    assert json.loads(out)["stages"][0]["status"] == "ran"


def test_a_stage_record_a_killed_run_was_writing_leaves_nothing_after_the_rerun(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    dead = lib / "output/p/state" / f".stage.json.{2**31 - 2}.0badc0de.tmp"
    dead.write_text('{"stage": "sta')
    assert chain(capsys, lib, path)[0] == 0 and fake_gemini.count == 4
    assert not dead.exists()
