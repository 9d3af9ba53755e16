"""Gemini's Batch service behind the model seam: submit, find, poll, cancel, collect.

The core hands over keyed ModelRequests and gets back, per key, the same Reply an
interactive call returns, or the reason there is none. Each request carries exactly
what an interactive call carries (gemini.generation_config), and failures are worded as
interactive ones are (GeminiModel.explain, gemini.refused_reason). Results are matched
by key, never by position: the service returns them out of order and drops keys
(python-genai #1909, #2008), so a result without a key we sent is counted unmatched and
its request is the caller's to submit again. Creating a job is not idempotent: nothing
here retries a create; a create whose fate is unknown is looked for by display name.

google-genai is imported inside functions only (it costs ~1 s). Nothing here records
anything: what to keep, and where, is the core's.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from meta_prompting.errors import GenerationError
from meta_prompting.models.base import ModelRequest, Reply
from meta_prompting.models.gemini import (
    GeminiModel,
    generation_config,
    raw_answer,
    refused_reason,
    reply_of,
)
from meta_prompting.models.keys import holds_key, scrub_secrets, use_vertex

# "inline requests must stay under 20 MB in all" (Batch API guide); the margin covers
# the envelope around the requests and what the SDK adds to our estimate of them.
INLINE_LIMIT = 18_000_000
JOB_NAME = re.compile(r"^batches/[^/]+$")  # google-genai t_batch_job_name's own check
ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"})
WITH_RESULTS = frozenset({"SUCCEEDED", "PARTIALLY_SUCCEEDED"})
# A request's error in a batch is a google.rpc.Status; as the HTTP error an interactive
# call would have got (google/rpc/code.proto's mapping) it is worded the same way.
RPC_HTTP = {1: (499, "CANCELLED"), 2: (500, "UNKNOWN"), 3: (400, "INVALID_ARGUMENT"),
            4: (504, "DEADLINE_EXCEEDED"), 5: (404, "NOT_FOUND"), 6: (409, "ALREADY_EXISTS"),
            7: (403, "PERMISSION_DENIED"), 8: (429, "RESOURCE_EXHAUSTED"),
            9: (400, "FAILED_PRECONDITION"), 10: (409, "ABORTED"), 11: (400, "OUT_OF_RANGE"),
            12: (501, "UNIMPLEMENTED"), 13: (500, "INTERNAL"), 14: (503, "UNAVAILABLE"),
            15: (500, "DATA_LOSS"), 16: (401, "UNAUTHENTICATED")}
# Settings the service takes on the request itself rather than in generationConfig
# (google-genai _GenerateContentConfig_to_mldev writes these to the request).
REQUEST_LEVEL = ("systemInstruction", "safetySettings", "tools", "toolConfig",
                 "cachedContent", "labels", "serviceTier")


class NotCreated(GenerationError):
    """The job was certainly not made (refused, or never sent): its requests are free.
    Any other GenerationError from submit leaves it unknown: look for it by name."""


@dataclass(frozen=True)
class JobStatus:
    """A job as the service last described it; counts are None when it did not say."""

    name: str  # batches/ID
    display_name: str
    state: str  # PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED
    total: int | None = None
    done: int | None = None  # answered or failed
    failed: int | None = None
    created: str | None = None  # RFC 3339, the service's clock
    error: str | None = None  # why a FAILED job failed, scrubbed

    @property
    def ended(self) -> bool:
        """True once the job will change no more; PARTIALLY_SUCCEEDED too, which
        google-genai's job.done leaves out (a `while not job.done` loop never ends)."""
        return self.state in ENDED

    @property
    def has_results(self) -> bool:
        return self.state in WITH_RESULTS


@dataclass(frozen=True)
class Submitted:
    name: str  # batches/ID: the job to poll and collect
    display_name: str
    requests: int
    input_file: str | None  # files/ID when the requests went as a JSONL file


@dataclass(frozen=True)
class Failure:
    """A request the job answered without a usable answer; `reason` is one line."""

    reason: str


@dataclass(frozen=True)
class Collected:
    status: JobStatus
    results: dict[str, Reply | Failure]  # by key
    unmatched: int  # results without a key we sent (or with one sent twice): used for none
    missing: frozenset[str]  # keys sent and not answered: to be submitted again


def state_name(state: Any) -> str:
    """PENDING, RUNNING...: the wire's BATCH_STATE_X or the SDK's JOB_STATE_X, bare."""
    text = str(getattr(state, "name", state) or "UNSPECIFIED")
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def status_of(operation: dict[str, Any]) -> JobStatus:
    """Pure: a JobStatus from the Operation the service sends for a job (REST reference,
    batch-api: metadata is the GenerateContentBatch; int64 counts come as strings and a
    zero count is left out)."""
    meta = operation.get("metadata") or {}
    stats = meta.get("batchStats")
    total = done = failed = None
    if isinstance(stats, dict):
        total, failed = _int(stats, "requestCount"), _int(stats, "failedRequestCount")
        done = _int(stats, "successfulRequestCount") + failed
    err = operation.get("error")
    why = scrub_secrets(str(err.get("message") or err)) if isinstance(err, dict) else None
    return JobStatus(str(operation.get("name") or meta.get("name") or ""),
                     str(meta.get("displayName") or ""), state_name(meta.get("state")),
                     total, done, failed, meta.get("createTime"), why)


def _int(stats: dict[str, Any], name: str) -> int:
    try:
        return int(stats.get(name) or 0)
    except (TypeError, ValueError):
        return 0


def rest_request(request: ModelRequest) -> dict[str, Any]:
    """The request as the service's REST API takes it, for a JSONL line: camelCase,
    systemInstruction on the request, settings under generationConfig. Built from the
    same SDK settings an interactive call sends; the SDK converts nothing in a file."""
    settings = generation_config(request).model_dump(mode="json", by_alias=True,
                                                     exclude_none=True)
    line: dict[str, Any] = {"contents": [_content(request.user)]}
    for name in REQUEST_LEVEL:
        if name in settings:
            line[name] = settings.pop(name)
    if isinstance(line.get("systemInstruction"), str):
        line["systemInstruction"] = _content(line["systemInstruction"])
    if settings:
        line["generationConfig"] = settings
    return line


def _content(text: str) -> dict[str, Any]:
    return {"parts": [{"text": text}], "role": "user"}  # what the SDK's t_content makes


class GeminiBatch:
    """One model's batch jobs, through the SDK client an interactive call would use."""

    def __init__(self, model: str, timeout: float = 60.0, *,
                 inline_limit: int = INLINE_LIMIT) -> None:
        self.model = model
        self.inline_limit = inline_limit
        self._gemini = GeminiModel(model, timeout)

    def submit(self, requests: Sequence[tuple[str, ModelRequest]],
               display_name: str) -> Submitted:
        """One job for `requests` (key, request): inline under the inline limit, else a
        JSONL file through the Files API. The key must be unique and is the result's."""
        keys = [key for key, _ in requests]
        if not requests or not display_name or len(set(keys)) != len(keys) or not all(
                isinstance(k, str) and k for k in keys):
            raise ValueError("submit needs requests with unique, non-empty keys and a "
                             "display name")
        if use_vertex():
            raise NotCreated("the Batch service is used through the Gemini Developer "
                             "API only (Vertex AI batches read from Cloud Storage)")
        data = "".join(json.dumps({"key": key, "request": rest_request(request)}) + "\n"
                       for key, request in requests).encode("utf-8")
        if holds_key(data.decode("utf-8") + display_name):  # a job keeps them 48 hours
            raise NotCreated("a request holds the API key; nothing was submitted")
        input_file = None
        if len(data) < self.inline_limit:
            src: Any = [{"contents": request.user, "config": generation_config(request),
                         "metadata": {"key": key}} for key, request in requests]
        else:
            try:
                input_file = src = self._upload(data, display_name)
            except GenerationError as e:  # no create was sent: no job
                raise NotCreated(str(e)) from e.__cause__
        return Submitted(self._create(src, display_name), display_name, len(requests),
                         input_file)

    def find(self, display_name: str) -> list[JobStatus]:
        """The service's jobs with this display name, newest first: the job a crash
        between create and record left unrecorded."""
        found: list[JobStatus] = []
        token = ""
        while True:
            query = {"pageSize": 100, **({"pageToken": token} if token else {})}
            page = self._read(f"batches?{urlencode(query)}")
            found += [s for s in map(status_of, page.get("operations") or [])
                      if s.display_name == display_name]
            token = page.get("nextPageToken") or ""
            if not token:
                return found

    def poll(self, name: str) -> JobStatus:
        return status_of(self._read(_checked(name)))

    def cancel(self, name: str) -> JobStatus:
        """Cancel the job (one that has already ended is left as it is); its state after."""
        client = self._gemini._get_client()
        try:
            self._call(lambda: client.batches.cancel(name=_checked(name)))
        except GenerationError as e:
            if getattr(e.__cause__, "status", None) != "FAILED_PRECONDITION":
                raise
        return self.poll(name)

    def delete(self, name: str) -> None:
        client = self._gemini._get_client()
        self._call(lambda: client.batches.delete(name=_checked(name)))

    def collect(self, name: str, keys: Iterable[str],
                max_tokens: int | None = None) -> Collected:
        """The ended job's results for `keys` (those submitted), matched by key only.
        `max_tokens` is the limit the requests carried, for the words of a cut-off one."""
        operation = self._read(_checked(name))
        status = status_of(operation)
        wanted = frozenset(keys)
        if not status.ended:
            raise GenerationError(f"batch {name} has not ended: it is {status.state}")
        if not status.has_results:
            return Collected(status, {}, 0, wanted)
        output = (operation.get("metadata") or {}).get("output") or operation.get(
            "response") or {}
        if output.get("responsesFile"):
            items = self._download(str(output["responsesFile"]))
        else:
            items = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
        keyed = [(_key_of(item), item) for item in items if isinstance(item, dict)]
        seen = Counter(key for key, _ in keyed)
        results = {key: self._result(item, max_tokens) for key, item in keyed
                   if key in wanted and seen[key] == 1}
        unmatched = len(items) - len(results)
        return Collected(status, results, unmatched, wanted - results.keys())

    def _result(self, item: dict[str, Any], max_tokens: int | None) -> Reply | Failure:
        if item.get("error") or not isinstance(item.get("response"), dict):
            return Failure(self._failure(item.get("error")))
        from google.genai import types

        try:
            # _from_response drops fields this SDK does not know (its models forbid
            # extras), as it does for every answer it parses; camelCase is its alias.
            response = types.GenerateContentResponse._from_response(
                response=item["response"], kwargs={})
            return reply_of(response, raw_answer(response), self.model)
        except GenerationError as e:
            return Failure(refused_reason(e, max_tokens))
        except Exception as e:  # noqa: BLE001 - an answer the SDK cannot read is a reason
            return Failure(scrub_secrets(f"the service sent an answer that cannot be read "
                                         f"({type(e).__name__})"))

    def _failure(self, status: Any) -> str:
        """A request's google.rpc.Status in the words an interactive call's error gets."""
        from google.genai import errors

        status = status if isinstance(status, dict) else {}
        http, name = RPC_HTTP.get(status.get("code") or 2, (500, "UNKNOWN"))
        error = errors.APIError(http, {"error": {"code": http, "status": name, "message": str(
            status.get("message") or "the service gave no reason")}})
        return scrub_secrets(self._gemini._explain_api(error, retried=False))

    def _client(self) -> Any:
        return self._gemini._get_client()

    def _call(self, attempt: Any) -> Any:
        """`attempt()` as interactive calls make theirs: 429s waited out as the service
        asks, within the timeout; every failure one scrubbed GenerationError line."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK warns of states it does not map
                return self._gemini._send(attempt)
        except GenerationError:
            raise  # _send's own (a wait past the timeout), already scrubbed
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self._gemini.explain(e))) from e

    def _read(self, path: str) -> dict[str, Any]:
        """The service's own JSON for a GET, through the SDK's client (its key, base URL,
        version and retries). Its typed BatchJob drops batchStats and the job's error on
        the Developer API (batches.py _BatchJob_from_mldev) and its list has no counts,
        so jobs are read from the wire, as status_of describes."""
        client = self._client()
        response = self._call(lambda: client._api_client.request("get", path, {}))
        data = json.loads(response.body or "{}")
        return data if isinstance(data, dict) else {}

    def _upload(self, data: bytes, display_name: str) -> str:
        from google.genai import types

        client = self._client()
        # mime_type "jsonl" as the Batch API guide uploads it; a File's display name is
        # at most 512 characters (Files API reference).
        config = types.UploadFileConfig(mime_type="jsonl", display_name=display_name[:512])
        uploaded = self._call(lambda: client.files.upload(file=io.BytesIO(data), config=config))
        return str(uploaded.name)

    def _download(self, file_name: str) -> list[Any]:
        client = self._client()
        data = self._call(lambda: client.files.download(file=file_name))
        lines = []
        for line in bytes(data).decode("utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append(None)  # unreadable: counted unmatched, its key resubmitted
        return lines

    def _create(self, src: Any, display_name: str) -> str:
        from google.genai import errors, types

        client = self._client()
        # Once, never retried: a create that timed out may still have made the job.
        config = types.CreateBatchJobConfig(display_name=display_name, http_options=(
            types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))))
        try:
            job = self._call(lambda: client.batches.create(model=self.model, src=src,
                                                           config=config))
        except GenerationError as e:
            if isinstance(e.__cause__, errors.ClientError):
                raise NotCreated(str(e)) from e.__cause__  # refused: no job was made
            made = self.find(display_name)  # an answer lost on the way: look before failing
            if not made:
                raise
            return made[0].name
        return str(job.name)


def _checked(name: str) -> str:
    if not JOB_NAME.match(name or ""):
        raise GenerationError(f"{name!r} is not a batch job's name (batches/ID)")
    return name


def _key_of(item: dict[str, Any]) -> str | None:
    """The key a result carries: "key" on a JSONL line, metadata.key inline; else None."""
    key = item.get("key") if "key" in item else (item.get("metadata") or {}).get("key")
    return key if isinstance(key, str) else None
