"""The model seam's batch side (models/gemini_batch.py) against the fake's Batch service.

Counts at the fake prove what was sent: one job, no interactive call, one upload; the
fake's faults (shuffled results, dropped keys, per-request errors, expired jobs) prove
results land on their keys or are reported, never assigned by position.
"""

from __future__ import annotations

import json

import pytest

from meta_prompting.errors import GenerationError
from meta_prompting.models.base import ModelRequest, Reply
from meta_prompting.models.gemini import GeminiModel
from meta_prompting.models.gemini_batch import (
    Collected,
    Failure,
    GeminiBatch,
    JobStatus,
    rest_request,
    status_of,
)
from tests.fake_batch_rules import FAILED, PARTIALLY_SUCCEEDED
from tests.fake_gemini import (  # noqa: F401  (fake_gemini is a fixture)
    FAKE_API_KEY,
    FakeGemini,
    blocked,
    drop,
    error,
    fake_gemini,
    finish,
)
from tests.fake_wire import Reply as FakeReply

MODEL = "gemini-2.5-flash"
SCHEMA = {"type": "object", "properties": {"verdict": {"type": "string"}},
          "required": ["verdict"]}


def requests(n: int, **extra: object) -> list[tuple[str, ModelRequest]]:
    return [(f"run-{i}", ModelRequest("You are a careful reviewer.", f"Review change {i}.",
                                      **extra))  # type: ignore[arg-type]
            for i in range(n)]


def wait(batch: GeminiBatch, name: str) -> JobStatus:
    for _ in range(5):
        status = batch.poll(name)
        if status.ended:
            return status
    raise AssertionError(f"{name} never ended")


def collect_all(batch: GeminiBatch, name: str, n: int) -> Collected:
    wait(batch, name)
    return batch.collect(name, [f"run-{i}" for i in range(n)], max_tokens=None)


def test_six_requests_go_as_one_inline_job_and_come_back_as_interactive_replies(
        fake_gemini: FakeGemini) -> None:
    batch = GeminiBatch(MODEL)
    asked = requests(6, json_schema=SCHEMA, max_tokens=300)
    sent = batch.submit(asked, "mp-run-6")
    assert sent.requests == 6 and sent.input_file is None and sent.name.startswith("batches/")
    counts = fake_gemini.counts
    assert counts["batchGenerateContent"] == 1 and counts["generateContent"] == 0
    assert counts["files.upload"] == 0
    first = batch.poll(sent.name)
    assert (first.state, first.total, first.done, first.ended) == ("RUNNING", 6, 0, False)
    got = collect_all(batch, sent.name, 6)
    assert got.status.state == "SUCCEEDED" and got.status.done == 6 and got.status.failed == 0
    assert got.unmatched == 0 and got.missing == frozenset()
    # The same request asked interactively: the same body on the wire, the same Reply.
    alone = GeminiModel(MODEL, 30).complete(asked[3][1])
    assert got.results["run-3"] == alone and isinstance(alone, Reply)
    interactive = [r for r in fake_gemini.requests if r.action == "generateContent"][0].body
    in_batch = fake_gemini.batches.job(sent.name).records[3].body
    assert interactive and in_batch and {k: in_batch[k] for k in interactive} == interactive
    assert json.loads(got.results["run-3"].text)["verdict"]  # the schema reached the model


def test_over_the_inline_limit_the_requests_go_as_one_rest_shaped_jsonl_upload(
        fake_gemini: FakeGemini) -> None:
    asked = requests(6, max_tokens=200)
    inline = GeminiBatch(MODEL).submit(asked, "inline-6")
    small = GeminiBatch(MODEL, inline_limit=500)
    fake_gemini.reset()
    sent = small.submit(asked, "file-6")
    assert sent.input_file and fake_gemini.counts == {
        "files.upload": 1, "files.upload.data": 1, "batchGenerateContent": 1}
    data = fake_gemini.batches.files[sent.input_file].data
    assert FAKE_API_KEY.encode() not in data and b"key" in data
    lines = [json.loads(x) for x in data.decode().splitlines()]
    assert [x["key"] for x in lines] == [k for k, _ in asked]
    assert lines[0]["request"] == rest_request(asked[0][1])
    assert set(lines[0]["request"]) == {"contents", "systemInstruction", "generationConfig"}
    # A file line is exactly what the SDK sends inline for the same request.
    wait(small, sent.name), wait(small, inline.name)
    by_file = fake_gemini.batches.job(sent.name).records
    by_inline = fake_gemini.batches.job(inline.name).records
    assert [r.body for r in by_file] == [r.body for r in by_inline]
    got = small.collect(sent.name, [k for k, _ in asked])
    assert sorted(got.results) == [k for k, _ in asked] and got.unmatched == 0
    assert all(isinstance(r, Reply) for r in got.results.values())
    assert "Review change 4." in got.results["run-4"].text  # type: ignore[union-attr]
    assert fake_gemini.counts["files.download"] == 1 and fake_gemini.counts["generateContent"] == 0


@pytest.mark.parametrize("limit", [None, 500], ids=["inline", "file"])
def test_shuffled_results_land_on_their_keys(fake_gemini: FakeGemini, limit: int | None) -> None:
    fake_gemini.batches.shuffle = True
    batch = GeminiBatch(MODEL, **({"inline_limit": limit} if limit else {}))
    got = collect_all(batch, batch.submit(requests(6), "shuffled").name, 6)
    assert len(got.results) == 6
    for key, reply in got.results.items():
        assert isinstance(reply, Reply) and f"Review change {key[-1]}." in reply.text


@pytest.mark.parametrize("limit", [None, 500], ids=["inline", "file"])
def test_dropped_keys_are_unmatched_and_their_requests_missing_never_guessed(
        fake_gemini: FakeGemini, limit: int | None) -> None:
    fake_gemini.batches.drop_keys = {"run-1", "run-4"}
    batch = GeminiBatch(MODEL, **({"inline_limit": limit} if limit else {}))
    got = collect_all(batch, batch.submit(requests(6), "dropped").name, 6)
    assert got.unmatched == 2 and got.missing == {"run-1", "run-4"}
    assert sorted(got.results) == ["run-0", "run-2", "run-3", "run-5"]
    fake_gemini.batches.drop_keys = True  # python-genai #2008: no key on any result
    got = collect_all(batch, batch.submit(requests(6), "no-keys").name, 6)
    assert got.results == {} and got.unmatched == 6 and len(got.missing) == 6


def test_per_request_errors_are_reported_per_key_in_the_interactive_words(
        fake_gemini: FakeGemini) -> None:
    fake_gemini.batches.fail_keys = {"run-2": error(500, "INTERNAL", "boom"),
                                     "run-4": error(429, "RESOURCE_EXHAUSTED", "quota")}
    fake_gemini.fail_when("change 1.", finish("MAX_TOKENS", "cut"))
    fake_gemini.fail_when("change 5.", blocked("SAFETY"))
    batch = GeminiBatch(MODEL)
    sent = batch.submit(requests(6, max_tokens=100), "errors")
    status = wait(batch, sent.name)
    assert (status.total, status.done, status.failed) == (6, 6, 2)
    got = batch.collect(sent.name, [f"run-{i}" for i in range(6)], max_tokens=100)
    assert got.results["run-2"] == Failure("the service answered 500 INTERNAL: boom")
    assert got.results["run-4"] == Failure("the service answered 429 RESOURCE_EXHAUSTED: quota")
    assert isinstance(got.results["run-1"], Failure)
    assert got.results["run-1"].reason.startswith(
        "the answer was cut off at the token limit (MAX_TOKENS)")
    assert "now 100; try 200" in got.results["run-1"].reason
    assert got.results["run-5"] == Failure("the prompt was blocked (SAFETY)")
    assert isinstance(got.results["run-0"], Reply) and got.missing == frozenset()


@pytest.mark.parametrize("how", ["expire", "fail", "cancel"])
def test_a_job_that_ended_without_results_leaves_every_request_missing(
        fake_gemini: FakeGemini, how: str) -> None:
    fake_gemini.batches.advance_on_get = False
    batch = GeminiBatch(MODEL)
    sent = batch.submit(requests(3), f"ended-{how}")
    with pytest.raises(GenerationError, match="has not ended: it is PENDING"):
        batch.collect(sent.name, ["run-0"])
    if how == "cancel":
        assert batch.cancel(sent.name).state == "CANCELLED"
        assert batch.cancel(sent.name).state == "CANCELLED"  # ended already: left as it is
    elif how == "fail":
        fake_gemini.batches.fail(sent.name, f"quota {FAKE_API_KEY}")
    else:
        fake_gemini.batches.expire(sent.name)
    got = batch.collect(sent.name, [f"run-{i}" for i in range(3)])
    assert got.status.ended and not got.status.has_results and got.results == {}
    assert got.missing == {"run-0", "run-1", "run-2"}
    assert got.status.state == {"expire": "EXPIRED", "fail": "FAILED", "cancel": "CANCELLED"}[how]
    if how == "fail":
        assert got.status.error and FAKE_API_KEY not in got.status.error
    assert fake_gemini.batches.job(sent.name).records == []


@pytest.mark.parametrize("wire", [PARTIALLY_SUCCEEDED, "JOB_STATE_PARTIALLY_SUCCEEDED"])
def test_partially_succeeded_counts_as_ended_and_is_collected(
        fake_gemini: FakeGemini, wire: str) -> None:
    fake_gemini.batches.advance_on_get = False
    fake_gemini.batches.fail_keys = {"run-0": error(503, "UNAVAILABLE")}
    batch = GeminiBatch(MODEL)
    sent = batch.submit(requests(2), "partial")
    fake_gemini.batches.finish(sent.name, wire)
    status = batch.poll(sent.name)
    assert status.state == "PARTIALLY_SUCCEEDED" and status.ended and status.has_results
    got = batch.collect(sent.name, ["run-0", "run-1"])
    assert isinstance(got.results["run-0"], Failure) and isinstance(got.results["run-1"], Reply)


def test_find_by_display_name_pages_through_the_list_newest_first(
        fake_gemini: FakeGemini) -> None:
    fake_gemini.batches.max_page_size = 2
    batch = GeminiBatch(MODEL)
    names = [batch.submit(requests(1), name).name for name in ("a", "wanted", "b", "wanted", "c")]
    found = batch.find("wanted")
    assert [s.name for s in found] == [names[3], names[1]] and found[0].total == 1
    assert batch.find("nobody") == [] and fake_gemini.counts["batches.list"] == 6


@pytest.mark.parametrize("lost", [drop(), error(503, "UNAVAILABLE")], ids=["drop", "503"])
def test_a_create_whose_answer_is_lost_is_found_not_made_again(
        fake_gemini: FakeGemini, lost: FakeReply) -> None:
    fake_gemini.batches.lose_creates, fake_gemini.batches.lost_answer = 1, lost
    sent = GeminiBatch(MODEL, timeout=10).submit(requests(2), "lost-answer")
    assert list(fake_gemini.batches.jobs) == [sent.name]
    assert fake_gemini.counts["batchGenerateContent"] == 1  # never retried


def test_refused_before_anything_is_sent(fake_gemini: FakeGemini,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    batch = GeminiBatch(MODEL)
    with pytest.raises(GenerationError, match="holds the API key"):
        batch.submit([("k", ModelRequest("sys", f"my key is {FAKE_API_KEY}"))], "leak")
    with pytest.raises(ValueError, match="unique"):
        batch.submit([("k", ModelRequest("s", "a")), ("k", ModelRequest("s", "b"))], "dup")
    with pytest.raises(GenerationError, match="not a batch job's name"):
        batch.poll("jobs/1")
    with pytest.raises(GenerationError, match="model 'gemini-9-ultra' not found"):
        GeminiBatch("gemini-9-ultra").submit(requests(1), "unknown-model")
    assert fake_gemini.counts == {"batchGenerateContent": 1}  # only the refused model's
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    with pytest.raises(GenerationError, match="Developer API only"):
        GeminiBatch(MODEL).submit(requests(1), "vertex")


def test_status_of_reads_the_wire_as_the_service_writes_it() -> None:
    """Pure: zero counts are left out on the wire, int64s come as strings."""
    status = status_of({"name": "batches/x", "metadata": {
        "displayName": "d", "state": "BATCH_STATE_RUNNING",
        "batchStats": {"requestCount": "10", "successfulRequestCount": "7",
                       "pendingRequestCount": "3"}}})
    assert (status.state, status.total, status.done, status.failed) == ("RUNNING", 10, 7, 0)
    assert status_of({"name": "batches/y", "metadata": {"state": FAILED}}).total is None
