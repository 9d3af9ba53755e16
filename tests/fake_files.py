"""The fake's Files API, as google-genai's client.files calls it (for batch input/output).

  POST upload/{v}/files                   files.upload's start call (resumable protocol):
                                          answers x-goog-upload-url, consumes nothing
  POST upload/{v}/files?upload_id=ID      the data, "upload" then "upload, finalize"
  GET {v}/files/ID, DELETE {v}/files/ID   files.get, files.delete
  GET {v}/files/ID:download?alt=media     files.download: generated files only

`FileService.files` maps "files/ID" to a FakeFile (name, mime_type, data, source);
tests read an uploaded file's bytes there. tests/fake_batch.py is the Batch side.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fake_batch_rules import Route, bad_request, not_found, now, unknown
from tests.fake_wire import Reply, RequestRecord, error

if TYPE_CHECKING:
    from tests.fake_gemini import FakeGemini


@dataclass
class FakeFile:
    name: str  # files/ID
    mime_type: str
    data: bytes
    source: str  # UPLOADED | GENERATED
    display_name: str | None = None
    created: str = field(default_factory=now)

    def resource(self, base_url: str) -> dict[str, Any]:
        """The File resource (REST reference, ai.google.dev/api/files)."""
        out = {"name": self.name, "mimeType": self.mime_type, "sizeBytes": str(len(self.data)),
               "createTime": self.created, "updateTime": self.created,
               "expirationTime": self.created,  # +48 h on the service; no test reads it
               "sha256Hash": base64.b64encode(hashlib.sha256(self.data).digest()).decode(),
               "uri": f"{base_url}/v1beta/{self.name}", "state": "ACTIVE", "source": self.source}
        if self.display_name:
            out["displayName"] = self.display_name
        if self.source == "GENERATED":
            out["downloadUri"] = f"{base_url}/download/v1beta/{self.name}:download?alt=media"
        return out



class FileService:
    def __init__(self, fake: FakeGemini) -> None:
        self.fake = fake
        self.files: dict[str, FakeFile] = {}
        self._uploads: dict[str, tuple[FakeFile, int]] = {}  # upload_id -> (file, size)

    def clear(self) -> None:
        self.files.clear()
        self._uploads.clear()

    def handle(self, route: Route, rec: RequestRecord, raw: bytes) -> Reply:
        if route.action == "files.upload":
            return self._upload_start(route, rec)
        if route.action == "files.upload.data":
            return self._upload_data(route, rec, raw)
        file = self.files.get(f"files/{route.id}")
        if file is None:
            return not_found()
        if route.action == "files.get":
            return Reply(payload=file.resource(self.fake.base_url))
        if route.action == "files.delete":
            del self.files[file.name]
            return Reply(payload={})
        if file.source != "GENERATED":  # files.download
            # google-genai files.py: "Only generated files can be downloaded, uploaded files
            # can't be downloaded." The service's own answer is not known.
            return error(400, "INVALID_ARGUMENT", f"{file.name} was uploaded, not generated: "
                         "only generated files can be downloaded.")
        return Reply(raw=file.data, content_type="application/octet-stream")

    def _upload_start(self, route: Route, rec: RequestRecord) -> Reply:
        # The resumable protocol as google-genai _extra_utils.prepare_resumable_upload
        # speaks it: a start call whose answer carries x-goog-upload-url.
        h = {k.lower(): v for k, v in rec.headers.items()}
        if (h.get("x-goog-upload-protocol") != "resumable"
                or h.get("x-goog-upload-command") != "start"):
            return error(400, "INVALID_ARGUMENT", "Expected a resumable upload start.")
        meta = (rec.body or {}).get("file") or {}
        lines = unknown(meta, frozenset({"name", "displayName", "mimeType", "sizeBytes"}), "file")
        if lines:
            return bad_request(lines)
        name = meta.get("name") or f"files/{uuid.uuid4().hex[:12]}"
        if name in self.files:
            return error(409, "ALREADY_EXISTS", f"File {name} already exists.")
        try:
            size = int(h.get("x-goog-upload-header-content-length", ""))
        except ValueError:
            return error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Header-Content-Length is "
                         "required.")
        mime = meta.get("mimeType") or meta.get("mime_type") or h.get(
            "x-goog-upload-header-content-type") or "application/octet-stream"
        upload_id = uuid.uuid4().hex
        self._uploads[upload_id] = (FakeFile(name, mime, b"", "UPLOADED",
                                             meta.get("displayName", meta.get("display_name"))),
                                    size)
        url = (f"{self.fake.base_url}/upload/{route.version}/files?upload_id={upload_id}"
               "&upload_protocol=resumable")
        return Reply(raw=b"", headers=(("x-goog-upload-url", url),
                                       ("x-goog-upload-status", "active")))

    def _upload_data(self, route: Route, rec: RequestRecord, raw: bytes) -> Reply:
        h = {k.lower(): v for k, v in rec.headers.items()}
        found = self._uploads.get(route.query["upload_id"])
        if found is None:
            return not_found()
        file, size = found
        if h.get("x-goog-upload-offset") != str(len(file.data)):
            return error(400, "INVALID_ARGUMENT", "The upload offset does not match the bytes "
                         "received.")
        file.data += raw
        if "finalize" not in h.get("x-goog-upload-command", ""):
            return Reply(raw=b"", headers=(("x-goog-upload-status", "active"),))
        del self._uploads[route.query["upload_id"]]
        if len(file.data) != size:
            return error(400, "INVALID_ARGUMENT", f"Received {len(file.data)} bytes, "
                         f"{size} were announced.")
        self.files[file.name] = file
        return Reply(payload={"file": file.resource(self.fake.base_url)},
                     headers=(("x-goog-upload-status", "final"),))
