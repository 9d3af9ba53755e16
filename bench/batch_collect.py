"""Batch collect: what matching and reading a 1,000-request job's results costs per request.

The fake Gemini server (in this process) holds two ended jobs of 1,000 requests, one
submitted inline and one as a JSONL file, every answer ~4 KB of Markdown. Paired round
by round: `GeminiBatch.collect` (read the job, download the file, match each result by
key, parse it with the SDK, check its finish reason and the key, make the Reply) against
the bare fetch any client must do (GET the job over one kept connection and json.loads
it; for the file job, the download too, each line json.loads'ed). The figure is the
median over rounds of (collect - fetch) / 1,000: our work per request, beyond the wire.
Correctness check (exit 1 if wrong): 1,000 Replies, on their own keys, from each job.

Then the same through the command line, end to end: a tasks file of 1,000 rows sent
as one job with `--tasks --batch` (exit 5), the job ended at the fake, and the project
folder kept as it stood. Paired round by round: `--tasks --batch` collecting the job
(the folder restored first, untimed: poll, read, match, keep 1,000 run folders whole,
mark the job collected, then the usual --tasks run writing RESULTS.md) against the same
command once every answer is kept and the job collected (which sends nothing). The
figure is (collect - kept) / 1,000: what collecting adds per request, through the CLI.
For scale, the same 1,000 answers made interactively by --tasks (in another project,
emptied before each round) against the fake, which answers at once: no network
latency, so a floor for the interactive path.
Checks: 1 job, 0 interactive calls, 1,000 run folders each naming the job.
Usage: python bench/batch_collect.py [--quick] [--rounds N] [--rows N]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Row,
    Table,
    command_line,
    finish,
    gen_env,
    machine,
    median,
    ms,
    paired,
    parse_args,
    run,
)
from tasks import tasks_command, workspace

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


def through_cli(rows: int, rounds: int) -> Table:
    table = Table(f"Batch collect through the CLI: --tasks --batch, {rows:,} rows "
                  f"(median of {rounds} paired rounds)", command_line())
    model = ("--model", "gemini-2.5-flash")
    with tempfile.TemporaryDirectory() as tmp, FakeGemini(
            responder=lambda rec: ok(ANSWER + rec.prompt[-40:])) as fake:
        fake.batches.advance_on_get = False
        work = workspace(Path(tmp) / "w", rows)
        env = gen_env(fake.base_url)
        command = tasks_command("batch", *model, "--batch")
        _, code = run(command, env, cwd=work, timeout=900, check=False)
        [name] = fake.batches.jobs
        fake.batches.finish(name)
        project = work / "lib" / "output" / "batch"
        saved = Path(tmp) / "saved"
        shutil.copytree(project, saved, symlinks=True)
        submitted = fake.counts

        def collect() -> float:
            shutil.rmtree(project)
            shutil.copytree(saved, project, symlinks=True)
            return run(command, env, cwd=work, timeout=900)[0]

        def kept() -> float:
            return run(command, env, cwd=work, timeout=900)[0]

        alone = work / "lib" / "output" / "alone"

        def interactive() -> float:  # for scale: the same answers asked one by one
            shutil.rmtree(alone, ignore_errors=True)
            return run(tasks_command("alone", *model), env, cwd=work, timeout=900)[0]

        before = fake.counts["generateContent"]
        got = paired({"collect": collect, "kept": kept, "interactive": interactive}, rounds)
        asked = fake.counts["generateContent"] - before
        counts = fake.counts
        counts["generateContent"] -= asked  # the interactive runs' own
        runs = [json.loads((p / "run.json").read_text())
                for p in (project / "runs").iterdir() if not p.name.startswith(".")]
    per = [(c - k) / rows for c, k in zip(got["collect"], got["kept"], strict=True)]
    table.rows += [
        Row(f"--tasks --batch collecting a {rows:,}-request job", ms(median(got["collect"]))),
        Row("the same, every answer kept and the job collected", ms(median(got["kept"]))),
        Row("collecting: added per request", f"{median(per) * 1e6:.0f} us",
            median(got["collect"]) / median(got["kept"]), note="(ratio: collect / kept)"),
        Row(f"for scale: --tasks making the {rows:,} answers interactively (info)",
            ms(median(got["interactive"])),
            median(got["interactive"]) / median(got["collect"]),
            note="(ratio: interactive / collect; the fake answers at once)"),
        Row(f"submit: exit 5, 1 job of {rows:,} requests, 0 interactive", "",
            check=code == 5 and submitted["batchGenerateContent"] == 1
            and len(fake.batches.jobs[name].items) == rows
            and submitted["generateContent"] == 0),
        Row(f"collected: {rows:,} run folders naming the job, still 1 job, 0 interactive",
            "", check=len(runs) == rows and all(r["record"]["batch"] == name for r in runs)
            and counts["batchGenerateContent"] == 1 and counts["generateContent"] == 0),
    ]
    table.notes.append(f"{machine()}; the project folder restored before each collect "
                       "(untimed); each collect polls once and reads the job once")
    return table


def main() -> int:
    args = parse_args(__doc__, lambda p: p.add_argument("--rows", type=int,
                                                         help="CLI rows (default 1000)"))
    rounds = args.rounds or (5 if args.quick else 15)
    rows = args.rows or (200 if args.quick else N)
    return finish([measure(rounds), through_cli(rows, max(3, rounds // 2))], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
