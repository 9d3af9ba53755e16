"""Reading one record: its data, or why it cannot be read; never an exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meta_prompting.store.files import RECORD_LIMIT, TOOLKIT_LIMIT, os_reason, read_regular


def read_json(path: Path) -> tuple[Any, str | None]:
    """(data, None) or (None, why it cannot be read); None, None when there is none."""
    try:
        return json.loads(read_regular(path, RECORD_LIMIT, follow_links=False)), None
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{path.name}: {os_reason(e)}"
    except (ValueError, RecursionError) as e:
        return None, f"{path.name}: not JSON ({e})"


def read_text(path: Path, limit: int = TOOLKIT_LIMIT) -> tuple[str | None, str | None]:
    try:
        return read_regular(path, limit, follow_links=False).decode("utf-8", "replace"), None
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{path.name}: {os_reason(e)}"


def list_of(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def total(tokens: Any) -> int | None:
    if not isinstance(tokens, dict):
        return None
    total = tokens.get("total")
    if type(total) is int:
        return total
    parts = [v for v in tokens.values() if type(v) is int]
    return sum(parts) if parts else None
