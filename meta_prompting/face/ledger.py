"""--spent: tokens and cost by day, goal and model, from the records already on disk.

No separate log: every answer's run.json and every scorecard.json records its calls'
tokens and cost (cost_of), so the ledger is a walk over output/ (or one project). A
record written before costs were kept is priced now from its tokens, and said to be.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from meta_prompting.errors import EXIT_OK, UserError

Row = tuple[str, str, str]  # day, goal, model


def collect_spent(folder: Path) -> dict[Row, dict[str, Any]]:
    """Pure over the files: each (day, goal, model)'s calls, tokens by kind and cost."""
    from meta_prompting.models.prices import cost_of
    from meta_prompting.store.files import RECORD_LIMIT, read_regular

    rows: dict[Row, dict[str, Any]] = {}
    for runs, _, names in os.walk(folder):
        if os.path.basename(os.path.dirname(runs)) != "runs":
            continue
        goal = _goal(Path(runs).parent.parent)
        for name in sorted(names):
            if not (name == "run.json" or (name.startswith("scorecard")
                                           and name.endswith(".json"))):
                continue
            try:
                data = json.loads(read_regular(Path(runs) / name, RECORD_LIMIT,
                                               follow_links=False))
            except (OSError, ValueError, RecursionError):
                continue
            if not isinstance(data, dict) or data.get("imported"):
                continue  # an answer made elsewhere cost this tool nothing
            model = str(data.get("model") or data.get("judge_model") or "?")
            cost = data.get("cost")
            if not isinstance(cost, dict):  # a record from before costs were kept
                uses = ([(data.get("tokens") or {}, data.get("model_version"))]
                        if name == "run.json" else
                        [(j.get("tokens") or {}, j.get("model"))
                         for j in data.get("judgments", []) if isinstance(j, dict)])
                cost = cost_of(model, uses)
            calls = 1 if name == "run.json" else len(data.get("judgments") or [])
            row = rows.setdefault((str(data.get("date", "?"))[:10], goal, model),
                                  {"calls": 0, "tokens": {}, "usd": 0.0})
            row["calls"] += calls
            for kind, n in (cost.get("tokens") or {}).items():
                row["tokens"][kind] = row["tokens"].get(kind, 0) + (n or 0)
            usd = cost.get("usd")
            row["usd"] = None if usd is None or row["usd"] is None else row["usd"] + usd
    return rows


def _goal(toolkit: Path) -> str:
    try:
        data = json.loads((toolkit / "manifest.json").read_text(encoding="utf-8"))
        return str(data.get("goal") or "?")
    except (OSError, ValueError, AttributeError):
        return "?"


def show_spent(root: Path, args: argparse.Namespace) -> int:
    from meta_prompting.face.show import printable
    from meta_prompting.library.layers import OUTPUT
    from meta_prompting.models.prices import load_prices, money

    folder = root / OUTPUT / args.project if args.project else root / OUTPUT
    if args.project and not folder.is_dir():
        raise UserError(f"--project {args.project}: no such project under {root / OUTPUT}")
    rows = collect_spent(folder)
    total = sum(r["usd"] or 0 for r in rows.values())
    unknown = any(r["usd"] is None for r in rows.values())
    if args.json:
        from meta_prompting.face.cli import _print_json

        _print_json({"ok": True, "folder": str(folder), "prices_checked": load_prices().checked,
                     "rows": [{"day": d, "goal": g, "model": m, **r}
                              for (d, g, m), r in sorted(rows.items())],
                     "usd": None if unknown else round(total, 8),
                     "usd_known": round(total, 8)})
        return EXIT_OK
    table = [("day", "goal", "model", "calls", "prompt", "output", "cost")]
    for (day, goal, model), r in sorted(rows.items()):
        t = r["tokens"]
        table.append((day, goal, printable(model), str(r["calls"]), f"{t.get('prompt', 0):,}",
                      f"{t.get('answer', 0) + t.get('thinking', 0):,}", money(r["usd"])))
    widths = [max(len(row[i]) for row in table) for i in range(7)]
    for row in table:
        sys.stdout.write("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True))
                                   ).rstrip() + "\n")
    sys.stdout.write(f"Total: {money(total)}" + (" plus calls of unknown price" if unknown
                                                 else "")
                     + f" (output = answer + thinking tokens; prices checked "
                     f"{load_prices().checked})\n")
    return EXIT_OK
