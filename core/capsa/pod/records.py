"""Pod records: one directory per pod, ``<root>/pods/<id>/config.json`` (the :class:`PodConfig`,
written at create, rewritten atomically when it changes), and a name index
``<root>/pods/.names/<name>`` (a symlink to the id), as the containers' records.

A pod's members are not stored here: they are the containers whose ``pod`` field is the pod's
id (:meth:`PodRecords.members`). Creating and removing records takes the pods' lock
(:meth:`PodRecords.store_lock`); state changes of one pod take its own (:meth:`PodRecords.lock`).
"""
from __future__ import annotations

import os

from capsa.errors import StorageError, UsageError
from capsa.fastpath.jsonio import dumps, loads
from capsa.fastpath.record import fields
from capsa.fsutil import atomic_write, fsync_dir, remove_file, rmtree, write_file
from capsa.pod.model import PodConfig
from capsa.store.locks import FileLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.model import ContainerConfig
    from capsa.container.records import ContainerRecords


class PodNotFound(StorageError):
    """No pod matches a name or id."""


def not_found(ref: str) -> PodNotFound:
    """podman's error for an unknown pod (``pod rm``, ``pod start``... exit 125; ``pod exists``: 1)."""
    return PodNotFound(f"no pod with name or ID {ref} found: no such pod", hint="see 'capsa pod ps'")


def _config_from_json(data: object) -> PodConfig:
    from capsa.store.records import shape_error

    why = shape_error(PodConfig, data)
    if why is not None or not isinstance(data, dict):
        raise TypeError(why)
    names = {f.name for f in fields(PodConfig)}
    return PodConfig(**{k: v for k, v in data.items() if k in names})


class PodRecords:
    """The pods of one store (paths are strings)."""

    def __init__(self, root: str | os.PathLike[str], runroot: str | os.PathLike[str]) -> None:
        self.root = os.path.join(root, "pods")
        self.runroot = os.path.join(runroot, "pods")

    def dir(self, pod_id: str, *parts: str) -> str:
        return os.path.join(self.root, pod_id, *parts)

    def run_dir(self, pod_id: str, *parts: str) -> str:
        return os.path.join(self.runroot, pod_id, *parts)

    def lock(self, pod_id: str) -> FileLock:
        """The pod's own lock (start/stop/remove of the pod as a whole)."""
        return FileLock(os.path.join(self.root, f".{pod_id}.lock"))

    def members_lock(self, pod_id: str) -> FileLock:
        """Held shared while a member's record is written (the pod must still exist), exclusive
        by ``pod rm`` from its look at the members to the record's removal: no member is
        recorded in a pod that is gone."""
        return FileLock(os.path.join(self.root, f".{pod_id}.members.lock"))

    def store_lock(self) -> FileLock:
        """The lock of the pods' records: taken to add or remove one (names stay unique)."""
        return FileLock(os.path.join(self.root, ".lock"))

    # -- configs --------------------------------------------------------------------------------

    def all(self) -> list[PodConfig]:
        """Every pod, oldest first (an unreadable or half-made record is skipped)."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        out = []
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith("."):
                try:
                    out.append(self.config(entry.name))
                except StorageError:
                    continue
        return sorted(out, key=lambda p: p.created)

    def config(self, pod_id: str) -> PodConfig:
        """The pod's config; PodNotFound when there is none, StorageError when it is corrupt."""
        if not pod_id or "/" in pod_id or pod_id.startswith("."):
            raise not_found(pod_id)
        try:
            with open(self.dir(pod_id, "config.json"), "rb") as fh:
                return _config_from_json(loads(fh.read()))
        except (FileNotFoundError, NotADirectoryError):
            raise not_found(pod_id) from None
        except (ValueError, TypeError, RecursionError, IsADirectoryError) as exc:
            raise StorageError(f"pod {pod_id[:12]} has a corrupt config.json: {exc or 'not a record'}",
                               hint="run 'capsa system check --repair'") from None

    def find(self, ref: str) -> PodConfig:
        """By name, full id or unique id prefix; PodNotFound (podman's message) otherwise."""
        for pod_id in (self._named(ref), ref):
            if pod_id:
                try:
                    return self.config(pod_id)
                except PodNotFound:
                    pass
        if ref:
            matches = [p for p in self.all() if p.id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"more than one result for pod ID {ref}", hint="give more characters of the id")
        raise not_found(ref)

    def members(self, containers: ContainerRecords, pod_id: str) -> list[ContainerConfig]:
        """The pod's containers: its infra first, then the others by creation time."""
        mine = [c for c in containers.all() if c.pod == pod_id]
        return sorted(mine, key=lambda c: (not c.extra.get("infra"), c.created))

    # -- names ----------------------------------------------------------------------------------

    def _named(self, name: str) -> str | None:
        if not name or "/" in name or name.startswith("."):
            return None
        try:
            return os.readlink(os.path.join(self.root, ".names", name))
        except OSError:
            return None

    def name_taken(self, name: str) -> bool:
        """Whether a pod has this name (a link to a pod that is gone does not count)."""
        target = self._named(name)
        return target is not None and os.path.isdir(self.dir(target))

    # -- add, save, remove ----------------------------------------------------------------------

    def add(self, config: PodConfig) -> None:
        """Record a new pod (the caller holds :meth:`store_lock`); its name must be free (podman's
        message otherwise, exit 125)."""
        if self.name_taken(config.name):
            raise UsageError(f"adding pod to state: name \"{config.name}\" is in use: pod already exists",
                             hint="remove that pod (capsa pod rm) or choose another --name, or use --replace")
        if os.path.exists(self.dir(config.id)):
            raise StorageError(f"a pod with id {config.id} exists already", hint="retry: ids are random")
        index = os.path.join(self.root, ".names")
        os.makedirs(index, exist_ok=True)
        partial = os.path.join(self.root, f".{config.id}.creating")
        if os.path.lexists(partial):
            rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        try:
            write_file(os.path.join(partial, "config.json"), dumps(config).encode())
            os.rename(partial, self.dir(config.id))
        except BaseException:
            rmtree(partial, ignore_errors=True)
            raise
        link = os.path.join(index, config.name)
        tmp = os.path.join(index, f".{config.name}.{config.id[:12]}.tmp")
        try:
            os.symlink(config.id, tmp)
            os.replace(tmp, link)
        except BaseException:
            remove_file(tmp)
            rmtree(self.dir(config.id), ignore_errors=True)
            raise
        fsync_dir(self.root)

    def save(self, config: PodConfig) -> None:
        """Rewrite an existing pod's config (atomically)."""
        if not os.path.isdir(self.dir(config.id)):
            raise not_found(config.id)
        atomic_write(self.dir(config.id, "config.json"), dumps(config).encode())

    def remove(self, pod_id: str) -> None:
        """Delete the pod's record, its name and its volatile files (its containers are the
        caller's, removed before). Idempotent."""
        try:
            name = self.config(pod_id).name
        except StorageError:
            name = ""
        if name and self._named(name) == pod_id:
            remove_file(os.path.join(self.root, ".names", name))
        doomed = os.path.join(self.root, f".{pod_id}.removing")
        if os.path.isdir(self.dir(pod_id)):
            os.rename(self.dir(pod_id), doomed)
        rmtree(doomed, ignore_errors=True)
        rmtree(self.run_dir(pod_id), ignore_errors=True)
        remove_file(os.path.join(self.root, f".{pod_id}.lock"))
        remove_file(os.path.join(self.root, f".{pod_id}.members.lock"))
