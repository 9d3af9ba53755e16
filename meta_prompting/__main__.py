import sys

from meta_prompting.cli import main

sys.exit(main())
