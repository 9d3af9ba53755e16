"""Meeting the real service: its API version, its 429s, Vertex AI, its token limit.

Every request goes to the strict fake (tests/fake_service.py), which refuses what
Gemini refuses; the fake's records and timestamps prove what was sent and when.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary
from tests.fake_gemini import (
    FakeGemini,
    RequestRecord,
    error,
    finish,
    ok,
    rate_limited,
)

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(AUDIT, AUDIT_PARTS)


@pytest.fixture
def missing(make_library: MakeLibrary) -> Path:
    """A library whose brief.md constraint is missing: a build generates it."""
    return make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "brief" not in k})


def cli(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), "-g", "AUDIT", "-p", "x", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, root, "--task", "Find the bug.", "--run", *extra)


def generations(fake: FakeGemini) -> list[RequestRecord]:
    return [r for r in fake.requests if r.action in ("generateContent", "streamGenerateContent")]


# --- the defaults the service serves ------------------------------------------------


def test_a_first_call_with_only_a_key_reaches_a_model_the_service_serves(
        capsys: pytest.CaptureFixture[str], missing: Path, fake_gemini: FakeGemini) -> None:
    code, out, err = cli(capsys, missing)
    assert code == 0, out + err
    [request] = fake_gemini.requests
    assert request.path == "/v1beta/models/gemini-flash-latest:generateContent"
    assert request.status == 200 and request.system  # v1 would refuse systemInstruction


def test_an_api_version_the_user_chose_wins_and_its_refusal_says_what_to_do(
        capsys: pytest.CaptureFixture[str], missing: Path, fake_gemini: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1")
    code, out, err = cli(capsys, missing)
    assert code == 3
    [request] = fake_gemini.requests
    assert request.api_version == "v1" and request.status == 400
    assert ('the service answered 400 INVALID_ARGUMENT on API version v1 (Invalid JSON payload '
            'received. Unknown name "systemInstruction": Cannot find field.); set '
            "GOOGLE_GENAI_API_VERSION=v1beta, which takes what we send") in out + err
    assert "Traceback" not in out + err


def test_a_model_the_service_does_not_know_is_named_with_the_services_words(
        capsys: pytest.CaptureFixture[str], missing: Path, fake_gemini: FakeGemini) -> None:
    code, out, err = cli(capsys, missing, "--model", "gemini-9-ultra")
    assert code == 3
    assert ("model 'gemini-9-ultra' not found (404) on API version v1beta (models/gemini-9-ultra "
            "is not found for API version v1beta, or is not supported for generateContent. Call "
            "ListModels to see the list of available models and their supported methods.); "
            "choose another with --model or META_PROMPTING_MODEL") in out + err


# --- rate limits ----------------------------------------------------------------------


def overlap(records: list[RequestRecord]) -> int:
    """The most of these requests the fake was answering at one moment."""
    events = sorted([(r.start, 1) for r in records] + [(r.end or r.start, -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def test_a_429_is_waited_out_as_asked_with_fewer_calls_in_flight(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.latency = 0.2  # long enough for calls in flight to overlap
    fake_gemini.fail_when(lambda rec: True, rate_limited(delay=2), times=6)
    started = time.monotonic()
    code, out, err = run(capsys, lib, "--samples", "6", "--jobs", "6")
    took = time.monotonic() - started
    assert code == 0, out + err
    records = generations(fake_gemini)
    limited = [r for r in records if r.status == 429]
    answered = [r for r in records if r.status == 200]
    assert len(limited) == 6 and len(answered) == 6 and len(records) == 12  # none asked twice
    assert overlap(limited) == 6
    # No request went out before the delay the service asked for had passed.
    assert min(r.start for r in answered) >= max(r.end or 0 for r in limited) + 2.0
    assert overlap(answered) <= 4  # halved to 3, grown by at most one since
    assert err.count("rate-limited: waiting 2 s, as the service asked; 3 calls at a time "
                     "now") == 1
    assert len([p for p in (lib / "output/x/runs").iterdir() if p.is_dir()]) == 6
    assert took < 6, took


def test_retry_after_is_honoured_too(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    from dataclasses import replace

    limited = replace(error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. "
                                                        "check quota)."),
                      headers=(("Retry-After", "1"),))
    fake_gemini.enqueue(limited)
    code, out, err = run(capsys, lib)
    assert code == 0, out + err
    first, second = generations(fake_gemini)
    assert second.start - (first.end or 0) >= 1.0
    assert "rate-limited: waiting 1 s, as the service asked; 1 call at a time now" in err


def test_a_delay_beyond_the_timeout_fails_at_once_in_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.fail_when(lambda rec: True, rate_limited(delay=60))
    started = time.monotonic()
    code, out, err = run(capsys, lib, "--timeout", "5")
    assert code == 3 and time.monotonic() - started < 4
    assert len(generations(fake_gemini)) == 1  # not asked again and again until the timeout
    assert ("the service answered 429 RESOURCE_EXHAUSTED: You exceeded your current quota, "
            "please check your plan and billing details.") in out
    assert "waiting 60 s, as the service asked, would pass --timeout 5s" in out
    assert "Traceback" not in out + err


# --- Vertex AI --------------------------------------------------------------------------


@pytest.fixture
def vertex(fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeGemini:
    """Vertex AI settings, no API key, and no credentials anywhere (nor a metadata server)."""
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", fake_gemini.base_url)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud login
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never ask a metadata server
    return fake_gemini


def test_vertex_without_credentials_says_in_one_line_what_to_set(
        capsys: pytest.CaptureFixture[str], missing: Path, vertex: FakeGemini) -> None:
    code, out, err = cli(capsys, missing)
    assert code == 3
    assert ("no Google Cloud credentials for Vertex AI: run `gcloud auth application-default "
            "login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file") in out + err
    assert "no API key" not in out + err and "Traceback" not in out + err
    assert vertex.count == 0


def test_vertex_with_credentials_needs_no_key_and_uses_a_model_vertex_serves(
        capsys: pytest.CaptureFixture[str], missing: Path, vertex: FakeGemini,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.oauth2.credentials import Credentials

    def default(**_: Any) -> tuple[Credentials, str]:
        return Credentials(token="fake-token"), "proj"  # a token that needs no refresh

    monkeypatch.setattr(google.auth, "default", default)
    code, out, err = cli(capsys, missing)
    assert code == 0, out + err
    [request] = vertex.requests
    assert request.path == ("/v1beta1/projects/proj/locations/us-central1/publishers/google/"
                            "models/gemini-2.5-flash:generateContent")
    assert request.headers["Authorization"] == "Bearer fake-token"
    assert request.api_key is None and request.status == 200


# --- the token limit ----------------------------------------------------------------------


def test_an_answer_cut_off_says_thinking_counts_and_the_finish_command_asks_for_more(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(finish("MAX_TOKENS", "half an ans"))
    code, out, _ = run(capsys, lib, "--max-tokens", "100")
    assert code == 3
    assert fake_gemini.requests[0].generation_config["maxOutputTokens"] == 100
    assert ("cut off at the token limit (MAX_TOKENS); thinking tokens count toward the limit "
            "too: give a larger --max-tokens (now 100; try 200)") in out
    finish_line = out.split("run the same command again:")[-1].strip().splitlines()[0]
    assert "--max-tokens 200" in finish_line and "--max-tokens 100" not in finish_line
    fake_gemini.enqueue(ok("A whole answer."))
    assert main(shlex.split(finish_line)[2:]) == 0  # after "python orchestrator.py"
    assert fake_gemini.requests[-1].generation_config["maxOutputTokens"] == 200


# --- the live check ------------------------------------------------------------------------


def test_the_live_check_sends_every_shape_and_passes_against_the_strict_fake(
        capsys: pytest.CaptureFixture[str], fake_gemini: FakeGemini) -> None:
    from meta_prompting.face.livecheck import main as livecheck

    assert livecheck([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("live check: gemini-flash-latest, API version v1beta, key in "
                          "GEMINI_API_KEY\n")
    for shape in ("part", "run", "streamed run", "judge", "count tokens"):
        assert f"\n{shape}: ok: " in out
    assert out.endswith("all shapes answered\n")
    actions = [(r.action, r.stream, r.response_schema is not None) for r in fake_gemini.requests]
    assert actions == [("generateContent", False, False), ("generateContent", False, False),
                       ("streamGenerateContent", True, False), ("generateContent", False, True),
                       ("countTokens", False, False)]
    assert all(r.status == 200 for r in fake_gemini.requests)


def test_the_live_check_without_a_key_sends_nothing_and_says_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    from meta_prompting.face.livecheck import main as livecheck

    assert livecheck([]) == 0
    assert capsys.readouterr().out == ("live check skipped: no API key: set GEMINI_API_KEY "
                                       "(or GOOGLE_API_KEY)\n")
