"""Whether a command looks at the Batch service first: a module of its own, so that a
build, which never does, loads none of the batch side's code."""

from __future__ import annotations

import argparse
from pathlib import Path


def wants_batch(args: argparse.Namespace, root: Path) -> bool:
    """Whether the batch side looks first: asked for, or a live job in the project that
    an interactive command must not pay for twice (cheap when there is none)."""
    if args.batch or args.no_batch or args.wait or args.batches or \
            args.cancel_batch is not None:
        return True
    if args.project is None or args.dry_run or not (
            args.run or args.samples or args.grade or args.tasks or args.chain):
        return False
    from meta_prompting.batch.journal import has_live
    from meta_prompting.library.layers import OUTPUT

    return has_live(root / OUTPUT / args.project)
