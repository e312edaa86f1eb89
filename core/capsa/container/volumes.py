"""Named volumes: ``<root>/volumes/<name>/_data`` plus a record, as podman's local driver keeps them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from capsa.errors import StorageError, UsageError
from capsa.fastpath.names import is_safe_name
from capsa.fsutil import atomic_write, fsync_dir, rmtree
from capsa.store.records import now_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any



class VolumeNotFound(StorageError):
    """No volume has that name."""


_VOLUME_PATHS: dict[str, str] = {}  # root -> the volume directory --volumepath gave for this process


def set_volume_path(root: str | os.PathLike[str], path: str) -> None:
    """podman's ``--volumepath``: named volumes of the store at ``root`` live in ``path`` for the
    rest of this process (and the container monitors it forks)."""
    _VOLUME_PATHS[os.path.abspath(root)] = path


class VolumeStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = _VOLUME_PATHS.get(os.path.abspath(root)) if _VOLUME_PATHS else None
        self.dir = Path(path) if path else Path(root, "volumes")

    def _check(self, name: str) -> str:
        if not is_safe_name(name):
            raise UsageError(f"invalid volume name {name!r}", hint="names are letters, digits, '_', '.' and '-'")
        return name

    def record(self, name: str) -> dict[str, Any]:
        """The volume's record. One whose volume.json is unreadable (torn, empty, garbage, of
        another shape) reads as the record its directory implies (no labels or options):
        the volume stays usable, and ``system check --repair`` rewrites the file."""
        home = self.dir / self._check(name)
        try:
            doc = json.loads((home / "volume.json").read_bytes())
        except FileNotFoundError:
            raise VolumeNotFound(f"no such volume {name}", hint="see 'capsa volume ls'") from None
        except (ValueError, RecursionError):
            doc = None
        if self._shape_ok(doc, name):
            return doc  # type: ignore[return-value]
        return self._implied(name)

    @staticmethod
    def _shape_ok(doc: Any, name: str) -> bool:
        return (isinstance(doc, dict) and doc.get("Name") == name and isinstance(doc.get("Mountpoint"), str)
                and all(isinstance(doc.get(k), str) for k in ("Driver", "CreatedAt", "Scope"))
                and all(isinstance(doc.get(k), dict) for k in ("Labels", "Options")))

    def _implied(self, name: str) -> dict[str, Any]:
        """The record of volume ``name`` as its directory implies it."""
        import time

        home = self.dir / name
        try:
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(home.stat().st_mtime))
        except OSError:
            created = now_rfc3339()
        return {"Name": name, "Driver": "local", "Mountpoint": str(home / "_data"), "CreatedAt": created,
                "Labels": {}, "Scope": "local", "Options": {}}

    def unreadable(self) -> list[str]:
        """Names of the volumes whose volume.json cannot be read as a record."""
        out = []
        for name in self._names():
            try:
                doc = json.loads((self.dir / name / "volume.json").read_bytes())
            except FileNotFoundError:
                continue
            except (ValueError, RecursionError, OSError):
                doc = None
            if not self._shape_ok(doc, name):
                out.append(name)
        return out

    def repair(self, name: str) -> None:
        """Rewrite an unreadable volume.json with the record its directory implies."""
        (self.dir / name / "_data").mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / name / "volume.json", json.dumps(self._implied(name), indent=1).encode())

    def _names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(e.name for e in os.scandir(self.dir) if is_safe_name(e.name) and e.is_dir(follow_symlinks=False))

    def all(self) -> list[dict[str, Any]]:
        out = []
        for name in self._names():
            try:
                out.append(self.record(name))
            except VolumeNotFound:
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
        fresh = not home.exists()
        (home / "_data").mkdir(parents=True, exist_ok=True)
        if fresh:  # the volume's directory durable under its name before its record is
            fsync_dir(self.dir)
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
