"""One record header and one status vocabulary: every model-made record, old ones read."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.errors import GenerationError
from meta_prompting.grading.scorecard import record_hash
from meta_prompting.store import record as records
from meta_prompting.store.files import sha256_bytes
from meta_prompting.store.step import StepFailed, ensure, locked
from tests.fake_gemini import FakeGemini, ok
from tests.test_generate import PROTOCOL
from tests.test_generate import build as build_audit
from tests.test_grade import grade, grading

pytestmark = pytest.mark.usefixtures("fast_retries")

HEADER_FIELDS = {"kind", "key", "inputs", "model", "provider", "tokens", "cost", "seconds",
                 "date", "tool_version", "status"}


@pytest.mark.parametrize(("kind", "status", "shown"), [
    (records.ANSWER, records.MADE, "ran"), (records.ANSWER, records.KEPT, "cached"),
    (records.ANSWER, records.OTHER, "cached"), (records.ANSWER, records.WRITTEN, "imported"),
    (records.SCORECARD, records.MADE, "graded"), (records.SCORECARD, records.EDITED, "edited"),
    (records.SCORECARD, records.FAILED, "failed"), (records.PART, records.MADE, "generated"),
    (records.PART, records.OTHER, "present"), (records.PART, records.FAILED, "placeholder"),
    (records.STAGE, records.MADE, "ran"), (records.STAGE, records.KEPT, "cached"),
], ids=lambda v: str(v).replace(" ", "-"))
def test_each_status_is_shown_in_the_words_of_0_2_0(kind: str, status: str, shown: str) -> None:
    assert records.word(kind, status) == shown


def test_a_result_made_here_is_never_shown_as_cached() -> None:
    for kind in (records.PART, records.ANSWER, records.SCORECARD, records.STAGE):
        assert records.word(kind, records.MADE) not in ("cached", "present")


def test_the_header_holds_every_field_and_refuses_an_unknown_status() -> None:
    head = records.header(records.ANSWER, "k" * 64, {"prompt": "p" * 64}, status=records.MADE,
                          model="m", provider="gemini", tokens={"prompt": 3, "answer": 4},
                          seconds=1.23456)
    assert set(head) == HEADER_FIELDS
    assert head["seconds"] == 1.235 and head["cost"] is None and head["status"] == "made"
    with pytest.raises(ValueError, match="unknown status"):
        records.header(records.ANSWER, "k", {}, status="cached")


def test_one_mapping_from_failure_to_reason(tmp_path: Path) -> None:
    assert records.reason_of(GenerationError("the prompt was blocked (SAFETY)")) == (
        "the prompt was blocked (SAFETY)")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert records.reason_of(full, tmp_path / "a") == (
        f"cannot write {tmp_path / 'a'}: no space left on device")
    assert records.reason_of(StepFailed("busy: x")) == "busy: x"


def test_ensure_says_how_it_came_by_the_result(tmp_path: Path) -> None:
    lock = tmp_path / ".x.lock"
    assert ensure(lock, lambda: "x", lambda: "y", timeout=1, what="x") == (records.KEPT, "x")
    assert ensure(lock, lambda: None, lambda: "y", timeout=1, what="x") == (records.MADE, "y")
    looks = iter([None, "z"])  # another process published it between the two looks
    assert ensure(lock, lambda: next(looks), lambda: "y", timeout=1, what="x") == (
        records.OTHER, "z")


def test_the_lock_is_the_one_filelock_takes(tmp_path: Path) -> None:
    # A run of 0.2.0 holds its locks with filelock: this version must wait for it.
    from filelock import FileLock, Timeout

    lock_file = tmp_path / ".p.lock"
    waited: list[bool] = []
    busy = pytest.raises(StepFailed, match="busy: .* on the thing")
    with FileLock(str(lock_file)), busy, locked(lock_file, timeout=0.2, what="the thing",
                                                on_wait=lambda: waited.append(True)):
        pass
    assert waited == [True]
    with locked(lock_file, timeout=1, what="x"), pytest.raises(Timeout):
        FileLock(str(lock_file)).acquire(timeout=0)
    FileLock(str(lock_file)).acquire(timeout=0)  # released


def head_of(path: Path) -> dict[str, Any]:
    head = records.read_header(json.loads(path.read_text()))
    assert head is not None, path
    assert set(head) == HEADER_FIELDS
    return head


def test_every_model_made_record_carries_the_header(
        capsys: pytest.CaptureFixture[str], make_library: Any,
        fake_gemini: FakeGemini) -> None:
    from tests.test_grade import GOALS, PARTS

    lib = make_library(GOALS, PARTS)
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    [run] = (lib / "output/s/runs").glob("*/run.json")
    answer = head_of(run)
    assert answer["kind"] == "answer" and answer["status"] == "made"
    assert answer["key"] == json.loads(run.read_text())["inputs"]
    assert set(answer["inputs"]) == {"system", "prompt"} and answer["provider"] == "gemini"
    assert answer["tokens"]["answer"] == json.loads(run.read_text())["tokens"]["answer"]
    card = head_of(run.with_name("scorecard.json"))
    assert card["kind"] == "scorecard" and card["key"] == json.loads(
        run.with_name("scorecard.json").read_text())["key"]
    assert set(card["inputs"]) == {"answer", "rubric", "prompt"} and card["tokens"]


def test_a_generated_part_keeps_its_name_and_its_header_beside_it(
        capsys: pytest.CaptureFixture[str], make_library: Any,
        fake_gemini: FakeGemini) -> None:
    from tests.conftest import AUDIT, AUDIT_PARTS

    lib = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    fake_gemini.enqueue(ok("1. Read the diff.\n"))
    assert build_audit(capsys, lib)[0] == 0
    head = head_of(lib / "components/protocols/.review.txt.provenance.json")
    assert head["kind"] == "part"
    assert head["inputs"]["part"] == sha256_bytes((lib / PROTOCOL).read_bytes())
    assert head["status"] == "made" and head["model"] == "gemini-flash-latest"


def strip_header(path: Path, rehash: bool = False) -> None:
    data = json.loads(path.read_text())
    del data[records.HEADER]
    if rehash:  # a scorecard of 0.2.0 hashed what it held, which had no header
        data["sha256"] = record_hash(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_records_of_0_2_0_without_a_header_are_kept_not_made_again(
        capsys: pytest.CaptureFixture[str], make_library: Any,
        fake_gemini: FakeGemini) -> None:
    from tests.test_grade import GOALS, PARTS

    lib = make_library(GOALS, PARTS)
    grading(fake_gemini)
    assert grade(capsys, lib)[0] == 0
    [run] = (lib / "output/s/runs").glob("*/run.json")
    strip_header(run)
    strip_header(run.with_name("scorecard.json"), rehash=True)
    code, out, _ = grade(capsys, lib, "--json")
    assert code == 0 and fake_gemini.count == 2
    report = json.loads(out)
    assert report["run"]["samples"][0]["status"] == "cached"
    assert report["grade"]["graded"][0]["status"] == "cached"
    assert report["grade"]["graded"][0]["verdict_edited"] is False
