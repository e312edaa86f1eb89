"""Mount reference counts that outlive a command: a JSON map under the driver's runroot.

Each CLI invocation is its own process, so a layer mounted by ``run`` must still be counted
when ``rm`` unmounts it. The counts live in volatile storage (the runroot, usually tmpfs): after
a reboot both the mounts and their counts are gone.
"""
from __future__ import annotations

import json
from pathlib import Path

from capsa.fsutil import atomic_write
from capsa.store.locks import FileLock


class MountCounter:
    """Reference counts per layer id, guarded by a file lock."""

    def __init__(self, run_home: Path) -> None:
        self.file = run_home / "mounts.json"
        self.lock = FileLock(run_home / "mounts.lock")

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.file.read_bytes())
            return {str(k): int(v) for k, v in data.items()}
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self, counts: dict[str, int]) -> None:
        atomic_write(self.file, json.dumps({k: v for k, v in counts.items() if v > 0}).encode(), durable=False)

    def get(self, layer_id: str) -> int:
        with self.lock.shared():
            return self._load().get(layer_id, 0)

    def all(self) -> dict[str, int]:
        with self.lock.shared():
            return self._load()

    def set(self, layer_id: str, count: int) -> None:
        with self.lock.exclusive():
            counts = self._load()
            counts[layer_id] = count
            self._save(counts)
