"""Which google-genai line is installed: 3.x on Python 3.11+, 2.x on 3.10 (3.x needs 3.11).

The two differ only where the tests of the fake look beneath the SDK: 3.x carries HTTP
over httpx2 and defaults to API v1, 2.x over httpx and to v1beta. The product names
v1beta itself, so its requests are the same on either.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version

SDK_MAJOR = int(version("google-genai").split(".")[0])
# The SDK's own HTTP library, whose exceptions it lets through (timeouts, dropped streams).
httpx = importlib.import_module("httpx2" if SDK_MAJOR >= 3 else "httpx")
DEFAULT_API_VERSION = "v1" if SDK_MAJOR >= 3 else "v1beta"
