"""What the real service refuses, so the fake refuses it too, with the same bodies.

`refusal(rec, vertex_models, developer_models)` is the one check `fake_gemini` runs on
every request before choosing a reply: the API version in the path, the model (and
whether it exists on that version), the fields that version knows, and who is asking.
A refusal consumes no queued reply and fires no `fail_when` rule, as the real service
answers it before any model sees the request. Each rule says where its fact is from.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_wire import Reply, RequestRecord, error

# Developer API versions (generativelanguage.googleapis.com): v1 is google-genai 3.x's
# default, v1beta 2.x's (_api_client.py GOOGLE_AI_API_DEFAULT_VERSION; v3.0.0 notes);
# v1alpha is what HttpOptions(api_version="v1alpha") sends for preview features.
DEVELOPER_VERSIONS = ("v1", "v1beta", "v1alpha")
# Vertex AI versions: the SDK's default v1beta1 (_api_client.py) and the stable v1.
VERTEX_VERSIONS = ("v1", "v1beta1")

# Concrete model ids, served on every version and on Vertex AI.
MODELS = frozenset({
    # google-genai 3.6.1 _local_tokenizer_loader.py, _GEMINI_MODELS_TO_TOKENIZER_NAMES
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    # same file, _GEMINI_STABLE_MODELS_TO_TOKENIZER_NAMES and the Hugging Face table
    "gemini-2.0-flash-001", "gemini-2.0-flash-lite-001", "gemini-3-pro-preview",
    "gemini-3-flash-preview", "gemini-3.5-flash", "gemini-3.1-flash-lite",
    "gemini-3.1-pro-preview",
    # google-genai 3.6.1 models.py / client.py docstrings, also as a Vertex AI path
    "gemini-3.8-flash",
})
# "Some model aliases are not available on v1, notably: gemini-flash-latest,
# gemini-flash-lite-latest and gemini-pro-latest. They exist only on v1beta"
# (google-genai v3.0.0 release notes). Vertex AI has no -latest aliases at all: its
# model ids are versioned names (Vertex AI "Model versions and lifecycle" page).
BETA_ALIASES = frozenset({"gemini-flash-latest", "gemini-flash-lite-latest",
                          "gemini-pro-latest"})

# Fields v1 does not know. python-genai #1837 and js-genai #1746: v1 answers 400
# 'Unknown name "systemInstruction": Cannot find field.' and the same for
# responseMimeType; responseSchema, responseJsonSchema and thinkingConfig are
# v1beta-only in the REST reference (issue 20's list); go-genai #83 shows the
# message for a field inside generationConfig ("... at 'generation_config'").
V1_UNKNOWN_TOP = ("systemInstruction",)
V1_UNKNOWN_CONFIG = ("responseMimeType", "responseSchema", "responseJsonSchema",
                     "thinkingConfig")

DEVELOPER_PATH = re.compile(
    r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+)"
    r":(?P<action>generateContent|streamGenerateContent|countTokens)$")
VERTEX_PATH = re.compile(
    r"^/(?P<version>[^/]+)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/google/models/(?P<model>[^/:]+)"
    r":(?P<action>generateContent|streamGenerateContent|countTokens)$")


def unknown_path(path: str) -> Reply:
    """Google's front end answers a path no API serves with its HTML 404 page, not a
    JSON error (any unknown URL on *.googleapis.com); the SDK then raises ClientError
    with the page as its message (errors.py raise_for_response, JSONDecodeError)."""
    page = (f"<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title>"
            f"<p><b>404.</b> <ins>That's an error.</ins><p>The requested URL <code>{path}"
            f"</code> was not found on this server. <ins>That's all we know.</ins></html>")
    return Reply(status=404, raw=page.encode())


def not_found(rec: RequestRecord, vertex: bool, project: str = "", location: str = "") -> Reply:
    method = rec.action if rec.action != "streamGenerateContent" else "generateContent"
    if vertex:
        # google/adk-python #833: the Vertex AI body for a model it does not serve.
        return error(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/"
                     f"{location}/publishers/google/models/{rec.model}` not found.")
    # The Developer API's words, quoted in issue 20 and the google-genai 3.0.0 notes.
    return error(404, "NOT_FOUND", f"models/{rec.model} is not found for API version "
                 f"{rec.api_version}, or is not supported for {method}. Call ListModels to "
                 "see the list of available models and their supported methods.")


def unknown_fields(body: dict[str, Any]) -> Reply | None:
    """v1's 400 for fields it does not know, one line per field (a BadRequest detail
    lists them as fieldViolations, as protobuf JSON parsing reports them)."""
    found = [(None, name) for name in V1_UNKNOWN_TOP if name in body]
    config = body.get("generationConfig")
    if isinstance(config, dict):
        found += [("generation_config", name) for name in V1_UNKNOWN_CONFIG if name in config]
    if not found:
        return None
    lines = [f'Invalid JSON payload received. Unknown name "{name}"'
             + (f" at '{where}'" if where else "") + ": Cannot find field."
             for where, name in found]
    return error(400, "INVALID_ARGUMENT", "\n".join(lines), [{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": where or "", "description": line}
                            for (where, _), line in zip(found, lines, strict=True)]}])


def unregistered() -> Reply:
    """js-genai #898, deprecated-generative-ai-python #463: a call with no key."""
    return error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers "
                 "(callers without established identity). Please use API Key or other "
                 "form of API consumer identity to call this API.")


def refusal(rec: RequestRecord, models: frozenset[str]) -> Reply | None:
    """The real service's answer to a request it refuses; None when it would serve it."""
    path = rec.path.split("?", 1)[0]
    vertex = VERTEX_PATH.match(path)
    developer = DEVELOPER_PATH.match(path)
    if vertex:
        if vertex["version"] not in VERTEX_VERSIONS:
            return unknown_path(path)
        if not (rec.headers.get("Authorization") or "").startswith("Bearer "):
            # Google Cloud's 401 for a call without an OAuth token (AIP-193 body).
            return error(401, "UNAUTHENTICATED", "Request is missing required authentication "
                         "credential. Expected OAuth 2 access token, login cookie or other "
                         "valid authentication credential.")
        if rec.model not in models:
            return not_found(rec, True, vertex["project"], vertex["location"])
        return None
    if developer is None:
        return None  # not a path of ours: the fake's own 404 answers it
    if developer["version"] not in DEVELOPER_VERSIONS:
        return unknown_path(path)
    if not rec.api_key:
        return unregistered()
    on_v1 = developer["version"] == "v1"
    if on_v1 and isinstance(rec.body, dict):  # the body is parsed before the model is sought
        refused = unknown_fields(rec.body)
        if refused:
            return refused
    if rec.model not in models and not (rec.model in BETA_ALIASES and not on_v1):
        return not_found(rec, False)
    return None
