#!/usr/bin/env python3
"""META_PROMPTING: `python orchestrator.py --help`."""

import sys

from meta_prompting.face.cli import main

if __name__ == "__main__":
    sys.exit(main())
