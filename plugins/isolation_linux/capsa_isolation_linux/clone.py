"""Forking a process straight into a cgroup v2 directory: clone3(2) with CLONE_INTO_CGROUP.

Moving a process into a cgroup after the fork takes the kernel's global cgroup threadgroup lock,
and the first such move in a while waits for an RCU grace period: 6-21 ms on the machines capsa
runs on, the longest single step of a container's start. A child born in its cgroup (Linux 5.7
and later) never moves there. Python's ``os.fork`` cannot pass a cgroup, so :func:`fork_into`
calls clone3 itself and brackets it with CPython's own fork hooks (``PyOS_BeforeFork``,
``PyOS_AfterFork_Parent``/``_Child``: what ``os.fork`` does), holding the GIL throughout.
"""
from __future__ import annotations

import ctypes
import os

SYS_CLONE3 = {"x86_64": 435, "aarch64": 435, "ppc64le": 435, "s390x": 435, "riscv64": 435}
CLONE_INTO_CGROUP = 0x200000000
SIGCHLD = 17


class _CloneArgs(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls",
        "set_tid", "set_tid_size", "cgroup")]


_syscall = None


def fork_into(cgroup_fd: int) -> int:
    """``os.fork()``, the child born in the cgroup v2 directory open at ``cgroup_fd``. Returns
    0 in the child and its pid in the parent; raises OSError when the kernel refuses (no clone3,
    no CLONE_INTO_CGROUP, a cgroup that takes no processes): nothing was forked then."""
    global _syscall
    number = SYS_CLONE3.get(os.uname().machine)
    if number is None:
        raise OSError(38, "clone3 is not known on this architecture")  # ENOSYS
    if _syscall is None:
        libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the GIL stays held across the call
        _syscall = libc.syscall
        _syscall.restype = ctypes.c_long
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=SIGCHLD, cgroup=cgroup_fd)
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()  # (takes the import lock: every path below releases it)
    try:
        pid = _syscall(ctypes.c_long(number), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    except BaseException:
        api.PyOS_AfterFork_Parent()
        raise
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, os.strerror(err))
    return int(pid)
