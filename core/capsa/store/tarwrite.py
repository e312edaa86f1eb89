"""Writing OCI layer tars from a list of changes, and their exact size without reading contents.

The archive is uncompressed POSIX pax (stdlib ``tarfile`` builds every header): entries in path
order (parents before children); a deleted path becomes an empty regular file ``DIR/.wh.NAME``
(mode 0, owner 0:0, mtime 0); an opaque directory is followed by ``DIR/.wh..wh..opq`` (the
directory's permission bits, owner and mtime, as containers/storage writes it). Type, mode
(setuid/setgid/sticky included), uid/gid, mtime (whole seconds, as docker truncates it),
symlink targets, device numbers and exported xattrs (``SCHILY.xattr.NAME`` pax records; see
:func:`capsa.store.changes.exported_xattr`) are kept; uname/gname are empty. The second and later
paths of one inode become hardlink entries to the first. Sockets are skipped (tar has no type for
them). The same tree and changes always give byte-identical output.

Paths are resolved one component at a time with ``O_NOFOLLOW`` from ``root``, and a file's data
is read only from the very inode whose header was written, so a symlink swapped into the tree
while it is archived can never make this read outside ``root``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import stat
import tarfile
from typing import BinaryIO

from capsa.drivers.storage import Change
from capsa.errors import StorageError
from capsa.store.changes import read_xattrs
from capsa.store.tarstream import OPAQUE, WHITEOUT, no_space

BLOCKSIZE = tarfile.BLOCKSIZE  # 512
RECORDSIZE = tarfile.RECORDSIZE  # 10240, the blocking tarfile pads an archive to
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PROC_FD = os.path.isdir("/proc/self/fd")


@dataclass
class _Entry:
    """One tar member: its header bytes and, for a regular file, where its data comes from."""

    header: bytes
    size: int = 0
    dir_fd: int = -1
    name: str = ""
    path: str = ""
    ident: tuple[int, int] = (0, 0)


def _padded(size: int) -> int:
    return -(-size // BLOCKSIZE) * BLOCKSIZE


def _header(info: tarfile.TarInfo) -> bytes:
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _check_path(path: str) -> None:
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a clean relative layer path: {path!r}")


class _Walker:
    """Resolves change paths under ``root`` without following symlinks; keeps the fds of the
    current directory chain open (sorted paths make consecutive entries share it)."""

    def __init__(self, root: str | Path) -> None:
        self.root = os.fspath(root)
        self.chain: list[tuple[str, int]] = []
        try:
            self.root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"cannot open layer directory {self.root}: {exc}") from exc

    def close(self) -> None:
        for _, fd in self.chain:
            os.close(fd)
        self.chain.clear()
        os.close(self.root_fd)

    def parent_fd(self, parts: list[str]) -> int:
        """An O_PATH fd of the directory holding ``parts[-1]``."""
        dirs = parts[:-1]
        keep = 0
        while keep < len(self.chain) and keep < len(dirs) and self.chain[keep][0] == dirs[keep]:
            keep += 1
        for _, fd in self.chain[keep:]:
            os.close(fd)
        del self.chain[keep:]
        for name in dirs[keep:]:
            parent = self.chain[-1][1] if self.chain else self.root_fd
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
            except OSError as exc:
                where = "/".join(dirs[: len(self.chain) + 1])
                raise StorageError(f"cannot archive under {where!r} in {self.root}: {exc}",
                                   hint="the layer must not change while it is archived") from exc
            self.chain.append((name, fd))
        return self.chain[-1][1] if self.chain else self.root_fd

    def xattr_path(self, dir_fd: int, parts: list[str]) -> str:
        if _PROC_FD:
            return f"/proc/self/fd/{dir_fd}/{parts[-1]}"
        return os.path.join(self.root, *parts)


def _whiteout(path: str) -> tarfile.TarInfo:
    head, _, base = path.rpartition("/")
    info = tarfile.TarInfo(f"{head}/{WHITEOUT}{base}" if head else WHITEOUT + base)
    info.mode = 0
    return info


def _member(path: str, st: os.stat_result, walker: _Walker, dir_fd: int, parts: list[str],
            links: dict[tuple[int, int], str]) -> tarfile.TarInfo | None:
    """The TarInfo of an existing path (None for a socket); records hardlink firsts in ``links``."""
    info = tarfile.TarInfo(path)
    mode = st.st_mode
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 1_000_000_000
    if stat.S_ISSOCK(mode):
        return None
    ident = (st.st_dev, st.st_ino)
    if not stat.S_ISDIR(mode) and st.st_nlink > 1 and ident in links:
        info.type, info.linkname = tarfile.LNKTYPE, links[ident]
    elif stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(parts[-1], dir_fd=dir_fd)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    if not stat.S_ISDIR(mode) and st.st_nlink > 1:
        links.setdefault(ident, path)
    xattrs = read_xattrs(walker.xattr_path(dir_fd, parts))
    info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
    return info


def _entries(walker: _Walker, changes: Iterable[Change], opaque_dirs: Iterable[str]) -> Iterator[_Entry]:
    """The members for ``changes`` in path order. A regular file's data must be copied before
    the next item is asked for (its directory fd is only valid until then)."""
    ordered = sorted(changes, key=lambda c: c.path)
    seen: set[str] = set()
    for change in ordered:
        _check_path(change.path)
        if change.path in seen:
            raise ValueError(f"path {change.path!r} appears twice in the changes")
        seen.add(change.path)
    opaque = set(opaque_dirs)
    missing = opaque - {c.path for c in ordered if c.kind != "deleted"}
    if missing:
        raise ValueError(f"opaque dirs not among the added or modified paths: {sorted(missing)}")
    links: dict[tuple[int, int], str] = {}
    for change in ordered:
        parts = change.path.split("/")
        if change.kind == "deleted":
            yield _Entry(_header(_whiteout(change.path)))
            continue
        if parts[-1].startswith(WHITEOUT):
            raise StorageError(f"cannot archive {change.path!r}: names starting with {WHITEOUT!r} "
                               "are reserved for whiteouts in layer tars")
        dir_fd = walker.parent_fd(parts)
        try:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            info = _member(change.path, st, walker, dir_fd, parts, links)
        except OSError as exc:
            raise StorageError(f"cannot archive {change.path!r} from {walker.root}: {exc}",
                               hint="the layer must not change while it is archived") from exc
        if info is None:
            continue
        yield _Entry(_header(info), info.size, dir_fd, parts[-1], change.path, (st.st_dev, st.st_ino))
        if change.path in opaque:
            if info.type != tarfile.DIRTYPE:
                raise StorageError(f"opaque path {change.path!r} is not a directory in {walker.root}")
            marker = tarfile.TarInfo(f"{change.path}/{OPAQUE}")
            marker.mode, marker.uid, marker.gid, marker.mtime = info.mode & 0o777, info.uid, info.gid, info.mtime
            yield _Entry(_header(marker))


def tar_size(root: str | Path, changes: list[Change], opaque_dirs: Iterable[str] = frozenset()) -> int:
    """The exact length of what :func:`write_layer_tar` writes for the same arguments and tree,
    computed from metadata alone (no file contents are read). Raises like it."""
    walker = _Walker(root)
    try:
        total = sum(len(e.header) + _padded(e.size) for e in _entries(walker, changes, opaque_dirs))
    finally:
        walker.close()
    total += 2 * BLOCKSIZE
    return -(-total // RECORDSIZE) * RECORDSIZE


class _Counter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.count = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            try:
                n = self.out.write(view)
            except OSError as exc:
                full = no_space(exc, "writing a layer tar",
                                hint="free space where the layer tar is written (the run root when committing)")
                if full is None:
                    raise
                raise full from exc
            n = len(view) if n is None else n
            view = view[n:]
            self.count += n


def _copy_data(counter: _Counter, entry: _Entry) -> None:
    """Copy exactly ``entry.size`` bytes of the inode the header described, then the padding."""
    path = entry.path
    try:
        fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=entry.dir_fd)
    except OSError as exc:
        raise StorageError(f"cannot read {path!r}: {exc}",
                           hint="the layer must not change while it is archived") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != entry.ident:
            raise StorageError(f"{path!r} was replaced while it was archived")
        left = entry.size
        while left:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                raise StorageError(f"{path!r} shrank while it was archived",
                                   hint="the layer must not change while it is archived")
            counter.write(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path!r}: {exc}") from exc
    finally:
        os.close(fd)
    pad = _padded(entry.size) - entry.size
    if pad:
        counter.write(bytes(pad))


def write_layer_tar(out: BinaryIO, root: str | Path, changes: list[Change], *,
                    opaque_dirs: Iterable[str] = frozenset()) -> int:
    """Write the layer tar of ``changes`` read from ``root`` (a vfs layer dir or an overlay upper
    dir) to ``out``; return the bytes written (always :func:`tar_size` of the same input).

    Every dir in ``opaque_dirs`` must be an added or modified directory in ``changes``
    (ValueError otherwise, as for a malformed or repeated path). Raises StorageError if the tree
    cannot be read or changes under it; ``out`` then holds a partial archive.
    """
    counter = _Counter(out)
    walker = _Walker(root)
    try:
        for entry in _entries(walker, changes, opaque_dirs):
            counter.write(entry.header)
            if entry.size:
                _copy_data(counter, entry)
    finally:
        walker.close()
    counter.write(bytes(2 * BLOCKSIZE))
    remainder = counter.count % RECORDSIZE
    if remainder:
        counter.write(bytes(RECORDSIZE - remainder))
    return counter.count
