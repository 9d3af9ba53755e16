"""The fake's Batch and Files service, as google-genai 3.x calls it: the manual.

`fake.batches` (a BatchService on every FakeGemini) serves, on the Developer API paths
(tests/fake_batch_rules.py ROUTES):

  POST {v}/models/M:batchGenerateContent  client.batches.create(model, src=[...] | "files/ID")
  GET {v}/batches/ID, GET {v}/batches     batches.get, batches.list (paged: `operations`)
  POST {v}/batches/ID:cancel, DELETE      batches.cancel, batches.delete
  POST upload/{v}/files (+ ?upload_id=)   files.upload: the resumable start, then upload+finalize
  GET {v}/files/ID[:download], DELETE     files.get, .download, .delete (tests/fake_files.py)

Each request is recorded like any other, with its action named (batchGenerateContent,
batches.get, batches.list, batches.cancel, batches.delete, files.upload,
files.upload.data, files.get, files.delete, files.download): `fake.counts` counts them
by action beside generateContent, so a test can say "1 job, 0 interactive calls".

Strict like the service (each rule's source in fake_batch_rules.py): a create body over
`inline_limit` (20 MiB), unknown fields in the batch or in any request, a missing
display name, a model or version the service refuses (the interactive refusal is run
on every inline request), an unknown input file; bad names; a cancel of an ended job.

Progress: a job is created PENDING; with `advance_on_get` (the default) each get moves
it one state, PENDING -> RUNNING -> `outcome` (BATCH_STATE_SUCCEEDED unless a test sets
another). Or hold it (`advance_on_get = False`) and call `finish(name, state)`,
`expire(name)`, `fail(name, message)`. A job that ends with results runs every request
through the same reply choice as an interactive call (fail_when rules, queued replies,
responder, default, structured or default answer: FakeGemini._pick), so a batch answer
equals what an interactive call would get; `job.records` keeps those requests. Inline
jobs answer in `dest.inlinedResponses` (each with the request's metadata), file jobs
in a generated JSONL file (`{"key", "response"|"error"}` lines) named in
`dest.responsesFile`. A reply other than a whole 200 becomes that request's error, a
google.rpc.Status with the gRPC code. EXPIRED, CANCELLED and FAILED jobs have no results.

Faults (python-genai #1909, #2008): `shuffle` (results in another order), `drop_keys`
(True: no metadata/key on any result; a set: on those keys' results), `fail_keys`
({key: reply}: those requests get that reply, e.g. error(500, "INTERNAL")),
`lose_creates` (that many creates make the job, then answer `lost_answer`: a dropped
connection by default).
`max_page_size` caps a list page (the service's cap is not documented).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fake_batch_rules import (
    CANCELLED,
    ENDED,
    EXPIRED,
    FAILED,
    INLINE_LIMIT,
    LINE_FIELDS,
    PENDING,
    RPC_CODES,
    RUNNING,
    SUCCEEDED,
    WITH_RESULTS,
    Route,
    bad_request,
    batch_problems,
    inline_items,
    item_problems,
    not_found,
    now,
    request_problems,
    rpc_status,
    unknown,
)
from tests.fake_files import FakeFile, FileService
from tests.fake_service import DEVELOPER_VERSIONS, refusal, unknown_path, unregistered
from tests.fake_wire import Reply, RequestRecord, _finalise, drop, error

if TYPE_CHECKING:
    from tests.fake_gemini import FakeGemini

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."


@dataclass
class Item:
    """One request of a job: its key (metadata["key"] or the JSONL line's "key")."""

    key: str | None
    request: Any
    metadata: dict[str, str] | None = None  # inline requests only
    problems: list[str] = field(default_factory=list)  # what the parser refused (file lines)


@dataclass
class FakeJob:
    name: str  # batches/ID
    model: str  # the model id, without models/
    version: str
    display_name: str
    api_key: str | None
    items: list[Item]
    input_file: str | None = None
    state: str = PENDING
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)
    ended: str | None = None
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    failed: int = 0
    records: list[RequestRecord] = field(default_factory=list)  # the requests it answered

    def operation(self) -> dict[str, Any]:
        """The job as get, create and list send it: a long-running Operation whose
        metadata is the GenerateContentBatch (REST reference, batch-api)."""
        total = len(self.items)
        done = total if self.output is not None else 0
        # Proto3 JSON leaves out zero counts (and sends int64 as strings).
        stats = {k: str(v) for k, v in (("requestCount", total),
                                         ("successfulRequestCount", done - self.failed),
                                         ("failedRequestCount", self.failed),
                                         ("pendingRequestCount", 0 if self.ended else total))
                 if v}
        meta: dict[str, Any] = {"@type": _TYPE + "GenerateContentBatch", "name": self.name,
                                "model": f"models/{self.model}",
                                "displayName": self.display_name, "createTime": self.created,
                                "updateTime": self.updated, "batchStats": stats,
                                "state": self.state}
        if self.ended:
            meta["endTime"] = self.ended
        if self.output is not None:
            meta["output"] = self.output
        op: dict[str, Any] = {"name": self.name, "metadata": meta}
        if self.state in ENDED:
            op["done"] = True
            if self.error is not None:
                op["error"] = self.error
            elif self.output is not None:
                op["response"] = {"@type": _TYPE + "GenerateContentBatchOutput", **self.output}
        return op


class BatchService:
    def __init__(self, fake: FakeGemini) -> None:
        self.fake = fake
        self.jobs: dict[str, FakeJob] = {}  # in creation order
        self.file_service = FileService(fake)
        self.files = self.file_service.files  # "files/ID" -> FakeFile, uploaded or generated
        self._lock = threading.RLock()  # taken before the fake's own lock, never after
        self.advance_on_get = True
        self.outcome = SUCCEEDED
        self.inline_limit = INLINE_LIMIT
        self.page_size = 10  # the service's default is not documented; small to page
        self.max_page_size = 1000  # nor its largest page: lower it to make a client page
        self.lose_creates = 0  # creates that make the job, then answer `lost_answer`
        self.lost_answer = drop()  # or error(503, "UNAVAILABLE"), which the SDK retries
        self.shuffle = False
        self.drop_keys: bool | set[str] = False
        self.fail_keys: dict[str, Reply] = {}

    # The tests' controls.
    def job(self, name: str) -> FakeJob:
        with self._lock:
            return self.jobs[name]

    def finish(self, name: str, state: str = SUCCEEDED) -> FakeJob:
        """End a job now in `state` (a wire name), answering its requests if it has results."""
        with self._lock:
            job = self.jobs[name]
            if state in WITH_RESULTS:
                self._run(job)
            elif state == FAILED and job.error is None:
                job.error = {"code": RPC_CODES["INTERNAL"], "message": "The batch failed."}
            job.state = state
            job.ended = job.updated = now()
            return job

    def expire(self, name: str) -> FakeJob:
        return self.finish(name, EXPIRED)

    def fail(self, name: str, message: str = "The batch failed.") -> FakeJob:
        with self._lock:
            self.jobs[name].error = {"code": RPC_CODES["INTERNAL"], "message": message}
            return self.finish(name, FAILED)

    def clear(self) -> None:
        """Forget every job and file (FakeGemini.reset keeps them: they are the service's)."""
        with self._lock:
            self.jobs.clear()
            self.file_service.clear()

    # The handler's entry.
    def handle(self, route: Route, rec: RequestRecord, raw: bytes) -> Reply:
        if route.version not in DEVELOPER_VERSIONS:
            return unknown_path(rec.path.split("?", 1)[0])
        # The upload URL is the upload's credential: google-genai sends its data without
        # the key (_api_client._upload_fd), as resumable upload sessions allow.
        if not rec.api_key and route.action != "files.upload.data":
            return unregistered()
        with self._lock:
            if route.action == "batchGenerateContent":
                return self._create(route, rec, raw)
            if route.action == "batches.list":
                return self._list(route)
            if route.action.startswith("files."):
                return self.file_service.handle(route, rec, raw)
            job = self.jobs.get(f"batches/{route.id}")
            if job is None:
                return not_found()
            if route.action == "batches.get":
                if self.advance_on_get and job.state not in ENDED:
                    self._advance(job)
                return Reply(payload=job.operation())
            if route.action == "batches.cancel":
                if job.state in ENDED:
                    # What the service answers here is not documented nor reported; the
                    # fake refuses, as AIP-136 custom methods on a finished resource do.
                    return error(400, "FAILED_PRECONDITION",
                                 f"Batch {job.name} has already ended ({job.state}).")
                self.finish(job.name, CANCELLED)
                return Reply(payload={})
            del self.jobs[job.name]  # batches.delete
            return Reply(payload={})

    def _inner(self, version: str, model: str, key: str | None, request: Any,
               action: str) -> RequestRecord:
        """One request of a batch, as an interactive call would have been recorded."""
        return RequestRecord(path=f"/{version}/models/{model}:generateContent", method="POST",
                             api_version=version, model=model,
                             body=request if isinstance(request, dict) else None,
                             api_key=key, headers={}, start=time.monotonic(), action=action)

    def _create(self, route: Route, rec: RequestRecord, raw: bytes) -> Reply:
        if len(raw) > self.inline_limit:
            return error(400, "INVALID_ARGUMENT",
                         f"Request payload size exceeds the limit: {self.inline_limit} bytes.")
        models = frozenset(self.fake.models)
        model = route.model or ""
        refused = refusal(self._inner(route.version, model, rec.api_key, {},
                                      "batchGenerateContent"), models)
        if refused is not None:
            return refused
        lines = batch_problems(rec.body)
        if lines:
            return bad_request(lines)
        assert rec.body is not None
        batch = rec.body["batch"]
        found = inline_items(rec.body)
        items: list[Item] = []
        input_file = None
        if found is None:
            source = batch.get("inputConfig", batch.get("input_config"))
            input_file = str(source.get("fileName", source.get("file_name")))
            file = self.files.get(input_file)
            if file is None:  # the service's words for it are not known: AIP-193's
                return not_found()
            if "json" not in file.mime_type:
                return bad_request([f"{input_file}: a batch input file must be JSONL "
                                    f"(its MIME type is {file.mime_type})."])
            items = list(_file_items(file.data))
        else:
            if not isinstance(found, list) or not found:
                return bad_request(["batch.input_config.requests.requests: at least one "
                                    "request is required."])
            for i, item in enumerate(found):
                lines += item_problems(item, i)
                request = item.get("request") if isinstance(item, dict) else None
                if isinstance(request, dict) and request.get("model") not in (
                        None, f"models/{model}"):
                    # Not known from the service; refused so a mixed-up model shows.
                    lines.append(f"batch.input_config.requests.requests[{i}].request.model: "
                                 f"{request['model']} is not the batch's model models/{model}.")
                if not lines:
                    refused = refusal(self._inner(route.version, model, rec.api_key, request,
                                                  "batchGenerateContent"), models)
                    if refused is not None:
                        return refused
                    metadata = item.get("metadata")
                    items.append(Item(metadata.get("key") if metadata else None, request,
                                      metadata))
            if lines:
                return bad_request(lines)
        name = f"batches/{uuid.uuid4().hex[:20]}"
        job = FakeJob(name, model, route.version, str(batch.get("displayName",
                      batch.get("display_name"))), rec.api_key, items, input_file)
        self.jobs[name] = job
        if self.lose_creates > 0:  # made, but the answer never arrives
            self.lose_creates -= 1
            return self.lost_answer
        return Reply(payload=job.operation())

    def _list(self, route: Route) -> Reply:
        try:
            size = min(int(route.query.get("pageSize", self.page_size)), self.max_page_size)
            start = int(route.query.get("pageToken") or 0)
        except ValueError:
            return error(400, "INVALID_ARGUMENT", "Invalid page token or page size.")
        newest = list(reversed(self.jobs.values()))
        page = newest[start:start + max(size, 1)]
        payload: dict[str, Any] = {"operations": [job.operation() for job in page]}
        if start + len(page) < len(newest):
            payload["nextPageToken"] = str(start + len(page))
        return Reply(payload=payload)

    def _advance(self, job: FakeJob) -> None:
        if job.state == PENDING:
            job.state, job.updated = RUNNING, now()
        else:
            self.finish(job.name, self.outcome)

    def _run(self, job: FakeJob) -> None:
        """Answer every request of the job, as interactive calls would be answered."""
        results: list[tuple[Item, dict[str, Any]]] = []
        for item in job.items:
            if item.problems:
                results.append((item, {"error": {"code": RPC_CODES["INVALID_ARGUMENT"],
                                                 "message": "\n".join(item.problems)}}))
                continue
            rec = self._inner(job.version, job.model, job.api_key, item.request, "batchRequest")
            job.records.append(rec)
            refused = refusal(rec, frozenset(self.fake.models))
            reply = refused or (self.fail_keys.get(item.key) if item.key is not None
                                else None) or self.fake._pick(rec)
            whole = (reply.status == 200 and reply.action == "respond" and reply.raw is None
                     and reply.cut_after is None)
            results.append((item, {"response": _finalise(reply, rec)} if whole
                            else {"error": rpc_status(reply)}))
            rec.status, rec.end = reply.status, time.monotonic()
        job.failed = sum("error" in r for _, r in results)
        if self.shuffle and len(results) > 1:
            before = list(results)
            random.Random(job.name).shuffle(results)
            if results == before:
                results.reverse()
        drop = self.drop_keys

        def dropped(item: Item) -> bool:
            return drop is True or (isinstance(drop, set) and item.key in drop)

        if job.input_file is None:
            job.output = {"inlinedResponses": {"inlinedResponses": [
                {**r, **({"metadata": item.metadata} if item.metadata and not dropped(item)
                         else {})} for item, r in results]}}
            return
        text = "".join(json.dumps({**({"key": item.key} if item.key is not None
                                      and not dropped(item) else {}), **r}) + "\n"
                       for item, r in results)
        out = FakeFile(f"files/batch-{job.name.split('/')[1]}", "application/jsonl",
                       text.encode(), "GENERATED")
        self.files[out.name] = out
        job.output = {"responsesFile": out.name}


def _file_items(data: bytes) -> Iterator[Item]:
    """The requests of a JSONL input file; a line the parser refuses becomes an item
    whose request fails (the service reads the file after the job is created)."""
    for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield Item(None, None, problems=[f"line {n}: not JSON"])
            continue
        if not isinstance(obj, dict):
            yield Item(None, None, problems=[f"line {n}: not a JSON object"])
            continue
        key = obj.get("key") if isinstance(obj.get("key"), str) else None
        problems = unknown(obj, LINE_FIELDS, f"line {n}")
        problems += request_problems(obj.get("request"), f"line {n}.request")
        yield Item(key, obj.get("request"), problems=problems)
