"""Batch collect: what matching and reading a 1,000-request job's results costs per request.

The fake Gemini server (in this process) holds two ended jobs of 1,000 requests, one
submitted inline and one as a JSONL file, every answer ~4 KB of Markdown. Paired round
by round: `GeminiBatch.collect` (read the job, download the file, match each result by
key, parse it with the SDK, check its finish reason and the key, make the Reply) against
the bare fetch any client must do (GET the job over one kept connection and json.loads
it; for the file job, the download too, each line json.loads'ed). The figure is the
median over rounds of (collect - fetch) / 1,000: our work per request, beyond the wire.
Correctness check (exit 1 if wrong): 1,000 Replies, on their own keys, from each job.
Usage: python bench/batch_collect.py [--quick] [--rounds N]
"""

from __future__ import annotations

import json
import os
import sys
import time

from common import Row, Table, command_line, finish, median, ms, paired, parse_args

from tests.fake_gemini import FAKE_API_KEY, FakeGemini, ok  # after common (sys.path)
from tests.sdk_line import httpx

N = 1000
ANSWER = ("### 1. Findings\n\n" + "- The change keeps the record whole under a kill; "
          "the lock is taken before the second look.\n" * 40 + "\n**2. Notes**\n\nNone.\n")


def measure(rounds: int) -> Table:
    from meta_prompting.models.base import ModelRequest, Reply
    from meta_prompting.models.gemini_batch import GeminiBatch

    table = Table(f"Batch collect: a {N:,}-request job, ~{len(ANSWER) // 1000} KB answers "
                  f"(median of {rounds} paired rounds)", command_line())
    # Each answer ends with its prompt, so a result on the wrong key shows.
    with FakeGemini(responder=lambda rec: ok(ANSWER + rec.prompt)) as fake:
        os.environ.update(GOOGLE_GEMINI_BASE_URL=fake.base_url, GEMINI_API_KEY=FAKE_API_KEY,
                          NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        os.environ.pop("GOOGLE_API_KEY", None)
        keys = [f"run-{i:04d}" for i in range(N)]
        asked = [(k, ModelRequest("You are a careful reviewer.", f"Review change {k}.",
                                  max_tokens=2000)) for k in keys]
        inline, by_file = GeminiBatch("gemini-2.5-flash"), GeminiBatch("gemini-2.5-flash",
                                                                        inline_limit=1)
        jobs = {"inline": inline.submit(asked, "bench-inline"),
                "file": by_file.submit(asked, "bench-file")}
        for sent in jobs.values():
            fake.batches.finish(sent.name)
        http = httpx.Client(headers={"x-goog-api-key": FAKE_API_KEY})

        def collect(batch: GeminiBatch, name: str) -> float:
            start = time.perf_counter()
            got = batch.collect(name, keys, max_tokens=2000)
            elapsed = time.perf_counter() - start
            ok_keys = [k for k, r in got.results.items()
                       if isinstance(r, Reply) and r.text.endswith(f"Review change {k}.")]
            if len(ok_keys) != N or got.unmatched:
                raise RuntimeError(f"{name}: {len(ok_keys)} replies, {got.unmatched} unmatched")
            return elapsed

        def fetch(name: str) -> float:
            start = time.perf_counter()
            op = json.loads(http.get(f"{fake.base_url}/v1beta/{name}").content)
            output = op["metadata"]["output"]
            if "responsesFile" in output:
                data = http.get(f"{fake.base_url}/v1beta/{output['responsesFile']}:download",
                                params={"alt": "media"}).content
                [json.loads(line) for line in data.splitlines()]
            return time.perf_counter() - start

        tasks = {"collect inline": lambda: collect(inline, jobs["inline"].name),
                 "fetch inline": lambda: fetch(jobs["inline"].name),
                 "collect file": lambda: collect(by_file, jobs["file"].name),
                 "fetch file": lambda: fetch(jobs["file"].name)}
        samples = paired(tasks, rounds)
        http.close()
        counts = fake.counts
    for kind in ("inline", "file"):
        got, base = samples[f"collect {kind}"], samples[f"fetch {kind}"]
        per = median([(g - b) / N for g, b in zip(got, base, strict=True)])
        table.rows.append(Row(f"{kind}: collect", ms(median(got))))
        table.rows.append(Row(f"{kind}: fetch and json.loads only", ms(median(base))))
        table.rows.append(Row(f"{kind}: overhead per request", f"{per * 1e6:.0f} us",
                              median([g / b for g, b in zip(got, base, strict=True)]),
                              note="(ratio: collect / fetch)"))
    table.rows.append(Row("model requests: 2 creates, 1 upload, 0 interactive", "",
                          check=counts["batchGenerateContent"] == 2
                          and counts["files.upload"] == 1 and counts["generateContent"] == 0))
    table.notes.append("every collect checked: 1,000 Replies on their own keys, 0 unmatched")
    return table


def main() -> int:
    args = parse_args(__doc__)
    rounds = args.rounds or (5 if args.quick else 15)
    return finish([measure(rounds)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
