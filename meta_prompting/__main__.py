import sys

from meta_prompting.face.cli import main

sys.exit(main())
