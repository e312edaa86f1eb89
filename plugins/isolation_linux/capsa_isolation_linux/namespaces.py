"""Namespaces and a few process-level syscalls Python 3.11 lacks, through ctypes.

``unshare`` and ``setns`` (os.unshare/os.setns arrive in 3.12), the CLONE_* flags keyed by the
OCI runtime spec's namespace names, ``sethostname``, ``prctl`` and ``capset`` helpers. Only
``ctypes`` is imported, and only when a function is first called.
"""
from __future__ import annotations

import os

from capsa.linux import (PR_GET_CHILD_SUBREAPER, PR_SET_KEEPCAPS, PR_SET_PDEATHSIG,  # noqa: F401 (used as ns.*)
                         libc, set_child_subreaper)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# OCI runtime spec name -> (clone flag, /proc/<pid>/ns entry)
NAMESPACES = {
    "mount": (CLONE_NEWNS, "mnt"),
    "uts": (CLONE_NEWUTS, "uts"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "network": (CLONE_NEWNET, "net"),
    "pid": (CLONE_NEWPID, "pid"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "user": (CLONE_NEWUSER, "user"),
}
SUPPORTED = frozenset(NAMESPACES) - {"user"}


_SYS_CLOSE_RANGE = 436  # same number on every architecture (asm-generic)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(rc: int, what: str) -> int:
    if rc < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def unshare(flags: int) -> None:
    """unshare(2) the namespaces in ``flags`` (CLONE_NEW*)."""
    _check(libc().unshare(flags), "unshare")


def setns(path: str, nstype: int = 0) -> None:
    """Join the namespace at ``path`` (a /proc/<pid>/ns/* file or a bind mount of one)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(fd, nstype, path)
    finally:
        os.close(fd)


def setns_fd(fd: int, nstype: int = 0, what: str = "") -> None:
    """Join the namespace behind descriptor ``fd``."""
    _check(libc().setns(fd, nstype), f"setns {what or fd}")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(libc().sethostname(raw, len(raw)), f"sethostname {name!r}")


PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}  # the OCI spec's linux.personality domains


def set_personality(domain: str) -> None:
    """personality(2): the execution domain (``LINUX32``: ``uname -m`` says i686), inherited
    across exec."""
    if domain not in PERSONALITIES:
        raise OSError(f"unknown persona specified `{domain}`")
    _check(libc().personality(PERSONALITIES[domain]), "personality")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    import ctypes

    ul = ctypes.c_ulong
    return _check(libc().prctl(option, ul(arg2), ul(arg3), ul(arg4), ul(arg5)), f"prctl({option})")


def is_child_subreaper() -> bool:
    import ctypes

    value = ctypes.c_int(0)
    _check(libc().prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0), "prctl(PR_GET_CHILD_SUBREAPER)")
    return bool(value.value)


def raise_effective_caps() -> None:
    """Set the effective capability set to the permitted one (after setuid with PR_SET_KEEPCAPS
    the kernel empties the effective set; capability changes that follow need it back)."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)()
    _check(libc().capget(ctypes.byref(header), data), "capget")
    for half in data:
        half.effective = half.permitted
    _check(libc().capset(ctypes.byref(header), data), "capset")


def close_fds_from(lowest: int = 3, keep: int = -1) -> None:
    """Close every file descriptor >= ``lowest`` (close_range(2), or os.closerange), but
    ``keep`` (a descriptor above ``lowest``, or -1)."""
    import ctypes

    c_uint = ctypes.c_uint
    ranges = ((lowest, keep - 1), (keep + 1, 0xFFFFFFFF)) if keep >= lowest else ((lowest, 0xFFFFFFFF),)
    for first, last in ranges:
        if first > last:
            continue
        if libc().syscall(_SYS_CLOSE_RANGE, c_uint(first), c_uint(last), c_uint(0)) != 0:
            os.closerange(first, min(last + 1, os.sysconf("SC_OPEN_MAX")))
