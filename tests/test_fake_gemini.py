"""The fake Gemini server, seen through the REAL google-genai client.

Each test proves the SDK reacts to a scripted reply as it would to the real API,
so product tests built on the fake exercise the same code paths.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from tests.fake_gemini import (  # noqa: F401  (fake_gemini is a fixture)
    FAKE_API_KEY,
    KEEP,
    FakeGemini,
    RequestRecord,
    blocked,
    cut_stream,
    default_answer,
    drop,
    empty_candidates,
    error,
    fake_gemini,
    finish,
    hang,
    invalid_key,
    json_reply,
    malformed,
    ok,
    schema_instance,
    split_text,
    stream_error,
)
from tests.sdk_line import httpx

MODEL = "gemini-2.5-flash"


@pytest.fixture(autouse=True)
def on_v1beta(monkeypatch: pytest.MonkeyPatch) -> None:
    """The version our generator asks for: v1, the SDK's default, refuses system
    instructions and schemas (tests/fake_service.py; test_fake_service.py tests that)."""
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1beta")


FAST_RETRY = types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.1, jitter=0)


def generate(
    client: genai.Client, prompt: str = "hello world", **config: object
) -> types.GenerateContentResponse:
    cfg = types.GenerateContentConfig(**config) if config else None  # type: ignore[arg-type]
    return client.models.generate_content(model=MODEL, contents=prompt, config=cfg)


def finish_reason(resp: types.GenerateContentResponse) -> types.FinishReason | None:
    assert resp.candidates
    return resp.candidates[0].finish_reason


def stream(client: genai.Client, prompt: str = "hello world", **config: object) -> list[Any]:
    cfg = types.GenerateContentConfig(**config) if config else None  # type: ignore[arg-type]
    return list(client.models.generate_content_stream(model=MODEL, contents=prompt, config=cfg))


def test_default_reply_via_env_vars(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy must not capture 127.0.0.1: the fixture's NO_PROXY has to win.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    resp = generate(genai.Client(), "Write a haiku about tests", system_instruction="Be terse.")
    assert resp.text == default_answer("Write a haiku about tests")
    assert finish_reason(resp) == types.FinishReason.STOP
    assert resp.model_version == MODEL
    assert resp.usage_metadata and resp.usage_metadata.prompt_token_count == 5
    [rec] = fake_gemini.requests
    assert (rec.api_version, rec.model, rec.api_key) == ("v1beta", MODEL, FAKE_API_KEY)
    assert rec.path == f"/v1beta/models/{MODEL}:generateContent"
    assert rec.prompt == "Write a haiku about tests" and rec.system == "Be terse."
    # The handler records its end after the last byte is sent, and the client may read
    # that byte first: on a loaded machine the record can trail the reply briefly.
    deadline = time.monotonic() + 10
    while rec.end is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.status == 200 and rec.end is not None and rec.end >= rec.start


def test_http_options_base_url_and_v1beta(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL")
    opts = types.HttpOptions(base_url=fake_gemini.base_url + "/", api_version="v1beta")
    resp = generate(genai.Client(api_key="explicit-key", http_options=opts), "beta")
    assert resp.text == default_answer("beta")
    [rec] = fake_gemini.requests
    assert rec.api_version == "v1beta" and rec.api_key == "explicit-key"
    assert rec.path == f"/v1beta/models/{MODEL}:generateContent"


def test_queue_then_default_then_derived(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    fake_gemini.enqueue(ok("first"), ok("second"))
    assert [generate(client).text for _ in range(2)] == ["first", "second"]
    assert generate(client, "x").text == default_answer("x")
    fake_gemini.default = ok("always")
    assert generate(client).text == "always"
    fake_gemini.responder = lambda rec: ok(rec.prompt.upper()) if rec.prompt != "skip" else None
    assert generate(client, "shout").text == "SHOUT"
    assert generate(client, "skip").text == "always"  # None falls through to default
    fake_gemini.enqueue(ok("queued wins"))
    assert generate(client, "shout").text == "queued wins"
    assert fake_gemini.count == 7
    fake_gemini.reset()
    assert fake_gemini.count == 0 and fake_gemini.requests == [] and fake_gemini.max_concurrent == 0


def test_server_error_503(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(error(503, "UNAVAILABLE", "The model is overloaded."))
    with pytest.raises(errors.ServerError) as exc:
        generate(genai.Client())
    assert exc.value.code == 503 and exc.value.status == "UNAVAILABLE"
    assert exc.value.message == "The model is overloaded."


def test_invalid_key(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(invalid_key())
    with pytest.raises(errors.ClientError) as exc:
        generate(genai.Client())
    assert exc.value.code == 400 and exc.value.status == "INVALID_ARGUMENT"
    assert exc.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert "API_KEY_INVALID" in str(exc.value)


def test_blocked_prompt(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(blocked("PROHIBITED_CONTENT"))
    resp = generate(genai.Client())
    assert resp.text is None and not resp.candidates
    assert (
        resp.prompt_feedback
        and resp.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    )


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION"])
def test_finish_without_parts(fake_gemini: FakeGemini, reason: str) -> None:
    fake_gemini.enqueue(finish(reason))
    resp = generate(genai.Client())
    assert resp.text is None
    assert finish_reason(resp) == types.FinishReason(reason)


def test_max_tokens_returns_truncated_text(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(finish("MAX_TOKENS", "The answer is cut of"))
    resp = generate(genai.Client())
    assert resp.text == "The answer is cut of"
    assert finish_reason(resp) == types.FinishReason.MAX_TOKENS


def test_empty_candidates(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(empty_candidates())
    resp = generate(genai.Client())
    assert resp.text is None and resp.candidates == []


def test_malformed_body_raises_json_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(malformed())
    # Not wrapped in a google-genai error (and not retried: see test_not_retried).
    with pytest.raises(json.JSONDecodeError):
        generate(genai.Client())


def test_hang_times_out_and_stop_is_prompt(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(hang(30))
    client = genai.Client(http_options=types.HttpOptions(timeout=300))  # milliseconds
    t0 = time.monotonic()
    with pytest.raises(httpx.TimeoutException):  # ReadTimeout, not a google-genai error
        generate(client)
    assert time.monotonic() - t0 < 5
    t0 = time.monotonic()
    fake_gemini.stop()  # the handler is still "hanging": stop must not wait for it
    assert time.monotonic() - t0 < 5


def test_dropped_connection(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(drop())
    with pytest.raises(httpx.RemoteProtocolError):
        generate(genai.Client())


def test_sdk_retries_turn_504s_into_success(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(
        error(504, "DEADLINE_EXCEEDED"), error(504, "DEADLINE_EXCEEDED"), ok("third time")
    )
    client = genai.Client(http_options=types.HttpOptions(retry_options=FAST_RETRY))
    assert generate(client).text == "third time"
    assert fake_gemini.count == 3


def test_sdk_retries_timeouts_and_gives_up(fake_gemini: FakeGemini) -> None:
    client = genai.Client(http_options=types.HttpOptions(timeout=200, retry_options=FAST_RETRY))
    fake_gemini.enqueue(hang(30), ok("after timeout"))
    assert generate(client).text == "after timeout"
    assert fake_gemini.count == 2
    fake_gemini.reset()
    fake_gemini.enqueue(*[error(503, "UNAVAILABLE")] * 3)
    with pytest.raises(errors.ServerError):
        generate(client)
    assert fake_gemini.count == 3  # attempts includes the first call


@pytest.mark.parametrize(
    ("reply", "raised"),
    [
        (drop(), httpx.RemoteProtocolError),
        (malformed(), json.JSONDecodeError),
        (error(400, "INVALID_ARGUMENT"), errors.ClientError),
    ],
    ids=["drop", "malformed", "400"],
)
def test_not_retried(fake_gemini: FakeGemini, reply: object, raised: type[Exception]) -> None:
    fake_gemini.enqueue(reply, ok("unused"))  # type: ignore[arg-type]
    client = genai.Client(http_options=types.HttpOptions(retry_options=FAST_RETRY))
    with pytest.raises(raised):
        generate(client)
    assert fake_gemini.count == 1


def test_concurrent_requests_each_pop_one_reply(fake_gemini: FakeGemini) -> None:
    fake_gemini.latency = 0.3
    fake_gemini.enqueue(*[ok(f"reply {i}") for i in range(4)])
    client = genai.Client()
    texts: list[str | None] = []
    barrier = threading.Barrier(4)

    def call() -> None:
        barrier.wait()
        texts.append(generate(client).text)  # list.append is atomic

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(map(str, texts)) == [f"reply {i}" for i in range(4)]
    assert fake_gemini.count == 4 and fake_gemini.max_concurrent >= 2


def test_async_client(fake_gemini: FakeGemini) -> None:
    async def run() -> list[str | None]:
        async with genai.Client().aio as client:  # closes its pool inside this event loop
            calls = [
                client.models.generate_content(model=MODEL, contents=f"a{i}") for i in range(3)
            ]
            return [r.text for r in await asyncio.gather(*calls)]

    assert sorted(map(str, asyncio.run(run()))) == [default_answer(f"a{i}") for i in range(3)]


def test_unknown_path_is_404_and_consumes_nothing(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("kept"))
    with httpx.Client() as http:
        r = http.post(fake_gemini.base_url + "/v1/models/x:embedContent", json={})
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
        assert http.get(fake_gemini.base_url + "/").status_code == 404
    assert generate(genai.Client()).text == "kept"
    assert [rec.status for rec in fake_gemini.requests] == [404, 404, 200]


def test_standalone_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    count_file = tmp_path / "count"
    script = Path(__file__).with_name("fake_gemini.py")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--latency",
            "0.05",
            "--text",
            "bench mark run",
            "--count-file",
            str(count_file),
            "--stream-chunks",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:")
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))
        assert [generate(client).text for _ in range(2)] == ["bench mark run"] * 2
        assert count_file.read_text().strip() == "2"
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="x"))
        assert [c.text for c in chunks] == ["bench ", "mark run"]  # 2 events, not 3
        assert count_file.read_text().strip() == "3"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "3 requests" in err


def test_fixture_environment(fake_gemini: FakeGemini) -> None:
    assert os.environ["GOOGLE_GEMINI_BASE_URL"] == fake_gemini.base_url
    assert os.environ["GEMINI_API_KEY"] == FAKE_API_KEY
    assert "GOOGLE_API_KEY" not in os.environ
    assert "127.0.0.1" in os.environ["NO_PROXY"]
    assert isinstance(RequestRecord, type)


def test_fail_when_fails_only_matching_prompts(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    rule = fake_gemini.fail_when("stage 2", error(504, "DEADLINE_EXCEEDED"), times=2)
    fake_gemini.enqueue(ok("queued"))
    with pytest.raises(errors.ServerError) as exc:
        generate(client, "run stage 2 now")  # checked before the queue
    assert exc.value.code == 504 and rule.remaining == 1
    assert generate(client, "stage 1").text == "queued"
    with pytest.raises(errors.ServerError):
        stream(client, "stage 2 again")
    assert rule.hits == 2 and rule.remaining == 0
    assert generate(client, "stage 2, third try").text == default_answer("stage 2, third try")
    assert [r.status for r in fake_gemini.requests] == [504, 200, 504, 200]


def test_fail_when_callable_always_and_clear(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    fake_gemini.fail_when(lambda rec: rec.system == "grader", finish("SAFETY"))
    for _ in range(3):
        assert generate(client, "grade", system_instruction="grader").text is None
    assert generate(client, "grade", system_instruction="writer").text is not None
    fake_gemini.clear_failures()
    assert generate(client, "grade", system_instruction="grader").text is not None


def test_fail_when_times_holds_under_concurrency(fake_gemini: FakeGemini) -> None:
    fake_gemini.fail_when("sample", error(503, "UNAVAILABLE"), times=1)
    client = genai.Client()
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def call(i: int) -> None:
        barrier.wait()
        try:
            generate(client, f"sample {i}")
            outcomes.append("ok")
        except errors.ServerError:
            outcomes.append("failed")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["failed", "ok", "ok"]


# --- recording and countTokens -----------------------------------------------


def test_system_contents_count_and_prompt_helpers(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    cfg = types.GenerateContentConfig(system_instruction="You are an auditor.")
    client.models.generate_content(model=MODEL, contents="Review file a.py", config=cfg)
    history = [
        types.Content(role="user", parts=[types.Part(text="first")]),
        types.Content(role="model", parts=[types.Part(text="answer")]),
        types.Content(role="user", parts=[types.Part(text="Review file b.py")]),
    ]
    client.models.generate_content(model=MODEL, contents=history)
    client.models.count_tokens(model=MODEL, contents="Review file c.py")
    first, second, counted = fake_gemini.requests
    assert first.system == "You are an auditor." and first.contents_count == 1
    assert second.system is None and second.contents_count == 3
    assert fake_gemini.prompts() == ["Review file a.py", "first\nanswer\nReview file b.py"]
    assert fake_gemini.count_matching("Review file") == 2  # countTokens is not a prompt
    assert fake_gemini.count_matching("c.py") == 0 and fake_gemini.count == 3
    assert counted.action == "countTokens" and not counted.stream


def test_count_tokens(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("kept for the next generation"))
    client = genai.Client()
    resp = client.models.count_tokens(model=MODEL, contents="four words in here")
    assert resp.total_tokens == 4
    assert generate(client).text == "kept for the next generation"  # consumed no reply
