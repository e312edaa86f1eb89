"""Paths of ``cp`` resolved inside a container's root filesystem, never on the host.

A :class:`ContainedRoot` holds a directory fd of the container's root and, for a stopped
container, the host sources of its bind mounts and volumes by container destination.

A RUNNING container's root is its own process's ``/proc/PID/root`` (the pid checked with a pidfd
before and after the open, see :func:`open_live_root`): every lookup from that fd crosses the
container's real mounts (volumes, binds, tmpfs, /dev, /run, /etc/hosts...) exactly as the
container sees them, and no host source path is ever resolved again (a container that renames a
bound directory and puts a symlink to a host path in its place changes nothing of what we reach:
the mount holds the directory itself). A STOPPED container has no mounts: its layer is mounted
alone and each mount destination is mapped to its host source, opened as the runtime's next start
would bind it (the source path resolved on the host, symlinks followed, as mount(2) does).

:meth:`ContainedRoot.find`
walks a container path one component at a time from directory fds (``*at`` calls with
``O_NOFOLLOW``; never a path string the kernel resolves by itself): symlinks met on the way are
read and followed with chroot semantics (an absolute target restarts at the container's root,
``..`` stops there, at most :data:`MAX_SYMLINKS` links), as openat2's ``RESOLVE_IN_ROOT`` does,
and whenever the canonical path reaches a mount destination the walk continues in that mount's
host source, itself taken as a root (``..`` from it goes back to the container's parent
directory, as in the container). From a running container's ``/proc/PID/root`` this walk is the
kernel's own RESOLVE_IN_ROOT resolution, mounts included (a test compares the two); it is kept
for stopped containers, whose mounts exist nowhere for the kernel to cross.

A directory a running container swaps for a symlink while we walk (CVE-2018-15664) makes the
``O_NOFOLLOW | O_DIRECTORY`` open fail (ELOOP/ENOTDIR): the walk never follows a link the kernel
resolves on the host. Nothing of the container's is executed or loaded (CVE-2019-14271).
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from capsa.fastpath.record import record

MAX_SYMLINKS = 40
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@record
class MountSource:
    """A bind mount or volume of the container: its host source and whether it is read-only."""

    destination: str  # canonical, no leading "/"
    source: str  # absolute host path (the user's or capsa's own: trusted)
    readonly: bool = False


@record
class Found:
    """What a container path resolved to: the fd of its parent directory (the walker's: do not
    close), its name there (``""``: the root, ``parent`` is then the root fd itself), its
    canonical container path and what is there now (``None``: nothing; never followed)."""

    parent: int
    name: str
    canon: str
    st: os.stat_result | None
    readonly: bool = False

    @property
    def is_dir(self) -> bool:
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)


class ContainedRoot:
    """A container's root and mounts; :meth:`close` releases every fd it opened."""

    def __init__(self, root: str | int, mounts: list[MountSource], readonly: bool = False, name: str = "",
                 live: bool = False) -> None:
        """``root``: a path, or an fd this object then owns; ``live``: ``root`` is a running
        container's own root, whose mounts the kernel crosses (``mounts`` then only say which
        are read-only)."""
        self.name = name
        self.readonly = readonly
        self.live = live
        self.root = root if isinstance(root, int) else os.open(root, _PATH_DIR & ~os.O_NOFOLLOW)
        self._ro_mounts = {m.destination: m for m in mounts}
        self.mounts = {} if live else self._ro_mounts
        self.pseudo: frozenset[str] = frozenset()  # (a running container's /proc, /sys...: never copied from)
        self._dirs: dict[str, int] = {"": self.root}

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs = {}

    def __enter__(self) -> ContainedRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _readonly(self, canon: str) -> bool:
        """Whether ``canon`` is on a read-only mount (or the read-only root)."""
        best = None
        for dest, m in self._ro_mounts.items():
            if canon == dest or canon.startswith(dest + "/"):
                if best is None or len(dest) > len(best.destination):
                    best = m
        return best.readonly if best is not None else self.readonly

    def dir_fd(self, canon: str, parent: int, name: str) -> int:
        """An O_PATH fd of the directory ``name`` in ``parent`` (canonical path ``canon``), the
        mount's source when ``canon`` is a mount destination; cached, owned by this object.
        Raises NotADirectoryError (or ELOOP) when it is not a directory (any more)."""
        cached = self._dirs.get(canon)
        if cached is not None:
            return cached
        mount = self.mounts.get(canon)
        if mount is not None:  # (a stopped container's: the source as its next start binds it)
            fd = os.open(mount.source, _PATH_DIR & ~os.O_NOFOLLOW)
        else:
            fd = os.open(name, _PATH_DIR, dir_fd=parent)
        self._dirs[canon] = fd
        return fd

    def _entry(self, canon: str, parent: int, name: str) -> tuple[int, str]:
        """(parent fd, name) where the entry ``canon`` really is: a file bind mount's source."""
        mount = self.mounts.get(canon)
        if mount is not None and not os.path.isdir(mount.source):
            src = os.path.normpath(mount.source)
            host_parent = os.path.dirname(src)
            key = "\0file:" + host_parent
            if key not in self._dirs:
                self._dirs[key] = os.open(host_parent, _PATH_DIR & ~os.O_NOFOLLOW)
            return self._dirs[key], os.path.basename(src)
        return parent, name

    def find(self, path: str, follow: bool = True) -> Found:
        """Resolve ``path`` (absolute or not: relative to the root) inside the container. Every
        component but the last must exist and be a directory (or a symlink to one), else
        FileNotFoundError/NotADirectoryError; the last may be missing (``Found.st`` None) and is
        followed when it is a symlink and ``follow``. OSError(ELOOP) past MAX_SYMLINKS links."""
        pending = [p for p in path.split("/") if p and p != "."][::-1]
        canon, fd, links, retries = "", self.root, 0, 0
        while pending:
            comp = pending.pop()
            if comp == ".":
                continue
            if comp == "..":
                canon = canon.rpartition("/")[0]
                fd = self._dirs[canon]
                continue
            nxt = f"{canon}/{comp}" if canon else comp
            last = not pending
            if nxt in self.mounts:
                parent, name = self._entry(nxt, fd, comp)
                st = os.stat(self.mounts[nxt].source)  # (the host source: the user's own path)
                if stat.S_ISDIR(st.st_mode):
                    if last:
                        return Found(fd, comp, nxt, st, self._readonly(nxt))
                    canon, fd = nxt, self.dir_fd(nxt, fd, comp)
                    continue
                if last:
                    return Found(parent, name, nxt, st, self._readonly(nxt))
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", "/" + nxt)
            try:
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    return Found(fd, comp, nxt, None, self._readonly(nxt))
                raise FileNotFoundError(errno.ENOENT, "no such file or directory", "/" + nxt) from None
            if stat.S_ISLNK(st.st_mode) and (follow or not last):
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", "/" + nxt)
                try:
                    target = os.readlink(comp, dir_fd=fd)
                except OSError as exc:
                    if exc.errno != errno.EINVAL or retries > MAX_SYMLINKS:  # (no longer a link: look again)
                        raise
                    retries += 1
                    pending.append(comp)
                    continue
                if target.startswith("/"):
                    canon, fd = "", self.root
                if not target:
                    raise FileNotFoundError(errno.ENOENT, "empty symlink", "/" + nxt)
                pending.extend([p for p in target.split("/") if p and p != "."][::-1])
                continue
            if last:
                return Found(fd, comp, nxt, st, self._readonly(nxt))
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", "/" + nxt)
            canon, fd = nxt, self.dir_fd(nxt, fd, comp)
        # the path named a directory by "..", "." or nothing: the directory ``canon`` itself
        if not canon:
            return Found(self.root, "", "", os.stat(self.root), self.readonly)
        pcanon, _, name = canon.rpartition("/")
        return Found(self._dirs[pcanon], name, canon, os.stat(self._dirs[canon]), self._readonly(canon))

    def read_text(self, path: str, limit: int = 4 << 20) -> str:
        """The text of the regular file ``path`` in the container ("" when there is none, or it
        is not a regular file): to read its /etc/passwd without loading anything of its own."""
        try:
            found = self.find(path)
            if found.st is None or not stat.S_ISREG(found.st.st_mode):
                return ""
            fd = os.open(found.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=found.parent)
        except OSError:
            return ""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            return os.pread(fd, limit, 0).decode("utf-8", "replace")
        except OSError:
            return ""
        finally:
            os.close(fd)


def mount_id(fd: int) -> int:
    """The id of the mount ``fd`` is on (``/proc/self/fdinfo``: -1 if unknown)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as fh:
            for line in fh:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return -1


def is_mount_root(fd: int, parent: int) -> bool:
    """Whether the directory ``fd`` is the root of a mount other than its parent's ``parent``."""
    mine = mount_id(fd)
    return mine != -1 and mine != mount_id(parent)


def open_live_root(pid: int, belongs: Callable[[int], bool]) -> int:
    """An O_PATH fd of the running process ``pid``'s root directory (``/proc/PID/root``: in its
    own mount namespace), checked to be the container's: ``belongs(pid)`` (the pid is in the
    container's cgroup) is asked after a pidfd pinned the pid and the root was opened, and the
    pidfd must still be alive after that. So a pid the container's process left, reused by a
    host process before we looked, is refused: OSError(ESRCH)."""
    import select

    pidfd = os.pidfd_open(pid)
    try:
        fd = os.open(f"/proc/{pid}/root", _PATH_DIR & ~os.O_NOFOLLOW)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        try:
            ours = belongs(pid) and not poller.poll(0)  # (readable: it exited, the pid may be another's now)
        except BaseException:
            os.close(fd)
            raise
        if not ours:
            os.close(fd)
            raise ProcessLookupError(errno.ESRCH, "the container's process exited", str(pid))
        return fd
    finally:
        os.close(pidfd)
