"""Named volumes: ``<root>/volumes/<name>/_data`` plus a record, as podman's local driver keeps them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from capsa.errors import StorageError, UsageError
from capsa.fastpath.names import is_safe_name
from capsa.fsutil import atomic_write, rmtree
from capsa.store.records import now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any



class VolumeNotFound(StorageError):
    """No volume has that name."""


class VolumeStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.dir = Path(root, "volumes")

    def _check(self, name: str) -> str:
        if not is_safe_name(name):
            raise UsageError(f"invalid volume name {name!r}", hint="names are letters, digits, '_', '.' and '-'")
        return name

    def record(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.dir / self._check(name) / "volume.json").read_bytes())
        except FileNotFoundError:
            raise VolumeNotFound(f"no such volume {name}", hint="see 'capsa volume ls'") from None

    def all(self) -> list[dict[str, Any]]:
        if not self.dir.is_dir():
            return []
        out = []
        for entry in sorted(os.scandir(self.dir), key=lambda e: e.name):
            try:
                out.append(json.loads(Path(entry.path, "volume.json").read_bytes()))
            except (FileNotFoundError, ValueError):
                continue
        return out

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, exist_ok: bool = False) -> dict[str, Any]:
        name = self._check(name or os.urandom(32).hex())
        home = self.dir / name
        if (home / "volume.json").exists():
            if exist_ok:
                return self.record(name)
            raise UsageError(f"volume with name {name} already exists", hint="choose another name or remove it first")
        (home / "_data").mkdir(parents=True, exist_ok=True)
        record = {"Name": name, "Driver": "local", "Mountpoint": str(home / "_data"), "CreatedAt": now_rfc3339(),
                  "Labels": dict(labels or {}), "Scope": "local", "Options": dict(options or {})}
        atomic_write(home / "volume.json", json.dumps(record, indent=1).encode())
        return record

    def ensure(self, name: str) -> Path:
        """The volume's data directory, creating the volume if needed."""
        return Path(self.create(name, exist_ok=True)["Mountpoint"])

    def remove(self, name: str) -> None:
        self.record(name)
        rmtree(self.dir / name)
