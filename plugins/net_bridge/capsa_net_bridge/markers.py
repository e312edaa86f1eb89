"""The driver's small JSON marker files under its state directory (``<runroot>/network/bridge``):
read whole or not at all, written with a rename (a reader never sees half a file)."""
from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def read(path: str) -> dict[str, Any] | None:
    """The marker at ``path`` (None: none, unreadable, or not a JSON object)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write(path: str, data: dict[str, Any]) -> None:
    """Replace the marker at ``path`` with ``data`` (its directory made, 0700, if missing)."""
    from capsa.fsutil import atomic_write

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(data) + "\n").encode(), durable=False)


def each(state_dir: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name without ``prefix``, marker) of every readable marker named ``prefix...``."""
    try:
        names = os.listdir(state_dir)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(prefix):
            data = read(os.path.join(state_dir, name))
            if data is not None:
                yield name[len(prefix):], data
