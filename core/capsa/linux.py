"""Thin wrappers over Linux syscalls Python lacks, through ctypes: mount(2), umount2(2), prctl(2).

The one place for the C library handle (:func:`libc`), the ``MS_*`` mount flags and the prctl
numbers capsa uses; plugins import them from here."""
from __future__ import annotations

import errno
import os
from capsa.fastpath.names import unescape_mount_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 0x2


MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_SYNCHRONOUS = 0x10
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_UNBINDABLE = 1 << 17
MS_SHARED = 1 << 20
MS_LAZYTIME = 1 << 25

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38

# Options that mount(8) turns into flags: (flag to set, flag to clear).
_FLAG_OPTIONS = {
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "noatime": (MS_NOATIME, 0), "nodiratime": (MS_NODIRATIME, 0),
    "relatime": (MS_RELATIME, 0), "strictatime": (MS_STRICTATIME, 0),
}


def split_mount_options(options: str) -> tuple[int, str]:
    """Split mount(8)-style options into mount(2) flags and the filesystem's own data string."""
    flags, data = 0, []
    for opt in filter(None, (o.strip() for o in options.split(","))):
        if opt in _FLAG_OPTIONS:
            set_, clear = _FLAG_OPTIONS[opt]
            flags = (flags | set_) & ~clear
        else:
            data.append(opt)
    return flags, ",".join(data)


_LIBC: list[Any] = []


def libc() -> Any:
    """The C library (``ctypes.CDLL(None, use_errno=True)``), loaded on first use (ctypes is not
    imported before). Load it before pivot_root: the new root may not have one."""
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
_SYS_OPENAT2 = 437  # on the architectures with the unified syscall table (x86_64, arm64, riscv...; not alpha or mips)


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2) (Linux 5.6) with ``resolve`` (RESOLVE_*); the new descriptor (close-on-exec).
    OSError with the kernel's errno (ENOSYS on an older kernel)."""
    import ctypes
    import struct

    how = ctypes.create_string_buffer(struct.pack("=QQQ", flags | os.O_CLOEXEC, 0, resolve), 24)
    rc = libc().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), path.encode(), how, ctypes.c_size_t(24))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def set_child_subreaper(on: bool = True) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to the caller."""
    import ctypes

    if libc().prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1 if on else 0), ctypes.c_ulong(0),
                    ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """mount(2); raises OSError with the kernel's errno."""
    import ctypes

    rc = libc().mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
        data.encode() if data is not None else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source} on {target}: {os.strerror(err)}")


def umount(target: str, flags: int = 0) -> bool:
    """umount2(2); returns False when ``target`` was not mounted (EINVAL) or is gone (ENOENT)."""
    import ctypes

    rc = libc().umount2(target.encode(), ctypes.c_int(flags))
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return False
        raise OSError(err, f"umount {target}: {os.strerror(err)}")
    return True


def is_mountpoint(path: str) -> bool:
    """Whether ``path`` is a mount point, from /proc/self/mountinfo (exact, unlike st_dev checks
    for bind mounts of the same filesystem)."""
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as fh:
        return any(unescape_mount_path(line.split()[4]) == real for line in fh)


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below ``prefix``, deepest first (the order to unmount them in)."""
    real = os.path.realpath(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = unescape_mount_path(line.split()[4])
            if point == real or point.startswith(real + "/"):
                found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)
