"""The copy itself for ``cp``: one file or a whole tree from a directory fd to another, entry by
entry with ``*at`` calls, never following a symlink on either side.

Both sides are a :class:`Side`: the host (paths the user gave, taken as they are) or a
container's :class:`capsa.container.cproot.ContainedRoot`, where a directory whose container path
is a mount destination is read from, or written to, the mount's host source. Every directory is
opened ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's fd and every file ``O_NOFOLLOW``, so
an entry a running container swaps for a symlink meanwhile fails that open (ELOOP/ENOTDIR) or is
copied as the link it now is; it is never followed. Regular files are copied by the kernel
(copy_file_range, else sendfile); symlinks are copied as links, hardlinked files as hardlinks,
fifos and devices as nodes; sockets are skipped. Modes and times are kept; owners are kept or
all set to one uid:gid (``owner``). Onto the host (podman's IgnoreDevices), device nodes are
skipped and setuid/setgid bits dropped. A build's COPY may set every mode (``chmod``), drop
setuid and setgid bits (``strip_setid``) and leave entries out (``Side.exclude``). A mount's
root directory in the destination (a volume, a bind mount) never gets the source's owner, mode
or times: it is the host's directory.

A running container's side is its own ``/proc/PID/root`` (see :mod:`capsa.container.cproot`):
its mounts are crossed by the kernel; its pseudo filesystems (/proc, /sys...) are not copied.

What is already at the destination follows docker's (and podman's) rules: directories merge,
a non-directory replaces a non-directory (never written through: it is unlinked first), and a
directory meeting a non-directory (either way) is an error unless ``overwrite``.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator

from capsa.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.container.cproot import ContainedRoot, MountSource

_RDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_RFILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 30


class Side:
    """One end of a copy: the host (``root`` None) or a container's contained root."""

    def __init__(self, root: ContainedRoot | None = None, skip: frozenset[str] = frozenset(),
                 exclude: Callable[[str, bool], bool] | None = None) -> None:
        self.root = root
        self.mounts: dict[str, MountSource] = root.mounts if root is not None else {}
        self.live = root is not None and root.live
        self.skip = skip  # (container paths never copied from: a running container's /proc, /sys...)
        self.exclude = exclude  # (canonical path, is a directory) -> left out (a build's ignore file)

    def left_out(self, canon: str | None, is_dir: bool) -> bool:
        """Whether the entry ``canon`` below a copied directory is not copied."""
        if canon is None:
            return False
        return canon in self.skip or (self.exclude is not None and self.exclude(canon, is_dir))

    def mount_root(self, canon: str | None, fd: int, parent: int) -> bool:
        """Whether the directory ``fd`` (in ``parent``) is a mount's root in this container."""
        if canon is None:
            return False
        if self.live:
            from capsa.container.cproot import is_mount_root

            return is_mount_root(fd, parent)
        return canon in self.mounts

    def child(self, canon: str | None, name: str) -> str | None:
        """The container path of ``name`` under ``canon`` (None on the host)."""
        if canon is None:
            return None
        return f"{canon}/{name}" if canon else name

    def open_dir(self, canon: str | None, parent: int, name: str) -> int:
        """A readable fd of the directory ``name`` in ``parent``: never through a symlink, and a
        mount's source at a mount destination. ``name`` "" is ``parent`` itself."""
        mount = self.mounts.get(canon) if canon is not None else None
        if mount is not None:
            return os.open(mount.source, _RDIR)
        return os.open(name or ".", _RDIR | os.O_NOFOLLOW, dir_fd=parent)

    def mounted(self, canon: str | None) -> MountSource | None:
        return self.mounts.get(canon) if canon is not None else None


class Copier:
    """Copies entries from ``src`` to ``dst``; ``owner``: the uid:gid given to everything
    written (None: the source's); ``overwrite``: a directory and a non-directory may replace
    each other."""

    def __init__(self, src: Side, dst: Side, owner: tuple[int, int] | None, overwrite: bool, *,
                 chmod: int | None = None, strip_setid: bool = False) -> None:
        self.src, self.dst, self.owner, self.overwrite = src, dst, owner, overwrite
        self.chmod, self.strip_setid = chmod, strip_setid  # (a build's COPY --chmod; setuid/setgid dropped)
        self.links: dict[tuple[int, int], tuple[int, str]] = {}  # source inode -> (dest dir fd, name)
        self._held: list[int] = []  # dest dir fds kept for hardlinks
        self._dups: dict[int, int] = {}  # open dest dir fd -> its duplicate in _held
        self.bytes = 0

    def close(self) -> None:
        self._dups.clear()
        for fd in self._held:
            os.close(fd)
        self._held = []

    def _ids(self, st: os.stat_result) -> tuple[int, int]:
        return self.owner if self.owner is not None else (st.st_uid, st.st_gid)

    def copy(self, sparent: int, sname: str, scanon: str | None, dparent: int, dname: str, dcanon: str | None,
             contents: bool = False, st: os.stat_result | None = None) -> None:
        """Copy the entry ``sname`` of ``sparent`` to ``dname`` in ``dparent`` (``contents``:
        only what the source directory holds, into the existing directory ``dname``); ``st``:
        what the source is, when the caller knows (a mount's source)."""
        if st is None:
            st = os.stat(sname or ".", dir_fd=sparent, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            self._tree(sparent, sname, scanon, st, dparent, dname, dcanon, contents)
        else:
            self._leaf(sparent, sname, st, dparent, dname, top=True)

    # -- directories --------------------------------------------------------------------------

    def _dest_dir(self, dparent: int, dname: str, dcanon: str | None, mode: int) -> int:
        """A readable fd of the destination directory ``dname``, made if missing; an existing
        non-directory is an error unless ``overwrite``."""
        if dname and self.dst.mounted(dcanon) is None:
            try:
                os.mkdir(dname, 0o700, dir_fd=dparent)
            except FileExistsError:
                here = os.stat(dname, dir_fd=dparent, follow_symlinks=False)
                if not stat.S_ISDIR(here.st_mode):
                    if not self.overwrite:
                        raise UsageError(f"cannot overwrite non-directory {_show(dcanon, dname)!r} with directory",
                                         hint="use --overwrite to replace it") from None
                    self._refuse_mount(dparent, dname)  # (a file bind mount: never unlinked)
                    os.unlink(dname, dir_fd=dparent)
                    os.mkdir(dname, 0o700, dir_fd=dparent)
        elif self.dst.mounted(dcanon) is not None and self.dst.mounted(dcanon).readonly:  # type: ignore[union-attr]
            raise UsageError(f"cannot copy into {_show(dcanon, dname)!r}: it is a read-only mount",
                             hint="the container mounts it read-only")
        return self.dst.open_dir(dcanon, dparent, dname)

    def _tree(self, sparent: int, sname: str, scanon: str | None, st: os.stat_result, dparent: int, dname: str,
              dcanon: str | None, contents: bool) -> None:
        """The directory and everything under it, depth first with an explicit stack (fds of
        the directories being copied; their metadata is set when they are left)."""
        sfd = self.src.open_dir(scanon, sparent, sname)
        try:
            dfd = self._dest_dir(dparent, "" if contents else dname, dcanon, st.st_mode)
        except BaseException:
            os.close(sfd)
            raise
        stack: list[tuple[int, int, str | None, str | None, os.stat_result | None, Iterator[os.DirEntry[str]]]] = []
        try:
            top_meta = None if contents or self.dst.mount_root(dcanon, dfd, dparent) else st
        except BaseException:
            os.close(sfd)
            os.close(dfd)
            raise
        stack.append((sfd, dfd, scanon, dcanon, top_meta, _entries(sfd)))
        try:
            while stack:
                sfd, dfd, scanon, dcanon, dst_st, it = stack[-1]
                entry = next(it, None)
                if entry is None:
                    stack.pop()
                    self._dups.pop(dfd, None)
                    try:
                        if dst_st is not None:
                            self._meta_fd(dfd, dst_st)
                    finally:
                        os.close(sfd)
                        os.close(dfd)
                    continue
                name = entry.name
                try:
                    est = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # (gone meanwhile)
                scanon2, dcanon2 = self.src.child(scanon, name), self.dst.child(dcanon, name)
                if self.src.left_out(scanon2, stat.S_ISDIR(est.st_mode)):
                    continue
                if self.src.mounted(scanon2) is not None:
                    est = os.stat(self.src.mounted(scanon2).source)  # type: ignore[union-attr]
                if stat.S_ISDIR(est.st_mode):
                    try:
                        csfd = self.src.open_dir(scanon2, sfd, name)
                    except OSError as exc:
                        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                            continue  # (swapped or gone meanwhile: never followed)
                        raise
                    try:
                        cdfd = self._dest_dir(dfd, name, dcanon2, est.st_mode)
                    except BaseException:
                        os.close(csfd)
                        raise
                    try:
                        meta = None if self.dst.mount_root(dcanon2, cdfd, dfd) else est
                    except BaseException:
                        os.close(csfd)
                        os.close(cdfd)
                        raise
                    stack.append((csfd, cdfd, scanon2, dcanon2, meta, _entries(csfd)))
                elif (mount := self.src.mounted(scanon2)) is not None:  # a file bind mount
                    pfd = os.open(os.path.dirname(mount.source) or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    try:
                        self._leaf(pfd, os.path.basename(mount.source), est, dfd, name)
                    finally:
                        os.close(pfd)
                else:
                    self._leaf(sfd, name, est, dfd, name)
        finally:
            for sfd, dfd, *_ in stack:
                os.close(sfd)
                os.close(dfd)

    # -- everything else ----------------------------------------------------------------------

    def _clear(self, dparent: int, dname: str) -> None:
        """Make room for a non-directory ``dname``: unlink what is there (never followed); a
        directory there is an error unless ``overwrite``."""
        try:
            here = os.stat(dname, dir_fd=dparent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(here.st_mode):
            if not self.overwrite:
                raise UsageError(f"cannot overwrite directory {dname!r} with non-directory",
                                 hint="use --overwrite to replace it")
            self._refuse_mount(dparent, dname)
            self._refuse_mounts_below(dparent, dname)
            import shutil

            shutil.rmtree(dname, dir_fd=dparent)  # (fd-relative, never follows symlinks)
        else:
            self._refuse_mount(dparent, dname)
            os.unlink(dname, dir_fd=dparent)

    def _mount_entry(self, dparent: int, dname: str) -> bool:
        """Whether ``dname`` in ``parent`` is a mount's root in a running container (never
        unlinked: from outside its mount namespace, that would detach the container's mount)."""
        if not self.dst.live:
            return False
        from capsa.container.cproot import is_mount_root

        try:
            fd = os.open(dname, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dparent)
        except FileNotFoundError:
            return False
        try:
            return is_mount_root(fd, dparent)
        finally:
            os.close(fd)

    def _refuse_mounts_below(self, dparent: int, dname: str) -> None:
        """Refuse to remove the directory ``dname`` of a running container when a mount lies
        anywhere below it, a directory or a file bind mount: removing its contents would empty
        the mount's host source (a volume), and unlinking it would detach the container's
        mount. Checked before anything is removed; one directory fd per level is open."""
        if not self.dst.live:
            return
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        gone = (errno.ENOENT, errno.ELOOP, errno.ENOTDIR)  # (what rmtree skips too; anything else fails)
        stack: list[tuple[int, str, int, list[tuple[str, bool]]]] = []

        def enter(fd: int, shown: str) -> None:
            try:
                with os.scandir(fd) as entries:
                    found = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries if not e.is_symlink()]
                here = _known_mount_id(fd)
            except BaseException:
                os.close(fd)
                raise
            stack.append((fd, shown, here, found))

        try:
            enter(os.open(dname, flags, dir_fd=dparent), dname)
            while stack:
                fd, shown, here, todo = stack[-1]
                if not todo:
                    os.close(stack.pop()[0])
                    continue
                name, is_dir = todo.pop()
                try:
                    child = os.open(name, (flags if is_dir else os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC), dir_fd=fd)
                except OSError as exc:
                    if exc.errno in gone:
                        continue  # (gone, or swapped for a link: rmtree does not follow it either)
                    raise
                try:
                    mounted = _known_mount_id(child) != here
                except BaseException:
                    os.close(child)
                    raise
                if mounted:
                    os.close(child)
                    raise UsageError(f"cannot replace {dname!r}: {shown}/{name} below it is a mount in the "
                                     f"container", hint="copy into it instead, or remove that mount first")
                if not is_dir:
                    os.close(child)
                    continue
                enter(child, f"{shown}/{name}")
        finally:
            for fd, _, _, _ in stack:
                os.close(fd)

    def _refuse_mount(self, dparent: int, dname: str) -> None:
        if self._mount_entry(dparent, dname):
            raise UsageError(f"cannot replace {dname!r}: it is a mount in the container", hint="copy into it instead")

    def _leaf(self, sparent: int, sname: str, st: os.stat_result, dparent: int, dname: str, top: bool = False) -> None:
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            return
        if self.dst.root is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
            return  # (never a device node on the host: podman's IgnoreDevices)
        ident = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not stat.S_ISDIR(mode) and ident in self.links:
            lparent, lname = self.links[ident]
            self._clear(dparent, dname)
            os.link(lname, dname, src_dir_fd=lparent, dst_dir_fd=dparent, follow_symlinks=False)
            return
        if stat.S_ISREG(mode):
            self._file(sparent, sname, dparent, dname, top)
        elif stat.S_ISLNK(mode):
            target = os.readlink(sname, dir_fd=sparent)
            self._clear(dparent, dname)
            os.symlink(target, dname, dir_fd=dparent)
            uid, gid = self._ids(st)
            os.chown(dname, uid, gid, dir_fd=dparent, follow_symlinks=False)
            os.utime(dname, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dparent, follow_symlinks=False)
        else:  # fifo, character or block device
            self._clear(dparent, dname)
            os.mknod(dname, (mode & ~0o7777) | 0o600, st.st_rdev, dir_fd=dparent)
            fd = os.open(dname, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dparent)
            try:
                uid, gid = self._ids(st)
                os.chown(f"/proc/self/fd/{fd}", uid, gid)
                os.chmod(f"/proc/self/fd/{fd}", self._mode(mode))
                os.utime(f"/proc/self/fd/{fd}", ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        if st.st_nlink > 1:
            held = self._dups.get(dparent)
            if held is None:
                held = self._dups[dparent] = os.dup(dparent)
                self._held.append(held)
            self.links[ident] = (held, dname)

    def _file(self, sparent: int, sname: str, dparent: int, dname: str, top: bool = False) -> None:
        """Copy a regular file; below the top, one swapped for something else (or gone)
        meanwhile is skipped (never followed); at the top, that is an error."""
        try:
            sfd = os.open(sname, _RFILE, dir_fd=sparent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOENT) and not top:
                return  # (swapped for a symlink, or gone, meanwhile: never followed)
            raise
        try:
            st = os.fstat(sfd)
            if not stat.S_ISREG(st.st_mode):
                if top:
                    raise OSError(errno.EINVAL, "no longer a regular file", sname)
                return
            if self._mount_entry(dparent, dname):  # (a file bind mount, /etc/hosts...: written in place)
                dfd = os.open(dname, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dparent)
                try:
                    if not stat.S_ISREG(os.fstat(dfd).st_mode):
                        raise UsageError(f"cannot copy onto {dname!r}: the mount there is not a regular file",
                                         hint="copy into a directory instead")
                    os.ftruncate(dfd, 0)
                    self.bytes += copy_data(sfd, dfd, st.st_size)
                finally:
                    os.close(dfd)
                return
            self._clear(dparent, dname)
            dfd = os.open(dname, _NEW, 0o600, dir_fd=dparent)
            try:
                self.bytes += copy_data(sfd, dfd, st.st_size)
                self._meta_fd(dfd, st)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def into_file(self, sparent: int, sname: str, target: str) -> None:
        """Copy the regular file ``sname`` over the contents of the host file ``target`` (a
        container's file bind mount, such as /etc/hosts: written in place, so the container
        keeps seeing it)."""
        sfd = os.open(sname, _RFILE, dir_fd=sparent)
        try:
            st = os.fstat(sfd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"cannot copy {sname!r} onto the file mounted at {target}: it is not a regular file",
                                 hint="copy a regular file")
            dfd = os.open(target, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                self.bytes += copy_data(sfd, dfd, st.st_size)
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def _mode(self, mode: int) -> int:
        """The permission bits written: no setuid/setgid onto the host."""
        if self.chmod is not None:
            return self.chmod
        return stat.S_IMODE(mode) & ~(0o6000 if self.dst.root is None or self.strip_setid else 0)

    def _meta_fd(self, fd: int, st: os.stat_result) -> None:
        uid, gid = self._ids(st)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, self._mode(st.st_mode))  # (after chown, which clears setuid)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _entries(fd: int) -> Iterator[os.DirEntry[str]]:
    """The entries of the directory ``fd`` (read now, so the fd's offset is not shared)."""
    with os.scandir(fd) as it:
        return iter(list(it))


def _show(canon: str | None, name: str) -> str:
    return "/" + canon if canon is not None else name


_WAY: dict[tuple[int, int], str] = {}  # (source dev, dest dev) -> the way that worked (EXDEV: across filesystems)


def copy_data(src: int, dst: int, size: int) -> int:
    """Copy ``src`` (from its start) to ``dst`` in the kernel: copy_file_range, else sendfile,
    else read/write; returns the bytes copied: ``size`` (the size when it was opened; a file
    that grows meanwhile is cut there, as tar does), or less if it shrank."""
    done = 0
    key = (os.fstat(src).st_dev, os.fstat(dst).st_dev)
    way = _WAY.get(key, "range")
    if size == 0 and way != "rw":
        way = "sendfile"  # (one call answers 0 for an empty file)
    while True:
        try:
            if way == "range":
                n = os.copy_file_range(src, dst, _CHUNK, done, done)
            elif way == "sendfile":
                n = os.sendfile(dst, src, done, _CHUNK)
            else:
                chunk = os.pread(src, 1 << 20, done)
                n = len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF) and way != "rw":
                way = _WAY[key] = "sendfile" if way == "range" else "rw"
                os.lseek(dst, done, os.SEEK_SET)
                continue
            raise
        if n == 0:
            return done
        done += n
        if done >= size:  # (what the file held when it was opened: one call fewer per file)
            return done


def _known_mount_id(fd: int) -> int:
    """The mount id of ``fd``; an error when it cannot be read (a check that must not pass
    when it cannot look)."""
    from capsa.container.cproot import mount_id

    found = mount_id(fd)
    if found == -1:
        raise UsageError("cannot tell whether a path is a mount in the container (no mnt_id in /proc/self/fdinfo)",
                         hint="nothing was removed; try again")
    return found
