"""A whole directory tree as one tar stream (``export``), read while it may change under us (a
running container's filesystem).

The members are those of :mod:`capsa.store.tarwrite` (same headers, hardlinks, xattrs; sockets
skipped), depth first with each directory's names in byte order; the root itself is not a
member. The tree is walked with directory fds: each directory is opened relative to its
parent's fd with ``O_NOFOLLOW``, and a regular file is opened (``O_NOFOLLOW``) before its
header is written, the header then describing that open inode. So a directory or file the
container swaps for a symlink is never followed out of the tree. An entry that vanishes or
changes type between listing and reading is skipped, as podman does; a file that shrinks
while it is copied is padded with zeros, one that grows is cut at the size in its header.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from capsa.errors import StorageError
from capsa.store.tarstream import WHITEOUT
from capsa.store.tarwrite import BLOCKSIZE, RECORDSIZE, _Counter, _header, _member, _padded

_CHUNK = 1 << 20
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: What reading an entry that went away, or stopped being what it was, raises.
_GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL, errno.ENXIO})


class _At:
    """What :func:`capsa.store.tarwrite._member` reads xattrs through: a fixed path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def xattr_path(self, dir_fd: int, parts: list[str]) -> str:
        return self.path


def _names(fd: int) -> list[str]:
    return sorted(os.listdir(fd), key=os.fsencode)


def _open(name: str, dir_fd: int, flags: int) -> int | None:
    """``name`` opened under ``dir_fd``; None when it went or is no longer of that kind."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise


def _copy(counter: _Counter, fd: int, size: int) -> None:
    """Exactly ``size`` bytes of ``fd`` (zeros for what it lost meanwhile), then the padding."""
    left = size
    while left:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        counter.write(chunk)
        left -= len(chunk)
    counter.write(bytes(left + _padded(size) - size))


def _entry(counter: _Counter, dir_fd: int, name: str, path: str,
           links: dict[tuple[int, int], str]) -> int | None:
    """Write the member for ``name`` (in ``dir_fd``) unless it went; returns the fd of a
    directory to descend into."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _GONE:
            return None
        raise
    if name.startswith(WHITEOUT):
        raise StorageError(f"cannot archive {path!r}: names starting with {WHITEOUT!r} are reserved for whiteouts in layer tars")
    fd = None
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        fd = _open(name, dir_fd, _DIR_OPEN if stat.S_ISDIR(st.st_mode) else _FILE_OPEN)
        if fd is None:
            return None
        st = os.fstat(fd)  # (the inode in hand: what the header describes and the data comes from)
    at = _At(f"/proc/self/fd/{dir_fd}/{name}")  # (xattrs by name, never following a symlink)
    ident = (st.st_dev, st.st_ino)
    first = ident not in links
    try:
        try:
            info = _member(path, st, at, dir_fd, [name], links)  # type: ignore[arg-type]
        except OSError as exc:
            if first and links.get(ident) == path:
                del links[ident]
            if exc.errno in _GONE:
                return _close(fd)
            raise
        if info is None:
            return _close(fd)
        counter.write(_header(info))
        if info.size and fd is not None:
            _copy(counter, fd, info.size)
    except BaseException:
        _close(fd)
        raise
    if stat.S_ISDIR(st.st_mode):
        return fd
    return _close(fd)


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def write_tree_tar(out: BinaryIO, root: str | Path) -> int:
    """Write every path under ``root`` as a tar to ``out`` (see the module docstring); return
    the bytes written. Raises StorageError if the root cannot be opened."""
    counter = _Counter(out)
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(f"cannot open {root}: {exc.strerror}") from exc
    _walk(counter, root_fd, "")
    return _finish(counter)


def write_entry_tar(out: BinaryIO, dir_fd: int, name: str, arcname: str, mounts: dict[str, str] | None = None) -> int:
    """Write the entry ``name`` of the directory ``dir_fd`` as the member ``arcname`` and, for
    a directory, everything under it (``cp CONTAINER:PATH -``); ``name`` "" is ``dir_fd``
    itself, whose contents then become the members. ``mounts``: member paths of directories
    whose contents come from another (host) directory instead (a container's volumes). Returns
    the bytes written."""
    counter = _Counter(out)
    links: dict[tuple[int, int], str] = {}
    if not name:
        _walk(counter, os.open(".", _DIR_OPEN, dir_fd=dir_fd), "", links, mounts)
    else:
        child = _entry(counter, dir_fd, name, arcname, links)
        if child is not None:
            _walk(counter, _mounted(child, arcname, mounts), arcname + "/", links, mounts)
    return _finish(counter)


def _mounted(fd: int, path: str, mounts: dict[str, str] | None) -> int:
    """``fd``, or (closing it) the directory mounted at the member path ``path``."""
    if mounts and path in mounts:
        os.close(fd)
        return os.open(mounts[path], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd


def _walk(counter: _Counter, root_fd: int, prefix: str, links: dict[tuple[int, int], str] | None = None,
          mounts: dict[str, str] | None = None) -> None:
    """The members under the directory ``root_fd`` (closed here), names under ``prefix``."""
    stack: list[tuple[int, str, list[str]]] = []
    links = {} if links is None else links
    try:
        stack.append((root_fd, prefix, _names(root_fd)[::-1]))
    except BaseException:
        os.close(root_fd)
        raise
    try:
        while stack:
            fd, prefix, todo = stack[-1]
            if not todo:
                stack.pop()
                os.close(fd)
                continue
            name = todo.pop()
            path = prefix + name
            child = _entry(counter, fd, name, path, links)
            if child is not None:
                child = _mounted(child, path, mounts)
                try:
                    names = _names(child)
                except OSError as exc:
                    os.close(child)
                    if exc.errno in _GONE:
                        continue
                    raise
                stack.append((child, path + "/", names[::-1]))
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _finish(counter: _Counter) -> int:
    counter.write(bytes(2 * BLOCKSIZE))
    remainder = counter.count % RECORDSIZE
    if remainder:
        counter.write(bytes(RECORDSIZE - remainder))
    return counter.count
