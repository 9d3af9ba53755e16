"""The fake refuses what Gemini refuses, with Gemini's bodies (tests/fake_service.py)."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.fake_gemini import FAKE_API_KEY, FakeGemini, fake_gemini, ok  # noqa: F401
from tests.sdk_line import httpx


def post(fake: FakeGemini, path: str, body: dict[str, object],
         key: str | None = FAKE_API_KEY) -> httpx.Response:
    headers = {"x-goog-api-key": key} if key else {}
    with httpx.Client() as http:
        return http.post(fake.base_url + path, json=body, headers=headers)


USER = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_v1_refuses_a_system_instruction_and_structured_output_fields(
        fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(ok("kept for a request that is served"))
    r = post(fake_gemini, "/v1/models/gemini-2.5-flash:generateContent", {
        **USER, "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {"responseMimeType": "application/json",
                             "responseJsonSchema": {"type": "object"}}})
    assert r.status_code == 400
    body = r.json()["error"]
    assert body["status"] == "INVALID_ARGUMENT" and body["message"].splitlines() == [
        'Invalid JSON payload received. Unknown name "systemInstruction": Cannot find field.',
        "Invalid JSON payload received. Unknown name \"responseMimeType\" at "
        "'generation_config': Cannot find field.",
        "Invalid JSON payload received. Unknown name \"responseJsonSchema\" at "
        "'generation_config': Cannot find field."]
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    # The same request on v1beta is served, with the reply the refusal did not use.
    r = post(fake_gemini, "/v1beta/models/gemini-2.5-flash:generateContent", {
        **USER, "systemInstruction": {"parts": [{"text": "Be terse."}]}})
    assert r.status_code == 200
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"].startswith("kept")


@pytest.mark.parametrize("model", ["gemini-flash-latest", "gemini-flash-lite-latest",
                                   "gemini-pro-latest"])
def test_a_beta_alias_on_v1_is_not_found_in_the_services_words(
        fake_gemini: FakeGemini, model: str) -> None:
    assert post(fake_gemini, f"/v1beta/models/{model}:generateContent", USER).status_code == 200
    r = post(fake_gemini, f"/v1/models/{model}:generateContent", USER)
    assert r.status_code == 404 and r.json() == {"error": {
        "code": 404, "status": "NOT_FOUND",
        "message": f"models/{model} is not found for API version v1, or is not supported for "
                   "generateContent. Call ListModels to see the list of available models and "
                   "their supported methods."}}


def test_an_unknown_model_is_not_found_and_the_sdk_raises_it(fake_gemini: FakeGemini) -> None:
    client = genai.Client(http_options=types.HttpOptions(api_version="v1beta"))
    with pytest.raises(errors.ClientError) as raised:
        client.models.count_tokens(model="gemini-9-ultra", contents="hi")
    assert raised.value.code == 404 and raised.value.message == (
        "models/gemini-9-ultra is not found for API version v1beta, or is not supported for "
        "countTokens. Call ListModels to see the list of available models and their "
        "supported methods.")
    fake_gemini.models.add("gemini-9-ultra")  # a test may serve a model of its own
    assert client.models.count_tokens(model="gemini-9-ultra", contents="hi").total_tokens == 1


def test_an_unknown_version_gets_googles_html_404_and_no_key_a_403(
        fake_gemini: FakeGemini) -> None:
    r = post(fake_gemini, "/v2/models/gemini-2.5-flash:generateContent", USER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "The requested URL <code>/v2/models/gemini-2.5-flash:generateContent</code> was " \
           "not found on this server." in r.text
    r = post(fake_gemini, "/v1beta/models/gemini-2.5-flash:generateContent", USER, key=None)
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert r.json()["error"]["message"].startswith("Method doesn't allow unregistered callers")


def test_vertex_paths_need_a_token_and_a_model_vertex_serves(fake_gemini: FakeGemini) -> None:
    path = "/v1beta1/projects/p/locations/us-central1/publishers/google/models/{}:generateContent"
    r = post(fake_gemini, path.format("gemini-2.5-flash"), USER, key=None)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    with httpx.Client(headers={"Authorization": "Bearer t"}) as http:
        served = http.post(fake_gemini.base_url + path.format("gemini-2.5-flash"), json=USER)
        alias = http.post(fake_gemini.base_url + path.format("gemini-flash-latest"), json=USER)
    assert served.status_code == 200
    assert alias.status_code == 404 and alias.json()["error"]["message"] == (
        "Publisher Model `projects/p/locations/us-central1/publishers/google/models/"
        "gemini-flash-latest` not found.")
    assert fake_gemini.requests[1].model == "gemini-2.5-flash"
