"""Container records: each container's configuration and state, one directory per container.

``<root>/containers/<id>/config.json`` holds the :class:`ContainerConfig` (written once, at
create); ``state.json`` beside it holds the :class:`ContainerState` that the container's monitor
updates (atomically, under the container's own lock; a record without one is still "created"),
and ``ctr.log`` its output.
``<runroot>/containers/<id>/`` holds what lives only while it runs: the OCI bundle, generated
/etc files, the monitor's attach socket. Names are unique; creating and removing records takes
the store lock.
"""
from __future__ import annotations

import os

from capsa.container.model import ContainerConfig, MountSpec
from capsa.errors import CapsaError, StorageError, UsageError
from capsa.fastpath.names import is_safe_name
from capsa.fsutil import atomic_write, fsync_dir, remove_file, rmtree, write_file
from capsa.fastpath.jsonio import dumps, loads
from capsa.fastpath.record import field, fields, record
from capsa.store.locks import FileLock

STATUSES = ("created", "running", "paused", "stopping", "exited", "removing")


class ContainerNotFound(StorageError):
    """No container matches a name or id."""


@record
class ContainerState:
    status: str = "created"
    pid: int = 0
    monitor_pid: int = 0
    exit_code: int = 0
    oom_killed: bool = False
    started_at: str = ""
    finished_at: str = ""
    restart_count: int = 0
    stop_requested: bool = False  # set by stop/kill -a; the monitor then does not restart it
    error: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _config_from_json(data: object) -> ContainerConfig:
    """The config a decoded ``config.json`` holds; TypeError when it has another shape."""
    from capsa.store.records import shape_error

    why = shape_error(ContainerConfig, data)
    if why is None and isinstance(data, dict):
        mounts = data.get("mounts", [])
        why = next((w for w in (shape_error(MountSpec, m) for m in mounts) if w), None) if isinstance(mounts, list) else "'mounts' is not a list"
    if why is not None or not isinstance(data, dict):
        raise TypeError(why)
    names = {f.name for f in fields(ContainerConfig)}
    values = {k: v for k, v in data.items() if k in names}
    values["mounts"] = [MountSpec(**m) for m in values.get("mounts", [])]
    return ContainerConfig(**values)


UNREADABLE = "unreadable"  # the key, in a placeholder config's ``extra``, of why the record is


def is_unreadable(config: ContainerConfig) -> bool:
    """Whether ``config`` stands for a container whose config.json cannot be read (see
    :meth:`ContainerRecords.config_or_placeholder`): it can be listed, inspected, stopped and
    removed, not started."""
    return UNREADABLE in config.extra


class ContainerRecords:
    """The containers of one store (paths are strings)."""

    def __init__(self, root: str | os.PathLike[str], runroot: str | os.PathLike[str]) -> None:
        self.root = os.path.join(root, "containers")
        self.runroot = os.path.join(runroot, "containers")

    def dir(self, container_id: str, *parts: str) -> str:
        """The container's record directory (or a file in it)."""
        return os.path.join(self.root, container_id, *parts)

    def run_dir(self, container_id: str, *parts: str) -> str:
        """The container's volatile directory under the runroot (or a file in it)."""
        return os.path.join(self.runroot, container_id, *parts)

    @staticmethod
    def run_dir_of(runroot: str, container_id: str) -> str:
        """:meth:`run_dir` without a records object (the monitor, before it has one)."""
        return os.path.join(runroot, "containers", container_id)

    def lock(self, container_id: str) -> FileLock:
        """The container's own lock (state changes, start/stop/remove races)."""
        return FileLock(os.path.join(self.root, f".{container_id}.lock"))

    # -- configs --------------------------------------------------------------------------------

    def all(self) -> list[ContainerConfig]:
        if not os.path.isdir(self.root):
            return []
        out = []
        for entry in os.scandir(self.root):
            if entry.is_dir() and not entry.name.startswith("."):
                try:
                    out.append(self.config_or_placeholder(entry.name))
                except ContainerNotFound:
                    continue  # a half-created record (no config.json): system check repairs it
        return out

    def config_or_placeholder(self, container_id: str) -> ContainerConfig:
        """The container's config, or when its config.json is unreadable (torn, empty, garbage,
        of another shape) a placeholder with its id, its name (from the name index) and the
        reason in ``extra`` (:func:`is_unreadable`): the container is shown, not hidden, until
        ``rm`` or ``system check --repair`` removes it. ContainerNotFound when there is none."""
        try:
            return self.config(container_id)
        except ContainerNotFound:
            raise
        except StorageError as exc:
            name = next((n for n, target in self.names().items() if target == container_id), container_id[:12])
            return ContainerConfig(id=container_id, name=name, image_id=None, image_name="",
                                   extra={UNREADABLE: exc.message})

    def names(self) -> dict[str, str]:
        """Name -> container id, as the name index has them (links that are not ids included)."""
        out = {}
        try:
            entries = list(os.scandir(os.path.join(self.root, ".names")))
        except OSError:
            return out
        for entry in entries:
            try:
                out[entry.name] = os.readlink(entry.path)
            except OSError:
                continue
        return out

    def config(self, container_id: str) -> ContainerConfig:
        try:
            with open(self.dir(container_id, "config.json"), "rb") as fh:
                return _config_from_json(loads(fh.read()))
        except FileNotFoundError:
            raise ContainerNotFound(f"no container with id {container_id}", hint="see 'capsa ps -a'") from None
        except (ValueError, TypeError, RecursionError) as exc:
            raise StorageError(f"container {container_id[:12]} has a corrupt config.json: {exc or 'not a record'}",
                               hint="remove it with 'capsa rm -f', or run 'capsa system check --repair'") from None
        except IsADirectoryError:
            raise StorageError(f"container {container_id[:12]} has a corrupt config.json: not a file",
                               hint="remove it with 'capsa rm -f', or run 'capsa system check --repair'") from None

    def find(self, ref: str) -> ContainerConfig:
        """By exact id, name, or unique id prefix."""
        for container_id in (ref, self._named(ref)):
            if container_id and "/" not in container_id and not container_id.startswith("."):
                try:
                    return self.config_or_placeholder(container_id)
                except ContainerNotFound:
                    pass
        configs = self.all()
        for c in configs:
            if c.id == ref or c.name == ref:
                return c
        matches = [c for c in configs if len(ref) >= 3 and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"{ref}: container id prefix is ambiguous", hint="give more characters of the id")
        raise ContainerNotFound(f"no container with name or ID \"{ref}\" found: no such container",
                                hint="see 'capsa ps -a'")

    # -- names: <root>/containers/.names/<name> is a symlink to the container's id --------------

    def _names_dir(self) -> str:
        """The name index, made from the records when a store has none yet."""
        index = os.path.join(self.root, ".names")
        if not os.path.isdir(index):
            os.makedirs(self.root, exist_ok=True)
            partial = os.path.join(self.root, f".names.{os.getpid()}.tmp")
            if os.path.lexists(partial):  # a killed command's, with our pid
                rmtree(partial, ignore_errors=True)
            os.mkdir(partial)
            for config in self.all():
                os.symlink(config.id, os.path.join(partial, config.name))
            try:
                os.rename(partial, index)
            except OSError:  # another command made it meanwhile
                rmtree(partial, ignore_errors=True)
        return index

    def _named(self, name: str) -> str | None:
        """The id of the container called ``name``, or None."""
        if not name or "/" in name or name.startswith("."):
            return None
        try:
            return os.readlink(os.path.join(self.root, ".names", name))
        except OSError:
            return None

    def name_taken(self, name: str) -> bool:
        """Whether a container has this name (a link to a container that is gone does not count)."""
        self._names_dir()  # (made on first use)
        target = self._named(name)
        return target is not None and is_safe_name(target) and os.path.isdir(self.dir(target))

    def check_name(self, name: str) -> None:
        """Refuse a name another container has."""
        if self.name_taken(name):
            raise UsageError(f'the container name "{name}" is already in use',
                             hint="remove that container or choose another --name")

    def add(self, config: ContainerConfig) -> None:
        """Record a new container; the caller holds the store lock. Names must be unique: the
        name's link is made first (a stale one, of a container that is gone, is replaced)."""
        self.check_name(config.name)
        index = self._names_dir()
        link = os.path.join(index, config.name)
        with_link = os.path.join(index, f".{config.name}.{config.id[:12]}.tmp")
        os.symlink(config.id, with_link)
        os.replace(with_link, link)
        try:
            self._write_new(config)
        except BaseException:
            remove_file(link)
            raise

    def rename(self, config: ContainerConfig, new_name: str) -> ContainerConfig:
        """Give the container ``new_name`` (the caller holds the store lock and the container's):
        the new name's link first, then the config, then the old link goes."""
        self.check_name(new_name)
        index = self._names_dir()
        link = os.path.join(index, new_name)
        with_link = os.path.join(index, f".{new_name}.{config.id[:12]}.tmp")
        os.symlink(config.id, with_link)
        os.replace(with_link, link)
        old = config.name
        config.name = new_name
        try:
            self.save_config(config)
        except BaseException:
            remove_file(link)
            config.name = old
            raise
        if old and old != new_name and self._named(old) == config.id:
            remove_file(os.path.join(index, old))
        return config

    def user_mounts(self, container_id: str) -> int:
        """How many references ``capsa mount`` holds on the container's layer (``user-mounts``
        in its run dir: volatile, as the driver's mount counts are; 0 when none)."""
        return self._user_mount_record(container_id)[0]

    def user_mount_path(self, container_id: str) -> str:
        """Where ``capsa mount`` mounted the container's root filesystem ("" when it is not)."""
        count, path = self._user_mount_record(container_id)
        return path if count else ""

    def _user_mount_record(self, container_id: str) -> tuple[int, str]:
        try:
            with open(self.run_dir(container_id, "user-mounts"), encoding="utf-8") as fh:
                count, _, path = fh.read().partition("\n")
            return max(0, int(count.strip() or 0)), path.rstrip("\n")
        except (OSError, ValueError):
            return 0, ""

    def set_user_mounts(self, container_id: str, count: int, path: str = "") -> None:
        """Record ``count`` references of ``capsa mount`` and where (the caller holds the
        container's lock); in the runroot, which a reboot empties with the mounts themselves."""
        os.makedirs(self.run_dir(container_id), exist_ok=True)
        atomic_write(self.run_dir(container_id, "user-mounts"), f"{count}\n{path if count else ''}\n".encode(),
                     durable=False)

    def _write_new(self, config: ContainerConfig) -> None:
        directory = self.dir(config.id)
        if os.path.exists(directory):
            raise StorageError(f"a container with id {config.id} exists already", hint="retry: ids are random")
        partial = os.path.join(self.root, f".{config.id}.creating")  # made whole, then renamed into place
        if os.path.lexists(partial):  # what a killed create left
            rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        # (no state.json yet: a record without one is "created", see state(); the directory is
        # not visible until the rename, so the file needs no atomic write)
        # (the fsync of a new file makes its own name durable on ext4, xfs and btrfs: no fsync
        # of ``partial``, which would cost create ~2 ms; the parent is synced after the rename)
        write_file(os.path.join(partial, "config.json"), dumps(config).encode())
        os.rename(partial, directory)
        fsync_dir(self.root)  # the record's name durable before create reports the container

    def save_config(self, config: ContainerConfig) -> None:
        atomic_write(self.dir(config.id, "config.json"), dumps(config).encode())

    def remove(self, container_id: str, held: FileLock | None = None) -> None:
        """Delete the container's records and volatile files (its layer is the caller's). Takes
        the container's lock (the caller must not hold it, unless it passes that lock as
        ``held``), so that no state write of another command interleaves: one that comes after
        finds the container gone."""
        try:
            name = self.config_or_placeholder(container_id).name
        except CapsaError:
            name = ""
        doomed = os.path.join(self.root, f".{container_id}.removing")
        with (held or self.lock(container_id)).exclusive():
            if name and self._named(name) == container_id:
                remove_file(os.path.join(self.root, ".names", name))
            if os.path.exists(self.dir(container_id)):
                os.rename(self.dir(container_id), doomed)
            # after the record: its monitor.lock goes with the run dir, and a reader that found
            # the record "stopping" must not then find the lock gone (a monitor that seems dead)
            rmtree(self.run_dir(container_id), ignore_errors=True)
            remove_file(os.path.join(self.root, f".{container_id}.lock"))
        rmtree(doomed, ignore_errors=True)

    # -- state ----------------------------------------------------------------------------------

    def state(self, container_id: str) -> ContainerState:
        """The recorded state; "created" when there is none yet, and "unknown" (with the reason
        in ``error``) when state.json is unreadable: torn by a crash (it is written without
        fsync), empty, garbage or of another shape. ``system check --repair`` (or ``rm``) sets
        an unknown state right from the processes that are there."""
        try:
            with open(self.dir(container_id, "state.json"), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return ContainerState()
        except OSError as exc:
            return ContainerState(status="unknown", error=f"state.json is unreadable: {exc.strerror}")
        try:
            doc = loads(data)
        except (ValueError, RecursionError):
            doc = None
        from capsa.store.records import shape_error

        why = "not JSON" if doc is None else shape_error(ContainerState, doc)
        if why is not None or not isinstance(doc, dict):
            return ContainerState(status="unknown", error=f"state.json is unreadable: {why}")
        names = {f.name for f in fields(ContainerState)}
        return ContainerState(**{k: v for k, v in doc.items() if k in names})

    def set_state(self, container_id: str, state: ContainerState) -> None:
        """Write the state (the caller holds the container's lock); a container that was
        removed meanwhile raises ContainerNotFound rather than coming back as a stray file.

        Atomic but not synced: the state is a running container's, rewritten at every turn of
        its life; after a crash it may lag behind, and ``system check`` sets it right from the
        processes that are (not) there, as it does for a monitor that was killed."""
        if not os.path.isdir(self.dir(container_id)):
            raise ContainerNotFound(f"no container with id {container_id}", hint="see 'capsa ps -a'")
        atomic_write(self.dir(container_id, "state.json"), dumps(state).encode(), durable=False)

    def update_state(self, container_id: str, **changes: object) -> ContainerState:
        """Read-modify-write the state under the container's lock; returns the new state."""
        with self.lock(container_id).exclusive():
            state = self.state(container_id)
            for key, value in changes.items():
                setattr(state, key, value)
            self.set_state(container_id, state)
            return state

    def log_path(self, container_id: str) -> str:
        return self.dir(container_id, "ctr.log")


