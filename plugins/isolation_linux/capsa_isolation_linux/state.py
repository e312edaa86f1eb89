"""The driver's state files: ``<run_home>/<id>/state.json`` and ``exec.fifo``.

state.json is written atomically; a process is identified by its pid *and* its start time
(field 22 of /proc/<pid>/stat), so a reused pid never passes for the container's process.
"""
from __future__ import annotations

import os

from capsa.errors import IsolationError
from capsa.fastpath.names import is_safe_name
from capsa.fastpath.jsonio import dumps, loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
FIFO = "exec.fifo"


def check_id(container_id: str) -> None:
    if not is_safe_name(container_id, 128):
        raise IsolationError(
            f"invalid container id {container_id!r}",
            hint="an id is 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone or a zombie
    (a zombie has exited: only its exit status is left for its parent to collect)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); start time is field 22.
    if fields[0] in (b"Z", b"X", b"x"):
        return None
    return int(fields[19])


def alive(pid: int | None, start_time: int | None) -> bool:
    """Whether ``pid`` still names the process that started at ``start_time`` and has not exited."""
    return bool(pid) and start_time is not None and proc_start_time(pid) == start_time  # type: ignore[arg-type]


class StateDir:
    """One container's state directory (paths are strings)."""

    def __init__(self, run_home: str | os.PathLike[str], container_id: str) -> None:
        check_id(container_id)
        self.id = container_id
        self.path = os.path.join(run_home, container_id)
        self.file = os.path.join(self.path, STATE_FILE)
        self.fifo = os.path.join(self.path, FIFO)

    def make(self) -> None:
        """Create the directory and the exec fifo; an existing one means the id is taken."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            raise IsolationError(
                f"container {self.id!r} already exists",
                hint="delete it first, or pick another id",
            ) from None
        os.mkfifo(self.fifo, 0o622)

    def exists(self) -> bool:
        return os.path.isfile(self.file)

    def load(self) -> dict[str, Any]:
        try:
            with open(self.file, "rb") as fh:
                doc = loads(fh.read())
        except FileNotFoundError:
            raise IsolationError(f"no container with id {self.id!r}",
                                 hint="`capsa ps -a` lists containers") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise IsolationError(f"state of container {self.id!r} is unreadable: {exc}",
                                 hint=f"remove {self.path} if the container is gone") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("pid", 0), int):  # torn into another shape
            raise IsolationError(f"state of container {self.id!r} is unreadable: not a state document",
                                 hint=f"remove {self.path} if the container is gone")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        from capsa.fsutil import atomic_write

        atomic_write(self.file, dumps(doc).encode(), 0o600, durable=False)

    def remove(self) -> None:
        """Remove the directory and everything in it (idempotent)."""
        try:  # its usual files, without loading shutil
            with os.scandir(self.path) as entries:
                for entry in entries:
                    if not entry.is_dir(follow_symlinks=False):
                        os.unlink(entry.path)
            os.rmdir(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)


def status_of(doc: dict[str, Any]) -> str:
    """The OCI status a state document describes now: its saved status while the process
    lives, ``stopped`` once it is gone."""
    if not alive(doc.get("pid"), doc.get("start_time")):
        return "stopped"
    return doc.get("status", "created")


def cgroup_members(dirs: list[str]) -> set[int]:
    """Processes in these cgroup dirs or any cgroup below them."""
    from capsa.drivers.cgroupfiles import members

    return set(members(dirs))


def remove_if_empty(cgroup: Any) -> bool:
    """Remove the cgroup of a stopped container by rmdir alone; False (the rest left to
    Cgroup.kill_all and Cgroup.delete) when a hierarchy still holds a process."""
    import errno

    for directory in cgroup.paths().values():
        try:
            os.rmdir(directory)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return False
            raise IsolationError(f"cannot remove cgroup {directory}: {exc.strerror}") from None
    if cgroup.parent:
        cgroup.delete()  # the parents it leaves empty (the leaves are gone: nothing to wait for)
    return True


def remove_cgroup_dirs(dirs: list[str], timeout: float = 5.0) -> None:
    """Thaw, SIGKILL every member until none is left, then remove the dirs (deepest first): for
    cgroups recorded by another process (whose own cgroup may differ from ours) and for gc."""
    import os
    import signal
    import time

    deadline = time.monotonic() + timeout
    while True:
        for d in dirs:
            for dirpath, _, _ in os.walk(d):
                for fname, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                    try:
                        with open(os.path.join(dirpath, fname), "w") as fh:
                            fh.write(value)
                    except OSError:
                        pass
        members = cgroup_members(dirs)
        if not members:
            break
        if time.monotonic() > deadline:
            raise IsolationError(f"processes {sorted(members)[:5]} of cgroup {os.path.basename(dirs[0])} "
                                 f"did not exit within {timeout:g}s")
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    for d in dirs:
        for dirpath, _, _ in sorted(os.walk(d), key=lambda w: w[0].count("/"), reverse=True):
            while True:
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:  # EBUSY while the last members finish exiting
                    if time.monotonic() > deadline:
                        raise IsolationError(f"cannot remove cgroup {dirpath}: {exc.strerror}") from None
                    time.sleep(0.01)
