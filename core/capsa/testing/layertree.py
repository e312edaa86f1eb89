"""Layer tars and layer trees for driver tests: building tar streams member by member, and
reading back what a layer (or a mount) holds, without following anything.

Used by the storage conformance suite (:mod:`capsa.testing.storage`) and capsa's own tests.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

MTIME = 1_600_000_000
Member = tuple[tarfile.TarInfo, bytes]


# --- building layer tars ---------------------------------------------------------------------

def _member(name: str, kind: bytes, mode: int, *, uid: int = 0, gid: int = 0, mtime: int = MTIME,
            linkname: str = "", xattrs: dict[str, str] | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime, info.linkname = kind, mode, uid, gid, mtime, linkname
    info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in (xattrs or {}).items()}
    return info


def tar_file(name: str, data: bytes = b"data", mode: int = 0o644, **kw: Any) -> Member:
    return _member(name, tarfile.REGTYPE, mode, **kw), data


def tar_dir(name: str, mode: int = 0o755, **kw: Any) -> Member:
    return _member(name, tarfile.DIRTYPE, mode, **kw), b""


def tar_symlink(name: str, target: str, **kw: Any) -> Member:
    return _member(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw), b""


def tar_hardlink(name: str, target: str, **kw: Any) -> Member:
    return _member(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw), b""


def tar_fifo(name: str, mode: int = 0o640, **kw: Any) -> Member:
    return _member(name, tarfile.FIFOTYPE, mode, **kw), b""


def tar_whiteout(name: str) -> Member:
    """An OCI whiteout (``dir/.wh.NAME`` or ``dir/.wh..wh..opq``): an empty regular file."""
    return tar_file(name, b"", mode=0o644, mtime=0)


def layer_tar(members: list[Member]) -> io.BytesIO:
    """An uncompressed pax layer tar of ``members``, rewound."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buf.seek(0)
    return buf


# --- reading trees back ----------------------------------------------------------------------

def _user_xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return ()
        raise
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names if n.startswith("user.")))


def tree_state(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under ``root`` (``.`` for the root itself) with its type, permission bits,
    owner, content (file bytes, symlink target or device number), mtime in whole seconds (not
    for the root) and ``user.*`` xattrs. Nothing is followed; FIFOs are not opened."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in (".", *dirs, *files):
            path = os.path.normpath(os.path.join(dirpath, name))
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            mode = st.st_mode
            if stat.S_ISREG(mode):
                body: Any = Path(path).read_bytes()
            elif stat.S_ISLNK(mode):
                body = os.readlink(path)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                body = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                body = None
            mtime = None if rel == "." else st.st_mtime_ns // 10**9
            out[rel] = (stat.S_IFMT(mode), stat.S_IMODE(mode), st.st_uid, st.st_gid, body, mtime, _user_xattrs(path))
    return out


def hardlink_groups(root: Path) -> set[frozenset[str]]:
    """The sets of paths under ``root`` that share one inode (only sets of two or more)."""
    by_inode: dict[tuple[int, int], set[str]] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                by_inode.setdefault((st.st_dev, st.st_ino), set()).add(os.path.relpath(path, root))
    return {frozenset(paths) for paths in by_inode.values() if len(paths) > 1}


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, from /proc/self/mountinfo ([] where there is none)."""
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except FileNotFoundError:
        return []
    prefix = str(path).rstrip("/")
    points = []
    for line in text.splitlines():
        point = line.split()[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def tar_names(stream: Any) -> list[str]:
    """The member names of a tar stream (closed afterwards), without ``./`` or a trailing ``/``."""
    with stream, tarfile.open(fileobj=stream, mode="r:") as tar:
        return [m.name.removeprefix("./").rstrip("/") for m in tar.getmembers()]
