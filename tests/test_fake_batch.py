"""The fake's Batch and Files service, seen through the REAL google-genai client.

Each test drives client.batches / client.files as a user would, so the product's batch
code (models/gemini_batch.py) meets the wire shapes, states and faults the service has.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from tests.fake_batch_rules import EXPIRED, FAILED, PARTIALLY_SUCCEEDED
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, error, fake_gemini, ok  # noqa: F401
from tests.sdk_line import httpx

MODEL = "gemini-2.5-flash"


@pytest.fixture
def client(fake_gemini: FakeGemini) -> genai.Client:
    return genai.Client(http_options=types.HttpOptions(api_version="v1beta"))


def inline(n: int, system: str = "Be terse.") -> list[dict[str, Any]]:
    return [{"contents": f"question {i}", "metadata": {"key": f"k{i}"},
             "config": {"system_instruction": system, "max_output_tokens": 64}}
            for i in range(n)]


def run_to_end(client: genai.Client, name: str) -> types.BatchJob:
    """Poll as a user would: the fake moves one state per get."""
    for _ in range(5):
        job = client.batches.get(name=name)
        if job.done:
            return job
    raise AssertionError(f"{name} never ended")


def jsonl(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def post(fake: FakeGemini, path: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(headers={"x-goog-api-key": FAKE_API_KEY}) as http:
        return http.post(fake.base_url + path, json=body)


def test_an_inline_job_moves_one_state_per_get_and_answers_as_interactive_calls_do(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    job = client.batches.create(model=MODEL, src=inline(3), config={"display_name": "run-1"})
    assert job.name and job.name.startswith("batches/") and job.display_name == "run-1"
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED and done.done
    assert done.dest is not None and done.dest.inlined_responses is not None
    got = {r.metadata["key"]: r.response for r in done.dest.inlined_responses
           if r.metadata and r.response}
    # The same request asked interactively gets the same answer, usage and model version.
    alone = client.models.generate_content(model=MODEL, contents="question 1", config={
        "system_instruction": "Be terse.", "max_output_tokens": 64})
    assert got["k1"].text == alone.text and "question 1" in (alone.text or "")
    assert got["k1"].usage_metadata == alone.usage_metadata
    assert got["k1"].model_version == alone.model_version
    assert fake_gemini.counts["batchGenerateContent"] == 1
    assert fake_gemini.counts["batches.get"] == 2 and fake_gemini.counts["generateContent"] == 1
    # The job's requests carry what the SDK put in each: the system instruction too.
    assert [r.system for r in fake_gemini.batches.job(job.name).records] == ["Be terse."] * 3


def test_a_held_job_ends_as_the_test_says_and_a_rule_answers_its_requests(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    fake_gemini.batches.advance_on_get = False
    rule = fake_gemini.fail_when("question 2", error(503, "UNAVAILABLE", "overloaded"))
    job = client.batches.create(model=MODEL, src=inline(3), config={"display_name": "held"})
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_PENDING
    assert job.name
    fake_gemini.batches.finish(job.name)
    done = client.batches.get(name=job.name)
    assert done.dest and done.dest.inlined_responses
    by_key = {r.metadata["key"]: r for r in done.dest.inlined_responses if r.metadata}
    assert rule.hits == 1 and by_key["k2"].response is None
    assert by_key["k2"].error is not None and by_key["k2"].error.code == 14  # gRPC UNAVAILABLE
    assert by_key["k2"].error.message == "overloaded" and by_key["k0"].response is not None
    assert fake_gemini.counts["generateContent"] == 0


def test_the_list_is_paged_newest_first_and_delete_forgets_a_job(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    names = [client.batches.create(model=MODEL, src=inline(1), config={"display_name": f"j{i}"}
                                   ).name for i in range(3)]
    listed = [j.name for j in client.batches.list(config={"page_size": 2})]
    assert listed == names[::-1] and fake_gemini.counts["batches.list"] == 2
    assert names[0]
    client.batches.delete(name=names[0])
    with pytest.raises(errors.ClientError) as raised:
        client.batches.get(name=names[0])
    assert raised.value.code == 404 and raised.value.message == "Requested entity was not found."
    with pytest.raises(ValueError, match="Invalid batch job name"):  # refused before sending
        client.batches.get(name="jobs/x")


def test_cancel_ends_a_running_job_without_results_and_is_refused_once_ended(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    job = client.batches.create(model=MODEL, src=inline(2), config={"display_name": "c"})
    assert job.name
    client.batches.cancel(name=job.name)
    fake_gemini.batches.advance_on_get = False
    ended = client.batches.get(name=job.name)
    assert ended.state == types.JobState.JOB_STATE_CANCELLED and ended.done and not ended.dest
    with pytest.raises(errors.ClientError) as raised:
        client.batches.cancel(name=job.name)
    assert raised.value.code == 400 and raised.value.status == "FAILED_PRECONDITION"
    assert fake_gemini.counts["batches.cancel"] == 2


@pytest.mark.parametrize("state", [EXPIRED, FAILED])
def test_an_expired_or_failed_job_has_no_results(
        fake_gemini: FakeGemini, client: genai.Client, state: str) -> None:
    fake_gemini.batches.outcome = state
    job = run_to_end(client, client.batches.create(
        model=MODEL, src=inline(2), config={"display_name": "x"}).name or "")
    assert job.state == types.JobState(state.replace("BATCH_", "JOB_")) and not job.dest
    assert fake_gemini.batches.job(job.name or "").records == []  # nothing was answered


@pytest.mark.parametrize("wire", [PARTIALLY_SUCCEEDED, "JOB_STATE_PARTIALLY_SUCCEEDED"])
def test_partially_succeeded_is_not_done_for_the_sdk(
        fake_gemini: FakeGemini, client: genai.Client, wire: str) -> None:
    fake_gemini.batches.fail_keys = {"k0": error(500, "INTERNAL")}
    job = client.batches.create(model=MODEL, src=inline(2), config={"display_name": "p"})
    fake_gemini.batches.finish(job.name or "", wire)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns of a state it does not map
        got = client.batches.get(name=job.name or "")
    assert got.state is not None and got.state.name.endswith("PARTIALLY_SUCCEEDED")
    assert not got.done  # types.JOB_STATES_ENDED lacks it: `while not job.done` never ends
    assert got.dest and got.dest.inlined_responses and len(got.dest.inlined_responses) == 2


def test_faults_shuffle_the_results_drop_keys_and_fail_chosen_requests(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    batches = fake_gemini.batches
    batches.shuffle, batches.drop_keys = True, {"k4"}
    batches.fail_keys = {"k1": error(429, "RESOURCE_EXHAUSTED", "quota")}
    job = run_to_end(client, client.batches.create(
        model=MODEL, src=inline(6), config={"display_name": "f"}).name or "")
    assert job.dest and job.dest.inlined_responses
    results = job.dest.inlined_responses
    keys = [r.metadata["key"] if r.metadata else None for r in results]
    assert sorted(k for k in keys if k) == ["k0", "k1", "k2", "k3", "k5"] and None in keys
    assert keys != ["k0", "k1", "k2", "k3", None, "k5"]  # not in request order
    for r in results:
        if r.metadata and r.metadata["key"] != "k1":
            assert r.response and f"question {r.metadata['key'][1]}" in (r.response.text or "")
    failed = next(r for r in results if r.metadata and r.metadata["key"] == "k1")
    assert failed.error and failed.error.code == 8 and failed.error.message == "quota"
    batches.drop_keys = True  # python-genai #2008: no metadata on any result
    job = run_to_end(client, client.batches.create(
        model=MODEL, src=inline(2), config={"display_name": "g"}).name or "")
    assert job.dest and all(r.metadata is None for r in job.dest.inlined_responses or [])


def test_a_file_job_uploads_then_answers_in_a_generated_jsonl_file(
        fake_gemini: FakeGemini, client: genai.Client, tmp_path: Path) -> None:
    lines = [{"key": f"row-{i}", "request": {
        "contents": [{"role": "user", "parts": [{"text": f"file question {i}"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 32}}} for i in range(3)]
    lines.append({"key": "sdk-shaped", "request": {"contents": "x", "config": {}}})
    uploaded = client.files.upload(file=jsonl(tmp_path, lines), config={"mime_type": "jsonl"})
    assert uploaded.name and uploaded.mime_type == "jsonl"
    assert fake_gemini.batches.files[uploaded.name].data == jsonl(tmp_path, lines).read_bytes()
    assert client.files.get(name=uploaded.name).size_bytes == len(
        jsonl(tmp_path, lines).read_bytes())
    fake_gemini.batches.shuffle = True
    job = run_to_end(client, client.batches.create(
        model=MODEL, src=uploaded.name, config={"display_name": "file"}).name or "")
    assert job.dest and job.dest.file_name and not job.dest.inlined_responses
    out = [json.loads(x) for x in client.files.download(file=job.dest.file_name).splitlines()]
    by_key = {line["key"]: line for line in out}
    assert [line["key"] for line in out] != [line["key"] for line in lines]
    assert "file question 2" in by_key["row-2"]["response"]["candidates"][0]["content"][
        "parts"][0]["text"]
    # A line in the SDK's words (`config`) is refused by the parser: its request fails.
    assert by_key["sdk-shaped"]["error"]["code"] == 3
    assert 'Unknown name "config"' in by_key["sdk-shaped"]["error"]["message"]
    with pytest.raises(errors.ClientError) as raised:  # uploaded files are not downloadable
        client.files.download(file=uploaded.name)
    assert raised.value.code == 400
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError):
        client.files.get(name=uploaded.name)
    assert fake_gemini.counts["files.upload"] == 1 and fake_gemini.counts["files.download"] == 2


def test_a_file_job_drops_keys_and_an_unknown_file_is_not_found(
        fake_gemini: FakeGemini, client: genai.Client, tmp_path: Path) -> None:
    fake_gemini.batches.drop_keys = True
    path = jsonl(tmp_path, [{"key": "a", "request": {"contents": [{"parts": [{"text": "q"}]}]}}])
    uploaded = client.files.upload(file=path, config={"mime_type": "jsonl"})
    job = run_to_end(client, client.batches.create(
        model=MODEL, src=uploaded.name or "", config={"display_name": "d"}).name or "")
    assert job.dest and job.dest.file_name
    (line,) = [json.loads(x) for x in client.files.download(file=job.dest.file_name).splitlines()]
    assert "key" not in line and "response" in line
    with pytest.raises(errors.ClientError) as raised:
        client.batches.create(model=MODEL, src="files/nosuchfile", config={"display_name": "d"})
    assert raised.value.code == 404


def test_the_service_refuses_what_it_refuses_and_nothing_is_created(
        fake_gemini: FakeGemini, client: genai.Client) -> None:
    # No display name (REST reference: Required).
    with pytest.raises(errors.ClientError, match="display_name is required"):
        client.batches.create(model=MODEL, src=inline(1))
    # A model the service does not serve, and a v1beta alias on v1 (the interactive rule).
    with pytest.raises(errors.ClientError, match="not supported for batchGenerateContent"):
        client.batches.create(model="gemini-9-ultra", src=inline(1), config={"display_name": "x"})
    v1 = genai.Client(http_options=types.HttpOptions(api_version="v1"))
    with pytest.raises(errors.ClientError) as raised:
        v1.batches.create(model="gemini-flash-latest", src=inline(1), config={"display_name": "x"})
    assert raised.value.code == 404
    # Over the inline limit (lowered here; 20 MiB by default).
    fake_gemini.batches.inline_limit = 2000
    with pytest.raises(errors.ClientError, match="Request payload size exceeds the limit: 2000"):
        client.batches.create(model=MODEL, src=inline(20), config={"display_name": "big"})
    # Unknown fields, as a hand-made body would carry them, each named with where it is.
    r = post(fake_gemini, f"/v1beta/models/{MODEL}:batchGenerateContent", {"batch": {
        "displayName": "raw", "inputConfig": {"requests": {"requests": [{
            "request": {"contents": [{"parts": [{"text": "q"}]}], "config": {},
                        "generationConfig": {"system_instruction": "no"}},
            "metadata": {"key": "a"}}]}}}})
    assert r.status_code == 400 and r.json()["error"]["message"].splitlines() == [
        "Invalid JSON payload received. Unknown name \"config\" at "
        "'batch.input_config.requests.requests[0].request': Cannot find field.",
        "Invalid JSON payload received. Unknown name \"system_instruction\" at "
        "'batch.input_config.requests.requests[0].request.generation_config': Cannot find "
        "field."]
    with httpx.Client() as http:  # no key
        assert http.get(fake_gemini.base_url + "/v1beta/batches").status_code == 403
    assert fake_gemini.batches.jobs == {}
