"""What the Batch and Files endpoints accept, and the shapes they answer with.

Pure functions over request bodies, used by tests/fake_batch.py: which path asks for
what, which fields a batch and each request in it may carry, and how a job, a file
and a per-request error look on the wire. Each rule says where its fact is from;
where the real service's answer is not known, the comment says so and the fake
refuses anyway, so a mistake in our client shows.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_wire import Reply, error

# "inline requests must stay under 20 MB in all" (Batch API guide, ai.google.dev/gemini-api/
# docs/batch-mode). The words are Google's front end's for any request over its limit
# ("Request payload size exceeds the limit: 20971520 bytes."), 20 MiB; not seen for a batch.
INLINE_LIMIT = 20 * 1024 * 1024

# The states a batch goes through, as the Developer API sends them (REST reference,
# ai.google.dev/api/batch-api, enum BatchState; google-genai _transformers.t_job_state
# maps each to JOB_STATE_*). PARTIALLY_SUCCEEDED is in the SDK's JobState (types.py) but
# not among the BATCH_STATE_ names t_job_state maps: sent as BATCH_STATE_PARTIALLY_SUCCEEDED
# the SDK passes it through with a warning; tests may send either spelling (finish()).
PENDING, RUNNING = "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"
SUCCEEDED, FAILED = "BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED"
CANCELLED, EXPIRED = "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"
PARTIALLY_SUCCEEDED = "BATCH_STATE_PARTIALLY_SUCCEEDED"
ENDED = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED,
                   "JOB_STATE_PARTIALLY_SUCCEEDED"})
WITH_RESULTS = frozenset({SUCCEEDED, PARTIALLY_SUCCEEDED, "JOB_STATE_PARTIALLY_SUCCEEDED"})

# google.rpc.Code numbers: a per-request error in a batch is a google.rpc.Status
# ({"code": <number>, "message"}), not the HTTP error body (REST reference, InlinedResponse).
RPC_CODES = {"CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
             "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7,
             "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "ABORTED": 10,
             "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
             "DATA_LOSS": 15, "UNAUTHENTICATED": 16}

# The fields of GenerateContentRequest and GenerationConfig: what google-genai 3.6.1's
# _GenerateContentConfig_to_mldev (batches.py) writes, which follows the REST reference
# (ai.google.dev/api/generate-content). Protobuf's JSON parser also takes each field's
# snake_case name, so `generation_config` is accepted and `config` (the SDK's own word,
# which a JSONL file must not use: the SDK converts nothing there) is not.
REQUEST_FIELDS = frozenset({
    "model", "contents", "systemInstruction", "generationConfig", "safetySettings", "tools",
    "toolConfig", "cachedContent", "labels", "serviceTier", "store"})
GENERATION_FIELDS = frozenset({
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
    "responseLogprobs", "logprobs", "presencePenalty", "frequencyPenalty", "seed",
    "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
    "mediaResolution", "speechConfig", "thinkingConfig", "imageConfig",
    "enableEnhancedCivicAnswers", "audioTranscriptionConfig"})
# GenerateContentBatch's writable fields (REST reference): displayName is "Required".
BATCH_FIELDS = frozenset({"displayName", "inputConfig", "priority", "model", "name"})
# A line of a JSONL input file (Batch API guide): {"key": ..., "request": {...}}.
LINE_FIELDS = frozenset({"key", "request"})

ROUTES = (
    ("POST", re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):batchGenerateContent$"),
     "batchGenerateContent"),
    ("GET", re.compile(r"^/(?P<version>[^/]+)/batches$"), "batches.list"),
    ("GET", re.compile(r"^/(?P<version>[^/]+)/batches/(?P<id>[^/:]+)$"), "batches.get"),
    ("DELETE", re.compile(r"^/(?P<version>[^/]+)/batches/(?P<id>[^/:]+)$"), "batches.delete"),
    ("POST", re.compile(r"^/(?P<version>[^/]+)/batches/(?P<id>[^/:]+):cancel$"),
     "batches.cancel"),
    ("POST", re.compile(r"^/upload/(?P<version>[^/]+)/files$"), "files.upload"),
    ("GET", re.compile(r"^/(?P<version>[^/]+)/files/(?P<id>[^/:]+)$"), "files.get"),
    ("DELETE", re.compile(r"^/(?P<version>[^/]+)/files/(?P<id>[^/:]+)$"), "files.delete"),
    ("GET", re.compile(r"^/(?P<version>[^/]+)/files/(?P<id>[^/:]+):download$"),
     "files.download"),
)


@dataclass(frozen=True)
class Route:
    action: str  # batchGenerateContent, batches.get, files.upload, files.upload.data...
    version: str
    model: str | None
    id: str | None
    query: dict[str, str]


def route_of(method: str, path: str) -> Route | None:
    """The batch or file endpoint a request is for, or None (not one of these)."""
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for verb, pattern, action in ROUTES:
        m = pattern.match(parts.path)
        if m and verb == method:
            if action == "files.upload" and "upload_id" in query:
                action = "files.upload.data"  # the resumable protocol's second call
            found = m.groupdict()
            return Route(action, found["version"], found.get("model"), found.get("id"), query)
    return None


def now() -> str:
    """An RFC 3339 time, as the service writes createTime and updateTime."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> list[str]:
    """Protobuf's JSON parser's line for each field `allowed` does not name."""
    return [f'Invalid JSON payload received. Unknown name "{name}"'
            + (f" at '{where}'" if where else "") + ": Cannot find field."
            for name in obj if _camel(name) not in allowed]


def request_problems(request: Any, where: str) -> list[str]:
    """What the service's parser refuses in one GenerateContentRequest."""
    if not isinstance(request, dict):
        return [f"Invalid value at '{where}': a GenerateContentRequest must be an object."]
    lines = unknown(request, REQUEST_FIELDS, where)
    config = request.get("generationConfig", request.get("generation_config"))
    if isinstance(config, dict):
        lines += unknown(config, GENERATION_FIELDS, f"{where}.generation_config")
    return lines


def bad_request(lines: list[str]) -> Reply:
    """A 400 whose message has a line per problem, listed as fieldViolations too, as
    the service answers a body its parser refuses (see fake_service.unknown_fields)."""
    return error(400, "INVALID_ARGUMENT", "\n".join(lines), [{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"description": line} for line in lines]}])


def not_found() -> Reply:
    # The words every Google API answers an unknown resource with (AIP-193).
    return error(404, "NOT_FOUND", "Requested entity was not found.")


def batch_problems(body: Any) -> list[str]:
    """The batch's own fields (each request is checked on its own)."""
    if not isinstance(body, dict):
        return ["Invalid JSON payload received. Expected an object."]
    lines = unknown(body, frozenset({"batch"}), "")
    batch = body.get("batch")
    if not isinstance(batch, dict):
        return [*lines, "batch: a GenerateContentBatch is required."]
    lines += unknown(batch, BATCH_FIELDS, "batch")
    if not batch.get("displayName") and not batch.get("display_name"):
        # "batch.displayName string Required." (REST reference); the words are ours.
        lines.append("batch.display_name is required.")
    source = batch.get("inputConfig", batch.get("input_config"))
    if not isinstance(source, dict):
        return [*lines, "batch.input_config is required."]
    given = [k for k in source if _camel(k) in ("requests", "fileName")]
    lines += unknown(source, frozenset({"requests", "fileName"}), "batch.input_config")
    if len(given) != 1:
        lines.append("batch.input_config: exactly one of requests or file_name is required.")
    return lines


def inline_items(body: dict[str, Any]) -> list[Any] | None:
    source = body["batch"].get("inputConfig", body["batch"].get("input_config"))
    requests = source.get("requests")
    if requests is None:
        return None
    return requests.get("requests") if isinstance(requests, dict) else requests


def item_problems(item: Any, i: int) -> list[str]:
    """One InlinedRequest: {"request": GenerateContentRequest, "metadata": map<string,
    string>} (REST reference, InlinedRequest)."""
    where = f"batch.input_config.requests.requests[{i}]"
    if not isinstance(item, dict):
        return [f"Invalid value at '{where}': an InlinedRequest must be an object."]
    lines = unknown(item, frozenset({"request", "metadata"}), where)
    metadata = item.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        lines.append(f"Invalid value at '{where}.metadata': metadata is a map of strings.")
    return lines + request_problems(item.get("request"), f"{where}.request")


def rpc_status(reply: Reply) -> dict[str, Any]:
    """A failed reply as a batch reports it: a google.rpc.Status with the gRPC code."""
    if reply.action in ("hang", "drop") or reply.raw is not None or reply.cut_after:
        return {"code": RPC_CODES["INTERNAL"], "message": "An internal error has occurred."}
    err = (reply.payload or {}).get("error") or {}
    status = err.get("status") or "UNKNOWN"
    return {"code": RPC_CODES.get(status, RPC_CODES["UNKNOWN"]),
            "message": err.get("message") or f"fake {status}"}
