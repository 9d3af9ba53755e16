"""The fake's streams (Server-Sent Events, cut and failing ones), through the REAL client.

Each test proves the SDK reacts to a scripted reply as it would to the real API,
so product tests built on the fake exercise the same code paths.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

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
from tests.test_fake_gemini import (
    FAST_RETRY,
    MODEL,
    finish_reason,
    generate,  # noqa: F401
    on_v1beta,  # noqa: F401  (an autouse fixture)
    stream,
)

# --- streaming ---------------------------------------------------------------


def test_stream_splits_text_and_finishes_last(fake_gemini: FakeGemini) -> None:
    text = "The quick brown fox jumps over the lazy dog"
    fake_gemini.enqueue(ok(text))
    client = genai.Client()  # kept referenced while the stream is read
    chunks = stream(client, "tell me a story", system_instruction="Be brief.")
    assert len(chunks) == 3  # the server's default stream_chunks
    assert "".join(c.text for c in chunks) == text
    assert [finish_reason(c) for c in chunks] == [None, None, types.FinishReason.STOP]
    usage = chunks[-1].usage_metadata
    assert usage and usage.prompt_token_count == 4 and usage.candidates_token_count == 9
    assert usage.total_token_count == 13 and chunks[-1].model_version == MODEL
    [rec] = fake_gemini.requests
    assert rec.stream and rec.action == "streamGenerateContent" and rec.status == 200
    assert rec.path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert rec.prompt == "tell me a story" and rec.system == "Be brief."


def test_stream_chunk_count_per_server_and_per_reply(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    fake_gemini.stream_chunks = 5
    prompt = "one two three four five six seven"
    chunks = stream(client, prompt)
    assert len(chunks) == 5
    assert "".join(c.text for c in chunks) == default_answer(prompt)
    fake_gemini.enqueue(replace(ok("a b c d"), stream_chunks=2))
    assert [c.text for c in stream(client)] == ["a b ", "c d"]
    fake_gemini.enqueue(ok("single"))
    assert [c.text for c in stream(client)] == ["single"]  # one word cannot be split


@pytest.mark.parametrize("text", ["", "x", "  lead and  trail  ", "a\nb\tc d e f g"])
def test_split_text_gives_the_text_back(text: str) -> None:
    for n in range(1, 6):
        pieces = split_text(text, n)
        assert "".join(pieces) == text and 1 <= len(pieces) <= n


def test_stream_replies_without_text_are_one_event(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    fake_gemini.enqueue(blocked("SAFETY"), finish("SAFETY"))
    [only] = stream(client)
    assert only.prompt_feedback and only.prompt_feedback.block_reason == "SAFETY"
    [only] = stream(client)
    assert only.text is None and finish_reason(only) == types.FinishReason.SAFETY


def test_stream_503_raises_server_error(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(error(503, "UNAVAILABLE", "The model is overloaded."))
    with pytest.raises(errors.ServerError) as exc:
        stream(genai.Client())
    assert exc.value.code == 503 and exc.value.status == "UNAVAILABLE"
    assert exc.value.message == "The model is overloaded."
    assert fake_gemini.requests[0].status == 503


def test_stream_retried_like_a_plain_call(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(error(503, "UNAVAILABLE"), ok("after retry"))
    client = genai.Client(http_options=types.HttpOptions(retry_options=FAST_RETRY))
    assert "".join(c.text for c in stream(client)) == "after retry"
    assert fake_gemini.count == 2


def test_cut_stream_raises_after_partial_text(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(cut_stream("one two three four five six", after=2), ok("unused"))
    client = genai.Client(http_options=types.HttpOptions(retry_options=FAST_RETRY))
    seen: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # incomplete chunked read; not retried
        for chunk in client.models.generate_content_stream(model=MODEL, contents="x"):
            seen.append(chunk.text or "")
            assert finish_reason(chunk) is None  # the finishing event never comes
    assert seen == ["one two ", "three four "] and fake_gemini.count == 1
    fake_gemini.reset()
    fake_gemini.enqueue(cut_stream(after=0))  # headers only, then the drop
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client)


def test_cut_stream_on_a_plain_call_is_a_drop(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(cut_stream())
    with pytest.raises(httpx.RemoteProtocolError):
        generate(genai.Client())


def test_stream_error_event_raises_mid_stream(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(stream_error("alpha beta gamma", 500, "INTERNAL", after=1))
    seen: list[str] = []
    client = genai.Client()
    with pytest.raises(errors.ServerError) as exc:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="x"):
            seen.append(chunk.text or "")
    assert seen == ["alpha "] and exc.value.status == "INTERNAL"


def test_stream_latency_and_chunk_delay(fake_gemini: FakeGemini) -> None:
    fake_gemini.latency = 0.05
    fake_gemini.chunk_delay = 0.02
    fake_gemini.enqueue(ok("a b c"))
    client = genai.Client()
    chunks = stream(client)
    assert "".join(c.text for c in chunks) == "a b c"
    [rec] = fake_gemini.requests
    # The client may finish reading before the handler records its end: wait for it.
    for _ in range(200):
        if rec.end is not None:
            break
        time.sleep(0.01)
    # A lower bound only (sleeps last at least as long as asked), never an upper one.
    assert rec.end is not None and rec.end - rec.start >= 0.05 + 2 * 0.02


def test_async_stream(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("async streamed reply text"))

    async def run() -> list[str]:
        async with genai.Client().aio as client:
            it = await client.models.generate_content_stream(model=MODEL, contents="x")
            return [c.text or "" async for c in it]

    texts = asyncio.run(run())
    assert len(texts) == 3 and "".join(texts) == "async streamed reply text"
