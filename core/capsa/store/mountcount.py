"""Mount reference counts that outlive a command: a JSON map under the driver's runroot.

Each CLI invocation is its own process, so a layer mounted by ``run`` must still be counted
when ``rm`` unmounts it. The counts live in volatile storage (the runroot, usually tmpfs): after
a reboot both the mounts and their counts are gone.
"""
from __future__ import annotations

import os

from capsa.fsutil import atomic_write
from capsa.fastpath.jsonio import dumps, loads
from capsa.store.locks import FileLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class MountCounter:
    """Reference counts per layer id, guarded by a file lock."""

    def __init__(self, run_home: str | os.PathLike[str]) -> None:
        self.file = os.path.join(run_home, "mounts.json")
        self.lock = FileLock(os.path.join(run_home, "mounts.lock"))

    def _load(self) -> dict[str, int]:
        """The counts; none when the file is missing or unreadable (torn, garbage, another
        shape): a mount whose count is lost is then treated as a stale one (the driver's
        ``mount`` reuses a mount point that is mounted already, ``system check --repair``
        unmounts those no container uses)."""
        try:
            with open(self.file, "rb") as fh:
                data = loads(fh.read())
            return {str(k): int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
        except (FileNotFoundError, ValueError, AttributeError, TypeError, RecursionError):
            return {}

    def _save(self, counts: dict[str, int]) -> None:
        atomic_write(self.file, dumps({k: v for k, v in counts.items() if v > 0}).encode(), durable=False)

    def get(self, layer_id: str) -> int:
        with self.lock.shared():
            return self._load().get(layer_id, 0)

    def all(self) -> dict[str, int]:
        with self.lock.shared():
            return self._load()

    def release(self, layer_id: str, on_last: Callable[[], None] | None = None, force: bool = False) -> bool:
        """Drop one reference (``force``: all of them); ``on_last`` runs (under the lock) before
        the last one goes, and if it raises the references stay. True when the last one went;
        False when there was none."""
        with self.lock.exclusive():
            count = self.get(layer_id)
            if count == 0:
                return False
            left = 0 if force else count - 1
            if left == 0 and on_last is not None:
                on_last()
            self.set(layer_id, left)
            return left == 0

    def set(self, layer_id: str, count: int) -> None:
        with self.lock.exclusive():
            counts = self._load()
            counts[layer_id] = count
            self._save(counts)
