"""Named volumes: ``<root>/volumes/<name>/_data`` plus a record, as podman's local driver keeps them.

A volume created with mount options (``-o type=tmpfs|bind|..., device=..., o=...``, podman's
local driver) has a filesystem mounted on its ``_data`` when used (:meth:`VolumeStore.mount`):
a container's start (:meth:`VolumeStore.hold`), ``volume mount``. Its users are kept beside it
under the volume's lock: the container's teardown (:meth:`VolumeStore.release`) and ``volume
unmount`` drop theirs, and the last one unmounts it, as podman does; ``volume rm`` unmounts.
"""
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
    from collections.abc import Callable
    from typing import Any

    from capsa.container.records import ContainerRecords
    from capsa.store.locks import FileLock


class VolumeNotFound(StorageError):
    """No volume has that name."""


_VOLUME_PATHS: dict[str, str] = {}  # root -> the volume directory --volumepath gave for this process


def set_volume_path(root: str | os.PathLike[str], path: str) -> None:
    """podman's ``--volumepath``: named volumes of the store at ``root`` live in ``path`` for the
    rest of this process (and the container monitors it forks)."""
    _VOLUME_PATHS[os.path.abspath(root)] = path


# The keys podman's local driver takes (libpod/runtime_volume_linux.go); any other is refused.
LOCAL_OPTIONS = ("device", "type", "o", "uid", "gid", "size", "inodes", "noquota", "copy", "nocopy")


def check_options(options: dict[str, str]) -> None:
    """podman's checks of the local driver's options: known keys, and a bind device that exists."""
    for key, value in options.items():
        if key.lower() not in LOCAL_OPTIONS:
            raise UsageError(f"invalid mount option {key} for driver 'local': invalid argument",
                             hint=f"the local driver takes {', '.join(LOCAL_OPTIONS)}")
        if key.lower() == "device" and options.get("type", "").lower() == "bind" and not os.path.exists(value):
            raise UsageError(f"invalid volume option device for driver 'local': stat {value}: no such file or directory",
                             hint="a bind volume's device must be an existing path")


def needs_mount(record: dict[str, Any]) -> bool:
    """Whether the volume has a filesystem to mount on its data directory (podman's needsMount)."""
    return any(k.lower() in ("device", "type", "o") for k in record.get("Options", {}))


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
            raise UsageError(f"volume with name {name} already exists: volume already exists",
                             hint="choose another name, remove it first, or use --ignore")
        check_options(dict(options or {}))
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
        with self._lock(name).exclusive():
            self._unmount_all(name)
            rmtree(self.dir / name)
            self._forget_lock(name)

    # -- mounts of volumes with options ------------------------------------------------------------
    # ``mounts.json`` beside ``_data``: {"count": the ``volume mount``s, "holders": the ids of the
    # containers whose start mounted it and whose monitor has not torn down yet}; it is read and
    # written under the volume's lock, and means nothing unless ``_data`` is a mount point.

    def _lock(self, name: str) -> FileLock:
        from capsa.store.locks import FileLock

        return FileLock(self.dir / ".locks" / self._check(name))

    def _forget_lock(self, name: str) -> None:
        try:
            os.unlink(self.dir / ".locks" / name)
        except FileNotFoundError:
            pass

    def _usage(self, name: str) -> tuple[int, list[str]]:
        """(``volume mount`` count, holding containers) of a volume whose filesystem is mounted."""
        from capsa.linux import is_mountpoint

        if not is_mountpoint(str(self.dir / name / "_data")):
            return 0, []
        try:
            doc = json.loads((self.dir / name / "mounts.json").read_bytes())
            return max(int(doc["count"]), 0), [str(h) for h in doc["holders"]]
        except (OSError, ValueError, KeyError, TypeError):
            return 0, []

    def _settle(self, name: str, count: int, holders: list[str]) -> None:
        """Keep the usage, or unmount the filesystem when nobody uses it any more."""
        if count <= 0 and not holders:
            self._unmount_all(name)
        else:
            atomic_write(self.dir / name / "mounts.json",
                         json.dumps({"count": count, "holders": holders}).encode(), durable=False)

    def mount_count(self, name: str) -> int:
        """How many users the mounted filesystem has (``volume mount``s and containers; 0 when
        it is not mounted), as podman's MountCount."""
        count, holders = self._usage(name)
        return count + len(holders)

    def mount(self, name: str) -> Path:
        """``volume mount``: mount the volume's filesystem (when it has one) and count the mount;
        its data directory."""
        return self._take(name, None)

    def unmount(self, name: str) -> None:
        """``volume unmount``: drop one ``volume mount``; the filesystem is unmounted when no
        container holds it either."""
        record = self.record(name)
        if not needs_mount(record):
            return
        with self._lock(name).exclusive():
            count, holders = self._usage(name)
            self._settle(name, count - 1, holders)

    def hold(self, name: str, container_id: str) -> Path:
        """A container's start: the volume's filesystem mounted (when it has one) and held for
        ``container_id`` until :meth:`release`; its data directory."""
        return self._take(name, container_id)

    def _take(self, name: str, container_id: str | None) -> Path:
        """A use of the volume (a container's, or a ``volume mount`` when ``container_id`` is
        None), mounting its filesystem for the first user."""
        record = self.record(name)
        data = Path(record["Mountpoint"])
        if not needs_mount(record):
            return data
        with self._lock(name).exclusive():
            count, holders = self._usage(name)
            if not count and not holders and not _is_mounted(data):
                _mount_options(record["Options"], str(data))
            if container_id is None:
                count += 1
            elif container_id not in holders:
                holders.append(container_id)
            self._settle(name, count, holders)
        return data

    def release(self, name: str, container_id: str, exists: Callable[[str], bool]) -> None:
        """A container's teardown: drop its hold (and those of containers that no longer
        ``exists``); the last user unmounts the filesystem. Idempotent; a volume gone is fine."""
        if not (self.dir / name / "mounts.json").exists() and not _is_mounted(self.dir / name / "_data"):
            return
        with self._lock(name).exclusive():
            if not (self.dir / name / "volume.json").exists():
                return
            count, holders = self._usage(name)
            self._settle(name, count, [h for h in holders if h != container_id and exists(h)])

    def _unmount_all(self, name: str) -> None:
        from capsa.linux import umount

        data = self.dir / name / "_data"
        while umount(str(data)):
            pass
        try:
            (self.dir / name / "mounts.json").unlink()
        except FileNotFoundError:
            pass


def _is_mounted(path: Path) -> bool:
    from capsa.linux import is_mountpoint

    return path.is_dir() and is_mountpoint(str(path))


def release_volumes(root: str | os.PathLike[str], records: ContainerRecords, container_id: str,
                    volumes: list[Any]) -> list[str]:
    """The end of a container's run (its monitor's teardown, a failed start, the reaping of a
    container whose monitor died): :meth:`VolumeStore.release` of each named volume in
    ``volumes`` (volume names, or the container's mounts); returns what went wrong (best
    effort: every volume is released)."""
    names = [v if isinstance(v, str) else v.source for v in volumes if isinstance(v, str) or v.type == "volume"]
    if not names:
        return []
    store, problems = VolumeStore(root), []
    for name in names:
        try:
            store.release(name, container_id, lambda cid: os.path.exists(records.dir(cid, "config.json")))
        except Exception as exc:  # noqa: BLE001 - best effort, reported
            problems.append(f"volume {name}: {getattr(exc, 'message', exc)}")
    return problems


def _mount_options(options: dict[str, str], target: str) -> None:
    """Mount as podman's local driver does: ``mount [-t TYPE] [-o O] DEVICE TARGET`` (a ``bind``
    type binds DEVICE; a device-less type mounts the type's name)."""
    from capsa.linux import MS_BIND, MS_REC, mount, split_mount_options

    lower = {k.lower(): v for k, v in options.items()}
    kind, device = lower.get("type", ""), lower.get("device", "")
    flags, data = split_mount_options(lower.get("o", ""))
    try:
        if kind == "bind" or "bind" in lower.get("o", "").split(",") or "rbind" in lower.get("o", "").split(","):
            mount(device, target, None, flags | MS_BIND | (MS_REC if "rbind" in data.split(",") else 0), None)
        else:
            mount(device or kind or "none", target, kind or None, flags, data or None)
    except OSError as exc:
        raise StorageError(f"mounting volume at {target}: {exc.strerror or exc}",
                           hint="check the volume's options (volume inspect): type, device, o") from None
