"""The kernel's descriptor-based mount and path calls, through ctypes: openat2(2) (5.6, from
capsa.linux), open_tree(2) and move_mount(2) (5.2), mount_setattr(2) (5.12).

These let the container's setup resolve a mount target inside the rootfs and mount onto exactly
what it resolved (no path is checked and then used again), and make a bind mount read-only with
every mount below it (``AT_RECURSIVE``) before it is attached. The syscall numbers are the same
on every architecture (they came after the tables were unified).
"""
from __future__ import annotations

import os
import struct

from capsa.linux import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2  # noqa: F401 (inroot's, from here)
from capsa.linux import MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_RELATIME, MS_STRICTATIME

_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442
AT_EMPTY_PATH, AT_RECURSIVE = 0x1000, 0x8000
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH, MOVE_MOUNT_T_EMPTY_PATH = 0x4, 0x40
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
MOUNT_ATTR_NOATIME, MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME, MOUNT_ATTR_NODIRATIME = 0x10, 0x20, 0x70, 0x80
_PLAIN = ((MS_RDONLY, MOUNT_ATTR_RDONLY), (MS_NOSUID, MOUNT_ATTR_NOSUID), (MS_NODEV, MOUNT_ATTR_NODEV),
          (MS_NOEXEC, MOUNT_ATTR_NOEXEC), (MS_NODIRATIME, MOUNT_ATTR_NODIRATIME))


def _call(nr: int, *args: object) -> int:
    import ctypes

    from .namespaces import libc

    rc = libc().syscall(ctypes.c_long(nr), *args)
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """open_tree(2): with OPEN_TREE_CLONE a detached copy of the mount at ``path`` (with
    AT_RECURSIVE, of every mount below it too)."""
    import ctypes

    return _call(_SYS_OPEN_TREE, ctypes.c_int(dirfd), path.encode(), ctypes.c_uint(flags | os.O_CLOEXEC))


def move_mount_to_fd(mount_fd: int, target_fd: int) -> None:
    """Attach the mount ``mount_fd`` (from open_tree) on the directory or file ``target_fd``."""
    import ctypes

    _call(_SYS_MOVE_MOUNT, ctypes.c_int(mount_fd), b"", ctypes.c_int(target_fd), b"",
          ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))


def attributes(flags: int) -> tuple[int, int]:
    """mount(2) flags (MS_*) -> mount_setattr's (attr_set, attr_clr)."""
    attr_set = attr_clr = 0
    for ms, attr in _PLAIN:
        if flags & ms:
            attr_set |= attr
    atime = MOUNT_ATTR_NOATIME if flags & MS_NOATIME else MOUNT_ATTR_STRICTATIME if flags & MS_STRICTATIME else \
        0 if flags & MS_RELATIME else None
    if atime is not None:
        attr_set, attr_clr = attr_set | atime, attr_clr | MOUNT_ATTR__ATIME
    return attr_set, attr_clr


def mount_setattr(fd: int, attr_set: int, attr_clr: int = 0, propagation: int = 0, recursive: bool = True) -> None:
    """mount_setattr(2) on the mount ``fd`` is (AT_EMPTY_PATH), and with ``recursive`` on every
    mount below it (AT_RECURSIVE)."""
    import ctypes

    attr = ctypes.create_string_buffer(struct.pack("<QQQQ", attr_set, attr_clr, propagation, 0), 32)
    _call(_SYS_MOUNT_SETATTR, ctypes.c_int(fd), b"", ctypes.c_uint(AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)),
          attr, ctypes.c_size_t(32))
