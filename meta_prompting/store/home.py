"""Where a person's own things live: their library, their prices, their settings.

$META_PROMPTING_HOME, else the platform's user config folder. Read by the library
(the user layer) and by the model seam (the user's prices.json), so it sits below both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "meta-prompting"


def user_home() -> Path:
    """$META_PROMPTING_HOME (empty counts as unset), else the user config folder."""
    given = os.environ.get("META_PROMPTING_HOME")
    if given:
        return Path(given).expanduser()
    if sys.platform == "linux":
        # platformdirs' own rule on Linux, without its import (~18 ms, as much as a
        # bare Python start-up): a test holds the two answers equal.
        xdg = os.environ.get("XDG_CONFIG_HOME", "")
        if os.path.isabs(xdg):
            return Path(xdg) / APP
        home = os.environ.get("HOME", "")
        if os.path.isabs(home):
            return Path(home) / ".config" / APP
    import platformdirs

    return platformdirs.user_config_path(APP)
