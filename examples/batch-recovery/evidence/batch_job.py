#!/usr/bin/env python3
"""Nightly catalog enrichment: a description and tags for every new or changed SKU.

Runs on batch-02 from /etc/cron.d/enrich:
    30 1 * * * enrich timeout 4h /opt/enrich/venv/bin/python /opt/enrich/batch_job.py \
        >> /var/log/enrich/batch.log 2>&1

Input:  /data/enrich/export/items_YYYYMMDD.jsonl  (written by the PIM export at 00:45)
Output: /data/enrich/out/enriched_YYYYMMDD.jsonl  (read by the importer on import-01 at 06:00)
Re-run on a subset (see RUNBOOK): batch_job.py /path/to/remaining.jsonl
"""
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date

import llmgw  # in-house client for the provider's API, pinned at 2.3.1

EXPORT_DIR = "/data/enrich/export"
OUT_DIR = "/data/enrich/out"
MODEL = "writer-medium-2024-08"
WORKERS = 16  # RUNBOOK step 4: set to 4 for a daytime re-run
MAX_TOKENS = 1024

log = logging.getLogger("enrich")

PROMPT = """You write product copy for an outdoor-gear catalog.
Return only JSON: {{"description": "<60-90 words>", "tags": ["<3 to 8 lowercase tags>"]}}

Title: {title}
Brand: {brand}
Attributes: {attributes}
Supplier text: {source_text}
"""


def load_items(path):
    items = []
    with open(path) as f:
        for line in f:
            if line.strip():
                items.append(json.loads(line))
    return items


def enrich(client, item):
    prompt = PROMPT.format(
        title=item["title"],
        brand=item.get("brand", ""),
        attributes=json.dumps(item.get("attributes", {})),
        source_text=item.get("source_text", "")[:6000],
    )
    for attempt in range(1, 4):
        try:
            resp = client.complete(
                model=MODEL,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=MAX_TOKENS,
                temperature=0.7,
            )
            data = json.loads(resp.text)
            return {"sku": item["sku"], "description": data["description"],
                    "tags": data["tags"], "model": MODEL}
        except Exception as e:
            log.warning("item %s attempt %d failed: %s", item["sku"], attempt, e)
            if attempt == 3:
                raise
            time.sleep(2)


def write_results(results, path):
    with open(path, "w") as f:
        for sku in sorted(results):
            f.write(json.dumps(results[sku]) + "\n")


def main():
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    today = date.today().strftime("%Y%m%d")
    in_path = os.path.join(EXPORT_DIR, f"items_{today}.jsonl")
    out_path = os.path.join(OUT_DIR, f"enriched_{today}.jsonl")
    if len(sys.argv) > 1:
        in_path = sys.argv[1]

    items = load_items(in_path)
    log.info("loaded %d items from %s", len(items), in_path)
    client = llmgw.Client(api_key=os.environ["LLMGW_API_KEY"], timeout=60.0)
    results = {}
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = {pool.submit(enrich, client, item): item for item in items}
            for n, fut in enumerate(as_completed(futures), 1):
                rec = fut.result()
                results[rec["sku"]] = rec
                if n % 250 == 0:
                    log.info("progress %d/%d (%.0fs)", n, len(items),
                             time.monotonic() - started)
    except Exception:
        log.exception("batch failed after %d/%d items", len(results), len(items))
        write_results(results, out_path)  # keep what we already paid for
        log.info("wrote %d partial results to %s", len(results), out_path)
        sys.exit(1)

    write_results(results, out_path)
    log.info("done: %d items in %.0fs -> %s", len(results),
             time.monotonic() - started, out_path)


if __name__ == "__main__":
    main()
