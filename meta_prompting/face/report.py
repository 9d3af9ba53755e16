"""--report on the command line: refuse what it cannot mean, write the page, say where.

Kept apart from face/cli.py, which only hands the flags over.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from meta_prompting.errors import EXIT_OK, UsageError

# What --report cannot be given with: it shows what is kept and never makes anything.
MAKERS = (("--goal", "goal"), ("--task", "task"), ("--task-file", "task_file"),
          ("--evidence", "evidence"), ("--run", "run"), ("--samples", "samples"),
          ("--again", "again"), ("--grade", "grade"), ("--answer", "answer"),
          ("--dry-run", "dry_run"), ("--force", "force"), ("--regenerate", "regenerate"))


def report(root: Path, args: argparse.Namespace,
           print_json: Callable[[dict[str, Any]], None]) -> int:
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.face.show import nice_path, printable
    from meta_prompting.library.goals import load_library
    from meta_prompting.report.page import write_report

    clash = [flag for flag, name in MAKERS if getattr(args, name, None)]
    if clash:
        raise UsageError(f"--report only shows what the project keeps; it takes no "
                         f"{', '.join(clash)} (run that first, then --report)")
    if args.project is None:
        raise UsageError("--report needs --project: the folder under output/ to report on")
    library = load_library(root)
    chain = load_chain(Path(args.chain), library, args.grade_with) if args.chain else None
    written = write_report(library, args.project, chain)
    if args.json:
        print_json({"ok": True, "report": str(written.path), "runs": written.runs,
                    "bytes": written.size})
    elif not args.quiet:
        sys.stdout.write(printable(f"Report ({written.runs} runs, {written.size:,} bytes): "
                                   f"{nice_path(written.path)}") + "\n")
    return EXIT_OK
